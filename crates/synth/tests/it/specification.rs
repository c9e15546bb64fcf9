//! The official FHIR R4 definitions, read from the shared data folder, as far as the tests need them: each resource's elements with their cardinality, types and required code bindings.

use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

/// One element of a resource, from its StructureDefinition snapshot.
#[derive(Debug)]
pub struct Element {
    pub min: u64,
    pub many: bool,
    pub types: Vec<String>,
    /// The allowed codes, when the element is a `code` with a required binding we can expand.
    pub codes: Option<HashSet<String>>,
}

/// The elements of the resource types the generator writes, by path (`Observation.component.code`).
pub struct Specification {
    pub elements: HashMap<String, Element>,
    /// The paths of each element's direct children.
    children: HashMap<String, Vec<String>>,
}

fn data_dir() -> PathBuf {
    match std::env::var_os("JOINERY_SHARED_DATA") {
        Some(dir) => PathBuf::from(dir).join("fhir-r4"),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/fhir-r4"),
    }
}

fn read(name: &str) -> Value {
    let path = data_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("the FHIR R4 definitions are needed at {} ({error}); set JOINERY_SHARED_DATA", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("{} is not JSON: {error}", path.display()))
}

fn entries(bundle: &Value) -> impl Iterator<Item = &Value> {
    bundle["entry"].as_array().into_iter().flatten().map(|entry| &entry["resource"])
}

impl Specification {
    /// The definitions of these types; `None`, saying that the check is skipped, where the shared data is
    /// not there (a bare clone; CI always has it).
    pub fn load(resource_types: &[&str]) -> Option<Specification> {
        if !data_dir().is_dir() {
            eprintln!("skipped: no FHIR R4 definitions at {} (set JOINERY_SHARED_DATA)", data_dir().display());
            return None;
        }
        let valuesets = read("valuesets.json");
        let mut code_systems: HashMap<&str, &Value> = HashMap::new();
        let mut value_sets: HashMap<&str, &Value> = HashMap::new();
        for resource in entries(&valuesets) {
            let url = resource["url"].as_str().unwrap_or_default();
            match resource["resourceType"].as_str() {
                Some("CodeSystem") => {
                    code_systems.insert(url, resource);
                }
                Some("ValueSet") => {
                    value_sets.insert(url, resource);
                }
                _ => {}
            }
        }
        let expand = |url: &str| -> Option<HashSet<String>> {
            let value_set = value_sets.get(url.split('|').next().unwrap_or(url))?;
            let mut codes = HashSet::new();
            for include in value_set["compose"]["include"].as_array()? {
                if include.get("filter").is_some() || include.get("valueSet").is_some() {
                    return None;
                }
                if let Some(concepts) = include["concept"].as_array() {
                    codes.extend(concepts.iter().filter_map(|concept| concept["code"].as_str().map(str::to_owned)));
                } else {
                    let system = code_systems.get(include["system"].as_str()?)?;
                    collect_codes(&system["concept"], &mut codes);
                }
            }
            Some(codes)
        };

        let profiles = read("profiles-resources.json");
        let mut elements = HashMap::new();
        for definition in entries(&profiles) {
            if definition["resourceType"] != "StructureDefinition" || !resource_types.contains(&definition["type"].as_str().unwrap_or_default()) {
                continue;
            }
            if definition["derivation"] == "constraint" {
                continue;
            }
            for element in definition["snapshot"]["element"].as_array().into_iter().flatten() {
                let Some(path) = element["path"].as_str() else { continue };
                let mut types: Vec<String> = element["type"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|t| t["code"].as_str())
                    .map(|code| if code == "http://hl7.org/fhirpath/System.String" { "string".to_owned() } else { code.to_owned() })
                    .collect();
                // The logical id of a resource has the FHIR id syntax (its snapshot type is a bare System.String).
                if path.matches('.').count() == 1 && path.ends_with(".id") {
                    types = vec!["id".to_owned()];
                }
                let codes = if element["binding"]["strength"] == "required" && types == ["code"] {
                    element["binding"]["valueSet"].as_str().and_then(expand)
                } else {
                    None
                };
                elements.insert(
                    path.to_owned(),
                    Element {
                        min: element["min"].as_u64().unwrap_or(0),
                        many: element["max"].as_str() != Some("1") && element["max"].as_str() != Some("0"),
                        types,
                        codes,
                    },
                );
            }
        }
        let mut children: HashMap<String, Vec<String>> = HashMap::new();
        for path in elements.keys() {
            if let Some((parent, _)) = path.rsplit_once('.') {
                children.entry(parent.to_owned()).or_default().push(path.clone());
            }
        }
        Some(Specification { elements, children })
    }

    /// Every way `resource` breaks its definition: unknown elements, a list where one value is
    /// allowed (or the reverse), missing required elements, codes outside a required value set,
    /// and malformed dates, times and ids.
    pub fn check(&self, resource: &Value) -> Vec<String> {
        let mut issues = Vec::new();
        let Some(kind) = resource["resourceType"].as_str() else {
            return vec!["no resourceType".to_owned()];
        };
        let Some(object) = resource.as_object() else {
            return vec!["not an object".to_owned()];
        };
        self.check_object(kind, object, &mut issues);
        issues
    }

    fn children(&self, path: &str) -> impl Iterator<Item = (&String, &Element)> {
        self.children.get(path).into_iter().flatten().map(|child| (child, &self.elements[child]))
    }

    /// The element a JSON key names under `path`, and the type a choice element was given.
    fn element(&self, path: &str, key: &str) -> Option<(String, &Element, Option<String>)> {
        let exact = format!("{path}.{key}");
        if let Some(element) = self.elements.get(&exact) {
            return Some((exact, element, None));
        }
        self.children(path).find_map(|(child, element)| {
            let name = child.rsplit('.').next()?.strip_suffix("[x]")?;
            let suffix = key.strip_prefix(name)?;
            element
                .types
                .iter()
                .find(|candidate| {
                    let mut letters = candidate.chars();
                    letters.next().is_some_and(|first| suffix.starts_with(first.to_ascii_uppercase())) && suffix[1..] == candidate[1..]
                })
                .map(|chosen| (child.clone(), element, Some(chosen.clone())))
        })
    }

    fn check_object(&self, path: &str, object: &Map<String, Value>, issues: &mut Vec<String>) {
        for (key, value) in object {
            if key == "resourceType" && !path.contains('.') {
                continue;
            }
            let Some((element_path, element, chosen)) = self.element(path, key) else {
                issues.push(format!("{path}.{key}: not an element of the resource"));
                continue;
            };
            let items: Vec<&Value> = match value {
                Value::Array(items) => {
                    if !element.many {
                        issues.push(format!("{element_path}: a list where one value is allowed"));
                    }
                    if items.is_empty() {
                        issues.push(format!("{element_path}: an empty list"));
                    }
                    items.iter().collect()
                }
                single => {
                    if element.many {
                        issues.push(format!("{element_path}: one value where a list is required"));
                    }
                    vec![single]
                }
            };
            let kind = chosen.as_deref().or(element.types.first().map(String::as_str)).unwrap_or("BackboneElement");
            let has_children = self.children(&element_path).next().is_some() && matches!(kind, "BackboneElement" | "Element");
            for item in items {
                if has_children {
                    match item.as_object() {
                        Some(child) => self.check_object(&element_path, child, issues),
                        None => issues.push(format!("{element_path}: not an object")),
                    }
                    continue;
                }
                if let Some(problem) = primitive_problem(kind, item) {
                    issues.push(format!("{element_path}: {problem}"));
                }
                if let (Some(codes), Some(code)) = (&element.codes, item.as_str()) {
                    if !codes.contains(code) {
                        issues.push(format!("{element_path}: {code:?} is not in the required value set"));
                    }
                }
            }
        }
        for (child, element) in self.children(path) {
            if element.min == 0 {
                continue;
            }
            let name = child.rsplit('.').next().unwrap_or(child);
            let present = match name.strip_suffix("[x]") {
                Some(base) => object.keys().any(|key| key.starts_with(base) && key.len() > base.len()),
                None => object.contains_key(name),
            };
            if !present {
                issues.push(format!("{child}: required but missing"));
            }
        }
    }
}

fn collect_codes(concepts: &Value, codes: &mut HashSet<String>) {
    for concept in concepts.as_array().into_iter().flatten() {
        if let Some(code) = concept["code"].as_str() {
            codes.insert(code.to_owned());
        }
        collect_codes(&concept["concept"], codes);
    }
}

/// What is wrong with a primitive value of a FHIR type, if anything (the regular expressions of the R4 specification, written out).
fn primitive_problem(kind: &str, value: &Value) -> Option<String> {
    let digits = |text: &str| !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit());
    let date_ok = |text: &str| {
        let parts: Vec<&str> = text.split('-').collect();
        match parts.as_slice() {
            [year] => year.len() == 4 && digits(year),
            [year, month] => year.len() == 4 && digits(year) && month.len() == 2 && digits(month),
            [year, month, day] => {
                year.len() == 4
                    && digits(year)
                    && month.len() == 2
                    && digits(month)
                    && day.len() == 2
                    && digits(day)
                    && chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok()
            }
            _ => false,
        }
    };
    let instant_ok = |text: &str| chrono::DateTime::parse_from_rfc3339(text).is_ok() && text.len() >= 20;
    match kind {
        "string" | "code" | "markdown" | "uri" | "url" | "canonical" => match value.as_str() {
            Some(text) if !text.trim().is_empty() => None,
            _ => Some(format!("{value} is not a non-empty string")),
        },
        "id" => match value.as_str() {
            Some(text) if (1..=64).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') => None,
            _ => Some(format!("{value} is not a FHIR id")),
        },
        "boolean" => value.is_boolean().then_some(()).map_or(Some(format!("{value} is not a boolean")), |_| None),
        "integer" | "positiveInt" | "unsignedInt" => value.as_i64().map_or(Some(format!("{value} is not an integer")), |_| None),
        "date" => value.as_str().filter(|text| date_ok(text)).map_or(Some(format!("{value} is not a date")), |_| None),
        "dateTime" => value.as_str().filter(|text| date_ok(text) || instant_ok(text)).map_or(Some(format!("{value} is not a dateTime")), |_| None),
        "instant" => value.as_str().filter(|text| instant_ok(text)).map_or(Some(format!("{value} is not an instant")), |_| None),
        "time" => value
            .as_str()
            .filter(|text| chrono::NaiveTime::parse_from_str(text, "%H:%M:%S").is_ok())
            .map_or(Some(format!("{value} is not a time")), |_| None),
        "decimal" => value.is_number().then_some(()).map_or(Some(format!("{value} is not a decimal")), |_| None),
        complex if complex.starts_with(|first: char| first.is_ascii_uppercase()) => {
            (!value.is_object()).then(|| format!("{value} is not an object of type {kind}"))
        }
        _ => None,
    }
}
