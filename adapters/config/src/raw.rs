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
#[serde(
    deny_unknown_fields,
    expecting = "a tree config: tables [supervisor], [control], [monitor], [http], [run], [log] and [[child]]"
)]
pub(crate) struct RawTree {
    pub supervisor: Option<Spanned<RawSupervisor>>,
    pub control: Option<RawControl>,
    pub monitor: Option<RawMonitor>,
    #[serde(default)]
    pub child: ChildList,
    pub http: Option<RawHttp>,
    pub run: Option<RawRun>,
    // LOGS: the tree's log files, which every worker inherits.
    pub log: Option<Spanned<crate::log::RawLog>>,
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
            Some(_guard) => d.deserialize_seq(Children),
            // One level too deep: only an empty list is fine; the first
            // element is refused before anything in it is deserialized.
            None => d.deserialize_seq(EmptyOnly).map(|()| ChildList::default()),
        }
    }
}

/// A list of children, with its own words in errors (serde's would be "a sequence").
struct Children;

impl<'de> Visitor<'de> for Children {
    type Value = ChildList;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("children: [[child]] tables, or a list of { name = .., command = .. } tables")
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<ChildList, A::Error> {
        let mut children = Vec::new();
        while let Some(child) = seq.next_element()? {
            children.push(child);
        }
        Ok(ChildList(children))
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
#[serde(
    deny_unknown_fields,
    expecting = "a table of supervisor settings, like { strategy = \"one_for_all\", intensity = 3 }"
)]
pub(crate) struct RawSupervisor {
    pub strategy: Option<Spanned<String>>,
    pub intensity: Option<Spanned<Count>>,
    pub period: Option<Spanned<DurationText>>,
    pub auto_shutdown: Option<Spanned<String>>,
    pub lifespan: Option<Spanned<String>>,
    pub shutdown_order: Option<Spanned<String>>,
}

/// `[control]`.
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table like [control] socket = \"/run/vigil/web.sock\""
)]
pub(crate) struct RawControl {
    pub socket: Option<Spanned<PathBuf>>,
    pub logs_lines: Option<Spanned<Count>>,
    pub logs_bytes: Option<Spanned<SizeValue>>,
    // ACCESS: the group whose members may reach the control socket.
    pub group: Option<Spanned<toml::Value>>,
}

/// `[http]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table like [http] listen = \"127.0.0.1:9100\"")]
pub(crate) struct RawHttp {
    pub listen: Option<Spanned<String>>,
}

/// `[run]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table like [run] keep_running = true")]
pub(crate) struct RawRun {
    pub keep_running: Option<Spanned<bool>>,
}

/// `[monitor]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table like [monitor] interval = \"5s\"")]
pub(crate) struct RawMonitor {
    pub interval: Option<Spanned<DurationText>>,
    pub memory_limit: Option<Spanned<SizeValue>>,
    pub leak_growth: Option<Spanned<SizeValue>>,
    pub leak_count: Option<Spanned<Count>>,
}

/// `[[child]]` (and `[[child.child]]`...).
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a child: a table with `name` and `command` (or `supervisor`), like [[child]]"
)]
pub(crate) struct RawChild {
    pub name: Option<Spanned<String>>,
    pub command: Option<Spanned<Argv>>,
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
    // PROBES: the health probe (src/health_probe.rs).
    pub health: Option<Spanned<Box<crate::health_probe::RawHealth>>>,
    // REPLICAS: run this worker as `count` replicas (replicas.rs).
    pub count: Option<Spanned<Count>>,
    // IDENTITY: checked in identity.rs.
    pub user: Option<Spanned<toml::Value>>,
    pub group: Option<Spanned<toml::Value>>,
    pub umask: Option<Spanned<toml::Value>>,
    pub limits: Option<Spanned<BTreeMap<String, Spanned<toml::Value>>>>,
    pub cgroup: Option<Spanned<BTreeMap<String, Spanned<toml::Value>>>>,
    pub environment_file: Option<Spanned<toml::Value>>,
    pub clear_env: Option<Spanned<bool>>,
    // LOGS: this worker's log files, over the tree's `[log]`.
    pub log: Option<Spanned<crate::log::RawLog>>,
    // LIFECYCLE: signals and exit codes (lifecycle.rs).
    pub stop_signal: Option<Spanned<String>>,
    pub reload_signal: Option<Spanned<String>>,
    pub success_exit_codes: Option<Spanned<Vec<Spanned<i64>>>>,
    pub restart_prevent_exit_codes: Option<Spanned<Vec<Spanned<i64>>>>,
    pub autostart: Option<Spanned<bool>>,
    pub start_delay: Option<Spanned<DurationText>>,
}

/// A child's `backoff = { .. }`.
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table like { initial = \"100ms\", max = \"30s\", multiplier = 2.0 }"
)]
pub(crate) struct RawBackoff {
    pub initial: Option<Spanned<DurationText>>,
    pub max: Option<Spanned<DurationText>>,
    pub multiplier: Option<Spanned<Number>>,
    pub jitter: Option<Spanned<Number>>,
    pub reset_after: Option<Spanned<DurationText>>,
}

/// A worker's `sim = { .. }`.
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table of simulated behaviour, like { lifetime = \"exp(10m)\" }"
)]
pub(crate) struct RawSim {
    pub lifetime: Option<Spanned<DurationText>>,
    pub exit: Option<Spanned<String>>,
    pub start_fail: Option<Spanned<Number>>,
    pub start_latency: Option<Spanned<DurationText>>,
    pub ready_latency: Option<Spanned<DurationText>>,
    pub stop_latency: Option<Spanned<DurationText>>,
    pub ignore_stop: Option<Spanned<Number>>,
}

/// A scenario script file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a scenario script: [[at]] entries")]
pub(crate) struct RawScript {
    #[serde(default)]
    pub at: Vec<Spanned<RawAt>>,
}

/// One `[[at]]` entry.
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a script entry: a table with `time` and one action, like [[at]]"
)]
pub(crate) struct RawAt {
    pub time: Option<Spanned<DurationText>>,
    pub exit: Option<Spanned<String>>,
    pub reason: Option<Spanned<String>>,
    pub fail_starts: Option<Spanned<String>>,
    pub count: Option<Spanned<Count>>,
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
                if v < 0 {
                    return Err(E::custom(format!(
                        "a duration is a string with a unit, like \"5s\", and cannot be negative ({v})"
                    )));
                }
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
                if !v.is_finite() || v < 0.0 {
                    // `inf`, `nan` or a negative number: no unit makes it a duration.
                    return Err(E::custom(format!(
                        "a duration is a string with a unit, like \"5s\"; {v} is not a duration"
                    )));
                }
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

/// A whole number from 0 to `u32::MAX` (`intensity`, `leak_count`, `count`),
/// with messages in the config's own terms rather than Rust's (`u32`).
pub(crate) struct Count(pub u32);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Count;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a whole number from 0 to {}", u32::MAX)
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Count, E> {
                u32::try_from(v)
                    .map(Count)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Count, E> {
                u32::try_from(v)
                    .map(Count)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }
        }
        d.deserialize_any(V)
    }
}

/// A number, integer or decimal (`multiplier`, `jitter`, probabilities); its
/// range is checked where it is used.
pub(crate) struct Number(pub f64);

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Number;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number, like 2 or 0.5")
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Number, E> {
                Ok(Number(v))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Number, E> {
                Ok(Number(v as f64))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Number, E> {
                Ok(Number(v as f64))
            }
        }
        d.deserialize_any(V)
    }
}

/// A command: the program and its arguments, as a list of strings. A single
/// string is refused with the form to write instead.
pub(crate) struct Argv(pub Vec<String>);

impl<'de> Deserialize<'de> for Argv {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Argv;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a list of strings: the program and its arguments, like [\"./server\", \"--port\", \"8080\"]",
                )
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Argv, E> {
                Err(E::custom(format!(
                    "a command is a list of strings, never run through a shell: write [{}] \
                     (or split the arguments: [\"prog\", \"arg\"])",
                    toml_string(v)
                )))
            }

            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Argv, A::Error> {
                let mut argv = Vec::new();
                while let Some(arg) = seq.next_element::<String>()? {
                    argv.push(arg);
                }
                Ok(Argv(argv))
            }
        }
        d.deserialize_any(V)
    }
}

/// `v` as a TOML basic string.
fn toml_string(v: &str) -> String {
    let mut out = String::from("\"");
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
