//! Property tests of full-text search against a reference model.
//!
//! Random texts (a small vocabulary with case, plurals, possessives and stop
//! words) are written in several batches with refreshes in between, then
//! updated and deleted in part. A reference model analyzes every live text
//! with the same analyzer (`analysis::analyze`) and answers by set
//! containment; MATCH with `operator = 'and'` must return exactly those rows.
//! The top-N path (`ORDER BY _score DESC LIMIT n`, which skips rows that
//! cannot make the cut) must return the best `n` of the full scored list.
#![cfg(not(madsim))]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use proptest::prelude::*;
use shoal_engine::analysis;
use shoal_engine::disk::{Disk, MemDisk};
use shoal_engine::node::{Node, NodeConfig, QueryResult, Session};
use shoal_engine::types::Value;

const WORDS: &[&str] = &[
    "The", "time", "times", "Time's", "people", "People", "a", "of", "and", "quick", "fox",
    "foxes", "running", "runs", "dog", "Dogs", "galaxy", "galaxies", "end", "is", "not", "x1",
];

fn text() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(WORDS), 0..10).prop_map(|w| {
        let mut s = w.join(" ");
        if s.len() % 3 == 0 {
            s.push('.');
        }
        s
    })
}

fn run(rt: &real_tokio::runtime::Runtime, node: &Node, sql: &str, args: Vec<Value>) -> QueryResult {
    rt.block_on(node.execute(&Session::default(), sql, args))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn terms(analyzer: &str, text: &str) -> BTreeSet<String> {
    let mut a = analysis::build(analyzer, &BTreeMap::new()).expect("analyzer");
    analysis::analyze(&mut a, text).into_iter().collect()
}

fn ids(r: &QueryResult) -> BTreeSet<i64> {
    r.rows.iter().filter_map(|row| row[0].as_int()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn match_and_returns_exactly_the_rows_holding_every_term(
        batches in proptest::collection::vec(proptest::collection::vec(text(), 1..25), 1..4),
        queries in proptest::collection::vec(text(), 1..6),
        analyzer in proptest::sample::select(&["english", "standard", "simple", "whitespace"][..]),
        deletes in 0i64..5,
    ) {
        let rt = real_tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let disk: Arc<dyn Disk> = Arc::new(MemDisk::new());
        let node = Node::open(NodeConfig::default(), disk).unwrap();
        run(&rt, &node, &format!(
            "CREATE TABLE t (id INT PRIMARY KEY, txt TEXT INDEX USING FULLTEXT WITH (analyzer = '{analyzer}')) \
             CLUSTERED INTO 2 SHARDS WITH (refresh_interval = 0)"), vec![]);
        let mut model: BTreeMap<i64, String> = BTreeMap::new();
        let mut id = 0i64;
        for batch in &batches {
            for t in batch {
                id += 1;
                run(&rt, &node, "INSERT INTO t (id, txt) VALUES (?, ?)", vec![Value::Int(id), Value::Text(t.clone())]);
                model.insert(id, t.clone());
            }
            run(&rt, &node, "REFRESH TABLE t", vec![]);
        }
        // Deletes and updates leave dead documents behind in segments (and in
        // the term statistics, as Lucene's).
        run(&rt, &node, &format!("DELETE FROM t WHERE id % 5 = {deletes}"), vec![]);
        model.retain(|k, _| k % 5 != deletes);
        run(&rt, &node, "UPDATE t SET txt = txt || ' fox' WHERE id % 4 = 0", vec![]);
        for (k, v) in model.iter_mut() {
            if k % 4 == 0 {
                v.push_str(" fox");
            }
        }
        run(&rt, &node, "REFRESH TABLE t", vec![]);
        for q in &queries {
            let wanted = terms(analyzer, q);
            let expected: BTreeSet<i64> = if wanted.is_empty() {
                BTreeSet::new()
            } else {
                model.iter().filter(|(_, t)| terms(analyzer, t).is_superset(&wanted)).map(|(k, _)| *k).collect()
            };
            let got = run(&rt, &node,
                "SELECT id FROM t WHERE MATCH(txt, ?) USING best_fields WITH (operator = 'and')",
                vec![Value::Text(q.clone())]);
            prop_assert_eq!(ids(&got), expected, "query {:?} ({} analyzer)", q, analyzer);

            // The top 3 by score are the first 3 of the full list by score.
            let all = run(&rt, &node, "SELECT id, _score FROM t WHERE MATCH(txt, ?)", vec![Value::Text(q.clone())]);
            let top = run(&rt, &node, "SELECT id, _score FROM t WHERE MATCH(txt, ?) ORDER BY _score DESC LIMIT 3", vec![Value::Text(q.clone())]);
            let scores = |r: &QueryResult| -> Vec<f64> { r.rows.iter().filter_map(|row| row[1].as_f64()).collect() };
            let mut best = scores(&all);
            best.truncate(3);
            prop_assert_eq!(scores(&top), best, "top 3 of {:?}", q);
            for row in &top.rows {
                prop_assert!(all.rows.contains(row), "{:?} is in the full list", row);
            }
        }
    }
}
