//! `[control] group` with real processes (docs/CONFIG.md, `[control]`;
//! docs/OPERATING.md, "Who can reach the control socket"): a child that
//! runs as another user reaches the control socket when its group is the
//! control group, and is refused without the key; the socket and the
//! directories vigil creates are the group's; a group unknown to the host
//! is an error of `vigil check` and `vigil run` at its position.
//!
//! Changing the user needs root: those tests print why they are skipped
//! when not run as root. Nothing sleeps to assert: each test waits for a
//! file or an event.

mod support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Command;

use support::*;

/// Whether this test process is root; else print why the test is skipped.
fn root_or_skip(test: &str) -> bool {
    let root = nix_uid() == 0;
    if !root {
        eprintln!("SKIPPED {test}: changing the user needs root, and this test runs as a normal user");
    }
    root
}

fn nix_uid() -> u32 {
    let out = Command::new("id").arg("-u").output().expect("id runs");
    String::from_utf8_lossy(&out.stdout).trim().parse().expect("a uid")
}

/// The primary gid of `user`, by `id -g`.
fn primary_gid(user: &str) -> u32 {
    let out = Command::new("id").args(["-g", user]).output().expect("id runs");
    String::from_utf8_lossy(&out.stdout).trim().parse().expect("a gid")
}

/// A directory of `s` that every user may write to (for children that run
/// as another user); `s` itself becomes 0755 so they can reach it.
fn open_dir(s: &Scratch, name: &str) -> String {
    let dir = s.path(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&s.0, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    dir.to_str().unwrap().to_owned()
}

/// A child named `name` with `identity` keys that runs `vigil ctl status`
/// and writes its output and exit code into `out`.
fn ctl_child(name: &str, identity: &str, out: &str) -> String {
    let vigil = env!("CARGO_BIN_EXE_vigil");
    let script =
        format!("{vigil} ctl status > {out}/$VIGIL_PATH.out 2>&1; echo $? > {out}/$VIGIL_PATH.code; exec sleep 1000");
    format!("[[child]]\nname = \"{name}\"\ncommand = {}\n{identity}\n", sh(&script))
}

/// The mode bits and group of `path`.
fn mode_and_group(path: &std::path::Path) -> (u32, u32) {
    let meta = std::fs::metadata(path).unwrap();
    (meta.permissions().mode() & 0o777, meta.gid())
}

/// `group = "<nobody's primary group>"`: a child running as `nobody`
/// runs `vigil ctl status`; one running as a user outside the group is
/// still refused. The socket is 0660 and the directories vigil created
/// (`$XDG_RUNTIME_DIR` and its `vigil/`) 0710, all the group's.
#[test]
fn a_member_of_the_control_group_reaches_the_socket() {
    if !root_or_skip("a_member_of_the_control_group_reaches_the_socket") {
        return;
    }
    let s = Scratch::new("access");
    let out = open_dir(&s, "out");
    let gid = primary_gid("nobody");
    let group = String::from_utf8_lossy(&Command::new("id").args(["-gn", "nobody"]).output().unwrap().stdout)
        .trim()
        .to_owned();
    let config = s.write(
        "t.toml",
        &format!(
            "[control]\ngroup = \"{group}\"\n\n{}\n{}",
            ctl_child("member", "user = \"nobody\"", &out),
            ctl_child("outsider", "user = 54321\ngroup = 54322", &out),
        ),
    );
    let mut v = Vigil::start_supervising(&s, &config);
    let member = s.wait_lines(&v, "out/member.code", 1);
    let said = std::fs::read_to_string(s.path("out/member.out")).unwrap();
    assert_eq!(member, ["0"], "{said}");
    assert!(said.contains("member"), "the status lists the children: {said}");
    let outsider = s.wait_lines(&v, "out/outsider.code", 1);
    let said = std::fs::read_to_string(s.path("out/outsider.out")).unwrap();
    assert_ne!(outsider, ["0"], "{said}");
    assert!(said.contains("ermission denied"), "{said}");
    assert_eq!(mode_and_group(&s.path("xdg/vigil/t.sock")), (0o660, gid));
    assert_eq!(mode_and_group(&s.path("xdg/vigil")), (0o710, gid));
    assert_eq!(mode_and_group(&s.path("xdg")), (0o710, gid));
    v.signal("TERM");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());
}

/// A numeric gid needs no entry in /etc/group; the same child without
/// the key is refused (the socket 0600, its directory 0700).
#[test]
fn a_numeric_group_and_no_group() {
    if !root_or_skip("a_numeric_group_and_no_group") {
        return;
    }
    for (control, code) in [("[control]\ngroup = 54322\n", Some("0")), ("", None)] {
        let s = Scratch::new("access-num");
        let out = open_dir(&s, "out");
        let config = s.write(
            "t.toml",
            &format!("{control}\n{}", ctl_child("w", "user = 54321\ngroup = 54322", &out)),
        );
        let mut v = Vigil::start_supervising(&s, &config);
        let got = s.wait_lines(&v, "out/w.code", 1);
        let said = std::fs::read_to_string(s.path("out/w.out")).unwrap();
        match code {
            Some(code) => {
                assert_eq!(got, [code], "{said}");
                assert_eq!(mode_and_group(&s.path("xdg/vigil/t.sock")), (0o660, 54322));
            }
            None => {
                assert_ne!(got, ["0"], "{said}");
                assert!(said.contains("ermission denied"), "{said}");
                assert_eq!(mode_and_group(&s.path("xdg/vigil/t.sock")).0, 0o600);
                assert_eq!(mode_and_group(&s.path("xdg/vigil")).0, 0o700);
            }
        }
        v.signal("TERM");
        assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());
    }
}

/// A group the host does not know: `vigil check` fails naming the key's
/// position, and `vigil run` exits 2 with the same line before anything
/// starts. Any user may run this test.
#[test]
fn an_unknown_control_group_is_an_error_at_its_position() {
    let s = Scratch::new("access-unknown");
    let config = s.write(
        "t.toml",
        "[control]\nlogs_lines = 10\ngroup = \"no-such-group-vigil\"\n\n\
         [[child]]\nname = \"w\"\ncommand = [\"sleep\", \"1000\"]\n",
    );
    let path = config.to_str().unwrap();
    let want = format!("{path}:3:9: [control] group: no group named `no-such-group-vigil` on this host");
    let check = vigil_output(&["check", path]);
    let err = String::from_utf8_lossy(&check.stderr);
    assert_eq!(exit_code(&check), 2, "{err}");
    assert!(err.contains(&format!("error: {want}")), "{err}");
    let mut v = Vigil::start(&s, &config);
    assert_eq!(v.wait_code(), 2, "log:\n{}", v.log_text());
    assert!(v.log_text().contains(&format!("error: {want}")), "{}", v.log_text());
    assert!(!s.path("xdg/vigil/t.sock").exists(), "no socket was bound");
}
