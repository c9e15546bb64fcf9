//! Turning a client's resource into a stored version: checks against the specification, server-owned
//! elements (`id`, `meta.versionId`, `meta.lastUpdated`), reference resolution and integrity, index entries.

use crate::criteria;
use crate::error::AppError;
use crate::session::Writing;
use fhir::reference::{self, Target};
use fhir::IssueCode;
use serde_json::{Map, Value};
use store::{Method, NewVersion, Stored, Tx};

/// Checks that `value` is a resource of `resource_type` that the specification accepts.
pub fn check(value: &Value, resource_type: &str) -> Result<(), AppError> {
    let Some(obj) = value.as_object() else {
        return Err(AppError::bad_request(IssueCode::Structure, "the body must be a JSON object (a FHIR resource)", None));
    };
    match obj.get("resourceType").and_then(Value::as_str) {
        None => return Err(AppError::bad_request(IssueCode::Required, "the resource has no resourceType", Some("resourceType"))),
        Some(t) if t != resource_type => {
            return Err(AppError::bad_request(
                IssueCode::Invalid,
                format!("resourceType '{t}' does not match the URL's type '{resource_type}'"),
                Some("resourceType"),
            ))
        }
        Some(_) => {}
    }
    fhir::validate::validate_resource(value).map_err(AppError::BadRequest)
}

/// Sets the server-owned elements, in the order FHIR JSON gives them (resourceType, id, meta, then the
/// rest as the client sent it). Client values of `meta.versionId` and `meta.lastUpdated` are replaced, and
/// `meta.source` too when the server knows who wrote the version (`source`).
pub fn stamp(value: Value, id: &str, version: i64, last_updated: &str, source: Option<&str>) -> Value {
    let Value::Object(mut obj) = value else { return value };
    let resource_type = obj.shift_remove("resourceType").unwrap_or(Value::Null);
    obj.shift_remove("id");
    let client_meta = match obj.shift_remove("meta") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let mut meta = Map::new();
    meta.insert("versionId".into(), Value::String(version.to_string()));
    meta.insert("lastUpdated".into(), Value::String(last_updated.to_owned()));
    if let Some(source) = source {
        meta.insert("source".into(), Value::String(source.to_owned()));
    }
    for (k, v) in client_meta {
        if k != "versionId" && k != "lastUpdated" && !(k == "source" && source.is_some()) {
            meta.insert(k, v);
        }
    }
    let mut out = Map::with_capacity(obj.len() + 3);
    out.insert("resourceType".into(), resource_type);
    out.insert("id".into(), Value::String(id.to_owned()));
    out.insert("meta".into(), Value::Object(meta));
    out.extend(obj);
    Value::Object(out)
}

/// Resolves conditional references (`Patient?identifier=…`) to the one resource they match, and checks
/// that every local reference points at a resource that exists. `root` is the path of the resource in the
/// request, for error messages.
pub fn resolve_references(tx: &mut dyn Tx, value: &mut Value, root: &str) -> Result<(), AppError> {
    let mut rewrites: Vec<(String, String)> = Vec::new();
    for (path, r) in reference::references_with_paths(value, root) {
        match reference::parse(r, None) {
            Target::Local { .. } => check_local_reference(tx, &path, r)?,
            Target::Conditional { resource_type, query } => {
                let criteria = criteria::conditional(resource_type, query).map_err(|e| e.within_entry(&path))?;
                let found = tx.find(resource_type, &criteria, 2)?;
                match found.as_slice() {
                    [id] => rewrites.push((r.to_owned(), format!("{resource_type}/{id}"))),
                    [] => {
                        return Err(AppError::unprocessable(
                            IssueCode::NotFound,
                            format!("conditional reference '{r}' matches no resource"),
                            Some(&path),
                        ))
                    }
                    _ => return Err(AppError::PreconditionFailed(format!("{path}: conditional reference '{r}' matches more than one resource"))),
                }
            }
            Target::Contained(_) | Target::Urn(_) | Target::External(_) => {}
        }
    }
    if !rewrites.is_empty() {
        reference::for_each_reference_mut(value, &mut |s| {
            if let Some((_, to)) = rewrites.iter().find(|(from, _)| from == s) {
                *s = to.clone();
            }
        });
    }
    Ok(())
}

/// Checks that a local reference (`Type/id`) points at a live resource; other kinds of reference pass.
pub fn check_local_reference(tx: &mut dyn Tx, path: &str, r: &str) -> Result<(), AppError> {
    let Target::Local { resource_type, id, .. } = reference::parse(r, None) else { return Ok(()) };
    match tx.current(resource_type, id)? {
        Some(s) if !s.deleted => Ok(()),
        _ => Err(AppError::unprocessable(IssueCode::NotFound, format!("reference '{r}' points to a resource that does not exist"), Some(path))),
    }
}

/// Writes `value` (already checked and resolved) as version `version` of `resource_type/id`.
pub fn put(tx: &mut dyn Tx, value: Value, resource_type: &str, id: &str, version: i64, method: Method, w: &Writing) -> Result<Stored, AppError> {
    let v = version_of(value, id, version, w)?;
    Ok(tx.put(v.new_version(resource_type, id, version, method, &w.now))?)
}

/// What a version is stored as, computed without the store (bulk import prepares it off the writer).
#[derive(Debug, Clone)]
pub struct Prepared {
    pub body: String,
    pub index: Vec<fhir::search::IndexEntry>,
    pub person_key: Option<String>,
    pub links: Vec<(String, String)>,
    /// The organisation that recorded it (`meta.source`).
    pub recorded_by: Option<String>,
    pub restricted: bool,
    /// The care relationships it states (only kept for resources that belong to a person).
    pub relations: Vec<store::access::Relation>,
}

impl Prepared {
    pub fn new_version<'a>(&'a self, resource_type: &'a str, id: &'a str, version: i64, method: Method, last_updated: &'a str) -> NewVersion<'a> {
        NewVersion {
            resource_type,
            id,
            version,
            person_key: self.person_key.as_deref(),
            last_updated,
            method,
            body: Some(&self.body),
            index: &self.index,
            links: &self.links,
            recorded_by: self.recorded_by.as_deref(),
            restricted: self.restricted,
            relations: &self.relations,
        }
    }
}

/// Stamps `value` as version `version` of its resource `id` (at `w.now`, for `w.source` if known) and
/// computes its body text, index entries, person key, local links, provenance, whether it is restricted and
/// the care relationships it states.
pub fn version_of(value: Value, id: &str, version: i64, w: &Writing) -> Result<Prepared, AppError> {
    if value.get("resourceType").and_then(Value::as_str) == Some("Group") {
        crate::groups::refuse_kept(id, w.cohorts.as_deref())?;
    }
    let value = stamp(value, id, version, &w.now, w.source.as_deref());
    let index = fhir::search::extract(&value);
    let person_key = fhir::index::person_key(&value);
    let links: Vec<(String, String)> = reference::references(&value)
        .into_iter()
        .filter_map(|r| match reference::parse(r, None) {
            Target::Local { resource_type, id, .. } => Some((resource_type.to_owned(), id.to_owned())),
            _ => None,
        })
        .collect();
    let body = serde_json::to_string(&value).map_err(|e| AppError::Internal(Box::new(e)))?;
    let relations = if person_key.is_some() { crate::access::relations(&value) } else { Vec::new() };
    Ok(Prepared {
        body,
        index,
        person_key,
        links,
        recorded_by: crate::access::recorded_by(&value),
        restricted: crate::access::restricted(&value, &w.sensitive),
        relations,
    })
}

/// Refuses to delete a resource that live resources still point at (409), naming a few of those the unit's
/// caller may see (behind the application's guard, `sees` answers for the caller).
pub fn check_unreferenced(tx: &mut dyn Tx, resource_type: &str, id: &str) -> Result<(), AppError> {
    let referrers = tx.referrers(resource_type, id, 3)?;
    if referrers.is_empty() {
        return Ok(());
    }
    let mut names = Vec::new();
    for (t, i) in &referrers {
        if tx.sees(t, i, &store::Visibility::All)? {
            names.push(format!("{t}/{i}"));
        }
    }
    let listed = if names.is_empty() { String::new() } else { format!(" ({}{})", names.join(", "), if referrers.len() >= 3 { ", …" } else { "" }) };
    Err(AppError::Conflict(format!("{resource_type}/{id} cannot be deleted: other resources refer to it{listed}")))
}

/// Writes a deletion of `current`, recorded by whoever `w` says writes.
pub fn put_deletion(tx: &mut dyn Tx, current: &Stored, w: &Writing) -> Result<Stored, AppError> {
    Ok(tx.put(NewVersion {
        resource_type: &current.resource_type,
        id: &current.id,
        version: current.version + 1,
        person_key: current.person_key.as_deref(),
        last_updated: &w.now,
        method: Method::Delete,
        body: None,
        index: &[],
        links: &[],
        recorded_by: w.source.as_deref().and_then(|s| s.strip_prefix("Organization/")),
        restricted: current.restricted,
        relations: &[],
    })?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stamp_orders_and_overrides_server_elements() {
        let v = json!({"resourceType": "Patient", "gender": "male", "meta": {"tag": [], "versionId": "99"}, "id": "client", "birthDate": "1970"});
        let s = stamp(v, "p1", 3, "2026-01-01T00:00:00.000Z", None);
        assert_eq!(
            s.to_string(),
            r#"{"resourceType":"Patient","id":"p1","meta":{"versionId":"3","lastUpdated":"2026-01-01T00:00:00.000Z","tag":[]},"gender":"male","birthDate":"1970"}"#
        );
    }

    #[test]
    fn stamp_keeps_decimal_text() {
        let v: Value = serde_json::from_str(r#"{"resourceType":"Observation","valueQuantity":{"value":72.50}}"#).expect("json");
        let s = stamp(v, "o", 1, "2026-01-01T00:00:00.000Z", None);
        assert!(s.to_string().contains("72.50"));
    }
}
