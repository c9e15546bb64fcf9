//! Accountability over HTTP: break-glass (`POST Patient/{id}/$break-glass`), its review by privacy officers
//! (`GET` and `POST $break-glass-review`), and the audit log as FHIR AuditEvent (`GET AuditEvent`,
//! `GET AuditEvent/{id}`).

use crate::auth::Door;
use crate::negotiate::{check_output_format, json_body, query_pairs, BodyKind};
use crate::respond::{json_response, ApiResult};
use app::Session;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, StatusCode};

/// `POST [base]/Patient/[id]/$break-glass` (reached through the route of `[type]/[id]/[op]`).
pub async fn break_glass(
    session: &Session,
    rtype: &str,
    id: &str,
    q: Option<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let pretty = check_output_format(&headers, &query_pairs(q.as_deref()))?;
    if rtype != "Patient" {
        return Err(app::AppError::NotFound(format!("$break-glass is defined on Patient, not {rtype}")).into());
    }
    if !fhir::id::is_valid_id(id) {
        return Err(app::AppError::bad_request(fhir::IssueCode::Value, format!("'{id}' is not a valid resource id"), Some("id")).into());
    }
    let value = json_body(&headers, body, BodyKind::Resource)?;
    let granted = session.break_glass(id, &value).await?;
    Ok(json_response(StatusCode::OK, &granted, pretty))
}

/// `GET [base]/$break-glass-review[?status=open|reviewed|all][&_count=n][&_cursor=…]`.
pub async fn reviews(Door(session): Door, RawQuery(q): RawQuery, headers: HeaderMap) -> ApiResult {
    let params = query_pairs(q.as_deref());
    let pretty = check_output_format(&headers, &params)?;
    Ok(json_response(StatusCode::OK, &session.break_glass_reviews(&params).await?, pretty))
}

/// `POST [base]/$break-glass-review` with a Parameters body (`grant`, `outcome`, `note`).
pub async fn review(Door(session): Door, RawQuery(q): RawQuery, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> ApiResult {
    let pretty = check_output_format(&headers, &query_pairs(q.as_deref()))?;
    let value = json_body(&headers, body, BodyKind::Resource)?;
    Ok(json_response(StatusCode::OK, &session.review_break_glass(&value).await?, pretty))
}

/// `GET [base]/AuditEvent?…`.
pub async fn events(Door(session): Door, RawQuery(q): RawQuery, headers: HeaderMap) -> ApiResult {
    let params = query_pairs(q.as_deref());
    let pretty = check_output_format(&headers, &params)?;
    Ok(json_response(StatusCode::OK, &session.audit_events(&params).await?, pretty))
}

/// `GET [base]/AuditEvent/[id]`.
pub async fn event(Door(session): Door, Path(id): Path<String>, RawQuery(q): RawQuery, headers: HeaderMap) -> ApiResult {
    let pretty = check_output_format(&headers, &query_pairs(q.as_deref()))?;
    Ok(json_response(StatusCode::OK, &session.audit_event(&id).await?, pretty))
}
