//! `GET /fhir/Patient/{id}/$registers`, `$frailty` and `$admission-risk` through HTTP: the registers a
//! person is on and their risks, each with the resources behind it, worked out from what the caller may see
//! (a restricted diagnosis or encounter counts only for those who may see it), audited as a read of the
//! person's record.

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

#[tokio::test]
async fn frailty_is_a_risk_assessment_with_each_deficit_and_its_evidence() {
    let s = server();
    record(&s).await;
    let p1 = json!({ "resourceType": "Patient", "id": "p1", "name": [{ "family": "Familyp1" }], "birthDate": "1940-06-01",
                     "generalPractitioner": [{ "reference": "Organization/gp1" }] });
    assert_eq!(s.put("/fhir/Patient/p1", &p1).await.status, 200);
    let mut refuted = condition("c-af", "49436004", "active", "gp1", false);
    refuted["verificationStatus"] =
        json!({ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "refuted" }] });
    for c in [condition("c-hyp", "59621000", "active", "gp1", false), condition("c-fall", "161898004", "resolved", "gp1", false), refuted] {
        assert!(s.put(&format!("/fhir/Condition/{}", c["id"].as_str().expect("id")), &c).await.status < 300);
    }
    // Five different medicines in the year before 2030-01-01: polypharmacy.
    for (i, code) in ["319283006", "318902004", "320000009", "319773006", "325278007"].into_iter().enumerate() {
        let m = json!({ "resourceType": "MedicationRequest", "id": format!("m{i}"), "status": "active", "intent": "order",
                        "medicationCodeableConcept": { "coding": [{ "system": "http://snomed.info/sct", "code": code }] },
                        "subject": { "reference": "Patient/p1" }, "authoredOn": "2029-10-01" });
        assert!(s.put(&format!("/fhir/MedicationRequest/m{i}"), &m).await.status < 300);
    }
    let r = s.get("/fhir/Patient/p1/$frailty").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let factor = |code: &str, display: &str, evidence: &[&str]| {
        let mut parts = vec![
            json!({ "url": "factor", "valueCoding": { "system": "urn:joinery:risk-model:efi:deficit", "code": code, "display": display } }),
            json!({ "url": "contribution", "valueDecimal": 0.0278 }),
        ];
        parts.extend(evidence.iter().map(|e| json!({ "url": "evidence", "valueReference": { "reference": e } })));
        json!({ "url": "urn:joinery:extension:risk-factor", "extension": parts })
    };
    let meds = ["MedicationRequest/m0", "MedicationRequest/m1", "MedicationRequest/m2", "MedicationRequest/m3", "MedicationRequest/m4"];
    let mut basis = vec!["Condition/c-fall", "Condition/c-hyp"];
    basis.extend(meds);
    let expected = json!({
        "resourceType": "RiskAssessment",
        "extension": [
            { "url": "urn:joinery:extension:risk-score", "valueDecimal": 0.0833 },
            factor("falls", "Falls", &["Condition/c-fall"]),
            factor("hypertension", "Hypertension", &["Condition/c-hyp"]),
            factor("polypharmacy", "Polypharmacy", &meds),
        ],
        "status": "final",
        "method": { "coding": [{ "system": "urn:joinery:risk-model", "code": "efi", "display": "electronic Frailty Index" }],
                    "text": "electronic Frailty Index (Clegg et al., Age and Ageing 2016)" },
        "subject": { "reference": "Patient/p1" },
        "occurrenceDateTime": "2030-01-01",
        "basis": basis.iter().map(|b| json!({ "reference": b })).collect::<Vec<_>>(),
        "prediction": [{
            "outcome": { "text": "Emergency admission within a year, against people who are fit" },
            "qualitativeRisk": { "coding": [{ "system": "urn:joinery:efi-band", "code": "fit", "display": "Fit" }] },
            "relativeRisk": 1
        }],
        "note": [{ "text": "3 of 36 deficits: eFI 0.083, fit" }]
    });
    let got = r.json();
    assert_eq!(got, expected);
    fhir::validate::validate_resource(&got).unwrap_or_else(|e| panic!("the RiskAssessment is valid FHIR: {e:?}"));
    // Someone the GP has no relationship with answers as absent; the request is audited as a read of p1.
    assert_eq!(as_user(&s, "gp", "GET", "/fhir/Patient/p2/$frailty", None).await.status, 404);
    assert_eq!(as_user(&s, "gp", "GET", "/fhir/Patient/p1/$frailty", None).await.status, 200);
    let log = s.app().audit_log(0, 10_000).await.expect("log");
    let event = log.iter().rev().find(|e| e.record.body.contains("/fhir/Patient/p1/$frailty")).expect("event");
    assert_eq!(event.record.patients, ["p1"]);
}

/// The factors of an admission RiskAssessment: each input's code, value and evidence.
fn admission_factors(assessment: &Value) -> Vec<(String, f64, Vec<String>)> {
    let extensions = assessment["extension"].as_array().expect("extensions");
    extensions
        .iter()
        .filter(|e| e["url"] == "urn:joinery:extension:risk-factor")
        .map(|e| {
            let parts = e["extension"].as_array().expect("parts");
            let code = parts.iter().find(|p| p["url"] == "factor").and_then(|p| p["valueCoding"]["code"].as_str()).expect("factor").to_owned();
            let value = parts.iter().find(|p| p["url"] == "value").and_then(|p| p["valueDecimal"].as_f64()).unwrap_or(1.0);
            let evidence = parts
                .iter()
                .filter(|p| p["url"] == "evidence")
                .filter_map(|p| p["valueReference"]["reference"].as_str())
                .map(str::to_owned)
                .collect();
            (code, value, evidence)
        })
        .collect()
}

#[tokio::test]
async fn admission_risk_lists_each_input_with_its_contribution_from_what_the_caller_may_see() {
    let s = server();
    record(&s).await;
    let p1 = json!({ "resourceType": "Patient", "id": "p1", "name": [{ "family": "Familyp1" }], "birthDate": "1940-06-01", "gender": "male",
                     "generalPractitioner": [{ "reference": "Organization/gp1" }] });
    assert_eq!(s.put("/fhir/Patient/p1", &p1).await.status, 200);
    let c = condition("c-hyp", "59621000", "active", "gp1", false);
    assert!(s.put("/fhir/Condition/c-hyp", &c).await.status < 300);
    let encounter = |id: &str, class: &str, restricted: bool| {
        let mut meta = json!({ "source": "Organization/hosp" });
        if restricted {
            meta["security"] = json!([{ "system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R" }]);
        }
        json!({ "resourceType": "Encounter", "id": id, "meta": meta, "status": "finished",
               "class": { "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": class },
               "priority": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-ActPriority", "code": "EM" }] },
               "subject": { "reference": "Patient/p1" }, "period": { "start": "2029-06-01T10:00:00Z" } })
    };
    assert!(s.put("/fhir/Encounter/enc-adm", &encounter("enc-adm", "IMP", false)).await.status < 300);
    assert!(s.put("/fhir/Encounter/enc-ae", &encounter("enc-ae", "EMER", true)).await.status < 300);
    let r = s.get("/fhir/Patient/p1/$admission-risk").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let got = r.json();
    fhir::validate::validate_resource(&got).unwrap_or_else(|e| panic!("the RiskAssessment is valid FHIR: {e:?}"));
    let factor = |code: &str, value: f64, evidence: &[&str]| (code.to_owned(), value, evidence.iter().map(|e| (*e).to_owned()).collect::<Vec<_>>());
    assert_eq!(
        admission_factors(&got),
        [
            factor("intercept", 1.0, &[]),
            factor("age-85-plus", 1.0, &[]),
            factor("male", 1.0, &[]),
            factor("long-term-conditions", 1.0, &["Condition/c-hyp"]),
            factor("emergency-admissions-1", 1.0, &["Encounter/enc-adm"]),
            factor("ae-attendances", 1.0, &["Encounter/enc-ae"]),
        ]
    );
    // The score is the intercept plus each contribution, each the value times the built-in coefficient;
    // the probability is its logistic.
    let model = care::admission::AdmissionModel::builtin();
    let keys = [
        care::admission::Feature::Age85Plus,
        care::admission::Feature::Male,
        care::admission::Feature::LongTermConditions,
        care::admission::Feature::Admissions1,
        care::admission::Feature::Attendances,
    ];
    let log_odds = model.definition.intercept + keys.iter().map(|f| model.coefficient(*f)).sum::<f64>();
    let score = got["extension"][0]["valueDecimal"].as_f64().expect("score");
    assert!((score - log_odds).abs() < 1e-3, "{score} against {log_odds}");
    let probability = got["prediction"][0]["probabilityDecimal"].as_f64().expect("probability");
    assert!((probability - care::admission::logistic(log_odds)).abs() < 1e-3, "{probability}");
    assert_eq!(got["method"]["coding"][0]["code"], "emergency-admission");
    assert!(got["prediction"][0].get("qualitativeRisk").is_none(), "no tier before the first re-score");
    // After a full re-score the tier is the one the latest run's cuts give (p1 and p2 are scored: the upper
    // tiers' shares of two people round to nobody, so both are low).
    let refresh = s.app().as_system("test").refresh_risk(None).await.expect("refresh");
    assert_eq!((refresh.people, refresh.tiers), (2, [0, 0, 0, 2]));
    let tiered = s.get("/fhir/Patient/p1/$admission-risk").await.json();
    assert_eq!(tiered["prediction"][0]["qualitativeRisk"]["coding"][0]["code"], "low", "{tiered}");
    // A change to p1's record re-scores p1 in the background (heart failure: one more register), recorded
    // as a job in the audit log; p2's row stays as the full re-score left it.
    let system = s.app().as_system("test");
    let before = system.stored_risk("p1").await.expect("scores").expect("p1 scored");
    let p2 = system.stored_risk("p2").await.expect("scores").expect("p2 scored");
    let hf = condition("c-hf", "84114007", "active", "gp1", false);
    assert!(s.put("/fhir/Condition/c-hf", &hf).await.status < 300);
    let mut after = before.clone();
    for _ in 0..200 {
        after = system.stored_risk("p1").await.expect("scores").expect("p1 scored");
        if after.probability != before.probability {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let model = care::admission::AdmissionModel::builtin();
    let rose = care::admission::logistic(log_odds + model.coefficient(care::admission::Feature::LongTermConditions));
    assert!((after.probability - rose).abs() < 1e-9, "{} against {rose}", after.probability);
    assert_eq!((after.run, after.previous_tier.clone()), (before.run, before.previous_tier.clone()));
    assert_eq!(system.stored_risk("p2").await.expect("scores"), Some(p2));
    let log = s.app().audit_log(0, 10_000).await.expect("log");
    let job = log.iter().rev().find(|e| e.record.body.contains("\"path\":\"risk rescore\"")).expect("the job's event");
    assert_eq!(job.record.patients, ["p1"]);
    let mut basis: Vec<&str> = got["basis"].as_array().expect("basis").iter().filter_map(|b| b["reference"].as_str()).collect();
    basis.sort_unstable();
    assert_eq!(basis, ["Condition/c-hyp", "Encounter/enc-adm", "Encounter/enc-ae"]);
    // The GP may not see the hospital's restricted attendance: it is not an input for them.
    let gp = as_user(&s, "gp", "GET", "/fhir/Patient/p1/$admission-risk", None).await;
    assert_eq!(gp.status, 200, "{}", gp.text());
    assert!(!admission_factors(&gp.json()).iter().any(|(code, _, _)| code == "ae-attendances"));
    assert_eq!(as_user(&s, "gp", "GET", "/fhir/Patient/p2/$admission-risk", None).await.status, 404);
    let log = s.app().audit_log(0, 10_000).await.expect("log");
    let event = log.iter().rev().find(|e| e.record.body.contains("/fhir/Patient/p1/$admission-risk")).expect("event");
    assert_eq!(event.record.patients, ["p1"]);
}

#[tokio::test]
async fn the_segment_is_the_most_severe_need_the_caller_may_see() {
    let s = server();
    record(&s).await;
    let p1 = json!({ "resourceType": "Patient", "id": "p1", "name": [{ "family": "Familyp1" }], "birthDate": "1980-06-01",
                     "generalPractitioner": [{ "reference": "Organization/gp1" }] });
    assert_eq!(s.put("/fhir/Patient/p1", &p1).await.status, 200);
    // Hypertension recorded by the practice; schizophrenia, restricted, by the hospital.
    for c in [condition("c-hyp", "59621000", "active", "gp1", false), condition("c-smi", "58214004", "active", "hosp", true)] {
        assert!(s.put(&format!("/fhir/Condition/{}", c["id"].as_str().expect("id")), &c).await.status < 300);
    }
    let expected = |code: &str, display: &str, reason: &str| {
        json!({ "resourceType": "Parameters", "parameter": [
            { "name": "patient", "valueReference": { "reference": "Patient/p1" } },
            { "name": "date", "valueDate": "2030-01-01" },
            { "name": "model", "valueString": "North West London Whole Systems Integrated Care segmentation (15 groups) (North West London Integrated Care 2015; IPPR 2018, figure 5.1)" },
            { "name": "segment", "valueCoding": { "system": "urn:joinery:segment:nwl", "code": code, "display": display } },
            { "name": "reason", "valueReference": { "reference": reason } },
        ] })
    };
    let all = s.get("/fhir/Patient/p1/$segment").await;
    assert_eq!(all.status, 200, "{}", all.text());
    assert_eq!(all.json(), expected("11", "Adults and older people with serious and enduring mental illness", "Condition/c-smi"));
    // The GP may not see the restricted diagnosis: an adult with a long-term condition.
    let gp = as_user(&s, "gp", "GET", "/fhir/Patient/p1/$segment", None).await;
    assert_eq!(gp.status, 200, "{}", gp.text());
    assert_eq!(gp.json(), expected("6", "Adults with one or more physical or mental long-term conditions", "Condition/c-hyp"));
    assert_eq!(as_user(&s, "gp", "GET", "/fhir/Patient/p2/$segment", None).await.status, 404);
    let log = s.app().audit_log(0, 10_000).await.expect("log");
    let event = log.iter().rev().find(|e| e.record.body.contains("/fhir/Patient/p1/$segment")).expect("event");
    assert_eq!(event.record.patients, ["p1"]);
}

/// The Patient ids of a worklist page, with each entry's tier.
fn worklist_ids(page: &Value) -> Vec<String> {
    page["entry"].as_array().map(|e| e.iter().filter_map(|x| x["resource"]["id"].as_str().map(str::to_owned)).collect()).unwrap_or_default()
}

#[tokio::test]
async fn worklists_list_whom_to_act_on_first_in_pages_as_the_caller_may_see() {
    let s = server();
    record(&s).await;
    // Both people had an emergency admission ten days before the clock's day; p1 is 90, p2 40.
    for (id, born) in [("p1", "1940-01-01"), ("p2", "1990-01-01")] {
        let gp = if id == "p1" { "gp1" } else { "gp2" };
        let patient =
            json!({ "resourceType": "Patient", "id": id, "birthDate": born, "generalPractitioner": [{ "reference": format!("Organization/{gp}") }] });
        assert_eq!(s.put(&format!("/fhir/Patient/{id}"), &patient).await.status, 200);
        let encounter = json!({ "resourceType": "Encounter", "id": format!("e-{id}"), "status": "finished",
            "class": { "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP" },
            "priority": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-ActPriority", "code": "EM" }] },
            "subject": { "reference": format!("Patient/{id}") }, "period": { "start": "2029-12-22T09:00:00Z" } });
        assert!(s.put(&format!("/fhir/Encounter/e-{id}"), &encounter).await.status < 300);
    }
    s.app().as_system("test").refresh_risk(None).await.expect("refresh");
    let all = s.get("/fhir/Patient/$worklist?list=recent-emergency").await;
    assert_eq!(all.status, 200, "{}", all.text());
    let page = all.json();
    assert_eq!(worklist_ids(&page), ["p1", "p2"], "the older person's risk is higher");
    let first = &page["entry"][0]["search"];
    assert_eq!(first["mode"], "match");
    let extension = &first["extension"][0];
    assert_eq!(extension["url"], "urn:joinery:extension:worklist");
    assert!(
        extension["extension"].as_array().expect("scores").iter().any(|e| e["url"] == "lastEmergency" && e["valueDate"] == "2029-12-22"),
        "{first}"
    );
    // Pages of one, following the next link.
    let one = s.get("/fhir/Patient/$worklist?list=recent-emergency&_count=1").await.json();
    assert_eq!(worklist_ids(&one), ["p1"]);
    let next = one["link"].as_array().expect("links").iter().find(|l| l["relation"] == "next").expect("a next page")["url"]
        .as_str()
        .expect("url")
        .to_owned();
    let path = next.split_once("/fhir/").map(|(_, p)| format!("/fhir/{p}")).expect("a path");
    let second = s.get(&path).await.json();
    assert_eq!(worklist_ids(&second), ["p2"]);
    assert!(!second["link"].as_array().expect("links").iter().any(|l| l["relation"] == "next"), "the last page");
    // One practice; and a GP sees only the people they have a relationship with.
    assert_eq!(worklist_ids(&s.get("/fhir/Patient/$worklist?list=recent-emergency&practice=Organization/gp2").await.json()), ["p2"]);
    let gp = as_user(&s, "gp", "GET", "/fhir/Patient/$worklist?list=recent-emergency", None).await;
    assert_eq!(gp.status, 200, "{}", gp.text());
    assert_eq!(worklist_ids(&gp.json()), ["p1"]);
    // The GP coordinates p1's care (a care team), and p1's care plan was due for review before today.
    let team = json!({ "resourceType": "CareTeam", "id": "coord-p1", "status": "active", "subject": { "reference": "Patient/p1" },
        "participant": [{ "member": { "reference": "PractitionerRole/gp-role" },
                          "role": [{ "coding": [{ "system": "urn:joinery:care-team-role", "code": "care-coordinator" }] }] }] });
    assert!(s.put("/fhir/CareTeam/coord-p1", &team).await.status < 300);
    let plan = json!({ "resourceType": "CarePlan", "id": "plan-p1", "status": "active", "intent": "plan",
                       "subject": { "reference": "Patient/p1" }, "period": { "start": "2029-06-01", "end": "2029-12-01" } });
    assert!(s.put("/fhir/CarePlan/plan-p1", &plan).await.status < 300);
    let mine = as_user(&s, "gp", "GET", "/fhir/Patient/$worklist?list=by-risk&caseload=me", None).await;
    assert_eq!(mine.status, 200, "{}", mine.text());
    assert_eq!(worklist_ids(&mine.json()), ["p1"]);
    assert_eq!(worklist_ids(&s.get("/fhir/Patient/$worklist?list=by-risk&caseload=PractitionerRole/gp-role").await.json()), ["p1"]);
    assert!(worklist_ids(&s.get("/fhir/Patient/$worklist?list=by-risk&caseload=PractitionerRole/gp2-role").await.json()).is_empty());
    assert_eq!(worklist_ids(&s.get("/fhir/Patient/$worklist?list=by-risk").await.json()), ["p1", "p2"]);
    assert_eq!(worklist_ids(&s.get("/fhir/Patient/$worklist?list=review-overdue").await.json()), ["p1"]);
    // Nobody's tier rose (one run), and with two people the top tiers are empty.
    assert!(worklist_ids(&s.get("/fhir/Patient/$worklist?list=tier-rose").await.json()).is_empty());
    assert!(worklist_ids(&s.get("/fhir/Patient/$worklist?list=top-tiers-without-care-plan").await.json()).is_empty());
    // Bad requests name the parameter at fault.
    for (query, at) in [
        ("", "list"),
        ("?list=everyone", "list"),
        ("?list=tier-rose&_cursor=zz", "_cursor"),
        ("?list=tier-rose&colour=red", "colour"),
        ("?list=by-risk&caseload=me", "caseload"),
        ("?list=by-risk&caseload=Organization/gp1", "caseload"),
    ] {
        let r = s.get(&format!("/fhir/Patient/$worklist{query}")).await;
        assert_eq!(r.status, 400, "{query}: {}", r.text());
        assert_eq!(r.json()["issue"][0]["expression"][0], at, "{query}");
    }
    // The GP's page is audited as a read of p1's record.
    let log = s.app().audit_log(0, 10_000).await.expect("log");
    let event = log.iter().rev().find(|e| e.record.username.as_deref() == Some("gp") && e.record.body.contains("$worklist")).expect("event");
    assert_eq!(event.record.patients, ["p1"]);
}

#[tokio::test]
async fn lace_scores_a_stay_from_what_the_caller_may_see() {
    let s = server();
    record(&s).await;
    let p1 =
        json!({ "resourceType": "Patient", "id": "p1", "birthDate": "1940-06-01", "generalPractitioner": [{ "reference": "Organization/gp1" }] });
    assert_eq!(s.put("/fhir/Patient/p1", &p1).await.status, 200);
    // Heart failure and COPD: Charlson 2.
    for c in [condition("c-hf", "84114007", "active", "gp1", false), condition("c-copd", "13645005", "active", "gp1", false)] {
        assert!(s.put(&format!("/fhir/Condition/{}", c["id"].as_str().expect("id")), &c).await.status < 300);
    }
    let encounter = |id: &str, class: &str, start: &str, end: Option<&str>, restricted: bool| {
        let mut e = json!({ "resourceType": "Encounter", "id": id, "meta": { "source": "Organization/hosp" }, "status": if end.is_some() { "finished" } else { "in-progress" },
            "class": { "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": class },
            "priority": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-ActPriority", "code": "EM" }] },
            "subject": { "reference": "Patient/p1" }, "period": { "start": start } });
        if let Some(end) = end {
            e["period"]["end"] = json!(end);
        }
        if restricted {
            e["meta"]["security"] = json!([{ "system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R" }]);
        }
        e
    };
    for e in [
        encounter("stay", "IMP", "2029-12-01T10:00:00Z", Some("2029-12-05T12:00:00Z"), false),
        encounter("ae", "EMER", "2029-10-01T10:00:00Z", Some("2029-10-01T14:00:00Z"), true),
        encounter("now", "IMP", "2029-12-29T10:00:00Z", None, false),
        encounter("clinic", "AMB", "2029-11-01T10:00:00Z", Some("2029-11-01T11:00:00Z"), false),
    ] {
        assert!(s.put(&format!("/fhir/Encounter/{}", e["id"].as_str().expect("id")), &e).await.status < 300);
    }
    let score = |r: &Value| r["extension"][0]["valueDecimal"].as_u64().expect("a score");
    // 4 days (4) + acute (3) + Charlson 2 (2) + one visit (1) = 10.
    let all = s.get("/fhir/Encounter/stay/$readmission-risk").await;
    assert_eq!(all.status, 200, "{}", all.text());
    let got = all.json();
    fhir::validate::validate_resource(&got).unwrap_or_else(|e| panic!("the RiskAssessment is valid FHIR: {e:?}"));
    assert_eq!((score(&got), got["status"].as_str(), got["occurrenceDateTime"].as_str()), (10, Some("final"), Some("2029-12-05")));
    let mut basis: Vec<&str> = got["basis"].as_array().expect("basis").iter().filter_map(|b| b["reference"].as_str()).collect();
    basis.sort_unstable();
    assert_eq!(basis, ["Condition/c-copd", "Condition/c-hf", "Encounter/ae", "Encounter/stay"]);
    // The GP may not see the hospital's restricted attendance: 9.
    let gp = as_user(&s, "gp", "GET", "/fhir/Encounter/stay/$readmission-risk", None).await;
    assert_eq!(gp.status, 200, "{}", gp.text());
    assert_eq!(score(&gp.json()), 9);
    // A stay still going on is scored to today (2030-01-01: 3 days), provisionally; a clinic visit is not a stay.
    let now = s.get("/fhir/Encounter/now/$readmission-risk").await.json();
    assert_eq!((now["status"].as_str(), score(&now)), (Some("preliminary"), 3 + 3 + 2 + 1));
    let clinic = s.get("/fhir/Encounter/clinic/$readmission-risk").await;
    assert_eq!(clinic.status, 422, "{}", clinic.text());
    assert_eq!(clinic.json()["issue"][0]["expression"][0], "Encounter.class");
    assert_eq!(s.get("/fhir/Patient/p1/$readmission-risk").await.status, 404);
}

/// A kept Group's members: (Patient id, reason, evidence).
fn group_members(group: &Value) -> Vec<(String, String, Vec<String>)> {
    group["member"]
        .as_array()
        .map(|members| {
            members
                .iter()
                .map(|m| {
                    let why = m["extension"][0]["extension"].as_array().cloned().unwrap_or_default();
                    let reason = why.iter().find(|e| e["url"] == "reason").and_then(|e| e["valueCoding"]["code"].as_str()).unwrap_or_default();
                    let evidence = why.iter().filter(|e| e["url"] == "evidence").filter_map(|e| e["valueReference"]["reference"].as_str());
                    let entity = m["entity"]["reference"].as_str().unwrap_or_default();
                    (entity.trim_start_matches("Patient/").to_owned(), reason.to_owned(), evidence.map(str::to_owned).collect())
                })
                .collect()
        })
        .unwrap_or_default()
}

fn member(id: &str, reason: &str, evidence: &[&str]) -> (String, String, Vec<String>) {
    (id.into(), reason.into(), evidence.iter().map(|e| (*e).to_owned()).collect())
}

#[tokio::test]
async fn registers_and_cohorts_are_groups_kept_current_with_each_members_reason() {
    let s = server();
    record(&s).await;
    // p1 is 89 and lives in Westminster, with hypertension and a restricted diagnosis of schizophrenia; p2 is
    // 39 and lives in Brent, with hypertension.
    for (id, born, district, gp) in [("p1", "1940-06-01", "Westminster", "gp1"), ("p2", "1990-06-01", "Brent", "gp2")] {
        let patient = json!({ "resourceType": "Patient", "id": id, "birthDate": born,
                              "address": [{ "use": "home", "district": district }],
                              "generalPractitioner": [{ "reference": format!("Organization/{gp}") }] });
        assert_eq!(s.put(&format!("/fhir/Patient/{id}"), &patient).await.status, 200);
    }
    let mut hyp2 = condition("c-hyp2", "59621000", "active", "gp2", false);
    hyp2["subject"]["reference"] = json!("Patient/p2");
    for c in [condition("c-hyp", "59621000", "active", "gp1", false), condition("c-smi", "58214004", "active", "hosp", true), hyp2] {
        assert!(s.put(&format!("/fhir/Condition/{}", c["id"].as_str().expect("id")), &c).await.status < 300);
    }
    // Before the first re-score a kept Group exists, with nobody in it.
    let empty = s.get("/fhir/Group/register-hyp").await;
    assert_eq!(empty.status, 200, "{}", empty.text());
    assert_eq!((empty.json()["quantity"].clone(), empty.json().get("member").cloned()), (json!(0), None));
    let refresh = s.app().as_system("test").refresh_risk(None).await.expect("refresh");
    assert!(refresh.groups.contains(&("register-hyp".to_owned(), 2)), "{:?}", refresh.groups);
    let hyp = s.get("/fhir/Group/register-hyp").await.json();
    assert_eq!((hyp["resourceType"].as_str(), hyp["actual"].as_bool(), hyp["quantity"].as_u64()), (Some("Group"), Some(true), Some(2)));
    assert_eq!(hyp["code"]["coding"][0]["code"], "HYP");
    assert_eq!(group_members(&hyp), [member("p1", "HYP", &["Condition/c-hyp"]), member("p2", "HYP", &["Condition/c-hyp2"])]);
    assert!(hyp["member"][0]["period"]["start"].is_string(), "{hyp}");
    // Central London admits p1 on age; p2 lives elsewhere and is under 65.
    let cl = s.get("/fhir/Group/integrated-care-central-london").await.json();
    assert_eq!(group_members(&cl), [member("p1", "aged-75-plus", &["Patient/p1"])]);
    assert!(group_members(&s.get("/fhir/Group/integrated-care-north-west-london").await.json()).is_empty());
    // The SMI cohort's membership rests on a restricted diagnosis: the system sees it, the GP does not.
    let smi = s.get("/fhir/Group/serious-mental-illness").await.json();
    assert_eq!(group_members(&smi), [member("p1", "on-mental-health-register", &["Condition/c-smi"])]);
    let gp_smi = as_user(&s, "gp", "GET", "/fhir/Group/serious-mental-illness", None).await;
    assert_eq!(gp_smi.status, 200, "{}", gp_smi.text());
    assert!(group_members(&gp_smi.json()).is_empty(), "{}", gp_smi.text());
    // The GP sees only the members they have a relationship with, and the read is audited as of them.
    let gp = as_user(&s, "gp", "GET", "/fhir/Group/register-hyp", None).await.json();
    assert_eq!(group_members(&gp), [member("p1", "HYP", &["Condition/c-hyp"])]);
    assert_eq!(gp["quantity"], 1);
    let log = s.app().audit_log(0, 10_000).await.expect("log");
    let event =
        log.iter().rev().find(|e| e.record.username.as_deref() == Some("gp") && e.record.body.contains("/fhir/Group/register-hyp")).expect("event");
    assert_eq!(event.record.patients, ["p1"]);
    // Nobody may write a kept Group.
    let put = s.put("/fhir/Group/register-hyp", &json!({ "resourceType": "Group", "id": "register-hyp", "type": "person", "actual": true })).await;
    assert_eq!(put.status, 409, "{}", put.text());
    assert_eq!(s.delete("/fhir/Group/integrated-care-central-london").await.status, 409);
    let bundle = |kind: &str| {
        json!({ "resourceType": "Bundle", "type": kind, "entry": [{
            "resource": { "resourceType": "Group", "id": "serious-mental-illness", "type": "person", "actual": true },
            "request": { "method": "PUT", "url": "Group/serious-mental-illness" } }] })
    };
    assert_eq!(s.post("/fhir", &bundle("transaction")).await.status, 409, "nor in a transaction");
    let batch = s.post("/fhir", &bundle("batch")).await.json();
    assert!(batch["entry"][0]["response"]["status"].as_str().is_some_and(|st| st.starts_with("409")), "nor in a batch: {batch}");
    // A client holding the SMI cohort's ETag is told it has not changed, until it has.
    let etag = s.get("/fhir/Group/serious-mental-illness").await.header("etag").expect("an ETag").to_owned();
    assert_eq!(s.send("GET", "/fhir/Group/serious-mental-illness", &[("if-none-match", &etag)], None).await.status, 304);
    // A change to p2's record puts them in the SMI cohort in the background.
    let mut smi2 = condition("c-smi2", "58214004", "active", "gp2", false);
    smi2["subject"]["reference"] = json!("Patient/p2");
    assert!(s.put("/fhir/Condition/c-smi2", &smi2).await.status < 300);
    let mut members = Vec::new();
    for _ in 0..200 {
        members = group_members(&s.get("/fhir/Group/serious-mental-illness").await.json());
        if members.len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(
        members,
        [member("p1", "on-mental-health-register", &["Condition/c-smi"]), member("p2", "on-mental-health-register", &["Condition/c-smi2"])]
    );
    let stale = s.send("GET", "/fhir/Group/serious-mental-illness", &[("if-none-match", &etag)], None).await;
    assert_eq!(stale.status, 200, "the members changed between full re-scores: the old ETag no longer matches");
    // A Group that is not kept is read from the record as any other resource.
    assert_eq!(s.get("/fhir/Group/register-xyz").await.status, 404);
    // The daily schedule's re-score is a job of the system, audited.
    let scheduled = s.app().scheduled_refresh().await.expect("scheduled refresh");
    assert_eq!(scheduled.run, refresh.run + 1);
    let log = s.app().audit_log(0, 10_000).await.expect("log");
    let job = log.iter().rev().find(|e| e.record.body.contains("\"path\":\"risk refresh\"")).expect("the job's event");
    assert_eq!(job.record.outcome, 200);
    assert_eq!(job.record.patients, ["p1", "p2"]);
}
