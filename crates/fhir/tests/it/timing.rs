//! Release-mode timings of first use and of validation (ignored by default; run with
//! `cargo test -p fhir --release --test it timing -- --ignored --nocapture --test-threads=1`).

use crate::data;
use fhir::validate::validate_resource;
use serde_json::Value;
use std::time::{Duration, Instant};

fn nodes(value: &Value) -> usize {
    1 + match value {
        Value::Object(o) => o.values().map(nodes).sum(),
        Value::Array(a) => a.iter().map(nodes).sum(),
        _ => 0,
    }
}

fn per_call(iterations: u32, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..iterations {
        f();
    }
    start.elapsed() / iterations
}

#[test]
#[ignore = "timing; run in release on its own"]
fn timing() {
    if crate::data::missing() {
        return;
    }
    let start = Instant::now();
    assert!(fhir::definitions::is_resource_type("Patient"));
    eprintln!("first use (parse the embedded definitions): {:?}", start.elapsed());

    let files = data::files("synthea-r4", "json");
    let bundle: Value = serde_json::from_str(&std::fs::read_to_string(&files[0]).expect("readable")).expect("JSON");
    let resources: Vec<&Value> = bundle["entry"].as_array().expect("entries").iter().map(|e| &e["resource"]).collect();
    let patient = resources.iter().find(|r| r["resourceType"] == "Patient").expect("a Patient");
    let time = per_call(20_000, || assert!(validate_resource(patient).is_ok()));
    eprintln!("Synthea Patient ({} JSON nodes): {time:?} per validation", nodes(patient));

    let total_nodes: usize = resources.iter().map(|r| nodes(r)).sum();
    let time = per_call(20, || resources.iter().for_each(|r| assert!(validate_resource(r).is_ok())));
    eprintln!(
        "one Synthea bundle, {} resources, {total_nodes} JSON nodes: {time:?} per pass, {:?} per resource, {:.0} ns per node",
        resources.len(),
        time / resources.len() as u32,
        time.as_nanos() as f64 / total_nodes as f64
    );
}
