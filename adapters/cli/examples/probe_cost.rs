//! The cost of exec health probes: vigil's CPU while it supervises N
//! `sleep` children, with and without `health = { exec = ["true"], interval }`
//! on every child, and the probes' latency (docs/BENCHMARKS.md, "Health
//! probes").
//!
//! ```sh
//! cargo run --release -p vigil-cli --example probe_cost              # 1000 children, 30 s, every 1000 ms
//! cargo run --release -p vigil-cli --example probe_cost -- 50 3 200  # N, seconds, interval in ms
//! ```
//!
//! The trees are what `vigil run` builds: a multi-thread runtime with 2
//! workers, a one_for_one root, `sleep 3600` workers under their process
//! guards (this binary calls `vigil_tokio::guard::enter_if_guard()`), output
//! to `/dev/null`. First the tree without probes (the floor), then the same
//! tree with an exec probe on every child, in the same process. For each,
//! once every child runs, vigil's CPU time (user + system of this process,
//! `getrusage(RUSAGE_SELF)`: the probes' own `true` processes are not
//! included, their fork/exec/wait in vigil is) is taken over the given
//! seconds. The probe latency is from the start of a probe to its result
//! (spawn, exit, reap), read from the `vigil::probe` trace events by a
//! `tracing` layer that records only those.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing_subscriber::layer::SubscriberExt;
use vigil_core::{ChildSpec, ChildState, Reply, Request, SupervisorSpec};
use vigil_tokio::{HealthProbe, OutputMode, ProcessSpec, Tree};

/// CPU time (user + system) of this process so far.
fn cpu() -> Duration {
    // SAFETY: `ru` is a valid rusage to write to.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Duration::from_micros(us(ru.ru_utime) + us(ru.ru_stime))
}

/// Records the `elapsed_us` of every `vigil::probe` "probe ended" event.
#[derive(Clone, Default)]
struct Latencies(Arc<Mutex<Vec<u64>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Latencies {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Elapsed(Option<u64>);
        impl tracing::field::Visit for Elapsed {
            fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
                if field.name() == "elapsed_us" {
                    self.0 = Some(value);
                }
            }
            fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
        }
        let mut v = Elapsed(None);
        event.record(&mut v);
        if let Some(us) = v.0 {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(us);
        }
    }
}

/// Start `n` sleeping children (probed with `probe`), wait until all run,
/// and return the CPU vigil used over `secs` seconds, and how many probes
/// ended meanwhile.
async fn measure(n: usize, secs: u64, probe: Option<HealthProbe>, latencies: &Latencies) -> (Duration, usize) {
    let mut tree = Tree::new(SupervisorSpec::new().intensity(10).period(Duration::from_secs(5)));
    for i in 0..n {
        let mut spec = ProcessSpec::new(["sleep", "3600"]).output(OutputMode::Null);
        spec.health = probe.clone();
        tree = tree.process(ChildSpec::worker(format!("sleep{i}")), spec);
    }
    let sup = tree.start().expect("valid tree");
    loop {
        let reply = sup
            .request(Request::WhichChildren { path: String::new() })
            .await
            .expect("which_children");
        let Reply::Children(children) = reply else {
            panic!("unexpected reply {reply:?}")
        };
        if children.iter().filter(|c| c.state == ChildState::Running).count() == n {
            break;
        }
        assert!(!sup.is_down(), "the tree went down");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (before, probes_before) = (cpu(), latencies.0.lock().unwrap().len());
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let used = cpu() - before;
    let probes = latencies.0.lock().unwrap().len() - probes_before;
    let _ = sup.shutdown().await;
    (used, probes)
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

fn main() {
    vigil_tokio::guard::enter_if_guard();
    let mut args = std::env::args().skip(1).map(|a| a.parse::<u64>().expect("a number"));
    let n = args.next().unwrap_or(1000) as usize;
    let secs = args.next().unwrap_or(30).max(1);
    let interval = Duration::from_millis(args.next().unwrap_or(1000).max(1));
    let latencies = Latencies::default();
    let filter = tracing_subscriber::filter::Targets::new().with_target("vigil::probe", tracing::Level::TRACE);
    let subscriber =
        tracing_subscriber::registry().with(tracing_subscriber::Layer::with_filter(latencies.clone(), filter));
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let started = Instant::now();
    let probe = HealthProbe::exec(["true"])
        .interval(interval)
        .timeout(Duration::from_secs(5));
    let (floor, _) = rt.block_on(measure(n, secs, None, &latencies));
    let (probed, probes) = rt.block_on(measure(n, secs, Some(probe), &latencies));
    let mut all = latencies.0.lock().unwrap().clone();
    all.sort_unstable();
    let pct = |d: Duration| 100.0 * d.as_secs_f64() / secs as f64;
    println!(
        "{n} `sleep` children, exec probe `true` every {} ms, {secs} s measured per tree (wall {:.0} s in all)\n",
        interval.as_millis(),
        started.elapsed().as_secs_f64()
    );
    println!("| tree | vigil CPU over {secs} s | % of one core | ratio to the floor |");
    println!("|---|---|---|---|");
    println!(
        "| no probes (floor) | {:.3} s | {:.2} % | 1 |",
        floor.as_secs_f64(),
        pct(floor)
    );
    println!(
        "| exec probe on every child | {:.3} s | {:.2} % | {:.1} |",
        probed.as_secs_f64(),
        pct(probed),
        probed.as_secs_f64() / floor.as_secs_f64().max(1e-6)
    );
    println!();
    println!(
        "probes ended while measured: {probes} ({:.0}/s; {:.0}/s expected)",
        probes as f64 / secs as f64,
        n as f64 / (interval.as_secs_f64() + 0.001)
    );
    println!(
        "probe latency, start to result, over {} probes: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        all.len(),
        percentile(&all, 0.5),
        percentile(&all, 0.99),
        percentile(&all, 1.0)
    );
}
