//! The stable side of every target: replay the committed inputs and seeded
//! mutations of them through the target's body, as a normal `cargo test`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

use crate::mutate;

/// Mutated inputs per target when `VIGIL_FUZZ_CASES` is not set.
const DEFAULT_CASES: usize = 2000;

/// What one [`replay`] ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Replayed {
    /// Files of `fuzz/corpus/<target>/`.
    pub corpus: usize,
    /// Files of `fuzz/regressions/<target>/`.
    pub regressions: usize,
    /// Seeded mutations of them.
    pub mutated: usize,
}

/// Run `body` on every file of `fuzz/corpus/<target>/` and
/// `fuzz/regressions/<target>/`, then on `VIGIL_FUZZ_CASES` (default 2000)
/// seeded mutations of them. Panics at the first input that fails or
/// panics, naming the file (a failing mutation is first saved to the
/// temporary directory, ready to move to `fuzz/regressions/<target>/`).
pub fn replay(target: &str, body: fn(&[u8]) -> Result<(), String>) -> Replayed {
    let fuzz_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let corpus = read_dir(&fuzz_dir.join("corpus").join(target));
    let regressions = read_dir(&fuzz_dir.join("regressions").join(target));
    for (path, data) in corpus.iter().chain(&regressions) {
        check(body, data, || path.display().to_string());
    }
    let cases = std::env::var("VIGIL_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    let seeds: Vec<Vec<u8>> = corpus.iter().chain(&regressions).map(|(_, d)| d.clone()).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed_of(target));
    for i in 0..cases {
        let data = mutate::input(&mut rng, &seeds);
        check(body, &data, || {
            let file = std::env::temp_dir().join(format!("vigil-fuzz-{target}-mutation-{i}"));
            let saved = match std::fs::write(&file, &data) {
                Ok(()) => format!("input saved as {}", file.display()),
                Err(e) => format!("input not saved ({e}): b\"{}\"", data.escape_ascii()),
            };
            format!("mutation {i} of target {target} ({saved})")
        });
    }
    Replayed {
        corpus: corpus.len(),
        regressions: regressions.len(),
        mutated: cases,
    }
}

fn check(body: fn(&[u8]) -> Result<(), String>, data: &[u8], name: impl Fn() -> String) {
    match catch_unwind(AssertUnwindSafe(|| body(data))) {
        Ok(Ok(())) => {}
        Ok(Err(failure)) => panic!("{}: {failure}", name()),
        Err(_) => panic!("{}: the target panicked (message above)", name()),
    }
}

/// The files of `dir`, sorted by name (none if it does not exist).
fn read_dir(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
        .collect();
    paths.sort();
    // A file may vanish while a fuzzer that writes to the same corpus runs.
    paths
        .into_iter()
        .filter_map(|p| match std::fs::read(&p) {
            Ok(data) => Some((p, data)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => panic!("cannot read {}: {e}", p.display()),
        })
        .collect()
}

/// A fixed seed per target (FNV-1a of its name), so every target gets its
/// own reproducible mutations.
fn seed_of(target: &str) -> u64 {
    target.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}
