//! JSON Patch (RFC 6902) on resources: parsing a patch document and applying it all or nothing.

use crate::error::AppError;
use fhir::IssueCode;
use serde_json::Value;

pub use json_patch::Patch;

/// Parses a JSON Patch document (an array of operations).
pub fn parse(patch: Value) -> Result<Patch, AppError> {
    serde_json::from_value(patch)
        .map_err(|e| AppError::bad_request(IssueCode::Invalid, format!("the body is not a valid JSON Patch document: {e}"), None))
}

/// Applies `patch` to `doc`. On failure `doc` is left as it was and the error says which operation failed.
pub fn apply(doc: &mut Value, patch: &Patch) -> Result<(), AppError> {
    json_patch::patch(doc, patch).map_err(|e| AppError::unprocessable(IssueCode::Processing, format!("the patch cannot be applied: {e}"), None))
}
