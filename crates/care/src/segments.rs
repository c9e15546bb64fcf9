//! Population segments: the North West London 15-group segmentation, each person in exactly one group, the
//! first in the hierarchy (most severe need first) whose age band and needs they meet. The groups, their
//! order and how each need is read from the record are data (`segments/segments.json` and the FHIR
//! ValueSets in `segments/valuesets/`); a person's segment names the resources that placed them.

use crate::codes::CodeSets;
use crate::registers::{Day, Facts, Membership};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::sync::OnceLock;

/// One group, as `segments.json` defines it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Segment {
    /// The group's number in the published list (1 to 15).
    pub number: u32,
    pub name: String,
    /// The age band, in whole years, inclusive.
    pub min_age: i32,
    #[serde(default)]
    pub max_age: Option<i32>,
    /// What the person must have, every one of them.
    pub needs: Vec<Need>,
}

/// A need: every part given must hold (on one of the `registers`, a current diagnosis in `diagnoses`, on
/// some register at all), and of `any_of`, at least one.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Need {
    #[serde(default)]
    pub registers: Vec<String>,
    #[serde(default)]
    pub diagnoses: Option<String>,
    #[serde(default)]
    pub any_register: bool,
    #[serde(default)]
    pub any_of: Vec<Need>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Definition {
    model: String,
    version: String,
    #[allow(dead_code)]
    source: String,
    note: String,
    segments: Vec<Segment>,
}

/// A person's segment and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub number: u32,
    /// The resources that met the group's needs (none for the mostly healthy groups).
    pub because: Vec<String>,
}

/// The segmentation: its groups in hierarchy order, and their value sets.
#[derive(Debug)]
pub struct Segmentation {
    pub model: String,
    pub version: String,
    pub note: String,
    segments: Vec<Segment>,
    codes: CodeSets,
}

impl Segmentation {
    /// The segmentation this build carries (`segments/`).
    pub fn builtin() -> &'static Segmentation {
        static BUILTIN: OnceLock<Segmentation> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            let registers: Vec<&str> = crate::registers::Registers::builtin().all().iter().map(|r| r.code.as_str()).collect();
            Segmentation::from_json(include_str!("../segments/segments.json"), BUILTIN_VALUE_SETS, &registers)
                .unwrap_or_else(|e| panic!("invariant: the built-in segmentation is consistent: {e}"))
        })
    }

    /// Reads a segmentation: numbers 1 to 15 each once, every value set named given, every register named
    /// one of `registers`, and every age covered by some group that needs nothing (so that everyone with a
    /// birth date has a group).
    pub fn from_json(definition: &str, value_sets: &[&str], registers: &[&str]) -> Result<Segmentation, String> {
        let d: Definition = serde_json::from_str(definition).map_err(|e| format!("the segmentation: {e}"))?;
        let codes = CodeSets::from_json(value_sets)?;
        let numbers: BTreeSet<u32> = d.segments.iter().map(|s| s.number).collect();
        if numbers.len() != d.segments.len() || numbers != (1..=15).collect() {
            return Err("the segmentation must have groups 1 to 15, each once".into());
        }
        fn check(need: &Need, codes: &CodeSets, registers: &[&str]) -> Result<(), String> {
            if let Some(url) = &need.diagnoses {
                if !codes.has(url) {
                    return Err(format!("a need names the value set {url}, which is not given"));
                }
            }
            if let Some(r) = need.registers.iter().find(|r| !registers.contains(&r.as_str())) {
                return Err(format!("a need names the register {r}, which is not defined"));
            }
            need.any_of.iter().try_for_each(|n| check(n, codes, registers))
        }
        for s in &d.segments {
            s.needs.iter().try_for_each(|n| check(n, &codes, registers)).map_err(|e| format!("group {}: {e}", s.number))?;
        }
        // Every age from 0 to 150 falls in a group that needs nothing.
        for age in 0..=150 {
            if !d.segments.iter().any(|s| s.needs.is_empty() && s.min_age <= age && s.max_age.is_none_or(|m| age <= m)) {
                return Err(format!("no group without needs takes people aged {age}"));
            }
        }
        Ok(Segmentation { model: d.model, version: d.version, note: d.note, segments: d.segments, codes })
    }

    /// The groups in hierarchy order.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    pub fn get(&self, number: u32) -> Option<&Segment> {
        self.segments.iter().find(|s| s.number == number)
    }

    /// The person's group on `today`, given the registers they are on that day; `None` without a birth date
    /// (their age band cannot be known).
    pub fn place(&self, person: &Facts, registers: &[Membership], today: Day) -> Option<Placement> {
        let age = person.birth_date?.years_to(today);
        self.segments.iter().filter(|s| s.min_age <= age && s.max_age.is_none_or(|m| age <= m)).find_map(|s| {
            let mut because = BTreeSet::new();
            s.needs
                .iter()
                .all(|n| self.meets(n, person, registers, &mut because))
                .then(|| Placement { number: s.number, because: because.into_iter().collect() })
        })
    }

    fn meets(&self, need: &Need, person: &Facts, registers: &[Membership], because: &mut BTreeSet<String>) -> bool {
        let mut found = Vec::new();
        if !need.registers.is_empty() {
            match registers.iter().find(|m| need.registers.contains(&m.register)) {
                Some(m) => found.extend(m.because.iter().cloned()),
                None => return false,
            }
        }
        if need.any_register {
            match registers.first() {
                Some(m) => found.extend(m.because.iter().cloned()),
                None => return false,
            }
        }
        if let Some(url) = &need.diagnoses {
            let mut matching: Vec<&str> =
                person.diagnoses.iter().filter(|d| d.current && self.codes.contains(url, &d.system, &d.code)).map(|d| d.reference.as_str()).collect();
            matching.sort_unstable();
            match matching.first() {
                Some(r) => found.push((*r).to_owned()),
                None => return false,
            }
        }
        if !need.any_of.is_empty() {
            match need.any_of.iter().find_map(|n| {
                let mut inner = BTreeSet::new();
                self.meets(n, person, registers, &mut inner).then_some(inner)
            }) {
                Some(inner) => found.extend(inner),
                None => return false,
            }
        }
        because.extend(found);
        true
    }
}

/// The built-in value sets of the segmentation's needs.
const BUILTIN_VALUE_SETS: &[&str] = &[
    include_str!("../segments/valuesets/segment-high-care-needs.json"),
    include_str!("../segments/valuesets/segment-homeless.json"),
    include_str!("../segments/valuesets/segment-severe-physical-disability.json"),
];
