//! Property tests: random fault schedules under a concurrent workload keep
//! every invariant the checkers judge; and a planted bug is caught within
//! the same budget, shrunk to a scenario file that fails again on replay.
//!
//! Their names start with `property_` (CI's determinism pass, which runs
//! the madsim tests twice, skips them: they check their own determinism).
//! `SHOAL_PROPERTY_CASES` sets the budget (CI's default below);
//! `SHOAL_PROPERTY_SEED` picks another fixed set of cases. A soak runs
//! thousands: `cargo scenario --property --cases 5000`.
#![cfg(madsim)]

use proptest::strategy::{Strategy, ValueTree};
use shoal_engine::planted::{Bug, plant};
use shoal_sim::property::{Case, Search, cases, runner, search};
use shoal_sim::scenario::{env_number, files, run_text};

/// Shrinking runs at most this many cases.
const SHRINK_RUNS: u32 = 48;

/// The minimal failing case of `budget` cases of set `set`, and its failure.
fn failing(set: u64, budget: u32) -> Option<(Case, String)> {
    match search(set, budget, SHRINK_RUNS, || {}) {
        Search::Passed => None,
        Search::Failed(case, why) => Some((case, why)),
        Search::Aborted(why) => panic!("the property test aborted: {why}"),
    }
}

fn budget() -> u32 {
    env_number("SHOAL_PROPERTY_CASES", 200) as u32
}

fn case_set() -> u64 {
    env_number("SHOAL_PROPERTY_SEED", 1)
}

#[test]
fn property_random_fault_schedules_keep_every_invariant() {
    plant(None);
    if let Some((case, why)) = failing(case_set(), budget()) {
        panic!(
            "a fault schedule broke an invariant:\n{why}\n\nthe minimal case as a scenario \
             file:\n{}",
            case.scenario()
        );
    }
}

/// Plants `bug`, expects the property test to catch it, and replays the
/// printed reproduction: it fails again with the bug, and passes without.
fn caught(bug: Bug, set: u64) {
    let budget = budget();
    plant(Some(bug));
    let found = failing(set, budget);
    let Some((case, why)) = found else {
        plant(None);
        panic!("the planted bug {bug:?} went unnoticed in {budget} cases");
    };
    let file = case.scenario();
    println!("{bug:?} caught:\n{why}\n\nreproduction:\n{file}");
    let again = run_text("reproduction", &file, case.seed);
    plant(None);
    assert!(
        again.is_err(),
        "the reproduction of {bug:?} passed on replay:\n{file}"
    );
    let without = run_text("reproduction without the bug", &file, case.seed);
    if let Err(a) = without {
        panic!(
            "the reproduction fails without the planted bug too:\n{}",
            a.failure
        );
    }
}

#[test]
fn property_catches_a_primary_acknowledging_before_its_replicas() {
    caught(Bug::AckBeforeReplicas, case_set());
}

#[test]
fn property_catches_promoting_a_replica_that_is_not_in_sync() {
    caught(Bug::PromoteOutOfSync, case_set());
}

#[test]
fn property_catches_a_catch_up_that_trusts_what_a_copy_holds() {
    caught(Bug::UncheckedCatchUp, case_set());
}

/// The reproductions the property tests found, kept in
/// `scenarios/regressions/`, each for the seed its `--seed N` line names.
#[test]
fn property_regressions_stay_fixed() {
    plant(None);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/regressions");
    let files = files(&dir).expect("scenarios/regressions");
    assert!(!files.is_empty());
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable");
        let seed = text
            .split_once("--seed ")
            .and_then(|(_, rest)| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("{} names no --seed", file.display()));
        if let Err(a) = run_text(&file.display().to_string(), &text, seed) {
            panic!("{}", a.failure);
        }
    }
}

/// A case run twice leaves the same events at the same simulated times.
#[test]
fn property_cases_are_deterministic() {
    plant(None);
    let mut runner = runner(case_set(), 1, SHRINK_RUNS);
    for _ in 0..2 {
        let case = cases().new_tree(&mut runner).expect("a case").current();
        let file = case.scenario();
        let first = run_text("first run", &file, case.seed).map_err(|a| a.failure.to_string());
        let second = run_text("second run", &file, case.seed).map_err(|a| a.failure.to_string());
        let (first, second) = (first.expect("passes"), second.expect("passes"));
        assert!(!first.is_empty());
        assert_eq!(first, second, "the same case ran differently:\n{file}");
    }
}
