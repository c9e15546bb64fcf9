//! Condenses the official FHIR R4 definitions (StructureDefinitions, value sets, search parameters, the
//! Patient compartment) into the compact JSON file `crates/fhir/generated/definitions.json`, which
//! `fhir::definitions` embeds and parses on first use.

use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

const FILES: [&str; 5] =
    ["profiles-resources.json", "profiles-types.json", "valuesets.json", "search-parameters.json", "compartmentdefinition-patient.json"];

/// The FHIR version whose definitions are kept; the files also carry a few later (R4B) additions.
const FHIR_VERSION: &str = "4.0.1";

/// The condensed definitions, from the folder holding the specification files (`shared/data/fhir-r4`).
pub fn generate(dir: &Path) -> String {
    for file in FILES {
        let path = dir.join(file);
        if !path.is_file() {
            fail(&format!("the FHIR R4 definition file {} is missing (it is one of {})", path.display(), FILES.join(", ")));
        }
    }
    let resources_bundle = read_json(&dir.join("profiles-resources.json"));
    let types_bundle = read_json(&dir.join("profiles-types.json"));
    let value_sets_bundle = read_json(&dir.join("valuesets.json"));
    let search_bundle = read_json(&dir.join("search-parameters.json"));
    let compartment = read_json(&dir.join("compartmentdefinition-patient.json"));

    let definitions: Vec<&Value> = entries(&types_bundle)
        .chain(entries(&resources_bundle))
        .filter(|r| r["resourceType"] == "StructureDefinition" && r["fhirVersion"] == FHIR_VERSION)
        .collect();

    let resources = resource_types(&definitions);
    let structures = structures(&definitions);
    let required_value_sets = required_bindings(&structures);
    let (value_sets, unexpanded) = expand_value_sets(&value_sets_bundle, &required_value_sets);
    let search_params = search_params(&search_bundle);
    let patient_compartment = patient_compartment(&compartment);
    let summary = summary_elements(&definitions);

    let condensed = json!({
        "resources": resources,
        "structures": structures.iter().map(Structure::to_json).collect::<Vec<_>>(),
        "value_sets": value_sets,
        "unexpanded_value_sets": unexpanded,
        "search_params": search_params,
        "patient_compartment": patient_compartment,
        "summary": summary,
    });
    let mut text = condensed.to_string();
    text.push('\n');
    text
}

fn fail(message: &str) -> ! {
    panic!("codegen: {message}")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", path.display())));
    // `FromStr for Value` runs serde_json's own (optimised) instantiation of the parser.
    text.parse::<Value>().unwrap_or_else(|e| fail(&format!("{} is not valid JSON: {e}", path.display())))
}

fn entries(bundle: &Value) -> impl Iterator<Item = &Value> {
    bundle["entry"].as_array().into_iter().flatten().map(|entry| &entry["resource"])
}

fn str_of<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key].as_str().unwrap_or("")
}

/// Concrete resource types, sorted, each with the type it specialises (`DomainResource` or `Resource`).
fn resource_types(definitions: &[&Value]) -> Vec<(String, String)> {
    let mut types: Vec<(String, String)> = definitions
        .iter()
        .filter(|sd| sd["kind"] == "resource" && sd["abstract"] == false && sd["derivation"] == "specialization")
        .map(|sd| {
            let base = str_of(sd, "baseDefinition").rsplit('/').next().unwrap_or("").to_string();
            (str_of(sd, "type").to_string(), base)
        })
        .collect();
    types.sort();
    types
}

/// One object shape: a resource, a complex data type, or a backbone element (named by its path).
struct Structure {
    name: String,
    elements: Vec<Element>,
}

struct Element {
    name: String,
    min: u64,
    max: String,
    types: Vec<String>,
    binding: Option<String>,
}

impl Structure {
    fn to_json(&self) -> Value {
        let elements: Vec<Value> = self.elements.iter().map(|e| json!([e.name, e.min, e.max, e.types, e.binding])).collect();
        json!({ "name": self.name, "elements": elements })
    }
}

/// Every resource, complex data type and backbone element, with its direct child elements, from the snapshots.
fn structures(definitions: &[&Value]) -> Vec<Structure> {
    let mut structures = Vec::new();
    for sd in definitions {
        let kind = str_of(sd, "kind");
        let wanted = match kind {
            "resource" => sd["abstract"] == false && sd["derivation"] == "specialization",
            // Element and BackboneElement describe the `_x` objects of primitives and the shape of backbones.
            "complex-type" => sd["derivation"] != "constraint",
            _ => false,
        };
        if !wanted {
            continue;
        }
        let Some(snapshot) = sd["snapshot"]["element"].as_array() else {
            fail(&format!("StructureDefinition {} has no snapshot", str_of(sd, "url")))
        };
        let type_name = str_of(sd, "type");
        let paths: BTreeSet<&str> = snapshot.iter().map(|e| str_of(e, "path")).collect();
        let mut by_parent: BTreeMap<String, Vec<Element>> = BTreeMap::new();
        by_parent.insert(type_name.to_string(), Vec::new());
        for element in snapshot {
            let path = str_of(element, "path");
            let Some((parent, name)) = path.rsplit_once('.') else { continue };
            let prefix = format!("{path}.");
            let has_children = paths.range(prefix.as_str()..).next().is_some_and(|p| p.starts_with(&prefix));
            if has_children {
                by_parent.entry(path.to_string()).or_default();
            }
            by_parent.entry(parent.to_string()).or_default().push(Element {
                name: name.to_string(),
                min: element["min"].as_u64().unwrap_or(0),
                max: str_of(element, "max").to_string(),
                types: element_types(element, path, has_children),
                binding: required_binding(element),
            });
        }
        for (name, elements) in by_parent {
            structures.push(Structure { name, elements });
        }
    }
    structures
}

/// The type codes of an element: primitive or complex type names, `Resource`, or the path of a backbone structure.
fn element_types(element: &Value, path: &str, has_children: bool) -> Vec<String> {
    if let Some(reference) = element["contentReference"].as_str() {
        return vec![reference.trim_start_matches('#').to_string()];
    }
    if has_children {
        return vec![path.to_string()];
    }
    // Resource.id is of type `id` in the specification; the JSON snapshots render it as System.String.
    if element["base"]["path"] == "Resource.id" {
        return vec!["id".to_string()];
    }
    let types = element["type"].as_array().map(Vec::as_slice).unwrap_or_default();
    if types.is_empty() {
        fail(&format!("element {path} has neither a type nor a contentReference"));
    }
    types
        .iter()
        .map(|t| {
            let code = str_of(t, "code");
            match code.strip_prefix("http://hl7.org/fhirpath/System.") {
                None => code.to_string(),
                Some(system_type) => fhir_type_extension(t).unwrap_or_else(|| system_type.to_lowercase()),
            }
        })
        .collect()
}

fn fhir_type_extension(type_ref: &Value) -> Option<String> {
    type_ref["extension"]
        .as_array()?
        .iter()
        .find(|ext| ext["url"] == "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type")
        .and_then(|ext| ext["valueUrl"].as_str())
        .map(str::to_string)
}

fn required_binding(element: &Value) -> Option<String> {
    let binding = &element["binding"];
    if binding["strength"] != "required" {
        return None;
    }
    let url = binding["valueSet"].as_str()?;
    Some(url.split('|').next().unwrap_or(url).to_string())
}

fn required_bindings(structures: &[Structure]) -> BTreeSet<String> {
    structures.iter().flat_map(|s| &s.elements).filter_map(|e| e.binding.clone()).collect()
}

/// Expands each value set to `{url, systems: [[system, [codes]]]}`; returns also the urls it could not expand.
fn expand_value_sets(bundle: &Value, urls: &BTreeSet<String>) -> (Vec<Value>, Vec<String>) {
    let mut value_sets = HashMap::new();
    let mut code_systems = HashMap::new();
    for resource in entries(bundle) {
        let url = str_of(resource, "url");
        match resource["resourceType"].as_str() {
            Some("ValueSet") => value_sets.insert(url, resource),
            Some("CodeSystem") => code_systems.insert(url, resource),
            _ => None,
        };
    }
    let terminology = Terminology { value_sets, code_systems };
    let mut expanded = Vec::new();
    let mut unexpanded = Vec::new();
    for url in urls {
        match terminology.expand(url, 0) {
            Some(codes) => {
                let systems: Vec<Value> = codes.into_iter().map(|(system, codes)| json!([system, codes])).collect();
                expanded.push(json!({ "url": url, "systems": systems }));
            }
            None => unexpanded.push(url.clone()),
        }
    }
    (expanded, unexpanded)
}

struct Terminology<'a> {
    value_sets: HashMap<&'a str, &'a Value>,
    code_systems: HashMap<&'a str, &'a Value>,
}

type Codes = BTreeMap<String, BTreeSet<String>>;

impl Terminology<'_> {
    /// The codes of a value set by system, or None when it uses what this condenser cannot expand
    /// (filters, exclusions, code systems not in the bundle or not complete).
    fn expand(&self, url: &str, depth: u32) -> Option<Codes> {
        let value_set = self.value_sets.get(url)?;
        let compose = &value_set["compose"];
        if depth > 8 || compose.get("exclude").is_some() {
            return None;
        }
        let mut codes = Codes::new();
        for include in compose["include"].as_array()? {
            if include.get("filter").is_some() {
                return None;
            }
            let imported = include["valueSet"].as_array();
            let system = include["system"].as_str();
            match (system, imported) {
                (Some(system), None) => {
                    let set = codes.entry(system.to_string()).or_default();
                    match include["concept"].as_array() {
                        Some(concepts) => set.extend(concepts.iter().map(|c| str_of(c, "code").to_string())),
                        None => self.whole_code_system(system, set)?,
                    }
                }
                (None, Some(imported)) => {
                    for vs in imported {
                        let url = vs.as_str()?;
                        for (system, more) in self.expand(url.split('|').next().unwrap_or(url), depth + 1)? {
                            codes.entry(system).or_default().extend(more);
                        }
                    }
                }
                _ => return None,
            }
        }
        (!codes.is_empty()).then_some(codes)
    }

    fn whole_code_system(&self, system: &str, codes: &mut BTreeSet<String>) -> Option<()> {
        let code_system = self.code_systems.get(system)?;
        if code_system["content"] != "complete" {
            return None;
        }
        collect_concepts(&code_system["concept"], codes);
        Some(())
    }
}

fn collect_concepts(concepts: &Value, codes: &mut BTreeSet<String>) {
    for concept in concepts.as_array().into_iter().flatten() {
        codes.insert(str_of(concept, "code").to_string());
        collect_concepts(&concept["concept"], codes);
    }
}

fn search_params(bundle: &Value) -> Vec<Value> {
    entries(bundle)
        .filter(|r| r["resourceType"] == "SearchParameter")
        .map(|sp| {
            let components: Vec<Value> =
                sp["component"].as_array().into_iter().flatten().map(|c| json!([str_of(c, "definition"), str_of(c, "expression")])).collect();
            let mut out = Map::new();
            out.insert("code".into(), sp["code"].clone());
            out.insert("base".into(), sp["base"].clone());
            out.insert("type".into(), sp["type"].clone());
            out.insert("expression".into(), repaired_expression(sp));
            out.insert("target".into(), if sp["target"].is_array() { sp["target"].clone() } else { json!([]) });
            out.insert("components".into(), Value::Array(components));
            out.insert("url".into(), sp["url"].clone());
            Value::Object(out)
        })
        .collect()
}

/// The specification's expression, repaired where the published R4 text is not valid FHIRPath: one
/// parameter (`Account-patient`) starts with a dot (`.subject.where(…)`); it is read as rooted at its base.
fn repaired_expression(sp: &Value) -> Value {
    match sp["expression"].as_str() {
        Some(e) if e.starts_with('.') => {
            let base = sp["base"][0].as_str().unwrap_or("Resource");
            Value::String(format!("{base}{e}"))
        }
        _ => sp["expression"].clone(),
    }
}

/// For each resource type, its top-level elements marked `isSummary` or mandatory (what `_summary=true`
/// keeps), by JSON name stem (`value[x]` as `value[x]`).
fn summary_elements(definitions: &[&Value]) -> Vec<(String, Vec<String>)> {
    definitions
        .iter()
        .filter(|sd| sd["kind"] == "resource" && sd["abstract"] == false && sd["derivation"] == "specialization")
        .map(|sd| {
            let t = str_of(sd, "type");
            let names = sd["snapshot"]["element"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|e| e["isSummary"] == true || e["min"].as_u64().unwrap_or(0) > 0)
                .filter_map(|e| str_of(e, "path").strip_prefix(&format!("{t}.")).filter(|n| !n.contains('.')).map(str::to_owned))
                .collect();
            (t.to_string(), names)
        })
        .collect()
}

fn patient_compartment(definition: &Value) -> Vec<(String, Vec<String>)> {
    definition["resource"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let params = r["param"].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_string);
            (str_of(r, "code").to_string(), params.collect())
        })
        .collect()
}
