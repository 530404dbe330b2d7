//! Timestamps: parsing literals, formatting, truncation and field extraction.
//!
//! Timestamps are `i64` milliseconds since the Unix epoch (UTC). A timestamp
//! *without* time zone stores the wall-clock reading as if it were UTC, as
//! CrateDB does.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};

/// Parses a timestamp literal into epoch milliseconds.
///
/// Accepts RFC 3339 (`2013-09-12T21:43:59.000Z`, `...+02:00`), `YYYY-MM-DD`,
/// `YYYY-MM-DD[T ]HH:MM[:SS[.fff]]` (UTC) and plain epoch milliseconds. With
/// `keep_local` (timestamp without time zone) an explicit offset is dropped
/// rather than applied.
pub fn parse_timestamp(s: &str, keep_local: bool) -> Option<i64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(ms) = s.parse::<i64>() {
        return Some(ms);
    }
    let normalized = if s.len() > 10 && s.as_bytes().get(10) == Some(&b' ') {
        let mut n = s.to_string();
        n.replace_range(10..11, "T");
        n
    } else {
        s.to_string()
    };
    if let Ok(dt) = DateTime::parse_from_rfc3339(&normalized) {
        return Some(if keep_local {
            dt.naive_local().and_utc().timestamp_millis()
        } else {
            dt.timestamp_millis()
        });
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M:%S%#z", "%Y-%m-%dT%H:%M%#z"] {
        if let Ok(dt) = DateTime::parse_from_str(&normalized, fmt) {
            return Some(if keep_local {
                dt.naive_local().and_utc().timestamp_millis()
            } else {
                dt.timestamp_millis()
            });
        }
    }
    let naive = normalized.trim_end_matches('Z');
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(naive, fmt) {
            return Some(dt.and_utc().timestamp_millis());
        }
    }
    for fmt in ["%Y-%m-%d", "%Y-%m", "%Y"] {
        let candidate = match fmt {
            "%Y-%m" => format!("{naive}-01"),
            "%Y" => format!("{naive}-01-01"),
            _ => naive.to_string(),
        };
        if let Ok(d) = NaiveDate::parse_from_str(&candidate, "%Y-%m-%d") {
            return d.and_hms_opt(0, 0, 0).map(|dt| dt.and_utc().timestamp_millis());
        }
    }
    None
}

fn to_datetime(ms: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(ms).single()
}

/// Formats epoch milliseconds as ISO 8601 (`2013-09-12T21:43:59.000Z`).
pub fn format_timestamp(ms: i64, tz: bool) -> String {
    match to_datetime(ms) {
        Some(dt) if tz => dt.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        Some(dt) => dt.format("%Y-%m-%dT%H:%M:%S%.3f").to_string(),
        None => ms.to_string(),
    }
}

/// `date_trunc(unit, ts)`: truncates to the start of the unit.
pub fn date_trunc(unit: &str, ms: i64) -> Option<i64> {
    let dt = to_datetime(ms)?;
    let d = dt.date_naive();
    let trunc_date = |date: NaiveDate| date.and_hms_opt(0, 0, 0).map(|x| x.and_utc());
    let out = match unit.to_ascii_lowercase().as_str() {
        "millennium" => trunc_date(NaiveDate::from_ymd_opt(d.year() - (d.year() - 1).rem_euclid(1000), 1, 1)?),
        "century" => trunc_date(NaiveDate::from_ymd_opt(d.year() - (d.year() - 1).rem_euclid(100), 1, 1)?),
        "decade" => trunc_date(NaiveDate::from_ymd_opt(d.year() - d.year().rem_euclid(10), 1, 1)?),
        "year" => trunc_date(NaiveDate::from_ymd_opt(d.year(), 1, 1)?),
        "quarter" => trunc_date(NaiveDate::from_ymd_opt(d.year(), (d.month() - 1) / 3 * 3 + 1, 1)?),
        "month" => trunc_date(NaiveDate::from_ymd_opt(d.year(), d.month(), 1)?),
        "week" => trunc_date(d - chrono::Duration::days(d.weekday().num_days_from_monday() as i64)),
        "day" => trunc_date(d),
        "hour" => return Some(ms - ms.rem_euclid(3_600_000)),
        "minute" => return Some(ms - ms.rem_euclid(60_000)),
        "second" => return Some(ms - ms.rem_euclid(1_000)),
        "milliseconds" | "millisecond" => return Some(ms),
        _ => return None,
    };
    out.map(|dt| dt.timestamp_millis())
}

/// `extract(field FROM ts)`; `None` for an unknown field.
pub fn extract(field: &str, ms: i64) -> Option<f64> {
    let dt = to_datetime(ms)?;
    let v = match field.to_ascii_lowercase().as_str() {
        "century" => ((dt.year() - 1) / 100 + 1) as f64,
        "year" => dt.year() as f64,
        "quarter" => ((dt.month() - 1) / 3 + 1) as f64,
        "month" => dt.month() as f64,
        "week" => dt.iso_week().week() as f64,
        "day" | "day_of_month" => dt.day() as f64,
        "day_of_week" | "dow" => dt.weekday().number_from_monday() as f64,
        "day_of_year" | "doy" => dt.ordinal() as f64,
        "hour" => dt.hour() as f64,
        "minute" => dt.minute() as f64,
        "second" => dt.second() as f64 + (ms.rem_euclid(1000) as f64) / 1000.0,
        "milliseconds" => (dt.second() * 1000) as f64 + ms.rem_euclid(1000) as f64,
        "epoch" => ms as f64 / 1000.0,
        _ => return None,
    };
    Some(v)
}

/// Whether `extract(field ...)` yields a whole number (CrateDB returns integer then).
pub fn extract_is_integral(field: &str) -> bool {
    !matches!(field.to_ascii_lowercase().as_str(), "second" | "epoch")
}

/// `date_format([format, [timezone,]] ts)` with MySQL-style `%` specifiers, as CrateDB.
pub fn date_format(format: &str, ms: i64) -> String {
    let Some(dt) = to_datetime(ms) else { return ms.to_string() };
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(spec) = chars.next() else {
            out.push('%');
            break;
        };
        let piece = match spec {
            'a' => dt.format("%a").to_string(),
            'b' => dt.format("%b").to_string(),
            'c' => dt.month().to_string(),
            'D' => {
                let d = dt.day();
                let suffix = match (d % 10, d % 100) {
                    (1, n) if n != 11 => "st",
                    (2, n) if n != 12 => "nd",
                    (3, n) if n != 13 => "rd",
                    _ => "th",
                };
                format!("{d}{suffix}")
            }
            'd' => format!("{:02}", dt.day()),
            'e' => dt.day().to_string(),
            'f' => format!("{:06}", (ms.rem_euclid(1000)) * 1000),
            'H' => format!("{:02}", dt.hour()),
            'h' | 'I' => format!("{:02}", (dt.hour() + 11) % 12 + 1),
            'i' => format!("{:02}", dt.minute()),
            'j' => format!("{:03}", dt.ordinal()),
            'k' => dt.hour().to_string(),
            'l' => ((dt.hour() + 11) % 12 + 1).to_string(),
            'M' => dt.format("%B").to_string(),
            'm' => format!("{:02}", dt.month()),
            'p' => if dt.hour() < 12 { "AM".into() } else { "PM".into() },
            'r' => dt.format("%I:%M:%S %p").to_string(),
            'S' | 's' => format!("{:02}", dt.second()),
            'T' => dt.format("%H:%M:%S").to_string(),
            'U' => dt.format("%U").to_string(),
            'u' => dt.format("%W").to_string(),
            'V' => dt.format("%U").to_string(),
            'v' => format!("{:02}", dt.iso_week().week()),
            'W' => dt.format("%A").to_string(),
            'w' => dt.weekday().num_days_from_sunday().to_string(),
            'X' => dt.format("%Y").to_string(),
            'x' => dt.iso_week().year().to_string(),
            'Y' => format!("{:04}", dt.year()),
            'y' => format!("{:02}", dt.year().rem_euclid(100)),
            'Z' => "UTC".into(),
            '%' => "%".into(),
            other => other.to_string(),
        };
        out.push_str(&piece);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_usual_literals() {
        assert_eq!(parse_timestamp("1970-01-01", false), Some(0));
        assert_eq!(parse_timestamp("2013-09-12T21:43:59.000Z", false), Some(1379022239000));
        assert_eq!(parse_timestamp("2025-03-01 00:00:00", false), Some(1740787200000));
        assert_eq!(parse_timestamp("1970-01-01T01:00:00+01:00", false), Some(0));
        assert_eq!(parse_timestamp("1970-01-01T01:00:00+01:00", true), Some(3_600_000));
        assert_eq!(parse_timestamp("308534400000", false), Some(308534400000));
        assert_eq!(parse_timestamp("not a date", false), None);
    }

    #[test]
    fn truncates_extracts_and_formats() {
        let ts = parse_timestamp("2014-05-19T14:27:35.123Z", false).unwrap();
        assert_eq!(date_trunc("day", ts), parse_timestamp("2014-05-19", false));
        assert_eq!(date_trunc("month", ts), parse_timestamp("2014-05-01", false));
        assert_eq!(date_trunc("week", ts), parse_timestamp("2014-05-19", false));
        assert_eq!(extract("year", ts), Some(2014.0));
        assert_eq!(date_format("%Y-%m-%d %H:%i", ts), "2014-05-19 14:27");
        assert_eq!(format_timestamp(0, true), "1970-01-01T00:00:00.000Z");
    }
}
