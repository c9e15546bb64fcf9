//! Bulk reads for import and export: streaming scans of current versions in write order, counts per type,
//! and the references an import left pointing at nothing.

use crate::error::StoreError;
use crate::Store;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

/// Which people's resources a scan keeps.
#[derive(Debug, Clone, Default)]
pub enum PersonScope {
    /// Every resource, belonging to a person or not.
    #[default]
    All,
    /// Only resources that belong to some person (a non-null person key): the Patient compartment.
    AnyPerson,
    /// Only resources belonging to one of these Patient ids.
    Persons(Arc<HashSet<String>>),
}

/// One chunk of a scan over the live current versions of one type, in write order (`seq`).
#[derive(Debug, Clone)]
pub struct Scan {
    pub resource_type: String,
    /// Resume after this sequence number (the previous chunk's `ScanEnd::last_seq`).
    pub after_seq: i64,
    /// Most rows to visit in this chunk.
    pub limit: usize,
    /// Only versions written at or after this instant (store format).
    pub since: Option<String>,
    pub persons: PersonScope,
}

/// A row handed to a scan's callback; the body is borrowed from the database row, never copied.
#[derive(Debug, Clone, Copy)]
pub struct ScanRow<'r> {
    pub seq: i64,
    pub id: &'r str,
    pub person_key: Option<&'r str>,
    pub body: &'r str,
}

/// Where a chunk of a scan stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanEnd {
    /// Rows visited (matching the person scope or not); fewer than `limit` means the scan is complete.
    pub visited: usize,
    /// Rows handed to the callback.
    pub matched: usize,
    /// The last sequence number visited, to resume after.
    pub last_seq: i64,
}

/// A local reference held by a live resource whose target does not exist (or is deleted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DanglingLink {
    pub resource_type: String,
    pub id: String,
    pub target_type: String,
    pub target_id: String,
}

/// The dangling references among the resources written after a point.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dangling {
    /// How many references dangle.
    pub count: u64,
    /// The first few, for the report.
    pub samples: Vec<DanglingLink>,
}

/// What `Store::write_concurrency` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteConcurrency {
    /// Units that may usefully be in flight at once.
    pub in_flight: usize,
    /// Units submitted together commit in submission order.
    pub in_order: bool,
}

impl Store {
    /// The folder this store keeps its files in (a SQLite database's folder); `None` if it has none.
    pub fn data_dir(&self) -> Option<PathBuf> {
        #[allow(unreachable_patterns)]
        match self {
            Store::Sqlite(s) => s.data_dir(),
            Store::Postgres(s) => s.data_dir(),
            _ => None,
        }
    }

    /// How many write units a bulk writer may keep in flight, and whether they commit in the order they were
    /// submitted. SQLite queues every unit on its one writer, in order; PostgreSQL runs each unit on its own
    /// pooled connection, concurrently and in no set order, so at most the pool's size should be in flight.
    pub fn write_concurrency(&self) -> WriteConcurrency {
        match self {
            Store::Sqlite(_) => WriteConcurrency { in_flight: usize::MAX, in_order: true },
            Store::Postgres(s) => WriteConcurrency { in_flight: s.pool_size(), in_order: false },
        }
    }

    /// The highest sequence number written so far (0 for an empty store).
    pub async fn last_seq(&self) -> Result<i64, StoreError> {
        #[allow(unreachable_patterns)]
        match self {
            Store::Sqlite(s) => s.last_seq().await,
            Store::Postgres(s) => s.last_seq().await,
            _ => Err(unsupported()),
        }
    }

    /// Live current resources per type, in type order.
    pub async fn live_counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        #[allow(unreachable_patterns)]
        match self {
            Store::Sqlite(s) => s.live_counts().await,
            Store::Postgres(s) => s.live_counts().await,
            _ => Err(unsupported()),
        }
    }

    /// Visits one chunk of live current versions of a type in write order, calling `each` for every row in
    /// the person scope. `state` is moved to the reading thread and handed back with where the chunk ended.
    pub async fn scan_current<S, E>(
        &self,
        scan: Scan,
        state: S,
        each: impl FnMut(&mut S, ScanRow<'_>) -> Result<(), E> + Send + 'static,
    ) -> Result<(S, ScanEnd), E>
    where
        S: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        #[allow(unreachable_patterns)]
        match self {
            Store::Sqlite(s) => s.scan_current(scan, state, each).await,
            Store::Postgres(s) => s.scan_current(scan, state, each).await,
            _ => Err(E::from(unsupported())),
        }
    }

    /// Brings the planner's statistics up to date after a bulk load. On PostgreSQL, `ANALYZE` of the whole
    /// database: with no statistics (a fresh load, with autovacuum off or not yet round) the planner takes
    /// the tables for nearly empty and picks plans that are quadratic in their rows (measured: the re-score's
    /// whole-record scan of 20,000 people's record took 301 s before and 1.5 s after). On SQLite nothing: its
    /// statements that need a plan name their index.
    pub async fn refresh_statistics(&self) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(_) => Ok(()),
            Store::Postgres(s) => s.ready_client().await?.batch_execute("ANALYZE").await.map_err(crate::postgres::pg),
        }
    }

    /// Local references held by live resources written after `after_seq` whose targets are missing or
    /// deleted: how many, and the first `samples` of them.
    pub async fn dangling_links(&self, after_seq: i64, samples: usize) -> Result<Dangling, StoreError> {
        #[allow(unreachable_patterns)]
        match self {
            Store::Sqlite(s) => s.dangling_links(after_seq, samples).await,
            Store::Postgres(s) => s.dangling_links(after_seq, samples).await,
            _ => Err(unsupported()),
        }
    }
}

fn unsupported() -> StoreError {
    StoreError::Unavailable("bulk import and export are not supported by this database backend yet".into())
}
