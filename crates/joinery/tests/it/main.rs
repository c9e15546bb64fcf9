//! Tests of the binary's crate: the architecture invariants, read from the Cargo manifests and sources; the
//! binary as a process; several processes on one PostgreSQL database.

mod architecture;
mod cli;
mod multinode;
mod process;
