//! Locating and reading the shared reference data (beside the repository clone, never copied into it).

use serde_json::Value;
use std::path::PathBuf;

/// The shared data folder: the parent of `$JOINERY_FHIR_R4_DIR` when set (as for `build.rs`), else `shared/data` beside the repository.
pub fn dir() -> PathBuf {
    match std::env::var_os("JOINERY_FHIR_R4_DIR") {
        Some(r4) => PathBuf::from(r4).join(".."),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    }
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
