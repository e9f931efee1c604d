//! A deterministic random generator for the template functions that Helm makes random.
//!
//! The stream is SHA-256 in counter mode over a seed derived from the site secret, the release
//! name, the chart name and the template path, so one secret always renders the same manifests.

use sha2::{Digest, Sha256};

/// A deterministic byte stream.
#[derive(Clone)]
pub struct DetRng {
    key: [u8; 32],
    counter: u64,
    buf: [u8; 32],
    used: usize,
}

impl DetRng {
    /// A generator seeded from the given parts (joined unambiguously).
    pub fn new(parts: &[&[u8]]) -> Self {
        let mut h = Sha256::new();
        h.update(b"ferry-helm-rng-v1");
        for p in parts {
            h.update((p.len() as u64).to_be_bytes());
            h.update(p);
        }
        DetRng {
            key: h.finalize().into(),
            counter: 0,
            buf: [0; 32],
            used: 32,
        }
    }

    /// A digest of the generator's complete state.
    pub fn fingerprint(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.key);
        h.update(self.counter.to_be_bytes());
        h.update((self.used as u64).to_be_bytes());
        h.update(self.buf);
        h.finalize().into()
    }

    /// The next byte.
    pub fn next_u8(&mut self) -> u8 {
        if self.used == 32 {
            let mut h = Sha256::new();
            h.update(self.key);
            h.update(self.counter.to_be_bytes());
            self.buf = h.finalize().into();
            self.counter += 1;
            self.used = 0;
        }
        let b = self.buf[self.used];
        self.used += 1;
        b
    }

    /// Fills `out` with the next bytes.
    pub fn fill(&mut self, out: &mut [u8]) {
        for b in out {
            *b = self.next_u8();
        }
    }

    /// The next u64.
    pub fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill(&mut b);
        u64::from_be_bytes(b)
    }

    /// A uniform integer in `0..n` (n > 0), without modulo bias.
    pub fn below(&mut self, n: u64) -> u64 {
        if n <= 1 {
            return 0;
        }
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let x = self.next_u64();
            if x < zone {
                return x % n;
            }
        }
    }
}
