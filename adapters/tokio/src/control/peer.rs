//! Who may talk to the server: a peer with vigil's own user id, root, and,
//! when [`ControlOptions::group`](super::ControlOptions::group) is set, a
//! member of that group (its primary group, or one of its supplementary
//! groups as `/proc/<pid>/status` lists them). An admitted peer may do
//! everything vigil's own user may (docs/OPERATING.md, "Who can reach the
//! control socket").

use tokio::net::UnixStream;

/// Why a peer is refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PeerError {
    /// Another user, and no group is allowed.
    #[error("peer uid {peer} is neither vigil's uid {ours} nor root")]
    OtherUser { peer: u32, ours: u32 },
    /// Another user, not in the allowed group.
    #[error("peer uid {peer} is neither vigil's uid {ours}, nor root, nor in the control group {group}")]
    NotInGroup { peer: u32, ours: u32, group: u32 },
    /// The kernel would not say (SO_PEERCRED failed).
    #[error("cannot read the peer's credentials: {0}")]
    Unknown(std::io::Error),
    /// The peer's supplementary groups could not be read or trusted: refused.
    #[error("cannot read the groups of peer uid {peer}: {why}")]
    Groups { peer: u32, why: String },
}

/// Who may connect: vigil's effective uid, root, and the members of
/// `group`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PeerRule {
    /// Vigil's effective uid.
    pub(crate) ours: u32,
    /// `[control] group`, as a gid.
    pub(crate) group: Option<u32>,
}

/// Check the credentials the kernel recorded when the peer connected.
pub(crate) fn check(stream: &UnixStream, group: Option<u32>) -> Result<(), PeerError> {
    let cred = stream.peer_cred().map_err(PeerError::Unknown)?;
    let rule = PeerRule {
        ours: nix::unistd::geteuid().as_raw(),
        group,
    };
    rule.admits(cred.uid(), cred.gid(), || match cred.pid() {
        Some(pid) => std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| e.to_string()),
        None => Err("the kernel gave no pid".to_owned()),
    })
}

impl PeerRule {
    /// The rule, for a peer with effective `uid` and `gid`; `status` gives
    /// the text of its `/proc/<pid>/status`, read only when the answer
    /// depends on its supplementary groups. The status must still show
    /// `uid` as the effective uid (else the pid may be another process
    /// now): anything unreadable or unexpected refuses.
    pub(crate) fn admits(
        self,
        uid: u32,
        gid: u32,
        status: impl FnOnce() -> Result<String, String>,
    ) -> Result<(), PeerError> {
        if uid == self.ours || uid == 0 {
            return Ok(());
        }
        let Some(group) = self.group else {
            return Err(PeerError::OtherUser {
                peer: uid,
                ours: self.ours,
            });
        };
        if gid == group {
            return Ok(());
        }
        let refused = |why: String| PeerError::Groups { peer: uid, why };
        let text = status().map_err(refused)?;
        let effective = field(&text, "Uid:")
            .and_then(|mut ids| ids.nth(1))
            .ok_or_else(|| refused("no effective uid in its status".to_owned()))?;
        if effective != Ok(uid) {
            return Err(refused("its pid now runs as another user".to_owned()));
        }
        let mut groups = field(&text, "Groups:").ok_or_else(|| refused("no Groups line in its status".to_owned()))?;
        if groups.any(|g| g == Ok(group)) {
            Ok(())
        } else {
            Err(PeerError::NotInGroup {
                peer: uid,
                ours: self.ours,
                group,
            })
        }
    }
}

/// The numbers of the line of `status` that starts with `name`.
fn field<'a>(status: &'a str, name: &str) -> Option<impl Iterator<Item = Result<u32, std::num::ParseIntError>> + 'a> {
    let line = status.lines().find_map(|l| l.strip_prefix(name))?;
    Some(line.split_whitespace().map(str::parse::<u32>))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(uid: u32, groups: &str) -> impl FnOnce() -> Result<String, String> {
        let text = format!("Name:\tsh\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\nGid:\t7\t7\t7\t7\nGroups:\t{groups}\n");
        move || Ok(text)
    }

    fn unread() -> Result<String, String> {
        panic!("the status is not read when the credentials decide")
    }

    #[test]
    fn same_uid_or_root_without_a_group() {
        let rule = PeerRule {
            ours: 1000,
            group: None,
        };
        assert!(rule.admits(1000, 1000, unread).is_ok());
        assert!(rule.admits(0, 0, unread).is_ok());
        assert!(matches!(
            rule.admits(1001, 1000, unread),
            Err(PeerError::OtherUser { .. })
        ));
        let root = PeerRule { ours: 0, group: None };
        assert!(matches!(
            root.admits(65534, 65534, unread),
            Err(PeerError::OtherUser { .. })
        ));
    }

    #[test]
    fn a_member_of_the_group_by_primary_or_supplementary_gid() {
        let rule = PeerRule {
            ours: 0,
            group: Some(500),
        };
        assert!(rule.admits(65534, 500, unread).is_ok());
        assert!(rule.admits(65534, 7, status(65534, "7 500 600")).is_ok());
        assert!(rule.admits(65534, 7, status(65534, "500")).is_ok());
        let e = rule.admits(65534, 7, status(65534, "7 5000 50")).unwrap_err();
        assert!(
            matches!(
                e,
                PeerError::NotInGroup {
                    peer: 65534,
                    group: 500,
                    ..
                }
            ),
            "{e}"
        );
        assert!(matches!(
            rule.admits(65534, 7, status(65534, "")),
            Err(PeerError::NotInGroup { .. })
        ));
    }

    #[test]
    fn an_unreadable_or_untrusted_status_refuses() {
        let rule = PeerRule {
            ours: 0,
            group: Some(500),
        };
        let gone = || Err("No such file or directory".to_owned());
        assert!(matches!(rule.admits(65534, 7, gone), Err(PeerError::Groups { .. })));
        // The pid was reused by another user's process.
        assert!(matches!(
            rule.admits(65534, 7, status(1234, "500")),
            Err(PeerError::Groups { .. })
        ));
        // No Groups line, no Uid line, garbage.
        let text = |t: &'static str| move || Ok(t.to_owned());
        assert!(rule
            .admits(65534, 7, text("Uid:\t65534\t65534\t65534\t65534\n"))
            .is_err());
        assert!(rule.admits(65534, 7, text("Groups:\t500\n")).is_err());
        assert!(rule.admits(65534, 7, text("Uid:\tx\ty\nGroups:\t500\n")).is_err());
        assert!(rule.admits(65534, 7, text("")).is_err());
    }
}
