//! Load shedding and the request time limit: past `max_in_flight` requests at once a new one is answered
//! 503 with Retry-After at once instead of queueing, and a request (reading its body included) that runs past
//! `request_timeout` is dropped, which stops its work, and answered 503 with Retry-After.

use crate::respond::ApiError;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use fhir::{Issue, IssueCode};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// What the guard enforces.
#[derive(Clone)]
pub struct Guard {
    permits: Arc<Semaphore>,
    max_in_flight: usize,
    request_timeout: Duration,
}

impl Guard {
    pub fn new(max_in_flight: usize, request_timeout: Duration) -> Self {
        let max_in_flight = max_in_flight.max(1);
        Guard { permits: Arc::new(Semaphore::new(max_in_flight)), max_in_flight, request_timeout }
    }
}

pub async fn limit(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    // Liveness answers even when the server is saturated.
    if request.uri().path() == "/healthz" {
        return next.run(request).await;
    }
    let Ok(_permit) = guard.permits.clone().try_acquire_owned() else {
        metrics::counter!("joinery_http_shed_total").increment(1);
        return unavailable(format!("the server is answering {} requests already (the limit max_in_flight); retry shortly", guard.max_in_flight));
    };
    match tokio::time::timeout(guard.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            metrics::counter!("joinery_http_timeouts_total").increment(1);
            unavailable(format!(
                "the request took longer than {} ms (the limit request_timeout_ms) and was stopped; retry later",
                guard.request_timeout.as_millis()
            ))
        }
    }
}

fn unavailable(diagnostics: String) -> Response {
    ApiError::status(StatusCode::SERVICE_UNAVAILABLE, Issue::error(IssueCode::Transient, diagnostics)).into_response()
}
