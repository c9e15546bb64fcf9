//! Concurrency that large FHIR servers got wrong: identical conditional creates, racing If-Match updates,
//! and transactions that fail part-way, all driven in parallel through the HTTP router.

use crate::{patient, Server};
use serde_json::json;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_identical_conditional_creates_make_one_resource() {
    let s = Arc::new(Server::new());
    let body = Arc::new(patient("9990000387").to_string());
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let (s, body) = (s.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let cond = "identifier=https://fhir.nhs.uk/Id/nhs-number|9990000387";
            s.send("POST", "/fhir/Patient", &[("if-none-exist", cond)], Some(body.as_bytes())).await.status
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.expect("task"));
    }
    assert_eq!(statuses.iter().filter(|&&c| c == 201).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|&&c| c == 200).count(), 63, "{statuses:?}");
    let found = s.get("/fhir/Patient?identifier=9990000387").await.json();
    assert_eq!(found["entry"].as_array().map(Vec::len), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_if_match_updates_let_exactly_one_win() {
    let s = Arc::new(Server::new());
    let id = s.create(patient("9990000395")).await;
    let mut tasks = Vec::new();
    for n in 0..100 {
        let s = s.clone();
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            let mut p = patient("9990000395");
            p["id"] = json!(id);
            p["name"][0]["given"][0] = json!(format!("Writer{n}"));
            let body = p.to_string();
            s.send("PUT", &format!("/fhir/Patient/{id}"), &[("if-match", "W/\"1\"")], Some(body.as_bytes())).await.status
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.expect("task"));
    }
    assert_eq!(statuses.iter().filter(|&&c| c == 200).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|&&c| c == 412).count(), 99, "{statuses:?}");
    let h = s.get(&format!("/fhir/Patient/{id}/_history")).await.json();
    assert_eq!(h["entry"].as_array().map(Vec::len), Some(2), "exactly one new version");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failing_transactions_among_good_ones_leave_nothing() {
    let s = Arc::new(Server::new());
    let mut tasks = Vec::new();
    for n in 0..40u32 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let good = patient(&format!("good-{n}"));
            let second = if n % 2 == 0 { patient(&format!("also-good-{n}")) } else { json!({"resourceType": "Patient", "birthDate": "1970-02-30"}) };
            let b = json!({ "resourceType": "Bundle", "type": "transaction", "entry": [
                { "fullUrl": "urn:uuid:a", "resource": good, "request": { "method": "POST", "url": "Patient" } },
                { "fullUrl": "urn:uuid:b", "resource": second, "request": { "method": "POST", "url": "Patient" } }
            ]});
            (n, s.post("/fhir", &b).await.status)
        }));
    }
    for t in tasks {
        let (n, status) = t.await.expect("task");
        assert_eq!(status, if n % 2 == 0 { 200 } else { 400 }, "transaction {n}");
    }
    for n in 0..40u32 {
        let found = s.get(&format!("/fhir/Patient?identifier=good-{n}")).await.json();
        let expected = if n % 2 == 0 { Some(1) } else { None };
        assert_eq!(found["entry"].as_array().map(Vec::len), expected, "good-{n}");
    }
    let all = s.get("/fhir/Patient/_history?_count=1000").await.json();
    assert_eq!(all["entry"].as_array().map(Vec::len), Some(40), "20 transactions of 2");
}
