//! Tests of the use-case layer that need data from outside the crate.

mod access_facts;
mod auth;
mod import;
mod patch;
