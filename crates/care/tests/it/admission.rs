//! The emergency-admission model on hand-built records: each input from the record, with its evidence; the
//! score as intercept plus contributions; the fit recovering known coefficients; the C-statistic on pairs
//! counted by hand; tiers by share; and properties (more of a risk never lowers the built-in model's score).

use care::admission::{self, c_statistic, AdmissionModel, Definition, Feature, Tier, TierCuts, DEFAULT_TIER_SHARES, FEATURES};
use care::frailty::Efi;
use care::registers::{Coded, Day, Emergency, EmergencyKind, Facts, Registers};
use proptest::prelude::*;
use serde_json::json;

const SCT: &str = "http://snomed.info/sct";

fn day(s: &str) -> Day {
    Day::parse(s, false).expect("a date")
}

fn coded(reference: &str, code: &str, date: &str) -> Coded {
    Coded { reference: reference.into(), system: SCT.into(), code: code.into(), date: Day::parse(date, false), current: true, refuted: false }
}

fn emergency(reference: &str, kind: EmergencyKind, date: &str) -> Emergency {
    Emergency { reference: reference.into(), kind, date: Some(day(date)) }
}

/// Aged 80 on 2024-06-01, male, with hypertension and diabetes (two registers), falls and hearing loss,
/// five different medicines in the last year and one before it, two emergency admissions in the last year
/// and one before it, one A&E attendance in the last year and one after the day.
fn record() -> Facts {
    let mut medicines: Vec<Coded> = (1..=5).map(|i| coded(&format!("MedicationRequest/m{i}"), &format!("10{i}"), "2024-01-01")).collect();
    medicines.push(coded("MedicationRequest/old", "999", "2022-01-01"));
    Facts {
        has_person: true,
        birth_date: Some(day("1944-03-01")),
        gender: Some("male".into()),
        deceased: None,
        practice: None,
        district: None,
        labelled_restricted: Vec::new(),
        diagnoses: vec![
            coded("Condition/hyp", "59621000", "2010-01-01"),
            coded("Condition/dm", "44054006", "2015-01-01"),
            coded("Condition/falls", "161898004", "2023-01-01"),
            coded("Condition/hearing", "15188001", "2020-01-01"),
        ],
        medicines,
        emergencies: vec![
            emergency("Encounter/a1", EmergencyKind::Admission, "2024-01-10"),
            emergency("Encounter/a2", EmergencyKind::Admission, "2023-09-01"),
            emergency("Encounter/a0", EmergencyKind::Admission, "2023-06-01"),
            emergency("Encounter/e1", EmergencyKind::Attendance, "2024-01-10"),
            emergency("Encounter/e2", EmergencyKind::Attendance, "2024-06-02"),
        ],
    }
}

fn inputs(facts: &Facts, on: &str) -> admission::Inputs {
    admission::inputs(facts, day(on), Registers::builtin(), Efi::builtin())
}

fn model(intercept: f64, coefficients: &[(Feature, f64)]) -> AdmissionModel {
    let mut all: std::collections::BTreeMap<String, f64> = Feature::ALL.iter().map(|f| (f.key().to_owned(), 0.0)).collect();
    for (f, c) in coefficients {
        all.insert(f.key().to_owned(), *c);
    }
    AdmissionModel::new(Definition { model: "m".into(), version: "v".into(), source: "s".into(), note: "n".into(), intercept, coefficients: all })
        .expect("a model")
}

#[test]
fn inputs_come_from_the_record_with_their_evidence() {
    let got = inputs(&record(), "2024-06-01");
    let present: Vec<(Feature, f64, Vec<&str>)> = Feature::ALL
        .iter()
        .filter(|f| got.values[**f as usize] != 0.0)
        .map(|f| (*f, got.values[*f as usize], got.because[*f as usize].iter().map(String::as_str).collect()))
        .collect();
    let meds = ["MedicationRequest/m1", "MedicationRequest/m2", "MedicationRequest/m3", "MedicationRequest/m4", "MedicationRequest/m5"];
    let mut frailty_evidence = vec!["Condition/dm", "Condition/falls", "Condition/hearing", "Condition/hyp"];
    frailty_evidence.extend(meds);
    assert_eq!(
        present,
        [
            (Feature::Age75To84, 1.0, vec![]),
            (Feature::Male, 1.0, vec![]),
            (Feature::LongTermConditions, 2.0, vec!["Condition/dm", "Condition/hyp"]),
            // The admission of 2023-06-01 is exactly twelve months before: outside the window.
            (Feature::Admissions2, 1.0, vec!["Encounter/a1", "Encounter/a2"]),
            (Feature::Attendances, 1.0, vec!["Encounter/e1"]),
            // Four coded deficits and polypharmacy: 5 of 36 is above 0.12.
            (Feature::FrailtyMild, 1.0, frailty_evidence),
            (Feature::Medicines5To9, 1.0, meds.to_vec()),
        ]
    );
    // A day later the attendance of 2024-06-02 counts; a year earlier, almost nothing does.
    assert_eq!(inputs(&record(), "2024-06-02").values[Feature::Attendances as usize], 2.0);
    let before = inputs(&record().as_of(day("2022-12-31")), "2022-12-31");
    assert_eq!(
        Feature::ALL.iter().filter(|f| before.values[**f as usize] != 0.0).copied().collect::<Vec<_>>(),
        [Feature::Age75To84, Feature::Male, Feature::LongTermConditions]
    );
    // No birth date: the reference age group; more than three admissions, more than four attendances are capped.
    let mut busy = record();
    busy.birth_date = None;
    for i in 0..6 {
        busy.emergencies.push(emergency(&format!("Encounter/x{i}"), EmergencyKind::Admission, "2024-02-01"));
        busy.emergencies.push(emergency(&format!("Encounter/y{i}"), EmergencyKind::Attendance, "2024-02-01"));
    }
    let got = inputs(&busy, "2024-06-01");
    assert_eq!(&got.values[..5], &[0.0; 5]);
    assert_eq!((got.values[Feature::Admissions3Plus as usize], got.values[Feature::Admissions2 as usize]), (1.0, 0.0));
    assert_eq!(got.values[Feature::Attendances as usize], admission::ATTENDANCES_CAP as f64);
}

#[test]
fn encounters_are_read_as_attendances_and_emergency_admissions_only() {
    let encounters = [
        json!({"resourceType": "Encounter", "id": "ae", "status": "finished", "class": {"code": "EMER"}, "period": {"start": "2024-01-02T10:00:00Z"}}),
        json!({"resourceType": "Encounter", "id": "em", "status": "finished", "class": {"code": "IMP"}, "priority": {"coding": [{"code": "EM"}]}, "period": {"start": "2024-01-03"}}),
        json!({"resourceType": "Encounter", "id": "via", "status": "in-progress", "class": {"code": "ACUTE"}, "hospitalization": {"admitSource": {"coding": [{"code": "emd"}]}}}),
        json!({"resourceType": "Encounter", "id": "planned", "status": "finished", "class": {"code": "IMP"}, "priority": {"coding": [{"code": "EL"}]}}),
        json!({"resourceType": "Encounter", "id": "gp", "status": "finished", "class": {"code": "AMB"}}),
        json!({"resourceType": "Encounter", "id": "wrong", "status": "entered-in-error", "class": {"code": "EMER"}}),
    ];
    let facts = Facts::from_resources(encounters.iter());
    assert_eq!(
        facts.emergencies,
        [
            emergency("Encounter/ae", EmergencyKind::Attendance, "2024-01-02"),
            emergency("Encounter/em", EmergencyKind::Admission, "2024-01-03"),
            Emergency { reference: "Encounter/via".into(), kind: EmergencyKind::Admission, date: None },
        ]
    );
}

#[test]
fn a_score_is_its_intercept_plus_each_contribution() {
    let m = model(
        -4.0,
        &[
            (Feature::Age75To84, 1.2),
            (Feature::LongTermConditions, 0.25),
            (Feature::Admissions2, 1.5),
            (Feature::Admissions3Plus, 2.0),
            (Feature::Attendances, 0.4),
            (Feature::Male, -0.1),
        ],
    );
    let risk = m.score(inputs(&record(), "2024-06-01"));
    let contributions: Vec<(Feature, f64)> = risk.factors.iter().map(|f| (f.feature, f.contribution)).collect();
    assert_eq!(
        contributions,
        [
            (Feature::Age75To84, 1.2),
            (Feature::Male, -0.1),
            (Feature::LongTermConditions, 0.5),
            (Feature::Admissions2, 1.5),
            (Feature::Attendances, 0.4),
            (Feature::FrailtyMild, 0.0),
            (Feature::Medicines5To9, 0.0)
        ]
    );
    assert!((risk.log_odds - (-4.0 + 1.2 - 0.1 + 0.5 + 1.5 + 0.4)).abs() < 1e-12);
    assert!((risk.probability - 1.0 / (1.0 + (0.5f64).exp())).abs() < 1e-12, "log-odds -0.5");
}

#[test]
fn models_that_miss_an_input_or_let_more_risk_lower_a_score_are_refused() {
    let keys: serde_json::Map<String, serde_json::Value> = Feature::ALL.iter().map(|f| (f.key().to_owned(), json!(0.1))).collect();
    let text = |coefficients: &serde_json::Map<String, serde_json::Value>| {
        json!({"model": "m", "version": "v", "source": "s", "note": "n", "intercept": -3.0, "coefficients": coefficients}).to_string()
    };
    assert!(AdmissionModel::from_json(&text(&keys)).is_ok());
    let mut missing = keys.clone();
    missing.remove("male");
    assert!(AdmissionModel::from_json(&text(&missing)).expect_err("missing").contains("male"));
    let mut unknown = keys.clone();
    unknown.insert("shoe-size".into(), json!(1.0));
    assert!(AdmissionModel::from_json(&text(&unknown)).expect_err("unknown").contains("shoe-size"));
    let mut lower = keys.clone();
    lower.insert("emergency-admissions-3-plus".into(), json!(0.05));
    assert!(AdmissionModel::from_json(&text(&lower)).expect_err("lower").contains("emergency-admissions-3-plus"));
    let mut negative = keys;
    negative.insert("long-term-conditions".into(), json!(-0.1));
    assert!(AdmissionModel::from_json(&text(&negative)).expect_err("negative").contains("long-term-conditions"));
}

/// A deterministic stream of numbers in [0, 1) (splitmix64).
struct Stream(u64);

impl Stream {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) as f64 / (u64::MAX as f64 + 1.0)
    }
}

#[test]
fn fitting_recovers_the_coefficients_that_made_the_outcomes() {
    let (intercept, truth) =
        (-2.5, [(Feature::Age75To84, 1.0), (Feature::LongTermConditions, 0.3), (Feature::Male, 0.2), (Feature::Admissions1, 0.8)]);
    let mut stream = Stream(7);
    let rows: Vec<([f64; FEATURES], bool)> = (0..40_000)
        .map(|_| {
            let mut x = [0.0; FEATURES];
            x[Feature::Age75To84 as usize] = f64::from(u8::from(stream.next() < 0.2));
            x[Feature::LongTermConditions as usize] = (stream.next() * 5.0).floor();
            x[Feature::Male as usize] = f64::from(u8::from(stream.next() < 0.5));
            x[Feature::Admissions1 as usize] = f64::from(u8::from(stream.next() < 0.1));
            let eta = intercept + truth.iter().map(|(f, c)| c * x[*f as usize]).sum::<f64>();
            (x, stream.next() < admission::logistic(eta))
        })
        .collect();
    let (b0, b) = admission::fit(&rows, 1.0).expect("fits");
    assert!((b0 - intercept).abs() < 0.1, "intercept {b0}");
    for (f, c) in truth {
        assert!((b[f as usize] - c).abs() < 0.1, "{}: {} against {c}", f.key(), b[f as usize]);
    }
    // Inputs nobody has stay at zero; a level nobody reaches takes the level below it.
    assert_eq!(b[Feature::FrailtySevere as usize], 0.0);
    assert_eq!(b[Feature::Admissions3Plus as usize], b[Feature::Admissions1 as usize]);
    assert!(admission::fit(&rows.iter().map(|(x, _)| (*x, false)).collect::<Vec<_>>(), 1.0).is_err(), "no outcomes");
}

#[test]
fn a_fit_never_lets_more_of_a_risk_lower_a_score() {
    // Made so that a second admission and an attendance lower the odds: the fit holds them level instead.
    let mut stream = Stream(11);
    let rows: Vec<([f64; FEATURES], bool)> = (0..30_000)
        .map(|_| {
            let mut x = [0.0; FEATURES];
            let level = (stream.next() * 3.0).floor() as usize;
            if level > 0 {
                x[[Feature::Admissions1, Feature::Admissions2][level - 1] as usize] = 1.0;
            }
            x[Feature::Attendances as usize] = (stream.next() * 3.0).floor();
            let eta = -2.0 + [0.0, 1.0, 0.5][level] - 0.4 * x[Feature::Attendances as usize];
            (x, stream.next() < admission::logistic(eta))
        })
        .collect();
    let (_, b) = admission::fit(&rows, 1.0).expect("fits");
    assert_eq!(b[Feature::Attendances as usize], 0.0);
    assert!(b[Feature::Admissions1 as usize] > 0.5, "{}", b[Feature::Admissions1 as usize]);
    assert_eq!(b[Feature::Admissions2 as usize], b[Feature::Admissions1 as usize]);
    let mut all: std::collections::BTreeMap<String, f64> = std::collections::BTreeMap::new();
    for f in Feature::ALL {
        all.insert(f.key().to_owned(), b[f as usize]);
    }
    let definition = Definition { model: "m".into(), version: "v".into(), source: "s".into(), note: "n".into(), intercept: -2.0, coefficients: all };
    assert!(AdmissionModel::new(definition).is_ok());
}

#[test]
fn the_c_statistic_counts_ordered_pairs_with_ties_as_half() {
    assert_eq!(c_statistic(&[(0.1, false), (0.4, true), (0.35, false), (0.8, true)]), Some(1.0));
    assert_eq!(c_statistic(&[(0.1, true), (0.2, false), (0.3, true)]), Some(0.5));
    // Pairs: (0.5 T, 0.5 F) tie = 0.5; (0.5 T, 0.2 F) = 1; (0.9 T, both) = 2: 3.5 of 4.
    assert_eq!(c_statistic(&[(0.5, true), (0.5, false), (0.2, false), (0.9, true)]), Some(0.875));
    assert_eq!(c_statistic(&[(0.5, true)]), None);
}

#[test]
fn tiers_take_their_shares_from_the_top() {
    let scores: Vec<f64> = (0..1000).map(|i| f64::from(i) / 1000.0).collect();
    let cuts = TierCuts::from_scores(&scores, DEFAULT_TIER_SHARES).expect("cuts");
    let mut counts = std::collections::BTreeMap::new();
    for s in &scores {
        *counts.entry(cuts.tier(*s)).or_insert(0) += 1;
    }
    assert_eq!(counts.into_iter().collect::<Vec<_>>(), [(Tier::VeryHigh, 5), (Tier::High, 45), (Tier::Rising, 150), (Tier::Low, 800)]);
    // Equal scores share a tier; a share that rounds to nobody leaves its tier empty.
    let flat = TierCuts::from_scores(&[0.2; 10], DEFAULT_TIER_SHARES).expect("cuts");
    assert_eq!((flat.tier(0.2), flat.tier(0.1)), (Tier::Rising, Tier::Low));
    assert!(TierCuts::from_scores(&[], DEFAULT_TIER_SHARES).is_none());
    assert!(TierCuts::from_scores(&scores, [0.5, 0.4, 0.2]).is_none());
}

proptest! {
    /// Another diagnosis, medicine, admission or attendance never lowers the built-in model's score.
    #[test]
    fn more_of_a_risk_never_lowers_the_builtin_score(
        extra in prop_oneof![
            Just(("Condition/x", "59621000", false)),
            Just(("Condition/x", "49436004", false)),
            Just(("Condition/x", "161898004", false)),
            Just(("MedicationRequest/x", "555", true)),
        ],
        admissions in 0usize..5,
        attendances in 0usize..6,
        month in 1u32..12,
    ) {
        let model = AdmissionModel::builtin();
        let on = day("2024-06-01");
        let mut before = record();
        let date = format!("2024-{month:02}-01");
        let mut after = before.clone();
        if extra.2 {
            after.medicines.push(coded(extra.0, extra.1, &date));
        } else {
            after.diagnoses.push(coded(extra.0, extra.1, &date));
        }
        for i in 0..admissions {
            after.emergencies.push(emergency(&format!("Encounter/a{i}x"), EmergencyKind::Admission, &date));
        }
        for i in 0..attendances {
            after.emergencies.push(emergency(&format!("Encounter/e{i}x"), EmergencyKind::Attendance, &date));
        }
        before.gender = Some("female".into());
        after.gender = Some("female".into());
        let score = |f: &Facts| model.score(admission::inputs(f, on, Registers::builtin(), Efi::builtin())).log_odds;
        prop_assert!(score(&after) >= score(&before));
    }
}
