//! Who is asking, at the HTTP edge: `POST /auth/token` (OAuth2 password and client-credentials grants), and
//! the bearer token every `/fhir` route but `/fhir/metadata` requires. A request with no token or a bad one
//! is answered 401 with `WWW-Authenticate: Bearer` and an OperationOutcome; a token whose SMART scopes do not
//! allow the interaction, 403. The caller's session is handed on in the request's extensions, and handlers
//! take it as their `Door`.

use crate::respond::ApiError;
use crate::Api;
use app::audit::RequestAudit;
use app::auth::Authenticated;
use app::AppError;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use bytes::Bytes;
use care::access::Caller;
use care::scope::Perm;
use serde_json::json;

/// The FHIR routes that need no token.
fn is_open(path: &str) -> bool {
    matches!(path.trim_end_matches('/'), "/fhir/metadata")
}

pub async fn require(State(api): State<Api>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let fhir = path == "/fhir" || path.starts_with("/fhir/");
    if !fhir || is_open(&path) {
        return next.run(request).await;
    }
    let (method, query) = (request.method().clone(), request.uri().query().map(str::to_owned));
    let audited = |status: StatusCode| RequestAudit { method: method.as_str(), path: &path, query: query.as_deref(), status: status.as_u16() };
    let token = bearer(request.headers());
    let who = match token {
        Some(token) => api.app.authenticate(token).await,
        None => Err(AppError::Unauthorized("this endpoint needs a bearer token (Authorization: Bearer …); get one from /auth/token".into())),
    };
    let who = match who {
        Ok(w) => w,
        Err(e @ AppError::Unauthorized(_)) => {
            let refused = challenge(e, token.is_some());
            return after_audit(api.app.audit_request(None, &audited(refused.status()), Vec::new()).await, refused);
        }
        // The store could not say (unreachable, saturated): 503 with Retry-After, as for any request.
        Err(e) => return ApiError::App(e).into_response(),
    };
    if let Err(why) = permitted(&who, request.method(), &path, request.uri().query()) {
        let refused = ApiError::App(AppError::Forbidden(why)).into_response();
        return after_audit(api.app.audit_request(Some(&who.caller), &audited(refused.status()), Vec::new()).await, refused);
    }
    let session = match api.app.as_caller(&who.caller).await {
        Ok(s) => s,
        Err(e) => return ApiError::App(e).into_response(),
    };
    request.extensions_mut().insert(session.clone());
    request.extensions_mut().insert(who);
    let response = next.run(request).await;
    after_audit(session.audit(&audited(response.status())).await, response)
}

/// The answer, once its audit event is in the log; if the event could not be written, 503 instead: no answer
/// leaves unaccounted.
fn after_audit(recorded: Result<(), AppError>, response: Response) -> Response {
    match recorded {
        Ok(()) => response,
        Err(e) => ApiError::App(e).into_response(),
    }
}

/// The caller's session, as a handler's argument: the only way a handler reaches the record. A route that
/// takes it and is reached without a token (a route the middleware leaves open) answers 401.
pub struct Door(pub app::Session);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Door {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Door, ApiError> {
        match parts.extensions.get::<app::Session>() {
            Some(s) => Ok(Door(s.clone())),
            None => Err(ApiError::App(AppError::Unauthorized("this endpoint needs a bearer token".into()))),
        }
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// 401 with the Bearer challenge (RFC 6750), the OperationOutcome saying why; `error="invalid_token"` when a
/// token was sent and refused.
fn challenge(e: AppError, invalid: bool) -> Response {
    let mut response = ApiError::App(e).into_response();
    let value = if invalid { r#"Bearer realm="joinery", error="invalid_token""# } else { r#"Bearer realm="joinery""# };
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(value));
    response
}

/// Whether the token's scopes allow this request: the interaction a route is, on the resource types it
/// touches. Bulk export is for integration systems; a batch or transaction needs scopes over every type
/// until each entry is checked on its own.
fn permitted(who: &Authenticated, method: &Method, path: &str, query: Option<&str>) -> Result<(), String> {
    let segments: Vec<&str> = path.trim_start_matches("/fhir").split('/').filter(|s| !s.is_empty()).collect();
    let scopes = &who.scopes;
    let need_every = |perms: &[Perm], what: &str| {
        if perms.iter().all(|p| scopes.allows_every_type(*p)) {
            Ok(())
        } else {
            Err(format!("{what} needs scopes over every resource type; the token has {scopes}"))
        }
    };
    let need = |t: &str, perm: Perm| {
        if scopes.allows(t, perm) {
            Ok(())
        } else {
            Err(format!("the token's scopes ({scopes}) do not allow {} on {t}", perm_name(perm)))
        }
    };
    if segments.iter().any(|s| s.starts_with("$export")) {
        return match who.caller {
            Caller::System { .. } => need_every(&[Perm::Read], "Bulk Data export"),
            _ => Err("Bulk Data export is for integration systems (a system token)".into()),
        };
    }
    match (segments.as_slice(), method) {
        // Privacy officers' review of break-glass: the role decides (in `app`).
        (["$break-glass-review"], _) => Ok(()),
        ([], &Method::POST) => need_every(&[Perm::Create, Perm::Read, Perm::Update, Perm::Delete, Perm::Search], "a batch or transaction"),
        ([] | ["_search"], _) => {
            let types = query.into_iter().flat_map(|q| form_urlencoded::parse(q.as_bytes())).find(|(k, _)| k == "_type").map(|(_, v)| v.into_owned());
            match types {
                Some(list) => list.split(',').try_for_each(|t| need(t, Perm::Search)),
                None => need_every(&[Perm::Search], "a search of every type"),
            }
        }
        (["_history"], _) => need_every(&[Perm::Search], "the history of every type"),
        ([t], &Method::GET) | ([t, "_search" | "_history"], _) => need(t, Perm::Search),
        ([t], &Method::POST) => need(t, Perm::Create),
        ([t], &Method::PUT | &Method::PATCH) => need(t, Perm::Update),
        ([t], &Method::DELETE) => need(t, Perm::Delete),
        ([_, _, "$everything"], _) => need_every(&[Perm::Read], "$everything"),
        // Registers, the segment and the eFI are worked out from the person, their diagnoses and their medicines.
        ([t, _, "$registers" | "$frailty" | "$segment"], &Method::GET) => {
            need(t, Perm::Read).and(need("Condition", Perm::Read)).and(need("MedicationRequest", Perm::Read))
        }
        // LACE reads the stay, the person's diagnoses and their A&E attendances.
        (["Encounter", _, "$readmission-risk"], &Method::GET) => need("Encounter", Perm::Read)
            .and(need("Patient", Perm::Read))
            .and(need("Condition", Perm::Read))
            .and(need("MedicationRequest", Perm::Read)),
        // The admission risk reads their emergency encounters as well.
        ([t, _, "$admission-risk"], &Method::GET) => {
            need(t, Perm::Read).and(need("Condition", Perm::Read)).and(need("MedicationRequest", Perm::Read)).and(need("Encounter", Perm::Read))
        }
        // A worklist is a search of people.
        (["Patient", "$worklist"], &Method::GET) => need("Patient", Perm::Search),
        // Validation reads what references point at (and, for a delete, what points at the resource).
        ([t, "$validate"] | [t, _, "$validate"], &Method::POST) => need(t, Perm::Read),
        // About the caller themself: any signed-in caller may ask.
        ([_, _, "$access"], _) => Ok(()),
        // Emergency access to a record: reading it is what it is for.
        ([t, _, "$break-glass"], &Method::POST) => need(t, Perm::Read),

        ([t, _], &Method::GET) | ([t, _, "_history", ..], _) => need(t, Perm::Read),
        ([t, _], &Method::PUT | &Method::PATCH) => need(t, Perm::Update),
        ([t, _], &Method::DELETE) => need(t, Perm::Delete),
        ([_, _, compartment_type], _) => need(compartment_type, Perm::Search),
        // Anything else is not a route; the router answers it (404 or 405).
        _ => Ok(()),
    }
}

fn perm_name(p: Perm) -> &'static str {
    match p {
        Perm::Create => "create",
        Perm::Read => "read",
        Perm::Update => "update",
        Perm::Delete => "delete",
        Perm::Search => "search",
    }
}

/// `POST /auth/token`: `grant_type=password` (username, password) or `client_credentials` (client_id and
/// client_secret, in the body or as HTTP Basic), with an optional `scope`. Answers as OAuth2 does.
pub async fn token(State(api): State<Api>, headers: HeaderMap, body: Bytes) -> Response {
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let basic = basic_credentials(&headers);
    let scope = get("scope").filter(|s| !s.trim().is_empty());
    let (username, password) = match get("grant_type") {
        Some("password") => match (get("username"), get("password")) {
            (Some(u), Some(p)) => (u.to_owned(), p.to_owned()),
            _ => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "the password grant needs username and password"),
        },
        Some("client_credentials") => match (get("client_id"), get("client_secret"), basic) {
            (Some(id), Some(secret), _) => (id.to_owned(), secret.to_owned()),
            (_, _, Some(pair)) => pair,
            _ => return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "the client-credentials grant needs client_id and client_secret"),
        },
        Some(other) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                &format!("grant_type '{other}' is not supported; use password or client_credentials"),
            )
        }
        None => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "grant_type is required (an application/x-www-form-urlencoded body)"),
    };
    match api.app.sign_in(&username, &password, scope).await {
        Ok(t) => (
            StatusCode::OK,
            [(header::CACHE_CONTROL, "no-store"), (header::PRAGMA, "no-cache")],
            axum::Json(json!({ "access_token": t.token, "token_type": "Bearer", "expires_in": t.expires_in, "scope": t.scopes.to_string() })),
        )
            .into_response(),
        Err(AppError::Unauthorized(m)) => oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", &m),
        Err(AppError::Forbidden(m)) => oauth_error(StatusCode::BAD_REQUEST, "invalid_scope", &m),
        Err(AppError::BadRequest(issues)) => {
            let why: Vec<String> = issues.into_iter().map(|i| i.diagnostics).collect();
            oauth_error(StatusCode::BAD_REQUEST, "invalid_scope", &why.join("; "))
        }
        Err(e) => ApiError::App(e).into_response(),
    }
}

/// `Authorization: Basic base64(id:secret)`.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

/// An OAuth2 error response (RFC 6749 section 5.2).
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut response =
        (status, [(header::CACHE_CONTROL, "no-store")], axum::Json(json!({ "error": error, "error_description": description }))).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(r#"Basic realm="joinery""#));
    }
    response
}
