//! Progress bars on stderr (indicatif), drawn only on a terminal.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use ferry::progress::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Progress bars on stderr, drawn only on a terminal.
pub struct Bars {
    enabled: bool,
    bar: Mutex<Option<ProgressBar>>,
    /// Whether the current bar counts bytes (else items).
    by_bytes: AtomicBool,
}

impl Bars {
    /// Bars unless `quiet` or stderr is not a terminal.
    pub fn new(quiet: bool) -> Self {
        Self {
            enabled: !quiet && std::io::stderr().is_terminal(),
            bar: Mutex::new(None),
            by_bytes: AtomicBool::new(false),
        }
    }

    fn current(&self) -> Option<ProgressBar> {
        self.bar.lock().ok().and_then(|bar| bar.clone())
    }

    /// Removes the current bar.
    pub fn clear(&self) {
        if let Some(bar) = self.current() {
            bar.finish_and_clear();
        }
    }
}

impl Progress for Bars {
    fn stage(&self, name: &str, items: u64, bytes: u64) {
        if !self.enabled {
            return;
        }
        let bar = if bytes > 0 {
            ProgressBar::new(bytes).with_style(
                ProgressStyle::with_template(
                    "{prefix:>9} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            )
        } else {
            ProgressBar::new(items).with_style(
                ProgressStyle::with_template("{prefix:>9} [{bar:30}] {pos}/{len} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            )
        };
        self.by_bytes.store(bytes > 0, Ordering::Relaxed);
        bar.set_draw_target(ProgressDrawTarget::stderr());
        bar.set_prefix(name.to_owned());
        bar.enable_steady_tick(Duration::from_millis(200));
        if let Ok(mut slot) = self.bar.lock() {
            if let Some(old) = slot.replace(bar) {
                old.finish_and_clear();
            }
        }
    }

    fn bytes(&self, count: u64) {
        if self.by_bytes.load(Ordering::Relaxed) {
            if let Some(bar) = self.current() {
                bar.inc(count);
            }
        }
    }

    fn item(&self, name: &str) {
        if let Some(bar) = self.current() {
            if !self.by_bytes.load(Ordering::Relaxed) {
                bar.inc(1);
            }
            bar.set_message(name.to_owned());
        }
    }

    fn finish_stage(&self) {
        self.clear();
    }
}
