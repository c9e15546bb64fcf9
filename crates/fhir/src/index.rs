//! What the store indexes for each resource: identifier tokens for conditional operations, and the person
//! key (the Patient whose compartment the resource belongs to), which is the sharding key.

use serde_json::Value;

/// One token value of the `identifier` parameter: (system, value).
pub fn identifier_tokens(resource: &Value) -> Vec<(Option<String>, String)> {
    let mut out = Vec::new();
    let mut push = |ident: &Value| {
        if let Some(value) = ident.get("value").and_then(Value::as_str) {
            let system = ident.get("system").and_then(Value::as_str).map(str::to_owned);
            out.push((system, value.to_owned()));
        }
    };
    match resource.get("identifier") {
        Some(Value::Array(items)) => items.iter().for_each(&mut push),
        Some(single @ Value::Object(_)) => push(single),
        _ => {}
    }
    out
}

/// The id of the Patient this resource belongs to, if any: the Patient itself, or the first Patient
/// reached through the resource's Patient-compartment parameters.
pub fn person_key(resource: &Value) -> Option<String> {
    let resource_type = resource.get("resourceType")?.as_str()?;
    if resource_type == "Patient" {
        return resource.get("id").and_then(Value::as_str).map(str::to_owned);
    }
    const LINKS: [&str; 5] = ["subject", "patient", "beneficiary", "individual", "who"];
    LINKS.iter().find_map(|field| patient_id(resource.get(*field)?))
}

fn patient_id(reference: &Value) -> Option<String> {
    let r = reference.get("reference")?.as_str()?;
    let rest = r.strip_prefix("Patient/")?;
    Some(rest.split('/').next()?.to_owned())
}
