//! Fast, deterministic generation of RSA primes.
//!
//! A candidate is a random odd number of exactly the requested length with its top two bits set
//! (so the product of two such primes has the full modulus length), drawn from the deterministic
//! generator. Its residues modulo the odd primes below [`SIEVE_LIMIT`] are computed once, without
//! division; the search then walks `candidate + 2k` for `k` in a window, skipping every `k` at
//! which some residue reaches zero (a sieve over the window: no bignum division per step), and
//! every `k` at which the candidate is 1 modulo the public exponent (so that `e` is invertible
//! modulo `p - 1`).
//!
//! Survivors get a strong (Miller–Rabin) test to base 2 with Montgomery arithmetic on fixed-size
//! arrays of 64-bit limbs (unrolled product scanning for up to 1024 bits), where multiplying by the
//! base is a doubling. The first survivor that passes gets the Miller–Rabin rounds with random
//! bases of [`mr_rounds`]. The searches for a key's primes share the threads through a small
//! scheduler, but each prime is always the *first* survivor of its window to pass, so it depends
//! only on its generator, never on thread timing or thread count.
//!
//! Its cost shows in the first-render column of `bench/render.sh` (chaos-mesh generates 17 keys
//! per render, harbor 6).
//!
//! Nothing here is constant time: keys are a function of the site secret and are generated at
//! render time, not in a setting where an attacker can time the generation.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, OnceLock, PoisonError};

use num_bigint_dig::BigUint;

use crate::rand::DetRng;

/// Limb arithmetic and Montgomery multiplication on fixed-size arrays of 64-bit limbs.
mod limbs;
use limbs::*;

/// Small primes used by the sieve are the odd primes below this bound (43,390 of them). Chosen by
/// measurement (the `bench_sieve_limits` test): a larger table removes more candidates before the
/// expensive test but costs more per window (and once, to build); for 1024-bit primes 2^19 and
/// 2^20 tie (26.8 vs 25.4 base-2 tests per prime, 0.4 vs 0.7 ms of sieving), 2^18 and 2^21 are
/// slower, and 2^19 builds in half the time. Must stay below 2^30 (see [`prime_residue`]).
const SIEVE_LIMIT: u32 = 1 << 19;

/// Number of odd offsets `k` examined from one random start. A 1024-bit window of this size holds
/// about 10 primes on average; if it holds none that pass, a fresh start is drawn.
const WINDOW: usize = 1 << 12;

/// Lanes of the residue computation that run side by side (independent dependency chains).
const LANES: usize = 8;

/// Smallest prime size handled here.
pub const MIN_BITS: usize = 64;
/// Largest prime size handled here (4096-bit primes, i.e. 8192-bit keys).
pub const MAX_BITS: usize = 4096;

/// The number of Miller–Rabin rounds with random bases for a random candidate of `bits` bits,
/// for an error probability (a composite accepted as prime) of at most 2^-100.
///
/// FIPS 186-5, Appendix B.3, Table B.1 ("Minimum number of rounds of M-R testing when generating
/// primes"), column "error probability 2^-100": 4 rounds for primes `p`, `q` of 1024 bits (RSA
/// 2048), 3 for 1536 bits (RSA 3072) and 2 for 2048 bits (RSA 4096). The bound only falls as the
/// size grows, so a size between two rows takes the smaller row's count. Below 1024 bits we use
/// the unconditional bound `4^-t` for any odd composite: 50 rounds. Every candidate has passed a
/// strong test to base 2 first, which the table does not count and which only lowers the error.
pub fn mr_rounds(bits: usize) -> usize {
    match bits {
        2048.. => 2,
        1536.. => 3,
        1024.. => 4,
        _ => 50,
    }
}

/// The sieve's small primes, with the constants for computing residues without division.
///
/// A candidate is first reduced modulo products of consecutive small primes (each below 2^63),
/// then each residue modulo its primes: per prime that is a couple of 32-bit reductions instead of
/// one per 32 bits of the candidate.
struct SmallPrimes {
    /// The odd primes below the limit.
    p: Vec<u32>,
    /// `-p^-1 mod 2^32`.
    pinv: Vec<u32>,
    /// `2^32 mod p`.
    c32: Vec<u32>,
    /// `2^64 mod p`.
    c64: Vec<u32>,
    /// Products of consecutive primes, each below 2^63.
    q: Vec<u64>,
    /// `-q^-1 mod 2^64`.
    qinv: Vec<u64>,
    /// `2^128 mod q`.
    q_r2: Vec<u64>,
    /// Where each product's primes end in `p` (they start where the previous product's end).
    q_end: Vec<u32>,
}

impl SmallPrimes {
    /// The odd primes below `limit` (at most 2^30), by the sieve of Eratosthenes.
    fn new(limit: u32) -> Self {
        let limit = limit.min(1 << 30) as usize;
        // composite[i] describes the odd number 2i + 1
        let mut composite = vec![false; limit / 2];
        let mut i = 1;
        while (2 * i + 1) * (2 * i + 1) < limit {
            if !composite[i] {
                let p = 2 * i + 1;
                let mut j = p * p / 2;
                while j < composite.len() {
                    composite[j] = true;
                    j += p;
                }
            }
            i += 1;
        }
        let p: Vec<u32> = (1..composite.len())
            .filter(|&i| !composite[i])
            .map(|i| (2 * i + 1) as u32)
            .collect();
        let pinv = p.iter().map(|&p| inv32(p).wrapping_neg()).collect();
        let (c32, c64) = p
            .iter()
            .map(|&p| {
                let p = u64::from(p);
                let c32 = (1u64 << 32) % p;
                (c32 as u32, (c32 * c32 % p) as u32)
            })
            .unzip();
        let (mut q, mut q_end) = (Vec::new(), Vec::new());
        let mut product = 1u64;
        for (i, &prime) in p.iter().enumerate() {
            match product.checked_mul(u64::from(prime)) {
                Some(x) if x < 1 << 63 => product = x,
                _ => {
                    q.push(product);
                    q_end.push(i as u32);
                    product = u64::from(prime);
                }
            }
        }
        if product > 1 {
            q.push(product);
            q_end.push(p.len() as u32);
        }
        let qinv = q.iter().map(|&q| inv64(q).wrapping_neg()).collect();
        let q_r2 = q
            .iter()
            .map(|&q| {
                let r1 = u128::from((u64::MAX % q + 1) % q);
                (r1 * r1 % u128::from(q)) as u64
            })
            .collect();
        SmallPrimes {
            p,
            pinv,
            c32,
            c64,
            q,
            qinv,
            q_r2,
            q_end,
        }
    }

    /// Per product `q`, `2^(64(L+1)) mod q` for a candidate of `L` limbs: the factor that undoes
    /// the scaling of the division-free reduction (see [`product_residues`]). It is `R^L` in
    /// Montgomery form (`R = 2^64`), computed by Montgomery square-and-multiply from `R^2 mod q`.
    fn conversion(&self, limbs: usize) -> Vec<u64> {
        self.q
            .iter()
            .zip(&self.qinv)
            .zip(&self.q_r2)
            .map(|((&q, &qinv), &r2)| {
                let mul = |a: u64, b: u64| {
                    let x = redc64(u128::from(a) * u128::from(b), q, qinv);
                    if x >= q {
                        x - q
                    } else {
                        x
                    }
                };
                let mut result = (u64::MAX % q + 1) % q; // R mod q: Montgomery 1
                let mut base = r2; // Montgomery R
                let mut e = limbs;
                while e > 0 {
                    if e & 1 == 1 {
                        result = mul(result, base);
                    }
                    base = mul(base, base);
                    e >>= 1;
                }
                result
            })
            .collect()
    }
}

/// The sieve's table, built on first use.
fn small_primes() -> &'static SmallPrimes {
    static TABLE: OnceLock<SmallPrimes> = OnceLock::new();
    TABLE.get_or_init(|| SmallPrimes::new(SIEVE_LIMIT))
}

/// [`SmallPrimes::conversion`] of the sieve's table for `N` limbs, built on first use for each
/// supported limb count (`class` indexes the list in `by_size!`).
fn conversion(class: usize, limbs: usize) -> &'static [u64] {
    static TABLES: [OnceLock<Vec<u64>>; SIZE_CLASSES] = [const { OnceLock::new() }; SIZE_CLASSES];
    TABLES[class].get_or_init(|| small_primes().conversion(limbs))
}

/// `x - m` if that is not negative, else `x` (without a branch).
#[inline(always)]
fn sub_if_ge(x: u64, m: u64) -> u64 {
    x.min(x.wrapping_sub(m))
}

/// Residues of the number with little-endian `limbs` modulo every product of small primes in the
/// table, without division: a 64-bit Montgomery reduction `t <- (t + limb) / 2^64 mod q` per
/// limb, from the low limb up, leaves `x / 2^(64L)`, and one more reduction by `conv`
/// (`2^(64(L+1)) mod q`) undoes the scaling. With `q < 2^63` nothing overflows.
fn product_residues(limbs: &[u64], sp: &SmallPrimes, conv: &[u64], out: &mut Vec<u64>) {
    /// One reduction step: `(t + limb) / 2^64 mod q`, in `[0, q + 2)`. The low word of
    /// `t + limb + m q` is zero by the choice of `m`, so its carry out is just "the low word of
    /// `t + limb` is not zero".
    #[inline(always)]
    fn step(t: u64, limb: u64, q: u64, qneg_inv: u64) -> u64 {
        let (lo, carry) = t.overflowing_add(limb);
        let m = lo.wrapping_mul(qneg_inv);
        let hi = ((u128::from(m) * u128::from(q)) >> 64) as u64;
        hi + u64::from(carry) + u64::from(lo != 0)
    }
    #[inline(always)]
    fn finish(t: u64, conv: u64, q: u64, qneg_inv: u64) -> u64 {
        // t < q + 2 and conv < q, so the reduction is below 2q
        sub_if_ge(redc64(u128::from(t) * u128::from(conv), q, qneg_inv), q)
    }
    out.clear();
    out.reserve(sp.q.len());
    let q = sp.q.chunks_exact(LANES);
    let qinv = sp.qinv.chunks_exact(LANES);
    let cv = conv.chunks_exact(LANES);
    let (q_tail, qinv_tail, cv_tail) = (q.remainder(), qinv.remainder(), cv.remainder());
    for ((q, qinv), cv) in q.zip(qinv).zip(cv) {
        let mut t = [0u64; LANES];
        for &limb in limbs {
            for l in 0..LANES {
                t[l] = step(t[l], limb, q[l], qinv[l]);
            }
        }
        for l in 0..LANES {
            out.push(finish(t[l], cv[l], q[l], qinv[l]));
        }
    }
    for ((&q, &qinv), &cv) in q_tail.iter().zip(qinv_tail).zip(cv_tail) {
        let t = limbs.iter().fold(0, |t, &limb| step(t, limb, q, qinv));
        out.push(finish(t, cv, q, qinv));
    }
}

/// `r mod p` for `r < 2^63`, without division: with `r = h 2^32 + l`, the 32-bit Montgomery
/// reduction of `h (2^64 mod p) + l (2^32 mod p)` is `(h 2^64 + l 2^32) / 2^32 ≡ r`, and below
/// `2.5p`.
#[inline(always)]
fn prime_residue(r: u64, p: u32, pinv: u32, c32: u32, c64: u32) -> u32 {
    let x = (r >> 32) * u64::from(c64) + (r & 0xffff_ffff) * u64::from(c32);
    let p = u64::from(p);
    sub_if_ge(sub_if_ge(redc32(x, p as u32, pinv), p), p) as u32
}

/// Residues of the number with little-endian `limbs` modulo every small prime of the table:
/// modulo each product of primes first ([`product_residues`]), then modulo each of its primes.
#[cfg(test)]
fn residues(limbs: &[u64], sp: &SmallPrimes, conv: &[u64], out: &mut Vec<u32>) {
    let mut rq = Vec::new();
    product_residues(limbs, sp, conv, &mut rq);
    out.clear();
    let mut start = 0;
    for (&r, &end) in rq.iter().zip(&sp.q_end) {
        for i in start..end as usize {
            out.push(prime_residue(r, sp.p[i], sp.pinv[i], sp.c32[i], sp.c64[i]));
        }
        start = end as usize;
    }
}

/// The first `k >= 0` with `r + 2k ≡ target (mod p)`, for an odd `p` and `r, target < p`.
#[inline(always)]
fn first_hit(r: u32, target: u32, p: u32) -> usize {
    let (r, target, p) = (u64::from(r), u64::from(target), u64::from(p));
    // s ≡ target - r in [0, p); 2k ≡ s: k = s/2, or (s + p)/2 when s is odd
    let s = sub_if_ge(target + p - r, p);
    ((s + (s & 1) * p) / 2) as usize
}

// ------------------------------------------------------------------ search

/// Number of supported limb counts (see `by_size!`).
const SIZE_CLASSES: usize = 9;

/// Calls `$f::<N, CLASS>(args)` for the smallest supported limb count `N >= $limbs`, or
/// evaluates `$none` when the size is not supported.
macro_rules! by_size {
    ($limbs:expr, $none:expr, $f:ident($($arg:expr),*)) => {
        match $limbs {
            1 => $f::<1, 0>($($arg),*),
            2 => $f::<2, 1>($($arg),*),
            3..=4 => $f::<4, 2>($($arg),*),
            5..=8 => $f::<8, 3>($($arg),*),
            9..=16 => $f::<16, 4>($($arg),*),
            17..=24 => $f::<24, 5>($($arg),*),
            25..=32 => $f::<32, 6>($($arg),*),
            33..=48 => $f::<48, 7>($($arg),*),
            49..=64 => $f::<64, 8>($($arg),*),
            _ => $none,
        }
    };
}

/// `bits` random bits from the generator, as limbs.
fn random_bits<const N: usize>(rng: &mut DetRng, bits: usize) -> [u64; N] {
    let mut bytes = vec![0u8; bits.div_ceil(8)];
    rng.fill(&mut bytes);
    let mut x = [0u64; N];
    for (i, b) in bytes.iter().enumerate() {
        x[i / 8] |= u64::from(*b) << (8 * (i % 8));
    }
    if bits % 64 != 0 {
        x[bits / 64] &= (1u64 << (bits % 64)) - 1;
    }
    x
}

/// A uniformly random Miller–Rabin base in `[2, n - 2]`, by rejection.
fn random_base<const N: usize>(rng: &mut DetRng, n: &[u64; N]) -> [u64; N] {
    let bits = bit_len(n);
    let mut n_minus_1 = *n;
    n_minus_1[0] &= !1;
    loop {
        let a = random_bits::<N>(rng, bits);
        if bit_len(&a) >= 2 && lt(&a, &n_minus_1) {
            return a;
        }
    }
}

/// Miller–Rabin with every base of `bases`.
#[cfg(test)]
fn all_rounds_pass<const N: usize>(m: &Mont<N>, bases: &[[u64; N]]) -> bool {
    let r2 = m.r2();
    bases.iter().all(|a| m.strong(a, &r2))
}

/// Base-2 test state of one sieve survivor.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Status {
    Untested,
    Testing,
    Composite,
    Passed,
}

/// Where one prime search stands.
enum Phase<const N: usize> {
    /// A window must be drawn and sieved.
    NeedSieve,
    /// Its window is being sieved.
    Sieving,
    /// Its survivors are being tested to base 2.
    Searching,
    /// The first survivor to pass base 2 is getting its random-base rounds.
    Finals {
        /// Its survivor index.
        index: usize,
        /// The candidate.
        n: [u64; N],
        /// Bases of the rounds not yet handed out.
        bases: Vec<[u64; N]>,
        /// Rounds passed so far.
        passed: usize,
    },
    /// Finished: the prime, or `None` after too many windows.
    Done(Option<[u64; N]>),
}

/// One prime search.
struct Search<const N: usize> {
    rng: DetRng,
    bits: usize,
    rounds: usize,
    windows: usize,
    /// The current window's odd start; candidates are `start + 2k`.
    start: [u64; N],
    /// The offsets `k` that survived the sieve, in increasing order.
    survivors: Vec<u32>,
    status: Vec<Status>,
    /// Survivors before this index are settled (composite, or failed the rounds).
    resume: usize,
    phase: Phase<N>,
}

/// Work for one thread.
enum Task<const N: usize> {
    /// Sieve the window starting at `start`.
    Sieve { search: usize, start: [u64; N] },
    /// Base-2 test of survivor `index`, the candidate `n` (`None`: past the size).
    Test {
        search: usize,
        index: usize,
        n: Option<[u64; N]>,
    },
    /// A random-base round for the candidate at survivor `index`.
    Round {
        search: usize,
        index: usize,
        n: [u64; N],
        base: [u64; N],
    },
}

/// The result of a [`Task`].
enum Outcome {
    Sieved {
        search: usize,
        survivors: Vec<u32>,
    },
    /// `prime: None`: abandoned, as an earlier survivor passed meanwhile.
    Tested {
        search: usize,
        index: usize,
        prime: Option<bool>,
    },
    Rounded {
        search: usize,
        index: usize,
        pass: bool,
    },
}

/// A search gives up after this many windows without a prime (never happens in practice: a
/// window holds about ten primes).
const MAX_WINDOWS: usize = 1000;

/// The state all threads share (under a mutex).
struct Scheduler<const N: usize> {
    searches: Vec<Search<N>>,
    e: u32,
}

/// The first survivor after `index` known to pass base 2 (`usize::MAX` when none).
fn next_passed(status: &[Status], index: usize) -> usize {
    (index + 1..status.len())
        .find(|&j| status[j] == Status::Passed)
        .unwrap_or(usize::MAX)
}

impl<const N: usize> Scheduler<N> {
    fn all_done(&self) -> bool {
        self.searches
            .iter()
            .all(|s| matches!(s.phase, Phase::Done(_)))
    }

    /// The next task, if any is ready: random-base rounds first (they finish a search), then
    /// sieving, then base-2 tests, earlier searches first.
    fn next_task(&mut self, cutoffs: &[AtomicUsize]) -> Option<Task<N>> {
        for (i, s) in self.searches.iter_mut().enumerate() {
            if let Phase::Finals {
                index, n, bases, ..
            } = &mut s.phase
            {
                if let Some(base) = bases.pop() {
                    return Some(Task::Round {
                        search: i,
                        index: *index,
                        n: *n,
                        base,
                    });
                }
            }
        }
        for (i, s) in self.searches.iter_mut().enumerate() {
            if matches!(s.phase, Phase::NeedSieve) {
                // a random odd start of exactly `bits` bits with the top two bits set
                let bits = s.bits;
                let mut start = random_bits::<N>(&mut s.rng, bits);
                start[(bits - 1) / 64] |= 1 << ((bits - 1) % 64);
                start[(bits - 2) / 64] |= 1 << ((bits - 2) % 64);
                start[0] |= 1;
                s.start = start;
                s.windows += 1;
                s.phase = Phase::Sieving;
                return Some(Task::Sieve { search: i, start });
            }
        }
        for (i, s) in self.searches.iter_mut().enumerate() {
            if !matches!(s.phase, Phase::Searching) {
                continue;
            }
            let end = s.survivors.len().min(cutoffs[i].load(Ordering::Relaxed));
            if let Some(index) = (s.resume..end).find(|&j| s.status[j] == Status::Untested) {
                s.status[index] = Status::Testing;
                let mut n = s.start;
                let carry = add_small(&mut n, 2 * u64::from(s.survivors[index]));
                let n = (!carry && bit_len(&n) == s.bits).then_some(n);
                return Some(Task::Test {
                    search: i,
                    index,
                    n,
                });
            }
        }
        None
    }

    /// Records a finished task.
    fn apply(&mut self, outcome: Outcome, cutoffs: &[AtomicUsize]) {
        match outcome {
            Outcome::Sieved { search, survivors } => {
                let s = &mut self.searches[search];
                s.status = vec![Status::Untested; survivors.len()];
                s.survivors = survivors;
                s.resume = 0;
                s.phase = Phase::Searching;
                cutoffs[search].store(usize::MAX, Ordering::Relaxed);
                self.advance(search, cutoffs);
            }
            Outcome::Tested {
                search,
                index,
                prime,
            } => {
                let s = &mut self.searches[search];
                s.status[index] = match prime {
                    None => Status::Untested,
                    Some(false) => Status::Composite,
                    Some(true) => {
                        cutoffs[search].fetch_min(index, Ordering::Relaxed);
                        Status::Passed
                    }
                };
                if matches!(s.phase, Phase::Searching) {
                    self.advance(search, cutoffs);
                }
            }
            Outcome::Rounded {
                search,
                index,
                pass,
            } => {
                let s = &mut self.searches[search];
                let Phase::Finals {
                    index: current,
                    n,
                    bases,
                    passed,
                } = &mut s.phase
                else {
                    return;
                };
                if *current != index {
                    return; // a late round of a candidate already rejected
                }
                if !pass {
                    // a composite that passed base 2: go on after it
                    s.status[index] = Status::Composite;
                    s.phase = Phase::Searching;
                    cutoffs[search].store(next_passed(&s.status, index), Ordering::Relaxed);
                    self.advance(search, cutoffs);
                    return;
                }
                *passed += 1;
                if *passed == s.rounds && bases.is_empty() {
                    s.phase = Phase::Done(Some(*n));
                }
            }
        }
    }

    /// Moves a search past its settled survivors: to the rounds when the first unsettled one
    /// passed base 2, to a new window when none is left.
    fn advance(&mut self, search: usize, cutoffs: &[AtomicUsize]) {
        let e = self.e;
        let s = &mut self.searches[search];
        loop {
            while s.resume < s.status.len() && s.status[s.resume] == Status::Composite {
                s.resume += 1;
            }
            if s.resume == s.status.len() {
                s.phase = if s.windows >= MAX_WINDOWS {
                    Phase::Done(None)
                } else {
                    Phase::NeedSieve
                };
                return;
            }
            if s.status[s.resume] != Status::Passed {
                return;
            }
            let index = s.resume;
            let mut n = s.start;
            add_small(&mut n, 2 * u64::from(s.survivors[index]));
            // the sieve already ruled out p ≡ 1 (mod e); this also covers a composite e
            let mut nm1 = n;
            nm1[0] &= !1;
            if gcd(u64::from(e), u64::from(mod_small(&nm1, e))) != 1 {
                s.status[index] = Status::Composite;
                cutoffs[search].store(next_passed(&s.status, index), Ordering::Relaxed);
                continue;
            }
            let bases = (0..s.rounds).map(|_| random_base(&mut s.rng, &n)).collect();
            s.phase = Phase::Finals {
                index,
                n,
                bases,
                passed: 0,
            };
            return;
        }
    }
}

/// The sieve survivors of the window at `start`: offsets `k < WINDOW` such that `start + 2k` has
/// no factor in the table and is not 1 modulo `e`.
fn sieve_window<const N: usize>(
    start: &[u64; N],
    e: u32,
    sp: &SmallPrimes,
    conv: &[u64],
) -> Vec<u32> {
    let mut rq = Vec::new();
    product_residues(start, sp, conv, &mut rq);
    let mut sieve = vec![false; WINDOW];
    let mut first = 0;
    for (&r, &end) in rq.iter().zip(&sp.q_end) {
        let end = end as usize;
        for i in first..end {
            let p = sp.p[i];
            let mut k = first_hit(prime_residue(r, p, sp.pinv[i], sp.c32[i], sp.c64[i]), 0, p);
            while k < WINDOW {
                sieve[k] = true;
                k += p as usize;
            }
        }
        first = end;
    }
    // p ≡ 1 (mod e) would make e non-invertible modulo p - 1
    let mut k = first_hit(mod_small(start, e), 1 % e, e);
    while k < WINDOW {
        sieve[k] = true;
        k += e as usize;
    }
    (0..WINDOW as u32).filter(|&k| !sieve[k as usize]).collect()
}

/// Runs one task (outside the lock).
fn run_task<const N: usize>(
    task: Task<N>,
    e: u32,
    sp: &SmallPrimes,
    conv: &[u64],
    cutoffs: &[AtomicUsize],
) -> Outcome {
    match task {
        Task::Sieve { search, start } => Outcome::Sieved {
            search,
            survivors: sieve_window(&start, e, sp, conv),
        },
        Task::Test { search, index, n } => {
            let prime = match n.and_then(Mont::<N>::new) {
                None => Some(false),
                Some(m) => {
                    m.strong_base2_unless(|| cutoffs[search].load(Ordering::Relaxed) < index)
                }
            };
            Outcome::Tested {
                search,
                index,
                prime,
            }
        }
        Task::Round {
            search,
            index,
            n,
            base,
        } => {
            let pass = Mont::<N>::new(n).is_some_and(|m| m.strong(&base, &m.r2()));
            Outcome::Rounded {
                search,
                index,
                pass,
            }
        }
    }
}

/// Searches for one prime per generator, on up to `threads` threads.
///
/// Every search draws from its own generator in a fixed order (a window's start, then the bases
/// for the first survivor of the window to pass base 2, then perhaps a new window), and accepts
/// the *first* survivor that passes, once every earlier survivor has failed: threads only decide
/// who runs which test when, never the outcome.
fn search_all<const N: usize, const CLASS: usize>(
    rngs: &mut [DetRng],
    bits: &[usize],
    e: u32,
    threads: usize,
) -> Option<Vec<BigUint>> {
    let primes = search_with::<N>(rngs, bits, e, threads, small_primes(), conversion(CLASS, N))?;
    Some(primes.iter().map(|p| limbs_to_biguint(p)).collect())
}

/// [`search_all`] with the sieve table `sp` and its conversion factors `conv` for `N` limbs.
fn search_with<const N: usize>(
    rngs: &mut [DetRng],
    bits: &[usize],
    e: u32,
    threads: usize,
    sp: &SmallPrimes,
    conv: &[u64],
) -> Option<Vec<[u64; N]>> {
    let searches = rngs
        .iter()
        .zip(bits)
        .map(|(rng, &bits)| Search {
            rng: rng.clone(),
            bits,
            rounds: mr_rounds(bits),
            windows: 0,
            start: [0; N],
            survivors: Vec::new(),
            status: Vec::new(),
            resume: 0,
            phase: Phase::NeedSieve,
        })
        .collect();
    let state = Mutex::new(Scheduler { searches, e });
    let wake = Condvar::new();
    let cutoffs: Vec<AtomicUsize> = rngs.iter().map(|_| AtomicUsize::new(usize::MAX)).collect();
    let work = || {
        let mut outcome = None;
        loop {
            let task = {
                let mut st = state.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(o) = outcome.take() {
                    st.apply(o, &cutoffs);
                    wake.notify_all();
                }
                loop {
                    if st.all_done() {
                        return;
                    }
                    if let Some(t) = st.next_task(&cutoffs) {
                        break t;
                    }
                    st = wake.wait(st).unwrap_or_else(PoisonError::into_inner);
                }
            };
            outcome = Some(run_task(task, e, sp, conv, &cutoffs));
        }
    };
    std::thread::scope(|scope| {
        for _ in 1..threads.max(1) {
            // if a thread cannot be started, the others do its share
            let _ = std::thread::Builder::new().spawn_scoped(scope, work);
        }
        work();
    });
    let st = state.into_inner().unwrap_or_else(PoisonError::into_inner);
    let mut primes = Vec::with_capacity(st.searches.len());
    for (s, rng) in st.searches.into_iter().zip(rngs.iter_mut()) {
        *rng = s.rng;
        match s.phase {
            Phase::Done(Some(p)) => primes.push(p),
            _ => return None,
        }
    }
    Some(primes)
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn limbs_to_biguint(limbs: &[u64]) -> BigUint {
    let bytes: Vec<u8> = limbs.iter().flat_map(|l| l.to_le_bytes()).collect();
    BigUint::from_bytes_le(&bytes)
}

/// A random prime of exactly `bits` bits (top two bits set) with `gcd(e, p - 1) = 1`, drawn from
/// `rng`; `e` should be an odd prime (65537). The work is shared by up to `threads` threads; the
/// result does not depend on `threads`. `None` when `bits` is outside
/// [`MIN_BITS`]`..=`[`MAX_BITS`] or `e` is even.
#[cfg(test)]
pub fn gen_prime(rng: &mut DetRng, bits: usize, e: u32, threads: usize) -> Option<BigUint> {
    let mut rngs = [rng.clone()];
    let p = gen_primes(&mut rngs, &[bits], e, threads)?;
    *rng = rngs[0].clone();
    p.into_iter().next()
}

/// One random prime per generator in `rngs`, of the matching size in `bits`: exactly that many
/// bits with the top two set, and `gcd(e, p - 1) = 1` (`e` should be an odd prime, 65537). The
/// searches run at the same time on up to `threads` threads, so that all stay busy (while one
/// search waits for its last rounds, the others go on). Each prime depends only on its own
/// generator, never on `threads` or timing; each generator is left where its search stopped
/// drawing from it. `None` when a size is outside
/// [`MIN_BITS`]`..=`[`MAX_BITS`] or `e` is even.
pub fn gen_primes(
    rngs: &mut [DetRng],
    bits: &[usize],
    e: u32,
    threads: usize,
) -> Option<Vec<BigUint>> {
    if rngs.len() != bits.len()
        || bits.iter().any(|b| !(MIN_BITS..=MAX_BITS).contains(b))
        || e < 3
        || e % 2 == 0
    {
        return None;
    }
    let limbs = bits.iter().max()?.div_ceil(64);
    by_size!(limbs, None, search_all(rngs, bits, e, threads))
}

/// The limbs of `x`, if it fits in `N`.
fn biguint_limbs<const N: usize>(x: &BigUint) -> Option<[u64; N]> {
    let bytes = x.to_bytes_le();
    if bytes.len() > 8 * N {
        return None;
    }
    let mut limbs = [0u64; N];
    for (i, b) in bytes.iter().enumerate() {
        limbs[i / 8] |= u64::from(*b) << (8 * (i % 8));
    }
    Some(limbs)
}

#[cfg(test)]
fn probable_prime_sized<const N: usize, const CLASS: usize>(
    n: &BigUint,
    rounds: usize,
    rng: &mut DetRng,
) -> bool {
    let Some(limbs) = biguint_limbs::<N>(n) else {
        return false;
    };
    let Some(m) = Mont::<N>::new(limbs) else {
        return false;
    };
    if !m.strong_base2() {
        return false;
    }
    let bases: Vec<[u64; N]> = (0..rounds).map(|_| random_base(rng, &limbs)).collect();
    all_rounds_pass(&m, &bases)
}

/// Whether `n` is a probable prime: small cases exactly, then the strong test to base 2 and
/// `rounds` Miller–Rabin rounds with bases from `rng`. `n` may have at most [`MAX_BITS`] bits
/// (larger numbers are reported composite).
#[cfg(test)]
pub fn is_probable_prime(n: &BigUint, rounds: usize, rng: &mut DetRng) -> bool {
    let bytes = n.to_bytes_le();
    if bytes.len() <= 8 {
        let mut b = [0u8; 8];
        b[..bytes.len()].copy_from_slice(&bytes);
        let v = u64::from_le_bytes(b);
        if v < 4 {
            return v >= 2;
        }
        if v % 2 == 0 {
            return false;
        }
        if v < 1 << 20 {
            return (3..)
                .step_by(2)
                .take_while(|d| d * d <= v)
                .all(|d| v % d != 0);
        }
    }
    by_size!(
        bytes.len().div_ceil(8),
        false,
        probable_prime_sized(n, rounds, rng)
    )
}

/// `base^exp mod n` for an odd `n > 1` of at most [`MAX_BITS`] bits, with the Montgomery
/// arithmetic above (`None` for other moduli). Not constant time.
pub fn modpow(base: &BigUint, exp: &BigUint, n: &BigUint) -> Option<BigUint> {
    fn sized<const N: usize, const CLASS: usize>(
        base: &BigUint,
        exp: &BigUint,
        n: &BigUint,
    ) -> Option<BigUint> {
        let m = Mont::<N>::new(biguint_limbs::<N>(n)?)?;
        let b = biguint_limbs::<N>(&(base % n))?;
        let e_bytes = exp.to_bytes_le();
        let mut e = vec![0u64; e_bytes.len().div_ceil(8).max(1)];
        for (i, byte) in e_bytes.iter().enumerate() {
            e[i / 8] |= u64::from(*byte) << (8 * (i % 8));
        }
        let x = m.pow(&m.to_mont(&b, &m.r2()), &e);
        Some(limbs_to_biguint(&m.out_of_mont(&x)))
    }
    by_size!(n.to_bytes_le().len().div_ceil(8), None, sized(base, exp, n))
}

#[cfg(test)]
mod tests;
