//! The synth crate's one test binary: a generated population checked for its statistics, determinism, references, NHS numbers and FHIR validity.

mod determinism;
mod fixture;
mod nhs_numbers;
mod presets;
mod references;
mod registers;
mod specification;
mod statistics;
mod validity;
