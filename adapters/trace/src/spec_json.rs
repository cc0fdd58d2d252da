//! A child spec as a JSON object, for the `spec` key of `start_child` and
//! `replace_child` request lines (docs/TRACE.md, "Request lines"), so that a
//! real run's requests can be replayed (`vigil sim CONFIG --replay`).
//!
//! Everything the engine acts on is written, in a fixed key order; the
//! driver's opaque `tag` is not (the engine only stores it, and it reaches
//! no trace line). [`read_child_spec`] is the inverse of [`write_child_spec`]
//! for every spec whose tag is 0.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::Value;
use vigil_core::{
    AutoShutdown, Backoff, ChildKind, ChildSpec, Lifespan, Readiness, Restart, Shutdown, ShutdownOrder, Strategy,
    SupervisorSpec,
};

/// Why a `spec` object could not be read back.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("bad `spec` in a request line: {0}")]
pub struct SpecJsonError(pub String);

const RESTARTS: &[(&str, Restart)] = &[
    ("permanent", Restart::Permanent),
    ("transient", Restart::Transient),
    ("temporary", Restart::Temporary),
];
const READINESS: &[(&str, Readiness)] = &[("immediate", Readiness::Immediate), ("notify", Readiness::Notify)];
const STRATEGIES: &[(&str, Strategy)] = &[
    ("one_for_one", Strategy::OneForOne),
    ("one_for_all", Strategy::OneForAll),
    ("rest_for_one", Strategy::RestForOne),
    ("one_terminate_all", Strategy::OneTerminateAll),
];
const AUTO_SHUTDOWNS: &[(&str, AutoShutdown)] = &[
    ("never", AutoShutdown::Never),
    ("any_significant", AutoShutdown::AnySignificant),
    ("all_significant", AutoShutdown::AllSignificant),
];
const LIFESPANS: &[(&str, Lifespan)] = &[("permanent", Lifespan::Permanent), ("transient", Lifespan::Transient)];
const ORDERS: &[(&str, ShutdownOrder)] = &[
    ("reverse", ShutdownOrder::Reverse),
    ("parallel", ShutdownOrder::Parallel),
];

fn name_of<T: PartialEq>(table: &[(&'static str, T)], v: &T) -> &'static str {
    table.iter().find(|(_, x)| x == v).map_or("?", |(n, _)| n)
}

/// `spec` as one JSON object (no newline), keys in a fixed order.
///
/// ```
/// use vigil_core::{ChildSpec, Restart};
/// let spec = ChildSpec::worker("w").restart(Restart::Transient);
/// let text = vigil_trace::write_child_spec(&spec);
/// assert!(text.starts_with(r#"{"name":"w","kind":"worker","restart":"transient""#));
/// let back = vigil_trace::read_child_spec(&serde_json::from_str(&text).unwrap()).unwrap();
/// assert_eq!(back, spec);
/// ```
#[must_use]
pub fn write_child_spec(spec: &ChildSpec) -> String {
    let mut out = String::with_capacity(160);
    child(&mut out, spec);
    out
}

fn child(out: &mut String, c: &ChildSpec) {
    out.push_str("{\"name\":");
    string(out, &c.name);
    let kind = if c.is_supervisor() { "supervisor" } else { "worker" };
    let _ = write!(
        out,
        ",\"kind\":\"{kind}\",\"restart\":\"{}\",\"shutdown\":",
        name_of(RESTARTS, &c.restart)
    );
    match c.shutdown {
        None => out.push_str("null"),
        Some(Shutdown::Brutal) => out.push_str("\"brutal\""),
        Some(Shutdown::Infinity) => out.push_str("\"infinity\""),
        Some(Shutdown::Timeout(d)) => duration(out, d),
    }
    let _ = write!(
        out,
        ",\"significant\":{},\"readiness\":\"{}\",\"startup_timeout_ns\":",
        c.significant,
        name_of(READINESS, &c.readiness)
    );
    optional_duration(out, c.startup_timeout);
    out.push_str(",\"health_timeout_ns\":");
    optional_duration(out, c.health_timeout);
    out.push_str(",\"backoff\":");
    match &c.backoff {
        None => out.push_str("null"),
        Some(b) => backoff(out, b),
    }
    // Written only when not the default, so that traces without it read the same.
    if !c.autostart {
        out.push_str(",\"autostart\":false");
    }
    if let ChildKind::Supervisor(s) = &c.kind {
        out.push_str(",\"supervisor\":");
        supervisor(out, s);
    }
    out.push('}');
}

fn supervisor(out: &mut String, s: &SupervisorSpec) {
    let _ = write!(
        out,
        "{{\"strategy\":\"{}\",\"intensity\":{},\"period_ns\":",
        name_of(STRATEGIES, &s.strategy),
        s.intensity
    );
    duration(out, s.period);
    let _ = write!(
        out,
        ",\"auto_shutdown\":\"{}\",\"lifespan\":\"{}\",\"shutdown_order\":\"{}\",\"children\":[",
        name_of(AUTO_SHUTDOWNS, &s.auto_shutdown),
        name_of(LIFESPANS, &s.lifespan),
        name_of(ORDERS, &s.shutdown_order)
    );
    for (i, c) in s.children.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        child(out, c);
    }
    out.push_str("]}");
}

fn backoff(out: &mut String, b: &Backoff) {
    out.push_str("{\"initial_ns\":");
    duration(out, b.initial);
    out.push_str(",\"max_ns\":");
    duration(out, b.max);
    // serde_json writes the shortest text that reads back as the same f64.
    out.push_str(",\"multiplier\":");
    out.push_str(&serde_json::to_string(&b.multiplier).unwrap_or_else(|_| "null".into()));
    out.push_str(",\"jitter\":");
    out.push_str(&serde_json::to_string(&b.jitter).unwrap_or_else(|_| "null".into()));
    out.push_str(",\"reset_after_ns\":");
    optional_duration(out, b.reset_after);
    out.push('}');
}

fn string(out: &mut String, s: &str) {
    out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into()));
}

/// Whole nanoseconds; a duration past `u64::MAX` ns (about 584 years) as
/// `[seconds, nanoseconds]`, so that nothing is rounded.
fn duration(out: &mut String, d: Duration) {
    match u64::try_from(d.as_nanos()) {
        Ok(ns) => {
            let _ = write!(out, "{ns}");
        }
        Err(_) => {
            let _ = write!(out, "[{},{}]", d.as_secs(), d.subsec_nanos());
        }
    }
}

fn optional_duration(out: &mut String, d: Option<Duration>) {
    match d {
        None => out.push_str("null"),
        Some(d) => duration(out, d),
    }
}

/// Read a `spec` object written by [`write_child_spec`] (its tag is 0).
/// Every key must be there, with a value of its kind; unknown keys are
/// ignored (docs/TRACE.md, "Compatibility").
pub fn read_child_spec(v: &Value) -> Result<ChildSpec, SpecJsonError> {
    let name = text(v, "name")?;
    let mut spec = match text(v, "kind")? {
        "worker" => ChildSpec::worker(name),
        "supervisor" => ChildSpec::supervisor(name, read_supervisor(field(v, "supervisor")?)?),
        other => return Err(SpecJsonError(format!("`kind` is `{other}`"))),
    };
    spec.restart = keyword(v, "restart", RESTARTS)?;
    spec.shutdown = match field(v, "shutdown")? {
        Value::Null => None,
        Value::String(s) if s == "brutal" => Some(Shutdown::Brutal),
        Value::String(s) if s == "infinity" => Some(Shutdown::Infinity),
        d => Some(Shutdown::Timeout(read_duration(d, "shutdown")?)),
    };
    spec.significant = field(v, "significant")?
        .as_bool()
        .ok_or_else(|| SpecJsonError("`significant` is not true or false".into()))?;
    spec.readiness = keyword(v, "readiness", READINESS)?;
    spec.startup_timeout = optional(v, "startup_timeout_ns")?;
    spec.health_timeout = optional(v, "health_timeout_ns")?;
    spec.backoff = match field(v, "backoff")? {
        Value::Null => None,
        b => Some(read_backoff(b)?),
    };
    spec.autostart = match v.get("autostart") {
        None => true,
        Some(b) => b
            .as_bool()
            .ok_or_else(|| SpecJsonError("`autostart` is not true or false".into()))?,
    };
    Ok(spec)
}

fn read_supervisor(v: &Value) -> Result<SupervisorSpec, SpecJsonError> {
    let intensity = field(v, "intensity")?
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| SpecJsonError("`intensity` is not a whole number below 2^32".into()))?;
    let children = field(v, "children")?
        .as_array()
        .ok_or_else(|| SpecJsonError("`children` is not a list".into()))?
        .iter()
        .map(read_child_spec)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(SupervisorSpec {
        strategy: keyword(v, "strategy", STRATEGIES)?,
        intensity,
        period: read_duration(field(v, "period_ns")?, "period_ns")?,
        auto_shutdown: keyword(v, "auto_shutdown", AUTO_SHUTDOWNS)?,
        lifespan: keyword(v, "lifespan", LIFESPANS)?,
        shutdown_order: keyword(v, "shutdown_order", ORDERS)?,
        children,
    })
}

fn read_backoff(v: &Value) -> Result<Backoff, SpecJsonError> {
    let float = |k: &str| {
        field(v, k)?
            .as_f64()
            .ok_or_else(|| SpecJsonError(format!("`{k}` is not a number")))
    };
    Ok(Backoff {
        initial: read_duration(field(v, "initial_ns")?, "initial_ns")?,
        max: read_duration(field(v, "max_ns")?, "max_ns")?,
        multiplier: float("multiplier")?,
        jitter: float("jitter")?,
        reset_after: optional(v, "reset_after_ns")?,
    })
}

fn field<'a>(v: &'a Value, key: &str) -> Result<&'a Value, SpecJsonError> {
    v.get(key).ok_or_else(|| SpecJsonError(format!("no `{key}`")))
}

fn text<'a>(v: &'a Value, key: &str) -> Result<&'a str, SpecJsonError> {
    field(v, key)?
        .as_str()
        .ok_or_else(|| SpecJsonError(format!("`{key}` is not a string")))
}

fn keyword<T: Copy>(v: &Value, key: &str, table: &[(&str, T)]) -> Result<T, SpecJsonError> {
    let s = text(v, key)?;
    table
        .iter()
        .find(|(n, _)| *n == s)
        .map(|(_, t)| *t)
        .ok_or_else(|| SpecJsonError(format!("`{key}` is `{s}`")))
}

fn optional(v: &Value, key: &str) -> Result<Option<Duration>, SpecJsonError> {
    match field(v, key)? {
        Value::Null => Ok(None),
        d => read_duration(d, key).map(Some),
    }
}

fn read_duration(v: &Value, key: &str) -> Result<Duration, SpecJsonError> {
    if let Some(ns) = v.as_u64() {
        return Ok(Duration::from_nanos(ns));
    }
    let pair = v.as_array().filter(|a| a.len() == 2);
    let secs = pair.and_then(|a| a[0].as_u64());
    let nanos = pair.and_then(|a| a[1].as_u64()).and_then(|n| u32::try_from(n).ok());
    match (secs, nanos) {
        (Some(s), Some(n)) if n < 1_000_000_000 => Ok(Duration::new(s, n)),
        _ => Err(SpecJsonError(format!("`{key}` is not a duration in nanoseconds"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(spec: &ChildSpec) {
        let text = write_child_spec(spec);
        let value: Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(read_child_spec(&value).as_ref(), Ok(spec), "{text}");
    }

    #[test]
    fn every_attribute_survives_the_round_trip() {
        let worker = ChildSpec::worker("w \"quoted\"\n")
            .restart(Restart::Transient)
            .shutdown(Shutdown::Timeout(Duration::new(3, 7)))
            .significant(true)
            .readiness(Readiness::Notify)
            .startup_timeout(Duration::from_millis(1500))
            .health_timeout(Duration::from_secs(9))
            .backoff(Backoff {
                initial: Duration::from_millis(100),
                max: Duration::MAX,
                multiplier: 1.7,
                jitter: 0.1,
                reset_after: Some(Duration::from_secs(60)),
            });
        round_trip(&worker);
        let sup = SupervisorSpec {
            strategy: Strategy::RestForOne,
            intensity: u32::MAX,
            period: Duration::from_secs(5),
            auto_shutdown: AutoShutdown::AllSignificant,
            lifespan: Lifespan::Transient,
            shutdown_order: ShutdownOrder::Parallel,
            children: vec![
                worker,
                ChildSpec::worker("b").shutdown(Shutdown::Brutal).autostart(false),
            ],
        };
        round_trip(&ChildSpec::supervisor("grp", sup).shutdown(Shutdown::Infinity));
        round_trip(&ChildSpec::supervisor("empty", SupervisorSpec::new()));
    }

    #[test]
    fn a_damaged_spec_is_an_error_not_a_panic() {
        let good = write_child_spec(&ChildSpec::supervisor(
            "g",
            SupervisorSpec::new().child(ChildSpec::worker("w")),
        ));
        for (from, to) in [
            ("\"worker\"", "\"robot\""),
            ("\"intensity\":1", "\"intensity\":-1"),
            ("\"period_ns\":5000000000", "\"period_ns\":[1,1000000000]"),
            ("\"restart\":\"permanent\"", "\"restart\":7"),
            ("\"children\":[", "\"children\":{\"x\":["),
            ("\"backoff\":null", "\"backoff\":{}"),
        ] {
            let bad = good.replacen(from, to, 1);
            assert_ne!(bad, good, "{from}");
            let value: Value = serde_json::from_str(&bad).unwrap_or(Value::Null);
            assert!(read_child_spec(&value).is_err(), "{bad}");
        }
        assert!(read_child_spec(&Value::Null).is_err());
    }
}
