//! The PostgreSQL backend: a bounded connection pool, a statement timeout on every connection, reads as
//! async queries, and write units each run as one PostgreSQL transaction on the blocking thread pool.
//! Several processes may share one database: what keeps conditional operations and `If-Match` exact is
//! row and advisory locks inside PostgreSQL (see `tx`), never a lock in this process.

mod bulk;
mod migrate;
pub(crate) mod rows;
mod scratch;
mod tx;

use crate::error::StoreError;
use crate::model::{HistoryQuery, Stored, TokenCriterion};
use crate::search::{Link, Query};
use crate::sql::{self, Dialect};
use crate::{Tx, Visibility};
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;

pub use scratch::PgTestDatabase;

pub const SCHEMA_VERSION: usize = migrate::MIGRATIONS.len();

/// How to reach a PostgreSQL store and how much of it to use.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// `postgres://user@host:port/database?…` (libpq URL or key=value form).
    pub url: String,
    /// Most connections this process opens; requests beyond them wait up to `wait_timeout`.
    pub pool_size: usize,
    /// Longest a request waits for a free connection before it is refused as saturated (503).
    pub wait_timeout: Duration,
    /// Longest a connection attempt may take before the database counts as unavailable (503).
    pub connect_timeout: Duration,
    /// Longest one statement may run (PostgreSQL `statement_timeout`), lock waits included.
    pub statement_timeout: Duration,
    /// Keep the text of every read statement issued (for tests; see `PgStore::take_statements`).
    pub record_statements: bool,
    /// Where this process keeps files beside the database (bulk export files) [default: the system's
    /// temporary folder, `joinery-<database name>`].
    pub data_dir: Option<std::path::PathBuf>,
}

impl PgOptions {
    pub fn new(url: impl Into<String>) -> Self {
        PgOptions {
            url: url.into(),
            pool_size: 16,
            wait_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
            record_statements: false,
            data_dir: None,
        }
    }
}

/// A PostgreSQL store. Cheap to clone: clones share the pool.
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    /// Migrations have been checked (once per process; each check is safe across processes).
    ready: AtomicBool,
    /// One migration attempt at a time in this process; the cross-process guard is an advisory lock.
    migrating: tokio::sync::Mutex<()>,
    statements: rows::Recorder,
    data_dir: std::path::PathBuf,
    /// The audit chain's head as this process last extended it (`crate::audit`): the next append names it,
    /// and is refused by the database if another appender has moved it since.
    audit_head: std::sync::Mutex<Option<(i64, care::audit::Hash)>>,
    /// Connections for audit appends alone, so that an append never queues behind the requests it records
    /// for one of the pool's connections.
    audit_pool: Pool,
}

/// Connections kept for audit appends (the application appends one batch at a time; a second serves a
/// command or test appending beside it).
const AUDIT_CONNECTIONS: usize = 2;

impl PgStore {
    /// Prepares the pool. No connection is made yet: a server can start while the database is down, answer
    /// 503 and recover by itself when it comes back. Call `migrate` at start-up to apply migrations early.
    pub fn open(options: PgOptions) -> Result<PgStore, StoreError> {
        let mut config: tokio_postgres::Config =
            options.url.parse().map_err(|e| StoreError::Internal(format!("the PostgreSQL URL is not valid: {e}").into()))?;
        let data_dir =
            options.data_dir.clone().unwrap_or_else(|| std::env::temp_dir().join(format!("joinery-{}", config.get_dbname().unwrap_or("postgres"))));
        config.connect_timeout(options.connect_timeout);
        config.application_name("joinery");
        // Every session: a bounded statement time, durable commits whatever the server's default, and no
        // transaction left idle holding locks if a process stalls. The audit log's sessions commit without
        // waiting for the flush (`synchronous_commit = off`), as its SQLite file does (`synchronous = NORMAL`):
        // an append is in the log as soon as it commits, and survives the process failing; a crash of
        // PostgreSQL itself loses at most the events of its last moments (three `wal_writer_delay`s), from
        // the chain's end only, since commits reach the WAL in order. Measured: audited reads by id 3% to 50%
        // faster in ten alternating pairs (docs/scaling.md).
        let session = |synchronous_commit: &str| {
            format!(
                "-c statement_timeout={} -c synchronous_commit={synchronous_commit} -c idle_in_transaction_session_timeout={}",
                options.statement_timeout.as_millis(),
                (options.statement_timeout * 2).as_millis()
            )
        };
        config.options(session("on"));
        let pool_of = |config: tokio_postgres::Config, size: usize| {
            let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
            Pool::builder(manager)
                .max_size(size)
                .runtime(Runtime::Tokio1)
                .wait_timeout(Some(options.wait_timeout))
                .create_timeout(Some(options.connect_timeout))
                .recycle_timeout(Some(options.connect_timeout))
                .build()
                .map_err(|e| StoreError::Internal(Box::new(e)))
        };
        let mut audit_config = config.clone();
        audit_config.options(session("off"));
        let audit_pool = pool_of(audit_config, AUDIT_CONNECTIONS)?;
        let pool = pool_of(config, options.pool_size.max(1))?;
        Ok(PgStore {
            inner: Arc::new(Inner {
                pool,
                ready: AtomicBool::new(false),
                migrating: tokio::sync::Mutex::new(()),
                statements: rows::Recorder::new(options.record_statements),
                data_dir,
                audit_head: std::sync::Mutex::new(None),
                audit_pool,
            }),
        })
    }

    /// Applies pending migrations (under an advisory lock, so nodes starting together apply each once); once
    /// they are applied, a load of one flag.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        if self.inner.ready.load(Ordering::Acquire) {
            return Ok(());
        }
        let _one = self.inner.migrating.lock().await;
        if self.inner.ready.load(Ordering::Acquire) {
            return Ok(());
        }
        let client = self.client().await?;
        migrate::run(client).await?;
        self.inner.ready.store(true, Ordering::Release);
        Ok(())
    }

    /// The audit chain's head this process last wrote, if it remembers one.
    pub(crate) fn remembered_audit_head(&self) -> Option<(i64, care::audit::Hash)> {
        self.inner.audit_head.lock().ok().and_then(|h| *h)
    }

    /// Remembers the audit chain's head this process just wrote.
    pub(crate) fn remember_audit_head(&self, head: Option<(i64, care::audit::Hash)>) {
        if let Ok(mut h) = self.inner.audit_head.lock() {
            *h = head;
        }
    }

    /// Runs a statement built by `crate::sql` and answers its rows.
    pub(crate) async fn query_fragment(&self, f: &crate::sql::Fragment) -> Result<Vec<tokio_postgres::Row>, StoreError> {
        let c = self.ready_client().await?;
        rows::query(&c, f, &self.inner.statements).await
    }

    /// A connection to a migrated database kept for audit appends.
    pub(crate) async fn audit_client(&self) -> Result<Object, StoreError> {
        self.migrate().await?;
        self.inner.audit_pool.get().await.map_err(pool_error)
    }

    /// A pooled connection to a migrated database.
    pub(crate) async fn ready_client(&self) -> Result<Object, StoreError> {
        self.migrate().await?;
        self.client().await
    }

    async fn client(&self) -> Result<Object, StoreError> {
        self.inner.pool.get().await.map_err(pool_error)
    }

    pub async fn write<T, E>(&self, unit: impl FnOnce(&mut dyn Tx) -> Result<T, E> + Send + 'static) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let client = self.ready_client().await.map_err(E::from)?;
        let handle = tokio::runtime::Handle::current();
        let started = Instant::now();
        let result = tokio::task::spawn_blocking(move || tx::run(client, handle, unit)).await;
        metrics::histogram!("joinery_store_seconds", "op" => "unit").record(started.elapsed().as_secs_f64());
        match result {
            Ok(r) => r,
            Err(join) => Err(E::from(StoreError::Internal(Box::new(join)))),
        }
    }

    pub async fn read(&self, resource_type: &str, id: &str, vis: &Visibility) -> Result<Option<Stored>, StoreError> {
        let started = Instant::now();
        let c = self.ready_client().await?;
        if *vis != Visibility::All {
            let rows = rows::query_prepared(&c, &sql::current(Dialect::Postgres, resource_type, id, vis), &self.inner.statements).await?;
            metrics::histogram!("joinery_store_seconds", "op" => "read").record(started.elapsed().as_secs_f64());
            return rows.first().map(rows::stored).transpose();
        }
        // A Patient's person key is its own id: read it on that key first (on a store distributed by person,
        // one shard), and by id alone only if that finds nothing.
        let mut row = None;
        if resource_type == "Patient" {
            self.inner.statements.note(rows::PATIENT);
            let s = c.prepare_cached(rows::PATIENT).await.map_err(pg)?;
            row = c.query_opt(&s, &[&id]).await.map_err(pg)?;
        }
        if row.is_none() {
            self.inner.statements.note(rows::CURRENT);
            let s = c.prepare_cached(rows::CURRENT).await.map_err(pg)?;
            row = c.query_opt(&s, &[&resource_type, &id]).await.map_err(pg)?;
        }
        metrics::histogram!("joinery_store_seconds", "op" => "read").record(started.elapsed().as_secs_f64());
        row.map(|r| rows::stored(&r)).transpose()
    }

    pub async fn vread(&self, resource_type: &str, id: &str, version: i64, vis: &Visibility) -> Result<Option<Stored>, StoreError> {
        let c = self.ready_client().await?;
        if *vis != Visibility::All {
            let rows = rows::query_prepared(&c, &sql::version(Dialect::Postgres, resource_type, id, version, vis), &self.inner.statements).await?;
            return rows.first().map(rows::stored).transpose();
        }
        self.inner.statements.note(rows::VERSION);
        let s = c.prepare_cached(rows::VERSION).await.map_err(pg)?;
        let row = c.query_opt(&s, &[&resource_type, &id, &version]).await.map_err(pg)?;
        row.map(|r| rows::stored(&r)).transpose()
    }

    pub async fn history(&self, query: HistoryQuery) -> Result<Vec<Stored>, StoreError> {
        let c = self.ready_client().await?;
        let f = sql::history(Dialect::Postgres, &query);
        rows::query(&c, &f, &self.inner.statements).await?.iter().map(rows::stored).collect()
    }

    pub async fn find(
        &self,
        resource_type: &str,
        criteria: Vec<TokenCriterion>,
        after_id: Option<String>,
        limit: usize,
    ) -> Result<Vec<Stored>, StoreError> {
        let c = self.ready_client().await?;
        let f = sql::find(Dialect::Postgres, resource_type, &criteria, after_id.as_deref(), limit, &Visibility::All);
        let ids: Vec<String> =
            rows::query(&c, &f, &self.inner.statements).await?.iter().map(|r| r.try_get(0).map_err(pg)).collect::<Result<_, _>>()?;
        let keys = ids.into_iter().map(|id| (resource_type.to_owned(), id)).collect();
        rows::read_many(&c, keys, false, &self.inner.statements).await
    }

    pub async fn search(&self, query: Query) -> Result<Vec<(Stored, Vec<serde_json::Value>)>, StoreError> {
        let started = Instant::now();
        let c = self.ready_client().await?;
        let out = rows::search(&c, &query, &self.inner.statements).await;
        metrics::histogram!("joinery_store_seconds", "op" => "search").record(started.elapsed().as_secs_f64());
        out
    }

    pub async fn explain(&self, query: Query) -> Result<Vec<String>, StoreError> {
        let c = self.ready_client().await?;
        let mut out = Vec::new();
        let page = sql::search::page(Dialect::Postgres, &query)?.statement;
        let count = sql::search::count(Dialect::Postgres, &query)?;
        for (what, mut f) in [("page", page), ("count", count)] {
            out.push(format!("{what}: {}", f.sql()));
            f.prepend("EXPLAIN ");
            for r in rows::query(&c, &f, &self.inner.statements).await? {
                out.push(format!("  {}", r.try_get::<_, String>(0).map_err(pg)?));
            }
        }
        Ok(out)
    }

    pub async fn count(&self, query: Query) -> Result<u64, StoreError> {
        let c = self.ready_client().await?;
        let f = sql::search::count(Dialect::Postgres, &query)?;
        let n: i64 = rows::query(&c, &f, &self.inner.statements).await?.first().map(|r| r.try_get(0)).transpose().map_err(pg)?.unwrap_or(0);
        Ok(n as u64)
    }

    pub async fn links_from(&self, resource_type: &str, ids: Vec<String>, params: Option<Vec<String>>) -> Result<Vec<Link>, StoreError> {
        let c = self.ready_client().await?;
        rows::links(&c, &sql::search::links_from(Dialect::Postgres, resource_type, &ids, params.as_deref()), &self.inner.statements).await
    }

    pub async fn links_to(
        &self,
        target_type: &str,
        ids: Vec<String>,
        source_type: Option<String>,
        param: Option<String>,
    ) -> Result<Vec<Link>, StoreError> {
        let c = self.ready_client().await?;
        let f = sql::search::links_to(Dialect::Postgres, target_type, &ids, source_type.as_deref(), param.as_deref());
        rows::links(&c, &f, &self.inner.statements).await
    }

    /// One page of a person's record, read on the person key alone.
    pub async fn person_record(&self, q: crate::search::RecordQuery) -> Result<Vec<Stored>, StoreError> {
        let c = self.ready_client().await?;
        rows::query(&c, &sql::person::record(Dialect::Postgres, &q), &self.inner.statements).await?.iter().map(rows::stored).collect()
    }

    /// References held by resources of a person's record.
    pub async fn person_links(&self, person: String, keys: Vec<(String, String)>) -> Result<Vec<Link>, StoreError> {
        let c = self.ready_client().await?;
        rows::links(&c, &sql::person::links(Dialect::Postgres, &person, &keys), &self.inner.statements).await
    }

    /// The current versions of the given resources that exist, are live and the caller may see, in the order
    /// given.
    pub async fn read_many(&self, keys: Vec<(String, String)>, vis: Visibility) -> Result<Vec<Stored>, StoreError> {
        let c = self.ready_client().await?;
        if vis == Visibility::All {
            return rows::read_many(&c, keys, true, &self.inner.statements).await;
        }
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        rows::query(&c, &sql::many(Dialect::Postgres, keys, &vis), &self.inner.statements).await?.iter().map(rows::stored).collect()
    }

    /// Closes the pool: waiting requests are refused, connections close as they come back.
    pub async fn close(&self) -> Result<(), StoreError> {
        self.inner.pool.close();
        Ok(())
    }

    pub fn is_closed(&self) -> bool {
        self.inner.pool.is_closed()
    }

    /// How many migrations the database records as applied.
    pub async fn applied_migrations(&self) -> Result<usize, StoreError> {
        let c = self.ready_client().await?;
        let n: i64 = c.query_one("SELECT count(*) FROM schema_migrations", &[]).await.map_err(pg)?.try_get(0).map_err(pg)?;
        Ok(n as usize)
    }

    /// Current versions of shared resources (no person key), in the order given; others are skipped.
    pub async fn read_shared(&self, keys: Vec<(String, String)>) -> Result<Vec<Stored>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let c = self.ready_client().await?;
        let (types, ids): (Vec<String>, Vec<String>) = keys.into_iter().unzip();
        self.inner.statements.note(rows::SHARED);
        let s = c.prepare_cached(rows::SHARED).await.map_err(pg)?;
        c.query(&s, &[&types, &ids]).await.map_err(pg)?.iter().map(rows::stored).collect()
    }

    /// The read statements issued since the last call (only with `PgOptions::record_statements`).
    pub fn take_statements(&self) -> Vec<String> {
        self.inner.statements.take()
    }

    /// The most connections the pool opens.
    pub fn pool_size(&self) -> usize {
        self.inner.pool.status().max_size
    }

    /// Connections open now, and the pool's bound (for metrics and tests).
    pub fn pool_status(&self) -> (usize, usize) {
        let s = self.inner.pool.status();
        (s.size, s.max_size)
    }
}

/// A PostgreSQL error as a store error: what a client may retry (the server is down, restarting, out of
/// connections, or a statement ran past its timeout) is `Unavailable`; broken uniqueness, serialization
/// failures and deadlocks are `Conflict`; the rest is `Internal`.
pub(crate) fn pg(e: tokio_postgres::Error) -> StoreError {
    let Some(code) = e.code() else {
        // No SQLSTATE: the connection failed or closed.
        return StoreError::Unavailable(format!("the database connection failed: {e}"));
    };
    if *code == SqlState::UNIQUE_VIOLATION || *code == SqlState::T_R_SERIALIZATION_FAILURE || *code == SqlState::T_R_DEADLOCK_DETECTED {
        return StoreError::Conflict;
    }
    let class = &code.code()[..2];
    let transient = [
        SqlState::QUERY_CANCELED,
        SqlState::LOCK_NOT_AVAILABLE,
        SqlState::TOO_MANY_CONNECTIONS,
        SqlState::ADMIN_SHUTDOWN,
        SqlState::CRASH_SHUTDOWN,
        SqlState::CANNOT_CONNECT_NOW,
        SqlState::DISK_FULL,
        SqlState::OUT_OF_MEMORY,
        SqlState::INVALID_CATALOG_NAME,
        SqlState::READ_ONLY_SQL_TRANSACTION,
    ];
    if class == "08" || class == "53" || class == "57" || transient.contains(code) {
        return StoreError::Unavailable(format!("the database cannot take work now: {e}"));
    }
    StoreError::Internal(Box::new(e))
}

fn pool_error(e: PoolError) -> StoreError {
    match e {
        PoolError::Timeout(deadpool_postgres::TimeoutType::Wait) => {
            StoreError::Unavailable("every database connection is busy (the pool is saturated)".into())
        }
        PoolError::Timeout(_) => StoreError::Unavailable("connecting to the database took too long".into()),
        PoolError::Backend(e) => pg(e),
        PoolError::Closed => StoreError::Unavailable("the database is closed".into()),
        other => StoreError::Unavailable(format!("cannot get a database connection: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The record's sessions wait for each commit to be flushed; the audit log's do not (see `open`).
    #[tokio::test]
    async fn record_commits_are_flushed_and_audit_commits_are_not_waited_for() {
        let Some(admin) = scratch::PgTestDatabase::admin_url_from_env() else {
            eprintln!("postgres: skipped (set {} to run)", scratch::TEST_URL_VAR);
            return;
        };
        let db = scratch::PgTestDatabase::create(&admin).expect("scratch database");
        let store = PgStore::open(PgOptions::new(db.url())).expect("open");
        let setting = |c: Object| async move {
            let row = c.query_one("SHOW synchronous_commit", &[]).await.expect("show");
            row.get::<_, String>(0)
        };
        assert_eq!(setting(store.ready_client().await.expect("record connection")).await, "on");
        assert_eq!(setting(store.audit_client().await.expect("audit connection")).await, "off");
    }
}
