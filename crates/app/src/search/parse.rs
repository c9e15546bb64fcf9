//! Parsing FHIR search parameters into the store's query model: prefixes, modifiers, OR values, chains and
//! `_has`, and the result parameters (`_sort`, `_count`, `_include`, `_total`, `_summary`, `_elements`,
//! cursors). Unknown parameters are reported (lenient) or refused (strict); a value that cannot be parsed is
//! always refused, so that it never matches everything.

use crate::error::AppError;
use crate::limits::{exceeded, Limits};
use crate::record::Handling;
use fhir::definitions::{self, SearchParamKind};
use fhir::search::value::{date_range, decimal_range, normalize};
use fhir::{Issue, IssueCode, IssueSeverity};
use serde_json::Value;
use store::search::{IndexTable, Predicate, RangeOp, SortKey, StringMode, Test, UriMode};

/// `_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Total {
    #[default]
    None,
    Estimate,
    Accurate,
}

/// `_summary`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Summary {
    #[default]
    False,
    True,
    Text,
    Data,
    Count,
}

/// Where a page starts.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Cursor {
    #[default]
    Start,
    After(Vec<Value>),
    Before(Vec<Value>),
}

/// `_include` / `_revinclude`: resources of `source_type` pointing through `param` (all reference
/// parameters when `None`), optionally only at `target_type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Include {
    pub source_type: String,
    pub param: Option<String>,
    pub target_type: Option<String>,
    pub iterate: bool,
}

/// A parsed search request.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    pub filters: Vec<Vec<Predicate>>,
    pub sort: Vec<SortKey>,
    pub count: usize,
    pub cursor: Cursor,
    pub includes: Vec<Include>,
    pub revincludes: Vec<Include>,
    pub total: Total,
    pub summary: Summary,
    pub elements: Option<Vec<String>>,
    pub warnings: Vec<Issue>,
    /// `_type` of a system-level search.
    pub types: Option<Vec<String>>,
    /// The parameters that were applied, for the `self` link.
    pub applied: Vec<(String, String)>,
    /// The Patient whose record a compartment search serves (the store filters on its person key).
    pub person: Option<String>,
}

/// What the parser needs from its surroundings.
pub struct Context<'a> {
    pub base_url: &'a str,
    pub handling: Handling,
    pub limits: &'a Limits,
    /// Now, in milliseconds, for `ap` (approximately).
    pub now_ms: i64,
}

/// Parameters that shape results rather than select them.
const RESULT_PARAMS: &[&str] = &["_count", "_sort", "_total", "_summary", "_elements", "_cursor", "_before", "_format", "_pretty", "_type"];

pub fn parse(resource_type: &str, params: &[(String, String)], ctx: &Context<'_>) -> Result<Parsed, AppError> {
    check_size(params, ctx.limits)?;
    let limits = ctx.limits;
    let mut out = Parsed { count: limits.default_count, ..Default::default() };
    let mut values = 0usize;
    for (name, value) in params {
        let kept = match name.as_str() {
            "_count" => {
                let n: usize = value.parse().map_err(|_| bad(name, format!("_count '{value}' is not a whole number")))?;
                out.count = n.min(limits.max_count);
                true
            }
            "_sort" => {
                let items: Vec<&str> = value.split(',').collect();
                if items.len() > limits.max_search_params {
                    return Err(exceeded("max_search_params", limits.max_search_params, format!("_sort has {} keys", items.len()), Some(name)));
                }
                for item in items {
                    let (descending, code) = match item.strip_prefix('-') {
                        Some(c) => (true, c),
                        None => (false, item),
                    };
                    match sort_key(resource_type, code, descending) {
                        Some(k) => out.sort.push(k),
                        None => unknown(ctx, &mut out.warnings, name, format!("cannot sort {resource_type} by '{code}'"))?,
                    }
                }
                true
            }
            "_total" => {
                out.total = match value.as_str() {
                    "none" => Total::None,
                    "estimate" => Total::Estimate,
                    "accurate" => Total::Accurate,
                    _ => return Err(bad(name, format!("_total must be none, estimate or accurate, not '{value}'"))),
                };
                true
            }
            "_summary" => {
                out.summary = summary(value).ok_or_else(|| bad(name, format!("_summary must be true, false, text, data or count, not '{value}'")))?;
                true
            }
            "_elements" => {
                out.elements = Some(elements(value));
                true
            }
            "_cursor" | "_before" => {
                let keys: Vec<Value> = serde_json::from_str(value).map_err(|_| bad(name, "the paging cursor is not valid".into()))?;
                out.cursor = if name == "_cursor" { Cursor::After(keys) } else { Cursor::Before(keys) };
                false
            }
            "_format" | "_pretty" => false,
            "_type" => {
                let mut types: Vec<String> = Vec::new();
                for t in value.split(',') {
                    if !definitions::is_resource_type(t) {
                        return Err(bad(name, format!("'{t}' is not a FHIR R4 resource type")));
                    }
                    if !types.iter().any(|seen| seen == t) {
                        types.push(t.to_owned());
                    }
                }
                out.types = Some(types);
                true
            }
            n if n == "_include" || n == "_revinclude" || n.starts_with("_include:") || n.starts_with("_revinclude:") => {
                let (kind, modifier) = n.split_once(':').unwrap_or((n, ""));
                let iterate = matches!(modifier, "iterate" | "recurse");
                if !modifier.is_empty() && !iterate {
                    unknown(ctx, &mut out.warnings, name, format!("unknown modifier '{modifier}' of {kind}"))?;
                    continue;
                }
                match include(resource_type, value, iterate, kind == "_revinclude") {
                    Ok(inc) if kind == "_include" => out.includes.push(inc),
                    Ok(inc) => out.revincludes.push(inc),
                    Err(why) => unknown(ctx, &mut out.warnings, name, why)?,
                }
                true
            }
            _ => match predicates(resource_type, name, value, ctx)? {
                Some(group) => {
                    values += group.len();
                    if values > limits.max_search_values {
                        return Err(exceeded("max_search_values", limits.max_search_values, "the search has too many values in all", Some(name)));
                    }
                    out.filters.push(group);
                    true
                }
                None => false,
            },
        };
        if kept {
            out.applied.push((name.clone(), value.clone()));
        } else if !RESULT_PARAMS.contains(&name.as_str()) && !name.starts_with("_include") && !name.starts_with("_revinclude") {
            unknown(ctx, &mut out.warnings, name, format!("unknown search parameter '{name}' for {resource_type}"))?;
        }
    }
    Ok(out)
}

/// The bounds that can be checked before anything is parsed: the query's size, how many parameters and
/// includes it has, and how deep its chains go.
fn check_size(params: &[(String, String)], limits: &Limits) -> Result<(), AppError> {
    let bytes: usize = params.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
    if bytes > limits.max_query_bytes {
        return Err(exceeded("max_query_bytes", limits.max_query_bytes, format!("the search query is {bytes} bytes long"), None));
    }
    let is_include = |k: &str| k.starts_with("_include") || k.starts_with("_revinclude");
    let includes = params.iter().filter(|(k, _)| is_include(k)).count();
    if includes > limits.max_include_params {
        return Err(exceeded(
            "max_include_params",
            limits.max_include_params,
            format!("the search has {includes} _include and _revinclude parameters"),
            None,
        ));
    }
    let filters = params.iter().filter(|(k, _)| !RESULT_PARAMS.contains(&k.as_str()) && !is_include(k)).count();
    if filters > limits.max_search_params {
        return Err(exceeded("max_search_params", limits.max_search_params, format!("the search has {filters} parameters"), None));
    }
    for (name, _) in params {
        let depth = name.matches('.').count() + name.matches("_has:").count();
        if depth > limits.max_chain_depth {
            return Err(exceeded(
                "max_chain_depth",
                limits.max_chain_depth,
                format!("the parameter chains {depth} deep"),
                Some(&name[..name.len().min(64)]),
            ));
        }
    }
    Ok(())
}

/// A `_summary` value.
pub fn summary(value: &str) -> Option<Summary> {
    Some(match value {
        "true" => Summary::True,
        "false" => Summary::False,
        "text" => Summary::Text,
        "data" => Summary::Data,
        "count" => Summary::Count,
        _ => return None,
    })
}

/// The element names of `_elements`.
pub fn elements(value: &str) -> Vec<String> {
    value.split(',').map(|e| e.trim().to_owned()).filter(|e| !e.is_empty()).collect()
}

fn bad(name: &str, msg: String) -> AppError {
    AppError::bad_request(IssueCode::Value, msg, Some(name))
}

/// Lenient: a warning for the OperationOutcome in the Bundle. Strict: the request is refused.
fn unknown(ctx: &Context<'_>, warnings: &mut Vec<Issue>, name: &str, why: String) -> Result<(), AppError> {
    let issue = Issue::warning(IssueCode::NotSupported, format!("{why}; it was ignored")).at(name);
    if ctx.handling == Handling::Strict {
        return Err(AppError::BadRequest(vec![Issue { severity: IssueSeverity::Error, diagnostics: why, ..issue }]));
    }
    warnings.push(issue);
    Ok(())
}

fn sort_key(resource_type: &str, code: &str, descending: bool) -> Option<SortKey> {
    if code == "_id" {
        return Some(SortKey { param: None, table: IndexTable::Token, descending });
    }
    let kind = fhir::search::param_of(resource_type, code)?.param.kind;
    let table = table_of(kind)?;
    if table == IndexTable::Composite {
        return None;
    }
    Some(SortKey { param: Some(code.to_owned()), table, descending })
}

fn table_of(kind: SearchParamKind) -> Option<IndexTable> {
    Some(match kind {
        SearchParamKind::Token => IndexTable::Token,
        SearchParamKind::String => IndexTable::String,
        SearchParamKind::Reference => IndexTable::Reference,
        SearchParamKind::Date => IndexTable::Date,
        SearchParamKind::Number => IndexTable::Number,
        SearchParamKind::Quantity => IndexTable::Quantity,
        SearchParamKind::Uri => IndexTable::Uri,
        SearchParamKind::Composite => IndexTable::Composite,
        SearchParamKind::Special => return None,
    })
}

fn include(resource_type: &str, value: &str, iterate: bool, reverse: bool) -> Result<Include, String> {
    if value == "*" {
        return Ok(Include { source_type: resource_type.to_owned(), param: None, target_type: None, iterate });
    }
    let parts: Vec<&str> = value.split(':').collect();
    let (source, param, target) = match parts.as_slice() {
        [s, p] => (*s, *p, None),
        [s, p, t] => (*s, *p, Some(t.to_string())),
        _ => return Err(format!("'{value}' is not Type:parameter[:targetType]")),
    };
    if !definitions::is_resource_type(source) {
        return Err(format!("'{source}' is not a resource type"));
    }
    if !reverse && !iterate && source != resource_type {
        return Err(format!("_include={value} names {source}, but the search is for {resource_type}"));
    }
    if let Some(t) = &target {
        if !definitions::is_resource_type(t) {
            return Err(format!("'{t}' is not a resource type"));
        }
    }
    if param == "*" {
        return Ok(Include { source_type: source.to_owned(), param: None, target_type: target, iterate });
    }
    match fhir::search::param_of(source, param) {
        Some(c) if c.param.kind == SearchParamKind::Reference => {
            Ok(Include { source_type: source.to_owned(), param: Some(param.to_owned()), target_type: target, iterate })
        }
        _ => Err(format!("{source} has no reference parameter '{param}'")),
    }
}

/// The OR-group of predicates for one `name=value`; `None` when the parameter is not known (the caller
/// reports it).
fn predicates(resource_type: &str, name: &str, value: &str, ctx: &Context<'_>) -> Result<Option<Vec<Predicate>>, AppError> {
    if let Some(rest) = name.strip_prefix("_has:") {
        let parts: Vec<&str> = rest.splitn(3, ':').collect();
        let [source, reference_param, inner_name] = parts.as_slice() else {
            return Err(bad(name, "_has needs the form _has:Type:reference:parameter".into()));
        };
        if !definitions::is_resource_type(source) {
            return Err(bad(name, format!("'{source}' in _has is not a resource type")));
        }
        match fhir::search::param_of(source, reference_param) {
            Some(c) if c.param.kind == SearchParamKind::Reference => {}
            _ => return Ok(None),
        }
        let Some(inner) = predicates(source, inner_name, value, ctx)? else { return Ok(None) };
        return Ok(Some(
            inner
                .into_iter()
                .map(|p| Predicate {
                    param: "_has".into(),
                    test: Test::Has { source_type: source.to_string(), reference_param: reference_param.to_string(), inner: Box::new(p) },
                })
                .collect(),
        ));
    }
    if let Some((link, rest)) = name.split_once('.') {
        let (code, type_modifier) = match link.split_once(':') {
            Some((c, t)) => (c, Some(t)),
            None => (link, None),
        };
        let Some(c) = fhir::search::param_of(resource_type, code).filter(|c| c.param.kind == SearchParamKind::Reference) else {
            return Ok(None);
        };
        let candidates: Vec<String> = match type_modifier {
            Some(t) if definitions::is_resource_type(t) => vec![t.to_owned()],
            Some(t) => return Err(bad(name, format!("'{t}' is not a resource type"))),
            None if c.param.target.is_empty() => definitions::resource_types().map(str::to_owned).collect(),
            None => c.param.target.clone(),
        };
        let inner_code = rest.split(['.', ':']).next().unwrap_or(rest);
        let targets: Vec<String> = candidates
            .into_iter()
            .filter(|t| inner_code == "_id" || rest.starts_with("_has:") || fhir::search::param_of(t, inner_code).is_some())
            .collect();
        let Some(first) = targets.first() else { return Ok(None) };
        let Some(inner) = predicates(first, rest, value, ctx)? else { return Ok(None) };
        return Ok(Some(
            inner
                .into_iter()
                .map(|p| Predicate { param: code.to_owned(), test: Test::Chain { target_types: targets.clone(), inner: Box::new(p) } })
                .collect(),
        ));
    }
    let (code, modifier) = match name.split_once(':') {
        Some((c, m)) => (c, Some(m)),
        None => (name, None),
    };
    if code == "_id" {
        if modifier.is_some() {
            return Ok(None);
        }
        let mut group = Vec::new();
        for v in or_values(name, value, ctx.limits)? {
            let id = unescape(&v);
            if !fhir::id::is_valid_id(&id) {
                return Err(bad(name, format!("'{id}' is not a valid resource id")));
            }
            group.push(Predicate { param: "_id".into(), test: Test::Id(id) });
        }
        return Ok(Some(group));
    }
    let Some(compiled) = fhir::search::param_of(resource_type, code) else { return Ok(None) };
    let kind = compiled.param.kind;
    if modifier == Some("missing") {
        let missing = match value {
            "true" => true,
            "false" => false,
            _ => return Err(bad(name, format!(":missing takes true or false, not '{value}'"))),
        };
        let Some(table) = table_of(kind) else { return Ok(None) };
        return Ok(Some(vec![Predicate { param: code.to_owned(), test: Test::Missing { missing, table } }]));
    }
    let values = or_values(name, value, ctx.limits)?;
    if values.iter().any(String::is_empty) {
        return Err(bad(name, format!("search parameter '{name}' has an empty value")));
    }
    let mut group = Vec::new();
    for v in values {
        let Some(p) = one(compiled, code, modifier, &v, ctx).map_err(|msg| bad(name, msg))? else { return Ok(None) };
        group.push(p);
    }
    Ok(Some(group))
}

/// The comma-separated values of one parameter, at most `max_or_values` of them.
fn or_values(name: &str, value: &str, limits: &Limits) -> Result<Vec<String>, AppError> {
    let values = split_unescaped(value, ',');
    if values.len() > limits.max_or_values {
        return Err(exceeded("max_or_values", limits.max_or_values, format!("search parameter '{name}' has {} values", values.len()), Some(name)));
    }
    Ok(values)
}

/// One value of one parameter. `Ok(None)`: the modifier is not supported.
fn one(compiled: &fhir::search::Compiled, code: &str, modifier: Option<&str>, v: &str, ctx: &Context<'_>) -> Result<Option<Predicate>, String> {
    let param = |p: String, test: Test| Ok(Some(Predicate { param: p, test }));
    let p = compiled.param;
    match (p.kind, modifier) {
        (SearchParamKind::Token, None | Some("not")) => {
            let test = token(v)?;
            let Test::Token { system, code: c, .. } = test else { return Err("invariant".into()) };
            param(code.to_owned(), Test::Token { system, code: c, negate: modifier == Some("not") })
        }
        (SearchParamKind::Token, Some("text")) => param(format!("{code}:text"), Test::TokenText(normalize(&unescape(v)))),
        (SearchParamKind::Token, Some("of-type")) => {
            let parts = split_unescaped(v, '|');
            let [s, c, value] = parts.as_slice() else { return Err(format!("'{v}' is not system|code|value")) };
            if s.is_empty() || c.is_empty() || value.is_empty() {
                return Err(format!("'{v}' is not system|code|value"));
            }
            param(
                format!("{code}:of-type"),
                Test::Token { system: Some(Some(format!("{}|{}", unescape(s), unescape(c)))), code: Some(unescape(value)), negate: false },
            )
        }
        (SearchParamKind::String, None) => param(code.to_owned(), Test::String { value: normalize(&unescape(v)), mode: StringMode::StartsWith }),
        (SearchParamKind::String, Some("contains")) => {
            param(code.to_owned(), Test::String { value: normalize(&unescape(v)), mode: StringMode::Contains })
        }
        (SearchParamKind::String, Some("exact")) => param(code.to_owned(), Test::String { value: unescape(v), mode: StringMode::Exact }),
        (SearchParamKind::Reference, Some("identifier")) => {
            let Test::Token { system, code: c, .. } = token(v)? else { return Err("invariant".into()) };
            param(format!("{code}:identifier"), Test::Token { system, code: c, negate: false })
        }
        (SearchParamKind::Reference, m) => {
            let type_modifier = match m {
                None => None,
                Some(t) if definitions::is_resource_type(t) => Some(t.to_owned()),
                Some(_) => return Ok(None),
            };
            param(code.to_owned(), reference(&unescape(v), type_modifier, &p.target, ctx.base_url)?)
        }
        (SearchParamKind::Date, None) => {
            let (op, rest) = prefix(v);
            let (low, high) = date_range(rest).ok_or_else(|| format!("'{rest}' is not a FHIR date, dateTime or instant"))?;
            let test = match op {
                Some(RangeOp::Overlaps) => {
                    let mid = low / 2 + high / 2;
                    let gap = ((ctx.now_ms - mid).abs() / 10).max(high - low);
                    Test::Date { op: RangeOp::Overlaps, low: low.saturating_sub(gap), high: high.saturating_add(gap) }
                }
                op => Test::Date { op: op.unwrap_or(RangeOp::Eq), low, high },
            };
            param(code.to_owned(), test)
        }
        (SearchParamKind::Number, None) => {
            let (op, rest) = prefix(v);
            let (value, low, high) = decimal_range(rest).ok_or_else(|| format!("'{rest}' is not a number"))?;
            let (op, low, high) = approximate(op, value, low, high);
            param(code.to_owned(), Test::Number { op, value, low, high })
        }
        (SearchParamKind::Quantity, None) => param(code.to_owned(), quantity(v)?),
        (SearchParamKind::Uri, None) => param(code.to_owned(), Test::Uri { value: unescape(v), mode: UriMode::Exact }),
        (SearchParamKind::Uri, Some("below")) => param(code.to_owned(), Test::Uri { value: unescape(v), mode: UriMode::Below }),
        (SearchParamKind::Uri, Some("above")) => param(code.to_owned(), Test::Uri { value: unescape(v), mode: UriMode::Above }),
        (SearchParamKind::Composite, None) => {
            let parts = split_unescaped(v, '$');
            let [first, second] = parts.as_slice() else { return Err(format!("'{v}' is not two values joined by '$'")) };
            let Test::Token { system, code: Some(c), .. } = token(first)? else { return Err(format!("'{first}' needs a code")) };
            let second = match compiled.component_kinds().get(1) {
                Some(SearchParamKind::Token) => token(second)?,
                Some(SearchParamKind::Quantity) => quantity(second)?,
                Some(SearchParamKind::Date) => {
                    let (op, rest) = prefix(second);
                    let (low, high) = date_range(rest).ok_or_else(|| format!("'{rest}' is not a date"))?;
                    Test::Date { op: op.unwrap_or(RangeOp::Eq), low, high }
                }
                _ => return Ok(None),
            };
            param(code.to_owned(), Test::Composite { system, code: c, second: Box::new(second) })
        }
        _ => Ok(None),
    }
}

/// `code`, `system|code`, `|code` or `system|`.
fn token(v: &str) -> Result<Test, String> {
    let parts = split_unescaped(v, '|');
    let (system, code) = match parts.as_slice() {
        [c] => (None, Some(unescape(c))),
        [s, c] if s.is_empty() && c.is_empty() => return Err(format!("'{v}' has neither a system nor a code")),
        [s, c] if s.is_empty() => (Some(None), Some(unescape(c))),
        [s, c] if c.is_empty() => (Some(Some(unescape(s))), None),
        [s, c] => (Some(Some(unescape(s))), Some(unescape(c))),
        _ => return Err(format!("'{v}' has more than one '|'")),
    };
    Ok(Test::Token { system, code, negate: false })
}

/// `[prefix]number[|system|code]` (`number||unit` matches the code or the unit).
fn quantity(v: &str) -> Result<Test, String> {
    let (op, rest) = prefix(v);
    let parts = split_unescaped(rest, '|');
    let (number, system, code) = match parts.as_slice() {
        [n] => (n.clone(), None, None),
        [n, s, c] => (n.clone(), Some(unescape(s)).filter(|s| !s.is_empty()), Some(unescape(c)).filter(|c| !c.is_empty())),
        _ => return Err(format!("'{v}' is not number|system|code")),
    };
    let (value, low, high) = decimal_range(&number).ok_or_else(|| format!("'{number}' is not a number"))?;
    let (op, low, high) = approximate(op, value, low, high);
    Ok(Test::Quantity { op, value, low, high, system, code })
}

/// `ap` on numbers: within 10% of the value (or its precision, if wider).
fn approximate(op: Option<RangeOp>, value: f64, low: f64, high: f64) -> (RangeOp, f64, f64) {
    match op {
        Some(RangeOp::Overlaps) => {
            let gap = (value.abs() / 10.0).max(high - value);
            (RangeOp::Overlaps, value - gap, value + gap)
        }
        op => (op.unwrap_or(RangeOp::Eq), low, high),
    }
}

fn reference(v: &str, type_modifier: Option<String>, targets: &[String], base_url: &str) -> Result<Test, String> {
    let local = v.strip_prefix(base_url).and_then(|r| r.strip_prefix('/')).unwrap_or(v);
    if local.contains("://") || local.starts_with("urn:") {
        return Ok(Test::ReferenceUrl(v.to_owned()));
    }
    let parts: Vec<&str> = local.split('/').collect();
    let (t, id) = match parts.as_slice() {
        [id] => (type_modifier.or_else(|| if targets.len() == 1 { targets.first().cloned() } else { None }), *id),
        [t, id] | [t, id, "_history", _] => {
            if !definitions::is_resource_type(t) {
                return Err(format!("'{t}' is not a resource type"));
            }
            if type_modifier.as_deref().is_some_and(|m| m != *t) {
                return Err(format!("'{v}' does not match the type modifier"));
            }
            (Some((*t).to_owned()), *id)
        }
        _ => return Err(format!("'{v}' is not a reference (id, Type/id or a URL)")),
    };
    if !fhir::id::is_valid_id(id) {
        return Err(format!("'{id}' is not a valid resource id"));
    }
    Ok(Test::Reference { target_type: t, target_id: id.to_owned() })
}

/// Splits off a search prefix (`ge2024` → Ge, `2024`).
fn prefix(v: &str) -> (Option<RangeOp>, &str) {
    let op = match v.get(..2) {
        Some("eq") => RangeOp::Eq,
        Some("ne") => RangeOp::Ne,
        Some("gt") => RangeOp::Gt,
        Some("lt") => RangeOp::Lt,
        Some("ge") => RangeOp::Ge,
        Some("le") => RangeOp::Le,
        Some("sa") => RangeOp::Sa,
        Some("eb") => RangeOp::Eb,
        Some("ap") => RangeOp::Overlaps,
        _ => return (None, v),
    };
    (Some(op), &v[2..])
}

/// Splits on `sep` where it is not escaped by a backslash; escapes stay in the parts.
fn split_unescaped(s: &str, sep: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut escaped = false;
    for ch in s.chars() {
        let last = parts.last_mut().expect("invariant: parts is never empty");
        if escaped {
            last.push('\\');
            last.push(ch);
            escaped = false;
        } else if ch == '\\' {
            escaped = true;
        } else if ch == sep {
            parts.push(String::new());
        } else {
            last.push(ch);
        }
    }
    if escaped {
        parts.last_mut().expect("invariant: parts is never empty").push('\\');
    }
    parts
}

/// Removes search escapes (`\,`, `\|`, `\$`, `\\`).
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
                continue;
            }
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_prefixes() {
        assert_eq!(split_unescaped(r"a,b\,c,d", ','), vec!["a", r"b\,c", "d"]);
        assert_eq!(unescape(r"b\,c"), "b,c");
        assert_eq!(prefix("ge2024"), (Some(RangeOp::Ge), "2024"));
        assert_eq!(prefix("2024"), (None, "2024"));
        assert_eq!(token("s|c"), Ok(Test::Token { system: Some(Some("s".into())), code: Some("c".into()), negate: false }));
        assert_eq!(token("|c"), Ok(Test::Token { system: Some(None), code: Some("c".into()), negate: false }));
        assert_eq!(token("s|"), Ok(Test::Token { system: Some(Some("s".into())), code: None, negate: false }));
        assert!(token("|").is_err());
    }
}
