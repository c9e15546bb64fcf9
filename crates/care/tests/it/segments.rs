//! The North West London segmentation on hand-built records: each group's age band and needs, the hierarchy
//! (the most severe need wins), the resources that placed each person, definitions that cannot place
//! everyone refused; property: everyone with a birth date is in exactly one group, of their age band.

use care::registers::{Coded, Day, Facts, Registers};
use care::segments::{Placement, Segmentation};
use proptest::prelude::*;

const SCT: &str = "http://snomed.info/sct";
const ON: &str = "2024-06-01";

fn day(s: &str) -> Day {
    Day::parse(s, false).expect("a date")
}

fn coded(reference: &str, code: &str) -> Coded {
    Coded { reference: reference.into(), system: SCT.into(), code: code.into(), date: Day::parse("2020-01-01", false), current: true, refuted: false }
}

/// Someone aged `age` on ON with these diagnoses (and an asthma inhaler issued this year).
fn person(age: i32, diagnoses: &[(&str, &str)]) -> Facts {
    Facts {
        has_person: true,
        birth_date: Some(Day { year: 2024 - age, month: 1, day: 1 }),
        diagnoses: diagnoses.iter().map(|(r, c)| coded(r, c)).collect(),
        medicines: vec![Coded { date: Some(day("2024-03-01")), ..coded("MedicationRequest/inhaler", "320176004") }],
        ..Facts::default()
    }
}

fn place(facts: &Facts) -> Option<Placement> {
    let on = day(ON);
    Segmentation::builtin().place(facts, &Registers::builtin().memberships(facts, on), on)
}

fn group(age: i32, diagnoses: &[(&str, &str)]) -> (u32, Vec<String>) {
    let p = place(&person(age, diagnoses)).expect("placed");
    (p.number, p.because)
}

fn refs(list: &[&str]) -> Vec<String> {
    list.iter().map(|r| (*r).to_owned()).collect()
}

#[test]
fn the_built_in_segmentation_has_the_fifteen_groups() {
    let s = Segmentation::builtin();
    let mut numbers: Vec<u32> = s.segments().iter().map(|g| g.number).collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=15).collect::<Vec<_>>());
    assert_eq!(s.get(12).map(|g| g.name.as_str()), Some("Adults and older people with learning disabilities"));
}

#[test]
fn the_mostly_healthy_are_grouped_by_age_band_at_its_boundaries() {
    let healthy: Vec<(i32, u32)> = [0, 12, 13, 17, 18, 64, 65, 100].into_iter().map(|age| (age, group(age, &[]).0)).collect();
    assert_eq!(healthy, [(0, 1), (12, 1), (13, 2), (17, 2), (18, 3), (64, 3), (65, 4), (100, 4)]);
    assert_eq!(group(30, &[]).1, Vec::<String>::new(), "no reasons for the mostly healthy");
}

#[test]
fn long_term_conditions_and_cancer_by_age_with_their_reasons() {
    let hyp = ("Condition/hyp", "59621000");
    assert_eq!(group(70, &[hyp]), (7, refs(&["Condition/hyp"])));
    assert_eq!(group(40, &[hyp]), (6, refs(&["Condition/hyp"])));
    // Asthma with treatment this year puts a ten-year-old on a register: group 5.
    assert_eq!(group(10, &[("Condition/asthma", "195967001")]), (5, refs(&["Condition/asthma", "MedicationRequest/inhaler"])));
    // Cancer outranks other long-term conditions for adults.
    assert_eq!(group(40, &[hyp, ("Condition/breast", "254837009")]), (8, refs(&["Condition/breast"])));
}

#[test]
fn the_most_severe_need_decides_the_group() {
    let ld = ("Condition/ld", "110359009");
    let smi = ("Condition/smi", "58214004");
    let dementia = ("Condition/dementia", "52448006");
    let housebound = ("Condition/housebound", "160689007");
    let homeless = ("Condition/homeless", "32911000");
    let cancer = ("Condition/cancer", "254837009");
    // Learning disability before serious mental illness; serious mental illness before homelessness.
    assert_eq!(group(40, &[ld, smi]), (12, refs(&["Condition/ld"])));
    assert_eq!(group(40, &[smi, homeless]), (11, refs(&["Condition/smi"])));
    // Homelessness before cancer and other long-term conditions.
    assert_eq!(group(40, &[homeless, cancer, ("Condition/dep", "35489007")]), (15, refs(&["Condition/homeless"])));
    // Advanced dementia: dementia with high care needs, before everything else; dementia alone is a
    // long-term condition.
    assert_eq!(group(80, &[dementia, housebound, ld]), (14, refs(&["Condition/dementia", "Condition/housebound"])));
    assert_eq!(group(80, &[dementia]), (7, refs(&["Condition/dementia"])));
    // Children and young people with a severe physical disability: intensive continuing care needs.
    let palsy = ("Condition/palsy", "128188000");
    assert_eq!(group(8, &[palsy]), (9, refs(&["Condition/palsy"])));
    assert_eq!(group(15, &[palsy]), (10, refs(&["Condition/palsy"])));
    assert_eq!(group(30, &[palsy]).0, 13);
    // A resolved diagnosis places nobody; no birth date, no group.
    let mut resolved = person(40, &[smi]);
    resolved.diagnoses[0].current = false;
    assert_eq!(place(&resolved).map(|p| p.number), Some(3));
    let mut unknown = person(40, &[smi]);
    unknown.birth_date = None;
    assert_eq!(place(&unknown), None);
}

#[test]
fn definitions_that_cannot_place_everyone_are_refused() {
    let healthy =
        |number: u32, min: i32, max: Option<i32>| serde_json::json!({ "number": number, "name": "g", "minAge": min, "maxAge": max, "needs": [] });
    let mut groups: Vec<serde_json::Value> = (1..=14).map(|n| healthy(n, 0, None)).collect();
    let text = |groups: &[serde_json::Value]| {
        serde_json::json!({ "model": "m", "version": "v", "source": "s", "note": "n", "segments": groups }).to_string()
    };
    assert!(Segmentation::from_json(&text(&groups), &[], &[]).expect_err("14 groups").contains("1 to 15"));
    groups.push(healthy(15, 0, Some(99)));
    assert!(Segmentation::from_json(&text(&groups), &[], &[]).is_ok());
    let gap: Vec<serde_json::Value> = (1..=15).map(|n| healthy(n, 0, Some(99))).collect();
    assert!(Segmentation::from_json(&text(&gap), &[], &[]).expect_err("a gap").contains("aged 100"));
    groups[0] = serde_json::json!({ "number": 1, "name": "g", "minAge": 0, "needs": [{ "registers": ["XYZ"] }] });
    assert!(Segmentation::from_json(&text(&groups), &[], &["HYP"]).expect_err("unknown register").contains("XYZ"));
    groups[0] = serde_json::json!({ "number": 1, "name": "g", "minAge": 0, "needs": [{ "diagnoses": "urn:nowhere" }] });
    assert!(Segmentation::from_json(&text(&groups), &[], &[]).expect_err("unknown value set").contains("urn:nowhere"));
}

proptest! {
    /// Whatever a person has, with a birth date they are in exactly one group, and its age band holds them.
    #[test]
    fn everyone_with_a_birth_date_is_in_one_group_of_their_age_band(
        age in 0i32..110,
        codes in proptest::collection::vec(prop_oneof![
            Just("59621000"), Just("110359009"), Just("58214004"), Just("52448006"), Just("160689007"),
            Just("32911000"), Just("254837009"), Just("128188000"), Just("195967001"), Just("35489007"),
        ], 0..6),
    ) {
        let diagnoses: Vec<(String, &str)> = codes.iter().enumerate().map(|(i, c)| (format!("Condition/c{i}"), *c)).collect();
        let borrowed: Vec<(&str, &str)> = diagnoses.iter().map(|(r, c)| (r.as_str(), *c)).collect();
        let p = place(&person(age, &borrowed)).expect("placed");
        let g = Segmentation::builtin().get(p.number).expect("a group");
        prop_assert!(g.min_age <= age && g.max_age.is_none_or(|m| age <= m));
        prop_assert_eq!(p.because.is_empty(), g.needs.is_empty());
    }
}
