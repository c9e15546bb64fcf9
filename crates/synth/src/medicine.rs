//! The medicines the generator prescribes (dm+d virtual medicinal products, which are SNOMED CT concepts) and which condition leads to which.
//!
//! Only products whose codes could be checked against published NHS examples and code lists are
//! used; conditions treated with other medicines (thyroid disease, dementia, Parkinson's disease,
//! serious mental illness, osteoporosis, depression) get none here, which the README says.

use crate::catalogue::Id;

/// A medicine: a dm+d virtual medicinal product.
#[derive(Debug)]
pub struct Medicine {
    pub code: &'static str,
    pub display: &'static str,
    pub dose: &'static str,
}

/// Positions in `MEDICINES`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub(crate) enum Drug {
    Amlodipine,
    Ramipril,
    Losartan,
    Bisoprolol,
    Furosemide,
    Spironolactone,
    Simvastatin,
    Aspirin,
    Apixaban,
    Metformin,
    Empagliflozin,
    Salbutamol,
    Paracetamol,
}

pub(crate) const MEDICINE_COUNT: usize = 13;

pub static MEDICINES: [Medicine; MEDICINE_COUNT] = [
    Medicine { code: "319283006", display: "Amlodipine 5mg tablets", dose: "One tablet once a day" },
    Medicine { code: "318902004", display: "Ramipril 5mg capsules", dose: "One capsule once a day" },
    Medicine { code: "318956006", display: "Losartan 50mg tablets", dose: "One tablet once a day" },
    Medicine { code: "318590006", display: "Bisoprolol 5mg tablets", dose: "One tablet once a day" },
    Medicine { code: "317972000", display: "Furosemide 40mg tablets", dose: "One tablet each morning" },
    Medicine { code: "318056008", display: "Spironolactone 25mg tablets", dose: "One tablet once a day" },
    Medicine { code: "320000009", display: "Simvastatin 40mg tablets", dose: "One tablet at night" },
    Medicine { code: "319773006", display: "Aspirin 75mg dispersible tablets", dose: "One tablet once a day" },
    Medicine { code: "42206511000001102", display: "Apixaban 5mg tablets", dose: "One tablet twice a day" },
    Medicine { code: "325278007", display: "Metformin 500mg tablets", dose: "One tablet twice a day with food" },
    Medicine { code: "703896005", display: "Empagliflozin 10mg tablets", dose: "One tablet once a day" },
    Medicine { code: "320176004", display: "Salbutamol 100micrograms/dose inhaler", dose: "Two puffs when required" },
    Medicine { code: "322236009", display: "Paracetamol 500mg tablets", dose: "Two tablets up to four times a day when required" },
];

/// A reason to prescribe: people with `condition` are prescribed `drug` with this probability.
/// Alternatives (`unless`) are skipped when the person already takes the other drug.
pub(crate) struct Rule {
    pub condition: Id,
    pub drug: Drug,
    pub probability: f64,
    pub unless: Option<Drug>,
}

const fn rule(condition: Id, drug: Drug, probability: f64) -> Rule {
    Rule { condition, drug, probability, unless: None }
}

/// The prescribing rules, roughly following NICE pathways (first-line choices, secondary prevention).
pub(crate) static RULES: &[Rule] = &[
    rule(Id::Hypertension, Drug::Amlodipine, 0.65),
    rule(Id::Hypertension, Drug::Ramipril, 0.55),
    Rule { condition: Id::Hypertension, drug: Drug::Losartan, probability: 0.30, unless: Some(Drug::Ramipril) },
    // Primary prevention: most people with hypertension have a 10-year cardiovascular risk that calls for a statin.
    rule(Id::Hypertension, Drug::Simvastatin, 0.55),
    rule(Id::Type2Diabetes, Drug::Metformin, 0.80),
    rule(Id::Type2Diabetes, Drug::Empagliflozin, 0.25),
    rule(Id::Type2Diabetes, Drug::Simvastatin, 0.70),
    rule(Id::Type2Diabetes, Drug::Ramipril, 0.30),
    rule(Id::CoronaryHeartDisease, Drug::Aspirin, 0.75),
    rule(Id::CoronaryHeartDisease, Drug::Simvastatin, 0.85),
    rule(Id::CoronaryHeartDisease, Drug::Bisoprolol, 0.60),
    rule(Id::CoronaryHeartDisease, Drug::Ramipril, 0.40),
    rule(Id::HeartFailure, Drug::Furosemide, 0.85),
    rule(Id::HeartFailure, Drug::Bisoprolol, 0.70),
    rule(Id::HeartFailure, Drug::Ramipril, 0.60),
    rule(Id::HeartFailure, Drug::Spironolactone, 0.40),
    rule(Id::HeartFailure, Drug::Empagliflozin, 0.20),
    rule(Id::AtrialFibrillation, Drug::Apixaban, 0.75),
    rule(Id::AtrialFibrillation, Drug::Bisoprolol, 0.60),
    rule(Id::StrokeTia, Drug::Simvastatin, 0.80),
    Rule { condition: Id::StrokeTia, drug: Drug::Aspirin, probability: 0.50, unless: Some(Drug::Apixaban) },
    rule(Id::PeripheralArterialDisease, Drug::Simvastatin, 0.80),
    Rule { condition: Id::PeripheralArterialDisease, drug: Drug::Aspirin, probability: 0.70, unless: Some(Drug::Apixaban) },
    rule(Id::ChronicKidneyDisease, Drug::Ramipril, 0.40),
    rule(Id::ChronicKidneyDisease, Drug::Simvastatin, 0.50),
    rule(Id::Asthma, Drug::Salbutamol, 0.90),
    rule(Id::Copd, Drug::Salbutamol, 0.95),
    rule(Id::Osteoarthritis, Drug::Paracetamol, 0.60),
    rule(Id::RheumatoidArthritis, Drug::Paracetamol, 0.50),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drugs_name_their_positions() {
        let named = [
            (Drug::Amlodipine, "Amlodipine"),
            (Drug::Ramipril, "Ramipril"),
            (Drug::Losartan, "Losartan"),
            (Drug::Bisoprolol, "Bisoprolol"),
            (Drug::Furosemide, "Furosemide"),
            (Drug::Spironolactone, "Spironolactone"),
            (Drug::Simvastatin, "Simvastatin"),
            (Drug::Aspirin, "Aspirin"),
            (Drug::Apixaban, "Apixaban"),
            (Drug::Metformin, "Metformin"),
            (Drug::Empagliflozin, "Empagliflozin"),
            (Drug::Salbutamol, "Salbutamol"),
            (Drug::Paracetamol, "Paracetamol"),
        ];
        assert_eq!(named.len(), MEDICINE_COUNT);
        for (drug, name) in named {
            assert!(MEDICINES[drug as usize].display.starts_with(name));
        }
    }
}
