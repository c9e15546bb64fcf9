//! The SQLite audit log's appender: a thread with its own connection to the audit file that takes batches of
//! events from a queue, writes every batch waiting in one transaction (prepared `BEGIN IMMEDIATE` and
//! `COMMIT`, the chain's head kept between commits while no other connection has written the file), and only
//! then answers each.

use crate::audit::{chain, AuditRecord};
use crate::error::StoreError;
use care::audit::{Hash, GENESIS};
use rusqlite::{Connection, OptionalExtension};
use std::path::Path;
use std::sync::mpsc;
use tokio::sync::oneshot;

type Job = (Vec<AuditRecord>, oneshot::Sender<Result<i64, StoreError>>);

#[derive(Clone)]
pub struct AuditAppender {
    sender: mpsc::Sender<Job>,
}

impl AuditAppender {
    /// Starts the thread on the audit file at `path` (made and migrated already).
    pub fn start(path: &Path) -> Result<AuditAppender, StoreError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0;")?;
        let (sender, receiver) = mpsc::channel::<Job>();
        std::thread::Builder::new().name("joinery-audit".into()).spawn(move || run(conn, receiver)).map_err(|e| StoreError::Internal(Box::new(e)))?;
        Ok(AuditAppender { sender })
    }

    /// Appends `records` (with whatever else is waiting); the last sequence number once committed.
    pub async fn append(&self, records: Vec<AuditRecord>) -> Result<i64, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.sender.send((records, reply)).map_err(|_| StoreError::Unavailable("the audit log is closed".into()))?;
        answer.await.map_err(|_| StoreError::Unavailable("the audit log stopped".into()))?
    }
}

/// The chain's last link as this connection last committed it, and the file's `data_version` then: while
/// that has not moved, no other connection has appended.
struct Head {
    seq: i64,
    hash: Hash,
    data_version: i64,
}

fn run(conn: Connection, receiver: mpsc::Receiver<Job>) {
    let mut head: Option<Head> = None;
    while let Ok(first) = receiver.recv() {
        let mut jobs = vec![first];
        while let Ok(more) = receiver.try_recv() {
            jobs.push(more);
        }
        match write(&conn, &mut head, &jobs) {
            Ok(lasts) => {
                for ((_, reply), last) in jobs.into_iter().zip(lasts) {
                    let _ = reply.send(Ok(last));
                }
            }
            Err(e) => {
                head = None;
                let _ = conn.execute_batch("ROLLBACK");
                for (_, reply) in jobs {
                    let _ = reply.send(Err(e.duplicate()));
                }
            }
        }
    }
}

/// Writes every job's records in order in one transaction; each job's last sequence number.
fn write(conn: &Connection, head: &mut Option<Head>, jobs: &[Job]) -> Result<Vec<i64>, StoreError> {
    conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
    let data_version: i64 = conn.prepare_cached("PRAGMA data_version")?.query_row([], |r| r.get(0))?;
    let (mut seq, mut previous) = match head.as_ref().filter(|h| h.data_version == data_version) {
        Some(h) => (h.seq, h.hash),
        None => {
            let last: Option<(i64, Vec<u8>)> = conn
                .prepare_cached("SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1")?
                .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            match last {
                Some((s, h)) => (s, h.as_slice().try_into().map_err(|_| StoreError::Internal("an audit hash that is not 32 bytes".into()))?),
                None => (0, GENESIS),
            }
        }
    };
    let mut event = conn.prepare_cached(
        "INSERT INTO audit_event (seq, at_ms, username, organisation, outcome, patients, body, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    let mut lasts = Vec::with_capacity(jobs.len());
    for (records, _) in jobs {
        for ((s, hash), r) in chain(seq, previous, records)?.into_iter().zip(records) {
            event.execute(rusqlite::params![s, r.at_ms, r.username, r.organisation, r.outcome, r.patients.join(" "), r.body, &hash[..]])?;
            (seq, previous) = (s, hash);
        }
        lasts.push(seq);
    }
    conn.prepare_cached("COMMIT")?.execute([])?;
    *head = Some(Head { seq, hash: previous, data_version });
    Ok(lasts)
}
