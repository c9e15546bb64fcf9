//! The same options give byte-identical files whatever the number of threads; another seed gives another population.

use crate::fixture::{options, RESOURCE_TYPES};
use std::path::Path;
use synth::generate;

fn contents(dir: &Path) -> Vec<(String, Vec<u8>)> {
    RESOURCE_TYPES
        .iter()
        .map(|kind| {
            let name = format!("{kind}.ndjson");
            let bytes = std::fs::read(dir.join(&name)).unwrap_or_else(|error| panic!("{name}: {error}"));
            (name, bytes)
        })
        .collect()
}

#[test]
fn same_seed_gives_identical_bytes_with_any_number_of_threads() {
    // 1,500 people make three chunks, so three threads interleave their work.
    let one = tempfile::tempdir().expect("a temporary folder");
    let three = tempfile::tempdir().expect("a temporary folder");
    let mut single = options(1_500, 7);
    single.threads = 1;
    let mut several = options(1_500, 7);
    several.threads = 3;
    let first = generate(&single, one.path()).expect("generated");
    let second = generate(&several, three.path()).expect("generated");
    assert_eq!(first.counts, second.counts);
    assert_eq!(first.bytes, second.bytes);
    for ((name, a), (_, b)) in contents(one.path()).iter().zip(contents(three.path()).iter()) {
        assert!(a == b, "{name} differs between runs with the same seed");
    }
}

#[test]
fn another_seed_gives_another_population() {
    let a = tempfile::tempdir().expect("a temporary folder");
    let b = tempfile::tempdir().expect("a temporary folder");
    generate(&options(600, 7), a.path()).expect("generated");
    generate(&options(600, 8), b.path()).expect("generated");
    for name in ["Patient.ndjson", "Condition.ndjson", "Organization.ndjson"] {
        let first = std::fs::read(a.path().join(name)).expect("written");
        let second = std::fs::read(b.path().join(name)).expect("written");
        assert_ne!(first, second, "{name} is the same for two seeds");
    }
}

#[test]
fn summary_matches_the_files() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let summary = generate(&options(700, 3), dir.path()).expect("generated");
    let mut bytes = 0;
    for (name, content) in contents(dir.path()) {
        let kind = name.trim_end_matches(".ndjson");
        let lines = content.iter().filter(|byte| **byte == b'\n').count() as u64;
        assert_eq!(summary.counts[kind], lines, "{name}");
        bytes += content.len() as u64;
    }
    assert_eq!(summary.bytes, bytes);
    assert_eq!(summary.total, summary.counts.values().sum::<u64>());
    assert_eq!(summary.people, 700);
    assert_eq!(summary.counts["Patient"], 700);
    assert_eq!(summary.files.len(), 14);
}

#[test]
fn no_people_is_an_error() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    assert!(matches!(generate(&options(0, 1), dir.path()), Err(synth::GenerateError::NoPeople)));
}
