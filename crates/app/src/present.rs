//! How results are shown to clients: resources from stored text, searchset and history Bundles with their
//! links, and batch/transaction response entries.

use crate::error::AppError;
use crate::record::{HistoryPage, Written};
use crate::App;
use fhir::bundle::{entry_response, Bundle, BundleType};
use serde_json::{json, Map, Value};
use store::{Method, Stored};

/// The weak ETag of a version: `W/"3"`.
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// Parses an `If-Match` value (`W/"3"` or `"3"`) into a version number.
pub fn parse_etag(s: &str) -> Option<i64> {
    let s = s.trim();
    let s = s.strip_prefix("W/").unwrap_or(s);
    s.strip_prefix('"')?.strip_suffix('"')?.parse().ok()
}

/// The HTTP reason phrase for the statuses FHIR interactions use.
pub fn status_line(status: u16) -> String {
    let reason = match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        404 => "Not Found",
        409 => "Conflict",
        410 => "Gone",
        412 => "Precondition Failed",
        422 => "Unprocessable Entity",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    };
    format!("{status} {reason}")
}

/// The stored resource as JSON (numbers keep their text; element order is kept).
pub fn resource_json(s: &Stored) -> Result<Value, AppError> {
    match &s.body {
        Some(b) => serde_json::from_str(b).map_err(|e| AppError::Internal(Box::new(e))),
        None => Err(AppError::Internal("no body for a deleted version".into())),
    }
}

impl App {
    fn full_url(&self, s: &Stored) -> String {
        format!("{}/{}/{}", self.config.base_url, s.resource_type, s.id)
    }

    /// A history Bundle, newest first, with a `next` link while older versions remain.
    pub fn history_bundle(&self, path: &str, params: &[(String, String)], page: &HistoryPage) -> Result<Value, AppError> {
        let mut b = Bundle::new(BundleType::History);
        let kept: Vec<(String, String)> = params.iter().filter(|(k, _)| k != "_cursor" && k != "_count").cloned().collect();
        b.link("self", self.page_url(path, &kept, page.count, params.iter().find(|(k, _)| k == "_cursor").map(|(_, v)| v.as_str())));
        if let Some(next) = page.next {
            b.link("next", self.page_url(path, &kept, page.count, Some(&next.to_string())));
        }
        for v in &page.versions {
            let mut entry = Map::new();
            entry.insert("fullUrl".into(), json!(self.full_url(v)));
            if !v.deleted {
                entry.insert("resource".into(), resource_json(v)?);
            }
            let url = match v.method {
                Method::Post => v.resource_type.clone(),
                _ => format!("{}/{}", v.resource_type, v.id),
            };
            entry.insert("request".into(), json!({ "method": v.method.as_str(), "url": url }));
            let status = match (v.method, v.version) {
                (Method::Delete, _) => 204,
                (_, 1) => 201,
                _ => 200,
            };
            entry.insert(
                "response".into(),
                entry_response(&status_line(status), Some(&location(v)), Some(&etag(v.version)), Some(&v.last_updated), None),
            );
            b.push(Value::Object(entry));
        }
        Ok(b.build())
    }

    fn page_url(&self, path: &str, params: &[(String, String)], count: usize, cursor: Option<&str>) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in params {
            q.append_pair(k, v);
        }
        q.append_pair("_count", &count.to_string());
        if let Some(c) = cursor {
            q.append_pair("_cursor", c);
        }
        let base = &self.config.base_url;
        if path.is_empty() {
            format!("{base}?{}", q.finish())
        } else {
            format!("{base}/{path}?{}", q.finish())
        }
    }
}

/// `Type/id/_history/v`.
pub fn location(s: &Stored) -> String {
    format!("{}/{}/_history/{}", s.resource_type, s.id, s.version)
}

/// The response entry of a successful write inside a batch or transaction.
pub fn written_entry(w: &Written, with_resource: bool) -> Result<Value, AppError> {
    let mut entry = Map::new();
    let response = match w.stored() {
        Some(s) if !s.deleted => {
            if with_resource {
                entry.insert("resource".into(), resource_json(s)?);
            }
            entry_response(&status_line(w.status()), Some(&location(s)), Some(&etag(s.version)), Some(&s.last_updated), None)
        }
        _ => entry_response(&status_line(w.status()), None, None, None, None),
    };
    entry.insert("response".into(), response);
    Ok(Value::Object(entry))
}

/// The response entry of a failed batch entry.
pub fn error_entry(e: &AppError) -> Value {
    json!({ "response": entry_response(&status_line(e.status()), None, None, None, Some(e.outcome().to_json())) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags() {
        assert_eq!(etag(3), "W/\"3\"");
        assert_eq!(parse_etag("W/\"3\""), Some(3));
        assert_eq!(parse_etag("\"12\""), Some(12));
        assert_eq!(parse_etag("3"), None);
        assert_eq!(parse_etag("W/\"x\""), None);
    }
}
