//! `_summary` and `_elements`: the parts of each resource a search returns, marked SUBSETTED when cut.

use super::parse::Summary;
use serde_json::{json, Map, Value};

/// Elements every shaped resource keeps.
const ALWAYS: &[&str] = &["resourceType", "id", "meta"];

/// Cuts `resource` as `_summary` and `_elements` ask. Returns it unchanged when neither applies.
pub fn shape(resource: Value, summary: Summary, elements: Option<&[String]>) -> Value {
    let Value::Object(obj) = resource else { return resource };
    let resource_type = obj.get("resourceType").and_then(Value::as_str).unwrap_or("").to_owned();
    let keep: Box<dyn Fn(&str) -> bool> = match (summary, elements) {
        (Summary::True, _) => {
            let names = fhir::definitions::summary_elements(&resource_type);
            Box::new(move |key| names.iter().any(|n| matches_name(n, key)))
        }
        (Summary::Text, _) => Box::new(|key| key == "text"),
        (Summary::Data, _) => Box::new(|key| key != "text"),
        (_, Some(list)) => {
            let list = list.to_vec();
            Box::new(move |key| list.iter().any(|n| n == key || matches_name(&format!("{n}[x]"), key)))
        }
        _ => return Value::Object(obj),
    };
    let mut out = Map::new();
    let mut cut = false;
    for (k, v) in obj {
        let stem = k.strip_prefix('_').unwrap_or(&k);
        if ALWAYS.contains(&stem) || keep(stem) {
            out.insert(k, v);
        } else {
            cut = true;
        }
    }
    if cut && summary != Summary::Data {
        let meta = out.entry("meta").or_insert_with(|| json!({}));
        if let Some(m) = meta.as_object_mut() {
            let tags = m.entry("tag").or_insert_with(|| json!([]));
            if let Some(t) = tags.as_array_mut() {
                t.push(json!({ "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED" }));
            }
        }
    }
    Value::Object(out)
}

/// `value[x]` matches `valueQuantity`; other names match themselves.
fn matches_name(name: &str, key: &str) -> bool {
    match name.strip_suffix("[x]") {
        Some(stem) => key.strip_prefix(stem).is_some_and(|rest| rest.chars().next().is_some_and(|c| c.is_ascii_uppercase())),
        None => name == key,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_keep_what_was_asked_and_mark_the_cut() {
        let p = json!({"resourceType": "Observation", "id": "o", "meta": {"versionId": "1"}, "status": "final",
            "code": {"text": "x"}, "valueQuantity": {"value": 1}, "note": [{"text": "n"}]});
        let s = shape(p.clone(), Summary::False, Some(&["value".to_owned(), "status".to_owned()]));
        assert_eq!(s["valueQuantity"]["value"], 1);
        assert_eq!(s["status"], "final");
        assert!(s.get("note").is_none() && s.get("code").is_none());
        assert_eq!(s["meta"]["tag"][0]["code"], "SUBSETTED");
        let summary = shape(p.clone(), Summary::True, None);
        assert!(summary.get("note").is_none(), "note is not a summary element");
        assert!(summary.get("code").is_some() && summary.get("valueQuantity").is_some());
        let data = shape(json!({"resourceType": "Patient", "text": {"div": "x"}, "gender": "male"}), Summary::Data, None);
        assert!(data.get("text").is_none() && data.get("gender").is_some());
        assert_eq!(shape(p.clone(), Summary::False, None), p);
    }
}
