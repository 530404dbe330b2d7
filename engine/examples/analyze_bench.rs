//! How fast an analyzer turns text into tokens: the `note` column of the
//! steps benchmark's CSV through `english` (or the analyzer named second).
//!
//!     cargo run --release -p shoal-engine --example analyze_bench -- target/bench-data/steps_1000000.csv [english]

use std::collections::BTreeMap;
use std::time::Instant;

use tantivy::tokenizer::TokenStream;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("CSV path");
    let name = args.next().unwrap_or_else(|| "english".into());
    let text = std::fs::read_to_string(&path).expect("read CSV");
    let notes: Vec<&str> = text
        .lines()
        .skip(1)
        .filter_map(|l| l.rsplit(',').next())
        .collect();
    let mut analyzer = shoal_engine::analysis::build(&name, &BTreeMap::new()).expect("analyzer");
    for _ in 0..3 {
        let started = Instant::now();
        let mut tokens = 0usize;
        for n in &notes {
            let mut s = analyzer.token_stream(n);
            while s.advance() {
                tokens += s.token().text.len();
            }
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "{name}: {} texts in {secs:.2} s, {:.0} ns per text ({tokens} bytes of tokens)",
            notes.len(),
            secs * 1e9 / notes.len() as f64
        );
    }
}
