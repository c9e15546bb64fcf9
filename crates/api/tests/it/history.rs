//! History at instance, type and system level, newest first, with `_since`, `_count` and paging.

use crate::{patient, Server, BASE};
use serde_json::{json, Value};

fn entries(b: &Value) -> Vec<(String, String)> {
    b["entry"]
        .as_array()
        .map(|e| {
            e.iter()
                .map(|x| {
                    let url = x["fullUrl"].as_str().unwrap_or("").replace(&format!("{BASE}/"), "");
                    let method = x["request"]["method"].as_str().unwrap_or("").to_owned();
                    (url, method)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn next(b: &Value) -> Option<String> {
    b["link"].as_array()?.iter().find(|l| l["relation"] == "next")?["url"].as_str().map(|u| u.replace(BASE, "/fhir"))
}

#[tokio::test]
async fn history_levels_and_paging() {
    let s = Server::new();
    let a = s.create(patient("9990000220")).await;
    let mut p = s.get(&format!("/fhir/Patient/{a}")).await.json();
    p["active"] = json!(true);
    s.put(&format!("/fhir/Patient/{a}"), &p).await;
    let org = s.create(json!({"resourceType": "Organization", "name": "A practice"})).await;
    s.delete(&format!("/fhir/Patient/{a}")).await;

    let inst = s.get(&format!("/fhir/Patient/{a}/_history")).await.json();
    assert_eq!(inst["type"], "history");
    assert_eq!(
        entries(&inst),
        vec![(format!("Patient/{a}"), "DELETE".into()), (format!("Patient/{a}"), "PUT".into()), (format!("Patient/{a}"), "POST".into())]
    );
    assert_eq!(inst["entry"][1]["resource"]["meta"]["versionId"], "2");
    assert_eq!(inst["entry"][1]["response"]["etag"], "W/\"2\"");
    let ty = s.get("/fhir/Organization/_history").await.json();
    assert_eq!(entries(&ty), vec![(format!("Organization/{org}"), "POST".into())]);
    let sys = s.get("/fhir/_history").await.json();
    assert_eq!(entries(&sys).len(), 4);

    // Paging two at a time walks all four versions once, in order, even while new versions arrive.
    let mut url = "/fhir/_history?_count=2".to_owned();
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = s.get(&url).await.json();
        if pages == 0 {
            s.create(patient("9990000239")).await; // newer than the first page: not part of this walk
        }
        pages += 1;
        seen.extend(entries(&page));
        match next(&page) {
            Some(n) => url = n,
            None => break,
        }
    }
    assert_eq!(pages, 2);
    assert_eq!(seen, entries(&sys));
    assert_eq!(s.get(&format!("/fhir/Patient/nobody/_history")).await.status, 404);
}

#[tokio::test]
async fn history_since() {
    let s = Server::new();
    let a = s.create(patient("9990000247")).await;
    let first = s.get(&format!("/fhir/Patient/{a}")).await.json();
    let t1 = first["meta"]["lastUpdated"].as_str().expect("lastUpdated").to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let b = s.create(patient("9990000255")).await;
    let later = s.get(&format!("/fhir/Patient/{b}")).await.json();
    let t2 = later["meta"]["lastUpdated"].as_str().expect("lastUpdated").to_owned();
    let since = |t: &str| format!("/fhir/Patient/_history?_since={}", t.replace('+', "%2B"));
    assert_eq!(entries(&s.get(&since(&t2)).await.json()), vec![(format!("Patient/{b}"), "POST".into())]);
    assert_eq!(entries(&s.get(&since(&t1)).await.json()).len(), 2);
    assert_eq!(entries(&s.get(&since("2999-01-01")).await.json()).len(), 0);
    s.get(&since("not-a-date")).await.assert_outcome(400, "value", Some("_since"));
}
