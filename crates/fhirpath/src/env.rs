//! What an evaluation may use besides the resource: external constants (`%name`), the current
//! time for now()/today(), a resolver for resolve(), a tracer for trace(), and strictness.

use std::collections::HashMap;

use serde_json::Value;

use crate::item::Item;
use crate::temporal::DateTime;

/// Finds the resource a reference points to, for `resolve()`. `Sync`, so that an [`Env`] can
/// be shared by indexing threads.
pub trait Resolver: Sync {
    /// `reference` is the `Reference.reference` text (`Patient/123`, an absolute URL,
    /// `urn:uuid:…`) or a canonical URL.
    fn resolve(&self, reference: &str) -> Option<&Value>;
}

/// Receives the collections passed through `trace(name)`.
pub type Tracer<'a> = dyn Fn(&str, &[Item<'_>]) + Sync + 'a;

/// The evaluation environment. `Env::default()` has no variables, no clock, no resolver and is
/// lenient; see the `with_…` builders. It is `Send + Sync`: build it once, share it.
#[derive(Default)]
pub struct Env<'a> {
    pub(crate) variables: HashMap<String, Vec<Item<'a>>>,
    pub(crate) now: Option<DateTime>,
    pub(crate) resolver: Option<&'a dyn Resolver>,
    pub(crate) tracer: Option<&'a Tracer<'a>>,
    pub(crate) strict: bool,
    pub(crate) check_ordered_functions: bool,
}

impl<'a> Env<'a> {
    pub fn new() -> Env<'a> {
        Env::default()
    }

    /// Defines `%name` (without the `%`). Overrides the built-in constants of the same name
    /// (`%ucum`, `%sct`, `%vs-…`), except `%resource`, `%context` and `%rootResource`.
    pub fn with_variable(mut self, name: impl Into<String>, value: Vec<Item<'a>>) -> Env<'a> {
        self.variables.insert(name.into(), value);
        self
    }

    /// The instant `now()` returns; `today()` and `timeOfDay()` are read from it.
    pub fn with_now(mut self, now: DateTime) -> Env<'a> {
        self.now = Some(now);
        self
    }

    /// Used by `resolve()` for references that are neither contained nor in the evaluated
    /// Bundle.
    pub fn with_resolver(mut self, resolver: &'a dyn Resolver) -> Env<'a> {
        self.resolver = Some(resolver);
        self
    }

    pub fn with_tracer(mut self, tracer: &'a Tracer<'a>) -> Env<'a> {
        self.tracer = Some(tracer);
        self
    }

    /// Strict mode follows the specification to the letter: naming an element the type does
    /// not have is an error (`Observation.valueQuantity`), `as` needs a single item, and `iif`
    /// needs a Boolean criterion. Lenient mode (the default, what search indexing wants) yields
    /// empty collections instead and lets `as` filter collections like `ofType`.
    pub fn strict(mut self, strict: bool) -> Env<'a> {
        self.strict = strict;
        self
    }

    /// Makes ordered functions (`first()`, `skip()`, `[n]` …) an error on the unordered output of
    /// `children()` and `descendants()`.
    pub fn check_ordered_functions(mut self, on: bool) -> Env<'a> {
        self.check_ordered_functions = on;
        self
    }
}
