//! Bytes served are the bytes verified: every file the bundle is read from is
//! stamped (device, inode, size, modification and change times) when the
//! server starts, right after verification, and each request checks the file
//! it opens against its stamp; a whole blob is also hashed while it streams and
//! its last chunk is held back until the digest matches.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use sha2::{Digest as _, Sha256};

use crate::oci::Digest;

/// What identifies a file's content without reading it. The change time is
/// set by the kernel on every write or metadata change and cannot be set back
/// by a user, so an edit that restores the modification time is still seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    /// The stamp of a file's metadata.
    pub fn of(metadata: &std::fs::Metadata) -> Self {
        Self {
            dev: metadata.dev(),
            ino: metadata.ino(),
            size: metadata.size(),
            mtime: (metadata.mtime(), metadata.mtime_nsec()),
            ctime: (metadata.ctime(), metadata.ctime_nsec()),
        }
    }
}

/// The stamps of every file a bundle is read from, taken once.
#[derive(Debug, Default)]
pub struct Stamps(HashMap<PathBuf, Stamp>);

/// A file changed since the bundle was verified, or cannot be checked.
#[derive(Debug, thiserror::Error)]
pub enum Changed {
    /// Its stamp differs.
    #[error(
        "{0} changed on disk after the bundle was verified; restart ferry serve to verify it again"
    )]
    Modified(PathBuf),
    /// It was not stamped at start.
    #[error("{0} was not part of the bundle when it was verified")]
    Unknown(PathBuf),
    /// Opening or examining it failed.
    #[error("cannot read {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl Stamps {
    /// Stamps each of `paths` (duplicates are stamped once).
    pub fn take<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Result<Self, Changed> {
        let mut stamps = HashMap::new();
        for path in paths {
            if stamps.contains_key(path) {
                continue;
            }
            let metadata = std::fs::metadata(path).map_err(|source| Changed::Io {
                path: path.to_owned(),
                source,
            })?;
            stamps.insert(path.to_owned(), Stamp::of(&metadata));
        }
        Ok(Self(stamps))
    }

    /// Adds the stamps of another set (a delta's base bundle).
    pub fn extend(&mut self, other: Stamps) {
        self.0.extend(other.0);
    }

    /// Checks an opened file against the stamp of its path.
    pub fn check(&self, path: &Path, opened: &std::fs::Metadata) -> Result<(), Changed> {
        match self.0.get(path) {
            None => Err(Changed::Unknown(path.to_owned())),
            Some(stamp) if *stamp == Stamp::of(opened) => Ok(()),
            Some(_) => Err(Changed::Modified(path.to_owned())),
        }
    }
}

/// A body stream that hashes what passes and, holding the last chunk back,
/// ends in an error instead of that chunk when the bytes are not `digest`: a
/// client never receives a complete body under a digest it does not have.
pub struct Hashed<S> {
    inner: S,
    digest: Digest,
    hasher: Sha256,
    held: Option<Bytes>,
    done: bool,
}

impl<S> Hashed<S> {
    /// Wraps the stream of a whole blob expected to hash to `digest`.
    pub fn new(inner: S, digest: Digest) -> Self {
        Self {
            inner,
            digest,
            hasher: Sha256::new(),
            held: None,
            done: false,
        }
    }
}

impl<S> Stream for Hashed<S>
where
    S: Stream<Item = std::io::Result<Bytes>> + Unpin,
{
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        loop {
            match Pin::new(&mut self.inner).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(error))) => {
                    self.done = true;
                    return Poll::Ready(Some(Err(error)));
                }
                Poll::Ready(Some(Ok(chunk))) => {
                    self.hasher.update(&chunk);
                    if let Some(previous) = self.held.replace(chunk) {
                        return Poll::Ready(Some(Ok(previous)));
                    }
                }
                Poll::Ready(None) => {
                    self.done = true;
                    let actual = hex::encode(std::mem::take(&mut self.hasher).finalize());
                    if actual != self.digest.hex() {
                        let message = format!(
                            "blob {} read back as sha256:{actual}: the bundle changed on disk after it was verified",
                            self.digest
                        );
                        eprintln!("ferry serve: {message}");
                        return Poll::Ready(Some(Err(std::io::Error::other(message))));
                    }
                    return Poll::Ready(self.held.take().map(Ok));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt as _;

    fn chunks(parts: &[&'static [u8]]) -> impl Stream<Item = std::io::Result<Bytes>> + Unpin {
        futures_util::stream::iter(
            parts
                .iter()
                .map(|p| Ok(Bytes::from_static(p)))
                .collect::<Vec<_>>(),
        )
    }

    fn digest_of(bytes: &[u8]) -> Digest {
        format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
            .parse()
            .unwrap()
    }

    #[tokio::test]
    async fn matching_bytes_pass_whole() {
        let stream = Hashed::new(chunks(&[b"hello ", b"world"]), digest_of(b"hello world"));
        let out: Vec<_> = stream.collect().await;
        let bytes: Vec<u8> = out
            .into_iter()
            .flat_map(|c| c.map(|b| b.to_vec()).unwrap_or_default())
            .collect();
        assert_eq!(bytes, b"hello world");
    }

    #[tokio::test]
    async fn changed_bytes_end_in_an_error_before_the_last_chunk() {
        let stream = Hashed::new(chunks(&[b"hello ", b"WORLD"]), digest_of(b"hello world"));
        let out: Vec<_> = stream.collect().await;
        assert_eq!(out.len(), 2);
        assert_eq!(
            out[0].as_ref().map(|b| b.to_vec()).ok(),
            Some(b"hello ".to_vec())
        );
        assert!(out[1].is_err());
    }

    #[test]
    fn a_rewritten_file_no_longer_matches_its_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        std::fs::write(&path, b"one").unwrap();
        let stamps = Stamps::take([path.as_path()]).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert!(stamps.check(&path, &meta).is_ok());
        std::fs::write(&path, b"two").unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert!(matches!(
            stamps.check(&path, &meta),
            Err(Changed::Modified(_))
        ));
        assert!(matches!(
            stamps.check(&dir.path().join("other"), &meta),
            Err(Changed::Unknown(_))
        ));
    }
}
