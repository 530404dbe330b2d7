//! Table statistics: what `ANALYZE` learns about each table's rows, for
//! the planner's row estimates (EXPLAIN's `rows=`) and `pg_catalog.pg_stats`.
//!
//! As in CrateDB, whose statistics follow PostgreSQL's definitions, a
//! table's statistics come from a sample of at most [`SAMPLE_ROWS`] rows
//! (every row of a smaller table): per column the share of NULLs, the
//! average width, the number of distinct values (estimated for the whole
//! table when the sample is not all of it), the most common values with
//! their frequencies, and a histogram of the other values. They are cluster
//! state: `ANALYZE` replaces them in the catalog, which every node holds.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::types::Value;
use crate::types::json::{from_json, to_json};

/// At most this many rows of a table are read to compute its statistics.
pub const SAMPLE_ROWS: usize = 30_000;

/// At most this many most common values and histogram bounds per column
/// (PostgreSQL's default statistics target).
const TARGET: usize = 100;

/// Values wider than this (in bytes) count for NULLs, widths and distinct
/// values but are not kept as common values or bounds, as PostgreSQL's
/// `WIDTH_THRESHOLD`: statistics stay small.
const MAX_KEPT_WIDTH: usize = 1024;

/// One table's statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableStats {
    /// The table's rows when it was analyzed.
    pub num_docs: u64,
    /// An estimate of the table's size: rows times their average width.
    pub size_in_bytes: u64,
    /// Top-level columns, by name.
    pub columns: BTreeMap<String, ColumnStats>,
}

/// One column's statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnStats {
    /// The share of rows where the column is NULL.
    pub null_fraction: f64,
    /// The average width of the non-NULL values, in bytes.
    pub avg_width: f64,
    /// The estimated number of distinct non-NULL values in the table.
    pub distinct: f64,
    /// The most common values, most common first, with the share of all rows
    /// each has.
    #[serde(with = "json_values")]
    pub most_common: Vec<Value>,
    pub most_common_freqs: Vec<f64>,
    /// Bounds that divide the values that are not among the most common
    /// into groups of about equal size, ascending.
    #[serde(with = "json_values")]
    pub histogram: Vec<Value>,
}

impl TableStats {
    /// Statistics from a sample of `num_docs` rows (`sample` holds one
    /// vector per column, named by `names`).
    pub fn from_sample(num_docs: u64, names: &[String], sample: &[Vec<Value>]) -> TableStats {
        let mut columns = BTreeMap::new();
        let mut row_width = 0.0;
        for (name, values) in names.iter().zip(sample) {
            let stats = ColumnStats::from_sample(values, num_docs);
            row_width += stats.avg_width * (1.0 - stats.null_fraction);
            columns.insert(name.clone(), stats);
        }
        TableStats {
            num_docs,
            size_in_bytes: (row_width * num_docs as f64) as u64,
            columns,
        }
    }
}

impl ColumnStats {
    /// Statistics of one column from the sampled values of a table of
    /// `total` rows.
    pub fn from_sample(values: &[Value], total: u64) -> ColumnStats {
        let sampled = values.len();
        let mut counts: HashMap<&Value, usize> = HashMap::new();
        let mut nulls = 0usize;
        let mut width = 0usize;
        for v in values {
            if v.is_null() {
                nulls += 1;
                continue;
            }
            width += value_width(v);
            *counts.entry(v).or_default() += 1;
        }
        let non_null = sampled - nulls;
        if non_null == 0 {
            return ColumnStats {
                null_fraction: if sampled == 0 { 0.0 } else { 1.0 },
                avg_width: 0.0,
                distinct: 0.0,
                most_common: Vec::new(),
                most_common_freqs: Vec::new(),
                histogram: Vec::new(),
            };
        }
        let null_fraction = nulls as f64 / sampled as f64;
        let distinct = estimate_distinct(&counts, sampled, total.max(sampled as u64));

        // The most common values: those seen more than once and clearly more
        // often than the average value (all of them when the sample holds
        // every value more than once), as PostgreSQL chooses them.
        let mut by_count: Vec<(&Value, usize)> = counts
            .iter()
            .filter(|(v, _)| value_width(v) <= MAX_KEPT_WIDTH)
            .map(|(v, c)| (*v, *c))
            .collect();
        by_count.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        let every_value_repeats = counts.values().all(|c| *c > 1);
        let average = non_null as f64 / counts.len() as f64;
        let common: Vec<(&Value, usize)> = by_count
            .iter()
            .copied()
            .filter(|(_, c)| {
                *c > 1
                    && ((every_value_repeats && counts.len() <= TARGET)
                        || *c as f64 >= 1.25 * average)
            })
            .take(TARGET)
            .collect();
        let most_common_freqs = common
            .iter()
            .map(|(_, c)| *c as f64 / sampled as f64)
            .collect();

        // The histogram: the remaining values, sorted, cut into equal groups.
        let mut rest: Vec<&Value> = values
            .iter()
            .filter(|v| {
                !v.is_null()
                    && value_width(v) <= MAX_KEPT_WIDTH
                    && !common.iter().any(|(c, _)| c == v)
                    && orderable(v)
            })
            .collect();
        rest.sort();
        let histogram = bounds(&rest);
        ColumnStats {
            null_fraction,
            avg_width: width as f64 / non_null as f64,
            distinct,
            most_common: common.iter().map(|(v, _)| (*v).clone()).collect(),
            most_common_freqs,
            histogram,
        }
    }

    /// `n_distinct` as `pg_stats` shows it: a count, or, when the values
    /// grow with the table (more than a tenth of its rows are distinct),
    /// minus the share of rows that are distinct.
    pub fn n_distinct(&self, num_docs: u64) -> f64 {
        if num_docs > 0 && self.distinct > 0.1 * num_docs as f64 {
            -(self.distinct / num_docs as f64).min(1.0)
        } else {
            self.distinct
        }
    }

    /// The share of rows where the column equals `value`: its frequency if
    /// it is a common value, else an equal share of what the common values
    /// leave (PostgreSQL's `var_eq_const`).
    pub fn eq_selectivity(&self, value: &Value) -> f64 {
        if value.is_null() {
            return 0.0;
        }
        if let Some(i) = self.most_common.iter().position(|v| v == value) {
            return self.most_common_freqs[i];
        }
        let others = self.distinct - self.most_common.len() as f64;
        if others < 1.0 {
            // Every value is a common one, and this is not among them.
            return 0.0;
        }
        let common: f64 = self.most_common_freqs.iter().sum();
        ((1.0 - self.null_fraction - common) / others).clamp(0.0, 1.0)
    }
}

/// The histogram's bounds over sorted values: the first, the last, and
/// evenly spaced ones between, at most [`TARGET`].
fn bounds(sorted: &[&Value]) -> Vec<Value> {
    let n = sorted.len();
    if n < 2 {
        return Vec::new();
    }
    let count = TARGET.min(n);
    let mut out: Vec<Value> = (0..count)
        .map(|i| sorted[i * (n - 1) / (count - 1)].clone())
        .collect();
    out.dedup();
    if out.len() < 2 { Vec::new() } else { out }
}

/// Haas and Stokes' estimator (PostgreSQL's): from `d` distinct values in a
/// sample of `n` rows of `total`, of which `f1` were seen once. A sample
/// that is the whole table counts exactly.
fn estimate_distinct(counts: &HashMap<&Value, usize>, n: usize, total: u64) -> f64 {
    let d = counts.len() as f64;
    if n as u64 >= total {
        return d;
    }
    let f1 = counts.values().filter(|c| **c == 1).count() as f64;
    let (n, total) = (n as f64, total as f64);
    if f1 >= n {
        // Every sampled value is unique: the column likely is.
        return total;
    }
    let estimate = n * d / (n - f1 + f1 * n / total);
    estimate.clamp(d, total).round()
}

/// Values a histogram can order meaningfully: not objects or arrays.
fn orderable(v: &Value) -> bool {
    !matches!(v, Value::Object(_) | Value::Array(_))
}

/// The bytes a value takes, roughly as stored.
fn value_width(v: &Value) -> usize {
    match v {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Int(_) | Value::Float(_) => 8,
        Value::Text(s) => s.len(),
        Value::Array(items) => items.iter().map(value_width).sum::<usize>() + 4,
        Value::Object(_) => to_json(v).to_string().len(),
    }
}

/// Values kept as JSON in the persisted catalog.
mod json_values {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::{Value, from_json, to_json};

    pub fn serialize<S: Serializer>(values: &[Value], s: S) -> Result<S::Ok, S::Error> {
        values.iter().map(to_json).collect::<Vec<_>>().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Value>, D::Error> {
        let json = Vec::<serde_json::Value>::deserialize(d)?;
        Ok(json.iter().map(from_json).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(values: &[i64]) -> Vec<Value> {
        values.iter().map(|v| Value::Int(*v)).collect()
    }

    #[test]
    fn a_unique_column_has_no_common_values() {
        let s = ColumnStats::from_sample(&ints(&[1, 2, 3, 4, 5, 6]), 6);
        assert_eq!(s.distinct, 6.0);
        assert!(s.most_common.is_empty());
        assert_eq!(s.eq_selectivity(&Value::Int(9)), 1.0 / 6.0);
        assert_eq!(s.n_distinct(6), -1.0);
        assert_eq!(s.histogram, ints(&[1, 2, 3, 4, 5, 6]));
    }

    #[test]
    fn repeated_values_are_common_with_their_frequencies() {
        let mut values = ints(&[1, 1, 1, 2, 2, 3]);
        values.push(Value::Null);
        values.push(Value::Null);
        let s = ColumnStats::from_sample(&values, 8);
        assert_eq!(s.null_fraction, 0.25);
        assert_eq!(s.distinct, 3.0);
        // Only 1 (3 of 8) is seen clearly more often than the average value
        // (2 of the 6 non-NULL rows): 2 repeats, but no more than average.
        assert_eq!(s.most_common, ints(&[1]));
        assert_eq!(s.most_common_freqs, vec![3.0 / 8.0]);
        assert_eq!(s.eq_selectivity(&Value::Int(1)), 3.0 / 8.0);
        // 2 and 3 share what is left: 1 - 0.25 (NULL) - 0.375 (common).
        assert_eq!(s.eq_selectivity(&Value::Int(3)), 0.1875);
        assert_eq!(s.histogram, ints(&[2, 3]));
        assert_eq!(s.eq_selectivity(&Value::Null), 0.0);
    }

    #[test]
    fn a_partial_sample_estimates_distinct_values_of_the_table() {
        // 1,000 sampled rows of a 100,000-row table, every value once: unique.
        let values: Vec<Value> = (0..1000).map(Value::Int).collect();
        let s = ColumnStats::from_sample(&values, 100_000);
        assert_eq!(s.distinct, 100_000.0);
        // Ten values, each 100 times: the table has those ten.
        let values: Vec<Value> = (0..1000).map(|i| Value::Int(i % 10)).collect();
        let s = ColumnStats::from_sample(&values, 100_000);
        assert_eq!(s.distinct, 10.0);
        assert_eq!(s.most_common.len(), 10);
        assert_eq!(s.n_distinct(100_000), 10.0);
    }

    #[test]
    fn statistics_survive_the_catalog_file() {
        let names = vec!["x".to_string(), "t".to_string()];
        let sample = vec![
            ints(&[1, 1, 2]),
            vec![
                Value::Text("a".into()),
                Value::Null,
                Value::Text("a".into()),
            ],
        ];
        let stats = TableStats::from_sample(3, &names, &sample);
        let json = serde_json::to_string(&stats).unwrap();
        let back: TableStats = serde_json::from_str(&json).unwrap();
        assert_eq!(back, stats);
        assert_eq!(back.columns["t"].most_common, vec![Value::Text("a".into())]);
    }
}
