//! The direct archive writer: every entry's offset is computed up front from
//! the sizes the manifests declare, then blobs are written into their places
//! concurrently, downloads streaming straight into the archive. Each byte is
//! written once; the finished archive becomes a cache pack and is hard-linked
//! to the output path, so the next build finds its blobs in the cache.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use futures_util::{stream, StreamExt, TryStreamExt};

use super::archive::{tar_header, ArchiveOptions, Written, LAYOUT_MARKER};
use super::shared::{BuildError, Counters, Needed, Origin};
use crate::oci::{Digest, Hasher};
use crate::progress::Progress;
use crate::registry::{BlobSink, Client, RegistryError};
use crate::source::Layout;
use crate::store::Store;

/// One blob's place in the archive.
#[derive(Clone, Debug)]
struct Place {
    digest: Digest,
    size: u64,
    offset: u64,
    /// The entry's whole region (header, data, padding), reported to the
    /// hashing follower once the data is in place.
    region: (u64, u64),
}

fn padded(size: u64) -> u64 {
    size.div_ceil(512) * 512
}

/// A region of the archive file a download streams into.
struct RegionSink {
    file: Arc<File>,
    offset: u64,
    written: u64,
}

impl BlobSink for RegionSink {
    fn write_chunk(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all_at(bytes, self.offset + self.written)?;
        self.written += bytes.len() as u64;
        Ok(())
    }
    fn written(&self) -> u64 {
        self.written
    }
    fn reset(&mut self) -> io::Result<()> {
        self.written = 0;
        Ok(())
    }
}

/// Writes the plain-tar archive of a bundle with each blob in its planned place.
#[allow(clippy::too_many_arguments)]
pub(super) async fn write_direct(
    out: &Path,
    index_json: &[u8],
    order: &[(Digest, u64)],
    needed: &BTreeMap<Digest, Needed>,
    store: &Store,
    client: &Client,
    fetched: &Counters,
    jobs: usize,
    options: &ArchiveOptions,
    progress: &dyn Progress,
) -> Result<Written, BuildError> {
    let write_error = |source: io::Error| BuildError::Write {
        path: out.to_owned(),
        source,
    };
    // The plan: headers and small entries at fixed offsets, blobs after their headers.
    let mut fixed: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut offset = 0u64;
    for (path, bytes) in [("oci-layout", LAYOUT_MARKER), ("index.json", index_json)] {
        fixed.push((
            offset,
            tar_header(path, bytes.len() as u64, false, options.mtime)
                .map_err(write_error)?
                .to_vec(),
        ));
        fixed.push((offset + 512, bytes.to_vec()));
        offset += 512 + padded(bytes.len() as u64);
    }
    for path in ["blobs/", "blobs/sha256/"] {
        fixed.push((
            offset,
            tar_header(path, 0, true, options.mtime)
                .map_err(write_error)?
                .to_vec(),
        ));
        offset += 512;
    }
    let fixed_end = offset;
    let mut places = Vec::with_capacity(order.len());
    for (digest, size) in order {
        let path = format!("blobs/sha256/{}", digest.hex());
        fixed.push((
            offset,
            tar_header(&path, *size, false, options.mtime)
                .map_err(write_error)?
                .to_vec(),
        ));
        let end = offset + 512 + padded(*size);
        places.push(Place {
            digest: digest.clone(),
            size: *size,
            offset: offset + 512,
            region: (offset, end),
        });
        offset = end;
    }
    let total = offset + 1024; // two zero blocks end a tar

    let temp = store.pack_temp()?;
    let file = Arc::new(temp.reopen().map_err(write_error)?);
    file.set_len(total).map_err(write_error)?;
    for (at, bytes) in &fixed {
        file.write_all_at(bytes, *at).map_err(write_error)?;
    }
    // The archive's own digest is computed by a follower thread that hashes
    // each region as soon as everything before it is in place, so hashing
    // overlaps the downloads instead of re-reading the archive afterwards.
    let (done, follower) = if options.digest {
        let (done, follower) = spawn_follower(file.clone(), total);
        (Some(done), Some(follower))
    } else {
        (None, None)
    };
    let report = |region: (u64, u64)| {
        if let Some(done) = &done {
            let _ = done.send(region);
        }
    };
    report((0, fixed_end));
    report((offset, total));
    let verified: HashSet<Digest> = fetched.verified();
    progress.stage(
        "blobs",
        places.len() as u64,
        order.iter().map(|(_, s)| s).sum(),
    );
    stream::iter(places.iter())
        .map(|place| async {
            place_blob(
                place, &file, needed, store, client, fetched, &verified, progress,
            )
            .await?;
            report(place.region);
            Ok::<(), BuildError>(())
        })
        .buffer_unordered(jobs.max(1))
        .try_collect::<Vec<()>>()
        .await?;
    drop(done);
    let sha256 = match follower {
        Some(follower) => Some(
            tokio::task::spawn_blocking(move || follower.join())
                .await
                .map_err(|e| write_error(io::Error::other(e)))?
                .map_err(|_| write_error(io::Error::other("the hashing thread panicked")))?
                .map_err(write_error)?,
        ),
        None => None,
    };
    progress.finish_stage();
    if options.fsync {
        file.sync_all().map_err(write_error)?;
    }
    drop(file);
    let blobs: Vec<(Digest, u64, u64)> = places
        .iter()
        .map(|p| (p.digest.clone(), p.offset, p.size))
        .collect();
    // Packs are named by the archive digest, or (not computed) by what
    // determines the archive's bytes: its index and entry mtime.
    let name = match &sha256 {
        Some(digest) => digest.hex().to_owned(),
        None => format!(
            "index-{}-{}",
            Digest::of_bytes(index_json).hex(),
            options.mtime
        ),
    };
    let pack = store.persist_pack(temp, &name, &blobs)?;
    // a reflink or copy: writing into the output must not change the cache
    crate::store::packs::independent_copy(&pack, out).map_err(write_error)?;
    Ok(Written {
        sha256,
        size: total,
    })
}

#[allow(clippy::too_many_arguments)]
async fn place_blob(
    place: &Place,
    file: &Arc<File>,
    needed: &BTreeMap<Digest, Needed>,
    store: &Store,
    client: &Client,
    fetched: &Counters,
    verified: &HashSet<Digest>,
    progress: &dyn Progress,
) -> Result<(), BuildError> {
    let mut sink = RegionSink {
        file: file.clone(),
        offset: place.offset,
        written: 0,
    };
    let digest = &place.digest;
    if store.contains(digest, Some(place.size)) {
        let reader = store.open_blob(digest)?;
        let check = !verified.contains(digest);
        copy_into(reader, sink, digest, place.size, check, Blame::Cache).await?;
        progress.bytes(place.size);
        progress.item(&digest.to_string());
        return Ok(());
    }
    let need = needed
        .get(digest)
        .ok_or_else(|| BuildError::Invalid(format!("no source known for blob {digest}")))?;
    let registry_error = |what: String| move |source| BuildError::Registry { what, source };
    match &need.origin {
        Origin::DockerArchive { path, .. } => {
            return Err(BuildError::Invalid(format!(
                "blob {digest} is not in {} (it was ingested when locking)",
                path.display()
            )));
        }
        Origin::Registry {
            registry,
            repository,
        } => {
            client
                .fetch_blob_into(
                    registry,
                    repository,
                    digest,
                    Some(place.size),
                    &mut sink,
                    &|n| progress.bytes(n),
                )
                .await
                .map_err(registry_error(format!("{registry}/{repository}")))?;
        }
        Origin::Url(url) => {
            client
                .fetch_url_into(url, digest, Some(place.size), &mut sink, &|n| {
                    progress.bytes(n)
                })
                .await
                .map_err(|source| match (&source, need.entry.as_deref()) {
                    (RegistryError::DigestMismatch { actual, .. }, Some(entry)) => Blame::Source {
                        entry: Some(entry),
                        source: url.clone(),
                    }
                    .error(digest, place.size, CopyFailure::Digest(actual.clone())),
                    _ => registry_error(url.clone())(source),
                })?;
        }
        Origin::Layout(dir) => {
            let path = Layout::new(dir).blob_path(digest);
            let reader = File::open(&path)
                .map_err(|e| BuildError::Invalid(format!("{}: {e}", path.display())))?;
            let blame = Blame::Source {
                entry: need.entry.as_deref(),
                source: format!("the layout {}", dir.display()),
            };
            copy_into(reader.take(u64::MAX), sink, digest, place.size, true, blame).await?;
            progress.bytes(place.size);
        }
        Origin::LocalFile(path) => {
            let reader = File::open(path)
                .map_err(|e| BuildError::Invalid(format!("{}: {e}", path.display())))?;
            let blame = Blame::Source {
                entry: need.entry.as_deref(),
                source: path.display().to_string(),
            };
            copy_into(reader.take(u64::MAX), sink, digest, place.size, true, blame).await?;
            progress.bytes(place.size);
        }
        Origin::Built => return Err(super::build::built_blob_gone(digest)),
    }
    fetched.fetched(digest, place.size);
    progress.item(&digest.to_string());
    Ok(())
}

/// Whom a local copy that does not match its digest blames.
enum Blame<'a> {
    /// The cache: its copy was hashed on the way in, so it went bad there.
    Cache,
    /// The source the lock points at (`entry`: the lock entry that records
    /// the sha256 itself, if any).
    Source {
        entry: Option<&'a str>,
        source: String,
    },
}

/// Why a local copy failed.
enum CopyFailure {
    /// The bytes hash to another digest.
    Digest(Digest),
    /// The bytes have another size than the descriptor says.
    Size(String),
    /// Reading or writing failed.
    Io(String),
}

impl Blame<'_> {
    fn error(&self, digest: &Digest, size: u64, failure: CopyFailure) -> BuildError {
        let message = match (self, failure) {
            (_, CopyFailure::Io(detail)) => format!("blob {digest}: {detail}"),
            (Blame::Cache, CopyFailure::Digest(actual)) => format!(
                "blob {digest}: the cache's copy hashes to {actual}, so the cache copy is corrupt\nhint: run `ferry cache gc` to remove it, then build again"
            ),
            (Blame::Cache, CopyFailure::Size(detail)) => format!(
                "blob {digest}: the cache's copy {detail}, so the cache copy is corrupt\nhint: run `ferry cache gc` to remove it, then build again"
            ),
            (Blame::Source { entry: Some(entry), source }, CopyFailure::Digest(actual)) => format!(
                "the lock records {digest} for {entry} but {source} has {actual}: the lock was edited or the source changed; run `ferry lock` to re-pin"
            ),
            (Blame::Source { entry: Some(entry), source }, CopyFailure::Size(detail)) => format!(
                "the lock records {size} bytes ({digest}) for {entry} but {source} {detail}: the lock was edited or the source changed; run `ferry lock` to re-pin"
            ),
            (Blame::Source { entry: None, source }, CopyFailure::Digest(actual)) => {
                format!("blob {digest} in {source} hashes to {actual}: the source is corrupt")
            }
            (Blame::Source { entry: None, source }, CopyFailure::Size(detail)) => {
                format!("blob {digest} in {source} {detail}: the source is corrupt")
            }
        };
        BuildError::Invalid(message)
    }
}

/// Copies a local blob into its region on a blocking thread, hashing it when asked.
async fn copy_into(
    mut reader: io::Take<File>,
    mut sink: RegionSink,
    digest: &Digest,
    size: u64,
    check: bool,
    blame: Blame<'_>,
) -> Result<(), BuildError> {
    let expected = digest.clone();
    let result = tokio::task::spawn_blocking(move || -> Result<(), CopyFailure> {
        let mut hasher = Hasher::new();
        let mut buffer = vec![0u8; 1 << 20];
        loop {
            let n = reader
                .read(&mut buffer)
                .map_err(|e| CopyFailure::Io(e.to_string()))?;
            if n == 0 {
                break;
            }
            if sink.written + n as u64 > size {
                return Err(CopyFailure::Size(format!(
                    "is larger than the {size} bytes its descriptor says"
                )));
            }
            if check {
                hasher.update(&buffer[..n]);
            }
            sink.write_chunk(&buffer[..n])
                .map_err(|e| CopyFailure::Io(e.to_string()))?;
        }
        if sink.written != size {
            return Err(CopyFailure::Size(format!(
                "is {} bytes, its descriptor says {size}",
                sink.written
            )));
        }
        if check {
            let actual = hasher.finish();
            if actual != expected {
                return Err(CopyFailure::Digest(actual));
            }
        }
        Ok(())
    })
    .await
    .map_err(|e| BuildError::Invalid(format!("blob {digest}: {e}")))?;
    result.map_err(|failure| blame.error(digest, size, failure))
}

type Follower = std::thread::JoinHandle<io::Result<Digest>>;

/// Starts the thread that hashes the archive in order as regions complete.
fn spawn_follower(file: Arc<File>, total: u64) -> (std::sync::mpsc::Sender<(u64, u64)>, Follower) {
    let (sender, receiver) = std::sync::mpsc::channel::<(u64, u64)>();
    let handle = std::thread::spawn(move || {
        let mut hasher = Hasher::new();
        let mut buffer = vec![0u8; 1 << 20];
        let mut next = 0u64;
        let mut ready: BTreeMap<u64, u64> = BTreeMap::new();
        while next < total {
            let Ok((start, end)) = receiver.recv() else {
                return Err(io::Error::other(format!(
                    "archive incomplete: nothing written at offset {next}"
                )));
            };
            ready.insert(start, end);
            while let Some(end) = ready.remove(&next) {
                let mut at = next;
                while at < end {
                    let want = buffer.len().min((end - at) as usize);
                    file.read_exact_at(&mut buffer[..want], at)?;
                    hasher.update(&buffer[..want]);
                    at += want as u64;
                }
                next = end;
            }
        }
        Ok(hasher.finish())
    });
    (sender, handle)
}
