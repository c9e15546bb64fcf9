//! Tests of the binary's crate: the architecture invariants, read from the Cargo manifests and sources.

mod architecture;
mod process;
