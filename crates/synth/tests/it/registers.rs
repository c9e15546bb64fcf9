//! The codes the generator records are the codes the registers and the eFI read: every variant of a
//! condition that has a QOF register is in that register's value set, every eFI deficit the generator records
//! is read by the eFI, and the eFI reads every deficit the generator models (so the population's registers
//! and frailty can be counted from its records).

use care::frailty::Efi;
use care::registers::Registers;
use synth::catalogue::CONDITIONS;

const SNOMED: &str = "http://snomed.info/sct";

#[test]
fn every_recorded_code_is_read_by_its_register_and_the_efi() {
    let registers = Registers::builtin();
    let register_of = |key: &str| match key {
        "hypertension" => Some("HYP"),
        "type-2-diabetes" | "type-1-diabetes" => Some("DM"),
        "coronary-heart-disease" => Some("CHD"),
        "heart-failure" => Some("HF"),
        "atrial-fibrillation" => Some("AF"),
        "stroke-tia" => Some("STIA"),
        "peripheral-arterial-disease" => Some("PAD"),
        "copd" => Some("COPD"),
        "asthma" => Some("AST"),
        "chronic-kidney-disease" => Some("CKD"),
        "dementia" => Some("DEM"),
        "serious-mental-illness" => Some("MH"),
        "depression" => Some("DEP"),
        "cancer" => Some("CAN"),
        "rheumatoid-arthritis" => Some("RA"),
        "epilepsy" => Some("EP"),
        "learning-disability" => Some("LD"),
        _ => None,
    };
    let mut with_register = 0;
    for c in &CONDITIONS {
        if let Some(code) = register_of(c.key) {
            with_register += 1;
            let r = registers.get(code).unwrap_or_else(|| panic!("register {code}"));
            for v in c.variants {
                assert!(registers.contains(&r.diagnoses, SNOMED, v.code), "{} ({}) is not in {}", v.code, c.key, r.diagnoses);
            }
        }
        if c.deficit.is_some() {
            for v in c.variants {
                assert!(Efi::builtin().reads(SNOMED, v.code), "{} ({}) is an eFI deficit the eFI does not read", v.code, c.key);
            }
        }
    }
    assert_eq!(with_register, 18, "every condition with a register was checked");
    // The generator models 35 coded deficits (and polypharmacy): as many as the eFI's coded ones.
    let modelled: std::collections::BTreeSet<String> = CONDITIONS.iter().filter_map(|c| c.deficit).map(|d| format!("{d:?}")).collect();
    assert_eq!(modelled.len(), Efi::builtin().deficits().iter().filter(|d| d.diagnoses.is_some()).count());
}
