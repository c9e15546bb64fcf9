//! A person's long-term-condition registers (`care::registers`), worked out from what the caller may see of
//! their record (the Patient, their Conditions and MedicationRequests), and answered as a Parameters with
//! each register's reasons; and the whole record's register counts, with the eFI bands among people aged 65+.

use crate::error::AppError;
use crate::present::resource_json;
use crate::session::Session;
use care::registers::{Day, Facts, Membership, Registers};
use care::segments::{Placement, Segmentation};
use serde_json::{json, Value};
use std::collections::HashMap;
use store::search::RecordQuery;

/// Resources read from the store at a time.
const PAGE: usize = 500;

/// The code system of register codes (the QOF group codes).
pub const REGISTER_SYSTEM: &str = "urn:joinery:register";

impl Session {
    /// The registers the person is on today, from the resources of their record the caller may see (each
    /// of which is noted for the audit log).
    pub async fn registers(&self, patient_id: &str) -> Result<(Day, Vec<Membership>), AppError> {
        let facts = self.coded_facts(patient_id, false).await?;
        let today = self.today()?;
        Ok((today, Registers::builtin().memberships(&facts, today)))
    }

    /// The person's segment today (none without a birth date), from the same resources as their registers.
    pub async fn segment(&self, patient_id: &str) -> Result<(Day, Option<Placement>), AppError> {
        let facts = self.coded_facts(patient_id, false).await?;
        let today = self.today()?;
        let memberships = Registers::builtin().memberships(&facts, today);
        Ok((today, Segmentation::builtin().place(&facts, &memberships, today)))
    }

    /// What the registers and risk models read of a person: their Patient, Conditions and
    /// MedicationRequests (and Encounters, when `encounters`), as far as the caller may see them (each noted
    /// for the audit log).
    pub(crate) async fn coded_facts(&self, patient_id: &str, encounters: bool) -> Result<Facts, AppError> {
        let mut types = vec!["Condition".to_owned(), "MedicationRequest".to_owned()];
        if encounters {
            types.push("Encounter".to_owned());
        }
        let patient = self.read("Patient", patient_id).await?;
        let mut resources = vec![resource_json(&patient)?];
        let mut after = None;
        loop {
            let query = RecordQuery {
                person: patient.id.clone(),
                types: Some(types.clone()),
                after: after.take(),
                since: None,
                limit: PAGE,
                visibility: self.visibility().clone(),
            };
            let rows = self.store.person_record(query).await?;
            for s in &rows {
                self.touch(s.person_key.as_deref(), &s.resource_type);
                resources.push(resource_json(s)?);
            }
            match rows.last() {
                Some(last) if rows.len() == PAGE => after = Some((last.resource_type.clone(), last.id.clone())),
                _ => break,
            }
        }
        Ok(Facts::from_resources(resources.iter()))
    }
}

impl Session {
    /// Today by the server's clock (UTC).
    pub(crate) fn today(&self) -> Result<Day, AppError> {
        let now = crate::instant::from_millis(self.config.clock.now().0).ok_or_else(|| AppError::Internal("the clock is out of range".into()))?;
        Day::parse(&now, false).ok_or_else(|| AppError::Internal("the clock's date cannot be read".into()))
    }
}

/// `Patient/{id}/$registers` as a Parameters: the date, then one `register` per membership, with its code,
/// name, QOF indicator and the resources that admitted the person.
pub fn registers_parameters(patient_id: &str, today: Day, memberships: &[Membership]) -> Value {
    let mut parameters = vec![
        json!({ "name": "patient", "valueReference": { "reference": format!("Patient/{patient_id}") } }),
        json!({ "name": "date", "valueDate": today.to_string() }),
    ];
    for m in memberships {
        let Some(r) = Registers::builtin().get(&m.register) else { continue };
        let mut part = vec![
            json!({ "name": "code", "valueCoding": { "system": REGISTER_SYSTEM, "code": r.code, "display": r.name } }),
            json!({ "name": "indicator", "valueString": r.indicator }),
        ];
        part.extend(m.because.iter().map(|reference| json!({ "name": "reason", "valueReference": { "reference": reference } })));
        if let Some(note) = &r.note {
            part.push(json!({ "name": "note", "valueString": note }));
        }
        parameters.push(json!({ "name": "register", "part": part }));
    }
    json!({ "resourceType": "Parameters", "parameter": parameters })
}

/// The code system of segments (their numbers in the North West London list).
pub const SEGMENT_SYSTEM: &str = "urn:joinery:segment:nwl";

/// `Patient/{id}/$segment` as a Parameters: the date, the segmentation, then the segment (its number and
/// name) with the resources that placed the person; no segment when the birth date is not known.
pub fn segment_parameters(patient_id: &str, today: Day, placement: Option<&Placement>) -> Value {
    let model = Segmentation::builtin();
    let mut parameters = vec![
        json!({ "name": "patient", "valueReference": { "reference": format!("Patient/{patient_id}") } }),
        json!({ "name": "date", "valueDate": today.to_string() }),
        json!({ "name": "model", "valueString": format!("{} ({})", model.model, model.version) }),
    ];
    match placement.and_then(|p| model.get(p.number).map(|g| (p, g))) {
        Some((p, g)) => {
            parameters
                .push(json!({ "name": "segment", "valueCoding": { "system": SEGMENT_SYSTEM, "code": g.number.to_string(), "display": g.name } }));
            parameters.extend(p.because.iter().map(|r| json!({ "name": "reason", "valueReference": { "reference": r } })));
        }
        None => parameters
            .push(json!({ "name": "note", "valueString": "No segment: the person's birth date is not known, so neither is their age band." })),
    }
    json!({ "resourceType": "Parameters", "parameter": parameters })
}

/// How many people are on each register on one day, across the whole record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterCounts {
    pub date: Day,
    /// People with a Patient resource, born by the day and alive on it.
    pub people: u64,
    /// Each register's code and how many people are on it, in the order the registers are defined.
    pub counts: Vec<(String, u64)>,
    /// People aged 65 or over on the day, and how many of them are in each eFI band (fit, mild, moderate,
    /// severe).
    pub aged_65: u64,
    pub frailty_65: [u64; 4],
    /// How many people are in each segment, by number (1 to 15), and how many have no birth date to place
    /// them by.
    pub segments: std::collections::BTreeMap<u32, u64>,
    pub unsegmented: u64,
}

/// Rows read from the store in one chunk of a scan.
const SCAN_CHUNK: usize = 20_000;

impl Session {
    /// What the registers and risk models read of every person in the record, by person: a scan of every
    /// Patient, Condition, MedicationRequest and Encounter (for integration systems and the command line;
    /// every person read is noted for the audit log). Only the diagnoses some register or eFI deficit reads,
    /// every medicine (for polypharmacy) and the emergency encounters are kept.
    pub async fn population_facts(&self) -> Result<HashMap<String, Facts>, AppError> {
        if !matches!(self.caller(), care::access::Caller::System { .. }) {
            return Err(AppError::Forbidden("reading the registers and risks of the whole population is for integration systems".into()));
        }
        // The four types are scanned side by side (each on a reader of its own), then put together.
        let (patients, conditions, medicines, encounters) = tokio::try_join!(
            self.scan_facts("Patient"),
            self.scan_facts("Condition"),
            self.scan_facts("MedicationRequest"),
            self.scan_facts("Encounter"),
        )?;
        let mut people = patients;
        for more in [conditions, medicines, encounters] {
            for (person, facts) in more {
                people.entry(person).or_default().merge(facts, false);
            }
        }
        self.touch_all(people.keys().map(String::as_str), &["Patient", "Condition", "MedicationRequest", "Encounter"]);
        Ok(people)
    }

    /// What one type's resources give, by person, from a scan of all of them.
    async fn scan_facts(&self, resource_type: &str) -> Result<HashMap<String, Facts>, AppError> {
        let (registers, efi) = (Registers::builtin(), care::frailty::Efi::builtin());
        let mut people: HashMap<String, Facts> = HashMap::new();
        let mut after_seq = 0;
        loop {
            let scan = store::Scan {
                resource_type: resource_type.into(),
                after_seq,
                limit: SCAN_CHUNK,
                since: None,
                persons: store::PersonScope::AnyPerson,
            };
            let (back, end) = self
                .store
                .scan_current(scan, std::mem::take(&mut people), move |people, row| {
                    let Some(person) = row.person_key else { return Ok(()) };
                    let mut found = Facts::from_json(row.body).map_err(|e| AppError::Internal(Box::new(e)))?;
                    found.diagnoses.retain(|c| registers.reads(&c.system, &c.code) || efi.reads(&c.system, &c.code));
                    let is_patient = found.has_person;
                    if is_patient || !found.diagnoses.is_empty() || !found.medicines.is_empty() || !found.emergencies.is_empty() {
                        people.entry(person.to_owned()).or_default().merge(found, is_patient);
                    }
                    Ok::<(), AppError>(())
                })
                .await?;
            people = back;
            after_seq = end.last_seq;
            if end.visited < SCAN_CHUNK {
                return Ok(people);
            }
        }
    }
}

impl Session {
    /// Every living person's registers, counted from `population_facts` (for integration systems and the
    /// command line).
    /// `on` is the day the registers are counted for (default today by the server's clock); the record is
    /// read as it stands now.
    pub async fn register_counts(&self, on: Option<Day>) -> Result<RegisterCounts, AppError> {
        let people = self.population_facts().await?;
        let (registers, efi) = (Registers::builtin(), care::frailty::Efi::builtin());
        let date = match on {
            Some(d) => d,
            None => self.today()?,
        };
        let mut counts: Vec<(String, u64)> = registers.all().iter().map(|r| (r.code.clone(), 0)).collect();
        let (mut with_patient, mut aged_65, mut frailty_65) = (0, 0, [0u64; 4]);
        let mut segments: std::collections::BTreeMap<u32, u64> = Segmentation::builtin().segments().iter().map(|g| (g.number, 0)).collect();
        let mut unsegmented = 0;
        for facts in people.values() {
            if !facts.alive_on(date) {
                continue;
            }
            with_patient += 1;
            if facts.birth_date.is_some_and(|b| b.years_to(date) >= 65) {
                aged_65 += 1;
                frailty_65[efi.assess(facts, date).band as usize] += 1;
            }
            let memberships = registers.memberships(facts, date);
            for m in &memberships {
                if let Some(c) = counts.iter_mut().find(|(code, _)| *code == m.register) {
                    c.1 += 1;
                }
            }
            match Segmentation::builtin().place(facts, &memberships, date) {
                Some(p) => *segments.entry(p.number).or_default() += 1,
                None => unsegmented += 1,
            }
        }
        Ok(RegisterCounts { date, people: with_patient, counts, aged_65, frailty_65, segments, unsegmented })
    }
}
