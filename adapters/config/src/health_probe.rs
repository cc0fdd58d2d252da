//! A worker's `health = { .. }` table: a probe that `vigil run` runs against
//! the child (an `exec` command, an `http` GET or a `tcp` connect), how
//! often, and when its failures make the child unhealthy
//! (docs/CONFIG.md, "Health probes").
//!
//! Parsed here from the raw table ([`RawHealth`]), with every error at the
//! position of its value; [`health_warnings`] lists the settings that parse
//! but cannot work as written, for `vigil check`.

use std::ops::Range;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::duration::{format_duration, parse_duration};
use crate::error::{ConfigError, ConfigErrorKind};
use crate::model::TreeConfig;
use crate::position::Doc;
use crate::raw::{Argv, Count, DurationText};

/// A worker's `health = { .. }` as written.
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a health probe table, like { exec = [\"curl\", \"-fsS\", \"localhost:8080/health\"], interval = \"10s\" }"
)]
pub(crate) struct RawHealth {
    pub exec: Option<Spanned<Argv>>,
    pub http: Option<Spanned<String>>,
    pub tcp: Option<Spanned<String>>,
    pub interval: Option<Spanned<DurationText>>,
    pub timeout: Option<Spanned<DurationText>>,
    pub retries: Option<Spanned<Count>>,
    pub start_period: Option<Spanned<DurationText>>,
}

/// The keys of [`RawHealth`], in order (kept equal to its fields: a unit
/// test in toml_error.rs checks this).
pub(crate) const HEALTH_KEYS: &[&str] = &["exec", "http", "tcp", "interval", "timeout", "retries", "start_period"];

/// A worker's health probe: what to check, and when failures count.
///
/// ```
/// let cfg = vigil_config::parse_tree(r#"
///     [[child]]
///     name = "web"
///     command = ["./server"]
///     readiness = "probe"
///     health = { http = "http://127.0.0.1:8080/health", interval = "2s", retries = 2 }
/// "#, "web.toml").unwrap();
/// let probe = cfg.workers[0].health.as_ref().unwrap();
/// assert_eq!(probe.interval, std::time::Duration::from_secs(2));
/// assert_eq!(probe.timeout, vigil_config::HealthProbe::DEFAULT_TIMEOUT);
/// assert!(probe.ready);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthProbe {
    /// What one probe does.
    pub check: ProbeCheck,
    /// From the end of one probe to the start of the next (`interval`).
    pub interval: Duration,
    /// The longest one probe may take; longer is a failure (`timeout`).
    pub timeout: Duration,
    /// Consecutive failures that make the child unhealthy (`retries`, at least 1).
    pub retries: u32,
    /// From the run's start, failures do not count for this long (`start_period`).
    pub start_period: Duration,
    /// `readiness = "probe"`: the child is ready when a probe first passes.
    pub ready: bool,
}

impl HealthProbe {
    /// The default `interval`.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
    /// The default `timeout`.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
    /// The default `retries`.
    pub const DEFAULT_RETRIES: u32 = 3;
}

/// What one probe does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeCheck {
    /// Run this command (argv, no shell); exit code 0 passes.
    Exec(Vec<String>),
    /// `GET` this plain-HTTP URL; a 2xx status passes.
    Http(HttpTarget),
    /// Connect to this `host:port`; a connection passes.
    Tcp(String),
}

/// A parsed `http://host[:port]/path` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpTarget {
    /// The URL as written.
    pub url: String,
    /// The host as written (a name, an IPv4 address or a bracketed IPv6 one).
    pub host: String,
    /// The port (80 when the URL has none).
    pub port: u16,
    /// The path and query, starting with `/`.
    pub path: String,
}

impl HttpTarget {
    /// Parse a plain-HTTP URL. `https://` is refused (probes speak no TLS).
    ///
    /// ```
    /// let t = vigil_config::HttpTarget::parse("http://localhost:8080/health?full=1").unwrap();
    /// assert_eq!((t.host.as_str(), t.port, t.path.as_str()), ("localhost", 8080, "/health?full=1"));
    /// assert!(vigil_config::HttpTarget::parse("https://x/").unwrap_err().contains("TLS"));
    /// ```
    pub fn parse(url: &str) -> Result<HttpTarget, String> {
        if url.starts_with("https://") {
            return Err(
                "https is not supported: probes speak plain HTTP only (no TLS); probe a plain-HTTP \
                        port, or use `exec = [\"curl\", \"-fsS\", \"https://...\"]`"
                    .to_owned(),
            );
        }
        let Some(rest) = url.strip_prefix("http://") else {
            return Err(format!(
                "{url:?} is not an http:// URL, like \"http://127.0.0.1:8080/health\""
            ));
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_owned()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_owned()),
        };
        if path.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control()) {
            return Err(format!("{url:?}: the path contains a space or a control character"));
        }
        if authority.contains('@') {
            return Err(format!("{url:?}: user names and passwords are not supported"));
        }
        let (host, port) = split_host_port(authority, 80).map_err(|e| format!("{url:?}: {e}"))?;
        Ok(HttpTarget {
            url: url.to_owned(),
            host,
            port,
            path,
        })
    }
}

/// `host[:port]` (or `[v6]:port`) as a host and a port (`default` when absent).
fn split_host_port(text: &str, default: u16) -> Result<(String, u16), String> {
    let (host, port) = if let Some(v6) = text.strip_prefix('[') {
        let Some((addr, after)) = v6.split_once(']') else {
            return Err("an IPv6 address has no closing `]`".to_owned());
        };
        match after {
            "" => (format!("[{addr}]"), None),
            p => match p.strip_prefix(':') {
                Some(p) => (format!("[{addr}]"), Some(p)),
                None => return Err(format!("unexpected {p:?} after the IPv6 address")),
            },
        }
    } else {
        match text.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (text.to_owned(), None),
        }
    };
    if host.is_empty() || host.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control()) {
        return Err("the host is empty or contains a space".to_owned());
    }
    let port = match port {
        None => default,
        Some(p) => match p.parse::<u16>() {
            Ok(0) | Err(_) => return Err(format!("the port {p:?} is not a number from 1 to 65535")),
            Ok(p) => p,
        },
    };
    Ok((host, port))
}

/// Parse the `health` table of the worker at `path`; `readiness` is the
/// child's `readiness` value as written (`"probe"` makes the probe decide
/// readiness).
pub(crate) fn parse(
    doc: Doc<'_>,
    path: &str,
    raw: &Spanned<Box<RawHealth>>,
    readiness: Option<&str>,
) -> Result<HealthProbe, ConfigError> {
    let h = raw.get_ref();
    let check = check(doc, path, raw)?;
    let duration = |v: &Spanned<DurationText>, key: &str| {
        parse_duration(&v.get_ref().0).map_err(|e| doc.bad_value(&v.span(), key, e.message()))
    };
    let positive = |v: &Option<Spanned<DurationText>>, key: &str, default: Duration| match v {
        None => Ok(default),
        Some(v) => match duration(v, key)? {
            d if d.is_zero() => Err(doc.bad_value(&v.span(), key, "must be greater than zero")),
            d => Ok(d),
        },
    };
    let interval = positive(&h.interval, "interval", HealthProbe::DEFAULT_INTERVAL)?;
    let timeout = positive(&h.timeout, "timeout", HealthProbe::DEFAULT_TIMEOUT)?;
    let retries = match &h.retries {
        None => HealthProbe::DEFAULT_RETRIES,
        Some(v) if v.get_ref().0 == 0 => {
            return Err(doc.bad_value(
                &v.span(),
                "retries",
                "must be at least 1 (the consecutive failures that make the child unhealthy)",
            ))
        }
        Some(v) => v.get_ref().0,
    };
    let start_period = match &h.start_period {
        None => Duration::ZERO,
        Some(v) => duration(v, "start_period")?,
    };
    Ok(HealthProbe {
        check,
        interval,
        timeout,
        retries,
        start_period,
        ready: readiness == Some("probe"),
    })
}

/// The one check of the table: exactly one of `exec`, `http` and `tcp`.
fn check(doc: Doc<'_>, path: &str, raw: &Spanned<Box<RawHealth>>) -> Result<ProbeCheck, ConfigError> {
    let h = raw.get_ref();
    match (&h.exec, &h.http, &h.tcp) {
        (Some(exec), None, None) => {
            let argv = &exec.get_ref().0;
            let bad = |m: &str| Err(doc.bad_value(&exec.span(), "exec", m));
            match argv.first() {
                None => bad("the command is empty: give at least the program, like [\"curl\", \"-fsS\", \"...\"]"),
                Some(p) if p.is_empty() => bad("the program (the first element) is empty"),
                _ if argv.iter().any(|a| a.contains('\0')) => bad("an argument contains a NUL character"),
                _ => Ok(ProbeCheck::Exec(argv.clone())),
            }
        }
        (None, Some(http), None) => HttpTarget::parse(http.get_ref())
            .map(ProbeCheck::Http)
            .map_err(|e| doc.bad_value(&http.span(), "http", e)),
        (None, None, Some(tcp)) => split_host_port(tcp.get_ref(), 0)
            .and_then(|(host, port)| match port {
                0 => Err(format!(
                    "{:?} has no port; write a host and a port, like \"127.0.0.1:5432\"",
                    tcp.get_ref()
                )),
                _ => Ok(format!("{host}:{port}")),
            })
            .map(ProbeCheck::Tcp)
            .map_err(|e| doc.bad_value(&tcp.span(), "tcp", e)),
        _ => {
            let found = [
                ("exec", h.exec.is_some()),
                ("http", h.http.is_some()),
                ("tcp", h.tcp.is_some()),
            ]
            .into_iter()
            .filter(|(_, present)| *present)
            .map(|(key, _)| key.to_owned())
            .collect();
            Err(doc.error(
                &raw.span(),
                Some("health"),
                ConfigErrorKind::NotExactlyOne {
                    what: format!("the health probe of child `{path}`"),
                    choices: vec!["exec".to_owned(), "http".to_owned(), "tcp".to_owned()],
                    found,
                },
            ))
        }
    }
}

/// The health probe of the worker at `path` (its raw table `c`), if it has
/// one; `readiness = "probe"` without one is an error.
pub(crate) fn of_child(doc: Doc<'_>, path: &str, c: &crate::raw::RawChild) -> Result<Option<HealthProbe>, ConfigError> {
    let readiness = c.readiness.as_ref();
    match (&c.health, readiness) {
        (Some(h), r) => parse(doc, path, h, r.map(|r| r.get_ref().as_str())).map(Some),
        (None, Some(r)) if r.get_ref() == "probe" => Err(probe_readiness_without_health(doc, path, &r.span())),
        (None, _) => Ok(None),
    }
}

/// `readiness = "probe"` without a `health` table: the child would never
/// be ready. An error at the `readiness` value.
pub(crate) fn probe_readiness_without_health(doc: Doc<'_>, path: &str, span: &Range<usize>) -> ConfigError {
    doc.bad_value(
        span,
        "readiness",
        format!(
            "\"probe\" needs a health probe, and child `{path}` has none: add \
             `health = {{ exec = [..] }}` (or `http`, `tcp`), or use \"immediate\" or \"notify\""
        ),
    )
}

/// Settings that parse but cannot work as written, one sentence each,
/// naming the child: printed by `vigil check` as warnings (the config is
/// still valid).
///
/// ```
/// let cfg = vigil_config::parse_tree(r#"
///     [[child]]
///     name = "db"
///     command = ["postgres"]
///     health = { tcp = "127.0.0.1:5432", interval = "1s", timeout = "2s" }
/// "#, "db.toml").unwrap();
/// let warnings = vigil_config::health_warnings(&cfg);
/// assert_eq!(warnings.len(), 1);
/// assert!(warnings[0].contains("timeout"), "{}", warnings[0]);
/// ```
pub fn health_warnings(tree: &TreeConfig) -> Vec<String> {
    let mut out = Vec::new();
    for w in &tree.workers {
        let Some(p) = &w.health else { continue };
        if p.timeout >= p.interval {
            out.push(format!(
                "child `{}`: the health probe's timeout ({}) is not shorter than its interval ({}): a slow probe \
                 delays the next one (probes of a child never overlap), so the child is probed less often \
                 than every {}",
                w.path,
                format_duration(p.timeout),
                format_duration(p.interval),
                format_duration(p.interval)
            ));
        }
    }
    walk_readiness(&tree.spec, "", tree, &mut out);
    out
}

/// Warnings about a child's timeouts against its probe, for every worker
/// under `spec` (at `path`).
fn walk_readiness(spec: &vigil_core::SupervisorSpec, path: &str, tree: &TreeConfig, out: &mut Vec<String>) {
    for child in &spec.children {
        let p = if path.is_empty() {
            child.name.clone()
        } else {
            format!("{path}/{}", child.name)
        };
        let probe = match &child.kind {
            vigil_core::ChildKind::Supervisor(s) => {
                walk_readiness(s, &p, tree, out);
                continue;
            }
            vigil_core::ChildKind::Worker => tree
                .workers
                .get(usize::try_from(child.tag).unwrap_or(usize::MAX))
                .and_then(|w| w.health.as_ref()),
        };
        let Some(probe) = probe else { continue };
        match child.startup_timeout {
            Some(startup) if probe.ready && startup <= probe.timeout => out.push(format!(
                "child `{p}`: its startup_timeout ({}) is not longer than one probe may take ({}): a slow \
                 first probe fails the start",
                format_duration(startup),
                format_duration(probe.timeout)
            )),
            _ => {}
        }
    }
}
