//! Ready to shard by person: every SQL statement the store issues to serve one person's record (the
//! Patient read, compartment searches with their sorts, counts and paging, `$everything` with its paging
//! and the shared resources it adds) filters each table it reads on `person_key`, so a store distributed by
//! person (docs/scaling.md) answers it from that person's shard. Captured from the PostgreSQL store.

use crate::{Server, BASE};
use serde_json::{json, Value};

/// The tables whose rows belong to a person.
const PERSON_TABLES: &[&str] = &[
    "resource_version",
    "resource_current",
    "search_token",
    "search_string",
    "search_reference",
    "search_date",
    "search_number",
    "search_quantity",
    "search_uri",
    "search_composite",
    "resource_link",
];

/// Every person table the statement reads (`FROM t a` / `JOIN t a`) is filtered on its person key: as many
/// `a.person_key = …` or `a.person_key IS NULL` (shared data) conditions as the alias has readings.
fn filters_on_person_key(sql: &str) -> Result<(), String> {
    let words: Vec<&str> = sql.split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == ',').filter(|w| !w.is_empty()).collect();
    let mut readings: Vec<String> = Vec::new();
    for w in words.windows(3) {
        if (w[0].eq_ignore_ascii_case("FROM") || w[0].eq_ignore_ascii_case("JOIN")) && PERSON_TABLES.contains(&w[1]) {
            readings.push(w[2].to_owned());
        }
    }
    if readings.is_empty() {
        return Err(format!("reads no person table: {sql}"));
    }
    let mut aliases = readings.clone();
    aliases.sort();
    aliases.dedup();
    for a in aliases {
        let read = readings.iter().filter(|r| **r == a).count();
        let keyed = sql.matches(&format!("{a}.person_key = ")).count() + sql.matches(&format!("{a}.person_key IS NULL")).count();
        if keyed < read {
            return Err(format!("alias {a} is read {read} times but filtered on person_key {keyed} times: {sql}"));
        }
    }
    Ok(())
}

#[test]
fn the_checker_catches_a_read_without_the_key() {
    assert!(filters_on_person_key("SELECT c.id FROM resource_current c WHERE c.person_key = $1").is_ok());
    assert!(filters_on_person_key("SELECT c.id FROM resource_current c WHERE c.resource_type = $1").is_err());
    let one_of_two = "SELECT c.id FROM resource_current c WHERE c.person_key = $1 AND c.id IN (SELECT x.id FROM search_token x WHERE x.code = $2) \
                      AND c.id IN (SELECT x.id FROM search_date x WHERE x.person_key = $3)";
    assert!(filters_on_person_key(one_of_two).is_err(), "each reading needs its own condition");
}

async fn put(s: &Server, r: Value) {
    let uri = format!("/fhir/{}/{}", r["resourceType"].as_str().expect("type"), r["id"].as_str().expect("id"));
    let res = s.put(&uri, &r).await;
    assert!(res.status == 201 || res.status == 200, "{uri}: {}", res.text());
}

fn observation(id: &str, patient: &str, when: &str, kg: &str) -> Value {
    json!({"resourceType": "Observation", "id": id, "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
        "subject": {"reference": format!("Patient/{patient}")}, "effectiveDateTime": when,
        "performer": [{"reference": "Organization/org1"}],
        "valueQuantity": {"value": kg.parse::<f64>().expect("number"), "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}})
}

/// Follows `next` links from `first`, returning every page.
async fn pages(s: &Server, first: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut url = first.to_owned();
    for _ in 0..20 {
        let page = s.get(&url).await;
        assert_eq!(page.status, 200, "{url}: {}", page.text());
        let b = page.json();
        let next = b["link"].as_array().and_then(|l| l.iter().find(|x| x["relation"] == "next")).and_then(|x| x["url"].as_str()).map(str::to_owned);
        out.push(b);
        match next {
            Some(n) => url = n.replace(BASE, "/fhir"),
            None => break,
        }
    }
    out
}

fn ids(pages: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = pages
        .iter()
        .flat_map(|b| b["entry"].as_array().cloned().unwrap_or_default())
        .filter_map(|e| e["resource"]["id"].as_str().map(str::to_owned))
        .collect();
    out.sort();
    out.dedup(); // `$everything` includes what a page refers to on every page that refers to it
    out
}

#[tokio::test]
async fn every_statement_serving_one_persons_record_filters_on_the_person_key() {
    let s = Server::new();
    let Some(pg) = s.pg.clone() else {
        eprintln!("postgres: skipped (run with JOINERY_TEST_BACKEND=postgres and JOINERY_TEST_POSTGRES_URL to capture the SQL)");
        return;
    };
    put(&s, json!({"resourceType": "Organization", "id": "org1", "name": "Riverside Practice"})).await;
    for p in ["p1", "p2"] {
        put(
            &s,
            json!({"resourceType": "Patient", "id": p, "gender": "female", "birthDate": "1950-03-01",
            "generalPractitioner": [{"reference": "Organization/org1"}]}),
        )
        .await;
    }
    put(&s, observation("o1", "p1", "2024-01-10", "72.5")).await;
    put(&s, observation("o2", "p1", "2024-03-10", "80")).await;
    put(&s, observation("o3", "p1", "2024-05-10", "81")).await;
    put(&s, observation("o9", "p2", "2024-03-10", "60")).await;
    pg.take_statements();

    assert_eq!(ids(&pages(&s, "/fhir/Patient/p1/Observation").await), ["o1", "o2", "o3"]);
    assert_eq!(
        ids(&pages(&s, "/fhir/Patient/p1/Observation?date=ge2024-02&_sort=-date,value-quantity&_count=1&_total=accurate").await),
        ["o2", "o3"]
    );
    assert_eq!(ids(&pages(&s, "/fhir/Patient/p1/Observation?code=http://loinc.org|29463-7&value-quantity=gt75").await), ["o2", "o3"]);
    assert_eq!(ids(&pages(&s, "/fhir/Patient/p1/Patient").await), ["p1"]);
    let everything = pages(&s, "/fhir/Patient/p1/$everything?_count=2").await;
    assert_eq!(ids(&everything), ["o1", "o2", "o3", "org1", "p1"], "the record, and the shared Organization it refers to");
    assert_eq!(ids(&pages(&s, "/fhir/Patient/p1/$everything?_type=Observation&_since=2000-01-01").await), ["o1", "o2", "o3", "org1"]);

    let statements = pg.take_statements();
    assert!(statements.len() >= 10, "{statements:#?}");
    let unkeyed: Vec<String> = statements.iter().filter_map(|sql| filters_on_person_key(sql).err()).collect();
    assert!(unkeyed.is_empty(), "statements serving one person's record without its key:\n{}", unkeyed.join("\n\n"));
}
