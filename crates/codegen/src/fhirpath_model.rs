//! Condenses the FHIR R4 element/type tables (generated from the specification by the fhirpath.js
//! project, in `shared/data/fhir-r4/model/`) into one compact, line-oriented data file,
//! `crates/fhirpath/generated/fhir-r4-model.txt`, which the crate embeds and parses once at first use.
//!
//! Output format (tab separated, one record per line):
//!   `T name parent`                 a type and its base type (`-` when none)
//!   `O owner`                       starts the element list of a type or backbone path
//!   `E name type flags child-owner` an element; flags `r` = repeating, `-` = single;
//!                                   child-owner is the backbone path holding its children, or `-`
//!   `C name flags Suffix=type/child-owner,...` a choice element `name[x]`

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::Path;

/// The condensed model, from the folder holding `model/` (`shared/data/fhir-r4`).
pub fn generate(fhir_r4: &Path) -> String {
    let model = fhir_r4.join("model");
    let names = ["path2Type.json", "choiceTypePaths.json", "path2Repeating.json", "pathsDefinedElsewhere.json", "type2Parent.json"];
    for n in names {
        let p = model.join(n);
        if !p.is_file() {
            panic!("codegen: missing FHIR R4 model table {}", p.display());
        }
    }
    condense(&model)
}

fn read(dir: &Path, name: &str) -> serde_json::Value {
    let p = dir.join(name);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("codegen: cannot read {}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("codegen: {} is not JSON: {e}", p.display()))
}

fn condense(dir: &Path) -> String {
    let path2type = read(dir, "path2Type.json");
    let choices = read(dir, "choiceTypePaths.json");
    let repeating = read(dir, "path2Repeating.json");
    let elsewhere = read(dir, "pathsDefinedElsewhere.json");
    let parents = read(dir, "type2Parent.json");

    let type_of = |v: &serde_json::Value| -> Option<String> {
        match v {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Object(o) => o.get("code").and_then(|c| c.as_str()).map(str::to_owned),
            _ => None,
        }
    };
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in parents.as_object().expect("type2Parent is an object") {
        types.insert(k.clone(), v.as_str().unwrap_or("-").to_owned());
    }
    for base in ["Element", "Resource", "Base"] {
        types.entry(base.to_owned()).or_insert_with(|| if base == "Base" { "-".into() } else { "Base".into() });
    }
    let is_resource = |t: &str| {
        let mut cur = t.to_owned();
        for _ in 0..10 {
            if cur == "Resource" {
                return true;
            }
            match types.get(&cur) {
                Some(p) if p != "-" => cur = p.clone(),
                _ => return false,
            }
        }
        false
    };

    let p2t: BTreeMap<String, String> =
        path2type.as_object().expect("path2Type is an object").iter().filter_map(|(k, v)| type_of(v).map(|t| (k.clone(), t))).collect();
    let repeating: BTreeSet<String> =
        repeating.as_array().expect("path2Repeating is an array").iter().filter_map(|v| v.as_str().map(str::to_owned)).collect();
    let elsewhere: HashMap<String, String> = elsewhere
        .as_object()
        .expect("pathsDefinedElsewhere is an object")
        .iter()
        .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
        .collect();
    let choices: BTreeMap<String, Vec<String>> = choices
        .as_object()
        .expect("choiceTypePaths is an object")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect()).unwrap_or_default()))
        .collect();

    // Paths that have children of their own (backbone elements).
    let mut owners: BTreeSet<String> = BTreeSet::new();
    for k in p2t.keys() {
        if let Some((owner, _)) = k.rsplit_once('.') {
            owners.insert(owner.to_owned());
        }
    }
    // Expanded choice paths (Observation.valueQuantity) are folded into their choice element.
    let mut expanded: BTreeSet<String> = BTreeSet::new();
    for (path, alts) in &choices {
        for a in alts {
            expanded.insert(format!("{path}{a}"));
        }
    }
    // A backbone element's children are listed under its own path (or the path it reuses,
    // `Questionnaire.item.item` → `Questionnaire.item`); other types' under the type name.
    let child_owner = |path: &str| -> String {
        if owners.contains(path) {
            path.to_owned()
        } else if let Some(target) = elsewhere.get(path) {
            target.clone()
        } else {
            "-".to_owned()
        }
    };
    // FHIRPath's System.String elements carry a FHIR type in the specification.
    let fhir_type = |owner: &str, name: &str, ty: &str| -> Option<String> {
        if let Some(sys) = ty.strip_prefix("System.") {
            let primitive_owner = owner.chars().next().is_some_and(|c| c.is_ascii_lowercase());
            if primitive_owner {
                return None; // `boolean.value` and friends: not navigable in JSON
            }
            return Some(match (name, sys) {
                ("id", _) if is_resource(owner) => "id".to_owned(),
                ("url", _) => "uri".to_owned(),
                (_, "Boolean") => "boolean".to_owned(),
                (_, "Integer") => "integer".to_owned(),
                (_, "Decimal") => "decimal".to_owned(),
                (_, "Date") => "date".to_owned(),
                (_, "DateTime") => "dateTime".to_owned(),
                (_, "Time") => "time".to_owned(),
                _ => "string".to_owned(),
            });
        }
        Some(ty.to_owned())
    };

    let mut by_owner: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (path, ty) in &p2t {
        if expanded.contains(path) {
            continue;
        }
        let Some((owner, name)) = path.rsplit_once('.') else {
            continue;
        };
        let Some(ty) = fhir_type(owner, name, ty) else {
            continue;
        };
        let flags = if repeating.contains(path) { "r" } else { "-" };
        let co = child_owner(path);
        by_owner.entry(owner.to_owned()).or_default().push(format!("E\t{name}\t{ty}\t{flags}\t{co}"));
    }
    for (path, alts) in &choices {
        let Some((owner, name)) = path.rsplit_once('.') else {
            continue;
        };
        let flags = if repeating.contains(path) { "r" } else { "-" };
        let mut parts = Vec::new();
        for a in alts {
            let full = format!("{path}{a}");
            let ty = match p2t.get(&full) {
                Some(t) => t.clone(),
                None => {
                    let mut c = a.chars();
                    match c.next() {
                        Some(f) if types.contains_key(a.as_str()) => format!("{f}{}", c.as_str()),
                        Some(f) => format!("{}{}", f.to_ascii_lowercase(), c.as_str()),
                        None => continue,
                    }
                }
            };
            let co = child_owner(&full);
            parts.push(format!("{a}={ty}/{co}"));
        }
        by_owner.entry(owner.to_owned()).or_default().push(format!("C\t{name}\t{flags}\t{}", parts.join(",")));
    }

    // Paths that are defined elsewhere still need an entry in their own owner when the
    // generator left them out of path2Type (Questionnaire.item.item).
    for (path, target) in &elsewhere {
        if p2t.contains_key(path) {
            continue;
        }
        let Some((owner, name)) = path.rsplit_once('.') else {
            continue;
        };
        let Some(ty) = p2t.get(target) else { continue };
        let flags = if repeating.contains(path) || repeating.contains(target) { "r" } else { "-" };
        by_owner.entry(owner.to_owned()).or_default().push(format!("E\t{name}\t{ty}\t{flags}\t{target}"));
    }

    let mut out = String::with_capacity(300_000);
    out.push_str("# Condensed from the FHIR R4 model tables of fhirpath.js (BSD licence, see shared/data/fhir-r4/model/LICENSE.md).\n");
    for (t, p) in &types {
        let _ = writeln!(out, "T\t{t}\t{p}");
    }
    for (owner, mut lines) in by_owner {
        lines.sort();
        let _ = writeln!(out, "O\t{owner}");
        for l in lines {
            out.push_str(&l);
            out.push('\n');
        }
    }
    out
}
