//! Every request limit through HTTP: the status, the OperationOutcome naming the limit, and a server that
//! still answers afterwards; load shedding, the request time limit, the query time limit, and a batch that
//! stops when its client goes away.

use crate::{patient, Res, Server};
use axum::body::Body;
use axum::http::Request;
use serde_json::{json, Value};
use std::time::Duration;
use tower::ServiceExt;

/// Asserts a 400 too-costly OperationOutcome that names `limit`, then that the server still answers.
async fn refused(s: &Server, r: Res, limit: &str) {
    r.assert_outcome(400, "too-costly", None);
    assert!(r.text().contains(limit), "the outcome names {limit}: {}", r.text());
    still_answers(s).await;
}

async fn still_answers(s: &Server) {
    let after = s.get("/fhir/Patient?_count=1").await;
    assert_eq!(after.status, 200, "the server answers afterwards: {}", after.text());
}

fn limits(change: impl FnOnce(&mut app::Limits)) -> app::Limits {
    let mut l = app::Limits::default();
    change(&mut l);
    l
}

async fn post_search(s: &Server, path: &str, form: &str) -> Res {
    s.send("POST", path, &[("content-type", "application/x-www-form-urlencoded")], Some(form.as_bytes())).await
}

#[tokio::test]
async fn chains_deeper_than_the_limit_are_refused() {
    let s = Server::new();
    let within = s.get("/fhir/Patient?organization.partof.partof.name=x").await;
    assert_eq!(within.status, 200, "{}", within.text());
    let r = s.get("/fhir/Patient?organization.partof.partof.partof.partof.name=x").await;
    refused(&s, r, "max_chain_depth").await;
    // The chain that once overflowed a worker's stack.
    let long = format!("organization{}.name=x", ".partof".repeat(2000));
    refused(&s, post_search(&s, "/fhir/Patient/_search", &long).await, "max_").await;
}

#[tokio::test]
async fn has_nested_deeper_than_the_limit_is_refused() {
    let s = Server::new();
    let nested = format!("{}code=x", "_has:Observation:patient:".repeat(5));
    let r = s.get(&format!("/fhir/Patient?{nested}")).await;
    refused(&s, r, "max_chain_depth").await;
    let deep = format!("{}code=x", "_has:Observation:patient:".repeat(500));
    refused(&s, post_search(&s, "/fhir/Patient/_search", &deep).await, "max_").await;
}

#[tokio::test]
async fn too_many_or_values_parameters_or_values_in_all_are_refused() {
    let s = Server::new();
    let values: Vec<String> = (0..101).map(|i| format!("n{i}")).collect();
    let r = s.get(&format!("/fhir/Patient?family={}", values.join(","))).await;
    refused(&s, r, "max_or_values").await;
    let ids: Vec<String> = (0..101).map(|i| format!("id{i}")).collect();
    refused(&s, s.get(&format!("/fhir/Patient?_id={}", ids.join(","))).await, "max_or_values").await;

    let params: Vec<String> = (0..65).map(|i| format!("family=n{i}")).collect();
    refused(&s, s.get(&format!("/fhir/Patient?{}", params.join("&"))).await, "max_search_params").await;

    // 10 parameters of 60 values each: each within its limits, 600 values in all.
    let sixty: Vec<String> = (0..60).map(|i| format!("v{i}")).collect();
    let params: Vec<String> = (0..10).map(|_| format!("family={}", sixty.join(","))).collect();
    refused(&s, s.get(&format!("/fhir/Patient?{}", params.join("&"))).await, "max_search_values").await;

    // The shapes that once answered 500: 10,000 OR values, 5,000 AND-ed parameters.
    let many: Vec<String> = (0..10_000).map(|i| i.to_string()).collect();
    refused(&s, post_search(&s, "/fhir/Patient/_search", &format!("family={}", many.join(","))).await, "max_").await;
    let anded: Vec<String> = (0..5000).map(|i| format!("family={i}")).collect();
    refused(&s, post_search(&s, "/fhir/Patient/_search", &anded.join("&")).await, "max_").await;
}

#[tokio::test]
async fn long_queries_many_sort_keys_and_many_includes_are_refused() {
    let s = Server::new();
    let long = "x".repeat(17 * 1024);
    refused(&s, post_search(&s, "/fhir/Patient/_search", &format!("family={long}")).await, "max_query_bytes").await;
    let sort: Vec<&str> = std::iter::repeat_n("birthdate", 65).collect();
    refused(&s, s.get(&format!("/fhir/Patient?_sort={}", sort.join(","))).await, "max_search_params").await;
    let includes: Vec<&str> = std::iter::repeat_n("_revinclude=Observation:patient", 17).collect();
    refused(&s, s.get(&format!("/fhir/Patient?{}", includes.join("&"))).await, "max_include_params").await;
}

#[tokio::test]
async fn cursors_are_checked_whole() {
    let s = Server::new();
    for i in 0..3 {
        s.create(patient(&format!("900000000{i}"))).await;
    }
    let first = s.get("/fhir/Patient?_count=1&_sort=birthdate").await.json();
    let next = first["link"].as_array().and_then(|l| l.iter().find(|l| l["relation"] == "next")).expect("a next link")["url"].clone();
    let next = next.as_str().expect("url").replace(crate::BASE, "/fhir");
    assert_eq!(s.get(&next).await.status, 200, "a cursor the server made is accepted");

    let bad = ["[1]", "[[[[[]]]]]", "[1e999]", "{\"a\":1}", "[null]", "[\"../x\"]", "[\"a\",\"b\",\"c\"]", "not json", "[\"x\"]"];
    for cursor in bad {
        let q: String = form_urlencoded::Serializer::new(String::new()).append_pair("_cursor", cursor).finish();
        for path in ["/fhir/Patient?_sort=birthdate&", "/fhir/Patient?", "/fhir?_type=Patient,Observation&", "/fhir/Patient?_sort=-_id&"] {
            let r = s.get(&format!("{path}{q}")).await;
            if cursor == "[\"x\"]" && (path == "/fhir/Patient?" || path.contains("_id")) {
                assert_eq!(r.status, 200, "{path}{cursor}: a well-formed id cursor is accepted: {}", r.text());
                continue;
            }
            assert_eq!(r.status, 400, "{path}{cursor}: {}", r.text());
            assert_eq!(r.json()["resourceType"], "OperationOutcome");
        }
        let r = s.get(&format!("/fhir/Patient?_sort=birthdate&_before={}", &q["_cursor=".len()..])).await;
        assert_eq!(r.status, 400, "_before={cursor}: {}", r.text());
    }
    // A date key takes whole milliseconds, a number key a finite number.
    let r = s.get("/fhir/Patient?_sort=birthdate&_cursor=%5B1.5%2C%22a%22%5D").await;
    assert_eq!(r.status, 400, "{}", r.text());
    let r = s.get("/fhir/Patient?_sort=birthdate&_cursor=%5Bnull%2C%22a%22%5D").await;
    assert_eq!(r.status, 200, "a missing sort value is null: {}", r.text());
    still_answers(&s).await;
}

#[tokio::test]
async fn bundles_with_too_many_entries_are_refused() {
    let s = Server::build(api::Options::default(), limits(|l| l.max_bundle_entries = 5), |_| {});
    for kind in ["batch", "transaction"] {
        let entries: Vec<Value> = (0..6).map(|_| json!({ "request": { "method": "GET", "url": "Patient?_count=1" } })).collect();
        let r = s.post("/fhir", &json!({ "resourceType": "Bundle", "type": kind, "entry": entries })).await;
        r.assert_outcome(400, "too-costly", Some("Bundle.entry"));
        assert!(r.text().contains("max_bundle_entries"), "{}", r.text());
    }
    still_answers(&s).await;
}

#[tokio::test]
async fn a_batch_shares_one_budget_of_resources() {
    let s = Server::build(
        api::Options::default(),
        limits(|l| {
            l.max_materialised = 10;
            l.batch_concurrency = 1;
        }),
        |_| {},
    );
    for i in 0..4 {
        s.create(patient(&format!("900000001{i}"))).await;
    }
    // Each search brings back four Patients; after three of them the budget of ten is spent.
    let entries: Vec<Value> = (0..6).map(|_| json!({ "request": { "method": "GET", "url": "Patient?_count=100" } })).collect();
    let r = s.post("/fhir", &json!({ "resourceType": "Bundle", "type": "batch", "entry": entries })).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let b = r.json();
    let statuses: Vec<&str> = b["entry"].as_array().expect("entries").iter().map(|e| e["response"]["status"].as_str().unwrap_or("")).collect();
    assert_eq!(statuses.iter().filter(|s| s.starts_with("200")).count(), 3, "{statuses:?}");
    let refused: Vec<&Value> =
        b["entry"].as_array().expect("entries").iter().filter(|e| e["response"]["status"].as_str().is_some_and(|s| s.starts_with("400"))).collect();
    assert_eq!(refused.len(), 3, "{statuses:?}");
    for e in refused {
        let oo = &e["response"]["outcome"];
        assert_eq!(oo["issue"][0]["code"], "too-costly", "{oo}");
        assert!(oo.to_string().contains("max_materialised"), "{oo}");
    }
    still_answers(&s).await;
}

#[tokio::test]
async fn included_resources_beyond_the_limit_are_cut_with_a_warning() {
    let s = Server::build(api::Options::default(), limits(|l| l.max_included = 2), |_| {});
    let p = s.create(patient("9000000020")).await;
    for v in ["70", "71", "72"] {
        s.create(crate::observation(&p, v)).await;
    }
    let b = s.get("/fhir/Patient?_revinclude=Observation:patient").await.json();
    let entries = b["entry"].as_array().expect("entries");
    let included = entries.iter().filter(|e| e["search"]["mode"] == "include").count();
    assert_eq!(included, 2, "{b}");
    assert!(b.to_string().contains("max_included"), "a warning names the limit: {b}");
}

/// A request body that sends a little and then never ends (while the writer is kept).
async fn endless_body() -> (Body, tokio::io::DuplexStream) {
    let (mut writer, reader) = tokio::io::duplex(64);
    tokio::io::AsyncWriteExt::write_all(&mut writer, b"{\"resourceType\":").await.expect("write");
    (Body::from_stream(tokio_util::io::ReaderStream::new(reader)), writer)
}

#[tokio::test]
async fn overload_is_shed_with_503_and_slow_requests_time_out() {
    let options = api::Options { max_in_flight: 1, request_timeout: Duration::from_millis(500), ..Default::default() };
    let s = Server::with_options(options);
    let (body, _writer) = endless_body().await;
    let token = format!("Bearer {}", s.token().await);
    let slow = Request::builder()
        .method("POST")
        .uri("/fhir/Patient")
        .header("content-type", "application/fhir+json")
        .header("authorization", &token)
        .body(body)
        .expect("request");
    let router = s.router();
    let held = tokio::spawn(async move { router.oneshot(slow).await });
    tokio::time::sleep(Duration::from_millis(100)).await;

    let shed = s.get("/fhir/metadata").await;
    shed.assert_outcome(503, "transient", None);
    assert!(shed.header("retry-after").is_some(), "Retry-After is set");
    assert!(shed.text().contains("max_in_flight"), "{}", shed.text());
    assert_eq!(s.get("/healthz").await.status, 200, "liveness answers while saturated");

    // The stalled body runs into the request time limit.
    let timed_out = held.await.expect("task").expect("infallible");
    assert_eq!(timed_out.status(), 503);
    assert!(timed_out.headers().get("retry-after").is_some());
    still_answers(&s).await;
}

#[tokio::test]
async fn a_query_past_its_time_limit_is_stopped_with_503() {
    if crate::backend() != "sqlite" {
        eprintln!("skipped: the SQLite query time limit (PostgreSQL's statement_timeout is tested by the store)");
        return;
    }
    let s = Server::build(api::Options::default(), app::Limits::default(), |o| o.query_timeout = Duration::from_millis(1));
    let entries: Vec<Value> = (0..3000)
        .map(|i| {
            json!({ "request": { "method": "POST", "url": "Patient" }, "resource": {
            "resourceType": "Patient", "name": [{ "family": format!("Family{i}"), "given": ["A", "B"] }], "birthDate": "1950-01-01" } })
        })
        .collect();
    let r = s.post("/fhir", &json!({ "resourceType": "Bundle", "type": "transaction", "entry": entries })).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = s.get("/fhir/Patient?name:contains=zzz&_total=accurate&_sort=-birthdate,family").await;
    r.assert_outcome(503, "transient", None);
    assert!(r.header("retry-after").is_some());
    let id = s.create(patient("9000000030")).await;
    assert_eq!(s.get(&format!("/fhir/Patient/{id}")).await.status, 200, "the store serves the next request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_stops_when_its_client_goes_away() {
    let s = Server::build(api::Options::default(), limits(|l| l.batch_concurrency = 2), |_| {});
    let entries: Vec<Value> = (0..3000)
        .map(|i| json!({ "request": { "method": "POST", "url": "Patient" }, "resource": { "resourceType": "Patient", "name": [{ "family": format!("Gone{i}") }] } }))
        .collect();
    let body = json!({ "resourceType": "Bundle", "type": "batch", "entry": entries }).to_string();
    let token = format!("Bearer {}", s.token().await);
    let req = Request::builder()
        .method("POST")
        .uri("/fhir")
        .header("content-type", "application/fhir+json")
        .header("authorization", &token)
        .body(Body::from(body))
        .expect("request");
    let router = s.router();
    let client = tokio::spawn(async move { router.oneshot(req).await });
    // Let some entries be written, then hang up: the request's future is dropped, as hyper drops it when
    // the connection closes.
    let mut written = 0;
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        written = count(&s).await;
        if written > 0 {
            break;
        }
    }
    client.abort();
    let _ = client.await;
    assert!(written > 0, "the batch started");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let settled = count(&s).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let later = count(&s).await;
    assert_eq!(settled, later, "nothing more is written once the client has gone");
    assert!(later < 3000, "the batch stopped: {later} of 3000 written");
}

async fn count(s: &Server) -> u64 {
    s.get("/fhir/Patient?_summary=count").await.json()["total"].as_u64().unwrap_or(0)
}
