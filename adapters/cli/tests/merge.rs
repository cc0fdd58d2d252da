//! `vigil sim --shard K/N --json FILE` and `vigil merge`: the shards of a
//! range merged print exactly what the unsharded range prints (but for the
//! wall-clock figures), and hostile sweep files are refused with the reason
//! and the documented exit code.

use std::path::{Path, PathBuf};

mod support;

use support::{code, text, vigil_output as vigil};

fn web_stack() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/web-stack.toml")
        .to_str()
        .expect("UTF-8")
        .to_owned()
}

/// A scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("vigil-merge-test-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        Scratch(dir)
    }

    fn file(&self, name: &str) -> String {
        self.0.join(name).to_str().expect("UTF-8").to_owned()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The summary with its wall-clock figures (threads, seconds, speed) blanked:
/// the only figures a merge cannot reproduce, since they measure the machines.
fn without_wall_clock(summary: &str) -> String {
    summary
        .lines()
        .map(|line| {
            if let Some((head, _)) = line.split_once(" on ").filter(|_| line.contains(" thread(s) in ")) {
                format!("{head} on _ thread(s) in _s")
            } else if let Some((head, _)) = line.split_once(" hours), ") {
                format!("{head} hours), _x faster than real time")
            } else if let Some((head, _)) = line.split_once(" (").filter(|_| line.starts_with("  events: ")) {
                format!("{head} (_ M events/s)")
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn shards(dir: &Scratch, range: &str, n: u64) -> Vec<String> {
    (0..n)
        .map(|k| {
            let file = dir.file(&format!("shard-{k}.json"));
            let out = vigil(&[
                "sim",
                &web_stack(),
                "--seeds",
                range,
                "--shard",
                &format!("{k}/{n}"),
                "--json",
                &file,
                "-q",
            ]);
            assert_eq!(
                code(&out),
                0,
                "shard {k}/{n}: {}{}",
                text(&out.stdout),
                text(&out.stderr)
            );
            assert!(
                text(&out.stdout).contains(&format!("shard {k}/{n} of {range}")),
                "{}",
                text(&out.stdout)
            );
            file
        })
        .collect()
}

#[test]
fn three_shards_of_0_to_300_merge_into_the_unsharded_summary() {
    let dir = Scratch::new("three");
    let whole_json = dir.file("whole.json");
    let whole = vigil(&["sim", &web_stack(), "--seeds", "0..300", "-q", "--json", &whole_json]);
    assert_eq!(code(&whole), 0, "{}", text(&whole.stderr));
    let files = shards(&dir, "0..300", 3);
    let merged_json = dir.file("merged.json");
    // Given in any order.
    let merged = vigil(&["merge", &files[2], &files[0], &files[1], "--json", &merged_json]);
    assert_eq!(code(&merged), 0, "{}", text(&merged.stderr));
    let (w, m) = (text(&whole.stdout), text(&merged.stdout));
    assert!(w.contains("seeds (0..300)") && w.contains("root gave up"), "{w}");
    assert_eq!(without_wall_clock(&m), without_wall_clock(&w));
    // The JSON: equal but for the merge's own threads and wall time (and so the digest).
    let read = |p: &str| -> serde_json::Value {
        let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
        for k in ["jobs", "wall", "digest"] {
            v.as_object_mut().unwrap().remove(k);
        }
        v
    };
    assert_eq!(read(&merged_json), read(&whole_json));
    // `--json -`: the merged file on stdout, which merges again.
    let again = vigil(&["merge", &merged_json, "--json", "-"]);
    assert_eq!(code(&again), 0);
    let v: serde_json::Value = serde_json::from_str(&text(&again.stdout)).expect("JSON on stdout");
    assert_eq!(v["summary"], read(&whole_json)["summary"]);
}

#[test]
fn hostile_sweep_files_are_refused_with_the_reason() {
    let dir = Scratch::new("hostile");
    let files = shards(&dir, "0..30", 3);
    let refused = |args: &[&str], exit: i32, says: &str| {
        let out = vigil(args);
        let err = text(&out.stderr);
        assert_eq!(code(&out), exit, "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: `{says}` not in: {err}");
        assert!(out.stdout.is_empty(), "{args:?}: no summary on failure");
    };
    // A shard missing: 4, and which one.
    refused(&["merge", &files[0], &files[2]], 4, "missing shard(s) 1");
    // The same shard twice.
    refused(
        &["merge", &files[0], &files[1], &files[1], &files[2]],
        2,
        "both cover seeds 10..20",
    );
    // A truncated file.
    let whole = std::fs::read_to_string(&files[1]).unwrap();
    let cut = dir.file("cut.json");
    std::fs::write(&cut, &whole[..whole.len() - 40]).unwrap();
    refused(&["merge", &files[0], &cut, &files[2]], 2, "cut.json: not JSON: EOF");
    // An edited count.
    let edited = dir.file("edited.json");
    std::fs::write(&edited, whole.replacen("\"seeds\":10", "\"seeds\":9", 1)).unwrap();
    refused(&["merge", &files[0], &edited, &files[2]], 2, "edited or damaged");
    // Not a sweep file at all, and no file.
    refused(&["merge", &web_stack()], 2, "not JSON");
    refused(&["merge", &dir.file("absent.json")], 2, "cannot read");
    // A shard of another config.
    let other_cfg = dir.file("other.toml");
    std::fs::write(
        &other_cfg,
        std::fs::read_to_string(web_stack()).unwrap() + "\n# edited\n",
    )
    .unwrap();
    let foreign = dir.file("foreign.json");
    let out = vigil(&[
        "sim", &other_cfg, "--seeds", "0..30", "--shard", "1/3", "--json", &foreign, "-q",
    ]);
    assert_eq!(code(&out), 0);
    refused(&["merge", &files[0], &foreign, &files[2]], 2, "`config_digest`");
    // A shard of another --duration.
    let short = dir.file("short.json");
    let out = vigil(&[
        "sim",
        &web_stack(),
        "--seeds",
        "0..30",
        "--shard",
        "2/3",
        "--duration",
        "10m",
        "--json",
        &short,
        "-q",
    ]);
    assert_eq!(code(&out), 0);
    refused(&["merge", &files[0], &files[1], &short], 2, "`options.duration_ns`");
}

#[test]
fn bad_shards_are_usage_errors() {
    for (args, says) in [
        (
            &["--seeds", "0..10", "--shard", "10/10"][..],
            "shards are numbered from 0 to 9",
        ),
        (&["--seeds", "0..10", "--shard", "1/0"], "0 shards"),
        (&["--seeds", "0..10", "--shard", "x"], "is not a shard"),
        (&["--seeds", "0..10", "--shard", "0/11"], "use at most 10 shards"),
        (&["--shard", "0/2"], "--seeds"),
        (
            &["--seed", "1", "--json", "x.json", "--trace", "t.jsonl"],
            "cannot be used with",
        ),
    ] {
        let config = web_stack();
        let all: Vec<&str> = ["sim", config.as_str()]
            .into_iter()
            .chain(args.iter().copied())
            .collect();
        let out = vigil(&all);
        assert_eq!(code(&out), 2, "{args:?}");
        assert!(text(&out.stderr).contains(says), "{args:?}: {}", text(&out.stderr));
    }
}
