//! The integrated-care model, pure and synchronous: no I/O, time and data are arguments.

pub mod access;
pub mod admission;
pub mod audit;
pub mod codes;
pub mod cohorts;
pub mod frailty;
pub mod nhs_number;
pub mod readmission;
pub mod registers;
pub mod scope;
pub mod segments;

pub use nhs_number::{InvalidNhsNumber, NhsNumber, NHS_NUMBER_SYSTEM};
