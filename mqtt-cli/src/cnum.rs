//! What mosquitto's C gives its arguments, and argv words as bytes (a leaf: imports nothing
//! of the crate). The option table, the options file, `-D` and `-L` all read numbers
//! through these, so that `-k 10s` is 10 and `-C abc` is 0 everywhere, as in mosquitto.

use std::ffi::{OsStr, OsString};

/// C `atoi`/`atol`: leading whitespace, an optional sign, then digits; anything else stops
/// the number; no digits gives 0. Saturates instead of overflowing.
pub(crate) fn atoi(s: &[u8]) -> i64 {
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
        i += 1;
    }
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let mut v: i64 = 0;
    while let Some(d) = s.get(i).filter(|d| d.is_ascii_digit()) {
        v = v.saturating_mul(10).saturating_add(i64::from(d - b'0'));
        i += 1;
    }
    if neg { -v } else { v }
}

/// [`atoi`] of an argv word.
pub(crate) fn atoll(s: &OsStr) -> i64 {
    atoi(&os_to_bytes(s))
}

/// C `atof`: the longest leading decimal floating-point number, else 0.
pub(crate) fn atof(s: &OsStr) -> f64 {
    let b = os_to_bytes(s);
    let mut i = 0;
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    let start = i;
    if matches!(b.get(i), Some(b'+' | b'-')) {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let from = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - from
    };
    let mut n = digits(&mut i);
    if b.get(i) == Some(&b'.') {
        i += 1;
        n += digits(&mut i);
    }
    if n == 0 {
        return 0.0;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(b.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        if digits(&mut j) > 0 {
            i = j;
        }
    }
    std::str::from_utf8(&b[start..i])
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0.0)
}

/// Whether `atoi` finds a number at the start of a word (**D6**): a word without one
/// would silently become 0. A number followed by garbage (`1x`) keeps atoi's value, as in
/// mosquitto.
pub(crate) fn is_integer(s: &OsStr) -> bool {
    let b = os_to_bytes(s);
    let mut rest = &b[..];
    while let [b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c, tail @ ..] = rest {
        rest = tail;
    }
    if let [b'-' | b'+', tail @ ..] = rest {
        rest = tail;
    }
    rest.first().is_some_and(u8::is_ascii_digit)
}

/// C `strtol(s, &end, 0)` over the whole word: an optional sign, then `0x` hexadecimal,
/// `0` octal or decimal digits, and nothing after them. `None` if the word is not such a
/// number; saturates at `i128`'s range.
pub(crate) fn strtol_whole(s: &str) -> Option<i128> {
    let t = s.trim_start();
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (radix, digits) = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        (16, h)
    } else if t.len() > 1 && t.starts_with('0') {
        (8, &t[1..])
    } else {
        (10, t)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let n = i128::from_str_radix(digits, radix).unwrap_or(i128::MAX);
    Some(if neg { -n } else { n })
}

/// The bytes of an argv word (raw on Unix, UTF-8 elsewhere).
pub(crate) fn os_to_bytes(s: &OsStr) -> Vec<u8> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt as _;
        s.as_bytes().to_vec()
    }
    #[cfg(not(unix))]
    {
        s.to_string_lossy().into_owned().into_bytes()
    }
}

/// An argv-like word from file bytes.
pub(crate) fn bytes_to_os(b: Vec<u8>) -> OsString {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStringExt as _;
        OsString::from_vec(b)
    }
    #[cfg(not(unix))]
    {
        OsString::from(String::from_utf8_lossy(&b).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atoi_reads_what_c_reads() {
        assert_eq!(atoi(b"10s"), 10);
        assert_eq!(atoi(b"  -7"), -7);
        assert_eq!(atoi(b"+3"), 3);
        assert_eq!(atoi(b"abc"), 0);
        assert_eq!(atoi(b""), 0);
        assert_eq!(atoi(b"99999999999999999999999"), i64::MAX);
    }

    #[test]
    fn atof_reads_the_leading_number() {
        assert_eq!(atof(OsStr::new("1.5x")), 1.5);
        assert_eq!(atof(OsStr::new(".5")), 0.5);
        assert_eq!(atof(OsStr::new("2e3")), 2000.0);
        assert_eq!(atof(OsStr::new("2e")), 2.0);
        assert_eq!(atof(OsStr::new("x")), 0.0);
    }

    #[test]
    fn is_integer_wants_a_digit_first() {
        assert!(is_integer(OsStr::new(" -1")));
        assert!(is_integer(OsStr::new("1x")));
        assert!(!is_integer(OsStr::new("x1")));
        assert!(!is_integer(OsStr::new("-")));
    }

    #[test]
    fn strtol_takes_c_prefixes() {
        assert_eq!(strtol_whole("0x10"), Some(16));
        assert_eq!(strtol_whole("010"), Some(8));
        assert_eq!(strtol_whole("-1"), Some(-1));
        assert_eq!(strtol_whole("0"), Some(0));
        assert_eq!(strtol_whole("08"), None);
        assert_eq!(strtol_whole("1s"), None);
        assert_eq!(strtol_whole(""), None);
    }
}
