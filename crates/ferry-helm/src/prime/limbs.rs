use super::*;

// ------------------------------------------------------------------ limb arithmetic

/// `a < b`.
#[inline]
pub(super) fn lt<const N: usize>(a: &[u64; N], b: &[u64; N]) -> bool {
    for i in (0..N).rev() {
        if a[i] != b[i] {
            return a[i] < b[i];
        }
    }
    false
}

/// `a -= b`, returning the borrow.
#[inline]
pub(super) fn sub_assign<const N: usize>(a: &mut [u64; N], b: &[u64; N]) -> bool {
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
pub(super) fn add_small<const N: usize>(a: &mut [u64; N], v: u64) -> bool {
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

pub(super) fn bit_len(a: &[u64]) -> usize {
    for i in (0..a.len()).rev() {
        if a[i] != 0 {
            return 64 * i + 64 - a[i].leading_zeros() as usize;
        }
    }
    0
}

#[inline(always)]
pub(super) fn bit(a: &[u64], i: usize) -> bool {
    (a[i / 64] >> (i % 64)) & 1 == 1
}

/// `a >> s` for `s < 64 * N`.
pub(super) fn shr<const N: usize>(a: &[u64; N], s: usize) -> [u64; N] {
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
pub(super) fn mod_small<const N: usize>(a: &[u64; N], m: u32) -> u32 {
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
pub(super) const UNROLLED_LIMBS: usize = 16;

/// Largest limb count of any number here.
pub(super) const MAX_LIMBS: usize = MAX_BITS / 64;

/// A three-word accumulator for product scanning. Kept as separate words (rather than a `u128`
/// and a carry word) so the compiler emits one add-with-carry chain per product.
#[derive(Default, Clone, Copy)]
pub(super) struct Acc {
    w0: u64,
    w1: u64,
    w2: u64,
}

impl Acc {
    /// Adds `lo + hi * 2^64`.
    #[inline(always)]
    pub(super) fn add(&mut self, lo: u64, hi: u64) {
        let (s0, c0) = self.w0.overflowing_add(lo);
        // hi <= 2^64 - 2 for the high half of a product, so this cannot overflow
        let (s1, c1) = self.w1.overflowing_add(hi + u64::from(c0));
        self.w0 = s0;
        self.w1 = s1;
        self.w2 += u64::from(c1);
    }

    #[inline(always)]
    pub(super) fn mul_add(&mut self, a: u64, b: u64) {
        let p = u128::from(a) * u128::from(b);
        self.add(p as u64, (p >> 64) as u64);
    }

    /// Adds twice `x`.
    #[inline(always)]
    pub(super) fn add_twice(&mut self, x: &Acc) {
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
    pub(super) fn shift(&mut self) -> u64 {
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
pub(super) fn mul_column<const N: usize, const K: usize>(
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
pub(super) fn sqr_column<const N: usize, const K: usize>(
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
pub(super) fn reduce_column<const N: usize, const K: usize>(
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
pub(super) struct Mont<const N: usize> {
    n: [u64; N],
    /// `-n^-1 mod 2^64`.
    n0: u64,
    /// `R mod n`: the Montgomery form of 1.
    one: [u64; N],
}

impl<const N: usize> Mont<N> {
    /// The context for an odd `n > 1`.
    pub(super) fn new(n: [u64; N]) -> Option<Self> {
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
    pub(super) fn r2(&self) -> [u64; N] {
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
    pub(super) fn reduce_once(&self, r: &mut [u64; N], top: u64) {
        if top != 0 || !lt(r, &self.n) {
            sub_assign(r, &self.n);
        }
    }

    /// Montgomery product `a * b / R mod n`.
    #[inline]
    pub(super) fn mul(&self, a: &[u64; N], b: &[u64; N]) -> [u64; N] {
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
    pub(super) fn sqr(&self, a: &[u64; N]) -> [u64; N] {
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
    pub(super) fn sqr_times(&self, x: &mut [u64; N], times: usize) {
        for _ in 0..times {
            *x = self.sqr(x);
        }
    }

    /// Montgomery product by operand scanning with the reduction interleaved row by row (CIOS),
    /// for sizes above [`UNROLLED_LIMBS`].
    pub(super) fn mul_cios(&self, a: &[u64; N], b: &[u64; N]) -> [u64; N] {
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
    pub(super) fn dbl(&self, a: &[u64; N]) -> [u64; N] {
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
    pub(super) fn to_mont(&self, a: &[u64; N], r2: &[u64; N]) -> [u64; N] {
        self.mul(a, r2)
    }

    /// Out of Montgomery form.
    pub(super) fn out_of_mont(&self, a: &[u64; N]) -> [u64; N] {
        let mut one = [0u64; N];
        one[0] = 1;
        self.mul(a, &one)
    }

    /// `base^exp` for `base` in Montgomery form, by sliding windows over the bits of `exp`.
    pub(super) fn pow(&self, base: &[u64; N], exp: &[u64]) -> [u64; N] {
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
    pub(super) fn pow2(&self, exp: &[u64]) -> [u64; N] {
        self.pow2_unless(exp, || false).unwrap_or(self.one)
    }

    /// `2^exp` in Montgomery form, or `None` when `stop` (asked every 64 bits) says to give up.
    pub(super) fn pow2_unless(&self, exp: &[u64], stop: impl Fn() -> bool) -> Option<[u64; N]> {
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
    pub(super) fn split_n_minus_1(&self) -> ([u64; N], usize) {
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
    pub(super) fn strong_finish(&self, mut x: [u64; N], s: usize) -> bool {
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
    pub(super) fn strong_base2(&self) -> bool {
        self.strong_base2_unless(|| false).unwrap_or(false)
    }

    /// Miller–Rabin test to base 2, or `None` when `stop` says to give up.
    pub(super) fn strong_base2_unless(&self, stop: impl Fn() -> bool) -> Option<bool> {
        let (d, s) = self.split_n_minus_1();
        Some(self.strong_finish(self.pow2_unless(&d, stop)?, s))
    }

    /// Miller–Rabin test to base `a` (plain form, `1 < a < n - 1`).
    pub(super) fn strong(&self, a: &[u64; N], r2: &[u64; N]) -> bool {
        let (d, s) = self.split_n_minus_1();
        let am = self.to_mont(a, r2);
        self.strong_finish(self.pow(&am, &d), s)
    }
}

// ------------------------------------------------------------------ small primes

/// `n^-1 mod 2^64` for an odd `n`, by Newton's iteration: each step doubles the number of correct
/// low bits, starting from 3 (an odd number is its own inverse modulo 8): 6, 12, 24, 48, 96.
pub(super) fn inv64(n: u64) -> u64 {
    let mut x = n;
    for _ in 0..5 {
        x = x.wrapping_mul(2u64.wrapping_sub(n.wrapping_mul(x)));
    }
    x
}

/// `n^-1 mod 2^32` for an odd `n` (see [`inv64`]).
pub(super) fn inv32(n: u32) -> u32 {
    let mut x = n;
    for _ in 0..4 {
        x = x.wrapping_mul(2u32.wrapping_sub(n.wrapping_mul(x)));
    }
    x
}

/// Montgomery reduction modulo a 63-bit `q`: `x / 2^64 mod q`, in `[0, 2q)` for `x < q 2^64`.
#[inline(always)]
pub(super) fn redc64(x: u128, q: u64, qneg_inv: u64) -> u64 {
    let m = (x as u64).wrapping_mul(qneg_inv);
    ((x + u128::from(m) * u128::from(q)) >> 64) as u64
}

/// Montgomery reduction modulo a 30-bit `p`: `x / 2^32 mod p`, in `[0, 2p)` for `x < p 2^32`.
#[inline(always)]
pub(super) fn redc32(x: u64, p: u32, pneg_inv: u32) -> u64 {
    let m = (x as u32).wrapping_mul(pneg_inv);
    (x + u64::from(m) * u64::from(p)) >> 32
}
