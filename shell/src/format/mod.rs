//! Result formatting: turns a result set into exactly the text crash prints on stdout.
//!
//! One file per format family: `tabular` (tables, via comfy-table), `json` (json, json_row,
//! raw), `csv`, `mixed` (mixed and dynamic). `pyjson` reproduces the Python printing
//! rules (float repr, `json.dumps`) they all share. Each function returns the complete
//! text including the trailing newline(s) crash writes, so callers print it verbatim.

mod csv;
mod json;
mod mixed;
pub mod pyjson;
mod tabular;

use std::fmt;
use std::str::FromStr;

use serde_json::{Number, Value};

/// The output formats of crash's `--format` / `\format`, in crash's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Tabular,
    Json,
    Csv,
    Raw,
    Mixed,
    Dynamic,
    JsonRow,
}

impl OutputFormat {
    /// All formats, in the order crash lists them.
    pub const ALL: [OutputFormat; 7] = [
        OutputFormat::Tabular,
        OutputFormat::Json,
        OutputFormat::Csv,
        OutputFormat::Raw,
        OutputFormat::Mixed,
        OutputFormat::Dynamic,
        OutputFormat::JsonRow,
    ];

    /// The format's name as typed by the user.
    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Tabular => "tabular",
            OutputFormat::Json => "json",
            OutputFormat::Csv => "csv",
            OutputFormat::Raw => "raw",
            OutputFormat::Mixed => "mixed",
            OutputFormat::Dynamic => "dynamic",
            OutputFormat::JsonRow => "json_row",
        }
    }

    /// `tabular, json, csv, raw, mixed, dynamic, json_row`.
    pub fn names() -> String {
        Self::ALL
            .iter()
            .map(|f| f.name())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for OutputFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                format!(
                    "{s} is not a valid output format.\nUse one of: {}",
                    Self::names()
                )
            })
    }
}

/// A result set as crash sees it through crate-python's cursor.
#[derive(Debug, Clone, Copy)]
pub struct ResultSet<'a> {
    /// Column names (`cols`).
    pub cols: &'a [String],
    /// Rows (`rows`).
    pub rows: &'a [Vec<Value>],
    /// `cursor.rowcount`: -1 when unknown.
    pub rowcount: i64,
    /// Server-side duration in milliseconds as sent (`None`: absent, i.e. -1).
    pub duration: Option<&'a Number>,
}

/// Where the output goes: terminal width for `mixed`/`dynamic`, colours for a terminal.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// Columns of the output (crash uses 80 when not in the interactive shell).
    pub width: usize,
    /// Whether to colour column names (`mixed`) as crash does on a terminal.
    pub color: bool,
}

impl Default for Target {
    fn default() -> Self {
        Target {
            width: 80,
            color: false,
        }
    }
}

/// Renders `rs` in `format`: the exact text crash writes to stdout for it.
pub fn render(format: OutputFormat, rs: &ResultSet, target: Target) -> String {
    match format {
        OutputFormat::Tabular => tabular::table(rs) + "\n",
        OutputFormat::Json => json::json(rs),
        OutputFormat::JsonRow => json::json_row(rs),
        OutputFormat::Raw => json::raw(rs),
        OutputFormat::Csv => csv::csv(rs),
        OutputFormat::Mixed => mixed::mixed(rs, target),
        OutputFormat::Dynamic => {
            if mixed::needs_mixed(rs, target.width) {
                mixed::mixed(rs, target)
            } else {
                tabular::table(rs) + "\n"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_names_round_trip() {
        for f in OutputFormat::ALL {
            assert_eq!(f.name().parse::<OutputFormat>(), Ok(f));
        }
        assert_eq!(
            "xml".parse::<OutputFormat>().unwrap_err(),
            "xml is not a valid output format.\nUse one of: tabular, json, csv, raw, mixed, dynamic, json_row"
        );
    }
}
