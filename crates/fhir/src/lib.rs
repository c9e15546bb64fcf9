//! FHIR R4 without I/O: resources as JSON text, ids and references, the specification's definitions, validation, and builders for OperationOutcome and Bundle.

pub mod bundle;
pub mod definitions;
pub mod id;
pub mod index;
pub mod outcome;
pub mod patch;
pub mod reference;
pub mod search;
pub mod validate;

pub use outcome::{Issue, IssueCode, IssueSeverity, OperationOutcome};
