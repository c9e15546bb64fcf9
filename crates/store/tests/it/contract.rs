//! Contract tests: versions and current pointers, atomic units inside group commits, token finds, history
//! paging, referrers, migrations and reopening. Each runs against every backend available.

use fhir::search::{IndexEntry, IndexValue};
use std::sync::Arc;
use store::{
    HistoryQuery, HistoryScope, Method, NewVersion, PgOptions, PgStore, PgTestDatabase, SqliteOptions, SqliteStore, Store, StoreError,
    TokenCriterion, Tx, Visibility,
};

/// What keeps a backend's database alive for a test: a temporary folder, or a fresh PostgreSQL database.
pub enum Keep {
    Dir(tempfile::TempDir),
    Pg(PgTestDatabase),
}

impl Keep {
    /// Another store on the same database, standing for a second process beside the first.
    pub fn another_process(&self) -> Store {
        match self {
            Keep::Dir(dir) => Store::Sqlite(SqliteStore::open(SqliteOptions::new(dir.path().join("c.db"))).expect("open sqlite")),
            Keep::Pg(db) => Store::Postgres(PgStore::open(PgOptions::new(db.url())).expect("open postgres")),
        }
    }
}

/// The backends to run each contract test on: SQLite always, PostgreSQL when `JOINERY_TEST_POSTGRES_URL`
/// names a server (each test gets a fresh database, dropped afterwards).
pub fn backends() -> Vec<(&'static str, Store, Keep)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = SqliteStore::open(SqliteOptions::new(dir.path().join("c.db"))).expect("open sqlite");
    let mut out = vec![("sqlite", Store::Sqlite(sqlite), Keep::Dir(dir))];
    match PgTestDatabase::admin_url_from_env() {
        Some(admin) => {
            let db = PgTestDatabase::create(&admin).expect("create a PostgreSQL test database");
            let mut options = PgOptions::new(db.url());
            options.pool_size = 4;
            let pg = PgStore::open(options).expect("open postgres");
            out.push(("postgres", Store::Postgres(pg), Keep::Pg(db)));
        }
        None => eprintln!("postgres: skipped (set JOINERY_TEST_POSTGRES_URL to run the contract on PostgreSQL)"),
    }
    out
}

fn version<'a>(t: &'a str, id: &'a str, v: i64, body: Option<&'a str>, index: &'a [IndexEntry], links: &'a [(String, String)]) -> NewVersion<'a> {
    NewVersion {
        resource_type: t,
        id,
        version: v,
        person_key: Some("p1"),
        last_updated: "2026-01-01T00:00:00.000Z",
        method: if body.is_none() {
            Method::Delete
        } else if v == 1 {
            Method::Post
        } else {
            Method::Put
        },
        body,
        index,
        links,
        recorded_by: None,
        restricted: false,
        relations: &[],
    }
}

const ALL: Visibility = Visibility::All;

fn token(code: &str, system: Option<&str>) -> IndexEntry {
    IndexEntry { param: "identifier".into(), value: IndexValue::Token { system: system.map(str::to_owned), code: code.into() } }
}

#[tokio::test]
async fn versions_and_current() {
    for (name, store, _dir) in backends() {
        store
            .write(|tx: &mut dyn Tx| -> Result<(), StoreError> {
                tx.put(version("Patient", "a", 1, Some(r#"{"v":1}"#), &[], &[]))?;
                tx.put(version("Patient", "a", 2, Some(r#"{"v":2.50}"#), &[], &[]))?;
                Ok(())
            })
            .await
            .expect("write");
        let cur = store.read("Patient", "a", &ALL).await.expect("read").expect("exists");
        assert_eq!((cur.version, cur.body.as_deref()), (2, Some(r#"{"v":2.50}"#)), "{name}: text kept exactly");
        assert_eq!(cur.person_key.as_deref(), Some("p1"));
        assert_eq!(store.vread("Patient", "a", 1, &ALL).await.expect("vread").and_then(|s| s.body), Some(r#"{"v":1}"#.into()));
        assert!(store.vread("Patient", "a", 3, &ALL).await.expect("vread").is_none());
        assert!(store.read("Patient", "b", &ALL).await.expect("read").is_none());
        store.write(|tx: &mut dyn Tx| tx.put(version("Patient", "a", 3, None, &[], &[]))).await.expect("delete");
        let cur = store.read("Patient", "a", &ALL).await.expect("read").expect("exists");
        assert!(cur.deleted && cur.body.is_none(), "{name}");
        // The same (type, id, version) twice is a conflict and nothing of that unit is kept.
        let dup = store
            .write(|tx: &mut dyn Tx| -> Result<(), StoreError> {
                tx.put(version("Patient", "z", 1, Some("{}"), &[], &[]))?;
                tx.put(version("Patient", "a", 3, Some("{}"), &[], &[]))?;
                Ok(())
            })
            .await;
        assert!(matches!(dup, Err(StoreError::Conflict)), "{name}: {dup:?}");
        assert!(store.read("Patient", "z", &ALL).await.expect("read").is_none(), "{name}: the failed unit left nothing");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failing_units_do_not_disturb_their_group() {
    for (name, store, _dir) in backends() {
        let store = Arc::new(store);
        let mut tasks = Vec::new();
        for n in 0..200 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let id = format!("r{n}");
                store
                    .write(move |tx: &mut dyn Tx| -> Result<(), StoreError> {
                        tx.put(version("Basic", &id, 1, Some("{}"), &[], &[]))?;
                        if n % 3 == 0 {
                            return Err(StoreError::Unavailable("refused on purpose".into()));
                        }
                        Ok(())
                    })
                    .await
            }));
        }
        for (n, t) in tasks.into_iter().enumerate() {
            let result = t.await.expect("task");
            assert_eq!(result.is_ok(), n % 3 != 0, "{name}: unit {n}");
            let stored = store.read("Basic", &format!("r{n}"), &ALL).await.expect("read");
            assert_eq!(stored.is_some(), n % 3 != 0, "{name}: unit {n} kept exactly when it succeeded");
        }
    }
}

#[tokio::test]
async fn a_panicking_unit_is_rolled_back_and_the_writer_survives() {
    for (name, store, _dir) in backends() {
        let r = store
            .write(|tx: &mut dyn Tx| -> Result<(), StoreError> {
                tx.put(version("Basic", "boom", 1, Some("{}"), &[], &[]))?;
                panic!("a bug in a unit");
            })
            .await;
        assert!(matches!(r, Err(StoreError::Internal(_))), "{name}");
        assert!(store.read("Basic", "boom", &ALL).await.expect("read").is_none());
        store.write(|tx: &mut dyn Tx| tx.put(version("Basic", "after", 1, Some("{}"), &[], &[]))).await.expect("writer still works");
    }
}

#[tokio::test]
async fn token_finds() {
    for (name, store, _dir) in backends() {
        store
            .write(|tx: &mut dyn Tx| -> Result<(), StoreError> {
                tx.put(version("Patient", "a", 1, Some("{}"), &[token("1", Some("s"))], &[]))?;
                tx.put(version("Patient", "b", 1, Some("{}"), &[token("1", Some("t"))], &[]))?;
                tx.put(version("Patient", "c", 1, Some("{}"), &[token("1", None)], &[]))?;
                tx.put(version("Patient", "d", 1, Some("{}"), &[token("2", Some("s"))], &[]))?;
                tx.put(version("Patient", "d", 2, Some("{}"), &[token("1", Some("s"))], &[]))?; // re-indexed
                tx.put(version("Patient", "e", 1, Some("{}"), &[token("1", Some("s"))], &[]))?;
                tx.put(version("Patient", "e", 2, None, &[], &[]))?; // deleted: never found
                tx.put(version("Group", "g", 1, Some("{}"), &[token("1", Some("s"))], &[]))?;
                Ok(())
            })
            .await
            .expect("write");
        let ids = |found: Vec<store::Stored>| found.into_iter().map(|s| s.id).collect::<Vec<_>>();
        let crit = |system: Option<Option<&str>>, code: &str| TokenCriterion {
            param: "identifier".into(),
            system: system.map(|s| s.map(str::to_owned)),
            code: code.into(),
        };
        assert_eq!(ids(store.find("Patient", vec![crit(None, "1")], None, 10).await.expect("find")), ["a", "b", "c", "d"], "{name}");
        assert_eq!(ids(store.find("Patient", vec![crit(Some(Some("s")), "1")], None, 10).await.expect("find")), ["a", "d"]);
        assert_eq!(ids(store.find("Patient", vec![crit(Some(None), "1")], None, 10).await.expect("find")), ["c"]);
        assert_eq!(ids(store.find("Patient", vec![crit(None, "2")], None, 10).await.expect("find")), Vec::<String>::new());
        assert_eq!(ids(store.find("Patient", vec![crit(None, "1")], Some("b".into()), 2).await.expect("find")), ["c", "d"], "keyset paging");
        let by_id = TokenCriterion { param: "_id".into(), system: None, code: "b".into() };
        assert_eq!(ids(store.find("Patient", vec![by_id, crit(None, "1")], None, 10).await.expect("find")), ["b"]);
    }
}

#[tokio::test]
async fn history_pages_newest_first() {
    for (name, store, _dir) in backends() {
        store
            .write(|tx: &mut dyn Tx| -> Result<(), StoreError> {
                for (i, t) in ["Patient", "Basic", "Patient", "Basic", "Patient"].iter().enumerate() {
                    let mut v = version(t, "x", 1, Some("{}"), &[], &[]);
                    let id = format!("x{i}");
                    v.id = &id;
                    let lu = format!("2026-01-0{}T00:00:00.000Z", i + 1);
                    v.last_updated = &lu;
                    tx.put(v)?;
                }
                Ok(())
            })
            .await
            .expect("write");
        let page = |scope, since: Option<&str>, before_seq, limit| {
            let store = store.clone();
            let q = HistoryQuery { scope, since: since.map(str::to_owned), before_seq, limit, visibility: ALL };
            async move { store.history(q).await.expect("history").into_iter().map(|s| (s.id, s.seq)).collect::<Vec<_>>() }
        };
        let all = page(HistoryScope::System, None, None, 10).await;
        assert_eq!(all.iter().map(|(i, _)| i.as_str()).collect::<Vec<_>>(), ["x4", "x3", "x2", "x1", "x0"], "{name}");
        let first = page(HistoryScope::Type("Patient".into()), None, None, 2).await;
        assert_eq!(first.iter().map(|(i, _)| i.as_str()).collect::<Vec<_>>(), ["x4", "x2"]);
        let rest = page(HistoryScope::Type("Patient".into()), None, Some(first[1].1), 2).await;
        assert_eq!(rest.iter().map(|(i, _)| i.as_str()).collect::<Vec<_>>(), ["x0"]);
        let since = page(HistoryScope::System, Some("2026-01-04T00:00:00.000Z"), None, 10).await;
        assert_eq!(since.iter().map(|(i, _)| i.as_str()).collect::<Vec<_>>(), ["x4", "x3"]);
        let inst = page(HistoryScope::Instance("Basic".into(), "x1".into()), None, None, 10).await;
        assert_eq!(inst.len(), 1);
    }
}

#[tokio::test]
async fn referrers_follow_current_versions() {
    for (name, store, _dir) in backends() {
        let refs: Vec<(String, String)> = vec![("Patient".into(), "p".into())];
        let r2 = refs.clone();
        store
            .write(move |tx: &mut dyn Tx| -> Result<(), StoreError> {
                tx.put(version("Patient", "p", 1, Some("{}"), &[], &[]))?;
                tx.put(version("Observation", "o", 1, Some("{}"), &[], &r2))?;
                tx.put(version("Patient", "p", 2, Some("{}"), &[], &[("Patient".into(), "p".into())]))?; // self-reference
                Ok(())
            })
            .await
            .expect("write");
        let referrers = store.write(|tx: &mut dyn Tx| tx.referrers("Patient", "p", 10)).await.expect("referrers");
        assert_eq!(referrers, [("Observation".to_owned(), "o".to_owned())], "{name}: self-references do not count");
        store.write(|tx: &mut dyn Tx| tx.put(version("Observation", "o", 2, None, &[], &[]))).await.expect("delete");
        let referrers = store.write(|tx: &mut dyn Tx| tx.referrers("Patient", "p", 10)).await.expect("referrers");
        assert!(referrers.is_empty(), "{name}: a deleted resource refers to nothing");
    }
}

#[tokio::test]
async fn the_record_wal_is_started_again_past_its_limit_and_keeps_its_size() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("wal.db");
    let limit = 256 * 1024;
    let s = Store::Sqlite(SqliteStore::open(SqliteOptions { wal_limit: limit, ..SqliteOptions::new(&path) }).expect("open"));
    // One unit a group, each writing a few pages: 4 MB of frames in all if the WAL were never started again.
    let body = format!(r#"{{"text":"{}"}}"#, "x".repeat(6000));
    let mut sizes = Vec::new();
    for n in 0..500 {
        let body = body.clone();
        s.write(move |tx: &mut dyn Tx| tx.put(version("Basic", &format!("b{n}"), 1, Some(&body), &[], &[]))).await.expect("write");
        sizes.push(std::fs::metadata(dir.path().join("wal.db-wal")).map(|m| m.len()).unwrap_or(0));
    }
    let largest = sizes.iter().copied().max().unwrap_or(0);
    // The limit plus the last group's frames: with 3 MB written, the WAL was started again (by the writer
    // past the limit, or after a background checkpoint), and it never shrank.
    assert!(largest < limit + 64 * 1024, "the WAL grew to {largest} bytes");
    assert!(sizes.windows(2).all(|w| w[0] <= w[1]), "the WAL was cut back and grown again");
    assert!(s.read("Basic", "b0", &ALL).await.expect("read").is_some());
    assert!(s.read("Basic", "b499", &ALL).await.expect("read").is_some());
}

#[tokio::test]
async fn reopening_keeps_everything_and_migrations_run_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("reopen.db");
    {
        let s = Store::Sqlite(SqliteStore::open(SqliteOptions::new(&path)).expect("open"));
        s.write(|tx: &mut dyn Tx| tx.put(version("Basic", "kept", 1, Some(r#"{"a":1}"#), &[], &[]))).await.expect("write");
        s.close().await.expect("close");
        let after = s.write(|tx: &mut dyn Tx| tx.put(version("Basic", "late", 1, Some("{}"), &[], &[]))).await;
        assert!(matches!(after, Err(StoreError::Unavailable(_))), "a closed store refuses writes");
    }
    assert!(!dir.path().join("reopen.db-wal").exists() || std::fs::metadata(dir.path().join("reopen.db-wal")).map(|m| m.len()).unwrap_or(0) == 0);
    // Two stores opening the same file at once both succeed: migrations are applied once.
    let (a, b) = (SqliteStore::open(SqliteOptions::new(&path)), SqliteStore::open(SqliteOptions::new(&path)));
    let (a, b) = (Store::Sqlite(a.expect("open a")), Store::Sqlite(b.expect("open b")));
    assert_eq!(a.read("Basic", "kept", &ALL).await.expect("read").and_then(|s| s.body), Some(r#"{"a":1}"#.into()));
    assert!(b.read("Basic", "kept", &ALL).await.expect("read").is_some());
    let conn = rusqlite::Connection::open(&path).expect("open raw");
    let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).expect("user_version");
    assert_eq!(v as usize, store::SQLITE_SCHEMA_VERSION);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_migrations_run_once_when_nodes_start_together() {
    let Some(admin) = PgTestDatabase::admin_url_from_env() else {
        eprintln!("postgres: skipped (set JOINERY_TEST_POSTGRES_URL)");
        return;
    };
    let db = PgTestDatabase::create(&admin).expect("create database");
    // Eight "nodes" migrate the same empty database at once: each migration is applied exactly once.
    let stores: Vec<PgStore> = (0..8).map(|_| PgStore::open(PgOptions::new(db.url())).expect("open")).collect();
    let tasks: Vec<_> = stores.iter().cloned().map(|s| tokio::spawn(async move { s.migrate().await })).collect();
    for t in tasks {
        t.await.expect("task").expect("migrate");
    }
    let s = Store::Postgres(stores[0].clone());
    s.write(|tx: &mut dyn Tx| tx.put(version("Basic", "kept", 1, Some(r#"{"a":1}"#), &[], &[]))).await.expect("write");
    assert_eq!(stores[0].applied_migrations().await.expect("applied"), store::POSTGRES_SCHEMA_VERSION);
    // A store opened later on the same database sees the data and applies nothing.
    let again = Store::Postgres(PgStore::open(PgOptions::new(db.url())).expect("open"));
    assert_eq!(again.read("Basic", "kept", &ALL).await.expect("read").and_then(|s| s.body), Some(r#"{"a":1}"#.into()));
    for s in &stores {
        s.close().await.expect("close");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_conditional_creates_through_two_pools_make_one_resource() {
    let Some(admin) = PgTestDatabase::admin_url_from_env() else {
        eprintln!("postgres: skipped (set JOINERY_TEST_POSTGRES_URL)");
        return;
    };
    let db = PgTestDatabase::create(&admin).expect("create database");
    // Two stores with their own pools stand for two nodes: only PostgreSQL can make them agree.
    let nodes = [PgStore::open(PgOptions::new(db.url())).expect("open a"), PgStore::open(PgOptions::new(db.url())).expect("open b")];
    let mut tasks = Vec::new();
    for n in 0..40 {
        let s = Store::Postgres(nodes[n % 2].clone());
        tasks.push(tokio::spawn(async move {
            s.write(move |tx: &mut dyn Tx| -> Result<bool, StoreError> {
                let crit = [TokenCriterion { param: "identifier".into(), system: Some(Some("s".into())), code: "42".into() }];
                if !tx.find("Patient", &crit, 2)?.is_empty() {
                    return Ok(false);
                }
                let id = format!("p{n}");
                tx.put(NewVersion { id: &id, ..version("Patient", "x", 1, Some("{}"), &[token("42", Some("s"))], &[]) })?;
                Ok(true)
            })
            .await
        }));
    }
    let mut created = 0;
    for t in tasks {
        created += usize::from(t.await.expect("task").expect("unit"));
    }
    assert_eq!(created, 1, "exactly one conditional create wrote");
}

#[tokio::test]
async fn search_pages_by_id_both_ways_and_counts() {
    use store::search::{IndexTable, Predicate, Query, SortKey, Test};
    for (name, store, _keep) in backends() {
        store
            .write(|tx: &mut dyn Tx| -> Result<(), StoreError> {
                for id in ["a", "b", "c", "d", "e"] {
                    tx.put(version("Patient", id, 1, Some("{}"), &[token("x", Some("s")), token("x", None)], &[]))?;
                }
                tx.put(version("Patient", "f", 1, Some("{}"), &[token("y", Some("s"))], &[]))?;
                tx.put(version("Patient", "g", 1, Some("{}"), &[token("x", Some("s"))], &[]))?;
                tx.put(version("Patient", "g", 2, None, &[], &[]))?; // deleted: never found
                Ok(())
            })
            .await
            .expect("write");
        let query = |sort: Vec<SortKey>, limit, after: Option<&str>, before: Option<&str>| Query {
            resource_type: "Patient".into(),
            filters: vec![vec![Predicate { param: "identifier".into(), test: Test::Token { system: None, code: Some("x".into()), negate: false } }]],
            sort,
            limit,
            after: after.map(|a| vec![serde_json::Value::String(a.into())]),
            before: before.map(|b| vec![serde_json::Value::String(b.into())]),
            person: None,
            visibility: ALL,
        };
        let ids = |rows: Vec<(store::Stored, Vec<serde_json::Value>)>| rows.into_iter().map(|(s, _)| s.id).collect::<Vec<_>>();
        let desc = || vec![SortKey { param: None, table: IndexTable::Token, descending: true }];
        assert_eq!(ids(store.search(query(vec![], 3, None, None)).await.expect("search")), ["a", "b", "c"], "{name}: one row per resource");
        assert_eq!(ids(store.search(query(vec![], 2, Some("b"), None)).await.expect("search")), ["c", "d"], "{name}");
        assert_eq!(ids(store.search(query(vec![], 2, None, Some("d"))).await.expect("search")), ["b", "c"], "{name}: before, in order");
        assert_eq!(ids(store.search(query(desc(), 3, None, None)).await.expect("search")), ["e", "d", "c"], "{name}");
        assert_eq!(ids(store.search(query(desc(), 2, Some("d"), None)).await.expect("search")), ["c", "b"], "{name}");
        assert_eq!(ids(store.search(query(desc(), 2, None, Some("b"))).await.expect("search")), ["d", "c"], "{name}");
        let keys = store.search(query(vec![], 1, None, None)).await.expect("search");
        assert_eq!(keys[0].1, vec![serde_json::Value::String("a".into())], "{name}: the cursor is the id");
        assert_eq!(store.count(query(vec![], 1, None, None)).await.expect("count"), 5, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_and_secrets() {
    for (name, store, _dir) in backends() {
        let clinician = store::Account {
            username: "gp1".into(),
            role: "clinician".into(),
            practitioner_role: Some("prr1".into()),
            practitioner: Some("pr1".into()),
            organisation: Some("org1".into()),
            password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
            created: "2026-01-01T00:00:00Z".into(),
            ..Default::default()
        };
        assert_eq!(store.account("gp1").await.expect("read"), None, "{name}");
        store.add_account(clinician.clone()).await.expect("add");
        assert!(matches!(store.add_account(clinician.clone()).await, Err(StoreError::Conflict)), "{name}: a taken name is a conflict");
        let person = store::Account {
            username: "p1".into(),
            role: "person".into(),
            patient: Some("pat1".into()),
            created: "2026-01-02T00:00:00Z".into(),
            ..Default::default()
        };
        store.add_account(person.clone()).await.expect("add");
        assert_eq!(store.account("gp1").await.expect("read"), Some(clinician.clone()), "{name}");
        let names: Vec<String> = store.accounts().await.expect("list").into_iter().map(|a| a.username).collect();
        assert_eq!(names, ["gp1", "p1"], "{name}");

        assert!(store.set_account_disabled("gp1", true).await.expect("disable"), "{name}");
        assert!(store.account("gp1").await.expect("read").is_some_and(|a| a.disabled), "{name}: disabled at once");
        assert!(!store.set_account_disabled("nobody", true).await.expect("disable"), "{name}: no such account");
        assert!(store.set_account_disabled("gp1", false).await.expect("enable"), "{name}");
        assert!(store.account("gp1").await.expect("read").is_some_and(|a| !a.disabled), "{name}");

        let first = store.secret("signing-key", || vec![1, 2, 3]).await.expect("secret");
        let again = store.secret("signing-key", || vec![9, 9, 9]).await.expect("secret");
        assert_eq!((first.as_slice(), again.as_slice()), (&[1u8, 2, 3][..], &[1u8, 2, 3][..]), "{name}: made once, then kept");
    }
}
