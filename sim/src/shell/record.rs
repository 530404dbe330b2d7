//! `\record FILE`: a shell session as a scenario file. The commands are
//! written in blocks (a block ends at a command that printed something) and
//! goldenscript itself lays out the outputs, fed from the log by a runner
//! that answers what the session printed, so the file is exactly what the
//! scenario runner writes when it replays the session's seed.

use std::collections::VecDeque;
use std::error::Error;
use std::path::Path;

use super::worker::Entry;

/// Writes `log`, run with `seed`, to `path`.
pub fn write(path: &Path, seed: u64, log: &[Entry]) -> Result<(), String> {
    let mut input = format!(
        "# A session of the shoal shell on a simulated cluster, recorded with \
         seed {seed}.\n# Replay: cargo scenario {} --seed {seed}\n\n",
        path.display()
    );
    let mut open = false;
    for entry in log {
        input.push_str(&entry.line);
        input.push('\n');
        open = true;
        if !matches!(&entry.output, Ok(out) if out.is_empty()) {
            input.push_str("---\n\n");
            open = false;
        }
    }
    if open {
        input.push_str("---\n");
    }
    let mut replay = Replay(log.iter().map(|e| e.output.clone()).collect());
    let text = goldenscript::generate(&mut replay, &input)
        .map_err(|e| format!("cannot lay out the recording: {e}"))?;
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Answers each command with the output the session logged for it.
struct Replay(VecDeque<Result<String, String>>);

impl goldenscript::Runner for Replay {
    type Command = goldenscript::Command;

    fn run(
        &mut self,
        _command: &goldenscript::Command,
        _context: &goldenscript::Context,
    ) -> Result<String, Box<dyn Error>> {
        match self.0.pop_front() {
            Some(Ok(out)) => Ok(out),
            Some(Err(e)) => Err(e.into()),
            None => Err("the recording has more commands than the log".into()),
        }
    }
}
