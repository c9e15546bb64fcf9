//! Index extraction: evaluates every search parameter of a resource's type (the specification's FHIRPath
//! expressions) and turns what they select into typed index values.

use super::value::{date_range, decimal_range, normalize};
use crate::definitions::{self, SearchParam, SearchParamKind};
use crate::reference::{self, Target};
use fhirpath::{Env, Expr, Item};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::OnceLock;

/// One value of one parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexEntry {
    pub param: String,
    pub value: IndexValue,
}

/// A value in the form its parameter type is searched by.
#[derive(Debug, Clone, PartialEq)]
pub enum IndexValue {
    /// `norm` is lower case without accents (prefix and contains matching); `exact` as written.
    String {
        norm: String,
        exact: String,
    },
    /// A code with its system (`None`: no system).
    Token {
        system: Option<String>,
        code: String,
    },
    /// A local reference (`Type/id`) or, for absolute and canonical references, the URL.
    Reference {
        target_type: Option<String>,
        target_id: Option<String>,
        url: Option<String>,
    },
    /// Inclusive millisecond range (UTC).
    Date {
        low: i64,
        high: i64,
    },
    Number {
        value: f64,
        low: f64,
        high: f64,
    },
    Quantity {
        value: f64,
        low: f64,
        high: f64,
        system: Option<String>,
        code: Option<String>,
        unit: Option<String>,
    },
    Uri(String),
    /// A token paired with a second value taken from the same element (composite parameters).
    Composite {
        system: Option<String>,
        code: String,
        second: Box<IndexValue>,
    },
}

/// A parameter compiled for one resource type.
pub struct Compiled {
    pub param: &'static SearchParam,
    expr: Expr,
    /// For composites: the expression rooted at the `%i`-th base item, one per component, with each
    /// component's parameter kind.
    components: Vec<(Expr, SearchParamKind)>,
}

fn registry() -> &'static HashMap<&'static str, Vec<Compiled>> {
    static REGISTRY: OnceLock<HashMap<&'static str, Vec<Compiled>>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let by_url: HashMap<&str, &SearchParam> =
            definitions::resource_types().flat_map(definitions::search_params).map(|p| (p.url.as_str(), p)).collect();
        definitions::resource_types()
            .map(|t| {
                let compiled = definitions::search_params(t).filter_map(|p| compile(p, &by_url)).collect();
                (t, compiled)
            })
            .collect()
    })
}

fn compile(p: &'static SearchParam, by_url: &HashMap<&str, &SearchParam>) -> Option<Compiled> {
    // `_id` lives in the current-version table; special parameters and `_text` have no expression to index.
    if p.code == "_id" || matches!(p.kind, SearchParamKind::Special) {
        return None;
    }
    let source = p.expression.as_deref()?;
    let expr = Expr::parse(source).ok()?;
    let mut components = Vec::new();
    if p.kind == SearchParamKind::Composite {
        for (definition, relative) in &p.components {
            let kind = by_url.get(definition.as_str())?.kind;
            components.push((Expr::parse(&format!("({source})[%i].select({relative})")).ok()?, kind));
        }
        // Only token-first pairs are indexed (code-value-quantity and the like).
        if components.len() != 2 || components[0].1 != SearchParamKind::Token {
            return None;
        }
    }
    Some(Compiled { param: p, expr, components })
}

impl Compiled {
    /// For a composite parameter, the kinds of its two components (the first is always a token).
    pub fn component_kinds(&self) -> Vec<SearchParamKind> {
        self.components.iter().map(|(_, k)| *k).collect()
    }
}

/// The indexed parameter `code` of a resource type.
pub fn param_of(resource_type: &str, code: &str) -> Option<&'static Compiled> {
    params_of(resource_type).iter().find(|c| c.param.code == code)
}

/// The indexed parameters of a resource type.
pub fn params_of(resource_type: &str) -> &'static [Compiled] {
    registry().get(resource_type).map(Vec::as_slice).unwrap_or(&[])
}

/// Every index value of `resource` for its type's search parameters. Expressions that fail to evaluate on
/// this resource contribute nothing.
pub fn extract(resource: &Value) -> Vec<IndexEntry> {
    let Some(t) = resource.get("resourceType").and_then(Value::as_str) else { return Vec::new() };
    let mut out = Vec::new();
    for c in params_of(t) {
        let Ok(items) = c.expr.evaluate(resource) else { continue };
        let code = &c.param.code;
        if c.param.kind == SearchParamKind::Composite {
            composite(c, resource, items.len(), &mut out);
            continue;
        }
        for item in &items {
            values(c.param.kind, item, &mut |suffix, v| {
                let param = match suffix {
                    None => code.clone(),
                    Some(s) => format!("{code}:{s}"),
                };
                out.push(IndexEntry { param, value: v })
            });
        }
    }
    out
}

fn composite(c: &Compiled, resource: &Value, count: usize, out: &mut Vec<IndexEntry>) {
    for i in 0..count {
        let env = Env::new().with_variable("i", vec![Item::Integer(i as i64)]);
        let eval = |(expr, kind): &(Expr, SearchParamKind)| -> Vec<IndexValue> {
            let mut vals = Vec::new();
            for item in expr.evaluate_with(resource, &env).unwrap_or_default() {
                values(*kind, &item, &mut |suffix, v| {
                    if suffix.is_none() {
                        vals.push(v)
                    }
                });
            }
            vals
        };
        let firsts = eval(&c.components[0]);
        let seconds = eval(&c.components[1]);
        for first in &firsts {
            let IndexValue::Token { system, code } = first else { continue };
            for second in &seconds {
                out.push(IndexEntry {
                    param: c.param.code.clone(),
                    value: IndexValue::Composite { system: system.clone(), code: code.clone(), second: Box::new(second.clone()) },
                });
            }
        }
    }
}

/// Converts one selected item into index values of `kind`, passed to `out` with no suffix; derived values
/// go to `out` under a modifier suffix: `text` (display text for `:text`), `of-type` (identifier type and
/// value), `identifier` (a Reference's logical identifier).
fn values(kind: SearchParamKind, item: &Item<'_>, out: &mut dyn FnMut(Option<&str>, IndexValue)) {
    let mut emit_extra: Vec<(&'static str, IndexValue)> = Vec::new();
    let mut emit_main: Vec<IndexValue> = Vec::new();
    collect(kind, item, &mut |v| emit_main.push(v), &mut |suffix, v| emit_extra.push((suffix, v)));
    for v in emit_main {
        out(None, v);
    }
    for (suffix, v) in emit_extra {
        out(Some(suffix), v);
    }
}

fn collect(kind: SearchParamKind, item: &Item<'_>, emit: &mut dyn FnMut(IndexValue), extra: &mut dyn FnMut(&'static str, IndexValue)) {
    let node = match item {
        Item::Node { value, .. } => Some(*value),
        _ => None,
    };
    let ty = item.fhir_type().unwrap_or("");
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    match kind {
        SearchParamKind::String => {
            let mut push = |text: &str| emit(IndexValue::String { norm: normalize(text), exact: text.to_owned() });
            match (ty, node) {
                ("HumanName", Some(v)) => strings_of(v, &["text", "family", "given", "prefix", "suffix"], &mut push),
                ("Address", Some(v)) => strings_of(v, &["text", "line", "city", "district", "state", "postalCode", "country"], &mut push),
                (_, Some(Value::String(text))) => push(text),
                (_, None) => {
                    if let Item::String(text) = item {
                        push(text)
                    }
                }
                _ => {}
            }
        }
        SearchParamKind::Token => match (ty, node) {
            ("Coding", Some(v)) => coding(v, emit, extra),
            ("CodeableConcept", Some(v)) => {
                for c in v.get("coding").and_then(Value::as_array).into_iter().flatten() {
                    coding(c, emit, extra);
                }
                if let Some(text) = v.get("text").and_then(Value::as_str) {
                    extra("text", IndexValue::Token { system: None, code: normalize(text) });
                }
            }
            ("Identifier", Some(v)) => {
                if let Some(value) = s(v, "value") {
                    emit(IndexValue::Token { system: s(v, "system"), code: value.clone() });
                    for t in v.pointer("/type/coding").and_then(Value::as_array).into_iter().flatten() {
                        if let (Some(sys), Some(code)) = (s(t, "system"), s(t, "code")) {
                            extra("of-type", IndexValue::Token { system: Some(format!("{sys}|{code}")), code: value.clone() });
                        }
                    }
                }
                if let Some(text) = v.pointer("/type/text").and_then(Value::as_str) {
                    extra("text", IndexValue::Token { system: None, code: normalize(text) });
                }
            }
            ("ContactPoint", Some(v)) => {
                if let Some(value) = s(v, "value") {
                    emit(IndexValue::Token { system: None, code: value });
                }
            }
            (_, Some(Value::String(code))) => emit(IndexValue::Token { system: None, code: code.clone() }),
            (_, Some(Value::Bool(b))) => emit(IndexValue::Token { system: None, code: b.to_string() }),
            _ => {
                if let Item::Boolean(b) = item {
                    emit(IndexValue::Token { system: None, code: b.to_string() })
                }
            }
        },
        SearchParamKind::Reference => match (ty, node) {
            ("Reference", Some(v)) => {
                if let Some(r) = v.get("reference").and_then(Value::as_str) {
                    match reference::parse(r, None) {
                        Target::Local { resource_type, id, .. } => {
                            emit(IndexValue::Reference { target_type: Some(resource_type.to_owned()), target_id: Some(id.to_owned()), url: None })
                        }
                        Target::External(url) => emit(IndexValue::Reference { target_type: None, target_id: None, url: Some(url.to_owned()) }),
                        Target::Contained(_) | Target::Urn(_) | Target::Conditional { .. } => {}
                    }
                }
                if let Some(ident) = v.get("identifier") {
                    if let Some(value) = s(ident, "value") {
                        extra("identifier", IndexValue::Token { system: s(ident, "system"), code: value });
                    }
                }
            }
            (_, Some(Value::String(url))) => emit(IndexValue::Reference { target_type: None, target_id: None, url: Some(url.clone()) }),
            _ => {}
        },
        SearchParamKind::Date => match (ty, node) {
            ("Period", Some(v)) => {
                let low = v.get("start").and_then(Value::as_str).and_then(date_range).map(|r| r.0).unwrap_or(i64::MIN);
                let high = v.get("end").and_then(Value::as_str).and_then(date_range).map(|r| r.1).unwrap_or(i64::MAX);
                if v.get("start").is_some() || v.get("end").is_some() {
                    emit(IndexValue::Date { low, high });
                }
            }
            ("Timing", Some(v)) => {
                let ranges: Vec<(i64, i64)> =
                    v.get("event").and_then(Value::as_array).into_iter().flatten().filter_map(|e| e.as_str().and_then(date_range)).collect();
                if let (Some(low), Some(high)) = (ranges.iter().map(|r| r.0).min(), ranges.iter().map(|r| r.1).max()) {
                    emit(IndexValue::Date { low, high });
                }
            }
            (_, Some(Value::String(text))) => {
                if let Some((low, high)) = date_range(text) {
                    emit(IndexValue::Date { low, high });
                }
            }
            _ => {}
        },
        SearchParamKind::Number => {
            if let Some(Value::Number(n)) = node {
                if let Some((value, low, high)) = decimal_range(&n.to_string()) {
                    emit(IndexValue::Number { value, low, high });
                }
            }
        }
        SearchParamKind::Quantity => {
            if let Some(v) = node {
                if let Some((value, low, high)) = v.get("value").and_then(Value::as_number).and_then(|n| decimal_range(&n.to_string())) {
                    let (system, code) =
                        if ty == "Money" { (Some("urn:iso:std:iso:4217".to_owned()), s(v, "currency")) } else { (s(v, "system"), s(v, "code")) };
                    emit(IndexValue::Quantity { value, low, high, system, code, unit: s(v, "unit") });
                }
            }
        }
        SearchParamKind::Uri => {
            if let Some(Value::String(u)) = node {
                emit(IndexValue::Uri(u.clone()));
            }
        }
        SearchParamKind::Composite | SearchParamKind::Special => {}
    }
}

fn coding(v: &Value, emit: &mut dyn FnMut(IndexValue), extra: &mut dyn FnMut(&'static str, IndexValue)) {
    if let Some(code) = v.get("code").and_then(Value::as_str) {
        emit(IndexValue::Token { system: v.get("system").and_then(Value::as_str).map(str::to_owned), code: code.to_owned() });
    }
    if let Some(display) = v.get("display").and_then(Value::as_str) {
        extra("text", IndexValue::Token { system: None, code: normalize(display) });
    }
}

/// Pushes every string (or string in an array) under `keys` of a complex value.
fn strings_of(v: &Value, keys: &[&str], push: &mut dyn FnMut(&str)) {
    for k in keys {
        match v.get(*k) {
            Some(Value::String(s)) => push(s),
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).for_each(&mut *push),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn of<'a>(entries: &'a [IndexEntry], param: &str) -> Vec<&'a IndexValue> {
        entries.iter().filter(|e| e.param == param).map(|e| &e.value).collect()
    }

    #[test]
    fn patient_values() {
        let p = json!({"resourceType": "Patient", "id": "p", "meta": {"lastUpdated": "2024-01-01T00:00:00.000Z"},
            "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9990000018",
                "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "NH"}], "text": "NHS number"}}],
            "name": [{"family": "Åberg", "given": ["Ann", "Marie"]}], "gender": "female", "birthDate": "1940-05-17",
            "telecom": [{"system": "phone", "value": "020 7946 0000"}], "active": true,
            "generalPractitioner": [{"reference": "Organization/gp1"}],
            "address": [{"line": ["1 High Street"], "postalCode": "W1 1AA"}]});
        let e = extract(&p);
        assert_eq!(of(&e, "family"), vec![&IndexValue::String { norm: "aberg".into(), exact: "Åberg".into() }]);
        assert_eq!(of(&e, "given").len(), 2);
        assert_eq!(of(&e, "name").len(), 3);
        assert_eq!(of(&e, "gender"), vec![&IndexValue::Token { system: None, code: "female".into() }]);
        assert_eq!(of(&e, "active"), vec![&IndexValue::Token { system: None, code: "true".into() }]);
        assert_eq!(of(&e, "phone"), vec![&IndexValue::Token { system: None, code: "020 7946 0000".into() }]);
        assert!(matches!(of(&e, "birthdate")[0], IndexValue::Date { .. }));
        assert_eq!(
            of(&e, "general-practitioner"),
            vec![&IndexValue::Reference { target_type: Some("Organization".into()), target_id: Some("gp1".into()), url: None }]
        );
        assert_eq!(
            of(&e, "identifier:of-type"),
            vec![&IndexValue::Token { system: Some("http://terminology.hl7.org/CodeSystem/v2-0203|NH".into()), code: "9990000018".into() }]
        );
        assert_eq!(of(&e, "identifier:text"), vec![&IndexValue::Token { system: None, code: "nhs number".into() }]);
        assert_eq!(of(&e, "address-postalcode").len(), 1);
        assert!(matches!(of(&e, "_lastUpdated")[0], IndexValue::Date { .. }));
    }

    #[test]
    fn observation_values_and_composites_keep_pairs() {
        let o = json!({"resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9", "display": "Blood pressure"}]},
        "subject": {"reference": "Patient/p"}, "effectiveDateTime": "2024-03-01",
        "component": [
            {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]}, "valueQuantity": {"value": 140, "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}},
            {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]}, "valueQuantity": {"value": 90, "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}}
        ]});
        let e = extract(&o);
        assert_eq!(of(&e, "patient"), vec![&IndexValue::Reference { target_type: Some("Patient".into()), target_id: Some("p".into()), url: None }]);
        assert_eq!(of(&e, "code:text"), vec![&IndexValue::Token { system: None, code: "blood pressure".into() }]);
        let pairs: Vec<(String, f64)> = of(&e, "component-code-value-quantity")
            .into_iter()
            .filter_map(|v| match v {
                IndexValue::Composite { code, second, .. } => match second.as_ref() {
                    IndexValue::Quantity { value, .. } => Some((code.clone(), *value)),
                    _ => None,
                },
                _ => None,
            })
            .collect();
        assert_eq!(pairs, vec![("8480-6".to_owned(), 140.0), ("8462-4".to_owned(), 90.0)], "no cross pairs");
        assert_eq!(of(&e, "component-value-quantity").len(), 2);
    }
}
