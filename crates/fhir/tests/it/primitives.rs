//! The hand-written primitive checks agree with the specification's regular expressions (read from profiles-types.json) on edge cases and on thousands of mutated values.

use crate::data;
use fhir::definitions::Primitive;
use fhir::validate::check_primitive;
use regex_lite::Regex;
use serde_json::Value;
use std::collections::HashMap;

/// The `regex` extension of each primitive type's `value` element.
fn spec_regexes() -> HashMap<String, Regex> {
    let bundle = data::read_json("fhir-r4/profiles-types.json");
    let mut regexes = HashMap::new();
    for entry in bundle["entry"].as_array().expect("entries") {
        let sd = &entry["resource"];
        if sd["kind"] != "primitive-type" {
            continue;
        }
        for element in sd["snapshot"]["element"].as_array().expect("snapshot") {
            let extensions = element["type"][0]["extension"].as_array().into_iter().flatten();
            for ext in extensions.filter(|e| e["url"] == "http://hl7.org/fhir/StructureDefinition/regex") {
                let pattern = ext["valueString"].as_str().expect("regex text");
                let regex = Regex::new(&format!("^(?:{pattern})$")).expect("the specification's regex compiles");
                regexes.insert(sd["id"].as_str().expect("id").to_string(), regex);
            }
        }
    }
    regexes
}

/// Valid values to start mutating from, and the characters mutations draw on.
fn seeds(kind: Primitive) -> (&'static [&'static str], &'static str) {
    const DIGITS: &str = "0123456789-+.eE ";
    const TEMPORAL: &str = "0123456789-:T+Z. ";
    match kind {
        Primitive::Integer | Primitive::UnsignedInt | Primitive::PositiveInt | Primitive::Decimal => {
            (&["0", "1", "-1", "42", "2147483647", "-2147483648", "72.50", "0.010", "1e3", "-0"], DIGITS)
        }
        Primitive::Date => (&["2024-02-29", "1970-01-01", "2023-12", "1999", "2000-02-29", "2023-01-31"], TEMPORAL),
        Primitive::DateTime => (&["2024-02-29T13:28:17.239+02:00", "2015-02-07T13:28:17Z", "2023-01-31T23:59:60-14:00", "2017-01", "2018"], TEMPORAL),
        Primitive::Instant => (&["2024-02-29T13:28:17.239+02:00", "2015-02-07T13:28:17Z", "1999-12-31T23:59:59-13:59"], TEMPORAL),
        Primitive::Time => (&["13:28:17", "00:00:00.5", "23:59:60"], TEMPORAL),
        Primitive::Code => (&["male", "a b", "urn:x", "ab-c"], "ab \t\n-:é\u{a0}"),
        Primitive::Id => (&["example", "a.b-c", "A1", "0123456789012345678901234567890123456789012345678901234567890123"], "aZ9.-_ /é"),
        Primitive::Uri | Primitive::Url | Primitive::Canonical => {
            (&["http://example.org/fhir", "urn:uuid:x", "#p1", "Patient/1|2"], "a/: \t#é\u{a0}")
        }
        Primitive::Oid => (&["urn:oid:1.2.3", "urn:oid:2.16.840.1.113883", "urn:oid:0.0"], "0129.:x"),
        Primitive::Uuid => (&["urn:uuid:c757873d-ec9a-4326-a141-556f43239520"], "0af9-gA:"),
        Primitive::Base64Binary => (&["aGVsbG8=", "aGVs bG8=", "ab/+ AAAA\nBBBB"], "aZ09+/= \n\t-"),
        Primitive::String | Primitive::Markdown => (&["hello", " spaced \r\n\tout ", "é"], "a \t\r\n\u{b}\u{c}é"),
        Primitive::Boolean | Primitive::Xhtml => (&[], ""),
    }
}

/// Small deterministic pseudo-random generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn mutate(seed: &str, alphabet: &[char], rng: &mut Rng) -> String {
    let mut chars: Vec<char> = seed.chars().collect();
    for _ in 0..=rng.below(3) {
        let at = rng.below(chars.len() + 1);
        let c = alphabet[rng.below(alphabet.len())];
        match rng.below(3) {
            0 => chars.insert(at, c),
            1 if at < chars.len() => chars[at] = c,
            _ if at < chars.len() => {
                chars.remove(at);
            }
            _ => chars.push(c),
        }
    }
    chars.into_iter().collect()
}

/// A date's day exists in its month (checked independently of the crate).
fn calendar_day_exists(text: &str) -> bool {
    let part = |range: std::ops::Range<usize>| text.get(range).and_then(|s| s.parse::<u32>().ok());
    let (Some(year), Some(month), Some(day)) = (part(0..4), part(5..7), part(8..10)) else { return true };
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    days.get(month as usize - 1).is_some_and(|&d| day <= d)
}

/// What the specification says of `text` as a `kind`: its regex, plus the 32-bit range of
/// integers and the calendar for dates.
fn spec_accepts(kind: Primitive, regex: &Regex, text: &str) -> bool {
    if !regex.is_match(text) {
        return false;
    }
    match kind {
        Primitive::Integer | Primitive::UnsignedInt | Primitive::PositiveInt => text.parse::<i64>().is_ok_and(|n| i32::try_from(n).is_ok()),
        Primitive::Date | Primitive::DateTime | Primitive::Instant => calendar_day_exists(text),
        _ => true,
    }
}

/// The JSON value a FHIR JSON document would hold for `text`: a number for numeric types (None when
/// `text` is not a JSON number), else a string.
fn as_json(kind: Primitive, text: &str) -> Option<Value> {
    match kind {
        Primitive::Integer | Primitive::UnsignedInt | Primitive::PositiveInt | Primitive::Decimal => {
            // Only texts that are a JSON number as they stand (not " 1", which JSON reads as 1).
            serde_json::from_str::<Value>(text).ok().filter(|v| v.is_number() && text.trim() == text)
        }
        _ => Some(Value::String(text.to_string())),
    }
}

#[test]
fn checks_agree_with_the_specification_regexes() {
    if crate::data::missing() {
        return;
    }
    let regexes = spec_regexes();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut compared = 0;
    for kind in Primitive::ALL {
        let (seeds, alphabet) = seeds(kind);
        if seeds.is_empty() {
            continue;
        }
        let regex = &regexes[kind.code()];
        let alphabet: Vec<char> = alphabet.chars().collect();
        let mut candidates: Vec<String> = seeds.iter().map(|s| s.to_string()).collect();
        let mut accepted = 0;
        for i in 0..3000 {
            candidates.push(mutate(seeds[i % seeds.len()], &alphabet, &mut rng));
        }
        for text in candidates.iter().filter(|t| !t.is_empty()) {
            let Some(value) = as_json(kind, text) else { continue };
            let ours = check_primitive(kind, &value).is_ok();
            assert_eq!(ours, spec_accepts(kind, regex, text), "{} {text:?}", kind.code());
            compared += 1;
            accepted += usize::from(ours);
        }
        // Mutations near valid values: both outcomes must be well represented.
        assert!(accepted > 100 && accepted < candidates.len() - 100, "{}: {accepted} accepted", kind.code());
    }
    assert!(compared > 40_000, "compared only {compared}");
}

#[test]
fn primitive_types_are_those_of_the_specification() {
    if crate::data::missing() {
        return;
    }
    let bundle = data::read_json("fhir-r4/profiles-types.json");
    let mut spec: Vec<&str> = bundle["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["resource"]["kind"] == "primitive-type")
        .map(|e| e["resource"]["id"].as_str().expect("id"))
        .collect();
    spec.sort();
    let mut ours: Vec<&str> = Primitive::ALL.iter().map(|p| p.code()).collect();
    ours.sort();
    assert_eq!(ours, spec);
    assert!(ours.iter().all(|code| Primitive::from_code(code).is_some_and(|p| p.code() == *code)));
    assert_eq!(Primitive::from_code("Quantity"), None);
}

#[test]
fn json_kinds_and_empty_values() {
    let string = Value::String("true".into());
    assert!(check_primitive(Primitive::Boolean, &string).is_err(), "boolean given as a string");
    assert!(check_primitive(Primitive::Boolean, &Value::Bool(false)).is_ok());
    assert!(check_primitive(Primitive::Decimal, &Value::String("72.5".into())).is_err(), "decimal given as a string");
    assert!(check_primitive(Primitive::String, &serde_json::json!(7)).is_err(), "string given as a number");
    for kind in Primitive::ALL {
        assert!(check_primitive(kind, &Value::Null).is_err(), "{} null", kind.code());
        assert!(check_primitive(kind, &Value::String(String::new())).is_err(), "{} empty", kind.code());
    }
    assert!(check_primitive(Primitive::Xhtml, &Value::String("<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>".into())).is_ok());
    assert!(check_primitive(Primitive::Xhtml, &Value::String("<p>x</p>".into())).is_err());
}

#[test]
fn decimals_keep_their_text_and_follow_the_spec() {
    if crate::data::missing() {
        return;
    }
    // FHIR's decimal regex allows an exponent, and JSON numbers all match it.
    let regex = &spec_regexes()["decimal"];
    for text in ["72.50", "0.010", "0", "-0", "123456789012345678901234567890.123"] {
        let value: Value = serde_json::from_str(text).expect("JSON number");
        assert_eq!(value.to_string(), text, "arbitrary precision keeps the text");
        assert!(regex.is_match(text), "{text}");
        assert!(check_primitive(Primitive::Decimal, &value).is_ok(), "{text}");
    }
    // Exponents are valid decimals; serde_json keeps their digits but writes the marker as `e+`/`e-`.
    for (text, kept) in [("1e3", "1e+3"), ("1E3", "1e+3"), ("-1.5E-7", "-1.5e-7")] {
        let value: Value = serde_json::from_str(text).expect("JSON number");
        assert_eq!(value.to_string(), kept);
        assert!(regex.is_match(text) && regex.is_match(kept), "{text}");
        assert!(check_primitive(Primitive::Decimal, &value).is_ok(), "{text}");
    }
    for text in ["1.", ".5", "+1", "01"] {
        assert!(!regex.is_match(text), "{text}: not a decimal, and not JSON either");
        assert!(serde_json::from_str::<Value>(text).is_err(), "{text}");
    }
}
