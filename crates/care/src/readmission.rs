//! Readmission risk at discharge: the Charlson comorbidity index (17 groups with their weights, a more
//! severe form superseding the milder; groups and code lists as data in `risk/charlson.json` and FHIR
//! ValueSets, several shared with the registers and the eFI) and LACE (van Walraven et al., CMAJ 2010):
//! Length of stay, Acute admission, Charlson, Emergency department visits in the 6 months before, 0 to 19,
//! each part with the resources behind it.

use crate::codes::CodeSets;
use crate::registers::{Day, EmergencyKind, Facts};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::sync::OnceLock;

/// One Charlson group, as `charlson.json` defines it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    pub key: String,
    pub name: String,
    pub weight: u32,
    /// Value sets any of whose diagnoses puts a person in the group.
    pub diagnoses: Vec<String>,
    /// Milder groups this one replaces when both are present.
    #[serde(default)]
    pub supersedes: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Definition {
    model: String,
    version: String,
    #[allow(dead_code)]
    source: String,
    note: String,
    groups: Vec<Group>,
}

/// A group found in a person's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comorbidity {
    pub key: String,
    pub weight: u32,
    pub because: Vec<String>,
}

/// The Charlson index and its groups.
#[derive(Debug)]
pub struct Charlson {
    pub model: String,
    pub version: String,
    pub note: String,
    groups: Vec<Group>,
    codes: CodeSets,
}

impl Charlson {
    /// The index this build carries (`risk/charlson.json`), reading the register, eFI and Charlson value sets.
    pub fn builtin() -> &'static Charlson {
        static BUILTIN: OnceLock<Charlson> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            let sets: Vec<&str> =
                crate::registers::BUILTIN_VALUE_SETS.iter().chain(crate::frailty::BUILTIN_VALUE_SETS).chain(CHARLSON_VALUE_SETS).copied().collect();
            Charlson::from_json(include_str!("../risk/charlson.json"), &sets)
                .unwrap_or_else(|e| panic!("invariant: the built-in Charlson index is consistent: {e}"))
        })
    }

    /// Reads the groups: keys once each, every value set named given, every superseded group defined.
    pub fn from_json(definition: &str, value_sets: &[&str]) -> Result<Charlson, String> {
        let d: Definition = serde_json::from_str(definition).map_err(|e| format!("the Charlson index: {e}"))?;
        let codes = CodeSets::from_json(value_sets)?;
        let mut keys = BTreeSet::new();
        for g in &d.groups {
            if !keys.insert(g.key.as_str()) {
                return Err(format!("group {} is defined twice", g.key));
            }
            if let Some(url) = g.diagnoses.iter().find(|u| !codes.has(u)) {
                return Err(format!("group {} names the value set {url}, which is not given", g.key));
            }
        }
        if let Some((g, s)) = d.groups.iter().find_map(|g| g.supersedes.iter().find(|s| !keys.contains(s.as_str())).map(|s| (g, s))) {
            return Err(format!("group {} supersedes {s}, which is not defined", g.key));
        }
        Ok(Charlson { model: d.model, version: d.version, note: d.note, groups: d.groups, codes })
    }

    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// The groups in the person's record on `on` (current, not refuted diagnoses recorded by then), the
    /// milder forms of a group present dropped.
    pub fn comorbidities(&self, person: &Facts, on: Day) -> Vec<Comorbidity> {
        let mut found: Vec<Comorbidity> = self
            .groups
            .iter()
            .filter_map(|g| {
                let because: BTreeSet<&str> = person
                    .diagnoses
                    .iter()
                    .filter(|d| d.current && !d.refuted && d.date.is_none_or(|at| at <= on))
                    .filter(|d| g.diagnoses.iter().any(|url| self.codes.contains(url, &d.system, &d.code)))
                    .map(|d| d.reference.as_str())
                    .collect();
                (!because.is_empty()).then(|| Comorbidity {
                    key: g.key.clone(),
                    weight: g.weight,
                    because: because.into_iter().map(str::to_owned).collect(),
                })
            })
            .collect();
        let superseded: BTreeSet<String> =
            self.groups.iter().filter(|g| found.iter().any(|f| f.key == g.key)).flat_map(|g| g.supersedes.iter().cloned()).collect();
        found.retain(|f| !superseded.contains(&f.key));
        found
    }
}

/// The built-in value sets of the Charlson groups that the registers and the eFI do not have.
const CHARLSON_VALUE_SETS: &[&str] = &[
    include_str!("../risk/charlson/charlson-diabetes-complications.json"),
    include_str!("../risk/charlson/charlson-hemiplegia.json"),
    include_str!("../risk/charlson/charlson-hiv.json"),
    include_str!("../risk/charlson/charlson-metastatic-tumour.json"),
    include_str!("../risk/charlson/charlson-mild-liver-disease.json"),
    include_str!("../risk/charlson/charlson-myocardial-infarction.json"),
    include_str!("../risk/charlson/charlson-severe-liver-disease.json"),
];

/// LACE's points for a length of stay in whole days: under 1 day 0, 1 to 3 days as many, 4 to 6 days 4,
/// 7 to 13 days 5, 14 days or more 7.
pub fn length_points(days: i64) -> u32 {
    match days {
        ..=0 => 0,
        1..=3 => days as u32,
        4..=6 => 4,
        7..=13 => 5,
        _ => 7,
    }
}

/// LACE's points for a Charlson index: as it is up to 3, 5 from 4.
pub fn charlson_points(index: u32) -> u32 {
    if index >= 4 {
        5
    } else {
        index
    }
}

/// The most emergency department visits LACE counts.
pub const VISITS_CAP: usize = 4;

/// One stay's LACE score and its parts.
#[derive(Debug, Clone, PartialEq)]
pub struct Lace {
    pub length_days: i64,
    pub length_points: u32,
    pub acute: bool,
    pub charlson_index: u32,
    pub charlson_points: u32,
    pub comorbidities: Vec<Comorbidity>,
    /// The A&E attendances in the 6 months before the admission's day (not on it: the attendance that led to
    /// the admission is part of it), up to 4.
    pub visits: Vec<String>,
    pub total: u32,
}

/// LACE for a stay from `admitted` to `discharged` (whole days between the two days), `acute` when it was an
/// emergency admission, from the person's record.
pub fn lace(person: &Facts, admitted: Day, discharged: Day, acute: bool, charlson: &Charlson) -> Lace {
    let length_days = days_between(admitted, discharged);
    let comorbidities = charlson.comorbidities(person, discharged);
    let charlson_index: u32 = comorbidities.iter().map(|c| c.weight).sum();
    let since = admitted.months_before(6);
    let mut visits: Vec<(Day, String)> = person
        .emergencies
        .iter()
        .filter(|e| e.kind == EmergencyKind::Attendance)
        .filter_map(|e| e.date.filter(|d| *d >= since && *d < admitted).map(|d| (d, e.reference.clone())))
        .collect();
    visits.sort();
    let visits: Vec<String> = visits.into_iter().rev().take(VISITS_CAP).map(|(_, r)| r).collect();
    let (lp, cp) = (length_points(length_days), charlson_points(charlson_index));
    let total = lp + if acute { 3 } else { 0 } + cp + visits.len() as u32;
    Lace { length_days, length_points: lp, acute, charlson_index, charlson_points: cp, comorbidities, visits, total }
}

/// Whole days from `from` to `to` (negative before it).
pub fn days_between(from: Day, to: Day) -> i64 {
    from.days_to(to)
}
