//! The WAL checkpointer: a thread with its own connection that copies committed pages from the WAL into
//! the database file in the background, so that the writer's commits only append to the WAL.

use crate::error::StoreError;
use rusqlite::Connection;
use std::path::Path;
use std::sync::mpsc;
use std::sync::Mutex;
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

/// Runs `statement` (a `PRAGMA wal_checkpoint(…)`) on `conn` if the WAL of its database has grown to `limit`
/// bytes, timed as `op`: how a connection that writes under a steady load, which the background pass never
/// finds idle, keeps its WAL from growing without bound.
pub(crate) fn checkpoint_if_wal_over(conn: &Connection, limit: u64, statement: &str, op: &'static str) {
    let Some(path) = conn.path() else { return };
    let wal_bytes = std::fs::metadata(format!("{path}-wal")).map(|m| m.len()).unwrap_or(0);
    if wal_bytes < limit {
        return;
    }
    let started = std::time::Instant::now();
    if let Err(e) = conn.query_row(statement, [], |_| Ok(())) {
        tracing::warn!(error = %e, path, "checkpointing a WAL that grew past its limit failed");
    }
    metrics::histogram!("joinery_store_seconds", "op" => op).record(started.elapsed().as_secs_f64());
}
