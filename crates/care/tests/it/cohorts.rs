//! Eligibility cohorts on hand-built records: the default Central London, other-borough and SMI cohorts at
//! their age boundaries and localities, the first admitting rule as the reason with its evidence, nobody
//! dead or without a home in the locality; definitions that could not work refused.

use care::cohorts::{register_group, Admission, Cohorts};
use care::registers::{Coded, Day, Facts, Registers};

const SCT: &str = "http://snomed.info/sct";
const HYPERTENSION: &str = "59621000";
const SCHIZOPHRENIA: &str = "58214004";

fn on() -> Day {
    Day::parse("2024-06-01", false).expect("a date")
}

/// Someone aged `age` on `on()`, living in `district`, with these diagnoses (`Condition/…`, code).
fn person(age: i32, district: Option<&str>, diagnoses: &[(&str, &str)]) -> Facts {
    Facts {
        has_person: true,
        birth_date: Some(Day { year: 2024 - age, month: 1, day: 1 }),
        district: district.map(str::to_owned),
        diagnoses: diagnoses
            .iter()
            .map(|(r, c)| Coded {
                reference: (*r).into(),
                system: SCT.into(),
                code: (*c).into(),
                date: Day::parse("2020-01-01", false),
                current: true,
                refuted: false,
            })
            .collect(),
        ..Facts::default()
    }
}

fn admissions(facts: &Facts) -> Vec<(String, String, Vec<String>)> {
    let memberships = Registers::builtin().memberships(facts, on());
    Cohorts::builtin().admissions(facts, "Patient/p", &memberships, on()).into_iter().map(|a| (a.group, a.reason, a.because)).collect()
}

fn admitted(group: &str, reason: &str, because: &[&str]) -> (String, String, Vec<String>) {
    (group.into(), reason.into(), because.iter().map(|b| (*b).to_owned()).collect())
}

const CL: &str = "integrated-care-central-london";
const NWL: &str = "integrated-care-north-west-london";

#[test]
fn central_london_admits_everyone_75_and_adults_with_a_long_term_condition() {
    assert_eq!(admissions(&person(74, Some("Westminster"), &[])), []);
    assert_eq!(admissions(&person(75, Some("Westminster"), &[])), [admitted(CL, "aged-75-plus", &["Patient/p"])]);
    // The first rule that admits is the reason, even when a later one would too.
    assert_eq!(admissions(&person(80, Some("westminster"), &[("Condition/h", HYPERTENSION)])), [admitted(CL, "aged-75-plus", &["Patient/p"])]);
    assert_eq!(
        admissions(&person(18, Some("Westminster"), &[("Condition/h", HYPERTENSION)])),
        [admitted(CL, "adult-with-long-term-condition", &["Patient/p", "Condition/h"])]
    );
    assert_eq!(admissions(&person(17, Some("Westminster"), &[("Condition/h", HYPERTENSION)])), []);
}

#[test]
fn other_boroughs_admit_65_with_a_long_term_condition_and_smi_is_everywhere() {
    assert_eq!(admissions(&person(80, Some("Brent"), &[])), [], "age alone is not enough outside Central London");
    assert_eq!(admissions(&person(64, Some("Brent"), &[("Condition/h", HYPERTENSION)])), []);
    assert_eq!(
        admissions(&person(65, Some("Brent"), &[("Condition/h", HYPERTENSION)])),
        [admitted(NWL, "aged-65-plus-with-long-term-condition", &["Patient/p", "Condition/h"])]
    );
    // Somebody living elsewhere, or with no address, is only in the cohort that covers everywhere.
    let smi = admitted("serious-mental-illness", "on-mental-health-register", &["Condition/s"]);
    assert_eq!(admissions(&person(30, None, &[("Condition/s", SCHIZOPHRENIA)])), [smi.clone()]);
    assert_eq!(admissions(&person(90, Some("Camden"), &[("Condition/s", SCHIZOPHRENIA)])), [smi.clone()]);
    assert_eq!(
        admissions(&person(30, Some("Westminster"), &[("Condition/s", SCHIZOPHRENIA)])),
        [admitted(CL, "adult-with-long-term-condition", &["Patient/p", "Condition/s"]), smi]
    );
}

#[test]
fn nobody_dead_or_without_a_birth_date_is_admitted_on_age() {
    let mut dead = person(90, Some("Westminster"), &[]);
    dead.deceased = Some(Day::parse("2023-01-01", false));
    assert_eq!(admissions(&dead), []);
    let mut undated = person(90, Some("Westminster"), &[]);
    undated.birth_date = None;
    assert_eq!(admissions(&undated), []);
    assert_eq!(admissions(&Facts::default()), [], "no Patient, no admission");
}

#[test]
fn registers_are_groups_with_their_evidence() {
    let facts = person(50, None, &[("Condition/h", HYPERTENSION)]);
    let registers: Vec<Admission> = Registers::builtin().memberships(&facts, on()).iter().map(Admission::from_register).collect();
    assert_eq!(registers, [Admission { group: register_group("HYP"), reason: "HYP".into(), because: vec!["Condition/h".into()] }]);
    assert_eq!(register_group("HYP"), "register-hyp");
}

#[test]
fn a_locality_may_define_its_own_with_named_registers_and_an_age_range() {
    let text = r#"{ "cohorts": [ { "id": "young-diabetes", "name": "Young people with diabetes", "localities": ["Brent"],
        "rules": [ { "reason": "dm-under-25", "display": "Diabetes, under 25", "minAge": 12, "maxAge": 24, "registers": ["DM", "HYP"] } ] } ] }"#;
    let cohorts = Cohorts::from_json(text, Registers::builtin()).expect("valid");
    let facts = person(24, Some("Brent"), &[("Condition/h", HYPERTENSION)]);
    let memberships = Registers::builtin().memberships(&facts, on());
    let got = cohorts.admissions(&facts, "Patient/p", &memberships, on());
    assert_eq!(
        got,
        [Admission { group: "young-diabetes".into(), reason: "dm-under-25".into(), because: vec!["Patient/p".into(), "Condition/h".into()] }]
    );
    let older = person(25, Some("Brent"), &[("Condition/h", HYPERTENSION)]);
    assert_eq!(cohorts.admissions(&older, "Patient/p", &Registers::builtin().memberships(&older, on()), on()), []);
}

#[test]
fn definitions_that_cannot_work_are_refused_with_the_reason() {
    let refused = |cohorts: &str| Cohorts::from_json(&format!(r#"{{ "cohorts": [{cohorts}] }}"#), Registers::builtin()).expect_err("refused");
    let rule = r#"{ "reason": "r", "display": "R", "minAge": 18 }"#;
    assert!(refused(&format!(r#"{{ "id": "a b", "name": "x", "rules": [{rule}] }}"#)).contains("not a FHIR id"));
    assert!(refused(&format!(r#"{{ "id": "register-x", "name": "x", "rules": [{rule}] }}"#)).contains("register-"));
    assert!(
        refused(&format!(r#"{{ "id": "a", "name": "x", "rules": [{rule}] }}, {{ "id": "a", "name": "y", "rules": [{rule}] }}"#)).contains("twice")
    );
    assert!(refused(r#"{ "id": "a", "name": "x", "rules": [] }"#).contains("no rules"));
    assert!(refused(&format!(r#"{{ "id": "a", "name": "x", "rules": [{rule}, {rule}] }}"#)).contains("reason of its own"));
    assert!(
        refused(r#"{ "id": "a", "name": "x", "rules": [{ "reason": "r", "display": "R", "minAge": 70, "maxAge": 60 }] }"#).contains("above maxAge")
    );
    assert!(refused(r#"{ "id": "a", "name": "x", "rules": [{ "reason": "r", "display": "R", "registers": "all" }] }"#).contains("\"any\""));
    assert!(refused(r#"{ "id": "a", "name": "x", "rules": [{ "reason": "r", "display": "R", "registers": ["XX"] }] }"#).contains("no register XX"));
    assert!(refused(r#"{ "id": "a", "name": "x", "rules": [{ "reason": "r", "display": "R", "minimumAge": 3 }] }"#).contains("unknown field"));
}

#[test]
fn the_district_is_read_from_the_current_home_address() {
    let patient = serde_json::json!({
        "resourceType": "Patient", "id": "p", "birthDate": "1950-01-01",
        "address": [
            { "use": "home", "district": "Brent", "period": { "end": "2020-01-01" } },
            { "use": "work", "district": "Camden" },
            { "use": "home", "district": "Westminster" }
        ]
    });
    assert_eq!(Facts::from_resources([&patient]).district.as_deref(), Some("Westminster"));
    let text = patient.to_string();
    assert_eq!(Facts::from_json(&text).expect("parsed").district.as_deref(), Some("Westminster"));
}
