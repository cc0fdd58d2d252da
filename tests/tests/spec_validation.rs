//! Spec validation (docs/SEMANTICS.md §2): every invalid
//! combination is rejected when the spec is built, with its precise
//! [`SpecErrorKind`] and the path of the offending node, never with a panic.

use std::time::Duration;

use proptest::prelude::{any, prop_assert, prop_assert_eq, prop_oneof, proptest, Just, ProptestConfig};
use proptest::strategy::Strategy as Gen;
use vigil_core::*;

fn w(name: &str) -> ChildSpec {
    ChildSpec::worker(name)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn sup(name: &str, spec: SupervisorSpec) -> ChildSpec {
    ChildSpec::supervisor(name, spec)
}

/// Validate `spec` both ways (validate and Engine::new) and return the error.
fn rejected(spec: SupervisorSpec) -> SpecError {
    let names: Vec<_> = spec.children.iter().map(|c| c.name.clone()).collect();
    let err = spec
        .validate()
        .err()
        .unwrap_or_else(|| panic!("must be rejected (children {names:?})"));
    let from_engine = Engine::new(spec, 0).expect_err("Engine::new must reject it too");
    assert_eq!(format!("{err:?}"), format!("{from_engine:?}"));
    err
}

/// Check that `child` is rejected at the root (path `at_root`) and inside a
/// nested supervisor `s` (path `at_nested`), with `kind` both times.
fn rejected_everywhere(child: ChildSpec, at_root: &str, at_nested: &str, kind: SpecErrorKind) {
    let root = SupervisorSpec::new().child(w("ok")).child(child.clone());
    assert_eq!(
        rejected(root),
        SpecError {
            path: at_root.into(),
            kind: kind.clone()
        }
    );
    let nested = SupervisorSpec::new().child(sup("s", SupervisorSpec::new().child(w("ok")).child(child)));
    assert_eq!(
        rejected(nested),
        SpecError {
            path: at_nested.into(),
            kind
        }
    );
}

fn with_backoff(b: Backoff) -> ChildSpec {
    w("a").backoff(b)
}

fn base_backoff() -> Backoff {
    Backoff::exponential(ms(100), ms(1000))
}

// ----- names -----

#[test]
fn duplicate_names_among_siblings_are_rejected_at_the_parent() {
    let spec = SupervisorSpec::new().child(w("a")).child(w("b")).child(w("a"));
    assert_eq!(
        rejected(spec),
        SpecError {
            path: "".into(),
            kind: SpecErrorKind::DuplicateName { name: "a".into() }
        }
    );
    let inner = SupervisorSpec::new()
        .child(w("x"))
        .child(sup("x", SupervisorSpec::new()));
    let spec = SupervisorSpec::new().child(sup("s", inner));
    assert_eq!(
        rejected(spec),
        SpecError {
            path: "s".into(),
            kind: SpecErrorKind::DuplicateName { name: "x".into() }
        }
    );
}

#[test]
fn the_same_name_under_different_parents_is_fine() {
    let spec = SupervisorSpec::new()
        .child(w("a"))
        .child(sup("s", SupervisorSpec::new().child(w("a"))))
        .child(sup("t", SupervisorSpec::new().child(w("a"))));
    assert_eq!(spec.validate(), Ok(()));
}

#[test]
fn an_empty_name_is_rejected_at_the_parent() {
    rejected_everywhere(w(""), "", "s", SpecErrorKind::EmptyName);
}

#[test]
fn a_name_with_a_slash_is_rejected_at_the_parent() {
    rejected_everywhere(w("a/b"), "", "s", SpecErrorKind::NameWithSlash { name: "a/b".into() });
    rejected_everywhere(w("/"), "", "s", SpecErrorKind::NameWithSlash { name: "/".into() });
}

#[test]
fn a_name_with_whitespace_or_control_characters_is_rejected_at_the_parent() {
    for name in ["a b", " a", "a\t", "a\nb", "a\u{7}", "\u{a0}nbsp", "a\u{2003}b"] {
        rejected_everywhere(w(name), "", "s", SpecErrorKind::UnprintableName { name: name.into() });
    }
}

/// docs/SEMANTICS.md §1: names are printable. Invisible format characters
/// (Unicode category Cf: zero-width space, right-to-left override, byte-order
/// mark, soft hyphen) are not printable (Python's `str.isprintable` says the
/// same) and make paths that look identical but differ, so they are rejected
/// like whitespace and control characters.
#[test]
fn a_name_with_invisible_format_characters_is_rejected_at_the_parent() {
    for name in ["a\u{200B}b", "\u{202E}gnp.exe", "\u{FEFF}a", "a\u{AD}b", "a\u{2060}"] {
        rejected_everywhere(w(name), "", "s", SpecErrorKind::UnprintableName { name: name.into() });
    }
}

#[test]
fn printable_names_are_accepted() {
    let spec = SupervisorSpec::new()
        .child(w("db-1"))
        .child(w("web_2.prod"))
        .child(w("数据库"))
        .child(w("a:b@c"));
    assert_eq!(spec.validate(), Ok(()));
}

// ----- significant -----

#[test]
fn significant_with_restart_permanent_is_rejected() {
    let root = SupervisorSpec::new()
        .auto_shutdown(AutoShutdown::AnySignificant)
        .child(w("a").significant(true));
    assert_eq!(
        rejected(root),
        SpecError {
            path: "a".into(),
            kind: SpecErrorKind::SignificantPermanent
        }
    );
    // Also for a supervisor child, and checked before auto_shutdown.
    let root = SupervisorSpec::new().child(sup("g", SupervisorSpec::new()).significant(true));
    assert_eq!(
        rejected(root),
        SpecError {
            path: "g".into(),
            kind: SpecErrorKind::SignificantPermanent
        }
    );
}

#[test]
fn significant_under_auto_shutdown_never_is_rejected() {
    for restart in [Restart::Transient, Restart::Temporary] {
        rejected_everywhere(
            w("a").restart(restart).significant(true),
            "a",
            "s/a",
            SpecErrorKind::SignificantUnderNever,
        );
    }
}

#[test]
fn significant_transient_or_temporary_under_auto_shutdown_is_accepted() {
    for auto in [AutoShutdown::AnySignificant, AutoShutdown::AllSignificant] {
        let spec = SupervisorSpec::new()
            .auto_shutdown(auto)
            .child(w("a").restart(Restart::Transient).significant(true))
            .child(w("b").restart(Restart::Temporary).significant(true))
            .child(
                sup("g", SupervisorSpec::new())
                    .restart(Restart::Transient)
                    .significant(true),
            );
        assert_eq!(spec.validate(), Ok(()), "{auto:?}");
    }
}

#[test]
fn significant_is_judged_by_its_own_parents_auto_shutdown() {
    // The grandparent's auto_shutdown does not count.
    let spec = SupervisorSpec::new()
        .auto_shutdown(AutoShutdown::AnySignificant)
        .child(sup(
            "g",
            SupervisorSpec::new().child(w("x").restart(Restart::Transient).significant(true)),
        ));
    assert_eq!(
        rejected(spec),
        SpecError {
            path: "g/x".into(),
            kind: SpecErrorKind::SignificantUnderNever
        }
    );
}

// ----- supervisor fields -----

#[test]
fn a_zero_period_is_rejected_at_that_supervisor() {
    assert_eq!(
        rejected(SupervisorSpec::new().period(Duration::ZERO).child(w("a"))),
        SpecError {
            path: "".into(),
            kind: SpecErrorKind::ZeroPeriod
        }
    );
    let spec = SupervisorSpec::new().child(sup(
        "s",
        SupervisorSpec::new().child(sup("t", SupervisorSpec::new().period(Duration::ZERO))),
    ));
    assert_eq!(
        rejected(spec),
        SpecError {
            path: "s/t".into(),
            kind: SpecErrorKind::ZeroPeriod
        }
    );
}

#[test]
fn intensity_zero_and_a_one_nanosecond_period_are_accepted() {
    let spec = SupervisorSpec::new()
        .intensity(0)
        .period(Duration::from_nanos(1))
        .child(w("a"));
    assert_eq!(spec.validate(), Ok(()));
}

// ----- shutdown and timeouts -----

#[test]
fn a_zero_shutdown_timeout_is_rejected() {
    rejected_everywhere(
        w("a").shutdown(Shutdown::Timeout(Duration::ZERO)),
        "a",
        "s/a",
        SpecErrorKind::ZeroShutdownTimeout,
    );
    rejected_everywhere(
        sup("a", SupervisorSpec::new()).shutdown(Shutdown::Timeout(Duration::ZERO)),
        "a",
        "s/a",
        SpecErrorKind::ZeroShutdownTimeout,
    );
}

#[test]
fn brutal_infinity_and_a_one_nanosecond_shutdown_are_accepted() {
    let spec = SupervisorSpec::new()
        .child(w("a").shutdown(Shutdown::Brutal))
        .child(w("b").shutdown(Shutdown::Infinity))
        .child(w("c").shutdown(Shutdown::Timeout(Duration::from_nanos(1))));
    assert_eq!(spec.validate(), Ok(()));
}

#[test]
fn a_zero_startup_or_health_timeout_is_rejected() {
    rejected_everywhere(
        w("a").readiness(Readiness::Notify).startup_timeout(Duration::ZERO),
        "a",
        "s/a",
        SpecErrorKind::ZeroStartupTimeout,
    );
    rejected_everywhere(
        w("a").health_timeout(Duration::ZERO),
        "a",
        "s/a",
        SpecErrorKind::ZeroHealthTimeout,
    );
}

#[test]
fn startup_timeout_without_notify_is_rejected() {
    rejected_everywhere(
        w("a").startup_timeout(ms(100)),
        "a",
        "s/a",
        SpecErrorKind::StartupTimeoutWithoutNotify,
    );
    let ok = SupervisorSpec::new().child(w("a").readiness(Readiness::Notify).startup_timeout(ms(100)));
    assert_eq!(ok.validate(), Ok(()));
}

#[test]
fn worker_only_fields_on_a_supervisor_child_are_rejected() {
    let g = || sup("g", SupervisorSpec::new().child(w("x")));
    rejected_everywhere(
        g().readiness(Readiness::Notify),
        "g",
        "s/g",
        SpecErrorKind::WorkerOnly { field: "readiness" },
    );
    rejected_everywhere(
        g().startup_timeout(ms(10)),
        "g",
        "s/g",
        SpecErrorKind::WorkerOnly {
            field: "startup_timeout",
        },
    );
    rejected_everywhere(
        g().health_timeout(ms(10)),
        "g",
        "s/g",
        SpecErrorKind::WorkerOnly {
            field: "health_timeout",
        },
    );
    // Backoff, shutdown, restart and significant apply to supervisors too.
    let ok = SupervisorSpec::new().child(g().backoff(base_backoff()).shutdown(Shutdown::Brutal));
    assert_eq!(ok.validate(), Ok(()));
}

// ----- backoff -----

#[test]
fn a_backoff_multiplier_below_one_or_not_finite_is_rejected() {
    for m in [0.0, 0.5, 0.999, -1.0, f64::INFINITY, f64::NEG_INFINITY] {
        let b = Backoff {
            multiplier: m,
            ..base_backoff()
        };
        rejected_everywhere(
            with_backoff(b),
            "a",
            "s/a",
            SpecErrorKind::BadBackoffMultiplier { multiplier: m },
        );
    }
    // NaN is not equal to itself: match on the kind instead.
    let b = Backoff {
        multiplier: f64::NAN,
        ..base_backoff()
    };
    let err = rejected(SupervisorSpec::new().child(with_backoff(b)));
    assert_eq!(err.path, "a");
    assert!(
        matches!(err.kind, SpecErrorKind::BadBackoffMultiplier { multiplier } if multiplier.is_nan()),
        "{err:?}"
    );
    // Exactly 1 is fine (a constant delay).
    let ok = Backoff {
        multiplier: 1.0,
        ..base_backoff()
    };
    assert_eq!(SupervisorSpec::new().child(with_backoff(ok)).validate(), Ok(()));
}

#[test]
fn a_backoff_jitter_outside_zero_to_one_is_rejected() {
    for j in [-0.01, 1.01, 2.0, f64::INFINITY, -f64::INFINITY] {
        let b = Backoff {
            jitter: j,
            ..base_backoff()
        };
        rejected_everywhere(
            with_backoff(b),
            "a",
            "s/a",
            SpecErrorKind::BadBackoffJitter { jitter: j },
        );
    }
    let b = Backoff {
        jitter: f64::NAN,
        ..base_backoff()
    };
    let err = rejected(SupervisorSpec::new().child(with_backoff(b)));
    assert_eq!(err.path, "a");
    assert!(
        matches!(err.kind, SpecErrorKind::BadBackoffJitter { jitter } if jitter.is_nan()),
        "{err:?}"
    );
    for j in [0.0, 0.5, 1.0] {
        let ok = Backoff {
            jitter: j,
            ..base_backoff()
        };
        assert_eq!(SupervisorSpec::new().child(with_backoff(ok)).validate(), Ok(()), "{j}");
    }
}

#[test]
fn a_backoff_initial_delay_above_its_max_is_rejected() {
    rejected_everywhere(
        with_backoff(Backoff::exponential(ms(1001), ms(1000))),
        "a",
        "s/a",
        SpecErrorKind::BackoffInitialAboveMax,
    );
    let equal = with_backoff(Backoff::exponential(ms(1000), ms(1000)));
    assert_eq!(SupervisorSpec::new().child(equal).validate(), Ok(()));
}

#[test]
fn a_zero_backoff_reset_after_is_rejected() {
    let b = Backoff {
        reset_after: Some(Duration::ZERO),
        ..base_backoff()
    };
    rejected_everywhere(with_backoff(b), "a", "s/a", SpecErrorKind::ZeroBackoffReset);
}

// ----- depth -----

/// A chain of `levels` nested supervisors `l1/l2/...`, the innermost holding `leaf`.
fn chain(levels: usize, leaf: Option<ChildSpec>) -> SupervisorSpec {
    let mut inner = SupervisorSpec::new();
    if let Some(leaf) = leaf {
        inner = inner.child(leaf);
    }
    for i in (1..=levels).rev() {
        inner = SupervisorSpec::new().child(sup(&format!("l{i}"), inner));
    }
    inner
}

fn chain_path(levels: usize) -> String {
    (1..=levels).map(|i| format!("l{i}")).collect::<Vec<_>>().join("/")
}

#[test]
fn nesting_down_to_max_depth_is_accepted() {
    // Supervisors at depths 1..=MAX_DEPTH - 1 and a worker at MAX_DEPTH.
    assert_eq!(chain(MAX_DEPTH - 1, Some(w("leaf"))).validate(), Ok(()));
    // Supervisors at depths 1..=MAX_DEPTH (the deepest one empty).
    assert_eq!(chain(MAX_DEPTH, None).validate(), Ok(()));
    let mut h = vigil_tests::Harness::new(chain(MAX_DEPTH - 1, Some(w("leaf"))));
    h.start();
    assert_eq!(
        h.commands(),
        ["spawn ".to_owned() + &chain_path(MAX_DEPTH - 1) + "/leaf"]
    );
}

#[test]
fn nesting_deeper_than_max_depth_is_rejected_at_the_deepest_allowed_parent() {
    assert_eq!(
        rejected(chain(MAX_DEPTH, Some(w("leaf")))),
        SpecError {
            path: chain_path(MAX_DEPTH),
            kind: SpecErrorKind::TooDeep { max: MAX_DEPTH }
        }
    );
    assert_eq!(
        rejected(chain(MAX_DEPTH + 1, None)),
        SpecError {
            path: chain_path(MAX_DEPTH),
            kind: SpecErrorKind::TooDeep { max: MAX_DEPTH }
        }
    );
}

#[test]
fn absurdly_deep_nesting_is_rejected_without_a_panic() {
    let spec = chain(1000, Some(w("leaf")));
    let err = std::panic::catch_unwind(|| spec.validate()).expect("no panic");
    assert_eq!(
        err,
        Err(SpecError {
            path: chain_path(MAX_DEPTH),
            kind: SpecErrorKind::TooDeep { max: MAX_DEPTH }
        })
    );
}

#[test]
fn start_child_deeper_than_max_depth_is_rejected_as_bad_spec() {
    let mut h = vigil_tests::Harness::new(chain(MAX_DEPTH, None));
    h.start();
    let deepest = chain_path(MAX_DEPTH);
    assert_eq!(
        h.request(Request::StartChild {
            parent: deepest.clone(),
            spec: w("leaf"),
        }),
        Err(RequestError::BadSpec(SpecError {
            path: deepest.clone(),
            kind: SpecErrorKind::TooDeep { max: MAX_DEPTH }
        }))
    );
    // One level up, a supervisor whose child would be too deep.
    let parent = chain_path(MAX_DEPTH - 1);
    assert_eq!(
        h.request(Request::StartChild {
            parent: parent.clone(),
            spec: sup("z", SupervisorSpec::new().child(w("leaf"))),
        }),
        Err(RequestError::BadSpec(SpecError {
            path: format!("{parent}/z"),
            kind: SpecErrorKind::TooDeep { max: MAX_DEPTH }
        }))
    );
    assert!(h.commands().is_empty());
}

#[test]
fn child_spec_validate_checks_a_child_under_a_given_parent() {
    assert_eq!(
        w("a")
            .restart(Restart::Temporary)
            .significant(true)
            .validate("p/q", AutoShutdown::Never),
        Err(SpecError {
            path: "p/q/a".into(),
            kind: SpecErrorKind::SignificantUnderNever
        })
    );
    assert_eq!(
        w("a")
            .restart(Restart::Temporary)
            .significant(true)
            .validate("p/q", AutoShutdown::AllSignificant),
        Ok(())
    );
    assert_eq!(
        w("").validate("p", AutoShutdown::Never),
        Err(SpecError {
            path: "p".into(),
            kind: SpecErrorKind::EmptyName
        })
    );
}

#[test]
fn errors_render_their_path_and_problem() {
    let err = rejected(SupervisorSpec::new().child(sup("s", SupervisorSpec::new().child(w("a")).child(w("a")))));
    assert_eq!(err.to_string(), "invalid spec at `s`: two children are named `a`");
    let err = rejected(SupervisorSpec::new().period(Duration::ZERO));
    assert_eq!(err.to_string(), "invalid spec at `/`: period must be greater than zero");
}

// ----- never a panic -----

fn arb_duration() -> impl Gen<Value = Duration> {
    prop_oneof![Just(Duration::ZERO), (1u64..10_000).prop_map(Duration::from_millis)]
}

fn arb_f64() -> impl Gen<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(-1.0),
        Just(0.0),
        Just(1.0),
        -2.0f64..4.0
    ]
}

fn arb_backoff() -> impl Gen<Value = Backoff> {
    (
        arb_duration(),
        arb_duration(),
        arb_f64(),
        arb_f64(),
        proptest::option::of(arb_duration()),
    )
        .prop_map(|(initial, max, multiplier, jitter, reset_after)| Backoff {
            initial,
            max,
            multiplier,
            jitter,
            reset_after,
        })
}

fn arb_name() -> impl Gen<Value = String> {
    prop_oneof![
        Just("a".to_owned()),
        Just("b".to_owned()),
        Just(String::new()),
        Just("x/y".to_owned()),
        Just("x y".to_owned()),
        "[a-z]{1,3}",
    ]
}

fn arb_child() -> impl Gen<Value = ChildSpec> {
    (
        arb_name(),
        prop_oneof![
            Just(Restart::Permanent),
            Just(Restart::Transient),
            Just(Restart::Temporary)
        ],
        proptest::option::of(prop_oneof![
            Just(Shutdown::Brutal),
            Just(Shutdown::Infinity),
            arb_duration().prop_map(Shutdown::Timeout)
        ]),
        any::<bool>(),
        prop_oneof![Just(Readiness::Immediate), Just(Readiness::Notify)],
        proptest::option::of(arb_duration()),
        proptest::option::of(arb_duration()),
        proptest::option::of(arb_backoff()),
    )
        .prop_map(|(name, restart, shutdown, significant, readiness, st, ht, backoff)| {
            let mut c = ChildSpec::worker(name)
                .restart(restart)
                .significant(significant)
                .readiness(readiness);
            c.shutdown = shutdown;
            c.startup_timeout = st;
            c.health_timeout = ht;
            c.backoff = backoff;
            c
        })
}

fn arb_sup_fields() -> impl Gen<Value = SupervisorSpec> {
    (
        prop_oneof![
            Just(Strategy::OneForOne),
            Just(Strategy::OneForAll),
            Just(Strategy::RestForOne),
            Just(Strategy::OneTerminateAll)
        ],
        0u32..4,
        arb_duration(),
        prop_oneof![
            Just(AutoShutdown::Never),
            Just(AutoShutdown::AnySignificant),
            Just(AutoShutdown::AllSignificant)
        ],
        prop_oneof![Just(Lifespan::Permanent), Just(Lifespan::Transient)],
    )
        .prop_map(|(strategy, intensity, period, auto, lifespan)| {
            SupervisorSpec::new()
                .strategy(strategy)
                .intensity(intensity)
                .period(period)
                .auto_shutdown(auto)
                .lifespan(lifespan)
        })
}

fn arb_spec() -> impl Gen<Value = SupervisorSpec> {
    let leaf = (arb_sup_fields(), proptest::collection::vec(arb_child(), 0..4)).prop_map(|(mut s, c)| {
        s.children = c;
        s
    });
    leaf.prop_recursive(3, 16, 3, |inner| {
        (
            arb_sup_fields(),
            proptest::collection::vec(arb_child(), 0..3),
            proptest::collection::vec((arb_name(), inner, arb_child()), 0..3),
        )
            .prop_map(|(mut s, workers, subs)| {
                s.children = workers;
                for (name, spec, fields) in subs {
                    let mut c = ChildSpec::supervisor(name, spec);
                    c.restart = fields.restart;
                    c.significant = fields.significant;
                    c.shutdown = fields.shutdown;
                    c.backoff = fields.backoff;
                    s.children.push(c);
                }
                s
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Any spec, however wrong, gives a result (never a panic), Engine::new
    /// agrees with validate, and a rejected spec names a path of the tree.
    #[test]
    fn validation_never_panics_and_engine_new_agrees(spec in arb_spec()) {
        let verdict = spec.validate();
        let engine = Engine::new(spec.clone(), 1);
        prop_assert_eq!(format!("{:?}", verdict), format!("{:?}", engine.as_ref().map(|_| ())));
        match verdict {
            Ok(()) => {
                // A valid spec starts without panicking.
                let mut e = engine.expect("valid");
                e.start(Instant::ZERO);
                while e.poll_command().is_some() {}
            }
            Err(err) => {
                // The path resolves to supervisors/children of the spec.
                let mut at = &spec;
                let parts: Vec<&str> = if err.path.is_empty() { vec![] } else { err.path.split('/').collect() };
                for (i, part) in parts.iter().enumerate() {
                    let child = at.children.iter().find(|c| c.name == *part);
                    prop_assert!(child.is_some(), "path {} of {:?} not in the spec", err.path, err.kind);
                    match &child.expect("checked").kind {
                        ChildKind::Supervisor(s) => at = s,
                        ChildKind::Worker => prop_assert_eq!(i, parts.len() - 1, "a worker is a leaf"),
                    }
                }
            }
        }
    }
}
