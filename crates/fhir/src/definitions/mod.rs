//! The FHIR R4 specification's definitions, condensed at build time from the official files and parsed once on first use: resource types, element structures, required value sets, search parameters and the Patient compartment.
//!
//! `build.rs` reads the StructureDefinitions, value sets, search parameters and the Patient
//! CompartmentDefinition and writes a compact JSON file that is embedded here; nothing is read at
//! run time.

mod condensed;
mod fast_map;
mod search;
mod structure;
mod terminology;

pub use search::{SearchParam, SearchParamKind};
pub use structure::Primitive;
pub(crate) use structure::{Element, ElementType, Structure, StructureId};
pub(crate) use terminology::ValueSet;

use std::collections::HashMap;
use std::sync::OnceLock;

/// Everything the crate knows about R4, built once from the embedded condensed definitions.
pub(crate) struct Definitions {
    /// Concrete resource types, sorted.
    resource_types: Vec<String>,
    pub(crate) structures: structure::Structures,
    pub(crate) value_sets: Vec<ValueSet>,
    unexpanded_value_sets: Vec<String>,
    search: search::SearchIndex,
    patient_compartment: HashMap<String, Vec<String>>,
    summary: HashMap<String, Vec<String>>,
}

/// The definitions, parsed on first use.
pub(crate) fn definitions() -> &'static Definitions {
    static DEFINITIONS: OnceLock<Definitions> = OnceLock::new();
    DEFINITIONS.get_or_init(|| condensed::load(include_str!("../../generated/definitions.json")))
}

/// True only for the concrete R4 resource types (`Patient`, `Observation`…), not for abstract ones
/// (`Resource`, `DomainResource`) nor data types.
pub fn is_resource_type(name: &str) -> bool {
    definitions().resource_types.binary_search_by(|t| t.as_str().cmp(name)).is_ok()
}

/// All concrete R4 resource types, sorted.
pub fn resource_types() -> impl Iterator<Item = &'static str> {
    definitions().resource_types.iter().map(String::as_str)
}

/// The search parameters that apply to `resource_type`, sorted by code: those whose base includes
/// the type, plus those defined on `Resource` (`_id`, `_lastUpdated`…) and, for types derived from
/// DomainResource, on `DomainResource` (`_text`). `Resource` and `DomainResource` themselves are
/// accepted too (for searches across all types). Empty for an unknown type.
pub fn search_params(resource_type: &str) -> impl Iterator<Item = &'static SearchParam> {
    definitions().search.for_type(resource_type)
}

/// The search parameter `code` that applies to `resource_type`, if any.
pub fn search_param(resource_type: &str, code: &str) -> Option<&'static SearchParam> {
    definitions().search.find(resource_type, code)
}

/// The top-level elements of a resource type marked `isSummary` or mandatory (`value[x]` for choice
/// elements): what `_summary=true` keeps.
pub fn summary_elements(resource_type: &str) -> &'static [String] {
    definitions().summary.get(resource_type).map(Vec::as_slice).unwrap_or(&[])
}

/// The search parameter codes that put a resource of `resource_type` in a patient's compartment,
/// as given by the specification's `compartmentdefinition-patient.json`; empty when the type is
/// never in the compartment.
///
/// For `Patient` itself the file lists `link` (R4 4.0.1 as distributed here; some copies of the
/// specification say `{def}` instead, meaning "the patient that defines the compartment"). Either
/// way, a patient is always in its own compartment by identity: callers must treat the Patient
/// whose id is the compartment id as a member, whatever this list says.
pub fn patient_compartment_params(resource_type: &str) -> &'static [String] {
    definitions().patient_compartment.get(resource_type).map(Vec::as_slice).unwrap_or(&[])
}

/// The required-binding value sets that could not be expanded from the specification's files
/// (they use filters, exclusions or external code systems such as UCUM, BCP-13 mime types or
/// ISO 4217 currencies). Codes bound to them are not checked by validation.
pub fn unexpanded_value_sets() -> &'static [String] {
    &definitions().unexpanded_value_sets
}

impl Definitions {
    /// The structure of a concrete resource type.
    pub(crate) fn resource(&self, name: &str) -> Option<StructureId> {
        self.structures.resource(name)
    }
}

/// A resource, complex data type or backbone element, as the JSON of a node of that type follows it: for
/// building and changing resources element by element (FHIRPath Patch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape(StructureId);

/// One child element of a [`Shape`].
#[derive(Debug, Clone, Copy)]
pub struct Child(&'static Element);

impl Shape {
    /// The shape of a resource or complex data type, by name (`Patient`, `HumanName`).
    pub fn named(name: &str) -> Option<Shape> {
        definitions().structures.named(name).map(Shape)
    }

    /// The type's name, or the element path of a backbone element (`Patient.contact`).
    pub fn name(self) -> &'static str {
        &definitions().structures[self.0].name
    }

    /// The child element `name` (as FHIRPath names it: `deceased` for `deceased[x]`).
    pub fn child(self, name: &str) -> Option<Child> {
        definitions().structures[self.0].elements.iter().find(|e| e.name == name).map(Child)
    }

    /// The child element a JSON property sets (`deceasedBoolean`, `_birthDate`), with the type code it
    /// sets; `None` for an unknown property.
    pub fn child_for_key(self, key: &str) -> Option<(Child, &'static str)> {
        let s = &definitions().structures[self.0];
        let field = s.field(key)?;
        let element = s.element(field);
        Some((Child(element), element.type_codes[usize::from(field.variant)].as_str()))
    }
}

impl Child {
    pub fn name(self) -> &'static str {
        &self.0.name
    }

    /// Whether the JSON holds it as an array (it may repeat).
    pub fn repeats(self) -> bool {
        self.0.array
    }

    /// Whether it is a choice (`value[x]`), whose JSON property names the type.
    pub fn is_choice(self) -> bool {
        self.0.choice
    }

    /// The type codes it allows, as the definitions name them (`dateTime`, `HumanName`, `BackboneElement`).
    pub fn type_codes(self) -> &'static [String] {
        &self.0.type_codes
    }

    /// The JSON property for a value of type `type_code` (`deceasedBoolean`, or just `birthDate`), if it
    /// allows that type.
    pub fn key_for(self, type_code: &str) -> Option<&'static str> {
        let i = self.0.type_codes.iter().position(|c| c == type_code)?;
        Some(self.0.keys[i].as_str())
    }

    /// The primitive type of its value of type `type_code`, if that is a primitive.
    pub fn primitive(self, type_code: &str) -> Option<Primitive> {
        let i = self.0.type_codes.iter().position(|c| c == type_code)?;
        match self.0.types[i] {
            ElementType::Primitive(p) => Some(p),
            _ => None,
        }
    }

    /// The shape of its value of type `type_code`, if that is a complex type, backbone element or named
    /// resource type.
    pub fn shape(self, type_code: &str) -> Option<Shape> {
        let i = self.0.type_codes.iter().position(|c| c == type_code)?;
        match self.0.types[i] {
            ElementType::Complex(id) | ElementType::Resource(Some(id)) => Some(Shape(id)),
            _ => None,
        }
    }

    /// The one type it allows, when it allows one (not a choice).
    pub fn only_type(self) -> Option<&'static str> {
        match self.0.type_codes.as_slice() {
            [one] => Some(one.as_str()),
            _ => None,
        }
    }
}
