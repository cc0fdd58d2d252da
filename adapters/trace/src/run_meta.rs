//! The meta line of a real run's trace (`vigil run --trace`): which config
//! and engine seed the run used, and when its `t = 0` was on the wall clock
//! (docs/TRACE.md, "The meta line"). The simulator writes its own meta line
//! with the same leading keys (`vigil_sim::meta_line`).

use std::time::{SystemTime, UNIX_EPOCH};

/// What a real run's meta line records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunMeta {
    /// The engine's seed (backoff jitter).
    pub seed: u64,
    /// The config file as given on the command line.
    pub config: String,
    /// The config's digest (`vigil_config::ConfigDigest`), as text.
    pub digest: Option<String>,
    /// The wall-clock time of `t = 0`.
    pub t0: SystemTime,
}

impl RunMeta {
    /// The meta line (no newline): `t`, `ev`, `seed`, `config`, `vigil`,
    /// `origin` (`run`), `digest`, `t0_utc`.
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// let meta = vigil_trace::RunMeta {
    ///     seed: 0,
    ///     config: "web.toml".into(),
    ///     digest: Some("fnv1a64:cbf29ce484222325".into()),
    ///     t0: UNIX_EPOCH + Duration::new(1_700_000_000, 5),
    /// };
    /// let line = meta.line();
    /// assert!(line.starts_with(r#"{"t":0,"ev":"meta","seed":0,"config":"web.toml","vigil":"#));
    /// assert!(line.ends_with(r#","origin":"run","digest":"fnv1a64:cbf29ce484222325","t0_utc":"2023-11-14T22:13:20.000000005Z"}"#));
    /// ```
    #[must_use]
    pub fn line(&self) -> String {
        let text = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned());
        format!(
            "{{\"t\":0,\"ev\":\"meta\",\"seed\":{},\"config\":{},\"vigil\":{},\"origin\":\"run\",\"digest\":{},\"t0_utc\":\"{}\"}}",
            self.seed,
            text(&self.config),
            text(env!("CARGO_PKG_VERSION")),
            self.digest.as_deref().map_or("null".to_owned(), text),
            rfc3339_utc(self.t0)
        )
    }
}

/// `t` as RFC 3339 in UTC with nanoseconds (`2023-11-14T22:13:20.000000005Z`);
/// a time before 1970 is written as 1970-01-01T00:00:00Z.
#[must_use]
pub fn rfc3339_utc(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rest / 3600,
        (rest / 60) % 60,
        rest % 60,
        d.subsec_nanos()
    )
}

/// Year, month, day of the `days`-th day after 1970-01-01 (Howard
/// Hinnant's `civil_from_days`, for days on or after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn dates_across_leap_years_and_centuries() {
        let at = |s: u64| rfc3339_utc(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00.000000000Z");
        assert_eq!(at(1_709_251_199), "2024-02-29T23:59:59.000000000Z");
        assert_eq!(at(4_107_542_400), "2100-03-01T00:00:00.000000000Z");
        assert_eq!(
            rfc3339_utc(UNIX_EPOCH - Duration::from_secs(1)),
            "1970-01-01T00:00:00.000000000Z"
        );
    }
}
