//! A person's risk scores as FHIR RiskAssessment: the electronic Frailty Index (`care::frailty`) from what
//! the caller may see of their record, with the model's name and version, the resources it read as `basis`,
//! and each deficit found as a factor with its contribution (1/36) and its evidence.

use crate::error::AppError;
use crate::session::Session;
use care::frailty::{Efi, Frailty, DEFICITS};
use care::registers::Day;
use serde_json::{json, Value};

/// The code system of Joinery's risk models.
pub const MODEL_SYSTEM: &str = "urn:joinery:risk-model";
/// The code system of the eFI bands.
pub const EFI_BAND_SYSTEM: &str = "urn:joinery:efi-band";
/// Extensions: a factor of a score (`factor`, `contribution`, `evidence`), and the score itself.
pub const FACTOR_EXTENSION: &str = "urn:joinery:extension:risk-factor";
pub const SCORE_EXTENSION: &str = "urn:joinery:extension:risk-score";

impl Session {
    /// The person's eFI today, from the resources of their record the caller may see.
    pub async fn frailty(&self, patient_id: &str) -> Result<(Day, Frailty), AppError> {
        let facts = self.coded_facts(patient_id).await?;
        let today = self.today()?;
        Ok((today, Efi::builtin().assess(&facts, today)))
    }
}

/// An eFI as a RiskAssessment (not stored: worked out when asked).
pub fn frailty_risk_assessment(patient_id: &str, today: Day, f: &Frailty) -> Value {
    let efi = Efi::builtin();
    let names: std::collections::HashMap<&str, &str> = efi.deficits().iter().map(|d| (d.key.as_str(), d.name.as_str())).collect();
    let mut basis: Vec<&str> = f.found.iter().flat_map(|d| d.because.iter().map(String::as_str)).collect();
    basis.sort_unstable();
    basis.dedup();
    let contribution = decimal(1.0 / DEFICITS as f64);
    let factors: Vec<Value> = f
        .found
        .iter()
        .map(|d| {
            let mut parts = vec![
                json!({ "url": "factor", "valueCoding": { "system": format!("{MODEL_SYSTEM}:efi:deficit"), "code": d.key, "display": names.get(d.key.as_str()).copied().unwrap_or_default() } }),
                json!({ "url": "contribution", "valueDecimal": contribution }),
            ];
            parts.extend(d.because.iter().map(|r| json!({ "url": "evidence", "valueReference": { "reference": r } })));
            json!({ "url": FACTOR_EXTENSION, "extension": parts })
        })
        .collect();
    let mut extension = vec![json!({ "url": SCORE_EXTENSION, "valueDecimal": decimal(f.index) })];
    extension.extend(factors);
    let band = f.band.code();
    let mut label = band.to_owned();
    label[..1].make_ascii_uppercase();
    json!({
        "resourceType": "RiskAssessment",
        "extension": extension,
        "status": "final",
        "method": { "coding": [{ "system": MODEL_SYSTEM, "code": "efi", "display": efi.model }], "text": format!("{} ({})", efi.model, efi.version) },
        "subject": { "reference": format!("Patient/{patient_id}") },
        "occurrenceDateTime": today.to_string(),
        "basis": basis.iter().map(|r| json!({ "reference": r })).collect::<Vec<_>>(),
        "prediction": [{
            "outcome": { "text": "Emergency admission within a year, against people who are fit" },
            "qualitativeRisk": { "coding": [{ "system": EFI_BAND_SYSTEM, "code": band, "display": label }] },
            "relativeRisk": serde_json::Number::from_string_unchecked(f.band.admission_hazard_ratio().to_string()),
        }],
        "note": [{ "text": format!("{} of {DEFICITS} deficits: eFI {:.3}, {band}", f.found.len(), f.index) }],
    })
}

/// A JSON number with four decimal places.
fn decimal(x: f64) -> Value {
    Value::Number(serde_json::Number::from_string_unchecked(format!("{x:.4}")))
}
