//! A deterministic random generator for the template functions that Helm makes random.
//!
//! The stream is SHA-256 in counter mode over a seed derived from the site secret, the release
//! name, the chart name and the template path, so one secret always renders the same manifests.

use sha2::{Digest, Sha256};

/// A deterministic byte stream.
#[derive(Clone)]
pub struct DetRng {
    key: [u8; 32],
    /// Seed material whose digest becomes `key` on first use (see [`DetRng::lazy`]).
    pending: Option<Box<[u8]>>,
    counter: u64,
    buf: [u8; 32],
    used: usize,
}

/// The seed parts, joined unambiguously (each prefixed with its length).
fn seed_material(parts: &[&[u8]]) -> Vec<u8> {
    let mut m = Vec::with_capacity(parts.iter().map(|p| p.len() + 8).sum());
    for p in parts {
        m.extend_from_slice(&(p.len() as u64).to_be_bytes());
        m.extend_from_slice(p);
    }
    m
}

fn derive_key(material: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"ferry-helm-rng-v1");
    h.update(material);
    h.finalize().into()
}

impl DetRng {
    /// A generator seeded from the given parts (joined unambiguously).
    pub fn new(parts: &[&[u8]]) -> Self {
        DetRng {
            key: derive_key(&seed_material(parts)),
            pending: None,
            counter: 0,
            buf: [0; 32],
            used: 32,
        }
    }

    /// The same generator as [`DetRng::new`], its key derived only when first drawn from: most
    /// templates never call a random function, and each render starts one generator per template.
    pub fn lazy(parts: &[&[u8]]) -> Self {
        DetRng {
            key: [0; 32],
            pending: Some(seed_material(parts).into_boxed_slice()),
            counter: 0,
            buf: [0; 32],
            used: 32,
        }
    }

    fn key(&self) -> [u8; 32] {
        match &self.pending {
            Some(m) => derive_key(m),
            None => self.key,
        }
    }

    /// A digest of the generator's complete state.
    pub fn fingerprint(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.key());
        h.update(self.counter.to_be_bytes());
        h.update((self.used as u64).to_be_bytes());
        h.update(self.buf);
        h.finalize().into()
    }

    /// The next byte.
    pub fn next_u8(&mut self) -> u8 {
        if self.used == 32 {
            if let Some(m) = self.pending.take() {
                self.key = derive_key(&m);
            }
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

#[cfg(test)]
mod tests {
    use super::DetRng;

    #[test]
    fn a_lazy_generator_draws_the_same_stream() {
        let parts: [&[u8]; 3] = [b"seed", b"rel", b"chart/templates/x.yaml"];
        let (mut eager, mut lazy) = (DetRng::new(&parts), DetRng::lazy(&parts));
        assert!(eager.fingerprint() == lazy.fingerprint());
        let (mut a, mut b) = ([0u8; 100], [0u8; 100]);
        eager.fill(&mut a);
        lazy.fill(&mut b);
        assert_eq!(a, b);
        assert!(eager.fingerprint() == lazy.fingerprint());
    }
}
