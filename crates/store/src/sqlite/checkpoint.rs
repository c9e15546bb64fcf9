//! The WAL checkpointer: a thread with its own connection that copies committed pages from the WAL into
//! the database file in the background, so that the writer's commits only append to the WAL.

use crate::error::StoreError;
use rusqlite::Connection;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the checkpointer runs.
const INTERVAL: Duration = Duration::from_millis(500);

pub struct Checkpointer {
    stop: Mutex<Option<(mpsc::Sender<()>, JoinHandle<()>)>>,
}

impl Checkpointer {
    pub fn start(path: &Path) -> Result<Checkpointer, StoreError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        let (stop, stopped) = mpsc::channel::<()>();
        let handle = std::thread::Builder::new()
            .name("joinery-sqlite-checkpoint".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
                    let started = std::time::Instant::now();
                    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                        tracing::warn!(error = %e, "background WAL checkpoint failed");
                    }
                    metrics::histogram!("joinery_store_seconds", "op" => "checkpoint").record(started.elapsed().as_secs_f64());
                }
            })
            .map_err(|e| StoreError::Internal(Box::new(e)))?;
        Ok(Checkpointer { stop: Mutex::new(Some((stop, handle))) })
    }

    /// Stops the thread and waits for it; the writer then makes the final checkpoint.
    pub fn stop(&self) {
        let taken = self.stop.lock().ok().and_then(|mut g| g.take());
        if let Some((stop, handle)) = taken {
            let _ = stop.send(());
            let _ = handle.join();
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How much of a connection's WAL is in use: the frames in it after the connection's last commit, as SQLite's
/// WAL hook reports them. Read off the file's size instead, a WAL would have to be cut back whenever it is
/// started again; counted, it keeps its size, and the commits after a restart overwrite pages the file
/// already has rather than growing it (measured: growing the file, the kernel allocating and zeroing a page
/// for every frame, cost the audit log's appender half of its CPU and the record's writer, loading
/// transactions, a fifth of the server's).
pub(crate) struct WalUse {
    frames: Arc<AtomicU64>,
    frame_bytes: u64,
    /// Bytes in use past which the connection finishes the checkpoint itself (see `checkpoint_if_wal_over`).
    limit: u64,
}

/// A WAL frame's header, before its page.
const WAL_FRAME_HEADER: u64 = 24;

impl WalUse {
    /// Watches `conn`'s commits (after `PRAGMA wal_autocheckpoint`, which replaces the hook) against `limit`
    /// bytes in use; the WAL file, once started again, is kept at most twice that long (a file that grew
    /// well past the limit, a reader holding old frames, is cut back).
    pub(crate) fn watch(conn: &mut Connection, limit: u64) -> Result<WalUse, StoreError> {
        let frames = Arc::new(AtomicU64::new(0));
        let counted = frames.clone();
        conn.wal_hook(Some(move |_: &mut rusqlite::hooks::Wal, pages: std::ffi::c_int| {
            counted.store(u64::try_from(pages).unwrap_or(0), Ordering::Relaxed);
            Ok(())
        }))?;
        conn.pragma_update(None, "journal_size_limit", i64::try_from(limit.saturating_mul(2)).unwrap_or(i64::MAX))?;
        let page_size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        Ok(WalUse { frames, frame_bytes: u64::try_from(page_size).unwrap_or(4096) + WAL_FRAME_HEADER, limit })
    }

    /// Whether the WAL in use after the last commit has reached the limit (a load of one number: cheap
    /// enough to ask after every commit).
    fn over_limit(&self) -> bool {
        self.frames.load(Ordering::Relaxed).saturating_mul(self.frame_bytes) >= self.limit
    }
}

/// Runs `statement` (a `PRAGMA wal_checkpoint(…)`) on `conn` if its WAL in use has reached the limit,
/// timed as `op`: how a connection that writes under a steady load, which the background pass never finds
/// idle, keeps its WAL from growing without bound.
pub(crate) fn checkpoint_if_wal_over(conn: &Connection, wal: &WalUse, statement: &str, op: &'static str) {
    if !wal.over_limit() {
        return;
    }
    let started = std::time::Instant::now();
    if let Err(e) = conn.query_row(statement, [], |_| Ok(())) {
        tracing::warn!(error = %e, path = conn.path().unwrap_or(""), "checkpointing a WAL that grew past its limit failed");
    }
    metrics::histogram!("joinery_store_seconds", "op" => op).record(started.elapsed().as_secs_f64());
}
