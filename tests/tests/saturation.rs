//! docs/SEMANTICS.md, "Saturation and bounds": extreme but valid numbers
//! never panic the engine and behave as their saturated values.

use std::time::Duration;

use vigil_core::*;
use vigil_tests::Harness;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn delays(h: &Harness) -> Vec<String> {
    h.events_starting("backoff ")
}

#[test]
fn a_multiplier_of_1e20_saturates_at_max_from_the_second_delay_on() {
    for multiplier in [1e20, 1e308, f64::MAX] {
        let spec = SupervisorSpec::new()
            .intensity(100)
            .period(Duration::from_secs(3600))
            .child(ChildSpec::worker("w").backoff(Backoff {
                multiplier,
                ..Backoff::exponential(ms(100), ms(1000))
            }));
        let mut h = Harness::new(spec);
        h.start();
        for _ in 0..4 {
            h.crash("w");
            h.advance(ms(1000));
        }
        assert_eq!(
            delays(&h),
            [
                "backoff w delay=100ms",
                "backoff w delay=1000ms",
                "backoff w delay=1000ms",
                "backoff w delay=1000ms"
            ],
            "multiplier {multiplier}"
        );
        assert_eq!(h.state("w"), ChildState::Running);
    }
}

#[test]
fn the_largest_durations_saturate_at_the_end_of_time() {
    let spec = SupervisorSpec::new().intensity(u32::MAX).period(Duration::MAX).child(
        ChildSpec::worker("w")
            .shutdown(Shutdown::Timeout(Duration::MAX))
            .health_timeout(Duration::MAX)
            .backoff(Backoff {
                multiplier: 1e308,
                jitter: 1.0,
                reset_after: Some(Duration::MAX),
                ..Backoff::exponential(Duration::ZERO, Duration::MAX)
            }),
    );
    let mut h = Harness::new(spec);
    h.start();
    // A zero delay is no delay, and 0 × 1e308 stays 0: restarted at once, twice.
    h.crash("w");
    h.crash("w");
    assert!(delays(&h).is_empty(), "{:?}", h.log());
    assert_eq!(h.state("w"), ChildState::Running);
    assert_eq!(h.log_lines("spawn w").len(), 3);
    // A shutdown timeout of Duration::MAX is the largest finite timeout,
    // u64::MAX - 1 ns (u64::MAX ns stands for infinity): the kill comes then.
    h.ignore_stop("w");
    let r = h.request(Request::TerminateChild { path: "w".into() });
    assert!(matches!(r, Ok(Reply::Pending(_))), "{r:?}");
    assert_eq!(h.state("w"), ChildState::Stopping);
    assert_eq!(h.next_deadline(), Some(Instant::from_nanos(u64::MAX - 1)));
    h.advance(Duration::MAX);
    assert_eq!(h.log_lines("kill w").len(), 1, "{:?}", h.log());
    assert_eq!(
        h.engine().state(h.engine().lookup("w").expect("w")),
        Some(ChildState::Stopped)
    );
}

#[test]
fn a_deadline_at_the_end_of_time_never_fires() {
    // Given `Instant::MAX` as now, every deadline saturates there; it must not
    // fire at once (a health kill, a restart, a health kill... for ever).
    let spec = SupervisorSpec::new()
        .intensity(u32::MAX)
        .child(ChildSpec::worker("w").health_timeout(Duration::from_secs(1)));
    let mut h = Harness::new(spec);
    h.advance(Duration::MAX);
    h.start();
    assert_eq!(h.state("w"), ChildState::Running);
    assert_eq!(h.next_deadline(), None, "no deadline can come after the end of time");
    h.fire_at(Instant::MAX);
    assert!(h.log_lines("timeout ").is_empty(), "{:?}", h.log());
    assert_eq!(h.log_lines("spawn w").len(), 1);
    // A heartbeat there moves the deadline to the end of time as well.
    let run = h.run("w");
    h.input(Input::Heartbeat(run));
    assert_eq!(h.next_deadline(), None);
}

#[test]
fn a_heartbeat_that_moves_the_deadline_to_the_end_of_time_disarms_it() {
    let spec =
        SupervisorSpec::new().child(ChildSpec::worker("w").health_timeout(Duration::from_nanos(u64::MAX / 2 + 1)));
    let mut h = Harness::new(spec);
    h.start();
    let first = h.next_deadline().expect("a health deadline");
    // Just before it, a heartbeat pushes the deadline past the end of time.
    h.advance(first - Instant::ZERO - Duration::from_nanos(1));
    let run = h.run("w");
    h.input(Input::Heartbeat(run));
    h.fire_at(first);
    assert_eq!(h.next_deadline(), None);
    h.fire_at(Instant::MAX);
    assert!(h.log_lines("timeout ").is_empty(), "{:?}", h.log());
}

#[test]
fn intensity_u32_max_never_gives_up_and_intensity_0_gives_up_at_once() {
    let mut h = Harness::new(
        SupervisorSpec::new()
            .intensity(u32::MAX)
            .period(Duration::MAX)
            .child(ChildSpec::worker("w")),
    );
    h.start();
    for _ in 0..10_000 {
        h.crash("w");
        h.advance(Duration::from_nanos(1));
    }
    assert!(!h.engine().is_down());
    assert_eq!(h.engine().stats().restart_decisions, 10_000);

    let mut h = Harness::new(SupervisorSpec::new().intensity(0).child(ChildSpec::worker("w")));
    h.start();
    h.crash("w");
    assert!(h.engine().is_down());
    assert_eq!(h.events_starting("give_up "), ["give_up /"]);
}
