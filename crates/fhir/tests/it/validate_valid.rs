//! Real resources that must validate: every resource of the Synthea bundles, and the FHIR test-case examples.

use crate::data;
use fhir::validate::validate_resource;
use fhir::IssueCode::{self, Required, Structure};
use serde_json::{json, Value};
use std::path::PathBuf;

/// Validates each entry's resource of every Synthea bundle, then the whole transaction bundle;
/// returns (resources checked, failures as text).
fn validate_synthea(files: &[PathBuf]) -> (usize, Vec<String>) {
    let mut checked = 0;
    let mut failures = Vec::new();
    for file in files {
        let name = file.file_name().unwrap_or_default().to_string_lossy();
        let text = std::fs::read_to_string(file).expect("readable Synthea bundle");
        let bundle: Value = serde_json::from_str(&text).expect("Synthea bundle is JSON");
        let entries = bundle["entry"].as_array().expect("a bundle with entries");
        for (i, entry) in entries.iter().enumerate() {
            checked += 1;
            if let Err(issues) = validate_resource(&entry["resource"]) {
                failures.push(format!("{name} entry[{i}]: {issues:#?}"));
            }
        }
        if let Err(issues) = validate_resource(&bundle) {
            failures.push(format!("{name} as a whole: {issues:#?}"));
        }
    }
    (checked, failures)
}

#[test]
fn every_synthea_resource_is_valid() {
    if crate::data::missing() {
        return;
    }
    let files = data::files("synthea-r4", "json");
    assert_eq!(files.len(), 124, "the 124 Synthea bundles");
    let halves = files.split_at(files.len() / 2);
    let (first, second) = std::thread::scope(|s| {
        let other = s.spawn(|| validate_synthea(halves.1));
        (validate_synthea(halves.0), other.join().expect("validation thread"))
    });
    let checked = first.0 + second.0;
    let failures: Vec<String> = first.1.into_iter().chain(second.1).collect();
    eprintln!("validated {checked} Synthea resources");
    assert!(checked > 30_000, "only {checked} resources");
    assert!(
        failures.is_empty(),
        "{} of {checked} resources rejected, e.g.:\n{}",
        failures.len(),
        failures.iter().take(5).cloned().collect::<Vec<_>>().join("\n")
    );
}

/// The FHIRPath test suite's example inputs. Most JSON files there were converted from the XML and
/// carry `"_x": {}` where the XML had a comment, which FHIR JSON does not allow (an object must not
/// be empty); one is a deliberately partial fragment; one has `given` and `_given` arrays of
/// different lengths. Those are listed with exactly the issues they have.
#[test]
fn fhir_test_case_examples() {
    if crate::data::missing() {
        return;
    }
    let known_invalid: &[(&str, &[(IssueCode, &str)])] = &[
        ("codesystem-example.json", &[(Structure, "CodeSystem.concept[0].display")]),
        (
            "explanationofbenefit-example.json",
            &[
                (Required, "ExplanationOfBenefit.item[0].productOrService"),
                (Required, "ExplanationOfBenefit.item[1].productOrService"),
                (Required, "ExplanationOfBenefit.status"),
                (Required, "ExplanationOfBenefit.type"),
                (Required, "ExplanationOfBenefit.use"),
                (Required, "ExplanationOfBenefit.patient"),
                (Required, "ExplanationOfBenefit.created"),
                (Required, "ExplanationOfBenefit.insurer"),
                (Required, "ExplanationOfBenefit.provider"),
                (Required, "ExplanationOfBenefit.outcome"),
                (Required, "ExplanationOfBenefit.insurance"),
            ],
        ),
        ("observation-example.json", &[(Structure, "Observation.code.coding[0].display"), (Structure, "Observation.code.coding[1].display")]),
        (
            "patient-example-period.json",
            &[(Structure, "Patient.name[2].use"), (Structure, "Patient.gender"), (Structure, "Patient.contact[0].period.start")],
        ),
        (
            "patient-example.json",
            &[(Structure, "Patient.name[2].use"), (Structure, "Patient.gender"), (Structure, "Patient.contact[0].period.start")],
        ),
        ("patient-name-extensions.json", &[(Structure, "Patient.name[0].given")]),
        (
            "valueset-example-expansion.json",
            &[
                (Structure, "ValueSet.meta.profile[0]"),
                (Structure, "ValueSet.date"),
                (Structure, "ValueSet.expansion.identifier"),
                (Structure, "ValueSet.expansion.timestamp"),
                (Structure, "ValueSet.expansion.total"),
                (Structure, "ValueSet.expansion.offset"),
                (Structure, "ValueSet.expansion.parameter[0].name"),
                (Structure, "ValueSet.expansion.contains[0].version"),
            ],
        ),
    ];
    let mut valid = 0;
    for file in data::files("fhir-test-cases/inputs", "json") {
        let name = file.file_name().unwrap_or_default().to_string_lossy().to_string();
        let resource: Value = serde_json::from_str(&std::fs::read_to_string(&file).expect("readable")).expect("JSON");
        let found: Vec<(IssueCode, String)> = match validate_resource(&resource) {
            Ok(()) => Vec::new(),
            Err(issues) => issues.into_iter().map(|i| (i.code, i.expression.join(" | "))).collect(),
        };
        match known_invalid.iter().find(|(n, _)| *n == name) {
            None => {
                assert_eq!(found, [], "{name}");
                valid += 1;
            }
            Some((_, expected)) => {
                let expected: Vec<(IssueCode, String)> = expected.iter().map(|(c, e)| (*c, e.to_string())).collect();
                assert_eq!(found, expected, "{name}");
            }
        }
    }
    assert_eq!(valid, 3, "appointment, patient-container and questionnaire examples");
}

/// A step from a value to one of its children.
#[derive(Clone)]
enum Step {
    Key(String),
    Index(usize),
}

/// Every position in `value`, as steps from it.
fn positions(value: &Value, at: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    out.push(at.clone());
    match value {
        Value::Object(object) => {
            for (key, child) in object {
                at.push(Step::Key(key.clone()));
                positions(child, at, out);
                at.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                at.push(Step::Index(i));
                positions(child, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

fn pointer(steps: &[Step]) -> String {
    steps
        .iter()
        .map(|s| match s {
            Step::Key(k) => format!("/{}", k.replace('~', "~0").replace('/', "~1")),
            Step::Index(i) => format!("/{i}"),
        })
        .collect()
}

/// The FHIRPath the validator must report for a position: `Patient.name[0].given[1]`.
fn fhirpath(resource_type: &str, steps: &[Step]) -> String {
    let mut path = resource_type.to_string();
    for step in steps {
        match step {
            Step::Key(k) => {
                path.push('.');
                path.push_str(k.strip_prefix('_').unwrap_or(k));
            }
            Step::Index(i) => path.push_str(&format!("[{i}]")),
        }
    }
    path
}

/// Mutates `resource` at every position in ways FHIR JSON forbids and checks that exactly one
/// issue is reported, with the expected code, at that position. Returns the mismatches.
fn mutate_everywhere(resource: &mut Value) -> (usize, Vec<String>) {
    let resource_type = resource["resourceType"].as_str().expect("resourceType").to_string();
    let mut all = Vec::new();
    positions(resource, &mut Vec::new(), &mut all);
    let mut mutations = 0;
    let mut mismatches = Vec::new();
    for steps in all {
        let at = pointer(&steps);
        let path = fhirpath(&resource_type, &steps);
        let original = resource.pointer(&at).expect("position exists").clone();
        let in_array = matches!(steps.last(), Some(Step::Index(_)));
        let is_type = matches!(steps.last(), Some(Step::Key(k)) if k == "resourceType");
        let mut attempts: Vec<(Value, IssueCode, String)> = Vec::new();
        match &original {
            Value::Object(object) => {
                let mut extended = object.clone();
                extended.insert("bogus".into(), Value::Bool(true));
                attempts.push((Value::Object(extended), Structure, format!("{path}.bogus")));
                if !steps.is_empty() && !in_array {
                    attempts.push((Value::Array(vec![original.clone()]), Structure, path.clone()));
                }
            }
            Value::Array(items) => attempts.push((items[0].clone(), Structure, path.clone())),
            Value::String(text) if is_type => {
                let wrong = [json!(""), Value::Null, json!([text]), json!({ "value": text }), json!("Resource"), json!(text.to_lowercase())];
                // The top-level resource's type is reported as `resourceType`: the type is what is unknown.
                let type_path = if steps.len() == 1 { "resourceType".to_string() } else { path.clone() };
                attempts.extend(wrong.into_iter().map(|w| (w, IssueCode::Invalid, type_path.clone())));
            }
            Value::String(text) => {
                attempts.push((Value::String(String::new()), IssueCode::Value, path.clone()));
                attempts.push((Value::Null, Structure, path.clone()));
                if !in_array {
                    attempts.push((Value::Array(vec![original.clone()]), Structure, path.clone()));
                }
                if text.len() > 1 {
                    attempts.push((json!({ "value": text }), Structure, path.clone()));
                }
            }
            Value::Number(n) => {
                attempts.push((Value::String(n.to_string()), IssueCode::Value, path.clone()));
                attempts.push((Value::Null, Structure, path.clone()));
            }
            Value::Bool(b) => {
                attempts.push((Value::String(b.to_string()), IssueCode::Value, path.clone()));
                attempts.push((Value::Null, Structure, path.clone()));
            }
            _ => {}
        }
        for (replacement, code, expected_path) in attempts {
            *resource.pointer_mut(&at).expect("position exists") = replacement.clone();
            let found: Vec<(IssueCode, String)> = match validate_resource(resource) {
                Ok(()) => Vec::new(),
                Err(issues) => issues.into_iter().map(|i| (i.code, i.expression.join(" | "))).collect(),
            };
            if found != [(code, expected_path.clone())] {
                mismatches.push(format!("{at} := {replacement}: expected {code:?} at {expected_path}, found {found:?}"));
            }
            mutations += 1;
        }
        *resource.pointer_mut(&at).expect("position exists") = original;
    }
    (mutations, mismatches)
}

/// Every position of real resources is checked: an unknown member added to any object, any string
/// emptied, any value nulled or given the wrong JSON type, any array unwrapped or single value
/// wrapped, is reported exactly there. Ten resources of each type found in the Synthea bundles.
#[test]
fn mutations_of_synthea_resources_are_caught_where_they_are() {
    if crate::data::missing() {
        return;
    }
    let mut per_type: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let (mut resources, mut mutations, mut mismatches) = (0, 0, Vec::new());
    for file in data::files("synthea-r4", "json") {
        let mut bundle: Value = serde_json::from_str(&std::fs::read_to_string(&file).expect("readable")).expect("JSON");
        for entry in bundle["entry"].as_array_mut().expect("entries") {
            let resource = &mut entry["resource"];
            let seen = per_type.entry(resource["resourceType"].as_str().expect("type").to_string()).or_default();
            if *seen == 10 {
                continue;
            }
            *seen += 1;
            resources += 1;
            let (count, found) = mutate_everywhere(resource);
            mutations += count;
            mismatches.extend(found);
        }
    }
    eprintln!("{mutations} mutations of {resources} resources of {} types", per_type.len());
    assert!(per_type.len() >= 16 && mutations > 10_000, "{mutations} mutations of {} types", per_type.len());
    assert!(mismatches.is_empty(), "{} mismatches, e.g.:\n{}", mismatches.len(), mismatches[..mismatches.len().min(10)].join("\n"));
}
