//! Store errors: what callers may act on. Driver errors stop here, wrapped as `Internal`.

pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot take work now (closed, busy beyond the timeout, disk full); retry later.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// A uniqueness rule was broken by a concurrent writer.
    #[error("conflicting write")]
    Conflict,
    /// A write the access rules refuse to the unit's caller. Raised by the guard the application wraps a
    /// caller's units in (a backend never raises it); the unit is rolled back like any failed unit.
    #[error("refused: {0}")]
    Forbidden(String),
    /// A write the guard answers as if its target did not exist (an update that would create, or would
    /// overwrite what the caller may not see: both answered alike, so that a write reveals nothing).
    #[error("not found: {0}")]
    NotFound(String),
    /// A bug or an unexpected driver failure. Never shown to clients.
    #[error("internal store error")]
    Internal(#[source] BoxError),
}

impl StoreError {
    /// Store errors are not `Clone` (they may wrap a driver error): a copy for each waiter or for the record
    /// of a unit's first failure, a driver error as its description.
    pub(crate) fn duplicate(&self) -> StoreError {
        match self {
            StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
            StoreError::Conflict => StoreError::Conflict,
            StoreError::Forbidden(m) => StoreError::Forbidden(m.clone()),
            StoreError::NotFound(m) => StoreError::NotFound(m.clone()),
            StoreError::Internal(inner) => StoreError::Internal(inner.to_string().into()),
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked | ErrorCode::DiskFull | ErrorCode::CannotOpen) => {
                StoreError::Unavailable(e.to_string())
            }
            Some(ErrorCode::ConstraintViolation) => StoreError::Conflict,
            _ => StoreError::Internal(Box::new(e)),
        }
    }
}
