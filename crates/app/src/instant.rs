//! FHIR instants as the store keeps them (UTC, milliseconds, `Z`), and parsing of client-supplied instants.

use chrono::{DateTime, NaiveDate, SecondsFormat, TimeZone, Utc};

/// Now, as a FHIR instant in the store's format.
pub fn now() -> String {
    format(Utc::now())
}

pub fn format(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Milliseconds since 1970 as a FHIR instant in the store's format (`None` beyond the calendar's range).
pub fn from_millis(ms: i64) -> Option<String> {
    DateTime::<Utc>::from_timestamp_millis(ms).map(format)
}

/// Parses a FHIR instant or dateTime (`2024`, `2024-05`, `2024-05-01`, or a full time with zone) as the
/// earliest moment it denotes, in the store's format. `None` if it is not a valid value.
pub fn parse_lower_bound(s: &str) -> Option<String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(format(t.with_timezone(&Utc)));
    }
    let date = match s.len() {
        4 => NaiveDate::from_ymd_opt(s.parse().ok()?, 1, 1)?,
        7 => {
            let (y, m) = s.split_once('-')?;
            NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, 1)?
        }
        10 => NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?,
        _ => return None,
    };
    Some(format(Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0)?)))
}

/// The instant as a `SystemTime`, for HTTP dates.
pub fn to_system_time(s: &str) -> Option<std::time::SystemTime> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_bounds() {
        assert_eq!(parse_lower_bound("2024").as_deref(), Some("2024-01-01T00:00:00.000Z"));
        assert_eq!(parse_lower_bound("2024-02").as_deref(), Some("2024-02-01T00:00:00.000Z"));
        assert_eq!(parse_lower_bound("2024-02-29").as_deref(), Some("2024-02-29T00:00:00.000Z"));
        assert_eq!(parse_lower_bound("2024-05-01T10:00:00+01:00").as_deref(), Some("2024-05-01T09:00:00.000Z"));
        assert_eq!(parse_lower_bound("2023-02-29"), None);
        assert_eq!(parse_lower_bound("yesterday"), None);
    }

    #[test]
    fn now_has_store_format() {
        let n = now();
        assert_eq!(n.len(), 24, "{n}");
        assert!(n.ends_with('Z'));
    }
}
