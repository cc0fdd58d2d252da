//! Replicas: a worker `[[child]]` with `count = N` is a template that runs
//! as N children `NAME-0` … `NAME-(N-1)` under the same supervisor, each
//! with `VIGIL_REPLICA=i` in its environment and `{replica}` expanded in its
//! `command`, its `env` values and its `cwd` (docs/CONFIG.md, "replicas").
//!
//! The expansion happens when the config is read, so the engine, the
//! simulator, `vigil check`, `vigil ctl status` and a reload all see the real
//! children; the template itself is kept ([`TreeConfig::templates`]) so
//! that `vigil ctl scale` can add replicas later, also from a count of 0.
//!
//! [`TreeConfig::templates`]: crate::TreeConfig::templates

use std::fmt;
use std::ops::Range;

use toml::Spanned;
use vigil_core::{AutoShutdown, ChildSpec};

use crate::error::{ConfigError, ConfigErrorKind};
use crate::model::WorkerConfig;
use crate::position::Doc;
use crate::raw::{Count, RawChild};

/// The largest `count` a template may have (and the largest `vigil ctl
/// scale` accepts): a typo like `count = 40000` is refused rather than
/// starting forty thousand processes.
pub const MAX_REPLICAS: u32 = 10_000;

/// The environment variable that holds a replica's index.
pub const REPLICA_ENV: &str = "VIGIL_REPLICA";

/// The placeholder that stands for a replica's index.
pub const PLACEHOLDER: &str = "{replica}";

/// A worker with `count`: what each of its replicas is made from.
///
/// ```
/// let cfg = vigil_config::parse_tree(
///     "[[child]]\nname = \"web\"\ncount = 2\ncommand = [\"./web\", \"--port\", \"80{replica}\"]\n",
///     "t.toml",
/// )?;
/// let web = &cfg.templates[0];
/// assert_eq!((web.path.as_str(), web.count), ("web", 2));
/// assert_eq!(cfg.workers[1].path, "web-1");
/// assert_eq!(cfg.workers[1].command, ["./web", "--port", "801"]);
/// assert_eq!(cfg.workers[1].env["VIGIL_REPLICA"], "1");
/// let (spec, worker) = web.replica(7, 0).expect("valid template");
/// assert_eq!((spec.name.as_str(), worker.command[2].as_str()), ("web-7", "807"));
/// # Ok::<(), vigil_config::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ReplicaTemplate {
    /// The template's path (`main/web`): its parent's path and its name.
    pub path: String,
    /// How many replicas the config asks for (0 to [`MAX_REPLICAS`]).
    pub count: u32,
    /// The spec of every replica, named like the template (tag 0).
    pub spec: ChildSpec,
    /// The process of every replica before expansion; its `path` is the template's.
    pub worker: WorkerConfig,
}

/// A `{...}` in a template's text that is not `{replica}`, `{{` or `}}`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlaceholderError {
    /// An unknown placeholder, like `{port}`.
    #[error("unknown placeholder `{{{0}}}`: the only placeholder is `{{replica}}` (write `{{{{` and `}}}}` for literal braces)")]
    Unknown(String),
    /// A `{` without its `}`.
    #[error("a `{{` without its `}}` (write `{{{{` for a literal brace)")]
    Unclosed,
    /// A `}` that closes nothing.
    #[error("a lone `}}` (write `}}}}` for a literal brace)")]
    LoneClose,
}

/// `text` with `{replica}` replaced by `index`, `{{` by `{` and `}}` by `}`.
///
/// ```
/// use vigil_config::{expand_replica, PlaceholderError};
/// assert_eq!(expand_replica("data/{replica}/{{x}}", 3), Ok("data/3/{x}".to_owned()));
/// assert_eq!(expand_replica("{port}", 3), Err(PlaceholderError::Unknown("port".into())));
/// ```
pub fn expand_replica(text: &str, index: u32) -> Result<String, PlaceholderError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(['{', '}']) {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("{{") {
            out.push('{');
            rest = after;
        } else if let Some(after) = tail.strip_prefix("}}") {
            out.push('}');
            rest = after;
        } else if tail.starts_with('}') {
            return Err(PlaceholderError::LoneClose);
        } else {
            let Some(end) = tail.find('}') else {
                return Err(PlaceholderError::Unclosed);
            };
            let name = &tail[1..end];
            if name != "replica" {
                return Err(PlaceholderError::Unknown(name.to_owned()));
            }
            out.push_str(&index.to_string());
            rest = &tail[end + 1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

impl ReplicaTemplate {
    /// The path of the supervisor the replicas run under (`""`: the root).
    pub fn parent(&self) -> &str {
        self.path.rsplit_once('/').map_or("", |(p, _)| p)
    }

    /// The template's name (`web`).
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The name of replica `index` (`web-3`).
    pub fn replica_name(&self, index: u32) -> String {
        format!("{}-{index}", self.spec.name)
    }

    /// The path of replica `index` (`main/web-3`).
    pub fn replica_path(&self, index: u32) -> String {
        format!("{}-{index}", self.path)
    }

    /// The index of the replica named `name`, if `name` is one of this
    /// template's (any index below [`MAX_REPLICAS`], written without
    /// leading zeros), whatever the current count.
    pub fn index_of(&self, name: &str) -> Option<u32> {
        let digits = name.strip_prefix(self.name())?.strip_prefix('-')?;
        let canonical = !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && (digits == "0" || !digits.starts_with('0'));
        let index: u32 = digits.parse().ok().filter(|_| canonical)?;
        (index < MAX_REPLICAS).then_some(index)
    }

    /// Replica `index`: its spec (tagged `tag`) and its process, with
    /// `{replica}` expanded and `VIGIL_REPLICA` set.
    pub fn replica(&self, index: u32, tag: u64) -> Result<(ChildSpec, WorkerConfig), PlaceholderError> {
        let mut spec = self.spec.clone();
        spec.name = self.replica_name(index);
        spec.tag = tag;
        let mut worker = self.worker.clone();
        worker.path = self.replica_path(index);
        worker.command = self
            .worker
            .command
            .iter()
            .map(|a| expand_replica(a, index))
            .collect::<Result<_, _>>()?;
        for value in worker.env.values_mut() {
            *value = expand_replica(value, index)?;
        }
        worker.env.insert(REPLICA_ENV.to_owned(), index.to_string());
        if let Some(cwd) = &self.worker.cwd {
            let text = cwd.to_string_lossy();
            worker.cwd = Some(expand_replica(&text, index)?.into());
        }
        Ok((spec, worker))
    }

    /// Whether `other` makes the same replicas (everything but `count`).
    pub fn same_replicas(&self, other: &ReplicaTemplate) -> bool {
        let mut a = self.spec.clone();
        let mut b = other.spec.clone();
        a.tag = 0;
        b.tag = 0;
        self.path == other.path
            && a == b
            && crate::reload_plan::run_settings(&self.worker) == crate::reload_plan::run_settings(&other.worker)
    }
}

impl fmt::Display for ReplicaTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (count = {})", self.path, self.count)
    }
}

/// What the config reader keeps while it expands the children of one supervisor.
pub(crate) struct Expansion<'a> {
    pub doc: Doc<'a>,
    pub workers: &'a mut Vec<WorkerConfig>,
    pub templates: &'a mut Vec<ReplicaTemplate>,
}

impl Expansion<'_> {
    /// The child `raw`, whose spec is `spec` (for a worker, its process is the
    /// last of `workers`), appended to `out`: as itself, or, with `count`, as
    /// its replicas (and the template kept).
    pub fn child(
        &mut self,
        parent: &str,
        raw: &Spanned<RawChild>,
        spec: ChildSpec,
        out: &mut Vec<ChildSpec>,
    ) -> Result<(), ConfigError> {
        let c = raw.get_ref();
        let Some(count) = &c.count else {
            if c.command.is_some() {
                self.no_placeholder(c)?;
            }
            out.push(spec);
            return Ok(());
        };
        let n = self.count(count)?;
        let worker = match self.workers.pop() {
            Some(w) if c.command.is_some() => w,
            // `count` on a supervisor is refused before; nothing to expand.
            other => {
                self.workers.extend(other);
                out.push(spec);
                return Ok(());
            }
        };
        self.placeholders(c)?;
        let path = worker.path.clone();
        let template = ReplicaTemplate {
            path,
            count: n,
            spec,
            worker,
        };
        if n == 0 {
            let parent_auto = AutoShutdown::AnySignificant;
            template.spec.validate(parent, parent_auto).map_err(|e| {
                let at = c.name.as_ref().map_or(raw.span(), Spanned::span);
                self.doc.error(&at, Some("name"), ConfigErrorKind::Spec(e))
            })?;
        }
        for i in 0..n {
            let tag = self.workers.len() as u64;
            // Placeholders were checked: an expansion cannot fail here.
            let (s, w) = template
                .replica(i, tag)
                .map_err(|e| self.doc.bad_value(&raw.span(), "command", e.to_string()))?;
            self.workers.push(w);
            out.push(s);
        }
        self.templates.push(template);
        Ok(())
    }

    fn count(&self, count: &Spanned<Count>) -> Result<u32, ConfigError> {
        let n = count.get_ref().0;
        if n > MAX_REPLICAS {
            return Err(self.doc.bad_value(
                &count.span(),
                "count",
                format!("at most {MAX_REPLICAS} replicas, got {n}"),
            ));
        }
        Ok(n)
    }

    /// Every `{..}` of a template's `command`, `env` values and `cwd` is known.
    fn placeholders(&self, c: &RawChild) -> Result<(), ConfigError> {
        let check = |text: &str, span: Range<usize>, key: &str| {
            expand_replica(text, 0)
                .map(drop)
                .map_err(|e| self.doc.bad_value(&span, key, e.to_string()))
        };
        if let Some(command) = &c.command {
            for arg in &command.get_ref().0 {
                check(arg, command.span(), "command")?;
            }
        }
        if let Some(env) = &c.env {
            if env.get_ref().contains_key(REPLICA_ENV) {
                return Err(self.doc.bad_value(
                    &env.span(),
                    "env",
                    format!("`{REPLICA_ENV}` is set by vigil to each replica's index; use another name"),
                ));
            }
            for value in env.get_ref().values() {
                check(value, env.span(), "env")?;
            }
        }
        if let Some(cwd) = &c.cwd {
            check(&cwd.get_ref().to_string_lossy(), cwd.span(), "cwd")?;
        }
        Ok(())
    }

    /// A worker without `count` has no `{replica}` (its braces are literal).
    fn no_placeholder(&self, c: &RawChild) -> Result<(), ConfigError> {
        let message = "`{replica}` is expanded only in a child with `count` (add `count = N`)";
        if let Some(command) = c
            .command
            .as_ref()
            .filter(|v| v.get_ref().0.iter().any(|a| a.contains(PLACEHOLDER)))
        {
            return Err(self.doc.bad_value(&command.span(), "command", message));
        }
        if let Some(env) = c
            .env
            .as_ref()
            .filter(|v| v.get_ref().values().any(|a| a.contains(PLACEHOLDER)))
        {
            return Err(self.doc.bad_value(&env.span(), "env", message));
        }
        if let Some(cwd) = c
            .cwd
            .as_ref()
            .filter(|v| v.get_ref().to_string_lossy().contains(PLACEHOLDER))
        {
            return Err(self.doc.bad_value(&cwd.span(), "cwd", message));
        }
        Ok(())
    }

    /// No sibling in `raw` (the children of `parent`) is named like one of
    /// the templates there or one of their replicas (any index, so that
    /// `vigil ctl scale` can always add one).
    pub fn sibling_names(&self, parent: &str, raw: &[Spanned<RawChild>]) -> Result<(), ConfigError> {
        let here: Vec<&ReplicaTemplate> = self.templates.iter().filter(|t| t.parent() == parent).collect();
        if here.is_empty() {
            return Ok(());
        }
        let mut seen = std::collections::BTreeSet::new();
        for c in raw.iter().map(Spanned::get_ref) {
            let Some(name) = c.name.as_ref().filter(|_| c.count.is_some()) else {
                continue;
            };
            if !seen.insert(name.get_ref().as_str()) {
                return Err(self.doc.bad_value(
                    &name.span(),
                    "name",
                    format!(
                        "a second replica template named `{}` under the same supervisor",
                        name.get_ref()
                    ),
                ));
            }
        }
        for c in raw.iter().map(Spanned::get_ref) {
            let Some(name) = &c.name else { continue };
            for t in &here {
                let is_template = c.count.is_some() && name.get_ref() == t.name();
                let clash = if name.get_ref() == t.name() && !is_template {
                    Some("the name of the replica template".to_owned())
                } else {
                    t.index_of(name.get_ref())
                        .map(|i| format!("the name of replica {i} of `{}`", t.name()))
                };
                if let Some(what) = clash {
                    return Err(self.doc.bad_value(
                        &name.span(),
                        "name",
                        format!(
                            "`{}` is {what} (count = {}; replicas are named `{}-0`, `{}-1`, …): rename one of them",
                            name.get_ref(),
                            t.count,
                            t.name(),
                            t.name()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The path of the template that `path` is a replica of, among `templates`.
pub(crate) fn template_of<'t>(templates: &'t [ReplicaTemplate], path: &str) -> Option<&'t ReplicaTemplate> {
    let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
    templates
        .iter()
        .find(|t| t.parent() == parent && t.index_of(name).is_some())
}
