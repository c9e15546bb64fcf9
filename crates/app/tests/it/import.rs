//! Bulk import: the Synthea bundles with every reference resolved, NDJSON with bad lines reported by file and
//! line, a generated population imported cleanly, and re-imports that create nothing.

use app::bulk::{ImportOptions, ImportReport, Progress};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use store::{PersonScope, Scan};

pub struct Harness {
    pub app: app::App,
    pub store: store::Store,
    pub dir: tempfile::TempDir,
    _pg: Option<store::PgTestDatabase>,
}

/// A fresh store: SQLite, or PostgreSQL when `JOINERY_TEST_BACKEND=postgres` (a database of its own on the
/// server `JOINERY_TEST_POSTGRES_URL` names, dropped afterwards).
pub fn harness() -> Harness {
    harness_with(|_| {})
}

pub fn harness_with(pg_options: impl FnOnce(&mut store::PgOptions)) -> Harness {
    harness_config(pg_options, |_| {})
}

/// A fresh store with changes to the PostgreSQL options and to the use cases' configuration.
pub fn harness_config(pg_options: impl FnOnce(&mut store::PgOptions), config: impl FnOnce(&mut app::Config)) -> Harness {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, pg) = if std::env::var("JOINERY_TEST_BACKEND").as_deref() == Ok("postgres") {
        let admin = store::PgTestDatabase::admin_url_from_env().expect("JOINERY_TEST_BACKEND=postgres needs JOINERY_TEST_POSTGRES_URL");
        let db = store::PgTestDatabase::create(&admin).expect("create a PostgreSQL test database");
        let mut options = store::PgOptions::new(db.url());
        options.data_dir = Some(dir.path().join("files"));
        pg_options(&mut options);
        (store::Store::Postgres(store::PgStore::open(options).expect("open store")), Some(db))
    } else {
        let sqlite = store::SqliteStore::open(store::SqliteOptions::new(dir.path().join("import.db"))).expect("open store");
        (store::Store::Sqlite(sqlite), None)
    };
    let mut c = app::Config::new("http://joinery.test/fhir");
    config(&mut c);
    Harness { app: app::App::new(store.clone(), c), store, dir, _pg: pg }
}

async fn import(h: &Harness, paths: &[PathBuf]) -> ImportReport {
    let sources = app::bulk::list_sources(paths).expect("list sources");
    let options = ImportOptions { batch_size: 200, ..Default::default() };
    h.app.import(sources, options, Arc::new(Progress::default())).await.expect("import runs")
}

/// Every live current body of a type.
async fn bodies(store: &store::Store, resource_type: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut after_seq = 0;
    loop {
        let scan = Scan { resource_type: resource_type.into(), after_seq, limit: 1000, since: None, persons: PersonScope::All };
        let (chunk, end) = store
            .scan_current(scan, Vec::new(), |acc: &mut Vec<String>, row| -> Result<(), store::StoreError> {
                acc.push(row.body.to_owned());
                Ok(())
            })
            .await
            .expect("scan");
        out.extend(chunk);
        if end.visited < 1000 {
            return out;
        }
        after_seq = end.last_seq;
    }
}

/// The Synthea bundles: `$JOINERY_SYNTHEA_DIR`, else `shared/data/synthea-r4` beside the repository; `None`,
/// saying that the test is skipped, where neither is there (a bare clone; CI always has them).
fn synthea_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("JOINERY_SYNTHEA_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/synthea-r4"),
    };
    if !dir.is_dir() {
        eprintln!("skipped: no Synthea bundles at {} (set JOINERY_SYNTHEA_DIR)", dir.display());
        return None;
    }
    Some(dir)
}

fn counts(report: &ImportReport) -> BTreeMap<String, (u64, u64, u64, u64, u64)> {
    report.types.iter().map(|(t, c)| (t.clone(), (c.read, c.created, c.updated, c.unchanged, c.failed))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synthea_bundles_import_with_every_reference_resolved_and_twice_creates_nothing() {
    let Some(dir) = synthea_dir() else { return };
    let h = harness();
    let first = import(&h, &[dir.clone()]).await;
    assert_eq!(first.files, 124);
    assert_eq!(first.failure_count, 0, "{:#?}", first.failures.iter().take(5).collect::<Vec<_>>());
    let total = first.total();
    assert_eq!(total.read, 37_578, "every entry of every bundle is read");
    assert_eq!(total.created, 37_252, "resources that several bundles carry (practitioners, organisations) are stored once");
    assert_eq!(total.created + total.updated + total.unchanged, total.read);
    for (t, n) in [("Patient", 123), ("Organization", 80), ("Practitioner", 102), ("Observation", 17_577), ("Claim", 4_533), ("Encounter", 3_617)] {
        assert_eq!(first.types.get(t).map(|c| c.created), Some(n), "{t}");
    }
    assert_eq!(first.dangling.count, 0, "dangling: {:?}", first.dangling.samples);

    // No placeholder survived, and every local reference of what was stored names a stored resource.
    let mut known = std::collections::HashSet::new();
    let mut stored: Vec<(String, Value)> = Vec::new();
    for t in ["Patient", "Organization", "Practitioner", "Encounter", "Claim", "ExplanationOfBenefit", "Observation", "DiagnosticReport"] {
        for body in bodies(&h.store, t).await {
            let v: Value = serde_json::from_str(&body).expect("stored JSON");
            known.insert(format!("{t}/{}", v["id"].as_str().expect("id")));
            stored.push((t.to_owned(), v));
        }
    }
    let mut checked = 0;
    for (t, v) in &stored {
        for r in fhir::reference::references(v) {
            assert!(!r.starts_with("urn:"), "{t} kept the placeholder {r}");
            if r.starts_with('#') {
                continue;
            }
            let target = r.split('/').next().unwrap_or("");
            if ["Patient", "Organization", "Practitioner", "Encounter", "Claim", "ExplanationOfBenefit", "Observation", "DiagnosticReport"]
                .contains(&target)
            {
                assert!(known.contains(r), "{t} points at {r}, which is not stored");
                checked += 1;
            }
        }
    }
    assert!(checked > 30_000, "checked {checked} references");

    // The same files again: identifiers (here, ids) decide, so nothing new is created. The only versions
    // written are of the 80 practitioners whose copies differ between bundles (the practitioners' bundle
    // carries a utilisation extension the patients' bundles do not): each import replays that sequence.
    let second = import(&h, &[dir]).await;
    let again = second.total();
    assert_eq!((again.read, again.created, again.failed), (37_578, 0, 0), "{:?}", counts(&second));
    assert_eq!(again.updated, second.types.get("Practitioner").map(|c| c.updated).unwrap_or(0), "{:?}", counts(&second));
    assert!(again.updated <= 160, "{:?}", counts(&second));
    assert_eq!(again.unchanged + again.updated, 37_578);
    assert_eq!(second.dangling.count, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_lines_are_reported_with_file_and_line_and_the_rest_is_imported() {
    let h = harness();
    let path = h.dir.path().join("Mixed.ndjson");
    let lines = [
        r#"{"resourceType":"Patient","id":"p1","gender":"female"}"#,
        r#"{"resourceType":"Patient","id":"p2","gender":"#,
        r#"{"resourceType":"Observation","id":"o1","status":"final","code":{"text":"weight"},"subject":{"reference":"Patient/p1"}}"#,
        r#"{"resourceType":"Patient","id":"p3","gender":"mail"}"#,
        "",
        r#"{"resourceType":"Observation","id":"o2","status":"final","code":{"text":"weight"},"subject":{"reference":"Patient/nobody"}}"#,
        r#"{"resourceType":"Nonsense","id":"x"}"#,
        r#"["not", "a", "resource"]"#,
    ];
    std::fs::write(&path, lines.join("\n")).expect("write NDJSON");
    let report = import(&h, &[path.clone()]).await;
    let total = report.total();
    assert_eq!(total.created, 3, "{:?}", counts(&report));
    assert_eq!(report.failure_count, 4);
    let at: Vec<(Option<u64>, &str)> = report.failures.iter().map(|f| (f.line, f.message.as_str())).collect();
    assert_eq!(at.iter().map(|(l, _)| *l).collect::<Vec<_>>(), [Some(2), Some(4), Some(7), Some(8)], "{at:?}");
    assert!(report.failures.iter().all(|f| f.file == path));
    assert!(at[0].1.contains("not valid JSON"), "{}", at[0].1);
    assert!(at[1].1.contains("Patient.gender"), "{}", at[1].1);
    assert!(report.failures[1].to_string().starts_with(&format!("{}:4: ", path.display())), "{}", report.failures[1]);
    assert_eq!(report.dangling.count, 1);
    assert_eq!(report.dangling.samples[0].target_id, "nobody");
    assert_eq!(h.app.as_system("test").read("Observation", "o1").await.expect("o1 stored").version, 1);
    // The import is one audit event: its file, and that it was not clean.
    let events = h.app.audit_log(0, 10).await.expect("audit log");
    assert_eq!(events.len(), 1);
    let body: serde_json::Value = serde_json::from_str(&events[0].record.body).expect("JSON");
    assert_eq!((body["action"]["path"].as_str(), body["outcome"].as_u64()), (Some("import"), Some(1)));
    assert_eq!(body["action"]["query"].as_str(), Some(path.display().to_string().as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identifiers_decide_for_resources_without_ids_and_changes_make_new_versions() {
    let h = harness();
    let first = h.dir.path().join("first.json");
    // A collection Bundle whose entries have no ids: urn:uuid fullUrls become references to the new ids.
    let bundle = serde_json::json!({
        "resourceType": "Bundle", "type": "collection",
        "entry": [
            { "fullUrl": "urn:uuid:4b1c0a3e-0000-4000-8000-000000000001",
              "resource": { "resourceType": "Patient", "identifier": [{ "system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9990000018" }], "gender": "male" } },
            { "fullUrl": "urn:uuid:4b1c0a3e-0000-4000-8000-000000000002",
              "resource": { "resourceType": "Observation", "identifier": [{ "system": "urn:test", "value": "obs-1" }], "status": "final", "code": { "text": "weight" },
                            "subject": { "reference": "urn:uuid:4b1c0a3e-0000-4000-8000-000000000001" } } }
        ]
    });
    std::fs::write(&first, bundle.to_string()).expect("write bundle");
    let r1 = import(&h, &[first.clone()]).await;
    assert_eq!((r1.total().created, r1.failure_count, r1.dangling.count), (2, 0, 0), "{:?} {:?}", counts(&r1), r1.failures);
    let r2 = import(&h, &[first.clone()]).await;
    assert_eq!((r2.total().created, r2.total().unchanged), (0, 2), "{:?}", counts(&r2));
    let patients = bodies(&h.store, "Patient").await;
    assert_eq!(patients.len(), 1);
    let patient: Value = serde_json::from_str(&patients[0]).expect("patient");
    let observation: Value = serde_json::from_str(&bodies(&h.store, "Observation").await[0]).expect("observation");
    assert_eq!(observation["subject"]["reference"], format!("Patient/{}", patient["id"].as_str().expect("id")));

    // NDJSON with the same identifier and a change: a new version of the same Patient.
    let second = h.dir.path().join("Patient.ndjson");
    std::fs::write(
        &second,
        r#"{"resourceType":"Patient","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9990000018"}],"gender":"female"}"#,
    )
    .expect("write NDJSON");
    let r3 = import(&h, &[second]).await;
    assert_eq!((r3.total().created, r3.total().updated), (0, 1), "{:?}", counts(&r3));
    let stored = h.app.as_system("test").read("Patient", patient["id"].as_str().expect("id")).await.expect("read");
    assert_eq!(stored.version, 2);
    assert!(stored.body.as_deref().is_some_and(|b| b.contains("\"female\"") && b.contains("\"versionId\":\"2\"")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_population_imports_with_no_failure_and_no_dangling_reference() {
    let h = harness();
    let out = h.dir.path().join("population");
    let date = chrono::NaiveDate::from_ymd_opt(2025, 1, 1).expect("date");
    let options = synth::Options { seed: 7, people: 300, preset: synth::Preset::Custom, reference_date: date, threads: 2 };
    let summary = synth::generate(&options, &out).expect("generate");
    let report = import(&h, &[out.clone()]).await;
    assert_eq!(report.failure_count, 0, "{:#?}", report.failures.iter().take(5).collect::<Vec<_>>());
    assert_eq!(report.dangling.count, 0, "{:?}", report.dangling.samples);
    assert_eq!(report.total().created, summary.total);
    for (t, n) in &summary.counts {
        assert_eq!(report.types.get(t).map(|c| c.created).unwrap_or(0), *n, "{t}");
    }
    // Indexes are those of REST writes: the Patient is found by NHS number.
    let first: Value =
        serde_json::from_str(std::fs::read_to_string(out.join("Patient.ndjson")).expect("patients").lines().next().expect("a patient"))
            .expect("patient JSON");
    let nhs = first["identifier"][0]["value"].as_str().expect("NHS number");
    let params = vec![("identifier".to_owned(), format!("https://fhir.nhs.uk/Id/nhs-number|{nhs}"))];
    let page = h.app.as_system("test").search("Patient", &params, Default::default()).await.expect("search");
    let found = h.app.as_system("test").searchset(&page).expect("bundle");
    assert_eq!(found["entry"][0]["resource"]["id"], first["id"], "{found}");

    let again = import(&h, &[out]).await;
    assert_eq!((again.total().created, again.total().updated, again.total().unchanged), (0, 0, summary.total));
}

/// Units started but not yet awaited must still progress: on PostgreSQL each takes a pooled connection of
/// its own, and a unit parked while others committed once ran out its time to connect, failing the import
/// with "the pool is saturated". Here waiting for or making a connection may take a second and a half at most
/// (enough for a connection on a loaded machine), and each unit of 2,000 resources takes about as long.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn units_in_flight_progress_while_others_commit() {
    let h = harness_with(|o| {
        o.pool_size = 8;
        o.wait_timeout = std::time::Duration::from_millis(1500);
        o.connect_timeout = std::time::Duration::from_millis(1500);
    });
    let path = h.dir.path().join("Patient.ndjson");
    let lines: Vec<String> = (0..8000)
        .map(|i| {
            format!(
                r#"{{"resourceType":"Patient","id":"p{i}","gender":"{}","birthDate":"19{:02}-01-01"}}"#,
                if i % 2 == 0 { "female" } else { "male" },
                i % 100
            )
        })
        .collect();
    std::fs::write(&path, lines.join("\n")).expect("write");
    let sources = app::bulk::list_sources(&[path.clone()]).expect("list sources");
    let options = ImportOptions { batch_size: 2000, units_in_flight: 4, ..Default::default() };
    let report = h.app.import(sources, options, Arc::new(Progress::default())).await.expect("import runs");
    assert_eq!((report.total().created, report.failure_count), (8000, 0), "{:?}", counts(&report));
    assert_eq!(bodies(&h.store, "Patient").await.len(), 8000);

    // The same ids again, changed: every one becomes version 2, none is lost or doubled.
    let changed: Vec<String> = lines.iter().map(|l| l.replace("-01-01", "-02-02")).collect();
    std::fs::write(&path, changed.join("\n")).expect("write");
    let sources = app::bulk::list_sources(&[path]).expect("list sources");
    let options = ImportOptions { batch_size: 2000, units_in_flight: 4, ..Default::default() };
    let report = h.app.import(sources, options, Arc::new(Progress::default())).await.expect("import runs");
    assert_eq!((report.total().created, report.total().updated, report.failure_count), (0, 8000, 0), "{:?}", counts(&report));
    let all = bodies(&h.store, "Patient").await;
    assert_eq!(all.len(), 8000);
    assert!(all.iter().all(|b| b.contains("-02-02") && b.contains("\"versionId\":\"2\"")));
}

/// A later line about the same resource wins, even where units commit in no set order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_line_about_a_resource_wins() {
    let h = harness();
    let path = h.dir.path().join("Patient.ndjson");
    let lines: Vec<String> = (0..400).map(|i| format!(r#"{{"resourceType":"Patient","id":"same","birthDate":"{}-01-01"}}"#, 1600 + i)).collect();
    std::fs::write(&path, lines.join("\n")).expect("write");
    let sources = app::bulk::list_sources(&[path]).expect("list sources");
    let options = ImportOptions { batch_size: 1, units_in_flight: 8, ..Default::default() };
    let report = h.app.import(sources, options, Arc::new(Progress::default())).await.expect("import runs");
    assert_eq!(report.failure_count, 0, "{:?}", counts(&report));
    let stored = h.app.as_system("test").read("Patient", "same").await.expect("read");
    assert_eq!(stored.version, 400);
    assert!(stored.body.as_deref().is_some_and(|b| b.contains("1999-01-01")), "{:?}", stored.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_joinery_keeps_is_never_imported() {
    let h = harness();
    let path = h.dir.path().join("Group.ndjson");
    let lines = [
        r#"{"resourceType":"Group","id":"register-dm","type":"person","actual":true}"#,
        r#"{"resourceType":"Group","id":"serious-mental-illness","type":"person","actual":true}"#,
        r#"{"resourceType":"Group","id":"my-list","type":"person","actual":true}"#,
    ];
    std::fs::write(&path, lines.join("\n")).expect("write NDJSON");
    let report = import(&h, &[path]).await;
    assert_eq!(report.total().created, 1, "{:?}", counts(&report));
    let at: Vec<(Option<u64>, &str)> = report.failures.iter().map(|f| (f.line, f.message.as_str())).collect();
    assert_eq!(at.iter().map(|(l, _)| *l).collect::<Vec<_>>(), [Some(1), Some(2)], "{at:?}");
    assert!(at.iter().all(|(_, m)| m.contains("Joinery keeps")), "{at:?}");
}
