//! Bulk Data NDJSON output: one `{Type}.ndjson` file per resource type, filled from chunks of people generated in parallel and written strictly in order, so that the bytes never depend on thread scheduling.

use crate::json_writer::{self, Object};
use crate::GenerateError;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

/// The resource types written, in the order the files are listed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub(crate) enum ResourceType {
    Organization,
    HealthcareService,
    Practitioner,
    PractitionerRole,
    Patient,
    RelatedPerson,
    EpisodeOfCare,
    Condition,
    MedicationRequest,
    Observation,
    Encounter,
    Appointment,
    CareTeam,
    Consent,
}

pub(crate) const RESOURCE_TYPES: usize = 14;

impl ResourceType {
    pub const ALL: [ResourceType; RESOURCE_TYPES] = [
        ResourceType::Organization,
        ResourceType::HealthcareService,
        ResourceType::Practitioner,
        ResourceType::PractitionerRole,
        ResourceType::Patient,
        ResourceType::RelatedPerson,
        ResourceType::EpisodeOfCare,
        ResourceType::Condition,
        ResourceType::MedicationRequest,
        ResourceType::Observation,
        ResourceType::Encounter,
        ResourceType::Appointment,
        ResourceType::CareTeam,
        ResourceType::Consent,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ResourceType::Organization => "Organization",
            ResourceType::HealthcareService => "HealthcareService",
            ResourceType::Practitioner => "Practitioner",
            ResourceType::PractitionerRole => "PractitionerRole",
            ResourceType::Patient => "Patient",
            ResourceType::RelatedPerson => "RelatedPerson",
            ResourceType::EpisodeOfCare => "EpisodeOfCare",
            ResourceType::Condition => "Condition",
            ResourceType::MedicationRequest => "MedicationRequest",
            ResourceType::Observation => "Observation",
            ResourceType::Encounter => "Encounter",
            ResourceType::Appointment => "Appointment",
            ResourceType::CareTeam => "CareTeam",
            ResourceType::Consent => "Consent",
        }
    }
}

/// The resources of a run of people (or of the provider network), one NDJSON buffer per type.
pub(crate) struct Chunk {
    buffers: [Vec<u8>; RESOURCE_TYPES],
    counts: [u64; RESOURCE_TYPES],
    pub people: u64,
    pub deceased: u64,
    pub without_nhs_number: u64,
}

impl Chunk {
    pub fn new() -> Chunk {
        Chunk { buffers: std::array::from_fn(|_| Vec::new()), counts: [0; RESOURCE_TYPES], people: 0, deceased: 0, without_nhs_number: 0 }
    }

    /// Appends one resource, written field by field after its `resourceType`, as a line of compact JSON.
    pub fn write(&mut self, kind: ResourceType, body: impl FnOnce(&mut Object<'_>)) {
        let buffer = &mut self.buffers[kind as usize];
        json_writer::object(buffer, |resource| {
            resource.string("resourceType", kind.name());
            body(resource);
        });
        buffer.push(b'\n');
        self.counts[kind as usize] += 1;
    }

    /// Appends one resource as a line of compact JSON.
    pub fn push(&mut self, kind: ResourceType, resource: &Value) {
        debug_assert_eq!(resource["resourceType"].as_str(), Some(kind.name()));
        let buffer = &mut self.buffers[kind as usize];
        serde_json::to_writer(&mut *buffer, resource).expect("invariant: serialising JSON into memory cannot fail");
        buffer.push(b'\n');
        self.counts[kind as usize] += 1;
    }
}

/// What a run wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// Resources written per type (every type is listed, with 0 if none).
    pub counts: BTreeMap<String, u64>,
    /// All resources written.
    pub total: u64,
    /// Bytes written across all files.
    pub bytes: u64,
    /// People generated (Patient resources).
    pub people: u64,
    /// People who died in the two years before the reference date.
    pub deceased: u64,
    /// People generated without an NHS number, because the test range (999…) ran out.
    pub without_nhs_number: u64,
    /// The files written, one per resource type.
    pub files: Vec<PathBuf>,
}

/// The open NDJSON files and what has gone into them.
pub(crate) struct Files {
    writers: Vec<BufWriter<File>>,
    paths: Vec<PathBuf>,
    counts: [u64; RESOURCE_TYPES],
    bytes: u64,
    people: u64,
    deceased: u64,
    without_nhs_number: u64,
}

impl Files {
    /// Creates (or truncates) `{Type}.ndjson` for every type in `dir`, creating `dir` if needed.
    pub fn create(dir: &Path) -> Result<Files, GenerateError> {
        std::fs::create_dir_all(dir).map_err(|source| GenerateError::Io { path: dir.to_path_buf(), source })?;
        let mut writers = Vec::with_capacity(RESOURCE_TYPES);
        let mut paths = Vec::with_capacity(RESOURCE_TYPES);
        for kind in ResourceType::ALL {
            let path = dir.join(format!("{}.ndjson", kind.name()));
            let file = File::create(&path).map_err(|source| GenerateError::Io { path: path.clone(), source })?;
            writers.push(BufWriter::with_capacity(1 << 20, file));
            paths.push(path);
        }
        Ok(Files { writers, paths, counts: [0; RESOURCE_TYPES], bytes: 0, people: 0, deceased: 0, without_nhs_number: 0 })
    }

    pub fn write(&mut self, chunk: &Chunk) -> Result<(), GenerateError> {
        for (index, buffer) in chunk.buffers.iter().enumerate() {
            if buffer.is_empty() {
                continue;
            }
            self.writers[index].write_all(buffer).map_err(|source| GenerateError::Io { path: self.paths[index].clone(), source })?;
            self.counts[index] += chunk.counts[index];
            self.bytes += buffer.len() as u64;
        }
        self.people += chunk.people;
        self.deceased += chunk.deceased;
        self.without_nhs_number += chunk.without_nhs_number;
        Ok(())
    }

    /// Flushes and closes every file.
    pub fn finish(self) -> Result<Summary, GenerateError> {
        for (writer, path) in self.writers.into_iter().zip(&self.paths) {
            // Flushed to the operating system; not forced to disk, which would only slow the run.
            writer.into_inner().map_err(|error| GenerateError::Io { path: path.clone(), source: error.into_error() })?;
        }
        let counts: BTreeMap<String, u64> = ResourceType::ALL.iter().map(|kind| (kind.name().to_owned(), self.counts[*kind as usize])).collect();
        Ok(Summary {
            total: self.counts.iter().sum(),
            counts,
            bytes: self.bytes,
            people: self.people,
            deceased: self.deceased,
            without_nhs_number: self.without_nhs_number,
            files: self.paths,
        })
    }
}

/// Generates `chunks` chunks on `workers` threads and writes them to `files` in chunk order.
///
/// Chunk `c` is made by worker `c % workers`, which sends it down its own bounded channel; the
/// writer takes chunk 0 from worker 0, chunk 1 from worker 1 and so on, so the output order is
/// fixed whatever the threads do, and each worker runs at most a couple of chunks ahead, which
/// keeps memory flat however many people there are.
pub(crate) fn write_in_order<F>(files: &mut Files, chunks: usize, workers: usize, make: F) -> Result<(), GenerateError>
where
    F: Fn(usize) -> Chunk + Sync,
{
    let workers = workers.clamp(1, chunks.max(1));
    std::thread::scope(|scope| {
        let mut receivers = Vec::with_capacity(workers);
        for worker in 0..workers {
            let (sender, receiver) = mpsc::sync_channel::<Chunk>(2);
            receivers.push(receiver);
            let make = &make;
            scope.spawn(move || {
                for chunk in (worker..chunks).step_by(workers) {
                    if sender.send(make(chunk)).is_err() {
                        return; // the writer stopped on an error
                    }
                }
            });
        }
        for chunk in 0..chunks {
            let made = receivers[chunk % workers].recv().expect("invariant: each worker sends every chunk it owns unless it panicked");
            files.write(&made)?;
        }
        Ok(())
    })
}
