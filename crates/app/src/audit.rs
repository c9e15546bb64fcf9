//! Every access accountable: one audit event per request that reaches the record (allowed or refused), naming
//! who asked, what, when, the outcome and the people whose records it touched, appended to the store's hash
//! chain before the answer leaves; and the chain's verification.
//!
//! Events are appended in batches by one task per process (group commit): a request waits for the batch that
//! holds its event, and if that append fails the request fails.

use crate::error::AppError;
use crate::session::Session;
use crate::App;
use care::access::Caller;
use care::audit::{Break, Verifier};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
pub use store::{AuditEntry, AuditRecord};
use tokio::sync::{mpsc, oneshot};

/// A build for measuring what auditing costs (feature `unaudited`): nothing is noted or appended.
pub const UNAUDITED: bool = cfg!(feature = "unaudited");

/// Most events appended in one transaction.
const BATCH: usize = 512;

/// How many times the appender yields to the other tasks of its thread before it takes a batch: under
/// load they are requests about to append, whose events then join it.
const GATHER_YIELDS: usize = 2;

/// The queue of events waiting for the appender, and the task that drains it; none for a store that gathers
/// concurrent appends into one transaction itself (SQLite's appender, run by the request that finds it idle),
/// which is given each event at once, one hand-off fewer.
pub(crate) struct Appender {
    queue: Option<mpsc::Sender<(AuditRecord, oneshot::Sender<Result<(), AppError>>)>>,
}

impl Appender {
    /// Starts the index by patient's task, and the appender's task where the store needs one.
    fn start(store: store::Store) -> Appender {
        tokio::spawn(index_by_patient(store.clone()));
        if store.gathers_audit_appends() {
            return Appender { queue: None };
        }
        let (queue, mut pending) = mpsc::channel::<(AuditRecord, oneshot::Sender<Result<(), AppError>>)>(BATCH * 8);
        tokio::spawn(async move {
            while let Some(first) = pending.recv().await {
                let mut batch = vec![first];
                for _ in 0..GATHER_YIELDS {
                    tokio::task::yield_now().await;
                }
                while batch.len() < BATCH {
                    match pending.try_recv() {
                        Ok(next) => batch.push(next),
                        Err(_) => break,
                    }
                }
                let (records, waiters): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
                let outcome = store.append_audit(records).await;
                for w in waiters {
                    let _ = w.send(match &outcome {
                        Ok(_) => Ok(()),
                        Err(e) => Err(AppError::Unavailable(format!("the audit log could not record this request: {e}"))),
                    });
                }
            }
        });
        Appender { queue: Some(queue) }
    }
}

/// Events indexed by patient in one transaction, and the pause once the index has caught up.
const INDEX_BATCH: usize = 10_000;
const INDEX_PAUSE: std::time::Duration = std::time::Duration::from_secs(1);

/// Keeps the log's index by patient current, in the background: never in an append, so that auditing a read
/// costs the read only its event (searches by patient scan the events the index has not reached yet).
async fn index_by_patient(store: store::Store) {
    loop {
        match store.index_audit(INDEX_BATCH).await {
            Ok(n) if n == INDEX_BATCH => continue,
            Ok(_) => tokio::time::sleep(INDEX_PAUSE).await,
            // The store was closed (the process is stopping): nothing to keep current any more.
            Err(_) if store.is_closed() => return,
            Err(e) => {
                tracing::warn!(error = %e, "the audit log's index by patient could not be brought up to date; trying again");
                tokio::time::sleep(INDEX_PAUSE * 5).await;
            }
        }
    }
}

/// What one request did, as its audit event says it.
#[derive(Debug, Clone)]
pub struct RequestAudit<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub status: u16,
}

/// The people whose records a session's request touched, noted as resources leave `app`, and the
/// break-glass grant the request made, if it made one.
#[derive(Debug, Default)]
pub(crate) struct Touched {
    seen: Mutex<Seen>,
    break_glass: Mutex<Option<Value>>,
    /// People whose records the request changed in a way their risk scores read.
    changed: Mutex<BTreeSet<String>>,
}

/// The people whose records a request touched, and the types of what of theirs it touched.
#[derive(Debug, Default)]
struct Seen {
    people: BTreeSet<String>,
    types: BTreeSet<String>,
}

impl Touched {
    pub(crate) fn note(&self, person_key: Option<&str>, resource_type: &str) {
        if UNAUDITED {
            return;
        }
        if let (Some(p), Ok(mut seen)) = (person_key, self.seen.lock()) {
            if !seen.people.contains(p) {
                seen.people.insert(p.to_owned());
            }
            if !seen.types.contains(resource_type) {
                seen.types.insert(resource_type.to_owned());
            }
        }
    }

    /// Notes many people at once, each touched in each of `types` (one lock for a whole-record scan).
    pub(crate) fn note_all<'a>(&self, people: impl IntoIterator<Item = &'a str>, types: &[&str]) {
        if UNAUDITED {
            return;
        }
        if let Ok(mut seen) = self.seen.lock() {
            let mut any = false;
            for p in people {
                any = true;
                if !seen.people.contains(p) {
                    seen.people.insert(p.to_owned());
                }
            }
            if any {
                seen.types.extend(types.iter().map(|t| (*t).to_owned()));
            }
        }
    }

    /// Notes that the request changed what `person`'s risk scores read.
    pub(crate) fn note_change(&self, person: &str) {
        if let Ok(mut set) = self.changed.lock() {
            if !set.contains(person) {
                set.insert(person.to_owned());
            }
        }
    }

    fn take_changed(&self) -> Vec<String> {
        self.changed.lock().map(|mut s| std::mem::take(&mut *s).into_iter().collect()).unwrap_or_default()
    }

    /// Notes the grant this request made: its event says so, with the reason and the end of the window.
    pub(crate) fn break_glass(&self, grant: &str, reason: &str, until: &str) {
        if let Ok(mut g) = self.break_glass.lock() {
            *g = Some(json!({ "grant": grant, "reason": reason, "until": until }));
        }
    }

    fn take(&self) -> (Vec<String>, Vec<String>, Option<Value>) {
        let seen = self.seen.lock().map(|mut s| std::mem::take(&mut *s)).unwrap_or_default();
        (seen.people.into_iter().collect(), seen.types.into_iter().collect(), self.break_glass.lock().ok().and_then(|mut g| g.take()))
    }
}

/// An event's body as it is stored and hashed (fields in this order; absent ones left out).
#[derive(serde::Serialize)]
struct EventBody<'a> {
    at: &'a str,
    agent: Agent<'a>,
    action: Action<'a>,
    /// `Patient/x` for each person touched.
    patients: Vec<String>,
    /// The resource types of what of theirs the request touched (a Group for a cohort's members, an
    /// AuditEvent for who looked).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    types: Vec<String>,
    outcome: u16,
    #[serde(rename = "breakGlass", skip_serializing_if = "Option::is_none")]
    break_glass: Option<Value>,
}

#[derive(serde::Serialize)]
struct Action<'a> {
    method: &'a str,
    path: &'a str,
    query: Option<&'a str>,
}

/// Who asked: `user` and `role` always (null without a valid token), and the references of what they act as.
#[derive(serde::Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct Agent<'a> {
    user: Option<&'a str>,
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    organisation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    practitioner_role: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    practitioner: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    related_person: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    patient: Option<String>,
}

fn agent(caller: Option<&Caller>) -> Agent<'_> {
    let Some(c) = caller else { return Agent::default() };
    let mut a = Agent { user: Some(c.user()), role: Some(c.role().code()), ..Agent::default() };
    match c {
        Caller::Staff(s) => {
            a.organisation = Some(format!("Organization/{}", s.organisation));
            a.practitioner_role = s.practitioner_role.as_ref().map(|r| format!("PractitionerRole/{r}"));
            a.practitioner = s.practitioner.as_ref().map(|p| format!("Practitioner/{p}"));
        }
        Caller::Person { patient, .. } => a.patient = Some(format!("Patient/{patient}")),
        Caller::Carer { related_person, patient, .. } => {
            a.related_person = Some(format!("RelatedPerson/{related_person}"));
            a.patient = Some(format!("Patient/{patient}"));
        }
        Caller::System { .. } => {}
    }
    a
}

impl App {
    fn appender(&self) -> &Appender {
        self.audit.get_or_init(|| Appender::start(self.store.clone()))
    }

    /// Appends one event and waits until it is in the log.
    async fn append_event(&self, record: AuditRecord) -> Result<(), AppError> {
        let Some(queue) = &self.appender().queue else {
            return match self.store.append_audit(vec![record]).await {
                Ok(_) => Ok(()),
                Err(e) => Err(AppError::Unavailable(format!("the audit log could not record this request: {e}"))),
            };
        };
        let (done, wait) = oneshot::channel();
        queue.send((record, done)).await.map_err(|_| AppError::Unavailable("the audit log is closed".into()))?;
        wait.await.map_err(|_| AppError::Unavailable("the audit log stopped before recording this request".into()))?
    }

    /// Records a request made by `caller` (`None`: no valid token) that touched the records of `patients`.
    pub async fn audit_request(&self, caller: Option<&Caller>, request: &RequestAudit<'_>, patients: Vec<String>) -> Result<(), AppError> {
        self.audit_event(caller, request, patients, Vec::new(), None).await
    }

    async fn audit_event(
        &self,
        caller: Option<&Caller>,
        request: &RequestAudit<'_>,
        patients: Vec<String>,
        types: Vec<String>,
        break_glass: Option<Value>,
    ) -> Result<(), AppError> {
        if UNAUDITED {
            return Ok(());
        }
        let now = self.config.clock.now();
        let at = crate::instant::from_millis(now.0).unwrap_or_default();
        let body = EventBody {
            at: &at,
            agent: agent(caller),
            action: Action { method: request.method, path: request.path, query: request.query },
            patients: patients.iter().map(|p| format!("Patient/{p}")).collect(),
            types,
            outcome: request.status,
            break_glass,
        };
        let body = serde_json::to_string(&body).map_err(|e| AppError::Internal(Box::new(e)))?;
        let record = AuditRecord {
            at_ms: now.0,
            username: caller.map(|c| c.user().to_owned()),
            organisation: caller.and_then(|c| c.organisation()).map(str::to_owned),
            outcome: i64::from(request.status),
            patients,
            body,
        };
        self.append_event(record).await
    }

    /// Records a command run at the command line (`import`, `export`, a token issued) with what it was given
    /// and its exit status: the command line's door to the record.
    pub async fn audit_command(&self, command: &str, given: &str, exit_status: u16) -> Result<(), AppError> {
        let caller = Caller::System { name: format!("joinery {command}") };
        let request = RequestAudit { method: "CLI", path: command, query: Some(given), status: exit_status };
        self.audit_request(Some(&caller), &request, Vec::new()).await
    }

    /// Opens the audit log (on SQLite its file, its schema brought up to date) before a request needs it: a
    /// migration of a large log (the index by patient rebuilt: 13 s for 12.7 million rows, measured) then
    /// delays start-up rather than holding the first requests.
    pub async fn open_audit_log(&self) -> Result<(), AppError> {
        self.store.audit_mark().await?;
        Ok(())
    }

    /// Up to `limit` events after `after`, in chain order (for privacy officers and the command line).
    pub async fn audit_log(&self, after: i64, limit: usize) -> Result<Vec<AuditEntry>, AppError> {
        Ok(self.store.audit_entries(after, limit).await?)
    }

    /// Walks the whole chain: the number of events when it is intact, or where it first breaks, including an
    /// event whose searchable columns disagree with its body.
    pub async fn verify_audit(&self) -> Result<Result<u64, Break>, AppError> {
        // The index by patient is checked up to the mark it had when the walk began: the events up to it, and
        // its rows for them, must name the same (patient, event) pairs (compared as counts and sums of hashes).
        let mark = self.store.audit_mark().await?;
        let (mut listed, mut listed_users) = (Digest::default(), Digest::default());
        let mut v = Verifier::default();
        let mut after = 0i64;
        loop {
            let page = self.store.audit_entries(after, 10_000).await?;
            let Some(last) = page.last().map(|e| e.seq) else { break };
            for e in &page {
                let seq = u64::try_from(e.seq).map_err(|_| AppError::Internal("a negative audit sequence number".into()))?;
                let Ok(hash) = <[u8; 32]>::try_from(e.hash.as_slice()) else { return Ok(Err(Break::Altered { seq })) };
                if let Err(b) = v.next(seq, e.record.body.as_bytes(), &hash) {
                    return Ok(Err(b));
                }
                if !columns_agree(&e.record) {
                    return Ok(Err(Break::Altered { seq }));
                }
                if e.seq <= mark {
                    for p in &e.record.patients {
                        listed.add(p, e.seq);
                    }
                    if let Some(user) = &e.record.username {
                        listed_users.add(user, e.seq);
                    }
                }
            }
            after = last;
        }
        let through = u64::try_from(mark).unwrap_or(0);
        if self.index_digest(store::AuditIndex::Patient, mark).await? != listed {
            return Ok(Err(Break::IndexDisagrees { through }));
        }
        if self.index_digest(store::AuditIndex::Agent, mark).await? != listed_users {
            return Ok(Err(Break::AgentIndexDisagrees { through }));
        }
        Ok(v.finish(None))
    }

    /// The summary of an index's rows for the events up to `mark`.
    async fn index_digest(&self, by: store::AuditIndex, mark: i64) -> Result<Digest, AppError> {
        let mut indexed = Digest::default();
        let mut from = None;
        loop {
            let page = self.store.audit_index_page(by, from.take(), mark, 10_000).await?;
            for (key, seq) in &page {
                indexed.add(key, *seq);
            }
            match page.into_iter().last() {
                Some(last) => from = Some(last),
                None => return Ok(indexed),
            }
        }
    }
}

/// An order-free summary of a set of (patient or user, event) pairs: how many, and the wrapping sum of their
/// hashes.
#[derive(Debug, Default, PartialEq, Eq)]
struct Digest {
    count: u64,
    sum: u64,
}

impl Digest {
    fn add(&mut self, key: &str, seq: i64) {
        use std::hash::{Hash, Hasher};
        let mut h = std::hash::DefaultHasher::new();
        (key, seq).hash(&mut h);
        self.count += 1;
        self.sum = self.sum.wrapping_add(h.finish());
    }
}

/// Whether the columns kept for searching say what the body says.
fn columns_agree(r: &AuditRecord) -> bool {
    let Ok(body) = serde_json::from_str::<Value>(&r.body) else { return false };
    let organisation = body["agent"]["organisation"].as_str().map(|o| o.trim_start_matches("Organization/"));
    let patients: Vec<&str> = body["patients"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let listed: Vec<String> = r.patients.iter().map(|p| format!("Patient/{p}")).collect();
    let at = chrono::DateTime::parse_from_rfc3339(body["at"].as_str().unwrap_or_default()).map(|t| t.timestamp_millis()).ok();
    body["agent"]["user"].as_str() == r.username.as_deref()
        && organisation == r.organisation.as_deref()
        && body["outcome"].as_i64() == Some(r.outcome)
        && at == Some(r.at_ms)
        && patients == listed.iter().map(String::as_str).collect::<Vec<_>>()
}

impl Session {
    /// Notes that a resource (of `resource_type`) of `person_key`'s record leaves `app` for this request.
    pub(crate) fn touch(&self, person_key: Option<&str>, resource_type: &str) {
        self.touched.note(person_key, resource_type);
    }

    /// Notes that resources of each of `types` of these people's records leave `app` for this request.
    pub(crate) fn touch_all<'a>(&self, people: impl IntoIterator<Item = &'a str>, types: &[&str]) {
        self.touched.note_all(people, types);
    }

    /// Records this session's request: who, what, the outcome and the people it touched. The answer must not
    /// leave unless this succeeds.
    /// Once it is recorded, the people whose records the request changed are re-scored in the background.
    pub async fn audit(&self, request: &RequestAudit<'_>) -> Result<(), AppError> {
        let (patients, types, break_glass) = self.touched.take();
        App::audit_event(self, Some(self.caller()), request, patients, types, break_glass).await?;
        let changed = self.touched.take_changed();
        if !changed.is_empty() {
            self.rescore_later(changed);
        }
        Ok(())
    }
}

/// A handle the session keeps to note what it touched.
pub(crate) type TouchedHandle = Arc<Touched>;
