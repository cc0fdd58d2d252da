//! The group of `[control] group` looked up on this host.

use super::error::ControlError;

/// The gid of the group named `name` on this host (`/etc/group`, or
/// whatever NSS serves), for [`ControlOptions::group`](super::ControlOptions::group).
///
/// ```
/// use vigil_tokio::control::{group_id, ControlError};
///
/// assert_eq!(group_id("root").expect("every host has root"), 0);
/// assert!(matches!(group_id("no-such-group-here"), Err(ControlError::UnknownGroup(_))));
/// ```
pub fn group_id(name: &str) -> Result<u32, ControlError> {
    match nix::unistd::Group::from_name(name) {
        Ok(Some(group)) => Ok(group.gid.as_raw()),
        Ok(None) => Err(ControlError::UnknownGroup(name.to_owned())),
        Err(errno) => Err(ControlError::GroupLookup {
            name: name.to_owned(),
            errno,
        }),
    }
}
