//! Every scenario file under `scenarios/` runs for CI's budget of seeds
//! (`MADSIM_TEST_NUM`, 4 unless set, from `SHOAL_SCENARIO_SEED` on, 1
//! unless set), and its first seed runs twice with the same events (the
//! determinism check). `cargo scenario` runs them by hand (docs/simulation.md).
#![cfg(madsim)]

use std::path::{Path, PathBuf};

use shoal_sim::scenario::{check_determinism, env_number, files, run_file};

fn scenario_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    files(&dir).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_scenario_passes_for_every_seed() {
    let files = scenario_files();
    assert!(!files.is_empty(), "no scenario files");
    let first = env_number("SHOAL_SCENARIO_SEED", 1);
    let count = env_number("MADSIM_TEST_NUM", 4);
    let mut failures = Vec::new();
    for file in &files {
        if let Err(f) = check_determinism(file, first) {
            failures.push(f.to_string());
            continue;
        }
        for seed in first + 1..first + count {
            if let Err(f) = run_file(file, seed, false) {
                failures.push(f.to_string());
                break;
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// A wrong expectation fails with the seed, a diff and the trace; rewrite
/// mode writes the actual output, which then passes.
#[test]
fn a_wrong_expectation_fails_readably_and_rewrite_fixes_it() {
    let dir = std::env::temp_dir().join(format!("shoal-scenario-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("wrong.scn");
    let script = "cluster nodes=2\n\
                  n1: > CREATE TABLE t (id INT) WITH (number_of_replicas = 0)\n\
                  n1: > SELECT count(*) FROM t\n\
                  kill n2\n\
                  ---\n\
                  n1: CREATE OK, 1 row affected\n\
                  n1: SELECT 7 rows in set\n";
    std::fs::write(&file, script).unwrap();

    let failure = run_file(&file, 3, false).unwrap_err();
    let shown = failure.to_string();
    assert!(shown.contains("FAILED with seed 3"), "{shown}");
    assert!(shown.contains("-n1: SELECT 7 rows in set"), "{shown}");
    assert!(shown.contains("+n1: SELECT 1 row in set"), "{shown}");
    assert!(shown.contains("FAULT kill n2"), "the trace: {shown}");
    assert!(shown.contains("cargo scenario"), "{shown}");
    // A command that fails unexpectedly names its line.
    std::fs::write(&file, "cluster nodes=1\nkill n9\n---\n").unwrap();
    let failure = run_file(&file, 3, false).unwrap_err();
    assert!(
        failure.what.contains("line 2") && failure.what.contains("no node n9"),
        "{failure}"
    );

    std::fs::write(&file, script).unwrap();
    run_file(&file, 3, true).unwrap();
    let rewritten = std::fs::read_to_string(&file).unwrap();
    assert!(rewritten.contains("n1: SELECT 1 row in set"), "{rewritten}");
    run_file(&file, 4, false).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
