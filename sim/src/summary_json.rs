//! A [`Summary`] as JSON and back, every field kept, so that summaries
//! written on different machines merge into exactly the summary of one run
//! (`vigil sim --json`, `vigil merge`; the file around it is a
//! [`Sweep`](crate::Sweep)).

use std::time::Duration;

use serde_json::{json, Map, Value};
use vigil_core::{Instant, Outcome, Stats};

use crate::fault_plan::FaultPlan;
use crate::oracle::{Rule, Violation};
use crate::report::{SeedOutcome, SeedReport};
use crate::seed_range::Summary;
use crate::sweep_error::SweepError;

/// Every outcome with its name in the JSON, in the summary's order.
const OUTCOMES: [(SeedOutcome, &str); 6] = [
    (SeedOutcome::Tree(Outcome::Up), "up"),
    (SeedOutcome::Tree(Outcome::RootGaveUp), "root_gave_up"),
    (SeedOutcome::Tree(Outcome::ShutDown), "shut_down"),
    (SeedOutcome::Tree(Outcome::StartFailed), "start_failed"),
    (SeedOutcome::Violation, "violation"),
    (SeedOutcome::StepBudget, "step_budget"),
];

/// Every rule (the match in `rule_listed` fails to compile when one is added).
const RULES: [Rule; 17] = [
    Rule::OneLiveRun,
    Rule::CommandForLiveRun,
    Rule::KillDeadline,
    Rule::StopOnce,
    Rule::SequentialStart,
    Rule::StartOrder,
    Rule::StopOrder,
    Rule::RestartTable,
    Rule::Intensity,
    Rule::SpawnAfterEnd,
    Rule::TreeDown,
    Rule::Stale,
    Rule::Liveness,
    Rule::Deadlines,
    Rule::Determinism,
    Rule::TemporaryRemoved,
    Rule::StepBudget,
];

/// A reminder: a new rule must be added to [`RULES`] too.
#[cfg(test)]
fn rule_listed(r: Rule) -> bool {
    match r {
        Rule::OneLiveRun
        | Rule::CommandForLiveRun
        | Rule::KillDeadline
        | Rule::StopOnce
        | Rule::SequentialStart
        | Rule::StartOrder
        | Rule::StopOrder
        | Rule::RestartTable
        | Rule::Intensity
        | Rule::SpawnAfterEnd
        | Rule::TreeDown
        | Rule::Stale
        | Rule::Liveness
        | Rule::Deadlines
        | Rule::Determinism
        | Rule::TemporaryRemoved
        | Rule::StepBudget => RULES.contains(&r),
    }
}

fn outcome_name(o: SeedOutcome) -> &'static str {
    OUTCOMES.iter().find(|(x, _)| *x == o).map_or("up", |(_, n)| n)
}

impl Summary {
    /// The summary as a JSON object (docs/SIMULATION.md, "Sweeps on a cluster").
    pub fn to_json(&self) -> Value {
        let outcomes: Map<String, Value> = self
            .outcomes
            .iter()
            .map(|(o, n)| (outcome_name(*o).to_owned(), json!(n)))
            .collect();
        json!({
            "seeds": self.seeds,
            "virtual_time": duration_json(self.virtual_time),
            "events": self.events,
            "outcomes": outcomes,
            "restart_decisions": self.restart_decisions,
            "give_ups": self.give_ups,
            "spawns": self.spawns,
            "violations": self.violations.iter().map(report_json).collect::<Vec<_>>(),
        })
    }

    /// Read back what [`Summary::to_json`] wrote.
    pub fn from_json(v: &Value) -> Result<Summary, SweepError> {
        let r = Reader::new(v, "summary")?;
        let mut outcomes = std::collections::BTreeMap::new();
        let list = r.object("outcomes")?;
        for (name, n) in list {
            let (o, _) = OUTCOMES
                .iter()
                .find(|(_, x)| x == name)
                .ok_or_else(|| SweepError::malformed(format!("summary.outcomes.{name}"), "an unknown outcome"))?;
            let n = n
                .as_u64()
                .ok_or_else(|| SweepError::malformed(format!("summary.outcomes.{name}"), "not a whole number"))?;
            outcomes.insert(*o, n);
        }
        let violations = r
            .array("violations")?
            .iter()
            .enumerate()
            .map(|(i, v)| report_from_json(v, &format!("summary.violations[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Summary {
            seeds: r.u64("seeds")?,
            violations,
            virtual_time: r.duration("virtual_time")?,
            events: r.u64("events")?,
            outcomes,
            restart_decisions: r.u64("restart_decisions")?,
            give_ups: r.u64("give_ups")?,
            spawns: r.u64("spawns")?,
        })
    }
}

fn duration_json(d: Duration) -> Value {
    json!({ "secs": d.as_secs(), "nanos": d.subsec_nanos() })
}

fn opt_ns(d: Option<Duration>) -> Value {
    d.map_or(Value::Null, |d| json!(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)))
}

fn report_json(r: &SeedReport) -> Value {
    let s = &r.stats;
    let f = &r.faults;
    json!({
        "seed": r.seed,
        "outcome": outcome_name(r.outcome),
        "violation": r.violation.as_ref().map(|v| json!({
            "at_ns": v.at.as_nanos(),
            "rule": v.rule.as_str(),
            "detail": v.detail,
        })),
        "events": r.events,
        "virtual_time": duration_json(r.virtual_time),
        "trace_hash": format!("{:016x}", r.trace_hash),
        "trace_lines": r.trace_lines,
        "stats": {
            "stale_inputs": s.stale_inputs, "restart_decisions": s.restart_decisions,
            "give_ups": s.give_ups, "spawns": s.spawns, "stops": s.stops, "kills": s.kills,
            "requests": s.requests,
        },
        "faults": {
            "crash_every_ns": opt_ns(f.crash_every), "storms": f.storms,
            "simultaneous": f.simultaneous, "start_fail": f.start_fail,
            "early_exit": f.early_exit, "hang_on_stop": f.hang_on_stop,
            "missed_heartbeats": f.missed_heartbeats, "stale_every_ns": opt_ns(f.stale_every),
            "requests_every_ns": opt_ns(f.requests_every), "boot_faults": f.boot_faults,
        },
    })
}

fn report_from_json(v: &Value, at: &str) -> Result<SeedReport, SweepError> {
    let r = Reader::new(v, at)?;
    let name = r.str("outcome")?;
    let outcome = OUTCOMES
        .iter()
        .find(|(_, n)| *n == name)
        .map(|(o, _)| *o)
        .ok_or_else(|| SweepError::malformed(format!("{at}.outcome"), "an unknown outcome"))?;
    let violation = match r.get("violation")? {
        Value::Null => None,
        v => Some(violation_from_json(v, &format!("{at}.violation"))?),
    };
    let hash = r.str("trace_hash")?;
    let trace_hash = u64::from_str_radix(hash, 16)
        .map_err(|_| SweepError::malformed(format!("{at}.trace_hash"), "not 16 hexadecimal digits"))?;
    let stats_at = format!("{at}.stats");
    let s = Reader::new(r.get("stats")?, &stats_at)?;
    let stats = Stats {
        stale_inputs: s.u64("stale_inputs")?,
        restart_decisions: s.u64("restart_decisions")?,
        give_ups: s.u64("give_ups")?,
        spawns: s.u64("spawns")?,
        stops: s.u64("stops")?,
        kills: s.u64("kills")?,
        requests: s.u64("requests")?,
    };
    Ok(SeedReport {
        seed: r.u64("seed")?,
        outcome,
        violation,
        events: r.u64("events")?,
        virtual_time: r.duration("virtual_time")?,
        trace_hash,
        trace_lines: r.u64("trace_lines")?,
        stats,
        faults: faults_from_json(r.get("faults")?, &format!("{at}.faults"))?,
    })
}

fn violation_from_json(v: &Value, at: &str) -> Result<Violation, SweepError> {
    let r = Reader::new(v, at)?;
    let name = r.str("rule")?;
    let rule = RULES
        .iter()
        .copied()
        .find(|x| x.as_str() == name)
        .ok_or_else(|| SweepError::malformed(format!("{at}.rule"), "an unknown rule"))?;
    Ok(Violation {
        at: Instant::from_nanos(r.u64("at_ns")?),
        rule,
        detail: r.str("detail")?.to_owned(),
    })
}

fn faults_from_json(v: &Value, at: &str) -> Result<FaultPlan, SweepError> {
    let r = Reader::new(v, at)?;
    let small = |k: &str| {
        u32::try_from(r.u64(k)?).map_err(|_| SweepError::malformed(format!("{at}.{k}"), "larger than 2^32 - 1"))
    };
    Ok(FaultPlan {
        crash_every: r.opt_ns("crash_every_ns")?,
        storms: small("storms")?,
        simultaneous: small("simultaneous")?,
        start_fail: r.f64("start_fail")?,
        early_exit: r.f64("early_exit")?,
        hang_on_stop: r.f64("hang_on_stop")?,
        missed_heartbeats: r.f64("missed_heartbeats")?,
        stale_every: r.opt_ns("stale_every_ns")?,
        requests_every: r.opt_ns("requests_every_ns")?,
        boot_faults: r.bool("boot_faults")?,
    })
}

/// Typed reads of one JSON object's keys, each failure naming the key.
pub(crate) struct Reader<'a> {
    map: &'a Map<String, Value>,
    at: &'a str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(v: &'a Value, at: &'a str) -> Result<Self, SweepError> {
        let map = v
            .as_object()
            .ok_or_else(|| SweepError::malformed(at.to_owned(), "not a JSON object"))?;
        Ok(Reader { map, at })
    }

    fn bad(&self, key: &str, why: &str) -> SweepError {
        SweepError::malformed(format!("{}.{key}", self.at), why)
    }

    pub(crate) fn get(&self, key: &str) -> Result<&'a Value, SweepError> {
        self.map.get(key).ok_or_else(|| self.bad(key, "missing"))
    }

    pub(crate) fn u64(&self, key: &str) -> Result<u64, SweepError> {
        self.get(key)?
            .as_u64()
            .ok_or_else(|| self.bad(key, "not a whole number"))
    }

    pub(crate) fn f64(&self, key: &str) -> Result<f64, SweepError> {
        self.get(key)?.as_f64().ok_or_else(|| self.bad(key, "not a number"))
    }

    pub(crate) fn bool(&self, key: &str) -> Result<bool, SweepError> {
        self.get(key)?
            .as_bool()
            .ok_or_else(|| self.bad(key, "not true or false"))
    }

    pub(crate) fn str(&self, key: &str) -> Result<&'a str, SweepError> {
        self.get(key)?.as_str().ok_or_else(|| self.bad(key, "not a string"))
    }

    pub(crate) fn opt_str(&self, key: &str) -> Result<Option<&'a str>, SweepError> {
        match self.get(key)? {
            Value::Null => Ok(None),
            v => v
                .as_str()
                .map(Some)
                .ok_or_else(|| self.bad(key, "not a string or null")),
        }
    }

    pub(crate) fn object(&self, key: &str) -> Result<&'a Map<String, Value>, SweepError> {
        self.get(key)?
            .as_object()
            .ok_or_else(|| self.bad(key, "not a JSON object"))
    }

    pub(crate) fn array(&self, key: &str) -> Result<&'a Vec<Value>, SweepError> {
        self.get(key)?
            .as_array()
            .ok_or_else(|| self.bad(key, "not a JSON array"))
    }

    pub(crate) fn duration(&self, key: &str) -> Result<Duration, SweepError> {
        let d = Reader::new(self.get(key)?, self.at)?;
        let nanos = u32::try_from(d.u64("nanos")?)
            .ok()
            .filter(|&n| n < 1_000_000_000)
            .ok_or_else(|| self.bad(key, "nanos not below 10^9"))?;
        Ok(Duration::new(d.u64("secs")?, nanos))
    }

    fn opt_ns(&self, key: &str) -> Result<Option<Duration>, SweepError> {
        match self.get(key)? {
            Value::Null => Ok(None),
            v => v
                .as_u64()
                .map(|n| Some(Duration::from_nanos(n)))
                .ok_or_else(|| self.bad(key, "not a whole number or null")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_and_outcome_has_a_name_that_reads_back() {
        for r in RULES {
            assert!(rule_listed(r));
            assert_eq!(RULES.iter().find(|x| x.as_str() == r.as_str()), Some(&r));
        }
        let mut names: Vec<_> = OUTCOMES.iter().map(|(_, n)| *n).collect();
        names.dedup();
        assert_eq!(names.len(), OUTCOMES.len());
        assert!(OUTCOMES.windows(2).all(|w| w[0].0 < w[1].0), "in the summary's order");
    }

    #[test]
    fn a_summary_with_every_field_set_reads_back_equal() {
        let report = SeedReport {
            seed: u64::MAX - 1,
            outcome: SeedOutcome::Violation,
            violation: Some(Violation {
                at: Instant::from_nanos(u64::MAX),
                rule: Rule::StepBudget,
                detail: "a \"quoted\"\nline".into(),
            }),
            events: 12,
            virtual_time: Duration::new(u64::MAX, 999_999_999),
            trace_hash: u64::MAX,
            trace_lines: 3,
            stats: Stats {
                stale_inputs: 1,
                restart_decisions: 2,
                give_ups: 3,
                spawns: 4,
                stops: 5,
                kills: 6,
                requests: 7,
            },
            faults: FaultPlan {
                crash_every: Some(Duration::from_secs(5)),
                storms: u32::MAX,
                simultaneous: 20,
                start_fail: 0.05,
                early_exit: 0.1,
                hang_on_stop: 0.5,
                missed_heartbeats: 0.3,
                stale_every: None,
                requests_every: Some(Duration::from_nanos(u64::MAX)),
                boot_faults: true,
            },
        };
        let mut s = Summary {
            seeds: 9,
            violations: vec![report],
            virtual_time: Duration::new(u64::MAX, 1),
            events: u64::MAX,
            restart_decisions: 1,
            give_ups: 2,
            spawns: 3,
            ..Summary::default()
        };
        for (o, _) in OUTCOMES {
            s.outcomes.insert(o, 1);
        }
        let text = s.to_json().to_string();
        let back = Summary::from_json(&serde_json::from_str(&text).unwrap()).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn a_damaged_summary_names_the_key() {
        let mut v = Summary::default().to_json();
        v["outcomes"] = json!({"exploded": 1});
        let e = Summary::from_json(&v).unwrap_err();
        assert!(e.to_string().contains("summary.outcomes.exploded"), "{e}");
        let mut v = Summary::default().to_json();
        v["virtual_time"]["nanos"] = json!(1_000_000_000u64);
        assert!(Summary::from_json(&v)
            .unwrap_err()
            .to_string()
            .contains("summary.virtual_time"));
        let mut v = Summary::default().to_json();
        v.as_object_mut().unwrap().remove("spawns");
        assert!(Summary::from_json(&v)
            .unwrap_err()
            .to_string()
            .contains("`summary.spawns`: missing"));
    }
}
