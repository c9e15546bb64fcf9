//! `GET /fhir/Patient/{id}/$registers` through HTTP: the registers a person is on, each with the resources
//! that admitted them, worked out from what the caller may see (a restricted diagnosis counts only for those
//! who may see it), audited as a read of the person's record.

use crate::access::{as_user, record, server};
use serde_json::{json, Value};

fn condition(id: &str, code: &str, status: &str, recorded_by: &str, restricted: bool) -> Value {
    let mut meta = json!({ "source": format!("Organization/{recorded_by}") });
    if restricted {
        meta["security"] = json!([{ "system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R" }]);
    }
    json!({ "resourceType": "Condition", "id": id, "meta": meta,
            "clinicalStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": status }] },
            "code": { "coding": [{ "system": "http://snomed.info/sct", "code": code }] },
            "subject": { "reference": "Patient/p1" }, "onsetDateTime": "2015-03-01" })
}

fn register(code: &str, display: &str, indicator: &str, reasons: &[&str]) -> Value {
    let mut part = vec![
        json!({ "name": "code", "valueCoding": { "system": "urn:joinery:register", "code": code, "display": display } }),
        json!({ "name": "indicator", "valueString": indicator }),
    ];
    part.extend(reasons.iter().map(|r| json!({ "name": "reason", "valueReference": { "reference": r } })));
    json!({ "name": "register", "part": part })
}

#[tokio::test]
async fn registers_follow_what_the_caller_may_see_and_are_audited() {
    let s = server();
    record(&s).await;
    let p1 = json!({ "resourceType": "Patient", "id": "p1", "name": [{ "family": "Familyp1" }], "birthDate": "1950-06-01",
                     "generalPractitioner": [{ "reference": "Organization/gp1" }] });
    assert_eq!(s.put("/fhir/Patient/p1", &p1).await.status, 200);
    for c in [
        condition("c-hyp", "59621000", "active", "gp1", false),
        condition("c-dm", "44054006", "active", "hosp", true),
        condition("c-af", "49436004", "resolved", "gp1", false),
    ] {
        let path = format!("/fhir/Condition/{}", c["id"].as_str().expect("id"));
        assert!(s.put(&path, &c).await.status < 300);
    }
    let head = [json!({ "name": "patient", "valueReference": { "reference": "Patient/p1" } }), json!({ "name": "date", "valueDate": "2030-01-01" })];
    // The integration system sees everything: diabetes (restricted) and hypertension; the resolved atrial
    // fibrillation puts nobody on a register.
    let all = s.get("/fhir/Patient/p1/$registers").await;
    assert_eq!(all.status, 200, "{}", all.text());
    let mut expected = head.to_vec();
    expected.push(register("DM", "Diabetes mellitus", "DM017", &["Condition/c-dm"]));
    expected.push(register("HYP", "Hypertension", "HYP001", &["Condition/c-hyp"]));
    assert_eq!(all.json(), json!({ "resourceType": "Parameters", "parameter": expected }));
    // The GP may not see the hospital's restricted diagnosis: hypertension only.
    let gp = as_user(&s, "gp", "GET", "/fhir/Patient/p1/$registers", None).await;
    assert_eq!(gp.status, 200, "{}", gp.text());
    let mut expected = head.to_vec();
    expected.push(register("HYP", "Hypertension", "HYP001", &["Condition/c-hyp"]));
    assert_eq!(gp.json(), json!({ "resourceType": "Parameters", "parameter": expected }));
    // A person the GP has no relationship with answers as one who does not exist.
    assert_eq!(as_user(&s, "gp", "GET", "/fhir/Patient/p2/$registers", None).await.status, 404);
    assert_eq!(as_user(&s, "gp", "GET", "/fhir/Patient/p9/$registers", None).await.status, 404);
    assert_eq!(s.get("/fhir/Observation/o2/$registers").await.status, 404);
    // The GP's request is in the audit log as a read of p1's record.
    let log = s.app().audit_log(0, 10_000).await.expect("log");
    let mine: Vec<&app::audit::AuditEntry> =
        log.iter().filter(|e| e.record.username.as_deref() == Some("gp") && e.record.body.contains("/fhir/Patient/p1/$registers")).collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].record.patients, ["p1"]);
    assert_eq!(mine[0].record.outcome, 200);
}
