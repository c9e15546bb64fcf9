//! Risk scores on every backend: a full re-score replaces every row and keeps each person's tier before it;
//! an incremental re-score changes one person's row only; the latest run and its cuts read back.

use crate::contract::backends;
use store::{RiskRun, RiskScore};

fn score(person: &str, probability: f64, tier: &str, segment: Option<i32>) -> RiskScore {
    RiskScore {
        person: person.into(),
        run: 0,
        at_ms: 1_000,
        probability,
        tier: tier.into(),
        previous_tier: None,
        segment,
        efi_band: "fit".into(),
        practice: Some("gp1".into()),
        last_emergency: None,
        groups: Vec::new(),
    }
}

fn run(on_day: &str, people: i64) -> RiskRun {
    RiskRun { run: 0, at_ms: 1_000, on_day: on_day.into(), model_version: "v1".into(), people, lowest: [0.5, 0.2, 0.1] }
}

#[tokio::test]
async fn a_full_rescore_replaces_every_row_and_keeps_the_tier_before_it() {
    for (name, store, _keep) in backends() {
        assert_eq!(store.latest_risk_run().await.expect("run"), None, "{name}");
        assert_eq!(store.risk_score("p1").await.expect("score"), None, "{name}");
        let first = store
            .replace_risk_scores(
                run("2024-01-01", 3),
                vec![score("p1", 0.6, "very-high", Some(7)), score("p2", 0.05, "low", None), score("p3", 0.15, "rising", Some(3))],
            )
            .await
            .expect("first run");
        assert_eq!(first, 1, "{name}");
        let p1 = store.risk_score("p1").await.expect("score").expect("p1");
        assert_eq!(p1, RiskScore { run: 1, ..score("p1", 0.6, "very-high", Some(7)) }, "{name}");
        // The second run: p2 rose, p3 is no longer scored (died), p4 is new.
        let second = store
            .replace_risk_scores(
                run("2024-02-01", 3),
                vec![score("p1", 0.55, "very-high", Some(7)), score("p2", 0.3, "high", None), score("p4", 0.01, "low", Some(1))],
            )
            .await
            .expect("second run");
        assert_eq!(second, 2, "{name}");
        let p2 = store.risk_score("p2").await.expect("score").expect("p2");
        assert_eq!((p2.tier.as_str(), p2.previous_tier.as_deref(), p2.run), ("high", Some("low"), 2), "{name}");
        assert_eq!(store.risk_score("p3").await.expect("score"), None, "{name}: no longer scored");
        assert_eq!(store.risk_score("p4").await.expect("score").expect("p4").previous_tier, None, "{name}: new");
        let latest = store.latest_risk_run().await.expect("run").expect("a run");
        assert_eq!(latest, RiskRun { run: 2, ..run("2024-02-01", 3) }, "{name}");
        // An incremental re-score changes p4's row, and keeps its tier before the last full run.
        store.upsert_risk_score(RiskScore { run: 2, at_ms: 2_000, ..score("p4", 0.25, "high", Some(6)) }).await.expect("upsert");
        let p4 = store.risk_score("p4").await.expect("score").expect("p4");
        assert_eq!((p4.tier.as_str(), p4.previous_tier.as_deref(), p4.segment, p4.at_ms), ("high", None, Some(6), 2_000), "{name}");
        assert_eq!(store.risk_score("p2").await.expect("score").expect("p2").tier, "high", "{name}: others untouched");
    }
}

/// Writes a resource with one token (`param` = `code`) and, for a Patient, its registration with `practice`.
async fn put(store: &store::Store, t: &'static str, id: &'static str, person: &'static str, param: &str, code: &str, practice: Option<&'static str>) {
    use store::access::{Relation, RelationKind};
    let relations: Vec<Relation> = practice
        .map(|p| Relation { party: format!("Organization/{p}"), kind: RelationKind::Registered, start: None, until: None })
        .into_iter()
        .collect();
    put_with(store, t, id, person, vec![token(param, code)], relations, practice).await;
}

fn token(param: &str, code: &str) -> fhir::search::IndexEntry {
    fhir::search::IndexEntry { param: param.into(), value: fhir::search::IndexValue::Token { system: None, code: code.into() } }
}

/// Writes a resource with these index entries and relationships.
async fn put_with(
    store: &store::Store,
    t: &'static str,
    id: &'static str,
    person: &'static str,
    index: Vec<fhir::search::IndexEntry>,
    relations: Vec<store::access::Relation>,
    practice: Option<&'static str>,
) {
    store
        .write(move |tx| {
            tx.put(store::NewVersion {
                resource_type: t,
                id,
                version: 1,
                person_key: Some(person),
                last_updated: "2026-01-01T00:00:00.000Z",
                method: store::Method::Post,
                body: Some("{}"),
                index: &index,
                links: &[],
                recorded_by: practice,
                restricted: false,
                relations: &relations,
            })
        })
        .await
        .expect("put");
}

/// What a member of staff of practice gp1 may see.
fn staff_of_gp1() -> store::access::Visibility {
    const NOW: i64 = 1_800_000_000_000;
    store::access::Visibility::Staff(store::access::StaffVisibility {
        parties: vec!["Organization/gp1".into()],
        organisation: "gp1".into(),
        administrative: None,
        demographics: &["Patient"],
        now: NOW,
        encounters_since: NOW,
        conferences_since: NOW,
    })
}

fn at(score: RiskScore, practice: &str, last_emergency: Option<&str>) -> RiskScore {
    RiskScore { practice: Some(practice.into()), last_emergency: last_emergency.map(str::to_owned), ..score }
}

#[tokio::test]
async fn worklists_page_by_probability_within_practices_as_the_caller_may_see() {
    use store::access::Visibility;
    use store::{Worklist, WorklistQuery};
    const NOW: i64 = 1_800_000_000_000;
    let gp1 = staff_of_gp1();
    for (name, store, _keep) in backends() {
        for (id, practice) in [("p1", "gp1"), ("p2", "gp1"), ("p3", "gp2"), ("p4", "gp1")] {
            put(&store, "Patient", id, id, "identifier", "k", Some(practice)).await;
        }
        // p2 has an active care plan; p4 a cancelled one.
        put(&store, "CarePlan", "cp2", "p2", "status", "active", None).await;
        put(&store, "CarePlan", "cp4", "p4", "status", "revoked", None).await;
        let first = vec![
            at(score("p1", 0.7, "very-high", None), "gp1", None),
            at(score("p2", 0.3, "high", None), "gp1", None),
            at(score("p3", 0.8, "very-high", None), "gp2", None),
            at(score("p4", 0.01, "low", None), "gp1", Some("2024-05-25")),
        ];
        store.replace_risk_scores(run("2024-01-01", 4), first).await.expect("run");
        let page = |list: Worklist, practices: Option<Vec<String>>, after: Option<(f64, String)>, limit: usize, visibility: Visibility| {
            let store = store.clone();
            async move {
                store
                    .worklist(WorklistQuery { list, practices, coordinators: None, now_ms: NOW, after, limit, visibility })
                    .await
                    .expect("worklist")
                    .into_iter()
                    .map(|(patient, score)| {
                        assert_eq!(patient.id, score.person);
                        score.person
                    })
                    .collect::<Vec<_>>()
            }
        };
        let top = || Worklist::TopTiersWithoutCarePlan;
        assert_eq!(page(top(), None, None, 10, Visibility::All).await, ["p3", "p1"], "{name}: p2 has a care plan");
        assert_eq!(page(top(), Some(vec!["gp1".into()]), None, 10, Visibility::All).await, ["p1"], "{name}: one practice");
        assert_eq!(page(top(), None, None, 10, gp1.clone()).await, ["p1"], "{name}: only whom the caller may see");
        assert_eq!(page(top(), None, None, 1, Visibility::All).await, ["p3"], "{name}: a page of one");
        assert_eq!(page(top(), None, Some((0.8, "p3".into())), 1, Visibility::All).await, ["p1"], "{name}: the next page");
        let recent = || Worklist::RecentEmergency { since: "2024-05-20".into() };
        assert_eq!(page(recent(), None, None, 10, Visibility::All).await, ["p4"], "{name}");
        assert!(page(Worklist::RecentEmergency { since: "2024-05-26".into() }, None, None, 10, Visibility::All).await.is_empty(), "{name}");
        assert!(page(Worklist::TierRose, None, None, 10, Visibility::All).await.is_empty(), "{name}: nobody has a tier before");
        // The next run: p4 rose from low to high, p1 fell.
        let second = vec![
            at(score("p1", 0.2, "rising", None), "gp1", None),
            at(score("p2", 0.3, "high", None), "gp1", None),
            at(score("p3", 0.8, "very-high", None), "gp2", None),
            at(score("p4", 0.35, "high", None), "gp1", None),
        ];
        store.replace_risk_scores(run("2024-02-01", 4), second).await.expect("run");
        assert_eq!(page(Worklist::TierRose, None, None, 10, Visibility::All).await, ["p4"], "{name}");
        assert_eq!(page(top(), Some(vec!["gp1".into(), "gp2".into()]), None, 10, Visibility::All).await, ["p3", "p4"], "{name}");
    }
}

fn member(group: &str, reason: &str, because: &[&str], restricted: bool) -> store::GroupMember {
    store::GroupMember { group: group.into(), reason: reason.into(), because: because.iter().map(|b| (*b).to_owned()).collect(), restricted }
}

#[tokio::test]
async fn group_members_follow_the_rescores_keep_since_when_and_show_only_what_the_caller_may_see() {
    use store::access::Visibility;
    let gp1 = staff_of_gp1();
    for (name, store, _keep) in backends() {
        for (id, practice) in [("p1", "gp1"), ("p2", "gp2"), ("p3", "gp1")] {
            put(&store, "Patient", id, id, "identifier", "k", Some(practice)).await;
        }
        let members = |group: &'static str, visibility: Visibility| {
            let store = store.clone();
            async move {
                store
                    .group_members(group, &visibility)
                    .await
                    .expect("members")
                    .into_iter()
                    .map(|m| (m.person, m.reason, m.because.join(" "), m.since_ms))
                    .collect::<Vec<_>>()
            }
        };
        let with = |s: RiskScore, at_ms: i64, groups: Vec<store::GroupMember>| RiskScore { at_ms, groups, ..s };
        let first = vec![
            with(
                score("p1", 0.7, "high", None),
                1_000,
                vec![member("register-hyp", "HYP", &["Condition/h1"], false), member("cl", "aged-75-plus", &["Patient/p1"], false)],
            ),
            with(score("p2", 0.3, "high", None), 1_000, vec![member("register-hyp", "HYP", &["Condition/h2"], false)]),
            with(score("p3", 0.2, "low", None), 1_000, vec![member("register-mh", "MH", &["Condition/s3"], true)]),
        ];
        store.replace_risk_scores(run("2024-01-01", 3), first).await.expect("run");
        assert_eq!(
            members("register-hyp", Visibility::All).await,
            [("p1".into(), "HYP".into(), "Condition/h1".into(), 1_000), ("p2".into(), "HYP".into(), "Condition/h2".into(), 1_000)],
            "{name}"
        );
        assert_eq!(members("register-hyp", gp1.clone()).await.len(), 1, "{name}: gp1 sees only its own patient");
        assert_eq!(members("register-mh", Visibility::All).await.len(), 1, "{name}: the system sees a sensitive membership");
        assert!(members("register-mh", gp1.clone()).await.is_empty(), "{name}: staff do not see a sensitive membership");
        let own = Visibility::Person { patient: "p3".into(), types: None, restricted: true };
        assert_eq!(members("register-mh", own).await.len(), 1, "{name}: the person sees their own");
        let carer = Visibility::Person { patient: "p3".into(), types: None, restricted: false };
        assert!(members("register-mh", carer).await.is_empty(), "{name}: a carer does not");
        // The next run: p1 stays on the register (since kept) with new evidence and leaves the cohort; p2 leaves.
        let second = vec![
            with(score("p1", 0.7, "high", None), 2_000, vec![member("register-hyp", "HYP", &["Condition/h9"], false)]),
            with(score("p2", 0.3, "high", None), 2_000, vec![]),
            with(score("p3", 0.2, "low", None), 2_000, vec![member("register-mh", "MH", &["Condition/s3"], true)]),
        ];
        store.replace_risk_scores(run("2024-02-01", 3), second).await.expect("run");
        assert_eq!(members("register-hyp", Visibility::All).await, [("p1".into(), "HYP".into(), "Condition/h9".into(), 1_000)], "{name}");
        assert!(members("cl", Visibility::All).await.is_empty(), "{name}");
        // An incremental re-score: p2 joins, p1 leaves; then p3 dies and loses everything.
        store
            .upsert_risk_score(with(score("p2", 0.3, "high", None), 3_000, vec![member("cl", "adult-with-ltc", &["Patient/p2"], false)]))
            .await
            .expect("upsert");
        store.upsert_risk_score(with(score("p1", 0.7, "high", None), 3_000, vec![])).await.expect("upsert");
        store.delete_risk_score("p3").await.expect("delete");
        assert_eq!(members("cl", Visibility::All).await, [("p2".into(), "adult-with-ltc".into(), "Patient/p2".into(), 3_000)], "{name}");
        assert!(members("register-hyp", Visibility::All).await.is_empty(), "{name}");
        assert_eq!(store.group_sizes().await.expect("sizes"), [("cl".to_owned(), 1)], "{name}");
    }
}

#[tokio::test]
async fn worklists_by_caseload_and_overdue_care_plan_reviews() {
    use fhir::search::{IndexEntry, IndexValue};
    use store::access::{Relation, RelationKind, Visibility};
    use store::{Worklist, WorklistQuery};
    const NOW: i64 = 1_800_000_000_000;
    const DAY: i64 = 86_400_000;
    for (name, store, _keep) in backends() {
        for (id, practice) in [("p1", "gp1"), ("p2", "gp1"), ("p3", "gp1"), ("p4", "gp2")] {
            put(&store, "Patient", id, id, "identifier", "k", Some(practice)).await;
        }
        // pr1 coordinates p1 and p3 now, and coordinated p2 until yesterday; pr2 coordinates p4.
        let coordinates =
            |party: &str, until: Option<i64>| vec![Relation { party: party.into(), kind: RelationKind::Coordinator, start: Some(0), until }];
        put_with(&store, "CareTeam", "t1", "p1", vec![], coordinates("Practitioner/pr1", None), None).await;
        put_with(&store, "CareTeam", "t3", "p3", vec![], coordinates("PractitionerRole/pr1-role", None), None).await;
        put_with(&store, "CareTeam", "t2", "p2", vec![], coordinates("Practitioner/pr1", Some(NOW - DAY)), None).await;
        put_with(&store, "CareTeam", "t4", "p4", vec![], coordinates("Practitioner/pr2", None), None).await;
        // Care plans: p1's active one ended two days ago (overdue), p2's active one ends tomorrow, p3's
        // overdue one was completed, p4's active one is overdue.
        let plan = |status: &str, end: i64| {
            vec![token("status", status), IndexEntry { param: "date".into(), value: IndexValue::Date { low: 0, high: end } }]
        };
        put_with(&store, "CarePlan", "cp1", "p1", plan("active", NOW - 2 * DAY), vec![], None).await;
        put_with(&store, "CarePlan", "cp2", "p2", plan("active", NOW + DAY), vec![], None).await;
        put_with(&store, "CarePlan", "cp3", "p3", plan("completed", NOW - 2 * DAY), vec![], None).await;
        put_with(&store, "CarePlan", "cp4", "p4", plan("active", NOW - 3 * DAY), vec![], None).await;
        let scores =
            vec![score("p1", 0.4, "high", None), score("p2", 0.9, "very-high", None), score("p3", 0.6, "high", None), score("p4", 0.5, "high", None)];
        store.replace_risk_scores(run("2024-01-01", 4), scores).await.expect("run");
        let page = |list: Worklist, coordinators: Option<Vec<&str>>, after: Option<(f64, String)>, limit: usize| {
            let store = store.clone();
            let coordinators = coordinators.map(|c| c.into_iter().map(str::to_owned).collect());
            async move {
                let q = WorklistQuery { list, practices: None, coordinators, now_ms: NOW, after, limit, visibility: Visibility::All };
                store.worklist(q).await.expect("worklist").into_iter().map(|(_, s)| s.person).collect::<Vec<_>>()
            }
        };
        let pr1 = || Some(vec!["Practitioner/pr1", "PractitionerRole/pr1-role"]);
        assert_eq!(page(Worklist::ByRisk, pr1(), None, 10).await, ["p3", "p1"], "{name}: pr1's caseload now, highest risk first");
        assert_eq!(page(Worklist::ByRisk, pr1(), None, 1).await, ["p3"], "{name}");
        assert_eq!(page(Worklist::ByRisk, pr1(), Some((0.6, "p3".into())), 1).await, ["p1"], "{name}: the next page");
        assert_eq!(page(Worklist::ByRisk, None, None, 10).await, ["p2", "p3", "p4", "p1"], "{name}: everyone");
        let overdue = || Worklist::ReviewOverdue { before_ms: NOW };
        assert_eq!(page(overdue(), None, None, 10).await, ["p4", "p1"], "{name}: active plans past their period");
        assert_eq!(page(overdue(), pr1(), None, 10).await, ["p1"], "{name}: in pr1's caseload");
        assert_eq!(page(overdue(), Some(vec!["Practitioner/nobody"]), None, 10).await, Vec::<String>::new(), "{name}");
        assert_eq!(page(Worklist::TopTiersWithoutCarePlan, pr1(), None, 10).await, ["p3"], "{name}: p1 has an active plan");
    }
}
