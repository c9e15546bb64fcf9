//! The SQLite audit log's appender: one connection to the audit file, used by whoever holds its baton. A
//! request whose event finds the appender idle takes the baton and writes its event on its own thread, with
//! every event queued meanwhile, in one transaction (prepared `BEGIN IMMEDIATE` and `COMMIT`, the chain's
//! head kept between commits while no other connection has written the file); events that arrive while a
//! transaction is being written wait in a queue; the leader writes them in one more transaction, then the
//! baton passes to the first event queued after that, which writes the whole queue in the next (leader and
//! followers: group commit with no thread to hand events to and wake). Before writing, the leader yields
//! twice to the other tasks of its thread, which under load are requests about to append: their events join
//! its transaction. Work that must not interleave with appends
//! (the index by patient) takes the baton too.
//!
//! The baton is a value: whoever is handed it and does not use it (a request cancelled while it waited)
//! still runs the queue and passes it on when it is dropped, so that the appender never stalls.

use super::checkpoint::{checkpoint_if_wal_over, WalUse};
use crate::audit::{chain, AuditRecord};
use crate::error::StoreError;
use care::audit::{Hash, GENESIS};
use rusqlite::{Connection, OptionalExtension};
use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::oneshot;

/// Most events written in one transaction (a leader's round stays short).
const ROUND: usize = 512;

/// How many more rounds a leader writes, of the events queued during its own, before it hands the baton on
/// (measured 2026-12-08, two alternating pairs of reads by id: as the GP 3% more a second and p99 1.45 against
/// 1.64–1.72 ms; four rounds were no better).
const EXTRA_ROUNDS: usize = 1;

/// How many times a request that finds the appender idle yields to the other tasks of its thread before it
/// writes the queue.
const GATHER_YIELDS: usize = 2;

#[derive(Clone)]
pub struct AuditAppender {
    lane: Arc<Lane>,
}

struct Lane {
    state: Mutex<State>,
    /// Locked only by the baton's holder, so never contended.
    writer: Mutex<Writer>,
}

#[derive(Default)]
struct State {
    /// Events waiting for a transaction, in the order they will be chained.
    queue: VecDeque<Job>,
    /// Work waiting for the baton to use the connection alone.
    exclusive: VecDeque<oneshot::Sender<Baton>>,
    /// Whether the baton is held (a round, a hand-over or exclusive work is under way).
    held: bool,
    closed: bool,
}

struct Job {
    records: Vec<AuditRecord>,
    /// Whoever waits for these events; `None` once they stopped waiting.
    reply: Option<oneshot::Sender<Reply>>,
}

enum Reply {
    /// The events are in the log, the last of them with this sequence number (or the append failed).
    Written(Result<i64, StoreError>),
    /// The baton, and the channel on which the events' own outcome will come.
    Lead(Baton, oneshot::Receiver<Reply>),
}

struct Writer {
    conn: Connection,
    head: Option<Head>,
    /// How much of the WAL is in use, and past what the appender finishes the checkpoint itself.
    wal: WalUse,
}

/// The chain's last link as this connection last committed it, and the file's `data_version` then: while
/// that has not moved, no other connection has appended.
struct Head {
    seq: i64,
    hash: Hash,
    data_version: i64,
}

/// The right to use the appender's connection. Dropping it writes whatever is queued and passes it on.
struct Baton(Option<Arc<Lane>>);

impl Drop for Baton {
    fn drop(&mut self) {
        if let Some(lane) = self.0.take() {
            lane.lead();
        }
    }
}

impl Baton {
    /// A baton that was not delivered: its sender still holds the lane and goes on passing it.
    fn defuse(mut self) {
        self.0 = None;
    }
}

impl AuditAppender {
    /// Opens the appender's connection to the audit file at `path` (made and migrated already).
    pub fn start(path: &Path) -> Result<AuditAppender, StoreError> {
        Self::start_with(path, WAL_LIMIT_BYTES)
    }

    /// As `start`, the WAL kept under about `wal_limit` bytes.
    fn start_with(path: &Path, wal_limit: u64) -> Result<AuditAppender, StoreError> {
        let mut conn = Connection::open(path)?;
        // Another process appending (a command run beside the server) holds the file's write lock for one
        // short transaction; waiting for it is the only wait an append makes on its thread.
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0;")?;
        // How much of the WAL is in use is counted by the WAL hook, so that a WAL started again keeps its size
        // (see `WalUse`).
        let wal = WalUse::watch(&mut conn, wal_limit)?;
        let writer = Writer { conn, head: None, wal };
        let lane = Lane { state: Mutex::new(State::default()), writer: Mutex::new(writer) };
        Ok(AuditAppender { lane: Arc::new(lane) })
    }

    /// Appends `records` (with whatever else is waiting); the last sequence number once committed.
    pub async fn append(&self, records: Vec<AuditRecord>) -> Result<i64, StoreError> {
        let (reply, mut answer) = oneshot::channel();
        let lead = {
            let mut state = self.lane.state()?;
            if state.closed {
                return Err(StoreError::Unavailable("the audit log is closed".into()));
            }
            state.queue.push_back(Job { records, reply: Some(reply) });
            !std::mem::replace(&mut state.held, true)
        };
        if lead {
            let baton = Baton(Some(self.lane.clone()));
            // Let the tasks already running on this thread reach their own appends first, so that one
            // transaction takes them all (measured: without it, about one event a transaction under load).
            for _ in 0..GATHER_YIELDS {
                tokio::task::yield_now().await;
            }
            drop(baton);
        }
        loop {
            match answer.await {
                Ok(Reply::Written(outcome)) => return outcome,
                Ok(Reply::Lead(baton, next)) => {
                    drop(baton);
                    answer = next;
                }
                Err(_) => return Err(StoreError::Unavailable("the audit log stopped".into())),
            }
        }
    }

    /// Runs `f` on the appender's connection alone (no append interleaves), on the blocking pool.
    pub async fn exclusive<T: Send + 'static>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static) -> Result<T, StoreError> {
        let waiting = {
            let mut state = self.lane.state()?;
            if state.closed {
                return Err(StoreError::Unavailable("the audit log is closed".into()));
            }
            if std::mem::replace(&mut state.held, true) {
                let (give, given) = oneshot::channel();
                state.exclusive.push_back(give);
                Some(given)
            } else {
                None
            }
        };
        let baton = match waiting {
            Some(given) => given.await.map_err(|_| StoreError::Unavailable("the audit log stopped".into()))?,
            None => Baton(Some(self.lane.clone())),
        };
        let lane = self.lane.clone();
        tokio::task::spawn_blocking(move || {
            let out = lane.writer.lock().map_err(|_| poisoned()).and_then(|w| f(&w.conn));
            drop(baton);
            out
        })
        .await
        .map_err(|e| StoreError::Internal(Box::new(e)))?
    }

    /// No more appends are taken; those already queued are still written.
    pub fn close(&self) {
        if let Ok(mut state) = self.lane.state() {
            state.closed = true;
        }
    }
}

impl Lane {
    fn state(&self) -> Result<MutexGuard<'_, State>, StoreError> {
        self.state.lock().map_err(|_| poisoned())
    }

    /// With the baton: writes the queue in rounds (its own and, unless exclusive work waits, `EXTRA_ROUNDS`
    /// more of what queued meanwhile), then hands the baton to exclusive work waiting, else to the first event
    /// still waiting in the queue, else lays it down.
    fn lead(self: &Arc<Self>) {
        let mut rounds = 0;
        loop {
            let jobs: Vec<Job> = match self.state() {
                Ok(mut state) => {
                    let mut taken = Vec::new();
                    let mut events = 0;
                    while events < ROUND {
                        let Some(job) = state.queue.pop_front() else { break };
                        events += job.records.len();
                        taken.push(job);
                    }
                    taken
                }
                Err(_) => return,
            };
            if !jobs.is_empty() {
                self.round(jobs);
                rounds += 1;
            }
            let Ok(mut state) = self.state() else { return };
            // The events queued during its round are written by the leader itself, once, before it hands the
            // baton on: a request handed the baton waits for its turn on a worker first, and every event queued
            // waits with it.
            if rounds <= EXTRA_ROUNDS && state.exclusive.is_empty() && !state.queue.is_empty() {
                continue;
            }
            while let Some(give) = state.exclusive.pop_front() {
                match give.send(Baton(Some(self.clone()))) {
                    Ok(()) => return,
                    Err(undelivered) => undelivered.defuse(),
                }
            }
            for job in state.queue.iter_mut() {
                let Some(reply) = job.reply.take() else { continue };
                let (own, next) = oneshot::channel();
                match reply.send(Reply::Lead(Baton(Some(self.clone())), next)) {
                    Ok(()) => {
                        job.reply = Some(own);
                        return;
                    }
                    Err(Reply::Lead(undelivered, _)) => undelivered.defuse(),
                    Err(Reply::Written(_)) => {}
                }
            }
            if state.queue.is_empty() {
                state.held = false;
                return;
            }
            // Only events nobody waits for any longer are queued: they are written all the same.
        }
    }

    /// Writes `jobs` in one transaction and answers each.
    fn round(&self, jobs: Vec<Job>) {
        metrics::histogram!("joinery_audit_write_events").record(jobs.iter().map(|j| j.records.len()).sum::<usize>() as f64);
        let outcome = match self.writer.lock() {
            Ok(mut w) => {
                let Writer { conn, head, wal } = &mut *w;
                let written = write(conn, head, &jobs);
                if written.is_err() {
                    *head = None;
                    let _ = conn.execute_batch("ROLLBACK");
                } else {
                    restart_wal_if_large(conn, wal);
                }
                written
            }
            Err(_) => Err(poisoned()),
        };
        match outcome {
            Ok(lasts) => {
                for (job, last) in jobs.into_iter().zip(lasts) {
                    if let Some(reply) = job.reply {
                        let _ = reply.send(Reply::Written(Ok(last)));
                    }
                }
            }
            Err(e) => {
                for job in jobs {
                    if let Some(reply) = job.reply {
                        let _ = reply.send(Reply::Written(Err(e.duplicate())));
                    }
                }
            }
        }
    }
}

/// The WAL's size past which the appender finishes the checkpoint itself, unless told otherwise.
const WAL_LIMIT_BYTES: u64 = 64 << 20;

/// Under a steady stream of appends the background checkpointer never finds every frame copied when the
/// next transaction begins, so the WAL is never started again from its beginning and grows without bound
/// (measured: 800 MB in 20 s of reads by id at 20,000 a second, each commit a 4 KB frame). Past the limit
/// the appender, between its own transactions, copies what the background pass has not reached; its next
/// transaction then starts the WAL again from the beginning (unless a reader still needs its frames).
fn restart_wal_if_large(conn: &Connection, wal: &WalUse) {
    checkpoint_if_wal_over(conn, wal, "PRAGMA wal_checkpoint(PASSIVE)", "audit_wal_restart");
}

fn poisoned() -> StoreError {
    StoreError::Internal("the audit appender's lock was poisoned".into())
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
    for Job { records, .. } in jobs {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Waker};
    use std::time::Duration;

    fn record(n: i64) -> AuditRecord {
        AuditRecord { at_ms: n, username: None, organisation: None, outcome: 200, patients: vec![], body: format!("{{\"n\":{n}}}") }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_turn_handed_to_work_that_stopped_waiting_is_passed_on() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("audit.db");
        let mut conn = Connection::open(&path).expect("open");
        crate::sqlite::migrate::apply(&mut conn, crate::sqlite::migrate::AUDIT_MIGRATIONS).expect("migrate");
        let appender = AuditAppender::start(&path).expect("start");
        // The first exclusive work holds the turn until told to finish.
        let (started, has_started) = std::sync::mpsc::channel();
        let (finish, told) = std::sync::mpsc::channel::<()>();
        let first = tokio::spawn({
            let a = appender.clone();
            async move {
                a.exclusive(move |_| {
                    let _ = started.send(());
                    let _ = told.recv();
                    Ok(())
                })
                .await
            }
        });
        has_started.recv_timeout(Duration::from_secs(10)).expect("the first holds the turn");
        // A second waits for the turn, and an append queues behind it; each polled once, so it is waiting.
        let mut cx = Context::from_waker(Waker::noop());
        let mut second = Box::pin(appender.exclusive(|_| Ok(())));
        assert!(second.as_mut().poll(&mut cx).is_pending());
        let mut queued = pin!(appender.append(vec![record(1)]));
        assert!(queued.as_mut().poll(&mut cx).is_pending());
        // The first finishes: it writes the queued event and hands the turn to the second, which is dropped
        // unpolled with the turn in its channel.
        finish.send(()).expect("finish");
        first.await.expect("task").expect("first");
        let written = tokio::time::timeout(Duration::from_secs(10), queued).await.expect("the queued event is written");
        assert_eq!(written.expect("append"), 1);
        drop(second);
        let next = tokio::time::timeout(Duration::from_secs(10), appender.append(vec![record(2)])).await.expect("the log goes on");
        assert_eq!(next.expect("append"), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_stays_bounded_under_a_steady_stream_of_appends() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("audit.db");
        let mut conn = Connection::open(&path).expect("open");
        conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(())).expect("wal");
        crate::sqlite::migrate::apply(&mut conn, crate::sqlite::migrate::AUDIT_MIGRATIONS).expect("migrate");
        let limit = 512 * 1024;
        let appender = AuditAppender::start_with(&path, limit).expect("start");
        // One event a transaction: each commit writes at least one 4 KB frame, 8 MB in all if nothing
        // started the WAL again.
        let mut sizes = Vec::new();
        for n in 1..=2000 {
            assert_eq!(appender.append(vec![record(n)]).await.expect("append"), n);
            sizes.push(std::fs::metadata(dir.path().join("audit.db-wal")).map(|m| m.len()).unwrap_or(0));
        }
        // The limit, plus the last commit's frames.
        let largest = sizes.iter().copied().max().unwrap_or(0);
        assert!(largest < limit + 16 * 1024, "the WAL grew to {largest} bytes");
        // Started again from its beginning, it kept its size: later commits overwrote its frames.
        assert!(largest >= limit, "the WAL was started again {largest} bytes in, before the limit");
        assert!(sizes.windows(2).all(|w| w[0] <= w[1]), "the WAL was cut back and grown again");
        let count: i64 = conn.query_row("SELECT count(*) FROM audit_event", [], |r| r.get(0)).expect("count");
        assert_eq!(count, 2000);
    }
}
