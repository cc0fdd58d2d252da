//! `user`, `group`, `umask`, `limits`, `cgroup`, `environment_file` and
//! `clear_env` with real processes (docs/CONFIG.md, "identity, limits and
//! environment" and "cgroup"): what the program sees (`id`, `umask`,
//! `ulimit`, `env`, written into files), the host checks of `vigil check`,
//! a dropped child still killed with its whole group and kept away from
//! the control socket, and cgroup limits written into a fake cgroupfs tree
//! (`VIGIL_CGROUP_ROOT`) with an OOM kill reported as `memory`.
//!
//! Changing the user needs root: those tests print why they are skipped
//! when not run as root. Nothing sleeps to assert: each test waits for a
//! file or an event.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use support::*;

/// Whether this test process is root (`id -u` is 0); else print why the
/// test is skipped.
fn root_or_skip(test: &str) -> bool {
    let out = Command::new("id").arg("-u").output().expect("id runs");
    let root = String::from_utf8_lossy(&out.stdout).trim() == "0";
    if !root {
        eprintln!("SKIPPED {test}: changing the user needs root, and this test runs as a normal user");
    }
    root
}

/// A directory of `s` that every user may write to (for children that run
/// as `nobody`).
fn open_dir(s: &Scratch, name: &str) -> String {
    let dir = s.path(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&s.0, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    dir.to_str().unwrap().to_owned()
}

fn check(config: &std::path::Path, env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .arg("check")
        .arg(config)
        .envs(env.iter().copied())
        .output()
        .expect("vigil check runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `user`, `umask` and `limits` are what the program runs with; `HOME`,
/// `USER` and `LOGNAME` are the user's.
#[test]
fn the_program_runs_as_its_user_with_its_umask_and_limits() {
    if !root_or_skip("the_program_runs_as_its_user_with_its_umask_and_limits") {
        return;
    }
    let s = Scratch::new("ident");
    let out = open_dir(&s, "out");
    let script = format!(
        "echo \"$(id -u) $(id -g) $(id -G) $(umask) $(ulimit -n) $(ulimit -Hn) $(ulimit -c) $HOME $USER $LOGNAME\" \
         > {out}/id.tmp && mv {out}/id.tmp {out}/id; exec sleep 1000"
    );
    let config = s.write(
        "t.toml",
        &format!(
            "[[child]]\nname = \"w\"\ncommand = {}\nuser = \"nobody\"\numask = \"027\"\n\
             limits = {{ nofile = {{ soft = 1000, hard = 2000 }}, core = 0 }}\n",
            sh(&script)
        ),
    );
    let mut v = Vigil::start_supervising(&s, &config);
    v.wait_for("the child's id file", || s.exists("out/id"));
    let line = std::fs::read_to_string(s.path("out/id")).unwrap();
    let nobody = Command::new("id").args(["-u", "nobody"]).output().unwrap();
    let uid = String::from_utf8_lossy(&nobody.stdout).trim().to_owned();
    let gid = String::from_utf8_lossy(&Command::new("id").args(["-g", "nobody"]).output().unwrap().stdout)
        .trim()
        .to_owned();
    let groups = String::from_utf8_lossy(&Command::new("id").args(["-G", "nobody"]).output().unwrap().stdout)
        .trim()
        .to_owned();
    let fields: Vec<&str> = line.split_whitespace().collect();
    let n = fields.len();
    assert_eq!(fields[0], uid, "{line}");
    assert_eq!(fields[1], gid, "{line}");
    assert_eq!(fields[2..n - 7].join(" "), groups, "supplementary groups: {line}");
    assert_eq!(&fields[n - 7..n - 3], ["0027", "1000", "2000", "0"], "{line}");
    assert_eq!(fields[n - 2..], ["nobody", "nobody"], "{line}");
    v.signal("TERM");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());
}

/// `group` alone changes the group and drops the supplementary groups;
/// numeric ids need no entry in /etc/passwd.
#[test]
fn numeric_ids_and_a_group_alone() {
    if !root_or_skip("numeric_ids_and_a_group_alone") {
        return;
    }
    let s = Scratch::new("ident-num");
    let out = open_dir(&s, "out");
    let script = format!("echo \"$(id -u) $(id -g) $(id -G) $HOME $USER\" > {out}/$VIGIL_PATH; exec sleep 1000");
    let config = s.write(
        "t.toml",
        &format!(
            "[[child]]\nname = \"a\"\ncommand = {c}\nuser = 54321\ngroup = 54322\n\n\
             [[child]]\nname = \"b\"\ncommand = {c}\ngroup = \"54323\"\n",
            c = sh(&script)
        ),
    );
    let mut v = Vigil::start_supervising(&s, &config);
    let a = s.wait_lines(&v, "out/a", 1);
    let b = s.wait_lines(&v, "out/b", 1);
    assert_eq!(a[0], "54321 54322 54322 / 54321");
    let b: Vec<&str> = b[0].split_whitespace().collect();
    assert_eq!(&b[..3], ["0", "54323", "54323"], "{b:?}");
    v.signal("TERM");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());
}

/// vigil's environment < the environment files (in order) < `env`;
/// `clear_env` drops vigil's; a `-` file may be missing. A file is read at
/// each start: an edit applies at the next restart.
#[test]
fn environment_files_and_clear_env() {
    let s = Scratch::new("envfile");
    s.write("a.env", "# shared\nFROM_A=a\nBOTH=from a\nOVER=from a\n");
    s.write("b.env", "BOTH='from b'\n");
    let env_out = s.p("env");
    let trigger = s.p("again");
    let script = format!(
        "env | sort > {env_out}.tmp; mv {env_out}.tmp {env_out}.$VIGIL_GENERATION; \
         while [ ! -e {trigger} ]; do sleep 0.01; done; rm {trigger}; exit 1"
    );
    let config = s.write(
        "t.toml",
        &format!(
            "[supervisor]\nintensity = 5\n[[child]]\nname = \"w\"\ncommand = {}\n\
             environment_file = [{}, {}, {}]\nenv = {{ OVER = \"from env\" }}\nclear_env = true\n",
            sh(&script),
            q(&s.p("a.env")),
            q(&s.p("b.env")),
            q(&format!("-{}", s.p("missing.env"))),
        ),
    );
    let mut v = Vigil::start_supervising(&s, &config);
    let first = s.wait_lines(&v, "env.2", 1);
    for wanted in ["FROM_A=a", "BOTH=from b", "OVER=from env", "VIGIL_PATH=w"] {
        assert!(first.iter().any(|l| l == wanted), "{wanted} in {first:?}");
    }
    assert!(
        !first
            .iter()
            .any(|l| l.starts_with(TAG_VAR) || l.starts_with("VIGIL_LOG=")),
        "clear_env drops vigil's own environment: {first:?}"
    );
    // Edit a file, then let the run end: the next start reads the new text.
    s.write("b.env", "BOTH=edited\n");
    s.touch("again");
    let second = s.wait_lines(&v, "env.3", 1);
    assert!(second.iter().any(|l| l == "BOTH=edited"), "{second:?}");
    v.signal("TERM");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());
}

/// A bad environment file: `vigil check` names the file and its line, and
/// the start fails with the same message.
#[test]
fn a_bad_environment_file_fails_the_start_and_the_check() {
    let s = Scratch::new("envfile-bad");
    let file = s.write("bad.env", "GOOD=1\n\nnot a variable\n");
    let config = s.write(
        "t.toml",
        &format!(
            "[[child]]\nname = \"w\"\ncommand = [\"sleep\", \"1000\"]\nenvironment_file = {}\n",
            q(&s.p("bad.env"))
        ),
    );
    let (code, _, err) = check(&config, &[]);
    assert_eq!(code, 2, "{err}");
    let expected = format!(
        "error: {}:4:20: child `w`: environment file {}: line 3: expected KEY=VALUE\n",
        config.display(),
        file.display()
    );
    assert_eq!(err, expected);
    let mut v = Vigil::start(&s, &config);
    assert_eq!(v.wait_code(), 1, "a root child that cannot start fails the tree");
    v.wait_log(&["line 3: expected KEY=VALUE"]);
}

/// An unknown user or group is an error of `vigil check` at its key, and a
/// failed start.
#[test]
fn an_unknown_user_is_a_check_error_at_its_key() {
    let s = Scratch::new("ident-unknown");
    let config = s.write(
        "t.toml",
        "[[child]]\nname = \"w\"\ncommand = [\"true\"]\nuser = \"no-such-user-vigil\"\n\n\
         [[child]]\nname = \"g\"\ncommand = [\"true\"]\ngroup = \"no-such-group-vigil\"\n",
    );
    let (code, out, err) = check(&config, &[]);
    assert_eq!(code, 2, "{out}{err}");
    let c = config.display();
    assert_eq!(
        err,
        format!(
            "error: {c}:4:8: child `w`: user `no-such-user-vigil` does not exist\n\
             error: {c}:9:9: child `g`: group `no-such-group-vigil` does not exist\n"
        )
    );
    let mut v = Vigil::start(&s, &config);
    assert_eq!(v.wait_code(), 1);
    v.wait_log(&["cannot start `true`: user `no-such-user-vigil` does not exist"]);
}

/// A limit above the kernel's maximum is refused at start with the reason.
#[test]
fn nofile_above_the_system_maximum_is_refused() {
    let s = Scratch::new("ident-nofile");
    let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open").unwrap();
    let above = nr_open.trim().parse::<u64>().unwrap() + 1;
    let config = s.write(
        "t.toml",
        &format!("[[child]]\nname = \"w\"\ncommand = [\"true\"]\nlimits = {{ nofile = {above} }}\n"),
    );
    let (code, _, err) = check(&config, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!(
            "child `w`: limit `nofile`: {above} is above {} (the system's most open files per process, fs.nr_open)",
            nr_open.trim()
        )),
        "{err}"
    );
}

/// A child running as `nobody` (and its own child) is killed with its whole
/// group when the tree stops, and when vigil is SIGKILLed (by its guard,
/// which stays root and so cannot be signalled by the program).
#[test]
fn a_dropped_child_is_still_killed_with_its_group() {
    if !root_or_skip("a_dropped_child_is_still_killed_with_its_group") {
        return;
    }
    for how in ["TERM", "KILL"] {
        let s = Scratch::new("ident-kill");
        let out = open_dir(&s, "out");
        // A grandchild that ignores SIGTERM, then the child writes its pid.
        let script = format!("trap '' TERM; sleep 1000 & echo $! > {out}/gc; echo $$ > {out}/pid; wait");
        let config = s.write(
            "t.toml",
            &format!(
                "[[child]]\nname = \"w\"\ncommand = {}\nuser = \"nobody\"\nshutdown = \"200ms\"\n",
                sh(&script)
            ),
        );
        let mut v = Vigil::start_supervising(&s, &config);
        let pid = s.wait_pid(&v, "out/pid");
        let gc = s.wait_pid(&v, "out/gc");
        let uid = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        assert!(uid.lines().any(|l| l.starts_with("Uid:\t65534")), "{uid}");
        v.signal(how);
        v.wait_exit();
        v.wait_gone("the dropped child", pid);
        v.wait_gone("its grandchild", gc);
    }
}

/// A child running as `nobody` cannot reach vigil's control socket (it is
/// 0600 in a 0700 directory, and the server accepts only vigil's uid and
/// root); the same command as vigil's user can.
#[test]
fn a_dropped_child_cannot_reach_the_control_socket() {
    if !root_or_skip("a_dropped_child_cannot_reach_the_control_socket") {
        return;
    }
    let s = Scratch::new("ident-ctl");
    let out = open_dir(&s, "out");
    let vigil = env!("CARGO_BIN_EXE_vigil");
    let script =
        format!("{vigil} ctl status > {out}/$VIGIL_PATH.out 2>&1; echo $? > {out}/$VIGIL_PATH.code; exec sleep 1000");
    let config = s.write(
        "t.toml",
        &format!(
            "[[child]]\nname = \"mine\"\ncommand = {c}\n\n\
             [[child]]\nname = \"dropped\"\ncommand = {c}\nuser = \"nobody\"\n",
            c = sh(&script)
        ),
    );
    let mut v = Vigil::start_supervising(&s, &config);
    let dropped = s.wait_lines(&v, "out/dropped.code", 1);
    let mine = s.wait_lines(&v, "out/mine.code", 1);
    assert_eq!(
        mine,
        ["0"],
        "{}",
        std::fs::read_to_string(s.path("out/mine.out")).unwrap()
    );
    let said = std::fs::read_to_string(s.path("out/dropped.out")).unwrap();
    assert_ne!(dropped, ["0"], "{said}");
    assert!(said.contains("ermission denied"), "{said}");
    v.signal("TERM");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());
}

/// A fake cgroupfs root with the three controllers.
fn fake_cgroup_root(s: &Scratch) -> String {
    let root = s.path("cgroup");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("cgroup.controllers"), "cpuset cpu io memory pids\n").unwrap();
    std::fs::write(root.join("cgroup.subtree_control"), "").unwrap();
    std::fs::write(root.join("cgroup.procs"), "").unwrap();
    root.to_str().unwrap().to_owned()
}

/// Against a fake cgroupfs (`VIGIL_CGROUP_ROOT`): the controllers are
/// enabled on the way down, the limits written, the program writes itself
/// into `cgroup.procs`; an OOM kill (`oom_kill` in `memory.events`) makes
/// the exit reason `memory`, and the run's cgroup is removed at its end.
#[test]
fn cgroup_limits_in_a_fake_cgroupfs_and_an_oom_kill() {
    let s = Scratch::new("cgroup");
    let root = fake_cgroup_root(&s);
    let script = format!("echo $$ >> {}; exec sleep 1000", s.p("pids"));
    let config = s.write(
        "t.toml",
        &format!(
            "[supervisor]\nintensity = 5\n[[child]]\nname = \"sup\"\nsupervisor = {{}}\n  [[child.child]]\n  \
             name = \"w\"\n  command = {}\n  cgroup = {{ memory_max = \"256MiB\", cpu_max = \"150%\", pids_max = 100 }}\n",
            sh(&script)
        ),
    );
    let mut v = Vigil::launch(
        &s,
        &config,
        &Launch {
            env: &[("VIGIL_CGROUP_ROOT", &root)],
            ..Launch::default()
        },
    );
    v.wait_for_signal_handlers();
    let pid: u32 = s.wait_lines(&v, "pids", 1)[0].parse().unwrap();
    let dir = std::path::Path::new(&root)
        .join(format!("vigil-{}", v.pid()))
        .join("sup/w");
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    assert_eq!(read("memory.max"), (256u64 << 20).to_string());
    assert_eq!(read("cpu.max"), "150000 100000");
    assert_eq!(read("pids.max"), "100");
    assert_eq!(read("cgroup.procs"), "0", "the program wrote itself in");
    let subtree = |p: &std::path::Path| std::fs::read_to_string(p.join("cgroup.subtree_control")).unwrap();
    assert_eq!(subtree(std::path::Path::new(&root)), "+memory +cpu +pids");
    assert_eq!(subtree(dir.parent().unwrap()), "+memory +cpu +pids");
    // The kernel's OOM killer, as the fake tree can show it.
    std::fs::write(dir.join("memory.events"), "oom 1\noom_kill 1\n").unwrap();
    send("KILL", &[pid]);
    v.wait_log(&["reason=memory"]);
    // The restarted run has a new cgroup: the old one was removed.
    s.wait_lines(&v, "pids", 2);
    assert!(!dir.join("memory.events").exists(), "a fresh cgroup for the new run");
    assert_eq!(read("cgroup.procs"), "0");
    v.signal("TERM");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());
    let trace = v.trace();
    let exits = trace.all("exited", "sup/w");
    assert_eq!(exits[0].reason, "memory", "{trace}");
    assert_eq!(exits[1].reason, "shutdown", "restarted, then stopped: {trace}");
    assert!(
        !std::path::Path::new(&root).join(format!("vigil-{}", v.pid())).exists(),
        "vigil's cgroup directory is removed once empty"
    );
}

/// When the cgroup limits cannot be applied, `vigil check` and `vigil run`
/// say why in one line; `required = true` (the default) refuses the start,
/// `required = false` starts the child without them.
#[test]
fn cgroup_limits_that_cannot_be_applied_are_one_line() {
    let s = Scratch::new("cgroup-cannot");
    let root = fake_cgroup_root(&s);
    std::fs::write(s.path("cgroup/cgroup.controllers"), "cpu pids\n").unwrap();
    let config = s.write(
        "t.toml",
        &format!(
            "[[child]]\nname = \"lax\"\ncommand = {}\ncgroup = {{ memory_max = \"1GiB\", required = false }}\n\n\
             [[child]]\nname = \"strict\"\ncommand = [\"sleep\", \"1000\"]\ncgroup = {{ memory_max = \"1GiB\" }}\n",
            sh(&format!("touch {}; exec sleep 1000", s.p("lax.started")))
        ),
    );
    let env = [("VIGIL_CGROUP_ROOT", root.as_str())];
    let (code, _, err) = check(&config, &env);
    let c = config.display();
    let why = format!("the cgroup2 hierarchy at {root} has no `memory` controller");
    assert_eq!(code, 2, "{err}");
    assert_eq!(
        err,
        format!(
            "warning: {c}:4:10: child `lax`: cgroup limits cannot be applied: {why}; the child starts without them \
             (`required = false`)\n\
             error: {c}:9:10: child `strict`: cgroup limits cannot be applied: {why}; the child will not start \
             (cgroup `required = true`, the default)\n"
        )
    );
    let mut v = Vigil::launch(
        &s,
        &config,
        &Launch {
            env: &env,
            ..Launch::default()
        },
    );
    assert_eq!(v.wait_code(), 1, "strict cannot start: the tree fails");
    // lax started (without its limits) before strict failed the tree.
    v.wait_log(&[
        "cgroup limits not applied (required = false): ",
        "no `memory` controller",
        "path=\"lax\"",
    ]);
    v.wait_log(&["process started under its guard", "path=\"lax\""]);
    v.wait_log(&[
        "cannot start `sleep`: cgroup limits cannot be applied: ",
        "no `memory` controller",
    ]);
}

/// On this host as it is (no `VIGIL_CGROUP_ROOT`): where cgroup2 has no
/// memory controller (a hybrid layout keeps it on cgroup v1), the line says
/// so; where it has one, `vigil check` passes or names another reason.
#[test]
fn cgroup_on_this_host_says_why_in_one_line() {
    let s = Scratch::new("cgroup-host");
    let config = s.write(
        "t.toml",
        "[[child]]\nname = \"w\"\ncommand = [\"true\"]\ncgroup = { memory_max = \"64MiB\" }\n",
    );
    let (code, _, err) = check(&config, &[]);
    let unified = std::fs::read_to_string("/sys/fs/cgroup/unified/cgroup.controllers");
    match unified {
        Ok(controllers) if !controllers.split_whitespace().any(|c| c == "memory") => {
            assert_eq!(code, 2, "{err}");
            assert_eq!(err.lines().count(), 1, "{err}");
            assert!(
                err.contains(
                    "cgroup limits cannot be applied: the cgroup2 hierarchy at /sys/fs/cgroup/unified has no `memory` \
                     controller (it is on cgroup v1 at /sys/fs/cgroup/memory: a hybrid layout)"
                ),
                "{err}"
            );
        }
        _ => {
            eprintln!("SKIPPED the hybrid-layout line: this host's cgroup layout is not hybrid");
            assert!(code == 0 || err.lines().count() == 1, "{err}");
        }
    }
}

/// `umask` and `limits` alone need no root: the program's process is
/// forked and set up by the guard (not `posix_spawnp`) for any user, and a
/// missing program there fails its start with the same message as without
/// them.
#[test]
fn umask_and_limits_alone_and_a_missing_program() {
    let s = Scratch::new("ident-alone");
    let out = s.p("out");
    let config = s.write(
        "t.toml",
        &format!(
            "[[child]]\nname = \"w\"\ncommand = {}\numask = 0o077\nlimits = {{ nofile = 256 }}\n",
            sh(&format!(
                "echo \"$(umask) $(ulimit -n) $(ulimit -Hn)\" > {out}.tmp; mv {out}.tmp {out}; exec sleep 1000"
            ))
        ),
    );
    let mut v = Vigil::start_supervising(&s, &config);
    assert_eq!(s.wait_lines(&v, "out", 1), ["0077 256 256"]);
    v.signal("TERM");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());

    let s = Scratch::new("ident-missing");
    let config = s.write(
        "t.toml",
        "[[child]]\nname = \"w\"\ncommand = [\"/no/such/program\"]\numask = \"022\"\n",
    );
    let mut v = Vigil::start(&s, &config);
    assert_eq!(v.wait_code(), 1);
    v.wait_log(&["cannot start `/no/such/program`: No such file or directory (os error 2)"]);
}

/// A step of the setup that fails in the program's process (here joining
/// the cgroup: its `cgroup.procs` is a directory) is a failed start naming
/// the step, not a hang.
#[test]
fn a_failing_setup_step_is_a_failed_start_naming_it() {
    let s = Scratch::new("ident-step");
    let root = fake_cgroup_root(&s);
    let config = s.write(
        "t.toml",
        "[[child]]\nname = \"w\"\ncommand = [\"sleep\", \"1000\"]\ncgroup = { pids_max = 10 }\n",
    );
    // vigil's pid is the shell's once it execs: its cgroup directory is
    // prepared with a `cgroup.procs` nobody can write.
    let status = Command::new("sh")
        .arg("-c")
        .arg("mkdir -p \"$VIGIL_CGROUP_ROOT/vigil-$$/w/cgroup.procs\" && exec \"$0\" run \"$1\"")
        .arg(env!("CARGO_BIN_EXE_vigil"))
        .arg(&config)
        .env("VIGIL_CGROUP_ROOT", &root)
        .env("XDG_RUNTIME_DIR", s.path("xdg"))
        .env("VIGIL_LOG", "info")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(s.path("log")).unwrap())
        .status()
        .unwrap();
    let log = std::fs::read_to_string(s.path("log")).unwrap();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(
        log.contains(
            "cannot start `sleep`: process guard: cannot move the program into its cgroup (cgroup.procs): Is a directory"
        ),
        "{log}"
    );
}

/// A child that drops its privileges still speaks sd_notify: its socket is
/// made its user's. `readiness = "notify"` holds the next sibling until its
/// `READY=1`, and its `WATCHDOG=1` pings (a `health_timeout`) keep it alive
/// while a silent sibling is restarted again and again.
#[test]
fn a_dropped_child_reaches_its_notify_socket() {
    if !root_or_skip("a_dropped_child_reaches_its_notify_socket") {
        return;
    }
    let s = Scratch::new("ident-notify");
    let out = open_dir(&s, "out");
    let beat = s.write(
        "beat.py",
        &format!(
            "import os, socket, time\n\
             s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n\
             s.sendto(b'READY=1', os.environ['NOTIFY_SOCKET'])\n\
             open('{out}/ready.tmp', 'w').write(str(os.getuid()))\n\
             os.rename('{out}/ready.tmp', '{out}/ready')\n\
             while True:\n    s.sendto(b'WATCHDOG=1', os.environ['NOTIFY_SOCKET'])\n    time.sleep(0.05)\n"
        ),
    );
    std::fs::set_permissions(&beat, std::fs::Permissions::from_mode(0o644)).unwrap();
    let config = s.write(
        "t.toml",
        &format!(
            "[supervisor]\nintensity = 20\nperiod = \"10s\"\n\n\
             [[child]]\nname = \"beating\"\nuser = \"nobody\"\nreadiness = \"notify\"\n\
             health_timeout = \"1s\"\ncommand = [\"python3\", {beat:?}]\n\n\
             [[child]]\nname = \"silent\"\nhealth_timeout = \"300ms\"\ncommand = {}\n",
            sh(&format!(
                "test -e {out}/ready && echo $VIGIL_GENERATION >> {out}/silent.starts; exec sleep 1000"
            ))
        ),
    );
    let (code, _, err) = check(&config, &[]);
    assert_eq!(code, 0, "{err}");
    let mut v = Vigil::start_supervising(&s, &config);
    // `silent` starts only once `beating` is ready, and records each start
    // only if `beating` said READY=1 before: 8 starts take longer than two
    // of `beating`'s health timeouts.
    v.wait_for("eight starts of the silent child", || {
        std::fs::read_to_string(s.path("out/silent.starts")).is_ok_and(|t| t.lines().count() >= 8)
    });
    let nobody = Command::new("id").args(["-u", "nobody"]).output().unwrap();
    let uid = String::from_utf8_lossy(&nobody.stdout).trim().to_owned();
    assert_eq!(std::fs::read_to_string(s.path("out/ready")).unwrap(), uid);
    v.signal("TERM");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());
    let trace = v.trace();
    assert_eq!(trace.count("spawn", "beating"), 1, "{trace}");
    assert_eq!(trace.count("timeout", "beating"), 0, "{trace}");
    assert!(trace.count("heartbeat", "beating") > 0, "{trace}");
}
