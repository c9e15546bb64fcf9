//! FHIR Bulk Data export end to end over HTTP: kick-off, polling, the manifest, downloading every file;
//! `_type`, `_since`, Patient and Group level; cancellation; and the errors the specification asks for.

use crate::{observation, patient, Res, Server, BASE};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

const ASYNC: &[(&str, &str)] = &[("prefer", "respond-async"), ("accept", "application/fhir+json")];

async fn kickoff(s: &Server, path: &str) -> String {
    let r = s.send("GET", path, ASYNC, None).await;
    assert_eq!(r.status, 202, "{path}: {}", r.text());
    let location = r.header("content-location").expect("Content-Location").to_owned();
    assert!(location.starts_with(&format!("{BASE}/$export-status/")), "{location}");
    location
}

fn local(url: &str) -> String {
    format!("/fhir{}", url.strip_prefix(BASE).unwrap_or_else(|| panic!("{url} is not under {BASE}")))
}

/// Polls until the job is done; returns the manifest.
async fn finish(s: &Server, status_url: &str) -> Value {
    for _ in 0..500 {
        let r = s.get(&local(status_url)).await;
        match r.status {
            202 => {
                assert!(r.header("x-progress").is_some(), "a running job says how far it is");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            200 => {
                assert!(r.header("content-type").is_some_and(|c| c.starts_with("application/json")));
                return r.json();
            }
            other => panic!("status {other}: {}", r.text()),
        }
    }
    panic!("the export did not finish");
}

/// Downloads every file of a manifest: resources per type, checking that every line parses as its type.
async fn download(s: &Server, manifest: &Value) -> BTreeMap<String, Vec<Value>> {
    assert_eq!(manifest["requiresAccessToken"], false);
    assert_eq!(manifest["error"], json!([]));
    assert!(manifest["transactionTime"].as_str().is_some_and(|t| t.ends_with('Z')));
    let mut out = BTreeMap::new();
    for o in manifest["output"].as_array().expect("output") {
        let t = o["type"].as_str().expect("type").to_owned();
        let r = s.get(&local(o["url"].as_str().expect("url"))).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("content-type"), Some("application/fhir+ndjson"));
        let text = String::from_utf8(r.body.clone()).expect("UTF-8");
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{t}: bad line ({e}): {l}"))).collect();
        assert_eq!(lines.len() as u64, o["count"].as_u64().expect("count"), "{t}");
        assert!(lines.iter().all(|l| l["resourceType"] == t.as_str()), "{t}");
        out.insert(t, lines);
    }
    out
}

fn ids(resources: Option<&Vec<Value>>) -> Vec<String> {
    let mut v: Vec<String> = resources.into_iter().flatten().map(|r| r["id"].as_str().unwrap_or("").to_owned()).collect();
    v.sort();
    v
}

async fn population(s: &Server) -> (String, String) {
    let org = s.create(json!({"resourceType": "Organization", "name": "Practice"})).await;
    let mut p1 = patient("9990000018");
    p1["managingOrganization"] = json!({"reference": format!("Organization/{org}")});
    let p1 = s.create(p1).await;
    let p2 = s.create(patient("9990000026")).await;
    s.create(observation(&p1, "70.5")).await;
    s.create(observation(&p1, "71.0")).await;
    s.create(observation(&p2, "80.0")).await;
    (p1, p2)
}

#[tokio::test]
async fn system_export_follows_the_asynchronous_request_pattern() {
    let s = Server::new();
    population(&s).await;
    let status = kickoff(&s, "/fhir/$export?_outputFormat=application%2Ffhir%2Bndjson").await;
    let manifest = finish(&s, &status).await;
    assert_eq!(manifest["request"], format!("{BASE}/$export?_outputFormat=application%2Ffhir%2Bndjson"));
    let files = download(&s, &manifest).await;
    let counts: BTreeMap<&str, usize> = files.iter().map(|(t, v)| (t.as_str(), v.len())).collect();
    assert_eq!(counts, BTreeMap::from([("Observation", 3), ("Organization", 1), ("Patient", 2)]));
    // A finished job stays until deleted; deleting it removes its files.
    let file_url = local(manifest["output"][0]["url"].as_str().expect("url"));
    assert_eq!(s.delete(&local(&status)).await.status, 202);
    s.get(&local(&status)).await.assert_outcome(404, "not-found", None);
    assert_eq!(s.get(&file_url).await.status, 404);
}

#[tokio::test]
async fn type_and_since_filter_what_is_exported() {
    let s = Server::new();
    let (p1, _) = population(&s).await;
    let manifest = finish(&s, &kickoff(&s, "/fhir/$export?_type=Patient").await).await;
    let files = download(&s, &manifest).await;
    assert_eq!(files.keys().collect::<Vec<_>>(), ["Patient"]);

    tokio::time::sleep(Duration::from_millis(20)).await;
    let since = app::instant::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let newer = s.create(observation(&p1, "72.0")).await;
    let manifest = finish(&s, &kickoff(&s, &format!("/fhir/$export?_since={}", since.replace(':', "%3A"))).await).await;
    let files = download(&s, &manifest).await;
    assert_eq!(files.keys().collect::<Vec<_>>(), ["Observation"]);
    assert_eq!(ids(files.get("Observation")), [newer]);
}

#[tokio::test]
async fn patient_and_group_level_exports_hold_only_patient_compartments() {
    let s = Server::new();
    let (p1, p2) = population(&s).await;
    let files = download(&s, &finish(&s, &kickoff(&s, "/fhir/Patient/$export").await).await).await;
    assert_eq!(files.keys().collect::<Vec<_>>(), ["Observation", "Patient"], "no Organization: it is in no compartment");
    assert_eq!(ids(files.get("Patient")).len(), 2);

    let group = s
        .create(json!({"resourceType": "Group", "type": "person", "actual": true, "member": [{"entity": {"reference": format!("Patient/{p1}")}}]}))
        .await;
    let files = download(&s, &finish(&s, &kickoff(&s, &format!("/fhir/Group/{group}/$export")).await).await).await;
    assert_eq!(ids(files.get("Patient")), [p1.clone()]);
    // Each job's work is in the audit log with the people whose records it wrote out.
    let mut jobs = Vec::new();
    let mut after = 0;
    loop {
        let page = s.app().audit_log(after, 100).await.expect("audit log");
        let Some(last) = page.last().map(|e| e.seq) else { break };
        after = last;
        jobs.extend(page.into_iter().filter(|e| e.record.body.contains(r#""method":"JOB""#)).map(|e| e.record.patients));
    }
    let mut both = vec![p1.clone(), p2.clone()];
    both.sort();
    assert_eq!(jobs, [both, vec![p1.clone()]], "the Patient-level job, then the Group's");
    let observations = files.get("Observation").expect("observations");
    assert_eq!(observations.len(), 2);
    assert!(observations.iter().all(|o| o["subject"]["reference"] == format!("Patient/{p1}")), "nothing of {p2}");
    let files = download(&s, &finish(&s, &kickoff(&s, &format!("/fhir/Group/{group}/$export?_type=Observation")).await).await).await;
    assert_eq!(files.keys().collect::<Vec<_>>(), ["Observation"]);
    s.send("GET", "/fhir/Group/no-such-group/$export", ASYNC, None).await.assert_outcome(404, "not-found", None);
    // The routes of the export leave the ordinary ones alone.
    assert_eq!(s.get(&format!("/fhir/Patient/{p1}")).await.status, 200);
    assert_eq!(s.get(&format!("/fhir/Group/{group}/_history")).await.status, 200);
}

#[tokio::test]
async fn kickoff_errors_and_cancellation() {
    let s = Server::new();
    population(&s).await;
    let r: Res = s.get("/fhir/$export").await;
    r.assert_outcome(400, "required", Some("Prefer"));
    s.send("GET", "/fhir/$export?_type=Patient,Nonsense", ASYNC, None).await.assert_outcome(400, "value", Some("_type"));
    s.send("GET", "/fhir/$export?_outputFormat=text/csv", ASYNC, None).await.assert_outcome(400, "not-supported", Some("_outputFormat"));
    s.send("GET", "/fhir/$export?_since=yesterday", ASYNC, None).await.assert_outcome(400, "value", Some("_since"));
    s.send("GET", "/fhir/$export?_typeFilter=Patient%3Factive%3Dtrue", ASYNC, None).await.assert_outcome(400, "not-supported", None);
    let xml = s.send("GET", "/fhir/$export", &[("prefer", "respond-async"), ("accept", "application/fhir+xml")], None).await;
    assert_eq!(xml.status, 415, "{}", xml.text());

    let status = kickoff(&s, "/fhir/$export").await;
    let cancelled = s.delete(&local(&status)).await;
    assert_eq!(cancelled.status, 202, "{}", cancelled.text());
    s.get(&local(&status)).await.assert_outcome(404, "not-found", None);
    s.delete(&local(&status)).await.assert_outcome(404, "not-found", None);
    s.get("/fhir/$export-status/00000000-0000-0000-0000-000000000000").await.assert_outcome(404, "not-found", None);
    s.get("/fhir/$export-status/..%2F..%2Fetc").await.assert_outcome(404, "not-found", None);
    s.get("/fhir/$export-file/00000000-0000-0000-0000-000000000000/Patient.ndjson").await.assert_outcome(404, "not-found", None);
}
