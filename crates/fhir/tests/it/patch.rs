//! FHIRPath Patch against the official test cases (`fhir-test-cases/patch/fhir-patch-tests.xml`): each case's
//! input and diff are read from FHIR XML into JSON (following the element definitions, so that lists are
//! arrays and numbers and booleans are JSON ones), the diff applied to the input, and the result compared with
//! the expected output, or the expected error checked.

use fhir::definitions::Shape;
use serde_json::{Map, Value};
use std::path::PathBuf;

fn shared_data() -> PathBuf {
    match std::env::var_os("JOINERY_SHARED_DATA") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    }
}

/// A FHIR XML resource as FHIR JSON.
fn resource(node: roxmltree::Node<'_, '_>) -> Value {
    let name = node.tag_name().name();
    let shape = Shape::named(name).unwrap_or_else(|| panic!("unknown resource type {name}"));
    let mut object = Map::new();
    object.insert("resourceType".into(), Value::String(name.into()));
    fill(&mut object, node, shape);
    Value::Object(object)
}

fn fill(object: &mut Map<String, Value>, node: roxmltree::Node<'_, '_>, shape: Shape) {
    if let Some(url) = node.attribute("url") {
        object.insert("url".into(), Value::String(url.into()));
    }
    for c in node.children().filter(roxmltree::Node::is_element) {
        let key = c.tag_name().name();
        let (child, type_code) = shape.child_for_key(key).unwrap_or_else(|| panic!("{} has no element {key}", shape.name()));
        let value = if let Some(p) = child.primitive(type_code) {
            if p == fhir::definitions::Primitive::Xhtml {
                Value::String(c.document().input_text()[c.range()].to_owned())
            } else {
                let text = c.attribute("value").unwrap_or_else(|| panic!("{key} has no value"));
                match p {
                    fhir::definitions::Primitive::Boolean => Value::Bool(text == "true"),
                    fhir::definitions::Primitive::Integer
                    | fhir::definitions::Primitive::PositiveInt
                    | fhir::definitions::Primitive::UnsignedInt
                    | fhir::definitions::Primitive::Decimal => Value::Number(serde_json::from_str(text).expect("a number")),
                    _ => Value::String(text.into()),
                }
            }
        } else if let Some(inner) = child.shape(type_code) {
            let mut o = Map::new();
            fill(&mut o, c, inner);
            Value::Object(o)
        } else {
            // A resource-typed element holds the resource as its one child.
            resource(c.children().find(roxmltree::Node::is_element).expect("a contained resource"))
        };
        if child.repeats() {
            match object.entry(key).or_insert_with(|| Value::Array(Vec::new())) {
                Value::Array(a) => a.push(value),
                _ => unreachable!("lists only"),
            }
        } else {
            object.insert(key.into(), value);
        }
    }
}

fn first_resource<'a, 'i>(node: roxmltree::Node<'a, 'i>, tag: &str) -> Option<roxmltree::Node<'a, 'i>> {
    node.children().find(|c| c.has_tag_name(tag))?.children().find(roxmltree::Node::is_element)
}

/// Narrative XHTML as written in a case (its XML source, whitespace and entities as they were typed) and as
/// a patch carries it (a string) differ in writing only: compare it with whitespace collapsed and `&quot;`
/// read.
fn normalised(mut v: Value) -> Value {
    if let Some(div) = v.pointer_mut("/text/div") {
        if let Some(s) = div.as_str() {
            *div = Value::String(s.replace("&quot;", "\"").split_whitespace().collect::<Vec<_>>().join(" "));
        }
    }
    v
}

#[test]
fn the_official_fhirpath_patch_cases_pass() {
    let path = shared_data().join("fhir-test-cases/patch/fhir-patch-tests.xml");
    let Ok(xml) = std::fs::read_to_string(&path) else {
        eprintln!("skipped: no shared reference data at {} (set JOINERY_SHARED_DATA)", path.display());
        return;
    };
    let doc = roxmltree::Document::parse(&xml).expect("the cases are XML");
    let mut ran = 0;
    for case in doc.root_element().children().filter(|c| c.has_tag_name("case")) {
        let name = case.attribute("name").unwrap_or("?");
        let mut input = resource(first_resource(case, "input").expect("input"));
        let diff = resource(first_resource(case, "diff").expect("diff"));
        let patch = fhir::patch::parse(&diff).unwrap_or_else(|e| panic!("{name}: the diff does not parse: {e:?}"));
        let before = input.clone();
        match (first_resource(case, "output"), case.children().find(|c| c.has_tag_name("error"))) {
            (Some(output), _) => {
                patch.apply(&mut input).unwrap_or_else(|e| panic!("{name}: {e:?}"));
                assert_eq!(normalised(input), normalised(resource(output)), "{name}");
            }
            (None, Some(error)) => {
                let issue = patch.apply(&mut input).expect_err(name);
                assert_eq!(input, before, "{name}: nothing changes when an operation fails");
                let expected = error.attribute("msg").unwrap_or_default();
                let said = issue.diagnostics.clone();
                assert!(said.contains("no content found") && expected.to_lowercase().contains("no content found"), "{name}: {said} / {expected}");
                assert_eq!(issue.expression, ["Parameters.parameter[0]"], "{name}");
            }
            (None, None) => panic!("{name}: neither output nor error"),
        }
        ran += 1;
    }
    assert_eq!(ran, 33, "every case ran");
}

fn operation(parts: Value) -> Value {
    serde_json::json!({ "resourceType": "Parameters", "parameter": [{ "name": "operation", "part": parts }] })
}

fn failure(patient: &Value, parts: Value) -> fhir::Issue {
    let patch = fhir::patch::parse(&operation(parts)).expect("parses");
    let mut changed = patient.clone();
    let issue = patch.apply(&mut changed).expect_err("fails");
    assert_eq!(&changed, patient, "nothing changes when an operation fails");
    issue
}

#[test]
fn malformed_patches_and_operations_that_cannot_apply_say_which_part_and_change_nothing() {
    use serde_json::json;
    let bad = |parts: Value| fhir::patch::parse(&operation(parts)).expect_err("does not parse");
    let e = bad(json!([{ "name": "type", "valueCode": "upsert" }, { "name": "path", "valueString": "Patient" }]));
    assert_eq!((e.code, e.expression.clone()), (fhir::IssueCode::CodeInvalid, vec!["Parameters.parameter[0].part[0]".to_owned()]));
    let e = bad(json!([{ "name": "type", "valueCode": "delete" }]));
    assert!(e.diagnostics.contains("no 'path' part"), "{}", e.diagnostics);
    let e = bad(json!([{ "name": "type", "valueCode": "delete" }, { "name": "path", "valueString": "Patient.(" }]));
    assert_eq!(e.expression, ["Parameters.parameter[0].part[1]"]);
    let e = bad(
        json!([{ "name": "type", "valueCode": "insert" }, { "name": "path", "valueString": "Patient.name" }, { "name": "value", "valueString": "x" }, { "name": "index", "valueInteger": -1 }]),
    );
    assert_eq!(e.expression, ["Parameters.parameter[0].part[3]"]);
    let e = fhir::patch::parse(&json!({ "resourceType": "Parameters", "parameter": [{ "name": "op" }] })).expect_err("not an operation");
    assert_eq!(e.expression, ["Parameters.parameter[0].name"]);

    let patient = json!({ "resourceType": "Patient", "birthDate": "1920-01-01", "name": [{ "family": "A" }, { "family": "B" }] });
    let add = |path: &str, name: &str, value: Value| {
        json!([{ "name": "type", "valueCode": "add" }, { "name": "path", "valueString": path }, { "name": "name", "valueString": name }, { "name": "value" }]).as_array().cloned().map(|mut a| {
        a[3].as_object_mut().expect("object").extend(value.as_object().cloned().expect("object"));
        Value::Array(a)
    }).expect("array")
    };
    let e = failure(&patient, add("Patient", "birthDate", json!({ "valueDate": "1930-01-01" })));
    assert!(e.diagnostics.contains("already there"), "{}", e.diagnostics);
    assert_eq!((e.code, e.expression.clone()), (fhir::IssueCode::Processing, vec!["Parameters.parameter[0]".to_owned()]));
    let e = failure(&patient, add("Patient", "birthDate", json!({ "valueBoolean": true })));
    assert!(e.diagnostics.contains("does not take a value of type boolean"), "{}", e.diagnostics);
    let e = failure(&patient, add("Patient", "nickname", json!({ "valueString": "x" })));
    assert!(e.diagnostics.contains("has no element 'nickname'"), "{}", e.diagnostics);
    let e = failure(&patient, json!([{ "name": "type", "valueCode": "delete" }, { "name": "path", "valueString": "Patient.name" }]));
    assert!(e.diagnostics.contains("selects 2 elements"), "{}", e.diagnostics);
    let e = failure(
        &patient,
        json!([{ "name": "type", "valueCode": "insert" }, { "name": "path", "valueString": "Patient.name" }, { "name": "value", "valueHumanName": { "family": "C" } }, { "name": "index", "valueInteger": 3 }]),
    );
    assert!(e.diagnostics.contains("past the end"), "{}", e.diagnostics);
    let e = failure(
        &patient,
        json!([{ "name": "type", "valueCode": "move" }, { "name": "path", "valueString": "Patient.name" }, { "name": "source", "valueInteger": 0 }, { "name": "destination", "valueInteger": 2 }]),
    );
    assert!(e.diagnostics.contains("within the list"), "{}", e.diagnostics);
    let e = failure(
        &patient,
        json!([{ "name": "type", "valueCode": "replace" }, { "name": "path", "valueString": "Patient.birthDate.toString()" }, { "name": "value", "valueDate": "1930-01-01" }]),
    );
    assert!(e.diagnostics.contains("not part of the resource") || e.diagnostics.contains("other than an element"), "{}", e.diagnostics);
    // A later operation failing undoes the earlier ones.
    let two = json!({ "resourceType": "Parameters", "parameter": [
        { "name": "operation", "part": [{ "name": "type", "valueCode": "delete" }, { "name": "path", "valueString": "Patient.birthDate" }] },
        { "name": "operation", "part": [{ "name": "type", "valueCode": "delete" }, { "name": "path", "valueString": "Patient.name" }] }
    ] });
    let mut changed = patient.clone();
    let e = fhir::patch::parse(&two).expect("parses").apply(&mut changed).expect_err("the second fails");
    assert_eq!(e.expression, ["Parameters.parameter[1]"]);
    assert_eq!(changed, patient);
    // Replacing a choice element with another of its types changes its property.
    let mut p = json!({ "resourceType": "Patient", "deceasedBoolean": false });
    fhir::patch::parse(&operation(json!([{ "name": "type", "valueCode": "replace" }, { "name": "path", "valueString": "Patient.deceased" }, { "name": "value", "valueDateTime": "2020-01-01" }])))
        .expect("parses")
        .apply(&mut p)
        .expect("applies");
    assert_eq!(p, json!({ "resourceType": "Patient", "deceasedDateTime": "2020-01-01" }));
}
