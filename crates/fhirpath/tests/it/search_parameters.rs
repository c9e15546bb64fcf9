//! The 1,375 R4 search parameters: every expression parses, evaluates without error on real
//! resources of its base types (Synthea bundles and the suite inputs), and a sample of them give
//! the nodes and FHIR types an indexer needs.

use std::collections::BTreeMap;

use fhirpath::{Env, Expr, Item};
use serde_json::{json, Value};

use crate::data::{read_json, shared_data};

struct SearchParam {
    id: String,
    code: String,
    bases: Vec<String>,
    expression: String,
}

fn search_params() -> Vec<SearchParam> {
    let bundle = read_json(&shared_data().join("fhir-r4/search-parameters.json"));
    let entries = bundle["entry"].as_array().expect("search-parameters.json is a Bundle");
    assert_eq!(entries.len(), 1375, "the R4 search parameters");
    entries
        .iter()
        .filter_map(|e| {
            let r = &e["resource"];
            Some(SearchParam {
                id: r["id"].as_str()?.to_owned(),
                code: r["code"].as_str()?.to_owned(),
                bases: r["base"].as_array()?.iter().filter_map(|b| b.as_str().map(str::to_owned)).collect(),
                expression: r["expression"].as_str()?.to_owned(),
            })
        })
        .collect()
}

/// Up to `per_type` resources of each type from the first Synthea bundles and the suite inputs.
fn sample_resources(per_type: usize) -> BTreeMap<String, Vec<Value>> {
    let mut by_type: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut add = |r: Value| {
        if let Some(rt) = r["resourceType"].as_str() {
            let list = by_type.entry(rt.to_owned()).or_default();
            if list.len() < per_type {
                list.push(r);
            }
        }
    };
    let dir = shared_data().join("synthea-r4");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    for f in files.iter().take(4) {
        let mut bundle = read_json(f);
        if let Some(entries) = bundle["entry"].as_array_mut() {
            for e in entries {
                add(e["resource"].take());
            }
        }
    }
    let inputs = shared_data().join("fhir-test-cases/inputs");
    for entry in std::fs::read_dir(&inputs).unwrap_or_else(|e| panic!("cannot list {}: {e}", inputs.display())).flatten() {
        let p = entry.path();
        if p.extension().is_some_and(|x| x == "json") {
            add(read_json(&p));
        }
    }
    by_type
}

/// Expressions of the R4 release that are not FHIRPath, and what they should say (the
/// search-parameter registry has to carry the same correction).
const R4_ERRATA: &[(&str, &str)] = &[("Account-patient", "Account.subject.where(resolve() is Patient)")];

#[test]
fn every_search_expression_parses_and_evaluates() {
    if crate::data::missing() {
        return;
    }
    let mut params = search_params();
    assert_eq!(params.len(), 1372, "search parameters with an expression");
    for (id, fixed) in R4_ERRATA {
        let p = params.iter_mut().find(|p| p.id == *id).unwrap_or_else(|| panic!("{id} is in the R4 search parameters"));
        assert!(Expr::parse(&p.expression).is_err(), "{id} `{}` parses now: drop it from R4_ERRATA", p.expression);
        p.expression = (*fixed).to_owned();
    }
    let mut parse_failures = Vec::new();
    let parsed: Vec<(&SearchParam, Expr)> = params
        .iter()
        .filter_map(|p| match Expr::parse(&p.expression) {
            Ok(e) => Some((p, e)),
            Err(err) => {
                parse_failures.push(format!("{} `{}`: {err}", p.code, p.expression));
                None
            }
        })
        .collect();
    assert!(parse_failures.is_empty(), "search expressions that do not parse:\n{}", parse_failures.join("\n"));

    let resources = sample_resources(25);
    let lenient = Env::new();
    let strict = Env::new().strict(true);
    let (mut evaluations, mut non_empty, mut strict_errors) = (0usize, 0usize, Vec::new());
    let mut failures = Vec::new();
    for (p, expr) in &parsed {
        let all = p.bases.iter().any(|b| b == "Resource" || b == "DomainResource");
        for (rt, list) in &resources {
            if !all && !p.bases.iter().any(|b| b == rt) {
                continue;
            }
            for r in list {
                evaluations += 1;
                match expr.evaluate_with(r, &lenient) {
                    Ok(items) => non_empty += usize::from(!items.is_empty()),
                    Err(e) => failures.push(format!("{rt} {} `{}`: {e}", p.code, p.expression)),
                }
                // Strict mode also rejects the other resource types of multi-base unions
                // (`Patient.telecom | Person.telecom` on a Patient) and `as` on repeating
                // elements (`Observation.component.value as Quantity`), which is why indexing
                // is lenient; but an element the model does not know would be a real mistake.
                if let Err(e) = expr.evaluate_with(r, &strict) {
                    let unknown_element = matches!(&e, fhirpath::EvalError::UnknownElement { name, .. }
                        if name.starts_with(|c: char| c.is_ascii_lowercase()));
                    if unknown_element {
                        strict_errors.push(format!("{rt} {} `{}`: {e}", p.code, p.expression));
                    }
                }
            }
        }
    }
    println!(
        "search parameters: {} parsed, {evaluations} evaluations over {} resource types, {non_empty} non-empty, {} strict-mode element errors",
        parsed.len(),
        resources.len(),
        strict_errors.len()
    );
    assert!(failures.is_empty(), "{} evaluation error(s):\n{}", failures.len(), failures.join("\n"));
    assert!(strict_errors.is_empty(), "elements unknown to the model:\n{}", strict_errors.join("\n"));
}

/// Every expression, checked statically against each of its base types: all path steps name
/// elements the model knows.
#[test]
fn every_search_expression_checks_against_its_bases() {
    if crate::data::missing() {
        return;
    }
    let mut params = search_params();
    for (id, fixed) in R4_ERRATA {
        if let Some(p) = params.iter_mut().find(|p| p.id == *id) {
            p.expression = (*fixed).to_owned();
        }
    }
    let mut failures = Vec::new();
    let mut checks = 0;
    for p in &params {
        let expr = Expr::parse(&p.expression).unwrap_or_else(|e| panic!("{}: {e}", p.expression));
        for base in &p.bases {
            checks += 1;
            if let Err(e) = expr.check(base) {
                failures.push(format!("{base} {} `{}`: {e}", p.code, p.expression));
            }
        }
    }
    println!("search parameters checked statically: {checks} (expression, base) pairs");
    assert!(failures.is_empty(), "{} failure(s):\n{}", failures.len(), failures.join("\n"));
}

/// Every expression on a bare resource of each of its base types (most types have no sample data).
#[test]
fn every_search_expression_evaluates_on_bare_resources() {
    if crate::data::missing() {
        return;
    }
    let mut params = search_params();
    for (id, fixed) in R4_ERRATA {
        if let Some(p) = params.iter_mut().find(|p| p.id == *id) {
            p.expression = (*fixed).to_owned();
        }
    }
    let strict = Env::new().strict(true);
    let mut failures = Vec::new();
    let mut evaluations = 0;
    for p in &params {
        let expr = Expr::parse(&p.expression).unwrap_or_else(|e| panic!("{}: {e}", p.expression));
        for base in &p.bases {
            let bare = json!({"resourceType": base, "id": "x", "meta": {"versionId": "1"}, "text": {"status": "generated"}});
            evaluations += 1;
            if let Err(e) = expr.evaluate(&bare) {
                failures.push(format!("{base} {}: {e}", p.code));
            }
            if let Err(fhirpath::EvalError::UnknownElement { name, on }) = expr.evaluate_with(&bare, &strict) {
                if name.starts_with(|c: char| c.is_ascii_lowercase()) {
                    failures.push(format!("{base} {}: {name} unknown on {on}", p.code));
                }
            }
        }
    }
    println!("search parameters on bare resources: {evaluations} evaluations");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn eval<'a>(expr: &str, resource: &'a Value) -> Vec<Item<'a>> {
    Expr::parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}")).evaluate(resource).unwrap_or_else(|e| panic!("{expr}: {e}"))
}

fn types(items: &[Item<'_>]) -> Vec<String> {
    items.iter().map(|i| i.fhir_type().unwrap_or("-").to_owned()).collect()
}

fn synthea(rt: &str, pred: impl Fn(&Value) -> bool) -> Value {
    sample_resources(200).remove(rt).and_then(|list| list.into_iter().find(|r| pred(r))).unwrap_or_else(|| panic!("no suitable {rt} in the sample"))
}

#[test]
fn search_results_carry_nodes_and_types() {
    if crate::data::missing() {
        return;
    }
    let obs = synthea("Observation", |r| r.get("valueQuantity").is_some());
    let code = eval("Observation.code", &obs);
    assert_eq!(types(&code), ["CodeableConcept"]);
    assert!(std::ptr::eq(code[0].json().expect("a node"), &obs["code"]), "the node is the resource's own JSON");

    let q = eval("(Observation.value as Quantity) | (Observation.value as SampledData)", &obs);
    assert_eq!(types(&q), ["Quantity"]);
    assert_eq!(q[0].json().and_then(|v| v.get("system")), Some(&json!("http://unitsofmeasure.org")));

    let bp = synthea("Observation", |r| r["component"].as_array().is_some_and(|c| c.len() >= 2));
    let parts = eval("(Observation.component.value as Quantity) | (Observation.component.value as SampledData)", &bp);
    assert!(parts.len() >= 2, "each component's quantity");

    let patient = synthea("Patient", |_| true);
    assert!(types(&eval("Patient.name", &patient)).iter().all(|t| t == "HumanName"));
    assert_eq!(types(&eval("Patient.birthDate", &patient)), ["date"]);
    assert_eq!(types(&eval("Patient.identifier", &patient)).first().map(String::as_str), Some("Identifier"));
    let deceased = eval("Patient.deceased.exists() and Patient.deceased != false", &patient);
    assert!(matches!(deceased.as_slice(), [Item::Boolean(_)]));

    let cond = synthea("Condition", |r| r.get("onsetDateTime").is_some());
    let onset = eval("Condition.onset.as(dateTime) | Condition.onset.as(Period)", &cond);
    assert_eq!(types(&onset), ["dateTime"]);
    assert_eq!(onset[0].json(), cond.get("onsetDateTime"));

    let enc = synthea("Encounter", |r| r.get("period").is_some());
    let date = eval(
        "AllergyIntolerance.recordedDate | CarePlan.period | CareTeam.period | ClinicalImpression.date | Composition.date | Consent.dateTime | DiagnosticReport.effective | Encounter.period | EpisodeOfCare.period | FamilyMemberHistory.date | Flag.period | Immunization.occurrence | List.date | Observation.effective | Procedure.performed | (RiskAssessment.occurrence as dateTime) | SupplyRequest.authoredOn",
        &enc,
    );
    assert_eq!(types(&date), ["Period"]);
}

#[test]
fn resolve_types_references_for_indexing() {
    if crate::data::missing() {
        return;
    }
    let obs = json!({
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "subject": {"reference": "Patient/123"},
        "performer": [
            {"reference": "http://example.org/fhir/Practitioner/9/_history/2"},
            {"reference": "#org"},
            {"reference": "urn:uuid:6d7f"},
            {"reference": "urn:uuid:77aa", "type": "Organization"}
        ],
        "contained": [{"resourceType": "Organization", "id": "org", "name": "Clinic"}]
    });
    let subject = eval("Observation.subject.where(resolve() is Patient)", &obs);
    assert_eq!(types(&subject), ["Reference"]);
    assert!(eval("Observation.subject.where(resolve() is Group)", &obs).is_empty());
    let performers = eval("Observation.performer.resolve()", &obs);
    assert_eq!(types(&performers), ["Practitioner", "Organization", "Organization"]);
    assert_eq!(performers[1].json().and_then(|v| v.get("name")), Some(&json!("Clinic")), "contained content");
    assert_eq!(performers[0].json(), Some(&Value::Null), "known only by type");
    let orgs = eval("Observation.performer.where(resolve() is Organization)", &obs);
    assert_eq!(orgs.len(), 2);

    // Inside a Bundle, references resolve to the entries.
    let bundle = json!({
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": "urn:uuid:p1", "resource": {"resourceType": "Patient", "id": "p1", "gender": "female"}},
            {"fullUrl": "urn:uuid:o1", "resource": {"resourceType": "Observation", "status": "final", "code": {}, "subject": {"reference": "urn:uuid:p1"}}}
        ]
    });
    let g = eval("Bundle.entry.resource.ofType(Observation).subject.resolve().gender", &bundle);
    assert_eq!(g.iter().map(|i| i.to_string()).collect::<Vec<_>>(), ["female"]);

    // With a resolver.
    struct Store(Value);
    impl fhirpath::Resolver for Store {
        fn resolve(&self, reference: &str) -> Option<&Value> {
            (reference == "Patient/123").then_some(&self.0)
        }
    }
    let store = Store(json!({"resourceType": "Patient", "id": "123", "gender": "male"}));
    let env = Env::new().with_resolver(&store);
    let e = Expr::parse("Observation.subject.resolve().gender").expect("parses");
    let got = e.evaluate_with(&obs, &env).expect("evaluates");
    assert_eq!(got.iter().map(|i| i.to_string()).collect::<Vec<_>>(), ["male"]);
}
