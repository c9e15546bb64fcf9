//! FHIR Bulk Data export: system, Patient and Group level, with `_type` and `_since`, written as one NDJSON
//! file per resource type by streaming current versions from the store in write order. Asynchronous jobs
//! run in background tasks under `<data dir>/exports/<job>/`; a finished job's description is kept there
//! too, so its files stay downloadable after a restart. The command line runs the same export into a folder.

use crate::error::AppError;
use crate::{instant, Session};
use fhir::reference::{self, Target};
use fhir::IssueCode;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use store::{PersonScope, Scan, StoreError};

/// Whose data an export covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportLevel {
    /// `[base]/$export`: everything.
    System,
    /// `[base]/Patient/$export`: every resource in some Patient's compartment.
    Patient,
    /// `[base]/Group/[id]/$export`: the compartments of the Group's Patient members.
    Group(String),
}

/// A validated export request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRequest {
    pub level: ExportLevel,
    /// `_type`: only these types, in this order; `None` for every type present.
    pub types: Option<Vec<String>>,
    /// `_since`: only resources last updated at or after this instant (store format).
    pub since: Option<String>,
    /// The kick-off request URL, echoed in the manifest.
    pub request_url: String,
}

/// NDJSON formats `_outputFormat` may name.
const OUTPUT_FORMATS: &[&str] = &["application/fhir+ndjson", "application/ndjson", "ndjson"];

impl ExportRequest {
    /// Reads the kick-off parameters. Parameters this server does not implement are refused (400) rather
    /// than ignored, as the Bulk Data specification asks.
    pub fn from_params(level: ExportLevel, params: &[(String, String)], request_url: impl Into<String>) -> Result<ExportRequest, AppError> {
        let bad = |code, msg: String, at: &str| AppError::bad_request(code, msg, Some(at));
        let mut types: Option<Vec<String>> = None;
        let mut since = None;
        for (name, value) in params {
            match name.as_str() {
                "_outputFormat" => {
                    if !OUTPUT_FORMATS.contains(&value.as_str()) {
                        return Err(bad(
                            IssueCode::NotSupported,
                            format!("_outputFormat '{value}' is not supported; use application/fhir+ndjson"),
                            "_outputFormat",
                        ));
                    }
                }
                "_type" => {
                    let list = types.get_or_insert_with(Vec::new);
                    for t in value.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                        if !fhir::definitions::is_resource_type(t) {
                            return Err(bad(IssueCode::Value, format!("_type: '{t}' is not a FHIR R4 resource type"), "_type"));
                        }
                        if !list.iter().any(|x| x == t) {
                            list.push(t.to_owned());
                        }
                    }
                }
                "_since" => {
                    let parsed = instant::parse_lower_bound(value)
                        .ok_or_else(|| bad(IssueCode::Value, format!("_since '{value}' is not a valid instant"), "_since"))?;
                    since = Some(parsed);
                }
                "_format" => {}
                other => {
                    return Err(bad(
                        IssueCode::NotSupported,
                        format!("the export parameter '{other}' is not supported (supported: _type, _since, _outputFormat)"),
                        other,
                    ));
                }
            }
        }
        Ok(ExportRequest { level, types, since, request_url: request_url.into() })
    }
}

/// One file of a finished export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportOutput {
    pub resource_type: String,
    pub count: u64,
    /// The file's name in the export folder.
    pub file: String,
    pub bytes: u64,
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportSummary {
    pub transaction_time: String,
    pub outputs: Vec<ExportOutput>,
    pub resources: u64,
    pub bytes: u64,
    pub seconds: f64,
}

/// A finished job as the status endpoint shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportManifest {
    pub transaction_time: String,
    pub request: String,
    pub outputs: Vec<ExportOutput>,
}

impl ExportManifest {
    /// The Bulk Data manifest, with file URLs under `base_url`.
    pub fn to_json(&self, base_url: &str, job: &str) -> Value {
        let output: Vec<Value> = self
            .outputs
            .iter()
            .map(|o| json!({ "type": o.resource_type, "url": format!("{base_url}/$export-file/{job}/{}", o.file), "count": o.count }))
            .collect();
        json!({
            "transactionTime": self.transaction_time,
            "request": self.request,
            "requiresAccessToken": false,
            "output": output,
            "error": [],
        })
    }

    fn to_record(&self) -> Value {
        let outputs: Vec<Value> =
            self.outputs.iter().map(|o| json!({ "type": o.resource_type, "count": o.count, "file": o.file, "bytes": o.bytes })).collect();
        json!({ "transactionTime": self.transaction_time, "request": self.request, "output": outputs })
    }

    fn from_record(v: &Value) -> Option<ExportManifest> {
        let outputs = v
            .get("output")?
            .as_array()?
            .iter()
            .map(|o| {
                Some(ExportOutput {
                    resource_type: o.get("type")?.as_str()?.to_owned(),
                    count: o.get("count")?.as_u64()?,
                    file: o.get("file")?.as_str()?.to_owned(),
                    bytes: o.get("bytes").and_then(Value::as_u64).unwrap_or(0),
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(ExportManifest {
            transaction_time: v.get("transactionTime")?.as_str()?.to_owned(),
            request: v.get("request")?.as_str()?.to_owned(),
            outputs,
        })
    }
}

/// Where a job stands.
#[derive(Debug, Clone, PartialEq)]
pub enum ExportStatus {
    /// Still running: a line for `X-Progress`.
    InProgress(String),
    Complete(ExportManifest),
    /// Failed; the reason is logged, the client sees only that it failed.
    Failed,
}

/// The export jobs of this server.
#[derive(Debug)]
pub struct ExportJobs {
    dir: Option<PathBuf>,
    running: Mutex<HashMap<String, Arc<Job>>>,
}

#[derive(Debug, Default)]
struct Job {
    cancelled: AtomicBool,
    done: AtomicU64,
    expected: AtomicU64,
    state: Mutex<JobState>,
}

#[derive(Debug, Default)]
enum JobState {
    #[default]
    Running,
    Complete(ExportManifest),
    Failed,
}

/// The file a job keeps its description in, beside its NDJSON files.
const JOB_RECORD: &str = "job.json";

impl ExportJobs {
    /// Jobs kept under `dir` (`None`: this server cannot run asynchronous exports).
    pub fn new(dir: Option<PathBuf>) -> ExportJobs {
        ExportJobs { dir, running: Mutex::new(HashMap::new()) }
    }

    fn job_dir(&self, job: &str) -> Result<PathBuf, AppError> {
        let dir = self.dir.as_ref().ok_or_else(|| AppError::NotFound("bulk export is not available on this server".into()))?;
        if !is_job_id(job) {
            return Err(unknown_job(job));
        }
        Ok(dir.join(job))
    }

    fn get(&self, job: &str) -> Option<Arc<Job>> {
        self.running.lock().ok()?.get(job).cloned()
    }
}

fn is_job_id(s: &str) -> bool {
    s.len() == 36 && s.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

fn is_file_name(s: &str) -> bool {
    s.strip_suffix(".ndjson").is_some_and(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphabetic()))
}

fn unknown_job(job: &str) -> AppError {
    let shown: String = job.chars().take(64).collect();
    AppError::NotFound(format!("there is no export job '{shown}'"))
}

/// Why an export could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    App(#[from] AppError),
    #[error("cannot write {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the export was cancelled")]
    Cancelled,
}

impl From<StoreError> for ExportError {
    fn from(e: StoreError) -> Self {
        ExportError::App(e.into())
    }
}

/// Rows read per chunk of a scan.
const CHUNK: usize = 5_000;

impl Session {
    /// The one place where the caller's right to export is checked: bulk export moves whole records
    /// without a relationship to each person, so only a trusted integration system may start, watch or
    /// download one.
    fn authorize_export(&self, _request: Option<&ExportRequest>) -> Result<(), AppError> {
        if self.is_system() {
            Ok(())
        } else {
            Err(AppError::Forbidden("bulk export is for integration systems (a system/ token)".into()))
        }
    }

    /// Starts an asynchronous export and returns its job id; the files are written by a background task.
    pub async fn export_kickoff(&self, request: ExportRequest) -> Result<String, AppError> {
        self.authorize_export(Some(&request))?;
        let persons = self.export_persons(&request.level).await?;
        let job = uuid::Uuid::new_v4().to_string();
        let dir = self.exports.job_dir(&job)?;
        std::fs::create_dir_all(&dir).map_err(|e| {
            tracing::error!(error = %e, "cannot create an export folder");
            AppError::Unavailable("cannot create the export folder".into())
        })?;
        let state = Arc::new(Job::default());
        self.exports.running.lock().map_err(|_| poisoned())?.insert(job.clone(), state.clone());
        let app = self.clone();
        let job_id = job.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let outcome = app.write_export(&request, persons, &dir, &state.cancelled, &state.done, &state.expected).await;
            let cancelled = state.cancelled.load(Ordering::Relaxed);
            // The job's work is accounted for before its files may be fetched: no event, no files.
            let outcome = match outcome {
                Ok((summary, people)) if !cancelled => match app.audit_export(&request, &job_id, people, 200).await {
                    Ok(()) => Ok(summary),
                    Err(e) => Err(ExportError::App(e)),
                },
                Ok((summary, _)) => Ok(summary),
                Err(ExportError::Cancelled) => Err(ExportError::Cancelled),
                Err(e) => {
                    if let Err(audit) = app.audit_export(&request, &job_id, Vec::new(), 500).await {
                        tracing::error!(error = %audit, "cannot record a failed export in the audit log");
                    }
                    Err(e)
                }
            };
            let next = match outcome {
                _ if cancelled => {
                    remove_dir(&dir);
                    None
                }
                Ok(summary) => {
                    let manifest =
                        ExportManifest { transaction_time: summary.transaction_time, request: request.request_url.clone(), outputs: summary.outputs };
                    match std::fs::write(dir.join(JOB_RECORD), manifest.to_record().to_string()) {
                        Ok(()) => {
                            tracing::info!(resources = summary.resources, seconds = started.elapsed().as_secs_f64(), "export finished");
                            Some(JobState::Complete(manifest))
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "cannot record a finished export");
                            Some(JobState::Failed)
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "export failed");
                    Some(JobState::Failed)
                }
            };
            if let Ok(mut running) = app.exports.running.lock() {
                match next {
                    Some(s) => {
                        if let Ok(mut st) = state.state.lock() {
                            *st = s;
                        }
                    }
                    None => {
                        running.remove(&job_id);
                    }
                }
            }
            // A cancellation that arrived while the job was recording its end.
            if state.cancelled.load(Ordering::Relaxed) {
                remove_dir(&dir);
            }
        });
        Ok(job)
    }

    /// Where a job stands. Unknown jobs are 404.
    pub async fn export_status(&self, job: &str) -> Result<ExportStatus, AppError> {
        self.authorize_export(None)?;
        if let Some(state) = self.exports.get(job) {
            let st = state.state.lock().map_err(|_| poisoned())?;
            return Ok(match &*st {
                JobState::Running => {
                    let (done, expected) = (state.done.load(Ordering::Relaxed), state.expected.load(Ordering::Relaxed));
                    ExportStatus::InProgress(format!("{done} of about {expected} resources exported"))
                }
                JobState::Complete(m) => ExportStatus::Complete(m.clone()),
                JobState::Failed => ExportStatus::Failed,
            });
        }
        // A job finished before this process started.
        let record = self.exports.job_dir(job)?.join(JOB_RECORD);
        let text = std::fs::read_to_string(&record).map_err(|_| unknown_job(job))?;
        let value: Value = serde_json::from_str(&text).map_err(|_| unknown_job(job))?;
        ExportManifest::from_record(&value).map(ExportStatus::Complete).ok_or_else(|| unknown_job(job))
    }

    /// Cancels a running job, or deletes a finished one, with its files.
    pub async fn export_cancel(&self, job: &str) -> Result<(), AppError> {
        self.authorize_export(None)?;
        let dir = self.exports.job_dir(job)?;
        if let Some(state) = self.exports.get(job) {
            state.cancelled.store(true, Ordering::Relaxed);
            let running = matches!(*state.state.lock().map_err(|_| poisoned())?, JobState::Running);
            self.exports.running.lock().map_err(|_| poisoned())?.remove(job);
            if !running {
                remove_dir(&dir);
            }
            return Ok(());
        }
        if dir.join(JOB_RECORD).is_file() {
            remove_dir(&dir);
            return Ok(());
        }
        Err(unknown_job(job))
    }

    /// Opens one file of a finished job, with its length.
    pub async fn export_file(&self, job: &str, file: &str) -> Result<(std::fs::File, u64), AppError> {
        self.authorize_export(None)?;
        let missing = || {
            AppError::NotFound(format!(
                "export job '{}' has no file '{}'",
                job.chars().take(64).collect::<String>(),
                file.chars().take(64).collect::<String>()
            ))
        };
        match self.export_status(job).await? {
            ExportStatus::Complete(m) if m.outputs.iter().any(|o| o.file == file) => {}
            _ => return Err(missing()),
        }
        if !is_file_name(file) {
            return Err(missing());
        }
        let path = self.exports.job_dir(job)?.join(file);
        let f = std::fs::File::open(&path).map_err(|_| missing())?;
        let len = f.metadata().map_err(|e| AppError::Internal(Box::new(e)))?.len();
        Ok((f, len))
    }

    /// Runs an export into `dir` (created if needed) and waits for it: the command line's export.
    pub async fn export_to_dir(&self, request: &ExportRequest, dir: &Path, progress: Option<Arc<AtomicU64>>) -> Result<ExportSummary, ExportError> {
        self.authorize_export(Some(request))?;
        let persons = self.export_persons(&request.level).await?;
        std::fs::create_dir_all(dir).map_err(|source| ExportError::Io { path: dir.to_path_buf(), source })?;
        let done = progress.unwrap_or_default();
        let (summary, people) = self.write_export(request, persons, dir, &AtomicBool::new(false), &done, &AtomicU64::new(0)).await?;
        if let Err(e) = self.audit_export(request, "command-line", people, 200).await {
            // Unaccounted files do not stay.
            for o in &summary.outputs {
                let _ = std::fs::remove_file(dir.join(&o.file));
            }
            return Err(ExportError::App(e));
        }
        let manifest = ExportManifest {
            transaction_time: summary.transaction_time.clone(),
            request: request.request_url.clone(),
            outputs: summary.outputs.clone(),
        };
        let path = dir.join(JOB_RECORD);
        std::fs::write(&path, manifest.to_record().to_string()).map_err(|source| ExportError::Io { path, source })?;
        Ok(summary)
    }

    /// The person scope of an export level; a Group's Patient members (a missing Group is 404).
    async fn export_persons(&self, level: &ExportLevel) -> Result<PersonScope, AppError> {
        Ok(match level {
            ExportLevel::System => PersonScope::All,
            ExportLevel::Patient => PersonScope::AnyPerson,
            ExportLevel::Group(id) => {
                if let Some(members) = self.kept_group_members(id).await? {
                    return Ok(PersonScope::Persons(Arc::new(members.into_iter().map(|m| m.person).collect())));
                }
                let group = self.read("Group", id).await?;
                let body: Value = serde_json::from_str(group.body.as_deref().unwrap_or("{}")).map_err(|e| AppError::Internal(Box::new(e)))?;
                let mut members = HashSet::new();
                for m in body.get("member").and_then(Value::as_array).into_iter().flatten() {
                    let Some(r) = m.pointer("/entity/reference").and_then(Value::as_str) else { continue };
                    if let Target::Local { resource_type: "Patient", id, .. } = reference::parse(r, Some(&self.config.base_url)) {
                        members.insert(id.to_owned());
                    }
                }
                PersonScope::Persons(Arc::new(members))
            }
        })
    }

    /// Records an export's work: the people whose records it wrote out (the kick-off's own event lists none:
    /// the job decides them as it runs).
    async fn audit_export(&self, request: &ExportRequest, job: &str, people: Vec<String>, status: u16) -> Result<(), AppError> {
        let query = format!("job={job}");
        let audit = crate::audit::RequestAudit { method: "JOB", path: &request.request_url, query: Some(&query), status };
        crate::App::audit_request(self, Some(self.caller()), &audit, people).await
    }

    /// Writes the files of an export; returns what was written and the people whose records it holds.
    async fn write_export(
        &self,
        request: &ExportRequest,
        persons: PersonScope,
        dir: &Path,
        cancelled: &AtomicBool,
        done: &AtomicU64,
        expected: &AtomicU64,
    ) -> Result<(ExportSummary, Vec<String>), ExportError> {
        let started = Instant::now();
        let mut people = HashSet::new();
        let transaction_time = instant::now();
        let present: HashMap<String, u64> = self.store.live_counts().await?.into_iter().collect();
        let types: Vec<String> = match &request.types {
            Some(list) => list.iter().filter(|t| present.contains_key(*t)).cloned().collect(),
            None => {
                let mut all: Vec<String> = present.keys().cloned().collect();
                all.sort();
                all
            }
        };
        expected.store(types.iter().map(|t| present.get(t).copied().unwrap_or(0)).sum(), Ordering::Relaxed);
        let mut outputs = Vec::new();
        for t in types {
            if cancelled.load(Ordering::Relaxed) {
                return Err(ExportError::Cancelled);
            }
            let name = format!("{t}.ndjson");
            let path = dir.join(&name);
            let file = std::fs::File::create(&path).map_err(|source| ExportError::Io { path: path.clone(), source })?;
            let mut out = NdjsonFile {
                path: path.clone(),
                writer: std::io::BufWriter::with_capacity(1 << 20, file),
                count: 0,
                bytes: 0,
                people: std::mem::take(&mut people),
            };
            let mut after_seq = 0;
            loop {
                let scan = Scan { resource_type: t.clone(), after_seq, limit: CHUNK, since: request.since.clone(), persons: persons.clone() };
                let (back, end) = self.store.scan_current(scan, out, |out: &mut NdjsonFile, row| out.line(row.body, row.person_key)).await?;
                out = back;
                done.fetch_add(end.matched as u64, Ordering::Relaxed);
                if end.visited < CHUNK {
                    break;
                }
                after_seq = end.last_seq;
                if cancelled.load(Ordering::Relaxed) {
                    return Err(ExportError::Cancelled);
                }
            }
            let (count, bytes) = (out.count, out.bytes);
            people = std::mem::take(&mut out.people);
            out.writer.flush().map_err(|source| ExportError::Io { path: path.clone(), source })?;
            drop(out);
            if count == 0 {
                let _ = std::fs::remove_file(&path);
                continue;
            }
            outputs.push(ExportOutput { resource_type: t, count, file: name, bytes });
        }
        let summary = ExportSummary {
            transaction_time,
            resources: outputs.iter().map(|o| o.count).sum(),
            bytes: outputs.iter().map(|o| o.bytes).sum(),
            outputs,
            seconds: started.elapsed().as_secs_f64(),
        };
        let mut people: Vec<String> = people.into_iter().collect();
        people.sort_unstable();
        Ok((summary, people))
    }
}

/// An NDJSON file being written by a scan.
struct NdjsonFile {
    path: PathBuf,
    writer: std::io::BufWriter<std::fs::File>,
    count: u64,
    bytes: u64,
    /// The people whose records the export has written so far (all its files).
    people: HashSet<String>,
}

impl NdjsonFile {
    fn line(&mut self, body: &str, person: Option<&str>) -> Result<(), ExportError> {
        if let Some(p) = person {
            if !self.people.contains(p) {
                self.people.insert(p.to_owned());
            }
        }
        let written = self.writer.write_all(body.as_bytes()).and_then(|()| self.writer.write_all(b"\n"));
        written.map_err(|source| ExportError::Io { path: self.path.clone(), source })?;
        self.count += 1;
        self.bytes += body.len() as u64 + 1;
        Ok(())
    }
}

fn remove_dir(dir: &Path) {
    if let Err(e) = std::fs::remove_dir_all(dir) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(error = %e, "cannot remove an export folder");
        }
    }
}

fn poisoned() -> AppError {
    AppError::Internal("an export lock was poisoned by a panic".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn kickoff_parameters() {
        let r = ExportRequest::from_params(
            ExportLevel::System,
            &params(&[("_type", "Patient,Observation"), ("_since", "2024-01-01T00:00:00Z"), ("_outputFormat", "application/fhir+ndjson")]),
            "u",
        )
        .expect("valid");
        assert_eq!(r.types, Some(vec!["Patient".to_owned(), "Observation".to_owned()]));
        assert_eq!(r.since.as_deref(), Some("2024-01-01T00:00:00.000Z"));
        assert!(ExportRequest::from_params(ExportLevel::System, &params(&[("_type", "Patient,Nope")]), "u").is_err());
        assert!(ExportRequest::from_params(ExportLevel::System, &params(&[("_outputFormat", "text/csv")]), "u").is_err());
        assert!(ExportRequest::from_params(ExportLevel::System, &params(&[("_since", "yesterday")]), "u").is_err());
        assert!(ExportRequest::from_params(ExportLevel::System, &params(&[("_typeFilter", "Patient?x=y")]), "u").is_err());
    }

    #[test]
    fn job_ids_and_file_names_cannot_escape_the_folder() {
        assert!(is_job_id("0b7c4c4e-5b1a-4a43-9b43-2f0e4f4f2f11"));
        assert!(!is_job_id("../../etc/passwd"));
        assert!(is_file_name("Patient.ndjson"));
        assert!(!is_file_name("../Patient.ndjson"));
        assert!(!is_file_name("job.json"));
    }
}
