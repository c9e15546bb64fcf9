//! The plans of the lookups clinicians make most, on SQLite (whose planner has no statistics, so its choice
//! does not depend on the data): a page of one exact token or one typed reference reads its first ids in order
//! from the index and stops, and sorts nothing, whoever asks; a count of one index test reads the index alone.
//! PostgreSQL's plans depend on its statistics and are measured instead (`bench peer`, `docs/scaling.md`).

use store::search::{IndexTable, Predicate, Query, SortKey, Test};
use store::{SqliteOptions, SqliteStore, Store, Visibility};

fn query(test: Test, param: &str, resource_type: &str, descending: bool, visibility: Visibility) -> Query {
    Query {
        resource_type: resource_type.into(),
        filters: vec![vec![Predicate { param: param.into(), test }]],
        sort: vec![SortKey { param: None, table: IndexTable::Token, descending }],
        limit: 21,
        visibility,
        ..Query::default()
    }
}

fn code() -> Test {
    Test::Token { system: Some(Some("http://loinc.org".into())), code: Some("8867-4".into()), negate: false }
}

fn subject() -> Test {
    Test::Reference { target_type: Some("Patient".into()), target_id: "p1".into() }
}

fn gp() -> Visibility {
    Visibility::Staff(store::access::StaffVisibility {
        parties: vec!["Organization/o1".into(), "Practitioner/d1".into()],
        organisation: "o1".into(),
        administrative: None,
        demographics: &["Patient"],
        now: 1_700_000_000_000,
        encounters_since: 1_690_000_000_000,
        conferences_since: 1_699_000_000_000,
    })
}

/// The plan's lines for the page statement, and for the count statement.
async fn plans(store: &Store, q: Query) -> (Vec<String>, Vec<String>) {
    let lines = store.explain(q).await.expect("explain");
    let at = lines.iter().position(|l| l.starts_with("count: ")).expect("a count statement");
    (lines[..at].to_vec(), lines[at..].to_vec())
}

fn sorts(lines: &[String]) -> bool {
    lines.iter().any(|l| l.contains("TEMP B-TREE"))
}

#[tokio::test]
async fn a_page_of_one_exact_token_or_reference_sorts_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::Sqlite(SqliteStore::open(SqliteOptions::new(dir.path().join("p.db"))).expect("open"));
    for (what, test, param) in [("code", code(), "code"), ("subject", subject(), "subject")] {
        for descending in [false, true] {
            for vis in [Visibility::All, gp()] {
                let (page, _) = plans(&store, query(test.clone(), param, "Observation", descending, vis.clone())).await;
                let text = page.join("\n");
                assert!(page.len() > 1, "{what}: no plan:\n{text}");
                // Only the final page of at most 21 rows is put in order (its rows are joined to their
                // versions after the walk); the matches themselves are not sorted.
                let sorted_matches = page.iter().take_while(|l| !l.trim_start().starts_with("SCAN p")).any(|l| l.contains("TEMP B-TREE"));
                assert!(!sorted_matches, "{what} (descending {descending}, {vis:?}): every match is sorted before the page:\n{text}");
                assert!(text.contains("PRIMARY KEY") || text.contains("search_reference_target"), "{what}: not read from its index:\n{text}");
            }
        }
    }
    // A prefix of a name is not in id order in its index: its matches are sorted (and the test above can fail).
    let name = Test::String { value: "smi".into(), mode: store::search::StringMode::StartsWith };
    let (page, _) = plans(&store, query(name, "family", "Patient", false, Visibility::All)).await;
    assert!(sorts(&page[..page.len().saturating_sub(3)]), "a prefix search's matches are sorted:\n{}", page.join("\n"));
}

#[tokio::test]
async fn a_count_of_one_index_test_reads_the_index_alone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::Sqlite(SqliteStore::open(SqliteOptions::new(dir.path().join("p.db"))).expect("open"));
    let (_, count) = plans(&store, query(code(), "code", "Observation", false, Visibility::All)).await;
    let text = count.join("\n");
    assert!(!text.contains("resource_current") && !text.contains("SEARCH c "), "the count joins the current versions:\n{text}");
    // A member of staff's count decides access on every match: it reads the current versions.
    let (_, count) = plans(&store, query(code(), "code", "Observation", false, gp())).await;
    assert!(count.join("\n").contains("resource_current"), "{}", count.join("\n"));
}
