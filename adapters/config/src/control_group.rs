//! `[control] group` (docs/CONFIG.md, `[control]`): the one group, besides
//! vigil's own user and root, whose members may reach the control socket.
//! Checked here for its syntax only (a name or a numeric id, like a
//! worker's `group`); whether the group exists is checked against the host
//! by `vigil check` and `vigil run`, never here: the same config is
//! simulated on any machine.

use toml::Spanned;

use crate::error::ConfigError;
use crate::identity::{account, AccountConfig};
use crate::position::{line_col, Doc};

/// `[control] group`: the group as written, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControlGroup {
    /// A group name or a numeric gid.
    pub account: AccountConfig,
    /// Where the value is (line, column), for the host check's message.
    pub position: (usize, usize),
}

/// `group = "vigil-ops"` or `group = 1001`, checked.
pub(crate) fn parse(doc: Doc<'_>, v: &Spanned<toml::Value>) -> Result<ControlGroup, ConfigError> {
    Ok(ControlGroup {
        account: account(doc, v, "group")?,
        position: line_col(doc.text, v.span().start),
    })
}

#[cfg(test)]
mod tests {
    use crate::{parse_tree, AccountConfig};

    #[test]
    fn a_name_or_an_id_with_its_position() {
        let cfg = parse_tree("[control]\ngroup = \"ops\"\n", "t.toml").unwrap();
        let group = cfg.control.group.unwrap();
        assert_eq!(group.account, AccountConfig::Name("ops".to_owned()));
        assert_eq!(group.position, (2, 9));
        let cfg = parse_tree("[control]\ngroup = 1001\n", "t.toml").unwrap();
        assert_eq!(cfg.control.group.unwrap().account, AccountConfig::Id(1001));
        let cfg = parse_tree("[control]\ngroup = \"1002\"\n", "t.toml").unwrap();
        assert_eq!(cfg.control.group.unwrap().account, AccountConfig::Id(1002));
        assert_eq!(parse_tree("", "t.toml").unwrap().control.group, None);
    }
}
