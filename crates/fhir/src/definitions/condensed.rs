//! The shape of the condensed definitions file that `build.rs` writes, and how it becomes [`Definitions`].

use super::search::{SearchIndex, SearchParam, SearchParamKind};
use super::structure::{RawStructure, Structures};
use super::terminology::ValueSet;
use super::Definitions;
use serde::Deserialize;

#[derive(Deserialize)]
struct Condensed {
    /// (concrete resource type, the type it specialises), sorted.
    resources: Vec<(String, String)>,
    structures: Vec<RawStructure>,
    value_sets: Vec<RawValueSet>,
    unexpanded_value_sets: Vec<String>,
    search_params: Vec<RawSearchParam>,
    patient_compartment: Vec<(String, Vec<String>)>,
    summary: Vec<(String, Vec<String>)>,
}

#[derive(Deserialize)]
struct RawValueSet {
    url: String,
    systems: Vec<(String, Vec<String>)>,
}

#[derive(Deserialize)]
struct RawSearchParam {
    code: String,
    base: Vec<String>,
    #[serde(rename = "type")]
    kind: String,
    expression: Option<String>,
    target: Vec<String>,
    components: Vec<(String, String)>,
    url: String,
}

/// Parses the embedded file. It was written by our own build script, so a failure is a bug.
pub(super) fn load(text: &str) -> Definitions {
    let condensed: Condensed = serde_json::from_str(text).expect("invariant: build.rs writes valid condensed definitions");
    let resource_types: Vec<String> = condensed.resources.iter().map(|(name, _)| name.clone()).collect();
    let value_sets: Vec<ValueSet> = condensed.value_sets.into_iter().map(|vs| ValueSet::new(vs.url, vs.systems)).collect();
    let structures = Structures::build(condensed.structures, &resource_types, &value_sets);
    let params = condensed
        .search_params
        .into_iter()
        .map(|p| SearchParam {
            kind: SearchParamKind::from_code(&p.kind).unwrap_or_else(|| panic!("invariant: search parameter type {} is known", p.kind)),
            code: p.code,
            base: p.base,
            expression: p.expression,
            target: p.target,
            components: p.components,
            url: p.url,
        })
        .collect();
    Definitions {
        search: SearchIndex::new(params, &condensed.resources),
        resource_types,
        structures,
        value_sets,
        unexpanded_value_sets: condensed.unexpanded_value_sets,
        patient_compartment: condensed.patient_compartment.into_iter().collect(),
        summary: condensed.summary.into_iter().collect(),
    }
}
