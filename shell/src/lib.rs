//! Shoal's interactive SQL shell, compatible with CrateDB's `crash`.
//!
//! Data flow: [`cli`] options → [`hosts`] → a [`backend::Backend`] (HTTP servers, or
//! the simulation crate's embedded simulated cluster) → a [`session::Session`] fed by the REPL
//! ([`repl`]), `-c` or piped stdin, whose input is cut into statements and backslash
//! commands by [`split`]; results are printed by [`format`] through [`printer`], with
//! status lines and commands ([`commands`]) worded exactly like crash's.

pub mod backend;
pub mod cli;
pub mod commands;
pub mod complete;
pub mod format;
pub mod hosts;
pub mod keywords;
pub mod lex;
pub mod local;
pub mod printer;
pub mod progress;
pub mod repl;
pub mod session;
pub mod split;

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;
use std::sync::Arc;

pub use cli::ShellArgs;

use backend::Backend;
use backend::http::{HttpBackend, HttpOptions};
use format::OutputFormat;
use printer::Printer;
use progress::Watch;
use session::{Connector, Flow, Session};
use split::Splitter;

/// Runs `shoal shell`.
pub fn run(args: ShellArgs) -> ExitCode {
    if args.version {
        println!("{}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let mut printer = Printer::stdio(std::io::stderr().is_terminal(), false);
    let hosts = match hosts::parse_hosts(&args.hosts) {
        Ok(h) => h,
        Err(e) => {
            printer.warn(&e);
            return ExitCode::FAILURE;
        }
    };
    let (connect_timeout, read_timeout) = match cli::parse_timeout(&args.timeout) {
        Ok(t) => t,
        Err(e) => {
            printer.warn(&e);
            return ExitCode::FAILURE;
        }
    };
    let verbose = args.verbose > 0;
    let opts = HttpOptions {
        connect_timeout,
        read_timeout,
        schema: args.schema.clone(),
        error_trace: verbose,
    };
    let backend: Arc<dyn Backend> = Arc::new(HttpBackend::new(&hosts, &opts));
    let connector: Connector = Box::new(move |hosts, error_trace| {
        let opts = HttpOptions {
            error_trace,
            ..opts.clone()
        };
        Arc::new(HttpBackend::new(hosts, &opts)) as Arc<dyn Backend>
    });
    run_on(&args, backend, Some(connector))
}

/// Runs the shell on `backend` (`connector` serves `\connect`): connects, then runs
/// `-c`, `--sysinfo`, piped stdin or the REPL as `args` say.
pub fn run_on(
    args: &ShellArgs,
    backend: Arc<dyn Backend>,
    connector: Option<Connector>,
) -> ExitCode {
    let stderr_tty = std::io::stderr().is_terminal();
    let stdout_tty = std::io::stdout().is_terminal();
    let stdin_tty = std::io::stdin().is_terminal();
    let verbose = args.verbose > 0;
    let printer = Printer::stdio(stderr_tty, false);
    let mut session = Session::new(backend, connector, printer);
    session.format = args.format;
    session.verbose = verbose;
    session.autocomplete = !args.no_autocomplete;
    session.autocapitalize = args.autocapitalize;
    session.watch = Watch {
        spinner: stderr_tty,
        interrupt: None,
    };

    if !session.print_connect_result(verbose) {
        return ExitCode::FAILURE;
    }
    if args.sysinfo {
        session.format = OutputFormat::Mixed;
        commands::sysinfo(&mut session);
        return session.exit_code();
    }
    if let Some(command) = &args.command {
        session.process_text(command);
        return session.exit_code();
    }
    if !stdin_tty {
        run_stdin(&mut session);
        return session.exit_code();
    }
    session.printer.terminal = stdout_tty;
    repl::run(&mut session, cli::history_path(args.history.as_ref()));
    session.exit_code()
}

/// Runs statements piped on stdin as they complete.
fn run_stdin(session: &mut Session) {
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut splitter = Splitter::new();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match input.read_until(b'\n', &mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                session.printer.critical(&format!("cannot read stdin: {e}"));
                session.failed = true;
                return;
            }
        }
        let text = String::from_utf8_lossy(&buf);
        let line = text.trim_end_matches(['\n', '\r']);
        for item in splitter.push_line(line) {
            if session.run_item(item) == Flow::Quit {
                return;
            }
        }
    }
    if let Some(item) = splitter.finish() {
        session.run_item(item);
    }
}
