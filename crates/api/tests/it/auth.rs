//! Who is asking, through HTTP: every `/fhir` route but the CapabilityStatement needs a bearer token; each
//! way a token can be wrong answers 401 with the Bearer challenge; scopes narrower than the request answer
//! 403; `/auth/token` signs in with a password or client credentials.

use crate::{patient, Res, Server};
use app::auth::{ActsAs, NewAccount};
use care::access::Role;
use serde_json::{json, Value};

const NONE: &[(&str, &str)] = &[("authorization", "")];

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn assert_challenged(r: &Res, what: &str) {
    r.assert_outcome(401, "login", None);
    let challenge = r.header("www-authenticate").unwrap_or_else(|| panic!("{what}: no WWW-Authenticate"));
    assert!(challenge.starts_with("Bearer"), "{what}: {challenge}");
}

/// A clinician of a practice, with a password.
async fn clinician(s: &Server) {
    for v in [
        json!({ "resourceType": "Organization", "id": "gp1", "name": "A practice" }),
        json!({ "resourceType": "Practitioner", "id": "pr1" }),
        json!({ "resourceType": "PractitionerRole", "id": "prr1", "practitioner": { "reference": "Practitioner/pr1" }, "organization": { "reference": "Organization/gp1" } }),
    ] {
        let path = format!("/fhir/{}/{}", v["resourceType"].as_str().expect("type"), v["id"].as_str().expect("id"));
        assert!(s.put(&path, &v).await.status < 300);
    }
    let new = NewAccount {
        username: "gp".into(),
        role: Role::Clinician,
        acts_as: ActsAs::PractitionerRole("prr1".into()),
        password: Some("correct horse battery".into()),
    };
    s.app().add_account(new).await.expect("account");
}

async fn sign_in(s: &Server, form: &str) -> Res {
    s.send("POST", "/auth/token", &[("content-type", "application/x-www-form-urlencoded"), ("authorization", "")], Some(form.as_bytes())).await
}

#[tokio::test]
async fn every_fhir_route_but_metadata_needs_a_token() {
    let s = Server::new();
    let id = s.create(patient("9000000041")).await;
    for (method, path) in [
        ("GET", format!("/fhir/Patient/{id}")),
        ("GET", "/fhir/Patient?name=x".to_owned()),
        ("POST", "/fhir/Patient/_search".to_owned()),
        ("GET", format!("/fhir/Patient/{id}/_history")),
        ("GET", "/fhir/_history".to_owned()),
        ("GET", format!("/fhir/Patient/{id}/$everything")),
        ("GET", format!("/fhir/Patient/{id}/Observation")),
        ("GET", "/fhir?_type=Patient".to_owned()),
        ("GET", "/fhir/$export".to_owned()),
        ("DELETE", format!("/fhir/Patient/{id}")),
    ] {
        let r = s.send(method, &path, NONE, None).await;
        assert_challenged(&r, &path);
    }
    let r = s.send("POST", "/fhir", NONE, Some(json!({ "resourceType": "Bundle", "type": "batch", "entry": [] }).to_string().as_bytes())).await;
    assert_challenged(&r, "a batch");
    assert_eq!(s.send("GET", "/fhir/metadata", NONE, None).await.status, 200);
    assert_eq!(s.send("GET", "/healthz", NONE, None).await.status, 200);
    assert_eq!(s.get(&format!("/fhir/Patient/{id}")).await.status, 200, "and with a token, it answers");
}

#[tokio::test]
async fn bad_tokens_are_refused_with_the_bearer_challenge() {
    let s = Server::new();
    clinician(&s).await;
    for token in ["Bearer", "Bearer ", "Bearer x.y.z", "Basic Z3A6cHc=", "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJncCJ9."] {
        let r = s.send("GET", "/fhir/Patient", &[("authorization", token)], None).await;
        assert_challenged(&r, token);
    }
    // Another server's token: a valid JWT, the wrong key.
    let other = Server::new();
    clinician(&other).await;
    let foreign = other.app().issue_token("gp", None).await.expect("token").token;
    let r = s.send("GET", "/fhir/Patient", &[("authorization", &bearer(&foreign))], None).await;
    assert_challenged(&r, "foreign");
    assert!(r.header("www-authenticate").is_some_and(|c| c.contains("invalid_token")));

    // Disabled: refused on the very next request.
    let token = s.app().issue_token("gp", None).await.expect("token").token;
    assert_eq!(s.send("GET", "/fhir/Patient", &[("authorization", &bearer(&token))], None).await.status, 200);
    s.app().disable_account("gp").await.expect("disable");
    assert_challenged(&s.send("GET", "/fhir/Patient", &[("authorization", &bearer(&token))], None).await, "disabled");
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let s = Server::configured(api::Options::default(), |c| c.token_ttl = std::time::Duration::ZERO, |_| {});
    clinician(&s).await;
    let token = s.app().issue_token("gp", None).await.expect("token").token;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let r = s.send("GET", "/fhir/Patient", &[("authorization", &bearer(&token))], None).await;
    assert_challenged(&r, "expired");
    assert!(r.text().contains("expired"), "{}", r.text());
}

#[tokio::test]
async fn scopes_narrower_than_the_request_answer_403() {
    let s = Server::new();
    clinician(&s).await;
    let mut registered = patient("9000000042");
    registered["generalPractitioner"] = json!([{ "reference": "Organization/gp1" }]);
    let id = s.create(registered).await;
    let narrow = s.app().issue_token("gp", Some("user/Observation.rs user/Patient.r")).await.expect("token").token;
    let narrow = bearer(&narrow);
    let h = [("authorization", narrow.as_str())];
    assert_eq!(s.send("GET", &format!("/fhir/Patient/{id}"), &h, None).await.status, 200, "user/Patient.r reads");
    assert_eq!(s.send("GET", "/fhir/Observation?code=x", &h, None).await.status, 200, "user/Observation.rs searches");
    for (method, path, body) in [
        ("GET", "/fhir/Patient?name=x".to_owned(), None),
        ("POST", "/fhir/Observation".to_owned(), Some(crate::observation(&id, "70"))),
        ("DELETE", format!("/fhir/Patient/{id}"), None),
        ("GET", "/fhir?_type=Patient,Observation".to_owned(), None),
        ("GET", format!("/fhir/Patient/{id}/$everything"), None),
        ("POST", "/fhir".to_owned(), Some(json!({ "resourceType": "Bundle", "type": "batch", "entry": [] }))),
    ] {
        let body = body.map(|b: Value| b.to_string());
        let r = s.send(method, &path, &h, body.as_deref().map(str::as_bytes)).await;
        r.assert_outcome(403, "forbidden", None);
    }
    // Bulk export is for integration systems, whatever a professional's scopes.
    let full = s.app().issue_token("gp", None).await.expect("token").token;
    let r = s.send("GET", "/fhir/$export", &[("authorization", &bearer(&full)), ("prefer", "respond-async")], None).await;
    r.assert_outcome(403, "forbidden", None);
}

#[tokio::test]
async fn sign_in_with_a_password_or_client_credentials() {
    let s = Server::new();
    clinician(&s).await;
    let r = sign_in(&s, "grant_type=password&username=gp&password=correct+horse+battery&scope=user%2FPatient.rs").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    assert_eq!((body["token_type"].as_str(), body["scope"].as_str()), (Some("Bearer"), Some("user/Patient.rs")));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let token = body["access_token"].as_str().expect("a token").to_owned();
    assert_eq!(s.send("GET", "/fhir/Patient?name=x", &[("authorization", &bearer(&token))], None).await.status, 200);

    for (form, error) in [
        ("grant_type=password&username=gp&password=wrong", "invalid_grant"),
        ("grant_type=password&username=nobody&password=correct+horse+battery", "invalid_grant"),
        ("grant_type=password&username=gp", "invalid_request"),
        ("grant_type=authorization_code&code=x", "unsupported_grant_type"),
        ("", "invalid_request"),
        ("grant_type=password&username=gp&password=correct+horse+battery&scope=system%2F*.rs", "invalid_scope"),
        ("grant_type=password&username=gp&password=correct+horse+battery&scope=nonsense", "invalid_scope"),
    ] {
        let r = sign_in(&s, form).await;
        assert_eq!(r.status, 400, "{form}: {}", r.text());
        assert_eq!(r.json()["error"], error, "{form}");
    }

    // A system client signs in with client credentials, as HTTP Basic or in the body.
    let client = NewAccount {
        username: "feed".into(),
        role: Role::IntegrationSystem,
        acts_as: ActsAs::System,
        password: Some("a client secret value".into()),
    };
    s.app().add_account(client).await.expect("client");
    let basic = format!("Basic {}", base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "feed:a client secret value"));
    let r = s
        .send(
            "POST",
            "/auth/token",
            &[("content-type", "application/x-www-form-urlencoded"), ("authorization", &basic)],
            Some(b"grant_type=client_credentials"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["scope"], "system/*.cruds");
    let r = sign_in(&s, "grant_type=client_credentials&client_id=feed&client_secret=a+client+secret+value").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = sign_in(&s, "grant_type=client_credentials").await;
    assert_eq!((r.status, r.json()["error"].as_str()), (401, Some("invalid_client")));
}

#[tokio::test]
async fn the_capability_statement_states_smart_security() {
    let s = Server::new();
    let c = s.send("GET", "/fhir/metadata", NONE, None).await.json();
    let security = &c["rest"][0]["security"];
    assert_eq!(security["service"][0]["coding"][0]["code"], "SMART-on-FHIR", "{security}");
    let uris = &security["extension"][0];
    assert_eq!(uris["url"], "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris");
    assert_eq!(uris["extension"][0]["valueUri"], "http://joinery.test/auth/token");
}

/// Puts a resource by its id.
async fn put(s: &Server, v: Value) {
    let path = format!("/fhir/{}/{}", v["resourceType"].as_str().expect("type"), v["id"].as_str().expect("id"));
    let r = s.put(&path, &v).await;
    assert!(r.status < 300, "{path}: {}", r.text());
}

async fn account(s: &Server, username: &str, role: Role, acts_as: ActsAs) -> String {
    s.app().add_account(NewAccount { username: username.into(), role, acts_as, password: None }).await.expect("account");
    bearer(&s.app().issue_token(username, None).await.expect("token").token)
}

fn parameter<'a>(p: &'a Value, name: &str) -> Vec<&'a Value> {
    p["parameter"].as_array().into_iter().flatten().filter(|x| x["name"] == name).collect()
}

#[tokio::test]
async fn access_answers_whether_and_why_for_the_caller() {
    let s = Server::new();
    let day = 86_400_000i64;
    let now = chrono_like_now();
    for (org, role_id) in [("gp1", "prr-gp1"), ("gp2", "prr-gp2"), ("hosp", "prr-hosp")] {
        put(&s, json!({ "resourceType": "Organization", "id": org })).await;
        put(&s, json!({ "resourceType": "Practitioner", "id": format!("pr-{org}") })).await;
        put(&s, json!({ "resourceType": "PractitionerRole", "id": role_id, "practitioner": { "reference": format!("Practitioner/pr-{org}") }, "organization": { "reference": format!("Organization/{org}") } })).await;
    }
    put(&s, json!({ "resourceType": "Patient", "id": "p1", "generalPractitioner": [{ "reference": "Organization/gp1" }] })).await;
    put(&s, json!({ "resourceType": "Patient", "id": "p2" })).await;
    let (start, end) = (iso(now - 12 * day), iso(now - 10 * day));
    put(&s, json!({ "resourceType": "Encounter", "id": "e1", "status": "finished", "class": { "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "EMER" },
        "subject": { "reference": "Patient/p1" }, "serviceProvider": { "reference": "Organization/hosp" }, "period": { "start": start, "end": end } })).await;

    let gp = account(&s, "gp", Role::Clinician, ActsAs::PractitionerRole("prr-gp1".into())).await;
    let other = account(&s, "other", Role::Clinician, ActsAs::PractitionerRole("prr-gp2".into())).await;
    let hosp = account(&s, "hosp", Role::Clinician, ActsAs::PractitionerRole("prr-hosp".into())).await;
    let analyst = account(&s, "analyst", Role::Analyst, ActsAs::PractitionerRole("prr-gp2".into())).await;
    let me = account(&s, "me", Role::Person, ActsAs::Patient("p1".into())).await;
    let ask = |token: String, patient: &'static str| {
        let s = &s;
        async move {
            let r = s.send("GET", &format!("/fhir/Patient/{patient}/$access"), &[("authorization", &token)], None).await;
            assert_eq!(r.status, 200, "{}", r.text());
            r.json()
        }
    };

    let a = ask(gp.clone(), "p1").await;
    assert_eq!(parameter(&a, "allowed")[0]["valueBoolean"], true, "{a}");
    let basis = &parameter(&a, "basis")[0]["part"];
    assert_eq!(basis[0]["valueCode"], "registered-practice", "{a}");
    assert_eq!(basis[1]["valueReference"]["reference"], "Organization/gp1");
    assert_eq!(parameter(&a, "view")[0]["valueString"], "whole");

    let a = ask(hosp, "p1").await;
    let basis = &parameter(&a, "basis")[0]["part"];
    assert_eq!(basis[0]["valueCode"], "recent-encounter", "{a}");
    let until =
        basis.as_array().expect("parts").iter().find(|p| p["name"] == "until").expect("until")["valueDateTime"].as_str().expect("text").to_owned();
    assert!(until.starts_with(&iso(now + 80 * day)[..10]), "ninety days after the encounter ended: {until}");

    let denied = ask(other.clone(), "p1").await;
    assert_eq!(parameter(&denied, "allowed")[0]["valueBoolean"], false);
    assert_eq!(parameter(&denied, "reason")[0]["valueCode"], "no-relationship");
    let nobody = ask(other, "no-such-person").await;
    assert_eq!(nobody, denied, "a person not on the record is answered as one without a relationship");

    assert_eq!(parameter(&ask(analyst, "p1").await, "reason")[0]["valueCode"], "role-sees-no-records");
    let own = ask(me.clone(), "p1").await;
    assert_eq!(
        (parameter(&own, "basis")[0]["part"][0]["valueCode"].as_str(), parameter(&own, "view")[0]["valueString"].as_str()),
        (Some("own-record"), Some("everything"))
    );
    assert_eq!(parameter(&ask(me, "p2").await, "reason")[0]["valueCode"], "not-their-record");
    let system = ask(bearer(&s.token().await), "p2").await;
    assert_eq!(parameter(&system, "basis")[0]["part"][0]["valueCode"], "integration-system");

    assert_challenged(&s.send("GET", "/fhir/Patient/p1/$access", NONE, None).await, "$access");
    let r = s.send("GET", "/fhir/Patient/bad$id/$access", &[("authorization", &gp)], None).await;
    assert_eq!(r.status, 400, "{}", r.text());
}

/// Now, in milliseconds since 1970.
fn chrono_like_now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Milliseconds since 1970 as an RFC 3339 instant.
fn iso(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)).unwrap_or_default()
}

#[tokio::test]
async fn paths_outside_the_fhir_api_are_not_found_without_a_token() {
    let s = Server::new();
    let r = s.send("GET", "/fhirx/Patient", NONE, None).await;
    r.assert_outcome(404, "not-found", None);
    assert_challenged(&s.send("GET", "/fhir", NONE, None).await, "the base");
}
