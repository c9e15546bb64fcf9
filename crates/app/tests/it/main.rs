//! Tests of the use-case layer that need data from outside the crate.

mod import;
mod patch;
