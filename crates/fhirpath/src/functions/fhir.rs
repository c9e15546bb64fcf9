//! FHIR-specific and environment functions: type(), extension(url), hasValue(), getValue(),
//! resolve(), conformsTo(), memberOf(), and now()/today()/timeOfDay() from the environment's
//! clock.

use std::borrow::Cow;

use serde_json::Value;

use super::Ctx;
use crate::ast::Func;
use crate::error::EvalError;
use crate::eval::Items;
use crate::item::{Item, NULL};
use crate::model::{model, Model};
use crate::navigation::{self, resource_item};
use crate::operators::item_equal;

pub(super) fn call<'a>(cx: &Ctx<'_, 'a, '_>) -> Result<Items<'a>, EvalError> {
    let input = cx.input;
    Ok(match cx.call.func {
        Func::Type => input.iter().map(|i| Item::Type(i.type_info())).collect(),
        Func::Extension => {
            let Some(url) = cx.arg_string(0)? else {
                return Ok(Vec::new());
            };
            let url_item = Item::String(url);
            let mut exts = Vec::new();
            for item in input {
                navigation::member(item, "extension", &mut exts);
            }
            let mut out = Vec::new();
            for e in exts {
                let mut urls = Vec::new();
                navigation::member(&e, "url", &mut urls);
                if urls.iter().any(|u| item_equal(u, &url_item) == Some(true)) {
                    out.push(e);
                }
            }
            out
        }
        Func::HasValue => {
            let has = match input {
                [Item::Node { value, type_name, .. }] => {
                    !value.is_null() && type_name.as_deref().is_none_or(Model::is_primitive) && !value.is_object()
                }
                [_] => true,
                _ => false,
            };
            vec![Item::Boolean(has)]
        }
        Func::GetValue => match input {
            [item @ Item::Node { value, .. }] if !value.is_object() && !value.is_array() => {
                item.to_system().map(Cow::into_owned).into_iter().collect()
            }
            [Item::Node { .. }] => Vec::new(),
            [other] => vec![other.clone()],
            _ => Vec::new(),
        },
        Func::Resolve => {
            let mut out = Vec::new();
            for item in input {
                if let Some(r) = resolve(cx, item) {
                    out.push(r);
                }
            }
            out
        }
        Func::ConformsTo => {
            let Some(url) = cx.arg_string(0)? else {
                return Ok(Vec::new());
            };
            let base = "http://hl7.org/fhir/StructureDefinition/";
            let Some(name) = url.strip_prefix(base).and_then(|n| model().type_name(n)) else {
                return Err(EvalError::Unsupported(format!("conformsTo(): cannot check profile {url}")));
            };
            input.iter().map(|i| Item::Boolean(i.fhir_type().is_some_and(|t| model().is_subtype(t, name)))).collect()
        }
        Func::MemberOf => return Err(EvalError::Unsupported("memberOf() needs a terminology service".into())),
        Func::Now | Func::Today | Func::TimeOfDay => {
            let Some(now) = cx.ev.env.now else {
                return Err(EvalError::NoClock(cx.call.func.name()));
            };
            match cx.call.func {
                Func::Now => vec![Item::DateTime(now)],
                Func::Today => vec![Item::Date(now.date())],
                _ => now.time().map(Item::Time).into_iter().collect(),
            }
        }
        other => return Err(EvalError::Unsupported(format!("{}() is not a FHIR function", other.name()))),
    })
}

/// The reference text of a Reference node, or a uri/canonical string.
fn reference_text<'i>(item: &'i Item<'_>) -> Option<&'i str> {
    match item {
        Item::Node { value: Value::Object(o), .. } => o.get("reference").and_then(Value::as_str),
        other => other.as_str(),
    }
}

/// `Type/id` at the end of a relative or absolute reference (ignoring `/_history/n`).
fn type_and_id(reference: &str) -> Option<(&str, &str)> {
    let path = reference.split(['?', '#']).next()?;
    let segs: Vec<&str> = path.split('/').collect();
    let mut end = segs.len();
    if end >= 4 && segs[end - 2] == "_history" {
        end -= 2;
    }
    if end < 2 {
        return None;
    }
    let (ty, id) = (segs[end - 2], segs[end - 1]);
    (model().type_name(ty).is_some_and(|t| model().is_resource(t)) && !id.is_empty()).then_some((ty, id))
}

/// resolve(): contained resources, entries of the evaluated Bundle, the environment's
/// resolver, and failing those a content-less item typed from the reference (`Patient/123` →
/// a `Patient`), which is what `resolve() is Patient` needs for search indexing.
fn resolve<'a>(cx: &Ctx<'_, 'a, '_>, item: &Item<'a>) -> Option<Item<'a>> {
    let reference = reference_text(item)?;
    let root = cx.ev.root_json;
    if let Some(local) = reference.strip_prefix('#') {
        let contained = root.get("contained").and_then(Value::as_array)?;
        let found = contained.iter().find(|c| c.get("id").and_then(Value::as_str) == Some(local))?;
        let rt = found.get("resourceType").and_then(Value::as_str)?;
        return Some(resource_item(found, rt));
    }
    let tid = type_and_id(reference);
    if root.get("resourceType").and_then(Value::as_str) == Some("Bundle") {
        if let Some(entries) = root.get("entry").and_then(Value::as_array) {
            for e in entries {
                let Some(res) = e.get("resource") else {
                    continue;
                };
                let full_url = e.get("fullUrl").and_then(Value::as_str);
                let rt = res.get("resourceType").and_then(Value::as_str);
                let id = res.get("id").and_then(Value::as_str);
                let matches = full_url == Some(reference) || (tid.is_some() && tid == rt.zip(id));
                if matches {
                    return rt.map(|rt| resource_item(res, rt));
                }
            }
        }
    }
    if let Some(found) = cx.ev.env.resolver.and_then(|r| r.resolve(reference)) {
        if let Some(rt) = found.get("resourceType").and_then(Value::as_str) {
            return Some(resource_item(found, rt));
        }
    }
    let ty = match tid {
        Some((ty, _)) => ty,
        None => match item {
            Item::Node { value, .. } => value.get("type").and_then(Value::as_str)?,
            _ => return None,
        },
    };
    let m = model();
    let ty = m.type_name(ty)?;
    Some(Item::node(&NULL, Some(Cow::Borrowed(ty)), None, m.type_owner(ty)))
}
