//! A worker's identity keys (docs/CONFIG.md, "identity, limits and
//! environment" and "cgroup"): `user`, `group`, `umask`, `limits`,
//! `cgroup`, `environment_file` and `clear_env`, checked here for their
//! syntax and ranges. Whether a user exists, an environment file parses or
//! the host can give a cgroup is checked against the host by `vigil check`
//! and at each start (vigil-tokio's `identity` module), never here: the
//! same config is simulated on any machine.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;

use toml::Spanned;

use crate::byte_size::parse_byte_size;
use crate::error::{ConfigError, ConfigErrorKind};
use crate::position::{line_col, Doc};
use crate::raw::RawChild;

/// A limit's soft and hard values (`None`: unlimited).
pub type LimitPair = (Option<u64>, Option<u64>);

/// The identity keys of one worker; the default (no key) changes nothing.
#[derive(Clone, Debug, Default)]
pub struct IdentityConfig {
    /// `user`: a name or a numeric id.
    pub user: Option<AccountConfig>,
    /// `group`: a name or a numeric id (default: the user's primary group).
    pub group: Option<AccountConfig>,
    /// `umask`, 0 to 0o777.
    pub umask: Option<u32>,
    /// `limits`: by name (`nofile`), soft and hard (`None`: unlimited).
    pub limits: BTreeMap<String, LimitPair>,
    /// `cgroup`.
    pub cgroup: Option<CgroupConfig>,
    /// `environment_file`: paths, and whether each is optional (`-path`).
    pub environment_files: Vec<(PathBuf, bool)>,
    /// `clear_env`.
    pub clear_env: bool,
    /// Where each key is (line, column), for the host checks' messages;
    /// not part of the settings (ignored by `==`).
    pub positions: BTreeMap<&'static str, (usize, usize)>,
}

impl PartialEq for IdentityConfig {
    fn eq(&self, other: &Self) -> bool {
        (
            &self.user,
            &self.group,
            self.umask,
            &self.limits,
            &self.cgroup,
            &self.environment_files,
            self.clear_env,
        ) == (
            &other.user,
            &other.group,
            other.umask,
            &other.limits,
            &other.cgroup,
            &other.environment_files,
            other.clear_env,
        )
    }
}

/// A user or a group as written: a name, or a numeric id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccountConfig {
    /// A name.
    Name(String),
    /// A numeric id.
    Id(u32),
}

/// `cgroup = { memory_max, cpu_max, pids_max, required }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupConfig {
    /// `memory_max`, in bytes.
    pub memory_max: Option<u64>,
    /// `cpu_max`, in percent of one CPU.
    pub cpu_max: Option<u32>,
    /// `pids_max`.
    pub pids_max: Option<u64>,
    /// `required` (default true).
    pub required: bool,
}

/// The limit names `limits` accepts, and whether each counts bytes.
pub const LIMIT_NAMES: [(&str, bool); 5] = [
    ("core", true),
    ("memlock", true),
    ("nofile", false),
    ("nproc", false),
    ("stack", true),
];

/// The identity keys a supervisor child must not have: the first found.
pub(crate) fn worker_only_key(c: &RawChild) -> Option<(&'static str, Range<usize>)> {
    [
        ("user", c.user.as_ref().map(Spanned::span)),
        ("group", c.group.as_ref().map(Spanned::span)),
        ("umask", c.umask.as_ref().map(Spanned::span)),
        ("limits", c.limits.as_ref().map(Spanned::span)),
        ("cgroup", c.cgroup.as_ref().map(Spanned::span)),
        ("environment_file", c.environment_file.as_ref().map(Spanned::span)),
        ("clear_env", c.clear_env.as_ref().map(Spanned::span)),
    ]
    .into_iter()
    .find_map(|(key, span)| span.map(|s| (key, s)))
}

/// The identity keys of the worker `c`, checked.
pub(crate) fn parse(doc: Doc<'_>, c: &RawChild) -> Result<IdentityConfig, ConfigError> {
    let mut id = IdentityConfig::default();
    let mut at = |key: &'static str, span: Range<usize>| {
        id.positions.insert(key, line_col(doc.text, span.start));
    };
    let (mut user, mut group, mut umask, mut limits, mut cgroup, mut files) = (None, None, None, None, None, None);
    if let Some(v) = &c.user {
        at("user", v.span());
        user = Some(account(doc, v, "user")?);
    }
    if let Some(v) = &c.group {
        at("group", v.span());
        group = Some(account(doc, v, "group")?);
    }
    if let Some(v) = &c.umask {
        at("umask", v.span());
        umask = Some(parse_umask(doc, v)?);
    }
    if let Some(v) = &c.limits {
        at("limits", v.span());
        limits = Some(parse_limits(doc, v)?);
    }
    if let Some(v) = &c.cgroup {
        at("cgroup", v.span());
        cgroup = Some(parse_cgroup(doc, v)?);
    }
    if let Some(v) = &c.environment_file {
        at("environment_file", v.span());
        files = Some(parse_files(doc, v)?);
    }
    id.user = user;
    id.group = group;
    id.umask = umask;
    id.limits = limits.unwrap_or_default();
    id.cgroup = cgroup;
    id.environment_files = files.unwrap_or_default();
    id.clear_env = c.clear_env.as_ref().is_some_and(|v| *v.get_ref());
    Ok(id)
}

pub(crate) fn account(doc: Doc<'_>, v: &Spanned<toml::Value>, key: &'static str) -> Result<AccountConfig, ConfigError> {
    let bad = |m: String| doc.bad_value(&v.span(), key, m);
    match v.get_ref() {
        toml::Value::String(name) if name.is_empty() => Err(bad(format!("the {key} name is empty"))),
        toml::Value::String(name) if name.contains(['\0', ':', '\n', '/']) => {
            Err(bad(format!("{name:?} is not a {key} name")))
        }
        toml::Value::String(name) => Ok(match name.parse::<u32>() {
            Ok(id) => AccountConfig::Id(id),
            Err(_) => AccountConfig::Name(name.clone()),
        }),
        toml::Value::Integer(n) => u32::try_from(*n)
            .ok()
            .filter(|id| *id != u32::MAX)
            .map(AccountConfig::Id)
            .ok_or_else(|| bad(format!("a {key} id is from 0 to {}, not {n}", u32::MAX - 1))),
        other => Err(bad(format!(
            "a {key} is a name or a numeric id, not {}",
            other.type_str()
        ))),
    }
}

fn parse_umask(doc: Doc<'_>, v: &Spanned<toml::Value>) -> Result<u32, ConfigError> {
    let bad = |m: String| doc.bad_value(&v.span(), "umask", m);
    let mask = match v.get_ref() {
        toml::Value::String(text) => {
            let digits = text.strip_prefix("0o").unwrap_or(text);
            if digits.is_empty() || !digits.chars().all(|c| ('0'..='7').contains(&c)) {
                return Err(bad(format!("{text:?} is not an octal mask like \"022\"")));
            }
            u32::from_str_radix(digits, 8).unwrap_or(u32::MAX)
        }
        toml::Value::Integer(n) => u32::try_from(*n).unwrap_or(u32::MAX),
        other => {
            return Err(bad(format!(
                "a umask is an octal string like \"022\" or a TOML octal integer like 0o022, not {}",
                other.type_str()
            )))
        }
    };
    if mask > 0o777 {
        return Err(bad("a umask is from 000 to 777 (octal)".to_owned()));
    }
    Ok(mask)
}

/// `limits = { nofile = 4096, core = "1GiB", stack = { soft = "8MiB", hard = "unlimited" } }`.
fn parse_limits(
    doc: Doc<'_>,
    v: &Spanned<BTreeMap<String, Spanned<toml::Value>>>,
) -> Result<BTreeMap<String, LimitPair>, ConfigError> {
    let mut out = BTreeMap::new();
    for (name, value) in v.get_ref() {
        let Some((_, bytes)) = LIMIT_NAMES.iter().find(|(n, _)| n == name) else {
            let names: Vec<&str> = LIMIT_NAMES.iter().map(|(n, _)| *n).collect();
            return Err(doc.error(
                &value.span(),
                Some(name),
                ConfigErrorKind::UnknownKey {
                    key: name.clone(),
                    table: "`limits`".to_owned(),
                    suggestion: None,
                    expected: names.into_iter().map(str::to_owned).collect(),
                },
            ));
        };
        let bad = |m: String| doc.bad_value(&value.span(), "limits", format!("`{name}`: {m}"));
        let one = |v: &toml::Value| limit_value(v, *bytes).map_err(bad);
        let pair = match value.get_ref() {
            toml::Value::Table(t) => {
                if let Some(k) = t.keys().find(|k| *k != "soft" && *k != "hard") {
                    return Err(bad(format!(
                        "unknown key `{k}`: a limit is a value or {{ soft, hard }}"
                    )));
                }
                let get = |k: &str| t.get(k).ok_or_else(|| bad(format!("missing `{k}`")));
                let (soft, hard) = (one(get("soft")?)?, one(get("hard")?)?);
                if soft.unwrap_or(u64::MAX) > hard.unwrap_or(u64::MAX) {
                    return Err(bad("the soft limit is above the hard limit".to_owned()));
                }
                (soft, hard)
            }
            other => {
                let value = one(other)?;
                (value, value)
            }
        };
        out.insert(name.clone(), pair);
    }
    Ok(out)
}

/// One limit value: a count, a byte size (`bytes`), or unlimited (`None`).
fn limit_value(v: &toml::Value, bytes: bool) -> Result<Option<u64>, String> {
    match v {
        toml::Value::String(s) if s == "unlimited" || s == "infinity" => Ok(None),
        toml::Value::String(s) if bytes => parse_byte_size(s).map(Some).map_err(|e| e.message().to_owned()),
        toml::Value::Integer(n) => u64::try_from(*n)
            .ok()
            .filter(|n| *n != u64::MAX)
            .map(Some)
            .ok_or_else(|| format!("{n} is not a limit (0 or more)")),
        toml::Value::String(s) => Err(format!("{s:?} is not a count (a whole number, or \"unlimited\")")),
        other => Err(format!("expected a number or \"unlimited\", not {}", other.type_str())),
    }
}

/// `cgroup = { memory_max = "256MiB", cpu_max = "50%", pids_max = 100, required = true }`.
fn parse_cgroup(
    doc: Doc<'_>,
    v: &Spanned<BTreeMap<String, Spanned<toml::Value>>>,
) -> Result<CgroupConfig, ConfigError> {
    let mut cg = CgroupConfig {
        memory_max: None,
        cpu_max: None,
        pids_max: None,
        required: true,
    };
    const KEYS: [&str; 4] = ["memory_max", "cpu_max", "pids_max", "required"];
    for (key, value) in v.get_ref() {
        let bad = |m: String| doc.bad_value(&value.span(), "cgroup", format!("`{key}`: {m}"));
        match (key.as_str(), value.get_ref()) {
            ("memory_max", toml::Value::String(s)) => {
                cg.memory_max = Some(parse_byte_size(s).map_err(|e| bad(e.message().to_owned()))?)
            }
            ("memory_max", toml::Value::Integer(n)) => {
                cg.memory_max = Some(u64::try_from(*n).map_err(|_| bad("a size cannot be negative".to_owned()))?)
            }
            ("cpu_max", toml::Value::String(s)) => cg.cpu_max = Some(percent(s).map_err(bad)?),
            ("pids_max", toml::Value::Integer(n)) => {
                cg.pids_max = Some(
                    u64::try_from(*n)
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| bad(format!("the count must be at least 1, not {n}")))?,
                )
            }
            ("required", toml::Value::Boolean(b)) => cg.required = *b,
            (k, other) if KEYS.contains(&k) => {
                let want = match k {
                    "memory_max" => "a size like \"256MiB\"",
                    "cpu_max" => "a percentage of one CPU like \"50%\" (\"200%\": two CPUs)",
                    "pids_max" => "a whole number",
                    _ => "true or false",
                };
                return Err(bad(format!("expected {want}, not {}", other.type_str())));
            }
            _ => {
                return Err(doc.error(
                    &value.span(),
                    Some(key),
                    ConfigErrorKind::UnknownKey {
                        key: key.clone(),
                        table: "`cgroup`".to_owned(),
                        suggestion: None,
                        expected: KEYS.iter().map(|k| (*k).to_owned()).collect(),
                    },
                ))
            }
        }
    }
    if cg.memory_max == Some(0) {
        return Err(doc.bad_value(&v.span(), "cgroup", "`memory_max` must be greater than zero"));
    }
    Ok(cg)
}

/// `"50%"`: 1 to 100,000 percent of one CPU.
fn percent(text: &str) -> Result<u32, String> {
    let digits = text
        .strip_suffix('%')
        .ok_or_else(|| format!("{text:?} is not a percentage like \"50%\""))?;
    match digits.trim().parse::<u32>() {
        Ok(p) if (1..=100_000).contains(&p) => Ok(p),
        _ => Err(format!(
            "{text:?}: a percentage of one CPU from \"1%\" to \"100000%\" (\"150%\": one and a half CPUs)"
        )),
    }
}

fn parse_files(doc: Doc<'_>, v: &Spanned<toml::Value>) -> Result<Vec<(PathBuf, bool)>, ConfigError> {
    let bad = |m: &str| doc.bad_value(&v.span(), "environment_file", m);
    let texts: Vec<&str> = match v.get_ref() {
        toml::Value::String(s) => vec![s.as_str()],
        toml::Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().ok_or_else(|| bad("a list of paths holds only strings")))
            .collect::<Result<_, _>>()?,
        _ => return Err(bad("a path, or a list of paths (\"-path\": optional)")),
    };
    texts
        .into_iter()
        .map(|t| {
            let (path, optional) = match t.strip_prefix('-') {
                Some(p) => (p, true),
                None => (t, false),
            };
            if path.is_empty() || path.contains('\0') {
                return Err(bad("a path is empty or contains a NUL character"));
            }
            Ok((PathBuf::from(path), optional))
        })
        .collect()
}

/// The identity keys as `vigil check` prints them after a worker's other
/// attributes (` user=www umask=027 limit:nofile=4096 ...`); nothing when
/// none is set.
pub(crate) fn render(out: &mut String, id: &IdentityConfig) {
    use std::fmt::Write as _;
    let account = |a: &AccountConfig| match a {
        AccountConfig::Name(name) => crate::render::quote(name),
        AccountConfig::Id(n) => n.to_string(),
    };
    if let Some(u) = &id.user {
        let _ = write!(out, " user={}", account(u));
    }
    if let Some(g) = &id.group {
        let _ = write!(out, " group={}", account(g));
    }
    if let Some(mask) = id.umask {
        let _ = write!(out, " umask={mask:03o}");
    }
    let value = |v: Option<u64>| v.map_or_else(|| "unlimited".to_owned(), |n| n.to_string());
    for (name, (soft, hard)) in &id.limits {
        if soft == hard {
            let _ = write!(out, " limit:{name}={}", value(*soft));
        } else {
            let _ = write!(out, " limit:{name}={}/{}", value(*soft), value(*hard));
        }
    }
    if let Some(cg) = &id.cgroup {
        if let Some(bytes) = cg.memory_max {
            let _ = write!(out, " cgroup:memory_max={}", crate::byte_size::format_byte_size(bytes));
        }
        if let Some(p) = cg.cpu_max {
            let _ = write!(out, " cgroup:cpu_max={p}%");
        }
        if let Some(n) = cg.pids_max {
            let _ = write!(out, " cgroup:pids_max={n}");
        }
        if !cg.required {
            out.push_str(" cgroup:required=false");
        }
    }
    for (path, optional) in &id.environment_files {
        let dash = if *optional { "-" } else { "" };
        let _ = write!(
            out,
            " environment_file={}",
            crate::render::quote(&format!("{dash}{}", path.display()))
        );
    }
    if id.clear_env {
        out.push_str(" clear_env");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_tree;

    fn worker(keys: &str) -> Result<IdentityConfig, String> {
        let text = format!("[[child]]\nname = \"w\"\ncommand = [\"x\"]\n{keys}\n");
        parse_tree(&text, "t.toml")
            .map(|c| c.workers[0].identity.clone())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn every_key_parses() {
        let id = worker(
            "user = \"www\"\ngroup = 33\numask = \"0o027\"\n\
             limits = { nofile = 4096, core = \"unlimited\", stack = { soft = \"8MiB\", hard = \"infinity\" } }\n\
             cgroup = { memory_max = \"256MiB\", cpu_max = \"150%\", pids_max = 100, required = false }\n\
             environment_file = [\"a.env\", \"-b.env\"]\nclear_env = true",
        )
        .unwrap();
        assert_eq!(id.user, Some(AccountConfig::Name("www".into())));
        assert_eq!(id.group, Some(AccountConfig::Id(33)));
        assert_eq!(id.umask, Some(0o027));
        assert_eq!(id.limits["nofile"], (Some(4096), Some(4096)));
        assert_eq!(id.limits["core"], (None, None));
        assert_eq!(id.limits["stack"], (Some(8 << 20), None));
        let cg = id.cgroup.as_ref().unwrap();
        assert_eq!(
            (cg.memory_max, cg.cpu_max, cg.pids_max, cg.required),
            (Some(256 << 20), Some(150), Some(100), false)
        );
        assert_eq!(id.environment_files, [("a.env".into(), false), ("b.env".into(), true)]);
        assert!(id.clear_env);
        assert_eq!(id.positions["user"], (4, 8));
        assert_eq!(worker("umask = 0o022").unwrap().umask, Some(0o022));
        assert_eq!(worker("user = \"1000\"").unwrap().user, Some(AccountConfig::Id(1000)));
        assert_eq!(worker("").unwrap(), IdentityConfig::default());
        assert!(
            worker("cgroup = {}").unwrap().cgroup.unwrap().required,
            "required by default"
        );
    }

    #[test]
    fn vigil_check_shows_them() {
        let text = "[[child]]\nname = \"w\"\ncommand = [\"x\"]\nuser = \"www\"\ngroup = 33\numask = \"027\"\n\
                    limits = { nofile = 4096, stack = { soft = 10, hard = \"unlimited\" } }\n\
                    cgroup = { memory_max = \"256MiB\", cpu_max = \"50%\", required = false }\n\
                    environment_file = \"-a.env\"\nclear_env = true\n";
        let rendered = parse_tree(text, "t.toml").unwrap().render();
        assert!(
            rendered.contains(
                " user=www group=33 umask=027 limit:nofile=4096 limit:stack=10/unlimited cgroup:memory_max=256MiB \
                 cgroup:cpu_max=50% cgroup:required=false environment_file=-a.env clear_env  [x]"
            ),
            "{rendered}"
        );
    }

    #[test]
    fn each_bad_value_is_an_error_at_its_key() {
        for (keys, expected) in [
            ("user = \"\"", "t.toml:4:8: bad value for `user`: the user name is empty"),
            ("user = -1", "t.toml:4:8: bad value for `user`: a user id is from 0 to 4294967294, not -1"),
            ("user = true", "t.toml:4:8: bad value for `user`: a user is a name or a numeric id, not boolean"),
            ("group = \"a:b\"", "t.toml:4:9: bad value for `group`: \"a:b\" is not a group name"),
            ("umask = \"999\"", "t.toml:4:9: bad value for `umask`: \"999\" is not an octal mask like \"022\""),
            ("umask = \"1000\"", "t.toml:4:9: bad value for `umask`: a umask is from 000 to 777 (octal)"),
            ("umask = 0o1000", "t.toml:4:9: bad value for `umask`: a umask is from 000 to 777 (octal)"),
            (
                "limits = { nofiles = 10 }",
                "t.toml:4:22: unknown key `nofiles` in `limits` (expected one of `core`, `memlock`, `nofile`, `nproc`, `stack`)",
            ),
            ("limits = { nofile = -1 }", "t.toml:4:21: bad value for `limits`: `nofile`: -1 is not a limit (0 or more)"),
            (
                "limits = { nproc = \"10MiB\" }",
                "t.toml:4:20: bad value for `limits`: `nproc`: \"10MiB\" is not a count (a whole number, or \"unlimited\")",
            ),
            (
                "limits = { core = { soft = 2, hard = 1 } }",
                "t.toml:4:19: bad value for `limits`: `core`: the soft limit is above the hard limit",
            ),
            ("limits = { core = { soft = 2 } }", "t.toml:4:19: bad value for `limits`: `core`: missing `hard`"),
            (
                "cgroup = { cpu_max = \"0%\" }",
                "t.toml:4:22: bad value for `cgroup`: `cpu_max`: \"0%\": a percentage of one CPU from \"1%\" to \"100000%\" (\"150%\": one and a half CPUs)",
            ),
            (
                "cgroup = { cpu_max = 50 }",
                "t.toml:4:22: bad value for `cgroup`: `cpu_max`: expected a percentage of one CPU like \"50%\" (\"200%\": two CPUs), not integer",
            ),
            ("cgroup = { pids_max = 0 }", "t.toml:4:23: bad value for `cgroup`: `pids_max`: the count must be at least 1, not 0"),
            ("cgroup = { memory_max = -5 }", "t.toml:4:25: bad value for `cgroup`: `memory_max`: a size cannot be negative"),
            (
                "cgroup = { memory = \"1GiB\" }",
                "t.toml:4:21: unknown key `memory` in `cgroup` (expected one of `memory_max`, `cpu_max`, `pids_max`, `required`)",
            ),
            ("cgroup = { memory_max = 0 }", "t.toml:4:10: bad value for `cgroup`: `memory_max` must be greater than zero"),
            ("environment_file = \"-\"", "t.toml:4:20: bad value for `environment_file`: a path is empty or contains a NUL character"),
            ("environment_file = [1]", "t.toml:4:20: bad value for `environment_file`: a list of paths holds only strings"),
        ] {
            let err = worker(keys).unwrap_err();
            assert!(err.starts_with(expected), "{keys}:\n  got {err}\n want {expected}");
        }
    }

    #[test]
    fn identity_keys_are_for_workers_only() {
        let err = parse_tree("[[child]]\nname = \"s\"\nsupervisor = {}\nuser = \"www\"\n", "t.toml").unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.toml:4:8: `user` applies to workers only, and child `s` is a supervisor"
        );
    }
}
