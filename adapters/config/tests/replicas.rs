//! Replicas (`count`): expansion at load, and every validation error with
//! its position (docs/CONFIG.md, "replicas").

use vigil_config::{parse_tree, AppliedConfig, ReloadStep, TreeConfig, MAX_REPLICAS};
use vigil_core::{ChildKind, Restart};

fn cfg(text: &str) -> TreeConfig {
    parse_tree(text, "r.toml").unwrap_or_else(|e| panic!("valid config: {e}"))
}

fn err(text: &str) -> String {
    parse_tree(text, "r.toml").expect_err("refused").to_string()
}

const POOL: &str = r#"
[[child]]
name = "db"
command = ["db"]

[[child]]
name = "main"
supervisor = { strategy = "rest_for_one" }
  [[child.child]]
  name = "web"
  count = 3
  restart = "transient"
  command = ["./web", "--port", "80{replica}", "{{literal}}"]
  env = { DATA = "/srv/{replica}", FIXED = "x" }
  cwd = "run/{replica}"

  [[child.child]]
  name = "tail"
  command = ["tail"]
"#;

#[test]
fn a_template_expands_in_place_into_its_replicas() {
    let c = cfg(POOL);
    let paths: Vec<&str> = c.workers.iter().map(|w| w.path.as_str()).collect();
    assert_eq!(paths, ["db", "main/web-0", "main/web-1", "main/web-2", "main/tail"]);
    let w2 = &c.workers[3];
    assert_eq!(w2.command, ["./web", "--port", "802", "{literal}"]);
    assert_eq!(w2.env["DATA"], "/srv/2");
    assert_eq!(w2.env["FIXED"], "x");
    assert_eq!(w2.env["VIGIL_REPLICA"], "2");
    assert_eq!(w2.cwd.as_deref(), Some(std::path::Path::new("run/2")));
    let ChildKind::Supervisor(main) = &c.spec.children[1].kind else {
        panic!("main is a supervisor")
    };
    let names: Vec<(&str, u64, Restart)> = main
        .children
        .iter()
        .map(|k| (k.name.as_str(), k.tag, k.restart))
        .collect();
    assert_eq!(
        names,
        [
            ("web-0", 1, Restart::Transient),
            ("web-1", 2, Restart::Transient),
            ("web-2", 3, Restart::Transient),
            ("tail", 4, Restart::Permanent),
        ]
    );
    assert_eq!(c.templates.len(), 1);
    let t = &c.templates[0];
    assert_eq!(
        (t.path.as_str(), t.parent(), t.name(), t.count),
        ("main/web", "main", "web", 3)
    );
    assert_eq!(
        t.worker.command[2], "80{replica}",
        "the template keeps its placeholders"
    );
    assert_eq!(t.index_of("web-12"), Some(12));
    for not in ["web", "web-", "web-01", "web-x", "web-1-0", "webs-1", "web-10000"] {
        assert_eq!(t.index_of(not), None, "{not}");
    }
}

#[test]
fn count_zero_keeps_the_template_and_runs_nothing() {
    let c = cfg("[[child]]\nname = \"w\"\ncount = 0\ncommand = [\"w\", \"{replica}\"]\n");
    assert!(c.spec.children.is_empty() && c.workers.is_empty());
    assert_eq!(c.templates[0].count, 0);
    let (spec, worker) = c.templates[0].replica(4, 9).unwrap();
    assert_eq!((spec.name.as_str(), spec.tag), ("w-4", 9));
    assert_eq!(worker.command, ["w", "4"]);
}

#[test]
fn a_count_zero_template_is_still_validated() {
    let e = err("[[child]]\nname = \"w\"\ncount = 0\ncommand = [\"w\"]\nsignificant = true\n");
    assert!(e.starts_with("r.toml:2:8: "), "{e}");
    assert!(e.contains("significant"), "{e}");
}

#[test]
fn the_maximum_count_is_enforced_with_its_position() {
    let at = |n: u64| format!("[[child]]\nname = \"w\"\ncommand = [\"w\"]\ncount = {n}\n");
    assert_eq!(cfg(&at(u64::from(MAX_REPLICAS))).workers.len(), MAX_REPLICAS as usize);
    assert_eq!(
        err(&at(u64::from(MAX_REPLICAS) + 1)),
        "r.toml:4:9: bad value for `count`: at most 10000 replicas, got 10001"
    );
    assert!(err(&at(1 << 40)).starts_with("r.toml:4:9: "), "{}", err(&at(1 << 40)));
    let negative = err("[[child]]\nname = \"w\"\ncommand = [\"w\"]\ncount = -1\n");
    assert!(negative.starts_with("r.toml:4:9: "), "{negative}");
}

#[test]
fn placeholders_are_checked_with_positions() {
    let t = |extra: &str| err(&format!("[[child]]\nname = \"w\"\ncount = 2\n{extra}\n"));
    assert_eq!(
        t("command = [\"w\", \"{port}\"]"),
        "r.toml:4:11: bad value for `command`: unknown placeholder `{port}`: the only placeholder is \
         `{replica}` (write `{{` and `}}` for literal braces)"
    );
    assert!(t("command = [\"w\", \"{replica\"]").contains("a `{` without its `}`"));
    assert!(t("command = [\"awk\", \"}\"]").contains("a lone `}`"));
    let env = t("command = [\"w\"]\nenv = { A = \"{nope}\" }");
    assert!(
        env.starts_with("r.toml:5:7: bad value for `env`: unknown placeholder `{nope}`"),
        "{env}"
    );
    let cwd = t("command = [\"w\"]\ncwd = \"{x}\"");
    assert!(cwd.starts_with("r.toml:5:7: bad value for `cwd`"), "{cwd}");
    let own = t("command = [\"w\"]\nenv = { VIGIL_REPLICA = \"1\" }");
    assert!(own.contains("`VIGIL_REPLICA` is set by vigil"), "{own}");
}

#[test]
fn replica_placeholders_need_count_and_other_braces_stay_literal() {
    let e = err("[[child]]\nname = \"w\"\ncommand = [\"w\", \"{replica}\"]\n");
    assert_eq!(
        e,
        "r.toml:3:11: bad value for `command`: `{replica}` is expanded only in a child with `count` (add `count = N`)"
    );
    assert!(err("[[child]]\nname = \"w\"\ncommand = [\"w\"]\nenv = { A = \"{replica}\" }\n").contains("`env`"));
    let plain = cfg("[[child]]\nname = \"w\"\ncommand = [\"awk\", \"{print $1}\"]\n");
    assert_eq!(plain.workers[0].command[1], "{print $1}");
    assert!(plain.templates.is_empty());
}

#[test]
fn count_is_for_workers_only() {
    let e = err("[[child]]\nname = \"s\"\ncount = 2\nsupervisor = {}\n");
    assert_eq!(
        e,
        "r.toml:3:9: `count` applies to workers only, and child `s` is a supervisor"
    );
}

#[test]
fn names_that_collide_with_replicas_are_refused_at_the_sibling() {
    let two = "[[child]]\nname = \"web\"\ncount = 2\ncommand = [\"w\"]\n";
    let e = err(&format!("{two}[[child]]\nname = \"web-1\"\ncommand = [\"x\"]\n"));
    assert!(
        e.starts_with("r.toml:6:8: bad value for `name`: `web-1` is the name of replica 1 of `web`"),
        "{e}"
    );
    // Above the count too: `vigil ctl scale` may add it later.
    let e = err(&format!("[[child]]\nname = \"web-7\"\ncommand = [\"x\"]\n{two}"));
    assert!(e.starts_with("r.toml:2:8: "), "{e}");
    let e = err(&format!("{two}[[child]]\nname = \"web\"\ncommand = [\"x\"]\n"));
    assert!(e.contains("the name of the replica template"), "{e}");
    let e = err(&format!("{two}{two}"));
    assert!(
        e.starts_with("r.toml:6:8: ") && e.contains("a second replica template"),
        "{e}"
    );
    // Another supervisor's children may use those names.
    cfg(&format!(
        "{two}[[child]]\nname = \"s\"\nsupervisor = {{}}\n[[child.child]]\nname = \"web-1\"\ncommand = [\"x\"]\n"
    ));
}

#[test]
fn a_spec_error_of_a_replica_points_at_its_template() {
    let e = err("[[child]]\nname = \"w\"\ncount = 2\ncommand = [\"w\"]\nshutdown = \"0s\"\n");
    assert!(e.starts_with("r.toml:5:12: "), "{e}");
}

fn plan(old: &str, new: &str) -> Vec<ReloadStep> {
    AppliedConfig::new(&cfg(old)).plan(&cfg(new)).steps
}

#[test]
fn a_reload_scales_a_template_whose_count_changed_and_nothing_else() {
    let scaled = POOL.replace("count = 3", "count = 5");
    assert_eq!(
        plan(POOL, &scaled),
        [ReloadStep::Replicas {
            template: "main/web".into(),
            count: 5,
            replace: false
        }]
    );
    assert_eq!(plan(POOL, POOL), []);
    let changed = POOL.replace("\"--port\"", "\"--listen\"");
    assert_eq!(
        plan(POOL, &changed),
        [ReloadStep::Replicas {
            template: "main/web".into(),
            count: 3,
            replace: true
        }]
    );
    // Something else of `main` changed: `main` is replaced whole, replicas with it.
    let main = POOL.replace("rest_for_one", "one_for_all");
    assert_eq!(plan(POOL, &main), [ReloadStep::Replace("main".into())]);
}

#[test]
fn top_level_templates_are_added_removed_and_scaled() {
    let one = "[[child]]\nname = \"a\"\ncommand = [\"a\"]\n";
    let web = |n: u32| format!("{one}[[child]]\nname = \"web\"\ncount = {n}\ncommand = [\"w\"]\n");
    let step = |count, replace| ReloadStep::Replicas {
        template: "web".into(),
        count,
        replace,
    };
    assert_eq!(plan(one, &web(2)), [step(2, false)]);
    assert_eq!(plan(&web(2), &web(1)), [step(1, false)]);
    assert_eq!(plan(&web(2), one), [step(0, false)]);
    let mut applied = AppliedConfig::new(&cfg(&web(2)));
    assert_eq!(applied.len(), 2);
    applied.template_unknown("web");
    assert_eq!(applied.plan(&cfg(&web(2))).steps, [step(2, true)]);
    applied.applied_template(&cfg(&web(2)), "web");
    assert_eq!(applied.plan(&cfg(&web(2))).steps, []);
    applied.applied_template(&cfg(one), "web");
    assert_eq!(applied.len(), 1);
}
