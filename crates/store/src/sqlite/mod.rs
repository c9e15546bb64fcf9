//! The SQLite backend: WAL mode, a pool of read connections, and one writer thread that commits in groups.

mod audit_log;
mod bulk;
mod checkpoint;
pub(crate) mod migrate;
mod person;
pub(crate) mod rows;
pub(crate) mod search;
mod writer;

use crate::error::StoreError;
use crate::model::{HistoryQuery, Stored, TokenCriterion};
use crate::search::{Link, Query};
use crate::sql::Dialect;
use crate::{Tx, Visibility};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub const SCHEMA_VERSION: usize = migrate::MIGRATIONS.len();

/// How to open a SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    pub path: PathBuf,
    /// Most write units committed together in one transaction (group commit).
    pub max_group: usize,
    /// Read connections: at most this many reads run at once; others wait for one (see `read_wait`).
    pub readers: usize,
    /// Longest a read waits for a free read connection before it is answered unavailable (503).
    pub read_wait: Duration,
    /// Longest a search, count or history read may run before it is interrupted and answered unavailable
    /// (503 with Retry-After). Bulk scans (export, the reference check after an import) are not limited.
    pub query_timeout: Duration,
    /// Most write units waiting for the writer; more are answered unavailable rather than queued.
    pub max_queue: usize,
    /// Bytes of WAL in use past which the writer, between groups, finishes the checkpoint and starts the WAL
    /// again from its beginning (the file keeps its size, up to twice this).
    pub wal_limit: u64,
}

impl SqliteOptions {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        SqliteOptions {
            path: path.into(),
            max_group: 512,
            readers: 8,
            read_wait: Duration::from_secs(5),
            query_timeout: Duration::from_secs(10),
            max_queue: 10_000,
            wal_limit: 1 << 30,
        }
    }
}

/// A SQLite store. Cheap to clone: clones share the writer thread and the read pool.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: writer::WriterHandle,
    checkpointer: checkpoint::Checkpointer,
    readers: Mutex<Vec<Reader>>,
    /// One permit per read connection: reads beyond them wait, never open more.
    permits: Arc<Semaphore>,
    read_wait: Duration,
    query_timeout: Duration,
    /// The audit log's own file, opened on first use (see `crate::audit`), and its checkpointer.
    audit: Arc<Mutex<Option<AuditFile>>>,
    /// Set when the store closes: the audit file is not opened again.
    audit_closed: Arc<std::sync::atomic::AtomicBool>,
}

/// The audit log's file, open: a connection for reading it, its appender and its checkpointer.
struct AuditFile {
    conn: Connection,
    appender: audit_log::AuditAppender,
    checkpointer: checkpoint::Checkpointer,
}

/// A pooled read connection and the deadline its progress handler enforces.
struct Reader {
    conn: Connection,
    /// Microseconds since `epoch` after which the running statement is interrupted; 0 for none.
    deadline: Arc<AtomicU64>,
    epoch: Instant,
}

impl SqliteStore {
    /// Opens (creating if needed) the database, runs pending migrations and starts the writer.
    pub fn open(options: SqliteOptions) -> Result<SqliteStore, StoreError> {
        if let Some(dir) = options.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Unavailable(format!("cannot create {}: {e}", dir.display())))?;
        }
        let mut conn = Connection::open(&options.path)?;
        configure_writer(&conn)?;
        migrate::run(&mut conn)?;
        let writer = writer::WriterHandle::start(conn, options.max_group, options.max_queue, options.wal_limit)?;
        let checkpointer = checkpoint::Checkpointer::start(&options.path)?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path: options.path,
                writer,
                checkpointer,
                readers: Mutex::new(Vec::new()),
                permits: Arc::new(Semaphore::new(options.readers.max(1))),
                read_wait: options.read_wait,
                query_timeout: options.query_timeout,
                audit: Arc::new(Mutex::new(None)),
                audit_closed: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    pub async fn write<T, E>(&self, unit: impl FnOnce(&mut dyn Tx) -> Result<T, E> + Send + 'static) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.inner.writer.submit(unit).await
    }

    pub async fn read(&self, resource_type: &str, id: &str, vis: &Visibility) -> Result<Option<Stored>, StoreError> {
        self.with_reader_here("read", |c| rows::current_as(c, resource_type, id, vis)).await
    }

    pub async fn vread(&self, resource_type: &str, id: &str, version: i64, vis: &Visibility) -> Result<Option<Stored>, StoreError> {
        self.with_reader_here("vread", |c| match vis {
            Visibility::All => rows::version(c, resource_type, id, version),
            _ => Ok(rows::query(c, &crate::sql::version(Dialect::Sqlite, resource_type, id, version, vis))?.pop()),
        })
        .await
    }

    pub async fn history(&self, query: HistoryQuery) -> Result<Vec<Stored>, StoreError> {
        self.with_reader("history", move |c| history(c, &query)).await
    }

    pub async fn find(
        &self,
        resource_type: &str,
        criteria: Vec<TokenCriterion>,
        after_id: Option<String>,
        limit: usize,
    ) -> Result<Vec<Stored>, StoreError> {
        let t = resource_type.to_owned();
        self.with_reader("find", move |c| {
            let ids = rows::find(c, &t, &criteria, after_id.as_deref(), limit, &Visibility::All)?;
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                if let Some(s) = rows::current(c, &t, &id)? {
                    out.push(s);
                }
            }
            Ok(out)
        })
        .await
    }

    pub async fn search(&self, query: Query) -> Result<Vec<(Stored, Vec<serde_json::Value>)>, StoreError> {
        let page = crate::sql::search::page(Dialect::Sqlite, &query)?;
        // A page that reads only its own rows runs here, as a read by id does; any other on the blocking pool.
        if page.reads_only_its_rows {
            return self.with_reader_here("search", |c| search::search(c, &page)).await;
        }
        self.with_reader("search", move |c| search::search(c, &page)).await
    }

    pub async fn count(&self, query: Query) -> Result<u64, StoreError> {
        self.with_reader("count", move |c| search::count(c, &query)).await
    }

    pub async fn explain(&self, query: Query) -> Result<Vec<String>, StoreError> {
        self.with_reader("explain", move |c| search::explain(c, &query)).await
    }

    pub async fn links_from(&self, resource_type: &str, ids: Vec<String>, params: Option<Vec<String>>) -> Result<Vec<Link>, StoreError> {
        let t = resource_type.to_owned();
        self.with_reader("links", move |c| search::links_from(c, &t, &ids, params.as_deref())).await
    }

    pub async fn links_to(
        &self,
        target_type: &str,
        ids: Vec<String>,
        source_type: Option<String>,
        param: Option<String>,
    ) -> Result<Vec<Link>, StoreError> {
        let t = target_type.to_owned();
        self.with_reader("links", move |c| search::links_to(c, &t, &ids, source_type.as_deref(), param.as_deref())).await
    }

    /// The current versions of the given resources that exist, are live and the caller may see, in the order
    /// given.
    pub async fn read_many(&self, keys: Vec<(String, String)>, vis: Visibility) -> Result<Vec<Stored>, StoreError> {
        self.with_reader("read_many", move |c| {
            let mut out = Vec::with_capacity(keys.len());
            for (t, id) in &keys {
                if let Some(s) = rows::current_as(c, t, id, &vis)?.filter(|s| !s.deleted) {
                    out.push(s);
                }
            }
            Ok(out)
        })
        .await
    }

    pub fn is_closed(&self) -> bool {
        self.inner.audit_closed.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub async fn close(&self) -> Result<(), StoreError> {
        self.inner.checkpointer.stop();
        // The audit file: its checkpointer stopped, the WAL folded into it.
        let audit = {
            let mut slot = self.inner.audit.lock().map_err(|_| poisoned())?;
            self.inner.audit_closed.store(true, std::sync::atomic::Ordering::SeqCst);
            slot.take()
        };
        if let Some(AuditFile { conn, appender, checkpointer }) = audit {
            appender.close();
            drop(appender);
            checkpointer.stop();
            if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())) {
                tracing::warn!(error = %e, "the audit log's final checkpoint failed");
            }
        }
        self.inner.writer.close().await?;
        self.inner.permits.close();
        self.inner.readers.lock().map_err(|_| poisoned())?.clear();
        Ok(())
    }

    /// The audit log's file beside the database: `joinery.db` → `joinery.audit.db`.
    pub fn audit_path(&self) -> PathBuf {
        self.inner.path.with_extension("audit.db")
    }
}

impl SqliteStore {
    /// Runs `f` on the audit log's connection (opened, and its table made, on first use), on the blocking
    /// pool. WAL with `synchronous = NORMAL`: an appended event survives the process failing at once, and a
    /// power cut loses at most the last moments (see docs/scaling.md); the record keeps `FULL`.
    pub(crate) async fn with_audit<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (slot, path, closed) = (self.inner.audit.clone(), self.audit_path(), self.inner.audit_closed.clone());
        tokio::task::spawn_blocking(move || {
            let mut guard = slot.lock().map_err(|_| poisoned())?;
            if guard.is_none() && closed.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(StoreError::Unavailable("the store is closed".into()));
            }
            if guard.is_none() {
                let mut conn = Connection::open(&path)?;
                conn.busy_timeout(std::time::Duration::from_secs(10))?;
                let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
                if !mode.eq_ignore_ascii_case("wal") {
                    return Err(StoreError::Unavailable(format!("the audit log {} cannot use WAL mode", path.display())));
                }
                // Checkpoints run on a thread of their own, never in an append.
                conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0;")?;
                migrate::apply(&mut conn, migrate::AUDIT_MIGRATIONS)?;
                let checkpointer = checkpoint::Checkpointer::start(&path)?;
                let appender = audit_log::AuditAppender::start(&path)?;
                *guard = Some(AuditFile { conn, appender, checkpointer });
            }
            let file = guard.as_mut().ok_or_else(|| StoreError::Internal("invariant: the audit connection is open".into()))?;
            f(&mut file.conn)
        })
        .await
        .map_err(|e| StoreError::Internal(Box::new(e)))?
    }

    /// A rare administrative write (accounts, secrets) on a connection of its own, outside the writer's
    /// queue: it waits for the writer's current group like any SQLite writer (busy timeout), then commits.
    /// The audit log's appender (the file opened on first use).
    pub(crate) async fn audit_appender(&self) -> Result<audit_log::AuditAppender, StoreError> {
        let slot = self.inner.audit.clone();
        let opened = slot.lock().map_err(|_| poisoned())?.as_ref().map(|f| f.appender.clone());
        match opened {
            Some(a) => Ok(a),
            None => {
                self.with_audit(|_| Ok(())).await?;
                slot.lock()
                    .map_err(|_| poisoned())?
                    .as_ref()
                    .map(|f| f.appender.clone())
                    .ok_or_else(|| StoreError::Unavailable("the audit log is closed".into()))
            }
        }
    }

    pub(crate) async fn admin_write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let path = self.inner.path.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = Connection::open(&path)?;
            conn.busy_timeout(std::time::Duration::from_secs(10))?;
            conn.execute_batch("PRAGMA synchronous = FULL;")?;
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
        .await
        .map_err(|e| StoreError::Internal(Box::new(e)))?
    }

    /// Runs `f` on a pooled read connection on the calling thread, once one is free: for reads by primary key,
    /// which take microseconds, where a hop to the blocking pool would cost more than the query.
    pub(crate) async fn with_reader_here<T>(&self, op: &'static str, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let _permit = self.inner.admit().await?;
        self.inner.with_reader_inline(op, None, f)
    }

    /// Runs `f` on a pooled read connection on the blocking thread pool, once one is free, interrupted at
    /// the query time limit.
    pub(crate) async fn with_reader<T: Send + 'static>(
        &self,
        op: &'static str,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let limit = self.inner.query_timeout;
        self.run_reader(op, Some(limit), f).await
    }

    /// As `with_reader`, for the bulk scans of an export or an import's reference check, which run as long as
    /// they take.
    pub(crate) async fn with_bulk_reader<T: Send + 'static>(
        &self,
        op: &'static str,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.run_reader(op, None, f).await
    }

    async fn run_reader<T: Send + 'static>(
        &self,
        op: &'static str,
        limit: Option<Duration>,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let permit = self.inner.admit().await?;
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            inner.with_reader_inline(op, limit, f)
        })
        .await
        .map_err(|e| StoreError::Internal(Box::new(e)))?
    }
}

impl Inner {
    /// A permit to use one read connection, waiting at most `read_wait` for it.
    async fn admit(&self) -> Result<OwnedSemaphorePermit, StoreError> {
        match tokio::time::timeout(self.read_wait, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) => Err(StoreError::Unavailable("the database is closed".into())),
            Err(_) => {
                metrics::counter!("joinery_store_shed_total", "op" => "read").increment(1);
                Err(StoreError::Unavailable("every read connection stayed busy".into()))
            }
        }
    }

    fn with_reader_inline<T>(
        &self,
        op: &'static str,
        limit: Option<Duration>,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let started = Instant::now();
        let reader = self.take_reader()?;
        if let Some(limit) = limit {
            let at = (started + limit).saturating_duration_since(reader.epoch).as_micros().max(1);
            reader.deadline.store(u64::try_from(at).unwrap_or(u64::MAX), Ordering::Relaxed);
        }
        let result = f(&reader.conn);
        reader.deadline.store(0, Ordering::Relaxed);
        self.give_back(reader);
        metrics::histogram!("joinery_store_seconds", "op" => op).record(started.elapsed().as_secs_f64());
        match result {
            Err(e) if is_interrupt(&e) => {
                Err(StoreError::Unavailable(format!("the query ran longer than {} ms and was stopped", limit.unwrap_or_default().as_millis())))
            }
            other => other,
        }
    }

    fn take_reader(&self) -> Result<Reader, StoreError> {
        if let Some(r) = self.readers.lock().map_err(|_| poisoned())?.pop() {
            return Ok(r);
        }
        let mut conn =
            Connection::open_with_flags(&self.path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        stable_plans(&conn)?;
        conn.execute_batch("PRAGMA cache_size = -16000;")?;
        let deadline = Arc::new(AtomicU64::new(0));
        let epoch = Instant::now();
        let watched = deadline.clone();
        // Every 10,000 virtual-machine steps (well under a millisecond): past the deadline, interrupt.
        conn.progress_handler(
            10_000,
            Some(move || {
                let at = watched.load(Ordering::Relaxed);
                at != 0 && epoch.elapsed().as_micros() > u128::from(at)
            }),
        )?;
        Ok(Reader { conn, deadline, epoch })
    }

    fn give_back(&self, reader: Reader) {
        if let Ok(mut pool) = self.readers.lock() {
            pool.push(reader);
        }
    }
}

/// Whether a store error is SQLite's answer to an interrupted statement.
fn is_interrupt(e: &StoreError) -> bool {
    match e {
        StoreError::Internal(inner) => {
            inner.downcast_ref::<rusqlite::Error>().is_some_and(|e| e.sqlite_error_code() == Some(rusqlite::ErrorCode::OperationInterrupted))
        }
        _ => false,
    }
}

fn poisoned() -> StoreError {
    StoreError::Internal("a store lock was poisoned by a panic".into())
}

/// Prepared statements kept per connection: the writer uses about 25 fixed statements and readers a
/// variety of search shapes; a cache that is too small re-prepares on every write.
const STATEMENT_CACHE: usize = 256;

/// SQLite prepares a statement again when a bound value that might steer its plan changes (measured: every
/// read by id as a member of staff, whose access condition holds such values, was parsed and planned afresh,
/// doubling its CPU). The query planner stability guarantee keeps one plan per statement whatever the values;
/// the statements here are written so that one plan serves every value.
fn stable_plans(conn: &Connection) -> Result<(), StoreError> {
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    Ok(())
}

fn configure_writer(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    stable_plans(conn)?;
    // WAL: readers never block the writer. synchronous=FULL: a commit is on disk before it is acknowledged.
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Unavailable(format!("cannot switch the database to WAL mode (got {mode})")));
    }
    // Checkpoints run on their own thread (see `checkpoint`), not inside the writer's commits.
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA cache_size = -64000; PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 0;")?;
    Ok(())
}

fn history(c: &Connection, q: &HistoryQuery) -> Result<Vec<Stored>, StoreError> {
    rows::query(c, &crate::sql::history(Dialect::Sqlite, q))
}
