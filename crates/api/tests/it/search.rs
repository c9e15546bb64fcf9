//! FHIR search through HTTP on a small hand-built record where a wrong implementation returns something
//! different: every parameter type, modifier, prefix, chain, `_has`, include, sort, paging and shape.

use crate::{Server, BASE};
use serde_json::{json, Value};

const LOINC: &str = "http://loinc.org";
const UCUM: &str = "http://unitsofmeasure.org";

async fn put(s: &Server, mut r: Value) {
    let t = r["resourceType"].as_str().expect("type").to_owned();
    let id = r["id"].as_str().expect("id").to_owned();
    r["id"] = json!(id);
    let res = s.put(&format!("/fhir/{t}/{id}"), &r).await;
    assert!(res.status == 201 || res.status == 200, "{t}/{id}: {}", res.text());
}

fn patient(id: &str, family: &str, given: &str, gender: Option<&str>, birth: &str, gp: Option<&str>) -> Value {
    let mut p = json!({"resourceType": "Patient", "id": id,
        "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": format!("nhs-{id}")}],
        "name": [{"family": family, "given": [given]}], "birthDate": birth});
    if let Some(g) = gender {
        p["gender"] = json!(g);
    }
    if let Some(o) = gp {
        p["generalPractitioner"] = json!([{"reference": format!("Organization/{o}")}]);
    }
    p
}

fn weight(id: &str, patient: &str, value: &str, when: &str) -> Value {
    serde_json::from_str(&format!(
        r#"{{"resourceType":"Observation","id":"{id}","status":"final",
        "code":{{"coding":[{{"system":"{LOINC}","code":"29463-7","display":"Body weight"}}]}},
        "subject":{{"reference":"Patient/{patient}"}},"effectiveDateTime":"{when}",
        "valueQuantity":{{"value":{value},"unit":"kg","system":"{UCUM}","code":"kg"}}}}"#
    ))
    .expect("weight JSON")
}

fn blood_pressure(id: &str, patient: &str, systolic: u32, diastolic: u32, when: &str) -> Value {
    let comp = |code: &str, v: u32| json!({"code": {"coding": [{"system": LOINC, "code": code}]}, "valueQuantity": {"value": v, "system": UCUM, "code": "mm[Hg]"}});
    json!({"resourceType": "Observation", "id": id, "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "85354-9", "display": "Blood pressure panel"}]},
        "subject": {"reference": format!("Patient/{patient}")}, "effectiveDateTime": when,
        "component": [comp("8480-6", systolic), comp("8462-4", diastolic)]})
}

async fn record() -> Server {
    let s = Server::new();
    put(&s, json!({"resourceType": "Organization", "id": "org1", "name": "Riverside Practice"})).await;
    put(&s, json!({"resourceType": "Organization", "id": "org2", "name": "Hillside Surgery", "partOf": {"reference": "Organization/org1"}})).await;
    put(&s, patient("p1", "Ångström", "Eve", Some("female"), "1950-03-01", Some("org1"))).await;
    put(&s, patient("p2", "Angstrom", "Bob", Some("male"), "1950-07-15", Some("org2"))).await;
    put(&s, patient("p3", "Smith", "Ann", Some("female"), "1975-01-01", Some("org1"))).await;
    put(&s, patient("p4", "Smithson", "Cal", None, "1990-12-31", None)).await;
    put(&s, json!({"resourceType": "Encounter", "id": "e1", "status": "finished", "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": "Patient/p1"}, "serviceProvider": {"reference": "Organization/org1"}})).await;
    let mut o1 = weight("o1", "p1", "72.5", "2024-01-10");
    o1["encounter"] = json!({"reference": "Encounter/e1"});
    put(&s, o1).await;
    put(&s, weight("o2", "p1", "80", "2024-03-10")).await;
    put(&s, weight("o3", "p2", "60", "2023-12-31T23:30:00Z")).await;
    put(&s, blood_pressure("o4", "p3", 140, 90, "2024-02-01")).await;
    put(&s, blood_pressure("o5", "p2", 120, 95, "2022-06-01")).await;
    put(&s, json!({"resourceType": "Questionnaire", "id": "q1", "status": "active", "url": "http://example.org/q/wellbeing"})).await;
    s
}

/// Ids of the matches, in the order returned.
async fn ids(s: &Server, url: &str) -> Vec<String> {
    let r = s.get(url).await;
    assert_eq!(r.status, 200, "{url}: {}", r.text());
    matches(&r.json())
}

fn matches(b: &Value) -> Vec<String> {
    entries(b, "match")
}

fn entries(b: &Value, mode: &str) -> Vec<String> {
    b["entry"]
        .as_array()
        .map(|e| e.iter().filter(|x| x["search"]["mode"] == mode).filter_map(|x| x["resource"]["id"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

async fn set(s: &Server, url: &str) -> Vec<String> {
    let mut v = ids(s, url).await;
    v.sort();
    v
}

fn link(b: &Value, rel: &str) -> Option<String> {
    b["link"].as_array()?.iter().find(|l| l["relation"] == rel)?["url"].as_str().map(|u| u.replace(BASE, "/fhir"))
}

#[tokio::test]
async fn strings_are_prefix_case_and_accent_insensitive() {
    let s = record().await;
    assert_eq!(set(&s, "/fhir/Patient?family=ang").await, ["p1", "p2"]);
    assert_eq!(set(&s, "/fhir/Patient?family=ÅNG").await, ["p1", "p2"]);
    assert_eq!(set(&s, "/fhir/Patient?family:exact=Angstrom").await, ["p2"]);
    assert_eq!(set(&s, "/fhir/Patient?family:exact=angstrom").await, Vec::<String>::new());
    assert_eq!(set(&s, "/fhir/Patient?family:contains=MITH").await, ["p3", "p4"]);
    assert_eq!(set(&s, "/fhir/Patient?family=smith").await, ["p3", "p4"]);
    assert_eq!(set(&s, "/fhir/Patient?name=eve").await, ["p1"]);
    assert_eq!(set(&s, "/fhir/Patient?family=smith,ang").await, ["p1", "p2", "p3", "p4"], "comma is OR");
    assert_eq!(set(&s, "/fhir/Patient?family=smith&given=ann").await, ["p3"], "repeated parameters are AND");
    assert_eq!(set(&s, "/fhir/Organization?name=hill").await, ["org2"]);
}

#[tokio::test]
async fn tokens() {
    let s = record().await;
    assert_eq!(set(&s, "/fhir/Patient?gender=female").await, ["p1", "p3"]);
    assert_eq!(set(&s, "/fhir/Patient?gender:not=female").await, ["p2", "p4"], ":not includes resources without the element");
    assert_eq!(set(&s, "/fhir/Patient?gender:missing=true").await, ["p4"]);
    assert_eq!(set(&s, "/fhir/Patient?gender:missing=false").await, ["p1", "p2", "p3"]);
    assert_eq!(set(&s, &format!("/fhir/Observation?code={LOINC}|29463-7")).await, ["o1", "o2", "o3"]);
    assert_eq!(set(&s, "/fhir/Observation?code=29463-7").await, ["o1", "o2", "o3"]);
    assert_eq!(set(&s, "/fhir/Observation?code=http://snomed.info/sct|29463-7").await, Vec::<String>::new());
    assert_eq!(set(&s, "/fhir/Observation?code=|29463-7").await, Vec::<String>::new(), "|code means no system");
    assert_eq!(set(&s, &format!("/fhir/Observation?code={LOINC}|")).await, ["o1", "o2", "o3", "o4", "o5"]);
    assert_eq!(set(&s, "/fhir/Observation?code:text=body").await, ["o1", "o2", "o3"]);
    assert_eq!(set(&s, "/fhir/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|nhs-p3").await, ["p3"]);
    assert_eq!(set(&s, "/fhir/Observation?status=final&code=85354-9").await, ["o4", "o5"]);
}

#[tokio::test]
async fn dates_honour_precision_and_prefixes() {
    let s = record().await;
    assert_eq!(set(&s, "/fhir/Patient?birthdate=1950").await, ["p1", "p2"]);
    assert_eq!(set(&s, "/fhir/Patient?birthdate=1950-03").await, ["p1"]);
    assert_eq!(set(&s, "/fhir/Patient?birthdate=ne1950").await, ["p3", "p4"]);
    assert_eq!(set(&s, "/fhir/Patient?birthdate=ge1975").await, ["p3", "p4"]);
    assert_eq!(set(&s, "/fhir/Patient?birthdate=gt1975-01-01").await, ["p4"]);
    assert_eq!(set(&s, "/fhir/Patient?birthdate=lt1950-07-15").await, ["p1"]);
    assert_eq!(set(&s, "/fhir/Patient?birthdate=le1950-07-15").await, ["p1", "p2"]);
    assert_eq!(set(&s, "/fhir/Patient?birthdate=sa1975-01-01").await, ["p4"]);
    assert_eq!(set(&s, "/fhir/Patient?birthdate=eb1950-07").await, ["p1"]);
    assert_eq!(set(&s, "/fhir/Patient?birthdate=ge1950&birthdate=lt1951").await, ["p1", "p2"]);
    assert_eq!(set(&s, "/fhir/Observation?date=2024-01").await, ["o1"]);
    assert_eq!(set(&s, "/fhir/Observation?date=2023-12-31").await, ["o3"], "the instant's day, in UTC");
    assert_eq!(set(&s, "/fhir/Observation?date=2024").await, ["o1", "o2", "o4"]);
    assert_eq!(set(&s, "/fhir/Observation?date=ge2024-01-01T00:00:00Z").await, ["o1", "o2", "o4"]);
    assert_eq!(set(&s, "/fhir/Observation?date=2024-01-01T00:30:00%2B01:00").await, ["o3"], "the same instant in another zone");
    assert_eq!(set(&s, "/fhir/Observation?date=2024-01-01T00:30:01%2B01:00").await, Vec::<String>::new());
}

#[tokio::test]
async fn numbers_and_quantities() {
    let s = record().await;
    assert_eq!(set(&s, "/fhir/Observation?value-quantity=72.5").await, ["o1"]);
    assert_eq!(set(&s, "/fhir/Observation?value-quantity=72").await, Vec::<String>::new(), "72 means [71.5, 72.5)");
    assert_eq!(set(&s, "/fhir/Observation?value-quantity=gt70").await, ["o1", "o2"]);
    assert_eq!(set(&s, &format!("/fhir/Observation?value-quantity=lt70|{UCUM}|kg")).await, ["o3"]);
    assert_eq!(set(&s, "/fhir/Observation?value-quantity=80||kg").await, ["o2"]);
    assert_eq!(set(&s, &format!("/fhir/Observation?value-quantity=80|{UCUM}|g")).await, Vec::<String>::new());
    assert_eq!(set(&s, "/fhir/Observation?value-quantity=ap80").await, ["o1", "o2"], "within 10%");
    // Composites pair values of the same component: a cross product would wrongly match o4 for diastolic > 130.
    let cvq = |q: &str| format!("/fhir/Observation?component-code-value-quantity={q}");
    assert_eq!(set(&s, &cvq(&format!("{LOINC}|8480-6$gt130"))).await, ["o4"]);
    assert_eq!(set(&s, &cvq(&format!("{LOINC}|8462-4$gt130"))).await, Vec::<String>::new());
    assert_eq!(set(&s, &cvq("8462-4$gt92")).await, ["o5"]);
    assert_eq!(set(&s, &format!("/fhir/Observation?code-value-quantity={LOINC}|29463-7$gt75")).await, ["o2"]);
}

#[tokio::test]
async fn references_chains_and_has() {
    let s = record().await;
    assert_eq!(set(&s, "/fhir/Observation?subject=Patient/p1").await, ["o1", "o2"]);
    assert_eq!(set(&s, "/fhir/Observation?patient=p1").await, ["o1", "o2"]);
    assert_eq!(set(&s, "/fhir/Observation?subject:Patient=p1").await, ["o1", "o2"]);
    assert_eq!(set(&s, "/fhir/Observation?subject:Group=p1").await, Vec::<String>::new());
    assert_eq!(set(&s, &format!("/fhir/Observation?subject={BASE}/Patient/p2")).await, ["o3", "o5"]);
    assert_eq!(set(&s, "/fhir/Patient?general-practitioner=Organization/org1").await, ["p1", "p3"]);
    assert_eq!(set(&s, "/fhir/Observation?encounter:missing=false").await, ["o1"]);
    // Chains of one and two links.
    assert_eq!(set(&s, "/fhir/Observation?subject:Patient.family=ang").await, ["o1", "o2", "o3", "o5"]);
    assert_eq!(set(&s, "/fhir/Observation?patient.general-practitioner.name=river").await, ["o1", "o2", "o4"]);
    assert_eq!(set(&s, "/fhir/Observation?patient.general-practitioner:Organization.partof=org1").await, ["o3", "o5"]);
    assert_eq!(set(&s, "/fhir/Observation?subject:Patient.identifier=https://fhir.nhs.uk/Id/nhs-number|nhs-p3").await, ["o4"]);
    // Reverse chains.
    assert_eq!(set(&s, "/fhir/Patient?_has:Observation:patient:code=85354-9").await, ["p2", "p3"]);
    assert_eq!(set(&s, "/fhir/Patient?_has:Observation:patient:value-quantity=gt75").await, ["p1"]);
    assert_eq!(set(&s, "/fhir/Organization?_has:Patient:general-practitioner:_has:Observation:patient:code=85354-9").await, ["org1", "org2"]);
    assert_eq!(set(&s, "/fhir/Patient?_has:Observation:patient:code=nothing").await, Vec::<String>::new());
}

#[tokio::test]
async fn uris_and_ids() {
    let s = record().await;
    assert_eq!(set(&s, "/fhir/Questionnaire?url=http://example.org/q/wellbeing").await, ["q1"]);
    assert_eq!(set(&s, "/fhir/Questionnaire?url=http://example.org/q").await, Vec::<String>::new());
    assert_eq!(set(&s, "/fhir/Questionnaire?url:below=http://example.org/q").await, ["q1"]);
    assert_eq!(set(&s, "/fhir/Questionnaire?url:above=http://example.org/q/wellbeing/v2").await, ["q1"]);
    assert_eq!(set(&s, "/fhir/Patient?_id=p1,p3").await, ["p1", "p3"]);
}

#[tokio::test]
async fn includes_and_revincludes() {
    let s = record().await;
    let b = s.get("/fhir/Observation?code=29463-7&_include=Observation:subject").await.json();
    let mut inc = entries(&b, "include");
    inc.sort();
    assert_eq!(inc, ["p1", "p2"]);
    let b = s.get("/fhir/Patient?_id=p1&_revinclude=Observation:subject").await.json();
    let mut inc = entries(&b, "include");
    inc.sort();
    assert_eq!((matches(&b), inc), (vec!["p1".to_owned()], vec!["o1".to_owned(), "o2".to_owned()]));
    let b = s.get("/fhir/Observation?_id=o3&_include=Observation:subject&_include:iterate=Patient:general-practitioner&_include:iterate=Organization:partof").await.json();
    let mut inc = entries(&b, "include");
    inc.sort();
    assert_eq!(inc, ["org1", "org2", "p2"], "iterate follows patient to practice to parent");
    let b = s.get("/fhir/Observation?_id=o1&_include=*").await.json();
    let mut inc = entries(&b, "include");
    inc.sort();
    assert_eq!(inc, ["e1", "p1"]);
    let b = s.get("/fhir/Observation?_id=o1&_include=Observation:subject:Group").await.json();
    assert!(entries(&b, "include").is_empty());
}

#[tokio::test]
async fn sorting_and_paging_both_ways_while_data_changes() {
    let s = record().await;
    assert_eq!(ids(&s, "/fhir/Patient?_sort=birthdate").await, ["p1", "p2", "p3", "p4"]);
    assert_eq!(ids(&s, "/fhir/Patient?_sort=-birthdate").await, ["p4", "p3", "p2", "p1"]);
    assert_eq!(ids(&s, "/fhir/Patient?_sort=gender,-birthdate").await, ["p3", "p1", "p2", "p4"], "missing values sort last");
    assert_eq!(ids(&s, "/fhir/Patient?_sort=-gender,birthdate").await, ["p2", "p1", "p3", "p4"]);
    assert_eq!(ids(&s, "/fhir/Patient?_sort=family").await, ["p1", "p2", "p3", "p4"], "Ångström and Angstrom tie, then by id");
    assert_eq!(ids(&s, "/fhir/Patient?_sort=-family").await, ["p4", "p3", "p1", "p2"]);
    assert_eq!(ids(&s, "/fhir/Observation?_sort=-date&subject=Patient/p1").await, ["o2", "o1"]);
    assert_eq!(ids(&s, "/fhir/Patient?_sort=-_id").await, ["p4", "p3", "p2", "p1"]);
    // Two at a time by descending date; a new newest Observation arriving mid-walk does not shift pages.
    let first = s.get("/fhir/Observation?_sort=-date&_count=2").await.json();
    assert_eq!(matches(&first), ["o2", "o4"]);
    assert!(link(&first, "previous").is_none());
    put(&s, weight("o9", "p4", "90", "2025-01-01")).await;
    let second = s.get(&link(&first, "next").expect("next")).await.json();
    assert_eq!(matches(&second), ["o1", "o3"]);
    let third = s.get(&link(&second, "next").expect("next")).await.json();
    assert_eq!(matches(&third), ["o5"]);
    assert!(link(&third, "next").is_none());
    let back = s.get(&link(&third, "previous").expect("previous")).await.json();
    assert_eq!(matches(&back), ["o1", "o3"]);
    let back2 = s.get(&link(&back, "previous").expect("previous")).await.json();
    assert_eq!(matches(&back2), ["o2", "o4"], "the page before holds what was there, not the newcomer");
    let back3 = s.get(&link(&back2, "previous").expect("previous")).await.json();
    assert_eq!(matches(&back3), ["o9"], "and before that, the newcomer");
}

#[tokio::test]
async fn totals_summaries_and_elements() {
    let s = record().await;
    let b = s.get("/fhir/Observation?code=29463-7&_total=accurate&_count=1").await.json();
    assert_eq!((b["total"].as_u64(), matches(&b).len()), (Some(3), 1));
    let b = s.get("/fhir/Observation?code=29463-7&_summary=count").await.json();
    assert_eq!(b["total"], 3);
    assert!(b.get("entry").is_none());
    let b = s.get("/fhir/Observation?code=29463-7").await.json();
    assert_eq!(b["total"], 3, "the whole result on one page: its total is free");
    let b = s.get("/fhir/Observation?code=29463-7&_count=1").await.json();
    assert!(b.get("total").is_none(), "no total unless asked or free");
    let links: Vec<(&str, &str)> =
        b["link"].as_array().expect("links").iter().map(|l| (l["relation"].as_str().unwrap_or(""), l["url"].as_str().unwrap_or(""))).collect();
    let first = links.iter().find(|(r, _)| *r == "first").expect("a first link on a paged result").1;
    assert_eq!(first, "http://joinery.test/fhir/Observation?code=29463-7&_count=1");
    let next = links.iter().find(|(r, _)| *r == "next").expect("next").1.replace("http://joinery.test", "");
    let page2 = s.get(&next).await.json();
    let self_link =
        page2["link"].as_array().expect("links").iter().find(|l| l["relation"] == "self").expect("self")["url"].as_str().unwrap_or("").to_owned();
    assert!(self_link.contains("_cursor="), "self names the page it is: {self_link}");
    let b = s.get("/fhir/Patient?_id=p1&_elements=gender").await.json();
    let p = &b["entry"][0]["resource"];
    assert_eq!((p["gender"].as_str(), p.get("name").is_none(), p["meta"]["tag"][0]["code"].as_str()), (Some("female"), true, Some("SUBSETTED")));
    let b = s.get("/fhir/Observation?_id=o1&_summary=true").await.json();
    let o = &b["entry"][0]["resource"];
    assert!(o.get("valueQuantity").is_some() && o.get("encounter").is_some());
    let b = s.get("/fhir/Observation?_id=o1&_count=0").await.json();
    assert!(b.get("entry").is_none());
}

#[tokio::test]
async fn compartments_and_everything() {
    let s = record().await;
    assert_eq!(set(&s, "/fhir/Patient/p1/Observation").await, ["o1", "o2"]);
    assert_eq!(set(&s, "/fhir/Patient/p1/Observation?date=2024-03").await, ["o2"]);
    assert_eq!(set(&s, "/fhir/Patient/p1/Encounter").await, ["e1"]);
    assert_eq!(set(&s, "/fhir/Patient/p1/Patient").await, ["p1"]);
    assert_eq!(s.get("/fhir/Patient/nobody/Observation").await.status, 404);
    s.get("/fhir/Patient/p1/Organization").await.assert_outcome(400, "not-supported", None);
    let b = s.get("/fhir/Patient/p1/$everything").await.json();
    let mut m = matches(&b);
    m.sort();
    assert_eq!(m, ["e1", "o1", "o2", "p1"]);
    assert_eq!(entries(&b, "include"), ["org1"], "what the record refers to, outside the compartment");
    assert_eq!(set(&s, "/fhir/Patient/p1/$everything?_type=Observation").await, ["o1", "o2"]);
    let page = s.get("/fhir/Patient/p1/$everything?_count=3").await.json();
    let next = s.get(&link(&page, "next").expect("next")).await.json();
    let mut all = [matches(&page), matches(&next)].concat();
    all.sort();
    assert_eq!(all, ["e1", "o1", "o2", "p1"]);
    assert_eq!(set(&s, "/fhir/Patient/p1/$everything?_since=2999-01-01").await, Vec::<String>::new());
}

#[tokio::test]
async fn other_entry_points() {
    let s = record().await;
    let form = ("content-type", "application/x-www-form-urlencoded");
    let r = s.send("POST", "/fhir/Patient/_search?gender=female", &[form], Some(b"family=smi")).await;
    assert_eq!(matches(&r.json()), ["p3"]);
    let mut all = ids(&s, "/fhir?_type=Organization,Patient&_count=100").await;
    all.sort();
    assert_eq!(all, ["org1", "org2", "p1", "p2", "p3", "p4"]);
    let page = s.get("/fhir?_type=Organization,Patient&_count=3").await.json();
    let next = s.get(&link(&page, "next").expect("next")).await.json();
    assert!(link(&next, "next").is_none());
    let walked = [matches(&page), matches(&next)].concat();
    assert_eq!(walked, ["org1", "org2", "p1", "p2", "p3", "p4"]);
    s.get("/fhir?name=x").await.assert_outcome(400, "required", Some("_type"));
}

#[tokio::test]
async fn indexes_follow_updates_and_deletes() {
    let s = record().await;
    put(&s, patient("p2", "Jones", "Bob", Some("male"), "1950-07-15", Some("org2"))).await;
    assert_eq!(set(&s, "/fhir/Patient?family=ang").await, ["p1"]);
    assert_eq!(set(&s, "/fhir/Patient?family=jones").await, ["p2"]);
    assert_eq!(s.delete("/fhir/Observation/o2").await.status, 204);
    assert_eq!(set(&s, "/fhir/Observation?patient=p1").await, ["o1"]);
    assert_eq!(set(&s, "/fhir/Patient?_has:Observation:patient:value-quantity=gt75").await, Vec::<String>::new());
}

#[tokio::test]
async fn reads_are_subsetted_by_summary_and_elements() {
    let s = Server::new();
    let mut patient = crate::patient("9000000051");
    patient["maritalStatus"] = serde_json::json!({ "text": "Married" });
    let id = s.create(patient).await;
    for path in [format!("/fhir/Patient/{id}?_elements=birthDate"), format!("/fhir/Patient/{id}/_history/1?_elements=birthDate")] {
        let r = s.get(&path).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let p = r.json();
        let keys: Vec<&str> = p.as_object().expect("object").keys().map(String::as_str).collect();
        assert_eq!(keys, ["resourceType", "id", "meta", "birthDate"], "{path}: {p}");
        assert_eq!(p["meta"]["tag"][0]["code"], "SUBSETTED");
        assert!(r.header("etag").is_some());
    }
    let p = s.get(&format!("/fhir/Patient/{id}?_summary=true")).await.json();
    assert!(p.get("name").is_some() && p.get("birthDate").is_some() && p.get("maritalStatus").is_none(), "{p}");
    assert_eq!(p["meta"]["tag"][0]["code"], "SUBSETTED", "{p}");
    let p = s.get(&format!("/fhir/Patient/{id}?_summary=text")).await.json();
    assert!(p.get("name").is_none(), "{p}");
    let whole = s.get(&format!("/fhir/Patient/{id}")).await.json();
    assert!(whole["meta"].get("tag").is_none(), "untouched without the parameters: {whole}");
    assert_eq!(s.get(&format!("/fhir/Patient/{id}?_summary=false")).await.json(), whole);
    let r = s.get(&format!("/fhir/Patient/{id}?_summary=count")).await;
    r.assert_outcome(400, "value", Some("_summary"));
}

#[tokio::test]
async fn the_base_with_a_trailing_slash_is_the_same_endpoint() {
    let s = Server::new();
    let bundle = serde_json::json!({ "resourceType": "Bundle", "type": "batch", "entry": [
        { "request": { "method": "POST", "url": "Patient" }, "resource": crate::patient("9000000052") } ] });
    let r = s.post("/fhir/", &bundle).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["entry"][0]["response"]["status"], "201 Created");
    let r = s.get("/fhir/?_type=Patient").await;
    assert_eq!((r.status, r.json()["total"].as_u64()), (200, Some(1)));
}
