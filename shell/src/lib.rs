//! Shoal's interactive SQL shell (placeholder until the shell lands).

use std::process::ExitCode;

/// Command-line options of `shoal shell`.
#[derive(Debug, clap::Args)]
pub struct ShellArgs {}

/// Runs the shell.
pub fn run(_args: ShellArgs) -> ExitCode {
    ExitCode::FAILURE
}
