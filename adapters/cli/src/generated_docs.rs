//! `vigil completions SHELL` and `vigil man`: documents generated from the
//! command-line definition itself, so they never drift from `--help`.
//!
//! Both write to stdout, for a package to install at build or install time
//! (docs/OPERATING.md, "Installing"):
//!
//! ```text
//! vigil completions bash > /usr/share/bash-completion/completions/vigil
//! vigil completions zsh  > /usr/share/zsh/vendor-completions/_vigil
//! vigil completions fish > /usr/share/fish/vendor_completions.d/vigil.fish
//! vigil man > /usr/share/man/man1/vigil.1
//! ```

use std::process::ExitCode;

use clap::Command;
use clap_complete::Shell;

/// Write the completion script of `command` for `shell` to stdout.
pub fn completions(mut command: Command, shell: Shell) -> ExitCode {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, "vigil", &mut out);
    write_out(&out)
}

/// Write the man page (roff, section 1) of `command` to stdout: every
/// command and option, and the exit codes.
pub fn man(command: Command) -> ExitCode {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    if let Err(e) = clap_mangen::Man::new(command).render(&mut out) {
        eprintln!("error: cannot render the man page: {e}");
        return ExitCode::from(1);
    }
    write_out(&out)
}

/// Print `bytes` (UTF-8: both generators write text). A failed write ends
/// the process as any command's output does (`output.rs`: 141 for a closed
/// pipe, 74 otherwise).
fn write_out(bytes: &[u8]) -> ExitCode {
    print!("{}", String::from_utf8_lossy(bytes));
    ExitCode::SUCCESS
}
