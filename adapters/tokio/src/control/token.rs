//! Per-run secrets: every process run gets a fresh random `VIGIL_TOKEN`, the
//! only proof a worker has of which run it is.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use vigil_core::RunId;

/// Bytes of randomness in a token (rendered as twice as many hex digits).
const TOKEN_BYTES: usize = 16;

/// Revoked tokens remembered, so that a worker using one is told which run
/// it was and that it has ended (the oldest are forgotten first).
const REMEMBERED: usize = 1024;

/// What a token is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TokenFate {
    /// The token of this live run, of the worker at this path.
    Live(RunId, Arc<str>),
    /// The token of a run that has ended: the worker's path and the run's generation.
    Ended(Arc<str>, u64),
    /// Never issued (or revoked long ago).
    Unknown,
}

/// The tokens of the live process runs. The driver issues one when it spawns
/// a process run and revokes it when the run ends; the control server looks
/// tokens up when a worker registers or reports.
#[derive(Debug, Default)]
pub(crate) struct RunTokens {
    inner: Mutex<Tokens>,
}

#[derive(Debug, Default)]
struct Tokens {
    by_token: HashMap<String, (RunId, Arc<str>)>,
    by_run: HashMap<RunId, String>,
    /// Recently revoked tokens, oldest first, and what they were.
    ended: VecDeque<String>,
    ended_runs: HashMap<String, (RunId, Arc<str>)>,
}

impl RunTokens {
    /// A fresh token for `run` of the worker at `path`, from the operating
    /// system's CSPRNG. `None` if the OS has no randomness to give (the run
    /// then simply cannot register).
    pub(crate) fn issue(&self, run: RunId, path: &str) -> Option<String> {
        let mut bytes = [0u8; TOKEN_BYTES];
        if let Err(e) = getrandom::fill(&mut bytes) {
            tracing::error!(path, error = %e, "no randomness for the run's control token");
            return None;
        }
        let token = hex(&bytes);
        let mut t = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(old) = t.by_run.insert(run, token.clone()) {
            t.by_token.remove(&old);
        }
        t.by_token.insert(token.clone(), (run, Arc::from(path)));
        Some(token)
    }

    /// Forget `run`'s token (the run ended or never started).
    pub(crate) fn revoke(&self, run: RunId) {
        let mut t = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(token) = t.by_run.remove(&run) {
            if let Some((_, path)) = t.by_token.remove(&token) {
                if t.ended.len() >= REMEMBERED {
                    if let Some(old) = t.ended.pop_front() {
                        t.ended_runs.remove(&old);
                    }
                }
                t.ended.push_back(token.clone());
                t.ended_runs.insert(token, (run, path));
            }
        }
    }

    /// What `token` is: a live run's, an ended run's, or unknown.
    pub(crate) fn fate(&self, token: &str) -> TokenFate {
        let t = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((run, path)) = t.by_token.get(token) {
            return TokenFate::Live(*run, Arc::clone(path));
        }
        match t.ended_runs.get(token) {
            Some((run, path)) => TokenFate::Ended(Arc::clone(path), run.generation),
            None => TokenFate::Unknown,
        }
    }

    /// The worker path of an ended `run`, while its token is remembered.
    pub(crate) fn ended_path(&self, run: RunId) -> Option<Arc<str>> {
        let t = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        t.ended_runs
            .values()
            .find(|(r, _)| *r == run)
            .map(|(_, p)| Arc::clone(p))
    }

    /// The live run a token belongs to, and its worker's path.
    pub(crate) fn lookup(&self, token: &str) -> Option<(RunId, Arc<str>)> {
        let t = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        t.by_token.get(token).cloned()
    }

    /// Whether `run` is still live (its token not revoked).
    pub(crate) fn is_live(&self, run: RunId) -> bool {
        let t = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        t.by_run.contains_key(&run)
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_core::NodeId;

    #[test]
    fn ended_tokens_are_remembered_within_a_bound() {
        let t = RunTokens::default();
        let first = t.issue(run(0), "w").unwrap();
        t.revoke(run(0));
        for g in 1..=REMEMBERED as u64 {
            t.issue(run(g), "w").unwrap();
            t.revoke(run(g));
        }
        assert_eq!(t.fate(&first), TokenFate::Unknown);
        let inner = t.inner.lock().unwrap();
        assert_eq!((inner.ended.len(), inner.ended_runs.len()), (REMEMBERED, REMEMBERED));
    }

    fn run(generation: u64) -> RunId {
        RunId {
            node: NodeId::from_index(1),
            generation,
        }
    }

    #[test]
    fn tokens_are_random_per_run_and_die_with_it() {
        let t = RunTokens::default();
        let a = t.issue(run(1), "w").unwrap();
        let b = t.issue(run(2), "w").unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 2 * TOKEN_BYTES);
        assert_eq!(t.lookup(&a).map(|(r, _)| r), Some(run(1)));
        t.revoke(run(1));
        assert_eq!(t.lookup(&a), None);
        assert_eq!(t.fate(&a), TokenFate::Ended("w".into(), 1));
        assert_eq!(t.fate(&b), TokenFate::Live(run(2), "w".into()));
        assert_eq!(t.fate("0123"), TokenFate::Unknown);
        assert!(!t.is_live(run(1)));
        assert!(t.is_live(run(2)));
    }
}
