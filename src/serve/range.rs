//! The `Range` request header (RFC 9110 §14): what part of a blob to send.

/// What a `Range` header asks of a representation of a known size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeAnswer {
    /// Send the whole representation with 200: no `Range`, a unit other than
    /// `bytes` (§14.2: an origin server MUST ignore it), several ranges (§14.2:
    /// a server MAY ignore the field) or a field that is not a valid
    /// `ranges-specifier`.
    Full,
    /// Send `length` bytes from `start` with 206.
    Partial {
        /// First byte.
        start: u64,
        /// Number of bytes.
        length: u64,
    },
    /// The one range asked for is unsatisfiable (§14.1.1, §15.5.17): 416.
    Unsatisfiable,
}

/// Decimal digits as a number; `None` when not all digits, `Some(u64::MAX)`
/// when the digits exceed what fits (RFC 9110 puts no bound on their count, so
/// an over-long position is a valid but very large one).
fn digits(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(text.parse::<u64>().unwrap_or(u64::MAX))
}

/// Evaluates a `Range` header value against a representation of `size` bytes.
pub fn evaluate(value: Option<&str>, size: u64) -> RangeAnswer {
    let Some(value) = value else {
        return RangeAnswer::Full;
    };
    let Some((unit, set)) = value.split_once('=') else {
        return RangeAnswer::Full;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return RangeAnswer::Full;
    }
    let ranges: Vec<&str> = set
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .collect();
    let [range] = ranges.as_slice() else {
        return RangeAnswer::Full;
    };
    let Some((first, last)) = range.split_once('-') else {
        return RangeAnswer::Full;
    };
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        // suffix-range: the last N bytes (all of them when N exceeds the size)
        let Some(suffix) = digits(last) else {
            return RangeAnswer::Full;
        };
        if suffix == 0 || size == 0 {
            return RangeAnswer::Unsatisfiable;
        }
        let length = suffix.min(size);
        return RangeAnswer::Partial {
            start: size - length,
            length,
        };
    }
    let Some(start) = digits(first) else {
        return RangeAnswer::Full;
    };
    let end = if last.is_empty() {
        u64::MAX
    } else {
        match digits(last) {
            Some(end) if end >= start => end,
            // last-pos below first-pos is an invalid int-range (§14.1.1)
            _ => return RangeAnswer::Full,
        }
    };
    if start >= size {
        return RangeAnswer::Unsatisfiable;
    }
    let end = end.min(size - 1);
    RangeAnswer::Partial {
        start,
        length: end - start + 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partial(start: u64, length: u64) -> RangeAnswer {
        RangeAnswer::Partial { start, length }
    }

    #[test]
    fn single_byte_ranges() {
        assert_eq!(evaluate(Some("bytes=0-9"), 100), partial(0, 10));
        assert_eq!(evaluate(Some("bytes=90-"), 100), partial(90, 10));
        assert_eq!(evaluate(Some("bytes=-5"), 100), partial(95, 5));
        assert_eq!(evaluate(Some("bytes=-500"), 100), partial(0, 100));
        assert_eq!(evaluate(Some("bytes=50-500"), 100), partial(50, 50));
        assert_eq!(evaluate(Some("Bytes = 1-1"), 100), partial(1, 1));
        assert_eq!(evaluate(None, 100), RangeAnswer::Full);
    }

    #[test]
    fn unsatisfiable_ranges() {
        assert_eq!(
            evaluate(Some("bytes=100-"), 100),
            RangeAnswer::Unsatisfiable
        );
        assert_eq!(evaluate(Some("bytes=-0"), 100), RangeAnswer::Unsatisfiable);
        assert_eq!(evaluate(Some("bytes=0-"), 0), RangeAnswer::Unsatisfiable);
        assert_eq!(
            evaluate(Some("bytes=99999999999999999999999999-"), 100),
            RangeAnswer::Unsatisfiable
        );
    }

    #[test]
    fn ignored_ranges_answer_the_whole_body() {
        for value in [
            "bytes=0-1,3-4",
            "items=0-9",
            "bytes=abc",
            "bytes=5-2",
            "bytes=0x10-",
            "bytes",
            "bytes=",
        ] {
            assert_eq!(evaluate(Some(value), 100), RangeAnswer::Full, "{value}");
        }
    }

    #[test]
    fn over_long_last_and_suffix_positions_mean_to_the_end() {
        assert_eq!(
            evaluate(Some("bytes=10-99999999999999999999999999"), 100),
            partial(10, 90)
        );
        assert_eq!(
            evaluate(Some("bytes=-99999999999999999999999999"), 100),
            partial(0, 100)
        );
    }
}
