//! The person key of a resource (the Patient whose compartment it is in, the key the store can shard by),
//! computed with the specification's own compartment parameters and their expressions.

use crate::definitions;
use crate::reference::{self, Target};
use fhirpath::{Expr, Item};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::OnceLock;

/// Compiled expressions for one resource type.
struct TypeIndex {
    identifier: Option<Expr>,
    /// The expressions of the type's Patient-compartment parameters, in the definition's order.
    compartment: Vec<Expr>,
}

fn compiled() -> &'static HashMap<&'static str, TypeIndex> {
    static COMPILED: OnceLock<HashMap<&'static str, TypeIndex>> = OnceLock::new();
    COMPILED.get_or_init(|| {
        let expr = |t: &str, code: &str| definitions::search_param(t, code).and_then(|p| p.expression.as_deref()).and_then(|e| Expr::parse(e).ok());
        definitions::resource_types()
            .map(|t| {
                let compartment = definitions::patient_compartment_params(t).iter().filter_map(|code| expr(t, code)).collect();
                (t, TypeIndex { identifier: expr(t, "identifier"), compartment })
            })
            .collect()
    })
}

/// The id of the Patient this resource belongs to, if any: the Patient itself, or the first Patient
/// referenced through the type's Patient-compartment parameters.
pub fn person_key(resource: &Value) -> Option<String> {
    let t = resource_type(resource)?;
    if t == "Patient" {
        return resource.get("id").and_then(Value::as_str).map(str::to_owned);
    }
    let index = compiled().get(t)?;
    index.compartment.iter().find_map(|expr| {
        nodes(expr, resource).find_map(|node| match reference::parse(node.get("reference")?.as_str()?, None) {
            Target::Local { resource_type: "Patient", id, .. } => Some(id.to_owned()),
            _ => None,
        })
    })
}

/// Whether searches and conditional operations on `resource_type` can use `identifier`.
pub fn has_identifier(resource_type: &str) -> bool {
    compiled().get(resource_type).is_some_and(|i| i.identifier.is_some())
}

fn resource_type(resource: &Value) -> Option<&str> {
    resource.get("resourceType")?.as_str()
}

/// The JSON nodes an expression selects; evaluation errors select nothing.
fn nodes<'a>(expr: &Expr, resource: &'a Value) -> impl Iterator<Item = &'a Value> {
    expr.evaluate(resource).unwrap_or_default().into_iter().filter_map(|item| match item {
        Item::Node { value, .. } => Some(value),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn person_key_follows_the_compartment() {
        assert_eq!(person_key(&json!({"resourceType": "Patient", "id": "p1"})).as_deref(), Some("p1"));
        let obs = json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
            "performer": [{"reference": "Patient/p3"}], "subject": {"reference": "Patient/p2"}});
        assert_eq!(person_key(&obs).as_deref(), Some("p2"), "subject comes before performer in the definition");
        let enc = json!({"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"}, "subject": {"reference": "Group/g"}});
        assert_eq!(person_key(&enc), None);
        let claim = json!({"resourceType": "Claim", "patient": {"reference": "Patient/p4"}});
        assert_eq!(person_key(&claim).as_deref(), Some("p4"));
        let account = json!({"resourceType": "Account", "subject": [{"reference": "Patient/p5"}]});
        assert_eq!(person_key(&account).as_deref(), Some("p5"), "the repaired Account-patient expression");
        assert_eq!(person_key(&json!({"resourceType": "Organization", "name": "x"})), None);
    }

    #[test]
    fn identifier_support_follows_the_search_parameter() {
        assert!(!has_identifier("Binary"));
        assert!(has_identifier("Patient"));
    }
}
