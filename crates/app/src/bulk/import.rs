//! Bulk import of NDJSON files and Bundles: a reader thread cuts files into batches, worker threads parse,
//! validate and prepare every resource exactly as a REST write would (stamp, index, person key, links),
//! and each batch is written as one unit on the store's writer, which only decides create, update or
//! unchanged and writes. References are checked once the whole import is written, and those left
//! pointing at nothing are reported.
//!
//! Identity: a resource with an `id` is upserted by that id (a version whose content equals the stored one
//! apart from `meta.versionId` and `meta.lastUpdated` is not written again); one without an id takes the
//! id of the resource its first identifier matches, or a new one. In a Bundle, `fullUrl`s (`urn:uuid:…`)
//! become `Type/id` references to the entries' resources. So importing the same files twice creates nothing.

use super::source::{self, Line, Source, SourceKind};
use crate::error::AppError;
use crate::prepare::{self, Prepared};
use crate::session::Writing;
use crate::{bundle, instant, record, App};
use fhir::reference::{self, Target};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::future::Future;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::task::Poll;
use std::time::Instant;
use store::{Method, NewVersion, StoreError, TokenCriterion, Tx};

/// How an import runs.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// NDJSON lines per write unit. A Bundle is always one unit, whatever its size.
    pub batch_size: usize,
    /// Threads that parse, validate and index; 0 means one per core.
    pub workers: usize,
    /// Units queued on the writer at once (they commit together).
    pub units_in_flight: usize,
    /// Failures kept in the report (all are counted).
    pub failures_kept: usize,
    /// Dangling references kept in the report (all are counted).
    pub dangling_kept: usize,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions { batch_size: 1000, workers: 0, units_in_flight: 8, failures_kept: 1000, dangling_kept: 20 }
    }
}

/// Counters a caller may watch while an import runs (for a progress bar).
#[derive(Debug, Default)]
pub struct Progress {
    /// Bytes of all the files to import.
    pub bytes_total: AtomicU64,
    /// Bytes read so far.
    pub bytes_read: AtomicU64,
    /// Resources whose fate is decided (written, unchanged or failed).
    pub resources_done: AtomicU64,
    pub failed: AtomicU64,
    phase: AtomicU8,
}

/// What an import is doing now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Writing,
    CheckingReferences,
    Done,
}

impl Progress {
    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Relaxed) {
            0 => Phase::Writing,
            1 => Phase::CheckingReferences,
            _ => Phase::Done,
        }
    }

    fn set_phase(&self, p: Phase) {
        self.phase.store(p as u8, Ordering::Relaxed);
    }
}

/// Per resource type: what was read and what became of it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TypeCounts {
    pub read: u64,
    pub created: u64,
    pub updated: u64,
    /// Already stored with the same content: nothing written.
    pub unchanged: u64,
    pub failed: u64,
}

impl TypeCounts {
    fn add(&mut self, o: &TypeCounts) {
        self.read += o.read;
        self.created += o.created;
        self.updated += o.updated;
        self.unchanged += o.unchanged;
        self.failed += o.failed;
    }
}

/// A line or entry that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub file: PathBuf,
    /// The line of an NDJSON file (from 1).
    pub line: Option<u64>,
    /// The entry of a Bundle (from 0).
    pub entry: Option<usize>,
    pub resource_type: Option<String>,
    pub message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        if let Some(e) = self.entry {
            write!(f, ": Bundle.entry[{e}]")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The outcome of an import.
#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    pub types: BTreeMap<String, TypeCounts>,
    /// The first failures (`ImportOptions::failures_kept`), in the order they happened.
    pub failures: Vec<Failure>,
    pub failure_count: u64,
    /// Local references held by what was written that point at nothing.
    pub dangling: store::Dangling,
    /// Files skipped as not FHIR (a Bulk Data manifest, say).
    pub skipped: Vec<PathBuf>,
    pub files: usize,
    pub bytes: u64,
    /// Time spent reading and writing.
    pub write_seconds: f64,
    /// Time spent checking references afterwards.
    pub check_seconds: f64,
}

impl ImportReport {
    pub fn total(&self) -> TypeCounts {
        let mut t = TypeCounts::default();
        for c in self.types.values() {
            t.add(c);
        }
        t
    }

    fn count(&mut self, resource_type: &str) -> &mut TypeCounts {
        if !self.types.contains_key(resource_type) {
            self.types.insert(resource_type.to_owned(), TypeCounts::default());
        }
        self.types.get_mut(resource_type).expect("invariant: inserted above")
    }

    fn fail(&mut self, failure: Failure, kept: usize) {
        self.count(failure.resource_type.as_deref().unwrap_or(UNKNOWN_TYPE)).failed += 1;
        self.failure_count += 1;
        if self.failures.len() < kept {
            self.failures.push(failure);
        }
    }
}

/// The row under which lines whose type cannot be told are counted.
pub const UNKNOWN_TYPE: &str = "(unknown)";

/// Where an item came from.
#[derive(Debug, Clone)]
struct Origin {
    file: Arc<Path>,
    line: Option<u64>,
    entry: Option<usize>,
}

impl Origin {
    fn failure(&self, resource_type: Option<&str>, message: impl Into<String>) -> Failure {
        Failure {
            file: self.file.to_path_buf(),
            line: self.line,
            entry: self.entry,
            resource_type: resource_type.map(str::to_owned),
            message: message.into(),
        }
    }
}

/// How the id of an item was decided.
#[derive(Debug, Clone)]
enum Identity {
    /// The resource's own id (or its Bundle entry's `request.url`): upserted by id.
    Given,
    /// A new id, unless the resource's first identifier matches a stored resource, whose id it then takes.
    ByIdentifier(Vec<TokenCriterion>),
    /// A new id.
    New,
}

/// A resource ready to write.
struct Item {
    origin: Origin,
    resource_type: String,
    id: String,
    identity: Identity,
    /// Stamped as version 1 with the batch's instant.
    prepared: Prepared,
    /// Holds conditional references (`Type?identifier=…`) to resolve on the writer.
    conditional: bool,
}

/// What a reader hands the workers.
enum Work {
    Lines { seq: u64, file: Arc<Path>, file_type: Option<String>, lines: Vec<(u64, Line)>, stamp: Writing },
    Document { seq: u64, file: Arc<Path>, stamp: Writing },
    Failed { seq: u64, failure: Failure },
}

/// What the workers hand the writer side.
struct Batch {
    seq: u64,
    /// A Bundle: written whole or not at all.
    atomic: bool,
    items: Vec<Item>,
    failures: Vec<Failure>,
    /// Resources read, per type (those that failed before the writer included).
    read: Vec<(String, u64)>,
    skipped: Option<PathBuf>,
    stamp: Writing,
}

/// What became of one item on the writer.
enum Outcome {
    Created,
    Updated,
    Unchanged,
    Failed(String),
}

struct Written {
    resource_type: String,
    origin: Origin,
    outcome: Outcome,
}

/// A unit that failed as a whole: its error, and its items when it can hand them back (to retry one by one).
struct UnitFailure {
    error: AppError,
    items: Vec<Item>,
}

impl From<StoreError> for UnitFailure {
    fn from(e: StoreError) -> Self {
        UnitFailure { error: e.into(), items: Vec::new() }
    }
}

type UnitResult = Result<Vec<Written>, UnitFailure>;

impl App {
    /// What a resource written by the import outside the batches is stamped with.
    fn import_stamp(&self) -> Writing {
        Writing { now: instant::now(), source: None, sensitive: self.config.sensitive_codes.clone(), cohorts: Some(self.config.cohorts.clone()) }
    }

    /// Imports the given files (see `bulk::list_sources`). Bad lines and entries are reported in the
    /// result, never stop the rest; an error is returned only if the store cannot take the import at all.
    /// Every import (the command line's, the demo's) leaves one audit event naming its files and whether it
    /// was clean; if that cannot be written, the import answers unavailable.
    pub async fn import(&self, sources: Vec<Source>, options: ImportOptions, progress: Arc<Progress>) -> Result<ImportReport, AppError> {
        let given = sources.iter().map(|s| s.path.display().to_string()).collect::<Vec<_>>().join(" ");
        let outcome = self.import_files(sources, options, progress).await;
        let clean = matches!(&outcome, Ok(r) if r.failure_count == 0 && r.dangling.count == 0);
        self.audit_command("import", &given, u16::from(!clean)).await?;
        outcome
    }

    async fn import_files(&self, sources: Vec<Source>, options: ImportOptions, progress: Arc<Progress>) -> Result<ImportReport, AppError> {
        self.authorize_bulk_import()?;
        let started = Instant::now();
        let start_seq = self.store.last_seq().await?;
        let mut report = ImportReport { files: sources.len(), bytes: sources.iter().map(|s| s.bytes).sum(), ..Default::default() };
        progress.bytes_total.store(report.bytes, Ordering::Relaxed);
        progress.set_phase(Phase::Writing);

        let workers = match options.workers {
            0 => std::thread::available_parallelism().map_or(2, usize::from),
            n => n,
        };
        let batch_size = options.batch_size.max(1);
        // Into a store that was empty, most resources are new: a filter of the ids written so far spares the
        // writer a look-up for each of them (a "maybe" still looks up, so the filter is never wrong).
        let seen = (start_seq == 0).then(|| Arc::new(Mutex::new(Seen::with_bits(seen_bits(report.bytes)))));
        let (work_tx, work_rx) = mpsc::sync_channel::<Work>(workers * 2);
        let work_rx = Arc::new(Mutex::new(work_rx));
        let (done_tx, mut done_rx) = tokio::sync::mpsc::channel::<Batch>(workers * 2 + 2);

        let reader_progress = progress.clone();
        let clock = Clock { last: String::new(), sensitive: self.config.sensitive_codes.clone(), cohorts: self.config.cohorts.clone() };
        let reader = std::thread::Builder::new()
            .name("joinery-import-reader".into())
            .spawn(move || read_sources(sources, batch_size, &work_tx, &reader_progress, clock))
            .map_err(|e| AppError::Internal(Box::new(e)))?;
        let mut threads = Vec::with_capacity(workers);
        for n in 0..workers {
            let (rx, tx, progress) = (work_rx.clone(), done_tx.clone(), progress.clone());
            let handle = std::thread::Builder::new()
                .name(format!("joinery-import-{n}"))
                .spawn(move || work(&rx, &tx, &progress))
                .map_err(|e| AppError::Internal(Box::new(e)))?;
            threads.push(handle);
        }
        drop(done_tx);

        // Batches arrive in any order from the workers; they are written strictly in the order read, so that
        // a later line about the same resource wins.
        let mut pending: BTreeMap<u64, Batch> = BTreeMap::new();
        let mut next = 0u64;
        let mut in_flight: VecDeque<InFlight<'_>> = VecDeque::new();
        let concurrency = self.store.write_concurrency();
        let max_in_flight = options.units_in_flight.min(concurrency.in_flight).max(1);
        let mut fatal: Option<AppError> = None;
        while let Some(batch) = done_rx.recv().await {
            pending.insert(batch.seq, batch);
            while let Some(batch) = pending.remove(&next) {
                next += 1;
                if fatal.is_some() {
                    continue; // drain, so the reader and workers finish
                }
                if let Some(p) = batch.skipped.clone() {
                    report.skipped.push(p);
                }
                for (t, n) in &batch.read {
                    report.count(t).read += n;
                }
                for f in batch.failures {
                    progress.failed.fetch_add(1, Ordering::Relaxed);
                    progress.resources_done.fetch_add(1, Ordering::Relaxed);
                    report.fail(f, options.failures_kept);
                }
                if batch.items.is_empty() {
                    continue;
                }
                // Where units commit in no set order, a unit that could see or touch what another in flight
                // writes waits for the others to finish, so the result is the one a serial import gives.
                let keys = if concurrency.in_order { Keys::Independent(HashSet::new()) } else { Keys::of(&batch.items, batch.atomic) };
                if !concurrency.in_order && in_flight.iter().any(|u| !u.independent_of(&keys)) {
                    while let Some(unit) = in_flight.pop_front() {
                        if let Err(e) = self.settle(unit, &mut report, &options, &progress, &seen).await {
                            fatal.get_or_insert(e);
                        }
                    }
                }
                in_flight.push_back(self.submit(batch.items, batch.stamp, batch.atomic, seen.clone(), keys, concurrency.in_order).await);
                while in_flight.len() >= max_in_flight {
                    if let Some(unit) = in_flight.pop_front() {
                        if let Err(e) = self.settle(unit, &mut report, &options, &progress, &seen).await {
                            fatal = Some(e);
                        }
                    }
                }
            }
        }
        while let Some(unit) = in_flight.pop_front() {
            if let Err(e) = self.settle(unit, &mut report, &options, &progress, &seen).await {
                fatal.get_or_insert(e);
            }
        }
        for t in threads {
            if t.join().is_err() {
                fatal.get_or_insert(AppError::Internal("an import worker panicked".into()));
            }
        }
        if reader.join().is_err() {
            fatal.get_or_insert(AppError::Internal("the import reader panicked".into()));
        }
        if let Some(e) = fatal {
            return Err(e);
        }
        report.write_seconds = started.elapsed().as_secs_f64();

        progress.set_phase(Phase::CheckingReferences);
        let checking = Instant::now();
        // The check below, and every query after the load, is planned from statistics of what was loaded.
        self.store.refresh_statistics().await?;
        report.dangling = self.store.dangling_links(start_seq, options.dangling_kept).await?;
        report.check_seconds = checking.elapsed().as_secs_f64();
        progress.set_phase(Phase::Done);
        Ok(report)
    }

    /// The one place where the caller's right to import will be checked (accounts and audit come later).
    fn authorize_bulk_import(&self) -> Result<(), AppError> {
        Ok(())
    }

    /// Starts one unit without waiting for it, so that several units share a commit (SQLite) or run on
    /// several connections (PostgreSQL).
    async fn submit(
        &self,
        items: Vec<Item>,
        stamp: Writing,
        atomic: bool,
        seen: Option<Arc<Mutex<Seen>>>,
        keys: Keys,
        in_order: bool,
    ) -> InFlight<'_> {
        let unit = move |tx: &mut dyn Tx| write_unit(tx, items, &stamp, atomic, seen.as_deref());
        if !in_order {
            // A task of its own, so that the unit progresses (connects, waits for a connection, commits)
            // while the importer waits for others; a future polled once and parked would not.
            let store = self.store.clone();
            let task = tokio::spawn(async move { store.write(unit).await });
            let fut =
                Box::pin(
                    async move { task.await.unwrap_or_else(|e| Err(UnitFailure { error: AppError::Internal(Box::new(e)), items: Vec::new() })) },
                );
            return InFlight { state: UnitState::Pending(fut), atomic, keys };
        }
        let mut fut: Pin<Box<dyn Future<Output = UnitResult> + Send + '_>> = Box::pin(self.store.write(unit));
        // One poll hands the unit to the writer's queue (in submission order); the answer is awaited later.
        let mut ready = None;
        std::future::poll_fn(|cx| {
            if let Poll::Ready(r) = fut.as_mut().poll(cx) {
                ready = Some(r);
            }
            Poll::Ready(())
        })
        .await;
        let state = match ready {
            Some(r) => UnitState::Done(r),
            None => UnitState::Pending(fut),
        };
        InFlight { state, atomic, keys }
    }

    /// Waits for a unit and records what became of its items. A non-atomic unit that failed as a whole is
    /// retried one item per unit, so that one bad resource costs only itself.
    async fn settle(
        &self,
        unit: InFlight<'_>,
        report: &mut ImportReport,
        options: &ImportOptions,
        progress: &Progress,
        seen: &Option<Arc<Mutex<Seen>>>,
    ) -> Result<(), AppError> {
        let atomic = unit.atomic;
        let result = match unit.state {
            UnitState::Done(r) => r,
            UnitState::Pending(fut) => fut.await,
        };
        let written = match result {
            Ok(w) => w,
            Err(UnitFailure { error, items }) => {
                if matches!(error, AppError::Unavailable(_)) {
                    return Err(error);
                }
                let mut all = Vec::with_capacity(items.len());
                if atomic || items.len() <= 1 {
                    let message = describe(&error);
                    for item in items {
                        all.push(Written { resource_type: item.resource_type, origin: item.origin, outcome: Outcome::Failed(message.clone()) });
                    }
                } else {
                    tracing::warn!(items = items.len(), "an import unit failed; retrying its resources one by one");
                    for item in items {
                        let (t, o) = (item.resource_type.clone(), item.origin.clone());
                        let stamp = self.import_stamp();
                        let seen = seen.clone();
                        match self.store.write(move |tx| write_unit(tx, vec![item], &stamp, false, seen.as_deref())).await {
                            Ok(w) => all.extend(w),
                            Err(UnitFailure { error: AppError::Unavailable(m), .. }) => return Err(AppError::Unavailable(m)),
                            Err(f) => all.push(Written { resource_type: t, origin: o, outcome: Outcome::Failed(describe(&f.error)) }),
                        }
                    }
                }
                all
            }
        };
        for w in written {
            progress.resources_done.fetch_add(1, Ordering::Relaxed);
            let c = report.count(&w.resource_type);
            match w.outcome {
                Outcome::Created => c.created += 1,
                Outcome::Updated => c.updated += 1,
                Outcome::Unchanged => c.unchanged += 1,
                Outcome::Failed(message) => {
                    progress.failed.fetch_add(1, Ordering::Relaxed);
                    let f = w.origin.failure(Some(&w.resource_type), message);
                    report.fail(f, options.failures_kept);
                }
            }
        }
        Ok(())
    }
}

struct InFlight<'a> {
    state: UnitState<'a>,
    atomic: bool,
    keys: Keys,
}

enum UnitState<'a> {
    Pending(Pin<Box<dyn Future<Output = UnitResult> + Send + 'a>>),
    Done(UnitResult),
}

/// What a unit may touch, for running units side by side where they commit in no set order.
enum Keys {
    /// Only these resources (`Type/id`), each by its id (given or new).
    Independent(HashSet<String>),
    /// It resolves identities or references by search, or is a Bundle written whole: it runs alone.
    Alone,
}

impl Keys {
    fn of(items: &[Item], atomic: bool) -> Keys {
        let mut keys = HashSet::with_capacity(items.len());
        for item in items {
            if atomic || item.conditional || matches!(item.identity, Identity::ByIdentifier(_)) {
                return Keys::Alone;
            }
            keys.insert(format!("{}/{}", item.resource_type, item.id));
        }
        Keys::Independent(keys)
    }
}

impl InFlight<'_> {
    /// Whether a unit with `other` keys may run beside this one.
    fn independent_of(&self, other: &Keys) -> bool {
        match (&self.keys, other) {
            (Keys::Independent(a), Keys::Independent(b)) => a.is_disjoint(b),
            _ => false,
        }
    }
}

// ---- reading: one thread cuts the files into batches ----

fn read_sources(sources: Vec<Source>, batch_size: usize, work: &mpsc::SyncSender<Work>, progress: &Progress, mut clock: Clock) {
    let mut seq = 0u64;
    let send = |w: Work| work.send(w).is_ok();
    for s in sources {
        let file: Arc<Path> = Arc::from(s.path.as_path());
        match s.kind {
            SourceKind::Json => {
                if !send(Work::Document { seq, file, stamp: clock.now() }) {
                    return;
                }
                seq += 1;
            }
            SourceKind::Ndjson => {
                let opened = std::fs::File::open(&s.path);
                let mut reader = match opened {
                    Ok(f) => BufReader::with_capacity(1 << 20, f),
                    Err(e) => {
                        let failure = Origin { file, line: None, entry: None }.failure(None, format!("cannot open the file: {e}"));
                        if !send(Work::Failed { seq, failure }) {
                            return;
                        }
                        seq += 1;
                        continue;
                    }
                };
                let file_type = source::type_of_name(&s.path).map(str::to_owned);
                let mut buf = Vec::new();
                let mut lines = Vec::with_capacity(batch_size);
                let mut number = 0u64;
                loop {
                    match source::next_line(&mut reader, &mut buf) {
                        Ok(Some((line, bytes))) => {
                            number += 1;
                            progress.bytes_read.fetch_add(bytes, Ordering::Relaxed);
                            if matches!(&line, Line::Text(t) if t.trim().is_empty()) {
                                continue;
                            }
                            lines.push((number, line));
                            if lines.len() >= batch_size {
                                let batch = std::mem::replace(&mut lines, Vec::with_capacity(batch_size));
                                let w = Work::Lines { seq, file: file.clone(), file_type: file_type.clone(), lines: batch, stamp: clock.now() };
                                if !send(w) {
                                    return;
                                }
                                seq += 1;
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            let failure = Origin { file: file.clone(), line: Some(number + 1), entry: None }
                                .failure(file_type.as_deref(), format!("cannot read the file: {e}"));
                            if !send(Work::Failed { seq, failure }) {
                                return;
                            }
                            seq += 1;
                            break;
                        }
                    }
                }
                if !lines.is_empty() {
                    if !send(Work::Lines { seq, file, file_type, lines, stamp: clock.now() }) {
                        return;
                    }
                    seq += 1;
                }
            }
        }
    }
}

/// Instants that never go backwards, so that `lastUpdated` follows the order of writing: what each batch
/// is stamped with.
struct Clock {
    last: String,
    sensitive: Arc<crate::access::SensitiveCodes>,
    cohorts: Arc<care::cohorts::Cohorts>,
}

impl Clock {
    fn now(&mut self) -> Writing {
        let now = instant::now();
        if now > self.last {
            self.last = now;
        }
        Writing { now: self.last.clone(), source: None, sensitive: self.sensitive.clone(), cohorts: Some(self.cohorts.clone()) }
    }
}

// ---- preparing: worker threads parse, validate and index ----

fn work(rx: &Mutex<mpsc::Receiver<Work>>, tx: &tokio::sync::mpsc::Sender<Batch>, progress: &Progress) {
    loop {
        let next = match rx.lock() {
            Ok(r) => r.recv(),
            Err(_) => return,
        };
        let Ok(w) = next else { return };
        let batch = match w {
            Work::Lines { seq, file, file_type, lines, stamp } => prepare_lines(seq, &file, file_type.as_deref(), lines, stamp),
            Work::Document { seq, file, stamp } => prepare_document(seq, &file, stamp, progress),
            Work::Failed { seq, failure } => {
                Batch { seq, atomic: false, items: Vec::new(), read: Vec::new(), failures: vec![failure], skipped: None, stamp: Writing::default() }
            }
        };
        if tx.blocking_send(batch).is_err() {
            return;
        }
    }
}

fn prepare_lines(seq: u64, file: &Arc<Path>, file_type: Option<&str>, lines: Vec<(u64, Line)>, stamp: Writing) -> Batch {
    let mut batch =
        Batch { seq, atomic: false, items: Vec::with_capacity(lines.len()), failures: Vec::new(), read: Vec::new(), skipped: None, stamp };
    let mut read: HashMap<String, u64> = HashMap::new();
    for (number, line) in lines {
        let origin = Origin { file: file.clone(), line: Some(number), entry: None };
        let text = match line {
            Line::Text(t) => t,
            Line::Bad(message) => {
                *read.entry(file_type.unwrap_or(UNKNOWN_TYPE).to_owned()).or_default() += 1;
                batch.failures.push(origin.failure(file_type, message));
                continue;
            }
        };
        let value: Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => {
                *read.entry(file_type.unwrap_or(UNKNOWN_TYPE).to_owned()).or_default() += 1;
                batch.failures.push(origin.failure(file_type, format!("not valid JSON: {e}")));
                continue;
            }
        };
        drop(text);
        let resource_type = match value.get("resourceType").and_then(Value::as_str) {
            Some(t) if fhir::definitions::is_resource_type(t) => t.to_owned(),
            Some(t) => {
                *read.entry(UNKNOWN_TYPE.to_owned()).or_default() += 1;
                batch.failures.push(origin.failure(None, format!("'{t}' is not a FHIR R4 resource type")));
                continue;
            }
            None => {
                *read.entry(file_type.unwrap_or(UNKNOWN_TYPE).to_owned()).or_default() += 1;
                batch.failures.push(origin.failure(file_type, "the line is not a FHIR resource: it has no resourceType"));
                continue;
            }
        };
        *read.entry(resource_type.clone()).or_default() += 1;
        match prepare_item(value, &resource_type, None, origin.clone(), &batch.stamp) {
            Ok(item) => batch.items.push(item),
            Err(message) => batch.failures.push(origin.failure(Some(&resource_type), message)),
        }
    }
    batch.read = read.into_iter().collect();
    batch
}

/// Largest JSON document (Bundle) imported; Bundles are read whole.
const MAX_DOCUMENT: u64 = 2 * 1024 * 1024 * 1024;

fn prepare_document(seq: u64, file: &Arc<Path>, stamp: Writing, progress: &Progress) -> Batch {
    let mut batch = Batch { seq, atomic: true, items: Vec::new(), failures: Vec::new(), read: Vec::new(), skipped: None, stamp };
    let whole = Origin { file: file.clone(), line: None, entry: None };
    let text = match std::fs::metadata(file) {
        Ok(m) if m.len() > MAX_DOCUMENT => Err(format!("the file is larger than {MAX_DOCUMENT} bytes; split it or use NDJSON")),
        _ => std::fs::read(file).map_err(|e| format!("cannot read the file: {e}")),
    };
    let text = match text {
        Ok(t) => t,
        Err(message) => {
            batch.failures.push(whole.failure(None, message));
            return batch;
        }
    };
    progress.bytes_read.fetch_add(text.len() as u64, Ordering::Relaxed);
    let value: Value = match serde_json::from_slice(&text) {
        Ok(v) => v,
        Err(e) => {
            let at = Origin { line: Some(e.line() as u64), ..whole };
            batch.failures.push(at.failure(None, format!("not valid JSON: {e}")));
            return batch;
        }
    };
    drop(text);
    let resource_type = value.get("resourceType").and_then(Value::as_str).map(str::to_owned);
    match resource_type.as_deref() {
        Some("Bundle") => prepare_bundle(value, file, &mut batch),
        Some(t) if fhir::definitions::is_resource_type(t) => {
            batch.read.push((t.to_owned(), 1));
            match prepare_item(value, t, None, whole.clone(), &batch.stamp) {
                Ok(item) => batch.items.push(item),
                Err(message) => batch.failures.push(whole.failure(Some(t), message)),
            }
        }
        _ if value.get("transactionTime").is_some() && value.get("output").is_some() => {
            batch.skipped = Some(file.to_path_buf()); // a Bulk Data manifest
        }
        Some(t) => {
            batch.read.push((UNKNOWN_TYPE.to_owned(), 1));
            batch.failures.push(whole.failure(None, format!("'{t}' is not a FHIR R4 resource type")));
        }
        None => {
            batch.read.push((UNKNOWN_TYPE.to_owned(), 1));
            batch.failures.push(whole.failure(None, "the file is not a FHIR resource or Bundle: it has no resourceType"));
        }
    }
    batch
}

/// The entries of a Bundle (of any type) that carry a resource, with `fullUrl`s resolved to `Type/id`.
fn prepare_bundle(mut bundle: Value, file: &Arc<Path>, batch: &mut Batch) {
    let entries = match bundle.get_mut("entry").map(Value::take) {
        None => Vec::new(),
        Some(Value::Array(items)) => items,
        Some(_) => {
            batch.failures.push(Origin { file: file.clone(), line: None, entry: None }.failure(None, "Bundle.entry must be an array"));
            return;
        }
    };
    let mut read: HashMap<String, u64> = HashMap::new();
    // 1. Decide every entry's identity, so that references between entries can be rewritten.
    let mut decided: Vec<(Origin, String, Value, String, Identity)> = Vec::with_capacity(entries.len());
    let mut full_urls: HashMap<String, String> = HashMap::new();
    for (i, mut entry) in entries.into_iter().enumerate() {
        let origin = Origin { file: file.clone(), line: None, entry: Some(i) };
        let resource = entry.get_mut("resource").map(Value::take);
        let Some(resource) = resource.filter(Value::is_object) else {
            *read.entry(UNKNOWN_TYPE.to_owned()).or_default() += 1;
            batch.failures.push(origin.failure(None, "only entries that carry a resource are imported"));
            continue;
        };
        let Some(t) = resource.get("resourceType").and_then(Value::as_str).filter(|t| fhir::definitions::is_resource_type(t)).map(str::to_owned)
        else {
            *read.entry(UNKNOWN_TYPE.to_owned()).or_default() += 1;
            batch.failures.push(origin.failure(None, "the entry's resource has no known resourceType"));
            continue;
        };
        *read.entry(t.clone()).or_default() += 1;
        let url_id = entry
            .pointer("/request/url")
            .and_then(Value::as_str)
            .and_then(|u| u.split_once('/'))
            .filter(|(rt, id)| *rt == t && fhir::id::is_valid_id(id))
            .map(|(_, id)| id.to_owned());
        let (id, identity) = match identity_of(&resource, &t, url_id) {
            Ok(x) => x,
            Err(message) => {
                batch.failures.push(origin.failure(Some(&t), message));
                continue;
            }
        };
        if let Some(u) = entry.get("fullUrl").and_then(Value::as_str) {
            full_urls.insert(u.to_owned(), format!("{t}/{id}"));
        }
        decided.push((origin, t, resource, id, identity));
    }
    // 2. Point references at the identities decided, then prepare each entry.
    for (origin, t, mut resource, id, identity) in decided {
        if !full_urls.is_empty() {
            reference::for_each_reference_mut(&mut resource, &mut |s| {
                if let Some(to) = full_urls.get(s.as_str()) {
                    *s = to.clone();
                }
            });
        }
        match prepare_with(resource, &t, id, identity, origin.clone(), &batch.stamp) {
            Ok(item) => batch.items.push(item),
            Err(message) => batch.failures.push(origin.failure(Some(&t), message)),
        }
    }
    batch.read.extend(read);
}

/// Validates and prepares one resource as version 1, stamped with `stamp`.
fn prepare_item(value: Value, resource_type: &str, url_id: Option<String>, origin: Origin, stamp: &Writing) -> Result<Item, String> {
    let (id, identity) = identity_of(&value, resource_type, url_id)?;
    prepare_with(value, resource_type, id, identity, origin, stamp)
}

fn prepare_with(value: Value, resource_type: &str, id: String, identity: Identity, origin: Origin, stamp: &Writing) -> Result<Item, String> {
    prepare::check(&value, resource_type).map_err(|e| describe(&e))?;
    let conditional = reference::references(&value).iter().any(|r| matches!(reference::parse(r, None), Target::Conditional { .. }));
    let prepared = prepare::version_of(value, &id, 1, stamp).map_err(|e| describe(&e))?;
    Ok(Item { origin, resource_type: resource_type.to_owned(), id, identity, prepared, conditional })
}

/// The id a resource is imported under, and how it was decided.
fn identity_of(value: &Value, resource_type: &str, url_id: Option<String>) -> Result<(String, Identity), String> {
    match value.get("id") {
        Some(Value::String(id)) if fhir::id::is_valid_id(id) => return Ok((id.clone(), Identity::Given)),
        Some(Value::String(id)) => return Err(format!("'{id}' is not a valid resource id")),
        Some(_) => return Err("the resource's id must be a string".into()),
        None => {}
    }
    if let Some(id) = url_id {
        return Ok((id, Identity::Given));
    }
    match first_identifier(value, resource_type) {
        Some(criteria) => Ok((record::new_id(), Identity::ByIdentifier(criteria))),
        None => Ok((record::new_id(), Identity::New)),
    }
}

/// The first identifier of a resource as a conditional criterion (`identifier=system|value`).
fn first_identifier(value: &Value, resource_type: &str) -> Option<Vec<TokenCriterion>> {
    if !fhir::index::has_identifier(resource_type) {
        return None;
    }
    let first = match value.get("identifier")? {
        Value::Array(items) => items.first()?,
        one @ Value::Object(_) => one,
        _ => return None,
    };
    let code = first.get("value")?.as_str()?.to_owned();
    let system = first.get("system").and_then(Value::as_str).map(str::to_owned);
    Some(vec![TokenCriterion { param: "identifier".into(), system: Some(system), code }])
}

/// One line for a report, from an error's issues or message.
fn describe(e: &AppError) -> String {
    match e {
        AppError::BadRequest(issues) | AppError::Unprocessable(issues) => {
            let mut parts: Vec<String> = issues
                .iter()
                .take(3)
                .map(|i| match i.expression.first() {
                    Some(at) => format!("{at}: {}", i.diagnostics),
                    None => i.diagnostics.clone(),
                })
                .collect();
            if issues.len() > 3 {
                parts.push(format!("and {} more", issues.len() - 3));
            }
            parts.join("; ")
        }
        AppError::Internal(_) => "an internal error occurred; it has been logged".into(),
        other => other.to_string(),
    }
}

// ---- writing: one unit per batch, on the store's writer ----

fn write_unit(tx: &mut dyn Tx, mut items: Vec<Item>, stamp: &Writing, atomic: bool, seen: Option<&Mutex<Seen>>) -> UnitResult {
    let mut failed: Vec<Option<String>> = vec![None; items.len()];
    // 1. Identities by identifier; several items with the same identifier become one resource.
    let mut renamed: HashMap<String, String> = HashMap::new(); // "Type/provisional" -> "Type/matched"
    let mut claimed: HashMap<(String, Option<String>, String), String> = HashMap::new();
    for n in 0..items.len() {
        let Identity::ByIdentifier(criteria) = &items[n].identity else { continue };
        let t = items[n].resource_type.clone();
        let key = criteria.first().map(|c| (t.clone(), c.system.clone().flatten(), c.code.clone()));
        let matched = match key.as_ref().and_then(|k| claimed.get(k)) {
            Some(id) => Some(id.clone()),
            None => match tx.find(&t, criteria, 2) {
                Ok(found) if found.len() > 1 => {
                    failed[n] = Some("the resource's first identifier matches more than one stored resource".into());
                    continue;
                }
                Ok(found) => found.into_iter().next(),
                Err(e) => return Err(UnitFailure { error: e.into(), items }),
            },
        };
        let item = &mut items[n];
        match matched {
            Some(id) if id != item.id => {
                renamed.insert(format!("{t}/{}", item.id), format!("{t}/{id}"));
                item.id = id;
                item.conditional = true; // prepared again under its new id
            }
            Some(_) => {}
            None => {
                if let Some(k) = key {
                    claimed.insert(k, item.id.clone());
                }
            }
        }
    }
    // 2. Prepare again what changed: a new id, a reference to a renamed entry, conditional references.
    for n in 0..items.len() {
        if failed[n].is_some() {
            continue;
        }
        let item = &mut items[n];
        let points_at_renamed = !renamed.is_empty() && item.prepared.links.iter().any(|(t, i)| renamed.contains_key(&format!("{t}/{i}")));
        if !item.conditional && !points_at_renamed {
            continue;
        }
        match reprepare(tx, item, &renamed, stamp) {
            Ok(()) => {}
            Err(e @ (AppError::Unavailable(_) | AppError::Internal(_))) => return Err(UnitFailure { error: e, items }),
            Err(e) => failed[n] = Some(describe(&e)),
        }
    }
    // 3. Write. A store error fails the whole unit (nothing of it is kept); the caller decides whether to
    //    retry its items one by one (never for a Bundle, which is written whole or not at all).
    let _ = atomic;
    let mut outcomes = Vec::with_capacity(items.len());
    for n in 0..items.len() {
        let outcome = match failed[n].take() {
            Some(message) => Outcome::Failed(message),
            None => match write_item(tx, &items[n], &stamp.now, seen) {
                Ok(o) => o,
                Err(e) => return Err(UnitFailure { error: e, items }),
            },
        };
        outcomes.push(outcome);
    }
    Ok(outcomes.into_iter().zip(items).map(|(outcome, item)| Written { resource_type: item.resource_type, origin: item.origin, outcome }).collect())
}

/// Prepares an item again on the writer: under its decided id, with renamed and conditional references resolved.
fn reprepare(tx: &mut dyn Tx, item: &mut Item, renamed: &HashMap<String, String>, stamp: &Writing) -> Result<(), AppError> {
    let mut value: Value = serde_json::from_str(&item.prepared.body).map_err(|e| AppError::Internal(Box::new(e)))?;
    if !renamed.is_empty() {
        reference::for_each_reference_mut(&mut value, &mut |s| {
            if let Some(to) = renamed.get(s.as_str()) {
                *s = to.clone();
            }
        });
    }
    if item.conditional {
        bundle::resolve_conditionals(tx, &mut value, &item.resource_type)?;
    }
    item.prepared = prepare::version_of(value, &item.id, 1, stamp)?;
    Ok(())
}

fn write_item(tx: &mut dyn Tx, item: &Item, stamp: &str, seen: Option<&Mutex<Seen>>) -> Result<Outcome, AppError> {
    let (t, id) = (item.resource_type.as_str(), item.id.as_str());
    let first_method = match item.identity {
        Identity::Given => Method::Put,
        _ => Method::Post,
    };
    let surely_new = match seen.map(Mutex::lock) {
        Some(Ok(mut filter)) => filter.insert(t, id),
        _ => false,
    };
    let current = if surely_new { None } else { tx.current(t, id)? };
    let Some(current) = current else {
        tx.put(item.prepared.new_version(t, id, 1, first_method, stamp))?;
        return Ok(Outcome::Created);
    };
    if !current.deleted && current.body.as_deref().is_some_and(|b| same_content(b, &item.prepared.body)) {
        return Ok(Outcome::Unchanged);
    }
    let version = current.version + 1;
    let body = restamp_version(&item.prepared.body, version)
        .ok_or_else(|| AppError::Internal("invariant: a prepared body starts with its server meta".into()))?;
    tx.put(NewVersion { version, body: Some(&body), ..item.prepared.new_version(t, id, version, Method::Put, stamp) })?;
    Ok(if current.deleted { Outcome::Created } else { Outcome::Updated })
}

/// A Bloom filter of the resources an import into an empty store has written: `insert` says whether the
/// resource is certainly new. False "maybe" answers only cost a look-up; there are no false "new" answers,
/// since every resource written is inserted first (a unit rolled back leaves extra bits, never missing ones).
#[derive(Debug)]
struct Seen {
    bits: Vec<u64>,
}

/// Hashes per key.
const SEEN_HASHES: u64 = 5;

/// About 20 bits per resource expected (one per ~650 bytes of input), between 8 and 256 million bits.
fn seen_bits(bytes: u64) -> usize {
    ((bytes / 32) as usize).clamp(8 << 20, 256 << 20)
}

impl Seen {
    fn with_bits(bits: usize) -> Seen {
        Seen { bits: vec![0; bits.div_ceil(64)] }
    }

    /// Adds `resource_type/id`; `true` if it was certainly not there before.
    fn insert(&mut self, resource_type: &str, id: &str) -> bool {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        resource_type.hash(&mut h);
        id.hash(&mut h);
        let hash = h.finish();
        let (h1, h2) = (hash & 0xffff_ffff, (hash >> 32) | 1);
        let size = (self.bits.len() * 64) as u64;
        let mut new = false;
        for i in 0..SEEN_HASHES {
            let bit = (h1.wrapping_add(i.wrapping_mul(h2))) % size;
            let (word, mask) = ((bit / 64) as usize, 1u64 << (bit % 64));
            if self.bits[word] & mask == 0 {
                new = true;
                self.bits[word] |= mask;
            }
        }
        new
    }
}

/// `prepare::stamp` writes `{"resourceType":…,"id":…,"meta":{"versionId":"N","lastUpdated":"T"…`; this
/// splits a body around those two server-owned values.
fn split_server_meta(body: &str) -> Option<(&str, &str)> {
    const KEY: &str = "\"meta\":{\"versionId\":\"";
    const UPDATED: &str = "\",\"lastUpdated\":\"";
    let start = body.find(KEY)? + KEY.len() - "\"versionId\":\"".len();
    let rest = &body[start..];
    let after_version = rest.find(UPDATED)? + UPDATED.len();
    let close = rest[after_version..].find('"')? + after_version + 1;
    Some((&body[..start], &rest[close..]))
}

/// Whether two stamped bodies are the same resource apart from `meta.versionId` and `meta.lastUpdated`.
fn same_content(stored: &str, new: &str) -> bool {
    match (split_server_meta(stored), split_server_meta(new)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// The body with its `meta.versionId` set to `version`.
fn restamp_version(body: &str, version: i64) -> Option<String> {
    const KEY: &str = "\"meta\":{\"versionId\":\"";
    let start = body.find(KEY)? + KEY.len();
    let end = body[start..].find('"')? + start;
    Some(format!("{}{version}{}", &body[..start], &body[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn server_meta_is_ignored_when_comparing() {
        let a = prepare::stamp(json!({"resourceType": "Patient", "id": "p", "gender": "male"}), "p", 1, "2026-01-01T00:00:00.000Z", None).to_string();
        let b = prepare::stamp(json!({"resourceType": "Patient", "gender": "male"}), "p", 7, "2027-05-01T10:00:00.000Z", None).to_string();
        let c = prepare::stamp(json!({"resourceType": "Patient", "gender": "female"}), "p", 1, "2026-01-01T00:00:00.000Z", None).to_string();
        let d = prepare::stamp(
            json!({"resourceType": "Patient", "meta": {"tag": [{"code": "x"}]}, "gender": "male"}),
            "p",
            1,
            "2026-01-01T00:00:00.000Z",
            None,
        )
        .to_string();
        assert!(same_content(&a, &b));
        assert!(!same_content(&a, &c));
        assert!(!same_content(&a, &d));
        assert_eq!(
            split_server_meta(&d).map(|(x, y)| format!("{x}|{y}")).as_deref(),
            Some(r#"{"resourceType":"Patient","id":"p","meta":{|,"tag":[{"code":"x"}]},"gender":"male"}"#)
        );
    }

    #[test]
    fn restamping_changes_only_the_version() {
        let a = prepare::stamp(json!({"resourceType": "Patient", "gender": "male"}), "p", 1, "2026-01-01T00:00:00.000Z", None).to_string();
        let b = restamp_version(&a, 12).expect("restamp");
        assert_eq!(b, a.replace("\"versionId\":\"1\"", "\"versionId\":\"12\""));
    }

    #[test]
    fn the_seen_filter_never_calls_a_written_resource_new() {
        let mut seen = Seen::with_bits(1 << 16);
        let mut fresh = 0;
        for i in 0..5000 {
            if seen.insert("Observation", &format!("obs-{i}")) {
                fresh += 1;
            }
        }
        assert!(fresh > 4900, "few false maybes at this load: {fresh}");
        for i in 0..5000 {
            assert!(!seen.insert("Observation", &format!("obs-{i}")), "obs-{i}");
        }
    }

    #[test]
    fn first_identifiers_become_criteria() {
        let p = json!({"resourceType": "Patient", "identifier": [{"system": "s", "value": "v"}, {"value": "w"}]});
        let c = first_identifier(&p, "Patient").expect("criteria");
        assert_eq!(c, vec![TokenCriterion { param: "identifier".into(), system: Some(Some("s".into())), code: "v".into() }]);
        assert!(first_identifier(&json!({"resourceType": "Patient"}), "Patient").is_none());
    }
}
