//! The line editor's helper: completion (keywords, backslash commands and their
//! arguments, table and column names), keyword highlighting, and auto-capitalization of
//! keywords as they are typed. The word lists live in a shared [`Vocabulary`] that the
//! REPL refreshes from the server.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, RwLock};

use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{
    Cmd, ConditionalEventHandler, Context, Event, EventContext, KeyCode, Movement, RepeatCount,
};

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
                    .filter(|(n, _)| n.starts_with(cmd_line))
                    .map(|(n, _)| format!("\\{n}"));
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
    /// Colour keywords, strings, numbers and comments.
    pub highlight: bool,
}

impl ShellHelper {
    /// A helper reading words from `vocab`.
    pub fn new(vocab: SharedVocabulary, highlight: bool) -> ShellHelper {
        ShellHelper {
            vocab,
            files: FilenameCompleter::new(),
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

/// `line` with ANSI colours for keywords, strings, numbers and comments.
pub fn highlight_sql(v: &Vocabulary, line: &str) -> String {
    if line.trim_start().starts_with('\\') {
        return line.to_string();
    }
    let mut out = String::with_capacity(line.len() + 16);
    for t in tokens(line) {
        let text = &line[t.start..t.end];
        let color = match t.kind {
            Kind::Word if v.is_keyword(text) => Some(KEYWORD),
            Kind::Str => Some(STRING),
            Kind::Number => Some(NUMBER),
            Kind::Comment => Some(COMMENT),
            _ => None,
        };
        match color {
            Some(c) => {
                out.push_str(c);
                out.push_str(text);
                out.push_str(RESET);
            }
            None => out.push_str(text),
        }
    }
    out
}

impl Highlighter for ShellHelper {
    fn highlight<'l>(&self, line: &'l str, _pos: usize) -> Cow<'l, str> {
        if !self.highlight {
            return Cow::Borrowed(line);
        }
        match self.vocab.read() {
            Ok(v) => Cow::Owned(highlight_sql(&v, line)),
            Err(_) => Cow::Borrowed(line),
        }
    }

    fn highlight_char(&self, _line: &str, _pos: usize, _kind: CmdKind) -> bool {
        self.highlight
    }
}

impl rustyline::Helper for ShellHelper {}

/// Upper-cases the keyword just typed when a word ends (space, comma, parenthesis,
/// semicolon), if `\autocapitalize` is on.
pub struct Capitalize(pub SharedVocabulary);

/// The replacement for the word before `pos` when `typed` ends it: `(chars to replace,
/// new text)`.
pub fn capitalize(v: &Vocabulary, line: &str, pos: usize, typed: char) -> Option<(usize, String)> {
    if !v.autocapitalize || line.trim_start().starts_with('\\') {
        return None;
    }
    let t = token_before(line, pos)?;
    if t.kind != Kind::Word || t.end != pos {
        return None;
    }
    let word = &line[t.start..t.end];
    let upper = word.to_uppercase();
    if !v.is_keyword(word) || upper == word {
        return None;
    }
    Some((word.chars().count(), format!("{upper}{typed}")))
}

impl ConditionalEventHandler for Capitalize {
    fn handle(
        &self,
        evt: &Event,
        _n: RepeatCount,
        _positive: bool,
        ctx: &EventContext,
    ) -> Option<Cmd> {
        let typed = match evt.get(0)? {
            rustyline::KeyEvent(KeyCode::Char(c), _) => *c,
            _ => return None,
        };
        let v = self.0.read().ok()?;
        let (n, text) = capitalize(&v, ctx.line(), ctx.pos(), typed)?;
        Some(Cmd::Replace(
            Movement::BackwardChar(u16::try_from(n).ok()?),
            Some(text),
        ))
    }
}

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
        assert_eq!(
            highlight_sql(&vocab(), "select 'x', 1 -- c"),
            "\x1b[1;34mselect\x1b[0m \x1b[32m'x'\x1b[0m, \x1b[35m1\x1b[0m \x1b[90m-- c\x1b[0m"
        );
        assert_eq!(highlight_sql(&vocab(), "\\format json"), "\\format json");
    }

    #[test]
    fn capitalizes_keywords() {
        let mut v = vocab();
        assert_eq!(capitalize(&v, "select", 6, ' '), None);
        v.autocapitalize = true;
        assert_eq!(
            capitalize(&v, "select", 6, ' '),
            Some((6, "SELECT ".to_string()))
        );
        assert_eq!(capitalize(&v, "SELECT name", 11, ','), None);
        assert_eq!(capitalize(&v, "select 'from", 12, ' '), None);
        assert_eq!(
            capitalize(&v, "SELECT 1 from", 13, ' '),
            Some((4, "FROM ".to_string()))
        );
    }
}
