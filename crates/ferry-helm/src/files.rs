//! Chart files read on first use: the bottom layer, with no import from the rest of the crate.

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The largest file Helm loads from a chart (5 MiB; in an archive, its decompressed size).
pub const MAX_FILE_SIZE: u64 = 5 * 1024 * 1024;

/// The bytes of a chart's non-template file: in memory, or on disk and read on first use.
///
/// A chart directory often carries many files no template reads (changelogs, CI values, tests);
/// reading only what `.Files` asks for saves most of the loading time of such charts.
#[derive(Debug, Clone)]
pub struct FileContent(Arc<Content>);

#[derive(Debug)]
enum Content {
    Memory(Arc<[u8]>),
    Disk {
        path: PathBuf,
        loaded: std::sync::OnceLock<Result<Arc<[u8]>, String>>,
    },
}

impl FileContent {
    /// Content already in memory.
    pub fn memory(bytes: impl Into<Arc<[u8]>>) -> Self {
        FileContent(Arc::new(Content::Memory(bytes.into())))
    }

    /// Content read from `path` when first asked for.
    pub fn on_disk(path: PathBuf) -> Self {
        FileContent(Arc::new(Content::Disk {
            path,
            loaded: std::sync::OnceLock::new(),
        }))
    }

    /// The bytes; an error names the file that could not be read.
    pub fn bytes(&self) -> Result<Arc<[u8]>, String> {
        match &*self.0 {
            Content::Memory(b) => Ok(b.clone()),
            Content::Disk { path, loaded } => loaded
                .get_or_init(|| {
                    read_file(path)
                        .map(Arc::from)
                        .map_err(|e| format!("cannot read {}: {e}", path.display()))
                })
                .clone(),
        }
    }
}

/// Reads a whole file. Chart files are small and many: unlike `std::fs::read`, this does not ask
/// the file's size first (one system call less per file), it reads into a 16 KiB buffer. A file
/// that fills it is large: then std's own reading asks the size and reads the rest into one
/// allocation, rather than doubling the buffer (and copying it) until the file fits.
pub(crate) fn read_file(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    const FIRST: usize = 16 * 1024;
    let mut file = std::fs::File::open(path)?;
    let mut buf = Vec::with_capacity(FIRST);
    // through `take`, so std does not ask the size before reading
    (&mut file).take(FIRST as u64).read_to_end(&mut buf)?;
    if buf.len() == FIRST {
        // a file that grew past the limit since it was listed is not read whole
        file.take(MAX_FILE_SIZE + 1 - FIRST as u64)
            .read_to_end(&mut buf)?;
    }
    if buf.len() as u64 > MAX_FILE_SIZE {
        return Err(std::io::Error::other(format!(
            "larger than the maximum file size {MAX_FILE_SIZE}"
        )));
    }
    Ok(buf)
}
