//! The official FHIRPath test suite (fhir-test-cases, tests-fhir-r4.xml): every test case is
//! run; the ones listed in known-failures.txt may fail, any other failure fails the test, and
//! listed tests that now pass are reported.

use std::collections::{BTreeMap, HashMap};

use fhirpath::{DateTime, Env, Expr, Item};
use serde_json::Value;

use crate::data::{shared_data, suite_input};

struct Case {
    name: String,
    group: String,
    input: Option<String>,
    expression: String,
    invalid: Option<String>,
    predicate: bool,
    ordered: bool,
    check_ordered: bool,
    outputs: Vec<(Option<String>, String)>,
}

fn load_cases() -> Vec<Case> {
    let path = shared_data().join("fhir-test-cases/fhirpath/tests-fhir-r4.xml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let doc = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("suite XML: {e}"));
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut cases = Vec::new();
    for t in doc.descendants().filter(|n| n.has_tag_name("test")) {
        let Some(expr) = t.children().find(|c| c.has_tag_name("expression")) else {
            continue;
        };
        let base = t.attribute("name").unwrap_or("unnamed").to_owned();
        let n = seen.entry(base.clone()).or_insert(0);
        *n += 1;
        let name = if *n > 1 { format!("{base}#{n}") } else { base };
        let group = t.parent().and_then(|g| g.attribute("name")).unwrap_or("").to_owned();
        cases.push(Case {
            name,
            group,
            input: t.attribute("inputfile").map(str::to_owned),
            expression: expr.text().unwrap_or("").to_owned(),
            invalid: expr.attribute("invalid").map(str::to_owned),
            predicate: t.attribute("predicate") == Some("true"),
            ordered: t.attribute("ordered") != Some("false"),
            check_ordered: t.attribute("checkOrderedFunctions") == Some("true"),
            outputs: t
                .children()
                .filter(|c| c.has_tag_name("output"))
                .map(|o| (o.attribute("type").map(str::to_owned), o.text().unwrap_or("").to_owned()))
                .collect(),
        });
    }
    cases
}

/// The suite's (type, text) form of a result item.
fn describe(item: &Item<'_>) -> (String, String) {
    let prefixed = |t: &str, s: String| match t {
        "date" | "dateTime" | "instant" => format!("@{s}"),
        "time" => format!("@T{s}"),
        _ => s,
    };
    match item {
        Item::Node { .. } => {
            let t = item.fhir_type().unwrap_or("?").to_owned();
            let text = prefixed(&t, item.to_string());
            (t, text)
        }
        Item::Boolean(_) => ("boolean".into(), item.to_string()),
        Item::Integer(_) => ("integer".into(), item.to_string()),
        Item::Decimal(_) => ("decimal".into(), item.to_string()),
        Item::String(_) => ("string".into(), item.to_string()),
        Item::Date(_) => ("date".into(), prefixed("date", item.to_string())),
        Item::DateTime(_) => ("dateTime".into(), prefixed("dateTime", item.to_string())),
        Item::Time(_) => ("time".into(), prefixed("time", item.to_string())),
        Item::Quantity(_) => ("Quantity".into(), item.to_string()),
        Item::Type(_) => ("TypeInfo".into(), item.to_string()),
    }
}

/// Runs one case. The suite is run in strict mode (the specification to the letter, as its
/// `invalid="semantic"` cases need); `strict = false` measures the lenient default.
fn run_case(case: &Case, inputs: &mut HashMap<String, Value>, now: DateTime, strict: bool) -> Result<(), String> {
    let parsed = Expr::parse(&case.expression);
    let expr = match (parsed, case.invalid.as_deref()) {
        (Err(_), Some(_)) => return Ok(()),
        (Err(e), None) => return Err(format!("parse error: {e}")),
        (Ok(_), Some("syntax")) => return Err("expected a syntax error".into()),
        (Ok(e), _) => e,
    };
    let null = Value::Null;
    let resource: &Value = match &case.input {
        Some(name) => inputs.entry(name.clone()).or_insert_with(|| suite_input(name)),
        None => &null,
    };
    let env = Env::new().with_now(now).strict(strict).check_ordered_functions(case.check_ordered);
    let result = expr.evaluate_with(resource, &env);
    let items = match (result, case.invalid.as_deref()) {
        (Err(_), Some(_)) => return Ok(()),
        (Ok(r), Some(kind)) => return Err(format!("expected a {kind} error, got {} item(s)", r.len())),
        (Err(e), None) => return Err(format!("evaluation error: {e}")),
        (Ok(r), None) => r,
    };
    let mut actual: Vec<(String, String)> =
        if case.predicate { vec![("boolean".into(), (!items.is_empty()).to_string())] } else { items.iter().map(describe).collect() };
    let mut expected = case.outputs.clone();
    if !case.ordered {
        actual.sort_by(|a, b| a.1.cmp(&b.1));
        expected.sort_by(|a, b| a.1.cmp(&b.1));
    }
    let matches =
        actual.len() == expected.len() && actual.iter().zip(&expected).all(|((at, av), (et, ev))| av == ev && et.as_ref().is_none_or(|t| t == at));
    if matches {
        Ok(())
    } else {
        let show = |v: Vec<String>| format!("[{}]", v.join(", "));
        Err(format!(
            "expected {} got {}",
            show(expected.iter().map(|(t, v)| format!("{}:{v}", t.as_deref().unwrap_or("_"))).collect()),
            show(actual.iter().map(|(t, v)| format!("{t}:{v}")).collect())
        ))
    }
}

fn known_failures() -> BTreeMap<String, String> {
    let text = include_str!("known-failures.txt");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.split_once(char::is_whitespace) {
            Some((name, reason)) => (name.to_owned(), reason.trim().to_owned()),
            None => (l.to_owned(), String::new()),
        })
        .collect()
}

#[test]
fn official_fhirpath_suite() {
    if crate::data::missing() {
        return;
    }
    let cases = load_cases();
    let known = known_failures();
    let now = {
        let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
        DateTime::from_unix_millis(ms, 0)
    };
    let mut inputs = HashMap::new();
    let mut passed = 0;
    let mut unexpected = Vec::new();
    let mut now_passing = Vec::new();
    let mut listed_failing = Vec::new();
    for case in &cases {
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_case(case, &mut inputs, now, true))).unwrap_or_else(|_| Err("PANIC".into()));
        match (outcome, known.contains_key(&case.name)) {
            (Ok(()), false) => passed += 1,
            (Ok(()), true) => {
                passed += 1;
                now_passing.push(case.name.clone());
            }
            (Err(why), true) => listed_failing.push(format!("{} [{}] {}: {why}", case.name, case.group, case.expression.trim())),
            (Err(why), false) => unexpected.push(format!("{} [{}] `{}`: {why}", case.name, case.group, case.expression.trim())),
        }
    }
    let lenient_failures: Vec<String> =
        cases.iter().filter_map(|c| run_case(c, &mut inputs, now, false).err().map(|why| format!("{}: {why}", c.name))).collect();
    let lenient = cases.len() - lenient_failures.len();
    println!("fhirpath suite: {passed}/{} passed, {} known failures", cases.len(), listed_failing.len());
    println!("fhirpath suite in lenient mode (the default Env): {lenient}/{} passed", cases.len());
    if std::env::var_os("FHIRPATH_SUITE_VERBOSE").is_some() {
        for f in &listed_failing {
            println!("  known: {f}");
        }
        for f in &lenient_failures {
            println!("  lenient: {f}");
        }
    }
    for n in &now_passing {
        println!("  listed in known-failures.txt but now passes: {n}");
    }
    let stale: Vec<&String> = known.keys().filter(|k| !cases.iter().any(|c| &c.name == *k)).collect();
    assert!(stale.is_empty(), "known-failures.txt names tests that do not exist: {stale:?}");
    assert!(unexpected.is_empty(), "{} unexpected failure(s):\n{}", unexpected.len(), unexpected.join("\n"));
}
