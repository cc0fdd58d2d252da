//! The OTP side: the Erlang driver in `tests/conformance/` compiled with
//! `erlc`, and a whole batch of scenarios run in one `erl` VM.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::erlang_text;
use crate::scenario::Scenario;

/// A compiled driver, ready to run batches.
pub struct Otp {
    ebin: PathBuf,
    work: PathBuf,
}

/// The outcome of one scenario on the OTP side: its events, or why the
/// driver could not run it.
pub type OtpResult = Result<Vec<String>, String>;

impl Otp {
    /// Whether `erl` and `erlc` are on the `PATH`.
    pub fn available() -> bool {
        let path = std::env::var_os("PATH").unwrap_or_default();
        ["erl", "erlc"]
            .iter()
            .all(|tool| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
    }

    /// Compile the driver's modules into `work/ebin`.
    pub fn compile(work: &Path) -> Otp {
        let ebin = work.join("ebin");
        std::fs::create_dir_all(&ebin).expect("create the ebin directory");
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance");
        let mut sources: Vec<PathBuf> = std::fs::read_dir(&src)
            .expect("read tests/conformance")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "erl"))
            .collect();
        sources.sort();
        let out = Command::new("erlc")
            .arg("-o")
            .arg(&ebin)
            .args(&sources)
            .output()
            .expect("run erlc");
        assert!(
            out.status.success(),
            "erlc failed to compile the OTP driver:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Otp {
            ebin,
            work: work.to_owned(),
        }
    }

    /// Run `scenarios` in one VM; results by index in `scenarios`.
    pub fn run(&self, scenarios: &[Scenario]) -> Vec<OtpResult> {
        let batch = self.work.join(format!("batch-{}.terms", std::process::id()));
        let text: String = scenarios
            .iter()
            .enumerate()
            .map(|(i, s)| erlang_text::batch_entry(i, s))
            .collect();
        std::fs::write(&batch, text).expect("write the batch file");
        let out = Command::new("erl")
            .args(self.command_args(&batch))
            .stdin(Stdio::null())
            .output()
            .expect("run erl");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "the OTP driver failed (exit {:?}) on {}:\n{}\n{}",
            out.status.code(),
            batch.display(),
            String::from_utf8_lossy(&out.stderr),
            stdout.lines().rev().take(20).collect::<Vec<_>>().join("\n")
        );
        let mut parsed = parse(&stdout);
        (0..scenarios.len())
            .map(|i| {
                parsed
                    .remove(&i)
                    .unwrap_or_else(|| Err("the driver printed nothing for it".to_owned()))
            })
            .collect()
    }

    /// The arguments of `erl` that run the batch file `batch`.
    pub fn command_args(&self, batch: &Path) -> Vec<String> {
        vec![
            "-noshell".to_owned(),
            "-pa".to_owned(),
            self.ebin.display().to_string(),
            "-run".to_owned(),
            "vigil_conformance".to_owned(),
            "main".to_owned(),
            batch.display().to_string(),
        ]
    }
}

/// The driver's output: `=== ID`, events, `=== end`; or `!!! ID error`.
fn parse(stdout: &str) -> BTreeMap<usize, OtpResult> {
    let mut results = BTreeMap::new();
    let mut current: Option<(usize, Vec<String>)> = None;
    for line in stdout.lines() {
        if line == "=== end" {
            if let Some((id, events)) = current.take() {
                results.insert(id, Ok(events));
            }
        } else if let Some(id) = line.strip_prefix("=== ").and_then(|s| s.parse().ok()) {
            current = Some((id, Vec::new()));
        } else if let Some(rest) = line.strip_prefix("!!! ") {
            let (id, error) = rest.split_once(' ').unwrap_or((rest, ""));
            if let Ok(id) = id.parse() {
                results.insert(id, Err(error.to_owned()));
            }
        } else if let Some((_, events)) = current.as_mut() {
            events.push(line.to_owned());
        }
    }
    results
}
