//! Durations as text: a non-negative decimal number and a unit, `"250ms"`,
//! `"1.5s"`, `"2m"`.

use std::time::Duration;

use crate::error::ValueError;
use crate::number::{decimal, scale, ScaleError};
use crate::quantity_kind::QuantityKind;

const NS: u64 = 1;
const US: u64 = 1_000;
const MS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;
const M: u64 = 60 * S;
const H: u64 = 60 * M;
const D: u64 = 24 * H;

/// The units, with their length in nanoseconds.
const UNITS: [(&str, u64); 8] = [
    ("ns", NS),
    ("us", US),
    ("µs", US),
    ("ms", MS),
    ("s", S),
    ("m", M),
    ("h", H),
    ("d", D),
];

/// Durations, for [`parse_duration`].
const DURATION: QuantityKind = QuantityKind {
    noun: "duration",
    units: &UNITS,
    unit_list: "ns, us, ms, s, m, h or d",
    empty_hint: "write a number and a unit ({units}), like \"5s\"",
    malformed_hint: "write a number and a unit ({units}), like \"250ms\", \"1.5s\" or \"2m\"",
};

/// Parse a duration: a non-negative integer or decimal number immediately
/// followed by one of the units `ns`, `us` (or `µs`), `ms`, `s`, `m`, `h`, `d`.
/// No spaces, no sign, no exponent, no compound forms (`1h30m`); the value
/// must be a whole number of nanoseconds and at most `u64::MAX` nanoseconds
/// (about 584 years).
///
/// ```
/// use std::time::Duration;
/// use vigil_config::parse_duration;
/// assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
/// assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
/// assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
/// assert!(parse_duration("5").unwrap_err().to_string().contains("no unit"));
/// assert!(parse_duration("-1s").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, ValueError> {
    let q = DURATION.split(text)?;
    if q.unit.is_empty() {
        return Err(ValueError::new(format!(
            "`{text}` has no unit: write for example \"{text}s\" or \"{text}ms\" (units: {})",
            DURATION.unit_list
        )));
    }
    let factor = DURATION.factor(text, q.unit)?;
    match scale(&q, factor) {
        Ok(nanos) => Ok(Duration::from_nanos(nanos)),
        Err(ScaleError::TooLarge) => Err(ValueError::new(format!(
            "`{text}` is too long a duration (at most {})",
            format_duration(Duration::from_nanos(u64::MAX))
        ))),
        Err(ScaleError::Fractional) => Err(ValueError::new(format!("`{text}` is finer than a nanosecond"))),
    }
}

/// Write a duration the way [`parse_duration`] reads it, short: the largest of
/// `d`, `h`, `m` that divides it exactly, else `s`, `ms`, `us` or `ns` with a
/// decimal fraction (`"1.5s"`, `"250ms"`, `"90s"`, `"0s"`). Durations longer
/// than `u64::MAX` nanoseconds are written as that maximum.
///
/// ```
/// use std::time::Duration;
/// use vigil_config::format_duration;
/// assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
/// assert_eq!(format_duration(Duration::from_secs(120)), "2m");
/// assert_eq!(format_duration(Duration::from_secs(90)), "90s");
/// assert_eq!(format_duration(Duration::from_micros(250)), "250us");
/// ```
pub fn format_duration(d: Duration) -> String {
    let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    if nanos == 0 {
        return "0s".to_owned();
    }
    for (name, unit) in [("d", D), ("h", H), ("m", M)] {
        if nanos % unit == 0 {
            return format!("{}{name}", nanos / unit);
        }
    }
    for (name, unit) in [("s", S), ("ms", MS), ("us", US)] {
        if nanos >= unit {
            if let Some(number) = decimal(nanos, unit) {
                return format!("{number}{name}");
            }
        }
    }
    format!("{nanos}ns")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        parse_duration(text).unwrap_err().to_string()
    }

    #[test]
    fn units_and_decimals() {
        let cases = [
            ("0s", 0),
            ("7ns", 7),
            ("3us", 3_000),
            ("3µs", 3_000),
            ("250ms", 250 * MS),
            ("1.5s", 1_500 * MS),
            ("0.001s", MS),
            ("2m", 2 * M),
            ("1.5h", 90 * M),
            ("1d", D),
            ("007s", 7 * S),
            ("1.50s", 1_500 * MS),
            ("0.000000001s", 1),
        ];
        for (text, nanos) in cases {
            assert_eq!(parse_duration(text), Ok(Duration::from_nanos(nanos)), "{text}");
        }
    }

    #[test]
    fn precise_messages() {
        assert!(err("5").contains("`5` has no unit"), "{}", err("5"));
        assert!(err("-5s").contains("cannot be negative"));
        assert!(err("").contains("empty"));
        assert!(err("abc").contains("`abc` is not a duration"));
        assert!(err("5.s").contains("is not a duration"));
        assert!(err(".5s").contains("is not a duration"));
        assert!(err("5 s").contains("unknown unit ` s`"));
        assert!(err("5sec").contains("unknown unit `sec`"));
        assert!(err("1h30m").contains("unknown unit `h30m`"));
        assert!(err("0.5ns").contains("finer than a nanosecond"));
        assert!(err("1000000d").contains("too long"));
        assert!(err("99999999999999999999999999999999999s").contains("too long"));
        assert!(err("1.0000000000000000000000000001s").contains("finer"));
    }

    #[test]
    fn largest_value_round_trips() {
        let max = Duration::from_nanos(u64::MAX);
        assert_eq!(parse_duration(&format_duration(max)), Ok(max));
        assert_eq!(format_duration(Duration::MAX), format_duration(max));
    }

    #[test]
    fn formatting() {
        let cases = [
            (0, "0s"),
            (1, "1ns"),
            (1_500, "1.5us"),
            (MS, "1ms"),
            (1_234_567, "1.234567ms"),
            (S, "1s"),
            (61 * S + 500 * MS, "61.5s"),
            (60 * S, "1m"),
            (36 * H, "36h"),
            (2 * D, "2d"),
        ];
        for (nanos, text) in cases {
            assert_eq!(format_duration(Duration::from_nanos(nanos)), text);
        }
    }
}
