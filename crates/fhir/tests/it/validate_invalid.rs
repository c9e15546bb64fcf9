//! Invalid resources, each rejected with exactly the issue codes and FHIRPath expressions expected; and their valid neighbours accepted.

use fhir::validate::{validate_resource, MAX_ISSUES};
use fhir::{Issue, IssueCode};
use serde_json::{json, Value};
use IssueCode::{CodeInvalid, Invalid, Required, Structure, Value as BadValue};

/// The (code, expression) of every issue, in order.
fn issues(resource: &Value) -> Vec<(IssueCode, String)> {
    match validate_resource(resource) {
        Ok(()) => Vec::new(),
        Err(issues) => issues.into_iter().map(|Issue { code, expression, .. }| (code, expression.join(" | "))).collect(),
    }
}

fn rejects(resource: Value, expected: &[(IssueCode, &str)]) {
    let expected: Vec<(IssueCode, String)> = expected.iter().map(|(c, e)| (*c, e.to_string())).collect();
    assert_eq!(issues(&resource), expected, "{resource:#}\n{:#?}", validate_resource(&resource));
}

fn accepts(resource: Value) {
    assert_eq!(validate_resource(&resource), Ok(()), "{resource:#}");
}

/// A minimal valid Observation with extra members.
fn observation(extra: Value) -> Value {
    let mut observation = json!({
        "resourceType": "Observation",
        "status": "final",
        "code": { "coding": [{ "system": "http://loinc.org", "code": "29463-7" }] }
    });
    for (k, v) in extra.as_object().expect("object").clone() {
        observation[k] = v;
    }
    observation
}

#[test]
fn resource_type() {
    rejects(json!({ "resourceType": "Patientt" }), &[(Invalid, "resourceType")]);
    rejects(json!({ "resourceType": "DomainResource" }), &[(Invalid, "resourceType")]);
    rejects(json!({ "resourceType": "Quantity", "value": 1 }), &[(Invalid, "resourceType")]);
    rejects(json!({ "resourceType": 7 }), &[(Invalid, "resourceType")]);
    rejects(json!({ "id": "x" }), &[(Required, "resourceType")]);
    rejects(json!(["Patient"]), &[(Structure, "")]);
    accepts(json!({ "resourceType": "Patient" }));
}

#[test]
fn unknown_elements() {
    rejects(json!({ "resourceType": "Patient", "foo": 1 }), &[(Structure, "Patient.foo")]);
    rejects(json!({ "resourceType": "Patient", "Gender": "male" }), &[(Structure, "Patient.Gender")]);
    rejects(json!({ "resourceType": "Patient", "name": [{ "given": ["A"], "resourceType": "X" }] }), &[(Structure, "Patient.name[0].resourceType")]);
    // `_name` exists only beside primitives.
    rejects(json!({ "resourceType": "Patient", "_name": [{}] }), &[(Structure, "Patient._name")]);
}

#[test]
fn choice_types() {
    accepts(observation(json!({ "valueQuantity": { "value": 72.5, "unit": "kg" } })));
    accepts(observation(json!({ "valueString": "x", "_valueString": { "id": "a" } })));
    rejects(observation(json!({ "valueAttachment": { "url": "http://x" } })), &[(Structure, "Observation.valueAttachment")]);
    rejects(observation(json!({ "value": "x" })), &[(Structure, "Observation.value")]);
    rejects(observation(json!({ "valuestring": "x" })), &[(Structure, "Observation.valuestring")]);
    rejects(observation(json!({ "valueString": "x", "valueBoolean": true })), &[(Structure, "Observation.valueBoolean")]);
    rejects(json!({ "resourceType": "Patient", "deceasedString": "yes" }), &[(Structure, "Patient.deceasedString")]);
    // A required choice: MedicationRequest.medication[x] is 1..1.
    let request = json!({ "resourceType": "MedicationRequest", "status": "active", "intent": "order", "subject": { "reference": "Patient/1" } });
    rejects(request.clone(), &[(Required, "MedicationRequest.medication")]);
    let mut with_medication = request;
    with_medication["medicationReference"] = json!({ "reference": "Medication/1" });
    accepts(with_medication);
}

#[test]
fn dates_and_times() {
    rejects(json!({ "resourceType": "Patient", "birthDate": "1970-13-45" }), &[(BadValue, "Patient.birthDate")]);
    rejects(json!({ "resourceType": "Patient", "birthDate": "2023-02-29" }), &[(BadValue, "Patient.birthDate")]);
    rejects(json!({ "resourceType": "Patient", "birthDate": "2023-02-30" }), &[(BadValue, "Patient.birthDate")]);
    rejects(json!({ "resourceType": "Patient", "birthDate": "1970-01-01T00:00:00Z" }), &[(BadValue, "Patient.birthDate")]);
    accepts(json!({ "resourceType": "Patient", "birthDate": "2024-02-29" }));
    accepts(json!({ "resourceType": "Patient", "birthDate": "1970-01" }));
    accepts(json!({ "resourceType": "Patient", "deceasedDateTime": "2021-03-04T05:06:07.123+01:00" }));
    rejects(json!({ "resourceType": "Patient", "deceasedDateTime": "2021-03-04T05:06:07" }), &[(BadValue, "Patient.deceasedDateTime")]);
    rejects(json!({ "resourceType": "Patient", "meta": { "lastUpdated": "2020-01-01T10:00:00" } }), &[(BadValue, "Patient.meta.lastUpdated")]);
    rejects(json!({ "resourceType": "Patient", "meta": { "lastUpdated": "2020-01-01" } }), &[(BadValue, "Patient.meta.lastUpdated")]);
    accepts(json!({ "resourceType": "Patient", "meta": { "lastUpdated": "2020-01-01T10:00:00.000Z" } }));
}

#[test]
fn required_bindings() {
    rejects(json!({ "resourceType": "Patient", "gender": "mail" }), &[(CodeInvalid, "Patient.gender")]);
    rejects(json!({ "resourceType": "Patient", "gender": "Male" }), &[(CodeInvalid, "Patient.gender")]);
    rejects(json!({ "resourceType": "Patient", "contact": [{ "gender": "mail" }] }), &[(CodeInvalid, "Patient.contact[0].gender")]);
    accepts(json!({ "resourceType": "Patient", "gender": "male" }));
    rejects(observation(json!({ "status": "done" })), &[(CodeInvalid, "Observation.status")]);

    let condition =
        |clinical_status: Value| json!({ "resourceType": "Condition", "subject": { "reference": "Patient/1" }, "clinicalStatus": clinical_status });
    let system = "http://terminology.hl7.org/CodeSystem/condition-clinical";
    accepts(condition(json!({ "coding": [{ "system": system, "code": "active" }] })));
    accepts(condition(json!({ "coding": [{ "system": "http://other", "code": "x" }, { "system": system, "code": "resolved" }] })));
    rejects(condition(json!({ "coding": [{ "system": system, "code": "cured" }] })), &[(CodeInvalid, "Condition.clinicalStatus")]);
    rejects(condition(json!({ "coding": [{ "system": "http://other", "code": "active" }] })), &[(CodeInvalid, "Condition.clinicalStatus")]);
    rejects(condition(json!({ "text": "active" })), &[(CodeInvalid, "Condition.clinicalStatus")]);
    // A malformed coding is reported as such, not also as outside the value set.
    rejects(condition(json!({ "coding": [{ "system": system, "code": "" }] })), &[(BadValue, "Condition.clinicalStatus.coding[0].code")]);
    // Bound to a value set the specification's files cannot expand (BCP-13 mime types): not checked.
    accepts(json!({ "resourceType": "Binary", "contentType": "application/x-anything" }));
}

#[test]
fn json_types_of_primitives() {
    rejects(observation(json!({ "valueQuantity": { "value": "72.5" } })), &[(BadValue, "Observation.valueQuantity.value")]);
    rejects(json!({ "resourceType": "Patient", "multipleBirthInteger": 1.5 }), &[(BadValue, "Patient.multipleBirthInteger")]);
    rejects(json!({ "resourceType": "Patient", "multipleBirthInteger": 1.0 }), &[(BadValue, "Patient.multipleBirthInteger")]);
    rejects(json!({ "resourceType": "Patient", "multipleBirthInteger": "2" }), &[(BadValue, "Patient.multipleBirthInteger")]);
    accepts(json!({ "resourceType": "Patient", "multipleBirthInteger": 2 }));
    rejects(json!({ "resourceType": "Patient", "active": "true" }), &[(BadValue, "Patient.active")]);
    rejects(json!({ "resourceType": "Patient", "active": 1 }), &[(BadValue, "Patient.active")]);
    rejects(json!({ "resourceType": "Patient", "active": { "value": true } }), &[(Structure, "Patient.active")]);
    rejects(json!({ "resourceType": "Patient", "gender": " male" }), &[(BadValue, "Patient.gender")]);
    rejects(json!({ "resourceType": "Patient", "id": "a_b" }), &[(BadValue, "Patient.id")]);
    rejects(json!({ "resourceType": "Patient", "id": "a".repeat(65) }), &[(BadValue, "Patient.id")]);
    accepts(json!({ "resourceType": "Patient", "id": "a".repeat(64) }));
    rejects(json!({ "resourceType": "Patient", "implicitRules": "http://a b" }), &[(BadValue, "Patient.implicitRules")]);
    rejects(json!({ "resourceType": "Patient", "text": { "status": "generated", "div": "<p>x</p>" } }), &[(BadValue, "Patient.text.div")]);
    rejects(json!({ "resourceType": "Patient", "photo": [{ "data": "abc" }] }), &[(BadValue, "Patient.photo[0].data")]);
    rejects(
        json!({ "resourceType": "Patient", "communication": [{ "language": { "text": "en" } }], "photo": [{ "size": -1 }] }),
        &[(BadValue, "Patient.photo[0].size")],
    );
}

#[test]
fn decimals_per_the_spec() {
    for (text, kept) in [("72.50", "72.50"), ("0.010", "0.010"), ("0", "0"), ("1e3", "1e+3"), ("-1.5E-7", "-1.5e-7")] {
        let resource: Value = serde_json::from_str(&format!(
            r#"{{"resourceType":"Observation","status":"final","code":{{"text":"x"}},"valueQuantity":{{"value":{text}}}}}"#
        ))
        .expect("JSON");
        assert_eq!(resource["valueQuantity"]["value"].to_string(), kept, "the number keeps its text");
        accepts(resource);
    }
}

#[test]
fn cardinality_and_json_shapes() {
    rejects(json!({ "resourceType": "Patient", "birthDate": ["1970-01-01"] }), &[(Structure, "Patient.birthDate")]);
    rejects(json!({ "resourceType": "Patient", "maritalStatus": [{ "text": "x" }] }), &[(Structure, "Patient.maritalStatus")]);
    rejects(json!({ "resourceType": "Patient", "name": { "family": "Smith" } }), &[(Structure, "Patient.name")]);
    rejects(json!({ "resourceType": "Patient", "name": [{ "given": "Ann" }] }), &[(Structure, "Patient.name[0].given")]);
    rejects(json!({ "resourceType": "Observation" }), &[(Required, "Observation.status"), (Required, "Observation.code")]);
    rejects(observation(json!({ "component": [{ "valueString": "x" }] })), &[(Required, "Observation.component[0].code")]);
    // Empty values are not allowed anywhere in FHIR JSON.
    rejects(json!({ "resourceType": "Patient", "name": [{ "family": "" }] }), &[(BadValue, "Patient.name[0].family")]);
    rejects(json!({ "resourceType": "Patient", "birthDate": null }), &[(Structure, "Patient.birthDate")]);
    rejects(json!({ "resourceType": "Patient", "name": [null] }), &[(Structure, "Patient.name[0]")]);
    rejects(json!({ "resourceType": "Patient", "name": [{ "given": [null] }] }), &[(Structure, "Patient.name[0].given[0]")]);
    rejects(json!({ "resourceType": "Patient", "maritalStatus": {} }), &[(Structure, "Patient.maritalStatus")]);
    rejects(json!({ "resourceType": "Patient", "name": [] }), &[(Structure, "Patient.name")]);
    rejects(json!({ "resourceType": "Patient", "name": [{}] }), &[(Structure, "Patient.name[0]")]);
    rejects(json!({ "resourceType": "Patient", "maritalStatus": "married" }), &[(Structure, "Patient.maritalStatus")]);
}

#[test]
fn primitive_extensions() {
    let birth_time = json!({ "extension": [{ "url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime", "valueDateTime": "1974-12-25T14:35:45-05:00" }] });
    accepts(json!({ "resourceType": "Patient", "birthDate": "1974-12-25", "_birthDate": birth_time }));
    accepts(json!({ "resourceType": "Patient", "_birthDate": birth_time }));
    accepts(json!({ "resourceType": "Patient", "_birthDate": { "id": "b1" } }));
    rejects(json!({ "resourceType": "Patient", "_birthDate": { "foo": 1 } }), &[(Structure, "Patient.birthDate.foo")]);
    rejects(json!({ "resourceType": "Patient", "_birthDate": {} }), &[(Structure, "Patient.birthDate")]);
    rejects(json!({ "resourceType": "Patient", "_birthDate": [birth_time] }), &[(Structure, "Patient.birthDate")]);
    rejects(
        json!({ "resourceType": "Patient", "_birthDate": { "extension": [{ "valueString": "x" }] } }),
        &[(Required, "Patient.birthDate.extension[0].url")],
    );

    let syllables = json!({ "extension": [{ "url": "http://example.org/syllables", "valueInteger": 2 }] });
    let named = |given: Value, extensions: Value| json!({ "resourceType": "Patient", "name": [{ "given": given, "_given": extensions }] });
    accepts(named(json!(["Ann", "Lee"]), json!([null, syllables])));
    accepts(named(json!([null, "Lee"]), json!([syllables, null])));
    rejects(named(json!(["Ann", null]), json!([syllables, null])), &[(Structure, "Patient.name[0].given[1]")]);
    rejects(named(json!(["Ann", "Lee"]), json!([syllables])), &[(Structure, "Patient.name[0].given")]);
    rejects(named(json!(["Ann"]), json!({ "id": "x" })), &[(Structure, "Patient.name[0].given")]);
    accepts(json!({ "resourceType": "Patient", "name": [{ "_given": [syllables] }] }));
    rejects(json!({ "resourceType": "Patient", "name": [{ "_given": [null] }] }), &[(Structure, "Patient.name[0].given[0]")]);
}

#[test]
fn extensions() {
    let with = |extension: Value| json!({ "resourceType": "Patient", "extension": [extension] });
    accepts(with(json!({ "url": "http://example.org/a", "valueCodeableConcept": { "text": "x" } })));
    accepts(with(json!({ "url": "http://example.org/a", "extension": [{ "url": "b", "valueBoolean": true }] })));
    rejects(with(json!({ "url": "http://example.org/a", "valueString": "x", "foo": 1 })), &[(Structure, "Patient.extension[0].foo")]);
    rejects(with(json!({ "valueString": "x" })), &[(Required, "Patient.extension[0].url")]);
    rejects(
        with(json!({ "url": "http://example.org/a", "valueNarrative": { "status": "generated" } })),
        &[(Structure, "Patient.extension[0].valueNarrative")],
    );
    rejects(
        with(json!({ "url": "http://example.org/a", "extension": [{ "url": "b", "valueQuantity": { "value": "1" } }] })),
        &[(BadValue, "Patient.extension[0].extension[0].valueQuantity.value")],
    );
    rejects(
        json!({ "resourceType": "Patient", "modifierExtension": [{ "url": "u", "valueFoo": 1 }] }),
        &[(Structure, "Patient.modifierExtension[0].valueFoo")],
    );
}

#[test]
fn backbone_and_content_reference_elements() {
    let questionnaire = |item: Value| json!({ "resourceType": "Questionnaire", "status": "draft", "item": [item] });
    accepts(questionnaire(
        json!({ "linkId": "1", "type": "group", "item": [{ "linkId": "1.1", "type": "string", "item": [{ "linkId": "1.1.1", "type": "display" }] }] }),
    ));
    rejects(
        questionnaire(json!({ "linkId": "1", "type": "group", "item": [{ "linkId": "1.1", "type": "string", "foo": 1 }] })),
        &[(Structure, "Questionnaire.item[0].item[0].foo")],
    );
    rejects(
        questionnaire(json!({ "linkId": "1", "type": "group", "item": [{ "type": "strin" }] })),
        &[(CodeInvalid, "Questionnaire.item[0].item[0].type"), (Required, "Questionnaire.item[0].item[0].linkId")],
    );
    rejects(
        json!({ "resourceType": "Patient", "contact": [{ "name": { "family": "X" }, "bogus": true }] }),
        &[(Structure, "Patient.contact[0].bogus")],
    );
}

#[test]
fn nested_resources() {
    let contained_observation = json!({ "resourceType": "Observation", "id": "o1", "code": { "text": "x" } });
    rejects(json!({ "resourceType": "Patient", "contained": [contained_observation] }), &[(Required, "Patient.contained[0].status")]);
    rejects(
        json!({ "resourceType": "Patient", "contained": [{ "resourceType": "Patient", "id": "p", "birthDate": "1970-02-30" }] }),
        &[(BadValue, "Patient.contained[0].birthDate")],
    );
    rejects(json!({ "resourceType": "Patient", "contained": [{ "resourceType": "Nope" }] }), &[(Invalid, "Patient.contained[0].resourceType")]);
    rejects(json!({ "resourceType": "Patient", "contained": [{ "id": "x" }] }), &[(Required, "Patient.contained[0].resourceType")]);

    let entry = |resource: Value| json!({ "fullUrl": "urn:uuid:c757873d-ec9a-4326-a141-556f43239520", "resource": resource });
    let patient = json!({ "resourceType": "Patient" });
    let bundle = json!({ "resourceType": "Bundle", "type": "collection", "entry": [
        entry(patient.clone()), entry(patient.clone()), entry(json!({ "resourceType": "Patient", "birthDate": "1970-13-45" }))
    ] });
    rejects(bundle, &[(BadValue, "Bundle.entry[2].resource.birthDate")]);
    let response = json!({ "resourceType": "Bundle", "type": "transaction-response", "entry": [
        { "response": { "status": "201 Created", "outcome": patient } }
    ] });
    rejects(response, &[(Invalid, "Bundle.entry[0].response.outcome.resourceType")]);
    let parameters = json!({ "resourceType": "Parameters", "parameter": [
        { "name": "a", "valueString": "x" },
        { "name": "b", "resource": { "resourceType": "Patient", "gender": "mail" } },
        { "name": "c", "part": [{ "name": "d", "valueDecimal": "1" }] }
    ] });
    rejects(parameters, &[(CodeInvalid, "Parameters.parameter[1].resource.gender"), (BadValue, "Parameters.parameter[2].part[0].valueDecimal")]);
}

#[test]
fn every_issue_is_reported_up_to_the_cap() {
    rejects(
        json!({ "resourceType": "Patient", "id": "a b", "gender": "mail", "birthDate": "1970-13-45", "name": [{ "family": "" }], "x": 1 }),
        &[
            (BadValue, "Patient.id"),
            (CodeInvalid, "Patient.gender"),
            (BadValue, "Patient.birthDate"),
            (BadValue, "Patient.name[0].family"),
            (Structure, "Patient.x"),
        ],
    );
    let mut many = json!({ "resourceType": "Patient" });
    for i in 0..150 {
        many[format!("unknown{i}")] = json!(i);
    }
    let issues = issues(&many);
    assert_eq!(issues.len(), MAX_ISSUES);
    assert_eq!(issues[99], (Structure, "Patient.unknown99".to_string()));
}
