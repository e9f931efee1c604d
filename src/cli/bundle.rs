//! `ferry verify`, `ferry inspect`, `ferry unpack`: reading bundles.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context as _, Result};
use clap::Args;
use ferry::bundle;
use ferry::text::escape;

use super::{human_bytes, print_json, Context};

/// A bundle to read.
#[derive(Args)]
pub struct BundleArgs {
    /// A bundle archive (.tar, .tar.zst, NAME.parts.json) or unpacked layout directory.
    pub bundle: PathBuf,
}

/// Arguments of `ferry verify`.
#[derive(Args)]
pub struct VerifyArgs {
    /// A bundle archive (.tar, .tar.zst, NAME.parts.json) or unpacked layout directory
    /// (with --registry, it may be replaced by --root, --bundle-name and --version).
    #[arg(required_unless_present = "root")]
    pub bundle: Option<PathBuf>,
    #[command(flatten)]
    pub trust: super::sign::TrustArgs,
    /// Check what a registry holds instead (see `ferry verify --help`).
    #[command(flatten)]
    pub remote: super::verify_registry::RemoteArgs,
}

/// Arguments of `ferry unpack`.
#[derive(Args)]
pub struct UnpackArgs {
    /// A bundle archive.
    pub bundle: PathBuf,
    /// Directory to extract into (must be empty or absent).
    #[arg(long, short)]
    pub output: PathBuf,
    #[command(flatten)]
    pub trust: super::sign::TrustArgs,
}

/// `ferry verify`.
pub fn verify(ctx: &Context, args: &VerifyArgs) -> Result<()> {
    if args.remote.registry.is_some() {
        return super::verify_registry::run(ctx, args.bundle.as_deref(), &args.trust, &args.remote);
    }
    let Some(bundle_path) = &args.bundle else {
        bail!("--root, --bundle-name and --version need --registry: a bundle file is verified by its path");
    };
    let started = Instant::now();
    let trust = args.trust.policy()?;
    // Always in full; the stamp it leaves lets serve/push/render skip
    // re-hashing while the file stays unchanged.
    let stamps = super::open_store(None)?.root().join("verified-v1");
    let (report, _, _) = bundle::verify_for_use(bundle_path, &trust, &stamps, true, &ctx.progress)?;
    ctx.progress.clear();
    if ctx.json {
        print_json(&report);
    } else {
        println!(
            "verified {}: bundle {} root {}: {}, {}, {}, {}, {} ({:.1}s)",
            bundle_path.display(),
            escape(&report.bundle),
            report.root,
            super::count(report.blobs, "blob", "blobs"),
            human_bytes(report.bytes),
            super::count(report.images, "image", "images"),
            super::count(report.charts, "chart", "charts"),
            super::count(report.files, "file", "files"),
            started.elapsed().as_secs_f64()
        );
        match &report.signed_by {
            Some(key) => println!("signed by {key}"),
            None => println!("signature NOT checked (--insecure-skip-signature)"),
        }
    }
    Ok(())
}

/// `ferry inspect`.
pub fn inspect(ctx: &Context, args: &BundleArgs) -> Result<()> {
    let inspection = bundle::inspect(&args.bundle, &ctx.progress)?;
    ctx.progress.clear();
    if ctx.json {
        print_json(&inspection);
    } else {
        print_inspection(&inspection);
    }
    Ok(())
}

/// `ferry unpack`.
pub fn unpack(ctx: &Context, args: &UnpackArgs) -> Result<()> {
    if args.output.exists()
        && std::fs::read_dir(&args.output)
            .with_context(|| format!("cannot read {}", args.output.display()))?
            .next()
            .is_some()
    {
        bail!(
            "{} is not empty; unpack needs an empty or new directory",
            args.output.display()
        );
    }
    let trust = args.trust.policy()?;
    let staging = args.output.with_extension("ferry-unpacking");
    if staging.exists() {
        std::fs::remove_dir_all(&staging)
            .with_context(|| format!("cannot clear {}", staging.display()))?;
    }
    let result = bundle::verify(&args.bundle, Some(&staging), &trust, &ctx.progress);
    ctx.progress.clear();
    let (report, _) = match result {
        Ok(ok) => ok,
        Err(error) => {
            // Nothing half-extracted is left looking like a layout.
            let _ = std::fs::remove_dir_all(&staging);
            return Err(error.into());
        }
    };
    if args.output.exists() {
        std::fs::remove_dir(&args.output)
            .with_context(|| format!("cannot replace {}", args.output.display()))?;
    }
    std::fs::rename(&staging, &args.output)
        .with_context(|| format!("cannot move the layout to {}", args.output.display()))?;
    if ctx.json {
        print_json(&report);
    } else {
        println!(
            "unpacked {} ({} blobs, root {}) into {}",
            escape(&report.bundle),
            report.blobs,
            report.root,
            args.output.display()
        );
    }
    Ok(())
}

fn print_inspection(inspection: &bundle::Inspection) {
    println!(
        "bundle {}{}  root {}\n{} blobs, {}",
        escape(&inspection.bundle),
        inspection
            .version
            .as_deref()
            .map(|v| format!(" {}", escape(v)))
            .unwrap_or_default(),
        inspection.root,
        inspection.blobs,
        human_bytes(inspection.bytes)
    );
    println!("\ncomponents:");
    for c in &inspection.components {
        println!(
            "  {:<32} {:<16} {}",
            escape(&c.name),
            escape(&c.version),
            escape(&c.license)
        );
    }
    println!("\nimages:");
    for i in &inspection.images {
        println!(
            "  {:<60} {:>10}  {}  [{}]",
            escape(&i.reference),
            human_bytes(i.size),
            i.digest,
            escape(&i.platforms.join(", "))
        );
    }
    println!("\ncharts:");
    for c in &inspection.charts {
        println!(
            "  {:<32} {:<12} {:>10}  sha256:{}",
            escape(&c.name),
            escape(&c.version),
            human_bytes(c.size),
            c.sha256.hex()
        );
    }
    println!("\nfiles:");
    for f in &inspection.files {
        println!(
            "  {:<20} {:<10} {:<14} {:>10}  {}",
            escape(&f.name),
            escape(&f.version),
            escape(f.platform.as_deref().unwrap_or("any")),
            human_bytes(f.size),
            escape(&f.url)
        );
    }
}
