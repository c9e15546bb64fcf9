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
    entries: Vec<Entry>,
}

#[derive(Debug, Clone)]
enum Entry {
    Value(Value),
    /// A searchset entry whose resource is JSON text kept as it is (a stored resource), written into the
    /// Bundle's text without being parsed and written again.
    Text {
        full_url: Option<String>,
        resource: String,
        mode: SearchMode,
    },
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
        self.entries.push(Entry::Value(entry));
    }

    /// Adds a searchset entry.
    pub fn push_search(&mut self, full_url: Option<String>, resource: Value, mode: SearchMode) {
        let mut entry = Map::new();
        if let Some(u) = full_url {
            entry.insert("fullUrl".into(), Value::String(u));
        }
        entry.insert("resource".into(), resource);
        entry.insert("search".into(), json!({ "mode": mode.as_str() }));
        self.entries.push(Entry::Value(Value::Object(entry)));
    }

    /// Adds a searchset entry whose resource is the JSON text of one resource, as it was stored (it must be
    /// a JSON object: `build_text` writes it as it is; `build` parses it).
    pub fn push_search_text(&mut self, full_url: Option<String>, resource: String, mode: SearchMode) {
        self.entries.push(Entry::Text { full_url, resource, mode });
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Everything but the entries, in the order FHIR lists the elements.
    fn head(&self) -> Map<String, Value> {
        let mut b = Map::new();
        b.insert("resourceType".into(), json!("Bundle"));
        if let Some(id) = &self.id {
            b.insert("id".into(), json!(id));
        }
        if let Some(lu) = &self.last_updated {
            b.insert("meta".into(), json!({ "lastUpdated": lu }));
        }
        b.insert("type".into(), json!(self.kind.as_str()));
        if let Some(t) = self.total {
            b.insert("total".into(), json!(t));
        }
        if !self.links.is_empty() {
            let links: Vec<Value> = self.links.iter().map(|(r, u)| json!({ "relation": r, "url": u })).collect();
            b.insert("link".into(), Value::Array(links));
        }
        b
    }

    /// The Bundle as a JSON value (entries given as text are parsed; one that is not JSON becomes null).
    pub fn build(self) -> Value {
        let mut b = self.head();
        if !self.entries.is_empty() {
            let entries = self
                .entries
                .into_iter()
                .map(|e| match e {
                    Entry::Value(v) => v,
                    Entry::Text { full_url, resource, mode } => {
                        let mut entry = Map::new();
                        if let Some(u) = full_url {
                            entry.insert("fullUrl".into(), Value::String(u));
                        }
                        entry.insert("resource".into(), serde_json::from_str(&resource).unwrap_or(Value::Null));
                        entry.insert("search".into(), json!({ "mode": mode.as_str() }));
                        Value::Object(entry)
                    }
                })
                .collect();
            b.insert("entry".into(), Value::Array(entries));
        }
        Value::Object(b)
    }

    /// The Bundle as compact JSON text, the same as `build` written out, with the entries given as text
    /// written as they are.
    pub fn build_text(self) -> String {
        let head = Value::Object(self.head()).to_string();
        if self.entries.is_empty() {
            return head;
        }
        let size: usize = self.entries.iter().map(|e| if let Entry::Text { resource, .. } = e { resource.len() + 128 } else { 256 }).sum();
        let mut out = String::with_capacity(head.len() + size + 16);
        // `head` is an object with at least `resourceType`: it ends in `}`.
        out.push_str(&head[..head.len() - 1]);
        out.push_str(",\"entry\":[");
        for (i, e) in self.entries.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            match e {
                Entry::Value(v) => out.push_str(&v.to_string()),
                Entry::Text { full_url, resource, mode } => {
                    out.push('{');
                    if let Some(u) = full_url {
                        out.push_str("\"fullUrl\":");
                        out.push_str(&Value::String(u.clone()).to_string());
                        out.push(',');
                    }
                    out.push_str("\"resource\":");
                    out.push_str(resource);
                    out.push_str(",\"search\":{\"mode\":\"");
                    out.push_str(mode.as_str());
                    out.push_str("\"}}");
                }
            }
        }
        out.push_str("]}");
        out
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

    #[test]
    fn entries_given_as_text_are_written_as_they_are() {
        let mut b = Bundle::new(BundleType::Searchset);
        b.link("self", "http://x/fhir/Observation?code=a%7Cb");
        assert_eq!(b.clone().build_text(), b.clone().build().to_string(), "no entries");
        let stored = r#"{"resourceType":"Observation","id":"o1","valueQuantity":{"value":1.50,"unit":"\u00b0C"}}"#;
        b.push_search_text(Some("http://x/fhir/Observation/o1".into()), stored.into(), SearchMode::Match);
        b.push_search(None, json!({"resourceType": "OperationOutcome"}), SearchMode::Outcome);
        b.push_search_text(Some("http://x/fhir/Patient/\"q\"".into()), r#"{"resourceType":"Patient","id":"p"}"#.into(), SearchMode::Include);
        let text = b.clone().build_text();
        assert!(text.contains(stored), "the stored text is kept exactly (1.50 stays 1.50): {text}");
        let parsed: Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(parsed, b.build(), "the same Bundle as the value built");
    }
}
