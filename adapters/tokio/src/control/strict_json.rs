//! JSON text to a `serde_json::Value`, refusing an object that names the
//! same key twice, at any depth. `serde_json` keeps the last of duplicate
//! keys, so `{"op":"status","op":"shutdown"}` would be a shutdown: a
//! request that says two things is refused instead.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Why a text is not strict JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum StrictError {
    /// Not JSON at all (serde_json's message).
    Syntax(String),
    /// An object names `key` twice; `at` is where that object is (`args.x`,
    /// `args[2]`; empty for the request itself).
    DuplicateKey {
        /// The key.
        key: String,
        /// The object's place in the request.
        at: String,
    },
}

/// Marker in a serde error message that carries a [`StrictError::DuplicateKey`].
const MARK: &str = "\u{0}duplicate\u{0}";

/// Parse `text` as JSON, refusing duplicate keys.
pub(crate) fn parse(text: &str) -> Result<Value, StrictError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = Node { at: String::new() }.deserialize(&mut de).map_err(classify)?;
    de.end().map_err(classify)?;
    Ok(value)
}

fn classify(e: serde_json::Error) -> StrictError {
    let text = e.to_string();
    match text.strip_prefix(MARK).and_then(|rest| rest.split_once(MARK)) {
        Some((key, rest)) => {
            // serde_json appends " at line L column C" to custom errors.
            let at = rest.rsplit_once(" at line ").map_or(rest, |(at, _)| at);
            StrictError::DuplicateKey {
                key: key.to_owned(),
                at: at.to_owned(),
            }
        }
        None => StrictError::Syntax(text),
    }
}

/// A value at a place in the document (for the error's `at`).
struct Node {
    at: String,
}

impl<'de> DeserializeSeed<'de> for Node {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // JSON text has no NaN or infinity; serde_json's own Value does the same.
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(Node {
            at: format!("{}[{}]", self.at, out.len()),
        })? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format_args!("{MARK}{key}{MARK}{}", self.at)));
            }
            let at = if self.at.is_empty() {
                key.clone()
            } else {
                format!("{}.{key}", self.at)
            };
            let v = map.next_value_seed(Node { at })?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dup(text: &str) -> (String, String) {
        match parse(text) {
            Err(StrictError::DuplicateKey { key, at }) => (key, at),
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn duplicate_keys_are_refused_at_every_depth() {
        assert_eq!(dup(r#"{"op":"status","op":"shutdown"}"#), ("op".into(), String::new()));
        assert_eq!(
            dup(r#"{"args":{"a":1,"b":{"c":1,"c":2}}}"#),
            ("c".into(), "args.b".into())
        );
        assert_eq!(dup(r#"{"args":[0,{"x":1,"x":1}]}"#), ("x".into(), "args[1]".into()));
        // Escapes spell the same key.
        assert_eq!(dup(r#"{"op":1,"\u006fp":2}"#), ("op".into(), String::new()));
    }

    #[test]
    fn values_are_those_of_serde_json() {
        for text in [
            r#"{"a":[1,-2,3.5,1e300,"x",null,true,{}],"b":{"c":18446744073709551615}}"#,
            "0.1",
            "[]",
            r#""\ud83d\ude00""#,
        ] {
            let ours = parse(text).unwrap();
            let theirs: Value = serde_json::from_str(text).unwrap();
            assert_eq!(ours, theirs, "{text}");
        }
        assert!(matches!(parse("{"), Err(StrictError::Syntax(_))));
        assert!(matches!(parse("{} x"), Err(StrictError::Syntax(_))));
        assert!(matches!(parse(&"[".repeat(1000)), Err(StrictError::Syntax(_))));
    }
}
