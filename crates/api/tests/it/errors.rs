//! Every refusal is an OperationOutcome with the right status and, where it is about an element, its path.

use crate::{patient, Server};
use serde_json::json;

#[tokio::test]
async fn malformed_and_invalid_bodies() {
    let s = Server::new();
    s.send("POST", "/fhir/Patient", &[], Some(b"{not json")).await.assert_outcome(400, "structure", None);
    s.send("POST", "/fhir/Patient", &[], Some(b"")).await.assert_outcome(400, "required", None);
    s.send("POST", "/fhir/Patient", &[], Some(b"[1,2]")).await.assert_outcome(400, "structure", None);
    s.post("/fhir/Patient", &json!({"gender": "male"})).await.assert_outcome(400, "required", Some("resourceType"));
    s.post("/fhir/Patient", &json!({"resourceType": "Observation"})).await.assert_outcome(400, "invalid", Some("resourceType"));
    s.post("/fhir/Patient", &json!({"resourceType": "Patient", "gender": "mail"})).await.assert_outcome(400, "code-invalid", Some("Patient.gender"));
    s.post("/fhir/Patient", &json!({"resourceType": "Patient", "birthDate": "1970-13-45"})).await.assert_outcome(
        400,
        "value",
        Some("Patient.birthDate"),
    );
    s.post("/fhir/Patient", &json!({"resourceType": "Patient", "nickname": "x"})).await.assert_outcome(400, "structure", Some("Patient.nickname"));
    s.post("/fhir/Patient", &json!({"resourceType": "Patient", "active": "true"})).await.assert_outcome(400, "value", Some("Patient.active"));
    s.post("/fhir/Observation", &json!({"resourceType": "Observation", "code": {"text": "x"}})).await.assert_outcome(
        400,
        "required",
        Some("Observation.status"),
    );
    // Several faults are all reported.
    let r = s.post("/fhir/Patient", &json!({"resourceType": "Patient", "gender": "mail", "birthDate": "x"})).await;
    assert_eq!(r.json()["issue"].as_array().map(Vec::len), Some(2), "{}", r.text());
    // Nothing was written by any of them.
    assert_eq!(s.get("/fhir/_history").await.json().get("entry"), None);
}

#[tokio::test]
async fn unknown_types_paths_and_methods() {
    let s = Server::new();
    s.get("/fhir/Nonsense/1").await.assert_outcome(404, "not-found", None);
    s.post("/fhir/Nonsense", &json!({"resourceType": "Nonsense"})).await.assert_outcome(404, "not-found", None);
    s.get("/fhir/Patient/nobody").await.assert_outcome(404, "not-found", None);
    s.get("/elsewhere").await.assert_outcome(404, "not-found", None);
    s.send("PUT", "/fhir/metadata", &[], None).await.assert_outcome(405, "not-supported", None);
    s.send("POST", "/fhir/Patient/x", &[], Some(b"{}")).await.assert_outcome(405, "not-supported", None);
    s.send("DELETE", "/fhir/Patient/x/_history", &[], None).await.assert_outcome(405, "not-supported", None);
}

#[tokio::test]
async fn xml_is_refused_with_415() {
    let s = Server::new();
    let xml = b"<Patient xmlns=\"http://hl7.org/fhir\"/>";
    s.send("POST", "/fhir/Patient", &[("content-type", "application/fhir+xml")], Some(xml)).await.assert_outcome(415, "not-supported", None);
    s.send("GET", "/fhir/metadata?_format=xml", &[], None).await.assert_outcome(415, "not-supported", None);
    s.send("GET", "/fhir/Patient?_format=application/fhir+xml", &[], None).await.assert_outcome(415, "not-supported", None);
    s.send("GET", "/fhir/Patient", &[("accept", "application/fhir+xml")], None).await.assert_outcome(415, "not-supported", None);
    assert_eq!(s.send("GET", "/fhir/Patient?_format=json", &[("accept", "application/fhir+json")], None).await.status, 200);
    assert_eq!(s.send("GET", "/fhir/Patient", &[("accept", "application/json, */*;q=0.1")], None).await.status, 200);
    let body = patient("9990000131").to_string();
    assert_eq!(s.send("POST", "/fhir/Patient", &[("content-type", "application/json")], Some(body.as_bytes())).await.status, 201);
}

#[tokio::test]
async fn bodies_over_the_limit_get_413() {
    let s = Server::with_options(api::Options { max_body_bytes: 1024, ..Default::default() });
    let mut p = patient("9990000158");
    p["name"][0]["family"] = json!("x".repeat(2000));
    s.post("/fhir/Patient", &p).await.assert_outcome(413, "too-long", None);
    assert_eq!(s.post("/fhir/Patient", &patient("9990000158")).await.status, 201);
}

#[tokio::test]
async fn search_parameters_we_cannot_evaluate_never_match_everything() {
    let s = Server::new();
    s.create(patient("9990000166")).await;
    let lenient = s.get("/fhir/Patient?nickname=Nobody").await;
    assert_eq!(lenient.status, 200);
    let b = lenient.json();
    let entries = b["entry"].as_array().expect("entries");
    assert_eq!(entries.len(), 2, "one match and the outcome that says what was ignored: {b}");
    assert_eq!(entries[1]["search"]["mode"], "outcome");
    assert_eq!(entries[1]["resource"]["issue"][0]["code"], "not-supported");
    s.send("GET", "/fhir/Patient?nickname=Nobody", &[("prefer", "handling=strict")], None).await.assert_outcome(
        400,
        "not-supported",
        Some("nickname"),
    );
    s.send("GET", "/fhir/Patient?family:sounds-like=x", &[("prefer", "handling=strict")], None).await.assert_outcome(
        400,
        "not-supported",
        Some("family:sounds-like"),
    );
    // Values that cannot be parsed are refused whatever the handling.
    s.get("/fhir/Patient?identifier=").await.assert_outcome(400, "value", Some("identifier"));
    s.get("/fhir/Patient?_count=many").await.assert_outcome(400, "value", Some("_count"));
    s.get("/fhir/Patient?birthdate=yesterday").await.assert_outcome(400, "value", Some("birthdate"));
    s.get("/fhir/Patient?birthdate=ge1970-13").await.assert_outcome(400, "value", Some("birthdate"));
    s.get("/fhir/Observation?value-quantity=lots").await.assert_outcome(400, "value", Some("value-quantity"));
    s.get("/fhir/Patient?general-practitioner=Nonsense/1").await.assert_outcome(400, "value", Some("general-practitioner"));
    s.get("/fhir/Patient?gender:missing=maybe").await.assert_outcome(400, "value", Some("gender:missing"));
    s.get("/fhir/Patient?_cursor=notjson").await.assert_outcome(400, "value", Some("_cursor"));
    s.get("/fhir/Patient?_sort=birthdate&_cursor=%5B%22x%22%5D").await.assert_outcome(400, "value", Some("_cursor"));
}

#[tokio::test]
async fn health_and_capability() {
    let s = Server::new();
    let h = s.get("/healthz").await;
    assert_eq!((h.status, h.text()), (200, "ok".to_owned()));
    let c = s.get("/fhir/metadata").await.json();
    assert_eq!(c["resourceType"], "CapabilityStatement");
    assert_eq!(c["fhirVersion"], "4.0.1");
    assert_eq!(c["patchFormat"], json!(["application/json-patch+json", "application/fhir+json"]), "JSON Patch and FHIRPath Patch");
    let resources = c["rest"][0]["resource"].as_array().expect("resources");
    assert_eq!(resources.len(), fhir::definitions::resource_types().count());
    let patient = resources.iter().find(|r| r["type"] == "Patient").expect("Patient");
    let params: Vec<&str> = patient["searchParam"].as_array().expect("params").iter().filter_map(|p| p["name"].as_str()).collect();
    for p in ["_id", "_lastUpdated", "identifier", "family", "given", "name", "birthdate", "gender", "general-practitioner", "address-postalcode"] {
        assert!(params.contains(&p), "{p} in {params:?}");
    }
    assert!(!params.contains(&"_text"), "parameters we do not evaluate are not claimed");
    // Every claimed parameter is one the server accepts without a warning.
    for p in params.iter().filter(|p| **p != "_id") {
        let r = s.send("GET", &format!("/fhir/Patient?{p}:missing=true"), &[("prefer", "handling=strict")], None).await;
        assert_eq!(r.status, 200, "{p}: {}", r.text());
    }
    assert!(patient["searchRevInclude"].as_array().expect("revincludes").iter().any(|r| r == "Observation:subject"));
    assert!(patient["searchInclude"].as_array().expect("includes").iter().any(|r| r == "Patient:general-practitioner"));
    let codes: Vec<&str> = patient["interaction"].as_array().expect("interactions").iter().filter_map(|i| i["code"].as_str()).collect();
    assert_eq!(codes, api::TYPE_INTERACTIONS);
}

#[tokio::test]
async fn the_capability_statement_names_the_bulk_data_operations() {
    let s = Server::new();
    let c = s.get("/fhir/metadata").await.json();
    assert_eq!(c["instantiates"][0], "http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data");
    let ops: Vec<&str> = c["rest"][0]["operation"].as_array().expect("operations").iter().filter_map(|o| o["name"].as_str()).collect();
    assert_eq!(ops, ["everything", "export", "patient-export", "group-export", "break-glass-review"]);
    let resources = c["rest"][0]["resource"].as_array().expect("resources");
    let patient = resources.iter().find(|r| r["type"] == "Patient").expect("Patient");
    let ops: Vec<&str> = patient["operation"].as_array().expect("operations").iter().filter_map(|o| o["name"].as_str()).collect();
    assert_eq!(ops, ["everything", "worklist", "access", "break-glass", "registers", "segment", "frailty", "admission-risk"]);
    // The audit log is read and searched, never written, and by the parameters the server evaluates.
    let audit = resources.iter().find(|r| r["type"] == "AuditEvent").expect("AuditEvent");
    assert_eq!(audit["interaction"], json!([{ "code": "read" }, { "code": "search-type" }]));
    assert_eq!(s.put("/fhir/Organization/o1", &json!({ "resourceType": "Organization", "id": "o1" })).await.status, 201);
    let role = json!({ "resourceType": "PractitionerRole", "id": "r1", "organization": { "reference": "Organization/o1" } });
    assert_eq!(s.put("/fhir/PractitionerRole/r1", &role).await.status, 201);
    let po = app::auth::NewAccount {
        username: "po".into(),
        role: care::access::Role::PrivacyOfficer,
        acts_as: app::auth::ActsAs::PractitionerRole("r1".into()),
        password: None,
    };
    s.app().add_account(po).await.expect("account");
    let auth = format!("Bearer {}", s.app().issue_token("po", None).await.expect("token").token);
    for (p, value) in [("patient", "p1"), ("agent", "tests"), ("altid", "tests"), ("date", "ge2020"), ("outcome", "0,4")] {
        assert!(audit["searchParam"].as_array().expect("params").iter().any(|x| x["name"] == p), "{p} is claimed");
        let r = s.send("GET", &format!("/fhir/AuditEvent?{p}={value}"), &[("authorization", &auth)], None).await;
        assert_eq!(r.status, 200, "{p} is evaluated: {}", r.text());
    }
    assert_eq!(audit["searchParam"].as_array().expect("params").len(), 5);
}
