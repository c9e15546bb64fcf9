//! What an import reads: files and folders listed in dependency order (NDJSON per resource type, then Bundle
//! and resource JSON files), and NDJSON read line by line within a bounded buffer.

use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

/// The format of a file to import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// One resource per line.
    Ndjson,
    /// One JSON document: a Bundle (batch, transaction, collection, …) or a single resource.
    Json,
}

/// A file to import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub path: PathBuf,
    pub kind: SourceKind,
    pub bytes: u64,
}

/// A path that could not be listed or read.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct SourceError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Types in the order their files are imported when a folder is given, so that most references point at
/// resources already written (the check itself runs once the whole import is written, so the order only
/// matters for speed of understanding, not for correctness). Types not listed follow, alphabetically.
const TYPE_ORDER: &[&str] = &[
    "Organization",
    "Location",
    "Endpoint",
    "Practitioner",
    "PractitionerRole",
    "HealthcareService",
    "Medication",
    "Substance",
    "Device",
    "Patient",
    "RelatedPerson",
    "Person",
    "Group",
    "Coverage",
    "EpisodeOfCare",
    "CareTeam",
    "Condition",
    "AllergyIntolerance",
    "Goal",
    "ServiceRequest",
    "CarePlan",
    "MedicationRequest",
    "Appointment",
    "Encounter",
];

/// Lists the files to import from the given paths. A file is taken as given (its format from its
/// extension: `.ndjson` is NDJSON, anything else one JSON document); a folder is walked recursively for
/// `.ndjson` and `.json` files, ordered by resource type (from the file name, as Bulk Data names them)
/// and then by name, with Synthea's hospital and practitioner bundles before the patients' bundles.
pub fn list_sources(paths: &[PathBuf]) -> Result<Vec<Source>, SourceError> {
    let mut out = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|source| SourceError { path: path.clone(), source })?;
        if meta.is_dir() {
            let mut found = Vec::new();
            walk(path, &mut found)?;
            found.sort_by(|a, b| rank(a).cmp(&rank(b)));
            out.extend(found);
        } else {
            out.push(Source { path: path.clone(), kind: kind_of(path), bytes: meta.len() });
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<Source>) -> Result<(), SourceError> {
    let err = |source| SourceError { path: dir.to_path_buf(), source };
    for entry in std::fs::read_dir(dir).map_err(err)? {
        let entry = entry.map_err(err)?;
        let path = entry.path();
        let meta = entry.metadata().map_err(|source| SourceError { path: path.clone(), source })?;
        if meta.is_dir() {
            walk(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "ndjson" || e == "json") {
            out.push(Source { kind: kind_of(&path), bytes: meta.len(), path });
        }
    }
    Ok(())
}

fn kind_of(path: &Path) -> SourceKind {
    if path.extension().is_some_and(|e| e == "ndjson") {
        SourceKind::Ndjson
    } else {
        SourceKind::Json
    }
}

/// The resource type a Bulk Data file name announces (`Patient.ndjson`, `Patient.2.ndjson`), if any.
pub(crate) fn type_of_name(path: &Path) -> Option<&str> {
    let name = path.file_name()?.to_str()?;
    let first = name.split('.').next()?;
    fhir::definitions::is_resource_type(first).then_some(first)
}

fn rank(s: &Source) -> (u8, usize, String) {
    let name = s.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    match s.kind {
        SourceKind::Ndjson => {
            let position = type_of_name(&s.path).map(|t| TYPE_ORDER.iter().position(|o| *o == t).unwrap_or(TYPE_ORDER.len()));
            (0, position.unwrap_or(TYPE_ORDER.len() + 1), name)
        }
        SourceKind::Json => {
            let shared = name.starts_with("hospitalInformation") || name.starts_with("practitionerInformation");
            (1, if shared { 0 } else { 1 }, name)
        }
    }
}

/// Longest NDJSON line read; a longer one is reported and skipped, so memory stays bounded.
pub(crate) const MAX_LINE: usize = 64 * 1024 * 1024;

/// One line of an NDJSON file.
pub(crate) enum Line {
    Text(String),
    /// Not UTF-8, or longer than `MAX_LINE`.
    Bad(String),
}

/// Reads the next line (without its end), how many bytes it took; `None` at the end of the file.
pub(crate) fn next_line(reader: &mut impl BufRead, buf: &mut Vec<u8>) -> std::io::Result<Option<(Line, u64)>> {
    buf.clear();
    let read = reader.by_ref().take(MAX_LINE as u64 + 1).read_until(b'\n', buf)?;
    if read == 0 {
        return Ok(None);
    }
    let mut consumed = read as u64;
    if buf.len() > MAX_LINE && buf.last() != Some(&b'\n') {
        // Skip the rest of the over-long line.
        let mut rest = Vec::new();
        loop {
            rest.clear();
            let n = reader.by_ref().take(1024 * 1024).read_until(b'\n', &mut rest)?;
            consumed += n as u64;
            if n == 0 || rest.last() == Some(&b'\n') {
                break;
            }
        }
        return Ok(Some((Line::Bad(format!("the line is longer than {MAX_LINE} bytes")), consumed)));
    }
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
    match std::str::from_utf8(buf) {
        Ok(s) => Ok(Some((Line::Text(s.to_owned()), consumed))),
        Err(e) => Ok(Some((Line::Bad(format!("the line is not UTF-8 text ({e})")), consumed))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_read_with_their_ends_removed_and_bad_bytes_reported() {
        let data = b"{\"a\":1}\r\n\n\xff\xfe\n{\"b\":2}";
        let mut r = std::io::BufReader::new(&data[..]);
        let mut buf = Vec::new();
        let mut lines = Vec::new();
        while let Some((line, n)) = next_line(&mut r, &mut buf).expect("read") {
            lines.push((
                match line {
                    Line::Text(t) => t,
                    Line::Bad(_) => "BAD".into(),
                },
                n,
            ));
        }
        let texts: Vec<&str> = lines.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(texts, ["{\"a\":1}", "", "BAD", "{\"b\":2}"]);
        assert_eq!(lines.iter().map(|(_, n)| n).sum::<u64>(), data.len() as u64);
    }

    #[test]
    fn folders_are_ordered_by_type_dependencies() {
        let dir = tempfile::tempdir().expect("temp dir");
        for name in
            ["Observation.ndjson", "Patient.ndjson", "Organization.ndjson", "Encounter.ndjson", "zeta.json", "hospitalInformation1.json", "notes.txt"]
        {
            std::fs::write(dir.path().join(name), "").expect("write");
        }
        let found = list_sources(&[dir.path().to_path_buf()]).expect("list");
        let names: Vec<String> = found.iter().map(|s| s.path.file_name().expect("name").to_string_lossy().into_owned()).collect();
        assert_eq!(
            names,
            ["Organization.ndjson", "Patient.ndjson", "Encounter.ndjson", "Observation.ndjson", "hospitalInformation1.json", "zeta.json"]
        );
    }
}
