//! Where text goes: results to stdout (through a pager when they do not fit the
//! terminal), messages to stderr in crash's colours (info green, warn yellow, critical
//! bright red) when stderr is a terminal.

use std::io::{self, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const RED_BRIGHT: &str = "\x1b[31m\x1b[1m";
const RESET: &str = "\x1b[0m";

/// The pager setting (`\pager`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pager {
    /// `$PAGER`, else `less -SRXF`, used only when a result does not fit the terminal.
    Auto,
    /// This command, used only when a result does not fit the terminal.
    Command(String),
    /// Never page.
    Off,
}

impl Pager {
    /// The command to run, if any.
    fn command(&self) -> Option<String> {
        match self {
            Pager::Off => None,
            Pager::Command(c) => Some(c.clone()),
            Pager::Auto => match std::env::var("PAGER") {
                Ok(p) if !p.trim().is_empty() => Some(p),
                _ => Some("less -SRXF".to_string()),
            },
        }
    }
}

/// An output stream shared with tests.
#[derive(Clone, Default)]
pub struct Buffer(pub Arc<Mutex<Vec<u8>>>);

impl Buffer {
    /// Everything written so far, as text.
    pub fn text(&self) -> String {
        self.0
            .lock()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Takes everything written so far.
    pub fn take(&self) -> String {
        self.0
            .lock()
            .map(|mut b| String::from_utf8_lossy(&std::mem::take(&mut *b)).into_owned())
            .unwrap_or_default()
    }
}

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| io::Error::other("poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes results and messages.
pub struct Printer {
    out: Box<dyn Write>,
    err: Box<dyn Write>,
    /// Colour messages (stderr is a terminal).
    pub color: bool,
    /// Stdout is an interactive terminal: results may be paged, widths follow it.
    pub terminal: bool,
    /// The pager setting.
    pub pager: Pager,
}

impl Printer {
    /// Prints to the process's stdout and stderr.
    pub fn stdio(color: bool, terminal: bool) -> Printer {
        Printer {
            out: Box::new(io::stdout()),
            err: Box::new(io::stderr()),
            color,
            terminal,
            pager: Pager::Auto,
        }
    }

    /// Prints into buffers (tests).
    pub fn buffers(out: Buffer, err: Buffer) -> Printer {
        Printer {
            out: Box::new(out),
            err: Box::new(err),
            color: false,
            terminal: false,
            pager: Pager::Off,
        }
    }

    /// The terminal's size, or 80x24 when there is none.
    pub fn size(&self) -> (usize, usize) {
        if self.terminal
            && let Ok((w, h)) = crossterm::terminal::size()
        {
            return (usize::from(w.max(1)), usize::from(h.max(1)));
        }
        (80, 24)
    }

    /// Writes a rendered result, through the pager when it does not fit the terminal.
    pub fn result(&mut self, text: &str) {
        if self.terminal
            && self.too_big(text)
            && let Some(cmd) = self.pager.command()
        {
            let _ = self.out.flush();
            if page(&cmd, text).is_ok() {
                return;
            }
        }
        let _ = self.out.write_all(text.as_bytes());
        let _ = self.out.flush();
    }

    fn too_big(&self, text: &str) -> bool {
        let (w, h) = self.size();
        let mut lines = 0;
        for line in text.lines() {
            lines += 1;
            if unicode_width::UnicodeWidthStr::width(line) > w || lines >= h {
                return true;
            }
        }
        false
    }

    fn log(&mut self, color: &str, text: &str) {
        let _ = self.out.flush();
        let line = if self.color {
            format!("{color}{text}{RESET}\n")
        } else {
            format!("{text}\n")
        };
        let _ = self.err.write_all(line.as_bytes());
        let _ = self.err.flush();
    }

    /// A normal message (status lines, `CONNECT OK`).
    pub fn info(&mut self, text: &str) {
        self.log(GREEN, text);
    }

    /// A warning (`Bye!`, connection hints).
    pub fn warn(&mut self, text: &str) {
        self.log(YELLOW, text);
    }

    /// An error (server error messages, unknown commands).
    pub fn critical(&mut self, text: &str) {
        self.log(RED_BRIGHT, text);
    }
}

/// Pipes `text` through `cmd` (run by `sh -c`) and waits for it.
fn page(cmd: &str, text: &str) -> io::Result<()> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        // The pager may quit before reading everything; that is fine.
        let _ = stdin.write_all(text.as_bytes());
    }
    let status = child.wait()?;
    if status.code() == Some(127) {
        // `sh` could not find the pager: print the text ourselves.
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("pager not found: {cmd}"),
        ));
    }
    Ok(())
}
