//! Break-glass and who looked, through HTTP on either backend: a grant needs a stated reason, opens the record
//! through the same access decision for exactly its window (a manual clock, to the second), is listed for
//! review and reviewed once; the audit log is served as AuditEvent to privacy officers, searchable by
//! patient, agent, date and outcome, and to the person about their own record, by organisation, role and
//! reason, naming individuals only of the organisations configured to be named.

use crate::access::{as_user, record};
use crate::{Res, Server};
use app::auth::{ActsAs, NewAccount};
use care::access::{Moment, Role};
use serde_json::{json, Value};

/// 2030-01-01T00:00:00Z, as in the access tests.
const T0: i64 = 1_893_456_000_000;
const HOUR: i64 = 3_600_000;

/// The access tests' record, a privacy officer, and the hospital configured as naming its staff to people.
async fn set_up() -> Server {
    let s = Server::configured(
        api::Options::default(),
        |c| {
            c.clock = app::Clock::manual(Moment(T0));
            c.named_organisations = vec!["hosp".into()];
        },
        |_| {},
    );
    record(&s).await;
    let po =
        NewAccount { username: "po".into(), role: Role::PrivacyOfficer, acts_as: ActsAs::PractitionerRole("analyst-role".into()), password: None };
    s.app().add_account(po).await.expect("account");
    s
}

fn reason(text: Option<&str>) -> Value {
    let mut parameter = vec![
        json!({ "name": "reasonCode", "valueCoding": { "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "ETREAT", "display": "Emergency Treatment" } }),
    ];
    if let Some(t) = text {
        parameter.push(json!({ "name": "reason", "valueString": t }));
    }
    json!({ "resourceType": "Parameters", "parameter": parameter })
}

fn part<'a>(parts: &'a Value, name: &str) -> &'a Value {
    parts.as_array().and_then(|ps| ps.iter().find(|p| p["name"] == name)).unwrap_or(&Value::Null)
}

fn set_clock(s: &Server, at: i64) {
    s.app().config().clock.set(Moment(at));
}

fn instant(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).expect("instant").to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn grants(res: &Res) -> Vec<Value> {
    assert_eq!(res.status, 200, "{}", res.text());
    res.json()["parameter"].as_array().expect("parameters").iter().filter(|p| p["name"] == "grant").map(|p| p["part"].clone()).collect()
}

#[tokio::test]
async fn break_glass_needs_a_reason_opens_the_record_for_its_window_and_is_reviewed_once() {
    let s = set_up().await;
    let glass = "/fhir/Patient/p1/$break-glass";
    assert_eq!(as_user(&s, "gp2", "GET", "/fhir/Patient/p1", None).await.status, 404, "no relationship with p1");

    // Refused without a reason, with an empty one, with a body that is not Parameters; by roles that do not break glass.
    as_user(&s, "gp2", "POST", glass, Some(&reason(None))).await.assert_outcome(400, "required", Some("Parameters.parameter.where(name = 'reason')"));
    as_user(&s, "gp2", "POST", glass, Some(&reason(Some("  ")))).await.assert_outcome(
        400,
        "required",
        Some("Parameters.parameter.where(name = 'reason')"),
    );
    as_user(&s, "gp2", "POST", glass, Some(&json!({ "resourceType": "Patient" }))).await.assert_outcome(400, "invalid", Some("resourceType"));
    assert_eq!(as_user(&s, "desk", "POST", glass, Some(&reason(Some("r")))).await.status, 403, "support staff");
    assert_eq!(as_user(&s, "analyst", "POST", glass, Some(&reason(Some("r")))).await.status, 403, "analysts");
    assert_eq!(as_user(&s, "gp2", "POST", "/fhir/Patient/nobody/$break-glass", Some(&reason(Some("r")))).await.status, 404);
    assert_eq!(as_user(&s, "gp2", "GET", "/fhir/Patient/p1", None).await.status, 404, "nothing was granted");
    assert!(grants(&as_user(&s, "po", "GET", "/fhir/$break-glass-review", None).await).is_empty());

    // Granted for the configured four hours, to gp2's role.
    let res = as_user(&s, "gp2", "POST", glass, Some(&reason(Some("unconscious in ED, no history")))).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let granted = res.json()["parameter"].clone();
    assert_eq!(part(&granted, "agent")["valueReference"]["reference"], "PractitionerRole/gp2-role");
    assert_eq!(part(&granted, "end")["valueDateTime"], instant(T0 + 4 * HOUR));
    assert_eq!(part(&granted, "reasonCode")["valueCoding"]["code"], "ETREAT");
    let id = part(&granted, "id")["valueId"].as_str().expect("grant id").to_owned();

    // The record opens through the same decision: reads, searches, $access; restricted items stay closed.
    assert_eq!(as_user(&s, "gp2", "GET", "/fhir/Patient/p1", None).await.status, 200);
    assert_eq!(as_user(&s, "gp2", "GET", "/fhir/Observation/o2", None).await.status, 200);
    assert_eq!(as_user(&s, "gp2", "GET", "/fhir/Observation/o3", None).await.status, 404, "restricted to the hospital");
    let found = as_user(&s, "gp2", "GET", "/fhir/Observation?subject=Patient/p1", None).await.json();
    assert_eq!(found["total"], 1, "{found}");
    let access = as_user(&s, "gp2", "GET", "/fhir/Patient/p1/$access", None).await.json();
    let basis = access["parameter"].as_array().expect("parameters").iter().find(|p| p["name"] == "basis").expect("a basis").clone();
    assert_eq!(part(&basis["part"], "code")["valueCode"], "break-glass");
    assert_eq!(part(&basis["part"], "reason")["valueString"], "unconscious in ED, no history");
    assert_eq!(as_user(&s, "gp", "GET", "/fhir/Patient/p2", None).await.status, 404, "a grant opens one record only");

    // To the second: the last second of the window holds, one second after it does not.
    set_clock(&s, T0 + 4 * HOUR - 1_000);
    assert_eq!(as_user(&s, "gp2", "GET", "/fhir/Patient/p1", None).await.status, 200);
    set_clock(&s, T0 + 4 * HOUR + 1_000);
    assert_eq!(as_user(&s, "gp2", "GET", "/fhir/Patient/p1", None).await.status, 404, "one second after the window");
    let access = as_user(&s, "gp2", "GET", "/fhir/Patient/p1/$access", None).await.json();
    assert_eq!(part(&access["parameter"], "allowed")["valueBoolean"], false);

    // Flagged for review: only privacy officers list and review; once, with an outcome from the list.
    assert_eq!(as_user(&s, "gp", "GET", "/fhir/$break-glass-review", None).await.status, 403);
    let open = grants(&as_user(&s, "po", "GET", "/fhir/$break-glass-review", None).await);
    assert_eq!(open.len(), 1);
    assert_eq!(part(&open[0], "id")["valueId"], id.as_str());
    assert_eq!(part(&open[0], "user")["valueString"], "gp2");
    assert_eq!(part(&open[0], "patient")["valueReference"]["reference"], "Patient/p1");
    assert_eq!(part(&open[0], "reason")["valueString"], "unconscious in ED, no history");
    assert_eq!(part(&open[0], "reviewed")["valueBoolean"], false);
    let review = |outcome: &str, grant: &str| {
        json!({ "resourceType": "Parameters", "parameter": [
            { "name": "grant", "valueId": grant }, { "name": "outcome", "valueCode": outcome },
            { "name": "note", "valueString": "confirmed with the ED consultant" } ] })
    };
    assert_eq!(as_user(&s, "gp", "POST", "/fhir/$break-glass-review", Some(&review("appropriate", &id))).await.status, 403);
    as_user(&s, "po", "POST", "/fhir/$break-glass-review", Some(&review("fine", &id))).await.assert_outcome(
        400,
        "code-invalid",
        Some("Parameters.parameter.where(name = 'outcome')"),
    );
    assert_eq!(as_user(&s, "po", "POST", "/fhir/$break-glass-review", Some(&review("appropriate", "no-such-grant"))).await.status, 404);
    let done = as_user(&s, "po", "POST", "/fhir/$break-glass-review", Some(&review("appropriate", &id))).await;
    assert_eq!(done.status, 200, "{}", done.text());
    assert_eq!(part(&done.json()["parameter"], "outcome")["valueCode"], "appropriate");
    assert_eq!(part(&done.json()["parameter"], "reviewer")["valueString"], "po");
    assert_eq!(as_user(&s, "po", "POST", "/fhir/$break-glass-review", Some(&review("inappropriate", &id))).await.status, 409, "reviewed once");
    assert!(grants(&as_user(&s, "po", "GET", "/fhir/$break-glass-review", None).await).is_empty(), "none open");
    let reviewed = grants(&as_user(&s, "po", "GET", "/fhir/$break-glass-review?status=reviewed", None).await);
    assert_eq!(reviewed.len(), 1);
    assert_eq!(part(&reviewed[0], "outcome")["valueCode"], "appropriate", "the first review stands");
    assert_eq!(part(&reviewed[0], "note")["valueString"], "confirmed with the ED consultant");

    // The grant's own event says so.
    let events = as_user(&s, "po", "GET", "/fhir/AuditEvent?patient=p1&agent=gp2&outcome=0", None).await.json();
    let granting = entries(&events).into_iter().find(|e| e["subtype"][0]["code"] == "operation").expect("the break-glass event");
    assert_eq!(granting["purposeOfEvent"][0]["coding"][0]["code"], "BTG");
    assert_eq!(detail(&granting, "break-glass-reason"), Some("unconscious in ED, no history".into()));
    assert_eq!(s.app().verify_audit().await.expect("verify").map_err(|b| format!("{b:?}")).map(|n| n > 0), Ok(true));

    // Two more grants at the same moment: the listing pages through all three, oldest first, then by id.
    for user in ["nurse", "gp"] {
        assert_eq!(as_user(&s, user, "POST", "/fhir/Patient/p2/$break-glass", Some(&reason(Some("seen in ED")))).await.status, 200, "{user}");
    }
    let mut seen = Vec::new();
    let mut url = Some("/fhir/$break-glass-review?status=all&_count=1".to_owned());
    while let Some(u) = url.take() {
        let page = as_user(&s, "po", "GET", &u, None).await;
        let listed = grants(&page);
        assert_eq!(listed.len(), 1, "{}", page.text());
        seen.push(part(&listed[0], "id")["valueId"].as_str().unwrap_or_default().to_owned());
        url = page.json()["parameter"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == "next"))
            .and_then(|p| p["valueUri"].as_str())
            .and_then(|u| u.split_once("/fhir").map(|(_, rest)| format!("/fhir{rest}")));
    }
    let all: Vec<String> = grants(&as_user(&s, "po", "GET", "/fhir/$break-glass-review?status=all", None).await)
        .iter()
        .map(|g| part(g, "id")["valueId"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|id| !id.is_empty()) && seen[0] != seen[1] && seen[1] != seen[2], "{seen:?}");
    assert_eq!(seen, all, "pages of one hold what one page holds, in the same order");
    for (query, at) in [("?_cursor=nope", "_cursor"), ("?_count=many", "_count"), ("?status=some", "status"), ("?colour=red", "colour")] {
        as_user(&s, "po", "GET", &format!("/fhir/$break-glass-review{query}"), None).await.assert_outcome(400, "value", Some(at));
    }
}

fn entries(bundle: &Value) -> Vec<Value> {
    assert_eq!(bundle["resourceType"], "Bundle", "{bundle}");
    bundle["entry"].as_array().map(|es| es.iter().map(|e| e["resource"].clone()).collect()).unwrap_or_default()
}

/// The value of an entity detail of the event's first Patient entity.
fn detail(event: &Value, kind: &str) -> Option<String> {
    let entity = event["entity"].as_array()?.iter().find(|e| e["role"]["code"] == "1")?;
    entity["detail"].as_array()?.iter().find(|d| d["type"] == kind)?["valueString"].as_str().map(str::to_owned)
}

fn organisation(event: &Value) -> Option<&str> {
    event["agent"].as_array()?.iter().find(|a| a["requestor"] == false)?["who"]["reference"].as_str()
}

#[tokio::test]
async fn a_person_sees_which_organisations_looked_when_and_why() {
    let s = set_up().await;
    // Reads by two organisations through their relationships, and a third through break-glass.
    assert_eq!(as_user(&s, "gp", "GET", "/fhir/Patient/p1", None).await.status, 200);
    assert_eq!(as_user(&s, "nurse", "GET", "/fhir/Observation/o2", None).await.status, 200);
    assert_eq!(as_user(&s, "gp2", "POST", "/fhir/Patient/p1/$break-glass", Some(&reason(Some("collapsed in clinic")))).await.status, 200);
    set_clock(&s, T0 + HOUR / 2);
    assert_eq!(as_user(&s, "gp2", "GET", "/fhir/Patient/p1", None).await.status, 200);
    assert_eq!(as_user(&s, "gp2", "GET", "/fhir/Patient/p2", None).await.status, 200, "gp2's own patient, not p1's business");

    let res = as_user(&s, "me", "GET", "/fhir/AuditEvent?patient=p1", None).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let events = entries(&res.json());
    // Newest first; each names the organisation, role and reason.
    let staff: Vec<(String, String, Option<String>, Option<String>)> = events
        .iter()
        .filter(|e| organisation(e).is_some())
        .map(|e| {
            (
                organisation(e).unwrap_or_default().to_owned(),
                e["agent"][0]["role"][0]["coding"][0]["code"].as_str().unwrap_or_default().to_owned(),
                detail(e, "basis"),
                detail(e, "break-glass-reason"),
            )
        })
        .collect();
    let s_ = |x: &str| x.to_owned();
    assert_eq!(
        staff,
        vec![
            (s_("Organization/gp2"), s_("clinician"), Some(s_("break-glass")), Some(s_("collapsed in clinic"))),
            (s_("Organization/gp2"), s_("clinician"), Some(s_("break-glass")), Some(s_("collapsed in clinic"))),
            (s_("Organization/hosp"), s_("clinician"), Some(s_("care-team")), None),
            (s_("Organization/gp1"), s_("clinician"), Some(s_("registered-practice")), None),
        ],
        "{events:#?}"
    );
    for e in &events {
        assert!(e["recorded"].as_str().is_some_and(|t| t.starts_with("2030-01-01T00:")), "when: {e}");
        let entities = e["entity"].as_array().cloned().unwrap_or_default();
        let patients: Vec<&Value> = entities.iter().filter(|x| x["role"]["code"] == "1").map(|x| &x["what"]["reference"]).collect();
        assert_eq!(patients, [&json!("Patient/p1")], "only the person's own record: {e}");
        assert!(entities.iter().all(|x| x["role"]["code"] != "24"), "never the query text: {e}");
        let named = e["agent"][0].get("altId").is_some();
        match organisation(e) {
            Some("Organization/hosp") => assert_eq!(e["agent"][0]["altId"], "nurse", "the hospital names its staff"),
            Some(_) => assert!(!named && e["agent"][0].get("who").is_none(), "individuals unnamed: {e}"),
            None if e["agent"][0]["role"][0]["coding"][0]["code"] == "person" => {
                assert_eq!(e["agent"][0]["who"]["reference"], "Patient/p1", "the person's own look")
            }
            None => assert_eq!(detail(e, "basis").as_deref(), Some("integration-system"), "the set-up's writes: {e}"),
        }
    }
    // A carer the person granted part of their record lists the same, about the person only.
    let grant = json!({ "resourceType": "Consent", "id": "grant1", "status": "active",
        "scope": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy" }] },
        "category": [{ "coding": [{ "system": "http://loinc.org", "code": "59284-0" }] }],
        "patient": { "reference": "Patient/p1" }, "dateTime": "2029-12-01T00:00:00Z",
        "policyRule": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN" }] },
        "provision": { "type": "permit", "actor": [{ "role": { "coding": [{ "code": "GRANTEE" }] }, "reference": { "reference": "RelatedPerson/rp1" } }],
                       "class": [{ "system": "http://hl7.org/fhir/resource-types", "code": "Appointment" }] } });
    for r in [json!({ "resourceType": "RelatedPerson", "id": "rp1", "patient": { "reference": "Patient/p1" } }), grant] {
        let path = format!("/fhir/{}/{}", r["resourceType"].as_str().expect("type"), r["id"].as_str().expect("id"));
        assert!(s.put(&path, &r).await.status < 300, "{path}");
    }
    let carer = NewAccount { username: "carer".into(), role: Role::Carer, acts_as: ActsAs::RelatedPerson("rp1".into()), password: None };
    s.app().add_account(carer).await.expect("account");
    // The GP reads the person's appointment: the carer, granted appointments only, sees that look and not
    // the GP's read of the rest of the record, and of that look only the appointment.
    assert_eq!(as_user(&s, "gp", "GET", "/fhir/Appointment/a1", None).await.status, 200);
    let theirs = entries(&as_user(&s, "carer", "GET", "/fhir/AuditEvent?patient=p1&agent=gp", None).await.json());
    assert_eq!(theirs.len(), 1, "{theirs:#?}");
    assert_eq!(detail(&theirs[0], "basis").as_deref(), Some("registered-practice"));
    let types: Vec<&Value> =
        theirs[0]["entity"].as_array().into_iter().flatten().filter(|x| x["role"]["code"] == "4").map(|x| &x["what"]["type"]).collect();
    assert_eq!(types, [&json!("Appointment")]);
    let mine = entries(&as_user(&s, "me", "GET", "/fhir/AuditEvent?patient=p1&agent=gp", None).await.json());
    assert_eq!(mine.len(), 2, "the person sees both of the GP's looks");
    let patient_read =
        mine.iter().find(|e| e["entity"].as_array().into_iter().flatten().any(|x| x["what"]["type"] == "Patient")).expect("the read of p1");
    let own_id = patient_read["id"].as_str().expect("id");
    assert_eq!(as_user(&s, "carer", "GET", &format!("/fhir/AuditEvent/{own_id}"), None).await.status, 404, "not of the carer's grant");
    assert_eq!(as_user(&s, "carer", "GET", "/fhir/AuditEvent?patient=p2", None).await.status, 403);

    // Their own id only; and only people and privacy officers read the log.
    assert_eq!(as_user(&s, "me", "GET", "/fhir/AuditEvent?patient=p2", None).await.status, 403);
    assert_eq!(as_user(&s, "me", "GET", "/fhir/AuditEvent", None).await.status, 403);
    assert_eq!(as_user(&s, "gp", "GET", "/fhir/AuditEvent?patient=p1", None).await.status, 403);
    let one = events.iter().find(|e| organisation(e) == Some("Organization/gp1")).expect("gp's look");
    let id = one["id"].as_str().expect("id");
    let again = as_user(&s, "me", "GET", &format!("/fhir/AuditEvent/{id}"), None).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.json(), *one);
    assert_eq!(
        as_user(&s, "me", "POST", "/fhir/AuditEvent", Some(&json!({ "resourceType": "AuditEvent" }))).await.status,
        405,
        "never written through the API"
    );

    // Privacy officers: everything, by agent, outcome and date, in pages.
    let po = |q: &str| {
        let q = q.to_owned();
        let s = &s;
        async move { entries(&as_user(s, "po", "GET", &format!("/fhir/AuditEvent?{q}"), None).await.json()) }
    };
    let by_gp2 = po("agent=gp2").await;
    assert_eq!(by_gp2.len(), 3, "the grant and two reads");
    assert!(by_gp2.iter().all(|e| e["agent"][0]["altId"] == "gp2"));
    assert!(by_gp2.iter().all(|e| detail(e, "basis").is_none()), "a listing of everyone's events works out no reasons");
    let refused = po("outcome=4").await;
    assert!(refused.iter().all(|e| e["outcome"] == "4") && refused.iter().any(|e| e["outcomeDesc"] == "HTTP 403"), "{refused:#?}");
    assert!(po("date=lt2030-01-01").await.is_empty());
    let later = po("date=ge2030-01-01T00:10:00Z&patient=Patient/p1").await;
    // gp2's read of p1, the person's two looks that found events, the carer's grant written and the carer's look.
    let described: Vec<&str> = later.iter().filter_map(one_entity_query).collect();
    assert_eq!(
        described,
        [
            format!("GET /fhir/AuditEvent/{id}").as_str(),
            "GET /fhir/AuditEvent?patient=p1&agent=gp",
            "GET /fhir/AuditEvent?patient=p1&agent=gp",
            "GET /fhir/Appointment/a1",
            "PUT /fhir/Consent/grant1",
            "PUT /fhir/RelatedPerson/rp1",
            "GET /fhir/AuditEvent?patient=p1",
            "GET /fhir/Patient/p1"
        ]
    );
    assert!(later.iter().all(|e| e["recorded"].as_str() >= Some("2030-01-01T00:10:00Z")));
    let query = one_entity_query(&later[0]);
    assert!(query.is_some(), "privacy officers see the query: {}", later[0]);
    // Pages of two, followed to the end, hold every event once.
    let all = po("_count=500").await;
    let mut paged = Vec::new();
    let mut next = Some(format!("/fhir/AuditEvent?_count=2"));
    while let Some(url) = next.take() {
        let page = as_user(&s, "po", "GET", &url, None).await.json();
        paged.extend(entries(&page).into_iter().map(|e| e["id"].clone()));
        next = page["link"]
            .as_array()
            .and_then(|ls| ls.iter().find(|l| l["relation"] == "next"))
            .and_then(|l| l["url"].as_str())
            .map(|u| u.split_once("/fhir").map(|(_, rest)| format!("/fhir{rest}")).unwrap_or_default());
    }
    // Paging began after `all` was read: the events of later requests come first, then exactly `all`'s.
    let seq = |v: &Value| v.as_str().and_then(|x| x.parse::<i64>().ok()).expect("a sequence number");
    let ids: Vec<i64> = all.iter().map(|e| seq(&e["id"])).collect();
    let newest = ids[0];
    let paged: Vec<i64> = paged.iter().map(seq).filter(|n| *n <= newest).collect();
    assert_eq!(paged, ids, "pages in order, none lost, none twice");
    let one = as_user(&s, "po", "GET", &format!("/fhir/AuditEvent/{}", by_gp2[1]["id"].as_str().expect("id")), None).await.json();
    assert_eq!(detail(&one, "basis").as_deref(), Some("break-glass"), "one event read by id does: {one}");
    for id in ["9223372036854775807", "-9223372036854775808", "0", "x"] {
        assert_eq!(as_user(&s, "po", "GET", &format!("/fhir/AuditEvent/{id}"), None).await.status, 404, "{id}");
    }
    as_user(&s, "po", "GET", "/fhir/AuditEvent?date=yesterday", None).await.assert_outcome(400, "value", Some("date"));
    as_user(&s, "po", "GET", "/fhir/AuditEvent?colour=red", None).await.assert_outcome(400, "not-supported", Some("colour"));
}

fn one_entity_query(event: &Value) -> Option<&str> {
    event["entity"].as_array()?.iter().find(|e| e["role"]["code"] == "24")?["description"].as_str()
}
