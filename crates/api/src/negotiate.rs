//! Content negotiation and request headers: JSON in and out (XML is refused with 415), `Prefer`,
//! `If-Match`, and reading a body within the size limit.

use crate::respond::ApiError;
use app::{AppError, Handling, Return};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{header, HeaderMap, StatusCode};
use fhir::{Issue, IssueCode};
use serde_json::Value;

/// The query string as (name, value) pairs, percent-decoded.
pub fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.unwrap_or("").as_bytes()).into_owned().collect()
}

/// Refuses requests that ask for anything but JSON, through `_format` or `Accept`.
pub fn check_output_format(headers: &HeaderMap, params: &[(String, String)]) -> Result<Pretty, ApiError> {
    if let Some((_, f)) = params.iter().find(|(k, _)| k == "_format") {
        if !is_json(f) {
            return Err(unsupported(format!("_format '{f}' is not supported; this server speaks JSON only")));
        }
    }
    if let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) {
        let acceptable = accept.split(',').any(|part| {
            let mime = part.split(';').next().unwrap_or("").trim();
            mime.is_empty() || is_json(mime) || mime == "*/*" || mime == "application/*" || mime == "text/html" || mime == "text/plain"
        });
        if !acceptable {
            return Err(unsupported(format!("cannot answer in '{accept}'; this server speaks JSON only")));
        }
    }
    let pretty = params.iter().any(|(k, v)| k == "_pretty" && v == "true");
    Ok(Pretty(pretty))
}

/// Whether the client asked for indented JSON.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pretty(pub bool);

fn is_json(f: &str) -> bool {
    matches!(f.trim(), "json" | "application/json" | "application/fhir+json" | "application/json+fhir")
}

fn unsupported(msg: String) -> ApiError {
    ApiError::status(StatusCode::UNSUPPORTED_MEDIA_TYPE, Issue::error(IssueCode::NotSupported, msg))
}

/// What kind of body a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    Resource,
    /// JSON Patch (`application/json-patch+json`) or FHIRPath Patch (a Parameters resource as FHIR JSON).
    Patch,
}

/// Reads a JSON body: checks its Content-Type, the size limit, and that it parses.
pub fn json_body(headers: &HeaderMap, body: Result<Bytes, BytesRejection>, kind: BodyKind) -> Result<Value, ApiError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let json_patch = mime == "application/json-patch+json";
    let ok = match kind {
        BodyKind::Resource => mime.is_empty() || is_json(&mime),
        BodyKind::Patch => json_patch || is_json(&mime),
    };
    if !ok {
        let wanted = match kind {
            BodyKind::Resource => "application/fhir+json",
            BodyKind::Patch => "application/json-patch+json (JSON Patch) or application/fhir+json (a FHIRPath Patch Parameters)",
        };
        return Err(unsupported(format!("Content-Type '{content_type}' is not supported here; send {wanted}")));
    }
    let bytes = body.map_err(|rejection| {
        let status = rejection.status();
        let (code, msg) = if status == StatusCode::PAYLOAD_TOO_LARGE {
            (IssueCode::TooLong, "the request body is larger than this server accepts".to_owned())
        } else {
            (IssueCode::Invalid, format!("the request body could not be read: {rejection}"))
        };
        ApiError::status(status, Issue::error(code, msg))
    })?;
    if bytes.is_empty() {
        return Err(AppError::bad_request(IssueCode::Required, "the request has no body", None).into());
    }
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::from(AppError::bad_request(
            IssueCode::Structure,
            format!("the body is not valid JSON: {e} (line {}, column {})", e.line(), e.column()),
            None,
        ))
    })?;
    // The media type says which patch format the body is in.
    if kind == BodyKind::Patch && json_patch == fhir::patch::is_fhirpath_patch(&value) {
        let said = if json_patch {
            "a body sent as application/json-patch+json must be a JSON Patch (an array of operations); send a FHIRPath Patch as application/fhir+json"
        } else {
            "a patch sent as FHIR JSON must be a Parameters resource (FHIRPath Patch); send a JSON Patch as application/json-patch+json"
        };
        return Err(AppError::bad_request(IssueCode::Invalid, said, None).into());
    }
    Ok(value)
}

/// The parameters of a `_search` POST: an `application/x-www-form-urlencoded` body.
pub fn form_body(headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<Vec<(String, String)>, ApiError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim();
    let bytes =
        body.map_err(|r| ApiError::status(r.status(), Issue::error(IssueCode::TooLong, format!("the request body could not be read: {r}"))))?;
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    if mime != "application/x-www-form-urlencoded" {
        return Err(unsupported(format!("a _search POST takes application/x-www-form-urlencoded, not '{content_type}'")));
    }
    Ok(form_urlencoded::parse(&bytes).into_owned().collect())
}

/// `If-Match: W/"3"` as a version number.
pub fn if_match(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    match headers.get(header::IF_MATCH) {
        None => Ok(None),
        Some(v) => {
            let text = v.to_str().unwrap_or("");
            app::parse_etag(text).map(Some).ok_or_else(|| {
                AppError::bad_request(IssueCode::Value, format!("If-Match '{text}' is not an ETag like W/\"1\""), Some("If-Match")).into()
            })
        }
    }
}

/// `If-None-Exist: identifier=…` (the query of a conditional create).
pub fn if_none_exist(headers: &HeaderMap) -> Option<String> {
    headers.get("if-none-exist").and_then(|v| v.to_str().ok()).map(|s| s.trim_start_matches('?').to_owned())
}

/// The `Prefer` header: `return=` and `handling=`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Prefer {
    pub ret: Return,
    pub handling: Handling,
}

pub fn prefer(headers: &HeaderMap) -> Prefer {
    let mut p = Prefer::default();
    for v in headers.get_all("prefer").iter().filter_map(|v| v.to_str().ok()) {
        for part in v.split([',', ';']) {
            match part.trim().replace(' ', "").as_str() {
                "return=minimal" => p.ret = Return::Minimal,
                "return=representation" => p.ret = Return::Representation,
                "return=OperationOutcome" => p.ret = Return::OperationOutcome,
                "handling=strict" => p.handling = Handling::Strict,
                "handling=lenient" => p.handling = Handling::Lenient,
                _ => {}
            }
        }
    }
    p
}
