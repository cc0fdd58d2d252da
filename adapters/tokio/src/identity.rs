//! Who a process child runs as and with what: user, group, umask, resource
//! limits, cgroup limits and environment ([`Identity`], the field
//! [`ProcessSpec::identity`](crate::ProcessSpec)); docs/ADAPTER.md,
//! "Identity, limits and cgroups", says where each is applied and why.
//!
//! vigil resolves an [`Identity`] at each start of a run (`Identity::resolve`:
//! names to ids, the environment files read, the limits checked), so that a
//! user deleted or an environment file edited since the last start applies
//! at the next one, and a problem is a failed start that says what is
//! wrong. `vigil check` calls the same function.

use std::collections::BTreeMap;
use std::path::PathBuf;

use nix::unistd::{Gid, Group, Uid, User};

// Unused where tests compile this file into their own crate (tests/process.rs).
#[allow(unused_imports)]
pub use crate::cgroup::{check as check_cgroup, CgroupError, CgroupLimits, ROOT_ENV as CGROUP_ROOT_ENV};
#[allow(unused_imports)]
pub use crate::environment_file::{parse_environment_file, EnvironmentFileError};
use crate::spawn_setup::SpawnSetup;

/// Who and what a process child runs as. The default changes nothing: the
/// program runs as vigil's user, with vigil's umask, limits and
/// environment.
///
/// ```
/// use vigil_tokio::identity::{Account, Identity, Limit, LimitValue};
/// use vigil_tokio::ProcessSpec;
///
/// let spec = ProcessSpec::new(["postgres", "-D", "data"]).identity(Identity {
///     user: Some(Account::Name("postgres".into())),
///     umask: Some(0o027),
///     limits: [(Limit::Nofile, LimitValue::both(4096))].into(),
///     ..Identity::default()
/// });
/// assert!(!spec.identity.is_default());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identity {
    /// The user to run as; its primary group and supplementary groups come
    /// with it (`initgroups`), and `HOME`, `USER` and `LOGNAME` are set to
    /// its own (below the child's `env` and environment files).
    pub user: Option<Account>,
    /// The group to run as, instead of the user's primary group.
    pub group: Option<Account>,
    /// The file mode creation mask (0 to 0o777).
    pub umask: Option<u32>,
    /// Resource limits (`setrlimit`).
    pub limits: BTreeMap<Limit, LimitValue>,
    /// Hard limits through a cgroup v2 of the run's own.
    pub cgroup: Option<CgroupLimits>,
    /// Files of `KEY=VALUE` lines read at each start, in order.
    pub environment_files: Vec<EnvironmentFile>,
    /// Start from an empty environment instead of vigil's.
    pub clear_env: bool,
}

/// A user or a group: a name looked up at each start, or a numeric id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Account {
    /// A name (`/etc/passwd`, `/etc/group` or NSS).
    Name(String),
    /// A numeric id, which need not have an entry.
    Id(u32),
}

impl std::fmt::Display for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Account::Name(name) => write!(f, "`{name}`"),
            Account::Id(id) => write!(f, "id {id}"),
        }
    }
}

/// A resource limit a child may set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Limit {
    /// `RLIMIT_CORE`: the largest core file, in bytes.
    Core,
    /// `RLIMIT_MEMLOCK`: the most locked memory, in bytes.
    Memlock,
    /// `RLIMIT_NOFILE`: the most open files.
    Nofile,
    /// `RLIMIT_NPROC`: the most processes of the user.
    Nproc,
    /// `RLIMIT_STACK`: the largest stack, in bytes.
    Stack,
}

impl Limit {
    /// Every limit, by name.
    pub const ALL: [(&'static str, Limit); 5] = [
        ("core", Limit::Core),
        ("memlock", Limit::Memlock),
        ("nofile", Limit::Nofile),
        ("nproc", Limit::Nproc),
        ("stack", Limit::Stack),
    ];

    /// Its config name (`nofile`).
    pub fn name(self) -> &'static str {
        Limit::ALL.iter().find(|(_, l)| *l == self).map_or("", |(n, _)| n)
    }

    /// Whether it counts bytes (`core`, `memlock`, `stack`).
    pub fn is_bytes(self) -> bool {
        matches!(self, Limit::Core | Limit::Memlock | Limit::Stack)
    }

    #[allow(clippy::unnecessary_cast)] // `__rlimit_resource_t` is not `u32` on every libc
    fn resource(self) -> u32 {
        (match self {
            Limit::Core => libc::RLIMIT_CORE,
            Limit::Memlock => libc::RLIMIT_MEMLOCK,
            Limit::Nofile => libc::RLIMIT_NOFILE,
            Limit::Nproc => libc::RLIMIT_NPROC,
            Limit::Stack => libc::RLIMIT_STACK,
        }) as u32
    }
}

/// A limit's soft and hard values; `None` is unlimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LimitValue {
    /// The soft limit (what the program gets), at most `hard`.
    pub soft: Option<u64>,
    /// The hard limit (the most the program may raise it to).
    pub hard: Option<u64>,
}

impl LimitValue {
    /// Soft and hard both `value`.
    pub fn both(value: u64) -> Self {
        LimitValue {
            soft: Some(value),
            hard: Some(value),
        }
    }
}

/// An environment file: `optional` (a `-` before the path in the config)
/// means a missing file is skipped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvironmentFile {
    /// Its path (relative: to vigil's working directory).
    pub path: PathBuf,
    /// A missing file is no error.
    pub optional: bool,
}

/// Why an [`Identity`] cannot be applied: the start fails with this message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// No such user.
    #[error("user {0} does not exist")]
    UnknownUser(Account),
    /// No such group.
    #[error("group {0} does not exist")]
    UnknownGroup(Account),
    /// A numeric user id without an entry, and no `group`.
    #[error("user id {0} has no passwd entry, so it has no primary group: set `group` too")]
    NoPrimaryGroup(u32),
    /// The user or group database could not be read.
    #[error("cannot look up {what}: {errno}")]
    Lookup {
        /// The user or group.
        what: String,
        /// The error.
        errno: nix::errno::Errno,
    },
    /// A soft limit above its hard limit.
    #[error("limit `{limit}`: the soft limit {soft} is above the hard limit {hard}")]
    SoftAboveHard {
        /// The limit's name.
        limit: &'static str,
        /// Its soft value.
        soft: u64,
        /// Its hard value.
        hard: u64,
    },
    /// A limit above what vigil can raise it to.
    #[error("limit `{limit}`: {value} is above {max} ({why})")]
    AboveMaximum {
        /// The limit's name.
        limit: &'static str,
        /// The value asked for.
        value: String,
        /// The most vigil can give.
        max: u64,
        /// Where the maximum comes from.
        why: &'static str,
    },
    /// An environment file is missing, unreadable or not `KEY=VALUE` lines.
    #[error("environment file {}: {message}", path.display())]
    EnvironmentFile {
        /// The file.
        path: PathBuf,
        /// What is wrong (`line N: ...`).
        message: String,
    },
    /// The cgroup limits cannot be applied (and are required).
    #[error("cgroup limits cannot be applied: {0}")]
    Cgroup(#[from] CgroupError),
}

/// An [`Identity`] resolved for one start: what the program's process
/// applies, and the variables it adds (below the child's `env`).
#[derive(Debug, Default)]
pub(crate) struct Resolved {
    pub(crate) setup: SpawnSetup,
    pub(crate) env: Vec<(String, String)>,
}

impl Identity {
    /// Whether nothing is set (the program runs exactly as without it).
    pub fn is_default(&self) -> bool {
        *self == Identity::default()
    }

    /// Check every setting against this host now, as a start would (users
    /// and groups looked up, environment files read, limits checked); the
    /// cgroup limits are checked separately ([`check_cgroup`]).
    pub fn check(&self) -> Result<(), IdentityError> {
        self.resolve().map(drop)
    }

    /// Resolve for one start (see the module docs).
    pub(crate) fn resolve(&self) -> Result<Resolved, IdentityError> {
        let mut resolved = Resolved::default();
        if self.is_default() {
            return Ok(resolved);
        }
        self.resolve_accounts(&mut resolved)?;
        resolved.setup.umask = self.umask;
        resolved.setup.clear_env = self.clear_env;
        for (&limit, value) in &self.limits {
            let (soft, hard) = check_limit(limit, *value)?;
            resolved.setup.rlimits.push((limit.resource(), soft, hard));
        }
        for file in &self.environment_files {
            let failed = |message: String| IdentityError::EnvironmentFile {
                path: file.path.clone(),
                message,
            };
            let text = match std::fs::read_to_string(&file.path) {
                Ok(text) => text,
                Err(e) if file.optional && e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(failed(e.to_string())),
            };
            let vars = parse_environment_file(&text).map_err(|e| failed(e.to_string()))?;
            resolved.env.extend(vars);
        }
        Ok(resolved)
    }

    /// User, group and supplementary groups; `HOME`, `USER` and `LOGNAME`.
    fn resolve_accounts(&self, resolved: &mut Resolved) -> Result<(), IdentityError> {
        fn lookup(what: &Account) -> impl FnOnce(nix::errno::Errno) -> IdentityError {
            let what = what.to_string();
            move |errno| IdentityError::Lookup { what, errno }
        }
        let user = match &self.user {
            Some(account @ Account::Name(name)) => Some((
                User::from_name(name)
                    .map_err(lookup(account))?
                    .ok_or_else(|| IdentityError::UnknownUser(account.clone()))?,
                account,
            )),
            Some(account @ Account::Id(id)) => User::from_uid(Uid::from_raw(*id))
                .map_err(lookup(account))?
                .map(|u| (u, account)),
            None => None,
        };
        let gid = match &self.group {
            Some(account @ Account::Name(name)) => Some(
                Group::from_name(name)
                    .map_err(lookup(account))?
                    .ok_or_else(|| IdentityError::UnknownGroup(account.clone()))?
                    .gid
                    .as_raw(),
            ),
            Some(Account::Id(id)) => Some(*id),
            None => user.as_ref().map(|(u, _)| u.gid.as_raw()),
        };
        let root = nix::unistd::geteuid().is_root();
        match (&self.user, &user) {
            (Some(_), Some((u, _))) => {
                let gid = gid.unwrap_or(u.gid.as_raw());
                resolved.setup.uid = Some(u.uid.as_raw());
                if root {
                    let name = std::ffi::CString::new(u.name.clone()).unwrap_or_default();
                    let groups = nix::unistd::getgrouplist(&name, Gid::from_raw(gid))
                        .map_err(lookup(self.user.as_ref().unwrap_or(&Account::Id(0))))?;
                    resolved.setup.groups = Some(groups.into_iter().map(Gid::as_raw).collect());
                }
                resolved
                    .env
                    .push(("HOME".to_owned(), u.dir.to_string_lossy().into_owned()));
                resolved.env.push(("USER".to_owned(), u.name.clone()));
                resolved.env.push(("LOGNAME".to_owned(), u.name.clone()));
            }
            (Some(Account::Id(id)), None) => {
                gid.ok_or(IdentityError::NoPrimaryGroup(*id))?;
                resolved.setup.uid = Some(*id);
                if root {
                    resolved.setup.groups = gid.map(|g| vec![g]);
                }
                resolved.env.push(("HOME".to_owned(), "/".to_owned()));
                resolved.env.push(("USER".to_owned(), id.to_string()));
                resolved.env.push(("LOGNAME".to_owned(), id.to_string()));
            }
            _ => {
                // A group alone: it replaces the supplementary groups too.
                if root {
                    resolved.setup.groups = gid.map(|g| vec![g]);
                }
            }
        }
        resolved.setup.gid = gid;
        Ok(())
    }
}

/// A limit's soft and hard values for `setrlimit` (`u64::MAX`: unlimited),
/// checked: soft at most hard, and hard within what vigil can raise it to.
fn check_limit(limit: Limit, value: LimitValue) -> Result<(u64, u64), IdentityError> {
    let (soft, hard) = (value.soft.unwrap_or(u64::MAX), value.hard.unwrap_or(u64::MAX));
    if soft > hard {
        return Err(IdentityError::SoftAboveHard {
            limit: limit.name(),
            soft,
            hard,
        });
    }
    let show = |v: u64| {
        if v == u64::MAX {
            "unlimited".to_owned()
        } else {
            v.to_string()
        }
    };
    if limit == Limit::Nofile {
        // The kernel refuses any open-files limit above fs.nr_open, root or not.
        let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|t| t.trim().parse::<u64>().ok());
        if let Some(max) = nr_open.filter(|max| hard > *max) {
            return Err(IdentityError::AboveMaximum {
                limit: limit.name(),
                value: show(hard),
                max,
                why: "the system's most open files per process, fs.nr_open",
            });
        }
    }
    if !nix::unistd::geteuid().is_root() {
        let mut current = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        #[allow(unsafe_code)]
        // SAFETY: `getrlimit` writes the struct it is given.
        let read = unsafe { libc::getrlimit(limit.resource() as _, &mut current) } == 0;
        #[allow(clippy::unnecessary_cast)] // `rlim_t` is not `u64` on every libc
        let max = current.rlim_max as u64;
        if read && hard > max {
            return Err(IdentityError::AboveMaximum {
                limit: limit.name(),
                value: show(hard),
                max,
                why: "vigil's own hard limit, which only root can raise",
            });
        }
    }
    Ok((soft, hard))
}

/// What one start of a run takes from its [`Identity`]: resolved, its
/// cgroup (if any) created.
#[derive(Debug)]
pub(crate) struct StartSetup {
    resolved: Resolved,
    cgroup: Option<crate::cgroup::RunCgroup>,
}

/// Resolve `identity` for a start of the run at `path` and create its
/// cgroup: cgroup limits that cannot be applied fail the start when
/// `required`, else they are left out with a warning.
pub(crate) fn start_setup(identity: &Identity, path: &str) -> Result<StartSetup, IdentityError> {
    let mut resolved = identity.resolve()?;
    let cgroup = match &identity.cgroup {
        Some(limits) if !limits.controllers().is_empty() => match crate::cgroup::RunCgroup::create(limits, path) {
            Ok(cgroup) => {
                resolved.setup.cgroup_procs = Some(cgroup.procs());
                Some(cgroup)
            }
            Err(e) if limits.required => return Err(e.into()),
            Err(e) => {
                tracing::warn!(target: "vigil::process", path,
                    "cgroup limits not applied (required = false): {e}");
                None
            }
        },
        _ => None,
    };
    Ok(StartSetup { resolved, cgroup })
}

impl StartSetup {
    /// Whether the program starts from an empty environment.
    pub(crate) fn clear_env(&self) -> bool {
        self.resolved.setup.clear_env
    }

    /// The variables set below the child's `env`: the user's `HOME`,
    /// `USER` and `LOGNAME`, then the environment files' in order.
    pub(crate) fn env(&self) -> &[(String, String)] {
        &self.resolved.env
    }

    /// The user and group the program runs as, when they are not vigil's
    /// (its notify socket is then made theirs).
    pub(crate) fn owner(&self) -> Option<(u32, u32)> {
        let setup = &self.resolved.setup;
        if setup.uid.is_none() && setup.gid.is_none() {
            return None;
        }
        Some((
            setup.uid.unwrap_or_else(|| nix::unistd::getuid().as_raw()),
            setup.gid.unwrap_or_else(|| nix::unistd::getgid().as_raw()),
        ))
    }

    /// Put the setup into a spawner request (its variables first, below
    /// the child's `env`); the run's cgroup, to finish with the run.
    pub(crate) fn apply_to_request(
        self,
        request: &mut crate::spawner_protocol::SpawnRequest,
    ) -> Option<crate::cgroup::RunCgroup> {
        request.env.extend(self.resolved.env);
        *request.setup = self.resolved.setup;
        self.cgroup
    }

    /// Apply the setup in the forked child of `command` (a `pre_exec`
    /// hook of system calls only; registered before the death-signal hook,
    /// which a change of user would clear); the run's cgroup.
    pub(crate) fn apply_to_command(
        self,
        command: &mut tokio::process::Command,
    ) -> Result<Option<crate::cgroup::RunCgroup>, String> {
        if let Some(setup) = self.resolved.setup.prepare()? {
            // SAFETY: `apply` makes system calls only (no allocation, no
            // lock), which is what may run between fork and exec.
            #[allow(unsafe_code)]
            unsafe {
                command.pre_exec(move || {
                    setup
                        .apply()
                        .map_err(|(_, errno)| std::io::Error::from_raw_os_error(errno))
                });
            }
        }
        Ok(self.cgroup)
    }
}

#[cfg(feature = "sim")]
impl Identity {
    /// A config worker's identity keys (feature `sim`).
    #[must_use]
    pub fn from_config(c: &vigil_config::IdentityConfig) -> Identity {
        let account = |a: &vigil_config::AccountConfig| match a {
            vigil_config::AccountConfig::Name(name) => Account::Name(name.clone()),
            vigil_config::AccountConfig::Id(id) => Account::Id(*id),
        };
        Identity {
            user: c.user.as_ref().map(account),
            group: c.group.as_ref().map(account),
            umask: c.umask,
            limits: c
                .limits
                .iter()
                .filter_map(|(name, (soft, hard))| {
                    let limit = Limit::ALL.iter().find(|(n, _)| n == name)?.1;
                    Some((
                        limit,
                        LimitValue {
                            soft: *soft,
                            hard: *hard,
                        },
                    ))
                })
                .collect(),
            cgroup: c.cgroup.as_ref().map(|g| CgroupLimits {
                memory_max: g.memory_max,
                cpu_max: g.cpu_max,
                pids_max: g.pids_max,
                required: g.required,
            }),
            environment_files: c
                .environment_files
                .iter()
                .map(|(path, optional)| EnvironmentFile {
                    path: path.clone(),
                    optional: *optional,
                })
                .collect(),
            clear_env: c.clear_env,
        }
    }
}
