//! Persistence of the shared record: every version of every resource, the search indexes, atomic write
//! units and migrations. Only this crate knows SQL; callers see `Store`, `Tx` and plain row types.

pub mod access;
mod accounts;
mod audit;
mod break_glass;
mod bulk;
mod columns;
mod error;
mod groups;
mod model;
mod postgres;
mod risk;
pub mod search;
mod sql;
mod sqlite;

pub use access::Visibility;
pub use accounts::Account;
pub use audit::{AuditEntry, AuditIndex, AuditQuery, AuditRecord};
pub use break_glass::{BreakGlassGrant, BreakGlassReview, GrantFilter};
pub use bulk::{Dangling, DanglingLink, PersonScope, Scan, ScanEnd, ScanRow, WriteConcurrency};
pub use error::{BoxError, StoreError};
pub use groups::{GroupMember, GroupMemberRow};
pub use model::{HistoryQuery, HistoryScope, Method, NewVersion, Stored, TokenCriterion};
pub use postgres::{PgOptions, PgStore, PgTestDatabase};
pub use risk::{RiskRun, RiskScore, Worklist, WorklistQuery};
pub use sqlite::{SqliteOptions, SqliteStore};

/// The newest schema version this build knows, per backend.
pub const SQLITE_SCHEMA_VERSION: usize = sqlite::SCHEMA_VERSION;
pub const POSTGRES_SCHEMA_VERSION: usize = postgres::SCHEMA_VERSION;

/// The write side of a store: operations available inside one atomic unit of work.
///
/// A read made through `Tx` and the write that depends on it cannot be interleaved with another unit that
/// reads or writes the same thing (what makes conditional create and `If-Match` exact under concurrency):
/// on SQLite every unit runs serially on the writer; on PostgreSQL `current` locks the resource and `find`
/// locks its criteria until the unit ends, across every process on the database.
pub trait Tx {
    /// The current version of a resource, deleted or not.
    fn current(&mut self, resource_type: &str, id: &str) -> Result<Option<Stored>, StoreError>;
    /// Ids of live (not deleted) resources of a type matching every criterion that `vis` shows, at most `limit`.
    fn find_visible(&mut self, resource_type: &str, criteria: &[TokenCriterion], limit: usize, vis: &Visibility) -> Result<Vec<String>, StoreError>;
    /// Ids of live resources of a type matching every criterion, at most `limit`: on a store's own unit, all of
    /// them; behind the application's guard, those the unit's caller may see.
    fn find(&mut self, resource_type: &str, criteria: &[TokenCriterion], limit: usize) -> Result<Vec<String>, StoreError> {
        self.find_visible(resource_type, criteria, limit, &Visibility::All)
    }
    /// Whether the caller may see the current version of a resource, as this unit has left it so far (false
    /// if there is none).
    fn sees(&mut self, resource_type: &str, id: &str, vis: &Visibility) -> Result<bool, StoreError>;
    /// The live resources (type, id) that hold a reference to `resource_type/id` (at most `limit`).
    fn referrers(&mut self, resource_type: &str, id: &str, limit: usize) -> Result<Vec<(String, String)>, StoreError>;
    /// Writes a new version and makes it current, replacing its index entries. Returns the stored row.
    fn put(&mut self, version: NewVersion<'_>) -> Result<Stored, StoreError>;
}

/// The store a server runs on. An enum rather than a trait object so that each backend keeps its own
/// concurrency model (SQLite: one writer thread that commits in groups; PostgreSQL: a pool, one
/// transaction per unit, row and advisory locks in the database).
#[derive(Clone)]
pub enum Store {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

impl Store {
    /// Runs `unit` atomically. Its effects are durable before this returns `Ok`; if it returns `Err`,
    /// nothing it wrote is kept.
    pub async fn write<T, E>(&self, unit: impl FnOnce(&mut dyn Tx) -> Result<T, E> + Send + 'static) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        match self {
            Store::Sqlite(s) => s.write(unit).await,
            Store::Postgres(s) => s.write(unit).await,
        }
    }

    /// The current version of a resource (deleted or not), if the caller may see it.
    pub async fn read(&self, resource_type: &str, id: &str, vis: &Visibility) -> Result<Option<Stored>, StoreError> {
        match self {
            Store::Sqlite(s) => s.read(resource_type, id, vis).await,
            Store::Postgres(s) => s.read(resource_type, id, vis).await,
        }
    }

    /// One version of a resource, if the caller may see it.
    pub async fn vread(&self, resource_type: &str, id: &str, version: i64, vis: &Visibility) -> Result<Option<Stored>, StoreError> {
        match self {
            Store::Sqlite(s) => s.vread(resource_type, id, version, vis).await,
            Store::Postgres(s) => s.vread(resource_type, id, version, vis).await,
        }
    }

    pub async fn history(&self, query: HistoryQuery) -> Result<Vec<Stored>, StoreError> {
        match self {
            Store::Sqlite(s) => s.history(query).await,
            Store::Postgres(s) => s.history(query).await,
        }
    }

    /// Live resources matching every criterion, in id order, after `after_id` (the paging cursor).
    pub async fn find(
        &self,
        resource_type: &str,
        criteria: Vec<TokenCriterion>,
        after_id: Option<String>,
        limit: usize,
    ) -> Result<Vec<Stored>, StoreError> {
        match self {
            Store::Sqlite(s) => s.find(resource_type, criteria, after_id, limit).await,
            Store::Postgres(s) => s.find(resource_type, criteria, after_id, limit).await,
        }
    }

    /// One page of a search: each match with the values of its sort keys (to resume after it).
    pub async fn search(&self, query: search::Query) -> Result<Vec<(Stored, Vec<serde_json::Value>)>, StoreError> {
        match self {
            Store::Sqlite(s) => s.search(query).await,
            Store::Postgres(s) => s.search(query).await,
        }
    }

    /// The statements of a search's page and of its count, each followed by the database's plan for them
    /// (SQLite's `EXPLAIN QUERY PLAN`, PostgreSQL's `EXPLAIN`), one line each: what a search shape costs.
    pub async fn explain(&self, query: search::Query) -> Result<Vec<String>, StoreError> {
        match self {
            Store::Sqlite(s) => s.explain(query).await,
            Store::Postgres(s) => s.explain(query).await,
        }
    }

    /// How many resources a search matches.
    pub async fn count(&self, query: search::Query) -> Result<u64, StoreError> {
        match self {
            Store::Sqlite(s) => s.count(query).await,
            Store::Postgres(s) => s.count(query).await,
        }
    }

    /// Search-parameter references held by the given resources (for `_include`).
    pub async fn links_from(&self, resource_type: &str, ids: Vec<String>, params: Option<Vec<String>>) -> Result<Vec<search::Link>, StoreError> {
        match self {
            Store::Sqlite(s) => s.links_from(resource_type, ids, params).await,
            Store::Postgres(s) => s.links_from(resource_type, ids, params).await,
        }
    }

    /// Search-parameter references pointing at the given resources (for `_revinclude` and compartments).
    pub async fn links_to(
        &self,
        target_type: &str,
        ids: Vec<String>,
        source_type: Option<String>,
        param: Option<String>,
    ) -> Result<Vec<search::Link>, StoreError> {
        match self {
            Store::Sqlite(s) => s.links_to(target_type, ids, source_type, param).await,
            Store::Postgres(s) => s.links_to(target_type, ids, source_type, param).await,
        }
    }

    /// One page of a person's record (`$everything`): the live resources whose person key is the person,
    /// in (type, id) order. Every table it reads is filtered on the person key.
    pub async fn person_record(&self, query: search::RecordQuery) -> Result<Vec<Stored>, StoreError> {
        match self {
            Store::Sqlite(s) => s.person_record(query).await,
            Store::Postgres(s) => s.person_record(query).await,
        }
    }

    /// Search-parameter references held by the given resources of a person's record.
    pub async fn person_links(&self, person: &str, keys: Vec<(String, String)>) -> Result<Vec<search::Link>, StoreError> {
        match self {
            Store::Sqlite(s) => s.person_links(person.to_owned(), keys).await,
            Store::Postgres(s) => s.person_links(person.to_owned(), keys).await,
        }
    }

    /// The live current versions of shared resources (those with no person key: reference data such as
    /// Organizations, which a store distributed by person keeps on every node), in the order given; others
    /// are skipped.
    pub async fn read_shared(&self, keys: Vec<(String, String)>) -> Result<Vec<Stored>, StoreError> {
        match self {
            Store::Sqlite(s) => s.read_shared(keys).await,
            Store::Postgres(s) => s.read_shared(keys).await,
        }
    }

    /// The live current versions of the given resources that the caller may see, in the order given;
    /// others are skipped.
    pub async fn read_many(&self, keys: Vec<(String, String)>, vis: Visibility) -> Result<Vec<Stored>, StoreError> {
        match self {
            Store::Sqlite(s) => s.read_many(keys, vis).await,
            Store::Postgres(s) => s.read_many(keys, vis).await,
        }
    }

    /// Waits for queued writes, then closes the database cleanly.
    pub async fn close(&self) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.close().await,
            Store::Postgres(s) => s.close().await,
        }
    }

    /// Whether `close` has been called: background work stops quietly.
    pub fn is_closed(&self) -> bool {
        match self {
            Store::Sqlite(s) => s.is_closed(),
            Store::Postgres(s) => s.is_closed(),
        }
    }
}
