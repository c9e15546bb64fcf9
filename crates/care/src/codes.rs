//! Code lists as data: FHIR ValueSets of enumerated concepts (`compose.include[].concept`), read once, asked
//! whether they hold a (system, code).

use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// Codes by system.
type Codes = HashMap<String, HashSet<String>>;

/// Value sets by canonical url, and the union of them all (asked without allocating).
#[derive(Debug, Default)]
pub struct CodeSets {
    sets: HashMap<String, Codes>,
    all: Codes,
}

impl CodeSets {
    /// Reads FHIR ValueSets, each of enumerated concepts; filters and imported value sets are refused, since
    /// nothing here can expand them.
    pub fn from_json(value_sets: &[&str]) -> Result<CodeSets, String> {
        let (mut sets, mut all) = (HashMap::new(), Codes::new());
        for text in value_sets {
            let vs: Value = serde_json::from_str(text).map_err(|e| format!("a value set: {e}"))?;
            let url = vs["url"].as_str().ok_or("a value set without a url")?.to_owned();
            let mut set = Codes::new();
            for include in vs["compose"]["include"].as_array().ok_or_else(|| format!("{url}: no compose.include"))? {
                let system = include["system"].as_str().ok_or_else(|| format!("{url}: an include without a system"))?;
                if include.get("filter").is_some() || include.get("valueSet").is_some() {
                    return Err(format!("{url}: only enumerated concepts are read (no filters or imported value sets)"));
                }
                for concept in include["concept"].as_array().ok_or_else(|| format!("{url}: an include without concepts"))? {
                    let code = concept["code"].as_str().ok_or_else(|| format!("{url}: a concept without a code"))?;
                    set.entry(system.to_owned()).or_default().insert(code.to_owned());
                    all.entry(system.to_owned()).or_default().insert(code.to_owned());
                }
            }
            if sets.insert(url.clone(), set).is_some() {
                return Err(format!("{url}: given twice"));
            }
        }
        Ok(CodeSets { sets, all })
    }

    pub fn has(&self, url: &str) -> bool {
        self.sets.contains_key(url)
    }

    pub fn contains(&self, url: &str, system: &str, code: &str) -> bool {
        self.sets.get(url).and_then(|s| s.get(system)).is_some_and(|codes| codes.contains(code))
    }

    /// Whether any of the value sets holds the code.
    pub fn any_contains(&self, system: &str, code: &str) -> bool {
        self.all.get(system).is_some_and(|codes| codes.contains(code))
    }
}
