//! `ferry render`: every chart release of a bundle rendered with its
//! component's values and the site seed, image references rewritten through
//! the image map `ferry push` wrote (original → Harbor, pinned by digest).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use clap::Args;
use ferry::bundle::OpenBundle;
use ferry::image_map::ImageMap;
use ferry::render::RenderSettings;

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

/// A bundle verified and opened for rendering (render and deploy).
pub struct Opened {
    /// The verification.
    pub report: ferry::bundle::VerifyReport,
    /// The bundle.
    pub bundle: OpenBundle,
    /// Its lock (as verification read it).
    pub lock: ferry::lock::Lock,
    /// Its embedded spec.
    pub spec: ferry::bundle::BundleSpec,
    /// The image map, when one is given.
    pub map: Option<ImageMap>,
}

/// Verifies the bundle (signature and blobs), opens it and reads its spec and the image map.
pub fn open_verified(
    ctx: &Context,
    path: &Path,
    trust: &TrustArgs,
    image_map: Option<&Path>,
) -> Result<Opened> {
    let (report, lock) = super::verify_bundle(ctx, path, trust, None)?;
    let bundle = OpenBundle::open(path)?;
    let spec = bundle.spec()?;
    let map = image_map.map(ImageMap::read).transpose()?;
    Ok(Opened {
        report,
        bundle,
        lock,
        spec,
        map,
    })
}

/// `ferry render`.
pub fn run(ctx: &Context, args: &RenderArgs) -> Result<()> {
    let Opened {
        bundle,
        lock,
        spec,
        map,
        ..
    } = open_verified(ctx, &args.bundle, &args.trust, args.image_map.as_deref())?;
    let secret = ferry::render::site_secret(args.seed_file.as_deref())?;
    let settings = RenderSettings {
        now: secret.clock_unix(),
        seed: secret.seed,
        ..RenderSettings::default()
    };
    let releases = ferry::render::render_bundle(&bundle, &lock, &spec, map.as_ref(), &settings)?;
    let mut written = Vec::new();
    let mut used = BTreeSet::new();
    let mut unmapped_all: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for release in &releases {
        let plan = &release.plan;
        if !release.unmapped.is_empty() {
            unmapped_all.insert(
                format!("{} {}", plan.chart, plan.version),
                release.unmapped.clone(),
            );
        }
        // The first release of a chart keeps `<chart>.yaml`; another release of it adds its name.
        let mut name = format!("{}.yaml", plan.chart);
        if !used.insert((plan.component.clone(), name.clone())) {
            name = format!("{}.{}.yaml", plan.chart, plan.release);
        }
        let path = args.output.join(&plan.component).join(name);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        std::fs::write(&path, &release.text)
            .with_context(|| format!("cannot write {}", path.display()))?;
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
