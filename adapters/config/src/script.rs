//! Parsing a scenario script (docs/CONFIG.md, "The scenario script").

use std::ops::Range;
use std::path::Path;
use std::str::FromStr;

use toml::Spanned;
use vigil_core::{AutoShutdown, ChildSpec, ExitReason, Request};

use crate::duration::parse_duration;
use crate::error::{ConfigError, ConfigErrorKind};
use crate::keywords::{keyword, restart_all_mode, ScriptRequest, SCRIPT_REQUESTS};
use crate::model::{Action, Script, TimedAction};
use crate::position::{Doc, LineCounter};
use crate::raw::{RawAt, RawScript};
use crate::toml_error::from_toml;

/// Parse a scenario script: `[[at]]` entries, each with a `time` and exactly
/// one of `exit` (with an optional `reason`, default `error`), `fail_starts`
/// (with an optional `count`, default 1), `hang_on_stop`, or `request` (with
/// `path`, except for `shutdown`; `name` for `start_child`, whose `path` is
/// the parent supervisor; an optional `rolling` for `restart_all`).
///
/// The actions come out sorted by time; entries with the same time keep their
/// order in the file. Each records the line of its `[[at]]` header.
///
/// ```
/// use std::time::Duration;
/// use vigil_config::{parse_script, Action};
/// use vigil_core::{ExitReason, Request};
///
/// let script = parse_script(
///     r#"
/// [[at]]
/// time = "3s"
/// request = "terminate_child"
/// path = "web/w1"
///
/// [[at]]
/// time = "1s"
/// exit = "web/w1"
/// reason = "panic(oops)"
/// "#,
///     "demo.toml",
/// )
/// .unwrap();
/// assert_eq!(script.actions[0].time, Duration::from_secs(1));
/// assert_eq!(script.actions[0].line, 7);
/// assert_eq!(
///     script.actions[0].action,
///     Action::Exit { path: "web/w1".into(), reason: ExitReason::Panic("oops".into()) }
/// );
/// assert_eq!(
///     script.actions[1].action,
///     Action::Request(Request::TerminateChild { path: "web/w1".into() })
/// );
/// ```
pub fn parse_script(text: &str, source: &str) -> Result<Script, ConfigError> {
    let doc = Doc::new(text, source);
    let raw: RawScript = toml::from_str(text).map_err(|e| from_toml(doc, &e))?;
    // The entries come in file order: their lines are counted in one pass.
    let mut lines = LineCounter::new(text);
    let mut actions = raw
        .at
        .iter()
        .map(|entry| timed_action(doc, entry, lines.line(entry.span().start)))
        .collect::<Result<Vec<_>, _>>()?;
    actions.sort_by_key(|a| a.time);
    Ok(Script {
        source: source.to_owned(),
        actions,
    })
}

/// Read and parse a scenario script file (see [`parse_script`]); errors name
/// the file as given.
pub fn load_script(path: &Path) -> Result<Script, ConfigError> {
    let source = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::new(&source, ConfigErrorKind::Io(e)))?;
    parse_script(&text, &source)
}

fn missing(doc: Doc<'_>, span: &Range<usize>, key: &str) -> ConfigError {
    doc.error(
        span,
        Some(key),
        ConfigErrorKind::MissingKey {
            key: key.to_owned(),
            table: "[[at]]".to_owned(),
        },
    )
}

fn misplaced(doc: Doc<'_>, span: &Range<usize>, key: &str, reason: impl Into<String>) -> ConfigError {
    doc.error(
        span,
        Some(key),
        ConfigErrorKind::Misplaced {
            key: key.to_owned(),
            reason: reason.into(),
        },
    )
}

/// Check the syntax of a path: names joined with `/`; `""` (the root) only
/// when `root_ok`.
fn checked_path(doc: Doc<'_>, value: &Spanned<String>, key: &str, root_ok: bool) -> Result<String, ConfigError> {
    let path = value.get_ref();
    if path.is_empty() {
        if root_ok {
            return Ok(String::new());
        }
        return Err(doc.bad_value(
            &value.span(),
            key,
            "the path is empty (the root supervisor is not a worker)",
        ));
    }
    if path.split('/').any(str::is_empty) {
        return Err(doc.bad_value(
            &value.span(),
            key,
            format!("`{path}` has an empty name in it (a path is names joined with `/`, like \"web/w1\")"),
        ));
    }
    Ok(path.clone())
}

/// One `[[at]]` entry, whose header is on `line`.
fn timed_action(doc: Doc<'_>, entry: &Spanned<RawAt>, line: usize) -> Result<TimedAction, ConfigError> {
    let span = entry.span();
    let at = entry.get_ref();
    let time = at.time.as_ref().ok_or_else(|| missing(doc, &span, "time"))?;
    let time = parse_duration(&time.get_ref().0).map_err(|e| doc.bad_value(&time.span(), "time", e.message()))?;
    let kind = entry_kind(doc, at, &span)?;
    let request = match &at.request {
        Some(r) => Some(
            keyword(r.get_ref(), SCRIPT_REQUESTS, "request")
                .map_err(|e| doc.bad_value(&r.span(), "request", e.message()))?,
        ),
        None => None,
    };
    check_placement(doc, at, kind, request)?;
    let action = action(doc, at, request, &span)?;
    Ok(TimedAction { time, line, action })
}

/// Which of `exit`, `fail_starts`, `hang_on_stop` and `request` the entry
/// at `span` is: exactly one of them.
fn entry_kind(doc: Doc<'_>, at: &RawAt, span: &Range<usize>) -> Result<&'static str, ConfigError> {
    let present: Vec<(&'static str, Range<usize>)> = [
        ("exit", at.exit.as_ref().map(Spanned::span)),
        ("fail_starts", at.fail_starts.as_ref().map(Spanned::span)),
        ("hang_on_stop", at.hang_on_stop.as_ref().map(Spanned::span)),
        ("request", at.request.as_ref().map(Spanned::span)),
    ]
    .into_iter()
    .filter_map(|(key, span)| span.map(|s| (key, s)))
    .collect();
    if present.len() != 1 {
        let at_span = present.get(1).map_or(span.clone(), |(_, s)| s.clone());
        return Err(doc.error(
            &at_span,
            None,
            ConfigErrorKind::NotExactlyOne {
                what: "an [[at]] entry".to_owned(),
                choices: ["exit", "fail_starts", "hang_on_stop", "request"]
                    .map(str::to_owned)
                    .to_vec(),
                found: present.iter().map(|(k, _)| (*k).to_owned()).collect(),
            },
        ));
    }
    Ok(present[0].0)
}

/// Refuse the keys that belong to another kind of entry than `kind` (and,
/// for a request, to another request).
fn check_placement(doc: Doc<'_>, at: &RawAt, kind: &str, request: Option<ScriptRequest>) -> Result<(), ConfigError> {
    if let Some(v) = at.reason.as_ref().filter(|_| kind != "exit") {
        return Err(misplaced(doc, &v.span(), "reason", "only goes with `exit`"));
    }
    if let Some(v) = at.count.as_ref().filter(|_| kind != "fail_starts") {
        return Err(misplaced(doc, &v.span(), "count", "only goes with `fail_starts`"));
    }
    if let Some(v) = &at.path {
        match request {
            None => return Err(misplaced(doc, &v.span(), "path", "only goes with `request`")),
            Some(ScriptRequest::Shutdown) => {
                return Err(misplaced(
                    doc,
                    &v.span(),
                    "path",
                    "does not go with `request = \"shutdown\"` (it shuts the whole tree down)",
                ))
            }
            Some(_) => {}
        }
    }
    if let Some(v) = at.name.as_ref().filter(|_| request != Some(ScriptRequest::StartChild)) {
        return Err(misplaced(
            doc,
            &v.span(),
            "name",
            "only goes with `request = \"start_child\"`",
        ));
    }
    if let Some(v) = at
        .rolling
        .as_ref()
        .filter(|_| request != Some(ScriptRequest::RestartAll))
    {
        return Err(misplaced(
            doc,
            &v.span(),
            "rolling",
            "only goes with `request = \"restart_all\"`",
        ));
    }
    Ok(())
}

/// What the entry at `span` does.
fn action(
    doc: Doc<'_>,
    at: &RawAt,
    request: Option<ScriptRequest>,
    span: &Range<usize>,
) -> Result<Action, ConfigError> {
    Ok(if let Some(v) = &at.exit {
        let reason = match &at.reason {
            Some(r) => {
                ExitReason::from_str(r.get_ref()).map_err(|e| doc.bad_value(&r.span(), "reason", e.to_string()))?
            }
            None => ExitReason::Error(String::new()),
        };
        Action::Exit {
            path: checked_path(doc, v, "exit", false)?,
            reason,
        }
    } else if let Some(v) = &at.fail_starts {
        let count = match &at.count {
            Some(c) if c.get_ref().0 == 0 => {
                return Err(doc.bad_value(&c.span(), "count", "the count must be at least 1"))
            }
            Some(c) => c.get_ref().0,
            None => 1,
        };
        Action::FailStarts {
            path: checked_path(doc, v, "fail_starts", false)?,
            count,
        }
    } else if let Some(v) = &at.hang_on_stop {
        Action::HangOnStop {
            path: checked_path(doc, v, "hang_on_stop", false)?,
        }
    } else {
        let request_span = at.request.as_ref().map_or(span.clone(), Spanned::span);
        Action::Request(make_request(doc, at, request, &request_span, span)?)
    })
}

fn make_request(
    doc: Doc<'_>,
    at: &RawAt,
    request: Option<ScriptRequest>,
    request_span: &Range<usize>,
    entry: &Range<usize>,
) -> Result<Request, ConfigError> {
    let request = request.ok_or_else(|| missing(doc, request_span, "request"))?;
    if request == ScriptRequest::Shutdown {
        return Ok(Request::Shutdown);
    }
    let path = at.path.as_ref().ok_or_else(|| missing(doc, entry, "path"))?;
    let path = checked_path(doc, path, "path", true)?;
    Ok(match request {
        ScriptRequest::StartChild => {
            let name = at.name.as_ref().ok_or_else(|| missing(doc, entry, "name"))?;
            let spec = ChildSpec::worker(name.get_ref().clone());
            spec.validate(&path, AutoShutdown::Never)
                .map_err(|e| doc.error(&name.span(), Some("name"), ConfigErrorKind::Spec(e)))?;
            Request::StartChild { parent: path, spec }
        }
        ScriptRequest::TerminateChild => Request::TerminateChild { path },
        ScriptRequest::RestartChild => Request::RestartChild { path },
        ScriptRequest::DeleteChild => Request::DeleteChild { path },
        ScriptRequest::RestartAll => Request::RestartAll {
            path,
            mode: restart_all_mode(at.rolling.as_ref().is_some_and(|r| *r.get_ref())),
        },
        ScriptRequest::Shutdown => Request::Shutdown,
    })
}
