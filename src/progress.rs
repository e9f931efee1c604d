//! Progress reporting. Libraries never print; they report to a [`Progress`],
//! which the CLI implements with progress bars (or not at all).

/// Receives progress of a long operation. Implementations must be cheap:
/// `bytes` is called for every chunk received or written.
pub trait Progress: Send + Sync {
    /// A stage begins, with the number of items and bytes it expects (0 when unknown).
    fn stage(&self, _name: &str, _items: u64, _bytes: u64) {}
    /// Bytes were transferred or written.
    fn bytes(&self, _count: u64) {}
    /// One item of the current stage finished.
    fn item(&self, _name: &str) {}
    /// The current stage finished.
    fn finish_stage(&self) {}
}

/// Reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {}
