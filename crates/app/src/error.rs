//! The one exhaustive list of errors a use case can end in, each with its HTTP status and FHIR issue code.

use fhir::{Issue, IssueCode, OperationOutcome};
use store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request or resource could not be parsed or broke basic FHIR rules (400).
    #[error("bad request")]
    BadRequest(Vec<Issue>),
    /// No credentials, or credentials that are not valid now: a missing, malformed, expired or forged
    /// token, a disabled account, a wrong password (401, with `WWW-Authenticate: Bearer`).
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// Signed in, but the token's scopes do not allow this interaction (403).
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// No such resource, or no such resource type (404).
    #[error("not found: {0}")]
    NotFound(String),
    /// The resource was deleted (410).
    #[error("gone: {0}")]
    Gone(String),
    /// A concurrent change or a version clash (409).
    #[error("conflict: {0}")]
    Conflict(String),
    /// `If-Match` named a stale version, or a conditional operation matched more than one resource (412).
    #[error("precondition failed: {0}")]
    PreconditionFailed(String),
    /// The request was well-formed but broke a business rule, e.g. a reference to a missing resource (422).
    #[error("unprocessable")]
    Unprocessable(Vec<Issue>),
    /// The database cannot take work now (503).
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A bug; the details are logged, never shown (500).
    #[error("internal error")]
    Internal(#[source] store::BoxError),
}

impl AppError {
    pub fn bad_request(code: IssueCode, diagnostics: impl Into<String>, at: Option<&str>) -> Self {
        AppError::BadRequest(vec![issue(code, diagnostics, at)])
    }

    pub fn unprocessable(code: IssueCode, diagnostics: impl Into<String>, at: Option<&str>) -> Self {
        AppError::Unprocessable(vec![issue(code, diagnostics, at)])
    }

    pub fn status(&self) -> u16 {
        match self {
            AppError::BadRequest(_) => 400,
            AppError::Unauthorized(_) => 401,
            AppError::Forbidden(_) => 403,
            AppError::NotFound(_) => 404,
            AppError::Gone(_) => 410,
            AppError::Conflict(_) => 409,
            AppError::PreconditionFailed(_) => 412,
            AppError::Unprocessable(_) => 422,
            AppError::Unavailable(_) => 503,
            AppError::Internal(_) => 500,
        }
    }

    /// The OperationOutcome a client sees. Internal errors say nothing about their cause.
    pub fn outcome(&self) -> OperationOutcome {
        let one = |code, text: &str| OperationOutcome::single(Issue::error(code, text));
        match self {
            AppError::BadRequest(issues) | AppError::Unprocessable(issues) => OperationOutcome::new(issues.clone()),
            AppError::Unauthorized(m) => one(IssueCode::Login, m),
            AppError::Forbidden(m) => one(IssueCode::Forbidden, m),
            AppError::NotFound(m) => one(IssueCode::NotFound, m),
            AppError::Gone(m) => one(IssueCode::Deleted, m),
            AppError::Conflict(m) => one(IssueCode::Conflict, m),
            AppError::PreconditionFailed(m) => one(IssueCode::Conflict, m),
            AppError::Unavailable(_) => one(IssueCode::Transient, "the service is temporarily unavailable; retry later"),
            AppError::Internal(_) => one(IssueCode::Exception, "an internal error occurred; it has been logged"),
        }
    }

    /// The same error as seen from inside a Bundle: element paths are prefixed with the entry's path.
    pub fn within_entry(self, entry_path: &str) -> AppError {
        let rebase = |issues: Vec<Issue>| {
            issues
                .into_iter()
                .map(|mut i| {
                    i.expression = i.expression.iter().map(|e| rebase_path(e, entry_path)).collect();
                    if i.expression.is_empty() {
                        i.expression.push(entry_path.to_owned());
                    }
                    i
                })
                .collect()
        };
        match self {
            AppError::BadRequest(i) => AppError::BadRequest(rebase(i)),
            AppError::Unprocessable(i) => AppError::Unprocessable(rebase(i)),
            AppError::NotFound(m) => AppError::NotFound(format!("{entry_path}: {m}")),
            AppError::Gone(m) => AppError::Gone(format!("{entry_path}: {m}")),
            AppError::Conflict(m) => AppError::Conflict(format!("{entry_path}: {m}")),
            AppError::PreconditionFailed(m) => AppError::PreconditionFailed(format!("{entry_path}: {m}")),
            other => other,
        }
    }
}

/// `Patient.name[0]` inside `Bundle.entry[2]` is `Bundle.entry[2].resource.name[0]`; request paths stay as given.
fn rebase_path(path: &str, entry_path: &str) -> String {
    if path.starts_with("Bundle.entry[") || path.starts_with("request") {
        return if path.starts_with("request") { format!("{entry_path}.{path}") } else { path.to_owned() };
    }
    match path.split_once('.') {
        Some((_, rest)) => format!("{entry_path}.resource.{rest}"),
        None => format!("{entry_path}.resource"),
    }
}

fn issue(code: IssueCode, diagnostics: impl Into<String>, at: Option<&str>) -> Issue {
    let i = Issue::error(code, diagnostics);
    match at {
        Some(p) => i.at(p),
        None => i,
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) => AppError::Unavailable(m),
            StoreError::Conflict => AppError::Conflict("the resource was changed by another request; retry".into()),
            StoreError::Forbidden(m) => AppError::Forbidden(m),
            StoreError::NotFound(m) => AppError::NotFound(m),
            StoreError::Internal(e) => AppError::Internal(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_paths_are_rebased() {
        assert_eq!(rebase_path("Patient.name[0].given", "Bundle.entry[3]"), "Bundle.entry[3].resource.name[0].given");
        assert_eq!(rebase_path("Patient", "Bundle.entry[3]"), "Bundle.entry[3].resource");
        assert_eq!(rebase_path("request.url", "Bundle.entry[1]"), "Bundle.entry[1].request.url");
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let e = AppError::Internal("secret table name".into());
        assert_eq!(e.status(), 500);
        assert!(!e.outcome().to_json().to_string().contains("secret"));
    }
}
