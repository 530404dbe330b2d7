//! Statement splitting: turns lines of input into SQL statements and backslash commands.
//!
//! A statement ends at a `;` that is outside string literals (`'...'`, `''` escapes,
//! `E'...'` with backslash escapes), quoted identifiers (`"..."`), dollar-quoted strings
//! (`$$...$$`, `$tag$...$tag$`) and comments (`-- ...`, `/* ... */`). Several statements
//! may share a line and one statement may span many lines. A line starting with `\`
//! (outside any literal) is a backslash command; as in crash, it first flushes the SQL
//! typed before it. Statements are returned with their trailing `;`, as crash sends them.

/// One thing to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A SQL statement, trimmed, with its `;` if it had one.
    Statement(String),
    /// A backslash command line without the leading `\`, e.g. `format json`.
    Command(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Normal,
    /// Inside `'...'`; `true` for `E'...'` strings where `\` escapes.
    Single(bool),
    /// Inside `"..."`.
    Double,
    /// Inside `$tag$...$tag$`; holds the full delimiter.
    Dollar(String),
    /// Inside `/* ... */`.
    Block,
    /// Inside `-- ...` until the end of the line.
    Line,
}

/// Accumulates input and hands out complete statements and commands.
#[derive(Debug, Clone)]
pub struct Splitter {
    buf: String,
    state: State,
    /// Whether `buf` holds anything but whitespace and comments.
    content: bool,
}

impl Default for Splitter {
    fn default() -> Self {
        Splitter {
            buf: String::new(),
            state: State::Normal,
            content: false,
        }
    }
}

impl Splitter {
    /// An empty splitter.
    pub fn new() -> Self {
        Self::default()
    }

    /// True when nothing but whitespace and comments is pending and no literal or
    /// comment is open: the REPL shows its first-line prompt.
    pub fn is_blank(&self) -> bool {
        !self.content && matches!(self.state, State::Normal | State::Line)
    }

    /// Forgets the pending input (Ctrl-C in the REPL).
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// Feeds one line (without its line terminator); returns what became complete.
    pub fn push_line(&mut self, line: &str) -> Vec<Item> {
        let mut out = Vec::new();
        if matches!(self.state, State::Normal | State::Line) {
            self.state = State::Normal;
            if let Some(cmd) = line.trim_start().strip_prefix('\\') {
                if let Some(stmt) = self.take() {
                    out.push(Item::Statement(stmt));
                }
                self.buf.clear();
                self.content = false;
                out.push(Item::Command(cmd.trim().to_string()));
                return out;
            }
        }
        if !self.buf.is_empty() {
            self.buf.push('\n');
        }
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let next = chars.get(i + 1).copied();
            match &self.state {
                State::Normal => match c {
                    ';' => {
                        self.buf.push(';');
                        if let Some(stmt) = self.take() {
                            out.push(Item::Statement(stmt));
                        }
                        self.buf.clear();
                        self.content = false;
                        i += 1;
                        continue;
                    }
                    '\'' => {
                        let escapes = self.buf.ends_with(['E', 'e'])
                            && !self.buf[..self.buf.len() - 1].ends_with(is_ident_char);
                        self.state = State::Single(escapes);
                        self.content = true;
                    }
                    '"' => {
                        self.state = State::Double;
                        self.content = true;
                    }
                    '-' if next == Some('-') => {
                        self.state = State::Line;
                        self.buf.push_str("--");
                        i += 2;
                        continue;
                    }
                    '/' if next == Some('*') => {
                        self.state = State::Block;
                        self.buf.push_str("/*");
                        i += 2;
                        continue;
                    }
                    '$' => {
                        if let Some(tag) = dollar_tag(&chars[i..])
                            && !self.buf.ends_with(is_ident_char)
                        {
                            self.buf.push_str(&tag);
                            i += tag.chars().count();
                            self.state = State::Dollar(tag);
                            self.content = true;
                            continue;
                        }
                        self.content = true;
                    }
                    c if c.is_whitespace() => {}
                    _ => self.content = true,
                },
                State::Single(escapes) => {
                    if *escapes && c == '\\' {
                        self.buf.push(c);
                        if let Some(n) = next {
                            self.buf.push(n);
                        }
                        i += 2;
                        continue;
                    }
                    if c == '\'' {
                        if next == Some('\'') {
                            self.buf.push_str("''");
                            i += 2;
                            continue;
                        }
                        self.state = State::Normal;
                    }
                }
                State::Double => {
                    if c == '"' {
                        if next == Some('"') {
                            self.buf.push_str("\"\"");
                            i += 2;
                            continue;
                        }
                        self.state = State::Normal;
                    }
                }
                State::Dollar(tag) => {
                    let tag_chars: Vec<char> = tag.chars().collect();
                    if chars[i..].starts_with(&tag_chars) {
                        self.buf.push_str(&tag.clone());
                        i += tag_chars.len();
                        self.state = State::Normal;
                        continue;
                    }
                }
                State::Block => {
                    if c == '*' && next == Some('/') {
                        self.buf.push_str("*/");
                        i += 2;
                        self.state = State::Normal;
                        continue;
                    }
                }
                State::Line => {}
            }
            self.buf.push(c);
            i += 1;
        }
        if self.state == State::Line {
            self.state = State::Normal;
        }
        out
    }

    /// Feeds a whole text (e.g. `-c`), line by line, and flushes the rest.
    pub fn split_all(text: &str) -> Vec<Item> {
        let mut s = Splitter::new();
        let mut items = Vec::new();
        for line in text.lines() {
            items.extend(s.push_line(line));
        }
        items.extend(s.finish());
        items
    }

    /// Ends the input: returns the unterminated statement, if any (crash runs it too).
    pub fn finish(&mut self) -> Option<Item> {
        let stmt = self.take().map(Item::Statement);
        self.clear();
        stmt
    }

    /// The pending statement text, if it holds more than whitespace and comments.
    fn take(&self) -> Option<String> {
        if self.content {
            Some(self.buf.trim().to_string())
        } else {
            None
        }
    }
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `$$` or `$tag$` at the start of `chars` (a tag does not start with a digit, so `$1`
/// stays a parameter placeholder).
fn dollar_tag(chars: &[char]) -> Option<String> {
    if chars.first() != Some(&'$') {
        return None;
    }
    let mut tag = String::from("$");
    for (k, &c) in chars.iter().enumerate().skip(1) {
        if c == '$' {
            tag.push('$');
            return Some(tag);
        }
        if !(is_ident_char(c)) || (k == 1 && c.is_ascii_digit()) {
            return None;
        }
        tag.push(c);
    }
    None
}

/// The statement's command word as crash prints it in status lines: the first word
/// after whitespace and comments, upper-cased (`SELECT`, `CREATE`, ...).
pub fn command_word(stmt: &str) -> String {
    let mut rest = stmt;
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix("--") {
            rest = after.split_once('\n').map_or("", |(_, r)| r);
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.split_once("*/").map_or("", |(_, r)| r);
        } else {
            break;
        }
    }
    let word: String = rest
        .chars()
        .skip_while(|c| !is_ident_char(*c))
        .take_while(|c| is_ident_char(*c))
        .collect();
    word.to_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stmts(text: &str) -> Vec<String> {
        Splitter::split_all(text)
            .into_iter()
            .map(|i| match i {
                Item::Statement(s) => s,
                Item::Command(c) => format!("\\{c}"),
            })
            .collect()
    }

    #[test]
    fn one_statement_per_semicolon() {
        assert_eq!(stmts("select 1; select 2;"), vec!["select 1;", "select 2;"]);
        assert_eq!(stmts("select 1"), vec!["select 1"]);
        assert_eq!(stmts("  ;;  "), Vec::<String>::new());
    }

    #[test]
    fn multi_line_statements() {
        let mut s = Splitter::new();
        assert!(s.push_line("create table t (").is_empty());
        assert!(!s.is_blank());
        assert!(s.push_line("  a int").is_empty());
        assert_eq!(
            s.push_line(") with (number_of_replicas = 0); select"),
            vec![Item::Statement(
                "create table t (\n  a int\n) with (number_of_replicas = 0);".into()
            )]
        );
        assert_eq!(
            s.push_line("1;"),
            vec![Item::Statement("select\n1;".into())]
        );
        assert!(s.is_blank());
    }

    #[test]
    fn semicolons_in_quotes_and_comments() {
        assert_eq!(
            stmts("select 'a;b', \"c;d\";"),
            vec!["select 'a;b', \"c;d\";"]
        );
        assert_eq!(stmts("select 'it''s;' ;"), vec!["select 'it''s;' ;"]);
        assert_eq!(
            stmts("select \"a\"\";\" from t;"),
            vec!["select \"a\"\";\" from t;"]
        );
        assert_eq!(
            stmts("select 1 -- no; split\n;"),
            vec!["select 1 -- no; split\n;"]
        );
        assert_eq!(stmts("select /* ; */ 1;"), vec!["select /* ; */ 1;"]);
        assert_eq!(
            stmts("select /* multi\n;line */ 1;"),
            vec!["select /* multi\n;line */ 1;"]
        );
        assert_eq!(stmts("select E'a\\';b';"), vec!["select E'a\\';b';"]);
        assert_eq!(stmts("select 'a\\';b';"), vec!["select 'a\\';", "b';"]);
    }

    #[test]
    fn multi_line_string_literals() {
        assert_eq!(
            stmts("insert into t values ('a\n;\nb');"),
            vec!["insert into t values ('a\n;\nb');"]
        );
        // A line starting with a backslash inside a literal is not a command.
        assert_eq!(stmts("select 'x\n\\dt\n';"), vec!["select 'x\n\\dt\n';"]);
    }

    #[test]
    fn dollar_quoting() {
        assert_eq!(stmts("select $$a;b$$;"), vec!["select $$a;b$$;"]);
        assert_eq!(
            stmts("select $fn$ $$; $fn$; x;"),
            vec!["select $fn$ $$; $fn$;", "x;"]
        );
        assert_eq!(
            stmts("select $1; select $2;"),
            vec!["select $1;", "select $2;"]
        );
    }

    #[test]
    fn comment_only_input_is_not_a_statement() {
        assert_eq!(stmts("-- just a comment"), Vec::<String>::new());
        assert_eq!(stmts("/* c */"), Vec::<String>::new());
        assert_eq!(stmts("select 1; -- trailing"), vec!["select 1;"]);
        let mut s = Splitter::new();
        s.push_line("-- comment");
        assert!(s.is_blank());
        s.push_line("/* open");
        assert!(!s.is_blank());
    }

    #[test]
    fn backslash_commands_flush_pending_sql() {
        assert_eq!(
            stmts("select 1\n\\dt\nselect 2;"),
            vec!["select 1", "\\dt", "select 2;"]
        );
        assert_eq!(stmts("  \\format json  "), vec!["\\format json"]);
    }

    #[test]
    fn command_words() {
        assert_eq!(command_word("select 1;"), "SELECT");
        assert_eq!(command_word("  -- c\n /* d */ insert into t"), "INSERT");
        assert_eq!(command_word("(select 1)"), "SELECT");
        assert_eq!(command_word("refresh table t"), "REFRESH");
    }
}
