//! The use cases of the shared record, each one atomic unit of work on the store. This crate is the only
//! door to patient data: transports call `App`, never `store`.

pub mod access;
pub mod audit;
mod audit_event;
pub mod auth;
pub mod break_glass;
pub mod bulk;
mod bundle;
mod criteria;
mod error;
pub mod groups;
pub mod instant;
pub mod limits;
pub mod patch;
mod prepare;
mod present;
mod record;
pub mod registers;
mod released;
pub mod risk;
pub mod search;
mod session;
pub mod validate;
pub mod worklist;

pub use bundle::Return;
pub use error::AppError;
pub use limits::Limits;
pub use present::{etag, location, parse_etag};
pub use record::{Handling, HistoryPage, Written};
pub use released::Released;
pub use search::{subset_of_read, SearchPage};
pub use session::{Clock, Session};
pub use store::HistoryScope;

use std::sync::Arc;
use store::Store;

/// Settings the use cases need.
#[derive(Debug, Clone)]
pub struct Config {
    /// This server's FHIR base URL as clients see it, without a trailing slash (for `fullUrl` and links).
    pub base_url: String,
    /// What one request may ask for.
    pub limits: Limits,
    /// The key tokens are signed with; `None`: one made on first use and kept in the database.
    pub token_key: Option<Secret>,
    /// How long an issued token is valid.
    pub token_ttl: std::time::Duration,
    /// The configurable part of the access rules (encounter window, case-conference grace, break-glass).
    pub policy: care::access::Policy,
    /// Codes whose items only their recording organisation sees. Applied when a version is written: a
    /// changed set holds for what is written after the change.
    pub sensitive_codes: std::sync::Arc<access::SensitiveCodes>,
    /// The clock the access rules read (a test may set it).
    pub clock: Clock,
    /// Organisations (ids) whose staff are named, not only by organisation and role, to the people whose
    /// records they open, when those people list who looked.
    pub named_organisations: Vec<String>,
    /// The shares of the population a full re-score puts in the very high, high and rising tiers.
    pub tier_shares: [f64; 3],
    /// The eligibility cohorts kept as Groups beside the registers (`[cohorts] file`; default the built-in).
    pub cohorts: std::sync::Arc<care::cohorts::Cohorts>,
    /// When the server re-scores everyone each day: minutes after midnight UTC (`[risk] refresh_at`); `None`:
    /// only when `joinery risk refresh` is run.
    pub risk_refresh_at: Option<u32>,
}

impl Config {
    pub fn new(base_url: impl Into<String>) -> Self {
        Config {
            base_url: base_url.into(),
            limits: Limits::default(),
            token_key: None,
            token_ttl: std::time::Duration::from_secs(3600),
            policy: care::access::Policy::default(),
            sensitive_codes: Default::default(),
            clock: Clock::system(),
            named_organisations: Vec::new(),
            tier_shares: care::admission::DEFAULT_TIER_SHARES,
            cohorts: std::sync::Arc::new(care::cohorts::Cohorts::builtin().clone()),
            risk_refresh_at: None,
        }
    }
}

/// Secret bytes that never print.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<hidden>)")
    }
}

/// The application: cheap to clone, shared by every request.
#[derive(Clone)]
pub struct App {
    store: Store,
    config: Arc<Config>,
    exports: Arc<bulk::ExportJobs>,
    keys: Arc<tokio::sync::OnceCell<auth::Keys>>,
    /// The audit log's appender, started on the first event.
    audit: Arc<std::sync::OnceLock<audit::Appender>>,
}

impl App {
    pub fn new(store: Store, config: Config) -> Self {
        let exports = Arc::new(bulk::ExportJobs::new(store.data_dir().map(|d| d.join("exports"))));
        App { store, config: Arc::new(config), exports, keys: Arc::new(tokio::sync::OnceCell::new()), audit: Arc::new(std::sync::OnceLock::new()) }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Finishes queued writes and closes the database.
    pub async fn shutdown(&self) -> Result<(), AppError> {
        Ok(self.store.close().await?)
    }
}
