//! Who may see what, through HTTP: a professional sees a person's record only while a care relationship
//! holds, as its view shows it; what they may not see answers exactly as what does not exist, in reads,
//! searches and their totals, includes, `_has`, history, `$everything` and batches; writes outside a
//! relationship are refused; opt-outs and restricted items; relationships that end on a controllable clock.

use crate::{Res, Server};
use app::auth::{ActsAs, NewAccount};
use care::access::{Moment, Role};
use serde_json::{json, Value};

/// 2030-01-01T00:00:00Z: the moment the manual clock starts at.
const T0: i64 = 1_893_456_000_000;

/// A record of two people and the professionals around them, written by the tests' system client:
/// p1 is registered with practice gp1, p2 with gp2; the hospital `hosp` recorded two observations of p1,
/// one of them restricted; a hospital nurse is on p1's care team until T0 + 1 hour.
pub async fn record(s: &Server) {
    let role = |id: &str, practitioner: &str, org: &str| {
        json!({ "resourceType": "PractitionerRole", "id": id, "practitioner": { "reference": format!("Practitioner/{practitioner}") },
                "organization": { "reference": format!("Organization/{org}") } })
    };
    let mut resources = vec![];
    for org in ["gp1", "gp2", "hosp"] {
        resources.push(json!({ "resourceType": "Organization", "id": org, "name": org }));
    }
    for p in ["pr1", "pr2", "pr3", "pr4", "pr5"] {
        resources.push(json!({ "resourceType": "Practitioner", "id": p }));
    }
    resources.extend([role("gp-role", "pr1", "gp1"), role("gp2-role", "pr2", "gp2"), role("nurse-role", "pr3", "hosp")]);
    resources.extend([role("desk-role", "pr4", "gp1"), role("analyst-role", "pr5", "gp1")]);
    for (id, gp) in [("p1", "gp1"), ("p2", "gp2")] {
        resources.push(json!({ "resourceType": "Patient", "id": id, "name": [{ "family": format!("Family{id}") }],
                               "generalPractitioner": [{ "reference": format!("Organization/{gp}") }] }));
    }
    resources.push(observation("o2", "p1", "hosp", "1111-1", false));
    resources.push(observation("o3", "p1", "hosp", "3333-3", true));
    resources.push(observation("o4", "p2", "gp2", "1111-1", false));
    resources.push(json!({ "resourceType": "Appointment", "id": "a1", "status": "booked",
                           "participant": [{ "actor": { "reference": "Patient/p1" }, "status": "accepted" }] }));
    resources.push(json!({ "resourceType": "CareTeam", "id": "team1", "status": "active", "subject": { "reference": "Patient/p1" },
                           "participant": [{ "member": { "reference": "Practitioner/pr3" },
                                             "period": { "end": "2030-01-01T01:00:00Z" } }] }));
    for r in resources {
        let path = format!("/fhir/{}/{}", r["resourceType"].as_str().expect("type"), r["id"].as_str().expect("id"));
        let res = s.put(&path, &r).await;
        assert!(res.status < 300, "{path}: {}", res.text());
    }
    for (user, role, acts_as) in [
        ("gp", Role::Clinician, ActsAs::PractitionerRole("gp-role".into())),
        ("gp2", Role::Clinician, ActsAs::PractitionerRole("gp2-role".into())),
        ("nurse", Role::Clinician, ActsAs::PractitionerRole("nurse-role".into())),
        ("desk", Role::SupportStaff, ActsAs::PractitionerRole("desk-role".into())),
        ("analyst", Role::Analyst, ActsAs::PractitionerRole("analyst-role".into())),
        ("me", Role::Person, ActsAs::Patient("p1".into())),
    ] {
        s.app().add_account(NewAccount { username: user.into(), role, acts_as, password: None }).await.expect("account");
    }
}

fn observation(id: &str, patient: &str, recorded_by: &str, code: &str, restricted: bool) -> Value {
    let mut meta = json!({ "source": format!("Organization/{recorded_by}") });
    if restricted {
        meta["security"] = json!([{ "system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R" }]);
    }
    json!({ "resourceType": "Observation", "id": id, "meta": meta, "status": "final",
            "code": { "coding": [{ "system": "http://loinc.org", "code": code }] }, "subject": { "reference": format!("Patient/{patient}") } })
}

/// A request as `user` (a fresh token each time: tokens carry no access, the session is decided per request).
pub async fn as_user(s: &Server, user: &str, method: &str, path: &str, body: Option<&Value>) -> Res {
    let token = s.app().issue_token(user, None).await.expect("token").token;
    let auth = format!("Bearer {token}");
    let body = body.map(Value::to_string);
    s.send(method, path, &[("authorization", &auth)], body.as_deref().map(str::as_bytes)).await
}

/// The ids of a searchset's matches (or included resources), sorted, and its total.
fn ids(r: &Res, mode: &str) -> Vec<String> {
    assert_eq!(r.status, 200, "{}", r.text());
    let mut out: Vec<String> = r.json()["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["search"]["mode"] == mode)
        .map(|e| format!("{}/{}", e["resource"]["resourceType"].as_str().unwrap_or("?"), e["resource"]["id"].as_str().unwrap_or("?")))
        .collect();
    out.sort();
    out
}

pub fn server() -> Server {
    Server::configured(api::Options::default(), |c| c.clock = app::Clock::manual(Moment(T0)), |_| {})
}

#[tokio::test]
async fn a_professional_sees_only_the_records_their_relationships_open() {
    let s = server();
    record(&s).await;

    assert_eq!(as_user(&s, "gp", "GET", "/fhir/Patient/p1", None).await.status, 200);
    // An unseen record answers exactly as one that does not exist.
    let unseen = as_user(&s, "gp", "GET", "/fhir/Patient/p2", None).await;
    let absent = as_user(&s, "gp", "GET", "/fhir/Patient/p9", None).await;
    assert_eq!((unseen.status, absent.status), (404, 404));
    assert_eq!(unseen.text().replace("p2", "p9"), absent.text());
    assert_eq!(as_user(&s, "gp", "GET", "/fhir/Observation/o4", None).await.status, 404);
    assert_eq!(as_user(&s, "gp", "GET", "/fhir/Observation/o4/_history/1", None).await.status, 404);
    assert_eq!(as_user(&s, "gp", "GET", "/fhir/Observation/o4/_history", None).await.status, 404);
    assert_eq!(as_user(&s, "gp", "GET", "/fhir/Observation/o3", None).await.status, 404, "restricted by the hospital");

    // Searches, totals, counts, includes and _has hold only what may be seen.
    let all = as_user(&s, "gp", "GET", "/fhir/Observation?_total=accurate", None).await;
    assert_eq!(ids(&all, "match"), ["Observation/o2"]);
    assert_eq!(all.json()["total"], 1);
    assert_eq!(as_user(&s, "gp", "GET", "/fhir/Observation?_summary=count", None).await.json()["total"], 1);
    assert_eq!(as_user(&s, "gp", "GET", "/fhir/Patient?_summary=count", None).await.json()["total"], 1);
    assert_eq!(ids(&as_user(&s, "gp", "GET", "/fhir/Observation?_include=Observation:subject", None).await, "include"), ["Patient/p1"]);
    assert_eq!(ids(&as_user(&s, "gp", "GET", "/fhir/Patient?_revinclude=Observation:subject", None).await, "include"), ["Observation/o2"]);
    assert!(
        ids(&as_user(&s, "gp", "GET", "/fhir/Patient?_has:Observation:subject:code=3333-3", None).await, "match").is_empty(),
        "_has through a restricted item"
    );
    // Negated: p1's only observation the GP may see has the code, so nothing matches; the restricted one
    // (another code) does not exist for them.
    assert!(
        ids(&as_user(&s, "gp", "GET", "/fhir/Patient?_has:Observation:subject:code:not=1111-1", None).await, "match").is_empty(),
        "a negated _has through a restricted item"
    );
    assert_eq!(
        ids(&as_user(&s, "nurse", "GET", "/fhir/Patient?_has:Observation:subject:code:not=1111-1", None).await, "match"),
        ["Patient/p1"],
        "the hospital recorded it and sees it"
    );
    assert!(
        ids(&as_user(&s, "gp", "GET", "/fhir/Observation?subject:Patient.family=Familyp2", None).await, "match").is_empty(),
        "a chain to an unseen person"
    );
    assert_eq!(
        ids(&as_user(&s, "gp", "GET", "/fhir/Practitioner", None).await, "match").len(),
        5,
        "data that belongs to no one is seen by every professional"
    );
    let history = as_user(&s, "gp", "GET", "/fhir/Observation/_history", None).await;
    assert_eq!(history.json()["entry"].as_array().map(Vec::len), Some(1), "history: {}", history.text());
    assert_eq!(
        ids(&as_user(&s, "gp", "GET", "/fhir/Patient/p1/$everything", None).await, "match"),
        ["Appointment/a1", "CareTeam/team1", "Observation/o2", "Patient/p1"]
    );
    assert_eq!(as_user(&s, "gp", "GET", "/fhir/Patient/p2/$everything", None).await.status, 404);
    assert_eq!(as_user(&s, "gp", "GET", "/fhir/Patient/p2/Observation", None).await.status, 404);

    // A batch answers each entry as its own request would.
    let batch = json!({ "resourceType": "Bundle", "type": "batch", "entry": [
        { "request": { "method": "GET", "url": "Patient/p1" } },
        { "request": { "method": "GET", "url": "Patient/p2" } },
        { "request": { "method": "GET", "url": "Observation?subject=Patient/p2" } } ] });
    let r = as_user(&s, "gp", "POST", "/fhir", Some(&batch)).await;
    let statuses: Vec<String> =
        r.json()["entry"].as_array().expect("entries").iter().map(|e| e["response"]["status"].as_str().unwrap_or("").to_owned()).collect();
    assert_eq!(statuses, ["200 OK", "404 Not Found", "200 OK"], "{}", r.text());
    assert!(r.json()["entry"][2]["resource"]["entry"].as_array().is_none_or(Vec::is_empty), "{}", r.text());

    // Another practice sees its own patient only; the person sees all of their own record.
    assert_eq!(ids(&as_user(&s, "gp2", "GET", "/fhir/Observation", None).await, "match"), ["Observation/o4"]);
    assert_eq!(ids(&as_user(&s, "me", "GET", "/fhir/Observation", None).await, "match"), ["Observation/o2", "Observation/o3"]);
    assert_eq!(as_user(&s, "me", "GET", "/fhir/Patient/p2", None).await.status, 404);
    // Support staff: demographics and appointments; analysts: nothing person-level.
    assert!(ids(&as_user(&s, "desk", "GET", "/fhir/Observation", None).await, "match").is_empty());
    assert_eq!(ids(&as_user(&s, "desk", "GET", "/fhir/Appointment", None).await, "match"), ["Appointment/a1"]);
    assert_eq!(as_user(&s, "desk", "GET", "/fhir/Patient/p1", None).await.status, 200);
    assert!(ids(&as_user(&s, "analyst", "GET", "/fhir/Patient", None).await, "match").is_empty());
    assert_eq!(ids(&as_user(&s, "analyst", "GET", "/fhir/Organization", None).await, "match").len(), 3);
    // Bulk export is for integration systems.
    let export = as_user(&s, "gp", "GET", "/fhir/$export", None).await;
    assert_eq!(export.status, 403, "{}", export.text());
}

#[tokio::test]
async fn writes_stay_inside_relationships_and_carry_their_organisation() {
    let s = server();
    record(&s).await;
    let mut mine = observation("x", "p1", "elsewhere", "1111-1", false);
    mine.as_object_mut().expect("object").remove("id");
    let r = as_user(&s, "gp", "POST", "/fhir/Observation", Some(&mine)).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["meta"]["source"], "Organization/gp1", "a member of staff writes for their organisation");

    let mut theirs = mine.clone();
    theirs["subject"] = json!({ "reference": "Patient/p2" });
    // A reference to a person they may not see is answered as one to a person who does not exist.
    let refused = as_user(&s, "gp", "POST", "/fhir/Observation", Some(&theirs)).await;
    refused.assert_outcome(422, "not-found", Some("Observation.subject.reference"));
    let mut p2 = as_user(&s, "gp2", "GET", "/fhir/Patient/p2", None).await.json();
    p2["gender"] = json!("female");
    // An update of a record they may not see answers exactly as one of an id that does not exist: members
    // of staff do not create with PUT, so a taken id reveals nothing.
    let unseen = as_user(&s, "gp", "PUT", "/fhir/Patient/p2", Some(&p2)).await;
    unseen.assert_outcome(404, "not-found", None);
    let mut p9 = p2.clone();
    p9["id"] = json!("p9");
    let absent = as_user(&s, "gp", "PUT", "/fhir/Patient/p9", Some(&p9)).await;
    assert_eq!(unseen.text().replace("p2", "p9"), absent.text());
    assert_eq!(as_user(&s, "gp", "DELETE", "/fhir/Observation/o4", None).await.status, 404);
    assert_eq!(as_user(&s, "gp2", "GET", "/fhir/Patient/p2", None).await.json()["meta"]["versionId"], "1", "nothing was written");
    // Registering a new person is allowed before any relationship exists.
    let new = json!({ "resourceType": "Patient", "name": [{ "family": "New" }] });
    assert_eq!(as_user(&s, "gp", "POST", "/fhir/Patient", Some(&new)).await.status, 201);
    // A refused delete names only the referrers the caller may see: Patient/p1 points at gp1, and gp2 may not
    // see Patient/p1.
    let refused = as_user(&s, "gp2", "DELETE", "/fhir/Organization/gp1", None).await;
    refused.assert_outcome(409, "conflict", None);
    assert!(!refused.text().contains("Patient/p1"), "{}", refused.text());
    // Analysts do not write.
    as_user(&s, "analyst", "POST", "/fhir/Observation", Some(&mine)).await.assert_outcome(403, "forbidden", None);
}

#[tokio::test]
async fn items_coded_with_a_configured_sensitive_code_are_seen_only_by_their_recorder() {
    let sensitive = app::access::SensitiveCodes::parse(&["http://loinc.org|9999-9"]).expect("codes");
    let s = Server::configured(
        api::Options::default(),
        |c| {
            c.clock = app::Clock::manual(Moment(T0));
            c.sensitive_codes = std::sync::Arc::new(sensitive);
        },
        |_| {},
    );
    record(&s).await;
    // The hospital records a sensitive item (unlabelled) and an ordinary one about p1.
    let mut made = Vec::new();
    for code in ["9999-9", "1111-1"] {
        let mut item = observation("x", "p1", "hosp", code, false);
        item.as_object_mut().expect("object").remove("id");
        let r = as_user(&s, "nurse", "POST", "/fhir/Observation", Some(&item)).await;
        assert_eq!(r.status, 201, "{}", r.text());
        made.push(r.json()["id"].as_str().expect("id").to_owned());
    }
    let (sensitive, ordinary) = (format!("/fhir/Observation/{}", made[0]), format!("/fhir/Observation/{}", made[1]));
    // p1's GP sees the ordinary item and not the sensitive one, in reads and searches.
    assert_eq!(as_user(&s, "gp", "GET", &ordinary, None).await.status, 200);
    assert_eq!(as_user(&s, "gp", "GET", &sensitive, None).await.status, 404);
    let mut want = vec!["Observation/o2".to_owned(), format!("Observation/{}", made[1])];
    want.sort();
    assert_eq!(ids(&as_user(&s, "gp", "GET", "/fhir/Observation?code=9999-9,1111-1", None).await, "match"), want);
    // The recording organisation and the person themself see it.
    assert_eq!(as_user(&s, "nurse", "GET", &sensitive, None).await.status, 200);
    assert_eq!(as_user(&s, "me", "GET", &sensitive, None).await.status, 200);
    // Recoded to an ordinary code, it is shared again from that version on.
    let r = as_user(&s, "nurse", "PUT", &sensitive, Some(&observation(&made[0], "p1", "hosp", "1111-1", false))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(as_user(&s, "gp", "GET", &sensitive, None).await.status, 200);
}

fn opt_out(id: &str) -> Value {
    json!({ "resourceType": "Consent", "id": id, "status": "active",
            "scope": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy" }] },
            "category": [{ "coding": [{ "system": "http://loinc.org", "code": "59284-0" }] }],
            "patient": { "reference": "Patient/p1" }, "dateTime": "2029-12-01T00:00:00Z",
            "policyRule": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTOUT" }] },
            "provision": { "type": "deny" } })
}

#[tokio::test]
async fn an_opt_out_takes_effect_on_the_next_page() {
    let s = server();
    record(&s).await;
    let mine = json!({ "resourceType": "Observation", "status": "final", "code": { "coding": [{ "system": "http://loinc.org", "code": "1111-1" }] },
                       "subject": { "reference": "Patient/p1" } });
    assert_eq!(as_user(&s, "gp", "POST", "/fhir/Observation", Some(&mine)).await.status, 201);
    // Two observations in id order: the practice's own (a uuid) and the hospital's o2; one per page.
    let first = as_user(&s, "gp", "GET", "/fhir/Observation?_count=1&_sort=-_lastUpdated", None).await;
    assert_eq!(first.json()["entry"].as_array().map(Vec::len), Some(1), "{}", first.text());
    let next = first.json()["link"]
        .as_array()
        .expect("links")
        .iter()
        .find(|l| l["relation"] == "next")
        .and_then(|l| l["url"].as_str())
        .expect("next")
        .to_owned();
    let next = next.trim_start_matches(crate::BASE).to_owned();
    // The person opts out; from the next request on, the practice sees only what it recorded.
    let made = as_user(&s, "me", "POST", "/fhir/Consent", Some(&opt_out("c1"))).await;
    assert_eq!(made.status, 201, "{}", made.text());
    let c1 = made.json()["id"].as_str().expect("id").to_owned();
    let second = as_user(&s, "gp", "GET", &format!("/fhir{next}"), None).await;
    assert!(ids(&second, "match").is_empty(), "the hospital's observation after the opt-out: {}", second.text());
    let everything = ids(&as_user(&s, "gp", "GET", "/fhir/Patient/p1/$everything", None).await, "match");
    assert_eq!(everything.iter().filter(|k| k.starts_with("Observation/")).count(), 1, "its own only: {everything:?}");
    assert!(everything.contains(&"Patient/p1".to_owned()) && everything.contains(&format!("Consent/{c1}")), "{everything:?}");
    assert!(!everything.contains(&"Appointment/a1".to_owned()), "{everything:?}");
    // Withdrawn: the whole record again.
    let mut withdrawn = opt_out(&c1);
    withdrawn["status"] = json!("inactive");
    assert_eq!(as_user(&s, "me", "PUT", &format!("/fhir/Consent/{c1}"), Some(&withdrawn)).await.status, 200);
    assert_eq!(ids(&as_user(&s, "gp", "GET", "/fhir/Observation", None).await, "match").len(), 2);
}

#[tokio::test]
async fn a_relationship_that_ended_a_second_ago_no_longer_grants() {
    let s = server();
    record(&s).await;
    // The membership's end, 01:00:00Z, runs to the end of that second's first millisecond.
    let end = T0 + 3_600_001;
    s.app().config().clock.set(Moment(end - 1_000));
    assert_eq!(as_user(&s, "nurse", "GET", "/fhir/Patient/p1", None).await.status, 200, "on the care team");
    let access = as_user(&s, "nurse", "GET", "/fhir/Patient/p1/$access", None).await.json();
    assert_eq!(access["parameter"][0]["valueBoolean"], true);
    s.app().config().clock.set(Moment(end + 1_000));
    assert_eq!(as_user(&s, "nurse", "GET", "/fhir/Patient/p1", None).await.status, 404, "the membership ended a second ago");
    assert!(ids(&as_user(&s, "nurse", "GET", "/fhir/Observation", None).await, "match").is_empty());
    let access = as_user(&s, "nurse", "GET", "/fhir/Patient/p1/$access", None).await.json();
    assert_eq!(access["parameter"][0]["valueBoolean"], false);
}
