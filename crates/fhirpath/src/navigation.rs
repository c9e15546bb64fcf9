//! Walking FHIR JSON with the type model: member access (`name`, choice elements such as
//! `value` → `valueQuantity`, primitives with their `_name` extensions, contained resources) and
//! the children of a node.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::item::{Item, NodeInfo, NULL};
use crate::model::{model, ElementKind, Model, OwnerId, Target};

/// The item for a resource (typed by `resourceType`) or `None` for JSON `null`.
pub(crate) fn root_item(v: &Value) -> Option<Item<'_>> {
    match v {
        Value::Null => None,
        Value::Object(o) => Some(match o.get("resourceType").and_then(Value::as_str) {
            Some(rt) => resource_item(v, rt),
            None => Item::Node { value: v, type_name: None, info: NodeInfo::default() },
        }),
        _ => Some(Item::Node { value: v, type_name: None, info: NodeInfo::default() }),
    }
}

/// A node typed as the named resource type.
pub(crate) fn resource_item<'a>(v: &'a Value, rt: &str) -> Item<'a> {
    let m = model();
    match m.type_name(rt) {
        Some(t) => Item::node(v, Some(Cow::Borrowed(t)), None, m.type_owner(t)),
        None => Item::node(v, Some(Cow::Owned(rt.to_owned())), None, None),
    }
}

fn underscore_key(name: &str) -> String {
    let mut k = String::with_capacity(name.len() + 1);
    k.push('_');
    k.push_str(name);
    k
}

/// Pushes the node(s) of one JSON entry (a value, an array, with its `_key` extension
/// sibling) with the given type.
fn push_values<'a>(value: Option<&'a Value>, ext: Option<&'a Value>, target: Option<&Target>, out: &mut Vec<Item<'a>>) {
    let make = |v: &'a Value, e: Option<&'a Value>| -> Option<Item<'a>> {
        if v.is_null() && e.is_none_or(Value::is_null) {
            return None;
        }
        let e = e.filter(|x| !x.is_null());
        Some(match target {
            Some(t) if t.ty == "Resource" => match v.get("resourceType").and_then(Value::as_str) {
                Some(rt) => resource_item(v, rt),
                None => Item::node(v, Some(Cow::Borrowed(t.ty)), e, None),
            },
            Some(t) => Item::node(v, Some(Cow::Borrowed(t.ty)), e, t.owner),
            None => match v.get("resourceType").and_then(Value::as_str) {
                Some(rt) if v.is_object() => resource_item(v, rt),
                _ => Item::node(v, None, e, None),
            },
        })
    };
    match (value, ext) {
        (Some(Value::Array(vs)), ext) => {
            let exts = ext.and_then(Value::as_array);
            for (i, v) in vs.iter().enumerate() {
                if let Some(item) = make(v, exts.and_then(|e| e.get(i))) {
                    out.push(item);
                }
            }
        }
        (Some(v), ext) => {
            if let Some(item) = make(v, ext) {
                out.push(item);
            }
        }
        (None, Some(Value::Array(es))) => {
            for e in es {
                if let Some(item) = make(&NULL, Some(e)) {
                    out.push(item);
                }
            }
        }
        (None, Some(e)) => {
            if let Some(item) = make(&NULL, Some(e)) {
                out.push(item);
            }
        }
        (None, None) => {}
    }
}

/// The object holding a node's children: the node itself, or for a primitive its `_name`
/// extension object.
fn child_object<'a>(value: &'a Value, type_name: Option<&str>, info: &NodeInfo<'a>) -> Option<&'a Map<String, Value>> {
    match type_name {
        Some(t) if Model::is_primitive(t) => info.ext.and_then(Value::as_object),
        _ => value.as_object().or_else(|| info.ext.and_then(Value::as_object)),
    }
}

/// `item.name`: appends the matching children to `out`. Returns whether the item's type has
/// such an element (always true for untyped JSON), for strict mode.
pub(crate) fn member<'a>(item: &Item<'a>, name: &str, out: &mut Vec<Item<'a>>) -> bool {
    let (value, type_name, info) = match item {
        Item::Node { value, type_name, info } => (*value, type_name.as_deref(), info),
        Item::Type(t) => {
            match name {
                "namespace" => out.push(Item::String(t.namespace.to_owned())),
                "name" => out.push(Item::String(t.name.to_string())),
                _ => return false,
            }
            return true;
        }
        _ => return false,
    };
    let m = model();
    // A type name selects the item itself when it is of that type: `Patient.name`.
    if name.as_bytes().first().is_some_and(u8::is_ascii_uppercase) {
        if let Some(t) = type_name {
            if m.is_subtype(t, name) {
                out.push(item.clone());
                return true;
            }
        }
        if m.type_name(name).is_some() {
            return false;
        }
    }
    if type_name.is_some_and(Model::is_primitive) {
        // Primitives have only `id` and `extension`, held in the `_name` object.
        if !primitive_child(name) {
            return false;
        }
        let Some(obj) = info.ext.and_then(Value::as_object) else {
            return true;
        };
        let target = if name == "extension" { extension_target() } else { None };
        push_values(obj.get(name), None, target, out);
        return true;
    }
    let element = info.owner.and_then(|o| m.element(o, name));
    let defined = element.is_some() || info.owner.is_none();
    let Some(obj) = child_object(value, type_name, info) else {
        return defined;
    };
    match element {
        Some(el) => match &el.kind {
            ElementKind::Single(target) => {
                let ext = if Model::is_primitive(target.ty) { obj.get(&underscore_key(name)) } else { None };
                push_values(obj.get(name), ext, Some(target), out);
            }
            ElementKind::Choice(alts) => {
                for (key, v) in obj {
                    let Some(suffix) = key.strip_prefix(name) else {
                        continue;
                    };
                    if !suffix.as_bytes().first().is_some_and(u8::is_ascii_uppercase) {
                        continue;
                    }
                    if let Some((_, target)) = alts.iter().find(|(s, _)| *s == suffix) {
                        let ext = if Model::is_primitive(target.ty) { obj.get(&underscore_key(key)) } else { None };
                        push_values(Some(v), ext, Some(target), out);
                    }
                }
                // A primitive choice with only an extension: `_valueString`.
                for (key, e) in obj {
                    let Some(rest) = key.strip_prefix('_').and_then(|k| k.strip_prefix(name)) else {
                        continue;
                    };
                    if obj.contains_key(&key[1..]) || !rest.as_bytes().first().is_some_and(u8::is_ascii_uppercase) {
                        continue;
                    }
                    if let Some((_, target)) = alts.iter().find(|(s, _)| *s == rest) {
                        push_values(None, Some(e), Some(target), out);
                    }
                }
            }
        },
        None => {
            // Unknown to the model (or a choice spelled out, `valueQuantity`): plain JSON,
            // typed when the key is a known choice alternative.
            let target = lookup(m, info.owner, name);
            let ext = obj.get(&underscore_key(name));
            push_values(obj.get(name), ext, target, out);
        }
    }
    defined
}

fn primitive_child(name: &str) -> bool {
    name == "extension" || name == "id"
}

fn extension_target() -> Option<&'static Target> {
    static EXT: std::sync::OnceLock<Option<Target>> = std::sync::OnceLock::new();
    EXT.get_or_init(|| {
        let m = model();
        m.type_name("Extension").map(|t| Target { ty: t, owner: m.type_owner(t) })
    })
    .as_ref()
}

/// `children()`: every child node, in document order.
pub(crate) fn children<'a>(item: &Item<'a>, out: &mut Vec<Item<'a>>) {
    let Item::Node { value, type_name, info } = item else {
        return;
    };
    let type_name = type_name.as_deref();
    let Some(obj) = child_object(value, type_name, info) else {
        return;
    };
    let m = model();
    let primitive = type_name.is_some_and(Model::is_primitive);
    for (key, v) in obj {
        if key == "resourceType" {
            continue;
        }
        if let Some(base) = key.strip_prefix('_') {
            // Extension-only primitives; the others are visited with their value.
            if !obj.contains_key(base) {
                let target = lookup(m, info.owner, base);
                push_values(None, Some(v), target, out);
            }
            continue;
        }
        if primitive {
            let target = if key == "extension" { extension_target() } else { None };
            push_values(Some(v), None, target, out);
            continue;
        }
        let target = lookup(m, info.owner, key);
        let ext = match target {
            Some(t) if Model::is_primitive(t.ty) => obj.get(&underscore_key(key)),
            None => obj.get(&underscore_key(key)),
            _ => None,
        };
        push_values(Some(v), ext, target, out);
    }
}

fn lookup<'m>(m: &'m Model, owner: Option<OwnerId>, key: &str) -> Option<&'m Target> {
    owner.and_then(|o| m.element_for_key(o, key)).map(|(_, t)| t)
}
