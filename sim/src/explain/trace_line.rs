//! One line of a trace, read leniently: `t`, `ev`, `path`, `gen` and the
//! event's own keys; keys this version does not know are kept and ignored
//! (docs/TRACE.md, "Compatibility").

use serde_json::{Map, Value};

use super::error::ExplainError;

/// One event of a trace.
#[derive(Clone, Debug)]
pub(crate) struct TraceLine {
    /// 1-based line number in the file.
    pub line: usize,
    /// Nanoseconds since the engine's origin.
    pub t: u64,
    /// The event kind (`restart`, `exited`, ...; `meta` for the meta line).
    pub ev: String,
    /// The node's path, for events that name one.
    pub path: Option<String>,
    /// The run's generation, for events that name one.
    pub gen: Option<u64>,
    fields: Map<String, Value>,
}

impl TraceLine {
    /// The raw value of key `key`, if the line has it.
    pub fn field(&self, key: &str) -> Option<&Value> {
        self.fields.get(key)
    }

    /// Read line `line` (1-based) of a trace.
    pub fn parse(text: &str, line: usize) -> Result<TraceLine, ExplainError> {
        let value: Value = serde_json::from_str(text).map_err(|e| ExplainError::NotJson {
            line,
            message: e.to_string(),
        })?;
        let Value::Object(fields) = value else {
            return Err(ExplainError::NotAnEvent {
                line,
                why: "not a JSON object".to_owned(),
            });
        };
        let bad = |why: &str| ExplainError::NotAnEvent {
            line,
            why: why.to_owned(),
        };
        let t = fields.get("t").ok_or_else(|| bad("no `t`"))?;
        let t = t
            .as_u64()
            .ok_or_else(|| bad("`t` is not a whole number of nanoseconds"))?;
        let ev = fields
            .get("ev")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("no `ev` string"))?;
        let path = match fields.get("path") {
            None => None,
            Some(p) => Some(p.as_str().ok_or_else(|| bad("`path` is not a string"))?.to_owned()),
        };
        let gen = match fields.get("gen") {
            None => None,
            Some(g) => Some(g.as_u64().ok_or_else(|| bad("`gen` is not a whole number"))?),
        };
        Ok(TraceLine {
            line,
            t,
            ev: ev.to_owned(),
            path,
            gen,
            fields,
        })
    }

    /// A string key the event must have.
    pub fn need(&self, key: &str) -> Result<&str, ExplainError> {
        self.fields
            .get(key)
            .and_then(Value::as_str)
            .ok_or_else(|| ExplainError::NotAnEvent {
                line: self.line,
                why: format!("a `{}` line without a `{key}` string", self.ev),
            })
    }

    /// The node's path, which the event must have.
    pub fn need_path(&self) -> Result<&str, ExplainError> {
        self.path.as_deref().ok_or_else(|| ExplainError::NotAnEvent {
            line: self.line,
            why: format!("a `{}` line without a `path`", self.ev),
        })
    }

    /// A string key, if present.
    pub fn text(&self, key: &str) -> Option<&str> {
        self.fields.get(key).and_then(Value::as_str)
    }

    /// A whole-number key, if present.
    pub fn number(&self, key: &str) -> Option<u64> {
        self.fields.get(key).and_then(Value::as_u64)
    }

    /// Every string value of the line (the meta line's wall-clock origin is one of them).
    pub fn strings(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields
            .iter()
            .filter_map(|(k, v)| v.as_str().map(|s| (k.as_str(), s)))
    }
}
