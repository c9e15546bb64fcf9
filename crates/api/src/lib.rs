//! The FHIR R4 REST API over HTTP: a router that tests call in process and the binary serves.

mod accountability;
mod auth;
mod bulk;
mod capability;
mod guard;
mod negotiate;
mod observe;
mod respond;
mod rest;

use app::App;
use axum::extract::{DefaultBodyLimit, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use fhir::{Issue, IssueCode};
use respond::{json_response, ApiError};
use std::sync::Arc;
use std::time::Duration;

pub use capability::{SYSTEM_INTERACTIONS, TYPE_INTERACTIONS};

/// Renders the metrics page; the binary provides it (tests may pass none).
pub type MetricsRender = Arc<dyn Fn() -> String + Send + Sync>;

/// Settings of the HTTP layer.
#[derive(Clone)]
pub struct Options {
    /// Largest request body accepted, in bytes (413 beyond).
    pub max_body_bytes: usize,
    /// Most requests served at once; more are answered 503 with Retry-After at once.
    pub max_in_flight: usize,
    /// Longest a request may take, reading its body included, before it is stopped and answered 503.
    pub request_timeout: Duration,
    pub metrics: Option<MetricsRender>,
}

impl Default for Options {
    fn default() -> Self {
        Options { max_body_bytes: 64 * 1024 * 1024, max_in_flight: 512, request_timeout: Duration::from_secs(60), metrics: None }
    }
}

/// Shared state of every handler.
#[derive(Clone)]
pub struct Api {
    app: App,
    started: String,
    metrics: Option<MetricsRender>,
}

/// The whole HTTP surface: `/healthz`, `/metrics` and the FHIR API under `/fhir`.
pub fn router(app: App, options: Options) -> Router {
    let api = Api { app, started: app::instant::now(), metrics: options.metrics };
    let fhir = Router::new()
        .route("/", axum::routing::post(rest::bundle).get(rest::search_system))
        .route("/_search", axum::routing::post(rest::search_system))
        .route("/metadata", get(metadata))
        .route("/$export", get(bulk::export_system))
        .route("/Patient/$export", get(bulk::export_patients))
        .route("/Patient/$worklist", get(rest::worklist))
        .route("/Group/{id}/$export", get(bulk::export_group))
        .route("/$export-status/{job}", get(bulk::status).delete(bulk::cancel))
        .route("/$export-file/{job}/{file}", get(bulk::file))
        .route("/_history", get(rest::history_system))
        .route("/$break-glass-review", get(accountability::reviews).post(accountability::review))
        // The audit log is served, never written, through the API.
        .route("/AuditEvent", get(accountability::events))
        .route("/AuditEvent/{id}", get(accountability::event))
        .route(
            "/{type}",
            get(rest::search).post(rest::create).put(rest::conditional_update).patch(rest::conditional_patch).delete(rest::conditional_delete),
        )
        .route("/{type}/_history", get(rest::history_type))
        .route("/{type}/_search", axum::routing::post(rest::search_post))
        .route("/{type}/{id}", get(rest::read).put(rest::update).patch(rest::patch).delete(rest::delete).post(rest::validate_type))
        .route("/{type}/{id}/_history", get(rest::history_instance))
        .route("/{type}/{id}/_history/{vid}", get(rest::vread))
        .route("/{type}/{id}/{compartment_type}", get(rest::compartment).post(rest::validate_instance))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found);
    Router::new()
        .route("/healthz", get(healthz))
        .route("/auth/token", axum::routing::post(auth::token))
        // The base with a trailing slash is the same endpoint (clients post Bundles to `[base]/`).
        .route("/fhir/", axum::routing::post(rest::bundle).get(rest::search_system))
        .route("/metrics", get(metrics_page))
        .nest("/fhir", fhir)
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(api.clone(), auth::require))
        .layer(axum::middleware::from_fn_with_state(guard::Guard::new(options.max_in_flight, options.request_timeout), guard::limit))
        .layer(axum::middleware::from_fn(observe::track))
        .layer(DefaultBodyLimit::max(options.max_body_bytes))
        .with_state(api)
}

async fn metadata(State(api): State<Api>, RawQuery(q): RawQuery, headers: HeaderMap) -> Result<Response, ApiError> {
    let pretty = negotiate::check_output_format(&headers, &negotiate::query_pairs(q.as_deref()))?;
    Ok(json_response(StatusCode::OK, &capability::statement(&api.app.config().base_url, &api.started), pretty))
}

async fn healthz() -> &'static str {
    "ok"
}

async fn metrics_page(State(api): State<Api>) -> Response {
    match &api.metrics {
        Some(render) => render().into_response(),
        None => (StatusCode::NOT_FOUND, "metrics are not enabled").into_response(),
    }
}

async fn method_not_allowed() -> ApiError {
    respond::method_not_allowed()
}

async fn not_found() -> ApiError {
    ApiError::status(StatusCode::NOT_FOUND, Issue::error(IssueCode::NotFound, "no such endpoint; the FHIR API is under /fhir"))
}
