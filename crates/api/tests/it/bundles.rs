//! Batch and transaction Bundles: order of processing, `urn:uuid:` resolution, conditional references and
//! creates, all-or-nothing transactions, independent batch entries.

use crate::{observation, patient, Server};
use serde_json::{json, Value};

fn entry(full_url: &str, resource: Value, method: &str, url: &str) -> Value {
    json!({ "fullUrl": full_url, "resource": resource, "request": { "method": method, "url": url } })
}

fn bundle(kind: &str, entries: Vec<Value>) -> Value {
    json!({ "resourceType": "Bundle", "type": kind, "entry": entries })
}

fn count(s: &Value) -> usize {
    s["entry"].as_array().map(Vec::len).unwrap_or(0)
}

#[tokio::test]
async fn transaction_resolves_placeholders_in_any_order() {
    let s = Server::new();
    // The Observation comes first and points at the Patient that a later entry creates.
    let mut obs = observation("x", "80.0");
    obs["subject"]["reference"] = json!("urn:uuid:11111111-1111-1111-1111-111111111111");
    let b = bundle(
        "transaction",
        vec![
            entry("urn:uuid:22222222-2222-2222-2222-222222222222", obs, "POST", "Observation"),
            entry("urn:uuid:11111111-1111-1111-1111-111111111111", patient("9990000263"), "POST", "Patient"),
        ],
    );
    let r = s.post("/fhir", &b).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let out = r.json();
    assert_eq!(out["type"], "transaction-response");
    let e = out["entry"].as_array().expect("entries");
    assert_eq!(e.len(), 2);
    assert_eq!(e[0]["response"]["status"], "201 Created");
    let pid = e[1]["resource"]["id"].as_str().expect("patient id");
    assert_eq!(e[0]["resource"]["subject"]["reference"], format!("Patient/{pid}"));
    assert!(e[1]["response"]["location"].as_str().is_some_and(|l| l.starts_with(&format!("Patient/{pid}/_history/1"))));
    // And it is stored so.
    let oid = e[0]["resource"]["id"].as_str().expect("obs id");
    assert_eq!(s.get(&format!("/fhir/Observation/{oid}")).await.json()["subject"]["reference"], format!("Patient/{pid}"));
}

#[tokio::test]
async fn transaction_processes_deletes_first_then_creates_updates_reads() {
    let s = Server::new();
    let old = s.create(patient("9990000271")).await;
    let mut upd = patient("9990000298");
    upd["id"] = json!("fixed");
    let b = bundle(
        "transaction",
        vec![
            json!({ "request": { "method": "GET", "url": "Patient/fixed" } }),
            entry("Patient/fixed", upd, "PUT", "Patient/fixed"),
            entry("urn:uuid:a", patient("9990000301"), "POST", "Patient"),
            json!({ "request": { "method": "DELETE", "url": format!("Patient/{old}") } }),
        ],
    );
    let r = s.post("/fhir", &b).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let e = r.json()["entry"].clone();
    assert_eq!(e[0]["response"]["status"], "200 OK", "the read sees the update made in the same transaction");
    assert_eq!(e[0]["resource"]["id"], "fixed");
    assert_eq!(e[1]["response"]["status"], "201 Created");
    assert_eq!(e[2]["response"]["status"], "201 Created");
    assert_eq!(e[3]["response"]["status"], "204 No Content");
    assert_eq!(s.get(&format!("/fhir/Patient/{old}")).await.status, 410);
    // History shows the order: DELETE, POST, PUT.
    let h = s.get("/fhir/_history?_count=3").await.json();
    let methods: Vec<&str> = h["entry"].as_array().expect("entries").iter().filter_map(|x| x["request"]["method"].as_str()).collect();
    assert_eq!(methods, ["PUT", "POST", "DELETE"]);
}

#[tokio::test]
async fn transaction_conditional_references_and_creates() {
    let s = Server::new();
    let existing = s.create(patient("9990000328")).await;
    let mut obs = observation("x", "1");
    obs["subject"]["reference"] = json!("Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9990000328");
    let mut cond = entry("urn:uuid:p", patient("9990000328"), "POST", "Patient");
    cond["request"]["ifNoneExist"] = json!("identifier=https://fhir.nhs.uk/Id/nhs-number|9990000328");
    let mut obs2 = observation("x", "2");
    obs2["subject"]["reference"] = json!("urn:uuid:p");
    let b = bundle("transaction", vec![entry("urn:uuid:o", obs, "POST", "Observation"), cond, entry("urn:uuid:o2", obs2, "POST", "Observation")]);
    let r = s.post("/fhir", &b).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let e = r.json()["entry"].clone();
    assert_eq!(e[0]["resource"]["subject"]["reference"], format!("Patient/{existing}"));
    assert_eq!(e[1]["response"]["status"], "200 OK", "the conditional create matched");
    assert_eq!(e[1]["resource"]["id"], existing.as_str());
    assert_eq!(e[2]["resource"]["subject"]["reference"], format!("Patient/{existing}"), "urn of a matched conditional create");
    let all = s.get("/fhir/Patient?identifier=9990000328").await.json();
    assert_eq!(count(&all), 1, "no duplicate patient");
}

#[tokio::test]
async fn a_failing_transaction_leaves_nothing_behind() {
    let s = Server::new();
    let keep = s.create(patient("9990000336")).await;
    let before = s.get("/fhir/_history").await.json();
    let cases: Vec<(Vec<Value>, u16, &str)> = vec![
        // invalid resource in the last entry
        (
            vec![
                entry("urn:uuid:1", patient("9990000344"), "POST", "Patient"),
                json!({ "request": { "method": "DELETE", "url": format!("Patient/{keep}") } }),
                entry("urn:uuid:2", json!({"resourceType": "Patient", "gender": "mail"}), "POST", "Patient"),
            ],
            400,
            "Bundle.entry[2].resource.gender",
        ),
        // a reference to nothing
        (
            vec![
                entry("urn:uuid:1", patient("9990000344"), "POST", "Patient"),
                entry("urn:uuid:3", observation("ghost", "1"), "POST", "Observation"),
            ],
            422,
            "Bundle.entry[1].resource.subject.reference",
        ),
        // a stale If-Match
        (
            vec![entry("urn:uuid:1", patient("9990000344"), "POST", "Patient"), {
                let mut p = patient("9990000336");
                p["id"] = json!(keep);
                let mut e = entry(&format!("Patient/{keep}"), p, "PUT", &format!("Patient/{keep}"));
                e["request"]["ifMatch"] = json!("W/\"9\"");
                e
            }],
            412,
            "",
        ),
        // two entries for the same resource
        (
            vec![
                entry("Patient/twice", json!({"resourceType": "Patient", "id": "twice"}), "PUT", "Patient/twice"),
                entry("Patient/twice", json!({"resourceType": "Patient", "id": "twice"}), "PUT", "Patient/twice"),
            ],
            400,
            "Bundle.entry[1].request",
        ),
        // an entry without a request
        (vec![json!({ "resource": patient("9990000344") })], 400, "Bundle.entry[0].request"),
        // pointing a new resource at one the same transaction deletes
        (
            vec![
                entry("urn:uuid:o", observation(&keep, "1"), "POST", "Observation"),
                json!({ "request": { "method": "DELETE", "url": format!("Patient/{keep}") } }),
            ],
            422,
            "Bundle.entry[0].resource.subject.reference",
        ),
    ];
    for (entries, status, at) in cases {
        let r = s.post("/fhir", &bundle("transaction", entries)).await;
        assert_eq!(r.status, status, "{}", r.text());
        if !at.is_empty() {
            r.assert_outcome(status, r.json()["issue"][0]["code"].as_str().unwrap_or(""), Some(at));
        }
        assert_eq!(s.get("/fhir/_history").await.json()["entry"], before["entry"], "nothing written");
    }
    assert_eq!(s.get(&format!("/fhir/Patient/{keep}")).await.status, 200);
}

#[tokio::test]
async fn a_transaction_may_not_delete_what_others_still_refer_to() {
    let s = Server::new();
    let pid = s.create(patient("9990000417")).await;
    let oid = s.create(observation(&pid, "1")).await;
    let delete = |url: String| json!({ "request": { "method": "DELETE", "url": url } });
    let r = s.post("/fhir", &bundle("transaction", vec![delete(format!("Patient/{pid}"))])).await;
    r.assert_outcome(409, "conflict", None);
    assert_eq!(s.get(&format!("/fhir/Patient/{pid}")).await.status, 200);
    // Deleting both in one transaction is fine, in either order.
    let r = s.post("/fhir", &bundle("transaction", vec![delete(format!("Patient/{pid}")), delete(format!("Observation/{oid}"))])).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(s.get(&format!("/fhir/Patient/{pid}")).await.status, 410);
}

#[tokio::test]
async fn batch_entries_succeed_or_fail_alone() {
    let s = Server::new();
    let pid = s.create(patient("9990000352")).await;
    let b = bundle(
        "batch",
        vec![
            entry("urn:uuid:1", patient("9990000360"), "POST", "Patient"),
            entry("urn:uuid:2", json!({"resourceType": "Patient", "gender": "mail"}), "POST", "Patient"),
            json!({ "request": { "method": "GET", "url": format!("Patient/{pid}") } }),
            json!({ "request": { "method": "GET", "url": "Patient/nobody" } }),
            json!({ "request": { "method": "GET", "url": "Patient?identifier=9990000352" } }),
            json!({ "request": { "method": "DELETE", "url": format!("Patient/{pid}") } }),
        ],
    );
    let r = s.post("/fhir", &b).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let e = r.json()["entry"].clone();
    assert_eq!(r.json()["type"], "batch-response");
    assert_eq!(e[0]["response"]["status"], "201 Created");
    assert_eq!(e[1]["response"]["status"], "400 Bad Request");
    assert_eq!(e[1]["response"]["outcome"]["issue"][0]["expression"][0], "Bundle.entry[1].resource.gender");
    assert_eq!(e[3]["response"]["status"], "404 Not Found");
    assert_eq!(e[4]["resource"]["type"], "searchset");
    // Entries run concurrently, so the reads and the delete of the same patient may come in either order;
    // each answer must be one of the consistent ones: the search finds the patient, or (deleted first) nothing.
    let found: Vec<&str> = e[4]["resource"]["entry"].as_array().into_iter().flatten().filter_map(|m| m["resource"]["id"].as_str()).collect();
    assert!(found == [pid.as_str()] || found.is_empty(), "{found:?}");
    let read = e[2]["response"]["status"].as_str().unwrap_or("");
    assert!(read == "200 OK" || read == "410 Gone", "{read}");
    assert_eq!(e[5]["response"]["status"], "204 No Content");
}

#[tokio::test]
async fn bundle_envelope_errors() {
    let s = Server::new();
    s.post("/fhir", &json!({"resourceType": "Patient"})).await.assert_outcome(400, "invalid", Some("resourceType"));
    s.post("/fhir", &json!({"resourceType": "Bundle", "type": "collection"})).await.assert_outcome(400, "value", Some("Bundle.type"));
    s.post("/fhir", &json!({"resourceType": "Bundle"})).await.assert_outcome(400, "required", Some("Bundle.type"));
    let empty = s.post("/fhir", &bundle("transaction", vec![])).await;
    assert_eq!(empty.status, 200);
    let bad_url = bundle("transaction", vec![json!({ "request": { "method": "GET", "url": "Nope/1" } })]);
    s.post("/fhir", &bad_url).await.assert_outcome(400, "not-supported", Some("Bundle.entry[0].request.url"));
}

#[tokio::test]
async fn patch_inside_a_transaction() {
    use base64::Engine;
    let s = Server::new();
    let pid = s.create(patient("9990000379")).await;
    let patch = json!([{ "op": "replace", "path": "/gender", "value": "male" }]).to_string();
    let binary = json!({ "resourceType": "Binary", "contentType": "application/json-patch+json",
        "data": base64::engine::general_purpose::STANDARD.encode(patch) });
    let b = bundle("transaction", vec![json!({ "resource": binary, "request": { "method": "PATCH", "url": format!("Patient/{pid}") } })]);
    let r = s.post("/fhir", &b).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(s.get(&format!("/fhir/Patient/{pid}")).await.json()["gender"], "male");
}
