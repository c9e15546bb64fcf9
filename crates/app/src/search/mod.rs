//! FHIR search: type-level, system-level (`_type`), compartment and `$everything`, executed as store
//! queries with keyset paging (`next` and `previous` stay correct while data changes), totals,
//! `_include`/`_revinclude` (with `:iterate`) and `_summary`/`_elements`.

mod parse;
mod shape;

pub use parse::{Summary, Total};

use crate::error::AppError;
use crate::present::resource_json;
use crate::record::{ensure_type, Handling};
use crate::Session;
use fhir::bundle::{Bundle, BundleType, SearchMode};
use fhir::{Issue, IssueCode};
use parse::{Context, Cursor, Include, Parsed};
use serde_json::Value;
use std::collections::{BTreeSet, HashSet};
use store::search::{Predicate, Query, RecordQuery, SortKey, Test};
use store::{Stored, Visibility};

/// `_summary` and `_elements` on a read or vread: the resource cut as asked (tagged SUBSETTED where
/// elements were left out), or `None` when neither is given, so that the stored text is returned exactly.
pub fn subset_of_read(stored: &Stored, params: &[(String, String)]) -> Result<Option<Value>, AppError> {
    let mut summary = Summary::False;
    let mut elements: Option<Vec<String>> = None;
    for (k, v) in params {
        match k.as_str() {
            "_summary" => {
                summary = parse::summary(v).filter(|s| *s != Summary::Count).ok_or_else(|| {
                    AppError::bad_request(
                        IssueCode::Value,
                        format!("_summary on a read takes true, false, text or data, not '{v}'"),
                        Some("_summary"),
                    )
                })?
            }
            "_elements" => elements = Some(parse::elements(v)),
            _ => {}
        }
    }
    if summary == Summary::False && elements.is_none() {
        return Ok(None);
    }
    Ok(Some(shape::shape(resource_json(stored)?, summary, elements.as_deref())))
}

/// One page of search results.
#[derive(Debug, Clone)]
pub struct SearchPage {
    /// The search's path under the base (`Patient`, `Patient/1/Observation`, `Patient/1/$everything`, or
    /// empty for a system search), for links.
    pub path: String,
    pub(crate) matches: Vec<Stored>,
    pub(crate) included: Vec<Stored>,
    pub total: Option<u64>,
    /// Cursors of the neighbouring pages.
    pub next: Option<String>,
    pub previous: Option<String>,
    pub warnings: Vec<Issue>,
    /// The cursor this page was asked for with (`_cursor` or `_before`, and its text), for the `self` link.
    cursor: Option<(&'static str, String)>,
    count: usize,
    summary: Summary,
    elements: Option<Vec<String>>,
    applied: Vec<(String, String)>,
}

impl Session {
    fn context(&self, handling: Handling) -> Context<'_> {
        Context { base_url: &self.config.base_url, handling, limits: &self.config.limits, now_ms: chrono::Utc::now().timestamp_millis() }
    }

    /// `GET [base]/[type]?…`
    pub async fn search(&self, resource_type: &str, params: &[(String, String)], handling: Handling) -> Result<SearchPage, AppError> {
        ensure_type(resource_type)?;
        let parsed = parse::parse(resource_type, params, &self.context(handling))?;
        self.run(resource_type, resource_type.to_owned(), parsed, Vec::new()).await
    }

    /// The statements `GET [base]/[type]?…` would run for this caller and the database's plans for them (for
    /// the command line's `joinery explain`); nothing is read from the record.
    pub async fn explain_search(&self, resource_type: &str, params: &[(String, String)]) -> Result<Vec<String>, AppError> {
        ensure_type(resource_type)?;
        let parsed = parse::parse(resource_type, params, &self.context(Handling::Strict))?;
        Ok(self.store.explain(query_of(resource_type, &parsed, Vec::new(), parsed.count + 1, self.visibility())).await?)
    }

    /// `GET [base]/Patient/[id]/[type]?…`: the search, restricted to the patient's compartment.
    pub async fn search_compartment(
        &self,
        compartment: &str,
        id: &str,
        resource_type: &str,
        params: &[(String, String)],
        handling: Handling,
    ) -> Result<SearchPage, AppError> {
        ensure_type(resource_type)?;
        let members = self.compartment_filter(compartment, id, resource_type).await?;
        let mut parsed = parse::parse(resource_type, params, &self.context(handling))?;
        parsed.person = Some(id.to_owned());
        self.run(resource_type, format!("{compartment}/{id}/{resource_type}"), parsed, vec![members]).await
    }

    /// `GET [base]?_type=…`: a search over several types, one after another in the order given.
    pub async fn search_system(&self, params: &[(String, String)], handling: Handling) -> Result<SearchPage, AppError> {
        let parsed = parse::parse("Resource", params, &self.context(handling))?;
        let Some(types) = parsed.types.clone() else {
            return Err(AppError::bad_request(IssueCode::Required, "a system-level search needs _type", Some("_type")));
        };
        // Each type is searched in turn; the cursor carries the type index first.
        let (start, inner) = match &parsed.cursor {
            Cursor::After(keys) => match keys.split_first() {
                Some((Value::Number(n), rest)) if n.as_u64().is_some_and(|i| (i as usize) < types.len()) => {
                    (n.as_u64().unwrap_or(0) as usize, Cursor::After(rest.to_vec()))
                }
                _ => return Err(AppError::bad_request(IssueCode::Value, "the paging cursor is not valid", Some("_cursor"))),
            },
            Cursor::Start => (0, Cursor::Start),
            Cursor::Before(_) => return Err(AppError::bad_request(IssueCode::NotSupported, "system searches page forwards only", Some("_before"))),
        };
        let mut page = SearchPage::empty(String::new(), &parsed);
        let mut total = 0u64;
        for (i, t) in types.iter().enumerate() {
            let mut p = parse::parse(t, params, &self.context(handling))?;
            if i < start {
                if p.total != Total::None {
                    total += self.store.count(query_of(t, &p, Vec::new(), 0, self.visibility())).await?;
                }
                continue;
            }
            p.cursor = if i == start { inner.clone() } else { Cursor::Start };
            p.count = parsed.count.saturating_sub(page.matches.len());
            let want_total = p.total != Total::None;
            let sub = self.run(t, t.clone(), p, Vec::new()).await?;
            total += sub.total.unwrap_or(0);
            page.matches.extend(sub.matches);
            page.included.extend(sub.included);
            if page.next.is_none() {
                if let Some(next) = sub.next {
                    let keys: Vec<Value> = serde_json::from_str(&next).unwrap_or_default();
                    page.next = Some(serde_json::to_string(&std::iter::once(Value::from(i)).chain(keys).collect::<Vec<_>>()).unwrap_or_default());
                } else if page.matches.len() >= parsed.count && i + 1 < types.len() {
                    page.next = Some(format!("[{}]", i + 1));
                }
            }
            if !want_total && page.matches.len() >= parsed.count {
                break;
            }
        }
        if parsed.total != Total::None || parsed.summary == Summary::Count || (start == 0 && page.next.is_none()) {
            page.total = Some(total.max(page.matches.len() as u64));
        }
        page.warnings = parsed.warnings;
        Ok(page)
    }

    /// `GET [base]/Patient/[id]/$everything`: the patient, every resource in their compartment, and what
    /// those resources refer to; `_since`, `_type`, `_count`, paged by (type, id).
    pub async fn everything(&self, patient_id: &str, params: &[(String, String)]) -> Result<SearchPage, AppError> {
        let patient = self.read("Patient", patient_id).await?;
        let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let since = get("_since")
            .map(|s| {
                crate::instant::parse_lower_bound(s)
                    .ok_or_else(|| AppError::bad_request(IssueCode::Value, format!("_since '{s}' is not a valid instant"), Some("_since")))
            })
            .transpose()?;
        let types: Option<Vec<String>> = get("_type").map(|t| t.split(',').map(str::to_owned).collect());
        if let Some(t) = types.iter().flatten().find(|t| !fhir::definitions::is_resource_type(t)) {
            return Err(AppError::bad_request(IssueCode::Value, format!("'{t}' is not a FHIR R4 resource type"), Some("_type")));
        }
        let count = match get("_count") {
            None => self.config.limits.default_count,
            Some(c) => c
                .parse::<usize>()
                .map_err(|_| AppError::bad_request(IssueCode::Value, "_count is not a whole number", Some("_count")))?
                .min(self.config.limits.max_count),
        };
        let after: Option<(String, String)> = match get("_cursor") {
            None => None,
            Some(c) => Some(
                serde_json::from_str(c).map_err(|_| AppError::bad_request(IssueCode::Value, "the paging cursor is not valid", Some("_cursor")))?,
            ),
        };
        // Members: the person's record as the store keeps it, the resources whose person key is the patient
        // (the patient, and what its compartment parameters first name them in), read on that key alone.
        let record = RecordQuery { person: patient.id.clone(), types, after, since, limit: count + 1, visibility: self.visibility().clone() };
        let mut rows = self.store.person_record(record).await?;
        let more = rows.len() > count;
        rows.truncate(count);
        let mut page = SearchPage::empty(format!("Patient/{}/$everything", patient.id), &Parsed { count, ..Default::default() });
        page.applied = params.iter().filter(|(k, _)| k != "_cursor" && k != "_count").cloned().collect();
        page.next = if more { rows.last().map(|s| serde_json::json!([s.resource_type, s.id]).to_string()) } else { None };
        // What the page's resources refer to, outside the compartment.
        let in_page: HashSet<(String, String)> = rows.iter().map(|s| (s.resource_type.clone(), s.id.clone())).collect();
        let mut referenced: BTreeSet<(String, String)> = BTreeSet::new();
        let keys: Vec<(String, String)> = rows.iter().map(|s| (s.resource_type.clone(), s.id.clone())).collect();
        for link in self.store.person_links(&patient.id, keys).await? {
            let key = (link.target_type, link.target_id);
            if !in_page.contains(&key) && fhir::definitions::patient_compartment_params(&key.0).is_empty() && key.0 != "Patient" {
                referenced.insert(key);
            }
        }
        page.included = self.store.read_shared(referenced.into_iter().collect()).await?;
        page.matches = rows;
        Ok(page)
    }

    /// The predicate group that puts `resource_type` resources in a patient's compartment.
    async fn compartment_filter(&self, compartment: &str, id: &str, resource_type: &str) -> Result<Vec<Predicate>, AppError> {
        if compartment != "Patient" {
            return Err(AppError::NotFound(format!("the {compartment} compartment is not supported; only Patient")));
        }
        self.read("Patient", id).await?;
        let params = fhir::definitions::patient_compartment_params(resource_type);
        let mut group: Vec<Predicate> = params
            .iter()
            .filter(|p| fhir::search::param_of(resource_type, p).is_some())
            .map(|p| Predicate { param: p.clone(), test: Test::Reference { target_type: Some("Patient".into()), target_id: id.to_owned() } })
            .collect();
        if resource_type == "Patient" {
            group.push(Predicate { param: "_id".into(), test: Test::Id(id.to_owned()) });
        }
        if group.is_empty() {
            return Err(AppError::bad_request(IssueCode::NotSupported, format!("{resource_type} is not in the Patient compartment"), None));
        }
        Ok(group)
    }

    async fn run(&self, resource_type: &str, path: String, parsed: Parsed, extra: Vec<Vec<Predicate>>) -> Result<SearchPage, AppError> {
        let mut page = SearchPage::empty(path, &parsed);
        let count_only = parsed.summary == Summary::Count || parsed.count == 0;
        let query = query_of(resource_type, &parsed, extra, parsed.count + 1, self.visibility());
        if let Cursor::After(keys) | Cursor::Before(keys) = &parsed.cursor {
            check_cursor(&query, keys)?;
        }
        if parsed.total != Total::None || count_only {
            page.total = Some(self.store.count(query.clone()).await?);
        }
        if !count_only {
            let mut rows = self.store.search(query).await?;
            let more = rows.len() > parsed.count;
            match &parsed.cursor {
                Cursor::Before(_) => {
                    if more {
                        rows.remove(0);
                        page.previous = rows.first().map(|(_, k)| cursor_text(k));
                    }
                    page.next = rows.last().map(|(_, k)| cursor_text(k));
                }
                cursor => {
                    if more {
                        rows.truncate(parsed.count);
                        page.next = rows.last().map(|(_, k)| cursor_text(k));
                    }
                    if matches!(cursor, Cursor::After(_)) {
                        page.previous = rows.first().map(|(_, k)| cursor_text(k));
                    }
                }
            }
            page.matches = rows.into_iter().map(|(s, _)| s).collect();
            // The whole result on one page: its size is the total, at no cost.
            if page.total.is_none() && parsed.cursor == Cursor::Start && !more {
                page.total = Some(page.matches.len() as u64);
            }
            let (included, truncated) = self.includes(&page.matches, &parsed.includes, &parsed.revincludes).await?;
            page.included = included;
            if truncated {
                page.warnings.push(Issue::warning(
                    IssueCode::TooCostly,
                    format!("only the first {} included resources are returned (the limit max_included)", self.config.limits.max_included),
                ));
            }
        }
        Ok(page)
    }

    /// Resources added by `_include` and `_revinclude`, following `:iterate` ones until nothing new appears.
    async fn includes(&self, matches: &[Stored], includes: &[Include], revincludes: &[Include]) -> Result<(Vec<Stored>, bool), AppError> {
        let mut seen: HashSet<(String, String)> = matches.iter().map(|s| (s.resource_type.clone(), s.id.clone())).collect();
        let mut included: Vec<Stored> = Vec::new();
        let mut frontier: Vec<Stored> = matches.to_vec();
        for round in 0..8 {
            let mut wanted: BTreeSet<(String, String)> = BTreeSet::new();
            for (t, ids) in group_ids(&frontier) {
                for inc in includes.iter().filter(|i| (round == 0 || i.iterate) && i.source_type == t) {
                    for link in self.store.links_from(&t, ids.clone(), inc.param.clone().map(|p| vec![p])).await? {
                        if inc.target_type.as_ref().is_none_or(|tt| tt == &link.target_type) {
                            wanted.insert((link.target_type, link.target_id));
                        }
                    }
                }
                for rev in revincludes.iter().filter(|i| round == 0 || i.iterate) {
                    if rev.target_type.as_ref().is_some_and(|tt| tt != &t) {
                        continue;
                    }
                    for link in self.store.links_to(&t, ids.clone(), Some(rev.source_type.clone()), rev.param.clone()).await? {
                        wanted.insert((link.resource_type, link.id));
                    }
                }
            }
            wanted.retain(|k| !seen.contains(k));
            if wanted.is_empty() {
                break;
            }
            let room = self.config.limits.max_included.saturating_sub(included.len());
            let truncated = wanted.len() > room;
            let new = self.store.read_many(wanted.into_iter().take(room).collect(), self.visibility().clone()).await?;
            for s in &new {
                seen.insert((s.resource_type.clone(), s.id.clone()));
            }
            included.extend(new.iter().cloned());
            if truncated {
                return Ok((included, true));
            }
            if !includes.iter().chain(revincludes).any(|i| i.iterate) {
                break;
            }
            frontier = new;
        }
        Ok((included, false))
    }

    /// The searchset Bundle of a page, with `self`, `next` and `previous` links.
    pub fn searchset(&self, page: &SearchPage) -> Result<Value, AppError> {
        Ok(self.searchset_bundle(page, false)?.build())
    }

    /// The searchset Bundle of a page as JSON text (indented when `pretty`): the resources are written as
    /// they are stored, without being parsed and written again, unless `_summary` or `_elements` cut them.
    pub fn searchset_text(&self, page: &SearchPage, pretty: bool) -> Result<String, AppError> {
        if pretty {
            return serde_json::to_string_pretty(&self.searchset(page)?).map_err(|e| AppError::Internal(Box::new(e)));
        }
        Ok(self.searchset_bundle(page, true)?.build_text())
    }

    /// The Bundle of a page; with `as_stored`, each resource no parameter cuts is kept as its stored text.
    fn searchset_bundle(&self, page: &SearchPage, as_stored: bool) -> Result<Bundle, AppError> {
        for s in page.matches.iter().chain(&page.included) {
            self.touch(s.person_key.as_deref(), &s.resource_type);
        }
        let mut b = Bundle::new(BundleType::Searchset);
        if let Some(t) = page.total {
            b.total(t);
        }
        b.link("self", self.link(page, page.cursor.as_ref().map(|(k, v)| (*k, v.as_str()))));
        if page.next.is_some() || page.previous.is_some() {
            b.link("first", self.link(page, None));
        }
        if let Some(n) = &page.next {
            b.link("next", self.link(page, Some(("_cursor", n))));
        }
        if let Some(p) = &page.previous {
            b.link("previous", self.link(page, Some(("_before", p))));
        }
        let base = &self.config.base_url;
        let uncut = page.summary == Summary::False && page.elements.is_none();
        for (rows, mode) in [(&page.matches, SearchMode::Match), (&page.included, SearchMode::Include)] {
            for s in rows {
                let full_url = Some(format!("{base}/{}/{}", s.resource_type, s.id));
                match (&s.body, as_stored && uncut) {
                    (Some(text), true) => b.push_search_text(full_url, text.clone(), mode),
                    _ => b.push_search(full_url, shape::shape(resource_json(s)?, page.summary, page.elements.as_deref()), mode),
                }
            }
        }
        if !page.warnings.is_empty() {
            b.push_search(None, fhir::OperationOutcome::new(page.warnings.clone()).to_json(), SearchMode::Outcome);
        }
        Ok(b)
    }

    fn link(&self, page: &SearchPage, cursor: Option<(&str, &str)>) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &page.applied {
            if k != "_count" {
                q.append_pair(k, v);
            }
        }
        q.append_pair("_count", &page.count.to_string());
        if let Some((k, v)) = cursor {
            q.append_pair(k, v);
        }
        let base = &self.config.base_url;
        if page.path.is_empty() {
            format!("{base}?{}", q.finish())
        } else {
            format!("{base}/{}?{}", page.path, q.finish())
        }
    }
}

impl SearchPage {
    /// The page's matches, as they leave `app` (its Bundle is `Session::searchset`).
    pub fn matches(&self) -> Vec<crate::Released> {
        self.matches.iter().cloned().map(crate::Released::new).collect()
    }

    fn empty(path: String, parsed: &Parsed) -> SearchPage {
        SearchPage {
            path,
            matches: Vec::new(),
            included: Vec::new(),
            total: None,
            next: None,
            previous: None,
            warnings: parsed.warnings.clone(),
            cursor: match &parsed.cursor {
                Cursor::Start => None,
                Cursor::After(k) => Some(("_cursor", cursor_text(k))),
                Cursor::Before(k) => Some(("_before", cursor_text(k))),
            },
            count: parsed.count,
            summary: parsed.summary,
            elements: parsed.elements.clone(),
            applied: parsed.applied.clone(),
        }
    }
}

/// The store's query for a parsed search, filtered by what the caller may see.
fn query_of(resource_type: &str, parsed: &Parsed, extra: Vec<Vec<Predicate>>, limit: usize, visibility: &Visibility) -> Query {
    let mut filters = parsed.filters.clone();
    filters.extend(extra);
    let (after, before) = match &parsed.cursor {
        Cursor::Start => (None, None),
        Cursor::After(k) => (Some(k.clone()), None),
        Cursor::Before(k) => (None, Some(k.clone())),
    };
    Query {
        resource_type: resource_type.to_owned(),
        filters,
        sort: parsed.sort.clone(),
        limit,
        after,
        before,
        person: parsed.person.clone(),
        visibility: visibility.clone(),
    }
}

/// A cursor comes from the client, so it is checked whole before the store sees it: one value per sort key
/// and then the id, each of its key's kind.
fn check_cursor(query: &Query, keys: &[Value]) -> Result<(), AppError> {
    let mut sort: Vec<&SortKey> = query.sort.iter().filter(|k| k.param.is_some()).collect();
    let id_key = SortKey { param: None, table: store::search::IndexTable::Token, descending: false };
    sort.push(&id_key);
    if keys.len() != sort.len() || !sort.iter().zip(keys).all(|(k, v)| k.accepts(v)) {
        return Err(AppError::bad_request(IssueCode::Value, "the paging cursor does not belong to this search", Some("_cursor")));
    }
    Ok(())
}

fn cursor_text(keys: &[Value]) -> String {
    serde_json::to_string(keys).unwrap_or_default()
}

/// Ids grouped by resource type.
fn group_ids(rows: &[Stored]) -> Vec<(String, Vec<String>)> {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for s in rows {
        match groups.iter_mut().find(|(t, _)| t == &s.resource_type) {
            Some((_, ids)) => ids.push(s.id.clone()),
            None => groups.push((s.resource_type.clone(), vec![s.id.clone()])),
        }
    }
    groups
}
