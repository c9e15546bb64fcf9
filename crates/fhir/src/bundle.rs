//! Bundle builders: searchset, history and batch/transaction responses, assembled entry by entry.

use serde_json::{json, Map, Value};

/// Bundle types Joinery produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleType {
    Searchset,
    History,
    BatchResponse,
    TransactionResponse,
}

impl BundleType {
    pub fn as_str(self) -> &'static str {
        match self {
            BundleType::Searchset => "searchset",
            BundleType::History => "history",
            BundleType::BatchResponse => "batch-response",
            BundleType::TransactionResponse => "transaction-response",
        }
    }
}

/// Search mode of a searchset entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchMode {
    Match,
    Include,
    Outcome,
}

impl SearchMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SearchMode::Match => "match",
            SearchMode::Include => "include",
            SearchMode::Outcome => "outcome",
        }
    }
}

/// A Bundle under construction.
#[derive(Debug, Clone)]
pub struct Bundle {
    kind: BundleType,
    id: Option<String>,
    last_updated: Option<String>,
    total: Option<u64>,
    links: Vec<(String, String)>,
    entries: Vec<Value>,
}

impl Bundle {
    pub fn new(kind: BundleType) -> Self {
        Bundle { kind, id: None, last_updated: None, total: None, links: Vec::new(), entries: Vec::new() }
    }

    pub fn id(mut self, id: impl Into<String>, last_updated: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self.last_updated = Some(last_updated.into());
        self
    }

    pub fn total(&mut self, total: u64) {
        self.total = Some(total);
    }

    pub fn link(&mut self, relation: &str, url: impl Into<String>) {
        self.links.push((relation.to_owned(), url.into()));
    }

    /// Adds a ready-made entry object.
    pub fn push(&mut self, entry: Value) {
        self.entries.push(entry);
    }

    /// Adds a searchset entry.
    pub fn push_search(&mut self, full_url: Option<String>, resource: Value, mode: SearchMode) {
        let mut entry = Map::new();
        if let Some(u) = full_url {
            entry.insert("fullUrl".into(), Value::String(u));
        }
        entry.insert("resource".into(), resource);
        entry.insert("search".into(), json!({ "mode": mode.as_str() }));
        self.entries.push(Value::Object(entry));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn build(self) -> Value {
        let mut b = Map::new();
        b.insert("resourceType".into(), json!("Bundle"));
        if let Some(id) = self.id {
            b.insert("id".into(), json!(id));
        }
        if let Some(lu) = self.last_updated {
            b.insert("meta".into(), json!({ "lastUpdated": lu }));
        }
        b.insert("type".into(), json!(self.kind.as_str()));
        if let Some(t) = self.total {
            b.insert("total".into(), json!(t));
        }
        if !self.links.is_empty() {
            let links: Vec<Value> = self.links.into_iter().map(|(r, u)| json!({ "relation": r, "url": u })).collect();
            b.insert("link".into(), Value::Array(links));
        }
        if !self.entries.is_empty() {
            b.insert("entry".into(), Value::Array(self.entries));
        }
        Value::Object(b)
    }
}

/// The `response` element of a batch/transaction-response entry.
pub fn entry_response(status: &str, location: Option<&str>, etag: Option<&str>, last_modified: Option<&str>, outcome: Option<Value>) -> Value {
    let mut r = Map::new();
    r.insert("status".into(), json!(status));
    if let Some(l) = location {
        r.insert("location".into(), json!(l));
    }
    if let Some(e) = etag {
        r.insert("etag".into(), json!(e));
    }
    if let Some(m) = last_modified {
        r.insert("lastModified".into(), json!(m));
    }
    if let Some(o) = outcome {
        r.insert("outcome".into(), o);
    }
    Value::Object(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn searchset_shape() {
        let mut b = Bundle::new(BundleType::Searchset);
        b.total(1);
        b.link("self", "http://x/fhir/Patient");
        b.push_search(Some("http://x/fhir/Patient/1".into()), json!({"resourceType": "Patient", "id": "1"}), SearchMode::Match);
        assert_eq!(
            b.build().to_string(),
            r#"{"resourceType":"Bundle","type":"searchset","total":1,"link":[{"relation":"self","url":"http://x/fhir/Patient"}],"entry":[{"fullUrl":"http://x/fhir/Patient/1","resource":{"resourceType":"Patient","id":"1"},"search":{"mode":"match"}}]}"#
        );
    }
}
