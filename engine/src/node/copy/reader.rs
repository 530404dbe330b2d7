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
    let mut out = Batches {
        batch: Batch::default(),
        bytes: 0,
        stopped: false,
        memory,
        tx,
    };
    if let Err(e) = skip_bom(&mut reader) {
        out.error(1, format!("cannot read the file: {e}"));
    } else if format.csv {
        read_csv(reader, &format.columns, &mut out);
    } else {
        read_json_lines(reader, &format.columns, &mut out);
    }
    out.send();
}

/// The batch being filled, and where it goes.
struct Batches {
    batch: Batch,
    bytes: usize,
    /// The receiver is gone or refused a batch: nothing more is sent.
    stopped: bool,
    memory: Arc<MemoryAccount>,
    tx: tokio::sync::mpsc::Sender<Result<Batch>>,
}

impl Batches {
    /// Adds a row; false when reading should stop.
    fn row(&mut self, line: usize, row: Object) -> bool {
        self.bytes += row_size(&row);
        self.batch.rows.push((line, row));
        if self.batch.rows.len() >= BATCH_ROWS || self.bytes >= BATCH_BYTES {
            return self.send();
        }
        true
    }

    fn error(&mut self, line: usize, message: String) {
        self.batch.errors.push((line, message));
    }

    /// Accounts and sends the batch; false when reading should stop (the
    /// receiver is gone or the memory account refused the batch, which
    /// goes to the receiver as the last message).
    fn send(&mut self) -> bool {
        if self.stopped {
            return false;
        }
        let bytes = std::mem::take(&mut self.bytes) as u64;
        let message = match self.memory.reserve(bytes, "copyFrom") {
            Ok(()) => {
                self.batch.bytes = bytes;
                Ok(std::mem::take(&mut self.batch))
            }
            Err(e) => Err(e),
        };
        let refused = message.is_err();
        self.stopped = self.tx.blocking_send(message).is_err() || refused;
        !self.stopped
    }
}

/// Skips a UTF-8 byte order mark at the start of the input.
fn skip_bom(reader: &mut impl BufRead) -> std::io::Result<()> {
    if reader.fill_buf()?.starts_with(b"\xEF\xBB\xBF") {
        reader.consume(3);
    }
    Ok(())
}

fn too_long() -> String {
    format!(
        "line is longer than {} bytes; the rest of the file was not imported",
        MAX_LINE_BYTES
    )
}

/// JSON lines: one object per line.
fn read_json_lines(mut reader: impl BufRead, columns: &[String], out: &mut Batches) {
    let mut line = Vec::new();
    let mut number = 0usize;
    loop {
        number += 1;
        match next_line(&mut reader, &mut line) {
            Ok(Line::Eof) => return,
            Ok(Line::Text) => {}
            Ok(Line::TooLong) => return out.error(number, too_long()),
            Err(e) => return out.error(number, format!("cannot read the file: {e}")),
        }
        let text = String::from_utf8_lossy(&line);
        if text.trim().is_empty() {
            continue;
        }
        match json_row(&text, columns) {
            Ok(row) => {
                if !out.row(number, row) {
                    return;
                }
            }
            Err(e) => out.error(number, e),
        }
    }
}

/// CSV after RFC 4180 (the `csv` crate): a header line names the columns,
/// quoted fields may hold commas, doubled quotes and newlines. Every field
/// is text, an empty one NULL; the table's types cast them on insert.
fn read_csv(reader: impl Read, columns: &[String], out: &mut Batches) {
    let capped = Capped {
        inner: reader,
        read: 0,
        budget: RECORD_BUDGET,
        eof: false,
    };
    // Records end at `\n` only (a `\r` before it is stripped below), so
    // that every record but an unterminated last one consumes its newline
    // and line numbers can be counted back from where it ends.
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .terminator(csv::Terminator::Any(b'\n'))
        .from_reader(capped);
    let mut record = csv::ByteRecord::new();
    let mut header: Option<Vec<String>> = None;
    loop {
        match csv.read_byte_record(&mut record) {
            Ok(false) => return,
            Ok(true) => {}
            Err(e) => {
                let message = match e.kind() {
                    csv::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::FileTooLarge => {
                        too_long()
                    }
                    _ => format!("cannot read the file: {e}"),
                };
                return out.error(csv.position().line() as usize, message);
            }
        }
        let end = csv.position().clone();
        csv.get_mut().budget = end.byte() + RECORD_BUDGET;
        // The line the record starts on: csv counts every newline it has
        // consumed, blank lines skipped before the record included.
        let inside: usize = record
            .iter()
            .map(|f| f.iter().filter(|b| **b == b'\n').count())
            .sum();
        let terminated = !csv.get_ref().eof;
        let line = (end.line() as usize).saturating_sub(inside + usize::from(terminated));
        let last = record.len().saturating_sub(1);
        let fields = record.iter().enumerate().map(|(i, f)| {
            let f = if i == last {
                f.strip_suffix(b"\r").unwrap_or(f)
            } else {
                f
            };
            String::from_utf8_lossy(f)
        });
        // A line of blanks is no row, as in JSON files.
        if record.iter().all(|f| f.trim_ascii().is_empty()) {
            continue;
        }
        let Some(names) = &header else {
            header = Some(fields.map(|f| f.into_owned()).collect());
            continue;
        };
        let mut row = Object::default();
        for (name, field) in names.iter().zip(fields) {
            if columns.is_empty() || columns.contains(name) {
                let value = if field.is_empty() {
                    Value::Null
                } else {
                    Value::Text(field.into_owned())
                };
                row.insert(name.into(), value);
            }
        }
        if !out.row(line, row) {
            return;
        }
    }
}

/// How far past the end of the last record the CSV reader may read: one
/// record's worth plus its read-ahead buffer.
const RECORD_BUDGET: u64 = MAX_LINE_BYTES as u64 + (1 << 16);

/// The CSV reader's input: fails once it is `budget` bytes in, so that one
/// record (a quoted field may span lines) cannot grow without bound, and
/// notes when the input has ended.
struct Capped<R> {
    inner: R,
    read: u64,
    budget: u64,
    /// The input returned its end. The csv reader asks for more only when
    /// a record is still open, so a record read with this set was the last
    /// one and had no newline.
    eof: bool,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.read >= self.budget {
            return Err(std::io::Error::new(
                std::io::ErrorKind::FileTooLarge,
                "record too long",
            ));
        }
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        self.eof |= n == 0;
        Ok(n)
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

    /// Reads `bytes` as a file of the given format: all rows and errors.
    fn read(bytes: &[u8], csv: bool) -> Batch {
        let dir = std::env::temp_dir().join(format!(
            "shoal-copy-read-{}-{}",
            std::process::id(),
            crate::runtime::random_u64()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("input");
        std::fs::write(&path, bytes).unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::channel(2);
        let file = std::fs::File::open(&path).unwrap();
        let format = Format {
            csv,
            gzip: false,
            columns: vec![],
        };
        let memory = MemoryAccount::unlimited();
        let reader = std::thread::spawn(move || read_file(file, format, memory, tx));
        let mut all = Batch::default();
        while let Some(b) = rx.blocking_recv() {
            let b = b.unwrap();
            all.rows.extend(b.rows);
            all.errors.extend(b.errors);
        }
        reader.join().unwrap();
        std::fs::remove_dir_all(dir).unwrap();
        all
    }

    fn text(row: &Object, key: &str) -> Option<String> {
        match row.get(key) {
            Some(Value::Text(t)) => Some(t.clone()),
            _ => None,
        }
    }

    #[test]
    fn csv_fields_may_hold_newlines_quotes_and_commas() {
        let input = "\u{feff}id,quote\r\n1,\"two\nlines\"\r\n2,\"say \"\"hi\"\", then, go\"\n\n3,\n\r\n4,\"x\ny\"";
        let Batch { rows, errors, .. } = read(input.as_bytes(), true);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(rows.len(), 4);
        // The BOM is not part of the first column's name.
        assert_eq!(text(&rows[0].1, "id").as_deref(), Some("1"));
        assert_eq!(text(&rows[0].1, "quote").as_deref(), Some("two\nlines"));
        assert_eq!(
            text(&rows[1].1, "quote").as_deref(),
            Some("say \"hi\", then, go")
        );
        assert_eq!(rows[2].1.get("quote"), Some(&Value::Null));
        // Line numbers are where each record starts.
        let lines: Vec<usize> = rows.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, vec![2, 4, 6, 8]);
        assert_eq!(text(&rows[3].1, "quote").as_deref(), Some("x\ny"));
    }

    #[test]
    fn a_json_file_may_start_with_a_bom() {
        let Batch { rows, errors, .. } = read(b"\xEF\xBB\xBF{\"a\": 1}\n", false);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(rows[0].1.get("a"), Some(&Value::Int(1)));
    }

    #[test]
    fn an_endless_csv_record_is_cut_off() {
        let mut input = b"a,b\n1,\"".to_vec();
        input.resize(input.len() + MAX_LINE_BYTES + (1 << 17), b'x');
        let Batch { rows, errors, .. } = read(&input, true);
        assert!(rows.is_empty());
        assert_eq!(errors.len(), 1);
        assert!(errors[0].1.contains("longer than"), "{errors:?}");
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
