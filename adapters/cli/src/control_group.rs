//! `[control] group` resolved against this host, for `vigil check` (a host
//! problem) and `vigil run` (exit 2 before anything starts): a numeric gid
//! is taken as it is, a name must exist.

use vigil_config::{AccountConfig, TreeConfig};

/// The gid of the config's `[control] group` (`None`: no key), or the
/// error as `file:line:col: [control] group: why`.
pub(crate) fn resolve(cfg: &TreeConfig) -> Result<Option<u32>, String> {
    let Some(group) = &cfg.control.group else {
        return Ok(None);
    };
    match &group.account {
        AccountConfig::Id(gid) => Ok(Some(*gid)),
        AccountConfig::Name(name) => vigil_tokio::control::group_id(name).map(Some).map_err(|e| {
            let (line, column) = group.position;
            format!("{}:{line}:{column}: [control] group: {e}", cfg.source)
        }),
    }
}
