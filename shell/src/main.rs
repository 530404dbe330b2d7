//! `shoal`: the Shoal binary. `shoal server` runs a node; `shoal shell` opens the SQL shell.

use std::process::ExitCode;

// The server allocates and frees many small rows; mimalloc handles that
// churn far better than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "shoal",
    version,
    about = "Shoal: a CrateDB-style distributed SQL database"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a Shoal node serving CrateDB's HTTP `/_sql` protocol.
    Server(shoal_engine::server::ServerArgs),
    /// Open the interactive SQL shell (crash-compatible).
    Shell(shoal_shell::ShellArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Server(args) => match shoal_engine::server::run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("shoal server: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Shell(args) => shoal_shell::run(args),
    }
}
