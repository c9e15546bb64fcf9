//! Integration tests of the `fhir` crate: the condensed definitions and validation against the R4 specification and real data.

mod data;
mod definitions;
mod patch;
mod primitives;
mod timing;
mod validate_invalid;
mod validate_valid;
