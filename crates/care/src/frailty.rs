//! The electronic Frailty Index (eFI; Clegg et al., Age and Ageing 2016): 36 equally weighted deficits, each
//! counted once it has been recorded (polypharmacy: five or more different medicines issued in the last 12
//! months), the index as deficits present over 36, and its bands. The deficits and their code lists are data
//! (`risk/efi.json` and the FHIR ValueSets in `risk/valuesets/`); every deficit found names the resources that
//! supplied it, so the score can be checked line by line.

use crate::codes::CodeSets;
use crate::registers::{Day, Facts};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::sync::OnceLock;

/// The number of deficits the index divides by.
pub const DEFICITS: usize = 36;

/// The eFI bands: fit up to 0.12, mild above 0.12 to 0.24, moderate above 0.24 to 0.36, severe above 0.36.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Band {
    Fit,
    Mild,
    Moderate,
    Severe,
}

impl Band {
    pub const ALL: [Band; 4] = [Band::Fit, Band::Mild, Band::Moderate, Band::Severe];

    /// The band of `present` deficits of 36, compared in whole numbers (present × 100 against the cut-off ×
    /// 36) so that a boundary such as exactly 0.24 falls where the definition puts it.
    pub fn of(present: usize) -> Band {
        let scaled = present * 100;
        if scaled <= 12 * DEFICITS {
            Band::Fit
        } else if scaled <= 24 * DEFICITS {
            Band::Mild
        } else if scaled <= 36 * DEFICITS {
            Band::Moderate
        } else {
            Band::Severe
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Band::Fit => "fit",
            Band::Mild => "mild",
            Band::Moderate => "moderate",
            Band::Severe => "severe",
        }
    }

    /// The one-year emergency admission hazard ratio against the fit, published with the eFI (Clegg et al.
    /// 2016): mild 1.93, moderate 3.04, severe 4.73.
    pub fn admission_hazard_ratio(self) -> f64 {
        match self {
            Band::Fit => 1.0,
            Band::Mild => 1.93,
            Band::Moderate => 3.04,
            Band::Severe => 4.73,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Definition {
    model: String,
    version: String,
    #[allow(dead_code)]
    source: String,
    #[allow(dead_code)]
    note: String,
    deficits: Vec<Deficit>,
}

/// One deficit: coded diagnoses or findings (a value set), or a count of different medicines.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deficit {
    pub key: String,
    pub name: String,
    #[serde(default)]
    pub diagnoses: Option<String>,
    #[serde(default)]
    pub medicines: Option<Polypharmacy>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Polypharmacy {
    /// Different medicines (by code) that make the deficit.
    pub distinct: usize,
    /// Issued within this many months before the day of assessment.
    pub months: u32,
}

/// A deficit found in a person's record, with the resources that show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub key: String,
    pub because: Vec<String>,
}

/// One person's eFI on one day.
#[derive(Debug, Clone, PartialEq)]
pub struct Frailty {
    /// The deficits present, in the order the model lists them.
    pub found: Vec<Found>,
    /// Deficits present over 36.
    pub index: f64,
    pub band: Band,
}

/// The eFI model: its deficits and their code lists.
#[derive(Debug)]
pub struct Efi {
    pub model: String,
    pub version: String,
    deficits: Vec<Deficit>,
    codes: CodeSets,
}

impl Efi {
    /// The model this build carries (`risk/`).
    pub fn builtin() -> &'static Efi {
        static BUILTIN: OnceLock<Efi> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            let sets: Vec<&str> = BUILTIN_VALUE_SETS.to_vec();
            Efi::from_json(include_str!("../risk/efi.json"), &sets).unwrap_or_else(|e| panic!("invariant: the built-in eFI is consistent: {e}"))
        })
    }

    /// Reads the model's definition and the ValueSets it names: exactly 36 deficits, each coded or counted.
    pub fn from_json(definition: &str, value_sets: &[&str]) -> Result<Efi, String> {
        let d: Definition = serde_json::from_str(definition).map_err(|e| format!("the eFI definition: {e}"))?;
        let codes = CodeSets::from_json(value_sets)?;
        if d.deficits.len() != DEFICITS {
            return Err(format!("the eFI has {DEFICITS} deficits, the definition {}", d.deficits.len()));
        }
        let mut keys = BTreeSet::new();
        for deficit in &d.deficits {
            if !keys.insert(deficit.key.as_str()) {
                return Err(format!("deficit {} is defined twice", deficit.key));
            }
            match (&deficit.diagnoses, &deficit.medicines) {
                (Some(url), None) if codes.has(url) => {}
                (Some(url), None) => return Err(format!("deficit {} names the value set {url}, which is not given", deficit.key)),
                (None, Some(_)) => {}
                _ => return Err(format!("deficit {} needs either diagnoses or medicines", deficit.key)),
            }
        }
        Ok(Efi { model: d.model, version: d.version, deficits: d.deficits, codes })
    }

    pub fn deficits(&self) -> &[Deficit] {
        &self.deficits
    }

    /// Whether any deficit's value set holds the code.
    pub fn reads(&self, system: &str, code: &str) -> bool {
        self.codes.any_contains(system, code)
    }

    /// The person's eFI on `today`: a coded deficit counts when recorded on or before that day (or undated),
    /// resolved or not, unless refuted or entered in error.
    pub fn assess(&self, person: &Facts, today: Day) -> Frailty {
        let mut found = Vec::new();
        for deficit in &self.deficits {
            let because: Vec<String> = match (&deficit.diagnoses, deficit.medicines) {
                (Some(url), _) => {
                    let mut refs: Vec<(Option<Day>, &str)> = person
                        .diagnoses
                        .iter()
                        .filter(|d| !d.refuted && d.date.is_none_or(|at| at <= today) && self.codes.contains(url, &d.system, &d.code))
                        .map(|d| (d.date, d.reference.as_str()))
                        .collect();
                    refs.sort_unstable();
                    dedup_references(refs.into_iter().map(|(_, r)| r))
                }
                (None, Some(p)) => {
                    let since = today.months_before(p.months);
                    let (recent, distinct) = person.medicines_issued(since, today);
                    if distinct >= p.distinct {
                        let mut refs: Vec<&str> = recent.iter().map(|m| m.reference.as_str()).collect();
                        refs.sort_unstable();
                        dedup_references(refs.into_iter())
                    } else {
                        Vec::new()
                    }
                }
                (None, None) => Vec::new(),
            };
            if !because.is_empty() {
                found.push(Found { key: deficit.key.clone(), because });
            }
        }
        let present = found.len();
        Frailty { index: present as f64 / DEFICITS as f64, band: Band::of(present), found }
    }
}

/// References in their order, each once.
fn dedup_references<'a>(refs: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    refs.filter(|r| seen.insert(*r)).map(str::to_owned).collect()
}

/// The built-in value sets, one FHIR ValueSet per deficit that is coded.
pub(crate) const BUILTIN_VALUE_SETS: &[&str] = &[
    include_str!("../risk/valuesets/efi-activity-limitation.json"),
    include_str!("../risk/valuesets/efi-anaemia.json"),
    include_str!("../risk/valuesets/efi-arthritis.json"),
    include_str!("../risk/valuesets/efi-atrial-fibrillation.json"),
    include_str!("../risk/valuesets/efi-cerebrovascular.json"),
    include_str!("../risk/valuesets/efi-chronic-kidney-disease.json"),
    include_str!("../risk/valuesets/efi-diabetes.json"),
    include_str!("../risk/valuesets/efi-dizziness.json"),
    include_str!("../risk/valuesets/efi-dyspnoea.json"),
    include_str!("../risk/valuesets/efi-falls.json"),
    include_str!("../risk/valuesets/efi-foot-problems.json"),
    include_str!("../risk/valuesets/efi-fragility-fracture.json"),
    include_str!("../risk/valuesets/efi-hearing-impairment.json"),
    include_str!("../risk/valuesets/efi-heart-failure.json"),
    include_str!("../risk/valuesets/efi-heart-valve-disease.json"),
    include_str!("../risk/valuesets/efi-housebound.json"),
    include_str!("../risk/valuesets/efi-hypertension.json"),
    include_str!("../risk/valuesets/efi-hypotension-syncope.json"),
    include_str!("../risk/valuesets/efi-ischaemic-heart-disease.json"),
    include_str!("../risk/valuesets/efi-memory-cognitive.json"),
    include_str!("../risk/valuesets/efi-mobility-transfer.json"),
    include_str!("../risk/valuesets/efi-osteoporosis.json"),
    include_str!("../risk/valuesets/efi-parkinsonism.json"),
    include_str!("../risk/valuesets/efi-peptic-ulcer.json"),
    include_str!("../risk/valuesets/efi-peripheral-vascular.json"),
    include_str!("../risk/valuesets/efi-requirement-for-care.json"),
    include_str!("../risk/valuesets/efi-respiratory.json"),
    include_str!("../risk/valuesets/efi-skin-ulcer.json"),
    include_str!("../risk/valuesets/efi-sleep-disturbance.json"),
    include_str!("../risk/valuesets/efi-social-vulnerability.json"),
    include_str!("../risk/valuesets/efi-thyroid.json"),
    include_str!("../risk/valuesets/efi-urinary-incontinence.json"),
    include_str!("../risk/valuesets/efi-urinary-system.json"),
    include_str!("../risk/valuesets/efi-visual-impairment.json"),
    include_str!("../risk/valuesets/efi-weight-loss.json"),
];
