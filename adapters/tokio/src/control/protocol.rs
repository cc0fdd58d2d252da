//! The wire protocol's requests: one JSON object per line, decoded by a pure
//! function ([`decode`]) so that it can be tested and fuzzed on its own.
//!
//! `docs/PROTOCOL.md` is the reference for every operation and error.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::strict_json::{self, StrictError};

/// The longest request line the server reads (64 KiB, without the newline).
/// A longer line gets a `line_too_long` error and is discarded up to its
/// newline without being buffered.
pub const MAX_LINE: usize = 64 * 1024;

/// The longest a `call` may wait for its worker, in milliseconds (1 hour).
/// A `timeout_ms` above it, or 0, is a `bad_request`.
pub const MAX_CALL_TIMEOUT_MS: u64 = 3_600_000;

/// A request id, chosen by the client and echoed in every answer to it: a
/// non-negative integer or a string.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum WireId {
    /// A number.
    Num(u64),
    /// A string.
    Text(String),
}

/// One decoded request line: its id (if the client gave one) and operation.
#[derive(Clone, Debug, PartialEq)]
pub struct Envelope {
    /// Echoed in every answer; `null` there when absent.
    pub id: Option<WireId>,
    /// What to do.
    pub op: Op,
}

/// An operation. On the wire `{"op": "<name>", ...fields}`; every field not
/// listed is an error (`bad_request`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Op {
    /// Every node of the tree, flat, with state, restarts, uptime and resources.
    Status {},
    /// The tree, nested.
    Tree {},
    /// The children of a supervisor (OTP's `which_children`).
    WhichChildren {
        /// The supervisor (`""`: the root).
        #[serde(default)]
        path: String,
    },
    /// Counts of a supervisor's children (OTP's `count_children`).
    CountChildren {
        /// The supervisor (`""`: the root).
        #[serde(default)]
        path: String,
    },
    /// Start a stopped child (the engine's `restart_child`).
    Start {
        /// The child.
        path: String,
    },
    /// Stop a child and keep its spec (the engine's `terminate_child`).
    Stop {
        /// The child.
        path: String,
    },
    /// Stop a running child (if it runs) and start it again.
    Restart {
        /// The child.
        path: String,
    },
    /// Remove a stopped child's spec (the engine's `delete_child`).
    Delete {
        /// The child.
        path: String,
    },
    /// Restart every running child of a supervisor.
    RestartAll {
        /// The supervisor (`""`: the root).
        #[serde(default)]
        path: String,
        /// One by one, each started (and ready) before the next is stopped.
        #[serde(default)]
        rolling: bool,
        /// With `rolling`, for a replica template (`path` names it): start
        /// each replica's replacement and wait until it is ready before the
        /// old one stops, at most this many extra replicas at a time
        /// (docs/PROTOCOL.md, "Replicas"); carried out by the operator.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        surge: Option<u32>,
    },
    /// Shut the whole tree down in order.
    Shutdown {},
    /// A live stream of trace events (docs/TRACE.md) and, when asked, of
    /// runs registered and removed (docs/PROTOCOL.md, "Monitors").
    Subscribe {
        /// Stream the trace events (default `true`).
        #[serde(default = "yes", skip_serializing_if = "is_true")]
        trace: bool,
        /// Stream the live runs first (`runs`), then every run registered
        /// and removed (`register`, `remove`) (default `false`).
        #[serde(default, skip_serializing_if = "is_false")]
        runs: bool,
    },
    /// The registered workers.
    Workers {},
    /// Forward an operation to the registered worker at `path` and stream its
    /// answer back.
    Call {
        /// The worker.
        path: String,
        /// The operation's name, as the worker knows it.
        name: String,
        /// Its arguments (any JSON; `null` when absent).
        #[serde(default)]
        args: Value,
        /// How long to wait for the worker's final answer, in milliseconds:
        /// 1 to [`MAX_CALL_TIMEOUT_MS`].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_ms: Option<u64>,
    },
    /// Metrics in the Prometheus text exposition format.
    Metrics {},
    /// A worker registers with its run's `VIGIL_TOKEN`.
    Register {
        /// The run's token.
        token: String,
        /// The worker's path, if it wants it checked against the token's.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<String>,
    },
    /// A worker reports ready (the engine's `Ready` for its run).
    Ready {
        /// Needed unless this connection registered.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
    },
    /// A worker reports it is alive (the engine's `Heartbeat`).
    Heartbeat {
        /// Needed unless this connection registered.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
    },
    /// A worker publishes its state map (replacing the previous one), shown
    /// by `status` and `workers`.
    Publish {
        /// The state.
        state: Map<String, Value>,
        /// Needed unless this connection registered.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
    },
    /// A monitor (a worker of this tree, with its run's token) asks the
    /// engine to restart a run: the engine's `Input::Evict`, so restart
    /// intensity and backoff apply.
    Evict {
        /// The worker whose run is evicted.
        path: String,
        /// The run's generation (from its `register`): an eviction never
        /// reaches a later run of the same child.
        generation: u64,
        /// Why, in the monitor's words: the run's exit reads `evicted(<reason>)`.
        reason: String,
        /// The evicting worker's own token; needed unless this connection registered.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
    },
    /// A registered worker answers a forwarded call: any number of `item`s,
    /// then exactly one of `result` or `error`.
    Answer {
        /// The call's number, from the forwarded message.
        call: u64,
        /// A partial answer, streamed to the caller.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        item: Option<Value>,
        /// The final answer.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        result: Option<Value>,
        /// The final answer: a failure.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// Apply the config file's current version to the running tree, as
    /// SIGHUP does; the answer is the diff applied (docs/PROTOCOL.md).
    Reload {
        /// Only compute and answer the diff; apply nothing.
        #[serde(default, skip_serializing_if = "is_false")]
        dry_run: bool,
    },
    /// Add a child written as config (one `[[child]]` table, TOML) under
    /// a supervisor and start it.
    StartChild {
        /// The supervisor (`""`: the root).
        #[serde(default)]
        parent: String,
        /// The `[[child]]` table, as TOML text.
        snippet: String,
        /// The snippet's name in error messages (its file; default `snippet`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source: Option<String>,
    },
    /// A child's recent output (docs/PROTOCOL.md, "Logs"); with `follow`,
    /// then every new line as an item until the child is removed or the
    /// tree is down.
    Logs {
        /// The child.
        path: String,
        /// The newest lines to send first, at most (default 50).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lines: Option<usize>,
        /// Keep streaming new lines.
        #[serde(default, skip_serializing_if = "is_false")]
        follow: bool,
    },
    /// Start the tree again once it is down (a root give-up or a failed
    /// start), where the program that owns the server keeps it up
    /// ([`ControlServer::keep_serving`](super::ControlServer::keep_serving);
    /// `vigil run --keep-running`).
    StartTree {},
    /// Set the number of replicas of a template (`count` in the config):
    /// start the missing ones, stop and delete the highest indices first;
    /// carried out by the operator (docs/PROTOCOL.md, "Replicas").
    Scale {
        /// The template (`main/web`).
        path: String,
        /// The number of replicas wanted.
        count: u32,
    },
    /// LIFECYCLE: send a signal to a process child's program (its main
    /// process, or with `all` its whole process group).
    Signal {
        /// The child.
        path: String,
        /// The signal's name: `SIGHUP` or `HUP`.
        signal: String,
        /// To every process of the run's group, not only the main one.
        #[serde(default, skip_serializing_if = "is_false")]
        all: bool,
    },
    /// LIFECYCLE: send a process child's `reload_signal` to its main process.
    ReloadChild {
        /// The child.
        path: String,
    },
}

/// Every operation name, in the order of [`Op`].
pub const OPS: &[&str] = &[
    "status",
    "tree",
    "which_children",
    "count_children",
    "start",
    "stop",
    "restart",
    "delete",
    "restart_all",
    "shutdown",
    "subscribe",
    "workers",
    "call",
    "metrics",
    "register",
    "ready",
    "heartbeat",
    "publish",
    "evict",
    "answer",
    "reload",
    "start_child",
    "logs",
    "start_tree",
    "scale",
    "signal",
    "reload_child",
];

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Why a line is not a request. The id is kept when it could be read, so
/// the error reply can name the request.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{kind}")]
pub struct DecodeError {
    /// The request's id, if the line had a readable one.
    pub id: Option<WireId>,
    /// What is wrong.
    pub kind: DecodeErrorKind,
}

/// What is wrong with a request line.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum DecodeErrorKind {
    /// The line is longer than [`MAX_LINE`].
    #[error("the line is longer than {MAX_LINE} bytes")]
    LineTooLong,
    /// The connection ended in the middle of a line.
    #[error("the connection ended in the middle of a request (no newline)")]
    Incomplete,
    /// Not UTF-8.
    #[error("the line is not valid UTF-8 (at byte {valid_up_to})")]
    InvalidUtf8 {
        /// Bytes before the first invalid one.
        valid_up_to: usize,
    },
    /// Not JSON.
    #[error("the line is not JSON: {0}")]
    InvalidJson(String),
    /// An object names the same key twice.
    #[error("the key `{key}` appears twice in {}", if at.is_empty() { "the request".to_owned() } else { format!("`{at}`") })]
    DuplicateKey {
        /// The key (at most 64 characters of it).
        key: String,
        /// Where the object is in the request (`args.x`, `args[2]`), empty for
        /// the request itself (at most 64 characters of it).
        at: String,
    },
    /// JSON, but not an object.
    #[error("a request is a JSON object")]
    NotAnObject,
    /// `id` is neither a non-negative integer nor a string.
    #[error("`id` must be a non-negative integer or a string")]
    BadId,
    /// No `op` string.
    #[error("a request needs an `op` string")]
    MissingOp,
    /// An `op` this server does not know.
    #[error("unknown op `{0}`")]
    UnknownOp(String),
    /// A known op with a missing, unknown or wrongly typed field.
    #[error("bad `{op}` request: {message}")]
    BadArguments {
        /// The op.
        op: String,
        /// What serde said.
        message: String,
    },
}

impl DecodeErrorKind {
    /// The error code in replies.
    pub fn code(&self) -> &'static str {
        match self {
            DecodeErrorKind::LineTooLong => "line_too_long",
            DecodeErrorKind::Incomplete => "incomplete",
            DecodeErrorKind::InvalidUtf8 { .. } => "invalid_utf8",
            DecodeErrorKind::InvalidJson(_) => "invalid_json",
            DecodeErrorKind::DuplicateKey { .. } => "duplicate_key",
            DecodeErrorKind::NotAnObject | DecodeErrorKind::BadId | DecodeErrorKind::MissingOp => "bad_request",
            DecodeErrorKind::BadArguments { .. } => "bad_request",
            DecodeErrorKind::UnknownOp(_) => "unknown_op",
        }
    }
}

/// Decode one request line (without its newline; a trailing `\r` is
/// allowed). Pure: no I/O, no state, never panics.
///
/// ```
/// use vigil_tokio::control::protocol::{decode, DecodeErrorKind, Op, WireId};
///
/// let req = decode(br#"{"id": 7, "op": "restart", "path": "web/w1"}"#).unwrap();
/// assert_eq!(req.id, Some(WireId::Num(7)));
/// assert_eq!(req.op, Op::Restart { path: "web/w1".into() });
///
/// let err = decode(br#"{"id": 8, "op": "restart", "path": 3}"#).unwrap_err();
/// assert_eq!(err.id, Some(WireId::Num(8)));
/// assert_eq!(err.kind.code(), "bad_request");
/// assert_eq!(decode(b"\xff").unwrap_err().kind, DecodeErrorKind::InvalidUtf8 { valid_up_to: 0 });
/// ```
pub fn decode(line: &[u8]) -> Result<Envelope, DecodeError> {
    let bare = |kind| DecodeError { id: None, kind };
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let text = std::str::from_utf8(line).map_err(|e| {
        bare(DecodeErrorKind::InvalidUtf8 {
            valid_up_to: e.valid_up_to(),
        })
    })?;
    let value = match strict_json::parse(text) {
        Ok(v) => v,
        Err(StrictError::Syntax(e)) => return Err(bare(DecodeErrorKind::InvalidJson(e))),
        Err(StrictError::DuplicateKey { key, at }) => {
            return Err(DecodeError {
                id: lenient_id(text, &key, &at),
                kind: DecodeErrorKind::DuplicateKey {
                    key: truncate(&key, 64),
                    at: truncate(&at, 64),
                },
            })
        }
    };
    let Value::Object(mut object) = value else {
        return Err(bare(DecodeErrorKind::NotAnObject));
    };
    let id = match object.remove("id") {
        None | Some(Value::Null) => None,
        Some(v) => Some(serde_json::from_value::<WireId>(v).map_err(|_| bare(DecodeErrorKind::BadId))?),
    };
    let fail = |kind| DecodeError { id: id.clone(), kind };
    let op = match object.get("op") {
        Some(Value::String(op)) => op.clone(),
        _ => return Err(fail(DecodeErrorKind::MissingOp)),
    };
    if !OPS.contains(&op.as_str()) {
        return Err(fail(DecodeErrorKind::UnknownOp(truncate(&op, 64))));
    }
    match serde_json::from_value::<Op>(Value::Object(object)) {
        Ok(Op::Call {
            timeout_ms: Some(t), ..
        }) if t == 0 || t > MAX_CALL_TIMEOUT_MS => Err(fail(DecodeErrorKind::BadArguments {
            op,
            message: format!("`timeout_ms` must be from 1 to {MAX_CALL_TIMEOUT_MS} (1 hour), not {t}"),
        })),
        Ok(op) => Ok(Envelope { id, op }),
        Err(e) => Err(fail(DecodeErrorKind::BadArguments {
            op,
            message: e.to_string(),
        })),
    }
}

/// The id of a request refused for a duplicate key, when the id itself is
/// not the duplicate (the reply can then name the request).
fn lenient_id(text: &str, key: &str, at: &str) -> Option<WireId> {
    if key == "id" && at.is_empty() {
        return None;
    }
    let Ok(Value::Object(mut object)) = serde_json::from_str::<Value>(text) else {
        return None;
    };
    serde_json::from_value(object.remove("id")?).ok()
}

/// Encode a request as one line (with its newline), for clients.
pub fn encode(id: Option<&WireId>, op: &Op) -> Vec<u8> {
    let mut value = serde_json::to_value(op).unwrap_or(Value::Null);
    if let (Value::Object(map), Some(id)) = (&mut value, id) {
        map.insert("id".to_owned(), serde_json::to_value(id).unwrap_or(Value::Null));
    }
    let mut line = serde_json::to_vec(&value).unwrap_or_default();
    line.push(b'\n');
    line
}

/// At most `max` characters of `s` (an echoed unknown op stays short).
fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_op_round_trips() {
        let ops = [
            Op::Status {},
            Op::Tree {},
            Op::WhichChildren { path: "web".into() },
            Op::CountChildren { path: String::new() },
            Op::Start { path: "a".into() },
            Op::Stop { path: "a".into() },
            Op::Restart { path: "a".into() },
            Op::Delete { path: "a".into() },
            Op::RestartAll {
                path: "main/web".into(),
                rolling: true,
                surge: Some(2),
            },
            Op::Scale {
                path: "main/web".into(),
                count: 3,
            },
            Op::Shutdown {},
            Op::Subscribe {
                trace: false,
                runs: true,
            },
            Op::Workers {},
            Op::Call {
                path: "a".into(),
                name: "stats".into(),
                args: serde_json::json!({"x": 1}),
                timeout_ms: Some(5),
            },
            Op::Metrics {},
            Op::Register {
                token: "t".into(),
                path: None,
            },
            Op::Ready { token: None },
            Op::Heartbeat {
                token: Some("t".into()),
            },
            Op::Publish {
                state: Map::new(),
                token: None,
            },
            Op::Evict {
                path: "web/w1".into(),
                generation: 7,
                reason: "queue depth".into(),
                token: Some("t".into()),
            },
            Op::Answer {
                call: 3,
                item: None,
                result: Some(Value::Bool(true)),
                error: None,
            },
            Op::Reload { dry_run: true },
            Op::StartChild {
                parent: "web".into(),
                snippet: "name = \"w9\"\ncommand = [\"true\"]\n".into(),
                source: Some("w9.toml".into()),
            },
            Op::Logs {
                path: "web/w1".into(),
                lines: Some(10),
                follow: true,
            },
            Op::StartTree {},
            Op::Signal {
                path: "web/w1".into(),
                signal: "HUP".into(),
                all: true,
            },
            Op::ReloadChild { path: "web/w1".into() },
        ];
        assert_eq!(ops.len(), OPS.len());
        for (i, op) in ops.into_iter().enumerate() {
            let id = WireId::Num(i as u64);
            let line = encode(Some(&id), &op);
            assert_eq!(line.last(), Some(&b'\n'));
            let back = decode(&line[..line.len() - 1]).unwrap();
            assert_eq!(back, Envelope { id: Some(id), op });
        }
    }

    #[test]
    fn subscribe_streams_the_trace_and_not_the_runs_unless_asked() {
        let plain = Op::Subscribe {
            trace: true,
            runs: false,
        };
        assert_eq!(decode(br#"{"op":"subscribe"}"#).unwrap().op, plain);
        assert_eq!(encode(None, &plain), b"{\"op\":\"subscribe\"}\n", "as before");
        let runs = decode(br#"{"op":"subscribe","trace":false,"runs":true}"#).unwrap().op;
        assert_eq!(
            runs,
            Op::Subscribe {
                trace: false,
                runs: true
            }
        );
        let e = decode(br#"{"op":"evict","path":"w","generation":-1,"reason":"x"}"#).unwrap_err();
        assert_eq!(e.kind.code(), "bad_request");
        let e = decode(br#"{"op":"evict","path":"w","generation":1}"#).unwrap_err();
        assert!(e.to_string().contains("reason"), "{e}");
    }

    #[test]
    fn defaults_and_string_ids() {
        let r = decode(br#"{"op":"which_children","id":"a"}"#).unwrap();
        assert_eq!(r.id, Some(WireId::Text("a".into())));
        assert_eq!(r.op, Op::WhichChildren { path: String::new() });
        let r = decode(b"{\"op\":\"status\"}\r").unwrap();
        assert_eq!((r.id, r.op), (None, Op::Status {}));
    }

    #[test]
    fn errors_are_precise_and_keep_the_id() {
        let kind = |line: &[u8]| decode(line).unwrap_err().kind;
        assert!(matches!(kind(b"{"), DecodeErrorKind::InvalidJson(_)));
        assert_eq!(kind(b"[1]"), DecodeErrorKind::NotAnObject);
        assert_eq!(kind(br#"{"id":-1,"op":"status"}"#), DecodeErrorKind::BadId);
        assert_eq!(kind(br#"{"id":{},"op":"status"}"#), DecodeErrorKind::BadId);
        assert_eq!(kind(br#"{"op":5}"#), DecodeErrorKind::MissingOp);
        assert_eq!(kind(br#"{"op":"reboot"}"#), DecodeErrorKind::UnknownOp("reboot".into()));
        let e = decode(br#"{"id":1,"op":"status","extra":true}"#).unwrap_err();
        assert_eq!(e.id, Some(WireId::Num(1)));
        assert!(e.to_string().contains("extra"), "{e}");
        let e = decode(br#"{"id":2,"op":"restart_all","rolling":"yes"}"#).unwrap_err();
        assert_eq!(e.kind.code(), "bad_request");
        // `surge` is optional; negative or fractional is a bad request.
        let plain = decode(br#"{"op":"restart_all","rolling":true}"#).unwrap();
        assert!(matches!(plain.op, Op::RestartAll { surge: None, .. }), "{plain:?}");
        for bad in [
            &br#"{"op":"restart_all","surge":-1}"#[..],
            br#"{"op":"scale","path":"w","count":1.5}"#,
        ] {
            assert_eq!(decode(bad).unwrap_err().kind.code(), "bad_request");
        }
        let e = decode(br#"{"id":3,"op":"stop"}"#).unwrap_err();
        assert!(e.to_string().contains("path"), "{e}");
    }

    #[test]
    fn duplicate_keys_are_refused_with_the_request_id() {
        let e = decode(br#"{"id":4,"op":"status","op":"shutdown"}"#).unwrap_err();
        assert_eq!(e.id, Some(WireId::Num(4)));
        assert_eq!(e.kind.code(), "duplicate_key");
        assert_eq!(e.to_string(), "the key `op` appears twice in the request");
        let e = decode(br#"{"id":1,"id":2,"op":"status"}"#).unwrap_err();
        assert_eq!((e.id, e.kind.code()), (None, "duplicate_key"));
        let e = decode(br#"{"id":"c","op":"call","path":"w","name":"n","args":{"a":{"b":1,"b":2}}}"#).unwrap_err();
        assert_eq!(e.id, Some(WireId::Text("c".into())));
        assert_eq!(e.to_string(), "the key `b` appears twice in `args.a`");
    }

    #[test]
    fn call_timeouts_are_bounded() {
        let call = |t: u64| format!(r#"{{"op":"call","path":"w","name":"n","timeout_ms":{t}}}"#);
        assert!(decode(call(1).as_bytes()).is_ok());
        assert!(decode(call(MAX_CALL_TIMEOUT_MS).as_bytes()).is_ok());
        for t in [0, MAX_CALL_TIMEOUT_MS + 1, u64::MAX] {
            let e = decode(call(t).as_bytes()).unwrap_err();
            assert_eq!(e.kind.code(), "bad_request");
            assert!(e.to_string().contains("`timeout_ms` must be from 1 to 3600000"), "{e}");
        }
    }

    /// `VIGIL_PROPTEST_CASES` scales the cases (default 256), as for every property test.
    fn cases() -> u32 {
        std::env::var("VIGIL_PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(256)
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(cases()))]

        /// The decoder is total: arbitrary bytes give a request or an error, never a panic.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = decode(&bytes);
        }

        /// Arbitrary JSON-ish text with a known op never panics either.
        #[test]
        fn arbitrary_fields_never_panic(op in proptest::sample::select(OPS), key in "[a-z_]{1,8}", value in "[-0-9a-z\"{}\\[\\],:. ]{0,24}") {
            let line = format!(r#"{{"id":1,"op":"{op}","{key}":{value}}}"#);
            let _ = decode(line.as_bytes());
        }
    }
}
