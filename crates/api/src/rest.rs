//! The FHIR REST interactions: one handler per interaction, each a thin translation between HTTP and `App`.

use crate::negotiate::{self, check_output_format, json_body, query_pairs, BodyKind, Pretty};
use crate::respond::{json_response, method_not_allowed, stored_body, text_response, version_headers, ApiResult};
use crate::Api;
use app::{HistoryScope, Return, Written};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use fhir::{Issue, OperationOutcome};

pub async fn read(State(api): State<Api>, Path((rtype, id)): Path<(String, String)>, RawQuery(q): RawQuery, headers: HeaderMap) -> ApiResult {
    let params = query_pairs(q.as_deref());
    let pretty = check_output_format(&headers, &params)?;
    let s = api.app.read(&rtype, &id).await?;
    if let Some(inm) = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) {
        if app::parse_etag(inm) == Some(s.version) {
            let mut r = StatusCode::NOT_MODIFIED.into_response();
            version_headers(r.headers_mut(), &s);
            return Ok(r);
        }
    }
    let mut r = read_response(&s, &params, pretty)?;
    version_headers(r.headers_mut(), &s);
    Ok(r)
}

/// A read's body: the stored text as it is, or the resource cut by `_summary` or `_elements`.
fn read_response(s: &app::Stored, params: &[(String, String)], pretty: Pretty) -> Result<Response, crate::respond::ApiError> {
    Ok(match app::subset_of_read(s, params)? {
        Some(cut) => json_response(StatusCode::OK, &cut, pretty),
        None => text_response(StatusCode::OK, stored_body(s, pretty)?),
    })
}

pub async fn vread(
    State(api): State<Api>,
    Path((rtype, id, vid)): Path<(String, String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> ApiResult {
    let params = query_pairs(q.as_deref());
    let pretty = check_output_format(&headers, &params)?;
    let s = api.app.vread(&rtype, &id, &vid).await?;
    let mut r = read_response(&s, &params, pretty)?;
    version_headers(r.headers_mut(), &s);
    Ok(r)
}

pub async fn create(
    State(api): State<Api>,
    Path(rtype): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let pretty = check_output_format(&headers, &query_pairs(q.as_deref()))?;
    let value = json_body(&headers, body, BodyKind::Resource)?;
    let w = api.app.create(&rtype, value, negotiate::if_none_exist(&headers).as_deref()).await?;
    written(&api, &headers, w, pretty)
}

pub async fn update(
    State(api): State<Api>,
    Path((rtype, id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let pretty = check_output_format(&headers, &query_pairs(q.as_deref()))?;
    let value = json_body(&headers, body, BodyKind::Resource)?;
    let w = api.app.update(&rtype, &id, value, negotiate::if_match(&headers)?).await?;
    written(&api, &headers, w, pretty)
}

pub async fn conditional_update(
    State(api): State<Api>,
    Path(rtype): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let pretty = check_output_format(&headers, &query_pairs(q.as_deref()))?;
    let value = json_body(&headers, body, BodyKind::Resource)?;
    let w = api.app.conditional_update(&rtype, &condition(q.as_deref()), value, negotiate::if_match(&headers)?).await?;
    written(&api, &headers, w, pretty)
}

pub async fn patch(
    State(api): State<Api>,
    Path((rtype, id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let pretty = check_output_format(&headers, &query_pairs(q.as_deref()))?;
    let value = json_body(&headers, body, BodyKind::JsonPatch)?;
    let w = api.app.patch(&rtype, &id, value, negotiate::if_match(&headers)?).await?;
    written(&api, &headers, w, pretty)
}

pub async fn conditional_patch(
    State(api): State<Api>,
    Path(rtype): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let pretty = check_output_format(&headers, &query_pairs(q.as_deref()))?;
    let value = json_body(&headers, body, BodyKind::JsonPatch)?;
    let w = api.app.conditional_patch(&rtype, &condition(q.as_deref()), value, negotiate::if_match(&headers)?).await?;
    written(&api, &headers, w, pretty)
}

pub async fn delete(State(api): State<Api>, Path((rtype, id)): Path<(String, String)>, headers: HeaderMap) -> ApiResult {
    let w = api.app.delete(&rtype, &id, negotiate::if_match(&headers)?).await?;
    written(&api, &headers, w, Pretty::default())
}

pub async fn conditional_delete(State(api): State<Api>, Path(rtype): Path<String>, RawQuery(q): RawQuery, headers: HeaderMap) -> ApiResult {
    let w = api.app.conditional_delete(&rtype, &condition(q.as_deref())).await?;
    written(&api, &headers, w, Pretty::default())
}

pub async fn search(State(api): State<Api>, Path(rtype): Path<String>, RawQuery(q): RawQuery, headers: HeaderMap) -> ApiResult {
    let params = query_pairs(q.as_deref());
    let pretty = check_output_format(&headers, &params)?;
    let page = api.app.search(&rtype, &params, negotiate::prefer(&headers).handling).await?;
    Ok(json_response(StatusCode::OK, &api.app.searchset(&page)?, pretty))
}

/// `POST [base]/[type]/_search` with the parameters as a form body (and possibly in the URL too).
pub async fn search_post(
    State(api): State<Api>,
    Path(rtype): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let mut params = query_pairs(q.as_deref());
    params.extend(negotiate::form_body(&headers, body)?);
    let pretty = check_output_format(&headers, &params)?;
    let page = api.app.search(&rtype, &params, negotiate::prefer(&headers).handling).await?;
    Ok(json_response(StatusCode::OK, &api.app.searchset(&page)?, pretty))
}

/// `GET [base]?_type=…` and `POST [base]/_search`.
pub async fn search_system(State(api): State<Api>, RawQuery(q): RawQuery, headers: HeaderMap) -> ApiResult {
    let params = query_pairs(q.as_deref());
    let pretty = check_output_format(&headers, &params)?;
    let page = api.app.search_system(&params, negotiate::prefer(&headers).handling).await?;
    Ok(json_response(StatusCode::OK, &api.app.searchset(&page)?, pretty))
}

/// `GET [base]/Patient/[id]/[type]` (a compartment search) and `GET [base]/Patient/[id]/$everything`.
pub async fn compartment(
    State(api): State<Api>,
    Path((ctype, id, rtype)): Path<(String, String, String)>,
    RawQuery(q): RawQuery,
    caller: Option<axum::Extension<app::auth::Authenticated>>,
    headers: HeaderMap,
) -> ApiResult {
    let params = query_pairs(q.as_deref());
    let pretty = check_output_format(&headers, &params)?;
    if rtype == "$access" {
        return access(&api, &ctype, &id, caller, pretty).await;
    }
    let page = if rtype == "$everything" {
        if ctype != "Patient" {
            return Err(app::AppError::NotFound(format!("$everything is defined on Patient, not {ctype}")).into());
        }
        api.app.everything(&id, &params).await?
    } else {
        api.app.search_compartment(&ctype, &id, &rtype, &params, negotiate::prefer(&headers).handling).await?
    };
    Ok(json_response(StatusCode::OK, &api.app.searchset(&page)?, pretty))
}

/// `POST [base]/[type]/$validate` (the route of `[type]/[id]`, which takes no other POST).
pub async fn validate_type(
    State(api): State<Api>,
    Path((rtype, op)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    if op != "$validate" {
        return Err(method_not_allowed());
    }
    validate(&api, &rtype, None, q, headers, body).await
}

/// `POST [base]/[type]/[id]/$validate`.
pub async fn validate_instance(
    State(api): State<Api>,
    Path((rtype, id, op)): Path<(String, String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    if op != "$validate" {
        return Err(method_not_allowed());
    }
    validate(&api, &rtype, Some(&id), q, headers, body).await
}

async fn validate(api: &Api, rtype: &str, id: Option<&str>, q: Option<String>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> ApiResult {
    let params = query_pairs(q.as_deref());
    let pretty = check_output_format(&headers, &params)?;
    let empty = body.as_ref().map(|b| b.is_empty()).unwrap_or(false);
    let value = if empty { None } else { Some(json_body(&headers, body, BodyKind::Resource)?) };
    let request = app::validate::ValidateRequest::from_parts(value, &params)?;
    let outcome = api.app.validate(rtype, id, request).await?;
    Ok(json_response(StatusCode::OK, &outcome.to_json(), pretty))
}

/// `GET [base]/Patient/[id]/$access`: whether, and why, the caller may see the person's record now.
async fn access(api: &Api, ctype: &str, id: &str, caller: Option<axum::Extension<app::auth::Authenticated>>, pretty: negotiate::Pretty) -> ApiResult {
    if ctype != "Patient" {
        return Err(app::AppError::NotFound(format!("$access is defined on Patient, not {ctype}")).into());
    }
    if !fhir::id::is_valid_id(id) {
        return Err(app::AppError::bad_request(fhir::IssueCode::Value, format!("'{id}' is not a valid resource id"), Some("id")).into());
    }
    let Some(axum::Extension(who)) = caller else {
        return Err(app::AppError::Unauthorized("$access answers for a signed-in caller".into()).into());
    };
    let decision = api.app.access_decision(&who.caller, id).await?;
    Ok(json_response(StatusCode::OK, &app::access::decision_parameters(&decision), pretty))
}

pub async fn history_instance(
    State(api): State<Api>,
    Path((rtype, id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> ApiResult {
    let path = format!("{rtype}/{id}/_history");
    history(api, HistoryScope::Instance(rtype, id), &path, q, headers).await
}

pub async fn history_type(State(api): State<Api>, Path(rtype): Path<String>, RawQuery(q): RawQuery, headers: HeaderMap) -> ApiResult {
    let path = format!("{rtype}/_history");
    history(api, HistoryScope::Type(rtype), &path, q, headers).await
}

pub async fn history_system(State(api): State<Api>, RawQuery(q): RawQuery, headers: HeaderMap) -> ApiResult {
    history(api, HistoryScope::System, "_history", q, headers).await
}

async fn history(api: Api, scope: HistoryScope, path: &str, q: Option<String>, headers: HeaderMap) -> ApiResult {
    let params = query_pairs(q.as_deref());
    let pretty = check_output_format(&headers, &params)?;
    let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let page = api.app.history(scope, get("_since"), get("_count"), get("_cursor")).await?;
    Ok(json_response(StatusCode::OK, &api.app.history_bundle(path, &params, &page)?, pretty))
}

pub async fn bundle(State(api): State<Api>, RawQuery(q): RawQuery, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> ApiResult {
    let pretty = check_output_format(&headers, &query_pairs(q.as_deref()))?;
    let value = json_body(&headers, body, BodyKind::Resource)?;
    let response = api.app.bundle(value, negotiate::prefer(&headers).ret).await?;
    Ok(json_response(StatusCode::OK, &response, pretty))
}

/// The condition of a conditional update, patch or delete: the query string without formatting parameters.
fn condition(q: Option<&str>) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in query_pairs(q) {
        if k != "_format" && k != "_pretty" {
            s.append_pair(&k, &v);
        }
    }
    s.finish()
}

/// The response to a write, shaped by `Prefer: return=`.
fn written(api: &Api, headers: &HeaderMap, w: Written, pretty: Pretty) -> ApiResult {
    let status = StatusCode::from_u16(w.status()).unwrap_or(StatusCode::OK);
    let Some(s) = w.stored().filter(|s| !s.deleted) else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let mut r: Response = match negotiate::prefer(headers).ret {
        Return::Representation => text_response(status, stored_body(s, pretty)?),
        Return::Minimal => status.into_response(),
        Return::OperationOutcome => {
            let what = match w {
                Written::Created(_) => "created",
                Written::Existing(_) => "already exists; nothing was created",
                _ => "updated",
            };
            let oo = OperationOutcome::single(Issue::information(format!("{}/{} {what}", s.resource_type, s.id)));
            json_response(status, &oo.to_json(), pretty)
        }
    };
    version_headers(r.headers_mut(), s);
    if matches!(w, Written::Created(_) | Written::Updated(_) | Written::Existing(_)) {
        let location = format!("{}/{}", api.app.config().base_url, app::location(s));
        if let Ok(v) = HeaderValue::from_str(&location) {
            r.headers_mut().insert(header::LOCATION, v);
        }
    }
    Ok(r)
}
