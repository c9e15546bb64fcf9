//! Integration tests of the fhirpath crate: the official FHIRPath test suite, the R4
//! search-parameter expressions over real resources, evaluator edge cases, and an opt-in timing.

mod data;
mod evaluator;
mod search_parameters;
mod suite;
mod timing;
