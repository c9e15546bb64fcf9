//! Long-term-condition registers: which registers a person belongs on, and why, from their coded diagnoses
//! and medicines. The registers and their code lists are data (`registers/registers.json` and the FHIR
//! ValueSets in `registers/valuesets/`), read once; each membership names the resources that admitted the
//! person, so that nobody is on a list without a reason anyone can check.

use crate::codes::CodeSets;
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::OnceLock;

/// A calendar day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Day {
    pub year: i32,
    pub month: u32,
    pub day: u32,
}

impl Day {
    /// The day a FHIR date or dateTime starts on (`2020`, `2020-04`, `2020-04-01`, `2020-04-01T10:00:00Z`);
    /// a partial date is taken at its last day when `latest`, else its first.
    pub fn parse(text: &str, latest: bool) -> Option<Day> {
        let date = text.get(..10.min(text.len()))?;
        let mut parts = date.split('-');
        let year: i32 = parts.next()?.parse().ok()?;
        let month: Option<u32> = parts.next().map(str::parse).transpose().ok()?;
        let day: Option<u32> = parts.next().map(str::parse).transpose().ok()?;
        let month = month.unwrap_or(if latest { 12 } else { 1 });
        if !(1..=12).contains(&month) {
            return None;
        }
        let day = day.unwrap_or(if latest { days_in(year, month) } else { 1 });
        (1..=days_in(year, month)).contains(&day).then_some(Day { year, month, day })
    }

    /// Whole years from `self` to `on` (an age when `self` is a birth date); negative before it.
    pub fn years_to(self, on: Day) -> i32 {
        let years = on.year - self.year;
        if (on.month, on.day) < (self.month, self.day) {
            years - 1
        } else {
            years
        }
    }

    /// The same day `months` months earlier (the month's last day when it has fewer days).
    pub fn months_before(self, months: u32) -> Day {
        self.add_months(-i32::try_from(months).unwrap_or(i32::MAX / 24))
    }

    /// The same day `months` months later (the month's last day when it has fewer days).
    pub fn months_after(self, months: u32) -> Day {
        self.add_months(i32::try_from(months).unwrap_or(i32::MAX / 24))
    }

    /// Whole days from `self` to `to` (negative before it).
    pub fn days_to(self, to: Day) -> i64 {
        to.number() - self.number()
    }

    /// The day `days` days later (earlier when negative).
    pub fn add_days(self, days: i64) -> Day {
        Day::from_number(self.number() + days)
    }

    /// Days since 1970-01-01, proleptic Gregorian (the days-from-civil algorithm).
    fn number(self) -> i64 {
        let (y, m) =
            if self.month <= 2 { (i64::from(self.year) - 1, i64::from(self.month) + 9) } else { (i64::from(self.year), i64::from(self.month) - 3) };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * m + 2) / 5 + i64::from(self.day) - 1;
        era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
    }

    /// The day `number` days after 1970-01-01 (the civil-from-days algorithm).
    fn from_number(number: i64) -> Day {
        let z = number + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        Day {
            year: i32::try_from(year).unwrap_or(if year < 0 { i32::MIN } else { i32::MAX }),
            month: u32::try_from(month).unwrap_or(1),
            day: u32::try_from(day).unwrap_or(1),
        }
    }

    fn add_months(self, months: i32) -> Day {
        let total = self.year * 12 + i32::try_from(self.month).unwrap_or(1) - 1 + months;
        let (year, month) = (total.div_euclid(12), u32::try_from(total.rem_euclid(12)).unwrap_or(0) + 1);
        Day { year, month, day: self.day.min(days_in(year, month)) }
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

fn days_in(year: i32, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// A coded entry of a person's record: a diagnosis (Condition) or a medicine (MedicationRequest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coded {
    /// The resource it comes from (`Condition/con-1`).
    pub reference: String,
    pub system: String,
    pub code: String,
    /// When it was recorded or issued, if known.
    pub date: Option<Day>,
    /// Still in force: an active (or recurring, relapsed) diagnosis that is not refuted or entered in error;
    /// a medicine that was not entered in error.
    pub current: bool,
    /// The record says it was refuted or entered in error: it never counts, not even as ever recorded.
    pub refuted: bool,
}

/// An emergency the record shows: an A&E attendance or an emergency admission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emergency {
    /// The Encounter it comes from.
    pub reference: String,
    pub kind: EmergencyKind,
    /// The day it started, if known.
    pub date: Option<Day>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EmergencyKind {
    /// An Encounter of class `EMER` (an emergency department visit).
    Attendance,
    /// An inpatient Encounter (`IMP`, `ACUTE`, `NONAC`) whose priority is emergency (`EM`) or which came
    /// from the emergency department (`hospitalization.admitSource` `emd`).
    Admission,
}

/// What the registers and risk models read about one person.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// Whether a Patient resource was read (the person exists).
    pub has_person: bool,
    pub birth_date: Option<Day>,
    /// `Patient.gender` (`male`, `female`, `other`, `unknown`).
    pub gender: Option<String>,
    /// The Patient says the person has died (`deceasedBoolean` true or a `deceasedDateTime`), and when, if
    /// it says.
    pub deceased: Option<Option<Day>>,
    /// The registered practice: the first `Patient.generalPractitioner` that is an Organization (its id).
    pub practice: Option<String>,
    /// Where the person lives: the district of their current home address (`Patient.address` with use
    /// `home`, or no use, and no end).
    pub district: Option<String>,
    pub diagnoses: Vec<Coded>,
    pub medicines: Vec<Coded>,
    pub emergencies: Vec<Emergency>,
    /// The resources read that are labelled restricted or very restricted (`meta.security`, v3
    /// Confidentiality R or V): what they show is for fewer eyes.
    pub labelled_restricted: Vec<String>,
}

impl Facts {
    /// The facts in a person's FHIR resources: the Patient's birth date, gender and death, every coding of
    /// each Condition's code, and of each MedicationRequest's medication, and each Encounter that was an A&E
    /// attendance or an emergency admission; other resources, and resources whose elements these rules read
    /// are not of their FHIR types, are ignored.
    pub fn from_resources<'a>(resources: impl IntoIterator<Item = &'a Value>) -> Facts {
        let mut facts = Facts::default();
        for r in resources {
            if let Ok(resource) = Resource::deserialize(r) {
                facts.add(&resource);
            }
        }
        facts
    }

    /// The facts in one resource's JSON text, as `from_resources` reads them, without building a JSON tree
    /// (for scans of the whole record).
    pub fn from_json(text: &str) -> Result<Facts, serde_json::Error> {
        let resource: Resource<'_> = serde_json::from_str(text)?;
        let mut facts = Facts::default();
        facts.add(&resource);
        Ok(facts)
    }

    fn add(&mut self, r: &Resource<'_>) {
        let reference = || format!("{}/{}", r.resource_type, r.id.as_deref().unwrap_or_default());
        let labelled = r.meta.as_ref().is_some_and(|m| {
            m.security.iter().any(|c| c.system.as_deref() == Some(crate::access::CONFIDENTIALITY) && matches!(c.code.as_deref(), Some("R" | "V")))
        });
        if labelled {
            self.labelled_restricted.push(reference());
        }
        match &*r.resource_type {
            "Patient" => {
                self.has_person = true;
                self.birth_date = r.birth_date.as_deref().and_then(|d| Day::parse(d, true));
                self.gender = r.gender.as_deref().map(str::to_owned);
                self.practice = r
                    .general_practitioner
                    .iter()
                    .find_map(|g| g.reference.as_deref().and_then(|r| r.strip_prefix("Organization/")))
                    .map(str::to_owned);
                self.district = r
                    .address
                    .iter()
                    .find(|a| matches!(a.usage.as_deref(), None | Some("home")) && a.period.as_ref().is_none_or(|p| p.end.is_none()))
                    .and_then(|a| a.district.as_deref())
                    .map(str::to_owned);
                self.deceased = match (r.deceased_boolean, r.deceased_date_time.as_deref()) {
                    (_, Some(at)) => Some(Day::parse(at, false)),
                    (Some(true), None) => Some(None),
                    _ => None,
                };
            }
            "Condition" => {
                let clinical = first_code(r.clinical_status.as_ref());
                let verification = first_code(r.verification_status.as_ref());
                // A condition with no clinical status is current unless it has abated.
                let refuted = matches!(verification, Some("refuted" | "entered-in-error"));
                let current = match clinical {
                    Some(c) => matches!(c, "active" | "recurrence" | "relapse"),
                    None => r.abatement_date_time.is_none() && r.abatement_string.is_none() && r.abatement_age.is_none(),
                } && !refuted;
                let date = r.onset_date_time.as_deref().or(r.recorded_date.as_deref()).and_then(|d| Day::parse(d, false));
                push_codings(&mut self.diagnoses, &reference(), r.code.as_ref(), date, current, refuted);
            }
            "MedicationRequest" => {
                let refuted = r.status.as_deref() == Some("entered-in-error");
                let date = r.authored_on.as_deref().and_then(|d| Day::parse(d, false));
                push_codings(&mut self.medicines, &reference(), r.medication_codeable_concept.as_ref(), date, !refuted, refuted);
            }
            "Encounter" => {
                if let Some(kind) = emergency_kind(r) {
                    let date = r.period.as_ref().and_then(|p| p.start.as_deref()).and_then(|d| Day::parse(d, false));
                    self.emergencies.push(Emergency { reference: reference(), kind, date });
                }
            }
            _ => {}
        }
    }
}

/// The elements of a Patient, Condition, MedicationRequest or Encounter that the rules read; the rest of the
/// resource is skipped without being built.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Resource<'a> {
    #[serde(borrow)]
    resource_type: Cow<'a, str>,
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    meta: Option<Meta<'a>>,
    #[serde(borrow, default)]
    birth_date: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    gender: Option<Cow<'a, str>>,
    #[serde(default)]
    deceased_boolean: Option<bool>,
    #[serde(borrow, default)]
    general_practitioner: Vec<Reference<'a>>,
    #[serde(borrow, default)]
    deceased_date_time: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    address: Vec<Address<'a>>,
    #[serde(borrow, default)]
    clinical_status: Option<Concept<'a>>,
    #[serde(borrow, default)]
    verification_status: Option<Concept<'a>>,
    #[serde(borrow, default)]
    code: Option<Concept<'a>>,
    #[serde(borrow, default)]
    onset_date_time: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    recorded_date: Option<Cow<'a, str>>,
    #[serde(default)]
    abatement_date_time: Option<IgnoredAny>,
    #[serde(default)]
    abatement_string: Option<IgnoredAny>,
    #[serde(default)]
    abatement_age: Option<IgnoredAny>,
    #[serde(borrow, default)]
    status: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    authored_on: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    medication_codeable_concept: Option<Concept<'a>>,
    #[serde(borrow, default)]
    class: Option<Coding<'a>>,
    #[serde(borrow, default)]
    priority: Option<Concept<'a>>,
    #[serde(borrow, default)]
    hospitalization: Option<Hospitalization<'a>>,
    #[serde(borrow, default)]
    period: Option<Period<'a>>,
}

#[derive(Deserialize)]
struct Concept<'a> {
    #[serde(borrow, default)]
    coding: Vec<Coding<'a>>,
}

#[derive(Deserialize)]
struct Meta<'a> {
    #[serde(borrow, default)]
    security: Vec<Coding<'a>>,
}

#[derive(Deserialize)]
struct Coding<'a> {
    #[serde(borrow, default)]
    system: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    code: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Hospitalization<'a> {
    #[serde(borrow, default)]
    admit_source: Option<Concept<'a>>,
}

#[derive(Deserialize)]
struct Reference<'a> {
    #[serde(borrow, default)]
    reference: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Period<'a> {
    #[serde(borrow, default)]
    start: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    end: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Address<'a> {
    #[serde(borrow, default, rename = "use")]
    usage: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    district: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    period: Option<Period<'a>>,
}

impl Facts {
    /// Adds the facts of more resources of the same person (a Patient's birth date replaces any before).
    pub fn merge(&mut self, more: Facts, from_patient: bool) {
        if from_patient {
            self.has_person = true;
            self.birth_date = more.birth_date;
            self.gender = more.gender;
            self.deceased = more.deceased;
            self.practice = more.practice;
            self.district = more.district;
        }
        self.diagnoses.extend(more.diagnoses);
        self.medicines.extend(more.medicines);
        self.emergencies.extend(more.emergencies);
        self.labelled_restricted.extend(more.labelled_restricted);
    }

    /// The record as it stood at the end of `day`, as far as its dates show: entries dated later are left
    /// out (undated ones stay). A diagnosis's status is the one recorded now.
    pub fn as_of(&self, day: Day) -> Facts {
        let before = |d: Option<Day>| d.is_none_or(|d| d <= day);
        Facts {
            has_person: self.has_person,
            birth_date: self.birth_date,
            gender: self.gender.clone(),
            deceased: self.deceased.filter(|at| at.is_none_or(|d| d <= day)),
            practice: self.practice.clone(),
            district: self.district.clone(),
            diagnoses: self.diagnoses.iter().filter(|c| before(c.date)).cloned().collect(),
            medicines: self.medicines.iter().filter(|c| before(c.date)).cloned().collect(),
            emergencies: self.emergencies.iter().filter(|e| before(e.date)).cloned().collect(),
            labelled_restricted: self.labelled_restricted.clone(),
        }
    }

    /// Whether the person was born by and alive at the end of `day`, as far as the record shows (a death
    /// without a date counts as before any day).
    pub fn alive_on(&self, day: Day) -> bool {
        let born = self.birth_date.is_none_or(|b| b <= day);
        let dead = self.deceased.is_some_and(|at| at.is_none_or(|d| d <= day));
        self.has_person && born && !dead
    }

    /// The medicines issued after `from` and on or before `to` (not entered in error), and how many
    /// different ones (by code) they are.
    pub fn medicines_issued(&self, from: Day, to: Day) -> (Vec<&Coded>, usize) {
        let issued: Vec<&Coded> = self.medicines.iter().filter(|m| !m.refuted && m.date.is_some_and(|d| d > from && d <= to)).collect();
        let distinct: BTreeSet<(&str, &str)> = issued.iter().map(|m| (m.system.as_str(), m.code.as_str())).collect();
        let n = distinct.len();
        (issued, n)
    }

    /// The emergencies of one kind that started after `from` and on or before `to`.
    pub fn emergencies_between(&self, kind: EmergencyKind, from: Day, to: Day) -> impl Iterator<Item = &Emergency> {
        self.emergencies.iter().filter(move |e| e.kind == kind && e.date.is_some_and(|d| d > from && d <= to))
    }
}

/// Whether an Encounter was an A&E attendance or an emergency admission (one cancelled or entered in error
/// was neither).
fn emergency_kind(encounter: &Resource<'_>) -> Option<EmergencyKind> {
    if matches!(encounter.status.as_deref(), Some("cancelled" | "entered-in-error")) {
        return None;
    }
    match encounter.class.as_ref()?.code.as_deref()? {
        "EMER" => Some(EmergencyKind::Attendance),
        "IMP" | "ACUTE" | "NONAC" => {
            let admit_source = encounter.hospitalization.as_ref().and_then(|h| h.admit_source.as_ref());
            let urgent = first_code(encounter.priority.as_ref()) == Some("EM") || first_code(admit_source) == Some("emd");
            urgent.then_some(EmergencyKind::Admission)
        }
        _ => None,
    }
}

fn first_code<'a>(concept: Option<&'a Concept<'_>>) -> Option<&'a str> {
    concept?.coding.iter().find_map(|c| c.code.as_deref())
}

fn push_codings(into: &mut Vec<Coded>, reference: &str, concept: Option<&Concept<'_>>, date: Option<Day>, current: bool, refuted: bool) {
    for coding in concept.into_iter().flat_map(|c| &c.coding) {
        if let (Some(system), Some(code)) = (coding.system.as_deref(), coding.code.as_deref()) {
            into.push(Coded { reference: reference.to_owned(), system: system.to_owned(), code: code.to_owned(), date, current, refuted });
        }
    }
}

/// A register, as `registers.json` defines it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Register {
    /// The QOF group code (`AF`, `DM`).
    pub code: String,
    pub name: String,
    /// The QOF register indicator (`AF001`).
    pub indicator: String,
    /// The value set of diagnoses that admit a person.
    pub diagnoses: String,
    /// The youngest age (in whole years) on the register.
    #[serde(default)]
    pub min_age: Option<i32>,
    /// A treatment the person must also have had recently.
    #[serde(default)]
    pub treated_within: Option<Treatment>,
    /// Further diagnoses the person must also have (one of each value set).
    #[serde(default)]
    pub also_diagnosed: Vec<String>,
    /// Where the rule is simpler than the QOF business rules.
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Treatment {
    pub months: u32,
    pub medicines: String,
}

/// Why a person is on a register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// The register's code.
    pub register: String,
    /// The resources that admitted the person: the diagnoses (and treatment) the rule needed, each the
    /// earliest-dated that qualifies.
    pub because: Vec<String>,
}

/// The registers and their value sets.
#[derive(Debug)]
pub struct Registers {
    registers: Vec<Register>,
    codes: CodeSets,
}

#[derive(Deserialize)]
struct Definitions {
    registers: Vec<Register>,
}

impl Registers {
    /// The registers this build carries (`registers/`).
    pub fn builtin() -> &'static Registers {
        static BUILTIN: OnceLock<Registers> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            Registers::from_json(include_str!("../registers/registers.json"), BUILTIN_VALUE_SETS)
                .unwrap_or_else(|e| panic!("invariant: the built-in registers are consistent: {e}"))
        })
    }

    /// Reads register definitions and the FHIR ValueSets they name (each with `compose.include` of
    /// enumerated concepts); every value set a register names must be given.
    pub fn from_json(definitions: &str, value_sets: &[&str]) -> Result<Registers, String> {
        let defs: Definitions = serde_json::from_str(definitions).map_err(|e| format!("the register definitions: {e}"))?;
        let codes = CodeSets::from_json(value_sets)?;
        let mut seen = BTreeSet::new();
        for r in &defs.registers {
            if !seen.insert(r.code.as_str()) {
                return Err(format!("register {} is defined twice", r.code));
            }
            let named = std::iter::once(&r.diagnoses).chain(&r.also_diagnosed).chain(r.treated_within.as_ref().map(|t| &t.medicines));
            for url in named {
                if !codes.has(url) {
                    return Err(format!("register {} names the value set {url}, which is not given", r.code));
                }
            }
        }
        Ok(Registers { registers: defs.registers, codes })
    }

    pub fn all(&self) -> &[Register] {
        &self.registers
    }

    pub fn get(&self, code: &str) -> Option<&Register> {
        self.registers.iter().find(|r| r.code == code)
    }

    /// Whether any register's value set holds the code (facts with other codes can be dropped early).
    pub fn reads(&self, system: &str, code: &str) -> bool {
        self.codes.any_contains(system, code)
    }

    /// Whether the value set at `url` holds the code.
    pub fn contains(&self, url: &str, system: &str, code: &str) -> bool {
        self.codes.contains(url, system, code)
    }

    /// The registers `person` belongs on `today`, in the order they are defined, each with its reasons.
    pub fn memberships(&self, person: &Facts, today: Day) -> Vec<Membership> {
        self.registers.iter().filter_map(|r| self.admits(r, person, today)).collect()
    }

    fn admits(&self, r: &Register, person: &Facts, today: Day) -> Option<Membership> {
        if let Some(min) = r.min_age {
            // Without a birth date the age cannot be shown: nobody is admitted on an age rule they may not meet.
            if person.birth_date?.years_to(today) < min {
                return None;
            }
        }
        let mut because = Vec::new();
        for url in std::iter::once(&r.diagnoses).chain(&r.also_diagnosed) {
            because.push(self.earliest(url, person.diagnoses.iter().filter(|d| d.current))?);
        }
        if let Some(t) = &r.treated_within {
            let since = today.months_before(t.months);
            let recent = person.medicines.iter().filter(|m| m.current && m.date.is_some_and(|d| d > since && d <= today));
            because.push(self.earliest(&t.medicines, recent)?);
        }
        Some(Membership { register: r.code.clone(), because })
    }

    /// The reference of the earliest-dated entry in the value set (undated last, then by reference).
    fn earliest<'a>(&self, url: &str, entries: impl Iterator<Item = &'a Coded>) -> Option<String> {
        entries
            .filter(|e| self.contains(url, &e.system, &e.code))
            .min_by(|a, b| (a.date.is_none(), a.date, &a.reference).cmp(&(b.date.is_none(), b.date, &b.reference)))
            .map(|e| e.reference.clone())
    }
}

/// The built-in value sets, one FHIR ValueSet per file.
pub(crate) const BUILTIN_VALUE_SETS: &[&str] = &[
    include_str!("../registers/valuesets/asthma-treatment.json"),
    include_str!("../registers/valuesets/fragility-fracture.json"),
    include_str!("../registers/valuesets/register-af.json"),
    include_str!("../registers/valuesets/register-asthma.json"),
    include_str!("../registers/valuesets/register-cancer.json"),
    include_str!("../registers/valuesets/register-chd.json"),
    include_str!("../registers/valuesets/register-ckd.json"),
    include_str!("../registers/valuesets/register-copd.json"),
    include_str!("../registers/valuesets/register-dementia.json"),
    include_str!("../registers/valuesets/register-depression.json"),
    include_str!("../registers/valuesets/register-diabetes.json"),
    include_str!("../registers/valuesets/register-epilepsy.json"),
    include_str!("../registers/valuesets/register-heart-failure.json"),
    include_str!("../registers/valuesets/register-hypertension.json"),
    include_str!("../registers/valuesets/register-learning-disability.json"),
    include_str!("../registers/valuesets/register-mental-health.json"),
    include_str!("../registers/valuesets/register-osteoporosis.json"),
    include_str!("../registers/valuesets/register-pad.json"),
    include_str!("../registers/valuesets/register-rheumatoid-arthritis.json"),
    include_str!("../registers/valuesets/register-stroke-tia.json"),
];
