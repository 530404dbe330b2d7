//! Property-tested fault schedules: a random cluster, a workload of
//! concurrent clients and a random schedule of faults, judged by the
//! checkers. A case *is* a scenario: [`Case::scenario`] writes it as a
//! scenario file, which is what runs, so the minimal failing case that
//! proptest shrinks to is printed as a file that `cargo scenario` replays.

use std::fmt::Write as _;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};

use crate::check;
use crate::scenario::{Failure, run_text};
use crate::workload::{COUNTER, ROWS};

/// One fault, applied and then undone: the schedule runs them one after
/// another, each lasting `secs` simulated seconds, with a random gap
/// between them (none at all catches the cluster mid-recovery).
#[derive(Clone, Debug)]
pub enum Fault {
    /// Kill a node, restart it after `secs`.
    Kill { node: usize, secs: u64 },
    /// Kill a node losing what it had not fsynced, restart it after `secs`.
    Crash { node: usize, secs: u64 },
    /// Freeze a node for `secs`.
    Pause { node: usize, secs: u64 },
    /// Cut the `side` nodes off from the others for `secs`.
    Partition { side: Vec<usize>, secs: u64 },
    /// Lose what `from` sends `to` for `secs`.
    Cut { from: usize, to: usize, secs: u64 },
    /// Lose `percent` of all packets for `secs`.
    Loss { percent: u32, secs: u64 },
}

/// A random cluster, workload and fault schedule, and the seed it runs on.
#[derive(Clone, Debug)]
pub struct Case {
    pub seed: u64,
    pub nodes: usize,
    pub clients: usize,
    /// The workload's tables' shards and replicas.
    pub shards: usize,
    pub replicas: usize,
    /// Each fault and the gap after it, in milliseconds.
    pub faults: Vec<(Fault, u64)>,
}

impl Case {
    /// The case as a scenario file: the workload runs through the faults,
    /// then the checkers judge it.
    pub fn scenario(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# A generated fault schedule (the property test); it fails with seed {}:\n\
             #   cargo scenario FILE --seed {}\n",
            self.seed, self.seed
        );
        let _ = writeln!(s, "cluster nodes={}", self.nodes);
        let _ = writeln!(
            s,
            "workload start clients={} shards={} replicas={} mix=all",
            self.clients, self.shards, self.replicas
        );
        s.push_str("wait health green\nsleep 2s\n");
        for (fault, gap) in &self.faults {
            fault.write(&mut s, self.nodes);
            if *gap > 0 {
                let _ = writeln!(s, "sleep {gap}ms");
            }
        }
        s.push_str("sleep 2s\n");
        s.push_str("workload stop\ncheck\n---\n");
        s.push_str(&check::table_passed(&format!("doc.{COUNTER}"), Some(1)));
        s.push_str(&check::table_passed(&format!("doc.{ROWS}"), None));
        s.push_str(check::WORKLOAD_PASSED);
        s
    }

    /// Runs the case; a failure names the broken invariant, the seed and
    /// the trace.
    pub fn run(&self) -> Result<(), Failure> {
        let name = format!("property case (seed {})", self.seed);
        run_text(&name, &self.scenario(), self.seed)
            .map(|_| ())
            .map_err(|a| a.failure)
    }
}

impl Fault {
    fn write(&self, s: &mut String, nodes: usize) {
        let n = |i: &usize| format!("n{}", i % nodes + 1);
        let _ = match self {
            Fault::Kill { node, secs } => {
                let node = n(node);
                writeln!(s, "kill {node}\nsleep {secs}s\nrestart {node}")
            }
            Fault::Crash { node, secs } => {
                let node = n(node);
                writeln!(s, "crash {node}\nsleep {secs}s\nrestart {node}")
            }
            Fault::Pause { node, secs } => {
                let node = n(node);
                writeln!(s, "pause {node}\nsleep {secs}s\nresume {node}")
            }
            Fault::Partition { side, secs } => {
                let mut a: Vec<usize> = side.iter().map(|i| i % nodes).collect();
                a.sort();
                a.dedup();
                if a.len() == nodes {
                    a.pop();
                }
                let b: Vec<usize> = (0..nodes).filter(|i| !a.contains(i)).collect();
                let names = |v: &[usize]| {
                    v.iter()
                        .map(|i| format!("n{}", i + 1))
                        .collect::<Vec<_>>()
                        .join(" ")
                };
                writeln!(
                    s,
                    "> partition {} | {}\nsleep {secs}s\nheal",
                    names(&a),
                    names(&b)
                )
            }
            Fault::Cut { from, to, secs } => {
                let (from, to) = (from % nodes, to % nodes);
                let to = if to == from { (to + 1) % nodes } else { to };
                writeln!(s, "> cut n{} -> n{}\nsleep {secs}s\nheal", from + 1, to + 1)
            }
            Fault::Loss { percent, secs } => {
                writeln!(s, "> loss {percent}%\nsleep {secs}s\n> loss 0%")
            }
        };
    }
}

fn fault() -> impl Strategy<Value = Fault> {
    let node = 0usize..5;
    let secs = 1u64..20;
    prop_oneof![
        (node.clone(), secs.clone()).prop_map(|(node, secs)| Fault::Kill { node, secs }),
        (node.clone(), secs.clone()).prop_map(|(node, secs)| Fault::Crash { node, secs }),
        (node.clone(), secs.clone()).prop_map(|(node, secs)| Fault::Pause { node, secs }),
        (prop::collection::vec(node.clone(), 1..3), secs.clone())
            .prop_map(|(side, secs)| Fault::Partition { side, secs }),
        (node.clone(), node, secs.clone()).prop_map(|(from, to, secs)| Fault::Cut {
            from,
            to,
            secs
        }),
        (1u32..30, secs).prop_map(|(percent, secs)| Fault::Loss { percent, secs }),
    ]
}

/// Cases: 3 to 5 nodes, 1 to 4 clients, tables of 1 to 4 shards with 1
/// or 2 replicas (fewer than the nodes), 1 to 4 faults with gaps of up to
/// 3 s.
pub fn cases() -> impl Strategy<Value = Case> {
    (
        0u64..1_000_000,
        3usize..=5,
        1usize..=4,
        1usize..=4,
        1usize..=2,
        prop::collection::vec((fault(), 0u64..3000), 1..=4),
    )
        .prop_map(|(seed, nodes, clients, shards, replicas, faults)| Case {
            seed,
            nodes,
            clients,
            shards,
            replicas: replicas.min(nodes - 1),
            faults,
        })
}

/// A runner over the fixed set of cases that `set` seeds, shrinking a
/// failure for at most `max_shrink_iters` runs.
pub fn runner(set: u64, cases: u32, max_shrink_iters: u32) -> TestRunner {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&set.to_le_bytes());
    let config = Config {
        cases,
        max_shrink_iters,
        failure_persistence: None,
        ..Config::default()
    };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed))
}

/// What a search of cases found.
pub enum Search {
    Passed,
    /// The minimal failing case, and its failure.
    Failed(Case, String),
    Aborted(String),
}

/// Runs `cases` cases of set `set` (calling `each` before every run,
/// shrinking runs included) and shrinks the first failure.
pub fn search(set: u64, cases: u32, max_shrink_iters: u32, each: impl Fn()) -> Search {
    let result = runner(set, cases, max_shrink_iters).run(&self::cases(), |case| {
        each();
        case.run().map_err(|f| TestCaseError::fail(f.to_string()))
    });
    match result {
        Ok(()) => Search::Passed,
        Err(TestError::Fail(why, case)) => Search::Failed(case, why.to_string()),
        Err(TestError::Abort(why)) => Search::Aborted(why.to_string()),
    }
}
