//! Every access accountable, through HTTP: one audit event per request to the record (allowed, refused or
//! unidentified), none lost and none twice under concurrent load, each naming who asked, what, the outcome
//! and the people whose records it touched, in a hash chain that verifies.

use crate::access::{as_user, record, server};
use serde_json::Value;

async fn events_after(s: &crate::Server, after: i64) -> Vec<(i64, Value, Vec<String>)> {
    let mut out = Vec::new();
    let mut at = after;
    loop {
        let page = s.app().audit_log(at, 100).await.expect("audit log");
        let Some(last) = page.last().map(|e| e.seq) else { break };
        out.extend(page.into_iter().map(|e| (e.seq, serde_json::from_str(&e.record.body).expect("body is JSON"), e.record.patients)));
        at = last;
    }
    out
}

#[tokio::test]
async fn every_request_to_the_record_leaves_exactly_one_event() {
    let s = std::sync::Arc::new(server());
    record(&s).await;
    let before = s.app().verify_audit().await.expect("verify").expect("intact");
    assert!(before > 0, "the set-up's own requests are audited too");

    // 60 requests at once: the GP reads p1 (allowed) and p2 (not theirs), searches, and callers with a token
    // that is not valid.
    let mut tasks = Vec::new();
    for n in 0..60 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let (user, path) = match n % 4 {
                0 => (Some("gp"), "/fhir/Patient/p1".to_owned()),
                1 => (Some("gp"), "/fhir/Patient/p2".to_owned()),
                2 => (Some("gp"), format!("/fhir/Observation?subject=Patient/p1&_count={}", 10 + n)),
                _ => (None, "/fhir/Patient/p1".to_owned()),
            };
            let status = match user {
                Some(u) => as_user(&s, u, "GET", &path, None).await.status,
                None => s.send("GET", &path, &[("authorization", "Bearer not-a-token")], None).await.status,
            };
            (path, status)
        }));
    }
    let mut asked = Vec::new();
    for t in tasks {
        asked.push(t.await.expect("request"));
    }
    let events = events_after(&s, i64::try_from(before).expect("small")).await;
    assert_eq!(events.len(), 60, "one event per request");
    assert_eq!(s.app().verify_audit().await.expect("verify").expect("intact"), before + 60);

    // Each request appears once, with its outcome; the people are those whose records left.
    let mut seen: Vec<(String, u64)> = Vec::new();
    for (_, body, patients) in &events {
        let path = body["action"]["path"].as_str().expect("path").to_owned();
        let query = body["action"]["query"].as_str().map(|q| format!("?{q}")).unwrap_or_default();
        let status = body["outcome"].as_u64().expect("outcome");
        match (path.as_str(), status) {
            ("/fhir/Patient/p1", 200) => {
                assert_eq!(body["agent"]["user"], "gp");
                assert_eq!(body["agent"]["organisation"], "Organization/gp1");
                assert_eq!(patients, &["p1"]);
                assert_eq!(body["patients"], serde_json::json!(["Patient/p1"]));
            }
            ("/fhir/Patient/p1", 401) => {
                assert!(body["agent"]["user"].is_null());
                assert!(patients.is_empty());
            }
            ("/fhir/Patient/p2", 404) => assert!(patients.is_empty(), "a refused read touches no record"),
            ("/fhir/Observation", 200) => assert_eq!(patients, &["p1"]),
            other => panic!("an unexpected event {other:?}: {body}"),
        }
        seen.push((format!("{path}{query}"), status));
    }
    let mut want: Vec<(String, u64)> = asked.into_iter().map(|(p, st)| (p, u64::from(st))).collect();
    want.sort();
    seen.sort();
    assert_eq!(seen, want, "none lost, none twice");
}

#[tokio::test]
async fn a_request_whose_event_cannot_be_written_fails() {
    if crate::backend() != "sqlite" {
        return;
    }
    // A folder where the audit log's file would go: no event can be appended.
    let s = crate::Server::configured(
        api::Options::default(),
        |_| {},
        |o| {
            std::fs::create_dir_all(o.path.with_extension("audit.db")).expect("a folder in the audit file's place");
        },
    );
    let r = s.get("/fhir/Patient?_count=1").await;
    r.assert_outcome(503, "transient", None);
    let refused = s.send("GET", "/fhir/Patient", &[("authorization", "Bearer not-a-token")], None).await;
    assert_eq!(refused.status, 503, "a refusal is accounted for too: {}", refused.text());
}
