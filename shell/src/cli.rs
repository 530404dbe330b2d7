//! Command-line options of `shoal shell`, named like crash's.

use std::path::PathBuf;
use std::time::Duration;

use crate::format::OutputFormat;

/// Options of `shoal shell` (crash's options, same names and defaults).
#[derive(Debug, Clone, clap::Args)]
#[command(about = "Shoal's crash-compatible SQL shell")]
pub struct ShellArgs {
    /// Servers to connect to: `host`, `host:port`, `:port` or `http://host:port`;
    /// several may follow one `--hosts` (default: localhost:4200).
    #[arg(long, num_args = 1.., value_name = "HOSTS")]
    pub hosts: Vec<String>,

    /// Execute the STATEMENT(s) and exit.
    #[arg(
        short = 'c',
        long = "command",
        value_name = "STATEMENT",
        conflicts_with = "sysinfo"
    )]
    pub command: Option<String>,

    /// Print system and cluster information and exit.
    #[arg(long)]
    pub sysinfo: bool,

    /// The output FORMAT of the SQL response: tabular, json, csv, raw, mixed, dynamic or
    /// json_row.
    #[arg(long, value_name = "FORMAT", default_value = "tabular", value_parser = parse_format)]
    pub format: OutputFormat,

    /// Default schema for statements if schema is not explicitly stated in queries.
    #[arg(long)]
    pub schema: Option<String>,

    /// Print debug information (error traces, connect table and checks).
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Disable SQL keywords autocompletion.
    #[arg(short = 'A', long = "no-autocomplete")]
    pub no_autocomplete: bool,

    /// Enable automatic capitalization of SQL keywords while typing.
    #[arg(short = 'a', long)]
    pub autocapitalize: bool,

    /// Use FILENAME as the history file (default: ~/.local/share/shoal/shell_history).
    #[arg(long, value_name = "FILENAME")]
    pub history: Option<PathBuf>,

    /// Network timeout as "<connect_sec>" or "<connect_sec>,<read_sec>"; -1 means
    /// infinite (default: 5 seconds to connect, no read timeout).
    #[arg(long, value_name = "TIMEOUT", default_value = "5")]
    pub timeout: String,

    /// Print the shell's version and exit.
    #[arg(long)]
    pub version: bool,
}

fn parse_format(s: &str) -> Result<OutputFormat, String> {
    s.parse()
}

/// Parses crash's `--timeout` value into (connect, read) timeouts; `None` is infinite.
pub fn parse_timeout(s: &str) -> Result<(Option<Duration>, Option<Duration>), String> {
    let one = |v: &str| -> Result<Option<Duration>, String> {
        let v = v.trim();
        if v == "-1" {
            return Ok(None);
        }
        let secs: f64 = v
            .parse()
            .map_err(|_| format!("invalid timeout value {v:?}"))?;
        if !secs.is_finite() || secs < 0.0 {
            return Err(format!("invalid timeout value {v:?}"));
        }
        Ok(Some(Duration::from_secs_f64(secs)))
    };
    let parts: Vec<&str> = s.split(',').collect();
    match parts.as_slice() {
        [c] => Ok((one(c)?, None)),
        [c, r] => Ok((one(c)?, one(r)?)),
        _ => Err(format!(
            "Cannot decode timeout `{s}`, expected format `<connect_sec>,<read_sec>`"
        )),
    }
}

/// The history file: `--history`, else `$XDG_DATA_HOME/shoal/shell_history`, else
/// `~/.local/share/shoal/shell_history`.
pub fn history_path(arg: Option<&PathBuf>) -> Option<PathBuf> {
    if let Some(p) = arg {
        return Some(p.clone());
    }
    let base = match std::env::var_os("XDG_DATA_HOME") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(std::env::var_os("HOME")?)
            .join(".local")
            .join("share"),
    };
    Some(base.join("shoal").join("shell_history"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ShellArgs,
    }

    fn parse(argv: &[&str]) -> ShellArgs {
        let mut full = vec!["shell"];
        full.extend_from_slice(argv);
        Cli::parse_from(full).args
    }

    #[test]
    fn crash_style_options() {
        let a = parse(&[
            "--hosts", "a", "b:1", "-c", "select 1", "--format", "json", "-vv",
        ]);
        assert_eq!(a.hosts, vec!["a", "b:1"]);
        assert_eq!(a.command.as_deref(), Some("select 1"));
        assert_eq!(a.format, OutputFormat::Json);
        assert_eq!(a.verbose, 2);
        let b = parse(&["--hosts", "a", "--hosts", "c"]);
        assert_eq!(b.hosts, vec!["a", "c"]);
        assert_eq!(b.format, OutputFormat::Tabular);
        assert!(Cli::try_parse_from(["shell", "--format", "xml"]).is_err());
        assert!(Cli::try_parse_from(["shell", "-c", "x", "--sysinfo"]).is_err());
    }

    #[test]
    fn timeouts() {
        let s = |x: u64| Some(Duration::from_secs(x));
        assert_eq!(parse_timeout("5"), Ok((s(5), None)));
        assert_eq!(parse_timeout("2,10"), Ok((s(2), s(10))));
        assert_eq!(parse_timeout("-1,-1"), Ok((None, None)));
        assert_eq!(
            parse_timeout("0.5"),
            Ok((Some(Duration::from_millis(500)), None))
        );
        assert!(parse_timeout("x").is_err());
        assert!(parse_timeout("1,2,3").is_err());
    }
}
