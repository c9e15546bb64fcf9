//! Evaluator edge cases through the public API: empty propagation, errors instead of panics,
//! strict and lenient navigation, choice elements, primitive extensions, precision, the
//! environment (variables, clock, tracer), and robustness against arbitrary input.

use std::sync::Mutex;

use fhirpath::{DateTime, Env, EvalError, Expr, Item};
use serde_json::{json, Value};

use crate::data::suite_input;

fn run(expr: &str, resource: &Value) -> Result<Vec<String>, EvalError> {
    let e = Expr::parse(expr).unwrap_or_else(|err| panic!("{expr}: {err}"));
    Ok(e.evaluate(resource)?.iter().map(|i| i.to_string()).collect())
}

fn ok(expr: &str, resource: &Value) -> Vec<String> {
    run(expr, resource).unwrap_or_else(|e| panic!("{expr}: {e}"))
}

/// Parsed from text, so that decimals keep the digits written (`json!` would go through f64).
fn observation() -> Value {
    let text = r#"{
        "resourceType": "Observation",
        "id": "bp",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
        "effectiveDateTime": "2024-03-01T10:30:00+01:00",
        "valueQuantity": {"value": 120.50, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"},
        "_status": {"extension": [{"url": "http://example.org/why", "valueString": "checked"}]},
        "component": [
            {"code": {"text": "systolic"}, "valueQuantity": {"value": 120, "code": "mm[Hg]"}},
            {"code": {"text": "diastolic"}, "valueQuantity": {"value": 80.0, "code": "mm[Hg]"}},
            {"code": {"text": "note"}, "valueString": "seated"}
        ]
    }"#;
    serde_json::from_str(text).expect("valid JSON")
}

#[test]
fn empty_propagates() {
    let o = observation();
    assert!(ok("{}.first()", &o).is_empty());
    assert!(ok("Observation.method.text", &o).is_empty());
    assert!(ok("Observation.method.text + 'x'", &o).is_empty());
    assert!(ok("Observation.method = {}", &o).is_empty());
    assert_eq!(ok("Observation.method.empty()", &o), ["true"]);
    assert!(ok("Observation.nosuch", &o).is_empty(), "lenient by default");
    assert!(ok("Patient.name", &o).is_empty(), "another resource type");
    assert!(ok("'x'.nosuch", &o).is_empty());
}

#[test]
fn errors_are_values_not_panics() {
    let o = observation();
    assert!(matches!(run("Observation.component.single()", &o), Err(EvalError::NotSingleton { .. })));
    assert!(matches!(run("1 + 'a'", &o), Err(EvalError::Type(_))));
    assert!(matches!(run("%nosuch", &o), Err(EvalError::UnknownVariable(_))));
    assert!(run("(1 | 2).repeat($this + 1)", &o).is_err(), "a runaway repeat() is stopped");
    assert!(run("Observation.repeatAll($this)", &o).is_err());
    assert!(matches!(run("now()", &o), Err(EvalError::NoClock(_))));
    assert!(Expr::parse("'a'.matches('(')").is_err(), "a literal pattern is compiled when parsing");
    assert!(matches!(run("'a'.matches('(' + '')", &o), Err(EvalError::Regex(_))));
    assert!(run("Observation.component.code.text.upper()", &o).is_err(), "string function on many items");
    assert!(run("'abc'.matches(Observation.code.coding.code)", &o).is_ok());
    assert!(Expr::parse("Observation.code.nosuchfunction()").is_err());
    assert!(Expr::parse("Observation.value.ofType(NoSuchType)").is_err());
}

#[test]
fn strict_mode_rejects_unknown_elements() {
    let o = observation();
    let strict = Env::new().strict(true);
    let eval = |s: &str| Expr::parse(s).expect("parses").evaluate_with(&o, &strict).map(|v| v.len());
    assert!(matches!(eval("Observation.nosuch"), Err(EvalError::UnknownElement { .. })));
    assert!(matches!(eval("Observation.valueQuantity"), Err(EvalError::UnknownElement { .. })));
    assert!(matches!(eval("Patient.name"), Err(EvalError::UnknownElement { .. })));
    assert!(matches!(eval("(Observation.value as Period).unit"), Err(EvalError::UnknownElement { .. })));
    assert!(eval("Observation.component.value as Quantity").is_err());
    assert_eq!(eval("Observation.component.value.ofType(Quantity)"), Ok(2));
    assert_eq!(eval("Observation.value.unit"), Ok(1));
}

#[test]
fn choice_elements_and_types() {
    let o = observation();
    let e = Expr::parse("Observation.value").expect("parses");
    let v = e.evaluate(&o).expect("evaluates");
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].fhir_type(), Some("Quantity"));
    assert_eq!(ok("Observation.component.value.ofType(string)", &o), ["seated"]);
    assert_eq!(ok("(Observation.component.value as Quantity).value", &o), ["120", "80.0"]);
    assert_eq!(ok("Observation.effective is dateTime", &o), ["true"]);
    assert_eq!(ok("Observation.effective.type().name", &o), ["dateTime"]);
    assert_eq!(ok("Observation.value.type().namespace", &o), ["FHIR"]);
    // Lenient mode reads a spelled-out choice, typed.
    let q = Expr::parse("Observation.valueQuantity").expect("parses").evaluate(&o).expect("evaluates");
    assert_eq!(q[0].fhir_type(), Some("Quantity"));
}

#[test]
fn decimals_keep_their_precision() {
    let o = observation();
    assert_eq!(ok("Observation.value.value", &o), ["120.50"]);
    assert_eq!(ok("Observation.value.value + 0.25", &o), ["120.75"]);
    assert_eq!(ok("Observation.value.value = 120.5", &o), ["true"]);
    assert_eq!(ok("Observation.value.value.precision()", &o), ["2"]);
    assert_eq!(ok("Observation.value = 120.5 'mm[Hg]'", &o), ["true"]);
    assert_eq!(ok("Observation.value > 0.1 'bar'", &o), ["true"]);
    assert_eq!(ok("0.1 + 0.2 = 0.3", &o), ["true"]);
    assert_eq!(ok("1.0 / 3", &o), ["0.3333333333333333333333333333"]);
    assert_eq!(ok("9223372036854775807 + 1", &o), Vec::<String>::new(), "overflow is empty");
}

#[test]
fn primitive_extensions() {
    if crate::data::missing() {
        return;
    }
    let o = observation();
    assert_eq!(ok("Observation.status.extension('http://example.org/why').value", &o), ["checked"]);
    assert_eq!(ok("Observation.status.hasValue()", &o), ["true"]);
    let p = suite_input("patient-name-extensions.json");
    assert_eq!(ok("Patient.name.given.count()", &p), ["2"]);
    assert_eq!(ok("Patient.name.given.select($this.hasValue())", &p), ["false", "true"]);
    assert_eq!(ok("Patient.name.given.extension.value", &p), ["five"]);
}

#[test]
fn dates_and_times() {
    let o = observation();
    assert_eq!(ok("Observation.effective > @2024-02-29", &o), ["true"]);
    assert_eq!(ok("Observation.effective = @2024-03-01T09:30:00Z", &o), ["true"]);
    assert!(ok("Observation.effective = @2024-03-01", &o).is_empty(), "precision differs");
    assert_eq!(ok("Observation.effective + 1 month", &o), ["2024-04-01T10:30:00+01:00"]);
    assert_eq!(ok("@2024-01-31 + 1 month", &o), ["2024-02-29"]);
    assert_eq!(ok("@T23:30 + 2 hours", &o), ["01:30"]);
    assert!(run("@2024-01-31 + 1 'mo'", &o).is_err());
    let now = DateTime::parse("2025-06-30T23:59:59.500+02:00").expect("date-time");
    let env = Env::new().with_now(now);
    let eval = |s: &str| -> Vec<String> {
        Expr::parse(s).expect("parses").evaluate_with(&o, &env).expect("evaluates").iter().map(|i| i.to_string()).collect()
    };
    assert_eq!(eval("today()"), ["2025-06-30"]);
    assert_eq!(eval("now()"), ["2025-06-30T23:59:59.500+02:00"]);
    assert_eq!(eval("timeOfDay()"), ["23:59:59.500"]);
    assert_eq!(eval("Observation.effective < now()"), ["true"]);
}

#[test]
fn environment_variables_and_tracer() {
    let o = observation();
    let seen = Mutex::new(Vec::new());
    let tracer = |name: &str, items: &[Item<'_>]| {
        if let Ok(mut s) = seen.lock() {
            s.push(format!("{name}:{}", items.len()));
        }
    };
    let env = Env::new().with_variable("sys", vec![Item::from("http://loinc.org")]).with_tracer(&tracer);
    let e = Expr::parse("Observation.code.coding.trace('codings').where(system = %sys).code").expect("parses");
    let got: Vec<String> = e.evaluate_with(&o, &env).expect("evaluates").iter().map(|i| i.to_string()).collect();
    assert_eq!(got, ["85354-9"]);
    assert_eq!(seen.lock().map(|s| s.clone()).unwrap_or_default(), ["codings:1"]);
    assert_eq!(ok("%resource.id & '/' & %context.id", &o), ["bp/bp"]);
    assert_eq!(ok("%ucum", &o), ["http://unitsofmeasure.org"]);
    assert_eq!(ok("%`vs-gender`", &o), ["http://hl7.org/fhir/ValueSet/gender"]);
}

#[test]
fn iteration_variables() {
    let o = observation();
    assert_eq!(ok("Observation.component.select($index)", &o), ["0", "1", "2"]);
    assert_eq!(ok("Observation.component.where($index > 0).code.text", &o), ["diastolic", "note"]);
    assert_eq!(ok("(1 | 2 | 3).aggregate($total + $this, 10)", &o), ["16"]);
    assert_eq!(ok("Observation.component.code.text.sort(-$this)", &o), ["systolic", "note", "diastolic"]);
}

#[test]
fn contained_and_bundled_resources_are_typed() {
    let b = json!({
        "resourceType": "Bundle",
        "entry": [
            {"resource": {"resourceType": "Patient", "id": "a", "contained": [{"resourceType": "Organization", "id": "o"}]}},
            {"resource": {"resourceType": "Observation", "id": "b", "status": "final", "code": {}}}
        ]
    });
    assert_eq!(ok("Bundle.entry.resource.ofType(Patient).id", &b), ["a"]);
    assert_eq!(ok("Bundle.entry.resource.contained.ofType(Organization).id", &b), ["o"]);
    assert_eq!(ok("Bundle.entry.resource.where($this is DomainResource).count()", &b), ["2"]);
    assert_eq!(ok("Bundle.entry[1].resource.status", &b), ["final"]);
    assert_eq!(ok("Bundle.descendants().ofType(Organization).count()", &b), ["1"]);
}

#[test]
fn results_expose_json_nodes() {
    let o = observation();
    let e = Expr::parse("Observation.code.coding").expect("parses");
    let items = e.evaluate(&o).expect("evaluates");
    let node = items[0].json().expect("a node");
    assert!(std::ptr::eq(node, &o["code"]["coding"][0]));
    assert_eq!(items[0].fhir_type(), Some("Coding"));
    assert_eq!(items[0].type_info().name, "Coding");
    assert!(matches!(&items[0], Item::Node { type_name: Some(t), .. } if t == "Coding"));
}

#[test]
fn expressions_are_shared_across_threads() {
    let e = std::sync::Arc::new(Expr::parse("Observation.component.count()").expect("parses"));
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let e = e.clone();
            std::thread::spawn(move || {
                let o = observation();
                e.evaluate(&o).map(|v| v[0].to_string()).unwrap_or_default()
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().expect("thread"), "3");
    }
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    assert!(Expr::parse(&format!("{}1{}", "(".repeat(5000), ")".repeat(5000))).is_err());
    assert!(Expr::parse(&"-".repeat(5000)).is_err());
    assert!(Expr::parse(&format!("a{}", ".a".repeat(100_000))).is_err());
    assert!(Expr::parse(&vec!["1"; 100_000].join(" + ")).is_err());
    assert!(Expr::parse(&format!("{}1{}", "f(".repeat(5000), ")".repeat(5000))).is_err());
    // What is accepted evaluates (and drops) within a test thread's stack, in debug builds too.
    let nested = format!("{}1{}", "(".repeat(60), ")".repeat(60));
    assert_eq!(ok(&nested, &Value::Null), ["1"]);
    let mut deepest = String::from("1");
    while Expr::parse(&format!("({deepest}).abs()")).is_ok() {
        deepest = format!("({deepest}).abs()");
    }
    assert_eq!(ok(&deepest, &Value::Null), ["1"]);
    let mut longest = String::from("%resource");
    while Expr::parse(&format!("{longest}.id")).is_ok() {
        longest.push_str(".id");
    }
    assert!(ok(&longest, &Value::Null).is_empty());
    let mut sum = String::from("1");
    while Expr::parse(&format!("{sum} + 1")).is_ok() {
        sum.push_str(" + 1");
    }
    assert_eq!(ok(&sum, &Value::Null).len(), 1);
}

/// A small deterministic generator of token soup: whatever parses must evaluate to a value or
/// an error, never a panic.
#[test]
fn arbitrary_expressions_never_panic() {
    if crate::data::missing() {
        return;
    }
    const TOKENS: &[&str] = &[
        "Patient",
        "name",
        "given",
        "family",
        "telecom",
        "birthDate",
        ".",
        "(",
        ")",
        "[",
        "]",
        "0",
        "1",
        "-",
        "+",
        "*",
        "/",
        "div",
        "mod",
        "|",
        "&",
        "=",
        "!=",
        "~",
        "<",
        ">=",
        "and",
        "or",
        "implies",
        "is",
        "as",
        "in",
        "contains",
        "where(",
        "select(",
        "exists(",
        "first()",
        "count()",
        "$this",
        "$index",
        "'a'",
        "@2020",
        "@T10",
        "1.5",
        "'mg'",
        "{}",
        "iif(",
        ",",
        "ofType(",
        "string",
        "Quantity",
        "repeat(",
        "descendants()",
        "resolve()",
        "%resource",
        "substring(",
        "toInteger()",
        "aggregate(",
        "$total",
        "sort(",
        "combine(",
        "power(",
        "round(",
        "lowBoundary(",
        "split(",
        "join(",
        "matches(",
        "'[a-'",
        "extension(",
        "not()",
        "single()",
        "children()",
        "today()",
    ];
    let patient = suite_input("patient-example.json");
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut parsed = 0;
    for _ in 0..20_000 {
        let len = 1 + (next() % 12) as usize;
        let src: Vec<&str> = (0..len).map(|_| TOKENS[(next() % TOKENS.len() as u64) as usize]).collect();
        let src = src.join(" ");
        if let Ok(e) = Expr::parse(&src) {
            parsed += 1;
            let _ = e.evaluate(&patient);
            let _ = e.evaluate_with(&patient, &Env::new().strict(true));
        }
    }
    assert!(parsed > 500, "the generator should produce valid expressions too ({parsed})");
}

/// An environment built once (here `'static`) serves resources of any shorter lifetime.
#[test]
fn a_long_lived_env_serves_short_lived_resources() {
    fn index_one(expr: &Expr, env: &Env<'static>) -> usize {
        let resource = json!({"resourceType": "Patient", "gender": "male"});
        expr.evaluate_with(&resource, env).map(|v| v.len()).unwrap_or(0)
    }
    let env: Env<'static> = Env::new().with_variable("g", vec![Item::from("male")]);
    let expr = Expr::parse("Patient.gender = %g").expect("parses");
    assert_eq!(index_one(&expr, &env), 1);
}

#[test]
fn date_components() {
    let o = observation();
    assert_eq!(ok("Observation.effective.yearOf()", &o), ["2024"]);
    assert_eq!(ok("Observation.effective.hourOf()", &o), ["10"]);
    assert_eq!(ok("Observation.effective.timezoneOffsetOf()", &o), ["1"]);
    assert_eq!(ok("Observation.effective.dateOf()", &o), ["2024-03-01"]);
    assert_eq!(ok("Observation.effective.timeOf()", &o), ["10:30:00"]);
    assert!(ok("@2024.monthOf()", &o).is_empty(), "not that precise");
    assert_eq!(ok("@T10:20:30.456.millisecondOf()", &o), ["456"]);
}

#[test]
fn static_check_against_the_model() {
    let check = |src: &str, rt: &str| Expr::parse(src).expect("parses").check(rt);
    assert!(check("Patient.name.given", "Patient").is_ok());
    assert!(matches!(check("Patient.name.givn", "Patient"), Err(EvalError::UnknownElement { .. })));
    assert!(check("(Observation.value as Period).unit", "Observation").is_err());
    assert!(check("(Observation.value as Quantity).unit", "Observation").is_ok());
    assert!(check("Observation.value.unit", "Observation").is_ok(), "some choice has it");
    assert!(check("Observation.value.nosuch", "Observation").is_err());
    assert!(check("Observation.valueQuantity", "Observation").is_err());
    assert!(check("Patient.telecom | Person.telecom", "Patient").is_ok());
    assert!(check("Observation.component.where(code.text = 'x').value.ofType(Quantity).value", "Observation").is_ok());
    assert!(check("Observation.component.where(code.txt = 'x')", "Observation").is_err());
    assert!(check("Patient.birthDate.extension('u').value", "Patient").is_ok());
    assert!(check("Patient.birthDate.value", "Patient").is_err());
    assert!(check("Questionnaire.item.item.item.linkId", "Questionnaire").is_ok());
    assert!(check("Patient.contained.anything", "Patient").is_ok(), "contained: run-time type");
    assert!(check("Patient.name", "NoSuchType").is_err());
}
