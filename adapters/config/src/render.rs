//! The tree as `vigil check` prints it.

use std::fmt::Write as _;

use vigil_core::{
    AutoShutdown, Backoff, ChildKind, ChildSpec, Lifespan, Readiness, Restart, Shutdown, ShutdownOrder, SupervisorSpec,
};

use crate::byte_size::format_byte_size;
use crate::duration::format_duration;
use crate::keywords::{
    format_shutdown, name_of, AUTO_SHUTDOWNS, LIFESPANS, READINESS, RESTARTS, SHUTDOWN_ORDERS, STRATEGIES,
};
use crate::model::{TreeConfig, WorkerConfig};

impl TreeConfig {
    /// The tree as readable text, one node per line, for `vigil check`: the
    /// root (`/`) with its strategy and limits, then every child in start
    /// order. Workers show their restart type, effective shutdown and the
    /// settings that are not defaults, then their command; supervisors show
    /// their strategy and limits, then their settings that are not defaults.
    /// Durations are written as [`format_duration`] does.
    ///
    /// ```
    /// let config = vigil_config::parse_tree(
    ///     r#"
    /// [supervisor]
    /// intensity = 3
    ///
    /// [[child]]
    /// name = "db"
    /// command = ["postgres", "-D", "data"]
    /// shutdown = "10s"
    /// readiness = "notify"
    ///
    /// [[child]]
    /// name = "web"
    /// supervisor = { strategy = "one_for_all" }
    ///   [[child.child]]
    ///   name = "w1"
    ///   command = ["./web", "--port", "8080"]
    /// "#,
    ///     "web.toml",
    /// )
    /// .unwrap();
    /// assert_eq!(
    ///     config.render(),
    ///     "\
    /// /  one_for_one intensity=3 period=5s
    /// ├── db  worker permanent shutdown=10s readiness=notify  [postgres -D data]
    /// └── web  supervisor one_for_all intensity=1 period=5s
    ///     └── w1  worker permanent shutdown=5s  [./web --port 8080]
    /// "
    /// );
    /// ```
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("/  ");
        supervisor_settings(&mut out, &self.spec);
        out.push('\n');
        self.render_children(&mut out, &self.spec, "");
        out
    }

    fn render_children(&self, out: &mut String, spec: &SupervisorSpec, indent: &str) {
        for (i, child) in spec.children.iter().enumerate() {
            let last = i + 1 == spec.children.len();
            out.push_str(indent);
            out.push_str(if last { "└── " } else { "├── " });
            out.push_str(&child.name);
            out.push_str("  ");
            match &child.kind {
                ChildKind::Worker => {
                    let worker = usize::try_from(child.tag).ok().and_then(|t| self.workers.get(t));
                    worker_line(out, child, worker);
                    out.push('\n');
                }
                ChildKind::Supervisor(sup) => {
                    out.push_str("supervisor ");
                    supervisor_settings(out, sup);
                    child_extras(out, child, Restart::Permanent, Shutdown::Infinity);
                    out.push('\n');
                    let deeper = format!("{indent}{}", if last { "    " } else { "│   " });
                    self.render_children(out, sup, &deeper);
                }
            }
        }
    }
}

fn supervisor_settings(out: &mut String, spec: &SupervisorSpec) {
    let _ = write!(
        out,
        "{} intensity={} period={}",
        name_of(STRATEGIES, &spec.strategy),
        spec.intensity,
        format_duration(spec.period)
    );
    if spec.auto_shutdown != AutoShutdown::Never {
        let _ = write!(out, " auto_shutdown={}", name_of(AUTO_SHUTDOWNS, &spec.auto_shutdown));
    }
    if spec.lifespan != Lifespan::Permanent {
        let _ = write!(out, " lifespan={}", name_of(LIFESPANS, &spec.lifespan));
    }
    if spec.shutdown_order != ShutdownOrder::Reverse {
        let _ = write!(
            out,
            " shutdown_order={}",
            name_of(SHUTDOWN_ORDERS, &spec.shutdown_order)
        );
    }
}

fn worker_line(out: &mut String, child: &ChildSpec, worker: Option<&WorkerConfig>) {
    let _ = write!(
        out,
        "worker {} shutdown={}",
        name_of(RESTARTS, &child.restart),
        format_shutdown(child.shutdown_policy())
    );
    // Restart and shutdown are always shown above, so never "extra" here.
    child_extras(out, child, child.restart, child.shutdown_policy());
    if child.readiness != Readiness::Immediate {
        let _ = write!(out, " readiness={}", name_of(READINESS, &child.readiness));
    }
    if let Some(d) = child.startup_timeout {
        let _ = write!(out, " startup_timeout={}", format_duration(d));
    }
    if let Some(d) = child.health_timeout {
        let _ = write!(out, " health_timeout={}", format_duration(d));
    }
    if let Some(b) = &child.backoff {
        out.push_str(" backoff=");
        backoff(out, b);
    }
    let Some(worker) = worker else { return };
    if let Some(bytes) = worker.memory_limit {
        let _ = write!(out, " memory_limit={}", format_byte_size(bytes));
    }
    if let Some(cwd) = &worker.cwd {
        let _ = write!(out, " cwd={}", quote(&cwd.display().to_string()));
    }
    // LOGS: the worker's log files, as merged with the tree's `[log]`.
    if let Some(log) = &worker.log {
        let _ = write!(
            out,
            " log={}(max_size={},keep={}{})",
            quote(&log.dir.display().to_string()),
            format_byte_size(log.max_size),
            log.keep,
            if log.timestamps { ",timestamps" } else { "" }
        );
    }
    for (k, v) in &worker.env {
        let _ = write!(out, " env:{}={}", quote(k), quote(v));
    }
    crate::identity::render(out, &worker.identity);
    let argv: Vec<String> = worker.command.iter().map(|a| quote(a)).collect();
    let _ = write!(out, "  [{}]", argv.join(" "));
}

/// The child attributes that differ from `restart` and `shutdown` (the
/// defaults for this kind of child) and the other defaults.
fn child_extras(out: &mut String, child: &ChildSpec, restart: Restart, shutdown: Shutdown) {
    if child.restart != restart {
        let _ = write!(out, " restart={}", name_of(RESTARTS, &child.restart));
    }
    if child.shutdown_policy() != shutdown {
        let _ = write!(out, " shutdown={}", format_shutdown(child.shutdown_policy()));
    }
    if child.significant {
        out.push_str(" significant");
    }
    if child.is_supervisor() {
        if let Some(b) = &child.backoff {
            out.push_str(" backoff=");
            backoff(out, b);
        }
    }
}

/// `100ms..30s*2` plus `jitter=` and `reset_after=` when set.
fn backoff(out: &mut String, b: &Backoff) {
    let _ = write!(
        out,
        "{}..{}*{}",
        format_duration(b.initial),
        format_duration(b.max),
        Number(b.multiplier)
    );
    if b.jitter != 0.0 {
        let _ = write!(out, " jitter={}", Number(b.jitter));
    }
    if let Some(d) = b.reset_after {
        let _ = write!(out, " reset_after={}", format_duration(d));
    }
}

/// A float as a person writes it: `2`, `1.5`, and `1e20` rather than
/// twenty-one digits (`f64`'s `Display` writes every digit of 1e308).
struct Number(f64);

impl std::fmt::Display for Number {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = self.0.abs();
        if v != 0.0 && !(1e-4..1e6).contains(&v) {
            write!(f, "{:e}", self.0)
        } else {
            write!(f, "{}", self.0)
        }
    }
}

/// An argument as is when it is plain, else quoted (Rust string syntax).
pub(crate) fn quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && !matches!(c, '"' | '\'' | '\\' | '[' | ']'));
    if plain {
        arg.to_owned()
    } else {
        format!("{arg:?}")
    }
}
