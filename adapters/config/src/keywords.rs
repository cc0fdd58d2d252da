//! The keyword values of the files (`one_for_one`, `transient`, `brutal`...)
//! and their names, both ways.

use vigil_core::{AutoShutdown, Lifespan, Readiness, Restart, RestartAllMode, Shutdown, ShutdownOrder, Strategy};

use crate::duration::{format_duration, parse_duration};
use crate::error::ValueError;

pub(crate) const STRATEGIES: &[(&str, Strategy)] = &[
    ("one_for_one", Strategy::OneForOne),
    ("one_for_all", Strategy::OneForAll),
    ("rest_for_one", Strategy::RestForOne),
    ("one_terminate_all", Strategy::OneTerminateAll),
];

pub(crate) const RESTARTS: &[(&str, Restart)] = &[
    ("permanent", Restart::Permanent),
    ("transient", Restart::Transient),
    ("temporary", Restart::Temporary),
];

pub(crate) const AUTO_SHUTDOWNS: &[(&str, AutoShutdown)] = &[
    ("never", AutoShutdown::Never),
    ("any_significant", AutoShutdown::AnySignificant),
    ("all_significant", AutoShutdown::AllSignificant),
];

pub(crate) const LIFESPANS: &[(&str, Lifespan)] =
    &[("permanent", Lifespan::Permanent), ("transient", Lifespan::Transient)];

pub(crate) const SHUTDOWN_ORDERS: &[(&str, ShutdownOrder)] = &[
    ("reverse", ShutdownOrder::Reverse),
    ("parallel", ShutdownOrder::Parallel),
];

pub(crate) const READINESS: &[(&str, Readiness)] = &[
    ("immediate", Readiness::Immediate),
    ("notify", Readiness::Notify),
    ("probe", Readiness::Notify),
];

/// The operator requests a script may make (`which_children` and
/// `count_children` change nothing, so scripts do not take them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ScriptRequest {
    StartChild,
    TerminateChild,
    RestartChild,
    DeleteChild,
    RestartAll,
    Shutdown,
}

pub(crate) const SCRIPT_REQUESTS: &[(&str, ScriptRequest)] = &[
    ("start_child", ScriptRequest::StartChild),
    ("terminate_child", ScriptRequest::TerminateChild),
    ("restart_child", ScriptRequest::RestartChild),
    ("delete_child", ScriptRequest::DeleteChild),
    ("restart_all", ScriptRequest::RestartAll),
    ("shutdown", ScriptRequest::Shutdown),
];

/// `text` as one of `table`'s keywords; `what` names the setting in the message.
pub(crate) fn keyword<T: Copy>(text: &str, table: &[(&str, T)], what: &str) -> Result<T, ValueError> {
    table
        .iter()
        .find(|(name, _)| *name == text)
        .map(|&(_, value)| value)
        .ok_or_else(|| ValueError::new(format!("unknown {what} `{text}` (expected {})", names(table))))
}

/// The name of a keyword value (`"?"` if the table lacks it, which the tables
/// above never do).
pub(crate) fn name_of<T: PartialEq>(table: &[(&'static str, T)], value: &T) -> &'static str {
    table.iter().find(|(_, v)| v == value).map_or("?", |(name, _)| *name)
}

fn names<T>(table: &[(&str, T)]) -> String {
    let names: Vec<&str> = table.iter().map(|(name, _)| *name).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => names.join(""),
    }
}

/// `"brutal"`, `"infinity"` or a duration.
pub(crate) fn parse_shutdown(text: &str) -> Result<Shutdown, ValueError> {
    match text {
        "brutal" => Ok(Shutdown::Brutal),
        "infinity" => Ok(Shutdown::Infinity),
        _ if text.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '.') => {
            parse_duration(text).map(Shutdown::Timeout)
        }
        _ => Err(ValueError::new(format!(
            "unknown shutdown `{text}` (expected \"brutal\", a duration like \"10s\", or \"infinity\")"
        ))),
    }
}

/// The text [`parse_shutdown`] reads.
pub(crate) fn format_shutdown(shutdown: Shutdown) -> String {
    match shutdown {
        Shutdown::Brutal => "brutal".to_owned(),
        Shutdown::Infinity => "infinity".to_owned(),
        Shutdown::Timeout(d) => format_duration(d),
    }
}

/// `rolling = true` or `false`.
pub(crate) fn restart_all_mode(rolling: bool) -> RestartAllMode {
    if rolling {
        RestartAllMode::Rolling
    } else {
        RestartAllMode::AllAtOnce
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn keywords_both_ways() {
        for &(name, value) in STRATEGIES {
            assert_eq!(keyword(name, STRATEGIES, "strategy"), Ok(value));
            assert_eq!(name_of(STRATEGIES, &value), name);
        }
        let err = keyword("one_for_none", STRATEGIES, "strategy").unwrap_err();
        assert_eq!(
            err.message(),
            "unknown strategy `one_for_none` (expected one_for_one, one_for_all, rest_for_one or one_terminate_all)"
        );
    }

    #[test]
    fn shutdowns() {
        assert_eq!(parse_shutdown("brutal"), Ok(Shutdown::Brutal));
        assert_eq!(parse_shutdown("infinity"), Ok(Shutdown::Infinity));
        assert_eq!(parse_shutdown("10s"), Ok(Shutdown::Timeout(Duration::from_secs(10))));
        assert!(parse_shutdown("10").unwrap_err().message().contains("no unit"));
        assert!(parse_shutdown("forever")
            .unwrap_err()
            .message()
            .contains("unknown shutdown"));
        for s in [
            Shutdown::Brutal,
            Shutdown::Infinity,
            Shutdown::Timeout(Duration::from_millis(1500)),
        ] {
            assert_eq!(parse_shutdown(&format_shutdown(s)), Ok(s));
        }
    }
}
