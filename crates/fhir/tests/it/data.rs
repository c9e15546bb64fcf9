//! Locating and reading the shared reference data (beside the repository clone, never copied into it).

use serde_json::Value;
use std::path::PathBuf;

/// The shared data folder: `$JOINERY_SHARED_DATA`, else `shared/data` beside the repository.
pub fn dir() -> PathBuf {
    match std::env::var_os("JOINERY_SHARED_DATA") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    }
}

/// True, saying that the test is skipped, when the shared data is not there (a bare clone): the tests
/// that check against the raw specification files and the Synthea bundles need it; CI always has it.
pub fn missing() -> bool {
    let absent = !dir().join("fhir-r4").is_dir();
    if absent {
        eprintln!("skipped: no shared reference data at {} (set JOINERY_SHARED_DATA)", dir().display());
    }
    absent
}

pub fn read_json(relative: &str) -> Value {
    let path = dir().join(relative);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// The files of a shared data folder with the given extension, sorted.
pub fn files(relative: &str, extension: &str) -> Vec<PathBuf> {
    let folder = dir().join(relative);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", folder.display()))
        .map(|entry| entry.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .collect();
    files.sort();
    files
}
