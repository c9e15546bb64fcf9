//! The access decision inside the store's statements: relationships kept current on writes, and every read
//! (by id, version, many, search, count, history, a person's record, finds inside units) filtered by the
//! caller's visibility, on every backend.

use crate::contract::backends;
use fhir::search::{IndexEntry, IndexValue};
use store::access::{Relation, RelationKind, StaffVisibility, Visibility};
use store::search::{IndexTable, Predicate, Query, RecordQuery, SortKey, Test};
use store::{HistoryQuery, HistoryScope, Method, NewVersion, Store, TokenCriterion};

const NOW: i64 = 1_800_000_000_000;
const DAY: i64 = 86_400_000;

struct Item<'a> {
    t: &'a str,
    id: &'a str,
    person: Option<&'a str>,
    recorded_by: Option<&'a str>,
    restricted: bool,
    relations: Vec<Relation>,
}

fn item<'a>(t: &'a str, id: &'a str, person: Option<&'a str>, recorded_by: Option<&'a str>) -> Item<'a> {
    Item { t, id, person, recorded_by, restricted: false, relations: Vec::new() }
}

fn relation(party: &str, kind: RelationKind, start: Option<i64>, until: Option<i64>) -> Relation {
    Relation { party: party.into(), kind, start, until }
}

async fn put(store: &Store, it: Item<'static>, version: i64) {
    store
        .write(move |tx| {
            let index = [IndexEntry { param: "identifier".into(), value: IndexValue::Token { system: None, code: "k".into() } }];
            tx.put(NewVersion {
                resource_type: it.t,
                id: it.id,
                version,
                person_key: it.person,
                last_updated: "2026-01-01T00:00:00.000Z",
                method: if version == 1 { Method::Post } else { Method::Put },
                body: Some("{}"),
                index: &index,
                links: &[],
                recorded_by: it.recorded_by,
                restricted: it.restricted,
                relations: &it.relations,
            })
        })
        .await
        .expect("put");
}

fn staff(org: &str, practitioner: Option<&str>, administrative: bool, now: i64) -> Visibility {
    let mut parties = vec![format!("Organization/{org}")];
    parties.extend(practitioner.map(|p| format!("Practitioner/{p}")));
    Visibility::Staff(StaffVisibility {
        parties,
        organisation: org.into(),
        administrative: administrative.then_some(&["Patient", "Appointment"][..]),
        demographics: &["Patient"],
        now,
        encounters_since: now - 90 * DAY,
        conferences_since: now - DAY,
    })
}

async fn visible_ids(store: &Store, t: &str, vis: &Visibility) -> Vec<String> {
    let q = Query {
        resource_type: t.into(),
        filters: vec![vec![Predicate { param: "identifier".into(), test: Test::Token { system: None, code: Some("k".into()), negate: false } }]],
        sort: vec![SortKey { param: None, table: IndexTable::Token, descending: false }],
        limit: 100,
        visibility: vis.clone(),
        ..Query::default()
    };
    let rows = store.search(q.clone()).await.expect("search");
    let count = store.count(q).await.expect("count");
    assert_eq!(count as usize, rows.len(), "the count agrees with the rows");
    let many = store.read_many(rows.iter().map(|(s, _)| (s.resource_type.clone(), s.id.clone())).collect(), vis.clone()).await.expect("many");
    assert_eq!(many.len(), rows.len());
    rows.into_iter().map(|(s, _)| s.id).collect()
}

async fn reads(store: &Store, t: &str, id: &str, vis: &Visibility) -> bool {
    let current = store.read(t, id, vis).await.expect("read").is_some();
    let first = store.vread(t, id, 1, vis).await.expect("vread").is_some();
    let history = store
        .history(HistoryQuery {
            scope: HistoryScope::Instance(t.into(), id.into()),
            since: None,
            before_seq: None,
            limit: 10,
            visibility: vis.clone(),
        })
        .await
        .expect("history");
    assert_eq!(current, first, "{t}/{id}: read and vread agree");
    assert_eq!(current, !history.is_empty(), "{t}/{id}: read and history agree");
    current
}

#[tokio::test]
async fn reads_show_only_what_a_relationship_and_its_view_allow() {
    for (name, store, _keep) in backends() {
        // p1 is registered with the practice gp; p2 with no one the callers work for.
        let mut patient = item("Patient", "p1", Some("p1"), Some("gp"));
        patient.relations.push(relation("Organization/gp", RelationKind::Registered, None, None));
        put(&store, patient, 1).await;
        put(&store, item("Patient", "p2", Some("p2"), Some("other")), 1).await;
        put(&store, item("Observation", "o1", Some("p1"), Some("gp")), 1).await;
        put(&store, item("Observation", "o2", Some("p1"), Some("hospital")), 1).await;
        let mut secret = item("Observation", "o3", Some("p1"), Some("hospital"));
        secret.restricted = true;
        put(&store, secret, 1).await;
        put(&store, item("Observation", "o4", Some("p2"), Some("gp")), 1).await;
        put(&store, item("Appointment", "a1", Some("p1"), Some("hospital")), 1).await;
        put(&store, item("Organization", "gp", None, None), 1).await;

        let gp = staff("gp", None, false, NOW);
        assert_eq!(visible_ids(&store, "Observation", &gp).await, ["o1", "o2"], "{name}: restricted and unrelated are hidden");
        assert_eq!(visible_ids(&store, "Patient", &gp).await, ["p1"], "{name}");
        assert_eq!(visible_ids(&store, "Organization", &gp).await, ["gp"], "{name}: shared data is seen by every professional");
        assert!(reads(&store, "Observation", "o2", &gp).await, "{name}");
        assert!(!reads(&store, "Observation", "o3", &gp).await, "{name}: restricted by another organisation");
        assert!(!reads(&store, "Observation", "o4", &gp).await, "{name}: no relationship, although gp recorded it");
        let hospital = staff("hospital", None, false, NOW);
        assert!(visible_ids(&store, "Observation", &hospital).await.is_empty(), "{name}: no relationship with the hospital");

        let desk = staff("gp", None, true, NOW);
        assert_eq!(visible_ids(&store, "Observation", &desk).await, Vec::<String>::new(), "{name}: support staff see no observations");
        assert_eq!(visible_ids(&store, "Appointment", &desk).await, ["a1"], "{name}: but appointments");
        assert_eq!(visible_ids(&store, "Patient", &desk).await, ["p1"], "{name}: and demographics");

        let me = Visibility::Person { patient: "p1".into(), types: None, restricted: true };
        assert_eq!(visible_ids(&store, "Observation", &me).await, ["o1", "o2", "o3"], "{name}: the person sees everything of theirs");
        let carer = Visibility::Person { patient: "p1".into(), types: Some(vec!["Appointment".into()]), restricted: false };
        assert!(visible_ids(&store, "Observation", &carer).await.is_empty(), "{name}");
        assert_eq!(visible_ids(&store, "Appointment", &carer).await, ["a1"], "{name}");
        assert!(visible_ids(&store, "Observation", &Visibility::Shared).await.is_empty(), "{name}");
        assert_eq!(visible_ids(&store, "Observation", &Visibility::All).await, ["o1", "o2", "o3", "o4"], "{name}");

        // A person's record and finds inside a unit are filtered the same way.
        let record = store
            .person_record(RecordQuery { person: "p1".into(), types: None, after: None, since: None, limit: 100, visibility: gp.clone() })
            .await
            .expect("record");
        let keys: Vec<String> = record.iter().map(|s| format!("{}/{}", s.resource_type, s.id)).collect();
        assert_eq!(keys, ["Appointment/a1", "Observation/o1", "Observation/o2", "Patient/p1"], "{name}");
        let vis = gp.clone();
        let (found, sees_o3, sees_o1) = store
            .write(move |tx| {
                let crit = [TokenCriterion { param: "identifier".into(), system: None, code: "k".into() }];
                Ok::<_, store::StoreError>((
                    tx.find_visible("Observation", &crit, 10, &vis)?,
                    tx.sees("Observation", "o3", &vis)?,
                    tx.sees("Observation", "o1", &vis)?,
                ))
            })
            .await
            .expect("unit");
        assert_eq!((found, sees_o3, sees_o1), (vec!["o1".to_owned(), "o2".to_owned()], false, true), "{name}");

        // An opt-out: the practice keeps what it recorded, the demographics and the opt-out itself.
        let mut opt_out = item("Consent", "c1", Some("p1"), Some("hospital"));
        opt_out.relations.push(relation("", RelationKind::OptOut, Some(NOW - DAY), None));
        put(&store, opt_out, 1).await;
        put(&store, item("Consent", "c2", Some("p1"), Some("hospital")), 1).await;
        assert_eq!(visible_ids(&store, "Observation", &gp).await, ["o1"], "{name}: after the opt-out, only its own");
        assert_eq!(visible_ids(&store, "Patient", &gp).await, ["p1"], "{name}");
        assert_eq!(visible_ids(&store, "Consent", &gp).await, ["c1"], "{name}: the opt-out, not other consents");
        let before_it = staff("gp", None, false, NOW - 2 * DAY);
        assert_eq!(visible_ids(&store, "Observation", &before_it).await, ["o1", "o2"], "{name}: the opt-out starts when it says");
    }
}

#[tokio::test]
async fn relationships_hold_for_their_periods_and_follow_new_versions() {
    for (name, store, _keep) in backends() {
        let relations = vec![
            relation("Organization/ward", RelationKind::Encounter, Some(NOW - 10 * DAY), Some(NOW - 5 * DAY)),
            relation("Practitioner/nurse", RelationKind::Team, Some(NOW - DAY), Some(NOW)),
            relation("Practitioner/chair", RelationKind::Conference, Some(NOW - 2 * DAY), Some(NOW - DAY - 1)),
        ];
        // Written twice with the same relationships: the second version's rows replace the first's.
        for version in [1, 2] {
            let mut patient = item("Patient", "p1", Some("p1"), None);
            patient.relations = relations.clone();
            put(&store, patient, version).await;
        }
        // An encounter grants for the window after it ends, not before it starts.
        assert!(reads(&store, "Patient", "p1", &staff("ward", None, false, NOW)).await, "{name}");
        assert!(reads(&store, "Patient", "p1", &staff("ward", None, false, NOW - 5 * DAY + 90 * DAY - 1)).await, "{name}");
        assert!(!reads(&store, "Patient", "p1", &staff("ward", None, false, NOW - 5 * DAY + 90 * DAY)).await, "{name}");
        assert!(!reads(&store, "Patient", "p1", &staff("ward", None, false, NOW - 11 * DAY)).await, "{name}");
        // A membership that ended a millisecond ago no longer grants.
        assert!(reads(&store, "Patient", "p1", &staff("elsewhere", Some("nurse"), false, NOW - 1)).await, "{name}");
        assert!(!reads(&store, "Patient", "p1", &staff("elsewhere", Some("nurse"), false, NOW)).await, "{name}");
        // Support staff do not get personal relationships.
        assert!(!reads(&store, "Patient", "p1", &staff("elsewhere", Some("nurse"), true, NOW - 1)).await, "{name}");
        // A case conference: until the grace period after it ends.
        assert!(reads(&store, "Patient", "p1", &staff("x", Some("chair"), false, NOW - 2)).await, "{name}");
        assert!(!reads(&store, "Patient", "p1", &staff("x", Some("chair"), false, NOW - 1)).await, "{name}");

        // A new version replaces the relationships the old one stated.
        put(&store, item("Patient", "p1", Some("p1"), None), 3).await;
        assert!(!store.read("Patient", "p1", &staff("ward", None, false, NOW)).await.expect("read").is_some(), "{name}");
    }
}

#[tokio::test]
async fn a_break_glass_grant_opens_one_record_to_its_party_for_its_window_and_is_reviewed_once() {
    use store::{BreakGlassGrant, BreakGlassReview, GrantFilter};
    for (name, store, _keep) in backends() {
        put(&store, item("Patient", "p1", Some("p1"), Some("gp1")), 1).await;
        put(&store, item("Patient", "p2", Some("p2"), Some("gp1")), 1).await;
        let grant = BreakGlassGrant {
            id: "g1".into(),
            patient: "p1".into(),
            username: "ed".into(),
            party: "Practitioner/ed".into(),
            organisation: "hosp".into(),
            role: "clinician".into(),
            reason: "unconscious".into(),
            reason_code: Some("http://terminology.hl7.org/CodeSystem/v3-ActReason|ETREAT".into()),
            reason_display: None,
            from_ms: NOW,
            until_ms: NOW + 4 * 3_600_000,
            review: None,
        };
        let ed = |now| staff("hosp", Some("ed"), false, now);
        assert_eq!(visible_ids(&store, "Patient", &ed(NOW)).await, Vec::<String>::new(), "{name}: before the grant");
        store.add_break_glass(grant.clone()).await.expect("grant");
        assert_eq!(visible_ids(&store, "Patient", &ed(NOW)).await, ["p1"], "{name}: the one record");
        assert_eq!(visible_ids(&store, "Patient", &ed(NOW - 1)).await, Vec::<String>::new(), "{name}: not before its start");
        assert_eq!(visible_ids(&store, "Patient", &ed(grant.until_ms - 1)).await, ["p1"], "{name}: its last moment");
        assert_eq!(visible_ids(&store, "Patient", &ed(grant.until_ms)).await, Vec::<String>::new(), "{name}: not at its end");
        assert_eq!(visible_ids(&store, "Patient", &staff("hosp", Some("other"), false, NOW)).await, Vec::<String>::new(), "{name}: a colleague");
        assert_eq!(visible_ids(&store, "Patient", &staff("hosp", Some("ed"), true, NOW)).await, Vec::<String>::new(), "{name}: support staff");

        assert_eq!(store.break_glass_for("p1").await.expect("by person"), [grant.clone()], "{name}");
        assert!(store.break_glass_for("p2").await.expect("by person").is_empty(), "{name}");
        assert_eq!(store.break_glass_list(GrantFilter::Open, None, 10).await.expect("open"), [grant.clone()], "{name}");
        assert!(store.break_glass_list(GrantFilter::Reviewed, None, 10).await.expect("reviewed").is_empty(), "{name}");
        let review = BreakGlassReview { at_ms: NOW + 1, reviewer: "po".into(), outcome: "appropriate".into(), note: Some("ok".into()) };
        assert!(store.review_break_glass("g1", review.clone()).await.expect("review"), "{name}");
        let second = BreakGlassReview { outcome: "inappropriate".into(), ..review.clone() };
        assert!(!store.review_break_glass("g1", second).await.expect("again"), "{name}: once");
        assert!(matches!(store.review_break_glass("nope", review.clone()).await, Err(store::StoreError::NotFound(_))), "{name}");
        let reviewed = store.break_glass_list(GrantFilter::Reviewed, None, 10).await.expect("reviewed");
        assert_eq!(reviewed, [BreakGlassGrant { review: Some(review), ..grant }], "{name}: the first review stands");
        assert!(store.break_glass_list(GrantFilter::Open, None, 10).await.expect("open").is_empty(), "{name}");
    }
}
