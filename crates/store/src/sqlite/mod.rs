//! The SQLite backend: WAL mode, a pool of read connections, and one writer thread that commits in groups.

mod checkpoint;
mod bulk;
mod migrate;
mod person;
mod rows;
mod search;
mod writer;

use crate::error::StoreError;
use crate::model::{HistoryQuery, HistoryScope, Stored, TokenCriterion};
use crate::search::{Link, Query};
use crate::Tx;
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub const SCHEMA_VERSION: usize = migrate::MIGRATIONS.len();


/// How to open a SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    pub path: PathBuf,
    /// Most write units committed together in one transaction (group commit).
    pub max_group: usize,
    /// Read connections kept open.
    pub readers: usize,
}

impl SqliteOptions {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        SqliteOptions { path: path.into(), max_group: 512, readers: 8 }
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
    readers: Mutex<Vec<Connection>>,
    max_readers: usize,
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
        let writer = writer::WriterHandle::start(conn, options.max_group)?;
        let checkpointer = checkpoint::Checkpointer::start(&options.path)?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path: options.path,
                writer,
                checkpointer,
                readers: Mutex::new(Vec::new()),
                max_readers: options.readers.max(1),
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

    /// Reads by primary key run on the calling thread: they take microseconds, and a hop to the blocking
    /// pool would cost more than the query.
    pub async fn read(&self, resource_type: &str, id: &str) -> Result<Option<Stored>, StoreError> {
        self.inner.with_reader_inline("read", |c| rows::current(c, resource_type, id))
    }

    pub async fn vread(&self, resource_type: &str, id: &str, version: i64) -> Result<Option<Stored>, StoreError> {
        self.inner.with_reader_inline("vread", |c| rows::version(c, resource_type, id, version))
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
            let ids = rows::find(c, &t, &criteria, after_id.as_deref(), limit)?;
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
        self.with_reader("search", move |c| search::search(c, &query)).await
    }

    pub async fn count(&self, query: Query) -> Result<u64, StoreError> {
        self.with_reader("count", move |c| search::count(c, &query)).await
    }

    pub async fn links_from(&self, resource_type: &str, ids: Vec<String>, params: Option<Vec<String>>) -> Result<Vec<Link>, StoreError> {
        let t = resource_type.to_owned();
        self.with_reader("links", move |c| search::links_from(c, &t, &ids, params.as_deref())).await
    }

    pub async fn links_to(&self, target_type: &str, ids: Vec<String>, source_type: Option<String>, param: Option<String>) -> Result<Vec<Link>, StoreError> {
        let t = target_type.to_owned();
        self.with_reader("links", move |c| search::links_to(c, &t, &ids, source_type.as_deref(), param.as_deref())).await
    }

    /// The current versions of the given resources that exist and are live, in the order given.
    pub async fn read_many(&self, keys: Vec<(String, String)>) -> Result<Vec<Stored>, StoreError> {
        self.with_reader("read_many", move |c| {
            let mut out = Vec::with_capacity(keys.len());
            for (t, id) in &keys {
                if let Some(s) = rows::current(c, t, id)?.filter(|s| !s.deleted) {
                    out.push(s);
                }
            }
            Ok(out)
        })
        .await
    }

    pub async fn close(&self) -> Result<(), StoreError> {
        self.inner.checkpointer.stop();
        self.inner.writer.close().await?;
        self.inner.readers.lock().map_err(|_| poisoned())?.clear();
        Ok(())
    }

    /// Runs `f` on a pooled read connection on the blocking thread pool.
    async fn with_reader<T: Send + 'static>(
        &self,
        op: &'static str,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.with_reader_inline(op, f))
        .await
        .map_err(|e| StoreError::Internal(Box::new(e)))?
    }
}

impl Inner {
    fn with_reader_inline<T>(&self, op: &'static str, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let started = Instant::now();
        let conn = self.take_reader()?;
        let result = f(&conn);
        self.give_back(conn);
        metrics::histogram!("joinery_store_seconds", "op" => op).record(started.elapsed().as_secs_f64());
        result
    }

    fn take_reader(&self) -> Result<Connection, StoreError> {
        if let Some(c) = self.readers.lock().map_err(|_| poisoned())?.pop() {
            return Ok(c);
        }
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        conn.execute_batch("PRAGMA cache_size = -16000;")?;
        Ok(conn)
    }

    fn give_back(&self, conn: Connection) {
        if let Ok(mut pool) = self.readers.lock() {
            if pool.len() < self.max_readers {
                pool.push(conn);
            }
        }
    }
}

fn poisoned() -> StoreError {
    StoreError::Internal("a store lock was poisoned by a panic".into())
}

/// Prepared statements kept per connection: the writer uses about 25 fixed statements and readers a
/// variety of search shapes; a cache that is too small re-prepares on every write.
const STATEMENT_CACHE: usize = 256;

fn configure_writer(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
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
    let mut sql = format!("SELECT {} FROM resource_version v WHERE 1=1", rows::COLUMNS);
    let mut params: Vec<rusqlite::types::Value> = Vec::new();
    match &q.scope {
        HistoryScope::System => {}
        HistoryScope::Type(t) => {
            sql.push_str(" AND v.resource_type = ?");
            params.push(t.clone().into());
        }
        HistoryScope::Instance(t, id) => {
            sql.push_str(" AND v.resource_type = ? AND v.id = ?");
            params.push(t.clone().into());
            params.push(id.clone().into());
        }
    }
    if let Some(since) = &q.since {
        sql.push_str(" AND v.last_updated >= ?");
        params.push(since.clone().into());
    }
    if let Some(before) = q.before_seq {
        sql.push_str(" AND v.seq < ?");
        params.push(before.into());
    }
    sql.push_str(" ORDER BY v.seq DESC LIMIT ?");
    params.push((q.limit as i64).into());
    let mut stmt = c.prepare_cached(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(params), rows::stored)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}
