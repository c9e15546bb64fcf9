//! Patches on resources, all or nothing: JSON Patch (RFC 6902, an array of operations) and FHIRPath Patch (a
//! Parameters resource of operations, `fhir::patch`).

use crate::error::AppError;
use fhir::IssueCode;
use serde_json::Value;

/// A parsed patch document.
#[derive(Debug, Clone)]
pub enum Patch {
    Json(json_patch::Patch),
    FhirPath(fhir::patch::FhirPathPatch),
}

/// Parses a patch document: a Parameters resource is a FHIRPath Patch, anything else must be a JSON Patch.
pub fn parse(patch: Value) -> Result<Patch, AppError> {
    if fhir::patch::is_fhirpath_patch(&patch) {
        return fhir::patch::parse(&patch).map(Patch::FhirPath).map_err(|issue| AppError::BadRequest(vec![issue]));
    }
    serde_json::from_value(patch)
        .map(Patch::Json)
        .map_err(|e| AppError::bad_request(IssueCode::Invalid, format!("the body is not a valid JSON Patch document: {e}"), None))
}

/// Applies `patch` to `doc`. On failure `doc` is left as it was and the error says which operation failed.
pub fn apply(doc: &mut Value, patch: &Patch) -> Result<(), AppError> {
    match patch {
        Patch::Json(p) => {
            json_patch::patch(doc, p).map_err(|e| AppError::unprocessable(IssueCode::Processing, format!("the patch cannot be applied: {e}"), None))
        }
        Patch::FhirPath(p) => p.apply(doc).map_err(|issue| AppError::Unprocessable(vec![issue])),
    }
}
