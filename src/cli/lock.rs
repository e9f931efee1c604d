//! `ferry lock`: resolve a spec into its lockfile.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Result};
use clap::Args;
use ferry::lock::{self, Lock, ResolveOptions};
use ferry::spec::Spec;

use super::{print_json, registry_setup, runtime, Context, RegistryArgs};

/// Arguments of `ferry lock`.
#[derive(Args)]
pub struct LockArgs {
    /// The bundle spec (bundles/<name>.yaml).
    pub spec: PathBuf,
    /// Lockfile path (default: <spec dir>/../lockfiles/<name>.lock).
    #[arg(long)]
    pub lockfile: Option<PathBuf>,
    /// Resolve again and fail if the lockfile would change; write nothing.
    #[arg(long)]
    pub check: bool,
    /// Render every chart with its component's values and lock, too, the
    /// images they run that the spec does not list.
    #[arg(long)]
    pub add_chart_images: bool,
    /// The site secret seeding charts' random functions (for --add-chart-images).
    #[arg(long)]
    pub seed_file: Option<PathBuf>,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// `ferry lock`.
pub fn run(ctx: &Context, args: &LockArgs) -> Result<()> {
    let progress = &ctx.progress;
    let started = Instant::now();
    let spec = Spec::load(&args.spec)?;
    let path = args
        .lockfile
        .clone()
        .unwrap_or_else(|| Lock::default_path(&spec));
    let (client, store) = registry_setup(&args.registry)?;
    let options = ResolveOptions {
        jobs: args.registry.jobs,
    };
    let runtime = runtime()?;
    let mut resolved =
        runtime.block_on(lock::resolve(&spec, &client, &store, &options, progress))?;
    if args.add_chart_images && !resolved.charts.is_empty() {
        let seed = ferry::render::site_seed(args.seed_file.as_deref())?;
        let missing = ferry::render::missing_images(&resolved, &spec, &store, &seed)?;
        if !missing.is_empty() {
            // Resolve just those images, each in the component whose chart runs it.
            let mut extra = spec.clone();
            let mut charts = std::collections::BTreeMap::new();
            for component in &mut extra.components {
                component.images.clear();
                component.charts.clear();
                component.files.clear();
            }
            for image in &missing {
                let reference: ferry::oci::Reference = image.image.parse().map_err(|e| {
                    anyhow::anyhow!("chart {} runs `{}`: {e}", image.chart, image.image)
                })?;
                if let Some(component) = extra
                    .components
                    .iter_mut()
                    .find(|c| c.name == image.component)
                {
                    charts
                        .entry((image.component.clone(), reference.to_string()))
                        .or_insert_with(|| image.chart.clone());
                    component.images.push(ferry::spec::ImageSpec {
                        reference,
                        source: ferry::spec::ImageSource::Registry,
                    });
                }
            }
            let found =
                runtime.block_on(lock::resolve(&extra, &client, &store, &options, progress))?;
            for mut image in found.images {
                image.from_chart = charts
                    .get(&(image.component.clone(), image.reference.clone()))
                    .cloned();
                if !resolved
                    .images
                    .iter()
                    .any(|i| i.component == image.component && i.reference == image.reference)
                {
                    resolved.images.push(image);
                }
            }
            resolved
                .images
                .sort_by(|a, b| (&a.component, &a.reference).cmp(&(&b.component, &b.reference)));
        }
    }
    progress.clear();
    let text = resolved.to_text();
    let existing = std::fs::read_to_string(&path).ok();
    let unchanged = existing.as_deref() == Some(text.as_str());
    if args.check {
        if ctx.json {
            print_json(&serde_json::json!({ "lockfile": path, "up_to_date": unchanged }));
        }
        if !unchanged {
            let reason = match existing {
                None => "it does not exist".to_owned(),
                Some(old) => describe_lock_change(&old, &resolved, &path),
            };
            bail!(
                "lockfile {} is out of date: {reason}\nhint: run `ferry lock {}`",
                path.display(),
                args.spec.display()
            );
        }
        if !ctx.json {
            println!("{} is up to date", path.display());
        }
        return Ok(());
    }
    if !unchanged {
        resolved.write(&path)?;
    }
    if ctx.json {
        print_json(&serde_json::json!({
            "lockfile": path,
            "changed": !unchanged,
            "images": resolved.images.len(),
            "charts": resolved.charts.len(),
            "files": resolved.files.len(),
            "spec_fingerprint": resolved.spec_fingerprint,
        }));
    } else {
        println!(
            "{} {}: {}, {}, {} ({:.1}s)",
            if unchanged { "unchanged" } else { "wrote" },
            path.display(),
            super::count(resolved.images.len(), "image", "images"),
            super::count(resolved.charts.len(), "chart", "charts"),
            super::count(resolved.files.len(), "file", "files"),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

fn describe_lock_change(old_text: &str, new: &Lock, path: &Path) -> String {
    let old = match Lock::parse(old_text, path) {
        Ok(old) => old,
        // the parse error names the line and column
        Err(error) => return format!("the existing lockfile is not valid: {error}"),
    };
    for image in &new.images {
        match old
            .images
            .iter()
            .find(|o| o.reference == image.reference && o.component == image.component)
        {
            None => return format!("image {} is new", image.reference),
            Some(o) if o.digest != image.digest => {
                return format!(
                    "image {} now resolves to {} (locked: {})",
                    image.reference, image.digest, o.digest
                )
            }
            Some(_) => {}
        }
    }
    for chart in &new.charts {
        if !old.charts.contains(chart) {
            return format!("chart {} {} changed", chart.name, chart.version);
        }
    }
    for file in &new.files {
        if !old.files.contains(file) {
            return format!("file {} ({}) changed", file.name, file.url);
        }
    }
    if old.spec_fingerprint != new.spec_fingerprint {
        return "the spec changed".to_owned();
    }
    "entries were removed or reordered".to_owned()
}
