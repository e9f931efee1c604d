use std::cmp::Ordering;

use num_bigint_dig::BigUint;

/// An exact decimal: `digits × 10^exp` (what Go's `big.Rat` holds for JSON numbers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dec {
    neg: bool,
    /// ASCII digits without leading or trailing zeros; empty for zero.
    digits: Vec<u8>,
    exp: i64,
}

impl Dec {
    /// Parses a JSON number literal (or Rust's `{:e}` output).
    pub fn parse(lit: &str) -> Option<Dec> {
        let (neg, rest) = match lit.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, lit.strip_prefix('+').unwrap_or(lit)),
        };
        let (mant, exp) = match rest.find(['e', 'E']) {
            Some(i) => (&rest[..i], rest[i + 1..].parse::<i64>().ok()?),
            None => (rest, 0),
        };
        let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut digits: Vec<u8> = int.bytes().chain(frac.bytes()).collect();
        let mut exp = exp.checked_sub(frac.len() as i64)?;
        let lead = digits.iter().take_while(|&&d| d == b'0').count();
        digits.drain(..lead);
        while digits.last() == Some(&b'0') {
            digits.pop();
            exp = exp.checked_add(1)?;
        }
        if digits.is_empty() {
            return Some(Dec {
                neg: false,
                digits,
                exp: 0,
            });
        }
        Some(Dec { neg, digits, exp })
    }

    pub fn from_i64(i: i64) -> Dec {
        Dec::parse(&i.to_string()).unwrap_or(Dec {
            neg: false,
            digits: Vec::new(),
            exp: 0,
        })
    }

    /// The value Go's `big.Rat` gets from `fmt.Sprint` of a float64 (its shortest form).
    pub fn from_f64(f: f64) -> Option<Dec> {
        if !f.is_finite() {
            return None;
        }
        Dec::parse(&format!("{f:e}"))
    }

    pub fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }

    pub fn is_integer(&self) -> bool {
        self.exp >= 0
    }

    pub fn to_f64(&self) -> f64 {
        if self.is_zero() {
            return 0.0;
        }
        let s = format!(
            "{}{}e{}",
            if self.neg { "-" } else { "" },
            String::from_utf8_lossy(&self.digits),
            self.exp
        );
        s.parse().unwrap_or(f64::NAN)
    }

    pub fn to_i64(&self) -> Option<i64> {
        if !self.is_integer() {
            return None;
        }
        if self.is_zero() {
            return Some(0);
        }
        let exp = usize::try_from(self.exp).ok().filter(|&e| e <= 20)?;
        let mut s = String::from_utf8_lossy(&self.digits).into_owned();
        s.extend(std::iter::repeat_n('0', exp));
        let v: i64 = s.parse().ok()?;
        Some(if self.neg { -v } else { v })
    }

    /// Order of magnitude: the value lies in [10^(mag-1), 10^mag).
    fn mag(&self) -> i64 {
        self.digits.len() as i64 + self.exp
    }

    fn cmp_abs(&self, other: &Dec) -> Ordering {
        match (self.is_zero(), other.is_zero()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            _ => {}
        }
        self.mag().cmp(&other.mag()).then_with(|| {
            let n = self.digits.len().max(other.digits.len());
            let at = |d: &[u8], i: usize| d.get(i).copied().unwrap_or(b'0');
            (0..n)
                .map(|i| at(&self.digits, i).cmp(&at(&other.digits, i)))
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        })
    }

    /// Whether `self / m` is an integer (`m` not zero).
    pub fn is_multiple_of(&self, m: &Dec) -> bool {
        if self.is_zero() {
            return true;
        }
        let big = |d: &[u8]| BigUint::parse_bytes(d, 10).unwrap_or_default();
        let (a, b) = (big(&self.digits), big(&m.digits));
        let zero = BigUint::default();
        if b == zero {
            return false;
        }
        let k = self.exp - m.exp;
        if k >= 0 {
            // a × 10^k ≡ 0 (mod b)
            let ten = BigUint::from(10u32);
            let p = ten.modpow(&BigUint::from(k as u64), &b);
            (a * p) % b == zero
        } else {
            let shift = k.unsigned_abs();
            if shift > self.digits.len() as u64 + 1 {
                return false;
            }
            let mut divisor = b;
            for _ in 0..shift {
                divisor *= 10u32;
            }
            a % divisor == zero
        }
    }
}

impl PartialOrd for Dec {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Dec {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.neg, other.neg) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, false) => self.cmp_abs(other),
            (true, true) => other.cmp_abs(self),
        }
    }
}
