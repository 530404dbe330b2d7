//! The scenario runner: `cargo scenario [PATH ...] [--seed N] [--seeds N]
//! [--rewrite]` runs scenario files (a file, or every `.scn` file of a
//! folder; `scenarios/` by default) on the simulated cluster, for one seed
//! or N seeds from it, and compares each run's output with the file's;
//! `--rewrite` writes the actual output back for review. The first seed of
//! each file runs twice and must leave the same events (the determinism
//! check). A failure prints the seed, the diff and the last events.
//!
//! Simulation needs the `--cfg madsim` build: `cargo scenario` is an alias
//! (`.cargo/config.toml`) that builds it in `target/sim`.

#[cfg(not(madsim))]
fn main() {
    eprintln!(
        "the scenario runner runs in the simulation build: use `cargo scenario` \
         (see docs/simulation.md)"
    );
    std::process::exit(2);
}

#[cfg(madsim)]
fn main() {
    std::process::exit(runner::main());
}

#[cfg(madsim)]
mod runner {
    use std::path::{Path, PathBuf};

    use shoal_sim::scenario::{check_determinism, run_file};

    struct Options {
        paths: Vec<PathBuf>,
        seed: u64,
        seeds: u64,
        rewrite: bool,
    }

    const USAGE: &str = "usage: cargo scenario [PATH ...] [--seed N] [--seeds N] [--rewrite]";

    fn options() -> Result<Options, String> {
        let mut o = Options {
            paths: Vec::new(),
            seed: 1,
            seeds: 1,
            rewrite: false,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut number = |name: &str| -> Result<u64, String> {
                let v = args.next().ok_or(format!("{name} needs a number"))?;
                v.parse()
                    .map_err(|_| format!("{name} needs a number, not {v}"))
            };
            match arg.as_str() {
                "--seed" => o.seed = number("--seed")?,
                "--seeds" => o.seeds = number("--seeds")?.max(1),
                "--rewrite" => o.rewrite = true,
                "-h" | "--help" => return Err(USAGE.into()),
                flag if flag.starts_with("--") => return Err(format!("unknown {flag}\n{USAGE}")),
                path => o.paths.push(PathBuf::from(path)),
            }
        }
        if o.paths.is_empty() {
            o.paths.push(PathBuf::from("scenarios"));
        }
        Ok(o)
    }

    /// The files a path names: itself, or a folder's `.scn` files.
    fn files(path: &Path) -> Result<Vec<PathBuf>, String> {
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

    pub fn main() -> i32 {
        let o = match options() {
            Ok(o) => o,
            Err(e) => {
                eprintln!("{e}");
                return 2;
            }
        };
        let mut all = Vec::new();
        for p in &o.paths {
            match files(p) {
                Ok(f) => all.extend(f),
                Err(e) => {
                    eprintln!("{e}");
                    return 2;
                }
            }
        }
        let last = o.seed + o.seeds - 1;
        println!(
            "scenarios: {} file(s); seeds {}..={last}; determinism check on seed {}; {}",
            all.len(),
            o.seed,
            o.seed,
            if o.rewrite {
                "rewriting outputs"
            } else {
                "comparing outputs"
            }
        );
        let mut failed = 0;
        for file in &all {
            let mut result = match o.rewrite {
                true => run_file(file, o.seed, true).map(|_| ()),
                false => check_determinism(file, o.seed),
            };
            for seed in o.seed + 1..=last {
                if result.is_err() {
                    break;
                }
                result = run_file(file, seed, false).map(|_| ());
            }
            match result {
                Ok(()) => println!("ok   {} ({} seed(s))", file.display(), o.seeds),
                Err(f) => {
                    failed += 1;
                    println!("FAIL {}\n{f}\n", file.display());
                }
            }
        }
        println!("{} passed, {failed} failed", all.len() - failed);
        i32::from(failed > 0)
    }
}
