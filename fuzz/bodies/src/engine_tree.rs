//! Supervision trees and child specs decoded from fuzz bytes.
//!
//! Every choice comes from a short menu, so that nearly every input decodes to
//! a tree the engine accepts (the engine's own validation still runs: a tree
//! it rejects ends the input early) and timings collide often: periods,
//! shutdown timeouts, readiness and health deadlines and backoff delays are a
//! few milliseconds to a few seconds, like the clock advances.

use std::time::Duration;

use arbitrary::{Result, Unstructured};
use vigil_core::{
    AutoShutdown, Backoff, ChildSpec, Lifespan, Readiness, Restart, Shutdown, ShutdownOrder, Strategy, SupervisorSpec,
};

/// The deepest supervisor decoded (the root is at depth 0).
const MAX_SUP_DEPTH: usize = 2;

/// The most children a decoded supervisor has.
const MAX_CHILDREN: usize = 4;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A whole tree.
pub(crate) fn tree(u: &mut Unstructured<'_>) -> Result<SupervisorSpec> {
    supervisor(u, 0)
}

fn supervisor(u: &mut Unstructured<'_>, depth: usize) -> Result<SupervisorSpec> {
    let auto = *u.choose(&[
        AutoShutdown::Never,
        AutoShutdown::AnySignificant,
        AutoShutdown::AllSignificant,
    ])?;
    let mut s = SupervisorSpec::new()
        .strategy(*u.choose(&[
            Strategy::OneForOne,
            Strategy::OneForAll,
            Strategy::RestForOne,
            Strategy::OneTerminateAll,
        ])?)
        .intensity(u.int_in_range(0..=4)?)
        .period(*u.choose(&[ms(1), ms(10), ms(100), ms(1000), ms(5000)])?)
        .auto_shutdown(auto)
        .lifespan(*u.choose(&[Lifespan::Permanent, Lifespan::Transient])?);
    let count = u.int_in_range(0..=MAX_CHILDREN)?;
    for i in 0..count {
        s = s.child(child(u, format!("c{i}"), depth, auto)?);
    }
    // Decoded last, so that inputs written before it existed still decode to
    // the same children; an input that has run out of bytes gets `Reverse`.
    use ShutdownOrder::{Parallel, Reverse};
    Ok(s.shutdown_order(*u.choose(&[Reverse, Reverse, Reverse, Parallel])?))
}

/// One child of a supervisor at `depth` whose auto_shutdown is `auto`: a
/// worker, or (above the depth limit) sometimes a nested supervisor.
pub(crate) fn child(u: &mut Unstructured<'_>, name: String, depth: usize, auto: AutoShutdown) -> Result<ChildSpec> {
    let mut c = if depth < MAX_SUP_DEPTH && u.ratio(1, 4)? {
        ChildSpec::supervisor(name, supervisor(u, depth + 1)?)
    } else {
        worker(u, name)?
    };
    c = c.restart(*u.choose(&[Restart::Permanent, Restart::Transient, Restart::Temporary])?);
    match u.int_in_range(0..=3)? {
        0 => {}
        1 => c = c.shutdown(Shutdown::Brutal),
        2 => c = c.shutdown(Shutdown::Infinity),
        _ => c = c.shutdown(Shutdown::Timeout(*u.choose(&[ms(1), ms(5), ms(20), ms(100)])?)),
    }
    if auto != AutoShutdown::Never && c.restart != Restart::Permanent && u.arbitrary()? {
        c = c.significant(true);
    }
    Ok(c)
}

fn worker(u: &mut Unstructured<'_>, name: String) -> Result<ChildSpec> {
    let mut w = ChildSpec::worker(name);
    if u.ratio(1, 3)? {
        w = w.readiness(Readiness::Notify);
        if u.arbitrary()? {
            w = w.startup_timeout(*u.choose(&[ms(2), ms(10), ms(50)])?);
        }
    }
    if u.ratio(1, 4)? {
        w = w.health_timeout(*u.choose(&[ms(3), ms(30), ms(300)])?);
    }
    if u.ratio(1, 5)? {
        let initial = *u.choose(&[ms(1), ms(5), ms(50)])?;
        w = w.backoff(Backoff {
            multiplier: *u.choose(&[1.0, 2.0, 3.5])?,
            jitter: *u.choose(&[0.0, 0.5, 1.0])?,
            reset_after: *u.choose(&[None, Some(ms(10)), Some(ms(200))])?,
            ..Backoff::exponential(initial, initial * u.int_in_range(1..=8)?)
        });
    }
    Ok(w)
}
