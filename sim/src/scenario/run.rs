//! Running scenario files: one file for one seed, compared with its
//! expected output (or rewritten with the actual output), and the
//! determinism check (a seed run twice leaves the same trace).

use std::fmt;
use std::path::{Path, PathBuf};

use super::Scenario;
use crate::trace;

/// Events a failure shows.
const FAILURE_EVENTS: usize = 200;

/// A scenario that did not do what its file says, with what reproduces
/// it: the file and the seed.
#[derive(Debug)]
pub struct Failure {
    pub file: String,
    pub seed: u64,
    /// A diff of the expected and actual output, or the error that
    /// stopped the run.
    pub what: String,
    /// The last events of the run.
    pub trace: Vec<String>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "scenario {} FAILED with seed {}", self.file, self.seed)?;
        writeln!(f, "{}", self.what.trim_end())?;
        writeln!(f, "--- the last {} events:", self.trace.len())?;
        for e in &self.trace {
            writeln!(f, "{e}")?;
        }
        write!(
            f,
            "reproduce with: cargo scenario {} --seed {}",
            self.file, self.seed
        )
    }
}

impl std::error::Error for Failure {}

/// Runs `path` for `seed`; with `rewrite`, writes the actual output back
/// into the file instead of comparing. Answers the run's events.
pub fn run_file(path: &Path, seed: u64, rewrite: bool) -> Result<Vec<String>, Failure> {
    let file = path.display().to_string();
    let input = std::fs::read_to_string(path).map_err(|e| Failure {
        file: file.clone(),
        seed,
        what: format!("cannot read: {e}"),
        trace: Vec::new(),
    })?;
    match run_text(&file, &input, seed) {
        Err(Actual { output, .. }) if rewrite && !output.is_empty() => {
            std::fs::write(path, &output).map_err(|e| Failure {
                file,
                seed,
                what: format!("cannot rewrite: {e}"),
                trace: Vec::new(),
            })?;
            Ok(trace::last(trace::KEPT))
        }
        Err(Actual { failure, .. }) => Err(failure),
        Ok(events) => Ok(events),
    }
}

/// A run whose output differs from the expected: the failure, and the
/// output (empty when a command failed).
pub struct Actual {
    pub failure: Failure,
    pub output: String,
}

/// Runs a scenario's text (named `file` in what a failure prints) for
/// `seed`, and compares its output with the text. Answers the run's events.
pub fn run_text(file: &str, input: &str, seed: u64) -> Result<Vec<String>, Actual> {
    let fail = |what: String, output: String| Actual {
        failure: Failure {
            file: file.to_string(),
            seed,
            what,
            trace: trace::last(FAILURE_EVENTS),
        },
        output,
    };
    let output = {
        let mut scenario = Scenario::new(seed);
        goldenscript::generate(&mut scenario, input)
            .map_err(|e| fail(e.to_string(), String::new()))?
    };
    if output != input {
        let diff = similar::TextDiff::from_lines(input, &output);
        let diff = diff
            .unified_diff()
            .context_radius(3)
            .header("expected", "actual")
            .to_string();
        return Err(fail(diff, output));
    }
    Ok(trace::last(trace::KEPT))
}

/// Runs `path` for `seed` twice: both runs must pass and leave the same
/// events, at the same simulated times.
pub fn check_determinism(path: &Path, seed: u64) -> Result<(), Failure> {
    let first = run_file(path, seed, false)?;
    let second = run_file(path, seed, false)?;
    if first == second {
        return Ok(());
    }
    let at = first
        .iter()
        .zip(&second)
        .position(|(a, b)| a != b)
        .unwrap_or(first.len().min(second.len()));
    Err(Failure {
        file: path.display().to_string(),
        seed,
        what: format!(
            "the same seed ran differently: event {at} was\n  {}\nthen\n  {}",
            first.get(at).map_or("(none)", String::as_str),
            second.get(at).map_or("(none)", String::as_str)
        ),
        trace: second[..at.min(second.len())]
            .iter()
            .rev()
            .take(FAILURE_EVENTS)
            .rev()
            .cloned()
            .collect(),
    })
}

/// The scenario files a path names: itself, or a folder's `.scn` files
/// by name (not its subfolders).
pub fn files(path: &Path) -> Result<Vec<PathBuf>, String> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let entries =
        std::fs::read_dir(path).map_err(|e| format!("cannot list {}: {e}", path.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "scn"))
        .collect();
    files.sort();
    Ok(files)
}

/// A number from the environment (a test's budget of seeds or cases), or
/// `default` when it is unset or not a number.
pub fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
