//! FHIRPath: parse and evaluate expressions over FHIR resources held as serde_json values.
//!
//! ```
//! let patient = serde_json::json!({
//!     "resourceType": "Patient",
//!     "name": [{"family": "Chalmers", "given": ["Peter", "James"]}]
//! });
//! let expr = fhirpath::Expr::parse("Patient.name.given").unwrap();
//! let given: Vec<String> = expr.evaluate(&patient).unwrap().iter().map(|i| i.to_string()).collect();
//! assert_eq!(given, ["Peter", "James"]);
//! ```
//!
//! Results are [`Item`]s: nodes of the input JSON with their FHIR type (what a search indexer
//! needs: `Item::json()` and `Item::fhir_type()`), or FHIRPath System values. Evaluation does
//! no I/O: the current time, external constants and reference resolution come from an [`Env`].
//!
//! # Semantics worth knowing
//!
//! - **Lenient by default.** An element the type does not have yields nothing, and `as` on
//!   several items filters them like `ofType`, which is what indexing with the R4 search
//!   parameters needs (`(Observation.component.value as Quantity)`,
//!   `Patient.telecom | Person.telecom`). [`Env::strict`] follows the specification to the
//!   letter and passes the whole official test suite.
//! - **Types come from the FHIR R4 model** (condensed at build time from the specification's
//!   tables): choice elements (`Observation.value` reads `valueQuantity`, typed `Quantity`),
//!   primitives with their `_name` extensions, backbone elements, contained resources.
//!   `is` accepts subtypes (`code` is a `string`); `as`/`ofType` need the exact FHIR primitive
//!   type, as the suite requires.
//! - **resolve()** looks in `contained`, then in the evaluated Bundle's entries, then asks the
//!   [`Resolver`]; failing those, `Patient/123` (or an absolute URL ending so, or a Reference
//!   with `type`) gives a content-less item typed `Patient`, so `where(resolve() is Patient)`
//!   works for indexing.
//! - **Decimals keep their written precision** (JSON numbers are read from their text); dates
//!   and times keep theirs, and comparisons that precision cannot decide are empty.
//! - **now(), today(), timeOfDay()** read [`Env::with_now`]; without it they are an error.
//!
//! # Code map
//!
//! `lexer` → `parser` (precedence climbing, function and type resolution) → `ast`, which
//! `check` can validate against the model without data;
//! `eval` walks the tree with `navigation` (JSON + `model`), `operators` and `functions`
//! (one file per family); values are `item`, `decimal`, `temporal`, `quantity` (with the
//! `ucum` subset); `env` and `error` are the rest of the public surface. build.rs writes the
//! model data file that `model` reads.

mod ast;
mod check;
mod decimal;
mod env;
mod error;
mod eval;
mod functions;
mod item;
mod lexer;
mod model;
mod navigation;
mod operators;
mod parser;
mod quantity;
mod temporal;
mod ucum;

use serde_json::Value;

pub use decimal::Decimal;
pub use env::{Env, Resolver, Tracer};
pub use error::{EvalError, ParseError};
pub use item::{Item, NodeInfo, TypeInfo};
pub use quantity::Quantity;
pub use temporal::{Date, DateTime, Precision, Time};

/// A parsed FHIRPath expression, reusable across evaluations and threads.
#[derive(Debug)]
pub struct Expr {
    root: ast::Node,
    source: String,
}

impl Expr {
    /// Parses an expression; function names, arities and type names are checked here.
    pub fn parse(src: &str) -> Result<Expr, ParseError> {
        Ok(Expr { root: parser::parse(src)?, source: src.to_owned() })
    }

    /// The text the expression was parsed from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Checks every path step against the FHIR model as if evaluated on a `resource_type`,
    /// without data: an element name that no possible type has is an
    /// [`EvalError::UnknownElement`] (`Patient.nmae`, `(Observation.value as Period).unit`).
    /// Type names of other resources are not errors (`Patient.telecom | Person.telecom`
    /// checked against Patient), so the multi-base R4 search expressions pass. Steps whose type
    /// is known only at run time (after `resolve()`, `children()`, on contained resources) are
    /// not checked.
    pub fn check(&self, resource_type: &str) -> Result<(), EvalError> {
        check::check(&self.root, resource_type)
    }

    /// Evaluates with `resource` as `%resource`, `%context` and the initial `$this`, in a
    /// default (lenient, clock-less) environment. A JSON `null` resource is the empty
    /// collection.
    pub fn evaluate<'a>(&self, resource: &'a Value) -> Result<Vec<Item<'a>>, EvalError> {
        self.evaluate_with(resource, &Env::default())
    }

    /// Evaluates in the given environment: external constants (`%name`), the time for
    /// now()/today(), a resolver for resolve(), a tracer, strictness.
    pub fn evaluate_with<'a>(&self, resource: &'a Value, env: &Env<'a>) -> Result<Vec<Item<'a>>, EvalError> {
        let root = navigation::root_item(resource);
        let ev = eval::Evaluator { env, root: root.clone(), root_json: resource };
        let this: Vec<Item<'a>> = root.into_iter().collect();
        ev.eval(&self.root, eval::Scope { this: &this, index: None, total: None })
    }
}

impl std::fmt::Display for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.source)
    }
}

impl std::str::FromStr for Expr {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Expr, ParseError> {
        Expr::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expr_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Expr>();
        check::<Env<'static>>();
        check::<Item<'static>>();
    }
}
