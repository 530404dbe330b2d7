//! The `tabular` format: crash's `+---+` tables, drawn with comfy-table.
//!
//! crash draws tables with python-tabulate (format "cratedb", `numalign="decimal"`,
//! `stralign="left"`, `MIN_PADDING=0`, `missingval="NULL"`). Which column is a number,
//! how numbers are decimal-aligned and how cells are stripped follow tabulate's rules,
//! worked out here; comfy-table then draws the borders around the padded cells.

use comfy_table::{Cell, CellAlignment, ContentArrangement, Table};
use serde_json::Value;
use unicode_width::UnicodeWidthStr;

use super::ResultSet;
use super::pyjson::{Dumps, number_repr, py_isint, py_isnumber, py_strip};

/// A cell after crash's `_transform_field` and tabulate's type detection.
#[derive(Debug, Clone)]
enum Py {
    None,
    Int(String),
    Float(String),
    Str(String),
}

/// tabulate's type lattice, least generic first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum ColType {
    None,
    Bool,
    Int,
    Float,
    Str,
}

/// crash's `_transform_field`: booleans to `TRUE`/`FALSE`, objects and arrays to JSON
/// with sorted keys (non-ASCII kept).
fn transform(v: &Value) -> Py {
    match v {
        Value::Null => Py::None,
        Value::Bool(b) => Py::Str(if *b { "TRUE" } else { "FALSE" }.into()),
        Value::Number(n) if n.is_f64() => Py::Float(number_repr(n)),
        Value::Number(n) => Py::Int(number_repr(n)),
        Value::String(s) => Py::Str(s.clone()),
        Value::Array(_) | Value::Object(_) => Py::Str(
            Dumps {
                sort_keys: true,
                indent: None,
                ensure_ascii: false,
            }
            .dumps(v),
        ),
    }
}

/// tabulate's `_type`.
fn cell_type(p: &Py) -> ColType {
    match p {
        Py::None => ColType::None,
        Py::Int(_) => ColType::Int,
        Py::Float(_) => ColType::Float,
        Py::Str(s) if s == "True" || s == "False" => ColType::Bool,
        Py::Str(s) if py_isint(s) => ColType::Int,
        Py::Str(s) if py_isnumber(s) => ColType::Float,
        Py::Str(_) => ColType::Str,
    }
}

fn text(p: &Py) -> String {
    match p {
        Py::None => "NULL".into(),
        Py::Int(s) | Py::Float(s) | Py::Str(s) => s.clone(),
    }
}

/// tabulate's `_afterpoint`: digits after the decimal point (or after `e`), -1 if none.
fn afterpoint(s: &str) -> isize {
    if !py_isnumber(s) || py_isint(s) {
        return -1;
    }
    let pos = s.rfind('.').or_else(|| s.to_ascii_lowercase().rfind('e'));
    match pos {
        Some(p) => (s.len() - p - 1) as isize,
        None => -1,
    }
}

/// Splits a cell into its lines like Python's `str.splitlines` for `\n`, `\r\n`, `\r`.
fn lines(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        match rest.find(['\n', '\r']) {
            Some(i) => {
                out.push(&rest[..i]);
                let skip = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = &rest[i + skip..];
            }
            None => {
                out.push(rest);
                break;
            }
        }
    }
    out
}

fn width(s: &str) -> usize {
    lines(s).iter().map(|l| l.width()).max().unwrap_or(0)
}

fn pad_left(s: &str, w: usize) -> String {
    format!("{}{s}", " ".repeat(w.saturating_sub(s.width())))
}

fn pad_right(s: &str, w: usize) -> String {
    format!("{s}{}", " ".repeat(w.saturating_sub(s.width())))
}

/// Renders `rs` as crash's tabular output (without the final newline crash adds).
pub fn table(rs: &ResultSet) -> String {
    let ncols = rs.cols.len();
    let cells: Vec<Vec<Py>> = rs
        .rows
        .iter()
        .map(|row| {
            (0..ncols)
                .map(|i| row.get(i).map_or(Py::None, transform))
                .collect()
        })
        .collect();

    // Column types and alignment, as tabulate decides them (`reduce(_more_generic, ..., bool)`).
    let types: Vec<ColType> = (0..ncols)
        .map(|c| {
            cells
                .iter()
                .map(|r| cell_type(&r[c]))
                .fold(ColType::Bool, ColType::max)
        })
        .collect();
    let numeric: Vec<bool> = types
        .iter()
        .map(|t| matches!(t, ColType::Int | ColType::Float))
        .collect();

    // Cell strings, stripped (text) or decimal-aligned (numbers).
    let mut columns: Vec<Vec<String>> = Vec::with_capacity(ncols);
    for c in 0..ncols {
        let strings: Vec<String> = cells.iter().map(|r| text(&r[c])).collect();
        let strings = if numeric[c] {
            let decimals: Vec<isize> = strings.iter().map(|s| afterpoint(s)).collect();
            let max = decimals.iter().copied().max().unwrap_or(-1);
            strings
                .iter()
                .zip(&decimals)
                .map(|(s, d)| format!("{s}{}", " ".repeat((max - d) as usize)))
                .collect()
        } else {
            strings.iter().map(|s| py_strip(s).to_string()).collect()
        };
        columns.push(strings);
    }
    let widths: Vec<usize> = (0..ncols)
        .map(|c| {
            let header = width(&rs.cols[c]);
            columns[c].iter().map(|s| width(s)).fold(header, usize::max)
        })
        .collect();

    // Pad every line of every cell to the column width, so comfy-table only draws borders.
    let pad = |s: &str, c: usize| -> String {
        let parts = lines(s);
        if parts.is_empty() {
            return " ".repeat(widths[c]);
        }
        parts
            .iter()
            .map(|l| {
                if numeric[c] {
                    pad_left(l, widths[c])
                } else {
                    pad_right(l, widths[c])
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    };

    let mut t = Table::new();
    t.load_style(CRASH_STYLE);
    t.set_content_arrangement(ContentArrangement::Disabled);
    t.set_header(
        rs.cols
            .iter()
            .enumerate()
            .map(|(c, h)| Cell::new(pad(h, c)))
            .collect::<Vec<_>>(),
    );
    let nrows = cells.len();
    for r in 0..nrows {
        let row: Vec<Cell> = columns
            .iter()
            .enumerate()
            .map(|(c, col)| Cell::new(pad(&col[r], c)))
            .collect();
        t.add_row(row);
    }
    for col in t.column_iter_mut() {
        col.set_cell_alignment(CellAlignment::Left);
    }
    t.lines().collect::<Vec<_>>().join("\n")
}

/// The "cratedb" tabulate format: `+---+` lines above, below the header and at the end,
/// `|` between cells, no lines between rows.
const CRASH_STYLE: comfy_table::TableStyle = comfy_table::TableStyle::new()
    .top_border(comfy_table::LineStyle::new('+', '-', '+', '+'))
    .header_lines(comfy_table::ContentLineStyle::new('|', '|', '|'))
    .header_separator(comfy_table::LineStyle::new('+', '-', '+', '+'))
    .content_lines(comfy_table::ContentLineStyle::new('|', '|', '|'))
    .bottom_border(comfy_table::LineStyle::new('+', '-', '+', '+'));
