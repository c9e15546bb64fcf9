//! Opt-in timing of search-indexing expressions on Synthea resources. Run in release:
//! `cargo test --release -p fhirpath --test it timing -- --ignored --nocapture`.

use std::hint::black_box;
use std::time::Instant;

use fhirpath::Expr;
use serde_json::Value;

use crate::data::{read_json, shared_data};

fn first_of(bundle: &Value, rt: &str, pred: impl Fn(&Value) -> bool) -> Value {
    bundle["entry"]
        .as_array()
        .and_then(|es| es.iter().map(|e| &e["resource"]).find(|r| r["resourceType"] == rt && pred(r)))
        .cloned()
        .unwrap_or_else(|| panic!("no {rt} in the bundle"))
}

#[test]
#[ignore = "timing: run in release with --ignored --nocapture"]
fn search_expression_timing() {
    if crate::data::missing() {
        return;
    }
    let dir = shared_data().join("synthea-r4");
    let mut files: Vec<_> = std::fs::read_dir(&dir).expect("synthea dir").flatten().map(|e| e.path()).collect();
    files.sort();
    let bundle = read_json(&files[0]);
    let obs = first_of(&bundle, "Observation", |r| r.get("valueQuantity").is_some());
    let patient = first_of(&bundle, "Patient", |_| true);
    let cases: &[(&str, &Value)] = &[
        ("Observation.code", &obs),
        ("Observation.status", &obs),
        ("Observation.subject.where(resolve() is Patient)", &obs),
        ("(Observation.value as Quantity) | (Observation.value as SampledData)", &obs),
        ("Observation.effective", &obs),
        ("Patient.name", &patient),
        ("Patient.name.family", &patient),
        ("Patient.telecom.where(system='phone')", &patient),
        (
            "AllergyIntolerance.code | AllergyIntolerance.reaction.substance | Condition.code | (DeviceRequest.code as CodeableConcept) | DiagnosticReport.code | FamilyMemberHistory.condition.code | List.code | Medication.code | (MedicationAdministration.medication as CodeableConcept) | (MedicationDispense.medication as CodeableConcept) | (MedicationRequest.medication as CodeableConcept) | (MedicationStatement.medication as CodeableConcept) | Observation.code | Procedure.code | ServiceRequest.code",
            &obs,
        ),
    ];
    let iterations = 50_000;
    for (src, resource) in cases {
        let expr = Expr::parse(src).expect("parses");
        // Warm up (also loads the model).
        for _ in 0..1000 {
            black_box(expr.evaluate(resource).expect("evaluates"));
        }
        // The best of five rounds: the machine is shared, so the other rounds carry noise.
        let mut ns = f64::MAX;
        for _ in 0..5 {
            let start = Instant::now();
            for _ in 0..iterations {
                black_box(expr.evaluate(black_box(resource)).expect("evaluates"));
            }
            ns = ns.min(start.elapsed().as_nanos() as f64 / iterations as f64);
        }
        let shown: String = src.chars().take(70).collect();
        println!("{ns:>8.0} ns/evaluation  {shown}");
    }
    let start = Instant::now();
    for _ in 0..10_000 {
        black_box(Expr::parse(black_box("Observation.subject.where(resolve() is Patient)")).expect("parses"));
    }
    println!("{:>8.0} ns/parse       Observation.subject.where(resolve() is Patient)", start.elapsed().as_nanos() as f64 / 10_000.0);
}
