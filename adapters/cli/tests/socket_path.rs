//! The default control socket without `XDG_RUNTIME_DIR`: `vigil-<name>.sock`
//! next to the config file. Two configs run side by side in one directory,
//! each controlled with `vigil ctl --config` from another working
//! directory; a config broken after the start is still controlled.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

mod support;

use support::poll;

fn vigil(cwd: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vigil"));
    c.args(args)
        .current_dir(cwd)
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("VIGIL_SOCKET");
    c
}

fn ctl(cwd: &Path, config: &Path, args: &[&str]) -> Output {
    let mut all = vec!["ctl", "--config", config.to_str().unwrap()];
    all.extend_from_slice(args);
    vigil(cwd, &all).output().expect("vigil ctl runs")
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn two_configs_in_one_directory_each_have_their_own_socket() {
    let dir = tempfile::tempdir().unwrap();
    let trees = dir.path().join("trees");
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&trees).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    let mut runs = Vec::new();
    for (name, child) in [("alpha", "a"), ("beta", "b")] {
        let config = trees.join(format!("{name}.toml"));
        std::fs::write(
            &config,
            format!("[[child]]\nname = \"{child}\"\ncommand = [\"sleep\", \"1000\"]\nshutdown = \"brutal\"\n"),
        )
        .unwrap();
        // Started from the directory above, with a relative config path.
        let run = vigil(dir.path(), &["run", &format!("trees/{name}.toml")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("vigil run");
        runs.push(Running(run));
        let socket = trees.join(format!("vigil-{name}.sock"));
        assert!(poll(|| socket.exists()), "{} never appeared", socket.display());
    }
    assert!(!trees.join("vigil.sock").exists() && !dir.path().join("vigil.sock").exists());
    for (name, child) in [("alpha", "a"), ("beta", "b")] {
        let config = trees.join(format!("{name}.toml"));
        let out = ctl(&elsewhere, &config, &["--json", "status"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let paths: Vec<&str> = json["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|n| n["path"].as_str())
            .collect();
        assert_eq!(paths, [child], "{name}'s own tree answers");
    }
    // Without --config, in their directory: two sockets, which one?
    let out = vigil(&trees, &["ctl", "status"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("2 vigil sockets"));
    // alpha's config broken by a later edit: still controlled, with a warning.
    let alpha = trees.join("alpha.toml");
    std::fs::write(&alpha, "[[child]]\nname = \"a\"\ncommand = [\"sleep\"\n").unwrap();
    let out = ctl(&elsewhere, &alpha, &["shutdown"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning:") && stderr.contains("vigil-alpha.sock"),
        "{stderr}"
    );
    let mut alpha_run = runs.remove(0);
    assert!(
        poll(|| alpha_run.0.try_wait().unwrap().is_some()),
        "alpha did not shut down"
    );
    assert!(!trees.join("vigil-alpha.sock").exists(), "alpha's socket is removed");
    // beta is untouched, and now the only socket of its directory.
    let out = ctl(&elsewhere, &trees.join("beta.toml"), &["status"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = vigil(&trees, &["ctl", "--json", "status"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"path\":\"b\""));
    // Nowhere near a socket: an error that says what to give.
    let out = vigil(&elsewhere, &["ctl", "status"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--config"));
}

#[test]
fn a_broken_config_with_its_own_socket_line_is_still_found() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("custom.sock");
    let config = dir.path().join("tree.toml");
    let good = format!(
        "[control]\nsocket = \"{}\"\n\n[[child]]\nname = \"a\"\ncommand = [\"sleep\", \"1000\"]\nshutdown = \"brutal\"\n",
        socket.display()
    );
    std::fs::write(&config, &good).unwrap();
    let _run = Running(
        vigil(dir.path(), &["run", "tree.toml"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(poll(|| socket.exists()));
    std::fs::write(&config, format!("{good}\n[[child]]\nname = \"b\"\nunknown_key = 1\n")).unwrap();
    let out = ctl(dir.path(), &config, &["status"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("unknown_key") && stderr.contains("custom.sock"),
        "{stderr}"
    );
}
