//! Random scenarios from a seed (one ChaCha8 generator per scenario, so any
//! scenario is reproduced from its seed alone).
//!
//! Time cannot change what happens in a generated scenario, which is what
//! makes OTP (real time, whole-second intensity windows) and vigil-sim
//! (virtual time, exact windows) comparable:
//! - every supervisor's period is [`PERIOD_SECS`], far longer than any
//!   scenario in either world, so intensity is a plain count of restarts per
//!   supervisor life and the window never slides;
//! - workers start, stop and exit at once, so no shutdown deadline expires,
//!   except for hung workers, whose stop always ends in a kill at the
//!   deadline ([`HANG_SHUTDOWN_MS`]; only those workers get that timeout,
//!   every other timeout is at least 5 s and supervisor children wait
//!   60 s or for ever, so no deadline races a prompt stop);
//! - steps apply one at a time to a settled tree ([`STEP_SECS`] apart in the
//!   simulation; the OTP driver waits until the tree is quiet).
//!
//! Left out, because OTP has no such thing or behaves differently on
//! purpose (docs/SEMANTICS.md, section 13): every [ext] feature (readiness,
//! health, backoff, lifespan, one_terminate_all, restart_all, replace_child),
//! supervisor children with `brutal` shutdown or a deadline that expires,
//! failed starts during the tree's first start, and a start function
//! returning `ignore` (vigil has no such answer).

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use crate::scenario::{
    AutoShutdown, Child, ChildShape, Path, Reason, Restart, Scenario, Shutdown, Step, Strategy, Sup, HANG_SHUTDOWN_MS,
};

/// Deepest supervisor level (the root is level 1).
const MAX_LEVEL: u32 = 3;

/// The scenario of `seed`.
pub fn scenario(seed: u64) -> Scenario {
    let mut g = Gen {
        rng: ChaCha8Rng::seed_from_u64(seed),
        workers: 0,
        sups: 0,
    };
    let root = g.sup(1);
    let steps = g.steps(&root);
    Scenario { seed, root, steps }
}

struct Gen {
    rng: ChaCha8Rng,
    workers: u32,
    sups: u32,
}

/// A node the script can name: its path and what it is.
struct Target {
    path: Path,
    supervisor: bool,
    hangable: bool,
}

impl Gen {
    /// An index in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.rng.next_u64() % n as u64) as usize
    }

    /// `true` with probability `percent`%.
    fn percent(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    /// An item by weight.
    fn weighted<T: Copy>(&mut self, items: &[(usize, T)]) -> T {
        let total: usize = items.iter().map(|(w, _)| w).sum();
        let mut x = self.below(total);
        for &(w, item) in items {
            if x < w {
                return item;
            }
            x -= w;
        }
        items[items.len() - 1].1
    }

    fn sup(&mut self, level: u32) -> Sup {
        let strategy = self.weighted(&[
            (1, Strategy::OneForOne),
            (1, Strategy::OneForAll),
            (1, Strategy::RestForOne),
        ]);
        // The root a little more patient, so that more scenarios run to the end.
        let intensity = if level == 1 {
            self.weighted(&[(10, 0), (20, 1), (25, 2), (25, 3), (20, 6)])
        } else {
            self.weighted(&[(15, 0), (35, 1), (25, 2), (15, 3), (10, 5)])
        };
        let auto_shutdown = self.weighted(&[
            (6, AutoShutdown::Never),
            (2, AutoShutdown::AnySignificant),
            (2, AutoShutdown::AllSignificant),
        ]);
        let count = 1 + self.below(if level == 1 { 5 } else { 4 });
        let children = (0..count).map(|_| self.child(level, auto_shutdown)).collect();
        Sup {
            strategy,
            intensity,
            auto_shutdown,
            children,
        }
    }

    fn child(&mut self, level: u32, auto_shutdown: AutoShutdown) -> Child {
        let restart = self.weighted(&[
            (5, Restart::Permanent),
            (3, Restart::Transient),
            (2, Restart::Temporary),
        ]);
        let significant = auto_shutdown != AutoShutdown::Never && restart != Restart::Permanent && self.percent(60);
        if level < MAX_LEVEL && self.percent(30) {
            self.sups += 1;
            let shutdown = self.weighted(&[(3, Shutdown::Infinity), (1, Shutdown::Millis(60_000))]);
            Child {
                name: format!("s{}", self.sups),
                restart,
                shutdown,
                significant,
                kind: ChildShape::Supervisor(self.sup(level + 1)),
            }
        } else {
            self.workers += 1;
            let shutdown = self.weighted(&[
                (2, Shutdown::Brutal),
                (3, Shutdown::Millis(5000)),
                (2, Shutdown::Infinity),
                (2, Shutdown::Millis(HANG_SHUTDOWN_MS)),
            ]);
            Child {
                name: format!("w{}", self.workers),
                restart,
                shutdown,
                significant,
                kind: ChildShape::Worker,
            }
        }
    }

    fn steps(&mut self, root: &Sup) -> Vec<Step> {
        let mut targets = Vec::new();
        collect(root, &mut Vec::new(), &mut targets);
        let supervisors: Vec<Path> = std::iter::once(Vec::new())
            .chain(targets.iter().filter(|t| t.supervisor).map(|t| t.path.clone()))
            .collect();
        let count = 3 + self.below(14);
        let mut steps = Vec::with_capacity(count + 1);
        let mut dynamic = 0;
        let mut hangs = 0;
        for _ in 0..count {
            let op = self.weighted(&[
                (40, "exit"),
                (14, "fail_starts"),
                (10, "terminate"),
                (10, "restart"),
                (7, "delete"),
                (10, "start_child"),
                (4, "hang"),
            ]);
            let any = self.below(targets.len());
            let step = match op {
                "exit" | "fail_starts" | "hang" => {
                    let workers: Vec<usize> = (0..targets.len())
                        .filter(|&i| !targets[i].supervisor && (op != "hang" || targets[i].hangable))
                        .collect();
                    if workers.is_empty() || (op == "hang" && hangs == 2) {
                        continue;
                    }
                    let path = targets[workers[self.below(workers.len())]].path.clone();
                    match op {
                        "exit" => Step::Exit {
                            path,
                            reason: self.reason(),
                        },
                        "fail_starts" => {
                            let count = 1 + self.below(3) as u32;
                            // Often the worker crashes right away, so its
                            // restart meets the failures.
                            if self.percent(50) {
                                steps.push(Step::FailStarts {
                                    path: path.clone(),
                                    count,
                                });
                                Step::Exit {
                                    path,
                                    reason: self.weighted(&[(1, Reason::Error), (1, Reason::Killed)]),
                                }
                            } else {
                                Step::FailStarts { path, count }
                            }
                        }
                        _ => {
                            hangs += 1;
                            Step::HangOnStop { path }
                        }
                    }
                }
                "terminate" => Step::TerminateChild {
                    path: targets[any].path.clone(),
                },
                "restart" => Step::RestartChild {
                    path: targets[any].path.clone(),
                },
                "delete" => Step::DeleteChild {
                    path: targets[any].path.clone(),
                },
                _ => {
                    let parent = supervisors[self.below(supervisors.len())].clone();
                    // Mostly a new name; sometimes one its siblings have
                    // (already_started / already_present).
                    let siblings: Vec<&Target> = targets
                        .iter()
                        .filter(|t| t.path[..t.path.len() - 1] == parent[..])
                        .collect();
                    let name = if !siblings.is_empty() && self.percent(25) {
                        siblings[self.below(siblings.len())]
                            .path
                            .last()
                            .cloned()
                            .unwrap_or_default()
                    } else {
                        dynamic += 1;
                        format!("d{dynamic}")
                    };
                    let mut path = parent.clone();
                    path.push(name.clone());
                    if !targets.iter().any(|t| t.path == path) {
                        targets.push(Target {
                            path: path.clone(),
                            supervisor: false,
                            hangable: false,
                        });
                        // Make the new child's start fail now and then.
                        if self.percent(20) {
                            steps.push(Step::FailStarts { path, count: 1 });
                        }
                    }
                    Step::StartChild { parent, name }
                }
            };
            steps.push(step);
        }
        steps.push(Step::Shutdown);
        steps
    }

    fn reason(&mut self) -> Reason {
        self.weighted(&[
            (30, Reason::Error),
            (15, Reason::ErrorWith),
            (20, Reason::Normal),
            (10, Reason::Shutdown),
            (5, Reason::ShutdownWith),
            (10, Reason::Panic),
            (10, Reason::Killed),
        ])
    }
}

/// Every node below `sup` (whose path is `prefix`), depth first.
fn collect(sup: &Sup, prefix: &mut Path, out: &mut Vec<Target>) {
    for c in &sup.children {
        prefix.push(c.name.clone());
        out.push(Target {
            path: prefix.clone(),
            supervisor: matches!(c.kind, ChildShape::Supervisor(_)),
            hangable: c.shutdown == Shutdown::Millis(HANG_SHUTDOWN_MS),
        });
        if let ChildShape::Supervisor(s) = &c.kind {
            collect(s, prefix, out);
        }
        prefix.pop();
    }
}
