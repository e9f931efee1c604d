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

// ------------------------------------------------------------------ limb arithmetic

/// `a < b`.
#[inline]
fn lt<const N: usize>(a: &[u64; N], b: &[u64; N]) -> bool {
    for i in (0..N).rev() {
        if a[i] != b[i] {
            return a[i] < b[i];
        }
    }
    false
}

/// `a -= b`, returning the borrow.
#[inline]
fn sub_assign<const N: usize>(a: &mut [u64; N], b: &[u64; N]) -> bool {
    let mut borrow = false;
    for i in 0..N {
        let (d, b1) = a[i].overflowing_sub(b[i]);
        let (d, b2) = d.overflowing_sub(u64::from(borrow));
        a[i] = d;
        borrow = b1 | b2;
    }
    borrow
}

/// `a += v`, returning the carry.
fn add_small<const N: usize>(a: &mut [u64; N], v: u64) -> bool {
    let mut carry = v;
    for limb in a.iter_mut() {
        if carry == 0 {
            return false;
        }
        let (s, c) = limb.overflowing_add(carry);
        *limb = s;
        carry = u64::from(c);
    }
    carry != 0
}

fn bit_len(a: &[u64]) -> usize {
    for i in (0..a.len()).rev() {
        if a[i] != 0 {
            return 64 * i + 64 - a[i].leading_zeros() as usize;
        }
    }
    0
}

#[inline(always)]
fn bit(a: &[u64], i: usize) -> bool {
    (a[i / 64] >> (i % 64)) & 1 == 1
}

/// `a >> s` for `s < 64 * N`.
fn shr<const N: usize>(a: &[u64; N], s: usize) -> [u64; N] {
    let (limbs, bits) = (s / 64, s % 64);
    let mut r = [0u64; N];
    for i in 0..N - limbs {
        let lo = a[i + limbs] >> bits;
        let hi = if bits > 0 && i + limbs + 1 < N {
            a[i + limbs + 1] << (64 - bits)
        } else {
            0
        };
        r[i] = lo | hi;
    }
    r
}

/// `a mod m` for a small `m`.
fn mod_small<const N: usize>(a: &[u64; N], m: u32) -> u32 {
    let m = u64::from(m);
    let mut r = 0u64;
    for &limb in a.iter().rev() {
        r = ((r << 32) | (limb >> 32)) % m;
        r = ((r << 32) | (limb & 0xffff_ffff)) % m;
    }
    r as u32
}

// ------------------------------------------------------------------ Montgomery arithmetic

/// Largest limb count handled by the unrolled product-scanning kernels; larger numbers use
/// operand-scanning loops.
const UNROLLED_LIMBS: usize = 16;

/// Largest limb count of any number here.
const MAX_LIMBS: usize = MAX_BITS / 64;

/// A three-word accumulator for product scanning. Kept as separate words (rather than a `u128`
/// and a carry word) so the compiler emits one add-with-carry chain per product.
#[derive(Default, Clone, Copy)]
struct Acc {
    w0: u64,
    w1: u64,
    w2: u64,
}

impl Acc {
    /// Adds `lo + hi * 2^64`.
    #[inline(always)]
    fn add(&mut self, lo: u64, hi: u64) {
        let (s0, c0) = self.w0.overflowing_add(lo);
        // hi <= 2^64 - 2 for the high half of a product, so this cannot overflow
        let (s1, c1) = self.w1.overflowing_add(hi + u64::from(c0));
        self.w0 = s0;
        self.w1 = s1;
        self.w2 += u64::from(c1);
    }

    #[inline(always)]
    fn mul_add(&mut self, a: u64, b: u64) {
        let p = u128::from(a) * u128::from(b);
        self.add(p as u64, (p >> 64) as u64);
    }

    /// Adds twice `x`.
    #[inline(always)]
    fn add_twice(&mut self, x: &Acc) {
        let d0 = x.w0 << 1;
        let d1 = (x.w1 << 1) | (x.w0 >> 63);
        let d2 = (x.w2 << 1) | (x.w1 >> 63);
        let (s0, c0) = self.w0.overflowing_add(d0);
        let (s1, c1) = self.w1.overflowing_add(d1);
        let (s1, c2) = s1.overflowing_add(u64::from(c0));
        self.w0 = s0;
        self.w1 = s1;
        self.w2 += d2 + u64::from(c1) + u64::from(c2);
    }

    /// Returns the low word and shifts the rest down by one word.
    #[inline(always)]
    fn shift(&mut self) -> u64 {
        let out = self.w0;
        self.w0 = self.w1;
        self.w1 = self.w2;
        self.w2 = 0;
        out
    }
}

/// Calls `$f::<N, K>$args` for every column `K` of a product of up to [`UNROLLED_LIMBS`] limbs;
/// with `K` a constant, every inner loop has constant bounds and is unrolled.
macro_rules! columns {
    ($f:ident $args:tt) => {
        columns!(@ $f $args; 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26
            27 28 29 30 31)
    };
    (@ $f:ident $args:tt; $($k:literal)*) => {
        $( $f::<N, $k> $args; )*
    };
}

/// Column `K` of a Montgomery product by product scanning: adds the column's terms of `a * b`
/// and of `m * n` to the accumulator; below column `N` it picks the quotient digit `m[K]` that
/// clears the column, from column `N` on it emits result digit `r[K - N]`.
#[inline(always)]
fn mul_column<const N: usize, const K: usize>(
    a: &[u64; N],
    b: &[u64; N],
    n: &[u64; N],
    n0: u64,
    m: &mut [u64; N],
    r: &mut [u64; N],
    acc: &mut Acc,
) {
    if K >= 2 * N {
        return;
    }
    for j in (K + 1).saturating_sub(N)..(K + 1).min(N) {
        acc.mul_add(a[j], b[K - j]);
    }
    reduce_column::<N, K>(n, n0, m, r, acc);
}

/// Column `K` of a Montgomery square: like [`mul_column`], with each cross product
/// `a[j] * a[K - j]` (`j < K - j`) computed once and doubled.
#[inline(always)]
fn sqr_column<const N: usize, const K: usize>(
    a: &[u64; N],
    n: &[u64; N],
    n0: u64,
    m: &mut [u64; N],
    r: &mut [u64; N],
    acc: &mut Acc,
) {
    if K >= 2 * N {
        return;
    }
    let (start, end) = ((K + 1).saturating_sub(N), K.div_ceil(2));
    if start < end {
        let mut cross = Acc::default();
        for j in start..end {
            cross.mul_add(a[j], a[K - j]);
        }
        acc.add_twice(&cross);
    }
    if K % 2 == 0 {
        acc.mul_add(a[K / 2], a[K / 2]);
    }
    reduce_column::<N, K>(n, n0, m, r, acc);
}

/// The `m * n` part of column `K` (see [`mul_column`]).
#[inline(always)]
fn reduce_column<const N: usize, const K: usize>(
    n: &[u64; N],
    n0: u64,
    m: &mut [u64; N],
    r: &mut [u64; N],
    acc: &mut Acc,
) {
    if K < N {
        for j in 0..K {
            acc.mul_add(m[j], n[K - j]);
        }
        let mk = acc.w0.wrapping_mul(n0);
        m[K] = mk;
        acc.mul_add(mk, n[0]);
        acc.shift();
    } else {
        for j in (K + 1).saturating_sub(N)..N {
            acc.mul_add(m[j], n[K - j]);
        }
        r[K - N] = acc.shift();
    }
}

/// Arithmetic modulo an odd `n < 2^(64N)` in Montgomery form (`x` stands for `x * R mod n`, with
/// `R = 2^(64N)`). Every value handed in or out is fully reduced (`< n`).
#[derive(Clone)]
struct Mont<const N: usize> {
    n: [u64; N],
    /// `-n^-1 mod 2^64`.
    n0: u64,
    /// `R mod n`: the Montgomery form of 1.
    one: [u64; N],
}

impl<const N: usize> Mont<N> {
    /// The context for an odd `n > 1`.
    fn new(n: [u64; N]) -> Option<Self> {
        const { assert!(N > 0) };
        let bits = bit_len(&n);
        if n[0] & 1 == 0 || bits < 2 {
            return None;
        }
        let mut m = Mont {
            n,
            n0: inv64(n[0]).wrapping_neg(),
            one: [0; N],
        };
        // 2^(bits-1) < n, doubled up to 2^(64N)
        let mut x = [0u64; N];
        x[(bits - 1) / 64] = 1u64 << ((bits - 1) % 64);
        for _ in 0..(64 * N - bits + 1) {
            x = m.dbl(&x);
        }
        m.one = x;
        Some(m)
    }

    /// `R^2 mod n`, for converting into Montgomery form. It is the Montgomery form of
    /// `R = 2^(64N)`: with `64N = o 2^k` (`o` odd), `o` doublings of 1 give the Montgomery form of
    /// `2^o`, and `k` squarings that of `2^(o 2^k)`.
    fn r2(&self) -> [u64; N] {
        let k = (64 * N).trailing_zeros();
        let mut x = self.one;
        for _ in 0..(64 * N) >> k {
            x = self.dbl(&x);
        }
        self.sqr_times(&mut x, k as usize);
        x
    }

    /// Subtracts `n` once if the value (with an extra top word `top`) is not below `n`.
    #[inline(always)]
    fn reduce_once(&self, r: &mut [u64; N], top: u64) {
        if top != 0 || !lt(r, &self.n) {
            sub_assign(r, &self.n);
        }
    }

    /// Montgomery product `a * b / R mod n`.
    #[inline]
    fn mul(&self, a: &[u64; N], b: &[u64; N]) -> [u64; N] {
        if N <= UNROLLED_LIMBS {
            let (mut m, mut r, mut acc) = ([0u64; N], [0u64; N], Acc::default());
            columns!(mul_column(a, b, &self.n, self.n0, &mut m, &mut r, &mut acc));
            self.reduce_once(&mut r, acc.w0);
            r
        } else {
            self.mul_cios(a, b)
        }
    }

    /// Montgomery square `a * a / R mod n`. Inlined so that the result is written straight into
    /// the caller's variable (returning it through memory costs a store-forwarding stall).
    #[inline(always)]
    fn sqr(&self, a: &[u64; N]) -> [u64; N] {
        if N <= UNROLLED_LIMBS {
            let (mut m, mut r, mut acc) = ([0u64; N], [0u64; N], Acc::default());
            columns!(sqr_column(a, &self.n, self.n0, &mut m, &mut r, &mut acc));
            self.reduce_once(&mut r, acc.w0);
            r
        } else {
            self.mul_cios(a, a)
        }
    }

    /// Squares `x` in place `times` times (one out-of-line copy of the inlined square for the
    /// places that need it rarely).
    #[inline(never)]
    fn sqr_times(&self, x: &mut [u64; N], times: usize) {
        for _ in 0..times {
            *x = self.sqr(x);
        }
    }

    /// Montgomery product by operand scanning with the reduction interleaved row by row (CIOS),
    /// for sizes above [`UNROLLED_LIMBS`].
    fn mul_cios(&self, a: &[u64; N], b: &[u64; N]) -> [u64; N] {
        let mut buf = [0u64; MAX_LIMBS + 2];
        let t = &mut buf[..N + 2];
        for &bi in b {
            let mut c = 0u64;
            for (tj, &aj) in t.iter_mut().zip(a) {
                let v = u128::from(aj) * u128::from(bi) + u128::from(*tj) + u128::from(c);
                *tj = v as u64;
                c = (v >> 64) as u64;
            }
            let v = u128::from(t[N]) + u128::from(c);
            t[N] = v as u64;
            t[N + 1] = (v >> 64) as u64;
            let m = t[0].wrapping_mul(self.n0);
            let v = u128::from(m) * u128::from(self.n[0]) + u128::from(t[0]);
            let mut c = (v >> 64) as u64;
            for j in 1..N {
                let v = u128::from(m) * u128::from(self.n[j]) + u128::from(t[j]) + u128::from(c);
                t[j - 1] = v as u64;
                c = (v >> 64) as u64;
            }
            let v = u128::from(t[N]) + u128::from(c);
            t[N - 1] = v as u64;
            t[N] = t[N + 1] + (v >> 64) as u64;
        }
        let mut r = [0u64; N];
        r.copy_from_slice(&t[..N]);
        self.reduce_once(&mut r, t[N]);
        r
    }

    /// `2a mod n`.
    #[inline]
    fn dbl(&self, a: &[u64; N]) -> [u64; N] {
        let mut r = [0u64; N];
        let mut c = 0u64;
        for i in 0..N {
            r[i] = (a[i] << 1) | c;
            c = a[i] >> 63;
        }
        self.reduce_once(&mut r, c);
        r
    }

    /// Into Montgomery form, given `r2 = R^2 mod n` (`a < n`).
    fn to_mont(&self, a: &[u64; N], r2: &[u64; N]) -> [u64; N] {
        self.mul(a, r2)
    }

    /// Out of Montgomery form.
    fn out_of_mont(&self, a: &[u64; N]) -> [u64; N] {
        let mut one = [0u64; N];
        one[0] = 1;
        self.mul(a, &one)
    }

    /// `base^exp` for `base` in Montgomery form, by sliding windows over the bits of `exp`.
    fn pow(&self, base: &[u64; N], exp: &[u64]) -> [u64; N] {
        let ebits = bit_len(exp);
        if ebits == 0 {
            return self.one;
        }
        let w = match ebits {
            0..=23 => 1,
            24..=79 => 3,
            80..=239 => 4,
            240..=1023 => 5,
            _ => 6,
        };
        // odd powers base^1, base^3, ..., base^(2^w - 1)
        let mut table = Vec::with_capacity(1 << (w - 1));
        table.push(*base);
        if w > 1 {
            let mut b2 = *base;
            self.sqr_times(&mut b2, 1);
            for i in 1..(1 << (w - 1)) {
                let next = self.mul(&table[i - 1], &b2);
                table.push(next);
            }
        }
        let mut x = self.one;
        let mut started = false;
        let mut i = ebits; // bits below i remain
        while i > 0 {
            if !bit(exp, i - 1) {
                if started {
                    self.sqr_times(&mut x, 1);
                }
                i -= 1;
                continue;
            }
            // the window i-1 ..= j, ending in a set bit
            let mut j = i.saturating_sub(w);
            while !bit(exp, j) {
                j += 1;
            }
            let mut v = 0usize;
            for k in (j..i).rev() {
                v = (v << 1) | usize::from(bit(exp, k));
            }
            if started {
                self.sqr_times(&mut x, i - j);
                x = self.mul(&x, &table[v >> 1]);
            } else {
                x = table[v >> 1];
                started = true;
            }
            i = j;
        }
        x
    }

    /// `2^exp` in Montgomery form: square-and-double, as multiplying by 2 is a shift.
    #[cfg(test)]
    fn pow2(&self, exp: &[u64]) -> [u64; N] {
        self.pow2_unless(exp, || false).unwrap_or(self.one)
    }

    /// `2^exp` in Montgomery form, or `None` when `stop` (asked every 64 bits) says to give up.
    fn pow2_unless(&self, exp: &[u64], stop: impl Fn() -> bool) -> Option<[u64; N]> {
        let mut x = self.one;
        let mut started = false;
        for i in (0..bit_len(exp)).rev() {
            if i % 64 == 0 && stop() {
                return None;
            }
            if started {
                x = self.sqr(&x);
            }
            if bit(exp, i) {
                x = self.dbl(&x);
                started = true;
            }
        }
        Some(x)
    }

    /// `n - 1 = d * 2^s` with `d` odd: returns `(d, s)`.
    fn split_n_minus_1(&self) -> ([u64; N], usize) {
        let mut nm1 = self.n;
        nm1[0] &= !1; // n is odd
        let mut s = 0;
        for &limb in &nm1 {
            if limb == 0 {
                s += 64;
            } else {
                s += limb.trailing_zeros() as usize;
                break;
            }
        }
        (shr(&nm1, s), s)
    }

    /// Finishes a strong probable-prime test from `x = a^d` (Montgomery form).
    fn strong_finish(&self, mut x: [u64; N], s: usize) -> bool {
        let mut minus_one = self.n;
        sub_assign(&mut minus_one, &self.one);
        if x == self.one || x == minus_one {
            return true;
        }
        for _ in 1..s {
            self.sqr_times(&mut x, 1);
            if x == minus_one {
                return true;
            }
            if x == self.one {
                return false;
            }
        }
        false
    }

    /// Miller–Rabin (strong probable prime) test to base 2.
    #[cfg(test)]
    fn strong_base2(&self) -> bool {
        self.strong_base2_unless(|| false).unwrap_or(false)
    }

    /// Miller–Rabin test to base 2, or `None` when `stop` says to give up.
    fn strong_base2_unless(&self, stop: impl Fn() -> bool) -> Option<bool> {
        let (d, s) = self.split_n_minus_1();
        Some(self.strong_finish(self.pow2_unless(&d, stop)?, s))
    }

    /// Miller–Rabin test to base `a` (plain form, `1 < a < n - 1`).
    fn strong(&self, a: &[u64; N], r2: &[u64; N]) -> bool {
        let (d, s) = self.split_n_minus_1();
        let am = self.to_mont(a, r2);
        self.strong_finish(self.pow(&am, &d), s)
    }
}

// ------------------------------------------------------------------ small primes

/// `n^-1 mod 2^64` for an odd `n`, by Newton's iteration: each step doubles the number of correct
/// low bits, starting from 3 (an odd number is its own inverse modulo 8): 6, 12, 24, 48, 96.
fn inv64(n: u64) -> u64 {
    let mut x = n;
    for _ in 0..5 {
        x = x.wrapping_mul(2u64.wrapping_sub(n.wrapping_mul(x)));
    }
    x
}

/// `n^-1 mod 2^32` for an odd `n` (see [`inv64`]).
fn inv32(n: u32) -> u32 {
    let mut x = n;
    for _ in 0..4 {
        x = x.wrapping_mul(2u32.wrapping_sub(n.wrapping_mul(x)));
    }
    x
}

/// Montgomery reduction modulo a 63-bit `q`: `x / 2^64 mod q`, in `[0, 2q)` for `x < q 2^64`.
#[inline(always)]
fn redc64(x: u128, q: u64, qneg_inv: u64) -> u64 {
    let m = (x as u64).wrapping_mul(qneg_inv);
    ((x + u128::from(m) * u128::from(q)) >> 64) as u64
}

/// Montgomery reduction modulo a 30-bit `p`: `x / 2^32 mod p`, in `[0, 2p)` for `x < p 2^32`.
#[inline(always)]
fn redc32(x: u64, p: u32, pneg_inv: u32) -> u64 {
    let m = (x as u32).wrapping_mul(pneg_inv);
    (x + u64::from(m) * u64::from(p)) >> 32
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
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use num_bigint_dig::prime::probably_prime;
    use num_bigint_dig::RandBigInt as _;

    fn rng(seed: &str) -> DetRng {
        DetRng::new(&[b"prime-test", seed.as_bytes()])
    }

    fn random_odd(rng: &mut DetRng, bits: usize) -> BigUint {
        rng.gen_biguint(bits) | (BigUint::from(1u32) << (bits - 1)) | BigUint::from(1u32)
    }

    #[test]
    fn modpow_matches_num_bigint() {
        let mut r = rng("modpow");
        for bits in [
            2, 3, 17, 63, 64, 65, 100, 128, 192, 256, 500, 512, 768, 1000, 1024, 1536, 2047, 2048,
            3072, 4096,
        ] {
            let cases = if bits >= 2048 { 3 } else { 8 };
            for case in 0..cases {
                let n = random_odd(&mut r, bits);
                let base = r.gen_biguint(bits + 8);
                let ebits = [0, 1, 2, 5, 64, 200, bits, bits + 64][case % 8];
                let exp = if ebits == 0 {
                    BigUint::from(0u32)
                } else {
                    r.gen_biguint(ebits)
                };
                let want = base.modpow(&exp, &n);
                let got = modpow(&base, &exp, &n);
                assert_eq!(got, Some(want), "bits {bits} case {case}");
            }
            // the extremes of the residues: n - 1 and 0
            let n = random_odd(&mut r, bits);
            let exp = r.gen_biguint(bits);
            let nm1 = &n - 1u32;
            assert_eq!(modpow(&nm1, &exp, &n), Some(nm1.modpow(&exp, &n)));
            assert_eq!(
                modpow(&BigUint::from(0u32), &exp, &n),
                Some(BigUint::from(0u32).modpow(&exp, &n))
            );
        }
    }

    #[test]
    fn base2_power_matches_num_bigint() {
        let mut r = rng("pow2");
        for bits in [64, 130, 1024, 2048] {
            for _ in 0..4 {
                let n = random_odd(&mut r, bits);
                let exp = r.gen_biguint(bits);
                let want = BigUint::from(2u32).modpow(&exp, &n);
                let got = match bits.div_ceil(64) {
                    1 => pow2_plain::<1>(&n, &exp),
                    3 => pow2_plain::<4>(&n, &exp),
                    16 => pow2_plain::<16>(&n, &exp),
                    _ => pow2_plain::<32>(&n, &exp),
                };
                assert_eq!(got, want, "bits {bits}");
            }
        }
    }

    fn pow2_plain<const N: usize>(n: &BigUint, exp: &BigUint) -> BigUint {
        let m = Mont::<N>::new(biguint_limbs::<N>(n).unwrap()).unwrap();
        let e = biguint_limbs::<N>(exp).unwrap();
        limbs_to_biguint(&m.out_of_mont(&m.pow2(&e)))
    }

    #[test]
    fn generated_primes_are_prime_and_well_formed() {
        let mut r = rng("gen");
        for (bits, count) in [
            (64, 20),
            (100, 10),
            (256, 10),
            (512, 6),
            (1024, 6),
            (2048, 2),
        ] {
            for _ in 0..count {
                let p = gen_prime(&mut r, bits, 65_537, 2).unwrap();
                assert_eq!(p.bits(), bits);
                assert_eq!(&p >> (bits - 2), BigUint::from(3u32));
                assert!(probably_prime(&p, 20), "{p}");
                let pm1 = &p - 1u32;
                assert_ne!(&pm1 % 65_537u32, BigUint::from(0u32));
            }
        }
        // sizes outside the fast path are declined
        assert!(gen_prime(&mut r, 32, 65_537, 1).is_none());
        assert!(gen_prime(&mut r, 4097, 65_537, 1).is_none());
        assert!(gen_prime(&mut r, 1024, 4, 1).is_none());
    }

    #[test]
    fn result_does_not_depend_on_threads() {
        for seed in ["a", "b", "c"] {
            let one = gen_prime(&mut rng(seed), 1024, 65_537, 1).unwrap();
            for threads in [2, 3, 8] {
                let mut r = rng(seed);
                assert_eq!(gen_prime(&mut r, 1024, 65_537, threads).unwrap(), one);
            }
        }
        assert_ne!(
            gen_prime(&mut rng("a"), 1024, 65_537, 2),
            gen_prime(&mut rng("b"), 1024, 65_537, 2)
        );
        // several searches at once: each prime is the one its generator gives alone, and each
        // generator ends where it would alone
        let sizes = [1024, 1024, 512, 1000];
        let alone: Vec<(BigUint, [u8; 32])> = (0..sizes.len())
            .map(|i| {
                let mut r = rng(&format!("multi{i}"));
                let p = gen_prime(&mut r, sizes[i], 65_537, 1).unwrap();
                (p, r.fingerprint())
            })
            .collect();
        for threads in [1, 2, 4] {
            let mut rngs: Vec<DetRng> = (0..sizes.len())
                .map(|i| rng(&format!("multi{i}")))
                .collect();
            let primes = gen_primes(&mut rngs, &sizes, 65_537, threads).unwrap();
            for (i, p) in primes.into_iter().enumerate() {
                assert_eq!(p, alone[i].0);
                assert_eq!(rngs[i].fingerprint(), alone[i].1);
            }
        }
    }

    /// Drives the scheduler by hand through the paths random 1024-bit candidates practically
    /// never take: a survivor that passes base 2 but fails a random-base round, an abandoned
    /// test, and a window with no prime.
    #[test]
    fn scheduler_recovers_from_rare_outcomes() {
        let cutoffs = [AtomicUsize::new(usize::MAX)];
        let mut st = Scheduler::<1> {
            searches: vec![Search {
                rng: rng("sched"),
                bits: 64,
                rounds: 2,
                windows: 0,
                start: [0],
                survivors: Vec::new(),
                status: Vec::new(),
                resume: 0,
                phase: Phase::NeedSieve,
            }],
            e: 65_537,
        };
        let Some(Task::Sieve { start, .. }) = st.next_task(&cutoffs) else {
            panic!("a sieve first")
        };
        assert_eq!(start[0] >> 62, 3);
        assert_eq!(start[0] & 1, 1);
        let sieved = |survivors: Vec<u32>| Outcome::Sieved {
            search: 0,
            survivors,
        };
        let tested = |index, prime| Outcome::Tested {
            search: 0,
            index,
            prime,
        };
        let claim = |st: &mut Scheduler<1>| match st.next_task(&cutoffs) {
            Some(Task::Test { index, .. }) => Some(index),
            Some(_) => panic!("a test"),
            None => None,
        };
        // a window with no prime: a new window is drawn
        st.apply(sieved(vec![0]), &cutoffs);
        assert_eq!(claim(&mut st), Some(0));
        assert_eq!(claim(&mut st), None);
        st.apply(tested(0, Some(false)), &cutoffs);
        let Some(Task::Sieve { start, .. }) = st.next_task(&cutoffs) else {
            panic!("a new window")
        };
        st.apply(sieved(vec![1, 2, 3, 4, 5]), &cutoffs);
        assert_eq!(claim(&mut st), Some(0));
        assert_eq!(claim(&mut st), Some(1));
        // survivor 1 passes: later survivors are no longer handed out (and would be abandoned)
        st.apply(tested(1, Some(true)), &cutoffs);
        assert_eq!(cutoffs[0].load(Ordering::Relaxed), 1);
        assert_eq!(claim(&mut st), None);
        // survivor 0 fails: survivor 1 is the first to pass and gets its rounds
        st.apply(tested(0, Some(false)), &cutoffs);
        let round = |st: &mut Scheduler<1>| match st.next_task(&cutoffs) {
            Some(Task::Round { index, n, .. }) => (index, n),
            _ => panic!("a round"),
        };
        let (index, n) = round(&mut st);
        assert_eq!((index, n[0]), (1, start[0] + 2 * 2));
        let _ = round(&mut st);
        // one round fails: the search goes on after survivor 1
        st.apply(
            Outcome::Rounded {
                search: 0,
                index: 1,
                pass: false,
            },
            &cutoffs,
        );
        assert_eq!(cutoffs[0].load(Ordering::Relaxed), usize::MAX);
        assert_eq!(claim(&mut st), Some(2));
        // the late result of the other round is ignored
        st.apply(
            Outcome::Rounded {
                search: 0,
                index: 1,
                pass: true,
            },
            &cutoffs,
        );
        // an abandoned test is handed out again
        st.apply(tested(2, None), &cutoffs);
        assert_eq!(claim(&mut st), Some(2));
        st.apply(tested(2, Some(true)), &cutoffs);
        for _ in 0..2 {
            let (index, _) = round(&mut st);
            assert_eq!(index, 2);
            assert!(!st.all_done());
            st.apply(
                Outcome::Rounded {
                    search: 0,
                    index,
                    pass: true,
                },
                &cutoffs,
            );
        }
        assert!(st.all_done());
        assert!(matches!(st.searches[0].phase, Phase::Done(Some([p])) if p == start[0] + 2 * 3));
    }

    #[test]
    fn sieve_residues_are_exact() {
        let sp = SmallPrimes::new(1 << 16);
        let mut r = rng("residues");
        for limbs in [1usize, 4, 16, 64] {
            let conv = sp.conversion(limbs);
            for _ in 0..4 {
                let x = r.gen_biguint(64 * limbs);
                let bytes = x.to_bytes_le();
                let mut limbs_of_x = vec![0u64; limbs];
                for (i, b) in bytes.iter().enumerate() {
                    limbs_of_x[i / 8] |= u64::from(*b) << (8 * (i % 8));
                }
                let mut res = Vec::new();
                residues(&limbs_of_x, &sp, &conv, &mut res);
                assert_eq!(res.len(), sp.p.len());
                for (p, r) in sp.p.iter().zip(&res) {
                    assert_eq!(BigUint::from(*r), &x % *p);
                }
            }
        }
        for p in [3u32, 5, 65_537, 1_000_003] {
            for r in 0..p.min(50) {
                for target in [0, 1] {
                    let k = first_hit(r, target, p);
                    assert!(k < p as usize);
                    assert_eq!(
                        (u64::from(r) + 2 * k as u64) % u64::from(p),
                        u64::from(target)
                    );
                }
            }
        }
    }

    fn passes_base2_only<const N: usize, const CLASS: usize>(n: &BigUint) -> bool {
        Mont::<N>::new(biguint_limbs::<N>(n).unwrap())
            .unwrap()
            .strong_base2()
    }

    /// Chernick's Carmichael numbers (6k+1)(12k+1)(18k+1), with the three factors prime.
    fn chernick(r: &mut DetRng, kbits: usize) -> BigUint {
        loop {
            let k = r.gen_biguint(kbits);
            let f = [6u32, 12, 18].map(|m| &k * m + 1u32);
            if f.iter().all(|f| probably_prime(f, 20)) {
                return f.iter().product();
            }
        }
    }

    #[test]
    fn composites_are_rejected() {
        let mut r = rng("composites");
        // Carmichael numbers, and strong pseudoprimes to base 2 (2047, 3215031751 = 151*751*28351,
        // the spsp to bases 2..11 2152302898747, and 3825123056546413051, spsp to bases 2..23)
        let small: [u64; 14] = [
            561,
            1105,
            1729,
            2465,
            41041,
            825_265,
            321_197_185,
            5_394_826_801,
            232_250_619_601,
            9_746_347_772_161,
            2047,
            3_215_031_751,
            2_152_302_898_747,
            3_825_123_056_546_413_051,
        ];
        for n in small {
            let n = BigUint::from(n);
            assert!(!is_probable_prime(&n, 10, &mut r), "{n}");
        }
        // the base-2 test alone is fooled by the strong pseudoprimes; the random rounds are not
        for n in [3_215_031_751u64, 3_825_123_056_546_413_051] {
            let m = Mont::<1>::new([n]).unwrap();
            assert!(m.strong_base2());
        }
        // composite Mersenne numbers 2^p - 1 (p prime) are strong pseudoprimes to base 2; these
        // are about the size of RSA-2048's primes, and of RSA-4096's
        for p in [1021usize, 1031, 1033, 1039, 2039] {
            let n = (BigUint::from(1u32) << p) - 1u32;
            assert!(by_size!(
                n.bits().div_ceil(64),
                false,
                passes_base2_only(&n)
            ));
            assert!(!is_probable_prime(&n, mr_rounds(p), &mut r), "2^{p} - 1");
        }
        // Carmichael numbers
        for kbits in [20, 40, 60] {
            let n = chernick(&mut r, kbits);
            assert!(!is_probable_prime(&n, 10, &mut r), "{n}");
        }
        // RSA moduli (products of two 512-bit primes) and squares of primes
        for _ in 0..5 {
            let p = gen_prime(&mut r, 512, 65_537, 1).unwrap();
            let q = gen_prime(&mut r, 512, 65_537, 1).unwrap();
            assert!(!is_probable_prime(&(&p * &q), 5, &mut r));
            assert!(!is_probable_prime(&(&p * &p), 5, &mut r));
            assert!(is_probable_prime(&p, 5, &mut r));
        }
        // known primes
        for p in [2u64, 3, 5, 65_537, 1_000_003, 2_305_843_009_213_693_951] {
            assert!(is_probable_prime(&BigUint::from(p), 10, &mut r), "{p}");
        }
        let m127 = (BigUint::from(1u32) << 127usize) - 1u32;
        assert!(is_probable_prime(&m127, 10, &mut r));
        let m521 = (BigUint::from(1u32) << 521usize) - 1u32;
        assert!(is_probable_prime(&m521, 10, &mut r));
        assert!(!is_probable_prime(&(&m521 + 2u32), 10, &mut r));
    }
}
