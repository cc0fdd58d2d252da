//! The model's tree as a short outline, one node a line: what proptest
//! prints as the failing case's initial state.

use std::fmt;

use vigil_core::{ChildSpec, Shutdown, SupervisorSpec};

use crate::model::Model;

impl fmt::Debug for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "tree (root first, each child indented under its supervisor):")?;
        writeln!(f, "/ {}", sup_line(&self.root.spec))?;
        outline(f, &self.root.spec, 1)
    }
}

fn outline(f: &mut fmt::Formatter<'_>, spec: &SupervisorSpec, depth: usize) -> fmt::Result {
    for c in &spec.children {
        writeln!(f, "{}{} {}", "  ".repeat(depth), c.name, child_line(c))?;
        if let vigil_core::ChildKind::Supervisor(inner) = &c.kind {
            writeln!(f, "{}  ({})", "  ".repeat(depth), sup_line(inner))?;
            outline(f, inner, depth + 1)?;
        }
    }
    Ok(())
}

fn sup_line(spec: &SupervisorSpec) -> String {
    format!(
        "{:?} intensity={} period={:?} auto_shutdown={:?} lifespan={:?}",
        spec.strategy, spec.intensity, spec.period, spec.auto_shutdown, spec.lifespan
    )
}

fn child_line(c: &ChildSpec) -> String {
    let shutdown = match c.shutdown_policy() {
        Shutdown::Brutal => "brutal".to_owned(),
        Shutdown::Infinity => "infinity".to_owned(),
        Shutdown::Timeout(t) => format!("{t:?}"),
    };
    let kind = if c.is_supervisor() { "supervisor" } else { "worker" };
    let significant = if c.significant { " significant" } else { "" };
    format!("{kind} {:?} shutdown={shutdown}{significant}", c.restart)
}
