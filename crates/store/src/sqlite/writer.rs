//! The single SQLite writer: a thread that takes write units from a queue, runs each inside a savepoint of
//! one shared transaction, commits the group once (one fsync for many units), and only then answers them.

use super::checkpoint::{checkpoint_if_wal_over, WalUse};
use super::rows;
use crate::error::StoreError;
use crate::model::{NewVersion, Stored, TokenCriterion};
use crate::sql::{self, Dialect};
use crate::{Tx, Visibility};
use fhir::search::{IndexEntry, IndexValue};
use rusqlite::Connection;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Instant;
use tokio::sync::oneshot;

/// Told to a unit after its group's commit: `Ok` once durable.
type Reply = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
/// A unit of work. It receives the open transaction, or the reason there is none.
type Job = Box<dyn FnOnce(Result<&mut SqliteTx<'_>, StoreError>) -> Reply + Send>;

enum Msg {
    Job(Job),
    Close(oneshot::Sender<()>),
}

pub struct WriterHandle {
    sender: mpsc::Sender<Msg>,
    /// Units submitted and not yet started by the writer.
    queued: Arc<AtomicUsize>,
    max_queue: usize,
}

impl WriterHandle {
    /// Starts the writer thread. At most `max_queue` units wait for it; more are refused as unavailable
    /// (503 with Retry-After) rather than queued without bound.
    /// The writer starts its WAL again from the beginning once `wal_limit` bytes of it are in use.
    pub fn start(mut conn: Connection, max_group: usize, max_queue: usize, wal_limit: u64) -> Result<WriterHandle, StoreError> {
        let wal = WalUse::watch(&mut conn, wal_limit)?;
        let (sender, receiver) = mpsc::channel();
        std::thread::Builder::new()
            .name("joinery-sqlite-writer".into())
            .spawn(move || run(conn, wal, receiver, max_group.max(1)))
            .map_err(|e| StoreError::Internal(Box::new(e)))?;
        Ok(WriterHandle { sender, queued: Arc::new(AtomicUsize::new(0)), max_queue: max_queue.max(1) })
    }

    pub async fn submit<T, E>(&self, unit: impl FnOnce(&mut dyn Tx) -> Result<T, E> + Send + 'static) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        if self.queued.fetch_add(1, Ordering::AcqRel) >= self.max_queue {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            metrics::counter!("joinery_store_shed_total", "op" => "write").increment(1);
            return Err(E::from(StoreError::Unavailable(format!("{} writes are already waiting for the database", self.max_queue))));
        }
        let (reply_to, answer) = oneshot::channel::<Result<T, E>>();
        let queued = self.queued.clone();
        let job: Job = Box::new(move |tx| {
            queued.fetch_sub(1, Ordering::AcqRel);
            run_unit(tx, unit, reply_to)
        });
        self.sender.send(Msg::Job(job)).map_err(|_| E::from(closed()))?;
        answer.await.map_err(|_| E::from(closed()))?
    }

    pub async fn close(&self) -> Result<(), StoreError> {
        let (done, finished) = oneshot::channel();
        if self.sender.send(Msg::Close(done)).is_err() {
            return Ok(()); // already closed
        }
        finished.await.map_err(|_| closed())
    }
}

fn closed() -> StoreError {
    StoreError::Unavailable("the database is closed".into())
}

/// Runs one unit inside its own savepoint, so a failing unit leaves nothing behind while the others commit.
fn run_unit<T, E>(
    tx: Result<&mut SqliteTx<'_>, StoreError>,
    unit: impl FnOnce(&mut dyn Tx) -> Result<T, E>,
    reply_to: oneshot::Sender<Result<T, E>>,
) -> Reply
where
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
{
    let fail = |e: E, reply_to: oneshot::Sender<Result<T, E>>| -> Reply {
        Box::new(move |_| {
            let _ = reply_to.send(Err(e));
        })
    };
    let tx = match tx {
        Ok(tx) => tx,
        Err(e) => return fail(E::from(e), reply_to),
    };
    if !tx.alone {
        if let Err(e) = tx.conn.execute_batch("SAVEPOINT unit") {
            return fail(E::from(e.into()), reply_to);
        }
    }
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| unit(tx)));
    if tx.alone {
        // The only unit of its group: the group's transaction is the unit's, so a failure rolls it all back.
        return match outcome {
            Ok(Ok(value)) => Box::new(move |commit: Result<(), StoreError>| {
                let _ = reply_to.send(commit.map(|()| value).map_err(E::from));
            }),
            Ok(Err(e)) => {
                tx.failed = true;
                fail(e, reply_to)
            }
            Err(_) => {
                tx.failed = true;
                tracing::error!("a write unit panicked; its changes were rolled back");
                fail(E::from(StoreError::Internal("a write unit panicked".into())), reply_to)
            }
        };
    }
    match outcome {
        Ok(Ok(value)) => match tx.conn.execute_batch("RELEASE unit") {
            Ok(()) => Box::new(move |commit: Result<(), StoreError>| {
                let _ = reply_to.send(commit.map(|()| value).map_err(E::from));
            }),
            Err(e) => {
                rollback_unit(tx.conn);
                fail(E::from(e.into()), reply_to)
            }
        },
        Ok(Err(e)) => {
            rollback_unit(tx.conn);
            fail(e, reply_to)
        }
        Err(_) => {
            rollback_unit(tx.conn);
            tracing::error!("a write unit panicked; its changes were rolled back");
            fail(E::from(StoreError::Internal("a write unit panicked".into())), reply_to)
        }
    }
}

fn rollback_unit(conn: &Connection) {
    if let Err(e) = conn.execute_batch("ROLLBACK TO unit; RELEASE unit") {
        tracing::error!(error = %e, "could not roll back a write unit");
    }
}

fn run(conn: Connection, wal: WalUse, receiver: mpsc::Receiver<Msg>, max_group: usize) {
    let mut close_waiters = Vec::new();
    'serve: while let Ok(first) = receiver.recv() {
        let mut jobs = Vec::new();
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                Msg::Job(job) => jobs.push(job),
                Msg::Close(done) => close_waiters.push(done),
            }
            if jobs.len() < max_group && close_waiters.is_empty() {
                next = receiver.try_recv().ok();
            }
        }
        if !jobs.is_empty() {
            commit_group(&conn, &wal, jobs);
        }
        if !close_waiters.is_empty() {
            break 'serve;
        }
    }
    // Drain units that arrived after the close request: refuse them rather than leave callers waiting.
    while let Ok(msg) = receiver.try_recv() {
        match msg {
            Msg::Job(job) => job(Err(closed()))(Err(closed())),
            Msg::Close(done) => close_waiters.push(done),
        }
    }
    if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)") {
        tracing::warn!(error = %e, "WAL checkpoint at close failed");
    }
    if let Err((_, e)) = conn.close() {
        tracing::error!(error = %e, "closing the database failed");
    }
    for done in close_waiters {
        let _ = done.send(());
    }
}

fn commit_group(conn: &Connection, wal: &WalUse, jobs: Vec<Job>) {
    let started = Instant::now();
    let size = jobs.len();
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        let e: StoreError = e.into();
        for job in jobs {
            job(Err(e.duplicate()))(Err(e.duplicate()));
        }
        return;
    }
    // A lone unit needs no savepoint of its own (savepoints copy every page they touch to a journal).
    let mut tx = SqliteTx { conn, alone: jobs.len() == 1, failed: false };
    let replies: Vec<Reply> = jobs.into_iter().map(|job| job(Ok(&mut tx))).collect();
    let units_done = Instant::now();
    metrics::histogram!("joinery_store_seconds", "op" => "units").record((units_done - started).as_secs_f64());
    if tx.failed {
        if let Err(e) = conn.execute_batch("ROLLBACK") {
            tracing::error!(error = %e, "could not roll back a failed unit");
        }
        for reply in replies {
            reply(Err(StoreError::Unavailable("the unit failed".into())));
        }
        return;
    }
    let committed = conn.execute_batch("COMMIT").map_err(StoreError::from);
    restart_wal_if_large(conn, wal);
    metrics::histogram!("joinery_store_seconds", "op" => "commit").record(units_done.elapsed().as_secs_f64());
    if let Err(e) = &committed {
        tracing::error!(error = %e, "group commit failed; rolling back");
        let _ = conn.execute_batch("ROLLBACK");
    }
    for reply in replies {
        reply(committed.as_ref().map(|_| ()).map_err(StoreError::duplicate));
    }
    metrics::histogram!("joinery_store_group_size").record(size as f64);
}

/// Every table keyed by (resource_type, id) that holds rows of the current version only.
const INDEX_TABLES: [&str; 10] = [
    "search_token",
    "search_string",
    "search_reference",
    "search_date",
    "search_number",
    "search_quantity",
    "search_uri",
    "search_composite",
    "resource_link",
    "access_relation",
];

/// Writes one index value into the table for its type.
/// `n` is the entry's position among the version's entries: it keeps rows with equal values distinct.
fn insert_index(c: &Connection, v: &NewVersion<'_>, n: i64, e: &IndexEntry) -> Result<(), StoreError> {
    let (t, id, p, pk) = (v.resource_type, v.id, e.param.as_str(), v.person_key);
    match &e.value {
        IndexValue::Token { system, code } => {
            c.prepare_cached("INSERT INTO search_token (resource_type, id, param, system, code, person_key, n) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")?
                .execute((t, id, p, system, code, pk, n))?;
        }
        IndexValue::String { norm, exact } => {
            c.prepare_cached("INSERT INTO search_string (resource_type, id, param, norm, exact, person_key, n) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")?
                .execute((t, id, p, norm, exact, pk, n))?;
        }
        IndexValue::Reference { target_type, target_id, url } => {
            c.prepare_cached(
                "INSERT INTO search_reference (resource_type, id, param, target_type, target_id, url, person_key, n) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute((t, id, p, target_type, target_id, url, pk, n))?;
        }
        IndexValue::Date { low, high } => {
            c.prepare_cached("INSERT INTO search_date (resource_type, id, param, low, high, person_key, n) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")?
                .execute((t, id, p, low, high, pk, n))?;
        }
        IndexValue::Number { value, low, high } => {
            c.prepare_cached(
                "INSERT INTO search_number (resource_type, id, param, value, low, high, person_key, n) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute((t, id, p, value, low, high, pk, n))?;
        }
        IndexValue::Quantity { value, low, high, system, code, unit } => {
            c.prepare_cached(
                "INSERT INTO search_quantity (resource_type, id, param, value, low, high, system, code, unit, person_key, n)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?
            .execute((t, id, p, value, low, high, system, code, unit, pk, n))?;
        }
        IndexValue::Uri(uri) => {
            c.prepare_cached("INSERT INTO search_uri (resource_type, id, param, uri, person_key, n) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?
                .execute((t, id, p, uri, pk, n))?;
        }
        IndexValue::Composite { system, code, second } => {
            let (v_system, v_code, v_low, v_high) = match second.as_ref() {
                IndexValue::Token { system, code } => (system.clone(), Some(code.clone()), None, None),
                IndexValue::Quantity { low, high, system, code, .. } => (system.clone(), code.clone(), Some(*low), Some(*high)),
                IndexValue::Date { low, high } => (None, None, Some(*low as f64), Some(*high as f64)),
                IndexValue::Number { low, high, .. } => (None, None, Some(*low), Some(*high)),
                IndexValue::String { norm, .. } => (None, Some(norm.clone()), None, None),
                _ => return Ok(()),
            };
            c.prepare_cached(
                "INSERT INTO search_composite (resource_type, id, param, system, code, v_system, v_code, v_low, v_high, person_key, n)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?
            .execute((t, id, p, system, code, v_system, v_code, v_low, v_high, pk, n))?;
        }
    }
    Ok(())
}

/// The writer's view of the open transaction.
pub struct SqliteTx<'c> {
    conn: &'c Connection,
    /// The only unit of its group: it runs without a savepoint.
    alone: bool,
    /// A lone unit failed: the group's transaction must be rolled back, not committed.
    failed: bool,
}

impl Tx for SqliteTx<'_> {
    fn current(&mut self, resource_type: &str, id: &str) -> Result<Option<Stored>, StoreError> {
        rows::current(self.conn, resource_type, id)
    }

    fn find_visible(&mut self, resource_type: &str, criteria: &[TokenCriterion], limit: usize, vis: &Visibility) -> Result<Vec<String>, StoreError> {
        rows::find(self.conn, resource_type, criteria, None, limit, vis)
    }

    fn sees(&mut self, resource_type: &str, id: &str, vis: &Visibility) -> Result<bool, StoreError> {
        let f = sql::sees(Dialect::Sqlite, resource_type, id, vis);
        Ok(self.conn.prepare_cached(&f.sql())?.exists(rusqlite::params_from_iter(super::search::params(&f)))?)
    }

    fn referrers(&mut self, resource_type: &str, id: &str, limit: usize) -> Result<Vec<(String, String)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT DISTINCT resource_type, id FROM resource_link WHERE target_type = ?1 AND target_id = ?2
             AND NOT (resource_type = ?1 AND id = ?2) LIMIT ?3",
        )?;
        let rows = stmt.query_map((resource_type, id, limit as i64), |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn put(&mut self, v: NewVersion<'_>) -> Result<Stored, StoreError> {
        let c = self.conn;
        c.prepare_cached(
            "INSERT INTO resource_version (resource_type, id, version, person_key, last_updated, method, deleted, body, recorded_by, restricted)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?
        .execute((
            v.resource_type,
            v.id,
            v.version,
            v.person_key,
            v.last_updated,
            v.method.as_str(),
            v.body.is_none() as i64,
            v.body,
            v.recorded_by,
            v.restricted as i64,
        ))?;
        let seq = c.last_insert_rowid();
        c.prepare_cached(
            "INSERT INTO resource_current (resource_type, id, seq, version, deleted, person_key, recorded_by, restricted)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (resource_type, id) DO UPDATE SET seq = excluded.seq, version = excluded.version,
                 deleted = excluded.deleted, person_key = excluded.person_key, recorded_by = excluded.recorded_by,
                 restricted = excluded.restricted",
        )?
        .execute((v.resource_type, v.id, seq, v.version, v.body.is_none() as i64, v.person_key, v.recorded_by, v.restricted as i64))?;
        if v.version > 1 {
            // A first version has no index rows to replace.
            for table in INDEX_TABLES {
                c.prepare_cached(&format!("DELETE FROM {table} WHERE resource_type = ?1 AND id = ?2"))?.execute((v.resource_type, v.id))?;
            }
        }
        if let (Some(_), Some(person)) = (v.body, v.person_key) {
            let mut relation = c.prepare_cached(
                "INSERT INTO access_relation (resource_type, id, n, person_key, party, kind, start_ms, until_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for (n, r) in v.relations.iter().enumerate() {
                relation.execute((v.resource_type, v.id, n as i64, person, r.party.as_str(), r.kind.as_str(), r.start, r.until))?;
            }
        }
        if v.body.is_some() {
            let mut link = c.prepare_cached(
                "INSERT INTO resource_link (resource_type, id, target_type, target_id, person_key, n) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for (n, (target_type, target_id)) in v.links.iter().enumerate() {
                link.execute((v.resource_type, v.id, target_type, target_id, v.person_key, n as i64))?;
            }
            for (n, entry) in v.index.iter().enumerate() {
                insert_index(c, &v, n as i64, entry)?;
            }
        }
        Ok(Stored {
            seq,
            resource_type: v.resource_type.to_owned(),
            id: v.id.to_owned(),
            version: v.version,
            person_key: v.person_key.map(str::to_owned),
            last_updated: v.last_updated.to_owned(),
            method: v.method,
            deleted: v.body.is_none(),
            body: v.body.map(str::to_owned),
            recorded_by: v.recorded_by.map(str::to_owned),
            restricted: v.restricted,
        })
    }
}

/// Under sustained writes the background checkpointer never finds the writer idle, so the WAL never
/// restarts and grows without bound (24 GB during a 3-million-resource import, until the disk filled).
/// Past the limit the writer, which holds no transaction here, checkpoints the few frames the background
/// pass has not copied yet and waits for readers to leave the WAL, so that its next group starts the WAL
/// again from the beginning, overwriting the file's pages (see `WalUse`; it was truncated, and grown again
/// page by page).
fn restart_wal_if_large(conn: &Connection, wal: &WalUse) {
    checkpoint_if_wal_over(conn, wal, "PRAGMA wal_checkpoint(RESTART)", "wal_restart");
}
