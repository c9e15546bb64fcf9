//! Every Synthea bundle in the shared data posts as a transaction, and every reference in what was stored
//! points at a resource that exists.

use crate::Server;
use serde_json::Value;
use std::collections::HashSet;
use std::path::PathBuf;

/// The Synthea bundles: `$JOINERY_SYNTHEA_DIR`, else `shared/data/synthea-r4` beside the repository; `None`,
/// saying that the test is skipped, where neither is there (a bare clone; CI always has them).
fn synthea_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("JOINERY_SYNTHEA_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/synthea-r4"),
    };
    if !dir.is_dir() {
        eprintln!("skipped: no Synthea bundles at {} (set JOINERY_SYNTHEA_DIR)", dir.display());
        return None;
    }
    Some(dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_synthea_bundles_post_as_transactions() {
    let Some(dir) = synthea_dir() else { return };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the shared Synthea data must be at {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 124, "123 patient bundles and one of practitioners");
    let s = Server::new();
    let mut created = 0usize;
    let mut stored: Vec<(String, String)> = Vec::new();
    for f in &files {
        let body = std::fs::read(f).expect("read bundle");
        let expected = serde_json::from_slice::<Value>(&body).expect("bundle JSON")["entry"].as_array().map(Vec::len).unwrap_or(0);
        let r = s.send("POST", "/fhir", &[("prefer", "return=minimal")], Some(&body)).await;
        assert_eq!(r.status, 200, "{}: {}", f.display(), r.text().chars().take(2000).collect::<String>());
        let out = r.json();
        let entries = out["entry"].as_array().expect("response entries");
        assert_eq!(entries.len(), expected, "{}", f.display());
        for e in entries {
            assert_eq!(e["response"]["status"], "201 Created", "{}", f.display());
            let loc = e["response"]["location"].as_str().expect("location");
            let mut parts = loc.split('/');
            stored.push((parts.next().unwrap_or("").to_owned(), parts.next().unwrap_or("").to_owned()));
        }
        created += entries.len();
    }
    assert_eq!(created, 37_578);
    // Every local reference of every stored resource resolves; no urn: placeholder survived.
    let known: HashSet<String> = stored.iter().map(|(t, i)| format!("{t}/{i}")).collect();
    let mut checked = 0usize;
    for (t, id) in stored.iter().filter(|(t, _)| t == "Patient" || t == "Encounter" || t == "Claim" || t == "ExplanationOfBenefit") {
        let r = s.get(&format!("/fhir/{t}/{id}")).await;
        assert_eq!(r.status, 200);
        for reference in fhir::reference::references(&r.json()) {
            assert!(!reference.starts_with("urn:"), "{t}/{id} kept a placeholder {reference}");
            if !reference.starts_with('#') {
                assert!(known.contains(reference), "{t}/{id} points at {reference}, which is not stored");
                checked += 1;
            }
        }
    }
    assert!(checked > 10_000, "checked {checked} references");
}
