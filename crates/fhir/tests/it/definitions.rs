//! The condensed definitions agree with the specification files they were built from.

use crate::data;
use fhir::definitions::{
    is_resource_type, patient_compartment_params, resource_types, search_param, search_params, unexpanded_value_sets, SearchParamKind,
};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Concrete R4 resource types from profiles-resources.json, with the type each specialises.
fn spec_resource_types() -> BTreeMap<String, String> {
    let bundle = data::read_json("fhir-r4/profiles-resources.json");
    bundle["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| &e["resource"])
        .filter(|r| r["resourceType"] == "StructureDefinition" && r["kind"] == "resource")
        .filter(|r| r["abstract"] == false && r["fhirVersion"] == "4.0.1")
        .map(|r| {
            let base = r["baseDefinition"].as_str().expect("base").rsplit('/').next().expect("name");
            (r["type"].as_str().expect("type").to_string(), base.to_string())
        })
        .collect()
}

#[test]
fn resource_types_are_the_concrete_r4_ones() {
    if crate::data::missing() {
        return;
    }
    let spec = spec_resource_types();
    let ours: Vec<&str> = resource_types().collect();
    assert_eq!(ours.len(), 146);
    assert!(ours.windows(2).all(|w| w[0] < w[1]), "sorted");
    assert_eq!(ours, spec.keys().map(String::as_str).collect::<Vec<_>>());
    for name in ["Patient", "Observation", "Parameters", "Bundle", "Binary", "ValueSet"] {
        assert!(is_resource_type(name), "{name}");
    }
    // Abstract types, data types, R4B additions and near misses are not R4 resource types.
    for name in ["Resource", "DomainResource", "MetadataResource", "SubscriptionStatus", "Quantity", "patient", "", "Patient "] {
        assert!(!is_resource_type(name), "{name}");
    }
}

#[test]
fn search_params_match_the_specification_for_every_type() {
    if crate::data::missing() {
        return;
    }
    let bundle = data::read_json("fhir-r4/search-parameters.json");
    let params: Vec<&Value> = bundle["entry"].as_array().expect("entries").iter().map(|e| &e["resource"]).collect();
    assert_eq!(params.len(), 1375);
    for (resource_type, base) in spec_resource_types() {
        let applies = |p: &&&Value| {
            p["base"]
                .as_array()
                .expect("base")
                .iter()
                .any(|b| b == resource_type.as_str() || b == "Resource" || (b == "DomainResource" && base == "DomainResource"))
        };
        let expected: BTreeSet<&str> = params.iter().filter(applies).map(|p| p["code"].as_str().expect("code")).collect();
        let ours: Vec<&str> = search_params(&resource_type).map(|p| p.code.as_str()).collect();
        assert!(ours.windows(2).all(|w| w[0] < w[1]), "{resource_type}: sorted by code, no duplicates");
        assert_eq!(ours.iter().copied().collect::<BTreeSet<_>>(), expected, "{resource_type}");
        for code in ours {
            assert_eq!(search_param(&resource_type, code).map(|p| p.code.as_str()), Some(code));
        }
    }
}

#[test]
fn search_param_details_are_faithful() {
    let birthdate = search_param("Patient", "birthdate").expect("Patient birthdate");
    assert_eq!(birthdate.kind, SearchParamKind::Date);
    assert_eq!(birthdate.url, "http://hl7.org/fhir/SearchParameter/individual-birthdate");
    assert_eq!(birthdate.expression.as_deref(), Some("Patient.birthDate | Person.birthDate | RelatedPerson.birthDate"));
    assert!(birthdate.base.contains(&"Person".to_string()));

    let practitioner = search_param("Patient", "general-practitioner").expect("general-practitioner");
    assert_eq!(practitioner.kind, SearchParamKind::Reference);
    assert_eq!(practitioner.target, ["Practitioner", "Organization", "PractitionerRole"]);

    let composite = search_param("Observation", "code-value-quantity").expect("code-value-quantity");
    assert_eq!(composite.kind, SearchParamKind::Composite);
    assert_eq!(
        composite.components,
        [
            ("http://hl7.org/fhir/SearchParameter/clinical-code".to_string(), "code".to_string()),
            ("http://hl7.org/fhir/SearchParameter/Observation-value-quantity".to_string(), "value.as(Quantity)".to_string()),
        ]
    );

    let id = search_param("Patient", "_id").expect("_id applies to every type");
    assert_eq!((id.kind, id.expression.as_deref()), (SearchParamKind::Token, Some("Resource.id")));
    assert_eq!(search_param("Bundle", "_lastUpdated").map(|p| p.kind), Some(SearchParamKind::Date));
    assert!(search_param("Patient", "_text").is_some(), "DomainResource parameters apply to Patient");
    assert!(search_param("Bundle", "_text").is_none(), "but not to Bundle, which is not a DomainResource");
    assert!(search_param("Patient", "no-such-param").is_none());
    assert!(search_param("NoSuchType", "_id").is_none());
    assert_eq!(search_params("NoSuchType").count(), 0);
    let across_types: Vec<&str> = search_params("Resource").map(|p| p.code.as_str()).collect();
    assert_eq!(across_types, ["_content", "_id", "_lastUpdated", "_profile", "_query", "_security", "_source", "_tag"]);
}

#[test]
fn patient_compartment_follows_the_definition() {
    if crate::data::missing() {
        return;
    }
    assert_eq!(patient_compartment_params("Observation"), ["subject", "performer"]);
    assert_eq!(patient_compartment_params("AllergyIntolerance"), ["patient", "recorder", "asserter"]);
    // The distributed R4 definition names `link` for Patient (see the function's documentation).
    assert_eq!(patient_compartment_params("Patient"), ["link"]);
    assert!(patient_compartment_params("Organization").is_empty(), "listed without parameters");
    assert!(patient_compartment_params("Parameters").is_empty(), "not listed");
    assert!(patient_compartment_params("NoSuchType").is_empty());

    let definition = data::read_json("fhir-r4/compartmentdefinition-patient.json");
    for entry in definition["resource"].as_array().expect("resources") {
        let expected: Vec<&str> = entry["param"].as_array().into_iter().flatten().map(|p| p.as_str().expect("code")).collect();
        let code = entry["code"].as_str().expect("code");
        assert_eq!(patient_compartment_params(code), expected, "{code}");
    }
}

#[test]
fn value_sets_that_cannot_be_expanded_are_listed() {
    assert_eq!(
        unexpanded_value_sets(),
        [
            "http://hl7.org/fhir/ValueSet/characteristic-combination",
            "http://hl7.org/fhir/ValueSet/currencies",
            "http://hl7.org/fhir/ValueSet/mimetypes",
            "http://hl7.org/fhir/ValueSet/ucum-units",
            "http://loinc.org/vs/LL379-9",
            "http://terminology.hl7.org/ValueSet/v3-ConfidentialityClassification",
        ]
    );
}
