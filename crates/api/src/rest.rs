//! The FHIR REST interactions: one handler per interaction, each a thin translation between HTTP and `App`.

use crate::auth::Door;
use crate::negotiate::{self, check_output_format, json_body, query_pairs, BodyKind, Pretty};
use crate::respond::{json_response, method_not_allowed, stored_body, text_response, version_headers, ApiResult};
use app::{HistoryScope, Return, Session, Written};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use fhir::{Issue, OperationOutcome};

pub async fn read(Door(session): Door, Path((rtype, id)): Path<(String, String)>, RawQuery(q): RawQuery, headers: HeaderMap) -> ApiResult {
    let params = query_pairs(q.as_deref());
    let pretty = check_output_format(&headers, &params)?;
    let s = session.read(&rtype, &id).await?;
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
fn read_response(s: &app::Released, params: &[(String, String)], pretty: Pretty) -> Result<Response, crate::respond::ApiError> {
    Ok(match app::subset_of_read(s, params)? {
        Some(cut) => json_response(StatusCode::OK, &cut, pretty),
        None => text_response(StatusCode::OK, stored_body(s, pretty)?),
    })
}

pub async fn vread(
    Door(session): Door,
    Path((rtype, id, vid)): Path<(String, String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> ApiResult {
    let params = query_pairs(q.as_deref());
    let pretty = check_output_format(&headers, &params)?;
    let s = session.vread(&rtype, &id, &vid).await?;
    let mut r = read_response(&s, &params, pretty)?;
    version_headers(r.headers_mut(), &s);
    Ok(r)
}

pub async fn create(
    Door(session): Door,
    Path(rtype): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let pretty = check_output_format(&headers, &query_pairs(q.as_deref()))?;
    let value = json_body(&headers, body, BodyKind::Resource)?;
    let w = session.create(&rtype, value, negotiate::if_none_exist(&headers).as_deref()).await?;
    written(&session, &headers, w, pretty)
}

pub async fn update(
    Door(session): Door,
    Path((rtype, id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let pretty = check_output_format(&headers, &query_pairs(q.as_deref()))?;
    let value = json_body(&headers, body, BodyKind::Resource)?;
    let w = session.update(&rtype, &id, value, negotiate::if_match(&headers)?).await?;
    written(&session, &headers, w, pretty)
}

pub async fn conditional_update(
    Door(session): Door,
    Path(rtype): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let pretty = check_output_format(&headers, &query_pairs(q.as_deref()))?;
    let value = json_body(&headers, body, BodyKind::Resource)?;
    let w = session.conditional_update(&rtype, &condition(q.as_deref()), value, negotiate::if_match(&headers)?).await?;
    written(&session, &headers, w, pretty)
}

pub async fn patch(
    Door(session): Door,
    Path((rtype, id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let pretty = check_output_format(&headers, &query_pairs(q.as_deref()))?;
    let value = json_body(&headers, body, BodyKind::Patch)?;
    let w = session.patch(&rtype, &id, value, negotiate::if_match(&headers)?).await?;
    written(&session, &headers, w, pretty)
}

pub async fn conditional_patch(
    Door(session): Door,
    Path(rtype): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let pretty = check_output_format(&headers, &query_pairs(q.as_deref()))?;
    let value = json_body(&headers, body, BodyKind::Patch)?;
    let w = session.conditional_patch(&rtype, &condition(q.as_deref()), value, negotiate::if_match(&headers)?).await?;
    written(&session, &headers, w, pretty)
}

pub async fn delete(Door(session): Door, Path((rtype, id)): Path<(String, String)>, headers: HeaderMap) -> ApiResult {
    let w = session.delete(&rtype, &id, negotiate::if_match(&headers)?).await?;
    written(&session, &headers, w, Pretty::default())
}

pub async fn conditional_delete(Door(session): Door, Path(rtype): Path<String>, RawQuery(q): RawQuery, headers: HeaderMap) -> ApiResult {
    let w = session.conditional_delete(&rtype, &condition(q.as_deref())).await?;
    written(&session, &headers, w, Pretty::default())
}

pub async fn search(Door(session): Door, Path(rtype): Path<String>, RawQuery(q): RawQuery, headers: HeaderMap) -> ApiResult {
    let params = query_pairs(q.as_deref());
    let pretty = check_output_format(&headers, &params)?;
    let page = session.search(&rtype, &params, negotiate::prefer(&headers).handling).await?;
    Ok(text_response(StatusCode::OK, session.searchset_text(&page, pretty.0)?))
}

/// `POST [base]/[type]/_search` with the parameters as a form body (and possibly in the URL too).
pub async fn search_post(
    Door(session): Door,
    Path(rtype): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let mut params = query_pairs(q.as_deref());
    params.extend(negotiate::form_body(&headers, body)?);
    let pretty = check_output_format(&headers, &params)?;
    let page = session.search(&rtype, &params, negotiate::prefer(&headers).handling).await?;
    Ok(text_response(StatusCode::OK, session.searchset_text(&page, pretty.0)?))
}

/// `GET [base]?_type=…` and `POST [base]/_search`.
pub async fn search_system(Door(session): Door, RawQuery(q): RawQuery, headers: HeaderMap) -> ApiResult {
    let params = query_pairs(q.as_deref());
    let pretty = check_output_format(&headers, &params)?;
    let page = session.search_system(&params, negotiate::prefer(&headers).handling).await?;
    Ok(text_response(StatusCode::OK, session.searchset_text(&page, pretty.0)?))
}

/// `GET [base]/Patient/[id]/[type]` (a compartment search) and `GET [base]/Patient/[id]/$everything`.
pub async fn compartment(
    Door(session): Door,
    Path((ctype, id, rtype)): Path<(String, String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> ApiResult {
    let params = query_pairs(q.as_deref());
    let pretty = check_output_format(&headers, &params)?;
    if rtype == "$access" {
        return access(&session, &ctype, &id, pretty).await;
    }
    // The instance operations that answer one resource, each defined on one type.
    let defined_on = |t: &str| match ctype == t {
        true => Ok(()),
        false => Err(app::AppError::NotFound(format!("{rtype} is defined on {t}, not {ctype}"))),
    };
    let answer = match rtype.as_str() {
        "$registers" => {
            defined_on("Patient")?;
            let (today, memberships) = session.registers(&id).await?;
            Some(app::registers::registers_parameters(&id, today, &memberships))
        }
        "$segment" => {
            defined_on("Patient")?;
            let (today, placement) = session.segment(&id).await?;
            Some(app::registers::segment_parameters(&id, today, placement.as_ref()))
        }
        "$frailty" => {
            defined_on("Patient")?;
            let (today, frailty) = session.frailty(&id).await?;
            Some(app::risk::frailty_risk_assessment(&id, today, &frailty))
        }
        "$admission-risk" => {
            defined_on("Patient")?;
            let (today, risk) = session.admission_risk(&id).await?;
            let tier = session.tier_of(risk.probability).await?;
            Some(app::risk::admission_risk_assessment(&id, today, &risk, tier.as_ref()))
        }
        "$readmission-risk" => {
            defined_on("Encounter")?;
            Some(app::risk::readmission_risk_assessment(&session.readmission_risk(&id).await?))
        }
        _ => None,
    };
    if let Some(answer) = answer {
        return Ok(json_response(StatusCode::OK, &answer, pretty));
    }
    let page = if rtype == "$everything" {
        defined_on("Patient")?;
        session.everything(&id, &params).await?
    } else {
        session.search_compartment(&ctype, &id, &rtype, &params, negotiate::prefer(&headers).handling).await?
    };
    Ok(text_response(StatusCode::OK, session.searchset_text(&page, pretty.0)?))
}

/// `GET [base]/Patient/$worklist`: a page of a worklist (`app::worklist`).
pub async fn worklist(Door(session): Door, RawQuery(q): RawQuery, headers: HeaderMap) -> ApiResult {
    let params = query_pairs(q.as_deref());
    let pretty = check_output_format(&headers, &params)?;
    let bundle = session.worklist(&params).await?;
    Ok(json_response(StatusCode::OK, &bundle, pretty))
}

/// `POST [base]/[type]/$validate` (the route of `[type]/[id]`, which takes no other POST).
pub async fn validate_type(
    Door(session): Door,
    Path((rtype, op)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    if op != "$validate" {
        return Err(method_not_allowed());
    }
    validate(&session, &rtype, None, q, headers, body).await
}

/// `POST [base]/[type]/[id]/$validate`, and `POST [base]/Patient/[id]/$break-glass`.
pub async fn validate_instance(
    Door(session): Door,
    Path((rtype, id, op)): Path<(String, String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    match op.as_str() {
        "$validate" => validate(&session, &rtype, Some(&id), q, headers, body).await,
        "$break-glass" => crate::accountability::break_glass(&session, &rtype, &id, q, headers, body).await,
        _ => Err(method_not_allowed()),
    }
}

async fn validate(
    session: &Session,
    rtype: &str,
    id: Option<&str>,
    q: Option<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let params = query_pairs(q.as_deref());
    let pretty = check_output_format(&headers, &params)?;
    let empty = body.as_ref().map(|b| b.is_empty()).unwrap_or(false);
    let value = if empty { None } else { Some(json_body(&headers, body, BodyKind::Resource)?) };
    let request = app::validate::ValidateRequest::from_parts(value, &params)?;
    let outcome = session.validate(rtype, id, request).await?;
    Ok(json_response(StatusCode::OK, &outcome.to_json(), pretty))
}

/// `GET [base]/Patient/[id]/$access`: whether, and why, the caller may see the person's record now.
async fn access(session: &Session, ctype: &str, id: &str, pretty: negotiate::Pretty) -> ApiResult {
    if ctype != "Patient" {
        return Err(app::AppError::NotFound(format!("$access is defined on Patient, not {ctype}")).into());
    }
    if !fhir::id::is_valid_id(id) {
        return Err(app::AppError::bad_request(fhir::IssueCode::Value, format!("'{id}' is not a valid resource id"), Some("id")).into());
    }
    let decision = session.access_decision(session.caller(), id).await?;
    Ok(json_response(StatusCode::OK, &app::access::decision_parameters(&decision), pretty))
}

pub async fn history_instance(
    Door(session): Door,
    Path((rtype, id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> ApiResult {
    let path = format!("{rtype}/{id}/_history");
    history(session, HistoryScope::Instance(rtype, id), &path, q, headers).await
}

pub async fn history_type(Door(session): Door, Path(rtype): Path<String>, RawQuery(q): RawQuery, headers: HeaderMap) -> ApiResult {
    let path = format!("{rtype}/_history");
    history(session, HistoryScope::Type(rtype), &path, q, headers).await
}

pub async fn history_system(Door(session): Door, RawQuery(q): RawQuery, headers: HeaderMap) -> ApiResult {
    history(session, HistoryScope::System, "_history", q, headers).await
}

async fn history(session: Session, scope: HistoryScope, path: &str, q: Option<String>, headers: HeaderMap) -> ApiResult {
    let params = query_pairs(q.as_deref());
    let pretty = check_output_format(&headers, &params)?;
    let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let page = session.history(scope, get("_since"), get("_count"), get("_cursor")).await?;
    Ok(json_response(StatusCode::OK, &session.history_bundle(path, &params, &page)?, pretty))
}

pub async fn bundle(Door(session): Door, RawQuery(q): RawQuery, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> ApiResult {
    let pretty = check_output_format(&headers, &query_pairs(q.as_deref()))?;
    let value = json_body(&headers, body, BodyKind::Resource)?;
    let response = session.bundle(value, negotiate::prefer(&headers).ret).await?;
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
fn written(session: &Session, headers: &HeaderMap, w: Written, pretty: Pretty) -> ApiResult {
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
        let location = format!("{}/{}", session.config().base_url, app::location(s));
        if let Ok(v) = HeaderValue::from_str(&location) {
            r.headers_mut().insert(header::LOCATION, v);
        }
    }
    Ok(r)
}
