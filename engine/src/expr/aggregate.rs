//! Aggregate functions as mergeable states.
//!
//! Aggregation runs in two steps, as in CrateDB: each shard folds its rows
//! into partial [`AggState`]s, the handler merges the partial states of all
//! shards and finishes them into values.

use std::collections::HashSet;

use super::{EvalCtx, Expr};
use crate::breaker::HeapSize;
use crate::error::{Error, Result};
use crate::types::cast::{cast, text_of};
use crate::types::{DataType, Value};

/// An aggregate function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AggFunc {
    CountStar,
    Count,
    Sum,
    Avg,
    Min,
    Max,
    Arbitrary,
    ArrayAgg,
    StringAgg,
    Percentile,
    Variance,
    StdDev,
    GeometricMean,
    /// `hyperloglog_distinct`: computed exactly (an estimate with zero error).
    ApproxDistinct,
}

impl AggFunc {
    /// Resolves an aggregate by name, or `None` if `name` is not an aggregate.
    pub fn from_name(name: &str) -> Option<AggFunc> {
        Some(match name.to_ascii_lowercase().as_str() {
            "count" => AggFunc::Count,
            "sum" => AggFunc::Sum,
            "avg" | "mean" => AggFunc::Avg,
            "min" => AggFunc::Min,
            "max" => AggFunc::Max,
            "arbitrary" | "any_value" => AggFunc::Arbitrary,
            "array_agg" => AggFunc::ArrayAgg,
            "string_agg" => AggFunc::StringAgg,
            "percentile" => AggFunc::Percentile,
            "variance" | "var_samp" | "var_pop" => AggFunc::Variance,
            "stddev" | "stddev_samp" | "stddev_pop" => AggFunc::StdDev,
            "geometric_mean" => AggFunc::GeometricMean,
            "hyperloglog_distinct" | "approx_count_distinct" => AggFunc::ApproxDistinct,
            _ => return None,
        })
    }

    /// The result type for an argument type.
    pub fn result_type(self, arg: &DataType, args: &[DataType]) -> DataType {
        match self {
            AggFunc::CountStar | AggFunc::Count | AggFunc::ApproxDistinct => DataType::BigInt,
            AggFunc::Sum => match arg {
                DataType::Real => DataType::Real,
                DataType::Double | DataType::Text | DataType::Undefined => DataType::Double,
                _ => DataType::BigInt,
            },
            AggFunc::Avg | AggFunc::Variance | AggFunc::StdDev | AggFunc::GeometricMean => {
                DataType::Double
            }
            AggFunc::Min | AggFunc::Max | AggFunc::Arbitrary => arg.clone(),
            AggFunc::ArrayAgg => DataType::Array(Box::new(arg.clone())),
            AggFunc::StringAgg => DataType::Text,
            AggFunc::Percentile => match args.get(1) {
                Some(DataType::Array(_)) => DataType::Array(Box::new(DataType::Double)),
                _ => DataType::Double,
            },
        }
    }
}

/// A bound aggregate call.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AggCall {
    pub func: AggFunc,
    pub args: Vec<Expr>,
    pub distinct: bool,
    /// FILTER (WHERE ...)
    pub filter: Option<Expr>,
    pub ty: DataType,
}

/// The partial state of one aggregate.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum AggState {
    Count(i64),
    SumInt(i128, bool),
    SumFloat(f64, bool),
    Avg { sum: f64, count: i64 },
    Min(Value),
    Max(Value),
    Arbitrary(Value),
    Values(Vec<Value>),
    StringAgg(Vec<(String, String)>),
    Moments { n: f64, sum: f64, sum_sq: f64 },
    LogSum { sum: f64, count: i64 },
    Distinct(HashSet<Value>),
    Percentile { values: Vec<f64>, fractions: Value },
}

impl AggCall {
    /// A fresh state for this call.
    pub fn init(&self) -> AggState {
        if self.distinct && self.func != AggFunc::CountStar {
            return AggState::Distinct(HashSet::new());
        }
        match self.func {
            AggFunc::CountStar | AggFunc::Count => AggState::Count(0),
            AggFunc::ApproxDistinct => AggState::Distinct(HashSet::new()),
            AggFunc::Sum => {
                if self.ty.is_integral() {
                    AggState::SumInt(0, false)
                } else {
                    AggState::SumFloat(0.0, false)
                }
            }
            AggFunc::Avg => AggState::Avg { sum: 0.0, count: 0 },
            AggFunc::Min => AggState::Min(Value::Null),
            AggFunc::Max => AggState::Max(Value::Null),
            AggFunc::Arbitrary => AggState::Arbitrary(Value::Null),
            AggFunc::ArrayAgg => AggState::Values(Vec::new()),
            AggFunc::StringAgg => AggState::StringAgg(Vec::new()),
            AggFunc::Variance | AggFunc::StdDev => AggState::Moments {
                n: 0.0,
                sum: 0.0,
                sum_sq: 0.0,
            },
            AggFunc::GeometricMean => AggState::LogSum { sum: 0.0, count: 0 },
            AggFunc::Percentile => AggState::Percentile {
                values: Vec::new(),
                fractions: Value::Null,
            },
        }
    }

    /// Folds one input row into `state`; returns the bytes the state grew
    /// by, for memory accounting (0 for fixed-size states).
    pub fn update(&self, state: &mut AggState, row: &[Value], ctx: &EvalCtx) -> Result<usize> {
        if let Some(f) = &self.filter
            && !f.matches(row, ctx)?
        {
            return Ok(0);
        }
        if self.func == AggFunc::CountStar {
            if let AggState::Count(c) = state {
                *c += 1;
            }
            return Ok(0);
        }
        let v = match self.args.first() {
            Some(a) => a.eval(row, ctx)?,
            None => Value::Null,
        };
        match state {
            AggState::Percentile { fractions, .. } if fractions.is_null() => {
                *fractions = match self.args.get(1) {
                    Some(f) => f.eval(row, ctx)?,
                    None => Value::Null,
                };
            }
            AggState::StringAgg(items) => {
                if !v.is_null() {
                    let sep = match self.args.get(1) {
                        Some(s) => s.eval(row, ctx)?,
                        None => Value::Null,
                    };
                    let sep = if sep.is_null() {
                        String::new()
                    } else {
                        text_of(&sep)
                    };
                    let item = (text_of(&v), sep);
                    let grew = item.0.len() + item.1.len() + size_of::<(String, String)>();
                    items.push(item);
                    return Ok(grew);
                }
                return Ok(0);
            }
            _ => {}
        }
        self.update_value(state, v)
    }

    /// Folds one argument value into `state`; returns the bytes it grew by.
    pub fn update_value(&self, state: &mut AggState, v: Value) -> Result<usize> {
        if v.is_null() && self.func != AggFunc::ArrayAgg {
            return Ok(0);
        }
        // Values the state keeps: what they take is what it grows by.
        let kept = match state {
            AggState::Min(_)
            | AggState::Max(_)
            | AggState::Arbitrary(_)
            | AggState::Values(_)
            | AggState::Distinct(_) => v.heap_size(),
            AggState::StringAgg(_) => v.heap_size() + size_of::<(String, String)>(),
            AggState::Percentile { .. } => size_of::<f64>(),
            _ => 0,
        };
        match state {
            AggState::Count(c) => *c += 1,
            AggState::SumInt(s, seen) => {
                *s += v.as_int().unwrap_or(0) as i128;
                *seen = true;
            }
            AggState::SumFloat(s, seen) => {
                *s += numeric(&v)?;
                *seen = true;
            }
            AggState::Avg { sum, count } => {
                *sum += numeric(&v)?;
                *count += 1;
            }
            AggState::Min(m) => {
                if m.is_null() || v < *m {
                    *m = v;
                }
            }
            AggState::Max(m) => {
                if m.is_null() || v > *m {
                    *m = v;
                }
            }
            AggState::Arbitrary(a) => {
                if a.is_null() {
                    *a = v;
                }
            }
            AggState::Values(items) => items.push(v),
            AggState::StringAgg(items) => items.push((text_of(&v), String::new())),
            AggState::Moments { n, sum, sum_sq } => {
                let x = numeric(&v)?;
                *n += 1.0;
                *sum += x;
                *sum_sq += x * x;
            }
            AggState::LogSum { sum, count } => {
                *sum += numeric(&v)?.ln();
                *count += 1;
            }
            AggState::Distinct(set) => {
                if !set.insert(v) {
                    return Ok(0);
                }
            }
            AggState::Percentile { values, .. } => values.push(numeric(&v)?),
        }
        Ok(kept)
    }

    /// Merges a partial state from another shard into `into`.
    pub fn merge(&self, into: &mut AggState, other: AggState) {
        match (into, other) {
            (AggState::Count(a), AggState::Count(b)) => *a += b,
            (AggState::SumInt(a, sa), AggState::SumInt(b, sb)) => {
                *a += b;
                *sa |= sb;
            }
            (AggState::SumFloat(a, sa), AggState::SumFloat(b, sb)) => {
                *a += b;
                *sa |= sb;
            }
            (AggState::Avg { sum, count }, AggState::Avg { sum: s2, count: c2 }) => {
                *sum += s2;
                *count += c2;
            }
            (AggState::Min(a), AggState::Min(b)) if !b.is_null() && (a.is_null() || b < *a) => {
                *a = b;
            }
            (AggState::Max(a), AggState::Max(b)) if !b.is_null() && (a.is_null() || b > *a) => {
                *a = b;
            }
            (AggState::Arbitrary(a), AggState::Arbitrary(b)) if a.is_null() => {
                *a = b;
            }
            (AggState::Values(a), AggState::Values(b)) => a.extend(b),
            (AggState::StringAgg(a), AggState::StringAgg(b)) => a.extend(b),
            (
                AggState::Moments { n, sum, sum_sq },
                AggState::Moments {
                    n: n2,
                    sum: s2,
                    sum_sq: q2,
                },
            ) => {
                *n += n2;
                *sum += s2;
                *sum_sq += q2;
            }
            (AggState::LogSum { sum, count }, AggState::LogSum { sum: s2, count: c2 }) => {
                *sum += s2;
                *count += c2;
            }
            (AggState::Distinct(a), AggState::Distinct(b)) => a.extend(b),
            (
                AggState::Percentile { values, fractions },
                AggState::Percentile {
                    values: v2,
                    fractions: f2,
                },
            ) => {
                values.extend(v2);
                if fractions.is_null() {
                    *fractions = f2;
                }
            }
            _ => {}
        }
    }

    /// Produces the final value.
    pub fn finish(&self, state: AggState) -> Result<Value> {
        let v = match state {
            AggState::Count(c) => Value::Int(c),
            AggState::SumInt(_, false) | AggState::SumFloat(_, false) => Value::Null,
            AggState::SumInt(s, true) => {
                Value::Int(i64::try_from(s).map_err(|_| Error::Arithmetic("long overflow".into()))?)
            }
            AggState::SumFloat(s, true) => Value::Float(s),
            AggState::Avg { count: 0, .. } => Value::Null,
            AggState::Avg { sum, count } => Value::Float(sum / count as f64),
            AggState::Min(v) | AggState::Max(v) | AggState::Arbitrary(v) => v,
            AggState::Values(items) if items.is_empty() => Value::Null,
            AggState::Values(items) => Value::Array(items),
            AggState::StringAgg(items) if items.is_empty() => Value::Null,
            AggState::StringAgg(items) => {
                let mut out = String::new();
                for (i, (s, sep)) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(sep);
                    }
                    out.push_str(s);
                }
                Value::Text(out)
            }
            AggState::Moments { n, sum, sum_sq } => {
                if n == 0.0 {
                    Value::Null
                } else {
                    let mean = sum / n;
                    let var = (sum_sq / n - mean * mean).max(0.0);
                    Value::Float(if self.func == AggFunc::StdDev {
                        var.sqrt()
                    } else {
                        var
                    })
                }
            }
            AggState::LogSum { count: 0, .. } => Value::Null,
            AggState::LogSum { sum, count } => Value::Float((sum / count as f64).exp()),
            AggState::Distinct(set) => return self.finish_distinct(set),
            AggState::Percentile {
                mut values,
                fractions,
            } => {
                if values.is_empty() {
                    return Ok(Value::Null);
                }
                values.sort_by(|a, b| a.total_cmp(b));
                let pick = |f: f64| -> Result<Value> {
                    if !(0.0..=1.0).contains(&f) {
                        return Err(Error::InvalidArgument(format!(
                            "q should be in [0,1], got {f}"
                        )));
                    }
                    let rank = f * (values.len() - 1) as f64;
                    let lo = rank.floor() as usize;
                    let hi = rank.ceil() as usize;
                    let w = rank - lo as f64;
                    Ok(Value::Float(values[lo] * (1.0 - w) + values[hi] * w))
                };
                match fractions {
                    Value::Array(fs) => {
                        let mut out = Vec::new();
                        for f in fs {
                            out.push(pick(f.as_f64().unwrap_or(f64::NAN))?);
                        }
                        Value::Array(out)
                    }
                    f => pick(f.as_f64().unwrap_or(f64::NAN))?,
                }
            }
        };
        Ok(v)
    }

    fn finish_distinct(&self, set: HashSet<Value>) -> Result<Value> {
        if matches!(self.func, AggFunc::Count | AggFunc::ApproxDistinct) {
            return Ok(Value::Int(set.len() as i64));
        }
        let plain = AggCall {
            distinct: false,
            filter: None,
            ..self.clone()
        };
        let mut state = plain.init();
        let mut values: Vec<Value> = set.into_iter().collect();
        values.sort();
        for v in values {
            plain.update_value(&mut state, v)?;
        }
        plain.finish(state)
    }
}

fn numeric(v: &Value) -> Result<f64> {
    match v.as_f64() {
        Some(f) => Ok(f),
        None => match cast(v.clone(), &DataType::Double)? {
            Value::Float(f) => Ok(f),
            _ => Ok(0.0),
        },
    }
}
