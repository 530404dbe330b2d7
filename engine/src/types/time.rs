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
    if let Some(ms) = parse_iso_fast(s.as_bytes(), keep_local) {
        return Some(ms);
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
    // Offsets stop at ±18:00, as Java's ZoneOffset does (chrono takes ±24:00).
    let in_range =
        |dt: &DateTime<chrono::FixedOffset>| dt.offset().local_minus_utc().abs() <= 18 * 3600;
    if let Ok(dt) = DateTime::parse_from_rfc3339(&normalized) {
        if !in_range(&dt) {
            return None;
        }
        return Some(if keep_local {
            dt.naive_local().and_utc().timestamp_millis()
        } else {
            dt.timestamp_millis()
        });
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f%#z",
        "%Y-%m-%dT%H:%M:%S%#z",
        "%Y-%m-%dT%H:%M%#z",
    ] {
        if let Ok(dt) = DateTime::parse_from_str(&normalized, fmt) {
            if !in_range(&dt) {
                return None;
            }
            return Some(if keep_local {
                dt.naive_local().and_utc().timestamp_millis()
            } else {
                dt.timestamp_millis()
            });
        }
    }
    let naive = normalized.trim_end_matches('Z');
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
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
            return d
                .and_hms_opt(0, 0, 0)
                .map(|dt| dt.and_utc().timestamp_millis());
        }
    }
    None
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The common shapes, parsed without chrono: `YYYY-MM-DD`,
/// `YYYY-MM-DD[T ]HH:MM[:SS[.fff]]` with an optional `Z` or `±HH[:]MM`.
/// Anything else falls back to the general parser.
fn parse_iso_fast(b: &[u8], keep_local: bool) -> Option<i64> {
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(r)?;
        let mut v = 0i64;
        for c in part {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + (c - b'0') as i64;
        }
        Some(v)
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) {
        return None;
    }
    let mut ms = days_from_civil(y, mo, d) * 86_400_000;
    if b.len() == 10 {
        return Some(ms);
    }
    if (b[10] != b'T' && b[10] != b' ') || b.len() < 16 || b[13] != b':' {
        return None;
    }
    let (h, mi) = (num(11..13)?, num(14..16)?);
    if h > 23 || mi > 59 {
        return None;
    }
    ms += h * 3_600_000 + mi * 60_000;
    let mut i = 16;
    if b.get(i) == Some(&b':') {
        let sec = num(i + 1..i + 3)?;
        if sec > 59 {
            return None;
        }
        ms += sec * 1000;
        i += 3;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            let mut frac = 0i64;
            while i < b.len() && b[i].is_ascii_digit() {
                if i - start < 3 {
                    frac = frac * 10 + (b[i] - b'0') as i64;
                }
                i += 1;
            }
            if i == start {
                return None;
            }
            for _ in (i - start)..3 {
                frac *= 10;
            }
            ms += frac;
        }
    }
    match b.get(i) {
        None => Some(ms),
        Some(b'Z') | Some(b'z') if i + 1 == b.len() => Some(ms),
        Some(sign @ (b'+' | b'-')) => {
            let rest = &b[i + 1..];
            let (oh, om) = match rest.len() {
                5 if rest[2] == b':' => (num(i + 1..i + 3)?, num(i + 4..i + 6)?),
                4 => (num(i + 1..i + 3)?, num(i + 3..i + 5)?),
                2 => (num(i + 1..i + 3)?, 0),
                _ => return None,
            };
            // Offsets stop at ±18:00, as Java's ZoneOffset does.
            if om > 59 || oh * 60 + om > 18 * 60 {
                return None;
            }
            let offset = (oh * 60 + om) * 60_000;
            if keep_local {
                Some(ms)
            } else if *sign == b'+' {
                Some(ms - offset)
            } else {
                Some(ms + offset)
            }
        }
        _ => None,
    }
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
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

const DAY_MS: i64 = 86_400_000;

/// The proleptic Gregorian date of a day number (days since 1970-01-01),
/// for any `i64` day (Hinnant's algorithm), unlike chrono's ±262,143 years.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Why `date_trunc` failed.
#[derive(Debug, Clone, PartialEq)]
pub enum TruncError {
    /// Not a unit `date_trunc` knows.
    Unit,
    /// The truncated instant does not fit a timestamp.
    Range,
}

/// `date_trunc(unit, ts)`: truncates to the start of the unit, in UTC or in
/// `zone`. Calendar arithmetic works on the whole `i64` range of
/// timestamps, so the largest timestamp truncates like any other.
pub fn date_trunc(unit: &str, ms: i64, zone: Option<&Zone>) -> Result<i64, TruncError> {
    let offset = zone.map_or(0, |z| z.offset_ms(ms));
    let local = ms.checked_add(offset).ok_or(TruncError::Range)?;
    let unit = unit.to_ascii_lowercase();
    let floor = |step: i64| local.checked_sub(local.rem_euclid(step));
    let days = local.div_euclid(DAY_MS);
    let (y, m, _) = civil_from_days(days);
    let date = |y: i64, m: i64, d: i64| days_from_civil(y, m, d).checked_mul(DAY_MS);
    let truncated = match unit.as_str() {
        "millennium" => date(y - (y - 1).rem_euclid(1000), 1, 1),
        "century" => date(y - (y - 1).rem_euclid(100), 1, 1),
        "decade" => date(y - y.rem_euclid(10), 1, 1),
        "year" => date(y, 1, 1),
        "quarter" => date(y, (m - 1) / 3 * 3 + 1, 1),
        "month" => date(y, m, 1),
        // 1970-01-01 was a Thursday: day 0 is weekday 3 counting from Monday.
        "week" => (days - (days + 3).rem_euclid(7)).checked_mul(DAY_MS),
        "day" => days.checked_mul(DAY_MS),
        "hour" => floor(3_600_000),
        "minute" => floor(60_000),
        "second" => floor(1_000),
        "milliseconds" | "millisecond" => Some(local),
        _ => return Err(TruncError::Unit),
    }
    .ok_or(TruncError::Range)?;
    match zone {
        None => Ok(truncated),
        Some(z) => z.utc_from_local(truncated).ok_or(TruncError::Range),
    }
}

/// A time zone: a fixed offset or an IANA zone.
#[derive(Debug, Clone, PartialEq)]
pub enum Zone {
    /// Milliseconds east of UTC.
    Fixed(i64),
    Named(chrono_tz::Tz),
}

impl Zone {
    /// Parses a zone as CrateDB accepts them: an IANA name (`Europe/Vienna`),
    /// `UTC`/`Z`, or an offset within ±18:00 (`+01:00`, `-0530`, `+01`).
    pub fn parse(name: &str) -> Result<Zone, String> {
        let t = name.trim();
        let invalid = || format!("time zone \"{name}\" not recognized");
        if t.eq_ignore_ascii_case("utc") || t.eq_ignore_ascii_case("z") || t == "GMT" {
            return Ok(Zone::Fixed(0));
        }
        if let Some(sign) = t.chars().next().filter(|c| *c == '+' || *c == '-') {
            let digits: String = t[1..].chars().filter(|c| *c != ':').collect();
            if digits.is_empty()
                || digits.len() > 4
                || !digits.bytes().all(|b| b.is_ascii_digit())
                || (t[1..].contains(':') && t.len() != 6)
            {
                return Err(invalid());
            }
            let (h, m) = match digits.len() {
                1 | 2 => (digits.parse::<i64>().map_err(|_| invalid())?, 0),
                4 => (
                    digits[..2].parse::<i64>().map_err(|_| invalid())?,
                    digits[2..].parse::<i64>().map_err(|_| invalid())?,
                ),
                _ => return Err(invalid()),
            };
            if m > 59 || h * 60 + m > 18 * 60 {
                return Err(invalid());
            }
            let ms = (h * 60 + m) * 60_000;
            return Ok(Zone::Fixed(if sign == '-' { -ms } else { ms }));
        }
        t.parse::<chrono_tz::Tz>()
            .map(Zone::Named)
            .map_err(|_| invalid())
    }

    /// The zone's offset from UTC at the instant `ms`, in milliseconds.
    pub fn offset_ms(&self, ms: i64) -> i64 {
        use chrono::Offset;
        match self {
            Zone::Fixed(off) => *off,
            Zone::Named(tz) => to_datetime(ms).map_or(0, |dt| {
                i64::from(
                    tz.offset_from_utc_datetime(&dt.naive_utc())
                        .fix()
                        .local_minus_utc(),
                ) * 1000
            }),
        }
    }

    /// The UTC instant of a local wall-clock time in this zone (the earlier
    /// one where clocks went back; the offset before a gap where they jumped).
    pub fn utc_from_local(&self, local: i64) -> Option<i64> {
        use chrono::Offset;
        match self {
            Zone::Fixed(off) => local.checked_sub(*off),
            Zone::Named(tz) => {
                let naive = to_datetime(local)?.naive_utc();
                let offset = match tz.offset_from_local_datetime(&naive) {
                    chrono::LocalResult::Single(o) | chrono::LocalResult::Ambiguous(o, _) => o,
                    chrono::LocalResult::None => tz.offset_from_utc_datetime(&naive),
                };
                local.checked_sub(i64::from(offset.fix().local_minus_utc()) * 1000)
            }
        }
    }
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

/// `date_format([format, [timezone,]] ts)` with MySQL-style `%` specifiers,
/// as CrateDB; `ms` is the wall-clock time to print (already moved into the
/// time zone, if one was given).
pub fn date_format(format: &str, ms: i64) -> String {
    let Some(dt) = to_datetime(ms) else {
        return ms.to_string();
    };
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
            'p' => {
                if dt.hour() < 12 {
                    "AM".into()
                } else {
                    "PM".into()
                }
            }
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
        assert_eq!(
            parse_timestamp("2013-09-12T21:43:59.000Z", false),
            Some(1379022239000)
        );
        assert_eq!(
            parse_timestamp("2025-03-01 00:00:00", false),
            Some(1740787200000)
        );
        assert_eq!(parse_timestamp("1970-01-01T01:00:00+01:00", false), Some(0));
        assert_eq!(
            parse_timestamp("1970-01-01T01:00:00+01:00", true),
            Some(3_600_000)
        );
        assert_eq!(parse_timestamp("308534400000", false), Some(308534400000));
        assert_eq!(parse_timestamp("not a date", false), None);
        assert_eq!(
            parse_timestamp("2024-02-29 23:59:59.5", false),
            Some(1709251199500)
        );
        assert_eq!(parse_timestamp("2023-02-29", false), None);
        assert_eq!(parse_timestamp("1969-12-31T23:59:59Z", false), Some(-1000));
        assert_eq!(
            parse_timestamp("2020-01-01T00:00:00.123456+0130", false),
            Some(1577831400123)
        );
    }

    #[test]
    fn truncates_extracts_and_formats() {
        let ts = parse_timestamp("2014-05-19T14:27:35.123Z", false).unwrap();
        let day = |s: &str| parse_timestamp(s, false).unwrap();
        assert_eq!(date_trunc("day", ts, None), Ok(day("2014-05-19")));
        assert_eq!(date_trunc("month", ts, None), Ok(day("2014-05-01")));
        assert_eq!(date_trunc("week", ts, None), Ok(day("2014-05-19")));
        assert_eq!(date_trunc("century", ts, None), Ok(day("2001-01-01")));
        assert_eq!(date_trunc("fortnight", ts, None), Err(TruncError::Unit));
        assert_eq!(extract("year", ts), Some(2014.0));
        assert_eq!(date_format("%Y-%m-%d %H:%i", ts), "2014-05-19 14:27");
        assert_eq!(format_timestamp(0, true), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn truncation_covers_every_timestamp() {
        // The calendar arithmetic agrees with chrono where chrono reaches.
        for ms in [
            0,
            -1,
            1_700_000_000_123,
            -62_135_596_800_000,
            253_402_300_799_999,
        ] {
            let dt = to_datetime(ms).unwrap();
            let want = dt.date_naive().and_hms_opt(0, 0, 0).unwrap().and_utc();
            assert_eq!(date_trunc("day", ms, None), Ok(want.timestamp_millis()));
            let (y, m, d) = civil_from_days(ms.div_euclid(DAY_MS));
            assert_eq!(
                (y, m, d),
                (dt.year() as i64, dt.month() as i64, dt.day() as i64)
            );
        }
        let max = date_trunc("day", i64::MAX, None).unwrap();
        assert!(i64::MAX - max < DAY_MS);
        assert_eq!(date_trunc("year", i64::MIN, None), Err(TruncError::Range));
        assert!(date_trunc("week", i64::MAX, None).is_ok());
    }

    #[test]
    fn zones_and_offsets_are_validated() {
        assert_eq!(parse_timestamp("2020-01-01T00:00:00+99:99", false), None);
        assert_eq!(parse_timestamp("2020-01-01T00:00:00+18:01", false), None);
        assert!(parse_timestamp("2020-01-01T00:00:00+18:00", false).is_some());
        assert!(Zone::parse("Mars/Phobos").is_err());
        assert!(Zone::parse("+99:99").is_err());
        assert!(Zone::parse("").is_err());
        assert_eq!(Zone::parse("+01:00"), Ok(Zone::Fixed(3_600_000)));
        assert_eq!(Zone::parse("-0530"), Ok(Zone::Fixed(-19_800_000)));
        let vienna = Zone::parse("Europe/Vienna").unwrap();
        // 2014-05-19T23:30Z is already the 20th in Vienna (UTC+2 in summer).
        let ts = parse_timestamp("2014-05-19T23:30:00Z", false).unwrap();
        assert_eq!(
            date_trunc("day", ts, Some(&vienna)),
            Ok(parse_timestamp("2014-05-19T22:00:00Z", false).unwrap())
        );
    }
}
