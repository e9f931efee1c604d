//! `ferry render`: every chart of a bundle rendered with its component's
//! values and the site seed, image references rewritten through the image
//! map `ferry push` wrote (original → Harbor, pinned by digest).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};
use clap::Args;
use ferry::bundle::{OpenBundle, SPEC_MEDIA_TYPE};
use ferry_helm::Chart;

use super::{print_json, Context, TrustArgs};

/// Arguments of `ferry render`.
#[derive(Args)]
pub struct RenderArgs {
    /// The bundle (plain `.tar`, parts manifest, or layout directory).
    pub bundle: PathBuf,
    /// The image map `ferry push` wrote; without it images keep their original references.
    #[arg(long)]
    pub image_map: Option<PathBuf>,
    /// Directory for `<component>/<chart>.yaml`.
    #[arg(long, short)]
    pub output: PathBuf,
    /// The site secret seeding charts' random functions.
    #[arg(long)]
    pub seed_file: Option<PathBuf>,
    /// Fail when a chart runs an image the image map does not know.
    #[arg(long)]
    pub strict: bool,
    /// Which signatures to accept.
    #[command(flatten)]
    pub trust: TrustArgs,
}

/// `ferry render`.
pub fn run(ctx: &Context, args: &RenderArgs) -> Result<()> {
    super::verify_bundle(ctx, &args.bundle, &args.trust, None)?;
    let bundle = OpenBundle::open(&args.bundle)?;
    let lock = bundle.lock().context("the bundle has no lock")?.clone();
    let spec = embedded_spec(&bundle)?;
    let map: Vec<ferry::push::Mapped> = match &args.image_map {
        Some(path) => serde_json::from_slice(
            &std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?,
        )
        .with_context(|| format!("{} is not an image map", path.display()))?,
        None => Vec::new(),
    };
    let seed = ferry::render::site_seed(args.seed_file.as_deref())?;
    let mut written = Vec::new();
    let mut unmapped_all: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for chart in &lock.charts {
        let mut archive = Vec::new();
        bundle
            .blob_reader(&chart.sha256, None)?
            .take(256 << 20)
            .read_to_end(&mut archive)
            .with_context(|| format!("cannot read chart {} from the bundle", chart.name))?;
        let loaded =
            Chart::from_archive(&archive, &format!("{}-{}.tgz", chart.name, chart.version))?;
        let component = spec
            .get("components")
            .and_then(|c| c.as_array())
            .and_then(|list| {
                list.iter().find(|c| {
                    c.get("name").and_then(|n| n.as_str()) == Some(chart.component.as_str())
                })
            });
        let namespace = component
            .and_then(|c| c.get("namespace"))
            .and_then(|n| n.as_str());
        let values = component
            .and_then(|c| c.get("values"))
            .cloned()
            .unwrap_or_default();
        let options = ferry::render::component_options(&chart.component, namespace, &values, &seed);
        let rendered = ferry_helm::render(&loaded, &options)?;
        let (text, _, unmapped) = if args.image_map.is_none() {
            (rendered.to_helm_output(), Vec::new(), Vec::new())
        } else {
            ferry::render::rewrite_images(rendered.helm_output(), &map)
        };
        if !unmapped.is_empty() {
            unmapped_all.insert(format!("{} {}", chart.name, chart.version), unmapped);
        }
        let path = args
            .output
            .join(&chart.component)
            .join(format!("{}.yaml", chart.name));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    if args.strict && !unmapped_all.is_empty() {
        let list: String = unmapped_all
            .iter()
            .flat_map(|(chart, images)| {
                images
                    .iter()
                    .map(move |i| format!("\n  - {i} (chart {chart})"))
            })
            .collect();
        bail!("images the image map does not know:{list}\nhint: push the bundle with `ferry push` and pass its --image-map");
    }
    if ctx.json {
        print_json(&serde_json::json!({ "written": written, "unmapped": unmapped_all }));
    } else {
        for path in &written {
            println!("wrote {}", path.display());
        }
        for (chart, images) in &unmapped_all {
            eprintln!(
                "warning: chart {chart} runs images the image map does not know: {}",
                images.join(", ")
            );
        }
    }
    Ok(())
}

/// The composed spec the bundle embeds (component values and namespaces).
fn embedded_spec(bundle: &OpenBundle) -> Result<serde_json::Value> {
    let metadata = bundle
        .metadata()
        .context("the bundle has no metadata manifest")?;
    let view = bundle.manifest(&metadata.digest)?;
    let layer = view
        .layers
        .iter()
        .find(|l| l.media_type == SPEC_MEDIA_TYPE)
        .context("the bundle embeds no spec")?;
    Ok(serde_json::from_slice(&bundle.read_small(&layer.digest)?)?)
}
