//! The search shapes measured by `bench search`: each a set of requests made from real values of the population,
//! with the answer each must get (status 200, a searchset Bundle of the expected size and content).

use crate::load::{Reply, Req, Rng, Work};
use crate::population::{self, Population};
use serde_json::{json, Value};
use std::collections::HashMap;

/// What a reply must hold.
#[derive(Clone)]
pub enum Expect {
    /// Exactly one match: this Patient.
    One { id: String },
    /// Exactly these matches, in this order.
    Page { ids: Vec<String> },
    /// `count` Patients, each with a name part (the family only, when `family_only`) starting with `prefix`.
    Names { count: usize, prefix: String, family_only: bool },
    /// `total` is this, with `entries` matches.
    Total { total: u64, entries: usize },
    /// A read: this Patient.
    Resource { id: String },
    /// A worklist page: at most `max` Patients, each entry's `search.score` no higher than the one before.
    Ranked { max: usize },
    /// Exactly `count` matches, each a resource of type `of`.
    Matches { count: usize, of: &'static str },
}

/// One query shape: its requests (path and expected answer) and its targets.
pub struct Shape {
    pub name: &'static str,
    pub description: String,
    pub target_per_s: Option<f64>,
    pub target_p99_ms: f64,
    cases: Vec<(String, Expect)>,
    by_path: HashMap<String, usize>,
    /// The `Authorization` header its requests carry instead of the system client's.
    authorization: Option<&'static str>,
}

impl Shape {
    pub(crate) fn new(name: &'static str, description: String, target_per_s: Option<f64>, target_p99_ms: f64, cases: Vec<(String, Expect)>) -> Shape {
        let by_path = cases.iter().enumerate().map(|(i, (p, _))| (p.clone(), i)).collect();
        Shape { name, description, target_per_s, target_p99_ms, cases, by_path, authorization: None }
    }

    /// The same shape, asked as another caller (`Bearer …`).
    pub(crate) fn asked_as(mut self, authorization: &'static str) -> Shape {
        self.authorization = Some(authorization);
        self
    }

    pub fn example(&self) -> Option<&str> {
        self.cases.first().map(|(p, _)| p.as_str())
    }

    pub fn values(&self) -> usize {
        self.cases.len()
    }

    pub fn target_json(&self) -> Value {
        json!({ "requests_per_s_min": self.target_per_s, "p99_ms_max": self.target_p99_ms })
    }
}

/// Percent-encodes a query value (everything but unreserved characters and `:` `/`).
pub fn encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 8);
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b':' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The shapes of the issue, built from the population.
pub fn shapes(p: &Population) -> Vec<Shape> {
    let mut out = Vec::new();
    let identifier_cases = p
        .identifiers
        .iter()
        .map(|(nhs, id)| {
            let token = format!("{}|{nhs}", population::NHS_NUMBER_SYSTEM);
            (format!("/fhir/Patient?identifier={}", encode(&token)), Expect::One { id: id.clone() })
        })
        .collect();
    out.push(Shape::new("identifier", "Patient?identifier=NHS number (random among the sample)".into(), Some(10_000.0), 5.0, identifier_cases));

    let observation_cases = p
        .observation_cases
        .iter()
        .map(|c| {
            (
                format!(
                    "/fhir/Observation?patient={}&code={}&date=ge{}&_sort=-date&_count={}",
                    encode(&c.patient),
                    encode(&c.code),
                    p.date_from,
                    population::OBSERVATION_PAGE
                ),
                Expect::Page { ids: c.expected.clone() },
            )
        })
        .collect();
    out.push(Shape::new(
        "observation",
        format!(
            "Observation?patient=…&code=…&date=ge{}&_sort=-date&_count={} (a sampled person and one of their codes)",
            p.date_from,
            population::OBSERVATION_PAGE
        ),
        None,
        10.0,
        observation_cases,
    ));

    let family_count = (p.family_matches as usize).min(population::NAME_PAGE);
    out.push(Shape::new(
        "family",
        format!("Patient?family={}&_count={} ({} matches)", p.family, population::NAME_PAGE, p.family_matches),
        None,
        20.0,
        vec![(
            format!("/fhir/Patient?family={}&_count={}", encode(&p.family), population::NAME_PAGE),
            Expect::Names { count: family_count, prefix: population::normalize(&p.family), family_only: true },
        )],
    ));
    let name_count = (p.name_matches as usize).min(population::NAME_PAGE);
    out.push(Shape::new(
        "name",
        format!("Patient?name={}&_count={} ({} matches)", p.name_prefix, population::NAME_PAGE, p.name_matches),
        None,
        20.0,
        vec![(
            format!("/fhir/Patient?name={}&_count={}", encode(&p.name_prefix), population::NAME_PAGE),
            Expect::Names { count: name_count, prefix: p.name_prefix.clone(), family_only: false },
        )],
    ));

    let c = &p.count;
    out.push(Shape::new(
        "summary_count",
        format!("Observation?{}={}&_summary=count ({} matches)", c.param, c.value, c.matches),
        None,
        100.0,
        vec![(format!("/fhir/Observation?{}={}&_summary=count", c.param, encode(&c.value)), Expect::Total { total: c.matches, entries: 0 })],
    ));
    out.push(Shape::new(
        "total_accurate",
        format!("Observation?{}={}&_total=accurate&_count={} ({} matches)", c.param, c.value, population::TOTAL_PAGE, c.matches),
        None,
        100.0,
        vec![(
            format!("/fhir/Observation?{}={}&_total=accurate&_count={}", c.param, encode(&c.value), population::TOTAL_PAGE),
            Expect::Total { total: c.matches, entries: (c.matches as usize).min(population::TOTAL_PAGE) },
        )],
    ));
    out
}

/// The shapes of the access issue, on the practice with the most registered people: a read by id as the system
/// client and as the practice's GP (the same people), and `Patient?family=` as the GP (only the practice's own
/// people match). `gp` is the GP's `Authorization` header.
pub fn access_shapes(p: &Population, gp: &'static str) -> Vec<Shape> {
    let Some(practice) = &p.practice else { return Vec::new() };
    let reads: Vec<(String, Expect)> =
        practice.patients.iter().map(|id| (format!("/fhir/Patient/{id}"), Expect::Resource { id: id.clone() })).collect();
    let about = format!("Patient/{{id}} (random among the {} registered with Organization/{})", practice.registered, practice.organisation);
    let family_count = (practice.family_matches as usize).min(population::NAME_PAGE);
    vec![
        Shape::new("read_system", format!("{about}, as the system client"), None, 50.0, reads.clone()),
        Shape::new("read_gp", format!("{about}, as a clinician of PractitionerRole/{}", practice.role), None, 50.0, reads).asked_as(gp),
        Shape::new(
            "family_gp",
            format!(
                "Patient?family={}&_count={} as the GP ({} of the {} matches are registered there)",
                p.family,
                population::NAME_PAGE,
                practice.family_matches,
                p.family_matches
            ),
            None,
            50.0,
            vec![(
                format!("/fhir/Patient?family={}&_count={}", encode(&p.family), population::NAME_PAGE),
                Expect::Names { count: family_count, prefix: population::normalize(&p.family), family_only: true },
            )],
        )
        .asked_as(gp),
    ]
}

/// The worklist of the worklist issue, on the network with the most registered people: its first page as the
/// system client (everyone in the network) and as the GP of the practice with the most people (only the
/// people they may see). `gp` is the GP's `Authorization` header.
pub fn worklist_shapes(p: &Population, gp: Option<&'static str>) -> Vec<Shape> {
    let Some(network) = &p.network else { return Vec::new() };
    let path =
        format!("/fhir/Patient/$worklist?list=top-tiers-without-care-plan&network=Organization/{}&_count={}", network.organisation, WORKLIST_PAGE);
    let about = format!(
        "Patient/$worklist?list=top-tiers-without-care-plan&network=Organization/{}&_count={WORKLIST_PAGE} ({} practices, {} people registered)",
        network.organisation, network.practices, network.registered
    );
    let case = || vec![(path.clone(), Expect::Ranked { max: WORKLIST_PAGE })];
    let mut out = vec![Shape::new("worklist_system", format!("{about}, as the system client"), None, 50.0, case())];
    if let Some(gp) = gp {
        out.push(Shape::new("worklist_gp", format!("{about}, as the GP of the largest practice"), None, 50.0, case()).asked_as(gp));
    }
    out
}

/// Entries on a worklist page.
pub const WORKLIST_PAGE: usize = 20;

impl Work for Shape {
    fn request(&self, rng: &mut Rng) -> Req {
        let mut req = match self.cases.len() {
            0 => Req::get("/fhir/metadata".into()),
            1 => Req::get(self.cases[0].0.clone()),
            n => Req::get(self.cases[rng.below(n as u64) as usize].0.clone()),
        };
        if let Some(auth) = self.authorization {
            req.headers.push(("authorization", auth));
        }
        req
    }

    fn check(&self, reply: &Reply) -> Result<Option<String>, String> {
        Err(format!("a reply to an unknown request: {}", reply.describe()))
    }

    fn check_reply(&self, req: &Req, reply: &Reply) -> Result<Option<String>, String> {
        let Some(&i) = self.by_path.get(&req.path) else { return self.check(reply) };
        let expect = &self.cases[i].1;
        judge(expect, reply).map(|()| None).map_err(|e| format!("GET {}: {e}", req.path))
    }
}

/// Checks one reply against what it must hold.
pub fn judge(expect: &Expect, reply: &Reply) -> Result<(), String> {
    if reply.status != 200 {
        return Err(reply.describe());
    }
    if let Expect::Resource { id } = expect {
        let r: Value = serde_json::from_slice(&reply.body).map_err(|e| format!("the body is not JSON ({e}): {}", reply.describe()))?;
        return match (r.get("resourceType").and_then(Value::as_str), r.get("id").and_then(Value::as_str)) {
            (Some("Patient"), Some(got)) if got == id => Ok(()),
            _ => Err(format!("expected Patient/{id}: {}", reply.describe())),
        };
    }
    let bundle: Value = serde_json::from_slice(&reply.body).map_err(|e| format!("the body is not JSON ({e}): {}", reply.describe()))?;
    if bundle.get("resourceType").and_then(Value::as_str) != Some("Bundle") || bundle.get("type").and_then(Value::as_str) != Some("searchset") {
        return Err(format!("not a searchset Bundle: {}", reply.describe()));
    }
    let entries = bundle.get("entry").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    let mut matches = Vec::with_capacity(entries.len());
    for e in entries {
        let resource = e.get("resource").unwrap_or(&Value::Null);
        if resource.get("resourceType").and_then(Value::as_str) == Some("OperationOutcome") {
            return Err(format!("the Bundle carries an OperationOutcome: {resource}"));
        }
        // `search.mode` is optional in FHIR: an entry without one is a match.
        if e.pointer("/search/mode").and_then(Value::as_str).is_none_or(|m| m == "match") {
            matches.push(resource);
        }
    }
    let id = |r: &Value| r.get("id").and_then(Value::as_str).unwrap_or("").to_owned();
    match expect {
        Expect::One { id: want } => {
            if matches.len() != 1 || id(matches[0]) != *want {
                return Err(format!("expected Patient/{want} alone, got {:?}", matches.iter().map(|r| id(r)).collect::<Vec<_>>()));
            }
        }
        Expect::Ranked { max } => {
            if matches.len() > *max || matches.iter().any(|r| r.get("resourceType").and_then(Value::as_str) != Some("Patient")) {
                return Err(format!("expected at most {max} Patients, got {} entries", matches.len()));
            }
            let scores: Vec<f64> = entries.iter().filter_map(|e| e.pointer("/search/score").and_then(Value::as_f64)).collect();
            if scores.len() != matches.len() || scores.windows(2).any(|w| w[1] > w[0]) {
                return Err(format!("expected scores from highest, got {scores:?}"));
            }
        }
        Expect::Page { ids } => {
            let got: Vec<String> = matches.iter().map(|r| id(r)).collect();
            if &got != ids {
                return Err(format!("expected {ids:?}, got {got:?}"));
            }
        }
        Expect::Names { count, prefix, family_only } => {
            if matches.len() != *count {
                return Err(format!("expected {count} matches, got {}", matches.len()));
            }
            for r in &matches {
                let ok = r.get("name").and_then(Value::as_array).into_iter().flatten().any(|n| {
                    let mut parts: Vec<&str> = n.get("family").and_then(Value::as_str).into_iter().collect();
                    if !family_only {
                        parts.extend(n.get("text").and_then(Value::as_str));
                        for key in ["given", "prefix", "suffix"] {
                            parts.extend(n.get(key).and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str));
                        }
                    }
                    parts.iter().any(|p| population::normalize(p).starts_with(prefix.as_str()))
                });
                if r.get("resourceType").and_then(Value::as_str) != Some("Patient") || !ok {
                    return Err(format!("Patient/{} has no name starting with '{prefix}'", id(r)));
                }
            }
        }
        Expect::Resource { .. } => {}
        Expect::Matches { count, of } => {
            let types: Vec<&str> = matches.iter().filter_map(|r| r.get("resourceType").and_then(Value::as_str)).collect();
            if matches.len() != *count || types.iter().any(|t| t != of) {
                return Err(format!("expected {count} {of} matches, got {types:?}"));
            }
        }
        Expect::Total { total, entries } => {
            let got = bundle.get("total").and_then(Value::as_u64);
            if got != Some(*total) {
                return Err(format!("expected total {total}, got {got:?}"));
            }
            if matches.len() != *entries {
                return Err(format!("expected {entries} entries, got {}", matches.len()));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn reply(status: u16, body: serde_json::Value) -> Reply {
        Reply { status, body: Bytes::from(body.to_string()) }
    }

    #[test]
    fn values_are_percent_encoded() {
        assert_eq!(encode("https://fhir.nhs.uk/Id/nhs-number|999"), "https://fhir.nhs.uk/Id/nhs-number%7C999");
        assert_eq!(encode("O'Brien smith"), "O%27Brien%20smith");
    }

    #[test]
    fn replies_are_judged_by_what_was_asked() {
        let one = json!({"resourceType": "Bundle", "type": "searchset",
            "entry": [{"resource": {"resourceType": "Patient", "id": "pat-1", "name": [{"family": "Smith"}]}, "search": {"mode": "match"}}]});
        assert!(judge(&Expect::One { id: "pat-1".into() }, &reply(200, one.clone())).is_ok());
        assert!(judge(&Expect::One { id: "pat-2".into() }, &reply(200, one.clone())).is_err());
        assert!(judge(&Expect::One { id: "pat-1".into() }, &reply(500, one.clone())).is_err());
        assert!(judge(&Expect::Names { count: 1, prefix: "smi".into(), family_only: true }, &reply(200, one.clone())).is_ok());
        assert!(judge(&Expect::Names { count: 1, prefix: "jon".into(), family_only: true }, &reply(200, one)).is_err());
        let count = json!({"resourceType": "Bundle", "type": "searchset", "total": 7});
        assert!(judge(&Expect::Total { total: 7, entries: 0 }, &reply(200, count.clone())).is_ok());
        assert!(judge(&Expect::Total { total: 8, entries: 0 }, &reply(200, count)).is_err());
        let warned = json!({"resourceType": "Bundle", "type": "searchset", "total": 7,
            "entry": [{"resource": {"resourceType": "OperationOutcome"}, "search": {"mode": "outcome"}}]});
        assert!(judge(&Expect::Total { total: 7, entries: 0 }, &reply(200, warned)).is_err(), "an ignored parameter is a failure");
    }
}
