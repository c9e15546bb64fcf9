//! FHIR Bulk Data export over HTTP, in the asynchronous request pattern: kick-off (`$export` at system,
//! Patient and Group level, 202 with `Content-Location`), status polling (202 with `X-Progress`, then 200
//! with the manifest), cancellation (DELETE), and download of the NDJSON files the manifest lists.

use crate::auth::Door;
use crate::negotiate::{check_output_format, query_pairs};
use crate::respond::{json_response, ApiError, ApiResult};
use app::bulk::{ExportLevel, ExportRequest, ExportStatus};
use app::AppError;
use axum::body::Body;
use axum::extract::{Path, RawQuery};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use fhir::{Issue, IssueCode, OperationOutcome};

pub const NDJSON: &str = "application/fhir+ndjson";

/// `GET [base]/$export`
pub async fn export_system(Door(session): Door, RawQuery(q): RawQuery, headers: HeaderMap) -> ApiResult {
    kickoff(&session, ExportLevel::System, "$export", q, &headers).await
}

/// `GET [base]/Patient/$export`
pub async fn export_patients(Door(session): Door, RawQuery(q): RawQuery, headers: HeaderMap) -> ApiResult {
    kickoff(&session, ExportLevel::Patient, "Patient/$export", q, &headers).await
}

/// `GET [base]/Group/[id]/$export`
pub async fn export_group(Door(session): Door, Path(id): Path<String>, RawQuery(q): RawQuery, headers: HeaderMap) -> ApiResult {
    let path = format!("Group/{id}/$export");
    kickoff(&session, ExportLevel::Group(id), &path, q, &headers).await
}

async fn kickoff(session: &app::Session, level: ExportLevel, path: &str, q: Option<String>, headers: &HeaderMap) -> ApiResult {
    let params = query_pairs(q.as_deref());
    check_output_format(headers, &[])?;
    if !respond_async(headers) {
        return Err(AppError::bad_request(
            IssueCode::Required,
            "a Bulk Data export runs asynchronously: send the header 'Prefer: respond-async'",
            Some("Prefer"),
        )
        .into());
    }
    let base = &session.config().base_url;
    let request_url = match q.as_deref() {
        Some(q) if !q.is_empty() => format!("{base}/{path}?{q}"),
        _ => format!("{base}/{path}"),
    };
    let request = ExportRequest::from_params(level, &params, request_url)?;
    let job = session.export_kickoff(request).await?;
    let status_url = format!("{base}/$export-status/{job}");
    let oo = OperationOutcome::single(Issue::information(format!("the export has started; poll {status_url} for its status")));
    let mut r = json_response(StatusCode::ACCEPTED, &oo.to_json(), Default::default());
    if let Ok(v) = HeaderValue::from_str(&status_url) {
        r.headers_mut().insert(header::CONTENT_LOCATION, v);
    }
    Ok(r)
}

fn respond_async(headers: &HeaderMap) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split([',', ';']))
        .any(|part| part.trim().eq_ignore_ascii_case("respond-async"))
}

/// `GET [base]/$export-status/[job]`: 202 while running, 200 with the manifest when done.
pub async fn status(Door(session): Door, Path(job): Path<String>) -> ApiResult {
    match session.export_status(&job).await? {
        ExportStatus::InProgress(progress) => {
            let mut r = StatusCode::ACCEPTED.into_response();
            if let Ok(v) = HeaderValue::from_str(&progress) {
                r.headers_mut().insert("x-progress", v);
            }
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            Ok(r)
        }
        ExportStatus::Complete(manifest) => {
            let body = manifest.to_json(&session.config().base_url, &job);
            let mut r = json_response(StatusCode::OK, &body, Default::default());
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            Ok(r)
        }
        ExportStatus::Failed => Err(ApiError::status(
            StatusCode::INTERNAL_SERVER_ERROR,
            Issue::error(IssueCode::Exception, "the export failed; the cause has been logged. Start a new export"),
        )),
    }
}

/// `DELETE [base]/$export-status/[job]`: cancels a running export, or deletes a finished one's files.
pub async fn cancel(Door(session): Door, Path(job): Path<String>) -> ApiResult {
    session.export_cancel(&job).await?;
    let oo = OperationOutcome::single(Issue::information("the export was cancelled and its files removed"));
    Ok(json_response(StatusCode::ACCEPTED, &oo.to_json(), Default::default()))
}

/// `GET [base]/$export-file/[job]/[file]`: one NDJSON file of a finished export, streamed.
pub async fn file(Door(session): Door, Path((job, name)): Path<(String, String)>) -> ApiResult {
    let (file, len) = session.export_file(&job, &name).await?;
    let stream = tokio_util::io::ReaderStream::with_capacity(tokio::fs::File::from_std(file), 256 * 1024);
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(NDJSON));
    if let Ok(v) = HeaderValue::from_str(&len.to_string()) {
        r.headers_mut().insert(header::CONTENT_LENGTH, v);
    }
    Ok(r)
}
