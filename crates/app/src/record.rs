//! The record's interactions (create, read, vread, update, patch, delete, their conditional forms, history and
//! basic search), each one atomic unit of work on the store.

use crate::criteria;
use crate::error::AppError;
use crate::instant;
use crate::prepare::{self, check};
use crate::released::Released;
use crate::session::{Session, Writing};
use fhir::IssueCode;
use serde_json::Value;
use store::{HistoryQuery, HistoryScope, Method, Stored, TokenCriterion, Tx};

/// What a write did.
#[derive(Debug, Clone)]
pub enum Written {
    /// A new resource (201).
    Created(Released),
    /// A new version of an existing resource (200).
    Updated(Released),
    /// A conditional create matched this existing resource; nothing was written (200).
    Existing(Released),
    /// A deletion; `None` when there was nothing live to delete (204 either way).
    Deleted(Option<Released>),
}

impl Written {
    pub fn stored(&self) -> Option<&Released> {
        match self {
            Written::Created(s) | Written::Updated(s) | Written::Existing(s) => Some(s),
            Written::Deleted(s) => s.as_ref(),
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            Written::Created(_) => 201,
            Written::Updated(_) | Written::Existing(_) => 200,
            Written::Deleted(_) => 204,
        }
    }
}

/// How search treats parameters it does not understand (`Prefer: handling=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Handling {
    #[default]
    Lenient,
    Strict,
}

/// A page of history, newest first.
#[derive(Debug, Clone)]
pub struct HistoryPage {
    pub(crate) versions: Vec<Stored>,
    pub next: Option<i64>,
    pub count: usize,
}

// ---- units of work: run inside one store transaction ----

/// Whether a unit resolves and checks references itself, or its caller (a transaction) does so once for
/// all its entries, after every entry is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refs {
    Check,
    Deferred,
}

/// The resource an `If-None-Exist` condition matches, if exactly one does (412 if several do).
fn existing_match(tx: &mut dyn Tx, resource_type: &str, if_none_exist: Option<&[TokenCriterion]>) -> Result<Option<Stored>, AppError> {
    let Some(criteria) = if_none_exist else { return Ok(None) };
    let found = tx.find(resource_type, criteria, 2)?;
    match found.as_slice() {
        [] => Ok(None),
        [id] => Ok(Some(tx.current(resource_type, id)?.ok_or_else(|| AppError::Internal("index points at a missing resource".into()))?)),
        _ => Err(AppError::PreconditionFailed("If-None-Exist matches more than one resource".into())),
    }
}

/// A first version computed before its write unit (off the writer): body, index rows and person key, with
/// the resource's references and their paths for the integrity check inside the unit.
#[derive(Debug, Clone)]
pub(crate) struct Draft {
    pub prepared: prepare::Prepared,
    pub references: Vec<(String, String)>,
}

impl Draft {
    /// `None` when the resource holds conditional references, which only a unit can resolve.
    pub fn new(value: Value, resource_type: &str, id: &str, w: &Writing) -> Result<Option<Draft>, AppError> {
        let references: Vec<(String, String)> =
            fhir::reference::references_with_paths(&value, resource_type).into_iter().map(|(p, r)| (p, r.to_owned())).collect();
        if references.iter().any(|(_, r)| matches!(fhir::reference::parse(r, None), fhir::reference::Target::Conditional { .. })) {
            return Ok(None);
        }
        Ok(Some(Draft { prepared: prepare::version_of(value, id, 1, w)?, references }))
    }
}

/// Writes a draft as a new resource, unless `If-None-Exist` finds one.
pub(crate) fn create_draft_in(
    tx: &mut dyn Tx,
    resource_type: &str,
    id: &str,
    draft: &Draft,
    if_none_exist: Option<&[TokenCriterion]>,
    refs: Refs,
    w: &Writing,
) -> Result<Written, AppError> {
    if let Some(existing) = existing_match(tx, resource_type, if_none_exist)? {
        return Ok(Written::Existing(Released::new(existing)));
    }
    if refs == Refs::Check {
        for (path, r) in &draft.references {
            prepare::check_local_reference(tx, path, r)?;
        }
    }
    Ok(Written::Created(Released::new(tx.put(draft.prepared.new_version(resource_type, id, 1, Method::Post, &w.now))?)))
}

pub(crate) fn create_in(
    tx: &mut dyn Tx,
    mut value: Value,
    resource_type: &str,
    if_none_exist: Option<&[TokenCriterion]>,
    id: Option<String>,
    refs: Refs,
    w: &Writing,
) -> Result<Written, AppError> {
    if let Some(existing) = existing_match(tx, resource_type, if_none_exist)? {
        return Ok(Written::Existing(Released::new(existing)));
    }
    let id = id.unwrap_or_else(new_id);
    if refs == Refs::Check {
        prepare::resolve_references(tx, &mut value, resource_type)?;
    }
    Ok(Written::Created(Released::new(prepare::put(tx, value, resource_type, &id, 1, Method::Post, w)?)))
}

pub(crate) fn update_in(
    tx: &mut dyn Tx,
    mut value: Value,
    resource_type: &str,
    id: &str,
    if_match: Option<i64>,
    method: Method,
    refs: Refs,
    w: &Writing,
) -> Result<Written, AppError> {
    let current = tx.current(resource_type, id)?;
    check_version(current.as_ref(), if_match)?;
    let (version, created) = match &current {
        None => (1, true),
        Some(c) => (c.version + 1, c.deleted),
    };
    if refs == Refs::Check {
        prepare::resolve_references(tx, &mut value, resource_type)?;
    }
    let stored = prepare::put(tx, value, resource_type, id, version, method, w)?;
    let stored = Released::new(stored);
    Ok(if created { Written::Created(stored) } else { Written::Updated(stored) })
}

pub(crate) fn conditional_update_in(
    tx: &mut dyn Tx,
    value: Value,
    resource_type: &str,
    criteria: &[TokenCriterion],
    if_match: Option<i64>,
    refs: Refs,
    w: &Writing,
) -> Result<Written, AppError> {
    let body_id = value.get("id").and_then(Value::as_str).map(str::to_owned);
    let found = tx.find(resource_type, criteria, 2)?;
    match found.as_slice() {
        [] => match body_id {
            Some(id) => update_in(tx, value, resource_type, &id, if_match, Method::Put, refs, w),
            None if if_match.is_some() => Err(AppError::PreconditionFailed("If-Match given but nothing matches".into())),
            None => create_in(tx, value, resource_type, None, None, refs, w),
        },
        [id] => {
            if body_id.as_deref().is_some_and(|b| b != id) {
                return Err(AppError::bad_request(
                    IssueCode::Invalid,
                    format!("the resource's id does not match the resource the condition found ({resource_type}/{id})"),
                    Some(&format!("{resource_type}.id")),
                ));
            }
            update_in(tx, value, resource_type, id, if_match, Method::Put, refs, w)
        }
        _ => Err(AppError::PreconditionFailed("the condition matches more than one resource".into())),
    }
}

pub(crate) fn delete_in(tx: &mut dyn Tx, resource_type: &str, id: &str, if_match: Option<i64>, refs: Refs, w: &Writing) -> Result<Written, AppError> {
    let current = tx.current(resource_type, id)?;
    check_version(current.as_ref(), if_match)?;
    match current {
        None => Err(AppError::NotFound(format!("{resource_type}/{id} does not exist"))),
        Some(c) if c.deleted => Ok(Written::Deleted(None)),
        Some(c) => {
            if refs == Refs::Check {
                prepare::check_unreferenced(tx, resource_type, id)?;
            }
            Ok(Written::Deleted(Some(Released::new(prepare::put_deletion(tx, &c, w)?))))
        }
    }
}

pub(crate) fn conditional_delete_in(
    tx: &mut dyn Tx,
    resource_type: &str,
    criteria: &[TokenCriterion],
    refs: Refs,
    w: &Writing,
) -> Result<Written, AppError> {
    let found = tx.find(resource_type, criteria, 2)?;
    match found.as_slice() {
        [] => Ok(Written::Deleted(None)),
        [id] => delete_in(tx, resource_type, id, None, refs, w),
        _ => Err(AppError::PreconditionFailed("the condition matches more than one resource".into())),
    }
}

pub(crate) fn patch_in(
    tx: &mut dyn Tx,
    resource_type: &str,
    id: &str,
    patch: &crate::patch::Patch,
    if_match: Option<i64>,
    refs: Refs,
    w: &Writing,
) -> Result<Written, AppError> {
    let current = live(tx.current(resource_type, id)?, resource_type, id)?;
    check_version(Some(&current), if_match)?;
    let body = current.body.as_deref().ok_or_else(|| AppError::Internal("a live version without a body".into()))?;
    let mut value: Value = serde_json::from_str(body).map_err(|e| AppError::Internal(Box::new(e)))?;
    crate::patch::apply(&mut value, patch)?;
    if value.get("id").and_then(Value::as_str) != Some(id) {
        return Err(AppError::unprocessable(
            IssueCode::Invalid,
            "a patch may not change or remove the resource's id",
            Some(&format!("{resource_type}.id")),
        ));
    }
    check(&value, resource_type).map_err(|e| match e {
        AppError::BadRequest(issues) => AppError::Unprocessable(issues),
        other => other,
    })?;
    update_in(tx, value, resource_type, id, None, Method::Patch, refs, w)
}

/// Reads inside a unit (transaction GET entries).
pub(crate) fn read_in(tx: &mut dyn Tx, resource_type: &str, id: &str) -> Result<Stored, AppError> {
    live(tx.current(resource_type, id)?, resource_type, id)
}

fn live(current: Option<Stored>, resource_type: &str, id: &str) -> Result<Stored, AppError> {
    match current {
        None => Err(AppError::NotFound(format!("{resource_type}/{id} does not exist"))),
        Some(c) if c.deleted => Err(AppError::Gone(format!("{resource_type}/{id} was deleted"))),
        Some(c) => Ok(c),
    }
}

fn check_version(current: Option<&Stored>, if_match: Option<i64>) -> Result<(), AppError> {
    let Some(expected) = if_match else { return Ok(()) };
    match current {
        Some(c) if !c.deleted && c.version == expected => Ok(()),
        Some(c) if !c.deleted => {
            Err(AppError::PreconditionFailed(format!("If-Match names version {expected} but the current version is {}", c.version)))
        }
        _ => Err(AppError::PreconditionFailed(format!("If-Match names version {expected} of a resource that does not exist"))),
    }
}

pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Checks the id of a resource sent to `PUT [type]/[id]`.
pub(crate) fn check_update_id(value: &Value, resource_type: &str, id: &str) -> Result<(), AppError> {
    if !fhir::id::is_valid_id(id) {
        return Err(AppError::bad_request(IssueCode::Value, format!("'{id}' is not a valid resource id"), None));
    }
    match value.get("id").and_then(Value::as_str) {
        Some(body) if body == id => Ok(()),
        Some(body) => Err(AppError::bad_request(
            IssueCode::Invalid,
            format!("the resource's id '{body}' does not match the id in the URL '{id}'"),
            Some(&format!("{resource_type}.id")),
        )),
        None => Err(AppError::bad_request(IssueCode::Required, "an update must carry the resource's id", Some(&format!("{resource_type}.id")))),
    }
}

// ---- the interactions, as the API calls them ----

impl Session {
    pub async fn create(&self, resource_type: &str, value: Value, if_none_exist: Option<&str>) -> Result<Written, AppError> {
        ensure_type(resource_type)?;
        check(&value, resource_type)?;
        let criteria = if_none_exist.map(|q| criteria::conditional(resource_type, q)).transpose()?;
        let t = resource_type.to_owned();
        // Most creates are prepared here, on the request's thread, so that the writer only writes.
        let (id, w) = (new_id(), self.writing());
        match Draft::new(value.clone(), resource_type, &id, &w)? {
            Some(draft) => self.noted(self.write(move |tx| create_draft_in(tx, &t, &id, &draft, criteria.as_deref(), Refs::Check, &w)).await),
            None => self.noted(self.write(move |tx| create_in(tx, value, &t, criteria.as_deref(), Some(id), Refs::Check, &w)).await),
        }
    }

    pub async fn read(&self, resource_type: &str, id: &str) -> Result<Released, AppError> {
        ensure_type(resource_type)?;
        if resource_type == "Group" {
            if let Some(kept) = self.read_kept_group(id).await? {
                return Ok(kept);
            }
        }
        let stored = live(self.store.read(resource_type, id, self.visibility()).await?, resource_type, id)?;
        self.touch(stored.person_key.as_deref(), &stored.resource_type);
        Ok(Released::new(stored))
    }

    pub async fn vread(&self, resource_type: &str, id: &str, version: &str) -> Result<Released, AppError> {
        ensure_type(resource_type)?;
        let missing = || AppError::NotFound(format!("{resource_type}/{id} has no version {version}"));
        let v: i64 = version.parse().map_err(|_| missing())?;
        match self.store.vread(resource_type, id, v, self.visibility()).await? {
            None => Err(missing()),
            Some(s) if s.deleted => Err(AppError::Gone(format!("version {v} of {resource_type}/{id} is a deletion"))),
            Some(s) => {
                self.touch(s.person_key.as_deref(), &s.resource_type);
                Ok(Released::new(s))
            }
        }
    }

    pub async fn update(&self, resource_type: &str, id: &str, value: Value, if_match: Option<i64>) -> Result<Written, AppError> {
        ensure_type(resource_type)?;
        check_update_id(&value, resource_type, id)?;
        check(&value, resource_type)?;
        let (t, i) = (resource_type.to_owned(), id.to_owned());
        let w = self.writing();
        self.noted(self.write(move |tx| update_in(tx, value, &t, &i, if_match, Method::Put, Refs::Check, &w)).await)
    }

    pub async fn conditional_update(&self, resource_type: &str, query: &str, value: Value, if_match: Option<i64>) -> Result<Written, AppError> {
        ensure_type(resource_type)?;
        let criteria = criteria::conditional(resource_type, query)?;
        check(&value, resource_type)?;
        let t = resource_type.to_owned();
        let w = self.writing();
        self.noted(self.write(move |tx| conditional_update_in(tx, value, &t, &criteria, if_match, Refs::Check, &w)).await)
    }

    pub async fn delete(&self, resource_type: &str, id: &str, if_match: Option<i64>) -> Result<Written, AppError> {
        ensure_type(resource_type)?;
        if resource_type == "Group" {
            crate::groups::refuse_kept(id, Some(&self.config.cohorts))?;
        }
        let (t, i) = (resource_type.to_owned(), id.to_owned());
        let w = self.writing();
        self.noted(self.write(move |tx| delete_in(tx, &t, &i, if_match, Refs::Check, &w)).await)
    }

    pub async fn conditional_delete(&self, resource_type: &str, query: &str) -> Result<Written, AppError> {
        ensure_type(resource_type)?;
        let criteria = criteria::conditional(resource_type, query)?;
        let t = resource_type.to_owned();
        let w = self.writing();
        self.noted(self.write(move |tx| conditional_delete_in(tx, &t, &criteria, Refs::Check, &w)).await)
    }

    pub async fn patch(&self, resource_type: &str, id: &str, patch: Value, if_match: Option<i64>) -> Result<Written, AppError> {
        ensure_type(resource_type)?;
        let patch = crate::patch::parse(patch)?;
        let (t, i) = (resource_type.to_owned(), id.to_owned());
        let w = self.writing();
        self.noted(self.write(move |tx| patch_in(tx, &t, &i, &patch, if_match, Refs::Check, &w)).await)
    }

    /// A conditional patch: the condition must match exactly one resource.
    pub async fn conditional_patch(&self, resource_type: &str, query: &str, patch: Value, if_match: Option<i64>) -> Result<Written, AppError> {
        ensure_type(resource_type)?;
        let criteria = criteria::conditional(resource_type, query)?;
        let patch = crate::patch::parse(patch)?;
        let t = resource_type.to_owned();
        let w = self.writing();
        let written = self
            .write(move |tx| {
                let found = tx.find(&t, &criteria, 2)?;
                match found.as_slice() {
                    [id] => patch_in(tx, &t, id, &patch, if_match, Refs::Check, &w),
                    [] => Err(AppError::NotFound("the condition matches no resource".into())),
                    _ => Err(AppError::PreconditionFailed("the condition matches more than one resource".into())),
                }
            })
            .await;
        self.noted(written)
    }

    /// History, newest first. `since` is a FHIR instant or dateTime; `cursor` comes from a previous page.
    pub async fn history(
        &self,
        scope: HistoryScope,
        since: Option<&str>,
        count: Option<&str>,
        cursor: Option<&str>,
    ) -> Result<HistoryPage, AppError> {
        if let HistoryScope::Type(t) | HistoryScope::Instance(t, _) = &scope {
            ensure_type(t)?;
        }
        let since = since
            .map(|s| {
                instant::parse_lower_bound(s)
                    .ok_or_else(|| AppError::bad_request(IssueCode::Value, format!("_since '{s}' is not a valid instant"), Some("_since")))
            })
            .transpose()?;
        let count = self.count(count)?;
        let before_seq = cursor
            .map(|c| c.parse::<i64>().map_err(|_| AppError::bad_request(IssueCode::Value, "the paging cursor is not valid", Some("_cursor"))))
            .transpose()?;
        if let HistoryScope::Instance(t, id) = &scope {
            if self.store.read(t, id, self.visibility()).await?.is_none() {
                return Err(AppError::NotFound(format!("{t}/{id} does not exist")));
            }
        }
        let mut versions =
            self.store.history(HistoryQuery { scope, since, before_seq, limit: count + 1, visibility: self.visibility().clone() }).await?;
        let next = if versions.len() > count {
            versions.truncate(count);
            versions.last().map(|v| v.seq)
        } else {
            None
        };
        for v in &versions {
            self.touch(v.person_key.as_deref(), &v.resource_type);
        }
        Ok(HistoryPage { versions, next, count })
    }

    /// A write's result, with the person whose record it wrote noted for the request's audit event.
    fn noted(&self, written: Result<Written, AppError>) -> Result<Written, AppError> {
        if let Ok(w) = &written {
            if let Some(s) = w.stored() {
                self.touch(s.person_key.as_deref(), &s.resource_type);
            }
            self.changed(w);
        }
        written
    }

    fn count(&self, count: Option<&str>) -> Result<usize, AppError> {
        match count {
            None => Ok(self.config.limits.default_count),
            Some(c) => c
                .parse::<usize>()
                .map(|n| n.min(self.config.limits.max_count))
                .map_err(|_| AppError::bad_request(IssueCode::Value, format!("_count '{c}' is not a number"), Some("_count"))),
        }
    }
}

pub(crate) fn ensure_type(resource_type: &str) -> Result<(), AppError> {
    if fhir::definitions::is_resource_type(resource_type) {
        Ok(())
    } else {
        Err(AppError::NotFound(format!("'{resource_type}' is not a FHIR R4 resource type")))
    }
}
