//! Every resource has a valid, unique id in the file of its type, and every reference (`Type/id`) resolves to a generated resource.

use crate::fixture::{population, RESOURCE_TYPES};

#[test]
fn every_line_is_in_the_file_of_its_type_with_a_valid_id() {
    let population = population();
    assert!(population.misplaced.is_empty(), "{:?}", &population.misplaced[..population.misplaced.len().min(10)]);
    for kind in RESOURCE_TYPES {
        assert_eq!(population.lines[kind], population.summary.counts[kind], "{kind}: lines on disk against the summary");
        assert!(population.lines[kind] > 0, "no {kind} written");
    }
}

#[test]
fn ids_are_unique() {
    let duplicates: Vec<&String> = population().ids.iter().filter(|(_, count)| **count > 1).map(|(id, _)| id).take(10).collect();
    assert!(duplicates.is_empty(), "{duplicates:?}");
}

#[test]
fn every_reference_resolves() {
    let population = population();
    assert!(population.references.len() > population.ids.len(), "expected many references");
    let unresolved: Vec<&(String, String)> =
        population.references.iter().filter(|(_, target)| !population.ids.contains_key(target.as_str())).take(10).collect();
    assert!(unresolved.is_empty(), "unresolved references (from, to): {unresolved:?}");
}

#[test]
fn periods_run_forwards() {
    let backwards = &population().backwards;
    assert!(backwards.is_empty(), "{:?}", &backwards[..backwards.len().min(10)]);
}
