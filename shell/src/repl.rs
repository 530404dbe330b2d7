//! The interactive loop: rustyline with prompt `cr> ` and continuation prompt `... `,
//! persistent history (one entry per statement, multi-line statements kept whole),
//! Ctrl-C to clear the current input, Ctrl-D to leave (`Bye!`), completion and
//! highlighting from the server's keywords, tables and columns.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, RwLock};

use rustyline::Editor;
use rustyline::config::{CompletionType, Config};
use rustyline::error::ReadlineError;
use rustyline::history::{FileHistory, History};

use crate::complete::{SharedVocabulary, ShellHelper, Vocabulary, capitalize_keywords};
use crate::progress::Watch;
use crate::session::{Flow, Session};
use crate::split::Splitter;

/// The first-line prompt, as crash's.
pub const PROMPT: &str = "cr> ";
/// The prompt for continuation lines of an unfinished statement (as crash's docs show).
pub const CONTINUATION: &str = "... ";
/// crash keeps the last 10000 history entries.
pub const MAX_HISTORY: usize = 10_000;

fn sync_settings(session: &Session, vocab: &SharedVocabulary) {
    if let Ok(mut v) = vocab.write() {
        v.autocomplete = session.autocomplete;
        v.autocapitalize = session.autocapitalize;
    }
}

fn refresh_schema(session: &mut Session, vocab: &SharedVocabulary) {
    let mut fresh = match vocab.read() {
        Ok(v) => v.clone(),
        Err(_) => return,
    };
    session.backend.load_schema(&mut fresh);
    if let Ok(mut v) = vocab.write() {
        v.tables = fresh.tables;
        v.columns = fresh.columns;
    }
    session.schema_changed = false;
}

/// Runs the REPL until `\q` or Ctrl-D.
pub fn run(session: &mut Session, history: Option<PathBuf>) {
    let interrupt = Arc::new(AtomicBool::new(false));
    let registered =
        signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&interrupt)).is_ok();
    session.watch = Watch {
        spinner: session.watch.spinner,
        interrupt: if registered { Some(interrupt) } else { None },
    };
    session.interactive = true;

    let vocab: SharedVocabulary = Arc::new(RwLock::new(Vocabulary::with_keywords(
        session.backend.keywords(),
    )));
    if let Ok(mut v) = vocab.write() {
        let own = session.backend.commands().iter();
        v.commands = own.map(|(name, _)| name.to_string()).collect();
    }
    refresh_schema(session, &vocab);
    sync_settings(session, &vocab);

    let config = Config::builder()
        .completion_type(CompletionType::List)
        .auto_add_history(false)
        .max_history_size(MAX_HISTORY)
        .and_then(|b| b.history_ignore_dups(true))
        .map(|b| b.build())
        .unwrap_or_default();
    let mut editor: Editor<ShellHelper, FileHistory> = match Editor::with_config(config) {
        Ok(e) => e,
        Err(e) => {
            session
                .printer
                .critical(&format!("cannot start the line editor: {e}"));
            session.failed = true;
            return;
        }
    };
    editor.set_helper(Some(ShellHelper::new(Arc::clone(&vocab), true)));
    if let Some(path) = &history {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        if path.exists()
            && let Err(e) = editor.load_history(path)
        {
            session
                .printer
                .warn(&format!("could not read history {}: {e}", path.display()));
        }
    }

    let mut splitter = Splitter::new();
    let mut entry: Vec<String> = Vec::new();
    loop {
        if session.schema_changed {
            refresh_schema(session, &vocab);
        }
        sync_settings(session, &vocab);
        let prompt = if splitter.is_blank() {
            PROMPT
        } else {
            CONTINUATION
        };
        match editor.readline(prompt) {
            Ok(input) => {
                let input = match vocab.read() {
                    Ok(v) if v.autocapitalize => capitalize_keywords(&v, &input),
                    _ => input,
                };
                let mut flow = Flow::Continue;
                for line in input.split('\n') {
                    let line = line.strip_suffix('\r').unwrap_or(line);
                    entry.push(line.to_string());
                    for item in splitter.push_line(line) {
                        if flow == Flow::Continue {
                            flow = session.run_item(item);
                        }
                    }
                }
                if flow == Flow::Interrupted {
                    splitter.clear();
                }
                if splitter.is_blank() {
                    let text = entry.join("\n");
                    entry.clear();
                    if !text.trim().is_empty() {
                        let _ = editor.add_history_entry(text.trim());
                        if let Some(path) = &history {
                            let _ = editor.append_history(path);
                        }
                    }
                }
                if flow == Flow::Quit {
                    break;
                }
            }
            Err(ReadlineError::Interrupted) => {
                splitter.clear();
                entry.clear();
            }
            Err(ReadlineError::Eof) => {
                session.printer.warn("Bye!");
                break;
            }
            Err(e) => {
                session.printer.critical(&format!("input error: {e}"));
                session.failed = true;
                break;
            }
        }
    }
    if let Some(path) = &history
        && editor.history().len() > 0
    {
        let _ = editor.append_history(path);
    }
}
