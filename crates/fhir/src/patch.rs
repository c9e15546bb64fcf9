//! FHIRPath Patch: a Parameters resource of `operation`s (add, insert, delete, replace, move), each naming
//! its place with a FHIRPath expression, parsed and then applied to a resource's JSON, all or nothing.
//!
//! A node the expression selects is found in the JSON by its address (the evaluator hands out references
//! into the resource), so that the change is made exactly where the expression pointed; what a new element
//! holds, and whether it repeats, comes from the element definitions.

use crate::definitions::{Child, Shape};
use crate::outcome::{Issue, IssueCode};
use fhirpath::{Expr, Item};
use serde_json::{Map, Value};
use std::sync::Arc;

/// One operation of a FHIRPath Patch.
#[derive(Debug, Clone)]
pub struct Operation {
    /// Its position among the Parameters' `parameter`s, for messages.
    at: usize,
    kind: Kind,
    path: Arc<Expr>,
}

#[derive(Debug, Clone)]
enum Kind {
    Add { name: String, value: PatchValue },
    Insert { value: PatchValue, index: usize },
    Delete,
    Replace { value: PatchValue },
    Move { source: usize, destination: usize },
}

/// A value to put in: a typed value (`valueDate`, `valueHumanName`: the type code and its JSON), or the
/// parts of an anonymous (backbone) element.
#[derive(Debug, Clone)]
enum PatchValue {
    Typed { type_code: String, json: Value },
    Parts(Vec<(String, PatchValue)>),
}

/// A FHIRPath Patch, in the order its operations apply.
#[derive(Debug, Clone)]
pub struct FhirPathPatch {
    operations: Vec<Operation>,
}

/// Whether a body is a FHIRPath Patch (a Parameters resource) rather than a JSON Patch (an array).
pub fn is_fhirpath_patch(body: &Value) -> bool {
    body.get("resourceType").and_then(Value::as_str) == Some("Parameters")
}

/// Parses a Parameters resource as a FHIRPath Patch; an error names the part at fault.
pub fn parse(body: &Value) -> Result<FhirPathPatch, Issue> {
    let invalid = |at: String, message: String| Issue::error(IssueCode::Invalid, message).at(at);
    if !is_fhirpath_patch(body) {
        return Err(invalid("Parameters".into(), "a FHIRPath Patch is a Parameters resource".into()));
    }
    let mut operations = Vec::new();
    let parameters = match body.get("parameter") {
        None => &[][..],
        Some(Value::Array(a)) => a.as_slice(),
        Some(_) => return Err(invalid("Parameters.parameter".into(), "parameter must be an array".into())),
    };
    for (i, p) in parameters.iter().enumerate() {
        let here = format!("Parameters.parameter[{i}]");
        if p.get("name").and_then(Value::as_str) != Some("operation") {
            return Err(invalid(format!("{here}.name"), "every parameter of a FHIRPath Patch is an operation (name 'operation')".into()));
        }
        let parts = p.get("part").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        let part = |name: &str| parts.iter().position(|q| q.get("name").and_then(Value::as_str) == Some(name)).map(|j| (j, &parts[j]));
        let text = |name: &str, key: &str| -> Result<Option<String>, Issue> {
            match part(name) {
                None => Ok(None),
                Some((j, q)) => match q.get(key).and_then(Value::as_str) {
                    Some(s) => Ok(Some(s.to_owned())),
                    None => Err(invalid(format!("{here}.part[{j}]"), format!("the part '{name}' must have {key}"))),
                },
            }
        };
        let required = |name: &str, key: &str| -> Result<String, Issue> {
            text(name, key)?.ok_or_else(|| invalid(format!("{here}.part"), format!("the operation has no '{name}' part")))
        };
        let index = |name: &str| -> Result<usize, Issue> {
            let (j, q) = part(name).ok_or_else(|| invalid(format!("{here}.part"), format!("the operation has no '{name}' part")))?;
            q.get("valueInteger")
                .and_then(Value::as_u64)
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| invalid(format!("{here}.part[{j}]"), format!("the part '{name}' must have a valueInteger of 0 or more")))
        };
        let value = || -> Result<PatchValue, Issue> {
            let (j, q) = part("value").ok_or_else(|| invalid(format!("{here}.part"), "the operation has no 'value' part".into()))?;
            patch_value(q, &format!("{here}.part[{j}]"))
        };
        let kind_name = required("type", "valueCode")?;
        let path_text = required("path", "valueString")?;
        let path = Expr::parse(&path_text).map_err(|e| {
            let j = part("path").map_or(0, |(j, _)| j);
            invalid(format!("{here}.part[{j}]"), format!("the path '{path_text}' is not FHIRPath: {e}"))
        })?;
        let kind = match kind_name.as_str() {
            "add" => Kind::Add { name: required("name", "valueString")?, value: value()? },
            "insert" => Kind::Insert { value: value()?, index: index("index")? },
            "delete" => Kind::Delete,
            "replace" => Kind::Replace { value: value()? },
            "move" => Kind::Move { source: index("source")?, destination: index("destination")? },
            other => {
                let j = part("type").map_or(0, |(j, _)| j);
                return Err(Issue::error(IssueCode::CodeInvalid, format!("unknown operation type '{other}' (add, insert, delete, replace, move)"))
                    .at(format!("{here}.part[{j}]")));
            }
        };
        operations.push(Operation { at: i, kind, path: Arc::new(path) });
    }
    Ok(FhirPathPatch { operations })
}

/// The value a `value` part (or a part of it) carries: one `value[x]`, or parts naming child elements.
fn patch_value(part: &Value, here: &str) -> Result<PatchValue, Issue> {
    let invalid = |message: String| Issue::error(IssueCode::Invalid, message).at(here.to_owned());
    let object = part.as_object().ok_or_else(|| invalid("a part must be an object".into()))?;
    let typed: Vec<(&String, &Value)> = object.iter().filter(|(k, _)| k.starts_with("value") && k.len() > 5).collect();
    match (typed.as_slice(), object.get("part")) {
        ([(key, json)], None) => {
            let suffix = &key[5..];
            let type_code = if suffix.chars().next().is_some_and(|c| c.is_ascii_uppercase()) && is_primitive_suffix(suffix) {
                lower_first(suffix)
            } else {
                suffix.to_owned()
            };
            if object.contains_key(&format!("_{key}")) {
                return Err(Issue::error(IssueCode::NotSupported, format!("an id or extensions on the patch value (_{key}) are not supported"))
                    .at(here.to_owned()));
            }
            Ok(PatchValue::Typed { type_code, json: (*json).clone() })
        }
        ([], Some(Value::Array(parts))) => {
            let mut out = Vec::new();
            for (j, p) in parts.iter().enumerate() {
                let name = p.get("name").and_then(Value::as_str).ok_or_else(|| invalid(format!("part[{j}] has no name")))?;
                out.push((name.to_owned(), patch_value(p, &format!("{here}.part[{j}]"))?));
            }
            Ok(PatchValue::Parts(out))
        }
        _ => Err(invalid("a value is either one value[x] or parts naming the elements of an anonymous type".into())),
    }
}

fn is_primitive_suffix(suffix: &str) -> bool {
    crate::definitions::Primitive::from_code(&lower_first(suffix)).is_some()
}

fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_ascii_lowercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// A step from a node to one of its children in the JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

impl FhirPathPatch {
    /// Applies every operation in order to `resource`; on an error `resource` is left as it was, and the
    /// error names the operation.
    pub fn apply(&self, resource: &mut Value) -> Result<(), Issue> {
        let mut work = resource.clone();
        for op in &self.operations {
            op.apply(&mut work).map_err(|message| {
                Issue::error(IssueCode::Processing, format!("operation {} ({}): {message}", op.at, op.path.source()))
                    .at(format!("Parameters.parameter[{}]", op.at))
            })?;
        }
        *resource = work;
        Ok(())
    }
}

impl Operation {
    fn apply(&self, resource: &mut Value) -> Result<(), String> {
        let root = resource.get("resourceType").and_then(Value::as_str).and_then(Shape::named).ok_or("the resource has no known resourceType")?;
        let found = self.locate(resource)?;
        match &self.kind {
            Kind::Delete => match found.as_slice() {
                [] => Ok(()),
                [path] => remove(resource, path),
                _ => Err(format!("the path selects {} elements; delete removes one", found.len())),
            },
            Kind::Add { name, value } => {
                let path = single(&found, "adding")?;
                let shape = shape_at(root, path).ok_or("the path does not select an element that has child elements")?;
                let child = shape.child(name).ok_or_else(|| format!("{} has no element '{name}'", shape.name()))?;
                let (key, json) = build(child, value)?;
                let target =
                    node_mut(resource, path).and_then(Value::as_object_mut).ok_or("the path does not select an element that has child elements")?;
                if child.repeats() {
                    match target.entry(key).or_insert_with(|| Value::Array(Vec::new())) {
                        Value::Array(list) => list.push(json),
                        _ => return Err(format!("'{name}' is not a list")),
                    }
                } else if child_present(target, child) {
                    return Err(format!("'{name}' is already there (add does not replace a single element; use replace)"));
                } else {
                    target.insert(key, json);
                }
                Ok(())
            }
            Kind::Replace { value } => {
                let path = single(&found, "replacing")?;
                let (last, parent) = path.split_last().ok_or("replace cannot replace the resource itself")?;
                let (shape, key) = owner(root, path)?;
                let (child, _) = shape.child_for_key(&key).ok_or_else(|| format!("{} has no element '{key}'", shape.name()))?;
                let (new_key, json) = build(child, value)?;
                let container = node_mut(resource, parent).and_then(Value::as_object_mut).ok_or("the element to replace has no parent object")?;
                match last {
                    Step::Index(i) => {
                        if new_key != key {
                            return Err(format!("a value of another type cannot replace one item of '{}'", child.name()));
                        }
                        let list = container.get_mut(&key).and_then(Value::as_array_mut).ok_or("the list to replace in is gone")?;
                        let slot = list.get_mut(*i).ok_or("the item to replace is gone")?;
                        *slot = json;
                    }
                    Step::Key(k) => {
                        container.remove(k);
                        container.remove(&format!("_{k}"));
                        container.insert(new_key, json);
                    }
                }
                Ok(())
            }
            Kind::Insert { value, index } => {
                let (parent, key, len) = list_of(&found).ok_or("the path must select the items of one list (insert into an empty list with add)")?;
                if *index > len {
                    return Err(format!("index {index} is past the end of the list ({len} items)"));
                }
                let shape = shape_at(root, &parent).ok_or("the list's parent is not a known structure")?;
                let (child, _) = shape.child_for_key(&key).ok_or_else(|| format!("{} has no element '{key}'", shape.name()))?;
                let (new_key, json) = build(child, value)?;
                if new_key != key {
                    return Err(format!("the value's type does not fit the list '{key}'"));
                }
                let list = node_mut(resource, &parent).and_then(|p| p.get_mut(&key)).and_then(Value::as_array_mut).ok_or("the list is gone")?;
                list.insert(*index, json);
                Ok(())
            }
            Kind::Move { source, destination } => {
                let (parent, key, len) = list_of(&found).ok_or("the path must select the items of one list")?;
                if *source >= len || *destination >= len {
                    return Err(format!("source {source} and destination {destination} must be within the list ({len} items)"));
                }
                let list = node_mut(resource, &parent).and_then(|p| p.get_mut(&key)).and_then(Value::as_array_mut).ok_or("the list is gone")?;
                let item = list.remove(*source);
                list.insert(*destination, item);
                Ok(())
            }
        }
    }

    /// Where in the JSON each node the path selects sits. A path must select nodes of the resource itself.
    fn locate(&self, resource: &Value) -> Result<Vec<Vec<Step>>, String> {
        let items = self.path.evaluate(resource).map_err(|e| format!("the path cannot be evaluated: {e}"))?;
        let mut wanted: Vec<*const Value> = Vec::with_capacity(items.len());
        for item in &items {
            match item {
                Item::Node { value, .. } if !value.is_null() => wanted.push(*value as *const Value),
                _ => return Err("the path selects something other than an element with a value of the resource".into()),
            }
        }
        let mut found = vec![None; wanted.len()];
        let mut trail = Vec::new();
        find(resource, &wanted, &mut found, &mut trail);
        found.into_iter().map(|f| f.ok_or_else(|| "the path selects something that is not part of the resource".to_owned())).collect()
    }
}

/// Walks `node`, noting the trail to each wanted address.
fn find(node: &Value, wanted: &[*const Value], found: &mut [Option<Vec<Step>>], trail: &mut Vec<Step>) {
    let here = node as *const Value;
    for (i, w) in wanted.iter().enumerate() {
        if *w == here && found[i].is_none() {
            found[i] = Some(trail.clone());
        }
    }
    match node {
        Value::Object(map) => {
            for (k, v) in map {
                trail.push(Step::Key(k.clone()));
                find(v, wanted, found, trail);
                trail.pop();
            }
        }
        Value::Array(list) => {
            for (i, v) in list.iter().enumerate() {
                trail.push(Step::Index(i));
                find(v, wanted, found, trail);
                trail.pop();
            }
        }
        _ => {}
    }
}

fn single<'p>(found: &'p [Vec<Step>], doing: &str) -> Result<&'p [Step], String> {
    match found {
        [one] => Ok(one),
        [] => Err(format!("no content found at the path when {doing}")),
        _ => Err(format!("the path selects {} elements; {doing} needs one", found.len())),
    }
}

/// The parent trail, list key and length when every node found is an item of one list.
fn list_of(found: &[Vec<Step>]) -> Option<(Vec<Step>, String, usize)> {
    let first = found.first()?;
    let (Step::Index(_), [parent @ .., Step::Key(key)]) = (first.last()?, &first[..first.len() - 1]) else { return None };
    let all_there =
        found.iter().all(|f| f.len() == first.len() && f[..f.len() - 1] == first[..first.len() - 1] && matches!(f.last(), Some(Step::Index(_))));
    all_there.then(|| (parent.to_vec(), key.clone(), found.len()))
}

fn node_mut<'v>(root: &'v mut Value, path: &[Step]) -> Option<&'v mut Value> {
    path.iter().try_fold(root, |node, step| match step {
        Step::Key(k) => node.get_mut(k.as_str()),
        Step::Index(i) => node.get_mut(*i),
    })
}

/// The shape of the object at `path`, following the element definitions from the resource's.
fn shape_at(root: Shape, path: &[Step]) -> Option<Shape> {
    let mut shape = root;
    for step in path {
        if let Step::Key(key) = step {
            let (child, type_code) = shape.child_for_key(key)?;
            shape = child.shape(type_code).or_else(|| Shape::named(type_code))?;
        }
    }
    Some(shape)
}

/// The element at `path`: the shape of the object that holds it (for an item of a list, the object holding
/// the list), and its JSON property.
fn owner(root: Shape, path: &[Step]) -> Result<(Shape, String), String> {
    let (holder, key) = match path {
        [holder @ .., Step::Key(k), Step::Index(_)] | [holder @ .., Step::Key(k)] => (holder, k.clone()),
        _ => return Err("the path selects the resource itself".into()),
    };
    let shape = shape_at(root, holder).ok_or("the element's parent is not a known structure")?;
    Ok((shape, key))
}

/// Whether any JSON property of `child` (one of its types, or a primitive's extension) is set.
fn child_present(object: &Map<String, Value>, child: Child) -> bool {
    child.type_codes().iter().filter_map(|t| child.key_for(t)).any(|k| object.contains_key(k) || object.contains_key(&format!("_{k}")))
}

/// The JSON property and value that put `value` into `child`.
fn build(child: Child, value: &PatchValue) -> Result<(String, Value), String> {
    match value {
        PatchValue::Typed { type_code, json } => {
            // Parameters have no valueXhtml: narrative comes as a string.
            let key = child
                .key_for(type_code)
                .or_else(|| (type_code == "string").then(|| child.key_for("xhtml")).flatten())
                .ok_or_else(|| format!("'{}' does not take a value of type {type_code}", child.name()))?;
            Ok((key.to_owned(), json.clone()))
        }
        PatchValue::Parts(parts) => {
            let type_code = child.only_type().ok_or_else(|| format!("'{}' needs a typed value", child.name()))?;
            let shape = child.shape(type_code).ok_or_else(|| format!("'{}' does not take parts", child.name()))?;
            let mut object = Map::new();
            for (name, part) in parts {
                let grandchild = shape.child(name).ok_or_else(|| format!("{} has no element '{name}'", shape.name()))?;
                let (key, json) = build(grandchild, part)?;
                if grandchild.repeats() {
                    match object.entry(key).or_insert_with(|| Value::Array(Vec::new())) {
                        Value::Array(list) => list.push(json),
                        _ => return Err(format!("'{name}' is not a list")),
                    }
                } else if object.insert(key, json).is_some() {
                    return Err(format!("'{name}' is given twice"));
                }
            }
            Ok((child.key_for(type_code).unwrap_or(child.name()).to_owned(), Value::Object(object)))
        }
    }
}

/// Removes the element at `path` (with a primitive's `_name` sibling), then every object or list left empty
/// above it (empty ones are not valid FHIR JSON), up to the resource.
fn remove(resource: &mut Value, path: &[Step]) -> Result<(), String> {
    let (last, parent) = path.split_last().ok_or("delete cannot remove the resource itself")?;
    let container = node_mut(resource, parent).ok_or("the element to delete is gone")?;
    match (last, container) {
        (Step::Key(k), Value::Object(map)) => {
            map.remove(k);
            map.remove(&format!("_{k}"));
        }
        (Step::Index(i), Value::Array(list)) if *i < list.len() => {
            list.remove(*i);
        }
        _ => return Err("the element to delete is not where the path found it".into()),
    }
    let mut depth = parent.len();
    while depth > 0 {
        let empty = match node_mut(resource, &path[..depth]) {
            Some(Value::Object(map)) => map.is_empty(),
            Some(Value::Array(list)) => list.is_empty(),
            _ => false,
        };
        if !empty {
            break;
        }
        let (step, above) = path[..depth].split_last().ok_or("invariant: depth > 0")?;
        match (step, node_mut(resource, above)) {
            (Step::Key(k), Some(Value::Object(map))) => {
                map.remove(k);
            }
            (Step::Index(i), Some(Value::Array(list))) if *i < list.len() => {
                list.remove(*i);
            }
            _ => break,
        }
        depth -= 1;
    }
    Ok(())
}
