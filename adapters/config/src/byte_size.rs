//! Byte sizes as text: `"512MiB"`, `"1GiB"`, `"100MB"`, `"4096"`.

use crate::error::ValueError;
use crate::number::{scale, ScaleError};
use crate::quantity_kind::QuantityKind;

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
const TIB: u64 = 1 << 40;
const PIB: u64 = 1 << 50;
const KB: u64 = 1_000;
const MB: u64 = 1_000_000;
const GB: u64 = 1_000_000_000;
const TB: u64 = 1_000_000_000_000;
const PB: u64 = 1_000_000_000_000_000;

/// The units, with their size in bytes.
const UNITS: [(&str, u64); 13] = [
    ("", 1),
    ("B", 1),
    ("kB", KB),
    ("KB", KB),
    ("MB", MB),
    ("GB", GB),
    ("TB", TB),
    ("PB", PB),
    ("KiB", KIB),
    ("MiB", MIB),
    ("GiB", GIB),
    ("TiB", TIB),
    ("PiB", PIB),
];

/// Byte sizes, for [`parse_byte_size`].
const SIZE: QuantityKind = QuantityKind {
    noun: "size",
    units: &UNITS,
    unit_list: "B, KiB, MiB, GiB, TiB, PiB, kB (or KB), MB, GB, TB or PB, or none for bytes",
    empty_hint: "write a number of bytes, or a number and a unit ({units})",
    malformed_hint: "write a number of bytes, or a number and a unit, like \"512MiB\" or \"1GB\"",
};

/// Parse a byte size: a non-negative integer or decimal number, immediately
/// followed by an optional unit: none or `B` (bytes), the binary `KiB`, `MiB`,
/// `GiB`, `TiB`, `PiB` (powers of 1024), or the decimal `kB` (also `KB`),
/// `MB`, `GB`, `TB`, `PB` (powers of 1000). Units are case-sensitive; the
/// value must be a whole number of bytes.
///
/// ```
/// use vigil_config::parse_byte_size;
/// assert_eq!(parse_byte_size("512MiB"), Ok(512 << 20));
/// assert_eq!(parse_byte_size("100MB"), Ok(100_000_000));
/// assert_eq!(parse_byte_size("1.5KiB"), Ok(1536));
/// assert_eq!(parse_byte_size("4096"), Ok(4096));
/// assert!(parse_byte_size("12mb").is_err());
/// ```
pub fn parse_byte_size(text: &str) -> Result<u64, ValueError> {
    let q = SIZE.split(text)?;
    let factor = SIZE.factor(text, q.unit)?;
    scale(&q, factor).map_err(|e| match e {
        ScaleError::TooLarge => ValueError::new(format!("`{text}` is too large (at most {} bytes)", u64::MAX)),
        ScaleError::Fractional => ValueError::new(format!("`{text}` is not a whole number of bytes")),
    })
}

/// Write a byte size the way [`parse_byte_size`] reads it: with the largest
/// binary unit that divides it exactly, else the largest decimal one, else in
/// bytes (`"512MiB"`, `"100MB"`, `"1000001B"`, `"0B"`).
///
/// ```
/// use vigil_config::format_byte_size;
/// assert_eq!(format_byte_size(512 << 20), "512MiB");
/// assert_eq!(format_byte_size(100_000_000), "100MB");
/// assert_eq!(format_byte_size(4097), "4097B");
/// ```
pub fn format_byte_size(bytes: u64) -> String {
    if bytes == 0 {
        return "0B".to_owned();
    }
    let units = [
        ("PiB", PIB),
        ("TiB", TIB),
        ("GiB", GIB),
        ("MiB", MIB),
        ("KiB", KIB),
        ("PB", PB),
        ("TB", TB),
        ("GB", GB),
        ("MB", MB),
        ("kB", KB),
    ];
    for (name, unit) in units {
        if bytes % unit == 0 {
            return format!("{}{name}", bytes / unit);
        }
    }
    format!("{bytes}B")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        parse_byte_size(text).unwrap_err().to_string()
    }

    #[test]
    fn units() {
        let cases = [
            ("0", 0),
            ("4096", 4096),
            ("10B", 10),
            ("1kB", 1000),
            ("1KB", 1000),
            ("1KiB", 1024),
            ("512MiB", 512 * MIB),
            ("1GiB", GIB),
            ("100MB", 100 * MB),
            ("2TiB", 2 * TIB),
            ("3PB", 3 * PB),
            ("0.5GiB", 512 * MIB),
            ("1.5kB", 1500),
        ];
        for (text, bytes) in cases {
            assert_eq!(parse_byte_size(text), Ok(bytes), "{text}");
        }
    }

    #[test]
    fn precise_messages() {
        assert!(err("").contains("empty"));
        assert!(err("-1MiB").contains("cannot be negative"));
        assert!(err("MiB").contains("is not a size"));
        assert!(err("12mb").contains("unknown unit `mb`"));
        assert!(err("1 GiB").contains("unknown unit ` GiB`"));
        assert!(err("0.1B").contains("not a whole number of bytes"));
        assert!(err("16384PiB").contains("too large"));
    }

    #[test]
    fn formatting() {
        assert_eq!(format_byte_size(0), "0B");
        assert_eq!(format_byte_size(1), "1B");
        assert_eq!(format_byte_size(1024), "1KiB");
        assert_eq!(format_byte_size(1536), "1536B");
        assert_eq!(format_byte_size(1000), "1kB");
        assert_eq!(format_byte_size(GIB), "1GiB");
        assert_eq!(format_byte_size(u64::MAX), format!("{}B", u64::MAX));
    }
}
