//! FHIR responses: resources and Bundles as `application/fhir+json` with ETag, Last-Modified and Location,
//! and every error as an OperationOutcome with its HTTP status (a 500 never shows internals).

use crate::negotiate::Pretty;
use app::{AppError, Released};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use fhir::{Issue, OperationOutcome};
use serde_json::Value;

pub const FHIR_JSON: &str = "application/fhir+json; charset=utf-8";

/// An error on its way to the client.
#[derive(Debug)]
pub enum ApiError {
    App(AppError),
    /// A transport-level refusal (415, 413, 405) with its issue.
    Status(StatusCode, Issue),
}

impl ApiError {
    pub fn status(status: StatusCode, issue: Issue) -> Self {
        ApiError::Status(status, issue)
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        ApiError::App(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, outcome) = match self {
            ApiError::App(e) => {
                if let AppError::Internal(source) = &e {
                    tracing::error!(error = %source, "internal error");
                }
                if let AppError::Unavailable(reason) = &e {
                    tracing::warn!(%reason, "database unavailable");
                }
                (StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), e.outcome())
            }
            ApiError::Status(status, issue) => (status, OperationOutcome::single(issue)),
        };
        let mut response = json_response(status, &outcome.to_json(), Pretty::default());
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

pub type ApiResult = Result<Response, ApiError>;

/// 405 for a method a path does not take.
pub fn method_not_allowed() -> ApiError {
    ApiError::status(StatusCode::METHOD_NOT_ALLOWED, Issue::error(fhir::IssueCode::NotSupported, "this method is not supported on this path"))
}

/// A JSON value as a FHIR response.
pub fn json_response(status: StatusCode, value: &Value, pretty: Pretty) -> Response {
    let body = if pretty.0 { serde_json::to_string_pretty(value) } else { serde_json::to_string(value) };
    match body {
        Ok(text) => text_response(status, text),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "serialisation failed").into_response(),
    }
}

/// Already-serialised FHIR JSON as a response.
pub fn text_response(status: StatusCode, text: String) -> Response {
    let mut r = (status, text).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    r
}

/// The stored text of a resource, exactly as stored (or indented on `_pretty=true`).
pub fn stored_body(s: &Released, pretty: Pretty) -> Result<String, ApiError> {
    let body = s.body.clone().ok_or_else(|| AppError::Internal("invariant: a live version has a body".into()))?;
    if !pretty.0 {
        return Ok(body);
    }
    let v: Value = serde_json::from_str(&body).map_err(|e| AppError::Internal(Box::new(e)))?;
    serde_json::to_string_pretty(&v).map_err(|e| AppError::Internal(Box::new(e)).into())
}

/// Adds ETag and Last-Modified for a version.
pub fn version_headers(headers: &mut HeaderMap, s: &Released) {
    if let Ok(v) = HeaderValue::from_str(&app::etag(s.version)) {
        headers.insert(header::ETAG, v);
    }
    if let Some(t) = app::instant::to_system_time(&s.last_updated) {
        if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(t)) {
            headers.insert(header::LAST_MODIFIED, v);
        }
    }
}
