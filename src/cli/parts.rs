//! `ferry split` and `ferry join`: a bundle archive in media-sized parts.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use clap::Args;
use ferry::bundle::parts::{self, PartsManifest};

use super::{human_bytes, print_json, Context};

/// Arguments of `ferry split`.
#[derive(Args)]
pub struct SplitArgs {
    /// The bundle archive.
    pub bundle: PathBuf,
    /// Part size: bytes, or with a unit (700MiB, 4GiB, 4G = 4 GiB, 4GB = 4·10⁹).
    #[arg(long)]
    pub size: String,
    /// Directory for the parts and `NAME.parts.json` (default: the archive's).
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

/// Arguments of `ferry join`.
#[derive(Args)]
pub struct JoinArgs {
    /// The parts manifest (`NAME.parts.json`).
    pub manifest: PathBuf,
    /// The archive to write.
    #[arg(long, short)]
    pub output: PathBuf,
}

/// Splits `archive` into parts of `size` (parsed) next to it or in `dir`; prints the outcome.
pub fn split_archive(
    ctx: &Context,
    archive: &Path,
    size: &str,
    dir: Option<&Path>,
) -> Result<(PathBuf, PartsManifest)> {
    let size = parts::parse_size(size)?;
    let dir = match dir {
        Some(dir) => dir.to_owned(),
        None => match archive.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
            _ => PathBuf::from("."),
        },
    };
    let (path, manifest) = parts::split(archive, size, &dir)
        .with_context(|| format!("cannot split {}", archive.display()))?;
    if !ctx.json {
        println!(
            "split {} ({}) into {} parts of at most {}: {}",
            archive.display(),
            human_bytes(manifest.size),
            manifest.parts.len(),
            human_bytes(size),
            path.display()
        );
    }
    Ok((path, manifest))
}

/// `ferry split`.
pub fn split(ctx: &Context, args: &SplitArgs) -> Result<()> {
    let (path, manifest) = split_archive(ctx, &args.bundle, &args.size, args.output.as_deref())?;
    if ctx.json {
        print_json(&serde_json::json!({ "manifest": path, "parts": manifest }));
    }
    Ok(())
}

/// `ferry join`.
pub fn join(ctx: &Context, args: &JoinArgs) -> Result<()> {
    let manifest = parts::join(&args.manifest, &args.output)
        .with_context(|| format!("cannot join {}", args.manifest.display()))?;
    if ctx.json {
        print_json(&serde_json::json!({
            "archive": args.output,
            "size": manifest.size,
            "sha256": manifest.sha256,
            "parts": manifest.parts.len(),
        }));
    } else {
        println!(
            "joined {} parts into {} ({})\nsha256 {}",
            manifest.parts.len(),
            args.output.display(),
            human_bytes(manifest.size),
            manifest.sha256
        );
    }
    Ok(())
}
