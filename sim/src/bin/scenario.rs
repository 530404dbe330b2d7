//! The scenario runner: `cargo scenario [PATH ...] [--seed N] [--seeds N]
//! [--rewrite]` runs scenario files (a file, or every `.scn` file of a
//! folder; `scenarios/` by default) on the simulated cluster, for one seed
//! or N seeds from it, and compares each run's output with the file's;
//! `--rewrite` writes the actual output back for review. The first seed of
//! each file runs twice and must leave the same events (the determinism
//! check). A failure prints the seed, the diff and the last events.
//!
//! `cargo scenario --property [--cases N] [--seed N]` is the soak: N random
//! fault schedules (the property test's, see `shoal_sim::property`) from
//! the given seed; the first failure is shrunk and written as a scenario
//! file under `target/sim-failures/`.
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

    use shoal_sim::property::{Search, search};
    use shoal_sim::scenario::{check_determinism, files, run_file};

    struct Options {
        paths: Vec<PathBuf>,
        seed: u64,
        seeds: u64,
        rewrite: bool,
        /// `--property`: the soak of random fault schedules.
        property: bool,
        cases: u64,
    }

    const USAGE: &str = "usage: cargo scenario [PATH ...] [--seed N] [--seeds N] [--rewrite]\n       \
                         cargo scenario --property [--cases N] [--seed N]";

    fn options() -> Result<Options, String> {
        let mut o = Options {
            paths: Vec::new(),
            seed: 1,
            seeds: 1,
            rewrite: false,
            property: false,
            cases: 1000,
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
                "--property" => o.property = true,
                "--cases" => o.cases = number("--cases")?.max(1),
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

    pub fn main() -> i32 {
        let o = match options() {
            Ok(o) => o,
            Err(e) => {
                eprintln!("{e}");
                return 2;
            }
        };
        if o.property {
            return soak(o.seed, o.cases);
        }
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

    /// `--property`: random fault schedules until one fails or `cases` pass.
    fn soak(seed: u64, cases: u64) -> i32 {
        println!("property soak: {cases} random fault schedules from seed {seed}");
        // (proptest's test is a `Fn`.)
        let runs = std::cell::Cell::new(0u64);
        let cases = u32::try_from(cases).unwrap_or(u32::MAX);
        let found = search(seed, cases, 200, || {
            runs.set(runs.get() + 1);
            if runs.get().is_multiple_of(50) {
                println!("  {} runs", runs.get());
            }
        });
        match found {
            Search::Passed => {
                println!("{cases} cases passed");
                0
            }
            Search::Failed(case, why) => {
                let dir = Path::new("target/sim-failures");
                let file = dir.join(format!("property-{}.scn", case.seed));
                let written = std::fs::create_dir_all(dir)
                    .and_then(|()| std::fs::write(&file, case.scenario()));
                println!(
                    "FAIL after {} runs (shrunk):\n{why}\n\n{}",
                    runs.get(),
                    case.scenario()
                );
                match written {
                    Ok(()) => println!(
                        "written to {}: cargo scenario {} --seed {}",
                        file.display(),
                        file.display(),
                        case.seed
                    ),
                    Err(e) => println!("cannot write {}: {e}", file.display()),
                }
                1
            }
            Search::Aborted(why) => {
                println!("aborted: {why}");
                2
            }
        }
    }
}
