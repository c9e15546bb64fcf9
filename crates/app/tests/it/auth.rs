//! Accounts and tokens: each kind of account, password sign-in, and every way a token is refused (missing
//! pieces, malformed, expired, signed by another key, a disabled account, scopes wider than the role).

use crate::import::{harness, harness_config, Harness};
use app::auth::{ActsAs, NewAccount};
use app::AppError;
use care::access::{Caller, Role};
use care::scope::Perm;
use serde_json::json;

async fn record(h: &Harness) {
    let create = |v: serde_json::Value| async move {
        h.app
            .as_system("test")
            .update(v["resourceType"].as_str().expect("type"), v["id"].as_str().expect("id"), v.clone(), None)
            .await
            .expect("write")
    };
    create(json!({ "resourceType": "Organization", "id": "gp1", "name": "A practice" })).await;
    create(json!({ "resourceType": "Practitioner", "id": "pr1" })).await;
    create(json!({ "resourceType": "PractitionerRole", "id": "prr1", "practitioner": { "reference": "Practitioner/pr1" }, "organization": { "reference": "Organization/gp1" } })).await;
    create(json!({ "resourceType": "Patient", "id": "pat1", "birthDate": "1940-01-01" })).await;
    create(json!({ "resourceType": "RelatedPerson", "id": "rp1", "patient": { "reference": "Patient/pat1" } })).await;
}

fn new(username: &str, role: Role, acts_as: ActsAs, password: Option<&str>) -> NewAccount {
    NewAccount { username: username.into(), role, acts_as, password: password.map(str::to_owned) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_kind_of_account_signs_in_as_its_caller() {
    let h = harness();
    record(&h).await;
    h.app.add_account(new("gp", Role::Clinician, ActsAs::PractitionerRole("prr1".into()), Some("a long enough password"))).await.expect("clinician");
    h.app.add_account(new("me", Role::Person, ActsAs::Patient("pat1".into()), None)).await.expect("person");
    h.app.add_account(new("carer", Role::Carer, ActsAs::RelatedPerson("rp1".into()), None)).await.expect("carer");
    h.app.add_account(new("feed", Role::IntegrationSystem, ActsAs::System, None)).await.expect("system");

    let t = h.app.sign_in("gp", "a long enough password", None).await.expect("sign in");
    let who = h.app.authenticate(&t.token).await.expect("valid");
    let Caller::Staff(staff) = &who.caller else { panic!("{:?}", who.caller) };
    assert_eq!((staff.organisation.as_str(), staff.practitioner.as_deref(), staff.role), ("gp1", Some("pr1"), Role::Clinician));
    assert_eq!(who.scopes.to_string(), "user/*.cruds");

    let t = h.app.issue_token("carer", Some("patient/Observation.rs")).await.expect("token");
    let who = h.app.authenticate(&t.token).await.expect("valid");
    assert_eq!(who.caller, Caller::Carer { user: "carer".into(), related_person: "rp1".into(), patient: "pat1".into() });
    assert!(who.scopes.allows("Observation", Perm::Search) && !who.scopes.allows("Patient", Perm::Read));

    let who = h.app.authenticate(&h.app.issue_token("me", None).await.expect("token").token).await.expect("valid");
    assert_eq!(who.caller, Caller::Person { user: "me".into(), patient: "pat1".into() });
    let who = h.app.authenticate(&h.app.issue_token("feed", None).await.expect("token").token).await.expect("valid");
    assert_eq!((who.caller, who.scopes.to_string()), (Caller::System { name: "feed".into() }, "system/*.cruds".to_owned()));

    let names: Vec<String> = h.app.accounts().await.expect("list").into_iter().map(|a| a.username).collect();
    assert_eq!(names, ["carer", "feed", "gp", "me"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_are_checked_when_made() {
    let h = harness();
    record(&h).await;
    let refused = |r: Result<store::Account, AppError>| matches!(r, Err(AppError::BadRequest(_)) | Err(AppError::NotFound(_)));
    assert!(
        refused(h.app.add_account(new("x", Role::Clinician, ActsAs::Patient("pat1".into()), None)).await),
        "a clinician acts as a PractitionerRole"
    );
    assert!(refused(h.app.add_account(new("x", Role::Clinician, ActsAs::PractitionerRole("nope".into()), None)).await), "it must exist");
    assert!(refused(h.app.add_account(new("x", Role::Person, ActsAs::Patient("pat1".into()), Some("short"))).await), "passwords are long");
    assert!(refused(h.app.add_account(new("bad name", Role::Person, ActsAs::Patient("pat1".into()), None)).await));
    h.app.add_account(new("x", Role::Person, ActsAs::Patient("pat1".into()), None)).await.expect("ok");
    assert!(matches!(h.app.add_account(new("x", Role::Person, ActsAs::Patient("pat1".into()), None)).await, Err(AppError::Conflict(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_refused_in_every_way_they_can_be_wrong() {
    let h = harness_config(|_| {}, |c| c.token_ttl = std::time::Duration::ZERO);
    record(&h).await;
    h.app.add_account(new("gp", Role::Clinician, ActsAs::PractitionerRole("prr1".into()), Some("a long enough password"))).await.expect("clinician");
    let unauthorized = |r: Result<app::auth::Authenticated, AppError>| matches!(r, Err(AppError::Unauthorized(_)));

    assert!(unauthorized(h.app.authenticate("").await), "empty");
    assert!(unauthorized(h.app.authenticate("not.a.token").await), "malformed");
    assert!(unauthorized(h.app.authenticate("eyJhbGciOiJub25lIn0.eyJzdWIiOiJncCJ9.").await), "alg none");
    assert!(matches!(h.app.sign_in("gp", "the wrong password!!", None).await, Err(AppError::Unauthorized(_))));
    assert!(matches!(h.app.sign_in("nobody", "a long enough password", None).await, Err(AppError::Unauthorized(_))));

    // Expired: valid for no time at all.
    let t = h.app.issue_token("gp", None).await.expect("token");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert!(matches!(h.app.authenticate(&t.token).await, Err(AppError::Unauthorized(m)) if m.contains("expired")));

    // Signed by another server's key.
    let other = harness();
    record(&other).await;
    other.app.add_account(new("gp", Role::Clinician, ActsAs::PractitionerRole("prr1".into()), None)).await.expect("clinician");
    let foreign = other.app.issue_token("gp", None).await.expect("token");
    assert!(matches!(h.app.authenticate(&foreign.token).await, Err(AppError::Unauthorized(m)) if m.contains("signature")));

    // A tampered payload keeps the old signature.
    let mut parts: Vec<String> = foreign.token.split('.').map(str::to_owned).collect();
    parts[1] = parts[1].chars().rev().collect();
    assert!(unauthorized(other.app.authenticate(&parts.join(".")).await), "tampered");

    // Disabled: the very next request is refused.
    let live = other.app.issue_token("gp", None).await.expect("token");
    assert!(other.app.authenticate(&live.token).await.is_ok());
    other.app.disable_account("gp").await.expect("disable");
    assert!(unauthorized(other.app.authenticate(&live.token).await), "disabled at once");
    assert!(matches!(other.app.issue_token("gp", None).await, Err(AppError::Unauthorized(_))));
    assert!(matches!(other.app.disable_account("nobody").await, Err(AppError::NotFound(_))));

    // Scopes: never wider than the role, never malformed.
    assert!(matches!(other.app.issue_token("gp", Some("user/*.rs")).await, Err(AppError::Unauthorized(_))), "still disabled");
    h.app.add_account(new("gp2", Role::Clinician, ActsAs::PractitionerRole("prr1".into()), None)).await.expect("clinician");
    assert!(matches!(h.app.issue_token("gp2", Some("system/*.rs")).await, Err(AppError::Forbidden(_))));
    assert!(matches!(h.app.issue_token("gp2", Some("user/Nothing.rs")).await, Err(AppError::BadRequest(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_checked_once_is_still_refused_when_it_expires_or_its_account_is_disabled() {
    let h = harness_config(|_| {}, |c| c.token_ttl = std::time::Duration::from_secs(1));
    record(&h).await;
    h.app.add_account(new("gp", Role::Clinician, ActsAs::PractitionerRole("prr1".into()), None)).await.expect("clinician");
    h.app.add_account(new("feed", Role::IntegrationSystem, ActsAs::System, None)).await.expect("system");
    let gp = h.app.issue_token("gp", None).await.expect("token").token;
    let feed = h.app.issue_token("feed", None).await.expect("token").token;
    // Used, so kept as checked; used again, answered from what was kept.
    for _ in 0..2 {
        assert!(h.app.authenticate(&gp).await.is_ok(), "valid through the second after it was issued");
        assert!(h.app.authenticate(&feed).await.is_ok());
    }
    h.app.disable_account("feed").await.expect("disable");
    assert!(matches!(h.app.authenticate(&feed).await, Err(AppError::Unauthorized(m)) if m.contains("disabled")));
    // Past the second its expiry names.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert!(matches!(h.app.authenticate(&gp).await, Err(AppError::Unauthorized(m)) if m.contains("expired")));
}
