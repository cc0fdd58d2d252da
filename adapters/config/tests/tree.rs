//! The tree config of docs/CONFIG.md, parsed field by field.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use vigil_config::{load_tree, parse_tree, ConfigErrorKind, Lifetime, SimBehaviour, TreeConfig};
use vigil_core::{
    AutoShutdown, Backoff, ChildKind, ChildSpec, Engine, ExitReason, Lifespan, Readiness, Restart, Shutdown,
    ShutdownOrder, Strategy, SupervisorSpec,
};

/// The complete example of docs/CONFIG.md ("A complete example"), verbatim.
const CONFIG_MD_EXAMPLE: &str = r#"
[supervisor]                 # the root supervisor (all keys optional)
strategy = "one_for_one"     # one_for_one | one_for_all | rest_for_one | one_terminate_all
intensity = 3
period = "5s"
auto_shutdown = "never"      # never | any_significant | all_significant
lifespan = "permanent"       # permanent | transient
shutdown_order = "reverse"   # reverse | parallel: how it stops its children when it ends

[control]                    # optional: the control socket of `vigil run`
socket = "vigil.sock"        # path; default: $XDG_RUNTIME_DIR/vigil/<config name>.sock, else vigil-<config name>.sock beside this file

[[child]]
name = "db"
command = ["postgres", "-D", "data"]   # an OS process (argv; no shell)
env = { PGPORT = "5433" }              # optional
cwd = "."                              # optional
restart = "permanent"                  # permanent | transient | temporary
shutdown = "10s"                       # "brutal" | a duration | "infinity"
significant = false
readiness = "notify"                   # immediate | notify
startup_timeout = "30s"
health_timeout = "10s"
backoff = { initial = "100ms", max = "30s", multiplier = 2.0, jitter = 0.1, reset_after = "60s" }
memory_limit = "512MiB"                # optional, see the memory monitor
sim = { lifetime = "exp(10m)", exit = "error", start_fail = 0.01, start_latency = "20ms", stop_latency = "50ms", ignore_stop = 0.0 }

[[child]]
name = "web"
supervisor = { strategy = "one_for_all", intensity = 1, period = "5s" }   # a nested supervisor
  [[child.child]]
  name = "w1"
  command = ["./web", "--port", "8080"]

[[child]]
name = "pool"
supervisor = { shutdown_order = "parallel" }   # at its end, every connection is asked to stop at once
  [[child.child]]
  name = "conn1"
  command = ["./conn"]
  [[child.child]]
  name = "conn2"
  command = ["./conn"]
"#;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn supervisor_of(child: &ChildSpec) -> &SupervisorSpec {
    match &child.kind {
        ChildKind::Supervisor(spec) => spec,
        ChildKind::Worker => panic!("`{}` is a worker", child.name),
    }
}

#[test]
fn the_config_md_example_parses_field_by_field() {
    let config = parse_tree(CONFIG_MD_EXAMPLE, "examples/web.toml").unwrap();
    assert_eq!(config.source, "examples/web.toml");
    assert_eq!(config.name, "web");
    assert_eq!(config.control.socket, Some(PathBuf::from("vigil.sock")));

    let root = &config.spec;
    assert_eq!(root.strategy, Strategy::OneForOne);
    assert_eq!(root.intensity, 3);
    assert_eq!(root.period, secs(5));
    assert_eq!(root.auto_shutdown, AutoShutdown::Never);
    assert_eq!(root.lifespan, Lifespan::Permanent);
    assert_eq!(root.shutdown_order, ShutdownOrder::Reverse);
    assert_eq!(root.children.len(), 3);

    let db = &root.children[0];
    assert_eq!(db.name, "db");
    assert_eq!(db.kind, ChildKind::Worker);
    assert_eq!(db.restart, Restart::Permanent);
    assert_eq!(db.shutdown, Some(Shutdown::Timeout(secs(10))));
    assert!(!db.significant);
    assert_eq!(db.readiness, Readiness::Notify);
    assert_eq!(db.startup_timeout, Some(secs(30)));
    assert_eq!(db.health_timeout, Some(secs(10)));
    assert_eq!(
        db.backoff,
        Some(Backoff {
            initial: ms(100),
            max: secs(30),
            multiplier: 2.0,
            jitter: 0.1,
            reset_after: Some(secs(60)),
        })
    );
    assert_eq!(db.tag, 0);

    let web = &root.children[1];
    assert_eq!(web.name, "web");
    assert_eq!(web.tag, u64::MAX);
    assert_eq!(web.restart, Restart::Permanent);
    assert_eq!(web.shutdown, None);
    assert_eq!(web.shutdown_policy(), Shutdown::Infinity);
    let web_sup = supervisor_of(web);
    assert_eq!(web_sup.strategy, Strategy::OneForAll);
    assert_eq!(web_sup.intensity, 1);
    assert_eq!(web_sup.period, secs(5));
    assert_eq!(web_sup.auto_shutdown, AutoShutdown::Never);
    assert_eq!(web_sup.lifespan, Lifespan::Permanent);
    assert_eq!(web_sup.shutdown_order, ShutdownOrder::Reverse);
    assert_eq!(web_sup.children.len(), 1);
    let w1 = &web_sup.children[0];
    assert_eq!(w1, &ChildSpec::worker("w1").tag(1));

    let pool = supervisor_of(&root.children[2]);
    assert_eq!(pool.shutdown_order, ShutdownOrder::Parallel);
    assert_eq!(pool.strategy, Strategy::OneForOne, "the other keys keep their defaults");
    let names: Vec<&str> = pool.children.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["conn1", "conn2"]);

    assert_eq!(config.workers.len(), 4);
    let db_worker = &config.workers[0];
    assert_eq!(db_worker.path, "db");
    assert_eq!(db_worker.command, ["postgres", "-D", "data"]);
    assert_eq!(
        db_worker.env,
        BTreeMap::from([("PGPORT".to_owned(), "5433".to_owned())])
    );
    assert_eq!(db_worker.cwd, Some(PathBuf::from(".")));
    assert_eq!(db_worker.memory_limit, Some(512 * 1024 * 1024));
    assert_eq!(
        db_worker.sim,
        SimBehaviour {
            lifetime: Lifetime::Exp { mean: secs(600) },
            exit: ExitReason::Error(String::new()),
            start_fail: 0.01,
            start_latency: ms(20),
            ready_latency: Duration::ZERO,
            stop_latency: ms(50),
            ignore_stop: 0.0,
        }
    );

    let w1_worker = &config.workers[1];
    assert_eq!(w1_worker.path, "web/w1");
    assert_eq!(w1_worker.command, ["./web", "--port", "8080"]);
    assert!(w1_worker.env.is_empty());
    assert_eq!(w1_worker.cwd, None);
    assert_eq!(w1_worker.memory_limit, None);
    assert_eq!(w1_worker.sim, SimBehaviour::default());

    // The spec is valid for the engine as it is.
    assert!(Engine::new(config.spec.clone(), 1).is_ok());
}

#[test]
fn the_config_md_example_renders() {
    let config = parse_tree(CONFIG_MD_EXAMPLE, "examples/web.toml").unwrap();
    assert_eq!(
        config.render(),
        "\
/  one_for_one intensity=3 period=5s
├── db  worker permanent shutdown=10s readiness=notify startup_timeout=30s health_timeout=10s backoff=100ms..30s*2 jitter=0.1 reset_after=1m memory_limit=512MiB cwd=. env:PGPORT=5433  [postgres -D data]
├── web  supervisor one_for_all intensity=1 period=5s
│   └── w1  worker permanent shutdown=5s  [./web --port 8080]
└── pool  supervisor one_for_one intensity=1 period=5s shutdown_order=parallel
    ├── conn1  worker permanent shutdown=5s  [./conn]
    └── conn2  worker permanent shutdown=5s  [./conn]
"
    );
}

#[test]
fn an_empty_file_is_an_empty_root_with_defaults() {
    let config = parse_tree("", "<string>").unwrap();
    assert_eq!(config.spec, SupervisorSpec::new());
    assert_eq!(config.name, "<string>");
    assert!(config.workers.is_empty());
    assert_eq!(config.control.socket, None);
    assert_eq!(config.render(), "/  one_for_one intensity=1 period=5s\n");
}

#[test]
fn defaults_apply_when_keys_are_absent() {
    let config = parse_tree("[[child]]\nname = \"a\"\ncommand = [\"a\"]\n", "a.toml").unwrap();
    assert_eq!(config.spec.children, [ChildSpec::worker("a")]);
    let w = &config.workers[0];
    assert_eq!(w.sim, SimBehaviour::default());
    assert_eq!((w.cwd.as_ref(), w.memory_limit), (None, None));
}

#[test]
fn tags_follow_depth_first_start_order() {
    let text = r#"
[[child]]
name = "a"
command = ["a"]

[[child]]
name = "s"
supervisor = {}
  [[child.child]]
  name = "b"
  command = ["b"]

  [[child.child]]
  name = "t"
  supervisor = { strategy = "rest_for_one" }
    [[child.child.child]]
    name = "c"
    command = ["c"]

  [[child.child]]
  name = "d"
  command = ["d"]

[[child]]
name = "e"
command = ["e"]
"#;
    let config = parse_tree(text, "t.toml").unwrap();
    let paths: Vec<&str> = config.workers.iter().map(|w| w.path.as_str()).collect();
    assert_eq!(paths, ["a", "s/b", "s/t/c", "s/d", "e"]);

    // Walk the spec in start order: worker tags count up, supervisors are u64::MAX.
    fn walk(spec: &SupervisorSpec, prefix: &str, out: &mut Vec<(String, u64)>) {
        for child in &spec.children {
            let path = if prefix.is_empty() {
                child.name.clone()
            } else {
                format!("{prefix}/{}", child.name)
            };
            out.push((path.clone(), child.tag));
            if let ChildKind::Supervisor(sup) = &child.kind {
                walk(sup, &path, out);
            }
        }
    }
    let mut seen = Vec::new();
    walk(&config.spec, "", &mut seen);
    let max = u64::MAX;
    let expected = [
        ("a", 0),
        ("s", max),
        ("s/b", 1),
        ("s/t", max),
        ("s/t/c", 2),
        ("s/d", 3),
        ("e", 4),
    ];
    let expected: Vec<(String, u64)> = expected.iter().map(|(p, t)| ((*p).to_owned(), *t)).collect();
    assert_eq!(seen, expected);
    for (tag, worker) in config.workers.iter().enumerate() {
        assert!(seen.contains(&(worker.path.clone(), tag as u64)));
    }

    assert_eq!(
        config.render(),
        "\
/  one_for_one intensity=1 period=5s
├── a  worker permanent shutdown=5s  [a]
├── s  supervisor one_for_one intensity=1 period=5s
│   ├── b  worker permanent shutdown=5s  [b]
│   ├── t  supervisor rest_for_one intensity=1 period=5s
│   │   └── c  worker permanent shutdown=5s  [c]
│   └── d  worker permanent shutdown=5s  [d]
└── e  worker permanent shutdown=5s  [e]
"
    );
}

#[test]
fn every_keyword_value_is_accepted() {
    let text = r#"
[supervisor]
strategy = "one_terminate_all"
intensity = 0
period = "1.5s"
auto_shutdown = "all_significant"
lifespan = "transient"
shutdown_order = "parallel"

[[child]]
name = "a"
command = ["a"]
restart = "transient"
significant = true
shutdown = "brutal"
memory_limit = 4096
sim = { lifetime = "uniform(1s, 5s)", exit = "panic(boom)", start_fail = 1, ready_latency = "5ms", ignore_stop = 1 }

[[child]]
name = "b"
command = ["b c", ""]
restart = "temporary"
shutdown = "infinity"
readiness = "immediate"
memory_limit = "1GB"
backoff = { initial = "1s", max = "1s" }
sim = { lifetime = "never", exit = "normal" }

[[child]]
name = "s"
restart = "transient"
shutdown = "2m"
significant = true
backoff = { initial = "1s", max = "10s", multiplier = 3 }
supervisor = { strategy = "rest_for_one", auto_shutdown = "any_significant", shutdown_order = "reverse" }
  [[child.child]]
  name = "c"
  command = ["c"]
  sim = { lifetime = "250ms" }
"#;
    let config = parse_tree(text, "all.toml").unwrap();
    let root = &config.spec;
    assert_eq!(root.strategy, Strategy::OneTerminateAll);
    assert_eq!((root.intensity, root.period), (0, ms(1500)));
    assert_eq!(
        (root.auto_shutdown, root.lifespan),
        (AutoShutdown::AllSignificant, Lifespan::Transient)
    );
    assert_eq!(root.shutdown_order, ShutdownOrder::Parallel);
    let [a, b, s] = &root.children[..] else { panic!() };
    assert_eq!(
        (a.restart, a.significant, a.shutdown),
        (Restart::Transient, true, Some(Shutdown::Brutal))
    );
    assert_eq!((b.restart, b.shutdown), (Restart::Temporary, Some(Shutdown::Infinity)));
    assert_eq!(b.backoff, Some(Backoff::exponential(secs(1), secs(1))));
    assert_eq!(s.backoff.map(|b| b.multiplier), Some(3.0));
    assert_eq!(s.shutdown, Some(Shutdown::Timeout(secs(120))));
    let s_sup = supervisor_of(s);
    assert_eq!(
        (s_sup.strategy, s_sup.auto_shutdown),
        (Strategy::RestForOne, AutoShutdown::AnySignificant)
    );
    assert_eq!(s_sup.shutdown_order, ShutdownOrder::Reverse);
    let [wa, wb, wc] = &config.workers[..] else { panic!() };
    assert_eq!(wa.memory_limit, Some(4096));
    assert_eq!(
        wa.sim.lifetime,
        Lifetime::Uniform {
            min: secs(1),
            max: secs(5)
        }
    );
    assert_eq!(wa.sim.exit, ExitReason::Panic("boom".into()));
    assert_eq!(
        (wa.sim.start_fail, wa.sim.ignore_stop, wa.sim.ready_latency),
        (1.0, 1.0, ms(5))
    );
    assert_eq!(wb.memory_limit, Some(1_000_000_000));
    assert_eq!((wb.sim.lifetime, &wb.sim.exit), (Lifetime::Never, &ExitReason::Normal));
    assert_eq!(wc.sim.lifetime, Lifetime::Fixed(ms(250)));
    assert_eq!(
        config.render(),
        "\
/  one_terminate_all intensity=0 period=1.5s auto_shutdown=all_significant lifespan=transient shutdown_order=parallel
├── a  worker transient shutdown=brutal significant memory_limit=4KiB  [a]
├── b  worker temporary shutdown=infinity backoff=1s..1s*2 memory_limit=1GB  [\"b c\" \"\"]
└── s  supervisor rest_for_one intensity=1 period=5s auto_shutdown=any_significant restart=transient shutdown=2m significant backoff=1s..10s*3
    └── c  worker permanent shutdown=5s  [c]
"
    );
}

#[test]
fn inline_child_arrays_are_the_same_tree() {
    let inline = r#"child = [{ name = "a", command = ["a"] }, { name = "s", supervisor = {}, child = [{ name = "b", command = ["b"] }] }]"#;
    let tables = "[[child]]\nname = \"a\"\ncommand = [\"a\"]\n[[child]]\nname = \"s\"\nsupervisor = {}\n[[child.child]]\nname = \"b\"\ncommand = [\"b\"]\n";
    let a = parse_tree(inline, "x.toml").unwrap();
    let b = parse_tree(tables, "x.toml").unwrap();
    // The same tree from different text: only the digests differ.
    assert_ne!(a.digest, b.digest);
    assert_eq!(
        vigil_config::TreeConfig { digest: None, ..a },
        vigil_config::TreeConfig { digest: None, ..b }
    );
}

#[test]
fn files_are_loaded_with_their_stem_as_name() {
    let dir = std::env::temp_dir().join(format!("vigil-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("shop.toml");
    std::fs::write(&path, CONFIG_MD_EXAMPLE).unwrap();
    let config: TreeConfig = load_tree(&path).unwrap();
    assert_eq!(config.name, "shop");
    assert_eq!(config.source, path.display().to_string());

    let missing = dir.join("missing.toml");
    let err = load_tree(&missing).unwrap_err();
    assert!(matches!(*err.kind, ConfigErrorKind::Io(_)));
    assert_eq!((err.line, err.column), (None, None));
    assert!(err
        .to_string()
        .starts_with(&format!("{}: cannot read the file: ", missing.display())));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_monitor_table_sets_the_sampling_and_the_tree_limits() {
    let config = parse_tree(
        "[monitor]\ninterval = \"2s\"\nmemory_limit = \"4GiB\"\nleak_growth = \"16MiB\"\nleak_count = 3\n",
        "m.toml",
    )
    .unwrap();
    assert_eq!(
        config.monitor,
        vigil_config::MonitorConfig {
            interval: std::time::Duration::from_secs(2),
            memory_limit: Some(4 << 30),
            leak_growth: Some(16 << 20),
            leak_count: 3,
        }
    );
    let defaults = parse_tree("", "m.toml").unwrap().monitor;
    assert_eq!(defaults, vigil_config::MonitorConfig::default());
    assert_eq!(defaults.interval, std::time::Duration::from_secs(5));
    assert_eq!(
        (defaults.memory_limit, defaults.leak_growth, defaults.leak_count),
        (None, None, 5)
    );
}

#[test]
fn extreme_backoff_numbers_render_as_people_write_them() {
    let config = parse_tree(
        "[[child]]\nname = \"a\"\ncommand = [\"x\"]\n\
         backoff = { initial = \"1ns\", max = \"1s\", multiplier = 1e308, jitter = 0.00001 }\n",
        "extreme.toml",
    )
    .unwrap();
    let text = config.render();
    assert!(text.contains("backoff=1ns..1s*1e308 jitter=1e-5"), "{text}");
}
