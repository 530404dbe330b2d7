//! Date and time functions: `date_trunc`, `extract`, `date_format`,
//! `now()` (the statement's clock) and `timezone` / `AT TIME ZONE`.
//! Timestamps are epoch milliseconds; the calendar work is in
//! [`crate::types::time`].

use super::Func;
use super::args::{int_arg, text_arg};
use crate::error::{Error, Result};
use crate::expr::EvalCtx;
use crate::types::cast::cast;
use crate::types::time::{TruncError, Zone, date_format, date_trunc, extract, extract_is_integral};
use crate::types::{DataType, Value};

impl Func {
    /// Evaluates a date or time function.
    pub(super) fn eval_time(self, args: &[Value], ty: &DataType, ctx: &EvalCtx) -> Result<Value> {
        use Value::*;
        let text = |i: usize| text_arg(args, i);
        let int = |i: usize| int_arg(args, i);
        let out = match self {
            Func::DateTrunc => {
                let unit = text(0);
                let ms = int(args.len() - 1)?;
                let zone = if args.len() == 3 {
                    Some(zone(&text(1))?)
                } else {
                    None
                };
                match date_trunc(&unit, ms, zone.as_ref()) {
                    Ok(v) => Int(v),
                    Err(TruncError::Unit) => {
                        return Err(Error::InvalidArgument(format!(
                            "Invalid interval '{unit}' for scalar 'date_trunc'"
                        )));
                    }
                    Err(TruncError::Range) => {
                        return Err(Error::InvalidArgument(format!(
                            "date_trunc('{unit}', {ms}): the result is out of the range of timestamps"
                        )));
                    }
                }
            }
            Func::Timezone => {
                let z = zone(&text(0))?;
                let ms = int(1)?;
                // To wall-clock time for a timestamp with time zone; from it
                // for one without (the result type says which way).
                let moved = match ty {
                    DataType::Timestamp { tz: false } => ms.checked_add(z.offset_ms(ms)),
                    _ => z.utc_from_local(ms),
                };
                Int(moved.ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "timezone: {ms} is out of the range of timestamps"
                    ))
                })?)
            }
            Func::Extract => {
                let field = text(0);
                let ms = int(1)?;
                match extract(&field, ms) {
                    Some(v) if extract_is_integral(&field) => Int(v as i64),
                    Some(v) => Float(v),
                    None if extract(&field, 0).is_some() => {
                        return Err(Error::InvalidArgument(format!(
                            "extract({field}): timestamp {ms} is outside the calendar's range"
                        )));
                    }
                    None => {
                        return Err(Error::InvalidArgument(format!(
                            "unsupported extract field {field}"
                        )));
                    }
                }
            }
            Func::DateFormat => {
                let ts = args.last().cloned().unwrap_or(Null);
                if ts.is_null() {
                    return Ok(Null);
                }
                let ms = match cast(ts, &DataType::Timestamp { tz: true })? {
                    Int(ms) => ms,
                    _ => return Ok(Null),
                };
                let fmt = if args.len() >= 2 {
                    text(0)
                } else {
                    "%Y-%m-%dT%H:%i:%s.%fZ".into()
                };
                let ms = if args.len() == 3 {
                    let z = zone(&text(1))?;
                    ms.saturating_add(z.offset_ms(ms))
                } else {
                    ms
                };
                Text(date_format(&fmt, ms))
            }
            Func::Now => Int(ctx.now_ms),
            _ => unreachable!("{self:?} is not a time function"),
        };
        Ok(out)
    }
}

/// A time zone argument.
fn zone(name: &str) -> Result<Zone> {
    Zone::parse(name).map_err(Error::InvalidArgument)
}
