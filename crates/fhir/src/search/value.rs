//! Search values shared by indexing and querying: normalised strings, dates as millisecond ranges that
//! honour their precision, and decimals with the range their written precision implies.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime};
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Lower case without accents: how string search compares (`Élodie` matches `elo`).
pub fn normalize(s: &str) -> String {
    s.nfd().filter(|c| !is_combining_mark(*c)).flat_map(char::to_lowercase).collect()
}

/// The earliest and latest millisecond (UTC, inclusive) that a FHIR date, dateTime or instant denotes.
/// A value without a time zone is read as UTC. `None` if the text is not a valid value.
pub fn date_range(s: &str) -> Option<(i64, i64)> {
    let (date_part, time_part) = match s.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let mut parts = date_part.split('-');
    let year: i32 = parse_digits(parts.next()?, 4)?;
    let month: Option<u32> = parts.next().map(|m| parse_digits(m, 2)).map_or(Ok(None), |m| m.ok_or(()).map(Some)).ok()?;
    let day: Option<u32> = parts.next().map(|d| parse_digits(d, 2)).map_or(Ok(None), |d| d.ok_or(()).map(Some)).ok()?;
    if parts.next().is_some() {
        return None;
    }
    let ms = |d: NaiveDate| d.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp_millis());
    match (month, day, time_part) {
        (None, None, None) => {
            let start = ms(NaiveDate::from_ymd_opt(year, 1, 1)?)?;
            let end = ms(NaiveDate::from_ymd_opt(year.checked_add(1)?, 1, 1)?)?;
            Some((start, end - 1))
        }
        (Some(m), None, None) => {
            let start = NaiveDate::from_ymd_opt(year, m, 1)?;
            let next = if m == 12 { NaiveDate::from_ymd_opt(year.checked_add(1)?, 1, 1)? } else { NaiveDate::from_ymd_opt(year, m + 1, 1)? };
            Some((ms(start)?, ms(next)? - 1))
        }
        (Some(m), Some(d), None) => {
            let start = ms(NaiveDate::from_ymd_opt(year, m, d)?)?;
            Some((start, start + 86_400_000 - 1))
        }
        (Some(m), Some(d), Some(t)) => {
            let date = NaiveDate::from_ymd_opt(year, m, d)?;
            time_range(date, t)
        }
        _ => None,
    }
}

fn parse_digits<T: std::str::FromStr>(s: &str, len: usize) -> Option<T> {
    if s.len() == len && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

/// A time of day with an optional zone: precision is minutes, seconds or fractions as written.
fn time_range(date: NaiveDate, t: &str) -> Option<(i64, i64)> {
    let (clock, offset_ms) = split_zone(t)?;
    let (hms, frac) = match clock.split_once('.') {
        Some((h, f)) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => (h, Some(f)),
        Some(_) => return None,
        None => (clock, None),
    };
    let fields: Vec<&str> = hms.split(':').collect();
    let (h, m, s, width_ms): (u32, u32, u32, i64) = match fields.as_slice() {
        [h, m] => (parse_digits(h, 2)?, parse_digits(m, 2)?, 0, 60_000),
        [h, m, s] => (parse_digits(h, 2)?, parse_digits(m, 2)?, parse_digits(s, 2)?, 1_000),
        _ => return None,
    };
    let time = NaiveTime::from_hms_opt(h, m, s)?;
    let mut start = NaiveDateTime::new(date, time).and_utc().timestamp_millis() - offset_ms;
    let width = match frac {
        None => width_ms,
        Some(f) => {
            let digits = f.len().min(3);
            let millis: i64 = f[..digits].parse().ok()?;
            let scale = 10_i64.pow(3 - digits as u32);
            start += millis * scale;
            scale
        }
    };
    Some((start, start + width - 1))
}

/// Splits `hh:mm:ss[.fff](Z|±hh:mm)` into the clock and the zone's offset in milliseconds (0 if none).
fn split_zone(t: &str) -> Option<(&str, i64)> {
    if let Some(clock) = t.strip_suffix('Z') {
        return Some((clock, 0));
    }
    if let Some(pos) = t.rfind(['+', '-']) {
        let (clock, zone) = t.split_at(pos);
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let (zh, zm) = zone[1..].split_once(':')?;
        let offset = (parse_digits::<i64>(zh, 2)? * 60 + parse_digits::<i64>(zm, 2)?) * 60_000;
        return Some((clock, sign * offset));
    }
    Some((t, 0))
}

/// Parses an RFC 3339 instant to milliseconds (for `meta.lastUpdated`-style values); a helper for callers
/// that already know the value is a full instant.
pub fn instant_millis(s: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(s).ok().map(|d| d.timestamp_millis())
}

/// A decimal as written, with the interval its precision implies: `100` is [99.5, 100.5], `1.50` is
/// [1.495, 1.505]. Returns (value, low, high).
pub fn decimal_range(s: &str) -> Option<(f64, f64, f64)> {
    let value: f64 = s.parse().ok()?;
    if !value.is_finite() {
        return None;
    }
    let (mantissa, exponent) = match s.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i32>().ok()?),
        None => (s, 0),
    };
    let decimals = mantissa.split_once('.').map(|(_, f)| f.len() as i32).unwrap_or(0) - exponent;
    let half = 0.5 * 10f64.powi(-decimals);
    Some((value, value - half, value + half))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    #[test]
    fn normalizes_case_and_accents() {
        assert_eq!(normalize("Élodie"), "elodie");
        assert_eq!(normalize("MÜLLER-Straße"), "muller-straße");
    }

    #[test]
    fn date_ranges_follow_precision() {
        let jan1_2024 = 1_704_067_200_000;
        assert_eq!(date_range("2024"), Some((jan1_2024, jan1_2024 + 366 * DAY - 1)));
        assert_eq!(date_range("2024-02"), Some((jan1_2024 + 31 * DAY, jan1_2024 + 60 * DAY - 1)));
        assert_eq!(date_range("2024-01-01"), Some((jan1_2024, jan1_2024 + DAY - 1)));
        assert_eq!(date_range("2024-01-01T10:00:00Z"), Some((jan1_2024 + 36_000_000, jan1_2024 + 36_000_999)));
        assert_eq!(date_range("2024-01-01T10:00:00+01:00"), Some((jan1_2024 + 32_400_000, jan1_2024 + 32_400_999)));
        assert_eq!(date_range("2024-01-01T10:00:00.5Z"), Some((jan1_2024 + 36_000_500, jan1_2024 + 36_000_599)));
        assert_eq!(date_range("2024-01-01T10:00Z"), Some((jan1_2024 + 36_000_000, jan1_2024 + 36_059_999)));
        for bad in ["2024-13", "2023-02-29", "24", "2024-1-01", "2024-01-01T25:00:00Z", "x", "2024-01-01T10:00:00.Z"] {
            assert_eq!(date_range(bad), None, "{bad}");
        }
    }

    #[test]
    fn decimal_precision() {
        assert_eq!(decimal_range("100"), Some((100.0, 99.5, 100.5)));
        let (v, lo, hi) = decimal_range("1.50").expect("valid");
        assert!((v - 1.5).abs() < 1e-12 && (lo - 1.495).abs() < 1e-12 && (hi - 1.505).abs() < 1e-12);
        let (_, lo, hi) = decimal_range("1e2").expect("valid");
        assert!((lo - 50.0).abs() < 1e-9 && (hi - 150.0).abs() < 1e-9);
        assert_eq!(decimal_range("abc"), None);
    }
}
