//! Validation of a resource in FHIR JSON against the official R4 StructureDefinitions: known elements and choice types, JSON shapes and cardinalities, primitive syntax, and required value-set bindings.
//!
//! Everything is driven by the condensed definitions (see [`crate::definitions`]); there are no
//! per-resource rules here. FHIR invariants (the `constraint` FHIRPath expressions), profiles,
//! reference targets and extensible or preferred bindings are not checked.

mod path;
mod primitive;

pub use primitive::check_primitive;

use crate::definitions::{definitions, Definitions, Element, ElementType, Primitive, Structure, StructureId};
use crate::outcome::{Issue, IssueCode};
use path::Path;
use serde_json::{Map, Value};

/// Stop collecting after this many issues.
pub const MAX_ISSUES: usize = 100;

/// Checks a resource in FHIR JSON; returns every issue found (at most [`MAX_ISSUES`]), each with the
/// FHIRPath of the element at fault, like `Patient.name[0].given[1]` or `Bundle.entry[2].resource.birthDate`.
///
/// Checked: the resource type; every property is an element of its position (choice types, `_name`
/// siblings of primitives, extensions, backbone elements, data types, contained and nested resources);
/// JSON shapes (arrays exactly where max ≠ 1, no null, empty object, empty array or empty string);
/// cardinalities; primitive syntax (see [`check_primitive`]); required bindings on `code`, `Coding` and
/// `CodeableConcept` whose value sets the specification's files let us expand.
pub fn validate_resource(resource: &Value) -> Result<(), Vec<Issue>> {
    let mut checker = Checker { definitions: definitions(), issues: Vec::new() };
    checker.resource(resource, &Path::Root, None);
    if checker.issues.is_empty() {
        Ok(())
    } else {
        Err(checker.issues)
    }
}

struct Checker {
    definitions: &'static Definitions,
    issues: Vec<Issue>,
}

impl Checker {
    fn report(&mut self, code: IssueCode, path: &Path<'_>, diagnostics: impl Into<String>) {
        if self.issues.len() < MAX_ISSUES {
            let at = path.to_string();
            let issue = Issue::error(code, diagnostics);
            self.issues.push(if at.is_empty() { issue } else { issue.at(at) });
        }
    }

    fn full(&self) -> bool {
        self.issues.len() >= MAX_ISSUES
    }

    /// A resource at `at` (Root for the top level); `expected` restricts its type (e.g. `OperationOutcome`).
    fn resource(&mut self, value: &Value, at: &Path<'_>, expected: Option<StructureId>) {
        let Value::Object(object) = value else {
            return self.report(IssueCode::Structure, at, "a resource must be a JSON object");
        };
        let type_path = at.member("resourceType");
        let id = match object.get("resourceType") {
            None => return self.report(IssueCode::Required, &type_path, "resourceType is missing"),
            Some(Value::String(name)) => match self.definitions.resource(name) {
                Some(id) => id,
                None => return self.report(IssueCode::Invalid, &type_path, format!("'{name}' is not an R4 resource type")),
            },
            Some(_) => return self.report(IssueCode::Invalid, &type_path, "resourceType must be a string"),
        };
        if let Some(expected) = expected.filter(|&e| e != id) {
            let message = format!("a {} resource is expected here", self.definitions.structures[expected].name);
            return self.report(IssueCode::Invalid, &type_path, message);
        }
        let structure = &self.definitions.structures[id];
        match at {
            Path::Root => self.object(object, structure, &Path::Type(&structure.name)),
            _ => self.object(object, structure, at),
        }
    }

    /// The properties of an object of a known structure.
    fn object(&mut self, object: &Map<String, Value>, structure: &'static Structure, at: &Path<'_>) {
        if object.is_empty() {
            return self.report(IssueCode::Structure, at, "an object must not be empty");
        }
        // Which choice elements already have a value, to reject two types of one choice.
        let mut chosen: Vec<(u16, u16)> = Vec::new();
        for (key, value) in object {
            if self.full() {
                return;
            }
            if structure.is_resource && key == "resourceType" {
                continue;
            }
            let Some(field) = structure.field(key) else {
                self.unknown(structure, key, &at.member(key));
                continue;
            };
            let element = structure.element(field);
            let variant = usize::from(field.variant);
            let value_key = element.keys[variant].as_str();
            if element.choice && !(field.primitive_extension && object.contains_key(value_key)) {
                if chosen.iter().any(|&(e, v)| e == field.element && v != field.variant) {
                    let message = format!("{} takes only one type, but several are given", element.definition_name());
                    self.report(IssueCode::Structure, &at.member(key), message);
                    continue;
                }
                chosen.push((field.element, field.variant));
            }
            let path = at.member(value_key);
            match element.types[variant] {
                ElementType::Primitive(primitive) if field.primitive_extension => {
                    if !object.contains_key(value_key) {
                        self.primitive_element(element, primitive, None, Some(value), &path);
                    }
                }
                ElementType::Primitive(primitive) => {
                    let extension_key = element.extension_keys[variant].as_deref().unwrap_or_default();
                    self.primitive_element(element, primitive, Some(value), object.get(extension_key), &path);
                }
                ty => self.complex_element(element, ty, value, &path),
            }
        }
        for &index in &structure.required {
            let element = &structure.elements[usize::from(index)];
            let present = element.keys.iter().chain(element.extension_keys.iter().flatten()).any(|k| object.contains_key(k));
            if !present {
                let message = format!("{} is required (minimum cardinality {})", element.definition_name(), element.min);
                self.report(IssueCode::Required, &at.member(&element.name), message);
            }
        }
    }

    /// A property the structure does not define, with the most helpful explanation we can give.
    fn unknown(&mut self, structure: &Structure, key: &str, at: &Path<'_>) {
        let known = |k: &str| structure.field(k).map(|f| structure.element(f));
        let message = if let Some(element) = key.strip_prefix('_').and_then(known) {
            format!("{} is not a primitive element, so it has no '{key}'", element.name)
        } else if let Some(element) = structure.elements.iter().find(|e| e.choice && key.len() > e.name.len() && key.starts_with(e.name.as_str())) {
            format!("{key} is not an allowed type of {}; allowed: {}", element.definition_name(), element.type_codes.join(", "))
        } else {
            format!("unknown element '{key}' in {}", structure.name)
        };
        self.report(IssueCode::Structure, at, message);
    }

    /// Checks that the JSON shape matches the cardinality; returns the items to check (one when not an array).
    fn items<'v>(&mut self, element: &Element, value: &'v Value, at: &Path<'_>) -> Option<&'v [Value]> {
        match (element.array, value) {
            (true, Value::Array(items)) if items.is_empty() => {
                self.report(IssueCode::Structure, at, "an array must not be empty");
                None
            }
            (true, Value::Array(items)) => {
                if let Some(max) = element.max.filter(|&max| items.len() > max as usize) {
                    let message = format!("{} allows at most {max} items, {} given", element.name, items.len());
                    self.report(IssueCode::Structure, at, message);
                }
                Some(items)
            }
            (true, _) => {
                let message = format!("{} can repeat, so it must be a JSON array", element.name);
                self.report(IssueCode::Structure, at, message);
                None
            }
            (false, Value::Array(_)) => {
                let message = format!("{} has at most one value, so it must not be a JSON array", element.name);
                self.report(IssueCode::Structure, at, message);
                None
            }
            (false, single) => Some(std::slice::from_ref(single)),
        }
    }

    /// An element of a complex data type, backbone element or resource.
    fn complex_element(&mut self, element: &Element, ty: ElementType, value: &Value, at: &Path<'_>) {
        let Some(items) = self.items(element, value, at) else { return };
        for (i, item) in items.iter().enumerate() {
            let indexed;
            let path = if element.array {
                indexed = at.index(i);
                &indexed
            } else {
                at
            };
            match (ty, item) {
                (_, Value::Null) => self.report(IssueCode::Structure, path, "null is not allowed here"),
                (ElementType::Resource(expected), _) => self.resource(item, path, expected),
                (ElementType::Complex(id), Value::Object(object)) => {
                    let structure = &self.definitions.structures[id];
                    let issues_before = self.issues.len();
                    self.object(object, structure, path);
                    // A binding is checked only on a well-formed coding, not to pile up issues.
                    if let Some(value_set) = element.binding.filter(|_| self.issues.len() == issues_before) {
                        self.coded_binding(id, object, value_set, path);
                    }
                }
                _ => self.report(IssueCode::Structure, path, "must be a JSON object"),
            }
        }
    }

    /// A primitive element: its values (`name`) and/or their ids and extensions (`_name`).
    fn primitive_element(&mut self, element: &Element, primitive: Primitive, value: Option<&Value>, extension: Option<&Value>, at: &Path<'_>) {
        let values = match value {
            Some(v) => match self.items(element, v, at) {
                Some(items) => items,
                None => return,
            },
            None => &[],
        };
        let extensions = match extension {
            Some(e) => match self.items(element, e, at) {
                Some(items) => items,
                None => return,
            },
            None => &[],
        };
        if value.is_some() && extension.is_some() && values.len() != extensions.len() {
            let message = format!("{} and _{} must have the same number of items", element.name, element.name);
            return self.report(IssueCode::Structure, at, message);
        }
        for i in 0..values.len().max(extensions.len()) {
            let indexed;
            let path = if element.array {
                indexed = at.index(i);
                &indexed
            } else {
                at
            };
            let value = values.get(i).filter(|v| !v.is_null());
            let extension = extensions.get(i).filter(|e| !e.is_null());
            let single_null = !element.array && (values.len() > value.iter().len() || extensions.len() > extension.iter().len());
            if single_null || (value.is_none() && extension.is_none()) {
                self.report(IssueCode::Structure, path, "null is not allowed here");
                continue;
            }
            if let Some(value) = value {
                self.primitive_value(element, primitive, value, path);
            }
            match extension {
                Some(Value::Object(object)) => {
                    let structures = &self.definitions.structures;
                    self.object(object, &structures[structures.primitive_extension], path);
                }
                Some(_) => self.report(IssueCode::Structure, path, format!("_{} must hold JSON objects", element.name)),
                None => {}
            }
        }
    }

    fn primitive_value(&mut self, element: &Element, primitive: Primitive, value: &Value, at: &Path<'_>) {
        if matches!(value, Value::Array(_) | Value::Object(_)) {
            let message = format!("{} is a primitive ({}), so it must be a JSON string, number or boolean", element.name, primitive.code());
            return self.report(IssueCode::Structure, at, message);
        }
        if let Err(reason) = check_primitive(primitive, value) {
            let message = format!("{} {reason} ({}: {})", primitive.code(), element.name, excerpt(value));
            return self.report(IssueCode::Value, at, message);
        }
        if let (Some(value_set), Primitive::Code, Value::String(code)) = (element.binding, primitive, value) {
            let value_set = &self.definitions.value_sets[value_set as usize];
            if !value_set.contains_code(code) {
                let message = format!("'{code}' is not in the required value set {}", value_set.url);
                self.report(IssueCode::CodeInvalid, at, message);
            }
        }
    }

    /// A required binding on a Coding or CodeableConcept: the coding, or one of the codings, must be in the value set.
    fn coded_binding(&mut self, id: StructureId, object: &Map<String, Value>, value_set: u32, at: &Path<'_>) {
        let structures = &self.definitions.structures;
        let value_set = &self.definitions.value_sets[value_set as usize];
        let in_value_set = |coding: &Map<String, Value>| {
            let code = coding.get("code").and_then(Value::as_str);
            let system = coding.get("system").and_then(Value::as_str);
            code.is_some_and(|code| value_set.contains_coding(system, code))
        };
        let ok = if id == structures.coding {
            in_value_set(object)
        } else if id == structures.codeable_concept {
            let codings = object.get("coding").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
            codings.iter().filter_map(Value::as_object).any(in_value_set)
        } else {
            true
        };
        if !ok {
            let message = format!("no coding from the required value set {}", value_set.url);
            self.report(IssueCode::CodeInvalid, at, message);
        }
    }
}

/// The JSON text of a value for a message, shortened when long.
fn excerpt(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(60) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}
