//! What a divergence looks like: the scenario written out as files that
//! reproduce it on either side, and both event sequences side by side.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::erlang_text;
use crate::otp_side::Otp;
use crate::scenario::Scenario;
use crate::sim_side::VigilFiles;
use crate::vigil_text;

/// Write the files of a diverging scenario under `dir` and describe it.
pub fn divergence(
    dir: &Path,
    otp: &Otp,
    s: &Scenario,
    files: &VigilFiles,
    vigil: &[String],
    erlang: &[String],
) -> String {
    let dir = dir.join(format!("seed-{}", s.seed));
    let _ = std::fs::create_dir_all(&dir);
    let write = |name: &str, text: &str| -> PathBuf {
        let path = dir.join(name);
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("could not write {}: {e}", path.display());
        }
        path
    };
    let config = write("config.toml", &files.config);
    let script = write("script.toml", &files.script);
    let batch = write("otp.terms", &erlang_text::batch_entry(0, s));
    let table = side_by_side(vigil, erlang);
    let events = write("events.txt", &table);
    let mut out = String::new();
    let _ = writeln!(out, "scenario seed {} diverges from OTP", s.seed);
    let _ = writeln!(out, "  config: {}", config.display());
    let _ = writeln!(out, "  script: {}", script.display());
    let _ = writeln!(
        out,
        "  vigil:  vigil sim {} --script {} --no-random-faults --duration {}s",
        config.display(),
        script.display(),
        vigil_text::duration_secs(s)
    );
    let _ = writeln!(out, "  OTP:    erl {}", otp.command_args(&batch).join(" "));
    let _ = writeln!(
        out,
        "  rerun:  VIGIL_CONFORMANCE_SEED={} VIGIL_CONFORMANCE_CASES=1",
        s.seed
    );
    let _ = writeln!(out, "  events: {}", events.display());
    out.push_str(&table);
    out
}

/// Two columns, vigil left and OTP right; `!` marks the rows from the first
/// difference on where the two differ.
pub fn side_by_side(vigil: &[String], erlang: &[String]) -> String {
    let width = vigil.iter().map(String::len).max().unwrap_or(0).max(12);
    let mut out = format!("    {:width$}   {}\n", "vigil-sim", "OTP supervisor");
    let mut diverged = false;
    for i in 0..vigil.len().max(erlang.len()) {
        let left = vigil.get(i).map_or("", String::as_str);
        let right = erlang.get(i).map_or("", String::as_str);
        diverged |= left != right;
        let mark = if diverged && left != right { '!' } else { ' ' };
        let _ = writeln!(out, "  {mark} {left:width$}   {right}");
    }
    out
}
