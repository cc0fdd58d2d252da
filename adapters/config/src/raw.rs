//! The files as TOML gives them: serde structs with every value spanned, so
//! that each later check can point at its line. Unknown keys are rejected
//! here (`deny_unknown_fields`); the meaning of values is checked in
//! `tree.rs` and `script.rs`.
//!
//! Keep the fields of each struct equal to `Table::keys` in `toml_error.rs`.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use toml::Spanned;
use vigil_core::MAX_DEPTH;

/// A tree config file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTree {
    pub supervisor: Option<Spanned<RawSupervisor>>,
    pub control: Option<RawControl>,
    pub monitor: Option<RawMonitor>,
    #[serde(default)]
    pub child: ChildList,
}

/// The children of a supervisor (`[[child]]`, `[[child.child]]`...), at most
/// [`MAX_DEPTH`] levels deep.
///
/// The limit is enforced while deserializing, before the nesting can exhaust
/// the stack: each level of derived deserialization takes tens of kilobytes of
/// stack in debug builds, and TOML's own recursion limit is far above
/// `MAX_DEPTH`. Deeper trees are invalid anyway.
#[derive(Default)]
pub(crate) struct ChildList(pub Vec<Spanned<RawChild>>);

/// The message of the error for a tree nested too deeply.
pub(crate) fn too_deep_message() -> String {
    format!("the tree is nested deeper than {MAX_DEPTH} levels")
}

thread_local! {
    /// How many `ChildList`s are being deserialized on this thread, nested.
    static CHILD_DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// Counts one level of `ChildList` nesting while alive.
struct DepthGuard;

impl DepthGuard {
    fn enter() -> Option<DepthGuard> {
        let depth = CHILD_DEPTH.with(Cell::get) + 1;
        if depth > MAX_DEPTH {
            return None;
        }
        CHILD_DEPTH.with(|d| d.set(depth));
        Some(DepthGuard)
    }
}

impl Drop for DepthGuard {
    fn drop(&mut self) {
        CHILD_DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

impl<'de> Deserialize<'de> for ChildList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match DepthGuard::enter() {
            Some(_guard) => Vec::deserialize(d).map(ChildList),
            // One level too deep: only an empty list is fine; the first
            // element is refused before anything in it is deserialized.
            None => d.deserialize_seq(EmptyOnly).map(|()| ChildList::default()),
        }
    }
}

struct EmptyOnly;

impl<'de> Visitor<'de> for EmptyOnly {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no children (the tree is as deep as it may be)")
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        match seq.next_element::<TooDeep>()? {
            None => Ok(()),
            Some(_) => Err(de::Error::custom(too_deep_message())),
        }
    }
}

/// Refuses any value without looking into it.
struct TooDeep;

impl<'de> Deserialize<'de> for TooDeep {
    fn deserialize<D: Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(de::Error::custom(too_deep_message()))
    }
}

/// `[supervisor]`, or a child's `supervisor = { .. }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSupervisor {
    pub strategy: Option<Spanned<String>>,
    pub intensity: Option<Spanned<u32>>,
    pub period: Option<Spanned<DurationText>>,
    pub auto_shutdown: Option<Spanned<String>>,
    pub lifespan: Option<Spanned<String>>,
}

/// `[control]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawControl {
    pub socket: Option<Spanned<PathBuf>>,
}

/// `[monitor]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMonitor {
    pub interval: Option<Spanned<DurationText>>,
    pub memory_limit: Option<Spanned<SizeValue>>,
    pub leak_growth: Option<Spanned<SizeValue>>,
    pub leak_count: Option<Spanned<u32>>,
}

/// `[[child]]` (and `[[child.child]]`...).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawChild {
    pub name: Option<Spanned<String>>,
    pub command: Option<Spanned<Vec<String>>>,
    pub supervisor: Option<Spanned<Box<RawSupervisor>>>,
    #[serde(default)]
    pub child: ChildList,
    pub env: Option<Spanned<BTreeMap<String, String>>>,
    pub cwd: Option<Spanned<PathBuf>>,
    pub restart: Option<Spanned<String>>,
    pub shutdown: Option<Spanned<DurationText>>,
    pub significant: Option<Spanned<bool>>,
    pub readiness: Option<Spanned<String>>,
    pub startup_timeout: Option<Spanned<DurationText>>,
    pub health_timeout: Option<Spanned<DurationText>>,
    pub backoff: Option<Spanned<Box<RawBackoff>>>,
    pub memory_limit: Option<Spanned<SizeValue>>,
    pub sim: Option<Spanned<Box<RawSim>>>,
}

/// A child's `backoff = { .. }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBackoff {
    pub initial: Option<Spanned<DurationText>>,
    pub max: Option<Spanned<DurationText>>,
    pub multiplier: Option<Spanned<f64>>,
    pub jitter: Option<Spanned<f64>>,
    pub reset_after: Option<Spanned<DurationText>>,
}

/// A worker's `sim = { .. }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSim {
    pub lifetime: Option<Spanned<DurationText>>,
    pub exit: Option<Spanned<String>>,
    pub start_fail: Option<Spanned<f64>>,
    pub start_latency: Option<Spanned<DurationText>>,
    pub ready_latency: Option<Spanned<DurationText>>,
    pub stop_latency: Option<Spanned<DurationText>>,
    pub ignore_stop: Option<Spanned<f64>>,
}

/// A scenario script file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawScript {
    #[serde(default)]
    pub at: Vec<Spanned<RawAt>>,
}

/// One `[[at]]` entry.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAt {
    pub time: Option<Spanned<DurationText>>,
    pub exit: Option<Spanned<String>>,
    pub reason: Option<Spanned<String>>,
    pub fail_starts: Option<Spanned<String>>,
    pub count: Option<Spanned<u32>>,
    pub hang_on_stop: Option<Spanned<String>>,
    pub request: Option<Spanned<String>>,
    pub path: Option<Spanned<String>>,
    pub name: Option<Spanned<String>>,
    pub rolling: Option<Spanned<bool>>,
}

/// A string holding a duration (or `brutal`, a lifetime...). A bare number is
/// refused here with a hint about units, rather than with serde's "invalid type".
pub(crate) struct DurationText(pub String);

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = DurationText;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string with a unit, like \"5s\"")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<DurationText, E> {
                Ok(DurationText(v.to_owned()))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<DurationText, E> {
                Err(E::custom(format!(
                    "a duration is a string with a unit: write \"{v}s\" or \"{v}ms\", not {v}"
                )))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<DurationText, E> {
                Err(E::custom(format!(
                    "a duration is a string with a unit: write \"{v}s\" or \"{v}ms\", not {v}"
                )))
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<DurationText, E> {
                Err(E::custom(format!(
                    "a duration is a string with a unit: write \"{v}s\", not {v}"
                )))
            }
        }
        d.deserialize_any(V)
    }
}

/// A byte size: a string (`"512MiB"`) or a plain integer of bytes.
pub(crate) enum SizeValue {
    Text(String),
    Bytes(i64),
}

impl<'de> Deserialize<'de> for SizeValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = SizeValue;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size like \"512MiB\", or a number of bytes")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<SizeValue, E> {
                Ok(SizeValue::Text(v.to_owned()))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<SizeValue, E> {
                Ok(SizeValue::Bytes(v))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<SizeValue, E> {
                i64::try_from(v)
                    .map(SizeValue::Bytes)
                    .map_err(|_| E::custom(format!("{v} bytes is too large")))
            }
        }
        d.deserialize_any(V)
    }
}
