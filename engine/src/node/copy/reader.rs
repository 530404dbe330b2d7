//! Reading COPY FROM's files: lines streamed off the disk on a blocking
//! thread, each at most [`MAX_LINE_BYTES`], parsed into rows and handed to
//! the writer in batches through a bounded channel.
//!
//! Nothing here holds a whole file: a file of any size takes one line
//! buffer and at most two batches (one being written, one waiting), each
//! accounted on the statement's memory before it is sent. Reading happens
//! off the async workers, so a slow disk stalls only this COPY.

use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;

use crate::breaker::{HeapSize, MemoryAccount};
use crate::error::Result;
use crate::types::{Object, Value};

/// The longest line COPY FROM reads. A longer one ends the file's import
/// with an error for that line: without newlines, a file could otherwise
/// make one line of any size.
pub const MAX_LINE_BYTES: usize = 32 << 20;

/// Rows per batch handed to the writer.
const BATCH_ROWS: usize = 5_000;
/// Bytes of rows per batch.
const BATCH_BYTES: usize = 8 << 20;

/// Rows parsed from a file, with their line numbers, and the lines that
/// failed to parse.
#[derive(Debug, Default)]
pub struct Batch {
    pub rows: Vec<(usize, Object)>,
    pub errors: Vec<(usize, String)>,
    /// What the batch was accounted at; the writer releases it.
    pub bytes: u64,
}

/// How a file's lines become rows.
#[derive(Debug, Clone)]
pub struct Format {
    pub csv: bool,
    pub gzip: bool,
    /// The columns to keep (all when empty).
    pub columns: Vec<String>,
}

/// Reads `file` and sends its rows in batches until the file ends, the
/// receiver goes away, or the memory account refuses a batch (sent as the
/// last message).
pub fn read_file(
    file: std::fs::File,
    format: Format,
    memory: Arc<MemoryAccount>,
    tx: tokio::sync::mpsc::Sender<Result<Batch>>,
) {
    let input: Box<dyn Read> = if format.gzip {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let mut reader = BufReader::with_capacity(1 << 16, input);
    let mut line = Vec::new();
    let mut number = 0usize;
    let mut header: Option<Vec<String>> = None;
    let mut batch = Batch::default();
    let mut batch_bytes = 0usize;
    loop {
        let read = next_line(&mut reader, &mut line);
        number += 1;
        let at_end = match read {
            Ok(Line::Eof) => true,
            Ok(Line::Text) => false,
            Ok(Line::TooLong) => {
                batch.errors.push((
                    number,
                    format!(
                        "line is longer than {} bytes; the rest of the file was not imported",
                        MAX_LINE_BYTES
                    ),
                ));
                true
            }
            Err(e) => {
                batch
                    .errors
                    .push((number, format!("cannot read the file: {e}")));
                true
            }
        };
        if !at_end {
            let text = String::from_utf8_lossy(&line);
            if !text.trim().is_empty() {
                if format.csv && header.is_none() {
                    header = Some(split_csv(&text));
                } else {
                    let parsed = if format.csv {
                        Ok(csv_row(
                            header.as_deref().unwrap_or(&[]),
                            &text,
                            &format.columns,
                        ))
                    } else {
                        json_row(&text, &format.columns)
                    };
                    match parsed {
                        Ok(row) => {
                            batch_bytes += row_size(&row);
                            batch.rows.push((number, row));
                        }
                        Err(e) => batch.errors.push((number, e)),
                    }
                }
            }
        }
        let full = batch.rows.len() >= BATCH_ROWS || batch_bytes >= BATCH_BYTES;
        if full || at_end {
            let bytes = batch_bytes as u64;
            let message = match memory.reserve(bytes, "copyFrom") {
                Ok(()) => {
                    batch.bytes = bytes;
                    Ok(std::mem::take(&mut batch))
                }
                Err(e) => Err(e),
            };
            let refused = message.is_err();
            if tx.blocking_send(message).is_err() || refused || at_end {
                return;
            }
            batch_bytes = 0;
        }
    }
}

enum Line {
    Text,
    Eof,
    TooLong,
}

/// Reads the next line into `buf` (without its newline), never more than
/// [`MAX_LINE_BYTES`] of it.
fn next_line(reader: &mut impl BufRead, buf: &mut Vec<u8>) -> std::io::Result<Line> {
    buf.clear();
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            return Ok(if buf.is_empty() {
                Line::Eof
            } else {
                Line::Text
            });
        }
        let (take, done) = match available.iter().position(|b| *b == b'\n') {
            Some(i) => (i, true),
            None => (available.len(), false),
        };
        if buf.len() + take > MAX_LINE_BYTES {
            return Ok(Line::TooLong);
        }
        buf.extend_from_slice(&available[..take]);
        reader.consume(if done { take + 1 } else { take });
        if done {
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            return Ok(Line::Text);
        }
    }
}

fn row_size(row: &Object) -> usize {
    row.values().map(HeapSize::heap_size).sum::<usize>() + row.len() * 32
}

/// One JSON line: an object.
fn json_row(line: &str, columns: &[String]) -> std::result::Result<Object, String> {
    match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(o)) => {
            let mut o = *o;
            if !columns.is_empty() {
                o.retain(|k, _| columns.iter().any(|c| c == k));
            }
            Ok(o)
        }
        Ok(_) => Err("JSON line is not an object".into()),
        Err(e) => Err(format!("JSON parser error: {e}")),
    }
}

/// One CSV line under `header`: every field is text, an empty one NULL.
fn csv_row(header: &[String], line: &str, columns: &[String]) -> Object {
    let mut o = Object::default();
    for (k, v) in header.iter().zip(split_csv(line)) {
        if columns.is_empty() || columns.contains(k) {
            o.insert(
                k.into(),
                if v.is_empty() {
                    Value::Null
                } else {
                    Value::Text(v)
                },
            );
        }
    }
    o
}

/// Splits one CSV line (double quotes, doubled quotes inside).
pub fn split_csv(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    out.push(cur);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8]) -> Vec<std::result::Result<String, &'static str>> {
        let mut r = BufReader::with_capacity(16, input);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        loop {
            match next_line(&mut r, &mut buf).unwrap() {
                Line::Eof => return out,
                Line::Text => out.push(Ok(String::from_utf8(buf.clone()).unwrap())),
                Line::TooLong => {
                    out.push(Err("too long"));
                    return out;
                }
            }
        }
    }

    #[test]
    fn lines_are_split_and_capped() {
        assert_eq!(
            lines(b"a\r\nbb\n\nccc"),
            vec![
                Ok("a".into()),
                Ok("bb".into()),
                Ok("".into()),
                Ok("ccc".into())
            ]
        );
        let long = vec![b'x'; MAX_LINE_BYTES + 1];
        assert_eq!(lines(&long), vec![Err("too long")]);
    }

    #[test]
    fn csv_split() {
        assert_eq!(split_csv(r#"a,"b,c","d""e""#), vec!["a", "b,c", "d\"e"]);
    }

    #[test]
    fn a_file_streams_in_batches() {
        let dir = std::env::temp_dir().join(format!("shoal-copy-reader-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("rows.json");
        let mut text = String::new();
        for i in 0..12_000 {
            text.push_str(&format!("{{\"id\": {i}}}\n"));
        }
        text.push_str("not json\n");
        std::fs::write(&path, text).unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::channel(2);
        let memory = MemoryAccount::unlimited();
        let file = std::fs::File::open(&path).unwrap();
        let format = Format {
            csv: false,
            gzip: false,
            columns: vec![],
        };
        let reader = std::thread::spawn(move || read_file(file, format, memory, tx));
        let mut rows = 0;
        let mut errors = Vec::new();
        let mut batches = 0;
        while let Some(b) = rx.blocking_recv() {
            let b = b.unwrap();
            rows += b.rows.len();
            errors.extend(b.errors);
            batches += 1;
        }
        reader.join().unwrap();
        assert_eq!(rows, 12_000);
        assert_eq!(batches, 3);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].0, 12_001);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
