//! The bounds every request is checked against, each with its default, in one place: what one search, one
//! Bundle or one request may ask for. A request past a bound is refused with a 4xx OperationOutcome that
//! names the bound (its key here), before it costs anything.

use crate::error::AppError;
use fhir::IssueCode;

/// Declares `Limits` from one table: each limit's documentation, key and default, so that the struct, its
/// defaults, its list and setting a limit by key cannot disagree.
macro_rules! limits {
    ($($(#[doc = $doc:literal])* $key:ident = $default:expr;)*) => {
        /// Per-request limits of the use cases. The binary reads them from the `[limits]` table of its
        /// configuration file; every key is optional and defaults as below.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct Limits {
            $($(#[doc = $doc])* pub $key: usize,)*
        }

        impl Default for Limits {
            fn default() -> Self {
                Limits { $($key: $default,)* }
            }
        }

        impl Limits {
            /// Every limit as (key, value, what it bounds), in declaration order, for documentation and logs.
            pub fn entries(&self) -> Vec<(&'static str, usize, &'static str)> {
                vec![$((stringify!($key), self.$key, concat!($($doc),*).trim_start()),)*]
            }

            /// Sets one limit by its key; `false` if there is no such key.
            pub fn set(&mut self, key: &str, value: usize) -> bool {
                match key {
                    $(stringify!($key) => self.$key = value,)*
                    _ => return false,
                }
                true
            }
        }
    };
}

limits! {
    /// Page size when the client gives no `_count`.
    default_count = 50;
    /// Largest page size; a larger `_count` is reduced to it.
    max_count = 1000;
    /// Longest search query, in bytes of parameter names and values together.
    max_query_bytes = 16 * 1024;
    /// Most search parameters (AND-ed) in one search, and most `_sort` keys.
    max_search_params = 64;
    /// Most comma-separated (OR-ed) values in one search parameter.
    max_or_values = 100;
    /// Most values in one search across all its parameters (every OR value of every parameter).
    max_search_values = 500;
    /// Deepest chain (`subject.organization.name`) or `_has` nesting: links and `_has:` levels together.
    max_chain_depth = 4;
    /// Most `_include` and `_revinclude` parameters in one search.
    max_include_params = 16;
    /// Most resources `_include`/`_revinclude` add to one page (more are cut off, with a warning).
    max_included = 1000;
    /// Most entries in a batch or transaction Bundle.
    max_bundle_entries = 10_000;
    /// Most resources one request may bring back: a batch's entries together, each search counting its
    /// matches and included resources.
    max_materialised = 20_000;
    /// Entries of a batch that run at the same time.
    batch_concurrency = 32;
}

/// The refusal of a request past limit `key`: 400, issue code too-costly, naming the limit and the element
/// at fault.
pub fn exceeded(key: &str, limit: usize, what: impl std::fmt::Display, at: Option<&str>) -> AppError {
    AppError::bad_request(IssueCode::TooCostly, format!("{what}: the limit {key} is {limit}"), at)
}
