//! Charlson and LACE on hand-built records: every LACE boundary from the published point table (0 and 19
//! included), the Charlson groups with a severe form superseding the milder, the visits counted; property:
//! another diagnosis never lowers LACE.

use care::readmission::{charlson_points, days_between, lace, length_points, Charlson};
use care::registers::{Coded, Day, Emergency, EmergencyKind, Facts};
use proptest::prelude::*;

const SCT: &str = "http://snomed.info/sct";

fn day(s: &str) -> Day {
    Day::parse(s, false).expect("a date")
}

fn coded(reference: &str, code: &str) -> Coded {
    Coded { reference: reference.into(), system: SCT.into(), code: code.into(), date: Some(day("2020-01-01")), current: true, refuted: false }
}

fn person(diagnoses: &[(&str, &str)], attendances: &[(&str, &str)]) -> Facts {
    Facts {
        has_person: true,
        birth_date: Some(day("1950-01-01")),
        diagnoses: diagnoses.iter().map(|(r, c)| coded(r, c)).collect(),
        emergencies: attendances
            .iter()
            .map(|(r, d)| Emergency { reference: (*r).into(), kind: EmergencyKind::Attendance, date: Some(day(d)) })
            .collect(),
        ..Facts::default()
    }
}

#[test]
fn the_point_tables_hold_at_every_boundary() {
    let length: Vec<(i64, u32)> = [0, 1, 2, 3, 4, 6, 7, 13, 14, 60].into_iter().map(|d| (d, length_points(d))).collect();
    assert_eq!(length, [(0, 0), (1, 1), (2, 2), (3, 3), (4, 4), (6, 4), (7, 5), (13, 5), (14, 7), (60, 7)]);
    let charlson: Vec<u32> = (0..=6).map(charlson_points).collect();
    assert_eq!(charlson, [0, 1, 2, 3, 5, 5, 5]);
    assert_eq!(days_between(day("2024-02-28"), day("2024-03-01")), 2);
    assert_eq!(days_between(day("2023-12-31"), day("2024-01-01")), 1);
    assert_eq!(days_between(day("2024-01-01"), day("2025-01-01")), 366);
}

#[test]
fn charlson_groups_count_once_and_a_severe_form_replaces_the_milder() {
    let c = Charlson::builtin();
    assert_eq!(c.groups().len(), 17);
    let on = day("2024-06-01");
    let found = |diagnoses: &[(&str, &str)]| -> Vec<(String, u32, Vec<String>)> {
        c.comorbidities(&person(diagnoses, &[]), on).into_iter().map(|g| (g.key, g.weight, g.because)).collect()
    };
    // Type 2 diabetes with diabetic kidney disease: diabetes with complications only.
    assert_eq!(
        found(&[("Condition/dm", "44054006"), ("Condition/dn", "127013003")]),
        [("diabetes-complications".to_owned(), 2, vec!["Condition/dn".to_owned()])]
    );
    // Cancer and a secondary tumour: metastatic (6) alone.
    assert_eq!(found(&[("Condition/ca", "254837009"), ("Condition/met", "128462008")]).iter().map(|g| g.1).sum::<u32>(), 6);
    // COPD and asthma are one group; heart failure another.
    assert_eq!(
        found(&[("Condition/copd", "13645005"), ("Condition/asthma", "195967001"), ("Condition/hf", "84114007")]),
        [
            ("heart-failure".to_owned(), 1, vec!["Condition/hf".to_owned()]),
            ("chronic-pulmonary".to_owned(), 1, vec!["Condition/asthma".to_owned(), "Condition/copd".to_owned()]),
        ]
    );
    let broken = r#"{"model": "m", "version": "v", "source": "s", "note": "n", "groups": [{"key": "a", "name": "A", "weight": 1, "diagnoses": [], "supersedes": ["b"]}]}"#;
    assert!(Charlson::from_json(broken, &[]).expect_err("unknown group").contains("supersedes b"));
}

#[test]
fn lace_runs_from_0_to_19() {
    let c = Charlson::builtin();
    // A same-day, planned stay of someone with nothing recorded: 0.
    let nobody = lace(&person(&[], &[]), day("2024-06-01"), day("2024-06-01"), false, c);
    assert_eq!((nobody.total, nobody.length_points, nobody.charlson_index), (0, 0, 0));
    // Fourteen days, acute, Charlson 4 or more, five visits in the six months before: 7 + 3 + 5 + 4 = 19.
    let heavy = person(
        &[("Condition/met", "128462008"), ("Condition/hf", "84114007")],
        &[
            ("Encounter/v1", "2024-01-01"),
            ("Encounter/v2", "2024-02-01"),
            ("Encounter/v3", "2024-03-01"),
            ("Encounter/v4", "2024-04-01"),
            ("Encounter/v5", "2024-05-01"),
            ("Encounter/same-day", "2024-06-01"),
            ("Encounter/too-early", "2023-11-30"),
        ],
    );
    let worst = lace(&heavy, day("2024-06-01"), day("2024-06-15"), true, c);
    assert_eq!((worst.length_days, worst.charlson_index, worst.total), (14, 7, 19));
    assert_eq!(worst.visits, ["Encounter/v5", "Encounter/v4", "Encounter/v3", "Encounter/v2"], "the four latest, not the index day's");
}

proptest! {
    /// Another diagnosis never lowers LACE (a severe form replacing a milder one only adds).
    #[test]
    fn another_diagnosis_never_lowers_lace(
        codes in proptest::collection::vec(prop_oneof![
            Just("44054006"), Just("127013003"), Just("254837009"), Just("128462008"), Just("19943007"),
            Just("34742003"), Just("84114007"), Just("13645005"), Just("22298006"), Just("86406008"),
        ], 0..6),
        extra in prop_oneof![Just("44054006"), Just("127013003"), Just("254837009"), Just("128462008"), Just("19943007"), Just("34742003")],
        days in 0i64..20,
    ) {
        let c = Charlson::builtin();
        let diagnoses: Vec<(String, &str)> = codes.iter().enumerate().map(|(i, code)| (format!("Condition/c{i}"), *code)).collect();
        let borrowed: Vec<(&str, &str)> = diagnoses.iter().map(|(r, code)| (r.as_str(), *code)).collect();
        let before = person(&borrowed, &[]);
        let mut after = before.clone();
        after.diagnoses.push(coded("Condition/extra", extra));
        let discharged = Day { day: 1 + u32::try_from(days).unwrap_or(0), ..day("2024-06-01") };
        let score = |p: &Facts| lace(p, day("2024-06-01"), discharged, true, c).total;
        prop_assert!(score(&after) >= score(&before));
    }
}
