//! The explainer's intensity windows, rebuilt from the config, agree with
//! the engine on every decision of many simulated seeds: every `give_up`
//! line is explained as an overflow, and no `restart` line is. With the
//! engine's intensity check switched off (feature `bug-injection`), the
//! explainer notices.

use std::time::Duration;

use vigil_sim::{explain, run_seed, EntryKind, SimOptions, TraceWriter};

fn trace_of(cfg: &vigil_config::TreeConfig, seed: u64, opts: &SimOptions) -> (String, vigil_sim::SeedReport) {
    let buf = vigil_trace::SharedBuffer::default();
    let tree = vigil_sim::SimTree::from_config(cfg).expect("every worker modelled");
    let report = run_seed(&tree, seed, opts, TraceWriter::to_sink(Box::new(buf.clone())));
    let text = String::from_utf8(buf.bytes()).unwrap();
    (text, report)
}

fn example(name: &str) -> vigil_config::TreeConfig {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name);
    vigil_config::load_tree(&path).expect("a valid example")
}

#[test]
fn every_give_up_is_an_overflow_and_no_restart_is() {
    let opts = SimOptions {
        duration: Duration::from_secs(1800),
        ..SimOptions::default()
    };
    let (mut give_ups, mut restarts) = (0u64, 0u64);
    for (file, seeds) in [
        ("web-stack.toml", 0..150),
        ("nested.toml", 0..100),
        ("flaky-pool.toml", 0..100),
    ] {
        let cfg = example(file);
        for seed in seeds {
            let (trace, report) = trace_of(&cfg, seed, &opts);
            let e = explain(&cfg.spec, &trace).unwrap_or_else(|err| panic!("{file} seed {seed}: {err}"));
            assert_eq!(e.disagreements, 0, "{file} seed {seed}:\n{}", e.to_text());
            let lines_with = |ev: &str| {
                trace
                    .lines()
                    .filter(|l| l.contains(&format!("\"ev\":\"{ev}\"")))
                    .count()
            };
            let of = |k: EntryKind| e.entries.iter().filter(|x| x.kind == k).count();
            assert_eq!(of(EntryKind::GiveUp), lines_with("give_up"), "{file} seed {seed}");
            assert_eq!(
                of(EntryKind::GiveUp) as u64,
                report.stats.give_ups,
                "{file} seed {seed}"
            );
            assert_eq!(
                of(EntryKind::Restart) as u64,
                report.stats.restart_decisions - report.stats.give_ups
            );
            for x in &e.entries {
                let w = x.window.as_ref();
                match x.kind {
                    EntryKind::GiveUp => {
                        assert!(w.is_some_and(|w| w.exceeded && w.decisions.len() as u64 > u64::from(w.intensity)))
                    }
                    EntryKind::Restart => {
                        assert!(w.is_some_and(|w| !w.exceeded && w.decisions.len() as u64 <= u64::from(w.intensity)))
                    }
                    _ => assert!(w.is_none()),
                }
            }
            give_ups += report.stats.give_ups;
            restarts += report.stats.restart_decisions;
        }
    }
    assert!(
        give_ups > 20 && restarts > 1000,
        "{give_ups} give-ups, {restarts} decisions: too few to mean much"
    );
}

#[cfg(feature = "bug-injection")]
#[test]
fn a_supervisor_that_does_not_give_up_is_noticed() {
    let cfg = example("web-stack.toml");
    let opts = SimOptions {
        inject_bug: Some(vigil_core::InjectedBug::SkipIntensity),
        ..SimOptions::default()
    };
    let noticed = (0..50).any(|seed| {
        let (trace, _) = trace_of(&cfg, seed, &opts);
        let e = explain(&cfg.spec, &trace).expect("explained");
        e.disagreements > 0
            && e.to_text()
                .contains("DISAGREES: the window rebuilt from the config overflowed here")
    });
    assert!(noticed, "no seed of 0..50 restarted past its intensity");
}

#[test]
fn a_supervisor_added_by_a_request_is_judged_by_the_spec_the_trace_records() {
    use vigil_core::{ChildSpec, SupervisorSpec};
    let added = ChildSpec::supervisor(
        "grp",
        SupervisorSpec::new()
            .intensity(1)
            .period(Duration::from_secs(5))
            .child(ChildSpec::worker("w")),
    );
    let spec = vigil_trace::write_child_spec(&added);
    let trace = [
        r#"{"t":0,"ev":"sup_starting","path":""}"#.to_owned(),
        r#"{"t":0,"ev":"sup_started","path":""}"#.to_owned(),
        format!(r#"{{"t":1000,"ev":"request","path":"grp","op":"start_child","id":1,"spec":{spec}}}"#),
        r#"{"t":1000,"ev":"sup_starting","path":"grp"}"#.to_owned(),
        r#"{"t":1000,"ev":"spawn","path":"grp/w","gen":3}"#.to_owned(),
        r#"{"t":1000,"ev":"started","path":"grp/w","gen":3}"#.to_owned(),
        r#"{"t":1000,"ev":"sup_started","path":"grp"}"#.to_owned(),
        r#"{"t":1000,"ev":"reply","path":"grp","op":"start_child","id":1,"result":"ok"}"#.to_owned(),
        r#"{"t":2000,"ev":"exited","path":"grp/w","gen":3,"reason":"error"}"#.to_owned(),
        r#"{"t":2000,"ev":"restart","path":"grp","child":"grp/w","strategy":"one_for_one"}"#.to_owned(),
        r#"{"t":2000,"ev":"spawn","path":"grp/w","gen":4}"#.to_owned(),
        r#"{"t":3000,"ev":"exited","path":"grp/w","gen":4,"reason":"error"}"#.to_owned(),
        r#"{"t":3000,"ev":"give_up","path":"grp"}"#.to_owned(),
    ]
    .join("\n")
        + "\n";
    // The config knows only the root: `grp` is known from the request's spec.
    let e = explain(&SupervisorSpec::new(), &trace).expect("explained");
    assert_eq!((e.unknown_windows, e.disagreements), (0, 0), "{}", e.to_text());
    let give_up = e
        .entries
        .iter()
        .find(|x| x.kind == EntryKind::GiveUp)
        .expect("the give-up is explained");
    let w = give_up.window.as_ref().expect("a window from the recorded spec");
    assert_eq!((w.intensity, w.exceeded, w.decisions.len()), (1, true, 2));
    // Without the spec, the same decisions are shown without a window, counted.
    let bare = trace.replace(&format!(r#","spec":{spec}"#), "");
    let e = explain(&SupervisorSpec::new(), &bare).expect("explained");
    assert_eq!((e.unknown_windows, e.disagreements), (2, 0), "{}", e.to_text());
    assert!(e.to_text().contains("window of grp: unknown"), "{}", e.to_text());
}
