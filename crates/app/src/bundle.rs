//! Batch and transaction Bundles. A transaction is one unit of work: entries run in the order the
//! specification gives (DELETE, POST, PUT/PATCH, GET), `urn:` fullUrls become real references, conditional
//! references and `If-None-Exist` are resolved, and any failure leaves nothing behind. A batch runs each
//! entry as its own unit, concurrently, so their commits share groups.

use crate::criteria;
use crate::error::AppError;
use crate::limits::exceeded;
use crate::prepare::{self, check};
use crate::present::{error_entry, etag, parse_etag, resource_json, status_line, written_entry};
use crate::record::{self, check_update_id, ensure_type, Draft, Refs, Written};
use crate::session::{Session, Writing};
use base64::Engine;
use fhir::reference::{self, Target};
use fhir::IssueCode;
use serde_json::{json, Map, Value};
use std::collections::{HashMap, HashSet};
use store::{Method, TokenCriterion, Tx};

/// Whether response entries carry the resulting resource (`Prefer: return=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Return {
    Minimal,
    #[default]
    Representation,
    OperationOutcome,
}

/// What one entry asks for.
#[derive(Debug, Clone)]
enum Action {
    Create { resource_type: String, if_none_exist: Option<Vec<TokenCriterion>> },
    Update { resource_type: String, id: String },
    ConditionalUpdate { resource_type: String, criteria: Vec<TokenCriterion> },
    Patch { resource_type: String, id: String },
    Delete { resource_type: String, id: String },
    ConditionalDelete { resource_type: String, criteria: Vec<TokenCriterion> },
    Read { resource_type: String, id: String },
    VRead { resource_type: String, id: String, version: String },
    Search { resource_type: String, params: Vec<(String, String)> },
}

#[derive(Debug, Clone)]
struct Entry {
    index: usize,
    full_url: Option<String>,
    action: Action,
    resource: Option<Value>,
    patch: Option<crate::patch::Patch>,
    if_match: Option<i64>,
    /// For a create prepared before the unit: the id chosen for it and its draft.
    preset: Option<(String, Draft)>,
}

impl Entry {
    fn path(&self) -> String {
        format!("Bundle.entry[{}]", self.index)
    }

    /// Processing order within a transaction.
    fn phase(&self) -> u8 {
        match self.action {
            Action::Delete { .. } | Action::ConditionalDelete { .. } => 0,
            Action::Create { .. } => 1,
            Action::Update { .. } | Action::ConditionalUpdate { .. } | Action::Patch { .. } => 2,
            Action::Read { .. } | Action::VRead { .. } | Action::Search { .. } => 3,
        }
    }
}

impl Session {
    /// Processes a `batch` or `transaction` Bundle and returns the response Bundle.
    pub async fn bundle(&self, bundle: Value, ret: Return) -> Result<Value, AppError> {
        let kind = bundle_kind(&bundle)?;
        let raw = match bundle.get("entry") {
            None => Vec::new(),
            Some(Value::Array(items)) => items.clone(),
            Some(_) => return Err(AppError::bad_request(IssueCode::Structure, "Bundle.entry must be an array", Some("Bundle.entry"))),
        };
        let limits = &self.config.limits;
        if raw.len() > limits.max_bundle_entries {
            return Err(exceeded(
                "max_bundle_entries",
                limits.max_bundle_entries,
                format!("the Bundle has {} entries", raw.len()),
                Some("Bundle.entry"),
            ));
        }
        match kind {
            "transaction" => {
                let mut entries = Vec::with_capacity(raw.len());
                for (i, e) in raw.into_iter().enumerate() {
                    entries.push(self.parse_entry(i, e)?);
                }
                self.transaction(entries, ret).await
            }
            _ => Ok(self.batch(raw, ret).await),
        }
    }

    /// Runs a batch's entries, at most `batch_concurrency` at a time, each its own unit. The resources the
    /// entries bring back count against `max_materialised` together; once it is spent, the entries still to
    /// run are answered too-costly instead. The entries run as tasks of a set that is dropped, and its tasks
    /// aborted, when this future is: a client that goes away stops the batch.
    async fn batch(&self, raw: Vec<Value>, ret: Return) -> Value {
        let limits = self.config.limits.clone();
        let count = raw.len();
        let mut results: Vec<Option<Value>> = vec![None; count];
        let mut running: tokio::task::JoinSet<(usize, Result<(Value, usize), AppError>)> = tokio::task::JoinSet::new();
        let mut used = 0usize;
        let mut pending = raw.into_iter().enumerate();
        loop {
            while running.len() < limits.batch_concurrency.max(1) {
                let Some((i, e)) = pending.next() else { break };
                if used >= limits.max_materialised {
                    let spent = exceeded(
                        "max_materialised",
                        limits.max_materialised,
                        "the batch's earlier entries brought back as many resources as one request may",
                        None,
                    );
                    results[i] = Some(error_entry(&spent.within_entry(&format!("Bundle.entry[{i}]"))));
                    continue;
                }
                let app = self.clone();
                running.spawn(async move {
                    let run = async {
                        let entry = app.parse_entry(i, e)?;
                        app.run_batch_entry(entry, ret).await
                    };
                    (i, run.await)
                });
            }
            let Some(done) = running.join_next().await else { break };
            match done {
                Ok((i, outcome)) => {
                    results[i] = Some(match outcome {
                        Ok((v, resources)) => {
                            used += resources;
                            v
                        }
                        Err(e) => error_entry(&e),
                    });
                }
                Err(join) => tracing::error!(error = %join, "a batch entry's task failed"),
            }
        }
        let internal = || error_entry(&AppError::Internal("a batch entry's task failed".into()));
        response_bundle("batch-response", results.into_iter().map(|r| r.unwrap_or_else(internal)).collect())
    }

    /// One batch entry's response entry, and how many resources it brought back.
    async fn run_batch_entry(&self, e: Entry, ret: Return) -> Result<(Value, usize), AppError> {
        let path = e.path();
        let with_resource = ret == Return::Representation;
        let written = match e.action {
            Action::Create { resource_type, if_none_exist } => {
                let value = need_resource(e.resource, &path)?;
                let t = resource_type.clone();
                let w = self.writing();
                self.write(move |tx| record::create_in(tx, value, &t, if_none_exist.as_deref(), None, Refs::Check, &w)).await
            }
            Action::Update { resource_type, id } => self.update(&resource_type, &id, need_resource(e.resource, &path)?, e.if_match).await,
            Action::ConditionalUpdate { resource_type, criteria } => {
                let value = need_resource(e.resource, &path)?;
                let w = self.writing();
                self.write(move |tx| record::conditional_update_in(tx, value, &resource_type, &criteria, e.if_match, Refs::Check, &w)).await
            }
            Action::Patch { resource_type, id } => {
                let patch = e.patch.ok_or_else(|| missing_patch(&path))?;
                let w = self.writing();
                self.write(move |tx| record::patch_in(tx, &resource_type, &id, &patch, e.if_match, Refs::Check, &w)).await
            }
            Action::Delete { resource_type, id } => self.delete(&resource_type, &id, e.if_match).await,
            Action::ConditionalDelete { resource_type, criteria } => {
                let w = self.writing();
                self.write(move |tx| record::conditional_delete_in(tx, &resource_type, &criteria, Refs::Check, &w)).await
            }
            Action::Read { resource_type, id } => return Ok((read_entry(&*self.read(&resource_type, &id).await?)?, 1)),
            Action::VRead { resource_type, id, version } => return Ok((read_entry(&*self.vread(&resource_type, &id, &version).await?)?, 1)),
            Action::Search { resource_type, params } => {
                let page = self.search(&resource_type, &params, Default::default()).await?;
                let resources = page.matches.len() + page.included.len();
                return Ok((json!({ "resource": self.searchset(&page)?, "response": { "status": status_line(200) } }), resources));
            }
        }
        .map_err(|err| err.within_entry(&path))?;
        if let Some(s) = written.stored() {
            self.touch(s.person_key.as_deref(), &s.resource_type);
        }
        self.changed(&written);
        Ok((written_entry(&written, with_resource)?, usize::from(with_resource)))
    }

    async fn transaction(&self, mut entries: Vec<Entry>, ret: Return) -> Result<Value, AppError> {
        let w = self.writing();
        if is_plain(&entries) {
            entries = prepare_plain(entries, &w).await?;
        }
        let app = self.clone();
        self.write(move |tx| app.transaction_in(tx, entries, ret, &w)).await
    }

    fn transaction_in(&self, tx: &mut dyn Tx, mut entries: Vec<Entry>, ret: Return, w: &Writing) -> Result<Value, AppError> {
        let count = entries.len();
        let mut order: Vec<usize> = (0..count).collect();
        order.sort_by_key(|&i| (entries[i].phase(), i));

        // 1. Decide the identity of every entry that writes, so that references between entries can be resolved.
        let mut ids: HashMap<String, String> = HashMap::new(); // fullUrl -> Type/id
        let mut targets: Vec<Option<(String, String)>> = vec![None; count]; // (type, id) each write resolves to
        let mut existing: HashSet<usize> = HashSet::new(); // conditional creates that matched
        let mut seen: HashSet<(String, String)> = HashSet::new();
        for &i in &order {
            let e = &entries[i];
            let target = match &e.action {
                Action::Create { resource_type, if_none_exist } => {
                    let matched = match if_none_exist {
                        Some(c) => single_match(tx, resource_type, c, "If-None-Exist").map_err(|err| err.within_entry(&e.path()))?,
                        None => None,
                    };
                    if matched.is_some() {
                        existing.insert(i);
                    }
                    let chosen = matched.or_else(|| e.preset.as_ref().map(|(id, _)| id.clone()));
                    Some((resource_type.clone(), chosen.unwrap_or_else(record::new_id)))
                }
                Action::Update { resource_type, id } | Action::Patch { resource_type, id } => Some((resource_type.clone(), id.clone())),
                Action::ConditionalUpdate { resource_type, criteria } => {
                    let matched = single_match(tx, resource_type, criteria, "the condition").map_err(|err| err.within_entry(&e.path()))?;
                    let body_id = e.resource.as_ref().and_then(|r| r.get("id")).and_then(Value::as_str).map(str::to_owned);
                    if let (Some(m), Some(b)) = (&matched, &body_id) {
                        if m != b {
                            return Err(AppError::bad_request(
                                IssueCode::Invalid,
                                "the resource's id does not match the resource the condition found",
                                Some("id"),
                            )
                            .within_entry(&e.path()));
                        }
                    }
                    Some((resource_type.clone(), matched.or(body_id).unwrap_or_else(record::new_id)))
                }
                Action::Delete { resource_type, id } => Some((resource_type.clone(), id.clone())),
                _ => None,
            };
            if let Some((t, id)) = &target {
                if !existing.contains(&i) && !seen.insert((t.clone(), id.clone())) {
                    return Err(AppError::bad_request(
                        IssueCode::Duplicate,
                        format!("{t}/{id} is the subject of more than one entry in this transaction"),
                        Some(&format!("{}.request", e.path())),
                    ));
                }
                if let Some(u) = &e.full_url {
                    ids.insert(u.clone(), format!("{t}/{id}"));
                }
            }
            targets[i] = target;
        }

        // 2. Point references at the identities just decided, resolve conditional references, and note every
        //    local reference so that it can be checked once all entries are written.
        let mut pointed: HashMap<(String, String), String> = HashMap::new(); // target -> first path pointing at it
        for e in entries.iter_mut() {
            let path = e.path();
            if let Some(r) = e.resource.as_mut() {
                reference::for_each_reference_mut(r, &mut |s| {
                    if let Some(to) = ids.get(s.as_str()) {
                        *s = to.clone();
                    }
                });
                let root = r.get("resourceType").and_then(Value::as_str).unwrap_or("Resource").to_owned();
                resolve_conditionals(tx, r, &root).map_err(|err| err.within_entry(&path))?;
                if !existing.contains(&e.index) {
                    note_targets(r, &root, &path, &mut pointed);
                }
            }
            if let Some((_, draft)) = &e.preset {
                note_paths(draft.references.iter().map(|(p, r)| (p.as_str(), r.as_str())), &path, &mut pointed);
            }
        }

        // 3. Run the entries in the specification's order.
        let mut results: Vec<Option<Value>> = vec![None; count];
        let mut written_refs: Vec<(usize, String)> = Vec::new(); // entries whose references to check, by type/id
        let mut deleted: Vec<(usize, String, String)> = Vec::new(); // entries that deleted a resource
        for &i in &order {
            let preset = entries[i].preset.take();
            let e = entries[i].clone();
            let path = e.path();
            let target = targets[i].clone();
            let outcome: Result<Value, AppError> = (|| {
                let w = match (e.action, target) {
                    (Action::Create { resource_type, .. }, Some((_, id))) => {
                        if existing.contains(&i) {
                            Written::Existing(crate::Released::new(record::read_in(tx, &resource_type, &id)?))
                        } else if let Some((_, draft)) = &preset {
                            record::create_draft_in(tx, &resource_type, &id, draft, None, Refs::Deferred, w)?
                        } else {
                            let value = need_resource(e.resource, &path)?;
                            record::create_in(tx, value, &resource_type, None, Some(id), Refs::Deferred, w)?
                        }
                    }
                    (Action::Update { resource_type, id }, _) => {
                        let value = need_resource(e.resource, &path)?;
                        record::update_in(tx, value, &resource_type, &id, e.if_match, Method::Put, Refs::Deferred, w)?
                    }
                    (Action::ConditionalUpdate { resource_type, .. }, Some((_, id))) => {
                        let value = with_id(need_resource(e.resource, &path)?, &id);
                        record::update_in(tx, value, &resource_type, &id, e.if_match, Method::Put, Refs::Deferred, w)?
                    }
                    (Action::Patch { resource_type, id }, _) => {
                        let patch = e.patch.ok_or_else(|| missing_patch(&path))?;
                        record::patch_in(tx, &resource_type, &id, &patch, e.if_match, Refs::Deferred, w)?
                    }
                    (Action::Delete { resource_type, id }, _) => match record::delete_in(tx, &resource_type, &id, e.if_match, Refs::Deferred, w) {
                        Err(AppError::NotFound(_)) => Written::Deleted(None),
                        other => other?,
                    },
                    (Action::ConditionalDelete { resource_type, criteria }, _) => {
                        record::conditional_delete_in(tx, &resource_type, &criteria, Refs::Deferred, w)?
                    }
                    (Action::Read { resource_type, id }, _) => return read_entry(&record::read_in(tx, &resource_type, &id)?),
                    (Action::VRead { .. }, _) | (Action::Search { .. }, _) => {
                        return Err(AppError::bad_request(
                            IssueCode::NotSupported,
                            "only reads by id are supported as GET entries inside a transaction; use a batch for searches and version reads",
                            Some("request.url"),
                        ))
                    }
                    (_, None) => return Err(AppError::Internal("invariant: a write entry without a target".into())),
                };
                if let Some(s) = w.stored() {
                    self.touch(s.person_key.as_deref(), &s.resource_type);
                }
                self.changed(&w);
                match w.stored() {
                    Some(s) if s.deleted => deleted.push((i, s.resource_type.clone(), s.id.clone())),
                    Some(s) if !matches!(w, Written::Existing(_)) => written_refs.push((i, format!("{}/{}", s.resource_type, s.id))),
                    _ => {}
                }
                let mut entry = written_entry(&w, ret == Return::Representation)?;
                if let (Some(u), Some(obj)) = (&entries[i].full_url, entry.as_object_mut()) {
                    let mut with_url = Map::new();
                    with_url.insert("fullUrl".into(), json!(u));
                    with_url.extend(std::mem::take(obj));
                    *obj = with_url;
                }
                Ok(entry)
            })();
            results[i] = Some(outcome.map_err(|err| err.within_entry(&path))?);
        }

        // 4. Every reference in what was written must now point at something that exists, and nothing live may
        //    point at what was deleted.
        for (i, key) in written_refs.iter().filter(|(i, _)| matches!(entries[*i].action, Action::Patch { .. })) {
            // A patch's result was not in the request: read it back to learn its references.
            let Some((t, id)) = key.split_once('/') else { continue };
            if let Some(body) = tx.current(t, id)?.and_then(|c| c.body) {
                let value: Value = serde_json::from_str(&body).map_err(|e| AppError::Internal(Box::new(e)))?;
                note_targets(&value, t, &entries[*i].path(), &mut pointed);
            }
        }
        let mut targets: Vec<(&(String, String), &String)> = pointed.iter().collect();
        targets.sort();
        for ((t, id), path) in targets {
            match tx.current(t, id)? {
                Some(c) if !c.deleted => {}
                _ => {
                    return Err(AppError::unprocessable(
                        IssueCode::NotFound,
                        format!("reference '{t}/{id}' points to a resource that does not exist"),
                        Some(path),
                    ))
                }
            }
        }
        for (i, t, id) in deleted {
            prepare::check_unreferenced(tx, &t, &id).map_err(|err| err.within_entry(&entries[i].path()))?;
        }
        let out: Vec<Value> = results.into_iter().map(|r| r.unwrap_or(Value::Null)).collect();
        Ok(response_bundle("transaction-response", out))
    }

    fn parse_entry(&self, index: usize, raw: Value) -> Result<Entry, AppError> {
        let path = format!("Bundle.entry[{index}]");
        let bad = |code, msg: String, at: &str| AppError::bad_request(code, msg, Some(&format!("{path}{at}")));
        let Value::Object(mut obj) = raw else {
            return Err(bad(IssueCode::Structure, "an entry must be an object".into(), ""));
        };
        let resource = obj.shift_remove("resource");
        let full_url = match obj.get("fullUrl") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(bad(IssueCode::Structure, "fullUrl must be a string".into(), ".fullUrl")),
        };
        let request =
            obj.get("request").and_then(Value::as_object).ok_or_else(|| bad(IssueCode::Required, "the entry has no request".into(), ".request"))?;
        let method = request
            .get("method")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(IssueCode::Required, "request.method is required".into(), ".request.method"))?;
        let url =
            request.get("url").and_then(Value::as_str).ok_or_else(|| bad(IssueCode::Required, "request.url is required".into(), ".request.url"))?;
        let header = |name: &str| request.get(name).and_then(Value::as_str).map(str::to_owned);
        let if_match = match header("ifMatch") {
            None => None,
            Some(v) => {
                Some(parse_etag(&v).ok_or_else(|| bad(IssueCode::Value, format!("ifMatch '{v}' is not an ETag like W/\"1\""), ".request.ifMatch"))?)
            }
        };
        let if_none_exist = header("ifNoneExist");
        let url = strip_base(url, &self.config.base_url);
        let (route, query) = match url.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (url, None),
        };
        let segments: Vec<&str> = route.trim_matches('/').split('/').collect();
        let bad_url = || bad(IssueCode::Value, format!("request.url '{url}' is not supported for {method}"), ".request.url");
        let rtype = segments.first().copied().unwrap_or("");
        if !fhir::definitions::is_resource_type(rtype) {
            return Err(bad(IssueCode::NotSupported, format!("'{rtype}' is not a FHIR R4 resource type"), ".request.url"));
        }
        let t = rtype.to_owned();
        let conditional = |q: Option<&str>| -> Result<Vec<TokenCriterion>, AppError> {
            criteria::conditional(rtype, q.unwrap_or("")).map_err(|e| e.within_entry(&format!("{path}.request.url")))
        };
        let action = match (method, segments.as_slice()) {
            ("POST", [_]) => Action::Create {
                resource_type: t,
                if_none_exist: if_none_exist
                    .as_deref()
                    .map(|q| criteria::conditional(rtype, q))
                    .transpose()
                    .map_err(|e| e.within_entry(&format!("{path}.request.ifNoneExist")))?,
            },
            ("PUT", [_, id]) => Action::Update { resource_type: t, id: id.to_string() },
            ("PUT", [_]) => Action::ConditionalUpdate { resource_type: t, criteria: conditional(query)? },
            ("PATCH", [_, id]) => Action::Patch { resource_type: t, id: id.to_string() },
            ("DELETE", [_, id]) => Action::Delete { resource_type: t, id: id.to_string() },
            ("DELETE", [_]) => Action::ConditionalDelete { resource_type: t, criteria: conditional(query)? },
            ("GET", [_, id]) => Action::Read { resource_type: t, id: id.to_string() },
            ("GET", [_, id, "_history", v]) => Action::VRead { resource_type: t, id: id.to_string(), version: v.to_string() },
            ("GET", [_]) => {
                Action::Search { resource_type: t, params: form_urlencoded::parse(query.unwrap_or("").as_bytes()).into_owned().collect() }
            }
            _ => return Err(bad_url()),
        };
        let mut entry = Entry { index, full_url, action, resource: None, patch: None, if_match, preset: None };
        match (&entry.action, resource) {
            (Action::Patch { .. }, Some(binary)) => entry.patch = Some(patch_of_entry(&binary).map_err(|e| e.within_entry(&path))?),
            (Action::Create { resource_type, .. } | Action::ConditionalUpdate { resource_type, .. }, Some(r)) => {
                check(&r, resource_type).map_err(|e| e.within_entry(&path))?;
                entry.resource = Some(r);
            }
            (Action::Update { resource_type, id }, Some(r)) => {
                check_update_id(&r, resource_type, id).map_err(|e| e.within_entry(&path))?;
                check(&r, resource_type).map_err(|e| e.within_entry(&path))?;
                entry.resource = Some(r);
            }
            (Action::Create { .. } | Action::Update { .. } | Action::ConditionalUpdate { .. } | Action::Patch { .. }, None) => {
                return Err(bad(IssueCode::Required, format!("a {method} entry needs a resource"), ".resource"))
            }
            (_, Some(_)) => return Err(bad(IssueCode::Invalid, format!("a {method} entry must not carry a resource"), ".resource")),
            (_, None) => {}
        }
        ensure_type(rtype)?;
        Ok(entry)
    }
}

/// A transaction whose every create can be prepared before its unit: no conditional entries and no
/// conditional references, so identities do not depend on what is stored.
fn is_plain(entries: &[Entry]) -> bool {
    entries.iter().all(|e| {
        let plain_action = matches!(
            e.action,
            Action::Create { if_none_exist: None, .. }
                | Action::Update { .. }
                | Action::Patch { .. }
                | Action::Delete { .. }
                | Action::Read { .. }
                | Action::VRead { .. }
                | Action::Search { .. }
        );
        let plain_refs = e
            .resource
            .as_ref()
            .is_none_or(|r| !reference::references(r).iter().any(|x| matches!(reference::parse(x, None), Target::Conditional { .. })));
        plain_action && plain_refs
    })
}

/// Chooses ids for the creates of a plain transaction, points every reference at them, and prepares each
/// create's stored form (body, index rows) on the blocking pool, in parallel, off the writer.
async fn prepare_plain(mut entries: Vec<Entry>, w: &Writing) -> Result<Vec<Entry>, AppError> {
    let mut ids: HashMap<String, String> = HashMap::new();
    let mut chosen: Vec<Option<String>> = Vec::with_capacity(entries.len());
    for e in &entries {
        let id = match &e.action {
            Action::Create { resource_type, .. } => {
                let id = record::new_id();
                if let Some(u) = &e.full_url {
                    ids.insert(u.clone(), format!("{resource_type}/{id}"));
                }
                Some(id)
            }
            Action::Update { resource_type, id } => {
                if let Some(u) = &e.full_url {
                    ids.insert(u.clone(), format!("{resource_type}/{id}"));
                }
                None
            }
            _ => None,
        };
        chosen.push(id);
    }
    for e in entries.iter_mut() {
        if let Some(r) = e.resource.as_mut() {
            reference::for_each_reference_mut(r, &mut |s| {
                if let Some(to) = ids.get(s.as_str()) {
                    *s = to.clone();
                }
            });
        }
    }
    let mut jobs: Vec<(usize, Value, String, String)> = Vec::new();
    for (i, e) in entries.iter_mut().enumerate() {
        if let (Action::Create { resource_type, .. }, Some(id)) = (&e.action, chosen[i].take()) {
            if let Some(value) = e.resource.take() {
                jobs.push((i, value, resource_type.clone(), id));
            }
        }
    }
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).max(1);
    let chunk = jobs.len().div_ceil(workers).max(1);
    let mut tasks = Vec::new();
    let mut rest = jobs;
    while !rest.is_empty() {
        let tail = rest.split_off(chunk.min(rest.len()));
        let part = std::mem::replace(&mut rest, tail);
        let w = w.clone();
        tasks.push(tokio::task::spawn_blocking(move || {
            part.into_iter()
                .map(|(i, value, t, id)| {
                    let draft = Draft::new(value.clone(), &t, &id, &w)?;
                    Ok((i, value, id, draft))
                })
                .collect::<Result<Vec<_>, AppError>>()
        }));
    }
    for task in tasks {
        for (i, value, id, draft) in task.await.map_err(|e| AppError::Internal(Box::new(e)))?? {
            match draft {
                Some(d) => entries[i].preset = Some((id, d)),
                None => entries[i].resource = Some(value),
            }
        }
    }
    Ok(entries)
}

fn bundle_kind(bundle: &Value) -> Result<&str, AppError> {
    if bundle.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
        return Err(AppError::bad_request(IssueCode::Invalid, "POST to the base URL takes a Bundle", Some("resourceType")));
    }
    match bundle.get("type").and_then(Value::as_str) {
        Some(k @ ("batch" | "transaction")) => Ok(k),
        Some(other) => Err(AppError::bad_request(
            IssueCode::Value,
            format!("Bundle.type '{other}' cannot be processed; use 'batch' or 'transaction'"),
            Some("Bundle.type"),
        )),
        None => Err(AppError::bad_request(IssueCode::Required, "Bundle.type is required", Some("Bundle.type"))),
    }
}

fn strip_base<'u>(url: &'u str, base: &str) -> &'u str {
    url.strip_prefix(base).map(|r| r.trim_start_matches('/')).unwrap_or(url)
}

fn single_match(tx: &mut dyn Tx, resource_type: &str, criteria: &[TokenCriterion], what: &str) -> Result<Option<String>, AppError> {
    let found = tx.find(resource_type, criteria, 2)?;
    match found.len() {
        0 | 1 => Ok(found.into_iter().next()),
        _ => Err(AppError::PreconditionFailed(format!("{what} matches more than one resource"))),
    }
}

/// Resolves `Type?query` references in `value`, leaving local ones to the final integrity check.
pub(crate) fn resolve_conditionals(tx: &mut dyn Tx, value: &mut Value, root: &str) -> Result<(), AppError> {
    let has_conditional = reference::references(value).iter().any(|r| matches!(reference::parse(r, None), Target::Conditional { .. }));
    if !has_conditional {
        return Ok(());
    }
    // Resolve on a copy whose local references are ignored: only conditional ones are rewritten here.
    let mut conditional_only = value.clone();
    reference::for_each_reference_mut(&mut conditional_only, &mut |s| {
        if !matches!(reference::parse(s, None), Target::Conditional { .. }) {
            *s = format!("#{s}");
        }
    });
    prepare::resolve_references(tx, &mut conditional_only, root)?;
    let resolved: Vec<String> = reference::references(&conditional_only).into_iter().map(str::to_owned).collect();
    let mut n = 0;
    reference::for_each_reference_mut(value, &mut |s| {
        if let Some(r) = resolved.get(n) {
            if !r.starts_with('#') {
                *s = r.clone();
            }
        }
        n += 1;
    });
    Ok(())
}

/// Records the local references of `value` (a resource at `entry_path`) with the path of the first one.
fn note_targets(value: &Value, root: &str, entry_path: &str, pointed: &mut HashMap<(String, String), String>) {
    let refs = reference::references_with_paths(value, root);
    note_paths(refs.iter().map(|(p, r)| (p.as_str(), *r)), entry_path, pointed);
}

/// Records (path, reference) pairs of a resource at `entry_path`: local targets with their first path.
fn note_paths<'a>(refs: impl Iterator<Item = (&'a str, &'a str)>, entry_path: &str, pointed: &mut HashMap<(String, String), String>) {
    for (path, r) in refs {
        if let Target::Local { resource_type, id, .. } = reference::parse(r, None) {
            let at = match path.split_once('.') {
                Some((_, rest)) => format!("{entry_path}.resource.{rest}"),
                None => format!("{entry_path}.resource"),
            };
            pointed.entry((resource_type.to_owned(), id.to_owned())).or_insert(at);
        }
    }
}

fn need_resource(resource: Option<Value>, path: &str) -> Result<Value, AppError> {
    resource.ok_or_else(|| AppError::bad_request(IssueCode::Required, "the entry needs a resource", Some(&format!("{path}.resource"))))
}

fn missing_patch(path: &str) -> AppError {
    AppError::bad_request(
        IssueCode::Required,
        "a PATCH entry needs a Parameters resource (FHIRPath Patch) or a Binary holding a JSON Patch",
        Some(&format!("{path}.resource")),
    )
}

fn with_id(mut value: Value, id: &str) -> Value {
    if let Some(obj) = value.as_object_mut() {
        obj.insert("id".into(), json!(id));
    }
    value
}

/// A PATCH entry carries a FHIRPath Patch as its resource (a Parameters), or a JSON Patch as a Binary with
/// `contentType` `application/json-patch+json`.
fn patch_of_entry(resource: &Value) -> Result<crate::patch::Patch, AppError> {
    if fhir::patch::is_fhirpath_patch(resource) {
        return crate::patch::parse(resource.clone());
    }
    let bad = |msg: &str, at: &str| AppError::bad_request(IssueCode::Invalid, msg.to_owned(), Some(&format!("resource{at}")));
    if resource.get("resourceType").and_then(Value::as_str) != Some("Binary") {
        return Err(bad("a PATCH entry's resource must be a Parameters (FHIRPath Patch) or a Binary holding a JSON Patch", ".resourceType"));
    }
    if resource.get("contentType").and_then(Value::as_str) != Some("application/json-patch+json") {
        return Err(bad("the Binary's contentType must be application/json-patch+json", ".contentType"));
    }
    let data = resource.get("data").and_then(Value::as_str).ok_or_else(|| bad("the Binary has no data", ".data"))?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(data).map_err(|_| bad("Binary.data is not valid base64", ".data"))?;
    let patch: Value = serde_json::from_slice(&bytes).map_err(|_| bad("Binary.data is not a JSON document", ".data"))?;
    crate::patch::parse(patch)
}

fn read_entry(s: &store::Stored) -> Result<Value, AppError> {
    Ok(json!({
        "resource": resource_json(s)?,
        "response": { "status": status_line(200), "etag": etag(s.version), "lastModified": s.last_updated }
    }))
}

fn response_bundle(kind: &str, entries: Vec<Value>) -> Value {
    json!({ "resourceType": "Bundle", "id": record::new_id(), "type": kind, "entry": entries })
}
