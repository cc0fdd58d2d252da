//! Durations, byte sizes and lifetimes: what is written is read back the same.

use std::time::Duration;

use proptest::prelude::*;
use vigil_config::{format_byte_size, format_duration, parse_byte_size, parse_duration, Lifetime};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("VIGIL_PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(256),
        ..ProptestConfig::default()
    }
}

/// Durations as configs write them: round numbers of some unit, and anything.
fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        any::<u64>().prop_map(Duration::from_nanos),
        (
            0u64..100_000,
            prop::sample::select(vec![1, 1_000, 1_000_000, 1_000_000_000, 60_000_000_000])
        )
            .prop_map(|(n, unit)| Duration::from_nanos(n * unit)),
        (0u64..10_000).prop_map(Duration::from_millis),
    ]
}

fn lifetime() -> impl Strategy<Value = Lifetime> {
    prop_oneof![
        Just(Lifetime::Never),
        duration().prop_map(Lifetime::Fixed),
        duration().prop_map(|mean| Lifetime::Exp { mean }),
        (duration(), duration()).prop_map(|(a, b)| Lifetime::Uniform {
            min: a.min(b),
            max: a.max(b)
        }),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn durations_round_trip(d in duration()) {
        let text = format_duration(d);
        prop_assert_eq!(parse_duration(&text), Ok(d), "{}", text);
    }

    #[test]
    fn byte_sizes_round_trip(bytes in prop_oneof![
        any::<u64>(),
        (0u64..4096, 0u32..5).prop_map(|(n, p)| n << (10 * p)),
        (0u64..4096, 0u32..5).prop_map(|(n, p)| n * 1000u64.pow(p)),
    ]) {
        let text = format_byte_size(bytes);
        prop_assert_eq!(parse_byte_size(&text), Ok(bytes), "{}", text);
    }

    #[test]
    fn lifetimes_round_trip(l in lifetime()) {
        let text = l.to_string();
        prop_assert_eq!(text.parse::<Lifetime>(), Ok(l), "{}", text);
    }

    #[test]
    fn decimal_durations_mean_what_they_say(whole in 0u64..1_000_000, millis in 0u64..1000) {
        let text = format!("{whole}.{millis:03}s");
        prop_assert_eq!(parse_duration(&text), Ok(Duration::from_secs(whole) + Duration::from_millis(millis)));
    }

    /// Any text: no panic, and what parses is written back to the same value.
    #[test]
    fn parsing_any_text_is_total(text in "[0-9.µa-z -]{0,12}|\\PC{0,12}") {
        if let Ok(d) = parse_duration(&text) {
            prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
        if let Ok(b) = parse_byte_size(&text) {
            prop_assert_eq!(parse_byte_size(&format_byte_size(b)), Ok(b));
        }
        if let Ok(l) = text.parse::<Lifetime>() {
            prop_assert_eq!(l.to_string().parse::<Lifetime>(), Ok(l));
        }
    }
}

#[test]
fn examples_from_config_md_values() {
    let s = Duration::from_secs;
    assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
    assert_eq!(parse_duration("5s"), Ok(s(5)));
    assert_eq!(parse_duration("2m"), Ok(s(120)));
    assert_eq!(parse_byte_size("512MiB"), Ok(512 << 20));
    assert_eq!(parse_byte_size("1GiB"), Ok(1 << 30));
    assert_eq!(parse_byte_size("100MB"), Ok(100_000_000));
    assert_eq!(parse_byte_size("4096"), Ok(4096));
    assert_eq!("exp(10m)".parse(), Ok(Lifetime::Exp { mean: s(600) }));
    assert_eq!(
        "uniform(1s, 5s)".parse(),
        Ok(Lifetime::Uniform { min: s(1), max: s(5) })
    );
    assert_eq!("5s".parse(), Ok(Lifetime::Fixed(s(5))));
    assert_eq!("never".parse(), Ok(Lifetime::Never));
}
