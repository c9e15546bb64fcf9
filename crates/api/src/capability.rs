//! The CapabilityStatement, generated from the interactions this crate routes and the parameters `app`
//! evaluates, never written by hand.

use serde_json::{json, Value};

/// Instance- and type-level interactions routed for every resource type.
pub const TYPE_INTERACTIONS: &[&str] =
    &["read", "vread", "update", "patch", "delete", "history-instance", "history-type", "create", "search-type"];

/// System-level interactions routed.
pub const SYSTEM_INTERACTIONS: &[&str] = &["transaction", "batch", "history-system"];

pub fn statement(base_url: &str, date: &str) -> Value {
    let resources: Vec<Value> = fhir::definitions::resource_types()
        .map(|t| {
            let params: Vec<Value> = app::SEARCH_PARAMETERS
                .iter()
                .filter(|code| app::supports_search(t, code))
                .filter_map(|code| search_param_entry(t, code))
                .collect();
            json!({
                "type": t,
                "interaction": TYPE_INTERACTIONS.iter().map(|i| json!({ "code": i })).collect::<Vec<_>>(),
                "versioning": "versioned-update",
                "readHistory": true,
                "updateCreate": true,
                "conditionalCreate": true,
                "conditionalRead": "not-supported",
                "conditionalUpdate": true,
                "conditionalDelete": "single",
                "searchParam": params,
            })
        })
        .collect();
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "publisher": "Joinery",
        "kind": "instance",
        "software": { "name": "Joinery", "version": env!("CARGO_PKG_VERSION") },
        "implementation": { "description": "Joinery shared care record", "url": base_url },
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "patchFormat": ["application/json-patch+json"],
        "rest": [{
            "mode": "server",
            "resource": resources,
            "interaction": SYSTEM_INTERACTIONS.iter().map(|i| json!({ "code": i })).collect::<Vec<_>>(),
        }]
    })
}

fn search_param_entry(resource_type: &str, code: &str) -> Option<Value> {
    if code == "_id" {
        return Some(json!({ "name": "_id", "type": "token", "definition": "http://hl7.org/fhir/SearchParameter/Resource-id" }));
    }
    let p = fhir::definitions::search_param(resource_type, code)?;
    Some(json!({ "name": code, "type": p.kind.as_str(), "definition": p.url }))
}
