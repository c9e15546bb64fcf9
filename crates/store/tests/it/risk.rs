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
    use fhir::search::{IndexEntry, IndexValue};
    use store::access::{Relation, RelationKind};
    let index = vec![IndexEntry { param: param.into(), value: IndexValue::Token { system: None, code: code.into() } }];
    let relations: Vec<Relation> = practice
        .map(|p| Relation { party: format!("Organization/{p}"), kind: RelationKind::Registered, start: None, until: None })
        .into_iter()
        .collect();
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

fn at(score: RiskScore, practice: &str, last_emergency: Option<&str>) -> RiskScore {
    RiskScore { practice: Some(practice.into()), last_emergency: last_emergency.map(str::to_owned), ..score }
}

#[tokio::test]
async fn worklists_page_by_probability_within_practices_as_the_caller_may_see() {
    use store::access::{StaffVisibility, Visibility};
    use store::{Worklist, WorklistQuery};
    const NOW: i64 = 1_800_000_000_000;
    let gp1 = Visibility::Staff(StaffVisibility {
        parties: vec!["Organization/gp1".into()],
        organisation: "gp1".into(),
        administrative: None,
        demographics: &["Patient"],
        now: NOW,
        encounters_since: NOW,
        conferences_since: NOW,
    });
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
                    .worklist(WorklistQuery { list, practices, after, limit, visibility })
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
