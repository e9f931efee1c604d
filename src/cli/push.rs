//! `ferry push`: a bundle into Harbor or any registry.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context as _, Result};
use clap::Args;
use ferry::bundle::OpenBundle;
use ferry::push::{self, harbor::Harbor, HarborMode, Mapping, PushOptions};

use super::{human_bytes, print_json, registry_setup, runtime, Context, RegistryArgs, TrustArgs};

/// Arguments of `ferry push`.
#[derive(Args)]
pub struct PushArgs {
    /// A plain `.tar` bundle (or its parts manifest) or an unpacked layout.
    pub bundle: PathBuf,
    /// Target registry: `HOST[:PORT]` or `HOST[:PORT]/PROJECT`.
    #[arg(long)]
    pub to: String,
    /// Harbor project (or path prefix) for everything; default: the bundle name on Harbor, none elsewhere.
    #[arg(long)]
    pub project: Option<String>,
    /// Project for one original registry: `REGISTRY=PROJECT` (repeatable), e.g. `quay.io=quay`.
    #[arg(long = "project-for", value_name = "REGISTRY=PROJECT")]
    pub project_for: Vec<String>,
    /// Keep the original registry as a path segment (`<project>/docker.io/library/nginx`).
    #[arg(long)]
    pub keep_registry: bool,
    /// Treat the target as Harbor (create projects) without asking it.
    #[arg(long, conflicts_with = "no_harbor")]
    pub harbor: bool,
    /// Never use Harbor's project API.
    #[arg(long)]
    pub no_harbor: bool,
    /// Where to write the image map (original → target, with digest).
    #[arg(long, default_value = "image-map.json")]
    pub image_map: PathBuf,
    /// Upload chunk size (e.g. 64MiB): a broken connection costs at most one chunk.
    #[arg(long, default_value = "64MiB")]
    pub chunk_size: String,
    /// Which signatures to accept.
    #[command(flatten)]
    pub trust: TrustArgs,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// `ferry push`.
pub fn run(ctx: &Context, args: &PushArgs) -> Result<()> {
    let started = Instant::now();
    super::verify_bundle(
        ctx,
        &args.bundle,
        &args.trust,
        args.registry.cache_dir.as_deref(),
    )?;
    let verify_seconds = started.elapsed().as_secs_f64();
    let bundle = OpenBundle::open(&args.bundle)?;
    let (client, store) = registry_setup(&args.registry)?;
    let journal_dir = store.root().join("uploads-v1");
    let journal = ferry::registry::UploadJournal::open(&journal_dir)
        .with_context(|| format!("cannot create {}", journal_dir.display()))?;
    let (host, path_project) = match args.to.split_once('/') {
        Some((host, project)) => (host.to_owned(), Some(project.trim_matches('/').to_owned())),
        None => (args.to.clone(), None),
    };
    let chunk_size = ferry::bundle::parts::parse_size(&args.chunk_size)?;
    let runtime = runtime()?;
    // The first Ctrl-C or SIGTERM lets the chunks in flight finish, so that
    // their sessions are recorded and the next push continues them; a second
    // one ends the process at once.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    runtime.spawn(stop_on_signal(stop.clone()));
    let harbor = match (args.harbor, args.no_harbor) {
        (true, _) => true,
        (_, true) => false,
        _ => runtime.block_on(Harbor::new(&client, &host).detect()),
    };
    let bundle_name = bundle.lock().map(|l| l.bundle.clone()).unwrap_or_default();
    let project = match (&args.project, path_project) {
        (Some(project), _) => project.clone(),
        (None, Some(project)) => project,
        (None, None) if harbor => bundle_name,
        (None, None) => String::new(),
    };
    let projects = super::project_for(&args.project_for)?;
    if harbor && project.is_empty() {
        bail!("Harbor needs a project: give --project or --to HOST/PROJECT");
    }
    let options = PushOptions {
        mapping: Mapping {
            host,
            project,
            projects,
            keep_registry: args.keep_registry,
        },
        harbor: if harbor {
            HarborMode::Always
        } else {
            HarborMode::Never
        },
        jobs: args.registry.jobs,
        chunk_size,
        journal: Some(journal),
        stop: Some(stop.clone()),
    };
    let pushing = Instant::now();
    let report = runtime.block_on(push::push(&bundle, &client, &options, &ctx.progress))?;
    let push_seconds = pushing.elapsed().as_secs_f64();
    ctx.progress.clear();
    report.map.write(&args.image_map)?;
    if ctx.json {
        let mut value = serde_json::to_value(&report)?;
        if let Some(object) = value.as_object_mut() {
            object.insert("verify_seconds".to_owned(), verify_seconds.into());
            object.insert("push_seconds".to_owned(), push_seconds.into());
        }
        print_json(&value);
    } else {
        println!(
            "verified in {verify_seconds:.1}s, pushed in {push_seconds:.2}s: {} artifacts to {}{} ({:.1}s in all): {} blobs uploaded ({}), {} mounted, {} already there; {} manifests written, {} artifacts already complete{}\nimage map: {}",
            report.map.entries().len(),
            report.target,
            if report.harbor { " (Harbor)" } else { "" },
            started.elapsed().as_secs_f64(),
            report.blobs_uploaded,
            human_bytes(report.bytes_uploaded),
            report.blobs_mounted,
            report.blobs_skipped,
            report.manifests_pushed,
            report.artifacts_skipped,
            if report.projects_created.is_empty() { String::new() } else { format!("; projects created: {}", report.projects_created.join(", ")) },
            args.image_map.display()
        );
    }
    Ok(())
}

/// Sets `stop` on the first SIGINT or SIGTERM; exits on the second.
async fn stop_on_signal(stop: std::sync::Arc<std::sync::atomic::AtomicBool>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return;
    };
    for signals in 0.. {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        if signals > 0 {
            std::process::exit(130);
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        eprintln!(
            "stopping after the chunks in flight (their sessions are recorded; the next push continues them); signal again to stop at once"
        );
    }
}
