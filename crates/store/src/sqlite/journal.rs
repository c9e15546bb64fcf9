//! The SQLite audit log's journal: a plain file beside the audit database (`….audit.db-events`) to which
//! events are appended already linked into the hash chain, one `write` a batch, and from which they are moved
//! into the database in large transactions, in the background and before the log is read.
//!
//! Why: an event appended straight to the database cost a read by id about 5 µs of server CPU, nearly all of
//! it the transaction around it (its locks, a 4 KB WAL frame for a page holding a few hundred bytes of new
//! events), and the requests waiting for it left the cores idle (measured: docs/scaling.md). A `write` to
//! the journal is the same promise as the database's commit with `synchronous = NORMAL`: the event survives
//! the process failing the moment the call returns; a power cut may lose the last moments.
//!
//! Several processes (the server and commands run beside it) share one chain:
//! - an appender writes only while holding the journal's lock (`…-events-lock`), and learns the chain's head
//!   from its own last write unless the journal is not the file it wrote or has grown since; then from the
//!   journal's last whole event, else the file being moved (`…-events-moving`), else the database;
//! - a mover holds the movers' lock (`…-events-mover`) from start to end; it renames the journal to the moving
//!   file under the journal's lock, inserts its events (skipping any the database already has: a move that
//!   stopped between its commit and the removal of the file) and removes it after its commit. The moving
//!   file is only ever removed once the database holds its events, so an appender that finds neither file
//!   finds the head in the database.
//!
//! An event's encoding: its length (u32, the bytes after it), seq (i64), hash (32 bytes), at_ms (i64),
//! outcome (i64), then username, organisation, patients (space-separated) and body as u32-length-prefixed
//! UTF-8 (`u32::MAX` for an absent one), all little-endian. A write cut short by a failure leaves an event
//! shorter than its length says: it was never acknowledged, and is cut off before the next append.

use crate::audit::{chain, AuditRecord};
use crate::error::StoreError;
use care::audit::{Hash, GENESIS};
use rusqlite::{Connection, OptionalExtension};
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The journal's files beside an audit database.
#[derive(Debug, Clone)]
pub(crate) struct Paths {
    journal: PathBuf,
    moving: PathBuf,
    lock: PathBuf,
    mover: PathBuf,
}

impl Paths {
    pub(crate) fn beside(database: &Path) -> Paths {
        let with = |suffix: &str| {
            let mut name = OsString::from(database.as_os_str());
            name.push(suffix);
            PathBuf::from(name)
        };
        Paths { journal: with("-events"), moving: with("-events-moving"), lock: with("-events-lock"), mover: with("-events-mover") }
    }

    /// Whether anything waits to be moved (without taking a lock: a hint).
    fn has_events(&self) -> bool {
        self.moving.exists() || std::fs::metadata(&self.journal).is_ok_and(|m| m.len() > 0)
    }
}

/// One process's appends to the journal.
pub(crate) struct Journal {
    paths: Paths,
    lock: std::sync::Arc<File>,
    /// The journal as this process last opened it, held open: while it is, its inode cannot be reused, so an
    /// inode equal to the path's means the same file.
    file: Option<Held>,
    /// The chain's head after this process's last append, and the journal's length then.
    known: Option<Known>,
}

struct Held {
    file: File,
    ino: u64,
}

#[derive(Debug, Clone, Copy)]
struct Known {
    len: u64,
    seq: i64,
    hash: Hash,
}

/// An exclusive lock on a file, released when dropped.
struct Locked<'a>(&'a File);

impl<'a> Locked<'a> {
    fn take(file: &'a File) -> Result<Locked<'a>, StoreError> {
        file.lock().map_err(|e| io("take the audit journal's lock", e))?;
        Ok(Locked(file))
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

fn io(what: &str, e: std::io::Error) -> StoreError {
    StoreError::Unavailable(format!("could not {what}: {e}"))
}

fn open_lock(path: &Path) -> Result<File, StoreError> {
    OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path).map_err(|e| io(&format!("open {}", path.display()), e))
}

impl Journal {
    pub(crate) fn open(database: &Path) -> Result<Journal, StoreError> {
        let paths = Paths::beside(database);
        let lock = std::sync::Arc::new(open_lock(&paths.lock)?);
        Ok(Journal { paths, lock, file: None, known: None })
    }

    /// Appends each job's records in order, in one write, extending the chain (whose head `conn`, a
    /// connection to the audit database, gives when the journal does not); each job's last sequence number.
    pub(crate) fn append(&mut self, conn: &Connection, jobs: &[&[AuditRecord]]) -> Result<Vec<i64>, StoreError> {
        let lock = self.lock.clone();
        let _locked = Locked::take(&lock)?;
        let head = self.head(conn)?;
        let (mut seq, mut previous) = (head.seq, head.hash);
        let mut bytes = Vec::with_capacity(jobs.iter().map(|j| j.iter().map(|r| r.body.len() + 128).sum::<usize>()).sum());
        let mut lasts = Vec::with_capacity(jobs.len());
        for records in jobs {
            for ((s, hash), r) in chain(seq, previous, records)?.into_iter().zip(records.iter()) {
                encode(&mut bytes, s, &hash, r)?;
                (seq, previous) = (s, hash);
            }
            lasts.push(seq);
        }
        let file = &mut self.file.as_mut().ok_or_else(|| StoreError::Internal("invariant: the journal is open".into()))?.file;
        match file.write_all(&bytes) {
            Ok(()) => {
                self.known = Some(Known { len: head.len + bytes.len() as u64, seq, hash: previous });
                Ok(lasts)
            }
            Err(e) => {
                // Nothing of this write may stay: cut what reached the file (if that fails too, the next append
                // cuts it off, finding the head again).
                let _ = file.set_len(head.len);
                self.known = None;
                Err(io("write the audit journal", e))
            }
        }
    }

    /// With the lock held: the chain's head and the journal's length, the journal open (one `stat` when this
    /// process's own last write is still the journal's end).
    fn head(&mut self, conn: &Connection) -> Result<Known, StoreError> {
        let on_disk = match std::fs::metadata(&self.paths.journal) {
            Ok(m) => Some((m.ino(), m.len())),
            Err(e) if e.kind() == ErrorKind::NotFound => None,
            Err(e) => return Err(io("look at the audit journal", e)),
        };
        let len = match (on_disk, &self.file) {
            (Some((ino, len)), Some(held)) if held.ino == ino => len,
            _ => {
                let file = OpenOptions::new().append(true).create(true).open(&self.paths.journal).map_err(|e| io("open the audit journal", e))?;
                let m = file.metadata().map_err(|e| io("look at the audit journal", e))?;
                self.file = Some(Held { file, ino: m.ino() });
                self.known = None;
                m.len()
            }
        };
        let file = &self.file.as_ref().ok_or_else(|| StoreError::Internal("invariant: the journal is open".into()))?.file;
        if let Some(k) = self.known.filter(|k| k.len == len) {
            return Ok(k);
        }
        // Another process appended, or this one has not yet: the head is the journal's last whole event, else
        // the moving file's, else the database's.
        let (whole, last) = last_event(&self.paths.journal)?;
        if whole < len {
            file.set_len(whole).map_err(|e| io("cut an unfinished event off the audit journal", e))?;
        }
        let (seq, hash) = match last {
            Some(h) => h,
            None => match last_event(&self.paths.moving)?.1 {
                Some(h) => h,
                None => database_head(conn)?,
            },
        };
        let known = Known { len: whole, seq, hash };
        self.known = Some(known);
        Ok(known)
    }
}

/// The last event the database holds (or the chain's start).
fn database_head(conn: &Connection) -> Result<(i64, Hash), StoreError> {
    let last: Option<(i64, Vec<u8>)> = conn
        .prepare_cached("SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    match last {
        Some((s, h)) => Ok((s, hash_of(&h)?)),
        None => Ok((0, GENESIS)),
    }
}

fn hash_of(bytes: &[u8]) -> Result<Hash, StoreError> {
    bytes.try_into().map_err(|_| StoreError::Internal("an audit hash that is not 32 bytes".into()))
}

/// The length of a file's whole events and the last of them (a missing file has none).
fn last_event(path: &Path) -> Result<(u64, Option<(i64, Hash)>), StoreError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok((0, None)),
        Err(e) => return Err(io(&format!("read {}", path.display()), e)),
    };
    let (events, whole) = decode_all(&bytes)?;
    Ok((whole as u64, events.last().map(|e| (e.seq, e.hash))))
}

/// An event as the journal holds it.
#[derive(Debug)]
pub(crate) struct Journaled {
    pub seq: i64,
    pub hash: Hash,
    pub record: AuditRecord,
}

fn encode(out: &mut Vec<u8>, seq: i64, hash: &Hash, r: &AuditRecord) -> Result<(), StoreError> {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(hash);
    out.extend_from_slice(&r.at_ms.to_le_bytes());
    out.extend_from_slice(&r.outcome.to_le_bytes());
    let too_long = || StoreError::Internal("an audit event over 4 GB".into());
    let mut text = |s: Option<&str>| -> Result<(), StoreError> {
        match s {
            None => out.extend_from_slice(&u32::MAX.to_le_bytes()),
            Some(s) => {
                let n = u32::try_from(s.len()).ok().filter(|n| *n != u32::MAX).ok_or_else(too_long)?;
                out.extend_from_slice(&n.to_le_bytes());
                out.extend_from_slice(s.as_bytes());
            }
        }
        Ok(())
    };
    text(r.username.as_deref())?;
    text(r.organisation.as_deref())?;
    text(Some(&r.patients.join(" ")))?;
    text(Some(&r.body))?;
    let len = u32::try_from(out.len() - start - 4).map_err(|_| too_long())?;
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    Ok(())
}

/// The whole events at the start of `bytes`, and how many bytes they take (an unfinished one at the end is
/// left out); an event that is whole but cannot be read is an error.
fn decode_all(bytes: &[u8]) -> Result<(Vec<Journaled>, usize), StoreError> {
    let mut events = Vec::new();
    let mut at = 0;
    while let Some(len) = bytes.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize) {
        let Some(event) = bytes.get(at + 4..at + 4 + len) else { break };
        events.push(decode(event).ok_or_else(|| StoreError::Internal(format!("the audit journal's event at byte {at} cannot be read").into()))?);
        at += 4 + len;
    }
    Ok((events, at))
}

fn decode(mut b: &[u8]) -> Option<Journaled> {
    fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        let (head, rest) = (b.get(..n)?, b.get(n..)?);
        *b = rest;
        Some(head)
    }
    fn int(b: &mut &[u8]) -> Option<i64> {
        Some(i64::from_le_bytes(take(b, 8)?.try_into().ok()?))
    }
    fn text(b: &mut &[u8]) -> Option<Option<String>> {
        let n = u32::from_le_bytes(take(b, 4)?.try_into().ok()?);
        if n == u32::MAX {
            return Some(None);
        }
        Some(Some(String::from_utf8(take(b, n as usize)?.to_vec()).ok()?))
    }
    let seq = int(&mut b)?;
    let hash: Hash = take(&mut b, 32)?.try_into().ok()?;
    let at_ms = int(&mut b)?;
    let outcome = int(&mut b)?;
    let username = text(&mut b)?;
    let organisation = text(&mut b)?;
    let patients = text(&mut b)??;
    let body = text(&mut b)??;
    let patients = patients.split_whitespace().map(str::to_owned).collect();
    b.is_empty().then_some(Journaled { seq, hash, record: AuditRecord { at_ms, username, organisation, outcome, patients, body } })
}

/// Moves the journal's events into the database through `conn`: first a moving file a move left behind, then
/// the journal as it stands, each file's events in one transaction (the indexer indexes them later). How many
/// were moved.
pub(crate) fn move_into(database: &Path, conn: &Connection) -> Result<usize, StoreError> {
    let paths = Paths::beside(database);
    if !paths.has_events() {
        return Ok(0);
    }
    let mover = open_lock(&paths.mover)?;
    let _moving = Locked::take(&mover)?;
    let mut moved = 0;
    if paths.moving.exists() {
        moved += move_file(&paths.moving, conn)?;
    }
    {
        let lock = open_lock(&paths.lock)?;
        let _locked = Locked::take(&lock)?;
        match std::fs::metadata(&paths.journal) {
            Ok(m) if m.len() > 0 => std::fs::rename(&paths.journal, &paths.moving).map_err(|e| io("set the audit journal aside", e))?,
            Ok(_) => return Ok(moved),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(moved),
            Err(e) => return Err(io("look at the audit journal", e)),
        }
    }
    moved += move_file(&paths.moving, conn)?;
    Ok(moved)
}

/// Inserts the events of the file at `path` the database does not have yet, in one transaction, then
/// removes the file.
fn move_file(path: &Path, conn: &Connection) -> Result<usize, StoreError> {
    let bytes = std::fs::read(path).map_err(|e| io(&format!("read {}", path.display()), e))?;
    let (events, _) = decode_all(&bytes)?;
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
    let last: i64 = tx.query_row("SELECT coalesce(max(seq), 0) FROM audit_event", [], |r| r.get(0))?;
    let new: Vec<&Journaled> = events.iter().filter(|e| e.seq > last).collect();
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO audit_event (seq, at_ms, username, organisation, outcome, patients, body, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        for e in &new {
            let r = &e.record;
            insert.execute(rusqlite::params![e.seq, r.at_ms, r.username, r.organisation, r.outcome, r.patients.join(" "), r.body, &e.hash[..]])?;
        }
    }
    tx.commit()?;
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(io(&format!("remove {}", path.display()), e)),
    }
    Ok(new.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: i64, patients: &[&str]) -> AuditRecord {
        AuditRecord {
            at_ms: n,
            username: (n % 2 == 0).then(|| format!("user-{n}")),
            organisation: None,
            outcome: 200,
            patients: patients.iter().map(|p| (*p).to_owned()).collect(),
            body: format!("{{\"n\":{n}}}"),
        }
    }

    fn database(dir: &Path) -> (PathBuf, Connection) {
        let path = dir.join("audit.db");
        let mut conn = Connection::open(&path).expect("open");
        conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(())).expect("wal");
        crate::sqlite::migrate::apply(&mut conn, crate::sqlite::migrate::AUDIT_MIGRATIONS).expect("migrate");
        (path, conn)
    }

    fn chain_in(conn: &Connection) -> Vec<(i64, Vec<u8>, String)> {
        let mut st = conn.prepare("SELECT seq, hash, body FROM audit_event ORDER BY seq").expect("prepare");
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).expect("query").collect::<Result<_, _>>().expect("rows")
    }

    #[test]
    fn an_event_read_back_is_the_event_written() {
        let r = AuditRecord {
            at_ms: -5,
            username: None,
            organisation: Some(String::new()),
            outcome: 403,
            patients: vec!["a".into(), "b".into()],
            body: "é{}".into(),
        };
        let mut bytes = Vec::new();
        encode(&mut bytes, 7, &[9; 32], &r).expect("encode");
        encode(&mut bytes, 8, &[1; 32], &record(2, &[])).expect("encode");
        let (events, whole) = decode_all(&bytes).expect("decode");
        assert_eq!(whole, bytes.len());
        assert_eq!((events[0].seq, events[0].hash, &events[0].record), (7, [9; 32], &r));
        assert_eq!((events[1].seq, &events[1].record), (8, &record(2, &[])));
        // Cut anywhere inside the second event, only the first is whole.
        for cut in (whole - 20)..whole {
            let (events, first) = decode_all(&bytes[..cut]).expect("decode");
            assert_eq!(events.len(), 1, "cut at {cut}");
            assert!(first < cut);
        }
    }

    #[test]
    fn two_appenders_and_a_mover_keep_one_chain() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (path, conn) = database(dir.path());
        // Two journals on one file: two processes appending in turn, moves between some of their appends.
        let (mut a, mut b) = (Journal::open(&path).expect("a"), Journal::open(&path).expect("b"));
        let mut expected = care::audit::Verifier::default();
        let mut n = 0;
        for round in 0..30 {
            let journal = if round % 3 == 0 { &mut b } else { &mut a };
            let records: Vec<AuditRecord> = (0..(round % 4 + 1))
                .map(|_| {
                    n += 1;
                    record(n, &["p1", "p2"])
                })
                .collect();
            let lasts = journal.append(&conn, &[&records]).expect("append");
            assert_eq!(lasts, vec![n]);
            if round % 7 == 6 {
                assert!(move_into(&path, &conn).expect("move") > 0);
            }
        }
        move_into(&path, &conn).expect("move");
        let rows = chain_in(&conn);
        assert_eq!(rows.len() as i64, n);
        for (seq, hash, body) in &rows {
            let hash: Hash = hash.as_slice().try_into().expect("32 bytes");
            expected.next(*seq as u64, body.as_bytes(), &hash).expect("one unbroken chain");
        }
        assert!(!Paths::beside(&path).has_events());
    }

    #[test]
    fn a_move_cut_short_is_finished_without_duplicates_and_an_unfinished_event_is_cut_off() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (path, conn) = database(dir.path());
        let paths = Paths::beside(&path);
        let mut a = Journal::open(&path).expect("a");
        a.append(&conn, &[&[record(1, &["p"]), record(2, &["p"])]]).expect("append");
        // A move that committed but stopped before removing its file: the file is still there.
        let kept = std::fs::read(&paths.journal).expect("read");
        move_into(&path, &conn).expect("move");
        std::fs::write(&paths.moving, &kept).expect("leave the moving file");
        // A process that failed half-way through writing an event.
        let mut torn = Vec::new();
        encode(&mut torn, 3, &[0; 32], &record(3, &[])).expect("encode");
        std::fs::write(&paths.journal, &torn[..torn.len() - 3]).expect("torn");
        // Another appender finds the head in the moving file (the database agrees), cuts the torn event off.
        let mut b = Journal::open(&path).expect("b");
        assert_eq!(b.append(&conn, &[&[record(3, &["q"])]]).expect("append"), vec![3]);
        assert_eq!(move_into(&path, &conn).expect("move"), 1);
        let rows = chain_in(&conn);
        assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), vec![1, 2, 3]);
        let mut v = care::audit::Verifier::default();
        for (seq, hash, body) in &rows {
            v.next(*seq as u64, body.as_bytes(), hash.as_slice().try_into().expect("32")).expect("unbroken");
        }
    }
}
