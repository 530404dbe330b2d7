//! Text functions: concatenation (of arrays too, for `||`), `format`
//! (printf-style), case, substrings, lengths, trimming, padding, search and
//! replace. Functions that can build a large string check its size against
//! the largest value and the statement's memory.

use super::Func;
use super::args::{ensure_size, int_arg, text_arg};
use crate::error::{Error, Result};
use crate::expr::EvalCtx;
use crate::expr::like::regex_cached;
use crate::types::Value;
use crate::types::cast::text_of;

impl Func {
    /// Evaluates a text function.
    pub(super) fn eval_string(self, args: &[Value], ctx: &EvalCtx) -> Result<Value> {
        use Value::*;
        let text = |i: usize| text_arg(args, i);
        let int = |i: usize| int_arg(args, i);
        let out = match self {
            Func::Concat | Func::ConcatOp => {
                if let Some(Array(_)) = args.first() {
                    let mut out = Vec::new();
                    for a in args {
                        match a {
                            Array(items) => out.extend(items.iter().cloned()),
                            Null => {}
                            other => out.push(other.clone()),
                        }
                    }
                    Array(out)
                } else {
                    let mut s = String::new();
                    for a in args {
                        if !a.is_null() {
                            let part = text_of(a);
                            ensure_size(ctx, s.len().saturating_add(part.len()), "concat")?;
                            s.push_str(&part);
                        }
                    }
                    Text(s)
                }
            }
            Func::Format => match &args[0] {
                Null => Null,
                _ => Text(format_printf(&text(0), &args[1..], ctx)?),
            },
            Func::Lower => Text(text(0).to_lowercase()),
            Func::Upper => Text(text(0).to_uppercase()),
            Func::Substr => {
                let s = text(0);
                let start = int(1)?;
                let len = if args.len() > 2 { Some(int(2)?) } else { None };
                if let Some(l) = len
                    && l < 0
                {
                    return Err(Error::InvalidArgument(
                        "negative substring length not allowed".into(),
                    ));
                }
                // 1-based character positions: [from, end).
                let from = start.max(1);
                let end = match len {
                    Some(l) => start.saturating_add(l),
                    None => i64::MAX,
                };
                if end <= from {
                    Text(String::new())
                } else {
                    let take = usize::try_from(end - from).unwrap_or(usize::MAX);
                    let skip = usize::try_from(from - 1).unwrap_or(usize::MAX);
                    Text(s.chars().skip(skip).take(take).collect())
                }
            }
            Func::Length => Int(text(0).chars().count() as i64),
            Func::OctetLength => Int(text(0).len() as i64),
            Func::BitLength => Int(text(0).len() as i64 * 8),
            Func::Trim | Func::LTrim | Func::RTrim => {
                let s = text(0);
                let chars: Vec<char> = if args.len() > 1 {
                    text(1).chars().collect()
                } else {
                    vec![' ']
                };
                let t = match self {
                    Func::Trim => s.trim_matches(chars.as_slice()),
                    Func::LTrim => s.trim_start_matches(chars.as_slice()),
                    _ => s.trim_end_matches(chars.as_slice()),
                };
                Text(t.to_string())
            }
            Func::Replace => {
                let (s, from, to) = (text(0), text(1), text(2));
                if !from.is_empty() && to.len() > from.len() {
                    let grows = s.matches(from.as_str()).count() * (to.len() - from.len());
                    ensure_size(ctx, s.len().saturating_add(grows), "replace")?;
                }
                Text(s.replace(&from, &to))
            }
            Func::Left | Func::Right => {
                let s = text(0);
                let n = int(1)?;
                let len = s.chars().count() as i64;
                let take = if n >= 0 { n.min(len) } else { (len + n).max(0) } as usize;
                let out: String = if self == Func::Left {
                    s.chars().take(take).collect()
                } else {
                    s.chars().skip(len as usize - take).collect()
                };
                Text(out)
            }
            Func::Reverse => Text(text(0).chars().rev().collect()),
            Func::Repeat => {
                let n = usize::try_from(int(1)?.max(0)).unwrap_or(usize::MAX);
                let s = text(0);
                ensure_size(ctx, s.len().saturating_mul(n), "repeat")?;
                Text(s.repeat(n))
            }
            Func::InitCap => {
                let mut out = String::new();
                let mut start = true;
                for c in text(0).chars() {
                    if c.is_alphanumeric() {
                        if start {
                            out.extend(c.to_uppercase());
                        } else {
                            out.extend(c.to_lowercase());
                        }
                        start = false;
                    } else {
                        out.push(c);
                        start = true;
                    }
                }
                Text(out)
            }
            Func::StrPos => {
                let s = text(0);
                let needle = text(1);
                Int(match s.find(&needle) {
                    Some(byte) => s[..byte].chars().count() as i64 + 1,
                    None => 0,
                })
            }
            Func::SplitPart => {
                let n = int(2)?;
                if n <= 0 {
                    return Err(Error::InvalidArgument(
                        "field position must be greater than zero".into(),
                    ));
                }
                let s = text(0);
                let d = text(1);
                let part = if d.is_empty() {
                    if n == 1 { Some(s.as_str()) } else { None }
                } else {
                    s.split(d.as_str()).nth(n as usize - 1)
                };
                Text(part.unwrap_or("").to_string())
            }
            Func::RegexpReplace => {
                let flags = if args.len() > 3 {
                    text(3)
                } else {
                    String::new()
                };
                let re = regex_cached(&text(1), flags.contains('i'), false)?;
                let replacement = text(2).replace("\\", "$");
                let input = text(0);
                // Expanded by hand, so that a replacement that repeats its
                // captures cannot build an unbounded string unchecked.
                let mut out = String::with_capacity(input.len());
                let mut last = 0;
                for caps in re.captures_iter(&input) {
                    let Some(m) = caps.get(0) else { continue };
                    out.push_str(&input[last..m.start()]);
                    caps.expand(&replacement, &mut out);
                    last = m.end();
                    ensure_size(ctx, out.len() + (input.len() - last), "regexp_replace")?;
                    if !flags.contains('g') {
                        break;
                    }
                }
                out.push_str(&input[last..]);
                Text(out)
            }
            Func::Lpad | Func::Rpad => {
                let s = text(0);
                let chars = s.chars().count();
                let len = usize::try_from(int(1)?.max(0)).unwrap_or(usize::MAX);
                let fill: Vec<char> = if args.len() > 2 {
                    text(2).chars().collect()
                } else {
                    vec![' ']
                };
                if chars >= len || fill.is_empty() {
                    Text(s.chars().take(len).collect())
                } else {
                    let widest = fill.iter().map(|c| c.len_utf8()).max().unwrap_or(1);
                    let pad_chars = len - chars;
                    ensure_size(
                        ctx,
                        s.len().saturating_add(pad_chars.saturating_mul(widest)),
                        if self == Func::Lpad { "lpad" } else { "rpad" },
                    )?;
                    let pad: String = fill.iter().cycle().take(pad_chars).collect();
                    Text(if self == Func::Lpad {
                        pad + &s
                    } else {
                        s + &pad
                    })
                }
            }
            _ => unreachable!("{self:?} is not a text function"),
        };
        Ok(out)
    }
}

/// `format(fmt, args...)`: the subset of Java's `String.format` that SQL
/// uses: `%s`, `%d`, `%f` (with `.N` precision), `%n`, `%%`, and explicit
/// argument indexes (`%2$s`). NULL arguments print as `null`, as in Java.
fn format_printf(fmt: &str, args: &[Value], ctx: &EvalCtx) -> Result<String> {
    let java = |v: &Value| -> String {
        match v {
            Value::Null => "null".into(),
            Value::Bool(b) => b.to_string(),
            other => text_of(other),
        }
    };
    let bad = |spec: &str| Error::InvalidArgument(format!("Unsupported format specifier: %{spec}"));
    let mut out = String::with_capacity(fmt.len());
    let mut next = 0usize;
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = String::new();
        while let Some(&d) = chars.peek() {
            if d.is_ascii_digit() || d == '$' || d == '.' {
                spec.push(d);
                chars.next();
            } else {
                break;
            }
        }
        let conv = chars.next().ok_or_else(|| bad(&spec))?;
        let (index, precision) = match spec.split_once('$') {
            Some((i, rest)) => (
                Some(i.parse::<usize>().map_err(|_| bad(&spec))?),
                rest.to_string(),
            ),
            None => (None, spec.clone()),
        };
        let precision = match precision.strip_prefix('.') {
            Some(p) => Some(p.parse::<usize>().map_err(|_| bad(&spec))?),
            None if precision.is_empty() => None,
            None => return Err(bad(&spec)),
        };
        let mut arg = || -> Result<&Value> {
            let i = match index {
                Some(i) if i >= 1 => i - 1,
                Some(_) => return Err(bad(&spec)),
                None => {
                    next += 1;
                    next - 1
                }
            };
            args.get(i).ok_or_else(|| {
                Error::InvalidArgument(format!("Missing format argument for %{spec}{conv}"))
            })
        };
        match conv {
            '%' => out.push('%'),
            'n' => out.push('\n'),
            's' | 'S' => {
                let v = java(arg()?);
                let v = match precision {
                    Some(p) => v.chars().take(p).collect(),
                    None => v,
                };
                out.push_str(&if conv == 'S' { v.to_uppercase() } else { v });
            }
            'd' => match arg()? {
                Value::Null => out.push_str("null"),
                Value::Int(i) => out.push_str(&i.to_string()),
                other => {
                    return Err(Error::InvalidArgument(format!(
                        "%d needs an integer, got {}",
                        java(other)
                    )));
                }
            },
            'f' => match arg()? {
                Value::Null => out.push_str("null"),
                v => {
                    let f = v.as_f64().ok_or_else(|| {
                        Error::InvalidArgument(format!("%f needs a number, got {}", java(v)))
                    })?;
                    let precision = precision.unwrap_or(6);
                    ensure_size(ctx, out.len().saturating_add(precision), "format")?;
                    // An f64's exact decimal expansion ends within 1,100
                    // fractional digits; beyond that every digit is a zero
                    // (and Rust's formatter refuses precisions past 65,535).
                    let exact = precision.min(1100);
                    out.push_str(&format!("{f:.exact$}"));
                    if f.is_finite() {
                        out.extend(std::iter::repeat_n('0', precision - exact));
                    }
                }
            },
            _ => return Err(bad(&format!("{spec}{conv}"))),
        }
    }
    Ok(out)
}
