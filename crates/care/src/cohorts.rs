//! Eligibility for integrated care: cohorts defined per locality as data (`cohorts/cohorts.json`, or a
//! locality's own file), each a list of rules over age and the long-term-condition registers; a person is
//! in a cohort when they live in one of its localities and a rule admits them, and the first such rule is
//! their reason, with the resources that show it. The registers are groups too (`register-<code>`), their
//! reason the register and its evidence.

use crate::registers::{Day, Facts, Membership, Registers};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::sync::OnceLock;

/// The prefix of a register's group id (`register-dm`); cohorts may not use it.
pub const REGISTER_PREFIX: &str = "register-";

/// One cohort, as the definitions file gives it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Cohort {
    /// The Group's id.
    pub id: String,
    pub name: String,
    /// Where members live (`Patient.address.district` of the current home address, compared without case);
    /// empty: everywhere.
    #[serde(default)]
    pub localities: Vec<String>,
    /// In order: the first that admits a person is their reason.
    pub rules: Vec<Rule>,
}

/// A rule that admits a person: every condition it states holds.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rule {
    /// The reason's code, unique within its cohort.
    pub reason: String,
    pub display: String,
    /// The youngest age, in whole years.
    #[serde(default)]
    pub min_age: Option<i32>,
    /// The oldest age, in whole years.
    #[serde(default)]
    pub max_age: Option<i32>,
    /// On at least one of these registers: `"any"` or a list of register codes.
    #[serde(default)]
    pub registers: Option<RegisterChoice>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RegisterChoice {
    /// Only `"any"` is accepted: any of the registers.
    Word(String),
    Codes(Vec<String>),
}

/// Why a person is in a group: the group, the rule (or register) that admitted them, and the resources
/// that show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    pub group: String,
    pub reason: String,
    pub because: Vec<String>,
}

impl Admission {
    /// A register membership as a group membership.
    pub fn from_register(m: &Membership) -> Admission {
        Admission { group: register_group(&m.register), reason: m.register.clone(), because: m.because.clone() }
    }
}

/// The id of a register's group (`register-dm` for `DM`).
pub fn register_group(code: &str) -> String {
    format!("{REGISTER_PREFIX}{}", code.to_ascii_lowercase())
}

/// The cohorts of one configuration.
#[derive(Debug, Clone)]
pub struct Cohorts {
    cohorts: Vec<Cohort>,
}

#[derive(Deserialize)]
struct Definitions {
    cohorts: Vec<Cohort>,
    #[serde(default, rename = "_comment")]
    _comment: Option<String>,
}

impl Cohorts {
    /// The default cohorts this build carries (`cohorts/cohorts.json`).
    pub fn builtin() -> &'static Cohorts {
        static BUILTIN: OnceLock<Cohorts> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            Cohorts::from_json(include_str!("../cohorts/cohorts.json"), Registers::builtin())
                .unwrap_or_else(|e| panic!("invariant: the built-in cohorts are consistent: {e}"))
        })
    }

    /// Reads cohort definitions, checking each against the registers they name.
    pub fn from_json(text: &str, registers: &Registers) -> Result<Cohorts, String> {
        let defs: Definitions = serde_json::from_str(text).map_err(|e| format!("the cohort definitions: {e}"))?;
        let mut ids = BTreeSet::new();
        for c in &defs.cohorts {
            let valid_id = !c.id.is_empty() && c.id.len() <= 64 && c.id.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '.');
            if !valid_id {
                return Err(format!("cohort id '{}' is not a FHIR id (1 to 64 letters, digits, '-' or '.')", c.id));
            }
            if c.id.starts_with(REGISTER_PREFIX) {
                return Err(format!("cohort id '{}' starts with '{REGISTER_PREFIX}', which names the registers' groups", c.id));
            }
            if !ids.insert(c.id.as_str()) {
                return Err(format!("cohort {} is defined twice", c.id));
            }
            if c.rules.is_empty() {
                return Err(format!("cohort {} has no rules: nobody could be admitted", c.id));
            }
            let mut reasons = BTreeSet::new();
            for r in &c.rules {
                let at = format!("cohort {} rule '{}'", c.id, r.reason);
                if r.reason.is_empty() || !reasons.insert(r.reason.as_str()) {
                    return Err(format!("{at}: each rule needs a reason of its own"));
                }
                for age in [r.min_age, r.max_age].into_iter().flatten() {
                    if !(0..=150).contains(&age) {
                        return Err(format!("{at}: age {age} is not between 0 and 150"));
                    }
                }
                if let (Some(min), Some(max)) = (r.min_age, r.max_age) {
                    if min > max {
                        return Err(format!("{at}: minAge {min} is above maxAge {max}"));
                    }
                }
                match &r.registers {
                    Some(RegisterChoice::Word(w)) if w != "any" => {
                        return Err(format!("{at}: registers is \"any\" or a list of register codes, not \"{w}\""))
                    }
                    Some(RegisterChoice::Codes(codes)) => {
                        if codes.is_empty() {
                            return Err(format!("{at}: an empty list of registers admits nobody"));
                        }
                        if let Some(unknown) = codes.iter().find(|code| registers.get(code).is_none()) {
                            return Err(format!("{at}: there is no register {unknown}"));
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(Cohorts { cohorts: defs.cohorts })
    }

    pub fn all(&self) -> &[Cohort] {
        &self.cohorts
    }

    pub fn get(&self, id: &str) -> Option<&Cohort> {
        self.cohorts.iter().find(|c| c.id == id)
    }

    /// The cohorts `person` (the Patient `patient`, e.g. `Patient/p1`) is in on `today`, given the registers
    /// they are on, in the order the cohorts are defined. Nobody who has died or whose record has no Patient
    /// is in any; an age rule needs a birth date.
    pub fn admissions(&self, person: &Facts, patient: &str, memberships: &[Membership], today: Day) -> Vec<Admission> {
        if !person.has_person || !person.alive_on(today) {
            return Vec::new();
        }
        self.cohorts
            .iter()
            .filter(|c| c.localities.is_empty() || person.district.as_deref().is_some_and(|d| c.localities.iter().any(|l| l.eq_ignore_ascii_case(d))))
            .filter_map(|c| {
                c.rules.iter().find_map(|r| admits(r, person, patient, memberships, today)).map(|(reason, because)| Admission {
                    group: c.id.clone(),
                    reason: reason.to_owned(),
                    because,
                })
            })
            .collect()
    }
}

/// The rule's reason and evidence if it admits the person: the Patient for an age condition, the register's
/// evidence for a register condition (the first register listed that the person is on).
fn admits<'r>(r: &'r Rule, person: &Facts, patient: &str, memberships: &[Membership], today: Day) -> Option<(&'r str, Vec<String>)> {
    let mut because = Vec::new();
    if r.min_age.is_some() || r.max_age.is_some() {
        let age = person.birth_date?.years_to(today);
        if r.min_age.is_some_and(|min| age < min) || r.max_age.is_some_and(|max| age > max) {
            return None;
        }
        because.push(patient.to_owned());
    }
    if let Some(choice) = &r.registers {
        let on = match choice {
            RegisterChoice::Word(_) => memberships.first(),
            RegisterChoice::Codes(codes) => codes.iter().find_map(|code| memberships.iter().find(|m| &m.register == code)),
        }?;
        because.extend(on.because.iter().filter(|b| !because.contains(b)).cloned().collect::<Vec<_>>());
    }
    Some((&r.reason, because))
}
