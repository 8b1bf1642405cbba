//! Byte sizes with units on the command line: `512MiB`, `1GiB`, `1.5GB`, `1073741824`.

use std::fmt;
use std::str::FromStr;

/// A number of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

/// Unit suffixes (case-insensitive) and their factors: IEC (`KiB`, powers of 1024) and SI
/// (`KB`, powers of 1000), as `--kv-cache-memory` is written in vLLM and Kubernetes.
const UNITS: &[(&str, u64)] = &[
    ("kib", 1 << 10),
    ("mib", 1 << 20),
    ("gib", 1 << 30),
    ("tib", 1 << 40),
    ("ki", 1 << 10),
    ("mi", 1 << 20),
    ("gi", 1 << 30),
    ("ti", 1 << 40),
    ("kb", 1_000),
    ("mb", 1_000_000),
    ("gb", 1_000_000_000),
    ("tb", 1_000_000_000_000),
    ("k", 1_000),
    ("m", 1_000_000),
    ("g", 1_000_000_000),
    ("t", 1_000_000_000_000),
    ("b", 1),
];

impl FromStr for ByteSize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let lower = t.to_ascii_lowercase();
        let (number, factor) = UNITS
            .iter()
            .find_map(|(unit, f)| lower.strip_suffix(unit).map(|n| (n.trim(), *f)))
            .unwrap_or((lower.as_str(), 1));
        let bad = || format!("invalid byte size {s:?} (expected e.g. 512MiB, 1GiB or 1073741824)");
        if let Ok(n) = number.parse::<u64>() {
            return n.checked_mul(factor).map(ByteSize).ok_or_else(bad);
        }
        let x: f64 = number.parse().map_err(|_| bad())?;
        let bytes = x * factor as f64;
        if x.is_finite() && x >= 0.0 && bytes < u64::MAX as f64 {
            Ok(ByteSize(bytes as u64))
        } else {
            Err(bad())
        }
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        if b >= 1 << 30 && b.is_multiple_of(1 << 20) {
            write!(f, "{:.2}GiB", b as f64 / (1u64 << 30) as f64)
        } else if b >= 1 << 20 {
            write!(f, "{:.2}MiB", b as f64 / (1u64 << 20) as f64)
        } else {
            write!(f, "{b}B")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_iec_and_si_units_or_plain_bytes() {
        assert_eq!("512MiB".parse(), Ok(ByteSize(512 << 20)));
        assert_eq!("1GiB".parse(), Ok(ByteSize(1 << 30)));
        assert_eq!("1073741824".parse(), Ok(ByteSize(1 << 30)));
        assert_eq!("2gb".parse(), Ok(ByteSize(2_000_000_000)));
        assert_eq!("1.5GiB".parse(), Ok(ByteSize(3 << 29)));
        assert_eq!("64 KiB".parse(), Ok(ByteSize(64 << 10)));
        assert_eq!("100B".parse(), Ok(ByteSize(100)));
    }

    #[test]
    fn garbage_and_negative_sizes_are_rejected() {
        assert!("lots".parse::<ByteSize>().is_err());
        assert!("-1GiB".parse::<ByteSize>().is_err());
        assert!("".parse::<ByteSize>().is_err());
        assert!("99999999999TiB".parse::<ByteSize>().is_err());
    }
}
