//! References between resources: parsing `Type/id`, `Type/id/_history/v`, absolute URLs and `urn:uuid:` placeholders, and walking every reference in a resource.

use crate::definitions::is_resource_type;
use crate::id::is_valid_id;
use serde_json::Value;

/// What a `Reference.reference` string points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target<'a> {
    /// `Type/id` or `Type/id/_history/v`, relative to this server.
    Local { resource_type: &'a str, id: &'a str, version: Option<&'a str> },
    /// `#id`: a contained resource.
    Contained(&'a str),
    /// `urn:uuid:…` or `urn:oid:…`: a placeholder inside a Bundle.
    Urn(&'a str),
    /// `Type?param=value`: a conditional reference inside a transaction.
    Conditional { resource_type: &'a str, query: &'a str },
    /// An absolute URL or anything else we do not own.
    External(&'a str),
}

/// Classifies a reference string. `base` is this server's FHIR base URL (without trailing slash), if known,
/// so that absolute URLs to ourselves count as local.
pub fn parse<'a>(reference: &'a str, base: Option<&str>) -> Target<'a> {
    if let Some(rest) = reference.strip_prefix('#') {
        return Target::Contained(rest);
    }
    if reference.starts_with("urn:uuid:") || reference.starts_with("urn:oid:") {
        return Target::Urn(reference);
    }
    let relative = match base.and_then(|b| reference.strip_prefix(b)).and_then(|r| r.strip_prefix('/')) {
        Some(rest) => rest,
        None => reference,
    };
    if let Some((resource_type, query)) = relative.split_once('?') {
        if is_resource_type(resource_type) {
            return Target::Conditional { resource_type, query };
        }
        return Target::External(reference);
    }
    let parts: Vec<&str> = relative.split('/').collect();
    match parts.as_slice() {
        [t, id] if is_resource_type(t) && is_valid_id(id) => Target::Local { resource_type: t, id, version: None },
        [t, id, "_history", v] if is_resource_type(t) && is_valid_id(id) && is_valid_id(v) => {
            Target::Local { resource_type: t, id, version: Some(v) }
        }
        _ => Target::External(reference),
    }
}

/// Calls `f` with a mutable handle on every `reference` string of every Reference in `value`, at any depth,
/// including inside contained resources. `f` may rewrite the string.
pub fn for_each_reference_mut(value: &mut Value, f: &mut dyn FnMut(&mut String)) {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                match child {
                    Value::String(s) if key == "reference" => f(s),
                    _ => for_each_reference_mut(child, f),
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                for_each_reference_mut(item, f);
            }
        }
        _ => {}
    }
}

/// Every `reference` string in `value`, in document order.
pub fn references(value: &Value) -> Vec<&str> {
    fn walk<'v>(value: &'v Value, out: &mut Vec<&'v str>) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    match child {
                        Value::String(s) if key == "reference" => out.push(s),
                        _ => walk(child, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(value, &mut out);
    out
}

/// Every `reference` string in `value` with the FHIRPath of its element, e.g.
/// `Observation.performer[0].reference`. `root` is the path of `value` itself (its resource type).
pub fn references_with_paths<'v>(value: &'v Value, root: &str) -> Vec<(String, &'v str)> {
    fn walk<'v>(value: &'v Value, path: &mut String, out: &mut Vec<(String, &'v str)>) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    let len = path.len();
                    path.push('.');
                    path.push_str(key);
                    match child {
                        Value::String(s) if key == "reference" => out.push((path.clone(), s)),
                        Value::Array(items) => {
                            for (i, item) in items.iter().enumerate() {
                                let l2 = path.len();
                                path.push_str(&format!("[{i}]"));
                                walk(item, path, out);
                                path.truncate(l2);
                            }
                        }
                        _ => walk(child, path, out),
                    }
                    path.truncate(len);
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, path, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(value, &mut root.to_owned(), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn classifies_references() {
        assert_eq!(parse("Patient/p1", None), Target::Local { resource_type: "Patient", id: "p1", version: None });
        assert_eq!(parse("Patient/p1/_history/2", None), Target::Local { resource_type: "Patient", id: "p1", version: Some("2") });
        assert_eq!(parse("http://x/fhir/Patient/p1", Some("http://x/fhir")), Target::Local { resource_type: "Patient", id: "p1", version: None });
        assert_eq!(parse("http://y/fhir/Patient/p1", Some("http://x/fhir")), Target::External("http://y/fhir/Patient/p1"));
        assert_eq!(parse("#c1", None), Target::Contained("c1"));
        assert_eq!(parse("urn:uuid:abc", None), Target::Urn("urn:uuid:abc"));
        assert_eq!(parse("Patient?identifier=a|b", None), Target::Conditional { resource_type: "Patient", query: "identifier=a|b" });
        assert_eq!(parse("Nonsense/p1", None), Target::External("Nonsense/p1"));
        assert_eq!(parse("Patient/p_1", None), Target::External("Patient/p_1"));
    }

    #[test]
    fn reference_paths() {
        let v = json!({"subject": {"reference": "Patient/1"}, "performer": [{"display": "x"}, {"reference": "Practitioner/2"}]});
        assert_eq!(
            references_with_paths(&v, "Observation"),
            vec![("Observation.subject.reference".to_owned(), "Patient/1"), ("Observation.performer[1].reference".to_owned(), "Practitioner/2")]
        );
    }

    #[test]
    fn walks_and_rewrites_references() {
        let mut v = json!({"subject": {"reference": "urn:uuid:1"}, "contained": [{"reference": "x"}],
            "note": [{"text": "reference"}], "performer": [{"reference": "urn:uuid:2"}]});
        assert_eq!(references(&v), vec!["urn:uuid:1", "x", "urn:uuid:2"]);
        for_each_reference_mut(&mut v, &mut |s| {
            if s.starts_with("urn:") {
                *s = "Patient/p".into()
            }
        });
        assert_eq!(references(&v), vec!["Patient/p", "x", "Patient/p"]);
    }
}
