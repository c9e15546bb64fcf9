//! A person's long-term-condition registers (`care::registers`), worked out from what the caller may see of
//! their record (the Patient, their Conditions and MedicationRequests), and answered as a Parameters with
//! each register's reasons.

use crate::error::AppError;
use crate::present::resource_json;
use crate::session::Session;
use care::registers::{Day, Facts, Membership, Registers};
use serde_json::{json, Value};
use store::search::RecordQuery;

/// Resources read from the store at a time.
const PAGE: usize = 500;

/// The code system of register codes (the QOF group codes).
pub const REGISTER_SYSTEM: &str = "urn:joinery:register";

impl Session {
    /// The registers the person is on today, from the resources of their record the caller may see (each
    /// of which is noted for the audit log).
    pub async fn registers(&self, patient_id: &str) -> Result<(Day, Vec<Membership>), AppError> {
        let patient = self.read("Patient", patient_id).await?;
        let mut resources = vec![resource_json(&patient)?];
        let mut after = None;
        loop {
            let query = RecordQuery {
                person: patient.id.clone(),
                types: Some(vec!["Condition".into(), "MedicationRequest".into()]),
                after: after.take(),
                since: None,
                limit: PAGE,
                visibility: self.visibility().clone(),
            };
            let rows = self.store.person_record(query).await?;
            for s in &rows {
                self.touch(s.person_key.as_deref());
                resources.push(resource_json(s)?);
            }
            match rows.last() {
                Some(last) if rows.len() == PAGE => after = Some((last.resource_type.clone(), last.id.clone())),
                _ => break,
            }
        }
        let now = crate::instant::from_millis(self.config.clock.now().0).ok_or_else(|| AppError::Internal("the clock is out of range".into()))?;
        let today = Day::parse(&now, false).ok_or_else(|| AppError::Internal("the clock's date cannot be read".into()))?;
        Ok((today, Registers::builtin().memberships(&Facts::from_resources(resources.iter()), today)))
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
