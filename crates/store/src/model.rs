//! Plain row types exchanged with the store: stored versions, new versions, index entries and history queries.

/// The HTTP interaction that produced a version, kept for history bundles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }

    pub fn parse(s: &str) -> Option<Method> {
        match s {
            "POST" => Some(Method::Post),
            "PUT" => Some(Method::Put),
            "PATCH" => Some(Method::Patch),
            "DELETE" => Some(Method::Delete),
            _ => None,
        }
    }
}

/// One stored version of a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub seq: i64,
    pub resource_type: String,
    pub id: String,
    pub version: i64,
    pub person_key: Option<String>,
    /// FHIR instant, UTC, milliseconds.
    pub last_updated: String,
    pub method: Method,
    pub deleted: bool,
    /// The resource JSON exactly as stored; `None` for a deletion.
    pub body: Option<String>,
    /// The Organization id that recorded this version (its provenance), if known.
    pub recorded_by: Option<String>,
    /// Labelled restricted, or coded as sensitive: visible only to the organisation that recorded it.
    pub restricted: bool,
}

/// A token criterion: `code`, `system|code`, `|code` (no system).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenCriterion {
    pub param: String,
    /// `None`: any system; `Some(None)`: no system; `Some(Some(s))`: that system.
    pub system: Option<Option<String>>,
    pub code: String,
}

/// A version to write.
#[derive(Debug, Clone)]
pub struct NewVersion<'a> {
    pub resource_type: &'a str,
    pub id: &'a str,
    pub version: i64,
    pub person_key: Option<&'a str>,
    pub last_updated: &'a str,
    pub method: Method,
    /// `None` writes a deletion.
    pub body: Option<&'a str>,
    /// The search-index values of this version (ignored for a deletion).
    pub index: &'a [fhir::search::IndexEntry],
    /// Local references the version holds, as (type, id); kept only for the current version.
    pub links: &'a [(String, String)],
    /// The Organization id that recorded it.
    pub recorded_by: Option<&'a str>,
    /// Visible only to the organisation that recorded it.
    pub restricted: bool,
    /// The care relationships it states about its person (kept only for the current version).
    pub relations: &'a [crate::access::Relation],
}

/// Which history to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryScope {
    System,
    Type(String),
    Instance(String, String),
}

/// A page of history, newest first.
#[derive(Debug, Clone)]
pub struct HistoryQuery {
    pub scope: HistoryScope,
    /// Only versions updated at or after this instant (same text format as `Stored::last_updated`).
    pub since: Option<String>,
    /// Only versions written before this sequence number (the paging cursor).
    pub before_seq: Option<i64>,
    pub limit: usize,
    /// What the caller may see.
    pub visibility: crate::access::Visibility,
}
