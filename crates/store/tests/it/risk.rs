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
