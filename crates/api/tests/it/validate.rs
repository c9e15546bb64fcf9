//! `$validate` through HTTP: a valid resource, every issue of an invalid one with its path, the modes
//! (create, update, delete), Parameters bodies and profiles; nothing is ever stored.

use crate::{observation, patient, Server};
use serde_json::{json, Value};

fn issues(oo: &Value) -> Vec<(String, String, String)> {
    oo["issue"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            let at = i["expression"].as_array().and_then(|e| e.first()).and_then(Value::as_str).unwrap_or("").to_owned();
            (i["severity"].as_str().unwrap_or("").to_owned(), i["code"].as_str().unwrap_or("").to_owned(), at)
        })
        .collect()
}

async fn count(s: &Server, t: &str) -> u64 {
    s.get(&format!("/fhir/{t}?_summary=count")).await.json()["total"].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn a_valid_resource_gets_200_and_one_information_issue_and_nothing_is_stored() {
    let s = Server::new();
    let r = s.post("/fhir/Patient/$validate", &patient("9000000061")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let oo = r.json();
    assert_eq!(oo["resourceType"], "OperationOutcome");
    assert_eq!(issues(&oo), [("information".to_owned(), "informational".to_owned(), String::new())]);
    assert_eq!(count(&s, "Patient").await, 0, "nothing stored");
}

#[tokio::test]
async fn every_issue_of_an_invalid_resource_is_named_with_its_path() {
    let s = Server::new();
    let bad = json!({ "resourceType": "Patient", "gender": "sometimes", "birthDate": "1940-13-01", "colour": "blue",
        "generalPractitioner": [{ "reference": "Organization/nowhere" }] });
    let r = s.post("/fhir/Patient/$validate", &bad).await;
    assert_eq!(r.status, 200, "validation ran: {}", r.text());
    let found = issues(&r.json());
    for (code, at) in [
        ("code-invalid", "Patient.gender"),
        ("value", "Patient.birthDate"),
        ("structure", "Patient.colour"),
        ("not-found", "Patient.generalPractitioner[0]"),
    ] {
        assert!(found.iter().any(|(sev, c, p)| sev == "error" && c == code && p.starts_with(at)), "{code} at {at} in {found:?}");
    }
    let r = s.post("/fhir/Patient/$validate", &observation("x", "70")).await;
    assert!(issues(&r.json()).iter().any(|(_, c, p)| c == "invalid" && p == "resourceType"), "{}", r.text());
}

#[tokio::test]
async fn modes_parameters_and_profiles() {
    let s = Server::new();
    let id = s.create(patient("9000000062")).await;
    // update: the body's id must be the URL's.
    let mut p = patient("9000000062");
    p["id"] = json!("other");
    let r = s.post(&format!("/fhir/Patient/{id}/$validate?mode=update"), &p).await;
    assert!(issues(&r.json()).iter().any(|(_, c, at)| c == "invalid" && at == "Patient.id"), "{}", r.text());
    p["id"] = json!(id);
    let r = s.post(&format!("/fhir/Patient/{id}/$validate"), &p).await;
    assert_eq!(issues(&r.json())[0].0, "information", "{}", r.text());

    // delete: refused while something points at it; fine once nothing does. The record is untouched.
    let obs = s.create(observation(&id, "70")).await;
    let r = s.send("POST", &format!("/fhir/Patient/{id}/$validate?mode=delete"), &[], None).await;
    assert!(issues(&r.json()).iter().any(|(_, c, _)| c == "conflict"), "{}", r.text());
    let r = s.send("POST", &format!("/fhir/Observation/{obs}/$validate?mode=delete"), &[], None).await;
    assert_eq!(issues(&r.json())[0].0, "information", "{}", r.text());
    assert_eq!(s.get(&format!("/fhir/Observation/{obs}")).await.status, 200);
    let r = s.send("POST", "/fhir/Patient/nobody/$validate?mode=delete", &[], None).await;
    assert!(issues(&r.json()).iter().any(|(_, c, _)| c == "not-found"), "{}", r.text());

    // A Parameters body, with a profile: the base definition is known, others are not.
    let params = |profile: &str| {
        json!({ "resourceType": "Parameters", "parameter": [
        { "name": "resource", "resource": patient("9000000063") }, { "name": "mode", "valueCode": "create" }, { "name": "profile", "valueUri": profile } ] })
    };
    let r = s.post("/fhir/Patient/$validate", &params("http://hl7.org/fhir/StructureDefinition/Patient")).await;
    assert_eq!(issues(&r.json())[0].0, "information", "{}", r.text());
    let r = s.post("/fhir/Patient/$validate", &params("https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient")).await;
    assert!(issues(&r.json()).iter().any(|(_, c, at)| c == "not-supported" && at == "profile"), "{}", r.text());

    // What cannot be validated at all is a 400.
    s.post("/fhir/Patient/$validate?mode=sideways", &patient("9000000064")).await.assert_outcome(400, "value", Some("mode"));
    s.send("POST", "/fhir/Patient/$validate", &[], None).await.assert_outcome(400, "required", Some("resource"));
    assert_eq!(s.post("/fhir/Unicorn/$validate", &patient("9000000065")).await.status, 404);
    assert_eq!(s.post(&format!("/fhir/Patient/{id}"), &patient("9000000065")).await.status, 405, "POST on an instance is still not allowed");
    assert_eq!(count(&s, "Patient").await, 1, "nothing stored");
}
