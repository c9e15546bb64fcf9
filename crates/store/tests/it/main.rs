//! The store's contract: what every backend must do, run against each backend this build has.

mod access;
mod audit;
mod contract;
mod plans;
mod risk;
