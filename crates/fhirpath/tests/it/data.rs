//! Locating and loading the shared test data: the FHIRPath suite, its input resources (JSON, or
//! a minimal XML reading for the one input that has no JSON twin), Synthea bundles and the R4
//! search parameters.

use std::path::PathBuf;

use serde_json::{Map, Value};

/// `shared/data`, from `JOINERY_SHARED_DATA` or beside the workspace.
pub fn shared_data() -> PathBuf {
    match std::env::var_os("JOINERY_SHARED_DATA") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    }
}

/// True, saying that the test is skipped, when the shared data is not there (a bare clone): the official
/// suite, its inputs, the search parameters and the Synthea bundles live there; CI always has it.
pub fn missing() -> bool {
    let absent = !shared_data().join("fhir-test-cases").is_dir();
    if absent {
        eprintln!("skipped: no shared reference data at {} (set JOINERY_SHARED_DATA)", shared_data().display());
    }
    absent
}

pub fn read_json(path: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// A test-suite input by the name the suite gives (`patient-example.xml`): the `.json` beside
/// it when there is one, else the XML read into FHIR JSON.
pub fn suite_input(name: &str) -> Value {
    let dir = shared_data().join("fhir-test-cases/inputs");
    let json = dir.join(name.replace(".xml", ".json"));
    if json.is_file() {
        return read_json(&json);
    }
    let xml = std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("cannot read input {name}: {e}"));
    xml_to_json(&xml)
}

/// A minimal FHIR XML → JSON reading, enough for simple inputs such as
/// parameters-example-types.xml: `value` attributes become primitives (numbers and booleans by
/// the element-name suffix), repeated elements become arrays.
fn xml_to_json(xml: &str) -> Value {
    let doc = roxmltree::Document::parse(xml).unwrap_or_else(|e| panic!("input XML: {e}"));
    let root = doc.root_element();
    let mut obj = element_object(root);
    obj.insert("resourceType".into(), Value::String(root.tag_name().name().into()));
    let mut ordered = Map::new();
    ordered.insert("resourceType".into(), Value::String(root.tag_name().name().into()));
    for (k, v) in obj {
        if k != "resourceType" {
            ordered.insert(k, v);
        }
    }
    Value::Object(ordered)
}

fn element_object(node: roxmltree::Node<'_, '_>) -> Map<String, Value> {
    let mut obj = Map::new();
    let mut counts = std::collections::HashMap::new();
    for c in node.children().filter(|c| c.is_element()) {
        *counts.entry(c.tag_name().name().to_owned()).or_insert(0) += 1;
    }
    for c in node.children().filter(|c| c.is_element()) {
        let name = c.tag_name().name().to_owned();
        let v = match c.attribute("value") {
            Some(text) => primitive(&name, text),
            None => Value::Object(element_object(c)),
        };
        let repeated = counts.get(&name).copied().unwrap_or(0) > 1 || name == "parameter";
        if repeated {
            match obj.entry(name).or_insert_with(|| Value::Array(Vec::new())) {
                Value::Array(a) => a.push(v),
                _ => unreachable!("arrays only"),
            }
        } else {
            obj.insert(name, v);
        }
    }
    obj
}

fn primitive(name: &str, text: &str) -> Value {
    let numeric = ["Integer", "Decimal", "PositiveInt", "UnsignedInt"].iter().any(|s| name.ends_with(s));
    if numeric {
        if let Ok(n) = serde_json::from_str::<serde_json::Number>(text) {
            return Value::Number(n);
        }
    }
    if name.ends_with("Boolean") || name == "active" {
        if let Ok(b) = text.parse::<bool>() {
            return Value::Bool(b);
        }
    }
    Value::String(text.to_owned())
}
