//! The electronic Frailty Index on hand-built records: band boundaries from the published cut-offs, each
//! deficit counted once with the resources that show it, polypharmacy at its boundaries, and properties
//! (another diagnosis or medicine never lowers the index).

use care::frailty::{Band, Efi, Found, DEFICITS};
use care::registers::{Coded, Day, Facts};
use proptest::prelude::*;

const SCT: &str = "http://snomed.info/sct";

fn day(s: &str) -> Day {
    Day::parse(s, false).expect("a date")
}

fn coded(reference: &str, code: &str, date: &str) -> Coded {
    Coded { reference: reference.into(), system: SCT.into(), code: code.into(), date: Day::parse(date, false), current: true, refuted: false }
}

fn person(diagnoses: Vec<Coded>, medicines: Vec<Coded>) -> Facts {
    Facts { has_person: true, birth_date: Some(day("1940-01-01")), diagnoses, medicines, ..Facts::default() }
}

#[test]
fn bands_follow_the_published_cut_offs_exactly() {
    // 0.12 × 36 = 4.32, 0.24 × 36 = 8.64, 0.36 × 36 = 12.96: fit up to 4 deficits, mild 5 to 8, moderate 9 to 12.
    let bands: Vec<(usize, Band)> = [0, 4, 5, 8, 9, 12, 13, 36].into_iter().map(|n| (n, Band::of(n))).collect();
    assert_eq!(
        bands,
        [
            (0, Band::Fit),
            (4, Band::Fit),
            (5, Band::Mild),
            (8, Band::Mild),
            (9, Band::Moderate),
            (12, Band::Moderate),
            (13, Band::Severe),
            (36, Band::Severe)
        ]
    );
    assert_eq!(Band::ALL.map(Band::code), ["fit", "mild", "moderate", "severe"]);
}

#[test]
fn the_built_in_model_has_its_36_deficits_and_every_value_set() {
    let efi = Efi::builtin();
    assert_eq!(efi.deficits().len(), DEFICITS);
    assert_eq!(efi.deficits().iter().filter(|d| d.medicines.is_some()).count(), 1, "polypharmacy is the one counted deficit");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("risk/valuesets");
    assert_eq!(std::fs::read_dir(dir).expect("value sets").count(), efi.deficits().iter().filter(|d| d.diagnoses.is_some()).count());
    let short = r#"{"model": "m", "version": "v", "source": "s", "note": "n", "deficits": []}"#;
    assert!(Efi::from_json(short, &[]).expect_err("not 36").contains("36"));
}

#[test]
fn deficits_count_once_each_with_their_reasons() {
    let efi = Efi::builtin();
    let p = person(
        vec![
            coded("Condition/copd", "13645005", "2015-01-01"),
            coded("Condition/asthma", "195967001", "2010-01-01"), // the same deficit: respiratory
            Coded { current: false, ..coded("Condition/fall", "161898004", "2023-02-01") }, // resolved: still recorded
            Coded { refuted: true, ..coded("Condition/af", "49436004", "2020-01-01") }, // refuted: never counts
            coded("Condition/later", "84114007", "2030-01-01"),   // after the day
            coded("Condition/other", "1", "2020-01-01"),
        ],
        vec![],
    );
    let f = efi.assess(&p, day("2024-06-01"));
    assert_eq!(
        f.found,
        [
            Found { key: "falls".into(), because: vec!["Condition/fall".into()] },
            Found { key: "respiratory".into(), because: vec!["Condition/asthma".into(), "Condition/copd".into()] },
        ]
    );
    assert_eq!((f.index, f.band), (2.0 / 36.0, Band::Fit));
}

#[test]
fn polypharmacy_is_five_different_medicines_in_twelve_months() {
    let efi = Efi::builtin();
    let medicines = |n: usize, last: &str| -> Vec<Coded> {
        let mut m: Vec<Coded> = (0..n).map(|i| coded(&format!("MedicationRequest/m{i}"), &format!("10{i}"), "2024-03-01")).collect();
        m.push(coded("MedicationRequest/again", "100", "2024-04-01")); // the same medicine again: not another
        if let Some(x) = m.last_mut() {
            x.date = Day::parse(last, false);
        }
        m
    };
    let keys = |facts: &Facts| efi.assess(facts, day("2024-06-01")).found.into_iter().map(|f| f.key).collect::<Vec<_>>();
    assert!(keys(&person(vec![], medicines(4, "2024-04-01"))).is_empty(), "four different medicines");
    assert_eq!(keys(&person(vec![], medicines(5, "2024-04-01"))), ["polypharmacy"]);
    // A fifth issued twelve months to the day before is outside the window.
    let mut m = medicines(4, "2024-04-01");
    m.push(coded("MedicationRequest/old", "199", "2023-06-01"));
    assert!(keys(&person(vec![], m.clone())).is_empty());
    m.last_mut().expect("one").date = Some(day("2023-06-02"));
    assert_eq!(keys(&person(vec![], m)), ["polypharmacy"]);
    let f = efi.assess(&person(vec![], medicines(5, "2024-04-01")), day("2024-06-01"));
    assert_eq!(f.found[0].because.len(), 6, "every prescription in the window is a reason");
}

/// Codes of some deficits, and some of none.
const CODES: &[&str] = &["13645005", "195967001", "161898004", "49436004", "84114007", "59621000", "15188001", "1", "2"];

fn arb_coded(prefix: &'static str, codes: &'static [&'static str]) -> impl Strategy<Value = Coded> {
    (0..codes.len(), 0u32..30, any::<bool>(), any::<bool>(), 0u32..100).prop_map(move |(c, months, current, refuted, n)| Coded {
        reference: format!("{prefix}/{n}"),
        system: SCT.into(),
        code: codes[c].into(),
        date: Some(day("2024-06-01").months_before(months)),
        current,
        refuted,
    })
}

const MEDICINES: &[&str] = &["11", "12", "13", "14", "15", "16", "17"];

proptest! {
    #[test]
    fn another_diagnosis_or_medicine_never_lowers_the_index(
        diagnoses in proptest::collection::vec(arb_coded("Condition", CODES), 0..10),
        medicines in proptest::collection::vec(arb_coded("MedicationRequest", MEDICINES), 0..8),
        extra_d in arb_coded("Condition", CODES),
        extra_m in arb_coded("MedicationRequest", MEDICINES),
    ) {
        let today = day("2024-06-01");
        let before = person(diagnoses, medicines);
        let mut after = before.clone();
        after.diagnoses.push(extra_d);
        after.medicines.push(extra_m);
        let (b, a) = (Efi::builtin().assess(&before, today), Efi::builtin().assess(&after, today));
        prop_assert!(a.index >= b.index);
        prop_assert!(a.band >= b.band);
        prop_assert!(b.found.iter().all(|f| a.found.iter().any(|g| g.key == f.key)));
    }
}
