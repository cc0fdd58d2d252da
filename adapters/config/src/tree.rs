//! Parsing a tree config (docs/CONFIG.md) into validated engine specs.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use toml::Spanned;
use vigil_core::{Backoff, ChildSpec, ExitReason, SpecError, SpecErrorKind, SupervisorSpec, MAX_DEPTH};

use crate::byte_size::parse_byte_size;
use crate::duration::parse_duration;
use crate::error::{ConfigError, ConfigErrorKind};
use crate::keywords::{
    keyword, parse_shutdown, AUTO_SHUTDOWNS, LIFESPANS, READINESS, RESTARTS, SHUTDOWN_ORDERS, STRATEGIES,
};
use crate::model::{
    ControlConfig, HttpConfig, Lifetime, MonitorConfig, RunConfig, SimBehaviour, TreeConfig, WorkerConfig,
};
use crate::position::Doc;
use crate::raw::{
    Argv, DurationText, Number, RawBackoff, RawChild, RawControl, RawHttp, RawMonitor, RawSim, RawSupervisor, RawTree,
    SizeValue,
};
use crate::toml_error::from_toml;

/// Parse and validate a tree config. `source` names the text in errors and
/// gives the config its [`name`](TreeConfig::name): the file stem of `source`
/// read as a path (`"examples/web.toml"` gives `web`).
///
/// Every table rejects unknown keys; every value is checked; the tree is then
/// validated by [`SupervisorSpec::validate`], and a rejection points at the
/// offending child (at its offending key when the problem is one key).
/// Children nested deeper than [`MAX_DEPTH`] are refused while the TOML is
/// read, so that no input can exhaust the stack.
///
/// ```
/// let config = vigil_config::parse_tree(
///     r#"
/// [[child]]
/// name = "db"
/// command = ["postgres", "-D", "data"]
/// shutdown = "10s"
/// "#,
///     "db.toml",
/// )
/// .unwrap();
/// assert_eq!(config.name, "db");
/// assert_eq!(config.workers[0].command, ["postgres", "-D", "data"]);
///
/// let err = vigil_config::parse_tree("[[child]]\nname = \"db\"\n", "db.toml").unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "db.toml:1:1: child `db` needs exactly one of `command` or `supervisor`, found none"
/// );
/// ```
pub fn parse_tree(text: &str, source: &str) -> Result<TreeConfig, ConfigError> {
    crate::parser_stack::on_parser_stack(|| parse_tree_here(text, source))
}

/// [`parse_tree`] on the calling thread's stack.
fn parse_tree_here(text: &str, source: &str) -> Result<TreeConfig, ConfigError> {
    let doc = Doc::new(text, source);
    let raw: RawTree = toml::from_str(text).map_err(|e| from_toml(doc, &e))?;
    let mut builder = Builder {
        doc,
        workers: Vec::new(),
        nodes: Vec::new(),
        root_keys: Vec::new(),
        templates: Vec::new(),
        log: crate::log::tree_log(doc, raw.log.as_ref())?,
    };
    let mut spec = match &raw.supervisor {
        Some(s) => {
            let mut keys = Vec::new();
            let spec = builder.supervisor(s.get_ref(), &mut keys)?;
            builder.root_keys = keys;
            spec
        }
        None => SupervisorSpec::new(),
    };
    spec.children = builder.children("", &raw.child.0, 1)?;
    let control = match &raw.control {
        Some(c) => builder.control(c)?,
        None => ControlConfig::default(),
    };
    let monitor = match &raw.monitor {
        Some(m) => builder.monitor(m)?,
        None => MonitorConfig::default(),
    };
    let http = match &raw.http {
        Some(h) => builder.http(h)?,
        None => HttpConfig::default(),
    };
    let run = RunConfig {
        keep_running: raw
            .run
            .as_ref()
            .and_then(|r| r.keep_running.as_ref())
            .is_some_and(|k| *k.get_ref()),
    };
    spec.validate().map_err(|e| builder.spec_error(e))?;
    Ok(TreeConfig {
        source: source.to_owned(),
        name: config_name(source),
        digest: Some(crate::ConfigDigest::of(text.as_bytes())),
        spec,
        control,
        monitor,
        workers: builder.workers,
        http,
        run,
        templates: builder.templates,
    })
}

/// Read and parse a tree config file (see [`parse_tree`]); its name is the
/// file stem, and errors name the file as given.
pub fn load_tree(path: &Path) -> Result<TreeConfig, ConfigError> {
    let source = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::new(&source, ConfigErrorKind::Io(e)))?;
    parse_tree(&text, &source)
}

fn config_name(source: &str) -> String {
    Path::new(source)
        .file_stem()
        .and_then(|s| s.to_str())
        .filter(|s| !s.is_empty())
        .unwrap_or(source)
        .to_owned()
}

/// Where a child is in the text, to point spec errors at it.
struct Node {
    parent: String,
    name: String,
    path: String,
    /// The child's table (from its `[[child]]` header, or its `{`).
    table: Range<usize>,
    /// Its `name` value.
    name_span: Range<usize>,
    /// Its keys (and those of its `supervisor` and `backoff` tables).
    keys: Vec<(&'static str, Range<usize>)>,
}

type Keys = Vec<(&'static str, Range<usize>)>;

struct Builder<'a> {
    doc: Doc<'a>,
    workers: Vec<WorkerConfig>,
    nodes: Vec<Node>,
    /// The keys of `[supervisor]`.
    root_keys: Keys,
    /// REPLICAS: the workers with `count`, in start order.
    templates: Vec<crate::replicas::ReplicaTemplate>,
    /// LOGS: the `[log]` table, which every worker inherits.
    log: Option<crate::log::LogDefaults>,
}

impl Builder<'_> {
    fn keyword<T: Copy>(
        &self,
        value: &Spanned<String>,
        key: &'static str,
        table: &[(&str, T)],
    ) -> Result<T, ConfigError> {
        keyword(value.get_ref(), table, key).map_err(|e| self.doc.bad_value(&value.span(), key, e.message()))
    }

    fn duration(&self, value: &Spanned<DurationText>, key: &'static str) -> Result<Duration, ConfigError> {
        parse_duration(&value.get_ref().0).map_err(|e| self.doc.bad_value(&value.span(), key, e.message()))
    }

    fn probability(&self, value: &Spanned<Number>, key: &'static str) -> Result<f64, ConfigError> {
        let p = value.get_ref().0;
        if (0.0..=1.0).contains(&p) {
            Ok(p)
        } else {
            Err(self.doc.bad_value(
                &value.span(),
                key,
                format!("a probability must be within [0, 1], got {p}"),
            ))
        }
    }

    fn path_value(&self, value: &Spanned<PathBuf>, key: &'static str) -> Result<PathBuf, ConfigError> {
        if value.get_ref().as_os_str().is_empty() {
            Err(self.doc.bad_value(&value.span(), key, "the path is empty"))
        } else {
            Ok(value.get_ref().clone())
        }
    }

    fn supervisor(&self, raw: &RawSupervisor, keys: &mut Keys) -> Result<SupervisorSpec, ConfigError> {
        let mut spec = SupervisorSpec::new();
        if let Some(v) = &raw.strategy {
            spec.strategy = self.keyword(v, "strategy", STRATEGIES)?;
            keys.push(("strategy", v.span()));
        }
        if let Some(v) = &raw.intensity {
            spec.intensity = v.get_ref().0;
            keys.push(("intensity", v.span()));
        }
        if let Some(v) = &raw.period {
            spec.period = self.duration(v, "period")?;
            keys.push(("period", v.span()));
        }
        if let Some(v) = &raw.auto_shutdown {
            spec.auto_shutdown = self.keyword(v, "auto_shutdown", AUTO_SHUTDOWNS)?;
            keys.push(("auto_shutdown", v.span()));
        }
        if let Some(v) = &raw.lifespan {
            spec.lifespan = self.keyword(v, "lifespan", LIFESPANS)?;
            keys.push(("lifespan", v.span()));
        }
        if let Some(v) = &raw.shutdown_order {
            spec.shutdown_order = self.keyword(v, "shutdown_order", SHUTDOWN_ORDERS)?;
            keys.push(("shutdown_order", v.span()));
        }
        Ok(spec)
    }

    fn control(&self, raw: &RawControl) -> Result<ControlConfig, ConfigError> {
        let socket = match &raw.socket {
            Some(s) => Some(self.path_value(s, "socket")?),
            None => None,
        };
        let logs_lines = match &raw.logs_lines {
            Some(v) if v.get_ref().0 == 0 => {
                return Err(self
                    .doc
                    .bad_value(&v.span(), "logs_lines", "the count must be at least 1"))
            }
            Some(v) => Some(u64::from(v.get_ref().0)),
            None => None,
        };
        let logs_bytes = match &raw.logs_bytes {
            Some(v) => Some(self.size(v, "logs_bytes")?),
            None => None,
        };
        let group = match &raw.group {
            Some(v) => Some(crate::control_group::parse(self.doc, v)?),
            None => None,
        };
        Ok(ControlConfig {
            socket,
            logs_lines,
            logs_bytes,
            group,
        })
    }

    fn http(&self, raw: &RawHttp) -> Result<HttpConfig, ConfigError> {
        let listen = match &raw.listen {
            Some(v) => Some(
                crate::listen::parse_listen(v.get_ref())
                    .map_err(|e| self.doc.bad_value(&v.span(), "listen", e.message()))?,
            ),
            None => None,
        };
        Ok(HttpConfig { listen })
    }

    fn monitor(&self, raw: &RawMonitor) -> Result<MonitorConfig, ConfigError> {
        let mut m = MonitorConfig::default();
        if let Some(v) = &raw.interval {
            m.interval = self.duration(v, "interval")?;
            if m.interval.is_zero() {
                return Err(self
                    .doc
                    .bad_value(&v.span(), "interval", "the interval must be greater than zero"));
            }
        }
        if let Some(v) = &raw.memory_limit {
            m.memory_limit = Some(self.size(v, "memory_limit")?);
        }
        if let Some(v) = &raw.leak_growth {
            m.leak_growth = Some(self.size(v, "leak_growth")?);
        }
        if let Some(v) = &raw.leak_count {
            if v.get_ref().0 == 0 {
                return Err(self
                    .doc
                    .bad_value(&v.span(), "leak_count", "the count must be at least 1"));
            }
            m.leak_count = v.get_ref().0;
        }
        Ok(m)
    }

    /// A byte size greater than zero (`"512MiB"` or a number of bytes).
    fn size(&self, v: &Spanned<SizeValue>, key: &'static str) -> Result<u64, ConfigError> {
        let bytes = match v.get_ref() {
            SizeValue::Text(text) => {
                parse_byte_size(text).map_err(|e| self.doc.bad_value(&v.span(), key, e.message()))?
            }
            SizeValue::Bytes(n) => {
                u64::try_from(*n).map_err(|_| self.doc.bad_value(&v.span(), key, "a size cannot be negative"))?
            }
        };
        if bytes == 0 {
            return Err(self.doc.bad_value(&v.span(), key, "the size must be greater than zero"));
        }
        Ok(bytes)
    }

    fn children(
        &mut self,
        parent: &str,
        raw: &[Spanned<RawChild>],
        depth: usize,
    ) -> Result<Vec<ChildSpec>, ConfigError> {
        let mut out = Vec::with_capacity(raw.len());
        for c in raw {
            let spec = self.child(parent, c, depth)?;
            // REPLICAS: a worker with `count` stands for its replicas.
            let mut expansion = crate::replicas::Expansion {
                doc: self.doc,
                workers: &mut self.workers,
                templates: &mut self.templates,
            };
            expansion.child(parent, c, spec, &mut out)?;
        }
        crate::replicas::Expansion {
            doc: self.doc,
            workers: &mut self.workers,
            templates: &mut self.templates,
        }
        .sibling_names(parent, raw)?;
        Ok(out)
    }

    /// How messages name the table at `span`: its header, or `[[child]]`.
    fn child_table(&self, span: &Range<usize>) -> String {
        let text = self.doc.text.get(span.clone()).unwrap_or("");
        match text.lines().next().map(str::trim) {
            Some(header) if header.starts_with("[[") => header.to_owned(),
            _ => "[[child]]".to_owned(),
        }
    }

    fn child(&mut self, parent: &str, raw: &Spanned<RawChild>, depth: usize) -> Result<ChildSpec, ConfigError> {
        let doc = self.doc;
        let table = raw.span();
        let c = raw.get_ref();
        let Some(name) = &c.name else {
            return Err(doc.error(
                &table,
                Some("name"),
                ConfigErrorKind::MissingKey {
                    key: "name".to_owned(),
                    table: self.child_table(&table),
                },
            ));
        };
        let path = if parent.is_empty() {
            name.get_ref().clone()
        } else {
            format!("{parent}/{}", name.get_ref())
        };
        if depth > MAX_DEPTH {
            let err = SpecError {
                path: parent.to_owned(),
                kind: SpecErrorKind::TooDeep { max: MAX_DEPTH },
            };
            return Err(doc.error(&table, None, ConfigErrorKind::Spec(err)));
        }
        let index = self.nodes.len();
        self.nodes.push(Node {
            parent: parent.to_owned(),
            name: name.get_ref().clone(),
            path: path.clone(),
            table: table.clone(),
            name_span: name.span(),
            keys: Vec::new(),
        });
        let mut keys = Keys::new();

        let mut spec = match (&c.command, &c.supervisor) {
            (Some(command), None) => self.worker(&path, name.get_ref(), c, command, &mut keys)?,
            (None, Some(sup)) => self.nested_supervisor(&path, name.get_ref(), c, sup, depth, &mut keys)?,
            (command, supervisor) => {
                let found = [("command", command.is_some()), ("supervisor", supervisor.is_some())]
                    .into_iter()
                    .filter(|(_, present)| *present)
                    .map(|(key, _)| key.to_owned())
                    .collect();
                return Err(doc.error(
                    &table,
                    None,
                    ConfigErrorKind::NotExactlyOne {
                        what: format!("child `{path}`"),
                        choices: vec!["command".to_owned(), "supervisor".to_owned()],
                        found,
                    },
                ));
            }
        };
        self.attributes(c, &mut spec, &mut keys)?;
        self.nodes[index].keys = keys;
        Ok(spec)
    }

    /// The child at `path` that is a supervisor (`sup`), with its children.
    fn nested_supervisor(
        &mut self,
        path: &str,
        name: &str,
        c: &RawChild,
        sup: &Spanned<Box<RawSupervisor>>,
        depth: usize,
        keys: &mut Keys,
    ) -> Result<ChildSpec, ConfigError> {
        let doc = self.doc;
        let worker_only = [
            ("env", c.env.as_ref().map(Spanned::span)),
            ("cwd", c.cwd.as_ref().map(Spanned::span)),
            ("memory_limit", c.memory_limit.as_ref().map(Spanned::span)),
            ("sim", c.sim.as_ref().map(Spanned::span)),
            ("health", c.health.as_ref().map(Spanned::span)),
            ("count", c.count.as_ref().map(Spanned::span)), // REPLICAS
            ("log", c.log.as_ref().map(Spanned::span)),
            // LIFECYCLE:
            ("stop_signal", c.stop_signal.as_ref().map(Spanned::span)),
            ("reload_signal", c.reload_signal.as_ref().map(Spanned::span)),
            ("success_exit_codes", c.success_exit_codes.as_ref().map(Spanned::span)),
            (
                "restart_prevent_exit_codes",
                c.restart_prevent_exit_codes.as_ref().map(Spanned::span),
            ),
            ("start_delay", c.start_delay.as_ref().map(Spanned::span)),
        ];
        let identity_key = crate::identity::worker_only_key(c).map(|(key, span)| (key, Some(span)));
        if let Some((key, Some(span))) = worker_only
            .into_iter()
            .find(|(_, span)| span.is_some())
            .or(identity_key)
        {
            return Err(doc.error(
                &span,
                Some(key),
                ConfigErrorKind::Misplaced {
                    key: key.to_owned(),
                    reason: format!("applies to workers only, and child `{path}` is a supervisor"),
                },
            ));
        }
        let mut sup_spec = self.supervisor(sup.get_ref(), keys)?;
        sup_spec.children = self.children(path, &c.child.0, depth + 1)?;
        Ok(ChildSpec::supervisor(name, sup_spec).tag(u64::MAX))
    }

    /// The attributes every child has (restart, shutdown, significant,
    /// readiness, timeouts, backoff), set on `spec`; their keys noted.
    fn attributes(&mut self, c: &RawChild, spec: &mut ChildSpec, keys: &mut Keys) -> Result<(), ConfigError> {
        let doc = self.doc;
        if let Some(v) = &c.restart {
            spec.restart = self.keyword(v, "restart", RESTARTS)?;
            keys.push(("restart", v.span()));
        }
        if let Some(v) = &c.shutdown {
            let shutdown =
                parse_shutdown(&v.get_ref().0).map_err(|e| doc.bad_value(&v.span(), "shutdown", e.message()))?;
            spec.shutdown = Some(shutdown);
            keys.push(("shutdown", v.span()));
        }
        if let Some(v) = &c.significant {
            spec.significant = *v.get_ref();
            keys.push(("significant", v.span()));
        }
        if let Some(v) = &c.readiness {
            spec.readiness = self.keyword(v, "readiness", READINESS)?;
            keys.push(("readiness", v.span()));
        }
        if let Some(v) = &c.startup_timeout {
            spec.startup_timeout = Some(self.duration(v, "startup_timeout")?);
            keys.push(("startup_timeout", v.span()));
        }
        if let Some(v) = &c.health_timeout {
            spec.health_timeout = Some(self.duration(v, "health_timeout")?);
            keys.push(("health_timeout", v.span()));
        }
        if let Some(v) = &c.backoff {
            spec.backoff = Some(self.backoff(v, keys)?);
        }
        // LIFECYCLE: start control (workers and supervisors).
        if let Some(v) = &c.autostart {
            spec.autostart = *v.get_ref();
            keys.push(("autostart", v.span()));
        }
        Ok(())
    }

    fn worker(
        &mut self,
        path: &str,
        name: &str,
        c: &RawChild,
        command: &Spanned<Argv>,
        keys: &mut Keys,
    ) -> Result<ChildSpec, ConfigError> {
        let doc = self.doc;
        let argv = &command.get_ref().0;
        let bad_command = |message: &str| Err(doc.bad_value(&command.span(), "command", message));
        match argv.first() {
            None => return bad_command("the command is empty: give at least the program, like [\"./server\"]"),
            Some(program) if program.is_empty() => return bad_command("the program (the first element) is empty"),
            _ if argv.iter().any(|a| a.contains('\0')) => return bad_command("an argument contains a NUL character"),
            _ => {}
        }
        if let Some(nested) = c.child.0.first() {
            return Err(doc.error(
                &nested.span(),
                Some("child"),
                ConfigErrorKind::Misplaced {
                    key: "child".to_owned(),
                    reason: format!(
                        "(a nested child) needs a supervisor, and child `{path}` is a worker (it has `command`)"
                    ),
                },
            ));
        }
        let env = match &c.env {
            Some(env) => {
                let bad = env.get_ref().iter().find_map(|(k, v)| {
                    if k.is_empty() {
                        Some("a variable name is empty".to_owned())
                    } else if k.contains('=') || k.contains('\0') {
                        Some(format!("variable name {k:?} contains `=` or a NUL character"))
                    } else if v.contains('\0') {
                        Some(format!("the value of `{k}` contains a NUL character"))
                    } else {
                        None
                    }
                });
                if let Some(message) = bad {
                    return Err(doc.bad_value(&env.span(), "env", message));
                }
                env.get_ref().clone()
            }
            None => Default::default(),
        };
        let cwd = match &c.cwd {
            Some(cwd) => Some(self.path_value(cwd, "cwd")?),
            None => None,
        };
        let memory_limit = match &c.memory_limit {
            Some(v) => Some(self.size(v, "memory_limit")?),
            None => None,
        };
        let sim = match &c.sim {
            Some(sim) => self.sim(sim.get_ref())?,
            None => SimBehaviour::default(),
        };
        // PROBES: the health probe, and `readiness = "probe"` (src/health_probe.rs).
        let health = crate::health_probe::of_child(doc, path, c)?;
        let identity = crate::identity::parse(doc, c)?;
        let log = crate::log::worker_log(doc, self.log.as_ref(), c.log.as_ref())?;
        let lifecycle = crate::lifecycle::lifecycle(&doc, c, keys)?;
        let tag = self.workers.len() as u64;
        self.workers.push(WorkerConfig {
            path: path.to_owned(),
            command: argv.clone(),
            env,
            cwd,
            memory_limit,
            sim,
            health,
            identity,
            log,
            lifecycle,
        });
        Ok(ChildSpec::worker(name).tag(tag))
    }

    fn backoff(&self, raw: &Spanned<Box<RawBackoff>>, keys: &mut Keys) -> Result<Backoff, ConfigError> {
        let b = raw.get_ref();
        let missing = |key: &'static str| {
            self.doc.error(
                &raw.span(),
                Some(key),
                ConfigErrorKind::MissingKey {
                    key: key.to_owned(),
                    table: "`backoff`".to_owned(),
                },
            )
        };
        let initial = b.initial.as_ref().ok_or_else(|| missing("initial"))?;
        let max = b.max.as_ref().ok_or_else(|| missing("max"))?;
        let mut backoff = Backoff::exponential(self.duration(initial, "initial")?, self.duration(max, "max")?);
        keys.push(("initial", initial.span()));
        keys.push(("max", max.span()));
        if let Some(v) = &b.multiplier {
            backoff.multiplier = v.get_ref().0;
            keys.push(("multiplier", v.span()));
        }
        if let Some(v) = &b.jitter {
            backoff.jitter = v.get_ref().0;
            keys.push(("jitter", v.span()));
        }
        if let Some(v) = &b.reset_after {
            backoff.reset_after = Some(self.duration(v, "reset_after")?);
            keys.push(("reset_after", v.span()));
        }
        Ok(backoff)
    }

    fn sim(&self, raw: &RawSim) -> Result<SimBehaviour, ConfigError> {
        let doc = self.doc;
        let mut sim = SimBehaviour::default();
        if let Some(v) = &raw.lifetime {
            sim.lifetime =
                Lifetime::from_str(&v.get_ref().0).map_err(|e| doc.bad_value(&v.span(), "lifetime", e.message()))?;
        }
        if let Some(v) = &raw.exit {
            sim.exit =
                ExitReason::from_str(v.get_ref()).map_err(|e| doc.bad_value(&v.span(), "exit", e.to_string()))?;
        }
        if let Some(v) = &raw.start_fail {
            sim.start_fail = self.probability(v, "start_fail")?;
        }
        if let Some(v) = &raw.start_latency {
            sim.start_latency = self.duration(v, "start_latency")?;
        }
        if let Some(v) = &raw.ready_latency {
            sim.ready_latency = self.duration(v, "ready_latency")?;
        }
        if let Some(v) = &raw.stop_latency {
            sim.stop_latency = self.duration(v, "stop_latency")?;
        }
        if let Some(v) = &raw.ignore_stop {
            sim.ignore_stop = self.probability(v, "ignore_stop")?;
        }
        Ok(sim)
    }

    /// A rejection by `SupervisorSpec::validate`, placed at the offending
    /// child's key (or its name, or its table).
    fn spec_error(&self, err: SpecError) -> ConfigError {
        let (span, key) = self.locate(&err);
        let kind = ConfigErrorKind::Spec(err);
        match span {
            Some(span) => self.doc.error(&span, key, kind),
            None => ConfigError::new(self.doc.source, kind),
        }
    }

    fn locate(&self, err: &SpecError) -> (Option<Range<usize>>, Option<&'static str>) {
        let named = |name: &str| {
            let name = name.to_owned();
            self.nodes
                .iter()
                .filter(move |n| n.parent == err.path && n.name == name)
        };
        let at_name = |n: &Node| (Some(n.name_span.clone()), Some("name"));
        match &err.kind {
            SpecErrorKind::DuplicateName { name } => named(name).nth(1).map_or((None, None), at_name),
            SpecErrorKind::EmptyName => named("").next().map_or((None, None), at_name),
            SpecErrorKind::NameWithSlash { name } | SpecErrorKind::UnprintableName { name } => {
                named(name).next().map_or((None, None), at_name)
            }
            SpecErrorKind::TooDeep { .. } => self
                .nodes
                .iter()
                .find(|n| n.parent == err.path)
                .map_or((None, None), |n| (Some(n.table.clone()), None)),
            kind => {
                let field = field_of(kind);
                let (keys, fallback) = if err.path.is_empty() {
                    (&self.root_keys, None)
                } else {
                    // REPLICAS: a replica's keys are its template's.
                    let path = crate::replicas::template_of(&self.templates, &err.path)
                        .map_or(err.path.as_str(), |t| t.path.as_str());
                    match self.nodes.iter().find(|n| n.path == path) {
                        Some(n) => (&n.keys, Some(n.name_span.clone())),
                        None => return (None, None),
                    }
                };
                match field.and_then(|f| keys.iter().find(|(k, _)| *k == f)) {
                    Some((key, span)) => (Some(span.clone()), Some(*key)),
                    None => (fallback, None),
                }
            }
        }
    }
}

/// The key a spec error is about.
fn field_of(kind: &SpecErrorKind) -> Option<&'static str> {
    Some(match kind {
        SpecErrorKind::SignificantPermanent | SpecErrorKind::SignificantUnderNever => "significant",
        SpecErrorKind::ZeroPeriod => "period",
        SpecErrorKind::ZeroShutdownTimeout => "shutdown",
        SpecErrorKind::ZeroStartupTimeout | SpecErrorKind::StartupTimeoutWithoutNotify => "startup_timeout",
        SpecErrorKind::ZeroHealthTimeout => "health_timeout",
        SpecErrorKind::WorkerOnly { field } => *field,
        SpecErrorKind::BadBackoffMultiplier { .. } => "multiplier",
        SpecErrorKind::BadBackoffJitter { .. } => "jitter",
        SpecErrorKind::BackoffInitialAboveMax => "initial",
        SpecErrorKind::ZeroBackoffReset => "reset_after",
        _ => return None,
    })
}
