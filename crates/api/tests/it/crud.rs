//! Create, read, vread, update, delete and patch through HTTP, with the headers and bodies FHIR requires.

use crate::{observation, patient, Server, BASE};
use serde_json::{json, Value};

#[tokio::test]
async fn create_assigns_id_meta_and_headers() {
    let s = Server::new();
    let mut p = patient("9990000018");
    p["id"] = json!("client-chosen");
    p["meta"] = json!({ "versionId": "42", "lastUpdated": "2001-01-01T00:00:00Z", "tag": [{ "system": "http://x", "code": "t" }] });
    let r = s.post("/fhir/Patient", &p).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let body = r.json();
    let id = body["id"].as_str().expect("id");
    assert_ne!(id, "client-chosen", "the server owns the id on create");
    assert_eq!(body["meta"]["versionId"], "1");
    assert_ne!(body["meta"]["lastUpdated"], "2001-01-01T00:00:00Z");
    assert_eq!(body["meta"]["tag"][0]["code"], "t", "other meta is kept");
    assert_eq!(r.header("etag"), Some("W/\"1\""));
    assert_eq!(r.header("location"), Some(format!("{BASE}/Patient/{id}/_history/1").as_str()));
    assert!(r.header("last-modified").is_some_and(|v| v.ends_with("GMT")));
    assert!(r.header("content-type").is_some_and(|v| v.starts_with("application/fhir+json")));

    let read = s.get(&format!("/fhir/Patient/{id}")).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.body, r.body, "a read returns exactly what the create returned");
    assert_eq!(read.header("etag"), Some("W/\"1\""));
}

#[tokio::test]
async fn resources_come_back_exactly_as_stored() {
    let s = Server::new();
    let pid = s.create(patient("9990000026")).await;
    // Decimal precision and element order are significant.
    let o = observation(&pid, "72.50");
    let r = s.post("/fhir/Observation", &o).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let text = r.text();
    assert!(text.contains(r#""value":72.50"#), "{text}");
    let id = r.json()["id"].as_str().expect("id").to_owned();
    let read = s.get(&format!("/fhir/Observation/{id}")).await.text();
    assert!(read.contains(r#""value":72.50"#), "{read}");
    let keys: Vec<String> = serde_json::from_str::<serde_json::Map<String, Value>>(&read).expect("object").keys().cloned().collect();
    assert_eq!(keys, ["resourceType", "id", "meta", "status", "code", "subject", "valueQuantity"]);
    for v in ["0.010", "1.0", "100000000000000000000.5"] {
        let r = s.post("/fhir/Observation", &observation(&pid, v)).await;
        assert!(r.text().contains(&format!(r#""value":{v}"#)), "{v}: {}", r.text());
    }
}

#[tokio::test]
async fn update_versions_and_create_on_update() {
    let s = Server::new();
    let mut p = patient("9990000034");
    p["id"] = json!("p-1");
    let r = s.put("/fhir/Patient/p-1", &p).await;
    assert_eq!(r.status, 201, "create-on-update with a client id: {}", r.text());
    assert_eq!(r.json()["id"], "p-1");
    p["gender"] = json!("male");
    let r = s.put("/fhir/Patient/p-1", &p).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["meta"]["versionId"], "2");
    assert_eq!(r.header("etag"), Some("W/\"2\""));
    let v1 = s.get("/fhir/Patient/p-1/_history/1").await;
    assert_eq!(v1.status, 200);
    assert_eq!(v1.json()["gender"], "female");
    assert_eq!(s.get("/fhir/Patient/p-1/_history/2").await.json()["gender"], "male");
    assert_eq!(s.get("/fhir/Patient/p-1/_history/3").await.status, 404);
    assert_eq!(s.get("/fhir/Patient/p-1/_history/x").await.status, 404);
}

#[tokio::test]
async fn update_checks_the_id() {
    let s = Server::new();
    let mut p = patient("9990000042");
    s.put("/fhir/Patient/a", &p).await.assert_outcome(400, "required", Some("Patient.id"));
    p["id"] = json!("b");
    s.put("/fhir/Patient/a", &p).await.assert_outcome(400, "invalid", Some("Patient.id"));
    p["id"] = json!("a_b");
    assert_eq!(s.put("/fhir/Patient/a_b", &p).await.status, 400);
}

#[tokio::test]
async fn if_match_guards_updates_and_deletes() {
    let s = Server::new();
    let id = s.create(patient("9990000050")).await;
    let mut p = s.get(&format!("/fhir/Patient/{id}")).await.json();
    p["gender"] = json!("other");
    let body = p.to_string();
    let uri = format!("/fhir/Patient/{id}");
    let r = s.send("PUT", &uri, &[("if-match", "W/\"2\"")], Some(body.as_bytes())).await;
    r.assert_outcome(412, "conflict", None);
    let r = s.send("PUT", &uri, &[("if-match", "W/\"1\"")], Some(body.as_bytes())).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = s.send("PUT", &uri, &[("if-match", "W/\"1\"")], Some(body.as_bytes())).await;
    assert_eq!(r.status, 412, "version 1 is stale now");
    s.send("PUT", &uri, &[("if-match", "nonsense")], Some(body.as_bytes())).await.assert_outcome(400, "value", Some("If-Match"));
    assert_eq!(s.send("DELETE", &uri, &[("if-match", "W/\"1\"")], None).await.status, 412);
    assert_eq!(s.send("DELETE", &uri, &[("if-match", "W/\"2\"")], None).await.status, 204);
    let mut q = patient("9990000069");
    q["id"] = json!("never");
    let r = s.send("PUT", "/fhir/Patient/never", &[("if-match", "W/\"1\"")], Some(q.to_string().as_bytes())).await;
    assert_eq!(r.status, 412, "If-Match on a resource that does not exist");
}

#[tokio::test]
async fn delete_then_read_is_gone_and_history_keeps_it() {
    let s = Server::new();
    let id = s.create(patient("9990000077")).await;
    let uri = format!("/fhir/Patient/{id}");
    assert_eq!(s.delete(&uri).await.status, 204);
    s.get(&uri).await.assert_outcome(410, "deleted", None);
    assert_eq!(s.delete(&uri).await.status, 204, "deleting again is idempotent");
    assert_eq!(s.get(&format!("{uri}/_history/1")).await.status, 200);
    assert_eq!(s.get(&format!("{uri}/_history/2")).await.status, 410, "the deletion version");
    let h = s.get(&format!("{uri}/_history")).await.json();
    assert_eq!(h["entry"].as_array().map(Vec::len), Some(2));
    assert_eq!(h["entry"][0]["request"]["method"], "DELETE");
    assert!(h["entry"][0].get("resource").is_none());
    // A deleted resource can be brought back with an update: a new version, 201.
    let mut p = patient("9990000077");
    p["id"] = json!(id);
    let r = s.put(&uri, &p).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["meta"]["versionId"], "3");
    s.delete("/fhir/Patient/does-not-exist").await.assert_outcome(404, "not-found", None);
}

#[tokio::test]
async fn referenced_resources_cannot_be_deleted() {
    let s = Server::new();
    let pid = s.create(patient("9990000085")).await;
    let oid = s.create(observation(&pid, "70")).await;
    s.delete(&format!("/fhir/Patient/{pid}")).await.assert_outcome(409, "conflict", None);
    assert_eq!(s.delete(&format!("/fhir/Observation/{oid}")).await.status, 204);
    assert_eq!(s.delete(&format!("/fhir/Patient/{pid}")).await.status, 204, "free to go once nothing refers to it");
}

#[tokio::test]
async fn references_must_point_at_existing_resources() {
    let s = Server::new();
    s.post("/fhir/Observation", &observation("missing", "1")).await.assert_outcome(422, "not-found", Some("Observation.subject.reference"));
    let pid = s.create(patient("9990000093")).await;
    s.delete(&format!("/fhir/Patient/{pid}")).await;
    s.post("/fhir/Observation", &observation(&pid, "1")).await.assert_outcome(422, "not-found", Some("Observation.subject.reference"));
}

#[tokio::test]
async fn prefer_return_shapes_the_response() {
    let s = Server::new();
    let body = patient("9990000107").to_string();
    let r = s.send("POST", "/fhir/Patient", &[("prefer", "return=minimal")], Some(body.as_bytes())).await;
    assert_eq!(r.status, 201);
    assert!(r.body.is_empty());
    assert!(r.header("location").is_some());
    let r = s.send("POST", "/fhir/Patient", &[("prefer", "return=OperationOutcome")], Some(body.as_bytes())).await;
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["resourceType"], "OperationOutcome");
    let r = s.send("POST", "/fhir/Patient", &[("prefer", "return=representation")], Some(body.as_bytes())).await;
    assert_eq!(r.json()["resourceType"], "Patient");
}

#[tokio::test]
async fn if_none_match_gives_not_modified() {
    let s = Server::new();
    let id = s.create(patient("9990000115")).await;
    let r = s.send("GET", &format!("/fhir/Patient/{id}"), &[("if-none-match", "W/\"1\"")], None).await;
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
}

#[tokio::test]
async fn json_patch_applies_and_validates() {
    let s = Server::new();
    let id = s.create(patient("9990000123")).await;
    let uri = format!("/fhir/Patient/{id}");
    let ct = ("content-type", "application/json-patch+json");
    let ok = json!([{ "op": "replace", "path": "/gender", "value": "male" }, { "op": "add", "path": "/active", "value": true }]).to_string();
    let r = s.send("PATCH", &uri, &[ct], Some(ok.as_bytes())).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let p = r.json();
    assert_eq!((p["gender"].clone(), p["active"].clone(), p["meta"]["versionId"].clone()), (json!("male"), json!(true), json!("2")));
    // A failing test op applies nothing.
    let failing =
        json!([{ "op": "replace", "path": "/gender", "value": "female" }, { "op": "test", "path": "/gender", "value": "male" }]).to_string();
    s.send("PATCH", &uri, &[ct], Some(failing.as_bytes())).await.assert_outcome(422, "processing", None);
    assert_eq!(s.get(&uri).await.json()["meta"]["versionId"], "2");
    // A patch that makes the resource invalid is refused with the element at fault.
    let invalid = json!([{ "op": "replace", "path": "/gender", "value": "mail" }]).to_string();
    s.send("PATCH", &uri, &[ct], Some(invalid.as_bytes())).await.assert_outcome(422, "code-invalid", Some("Patient.gender"));
    let removes_id = json!([{ "op": "remove", "path": "/id" }]).to_string();
    assert_eq!(s.send("PATCH", &uri, &[ct], Some(removes_id.as_bytes())).await.status, 422);
    // Stale If-Match, wrong content type, not a patch document, missing resource.
    s.send("PATCH", &uri, &[ct, ("if-match", "W/\"1\"")], Some(ok.as_bytes())).await.assert_outcome(412, "conflict", None);
    s.send("PATCH", &uri, &[("content-type", "application/fhir+json")], Some(ok.as_bytes())).await.assert_outcome(400, "invalid", None);
    assert_eq!(s.send("PATCH", &uri, &[("content-type", "text/plain")], Some(ok.as_bytes())).await.status, 415);
    s.send("PATCH", &uri, &[ct], Some(b"{\"op\":1}")).await.assert_outcome(400, "invalid", None);
    assert_eq!(s.send("PATCH", "/fhir/Patient/nobody", &[ct], Some(ok.as_bytes())).await.status, 404);
}

#[tokio::test]
async fn fhirpath_patch_applies_validates_and_names_the_operation_at_fault() {
    let s = Server::new();
    let id = s.create(patient("9990000131")).await;
    let uri = format!("/fhir/Patient/{id}");
    let ct = ("content-type", "application/fhir+json");
    let op = |parts: Value| json!({ "name": "operation", "part": parts });
    let patch = json!({ "resourceType": "Parameters", "parameter": [
        op(json!([{ "name": "type", "valueCode": "replace" }, { "name": "path", "valueString": "Patient.gender" }, { "name": "value", "valueCode": "male" }])),
        op(json!([{ "name": "type", "valueCode": "add" }, { "name": "path", "valueString": "Patient" }, { "name": "name", "valueString": "telecom" },
            { "name": "value", "valueContactPoint": { "system": "phone", "value": "020 7946 0000" } }])),
        op(json!([{ "name": "type", "valueCode": "add" }, { "name": "path", "valueString": "Patient" }, { "name": "name", "valueString": "contact" },
            { "name": "value", "part": [{ "name": "name", "valueHumanName": { "family": "Okafor" } }, { "name": "gender", "valueCode": "female" }] }])),
        op(json!([{ "name": "type", "valueCode": "insert" }, { "name": "path", "valueString": "Patient.telecom" }, { "name": "index", "valueInteger": 0 },
            { "name": "value", "valueContactPoint": { "system": "email", "value": "a@example.org" } }])),
        op(json!([{ "name": "type", "valueCode": "move" }, { "name": "path", "valueString": "Patient.telecom" }, { "name": "source", "valueInteger": 0 }, { "name": "destination", "valueInteger": 1 }])),
        op(json!([{ "name": "type", "valueCode": "delete" }, { "name": "path", "valueString": "Patient.birthDate" }]))
    ] }).to_string();
    let before = s.get(&uri).await.json();
    let r = s.send("PATCH", &uri, &[ct], Some(patch.as_bytes())).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let mut expected = before.clone();
    let obj = expected.as_object_mut().expect("object");
    obj.remove("meta");
    obj.remove("birthDate");
    obj.insert("gender".into(), json!("male"));
    obj.insert("telecom".into(), json!([{ "system": "phone", "value": "020 7946 0000" }, { "system": "email", "value": "a@example.org" }]));
    obj.insert("contact".into(), json!([{ "name": { "family": "Okafor" }, "gender": "female" }]));
    let mut got = r.json();
    assert_eq!(got["meta"]["versionId"], "2");
    got.as_object_mut().expect("object").remove("meta");
    assert_eq!(got, expected);
    // An operation that cannot apply: 422 naming it, and nothing changes.
    let stale = json!({ "resourceType": "Parameters", "parameter": [
        op(json!([{ "name": "type", "valueCode": "delete" }, { "name": "path", "valueString": "Patient.gender" }])),
        op(json!([{ "name": "type", "valueCode": "replace" }, { "name": "path", "valueString": "Patient.birthDate" }, { "name": "value", "valueDate": "1950-01-01" }]))
    ] }).to_string();
    let r = s.send("PATCH", &uri, &[ct], Some(stale.as_bytes())).await;
    r.assert_outcome(422, "processing", Some("Parameters.parameter[1]"));
    assert!(r.json()["issue"][0]["diagnostics"].as_str().unwrap_or_default().contains("no content found"), "{}", r.text());
    assert_eq!(s.get(&uri).await.json()["meta"]["versionId"], "2");
    // A result that is not valid FHIR is refused with the element at fault.
    let invalid = json!({ "resourceType": "Parameters", "parameter": [
        op(json!([{ "name": "type", "valueCode": "replace" }, { "name": "path", "valueString": "Patient.gender" }, { "name": "value", "valueCode": "mail" }]))
    ] }).to_string();
    s.send("PATCH", &uri, &[ct], Some(invalid.as_bytes())).await.assert_outcome(422, "code-invalid", Some("Patient.gender"));
    // A malformed patch: 400 naming the part.
    let malformed = json!({ "resourceType": "Parameters", "parameter": [op(json!([{ "name": "type", "valueCode": "upsert" }, { "name": "path", "valueString": "Patient" }]))] }).to_string();
    s.send("PATCH", &uri, &[ct], Some(malformed.as_bytes())).await.assert_outcome(400, "code-invalid", Some("Parameters.parameter[0].part[0]"));
    // A Parameters sent as JSON Patch is refused.
    s.send("PATCH", &uri, &[("content-type", "application/json-patch+json")], Some(invalid.as_bytes())).await.assert_outcome(400, "invalid", None);
    // In a transaction, the entry's resource is the Parameters.
    let bundle = json!({ "resourceType": "Bundle", "type": "transaction", "entry": [{
        "resource": serde_json::from_str::<Value>(&malformed).expect("json"),
        "request": { "method": "PATCH", "url": format!("Patient/{id}") } }] })
    .to_string();
    let r = s.send("POST", "/fhir", &[ct], Some(bundle.as_bytes())).await;
    r.assert_outcome(400, "code-invalid", Some("Bundle.entry[0].resource.parameter[0].part[0]"));
    let ok = json!({ "resourceType": "Bundle", "type": "transaction", "entry": [{
        "resource": { "resourceType": "Parameters", "parameter": [op(json!([{ "name": "type", "valueCode": "delete" }, { "name": "path", "valueString": "Patient.contact" }]))] },
        "request": { "method": "PATCH", "url": format!("Patient/{id}") } }] }).to_string();
    let r = s.send("POST", "/fhir", &[ct], Some(ok.as_bytes())).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let after = s.get(&uri).await.json();
    assert_eq!((after["meta"]["versionId"].clone(), after.get("contact").cloned()), (json!("3"), None));
}
