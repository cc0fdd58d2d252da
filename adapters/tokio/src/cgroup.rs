//! `cgroup = { memory_max, cpu_max, pids_max }`: hard limits on a run's
//! processes through a cgroup v2 of its own (docs/CONFIG.md, "cgroup";
//! docs/ADAPTER.md, "Identity, limits and cgroups").
//!
//! Each run of a child with cgroup limits gets the cgroup
//! `<root>/vigil-<vigil's pid>/<the child's path>` (one directory per path
//! segment), created before the run starts, with the controllers it needs
//! enabled in the `cgroup.subtree_control` of every level above it and its
//! limits written; the program's own process writes itself into its
//! `cgroup.procs` before `exec` (`crate::spawn_setup`). When the run has
//! ended (every process of it is reaped), an increase of `oom_kill` in its
//! `memory.events` makes the run's exit reason `memory`, and the cgroup is
//! removed, with its parents that became empty.
//!
//! `<root>` is vigil's own cgroup (from `/proc/self/cgroup` and the cgroup2
//! mount in `/proc/self/mountinfo`), or [`ROOT_ENV`] when set: cgroup v2
//! only enables a controller below a cgroup that holds no process, so
//! vigil, which sits in its own cgroup, needs a delegated cgroup without
//! processes to work under (systemd: `Delegate=yes` with
//! `DelegateSubgroup=`). Tests point [`ROOT_ENV`] at a fake tree of plain
//! files. When no root can hold the limits, [`check`] says why in one
//! line.

use std::io;
use std::path::{Path, PathBuf};

use vigil_core::ExitReason;

/// The environment variable naming the cgroup under which vigil creates
/// its runs' cgroups, instead of its own cgroup (read at each start).
pub const ROOT_ENV: &str = "VIGIL_CGROUP_ROOT";

/// `cpu.max`'s period, in microseconds: a `cpu_max` of 50% is a quota of
/// half of it.
const CPU_PERIOD_US: u64 = 100_000;

/// `CGROUP2_SUPER_MAGIC`: the `statfs` type of a cgroup2 filesystem.
const CGROUP2_MAGIC: i64 = 0x6367_7270;

/// The cgroup limits of a child (cgroup v2).
///
/// ```
/// use vigil_tokio::identity::CgroupLimits;
///
/// let limits = CgroupLimits { memory_max: Some(256 << 20), cpu_max: Some(50), ..CgroupLimits::default() };
/// assert_eq!(limits.controllers(), ["memory", "cpu"]);
/// assert!(limits.required); // no limits, no start
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupLimits {
    /// `memory.max`, in bytes (`None`: no limit).
    pub memory_max: Option<u64>,
    /// `cpu.max`, in percent of one CPU (150: one and a half CPUs).
    pub cpu_max: Option<u32>,
    /// `pids.max`: the most processes and threads.
    pub pids_max: Option<u64>,
    /// Refuse to start the child when the limits cannot be applied (the
    /// default); `false`: start it without them, with a warning.
    pub required: bool,
}

impl Default for CgroupLimits {
    fn default() -> Self {
        CgroupLimits {
            memory_max: None,
            cpu_max: None,
            pids_max: None,
            required: true,
        }
    }
}

impl CgroupLimits {
    /// The cgroup v2 controllers these limits need.
    pub fn controllers(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.memory_max.is_some() {
            out.push("memory");
        }
        if self.cpu_max.is_some() {
            out.push("cpu");
        }
        if self.pids_max.is_some() {
            out.push("pids");
        }
        out
    }
}

/// Why a run's cgroup cannot be created: one line, for `vigil check` and
/// the start of `vigil run`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CgroupError {
    /// No cgroup2 filesystem is mounted.
    #[error("no cgroup2 filesystem is mounted (cgroup v1 only)")]
    NoCgroup2,
    /// vigil's own cgroup is not in the cgroup2 hierarchy.
    #[error("vigil's cgroup v2 is unknown (no `0::` line in /proc/self/cgroup)")]
    NoOwnCgroup,
    /// A controller is not available in the root.
    #[error("the cgroup2 hierarchy at {root} has no `{controller}` controller{hint}")]
    MissingController {
        /// The root.
        root: PathBuf,
        /// The controller.
        controller: &'static str,
        /// Where it is instead (a hybrid layout), or nothing.
        hint: String,
    },
    /// The root holds processes and lacks the controllers in its subtree.
    #[error(
        "cannot enable `{controller}` below {root}: it holds processes (cgroup v2 enables controllers only \
         below a cgroup without any); set {ROOT_ENV} to a delegated cgroup without processes"
    )]
    InternalProcesses {
        /// The root.
        root: PathBuf,
        /// The controller.
        controller: &'static str,
    },
    /// The root cannot be written.
    #[error("vigil cannot write to {root}: it is not delegated to vigil's user")]
    NotWritable {
        /// The root.
        root: PathBuf,
    },
    /// A file of the cgroup tree could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> CgroupError + '_ {
    move |source| CgroupError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The cgroup under which runs' cgroups are created, if `limits` can be
/// applied there; else the one-line reason why not.
pub fn check(limits: &CgroupLimits) -> Result<PathBuf, CgroupError> {
    let root = root()?;
    let read = |name: &str| std::fs::read_to_string(root.join(name)).map_err(io_error(&root.join(name)));
    let available = read("cgroup.controllers")?;
    let enabled = read("cgroup.subtree_control").unwrap_or_default();
    for controller in limits.controllers() {
        if !available.split_whitespace().any(|c| c == controller) {
            let v1 = Path::new("/sys/fs/cgroup").join(controller);
            let real = std::env::var_os(ROOT_ENV).is_none_or(|r| r.is_empty());
            let hint = if real && v1.is_dir() && !v1.join("cgroup.controllers").exists() {
                format!(" (it is on cgroup v1 at {}: a hybrid layout)", v1.display())
            } else {
                String::new()
            };
            return Err(CgroupError::MissingController { root, controller, hint });
        }
        if !enabled.split_whitespace().any(|c| c == controller) && !read("cgroup.procs")?.trim().is_empty() {
            return Err(CgroupError::InternalProcesses { root, controller });
        }
    }
    if nix::unistd::access(&root, nix::unistd::AccessFlags::W_OK).is_err() {
        return Err(CgroupError::NotWritable { root });
    }
    Ok(root)
}

/// [`ROOT_ENV`], else vigil's own cgroup v2.
fn root() -> Result<PathBuf, CgroupError> {
    if let Some(root) = std::env::var_os(ROOT_ENV).filter(|r| !r.is_empty()) {
        return Ok(PathBuf::from(root));
    }
    let mountinfo =
        std::fs::read_to_string("/proc/self/mountinfo").map_err(io_error(Path::new("/proc/self/mountinfo")))?;
    // `id parent major:minor root mount-point options... - fstype source options`
    let mount = mountinfo
        .lines()
        .find_map(|line| {
            let (fields, rest) = line.split_once(" - ")?;
            (rest.split_whitespace().next()? == "cgroup2")
                .then(|| fields.split_whitespace().nth(4).map(PathBuf::from))?
        })
        .ok_or(CgroupError::NoCgroup2)?;
    let own = std::fs::read_to_string("/proc/self/cgroup").map_err(io_error(Path::new("/proc/self/cgroup")))?;
    let path = own
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .ok_or(CgroupError::NoOwnCgroup)?;
    let path = path.trim_matches('/');
    Ok(if path.is_empty() { mount } else { mount.join(path) })
}

/// The cgroup of one run: removed when dropped.
#[derive(Debug)]
pub(crate) struct RunCgroup {
    /// `<root>/vigil-<pid>`: nothing above it is removed.
    top: PathBuf,
    /// The run's own cgroup.
    dir: PathBuf,
    /// `oom_kill` in its `memory.events` when it was created.
    oom_baseline: u64,
}

impl RunCgroup {
    /// Create the cgroup of a run of the child at `path` with `limits`.
    pub(crate) fn create(limits: &CgroupLimits, path: &str) -> Result<RunCgroup, CgroupError> {
        let root = check(limits)?;
        let top = root.join(format!("vigil-{}", std::process::id()));
        let dir = path.split('/').fold(top.clone(), |dir, segment| dir.join(segment));
        let enable: String = limits.controllers().iter().map(|c| format!("+{c} ")).collect();
        let mut level = root.clone();
        for segment in dir.strip_prefix(&root).unwrap_or(Path::new("")).components() {
            write(&level.join("cgroup.subtree_control"), enable.trim_end())?;
            level.push(segment);
            match std::fs::create_dir(&level) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io_error(&level)(e)),
            }
        }
        let run = RunCgroup {
            top,
            oom_baseline: oom_kills(&dir),
            dir,
        };
        if !run.procs().exists() {
            // Only in a fake tree of plain files: cgroupfs has it already.
            write(&run.procs(), "")?;
        }
        if let Some(bytes) = limits.memory_max {
            write(&run.dir.join("memory.max"), &bytes.to_string())?;
        }
        if let Some(percent) = limits.cpu_max {
            let quota = u64::from(percent).saturating_mul(CPU_PERIOD_US / 100);
            write(&run.dir.join("cpu.max"), &format!("{quota} {CPU_PERIOD_US}"))?;
        }
        if let Some(pids) = limits.pids_max {
            write(&run.dir.join("pids.max"), &pids.to_string())?;
        }
        Ok(run)
    }

    /// The file the program's process writes itself into.
    pub(crate) fn procs(&self) -> PathBuf {
        self.dir.join("cgroup.procs")
    }

    /// The run ended with `reason`: `memory` instead if the kernel's OOM
    /// killer killed a process of the run (and it did not end normally
    /// or as asked); the cgroup is removed.
    pub(crate) fn finish(self, reason: ExitReason) -> ExitReason {
        let oom = oom_kills(&self.dir) > self.oom_baseline;
        match reason {
            ExitReason::Normal | ExitReason::Shutdown(_) => reason,
            _ if oom => {
                tracing::warn!(target: "vigil::process", cgroup = %self.dir.display(), was = %reason,
                    "the OOM killer killed a process of the run (memory.events oom_kill): reason memory");
                ExitReason::Memory
            }
            _ => reason,
        }
    }
}

impl Drop for RunCgroup {
    /// Remove the run's cgroup (empty: every process of the run is
    /// reaped), then its parents up to `vigil-<pid>` that became empty. A
    /// fake tree of plain files (tests, [`ROOT_ENV`]) has its files removed.
    fn drop(&mut self) {
        // `__fsword_t` is not `i64` on every libc.
        #[allow(clippy::unnecessary_cast)]
        let fake = nix::sys::statfs::statfs(&self.dir).is_ok_and(|s| s.filesystem_type().0 as i64 != CGROUP2_MAGIC);
        let removed = if fake {
            std::fs::remove_dir_all(&self.dir)
        } else {
            std::fs::remove_dir(&self.dir)
        };
        if let Err(e) = removed {
            tracing::warn!(target: "vigil::process", cgroup = %self.dir.display(), error = %e, "cannot remove the run's cgroup");
            return;
        }
        let mut parent = self.dir.parent();
        while let Some(dir) = parent.filter(|d| d.starts_with(&self.top)) {
            if fake {
                let _ = std::fs::remove_file(dir.join("cgroup.subtree_control"));
            }
            if std::fs::remove_dir(dir).is_err() {
                break;
            }
            parent = dir.parent();
        }
    }
}

/// `oom_kill` in `dir/memory.events` (0 when unreadable).
fn oom_kills(dir: &Path) -> u64 {
    std::fs::read_to_string(dir.join("memory.events"))
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("oom_kill ").and_then(|n| n.trim().parse().ok()))
        })
        .unwrap_or(0)
}

fn write(path: &Path, value: &str) -> Result<(), CgroupError> {
    std::fs::write(path, value).map_err(io_error(path))
}
