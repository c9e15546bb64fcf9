//! Every generated resource is valid FHIR R4 as far as the official definitions can tell without a terminology server: known elements only, right cardinality, required elements present, required codes from their value sets, well-formed dates, times and ids.

use crate::fixture::population;

#[test]
fn resources_conform_to_the_r4_definitions() {
    let Some(issues) = &population().issues else { return };
    let mut listed: Vec<String> = issues.iter().map(|(issue, count)| format!("{count} × {issue}")).collect();
    listed.sort();
    assert!(listed.is_empty(), "{listed:#?}");
}

#[test]
fn the_checker_catches_what_it_should() {
    // The checker itself: a resource with each kind of fault is reported.
    let Some(specification) = crate::specification::Specification::load(&["Observation", "Encounter"]) else { return };
    let observation = serde_json::json!({
        "resourceType": "Observation",
        "id": "bad id!",
        "status": "finalised",
        "category": {"text": "one, not a list"},
        "effectiveDateTime": "2024-13-01",
        "colour": "blue",
    });
    let issues = specification.check(&observation);
    for expected in [
        "Observation.code: required but missing",
        "not in the required value set",
        "a list is required",
        "not a dateTime",
        "not an element",
        "not a FHIR id",
    ] {
        assert!(issues.iter().any(|issue| issue.contains(expected)), "{expected:?} not reported in {issues:#?}");
    }
    let encounter = serde_json::json!({"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"}});
    assert!(specification.check(&encounter).is_empty(), "{:?}", specification.check(&encounter));
}
