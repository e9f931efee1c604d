//! `ferry cache`: where the cache is, and garbage collection.

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::Subcommand;
use ferry::lock::Lock;
use ferry::oci::{Digest, ManifestView};

use super::{human_bytes, open_store, print_json, Context};

/// Subcommands of `ferry cache`.
#[derive(Subcommand)]
pub enum CacheCommand {
    /// Print the cache directory.
    Dir {
        /// Cache directory override.
        #[arg(long)]
        cache_dir: Option<PathBuf>,
    },
    /// Remove cached blobs that none of the given lockfiles reference.
    Gc {
        /// Lockfiles whose content to keep.
        #[arg(required = true)]
        lockfiles: Vec<PathBuf>,
        /// Cache directory override.
        #[arg(long)]
        cache_dir: Option<PathBuf>,
    },
}

/// `ferry cache`.
pub fn run(ctx: &Context, command: &CacheCommand) -> Result<()> {
    match command {
        CacheCommand::Dir { cache_dir } => {
            let store = open_store(cache_dir.as_deref())?;
            if ctx.json {
                print_json(&serde_json::json!({ "cache_dir": store.root() }));
            } else {
                println!("{}", store.root().display());
            }
        }
        CacheCommand::Gc {
            lockfiles,
            cache_dir,
        } => {
            let store = open_store(cache_dir.as_deref())?;
            let (orphans, orphan_bytes) = store.remove_orphan_packs()?;
            let (unsound, unsound_bytes) = store.remove_unsound_packs()?;
            let mut keep: BTreeSet<Digest> = BTreeSet::new();
            for path in lockfiles {
                let lock = Lock::read(path)?;
                let mut manifests: Vec<Digest> = Vec::new();
                for image in &lock.images {
                    manifests.push(image.digest.clone());
                    manifests.extend(image.platforms.iter().map(|p| p.digest.clone()));
                }
                for chart in &lock.charts {
                    keep.insert(chart.sha256.clone());
                    manifests.extend(chart.oci_digest.clone());
                }
                keep.extend(lock.files.iter().map(|f| f.sha256.clone()));
                for digest in manifests {
                    keep.insert(digest.clone());
                    if let Ok(view) = store
                        .read_small(&digest)
                        .map_err(anyhow::Error::from)
                        .and_then(|b| Ok(ManifestView::parse(&b)?))
                    {
                        keep.extend(view.blob_descriptors().map(|d| d.digest.clone()));
                    }
                }
            }
            let mut removed = 0usize;
            let mut freed = orphan_bytes + unsound_bytes;
            for digest in store.list_loose()? {
                if !keep.contains(&digest) {
                    freed += store.remove(&digest)?;
                    removed += 1;
                }
            }
            freed += store.remove_packs_except(&keep)?;
            let stale_temp = store.clean_tmp()?;
            let journal_dir = store.root().join("uploads-v1");
            let sessions = if journal_dir.is_dir() {
                ferry::registry::UploadJournal::open(&journal_dir)
                    .and_then(|j| j.remove_stale(ferry::registry::journal::MAX_SESSION_AGE))
                    .with_context(|| format!("cannot clean {}", journal_dir.display()))?
            } else {
                0
            };
            if ctx.json {
                print_json(
                    &serde_json::json!({ "removed": removed, "freed_bytes": freed, "kept": keep.len(), "stale_temp_files": stale_temp, "orphaned_pack_temporaries": orphans, "corrupt_packs": unsound, "stale_upload_sessions": sessions }),
                );
            } else {
                for pack in &unsound {
                    println!("removed corrupt pack {}", pack.display());
                }
                if orphans > 0 {
                    println!("removed {orphans} pack temporaries left by killed builds");
                }
                if sessions > 0 {
                    println!("removed {sessions} upload sessions older than a week left by killed pushes");
                }
                println!(
                    "removed {removed} blobs ({}), kept {}",
                    human_bytes(freed),
                    keep.len()
                );
            }
        }
    }
    Ok(())
}
