//! Registers on hand-built records: who is admitted, on which rule, at the age and treatment boundaries, and
//! that the built-in definitions are whole; properties: more diagnoses or medicines never take a person off
//! a register.

use care::registers::{Coded, Day, Facts, Membership, Registers};
use proptest::prelude::*;
use serde_json::json;

const SCT: &str = "http://snomed.info/sct";

fn day(s: &str) -> Day {
    Day::parse(s, false).expect("a date")
}

fn coded(reference: &str, code: &str, date: &str) -> Coded {
    Coded { reference: reference.into(), system: SCT.into(), code: code.into(), date: Day::parse(date, false), current: true, refuted: false }
}

fn on(facts: &Facts, today: &str) -> Vec<String> {
    Registers::builtin().memberships(facts, day(today)).into_iter().map(|m| m.register).collect()
}

#[test]
fn days_parse_partial_dates_and_count_whole_years_and_months() {
    assert_eq!(Day::parse("2020", true), Some(Day { year: 2020, month: 12, day: 31 }));
    assert_eq!(Day::parse("2020-02", true), Some(Day { year: 2020, month: 2, day: 29 }));
    assert_eq!(Day::parse("2021-02", false), Some(Day { year: 2021, month: 2, day: 1 }));
    assert_eq!(Day::parse("2021-04-01T10:00:00Z", false), Some(day("2021-04-01")));
    assert_eq!(Day::parse("2021-02-29", false), None);
    assert_eq!(Day::parse("2021-13-01", false), None);
    assert_eq!(Day::parse("soon", false), None);
    assert_eq!(day("2000-03-01").years_to(day("2006-02-28")), 5);
    assert_eq!(day("2000-03-01").years_to(day("2006-03-01")), 6);
    assert_eq!(day("2000-02-29").years_to(day("2017-02-28")), 16, "a leap-day birthday comes on 1 March in other years");
    assert_eq!(day("2024-03-31").months_before(1), day("2024-02-29"));
    assert_eq!(day("2024-01-15").months_before(12), day("2023-01-15"));
    assert_eq!(day("2024-01-15").months_before(13), day("2022-12-15"));
    // Days across months, leap years and years, both ways.
    assert_eq!(day("2024-03-10").add_days(-14), day("2024-02-25"));
    assert_eq!(day("2024-03-01").add_days(-1), day("2024-02-29"));
    assert_eq!(day("2025-01-05").add_days(-14), day("2024-12-22"));
    assert_eq!(day("2025-05-01").add_days(-1), day("2025-04-30"));
    assert_eq!(day("1970-01-01").add_days(0), day("1970-01-01"));
    assert_eq!(day("1899-12-31").add_days(1), day("1900-01-01"));
    assert_eq!(day("2024-02-28").days_to(day("2024-03-01")), 2);
    assert_eq!(day("2024-01-01").days_to(day("2025-01-01")), 366);
    assert_eq!(day("2025-01-01").days_to(day("2024-01-01")), -366);
}

#[test]
fn the_built_in_registers_are_whole() {
    let r = Registers::builtin();
    let codes: Vec<&str> = r.all().iter().map(|r| r.code.as_str()).collect();
    assert_eq!(codes, ["AF", "AST", "CAN", "CHD", "CKD", "COPD", "DEM", "DEP", "DM", "EP", "HF", "HYP", "LD", "MH", "OST", "PAD", "RA", "STIA"]);
    // Every value set file in the folder is built in (a new file needs its line in registers.rs).
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("registers/valuesets");
    let files = std::fs::read_dir(&dir).expect("the value sets").count();
    let mut urls = std::collections::BTreeSet::new();
    for reg in r.all() {
        urls.insert(reg.diagnoses.clone());
        urls.extend(reg.also_diagnosed.iter().cloned());
        urls.extend(reg.treated_within.iter().map(|t| t.medicines.clone()));
    }
    assert_eq!(urls.len(), files, "every value set is used by a register, and every one used is a file");
    // Age limits as the QOF 2023-24 reference table gives them.
    let age = |c: &str| r.get(c).and_then(|g| g.min_age);
    assert_eq!(
        [age("AST"), age("CKD"), age("DEP"), age("DM"), age("EP"), age("OST"), age("RA"), age("AF")],
        [Some(6), Some(18), Some(18), Some(17), Some(18), Some(50), Some(16), None]
    );
}

#[test]
fn definitions_that_name_missing_value_sets_or_filters_are_refused() {
    let defs = r#"{"registers": [{"code": "X", "name": "X", "indicator": "X001", "diagnoses": "urn:x"}]}"#;
    assert!(Registers::from_json(defs, &[]).expect_err("missing").contains("urn:x"));
    let filtered =
        json!({ "url": "urn:x", "compose": { "include": [{ "system": SCT, "filter": [{ "property": "concept", "op": "is-a", "value": "1" }] }] } })
            .to_string();
    assert!(Registers::from_json(defs, &[&filtered]).expect_err("filter").contains("only enumerated"));
    let twice = r#"{"registers": [{"code": "X", "name": "X", "indicator": "X001", "diagnoses": "urn:x"}, {"code": "X", "name": "Y", "indicator": "X002", "diagnoses": "urn:x"}]}"#;
    let vs = json!({ "url": "urn:x", "compose": { "include": [{ "system": SCT, "concept": [{ "code": "1" }] }] } }).to_string();
    assert!(Registers::from_json(twice, &[&vs]).expect_err("twice").contains("twice"));
    let unknown = r#"{"registers": [{"code": "X", "name": "X", "indicator": "X001", "diagnoses": "urn:x", "maxAge": 3}]}"#;
    assert!(Registers::from_json(unknown, &[&vs]).is_err(), "an unknown rule is not ignored");
}

#[test]
fn hand_built_records_land_on_the_expected_registers_with_their_reasons() {
    let r = Registers::builtin();
    // Hypertension and type 2 diabetes, aged 70: HYP and DM, each because of its Condition.
    let person = Facts {
        has_person: true,
        birth_date: Some(day("1954-06-01")),
        diagnoses: vec![coded("Condition/c1", "59621000", "2010-01-01"), coded("Condition/c2", "44054006", "2015-05-05")],
        medicines: vec![],
        ..Facts::default()
    };
    assert_eq!(
        r.memberships(&person, day("2024-06-01")),
        [
            Membership { register: "DM".into(), because: vec!["Condition/c2".into()] },
            Membership { register: "HYP".into(), because: vec!["Condition/c1".into()] }
        ]
    );
    // A resolved diagnosis, a refuted one, or a code of another system admits nobody.
    let mut resolved = person.clone();
    resolved.diagnoses[0].current = false;
    resolved.diagnoses[1].system = "http://read.info/ctv3".into();
    assert!(on(&resolved, "2024-06-01").is_empty());
    // The earliest qualifying diagnosis is the reason.
    let mut twice = person.clone();
    twice.diagnoses.push(coded("Condition/c0", "59621000", "2001-01-01"));
    assert_eq!(r.memberships(&twice, day("2024-06-01"))[1].because, ["Condition/c0"]);
}

#[test]
fn age_limits_hold_to_the_day() {
    // Diabetes from 17: the day before the 17th birthday, not yet; on it, yes. No birth date: not on an aged register.
    let mut p = Facts {
        has_person: true,
        birth_date: Some(day("2007-03-15")),
        diagnoses: vec![coded("Condition/d", "46635009", "2015-01-01")],
        medicines: vec![],
        ..Facts::default()
    };
    assert!(on(&p, "2024-03-14").is_empty());
    assert_eq!(on(&p, "2024-03-15"), ["DM"]);
    p.birth_date = None;
    assert!(on(&p, "2024-03-15").is_empty());
    // Atrial fibrillation has no age limit: a child with it is on the register, birth date or not.
    let af = Facts {
        has_person: true,
        birth_date: None,
        diagnoses: vec![coded("Condition/a", "49436004", "2020-01-01")],
        medicines: vec![],
        ..Facts::default()
    };
    assert_eq!(on(&af, "2024-01-01"), ["AF"]);
}

#[test]
fn asthma_needs_treatment_in_the_last_twelve_months() {
    let mut p = Facts {
        has_person: true,
        birth_date: Some(day("1990-01-01")),
        diagnoses: vec![coded("Condition/a", "195967001", "2000-01-01")],
        medicines: vec![coded("MedicationRequest/m", "320176004", "2023-06-01")],
        ..Facts::default()
    };
    // Twelve months to the day is outside the window; a day less is inside.
    assert!(on(&p, "2024-06-01").is_empty());
    assert_eq!(
        Registers::builtin().memberships(&p, day("2024-05-31")),
        [Membership { register: "AST".into(), because: vec!["Condition/a".into(), "MedicationRequest/m".into()] }]
    );
    // A prescription after today does not count; nor does one entered in error.
    p.medicines[0].date = Some(day("2024-07-01"));
    assert!(on(&p, "2024-06-01").is_empty());
    p.medicines[0].date = Some(day("2024-05-01"));
    p.medicines[0].current = false;
    assert!(on(&p, "2024-06-01").is_empty());
    // Under 6: not on the register, treated or not.
    p.medicines[0].current = true;
    p.birth_date = Some(day("2018-06-02"));
    assert!(on(&p, "2024-06-01").is_empty());
}

#[test]
fn osteoporosis_needs_both_a_fragility_fracture_and_the_diagnosis() {
    let fracture = coded("Condition/f", "5913000", "2020-01-01");
    let osteoporosis = coded("Condition/o", "64859006", "2019-01-01");
    let mut p =
        Facts { has_person: true, birth_date: Some(day("1950-01-01")), diagnoses: vec![fracture.clone()], medicines: vec![], ..Facts::default() };
    assert!(on(&p, "2024-01-01").is_empty());
    p.diagnoses.push(osteoporosis);
    assert_eq!(
        Registers::builtin().memberships(&p, day("2024-01-01")),
        [Membership { register: "OST".into(), because: vec!["Condition/f".into(), "Condition/o".into()] }]
    );
}

#[test]
fn facts_are_read_from_fhir_resources() {
    let patient = json!({ "resourceType": "Patient", "id": "p", "birthDate": "1950" });
    let active = json!({ "resourceType": "Condition", "id": "c1", "clinicalStatus": { "coding": [{ "code": "active" }] },
        "code": { "coding": [{ "system": SCT, "code": "59621000" }, { "system": "http://read.info/ctv3", "code": "G20.." }] }, "onsetDateTime": "2010-02-03T09:00:00Z" });
    let resolved = json!({ "resourceType": "Condition", "id": "c2", "clinicalStatus": { "coding": [{ "code": "resolved" }] }, "code": { "coding": [{ "system": SCT, "code": "84114007" }] } });
    let refuted = json!({ "resourceType": "Condition", "id": "c3", "verificationStatus": { "coding": [{ "code": "refuted" }] }, "code": { "coding": [{ "system": SCT, "code": "49436004" }] } });
    let abated = json!({ "resourceType": "Condition", "id": "c4", "abatementDateTime": "2020", "code": { "coding": [{ "system": SCT, "code": "414545008" }] } });
    let no_status = json!({ "resourceType": "Condition", "id": "c5", "code": { "coding": [{ "system": SCT, "code": "13645005" }] }, "recordedDate": "2012-01-01" });
    let medicine = json!({ "resourceType": "MedicationRequest", "id": "m", "status": "active", "authoredOn": "2024-01-02",
        "medicationCodeableConcept": { "coding": [{ "system": SCT, "code": "320176004" }] } });
    let f = Facts::from_resources([&patient, &active, &resolved, &refuted, &abated, &no_status, &medicine]);
    assert!(f.has_person);
    assert_eq!(f.birth_date, Some(day("1950-12-31")), "a partial birth date is taken at its latest, so that no one is older than shown");
    let d: Vec<(&str, &str, bool, Option<Day>)> = f.diagnoses.iter().map(|c| (c.reference.as_str(), c.code.as_str(), c.current, c.date)).collect();
    assert_eq!(
        d,
        [
            ("Condition/c1", "59621000", true, Some(day("2010-02-03"))),
            ("Condition/c1", "G20..", true, Some(day("2010-02-03"))),
            ("Condition/c2", "84114007", false, None),
            ("Condition/c3", "49436004", false, None),
            ("Condition/c4", "414545008", false, None),
            ("Condition/c5", "13645005", true, Some(day("2012-01-01"))),
        ]
    );
    assert_eq!(f.medicines, [coded("MedicationRequest/m", "320176004", "2024-01-02")]);
    assert_eq!(on(&f, "2024-06-01"), ["COPD", "HYP"]);
}

/// Codes that some register reads, and some that none does.
const CODES: &[&str] = &["59621000", "44054006", "195967001", "5913000", "64859006", "49436004", "320176004", "35489007", "1", "2"];

fn arb_coded(prefix: &'static str) -> impl Strategy<Value = Coded> {
    (0..CODES.len(), 0u32..40, any::<bool>(), 0u32..1000).prop_map(move |(c, months, current, n)| Coded {
        reference: format!("{prefix}/{n}"),
        system: SCT.into(),
        code: CODES[c].into(),
        date: Some(day("2024-06-01").months_before(months)),
        current,
        refuted: false,
    })
}

proptest! {
    #[test]
    fn more_diagnoses_or_medicines_never_take_anyone_off_a_register(
        age in 0i32..100,
        diagnoses in proptest::collection::vec(arb_coded("Condition"), 0..6),
        medicines in proptest::collection::vec(arb_coded("MedicationRequest"), 0..4),
        extra_d in arb_coded("Condition"),
        extra_m in arb_coded("MedicationRequest"),
    ) {
        let today = day("2024-06-01");
        let birth = Day { year: 2024 - age, month: 1, day: 1 };
        let before = Facts { has_person: true, birth_date: Some(birth), diagnoses, medicines, ..Facts::default() };
        let mut after = before.clone();
        after.diagnoses.push(extra_d);
        after.medicines.push(extra_m);
        let was: Vec<String> = on(&before, "2024-06-01");
        let now: Vec<String> = Registers::builtin().memberships(&after, today).into_iter().map(|m| m.register).collect();
        for r in &was {
            prop_assert!(now.contains(r), "{r} lost: {was:?} -> {now:?}");
        }
        // Growing older never takes anyone off either.
        let older = Facts { has_person: true, birth_date: Some(Day { year: birth.year - 1, ..birth }), ..before.clone() };
        for r in &was {
            prop_assert!(on(&older, "2024-06-01").contains(r));
        }
    }
}
