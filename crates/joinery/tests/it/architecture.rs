//! Architecture invariants that a test can check: the one-way layering of crates, which crates may do I/O
//! or know SQL, and that every source file says what it is for.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Each crate's normal (not dev-) dependencies, by name.
fn manifests() -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(workspace().join("crates")).expect("crates/") {
        let dir = entry.expect("entry").path();
        let Ok(text) = std::fs::read_to_string(dir.join("Cargo.toml")) else { continue };
        let manifest: toml::Table = toml::from_str(&text).expect("manifest parses");
        let name = manifest["package"]["name"].as_str().expect("package.name").to_owned();
        let deps = manifest.get("dependencies").and_then(|d| d.as_table()).map(|t| t.keys().cloned().collect()).unwrap_or_default();
        out.insert(name, deps);
    }
    out
}

/// The crates of ours each crate may depend on. A crate missing here fails the test: decide its layer first.
const LAYERS: &[(&str, &[&str])] = &[
    ("fhirpath", &[]),
    ("fhir", &["fhirpath"]),
    ("care", &["fhir"]),
    ("synth", &["fhir", "care"]),
    ("store", &["fhir", "care"]),
    ("app", &["store", "care", "fhir"]),
    ("api", &["app", "care", "fhir"]),
    ("joinery", &["api", "app", "store", "care", "fhir", "synth"]),
    ("bench", &[]),
    ("codegen", &[]),
];

#[test]
fn dependencies_run_one_way() {
    let manifests = manifests();
    let ours: Vec<&String> = manifests.keys().collect();
    for (name, deps) in &manifests {
        let allowed = LAYERS.iter().find(|(n, _)| n == name).map(|(_, a)| *a).unwrap_or_else(|| panic!("crate {name} has no layer in LAYERS"));
        for d in deps.iter().filter(|d| ours.contains(d)) {
            assert!(allowed.contains(&d.as_str()), "{name} may not depend on {d} (allowed: {allowed:?})");
        }
    }
}

#[test]
fn only_store_knows_sql_and_the_core_does_no_io() {
    const DRIVERS: &[&str] = &["rusqlite", "libsqlite3-sys", "tokio-postgres", "postgres", "sqlx", "deadpool-postgres"];
    const IO: &[&str] = &["tokio", "axum", "hyper", "reqwest", "rusqlite", "tokio-postgres"];
    for (name, deps) in manifests() {
        if name != "store" {
            for d in &deps {
                assert!(!DRIVERS.contains(&d.as_str()), "only store may use a database driver; {name} uses {d}");
            }
        }
        if ["fhir", "fhirpath", "care"].contains(&name.as_str()) {
            for d in &deps {
                assert!(!IO.contains(&d.as_str()), "{name} must stay free of I/O; it depends on {d}");
            }
        }
    }
}

#[test]
fn transports_reach_patient_data_only_through_app() {
    for (name, deps) in manifests() {
        if ["api", "web", "ingest"].contains(&name.as_str()) {
            assert!(!deps.iter().any(|d| d == "store"), "{name} must go through app, not store");
        }
    }
}

#[test]
fn every_source_file_opens_with_its_purpose() {
    let mut missing = Vec::new();
    let mut stack = vec![workspace().join("crates")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs" || e == "sql" || e == "toml") {
                let text = std::fs::read_to_string(&path).expect("read source");
                let first = text.lines().next().unwrap_or("");
                let ok = match path.extension().and_then(|e| e.to_str()) {
                    Some("rs") => first.starts_with("//!") || first.starts_with("// "),
                    Some("sql") => first.starts_with("-- "),
                    _ => first.starts_with("# "),
                };
                if !ok {
                    missing.push(path.display().to_string());
                }
            }
        }
    }
    assert!(missing.is_empty(), "files without an opening line saying what they are for: {missing:#?}");
}

/// The files of a module of `app` (`x.rs` or `x/…`).
fn module_files(name: &str) -> Vec<PathBuf> {
    let src = workspace().join("crates/app/src");
    let mut out = Vec::new();
    let mut stack = vec![src.join(name)];
    if src.join(format!("{name}.rs")).is_file() {
        out.push(src.join(format!("{name}.rs")));
    }
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out
}

#[test]
fn stored_resources_leave_app_only_as_released() {
    // `app` re-exports none of the store's row types: a stored resource leaves it as `Released`, which only
    // `app` makes, from what the store returned for the caller's visibility.
    let lib = std::fs::read_to_string(workspace().join("crates/app/src/lib.rs")).expect("app/src/lib.rs");
    for line in lib.lines().map(str::trim).filter(|l| l.starts_with("pub use store::")) {
        assert_eq!(line, "pub use store::HistoryScope;", "app re-exports from the store: {line}");
    }
    // No item that other crates can reach returns or holds one: the public modules, and those whose items
    // lib.rs re-exports.
    let mut modules: Vec<String> = Vec::new();
    for line in lib.lines().map(str::trim) {
        let name = line.strip_prefix("pub mod ").or_else(|| line.strip_prefix("pub use ")).and_then(|rest| rest.split([':', ';']).next());
        if let Some(name) = name.filter(|n| !n.is_empty() && *n != "store") {
            modules.push(name.to_owned());
        }
    }
    let mut leaks = Vec::new();
    for path in modules.iter().flat_map(|m| module_files(m)) {
        let text = std::fs::read_to_string(&path).expect("read source");
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            let public = line.starts_with("pub fn")
                || line.starts_with("pub async fn")
                || (line.starts_with("pub ") && line.contains(':') && !line.contains("fn "));
            let gives = line.split_once("->").map_or(!line.contains("fn "), |(_, ret)| ret.contains("Stored"));
            if public && gives && line.contains("Stored") {
                leaks.push(format!("{}:{}: {line}", path.display(), n + 1));
            }
        }
    }
    assert!(leaks.is_empty(), "public items of app that give out the store's rows: {leaks:#?}");
}

#[test]
fn the_build_audits_and_only_a_named_feature_does_not() {
    // The build the tests run (and the one `cargo build` makes) audits every request.
    assert!(!app::audit::UNAUDITED, "the default build must audit");
    // `unaudited` is a feature no crate turns on by default.
    for crate_dir in ["app", "api", "joinery"] {
        let manifest = std::fs::read_to_string(workspace().join("crates").join(crate_dir).join("Cargo.toml")).expect("manifest");
        let table: toml::Table = manifest.parse().expect("TOML");
        let defaults = table.get("features").and_then(|f| f.get("default")).and_then(|d| d.as_array()).cloned().unwrap_or_default();
        assert!(defaults.iter().all(|d| !d.as_str().unwrap_or_default().contains("unaudited")), "{crate_dir}: {defaults:?}");
    }
    let manifest = std::fs::read_to_string(workspace().join("crates/api/Cargo.toml")).expect("manifest");
    assert!(!manifest.contains("unaudited"), "no crate but the binary asks for an unaudited app");
}
