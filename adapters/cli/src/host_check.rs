//! The identity keys checked against this host (docs/CONFIG.md, "identity,
//! limits and environment" and "cgroup"): users and groups looked up,
//! environment files read, limits compared with the system's, cgroup
//! limits compared with what vigil's cgroup can give; and `[control]
//! group` looked up (`crate::control_group`). `vigil check` prints
//! each problem and fails on those that would fail the child's start;
//! `vigil run` prints them at start (the starts themselves fail with the
//! same message).

use vigil_config::{TreeConfig, WorkerConfig};
use vigil_tokio::identity::{check_cgroup, CgroupLimits, Identity, IdentityError};

/// One problem of one worker with this host, as one line.
pub(crate) struct HostProblem {
    /// The worker's starts will fail (else it starts without something).
    pub(crate) fatal: bool,
    /// `file:line:col: child `path`: message`.
    pub(crate) line: String,
}

/// Every problem of the tree's workers with this host, in start order.
pub(crate) fn host_problems(tree: &TreeConfig) -> Vec<HostProblem> {
    let mut problems = Vec::new();
    // ACCESS: `[control] group` must exist.
    if let Err(line) = crate::control_group::resolve(tree) {
        problems.push(HostProblem { fatal: true, line });
    }
    for worker in tree.workers.iter().filter(|w| w.identity != Default::default()) {
        let identity = Identity::from_config(&worker.identity);
        if let Err(e) = identity.check() {
            problems.push(HostProblem {
                fatal: true,
                line: at(tree, worker, key_of(&e), &e.to_string()),
            });
        }
        if let Some(limits) = &identity.cgroup {
            problems.extend(cgroup_problem(tree, worker, limits));
        }
    }
    problems
}

fn cgroup_problem(tree: &TreeConfig, worker: &WorkerConfig, limits: &CgroupLimits) -> Option<HostProblem> {
    if limits.controllers().is_empty() {
        return None;
    }
    let why = check_cgroup(limits).err()?;
    let then = if limits.required {
        "the child will not start (cgroup `required = true`, the default)"
    } else {
        "the child starts without them (`required = false`)"
    };
    Some(HostProblem {
        fatal: limits.required,
        line: at(
            tree,
            worker,
            "cgroup",
            &format!("cgroup limits cannot be applied: {why}; {then}"),
        ),
    })
}

/// The key an identity error is about.
fn key_of(e: &IdentityError) -> &'static str {
    match e {
        IdentityError::UnknownUser(_) | IdentityError::NoPrimaryGroup(_) => "user",
        IdentityError::UnknownGroup(_) => "group",
        IdentityError::SoftAboveHard { .. } | IdentityError::AboveMaximum { .. } => "limits",
        IdentityError::EnvironmentFile { .. } => "environment_file",
        IdentityError::Cgroup(_) => "cgroup",
        _ => "user",
    }
}

fn at(tree: &TreeConfig, worker: &WorkerConfig, key: &str, message: &str) -> String {
    let position = worker
        .identity
        .positions
        .get(key)
        .map_or_else(String::new, |(line, column)| format!(":{line}:{column}"));
    format!("{}{position}: child `{}`: {message}", tree.source, worker.path)
}
