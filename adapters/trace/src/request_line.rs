//! What a `request` line says beyond its op and path, so that a real run's
//! requests can be fed again (`vigil sim CONFIG --replay`): the new spec of
//! a `start_child` or `replace_child` (key `spec`, docs/TRACE.md), the mode
//! of a `restart_all` (key `mode`). Written by [`request_fields`], read back
//! by [`read_request`].

use serde_json::Value;
use vigil_core::{Request, RequestOp, RestartAllMode};

use crate::spec_json::{read_child_spec, write_child_spec, SpecJsonError};

/// The keys a `request` line carries after `id` for `request`, as raw JSON
/// (`,"spec":{...}`), or nothing for an op that needs none.
///
/// ```
/// use vigil_core::{Request, RestartAllMode};
/// let r = Request::RestartAll { path: "web".into(), mode: RestartAllMode::Rolling };
/// assert_eq!(vigil_trace::request_fields(&r), r#","mode":"rolling""#);
/// assert_eq!(vigil_trace::request_fields(&Request::Shutdown), "");
/// ```
#[must_use]
pub fn request_fields(request: &Request) -> String {
    match request {
        Request::StartChild { spec, .. } | Request::ReplaceChild { spec, .. } => {
            format!(",\"spec\":{}", write_child_spec(spec))
        }
        Request::RestartAll { mode, .. } => format!(",\"mode\":\"{}\"", mode_name(*mode)),
        _ => String::new(),
    }
}

fn mode_name(mode: RestartAllMode) -> &'static str {
    match mode {
        RestartAllMode::AllAtOnce => "all_at_once",
        RestartAllMode::Rolling => "rolling",
    }
}

/// Why a `request` line could not be turned back into its request.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequestLineError {
    /// The op is not one docs/TRACE.md lists.
    #[error("unknown op `{0}`")]
    UnknownOp(String),
    /// A `start_child` or `replace_child` line has no `spec` (a trace from a
    /// version of vigil that did not record it, or from the simulator).
    #[error("the `{0}` request has no `spec`: this trace does not record what it asked for")]
    NoSpec(&'static str),
    /// The `spec` is damaged.
    #[error(transparent)]
    Spec(#[from] SpecJsonError),
    /// A `start_child` whose path does not end in its spec's name.
    #[error("the `start_child` path `{path}` does not end in the spec's name `{name}`")]
    PathMismatch {
        /// The line's `path`.
        path: String,
        /// The spec's name.
        name: String,
    },
    /// `mode` is neither `all_at_once` nor `rolling`.
    #[error("the `restart_all` mode `{0}` is neither `all_at_once` nor `rolling`")]
    BadMode(String),
}

/// The request a `request` line records: `op` and `path` are the line's,
/// `line` the whole line (for `spec` and `mode`). A `restart_all` line
/// without `mode` (a simulated trace) is `all_at_once`.
pub fn read_request(op: &str, path: &str, line: &Value) -> Result<Request, RequestLineError> {
    let path_ = || path.to_owned();
    let spec = |what: &'static str| match line.get("spec") {
        Some(v) => read_child_spec(v).map_err(RequestLineError::from),
        None => Err(RequestLineError::NoSpec(what)),
    };
    Ok(match op {
        "start_child" => {
            let spec = spec("start_child")?;
            let parent = match path.rsplit_once('/') {
                Some((parent, name)) if name == spec.name => parent.to_owned(),
                None if path == spec.name => String::new(),
                _ => {
                    return Err(RequestLineError::PathMismatch {
                        path: path_(),
                        name: spec.name,
                    })
                }
            };
            Request::StartChild { parent, spec }
        }
        "replace_child" => Request::ReplaceChild {
            path: path_(),
            spec: spec("replace_child")?,
        },
        "terminate_child" => Request::TerminateChild { path: path_() },
        "restart_child" => Request::RestartChild { path: path_() },
        "delete_child" => Request::DeleteChild { path: path_() },
        "which_children" => Request::WhichChildren { path: path_() },
        "count_children" => Request::CountChildren { path: path_() },
        "restart_all" => Request::RestartAll {
            path: path_(),
            mode: match line.get("mode").map(|m| m.as_str()) {
                None | Some(Some("all_at_once")) => RestartAllMode::AllAtOnce,
                Some(Some("rolling")) => RestartAllMode::Rolling,
                Some(other) => return Err(RequestLineError::BadMode(other.unwrap_or("?").to_owned())),
            },
        },
        "shutdown" => Request::Shutdown,
        other => return Err(RequestLineError::UnknownOp(other.to_owned())),
    })
}

/// Whether `op` names a request kind (the trace spelling of [`RequestOp`]).
pub fn is_request_op(op: &str) -> bool {
    [
        RequestOp::StartChild,
        RequestOp::TerminateChild,
        RequestOp::RestartChild,
        RequestOp::DeleteChild,
        RequestOp::ReplaceChild,
        RequestOp::WhichChildren,
        RequestOp::CountChildren,
        RequestOp::RestartAll,
        RequestOp::Shutdown,
    ]
    .iter()
    .any(|o| o.as_str() == op)
}

#[cfg(test)]
mod tests {
    use vigil_core::ChildSpec;

    use super::*;

    fn back(request: &Request) -> Result<Request, RequestLineError> {
        let line = format!("{{\"t\":0{}}}", request_fields(request));
        let v: Value = serde_json::from_str(&line).expect("JSON");
        read_request(request.op().as_str(), &request.target_path(), &v)
    }

    #[test]
    fn every_request_reads_back_as_itself() {
        let spec = ChildSpec::worker("w");
        for r in [
            Request::StartChild {
                parent: String::new(),
                spec: spec.clone(),
            },
            Request::StartChild {
                parent: "a/b".into(),
                spec: spec.clone(),
            },
            Request::ReplaceChild {
                path: "a/w".into(),
                spec,
            },
            Request::TerminateChild { path: "x".into() },
            Request::RestartChild { path: "x".into() },
            Request::DeleteChild { path: "x".into() },
            Request::WhichChildren { path: String::new() },
            Request::CountChildren { path: "g".into() },
            Request::RestartAll {
                path: "g".into(),
                mode: RestartAllMode::Rolling,
            },
            Request::RestartAll {
                path: "g".into(),
                mode: RestartAllMode::AllAtOnce,
            },
            Request::Shutdown,
        ] {
            assert_eq!(back(&r), Ok(r.clone()));
            assert!(is_request_op(r.op().as_str()));
        }
    }

    #[test]
    fn what_cannot_be_read_is_named() {
        let v: Value = serde_json::from_str("{\"t\":0}").expect("JSON");
        assert_eq!(
            read_request("start_child", "w", &v),
            Err(RequestLineError::NoSpec("start_child"))
        );
        assert_eq!(
            read_request("launch", "w", &v),
            Err(RequestLineError::UnknownOp("launch".into()))
        );
        let spec = format!("{{\"spec\":{}}}", write_child_spec(&ChildSpec::worker("w")));
        let v: Value = serde_json::from_str(&spec).expect("JSON");
        assert!(matches!(
            read_request("start_child", "a/v", &v),
            Err(RequestLineError::PathMismatch { .. })
        ));
        let v: Value = serde_json::from_str("{\"mode\":\"sideways\"}").expect("JSON");
        assert_eq!(
            read_request("restart_all", "", &v),
            Err(RequestLineError::BadMode("sideways".into()))
        );
    }
}
