//! One generated population shared by the tests: generated once into a temporary folder, every line parsed and checked, and the facts the tests need kept (the files themselves are deleted).

use crate::specification::Specification;
use chrono::NaiveDate;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::OnceLock;
use synth::{generate, Options, Preset, Summary};

/// The size of the shared population: large enough that the statistics of the oldest age band
/// (about 1.8% of people) are stable, small enough to generate and parse in a few seconds.
pub const PEOPLE: usize = 20_000;
pub const SEED: u64 = 20_250_101;

pub fn reference_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 1, 1).expect("a valid date")
}

pub fn options(people: usize, seed: u64) -> Options {
    Options { seed, people, preset: Preset::Custom, reference_date: reference_date(), threads: 0 }
}

/// The facts about one person that the statistics need.
#[derive(Debug)]
pub struct PersonFacts {
    pub age: u32,
    pub birth: NaiveDate,
    pub death: Option<NaiveDate>,
    pub nhs_numbers: Vec<String>,
    pub codes: HashSet<String>,
    /// Medicines (codes) issued in the 12 months before the reference date.
    pub recent_medicines: HashSet<String>,
    pub admissions: Vec<NaiveDate>,
    pub attendances: Vec<NaiveDate>,
}

impl PersonFacts {
    /// Years alive in the two years before the reference date.
    pub fn exposure_years(&self) -> f64 {
        let start = (reference_date() - chrono::TimeDelta::days(730)).max(self.birth);
        let end = self.death.unwrap_or(reference_date());
        (end - start).num_days().max(0) as f64 / 365.25
    }
}

/// Everything the tests check, gathered in one pass over the files.
pub struct Population {
    pub summary: Summary,
    /// Files and line counts found on disk, by resource type.
    pub lines: HashMap<String, u64>,
    pub people: Vec<PersonFacts>,
    /// Every `Type/id` written, with how often (more than once is a duplicate).
    pub ids: HashMap<String, u32>,
    /// (from, to) for every reference.
    pub references: Vec<(String, String)>,
    /// Lines whose resourceType is not the file's, or whose id is not a valid FHIR id.
    pub misplaced: Vec<String>,
    /// Periods (and appointments) that end before they start.
    pub backwards: Vec<String>,
    /// Validation issues against the R4 definitions, with a count of each; `None` where the definitions
    /// are not there to check against.
    pub issues: Option<HashMap<String, u64>>,
    pub organisations: Vec<Value>,
    pub services: Vec<Value>,
}

pub const RESOURCE_TYPES: [&str; 14] = [
    "Organization",
    "HealthcareService",
    "Practitioner",
    "PractitionerRole",
    "Patient",
    "RelatedPerson",
    "EpisodeOfCare",
    "Condition",
    "MedicationRequest",
    "Observation",
    "Encounter",
    "Appointment",
    "CareTeam",
    "Consent",
];

pub fn population() -> &'static Population {
    static POPULATION: OnceLock<Population> = OnceLock::new();
    POPULATION.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let summary = generate(&options(PEOPLE, SEED), dir.path()).expect("generation succeeds");
        read(dir.path(), summary)
    })
}

fn is_fhir_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

fn collect_references(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, item) in map {
                match (key.as_str(), item) {
                    ("reference", Value::String(target)) => out.push(target.clone()),
                    _ => collect_references(item, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_references(item, out)),
        _ => {}
    }
}

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(&text[..10], "%Y-%m-%d").unwrap_or_else(|error| panic!("{text} is not a date: {error}"))
}

fn read(dir: &Path, summary: Summary) -> Population {
    let specification = Specification::load(&RESOURCE_TYPES);
    let reference = reference_date();
    let mut population = Population {
        summary,
        lines: HashMap::new(),
        people: Vec::new(),
        ids: HashMap::new(),
        references: Vec::new(),
        misplaced: Vec::new(),
        backwards: Vec::new(),
        issues: specification.as_ref().map(|_| HashMap::new()),
        organisations: Vec::new(),
        services: Vec::new(),
    };
    let mut person_of: HashMap<String, usize> = HashMap::new();
    for kind in RESOURCE_TYPES {
        let path = dir.join(format!("{kind}.ndjson"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{} was not written: {error}", path.display()));
        let mut count = 0;
        for line in text.lines() {
            count += 1;
            let resource: Value = serde_json::from_str(line).unwrap_or_else(|error| panic!("{kind}.ndjson line {count} is not JSON: {error}"));
            let id = resource["id"].as_str().unwrap_or_default().to_owned();
            if resource["resourceType"] != kind || !is_fhir_id(&id) {
                population.misplaced.push(format!("{kind}.ndjson line {count}: {}/{id}", resource["resourceType"]));
            }
            let own = format!("{kind}/{id}");
            *population.ids.entry(own.clone()).or_insert(0) += 1;
            let mut targets = Vec::new();
            collect_references(&resource, &mut targets);
            population.references.extend(targets.into_iter().map(|target| (own.clone(), target)));
            if let (Some(specification), Some(issues)) = (&specification, &mut population.issues) {
                for issue in specification.check(&resource) {
                    *issues.entry(format!("{kind}: {issue}")).or_insert(0) += 1;
                }
            }
            let subject = |key: &str| resource[key]["reference"].as_str().and_then(|target| person_of.get(target).copied());
            match kind {
                "Organization" => population.organisations.push(resource.clone()),
                "HealthcareService" => population.services.push(resource.clone()),
                "Patient" => {
                    let birth = date(resource["birthDate"].as_str().expect("a birth date"));
                    let age = reference.years_since(birth).expect("born before the reference date");
                    let nhs_numbers = resource["identifier"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|identifier| identifier["system"] == care::nhs_number::NHS_NUMBER_SYSTEM)
                        .filter_map(|identifier| identifier["value"].as_str().map(str::to_owned))
                        .collect();
                    person_of.insert(own.clone(), population.people.len());
                    population.people.push(PersonFacts {
                        age,
                        birth,
                        death: resource["deceasedDateTime"].as_str().map(date),
                        nhs_numbers,
                        codes: HashSet::new(),
                        recent_medicines: HashSet::new(),
                        admissions: Vec::new(),
                        attendances: Vec::new(),
                    });
                }
                "Condition" => {
                    if let Some(person) = subject("subject") {
                        for coding in resource["code"]["coding"].as_array().into_iter().flatten() {
                            if let Some(code) = coding["code"].as_str() {
                                population.people[person].codes.insert(code.to_owned());
                            }
                        }
                    }
                }
                "MedicationRequest" => {
                    let issued = date(resource["authoredOn"].as_str().expect("authoredOn"));
                    if let (Some(person), Some(code)) = (subject("subject"), resource["medicationCodeableConcept"]["coding"][0]["code"].as_str()) {
                        if (reference - issued).num_days() <= 365 {
                            population.people[person].recent_medicines.insert(code.to_owned());
                        }
                    }
                }
                "Encounter" => {
                    if let Some(person) = subject("subject") {
                        let start = date(resource["period"]["start"].as_str().expect("a start"));
                        match resource["class"]["code"].as_str() {
                            Some("IMP") => population.people[person].admissions.push(start),
                            Some("EMER") => population.people[person].attendances.push(start),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        population.lines.insert(kind.to_owned(), count);
    }
    population
}
