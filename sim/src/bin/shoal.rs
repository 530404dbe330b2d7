//! `shoal`: the Shoal binary. `shoal server` runs a node; `shoal shell` opens
//! the SQL shell on servers. Plain `shoal` opens the shell on a cluster of its
//! own: in the simulation build (`cargo shoal`, see `.cargo/config.toml`) a
//! simulated cluster of `--nodes` nodes for `--seed` (the shell's cluster
//! commands fault it; `\record` saves the session as a scenario file); in
//! the normal build a local server it starts and stops.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

// The server allocates and frees many small rows; mimalloc handles that
// churn far better than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (the enum's 16th entry in mimalloc 2 and 3).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// How long freed memory stays with the process, in milliseconds.
const PURGE_DELAY_MS: std::os::raw::c_long = 60_000;

/// Each refresh builds segments in fresh buffers of many megabytes. With
/// mimalloc's default purge delay (10 ms in mimalloc 2, 1 s in mimalloc 3)
/// those pages go back to the OS between refreshes and come back zeroed by
/// page faults (transparent huge pages: 2 MB zeroed per fault). Freed memory
/// is kept for a minute, longer than one round of refreshes over a node's
/// shards under load (a 5M steps ingest builds segments of up to 800k rows,
/// several seconds each). Page faults in that ingest: 181–223k with 1 s,
/// 21–74k with 10 s (zeroing pages was still 7–9% of the CPU), 1.6–2.1k
/// with 60 s, for a little more peak memory (3.3–3.6 GB with 60 s, 3.1–3.4 GB
/// with 1 s). An idle node gives the memory back a minute later. The
/// environment variable `MIMALLOC_PURGE_DELAY` still overrides this.
fn tune_allocator() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: plain option getter and setter of the linked mimalloc; checking
    // for a documented default makes sure the index still names the purge
    // delay (the test below fails when an upgrade moves it).
    unsafe {
        if matches!(
            libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY),
            10 | 1000
        ) {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS);
        }
    }
}

#[derive(Parser)]
#[command(
    name = "shoal",
    about = "Shoal: a CrateDB-style distributed SQL database",
    long_about = "Shoal: a CrateDB-style distributed SQL database.\n\n\
                  Without a subcommand, shoal opens the shell on a cluster of its own: in \
                  the simulation build (`cargo shoal`), a simulated cluster of --nodes \
                  nodes for --seed; in the server build, a local server it starts in the \
                  background (data in ~/.local/share/shoal/local).",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Nodes of the simulated cluster (simulation build).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=9))]
    nodes: u8,
    /// The seed of the simulated cluster (simulation build; default: a random one,
    /// shown in the banner and by \seed).
    #[arg(long)]
    seed: Option<u64>,
    #[command(flatten)]
    shell: shoal_shell::ShellArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run a Shoal node serving CrateDB's HTTP `/_sql` protocol.
    #[cfg(not(madsim))]
    Server(shoal_engine::server::ServerArgs),
    /// (The simulation build runs no real node; it says where one is.)
    #[cfg(madsim)]
    #[command(hide = true)]
    Server {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Open the interactive SQL shell (crash-compatible) on servers.
    Shell(shoal_shell::ShellArgs),
}

fn main() -> ExitCode {
    tune_allocator();
    // After a statement that held much memory, the server hands what it
    // freed back to the system instead of waiting out the purge delay.
    // SAFETY: mi_collect takes no pointers; forcing it purges every free page.
    shoal_engine::breaker::set_release_hook(|| unsafe { libmimalloc_sys::mi_collect(true) });
    let cli = Cli::parse();
    match cli.command {
        #[cfg(not(madsim))]
        Some(Command::Server(args)) => match shoal_engine::server::run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("shoal server: {e}");
                ExitCode::FAILURE
            }
        },
        #[cfg(madsim)]
        Some(Command::Server { .. }) => {
            eprintln!(
                "shoal server: this is the simulation build, whose network is simulated; real \
                 nodes run from the server build: cargo build --release -p shoal-sim --bin shoal"
            );
            ExitCode::FAILURE
        }
        Some(Command::Shell(args)) => shoal_shell::run(args),
        None if cli.shell.version => shoal_shell::run(cli.shell),
        None if !cli.shell.hosts.is_empty() => {
            eprintln!("shoal: --hosts names servers: use `shoal shell --hosts ...`");
            ExitCode::FAILURE
        }
        #[cfg(madsim)]
        None => simulated_shell(cli.nodes, cli.seed, &cli.shell),
        #[cfg(not(madsim))]
        None => local_shell(cli.shell),
    }
}

/// Forms a simulated cluster and opens the shell on it.
#[cfg(madsim)]
fn simulated_shell(nodes: u8, seed: Option<u64>, args: &shoal_shell::ShellArgs) -> ExitCode {
    // The seed is the one thing taken from outside the simulation.
    let seed = seed.unwrap_or_else(|| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        now.map_or(1, |d| d.as_nanos() as u64 % 1_000_000)
    });
    let backend = match shoal_sim::shell::SimBackend::start(usize::from(nodes), seed) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("shoal: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "A simulated cluster of {nodes} nodes, seed {seed}: statements go to n1 (\\use n2 to \
         change). \\? lists the cluster commands (\\kill, \\partition, \\wait, ...); \
         \\record FILE saves the session as a scenario file."
    );
    shoal_shell::run_on(args, std::sync::Arc::new(backend), None)
}

/// Starts a local server and opens the shell on it.
#[cfg(not(madsim))]
fn local_shell(mut args: shoal_shell::ShellArgs) -> ExitCode {
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("shoal: cannot find own executable: {e}");
            return ExitCode::FAILURE;
        }
    };
    let data = shoal_shell::local::default_data_dir();
    let server = match shoal_shell::local::LocalServer::start(&exe, data) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("shoal: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "Started a local Shoal server at {} (data in {}); it stops when you leave the shell.",
        server.url,
        server.data.display()
    );
    args.hosts = vec![server.url.clone()];
    let code = shoal_shell::run(args);
    drop(server);
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The purge delay is set: an upgrade of mimalloc that moves the option
    /// or changes its default must not turn the tuning off silently (it did
    /// once, when mimalloc 3 changed the default from 10 ms to 1 s).
    #[test]
    fn allocator_keeps_freed_memory() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        tune_allocator();
        // SAFETY: plain option getter of the linked mimalloc.
        let delay = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(delay, PURGE_DELAY_MS);
    }
}
