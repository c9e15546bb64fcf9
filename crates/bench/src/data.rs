//! The data the bench sends: generated Patients with valid NHS numbers, and the Synthea transaction bundles read
//! from disk (in load order: organisation and practitioner bundles first, then the patients).

use crate::load::Rng;
use bytes::Bytes;
use serde_json::{json, Value};
use std::path::Path;

pub const NHS_NUMBER_SYSTEM: &str = "https://fhir.nhs.uk/Id/nhs-number";

const GIVEN: &[&str] = &[
    "Oliver", "Amelia", "George", "Isla", "Harry", "Ava", "Noah", "Mia", "Jack", "Ivy", "Leo", "Lily", "Arthur", "Freya", "Muhammad", "Florence",
    "Oscar", "Grace", "Charlie", "Sophia", "Aisha", "Priya", "Tomasz", "Siobhan", "Dylan", "Megan", "Rhys", "Ffion",
];
pub const FAMILY: &[&str] = &[
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Patel",
    "Robinson",
    "Wright",
    "Thompson",
    "Evans",
    "Walker",
    "White",
    "Roberts",
    "Green",
    "Hall",
    "Khan",
    "Lewis",
    "O'Brien",
    "Nowak",
    "Campbell",
    "MacDonald",
    "Hughes",
    "Begum",
];
const CITIES: &[(&str, &str)] = &[
    ("Leeds", "LS1 4AP"),
    ("Bradford", "BD1 1HY"),
    ("Manchester", "M1 1AD"),
    ("Sheffield", "S1 2HE"),
    ("York", "YO1 7HH"),
    ("Hull", "HU1 2AA"),
    ("Wakefield", "WF1 2SR"),
];

/// The `n`-th NHS number of the test range (999…), with a valid modulus-11 check digit; `n` that would give check
/// digit 10 (invalid) move on to the next.
pub fn nhs_number(mut n: u64) -> String {
    loop {
        let base = 999_000_000 + n % 1_000_000;
        let digits: Vec<u64> = base.to_string().bytes().map(|b| u64::from(b - b'0')).collect();
        let sum: u64 = digits.iter().enumerate().map(|(i, d)| d * (10 - i as u64)).sum();
        let check = match 11 - sum % 11 {
            11 => 0,
            10 => {
                n += 1;
                continue;
            }
            c => c,
        };
        return format!("{base}{check}");
    }
}

/// A Patient with the given NHS number and a varied name, gender, birth date and (sometimes) contact details.
pub fn patient(nhs: &str, rng: &mut Rng) -> Bytes {
    Bytes::from(serde_json::to_vec(&patient_named(nhs, None, rng)).unwrap_or_default())
}

/// As `patient`, with this family name when given (a random one otherwise), as a JSON value.
pub fn patient_named(nhs: &str, family: Option<&str>, rng: &mut Rng) -> Value {
    let gender = match rng.below(20) {
        0 => "other",
        1 => "unknown",
        x if x % 2 == 0 => "female",
        _ => "male",
    };
    let birth = format!("{:04}-{:02}-{:02}", 1925 + rng.below(99), 1 + rng.below(12), 1 + rng.below(28));
    let mut p = json!({
        "resourceType": "Patient",
        "identifier": [{ "system": NHS_NUMBER_SYSTEM, "value": nhs }],
        "name": [{ "use": "official", "family": family.unwrap_or_else(|| *rng.pick(FAMILY)), "given": [rng.pick(GIVEN)] }],
        "gender": gender,
        "birthDate": birth,
    });
    if let Some(obj) = p.as_object_mut() {
        if rng.below(2) == 0 {
            obj.insert("telecom".into(), json!([{ "system": "phone", "value": format!("07700 9{:05}", rng.below(100_000)), "use": "mobile" }]));
        }
        if rng.below(10) < 7 {
            let (city, postcode) = rng.pick(CITIES);
            obj.insert(
                "address".into(),
                json!([{ "use": "home", "line": [format!("{} High Street", 1 + rng.below(200))], "city": city, "postalCode": postcode, "country": "GB" }]),
            );
        }
    }
    p
}

/// One Synthea transaction bundle, held in memory.
pub struct SyntheaBundle {
    pub name: String,
    pub body: Bytes,
    pub entries: usize,
}

/// Reads every `*.json` in `dir`: `hospitalInformation*` and `practitionerInformation*` first, then the rest by name.
/// Each must be a transaction Bundle.
pub fn load_synthea(dir: &Path) -> Result<Vec<SyntheaBundle>, String> {
    let listing = std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut names = vec![];
    for entry in listing {
        let entry = entry.map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".json") {
            names.push(name);
        }
    }
    let rank = |n: &str| {
        if n.starts_with("hospitalInformation") {
            0
        } else if n.starts_with("practitionerInformation") {
            1
        } else {
            2
        }
    };
    names.sort_by(|a, b| (rank(a), a).cmp(&(rank(b), b)));
    if !names.iter().any(|n| rank(n) == 1) {
        eprintln!("bench: warning: no practitionerInformation*.json in {}", dir.display());
    }
    let mut bundles = Vec::with_capacity(names.len());
    for name in names {
        let path = dir.join(&name);
        let body = std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let value: Value = serde_json::from_slice(&body).map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
        if value.get("resourceType").and_then(Value::as_str) != Some("Bundle") || value.get("type").and_then(Value::as_str) != Some("transaction") {
            return Err(format!("{} is not a transaction Bundle", path.display()));
        }
        let entries = value.get("entry").and_then(Value::as_array).map(|a| a.len()).unwrap_or(0);
        bundles.push(SyntheaBundle { name, body: Bytes::from(body), entries });
    }
    if bundles.is_empty() {
        return Err(format!("no .json bundles in {}", dir.display()));
    }
    Ok(bundles)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nhs_numbers_are_valid_and_in_the_test_range() {
        for n in 0..2000 {
            let s = nhs_number(n);
            assert_eq!(s.len(), 10);
            assert!(s.starts_with("999"));
            let d: Vec<u32> = s.bytes().map(|b| u32::from(b - b'0')).collect();
            let sum: u32 = (0..9).map(|i| d[i] * (10 - i as u32)).sum();
            assert_eq!((11 - sum % 11) % 11, d[9], "{s}");
        }
        assert_eq!(nhs_number(1), "9990000018");
    }

    #[test]
    fn patients_are_fhir_json() {
        let mut rng = Rng::new(1);
        let p: Value = serde_json::from_slice(&patient("9990000018", &mut rng)).expect("JSON");
        assert_eq!(p["resourceType"], "Patient");
        assert_eq!(p["identifier"][0]["value"], "9990000018");
    }
}
