//! The care crate's one test binary: each module tests one part of the model.

mod access;
mod admission;
mod audit;
mod cohorts;
mod frailty;
mod nhs_number;
mod readmission;
mod registers;
mod scope;
mod segments;
