//! The line editor's helper: completion (keywords, backslash commands and their
//! arguments, table and column names), syntax highlighting, and `\autocapitalize`
//! (keywords are shown upper-case as soon as a word is finished, and the accepted input
//! is capitalized the same way before it runs). The word lists live in a shared [`Vocabulary`] that the
//! REPL refreshes from the server.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, RwLock};

use rustyline::Context;
use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::Hinter;
use rustyline::validate::Validator;

use crate::commands::{CHECKS, COMMANDS};
use crate::format::OutputFormat;
use crate::lex::{Kind, token_before, tokens};

/// Words the editor knows, and the toggles that govern completion and capitalization.
#[derive(Debug, Clone, Default)]
pub struct Vocabulary {
    /// Lower-case keywords.
    pub keywords: HashSet<String>,
    /// `(schema, table)` pairs.
    pub tables: Vec<(String, String)>,
    /// `(schema, table, column)` triples.
    pub columns: Vec<(String, String, String)>,
    /// The backend's own backslash commands (the simulated cluster's).
    pub commands: Vec<String>,
    /// `\autocomplete`.
    pub autocomplete: bool,
    /// `\autocapitalize`.
    pub autocapitalize: bool,
}

impl Vocabulary {
    /// A vocabulary with these keywords and nothing else.
    pub fn with_keywords(words: Vec<String>) -> Vocabulary {
        Vocabulary {
            keywords: words.into_iter().map(|w| w.to_lowercase()).collect(),
            autocomplete: true,
            ..Vocabulary::default()
        }
    }

    fn is_keyword(&self, word: &str) -> bool {
        self.keywords.contains(&word.to_lowercase())
    }
}

/// Shared between the REPL, the helper and the key handler.
pub type SharedVocabulary = Arc<RwLock<Vocabulary>>;

/// Keywords after which a table name is expected.
const TABLE_CONTEXT: &[&str] = &[
    "from", "join", "into", "update", "table", "describe", "copy",
];

/// Quotes an identifier when it is not a plain lower-case one.
fn ident(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

fn starts_with_ci(word: &str, prefix: &str) -> bool {
    word.to_lowercase().starts_with(&prefix.to_lowercase())
}

fn pairs(words: impl IntoIterator<Item = String>) -> Vec<Pair> {
    words
        .into_iter()
        .map(|w| Pair {
            display: w.clone(),
            replacement: w,
        })
        .collect()
}

/// What to complete at `pos` in `line`: the start of the replaced text and candidates.
/// `\r` file names are left to the caller (they need the file system).
pub fn candidates(v: &Vocabulary, line: &str, pos: usize) -> (usize, Vec<Pair>) {
    if !v.autocomplete {
        return (pos, Vec::new());
    }
    let before = &line[..pos];
    let trimmed = before.trim_start();
    if let Some(cmd_line) = trimmed.strip_prefix('\\') {
        let offset = before.len() - trimmed.len();
        return match cmd_line.split_once(' ') {
            None => {
                let names = COMMANDS
                    .iter()
                    .map(|(n, _)| *n)
                    .chain(v.commands.iter().map(String::as_str))
                    .filter(|n| n.starts_with(cmd_line))
                    .map(|n| format!("\\{n}"));
                (offset, pairs(names))
            }
            Some((cmd, arg)) => {
                let start = pos - arg.len();
                let words: Vec<String> = match cmd {
                    "format" => OutputFormat::ALL
                        .iter()
                        .map(|f| f.name().to_string())
                        .collect(),
                    "check" => CHECKS.iter().map(|c| c.to_string()).collect(),
                    _ => Vec::new(),
                };
                (
                    start,
                    pairs(words.into_iter().filter(|w| w.starts_with(arg))),
                )
            }
        };
    }
    if let Some(t) = token_before(line, pos)
        && matches!(
            t.kind,
            Kind::Str | Kind::Comment | Kind::Quoted | Kind::Number
        )
    {
        return (pos, Vec::new());
    }
    let word_start = before
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_alphanumeric() || *c == '_' || *c == '.')
        .last()
        .map_or(pos, |(i, _)| i);
    let word = &before[word_start..];
    if let Some((qualifier, part)) = word.rsplit_once('.') {
        let start = pos - part.len();
        let q = qualifier.trim_matches('"');
        let mut found = BTreeSet::new();
        for (schema, table) in &v.tables {
            if schema.eq_ignore_ascii_case(q) && starts_with_ci(table, part) {
                found.insert(ident(table));
            }
        }
        for (_, table, column) in &v.columns {
            if table.eq_ignore_ascii_case(q) && starts_with_ci(column, part) {
                found.insert(ident(column));
            }
        }
        return (start, pairs(found));
    }
    let previous = tokens(&before[..word_start])
        .into_iter()
        .rev()
        .find(|t| t.kind != Kind::Space)
        .map(|t| before[t.start..t.end].to_lowercase());
    let wants_table = previous
        .as_deref()
        .is_some_and(|p| TABLE_CONTEXT.contains(&p));
    if word.is_empty() && !wants_table {
        return (pos, Vec::new());
    }
    let mut tables = BTreeSet::new();
    for (schema, table) in &v.tables {
        let name = if schema == "doc" {
            ident(table)
        } else {
            format!("{}.{}", ident(schema), ident(table))
        };
        if starts_with_ci(table, word) || starts_with_ci(&name, word) {
            tables.insert(name);
        }
    }
    if wants_table {
        return (word_start, pairs(tables));
    }
    let keywords: BTreeSet<String> = v
        .keywords
        .iter()
        .filter(|k| k.starts_with(&word.to_lowercase()))
        .map(|k| k.to_uppercase())
        .collect();
    let columns: BTreeSet<String> = v
        .columns
        .iter()
        .filter(|(_, _, c)| starts_with_ci(c, word))
        .map(|(_, _, c)| ident(c))
        .collect();
    let mut seen = HashSet::new();
    let all = keywords
        .into_iter()
        .chain(columns)
        .chain(tables)
        .filter(|w| seen.insert(w.clone()));
    (word_start, pairs(all))
}

/// rustyline's helper for the REPL.
pub struct ShellHelper {
    vocab: SharedVocabulary,
    files: FilenameCompleter,
    /// Set for the final drawing of an accepted line.
    final_refresh: std::cell::Cell<bool>,
    /// Colour keywords, strings, numbers and comments.
    pub highlight: bool,
}

impl ShellHelper {
    /// A helper reading words from `vocab`.
    pub fn new(vocab: SharedVocabulary, highlight: bool) -> ShellHelper {
        ShellHelper {
            vocab,
            files: FilenameCompleter::new(),
            final_refresh: std::cell::Cell::new(false),
            highlight,
        }
    }
}

impl Completer for ShellHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let trimmed = line[..pos].trim_start();
        let autocomplete = self.vocab.read().map(|v| v.autocomplete).unwrap_or(false);
        if autocomplete && (trimmed.starts_with("\\r ") || trimmed.starts_with("\\R ")) {
            return self.files.complete(line, pos, ctx);
        }
        match self.vocab.read() {
            Ok(v) => Ok(candidates(&v, line, pos)),
            Err(_) => Ok((pos, Vec::new())),
        }
    }
}

impl Hinter for ShellHelper {
    type Hint = String;
}

impl Validator for ShellHelper {}

const KEYWORD: &str = "\x1b[1;34m";
const STRING: &str = "\x1b[32m";
const NUMBER: &str = "\x1b[35m";
const COMMENT: &str = "\x1b[90m";
const RESET: &str = "\x1b[0m";

/// How to draw the line being edited.
#[derive(Debug, Clone, Copy)]
pub struct Look {
    /// ANSI colours for keywords, strings, numbers and comments.
    pub color: bool,
    /// Show keywords upper-case (`\autocapitalize`), except the word at `cursor` while
    /// it is still being typed.
    pub capitalize: bool,
    /// The cursor's byte position, or `None` for the final drawing of an accepted line.
    pub cursor: Option<usize>,
}

/// `line` as the editor shows it: coloured and/or with keywords capitalized. The text
/// keeps its display width, as rustyline requires.
pub fn render_line(v: &Vocabulary, line: &str, look: Look) -> String {
    if line.trim_start().starts_with('\\') {
        return line.to_string();
    }
    let mut out = String::with_capacity(line.len() + 16);
    for t in tokens(line) {
        let text = &line[t.start..t.end];
        let keyword = t.kind == Kind::Word && v.is_keyword(text);
        let typing = look.cursor == Some(t.end);
        let shown = if keyword && look.capitalize && !typing && text.is_ascii() {
            Cow::Owned(text.to_ascii_uppercase())
        } else {
            Cow::Borrowed(text)
        };
        let color = match t.kind {
            _ if !look.color => None,
            Kind::Word if keyword => Some(KEYWORD),
            Kind::Str => Some(STRING),
            Kind::Number => Some(NUMBER),
            Kind::Comment => Some(COMMENT),
            _ => None,
        };
        match color {
            Some(c) => {
                out.push_str(c);
                out.push_str(&shown);
                out.push_str(RESET);
            }
            None => out.push_str(&shown),
        }
    }
    out
}

/// `\autocapitalize`: the accepted input with its keywords upper-cased (words outside
/// strings, quoted identifiers and comments only, so the statement means the same).
pub fn capitalize_keywords(v: &Vocabulary, text: &str) -> String {
    let look = Look {
        color: false,
        capitalize: true,
        cursor: None,
    };
    text.split('\n')
        .map(|line| render_line(v, line, look))
        .collect::<Vec<_>>()
        .join("\n")
}

impl Highlighter for ShellHelper {
    fn highlight<'l>(&self, line: &'l str, pos: usize) -> Cow<'l, str> {
        let Ok(v) = self.vocab.read() else {
            return Cow::Borrowed(line);
        };
        if !self.highlight && !v.autocapitalize {
            return Cow::Borrowed(line);
        }
        let cursor = if self.final_refresh.get() {
            None
        } else {
            Some(pos)
        };
        let look = Look {
            color: self.highlight,
            capitalize: v.autocapitalize,
            cursor,
        };
        Cow::Owned(render_line(&v, line, look))
    }

    fn highlight_char(&self, _line: &str, _pos: usize, kind: CmdKind) -> bool {
        self.final_refresh.set(kind == CmdKind::ForcedRefresh);
        true
    }
}

impl rustyline::Helper for ShellHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab() -> Vocabulary {
        let mut v = Vocabulary::with_keywords(vec!["select".into(), "from".into(), "set".into()]);
        v.tables = vec![
            ("doc".into(), "locations".into()),
            ("sys".into(), "nodes".into()),
        ];
        v.columns = vec![
            ("doc".into(), "locations".into(), "name".into()),
            ("doc".into(), "locations".into(), "Position".into()),
            ("sys".into(), "nodes".into(), "hostname".into()),
        ];
        v
    }

    fn words(line: &str) -> (usize, Vec<String>) {
        let (start, c) = candidates(&vocab(), line, line.len());
        (start, c.into_iter().map(|p| p.replacement).collect())
    }

    #[test]
    fn completes_keywords_columns_and_tables() {
        assert_eq!(words("sel"), (0, vec!["SELECT".to_string()]));
        assert_eq!(words("select na"), (7, vec!["name".to_string()]));
        assert_eq!(
            words("select * from "),
            (14, vec!["locations".to_string(), "sys.nodes".to_string()])
        );
        assert_eq!(
            words("select * from sys.n"),
            (18, vec!["nodes".to_string()])
        );
        assert_eq!(
            words("select locations.p"),
            (17, vec!["\"Position\"".to_string()])
        );
        assert_eq!(words("select 'sel"), (11, vec![]));
        assert_eq!(words("select "), (7, vec![]));
    }

    #[test]
    fn completes_backslash_commands() {
        assert_eq!(words("\\fo"), (0, vec!["\\format".to_string()]));
        assert_eq!(words("\\c").1, vec!["\\c", "\\check", "\\connect"]);
        assert_eq!(
            words("\\format js"),
            (8, vec!["json".to_string(), "json_row".to_string()])
        );
        assert_eq!(words("\\check n"), (7, vec!["nodes".to_string()]));
        let mut off = vocab();
        off.autocomplete = false;
        assert!(candidates(&off, "sel", 3).1.is_empty());
    }

    #[test]
    fn highlights_keywords() {
        let look = Look {
            color: true,
            capitalize: false,
            cursor: None,
        };
        assert_eq!(
            render_line(&vocab(), "select 'x', 1 -- c", look),
            "\x1b[1;34mselect\x1b[0m \x1b[32m'x'\x1b[0m, \x1b[35m1\x1b[0m \x1b[90m-- c\x1b[0m"
        );
        assert_eq!(
            render_line(&vocab(), "\\format json", look),
            "\\format json"
        );
    }

    #[test]
    fn capitalizes_keywords() {
        let v = vocab();
        let typing = Look {
            color: false,
            capitalize: true,
            cursor: Some(15),
        };
        // The word under the cursor is still being typed.
        assert_eq!(
            render_line(
                &v,
                "select a from t",
                Look {
                    cursor: Some(15),
                    ..typing
                }
            ),
            "SELECT a FROM t"
        );
        assert_eq!(
            render_line(
                &v,
                "select a from",
                Look {
                    cursor: Some(13),
                    ..typing
                }
            ),
            "SELECT a from"
        );
        assert_eq!(
            capitalize_keywords(&v, "select 'from', \"from\" -- from\nfrom t"),
            "SELECT 'from', \"from\" -- from\nFROM t"
        );
    }
}
