//! `vigil check CONFIG [--script FILE]`: validate a tree config (and a
//! scenario script for it) and print the tree.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::ExitCode;

use vigil_config::{format_duration, Action, Script, TreeConfig};
use vigil_core::{ChildKind, Request, SupervisorSpec};

/// Load and validate `config` (and `script`); print the tree and a summary
/// (exit 0), or the error as `file:line:col: message` on stderr (exit 2).
/// Script actions naming nodes the tree does not have are warnings: a script
/// may mean to exercise a request's error.
pub fn check(config: &Path, script: Option<&Path>) -> ExitCode {
    let tree = match vigil_config::load_tree(config) {
        Ok(tree) => tree,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let script = match script.map(vigil_config::load_script).transpose() {
        Ok(script) => script,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let host = crate::host_check::host_problems(&tree);
    for problem in &host {
        eprintln!("{}: {}", if problem.fatal { "error" } else { "warning" }, problem.line);
    }
    if host.iter().any(|p| p.fatal) {
        return ExitCode::from(2);
    }
    let rendered = tree.render();
    print!("{rendered}");
    if !rendered.ends_with('\n') {
        println!();
    }
    print_run_settings(&tree, config);
    // PROBES: settings that parse but cannot work as written.
    for warning in vigil_config::health_warnings(&tree) {
        eprintln!("warning: {}: {warning}", tree.source);
    }
    println!(
        "{}: ok: {}, {} (the root included)",
        tree.source,
        plural(tree.workers.len(), "worker"),
        plural(count_supervisors(&tree.spec), "supervisor"),
    );
    if let Some(script) = script {
        for warning in script_warnings(&tree, &script) {
            eprintln!("warning: {warning}");
        }
        let span = script
            .actions
            .last()
            .map_or_else(String::new, |a| format!(" over {}", format_duration(a.time)));
        println!(
            "{}: ok: {}{span}",
            script.source,
            plural(script.actions.len(), "action")
        );
    }
    ExitCode::SUCCESS
}

/// What `vigil run` of this config binds and how it behaves beside the
/// tree: the control socket (always), the HTTP endpoint and `keep_running`
/// (when set).
fn print_run_settings(tree: &TreeConfig, config: &Path) {
    println!(
        "control socket: {}",
        crate::socket_path::of_config(tree, config).display()
    );
    // REPLICAS: each template, also those with no replica running.
    for t in &tree.templates {
        let names = match t.count {
            0 => "none running; `vigil ctl scale` starts them".to_owned(),
            n => format!("{} … {}", t.replica_name(0), t.replica_name(n - 1)),
        };
        println!("replicas: {} count={} ({names})", t.path, t.count);
    }
    if let Some(listen) = tree.http.listen {
        println!("http: GET /metrics /healthz /readyz /status on {listen}");
    }
    if tree.run.keep_running {
        println!("run: keep_running (a root give-up or a failed start leaves vigil up)");
    }
}

/// Supervisors in the tree rooted at `spec`, `spec` included.
fn count_supervisors(spec: &SupervisorSpec) -> usize {
    1 + spec
        .children
        .iter()
        .map(|c| match &c.kind {
            ChildKind::Supervisor(s) => count_supervisors(s),
            ChildKind::Worker => 0,
        })
        .sum::<usize>()
}

/// The paths of the tree's supervisors (the root is `""`) and workers.
fn node_paths(spec: &SupervisorSpec, path: &str, sups: &mut BTreeSet<String>, workers: &mut BTreeSet<String>) {
    sups.insert(path.to_owned());
    for child in &spec.children {
        let p = if path.is_empty() {
            child.name.clone()
        } else {
            format!("{path}/{}", child.name)
        };
        match &child.kind {
            ChildKind::Supervisor(s) => node_paths(s, &p, sups, workers),
            ChildKind::Worker => {
                workers.insert(p);
            }
        }
    }
}

/// Script actions that name a node the tree does not have (statically, or
/// through an earlier `start_child` of the script), as `file:line: message`.
fn script_warnings(tree: &TreeConfig, script: &Script) -> Vec<String> {
    let (mut sups, mut workers) = (BTreeSet::new(), BTreeSet::new());
    node_paths(&tree.spec, "", &mut sups, &mut workers);
    let mut out = Vec::new();
    for a in &script.actions {
        let mut warn = |what: &str, path: &str| {
            out.push(format!(
                "{}:{}: `{path}` is not {what} of {}",
                script.source, a.line, tree.source
            ));
        };
        match &a.action {
            Action::Exit { path, .. } | Action::FailStarts { path, .. } | Action::HangOnStop { path } => {
                if !workers.contains(path) {
                    warn("a worker", path);
                }
            }
            Action::Request(Request::StartChild { parent, spec }) => {
                if sups.contains(parent) {
                    let p = if parent.is_empty() {
                        spec.name.clone()
                    } else {
                        format!("{parent}/{}", spec.name)
                    };
                    workers.insert(p);
                } else {
                    warn("a supervisor", parent);
                }
            }
            Action::Request(Request::RestartAll { path, .. })
            | Action::Request(Request::WhichChildren { path })
            | Action::Request(Request::CountChildren { path }) => {
                if !sups.contains(path) {
                    warn("a supervisor", path);
                }
            }
            Action::Request(Request::TerminateChild { path })
            | Action::Request(Request::RestartChild { path })
            | Action::Request(Request::DeleteChild { path })
            | Action::Request(Request::ReplaceChild { path, .. }) => {
                if !workers.contains(path) && (path.is_empty() || !sups.contains(path)) {
                    warn("a child", path);
                }
            }
            Action::Request(Request::Shutdown) => {}
        }
    }
    out
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_core::ChildSpec;

    #[test]
    fn supervisors_are_counted_at_every_level() {
        let inner = SupervisorSpec::new().child(ChildSpec::worker("a"));
        let mid = SupervisorSpec::new()
            .child(ChildSpec::supervisor("inner", inner))
            .child(ChildSpec::worker("b"));
        let root = SupervisorSpec::new()
            .child(ChildSpec::supervisor("mid", mid))
            .child(ChildSpec::worker("c"));
        assert_eq!(count_supervisors(&root), 3);
        assert_eq!(count_supervisors(&SupervisorSpec::new()), 1);
        assert_eq!(plural(1, "worker"), "1 worker");
        assert_eq!(plural(0, "worker"), "0 workers");
    }

    #[test]
    fn script_paths_outside_the_tree_are_warned_about() {
        let tree = vigil_config::parse_tree(
            "[[child]]\nname = \"db\"\ncommand = [\"x\"]\n\
             [[child]]\nname = \"web\"\nsupervisor = {}\n\
             [[child.child]]\nname = \"w1\"\ncommand = [\"x\"]\n",
            "t.toml",
        )
        .unwrap();
        let script = vigil_config::parse_script(
            "[[at]]\ntime = \"1s\"\nexit = \"web/w1\"\n\
             [[at]]\ntime = \"2s\"\nexit = \"web/w2\"\n\
             [[at]]\ntime = \"3s\"\nrequest = \"start_child\"\npath = \"web\"\nname = \"w2\"\n\
             [[at]]\ntime = \"4s\"\nhang_on_stop = \"web/w2\"\n\
             [[at]]\ntime = \"5s\"\nrequest = \"restart_all\"\npath = \"db\"\n\
             [[at]]\ntime = \"6s\"\nrequest = \"terminate_child\"\npath = \"web\"\n\
             [[at]]\ntime = \"7s\"\nrequest = \"delete_child\"\npath = \"nope\"\n\
             [[at]]\ntime = \"8s\"\nrequest = \"shutdown\"\n",
            "s.toml",
        )
        .unwrap();
        assert_eq!(
            script_warnings(&tree, &script),
            [
                "s.toml:4: `web/w2` is not a worker of t.toml",
                "s.toml:15: `db` is not a supervisor of t.toml",
                "s.toml:23: `nope` is not a child of t.toml",
            ]
        );
    }
}
