//! What `vigil run` does for the control server's `reload` and
//! `start_child` operations (vigil_tokio's `Operator`): a reload is the
//! SIGHUP reload (`reload.rs`), answered with its diff; a `start_child`
//! snippet is one `[[child]]` table read like the config file (the same
//! keys, errors and positions) and started under its parent.
//!
//! A child started from a snippet is in no config file. A reload leaves
//! it running: the reload plan compares only the children of the config
//! files, and the diff lists it under `not_in_config`. It is lost when a
//! reload replaces its parent supervisor (the parent's new spec, from the
//! file, does not have it), and a reload that adds a child of the same
//! name under the root fails for that child (`already_present`) until it
//! is deleted (docs/OPERATING.md, "Reload").

use serde_json::json;
use vigil_config::TreeConfig;
use vigil_core::Reply;
use vigil_tokio::control::{Operator, OperatorError, OperatorFuture};
use vigil_tokio::OutputMode;

use crate::reload::{ReloadError, Reloader};

/// `vigil run`'s operator.
pub struct VigilOperator {
    reloader: Reloader,
    output: OutputMode,
}

impl VigilOperator {
    /// The operator of the tree `reloader` reloads; new processes' output
    /// goes to `output`.
    pub fn new(reloader: Reloader, output: &OutputMode) -> Self {
        VigilOperator {
            reloader,
            output: output.clone(),
        }
    }
}

impl Operator for VigilOperator {
    fn reload(&self, dry_run: bool) -> OperatorFuture {
        let reloader = self.reloader.clone();
        Box::pin(async move {
            reloader.reload(dry_run).await.map(|d| d.to_json()).map_err(|e| {
                let code = match e {
                    ReloadError::WouldEmpty { .. } => "would_empty",
                    ReloadError::Read(_) | ReloadError::Invalid(_) => "bad_config",
                };
                OperatorError::new(code, e.to_string())
            })
        })
    }

    fn scale(&self, path: String, count: u32) -> OperatorFuture {
        let reloader = self.reloader.clone();
        Box::pin(async move { reloader.scale(&path, count).await })
    }

    fn surge_restart(&self, path: String, surge: u32) -> OperatorFuture {
        let reloader = self.reloader.clone();
        Box::pin(async move { reloader.surge(&path, surge).await })
    }

    fn start_child(&self, parent: String, snippet: String, source: String) -> OperatorFuture {
        let sup = self.reloader.tree();
        let output = self.output.clone();
        Box::pin(async move {
            let source = source.as_str();
            let cfg = parse_snippet(&snippet, source)?;
            let Some(spec) = cfg.spec.children.first().cloned() else {
                return Err(OperatorError::new(
                    "bad_config",
                    format!("{source}: no [[child]] table"),
                ));
            };
            let name = spec.name.clone();
            let processes = crate::worker_processes::processes(&cfg, &output);
            match sup.start_processes(&parent, spec, &processes).await {
                Ok(Reply::Started { run, .. }) => {
                    let path = if parent.is_empty() {
                        name
                    } else {
                        format!("{parent}/{name}")
                    };
                    tracing::info!(child = %path, "started a child from a config snippet (vigil ctl start-child)");
                    Ok(json!({ "path": path, "started": true, "generation": run.map(|r| r.generation) }))
                }
                Ok(_) => Ok(json!({ "started": true })),
                Err(e) => Err(OperatorError::new(e.code(), e.to_string())),
            }
        })
    }
}

/// A snippet as a config of exactly one top-level `[[child]]` table and
/// nothing else; errors name `source`, line and column.
fn parse_snippet(text: &str, source: &str) -> Result<TreeConfig, OperatorError> {
    let cfg = vigil_config::parse_tree(text, source).map_err(|e| OperatorError::new("bad_config", e.to_string()))?;
    let defaults = vigil_config::parse_tree("", source).map_err(|e| OperatorError::new("bad_config", e.to_string()))?;
    let mut root = cfg.spec.clone();
    root.children.clear();
    if root != defaults.spec || cfg.control != defaults.control || cfg.monitor != defaults.monitor {
        return Err(OperatorError::new(
            "bad_config",
            format!("{source}: a snippet holds one [[child]] table and nothing else (no [supervisor], [control] or [monitor])"),
        ));
    }
    if let Some(t) = cfg.templates.first() {
        return Err(OperatorError::new(
            "bad_config",
            format!(
                "{source}: `{}` has `count`: replicas come from the config file (add the template there and reload)",
                t.path
            ),
        ));
    }
    match cfg.spec.children.len() {
        1 => Ok(cfg),
        n => Err(OperatorError::new(
            "bad_config",
            format!("{source}: a snippet holds exactly one [[child]] table, this one has {n}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snippet_is_one_child_and_its_errors_have_positions() {
        let ok = parse_snippet("[[child]]\nname = \"w9\"\ncommand = [\"true\"]\n", "c.toml").unwrap();
        assert_eq!(ok.spec.children[0].name, "w9");
        let e = parse_snippet(
            "[[child]]\nname = \"w9\"\ncommand = [\"true\"]\nrestart = \"sometimes\"\n",
            "c.toml",
        )
        .unwrap_err();
        assert_eq!(e.code, "bad_config");
        assert!(e.message.starts_with("c.toml:4:"), "{}", e.message);
        let two = "[[child]]\nname = \"a\"\ncommand = [\"true\"]\n[[child]]\nname = \"b\"\ncommand = [\"true\"]\n";
        assert!(parse_snippet(two, "c.toml").unwrap_err().message.contains("has 2"));
        assert!(parse_snippet("", "c.toml").unwrap_err().message.contains("has 0"));
        let extra = "[control]\nsocket = \"x.sock\"\n[[child]]\nname = \"a\"\ncommand = [\"true\"]\n";
        assert!(parse_snippet(extra, "c.toml")
            .unwrap_err()
            .message
            .contains("nothing else"));
    }
}
