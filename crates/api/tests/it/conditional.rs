//! Conditional create, update, delete and patch, and search on `_id` and `identifier` that they rest on.

use crate::{patient, Server};
use serde_json::json;

const NHS: &str = "https://fhir.nhs.uk/Id/nhs-number";

#[tokio::test]
async fn conditional_create() {
    let s = Server::new();
    let body = patient("9990000174").to_string();
    let cond = format!("identifier={NHS}|9990000174");
    let first = s.send("POST", "/fhir/Patient", &[("if-none-exist", &cond)], Some(body.as_bytes())).await;
    assert_eq!(first.status, 201);
    let again = s.send("POST", "/fhir/Patient", &[("if-none-exist", &cond)], Some(body.as_bytes())).await;
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(again.json()["id"], first.json()["id"]);
    // Two matches: 412.
    s.create(patient("9990000174")).await;
    s.send("POST", "/fhir/Patient", &[("if-none-exist", &cond)], Some(body.as_bytes())).await.assert_outcome(412, "conflict", None);
    // A condition we cannot evaluate is refused rather than matching everything.
    s.send("POST", "/fhir/Patient", &[("if-none-exist", "name=x")], Some(body.as_bytes())).await.assert_outcome(400, "not-supported", Some("name"));
}

#[tokio::test]
async fn conditional_update() {
    let s = Server::new();
    let uri = format!("/fhir/Patient?identifier={NHS}|9990000182");
    let r = s.put(&uri, &patient("9990000182")).await;
    assert_eq!(r.status, 201, "no match and no id: create");
    let id = r.json()["id"].as_str().expect("id").to_owned();
    let mut p = patient("9990000182");
    p["gender"] = json!("male");
    let r = s.put(&uri, &p).await;
    assert_eq!(r.status, 200, "one match: update it");
    assert_eq!((r.json()["id"].as_str(), r.json()["meta"]["versionId"].as_str()), (Some(id.as_str()), Some("2")));
    p["id"] = json!("someone-else");
    s.put(&uri, &p).await.assert_outcome(400, "invalid", Some("Patient.id"));
    s.create(patient("9990000182")).await;
    s.put(&uri, &patient("9990000182")).await.assert_outcome(412, "conflict", None);
    s.put("/fhir/Patient", &patient("9990000182")).await.assert_outcome(400, "required", None);
}

#[tokio::test]
async fn conditional_delete_and_patch() {
    let s = Server::new();
    let id = s.create(patient("9990000190")).await;
    let ct = ("content-type", "application/json-patch+json");
    let patch = json!([{ "op": "add", "path": "/active", "value": false }]).to_string();
    let r = s.send("PATCH", &format!("/fhir/Patient?identifier=9990000190"), &[ct], Some(patch.as_bytes())).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["active"], false);
    assert_eq!(s.send("PATCH", "/fhir/Patient?identifier=nobody", &[ct], Some(patch.as_bytes())).await.status, 404);
    assert_eq!(s.delete(&format!("/fhir/Patient?identifier={NHS}|9990000190")).await.status, 204);
    assert_eq!(s.get(&format!("/fhir/Patient/{id}")).await.status, 410);
    assert_eq!(s.delete(&format!("/fhir/Patient?identifier={NHS}|9990000190")).await.status, 204, "no match: nothing to do");
    s.create(patient("9990000204")).await;
    s.create(patient("9990000204")).await;
    s.delete("/fhir/Patient?identifier=9990000204").await.assert_outcome(412, "conflict", None);
    s.delete("/fhir/Patient").await.assert_outcome(400, "required", None);
}

#[tokio::test]
async fn token_search_forms_and_paging() {
    let s = Server::new();
    let a = s.create(patient("9990000212")).await;
    let mut other = patient("9990000212");
    other["identifier"][0]["system"] = json!("http://other");
    let b = s.create(other).await;
    let mut nosys = patient("9990000212");
    nosys["identifier"][0].as_object_mut().expect("identifier").remove("system");
    let c = s.create(nosys).await;
    let ids = |v: serde_json::Value| -> Vec<String> {
        let mut out: Vec<String> =
            v["entry"].as_array().map(|e| e.iter().filter_map(|x| x["resource"]["id"].as_str().map(str::to_owned)).collect()).unwrap_or_default();
        out.sort();
        out
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(ids(s.get(&format!("/fhir/Patient?identifier={NHS}|9990000212")).await.json()), vec![a.clone()]);
    assert_eq!(ids(s.get("/fhir/Patient?identifier=9990000212").await.json()), sorted(vec![a.clone(), b.clone(), c.clone()]));
    assert_eq!(ids(s.get("/fhir/Patient?identifier=|9990000212").await.json()), vec![c.clone()]);
    assert_eq!(ids(s.get(&format!("/fhir/Patient?_id={b}")).await.json()), vec![b.clone()]);
    assert_eq!(ids(s.get(&format!("/fhir/Patient?_id={b}&identifier={NHS}|9990000212")).await.json()), Vec::<String>::new());
    // Paging: one per page, following next links, sees all three exactly once.
    let mut seen = Vec::new();
    let mut url = "/fhir/Patient?identifier=9990000212&_count=1".to_owned();
    loop {
        let page = s.get(&url).await.json();
        seen.extend(ids(page.clone()));
        let next =
            page["link"].as_array().and_then(|l| l.iter().find(|x| x["relation"] == "next")).and_then(|x| x["url"].as_str()).map(str::to_owned);
        match next {
            Some(n) => url = n.replace(crate::BASE, "/fhir"),
            None => break,
        }
    }
    assert_eq!(sorted(seen), sorted(vec![a, b, c]));
}
