//! Lexical checks of R4 primitive values in JSON, following the regular expressions of `profiles-types.json` (plus calendar validity for dates and the 32-bit range for integers).

use crate::definitions::Primitive;
use crate::id::is_valid_id;
use serde_json::Value;

/// The longest `string` the specification allows (1 MB, counted in characters).
const MAX_STRING_CHARS: usize = 1024 * 1024;

/// Checks that `value` is a valid JSON representation of a primitive of type `kind`; on failure
/// says why. JSON `null`, arrays and objects are never valid here.
pub fn check_primitive(kind: Primitive, value: &Value) -> Result<(), &'static str> {
    match kind {
        Primitive::Boolean => match value {
            Value::Bool(_) => Ok(()),
            _ => Err("must be a JSON boolean, true or false"),
        },
        Primitive::Integer => integer(value, i64::from(i32::MIN)),
        Primitive::UnsignedInt => integer(value, 0),
        Primitive::PositiveInt => integer(value, 1),
        // A JSON number's text always matches the decimal regex `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
        Primitive::Decimal => match value {
            Value::Number(_) => Ok(()),
            _ => Err("must be a JSON number"),
        },
        _ => {
            let Value::String(text) = value else { return Err("must be a JSON string") };
            if text.is_empty() {
                return Err("must not be an empty string");
            }
            check_text(kind, text)
        }
    }
}

/// An integer type: the JSON number's text matches the type's regex and the value is in 32-bit range and ≥ `min`.
fn integer(value: &Value, min: i64) -> Result<(), &'static str> {
    const WHOLE: &str = "must be a whole number, written without a fraction or exponent";
    const UNSIGNED: &str = "must be a whole number of at least 0, written without a sign, fraction or exponent";
    let Value::Number(number) = value else { return Err(WHOLE) };
    let text = number.as_str();
    let digits = if min < 0 { text.strip_prefix('-').unwrap_or(text) } else { text };
    let lexical = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && (digits == "0" || !digits.starts_with('0'));
    if !lexical {
        return Err(if min < 0 { WHOLE } else { UNSIGNED });
    }
    match text.parse::<i64>() {
        Ok(n) if n < min => Err("must be at least 1"),
        Ok(n) if n >= i64::from(i32::MIN) && n <= i64::from(i32::MAX) => Ok(()),
        _ => Err("is outside the 32-bit integer range"),
    }
}

fn check_text(kind: Primitive, text: &str) -> Result<(), &'static str> {
    let ok = match kind {
        // `[ \r\n\t\S]+`: anything but vertical tab and form feed.
        Primitive::String => {
            if text.len() > MAX_STRING_CHARS && text.chars().count() > MAX_STRING_CHARS {
                return Err("is longer than 1,048,576 characters");
            }
            !text.bytes().any(|b| b == 0x0b || b == 0x0c)
        }
        Primitive::Markdown => !text.bytes().any(|b| b == 0x0b || b == 0x0c),
        Primitive::Code => is_code(text),
        Primitive::Id => is_valid_id(text),
        // `\S*`
        Primitive::Uri | Primitive::Url | Primitive::Canonical => !text.bytes().any(is_regex_space),
        Primitive::Oid => is_oid(text),
        Primitive::Uuid => is_uuid(text),
        Primitive::Date => return date(text),
        Primitive::DateTime => return date_time(text),
        Primitive::Instant => return instant(text),
        Primitive::Time => return time(text.as_bytes()).filter(|&end| end == text.len()).map(|_| ()).ok_or(BAD_TIME),
        Primitive::Base64Binary => is_base64(text),
        Primitive::Xhtml => text.starts_with("<div"),
        Primitive::Boolean | Primitive::Integer | Primitive::UnsignedInt | Primitive::PositiveInt | Primitive::Decimal => {
            unreachable!("invariant: non-string primitives are checked before")
        }
    };
    if ok {
        Ok(())
    } else {
        Err(match kind {
            Primitive::String | Primitive::Markdown => "must not contain vertical tab or form feed characters",
            Primitive::Code => "must be a code: no leading, trailing or repeated whitespace",
            Primitive::Id => "must be 1 to 64 characters from A-Z, a-z, 0-9, '-' and '.'",
            Primitive::Uri | Primitive::Url | Primitive::Canonical => "must not contain whitespace",
            Primitive::Oid => "must be urn:oid: followed by an OID",
            Primitive::Uuid => "must be urn:uuid: followed by a lower-case UUID",
            Primitive::Base64Binary => "must be base64 encoded",
            Primitive::Xhtml => "must be an XHTML <div> element",
            _ => "is not valid",
        })
    }
}

/// `\s` in the specification's (XML Schema / Java) regular expressions.
fn is_regex_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// `[^\s]+(\s[^\s]+)*`: no leading, trailing or doubled whitespace.
fn is_code(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut previous_space = true;
    for &b in bytes {
        let space = is_regex_space(b);
        if space && previous_space {
            return false;
        }
        previous_space = space;
    }
    !previous_space
}

/// `urn:oid:[0-2](\.(0|[1-9][0-9]*))+`
fn is_oid(text: &str) -> bool {
    let Some(rest) = text.strip_prefix("urn:oid:") else { return false };
    let mut arcs = rest.split('.');
    let first_ok = matches!(arcs.next(), Some("0" | "1" | "2"));
    let mut count = 0;
    let others_ok = arcs.all(|arc| {
        count += 1;
        !arc.is_empty() && arc.bytes().all(|b| b.is_ascii_digit()) && (arc == "0" || !arc.starts_with('0'))
    });
    first_ok && others_ok && count > 0
}

/// `urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`
fn is_uuid(text: &str) -> bool {
    let Some(rest) = text.strip_prefix("urn:uuid:") else { return false };
    let groups = [8, 4, 4, 4, 12];
    let mut parts = rest.split('-');
    let shape_ok =
        groups.iter().all(|&len| parts.next().is_some_and(|p| p.len() == len && p.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))));
    shape_ok && parts.next().is_none()
}

/// `(\s*([0-9a-zA-Z\+/=]){4}\s*)+`: groups of four characters, whitespace only between groups.
fn is_base64(text: &str) -> bool {
    let mut run = 0usize;
    let mut groups = 0usize;
    for &b in text.as_bytes() {
        if is_regex_space(b) {
            if !run.is_multiple_of(4) {
                return false;
            }
            groups += run / 4;
            run = 0;
        } else if b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=' {
            run += 1;
        } else {
            return false;
        }
    }
    run.is_multiple_of(4) && groups + run / 4 > 0
}

const BAD_DATE: &str = "must be a date YYYY, YYYY-MM or YYYY-MM-DD that exists in the calendar";
const BAD_DATE_TIME: &str =
    "must be a dateTime: YYYY, YYYY-MM, YYYY-MM-DD, or YYYY-MM-DDThh:mm:ss[.fff] with a timezone (Z or ±hh:mm), that exists in the calendar";
const BAD_INSTANT: &str = "must be an instant YYYY-MM-DDThh:mm:ss[.fff] with a timezone (Z or ±hh:mm), that exists in the calendar";
const BAD_TIME: &str = "must be a time hh:mm:ss[.fff]";

fn date(text: &str) -> Result<(), &'static str> {
    match date_prefix(text.as_bytes()) {
        Some((end, _)) if end == text.len() => Ok(()),
        _ => Err(BAD_DATE),
    }
}

fn date_time(text: &str) -> Result<(), &'static str> {
    let bytes = text.as_bytes();
    match date_prefix(bytes) {
        Some((end, _)) if end == bytes.len() => Ok(()),
        Some((end, true)) if time_and_zone(&bytes[end..]) => Ok(()),
        _ => Err(BAD_DATE_TIME),
    }
}

fn instant(text: &str) -> Result<(), &'static str> {
    let bytes = text.as_bytes();
    match date_prefix(bytes) {
        Some((end, true)) if time_and_zone(&bytes[end..]) => Ok(()),
        _ => Err(BAD_INSTANT),
    }
}

/// Parses `YYYY`, `YYYY-MM` or `YYYY-MM-DD` at the start of `b` (year 0001-9999, a real calendar
/// day); returns where it ends and whether it was a full date.
fn date_prefix(b: &[u8]) -> Option<(usize, bool)> {
    let year = digits(b, 0, 4)?;
    if year == 0 {
        return None;
    }
    if b.get(4) != Some(&b'-') {
        return Some((4, false));
    }
    let month = digits(b, 5, 2)?;
    if !(1..=12).contains(&month) {
        return None;
    }
    if b.get(7) != Some(&b'-') {
        return Some((7, false));
    }
    let day = digits(b, 8, 2)?;
    if day < 1 || day > days_in_month(year, month) {
        return None;
    }
    Some((10, true))
}

/// `Thh:mm:ss(.f+)?` followed by `Z` or `±hh:mm` (hours 00-13, or 14:00), and nothing else.
fn time_and_zone(b: &[u8]) -> bool {
    if b.first() != Some(&b'T') {
        return false;
    }
    let Some(end) = time(&b[1..]) else { return false };
    match &b[1 + end..] {
        [b'Z'] => true,
        [sign, zone @ ..] if matches!(sign, b'+' | b'-') && zone.len() == 5 && zone[2] == b':' => match (digits(zone, 0, 2), digits(zone, 3, 2)) {
            (Some(h), Some(m)) => (h <= 13 && m <= 59) || (h == 14 && m == 0),
            _ => false,
        },
        _ => false,
    }
}

/// Parses `hh:mm:ss(.f+)?` at the start of `b` (seconds may be 60, a leap second); returns where it ends.
fn time(b: &[u8]) -> Option<usize> {
    let hours = digits(b, 0, 2)?;
    let minutes = digits(b, 3, 2)?;
    let seconds = digits(b, 6, 2)?;
    if b[2] != b':' || b[5] != b':' || hours > 23 || minutes > 59 || seconds > 60 {
        return None;
    }
    if b.get(8) != Some(&b'.') {
        return Some(8);
    }
    let fraction = b[9..].iter().take_while(|c| c.is_ascii_digit()).count();
    (fraction > 0).then_some(9 + fraction)
}

/// The number written by exactly `len` ASCII digits at `b[at..]`.
fn digits(b: &[u8], at: usize, len: usize) -> Option<u32> {
    let slice = b.get(at..at + len)?;
    slice.iter().try_fold(0u32, |n, &c| c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0')))
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(kind: Primitive, value: Value) -> bool {
        check_primitive(kind, &value).is_ok()
    }

    #[test]
    fn calendar_dates() {
        assert!(ok(Primitive::Date, json!("2024-02-29")));
        assert!(ok(Primitive::Date, json!("2000-02-29")));
        assert!(!ok(Primitive::Date, json!("1900-02-29")));
        assert!(!ok(Primitive::Date, json!("2023-02-29")));
        assert!(!ok(Primitive::Date, json!("2023-04-31")));
        assert!(!ok(Primitive::Date, json!("1970-13-45")));
        assert!(!ok(Primitive::Date, json!("0000")));
        assert!(ok(Primitive::DateTime, json!("2023-01-31T23:59:60.123+14:00")));
        assert!(!ok(Primitive::DateTime, json!("2023-01-31T23:59:59+14:01")));
        assert!(!ok(Primitive::DateTime, json!("2023-01-31T23:59:59")));
        assert!(!ok(Primitive::DateTime, json!("2023-01T10:00:00Z")));
        assert!(!ok(Primitive::Instant, json!("2023-01-31")));
        assert!(ok(Primitive::Time, json!("00:00:00.5")));
        assert!(!ok(Primitive::Time, json!("24:00:00")));
        assert!(!ok(Primitive::Time, json!("10:00:00.")));
    }

    #[test]
    fn integers_on_their_text() {
        let parse = |s: &str| serde_json::from_str::<Value>(s).expect("test JSON");
        assert!(check_primitive(Primitive::Integer, &parse("-2147483648")).is_ok());
        assert!(check_primitive(Primitive::Integer, &parse("2147483648")).is_err());
        assert!(check_primitive(Primitive::Integer, &parse("1.0")).is_err());
        assert!(check_primitive(Primitive::Integer, &parse("1e3")).is_err());
        assert!(check_primitive(Primitive::UnsignedInt, &parse("-0")).is_err());
        assert!(check_primitive(Primitive::UnsignedInt, &parse("0")).is_ok());
        assert!(check_primitive(Primitive::PositiveInt, &parse("0")).is_err());
        assert!(check_primitive(Primitive::Decimal, &parse("0.010")).is_ok());
    }
}
