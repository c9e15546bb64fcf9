//! FHIR search, the parts without I/O: which parameters each resource type has (compiled from the
//! specification's expressions), the index values a resource yields for them, and the value forms that
//! indexing and querying share.

mod extract;
pub mod value;

pub use extract::{extract, param_of, params_of, Compiled, IndexEntry, IndexValue};
