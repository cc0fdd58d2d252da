//! Per-run secrets: every process run gets a fresh random `VIGIL_TOKEN`, the
//! only proof a worker has of which run it is.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use vigil_core::RunId;

/// Bytes of randomness in a token (rendered as twice as many hex digits).
const TOKEN_BYTES: usize = 16;

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
            t.by_token.remove(&token);
        }
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
        assert!(!t.is_live(run(1)));
        assert!(t.is_live(run(2)));
    }
}
