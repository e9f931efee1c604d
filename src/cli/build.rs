//! `ferry build`: the bundle archive from the lock.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context as _, Result};
use clap::Args;
use ferry::bundle::{self, ArchiveOptions, BuildOptions, Compression};
use ferry::lock::{self, Lock, ResolveOptions};
use ferry::spec::Spec;

use super::{human_bytes, print_json, registry_setup, runtime, Context, RegistryArgs};

/// Arguments of `ferry build`.
#[derive(Args)]
pub struct BuildArgs {
    /// The bundle spec.
    pub spec: PathBuf,
    /// Lockfile path (default: <spec dir>/../lockfiles/<name>.lock).
    #[arg(long)]
    pub lockfile: Option<PathBuf>,
    /// Refuse to build when the lock is missing or stale (never re-resolve).
    #[arg(long)]
    pub locked: bool,
    /// Output archive.
    #[arg(long, short)]
    pub output: PathBuf,
    /// Compress the archive with zstd.
    #[arg(long)]
    pub zstd: bool,
    /// fsync the archive before it appears under its name (survives power loss).
    #[arg(long)]
    pub fsync: bool,
    #[command(flatten)]
    pub sign: super::sign::SignArgs,
    /// Cut the archive into parts of this size (700MiB, 4GiB, …) plus `NAME.parts.json`;
    /// the whole archive is then removed.
    #[arg(long, value_name = "SIZE")]
    pub split_size: Option<String>,
    /// Skip the archive's own SHA-256 (a second hash of every byte); the root
    /// digest still identifies the bundle.
    #[arg(long)]
    pub no_archive_digest: bool,
    /// Build even when a chart would run an image the bundle does not carry.
    #[arg(long)]
    pub allow_missing_images: bool,
    /// The site secret seeding charts' random functions for the image check.
    #[arg(long)]
    pub seed_file: Option<PathBuf>,
    /// Build a delta against this base (an older bundle, or its lock): only
    /// blobs the base lacks are written; the base is recorded.
    #[arg(long, value_name = "BUNDLE|LOCK")]
    pub base: Option<PathBuf>,
    /// The ferry binary for ferry's image on one architecture (`arm64=FILE`),
    /// for the lock's `self` binaries; repeatable. Default: the running ferry
    /// for its own architecture.
    #[arg(long, value_name = "ARCH=FILE", value_parser = parse_ferry_binary)]
    pub ferry_binary: Vec<(String, PathBuf)>,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

fn parse_ferry_binary(value: &str) -> Result<(String, PathBuf), String> {
    match value.split_once('=') {
        Some((arch, file)) if !arch.is_empty() && !file.is_empty() => {
            Ok((arch.to_owned(), PathBuf::from(file)))
        }
        _ => Err(format!("`{value}`: expected ARCH=FILE, e.g. arm64=target/aarch64-unknown-linux-gnu/release/ferry")),
    }
}

/// `ferry build`.
pub fn run(ctx: &Context, args: &BuildArgs) -> Result<()> {
    let progress = &ctx.progress;
    let started = Instant::now();
    let sign = args.sign.load()?;
    if let Some(size) = &args.split_size {
        ferry::bundle::parts::parse_size(size)?;
    }
    let spec = Spec::load(&args.spec)?;
    let path = args
        .lockfile
        .clone()
        .unwrap_or_else(|| Lock::default_path(&spec));
    let (client, store) = registry_setup(&args.registry)?;
    let runtime = runtime()?;
    let lock = match Lock::read(&path)
        .and_then(|lock| lock.check_usable(&spec, &path).map(|()| lock))
    {
        Ok(lock) => lock,
        Err(_) if args.locked && !path.exists() => {
            bail!(
                    "no lockfile at {}: `--locked` builds from a lock alone\nhint: run `ferry lock {}` first (on a connected machine), or pass --lockfile FILE",
                    path.display(),
                    args.spec.display()
                );
        }
        Err(error) if args.locked => {
            return Err(error).context("`--locked` forbids resolving the spec again");
        }
        Err(_) => {
            let options = ResolveOptions {
                jobs: args.registry.jobs,
            };
            let resolved =
                runtime.block_on(lock::resolve(&spec, &client, &store, &options, progress))?;
            resolved.write(&path)?;
            resolved
        }
    };
    let mtime = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(value) => value
            .parse()
            .with_context(|| format!("SOURCE_DATE_EPOCH=`{value}` is not a number of seconds"))?,
        Err(_) => 0,
    };
    let options = BuildOptions {
        jobs: args.registry.jobs,
        archive: ArchiveOptions {
            compression: if args.zstd {
                Compression::Zstd
            } else {
                Compression::None
            },
            mtime,
            fsync: args.fsync,
            digest: !args.no_archive_digest,
        },
        sign,
        base: match &args.base {
            None => None,
            Some(path) if looks_like_lockfile(path) => {
                Some(bundle::delta::Base::from_lock(path, &store)?)
            }
            Some(path) => Some(
                bundle::delta::Base::from_bundle(path)
                    .with_context(|| format!("--base {}", path.display()))?,
            ),
        },
    };
    // Every image the charts will run (rendered with the components' values)
    // must be carried, or the cluster would pull from a registry it cannot reach.
    if !lock.charts.is_empty() && !args.allow_missing_images {
        runtime.block_on(bundle::fetch_chart_archives(
            &lock, &spec.root, &client, &store, progress,
        ))?;
        let seed = ferry::render::site_seed(args.seed_file.as_deref())?;
        let missing = ferry::render::missing_images(&lock, &spec, &store, &seed)?;
        if !missing.is_empty() {
            let list: String = missing
                .iter()
                .map(|m| format!("\n  - {} (chart {})", m.image, m.chart))
                .collect();
            anyhow::bail!(
                "{} image(s) the charts will run are not in the bundle:{list}\nhint: add them to the component manifests and run `ferry lock`, or pass --allow-missing-images",
                missing.len()
            );
        }
    }
    let overrides = args.ferry_binary.iter().cloned().collect();
    let (lock, ferry_warnings) =
        ferry::ferry_image::complete_lock(&lock, &spec.root, &overrides, &store)?;
    for warning in &ferry_warnings {
        progress.clear();
        eprintln!("warning: {warning}");
    }
    let spec_json = spec.canonical_json();
    let sbom = ferry::audit::sbom::to_bytes_with_spec_json(&lock, &spec_json)?;
    let outcome = runtime.block_on(bundle::build(
        &lock,
        &spec_json,
        &sbom,
        &spec.root,
        &client,
        &store,
        &args.output,
        &options,
        progress,
    ))?;
    progress.clear();
    let parts = match &args.split_size {
        Some(size) => {
            let quiet = Context {
                json: true,
                progress: super::Bars::new(true),
            };
            let (path, manifest) = super::parts::split_archive(&quiet, &args.output, size, None)?;
            std::fs::remove_file(&args.output)
                .with_context(|| format!("cannot remove {}", args.output.display()))?;
            Some((path, manifest.parts.len()))
        }
        None => None,
    };
    if ctx.json {
        print_json(&serde_json::json!({
            "bundle": args.output,
            "root": outcome.root,
            "sha256": outcome.archive_sha256,
            "size": outcome.archive_size,
            "blobs": outcome.blobs,
            "blobs_fetched": outcome.blobs_fetched,
            "bytes_fetched": outcome.bytes_fetched,
            "signed_by": outcome.signed_by,
            "parts": parts.as_ref().map(|(path, _)| path),
            "ferry_image": lock.ferry_image.as_ref().map(|f| serde_json::json!({
                "reference": f.reference,
                "digest": f.digest,
                "binaries": f.binaries,
                "warnings": f.warnings,
            })),
            "seconds": started.elapsed().as_secs_f64(),
        }));
    } else {
        println!(
            "built {} ({}, {} blobs; fetched {} blobs, {}) in {:.1}s\nroot   {}\nsha256 {}",
            args.output.display(),
            human_bytes(outcome.archive_size),
            outcome.blobs,
            outcome.blobs_fetched,
            human_bytes(outcome.bytes_fetched),
            started.elapsed().as_secs_f64(),
            outcome.root,
            outcome.archive_sha256.as_ref().map_or_else(
                || "(not computed: --no-archive-digest)".to_owned(),
                ToString::to_string
            )
        );
        if let Some(key) = &outcome.signed_by {
            println!("signed by {key}");
        }
        if let Some(image) = &lock.ferry_image {
            println!(
                "ferry's image {} {}",
                image.reference,
                image
                    .digest
                    .as_ref()
                    .map_or_else(String::new, ToString::to_string)
            );
        }
        if let Some((path, count)) = &parts {
            println!("split into {count} parts: {}", path.display());
        }
    }
    Ok(())
}

/// Whether a path holds a lockfile rather than a bundle (reads at most 4 KiB).
fn looks_like_lockfile(path: &std::path::Path) -> bool {
    use std::io::Read;
    let mut head = Vec::new();
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    if file.take(4096).read_to_end(&mut head).is_err() {
        return false;
    }
    let text = String::from_utf8_lossy(&head);
    text.lines()
        .map(str::trim)
        .find(|line| !line.is_empty() && !line.starts_with('#'))
        .is_some_and(|line| line.starts_with("version ="))
}
