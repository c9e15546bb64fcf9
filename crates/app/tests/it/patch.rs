//! The JSON Patch cases of the official FHIR test suite, applied through the same code PATCH uses.

use serde_json::Value;

#[test]
fn official_json_patch_cases() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/json-patch-tests.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let cases: Vec<Value> = serde_json::from_str(&text).expect("cases parse");
    assert_eq!(cases.len(), 16);
    let mut failures = Vec::new();
    for case in &cases {
        let name = case["comment"].as_str().unwrap_or("?");
        let mut doc = case["doc"].clone();
        let result = app::patch::parse(case["patch"].clone()).and_then(|p| app::patch::apply(&mut doc, &p));
        match (case.get("expected"), case.get("error"), result) {
            (Some(expected), _, Ok(())) if &doc == expected => {}
            (Some(expected), _, outcome) => failures.push(format!("{name}: expected {expected}, got {doc} / {outcome:?}")),
            (None, Some(_), Err(_)) if doc == case["doc"] => {}
            (None, Some(_), Err(_)) => failures.push(format!("{name}: failed but changed the document to {doc}")),
            (None, Some(error), Ok(())) => failures.push(format!("{name}: expected the error '{error}', but it applied")),
            (None, None, _) => failures.push(format!("{name}: a case with neither expected nor error")),
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
