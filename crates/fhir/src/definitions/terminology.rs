//! Expanded value sets of the specification's required bindings, for membership tests of codes and codings.

use std::collections::HashMap;

/// A value set expanded at build time: every (system, code) it contains.
#[derive(Debug)]
pub(crate) struct ValueSet {
    pub url: String,
    /// code → the systems that define it in this value set (nearly always one).
    codes: HashMap<String, Vec<String>>,
}

impl ValueSet {
    /// Builds a value set from its codes grouped by system.
    pub fn new(url: String, systems: Vec<(String, Vec<String>)>) -> ValueSet {
        let mut codes: HashMap<String, Vec<String>> = HashMap::new();
        for (system, system_codes) in systems {
            for code in system_codes {
                codes.entry(code).or_default().push(system.clone());
            }
        }
        ValueSet { url, codes }
    }

    /// True when some system of the value set defines `code` (for elements of type `code`).
    pub fn contains_code(&self, code: &str) -> bool {
        self.codes.contains_key(code)
    }

    /// True when the value set holds `code` in `system`; a coding without a system matches on the code alone.
    pub fn contains_coding(&self, system: Option<&str>, code: &str) -> bool {
        match (self.codes.get(code), system) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(systems), Some(system)) => systems.iter().any(|s| s == system),
        }
    }
}
