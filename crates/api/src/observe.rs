//! Request metrics (Prometheus) and structured request logs. Logs name the route template, never the
//! concrete URL: ids, query values and bodies can identify a person.

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use std::time::Instant;

pub async fn track(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "unmatched".into());
    let response = next.run(request).await;
    let seconds = started.elapsed().as_secs_f64();
    let status = response.status().as_u16();
    let labels = [("method", method.to_owned()), ("route", route.clone()), ("status", status.to_string())];
    metrics::counter!("joinery_http_requests_total", &labels).increment(1);
    metrics::histogram!("joinery_http_request_seconds", &labels[..2]).record(seconds);
    if status >= 500 {
        tracing::warn!(%method, %route, status, ms = seconds * 1000.0, "request failed");
    } else {
        tracing::debug!(%method, %route, status, ms = seconds * 1000.0, "request");
    }
    response
}

/// The method as a metric label: the methods the API serves by name, anything else as `other`, so that a
/// client cannot grow the label set without bound.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}
