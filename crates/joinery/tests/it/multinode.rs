//! Several nodes, one PostgreSQL database: two real `joinery serve` processes on one fresh database, driven
//! in parallel over HTTP. Only PostgreSQL can make them agree (each process has its own pool and no lock is
//! shared between them): conditional creates make one resource, `If-Match` lets one writer win, a
//! transaction is seen whole or not at all from the other node. Also back-pressure: 503 with Retry-After
//! when the database is unreachable or saturated, and recovery without a restart.
//! Skipped (with a message) unless `JOINERY_TEST_POSTGRES_URL` names a server.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use store::PgTestDatabase;

fn admin_url() -> Option<String> {
    let url = PgTestDatabase::admin_url_from_env();
    if url.is_none() {
        eprintln!("postgres: skipped (set JOINERY_TEST_POSTGRES_URL to run the multi-node tests)");
    }
    url
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// A `joinery serve` process, stopped when dropped.
struct Node {
    child: Child,
    port: u16,
    /// The bearer token its requests carry.
    token: String,
}

/// A system client's token for a database, from `joinery token` (which also applies the migrations).
fn system_token(database: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_joinery"))
        .args(["token", "--database", database, "--system", "tests"])
        .env("JOINERY_LOG", "error")
        .stdin(Stdio::null())
        .output()
        .expect("run joinery token");
    assert!(out.status.success(), "joinery token: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().last().expect("a token line").to_owned()
}

impl Node {
    /// A node on a reachable database, with a system client's token.
    fn start(database: &str, extra: &[&str]) -> Node {
        let token = system_token(database);
        Node::start_with_token(database, extra, token)
    }

    fn start_with_token(database: &str, extra: &[&str], token: String) -> Node {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_joinery"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--database", database])
            .args(extra)
            .env("JOINERY_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn joinery");
        let node = Node { child, port, token };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if node.request("GET", "/healthz", &[], None).is_some_and(|r| r.status == 200) {
                return node;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("joinery did not answer /healthz");
    }

    fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Option<Reply> {
        let auth = format!("Bearer {}", self.token);
        let mut all = headers.to_vec();
        all.push(("Authorization", &auth));
        request(self.port, method, path, &all, body)
    }

    fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Reply {
        self.request(method, path, headers, body).unwrap_or_else(|| panic!("{method} {path}: no answer"))
    }
}

/// One HTTP/1.1 request on a fresh connection; `None` if the connection failed.
fn request(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Option<Reply> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
    let body = body.unwrap_or("");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/fhir+json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let status = out.split(' ').nth(1)?.parse().ok()?;
    let (head, body) = out.split_once("\r\n\r\n").map(|(h, b)| (h.to_owned(), b.to_owned())).unwrap_or_default();
    Some(Reply { status, head, body })
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Reply {
    status: u16,
    head: String,
    body: String,
}

impl Reply {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }
}

fn patient(nhs: &str, given: &str) -> String {
    format!(
        r#"{{"resourceType":"Patient","identifier":[{{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"{nhs}"}}],"name":[{{"family":"Node","given":["{given}"]}}],"gender":"female"}}"#
    )
}

fn entries(bundle: &serde_json::Value) -> usize {
    bundle["entry"].as_array().map(Vec::len).unwrap_or(0)
}

/// Two nodes on one fresh database.
fn two_nodes(admin: &str) -> (PgTestDatabase, Node, Node) {
    let db = PgTestDatabase::create(admin).expect("create database");
    // Both start at once: migrations are applied once, under PostgreSQL's advisory lock.
    let url = db.url().to_owned();
    let (u1, u2) = (url.clone(), url);
    let a = std::thread::spawn(move || Node::start(&u1, &[]));
    let b = std::thread::spawn(move || Node::start(&u2, &[]));
    let (a, b) = (a.join().expect("node a"), b.join().expect("node b"));
    (db, a, b)
}

#[test]
fn parallel_conditional_creates_through_two_nodes_make_one_resource() {
    let Some(admin) = admin_url() else { return };
    let (_db, a, b) = two_nodes(&admin);
    let nodes = Arc::new([a, b]);
    let workers: Vec<_> = (0..32)
        .map(|n| {
            let nodes = nodes.clone();
            std::thread::spawn(move || {
                let cond = "identifier=https://fhir.nhs.uk/Id/nhs-number|9990001111";
                nodes[n % 2].send("POST", "/fhir/Patient", &[("If-None-Exist", cond)], Some(&patient("9990001111", &format!("W{n}")))).status
            })
        })
        .collect();
    let statuses: Vec<u16> = workers.into_iter().map(|w| w.join().expect("worker")).collect();
    assert_eq!(statuses.iter().filter(|&&s| s == 201).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|&&s| s == 200).count(), 31, "{statuses:?}");
    for node in nodes.iter() {
        let found = node.send("GET", "/fhir/Patient?identifier=9990001111", &[], None).json();
        assert_eq!(entries(&found), 1, "each node sees exactly one");
    }
}

#[test]
fn concurrent_if_match_updates_through_two_nodes_let_exactly_one_win() {
    let Some(admin) = admin_url() else { return };
    let (_db, a, b) = two_nodes(&admin);
    let created = a.send("POST", "/fhir/Patient", &[], Some(&patient("9990002222", "First")));
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.json()["id"].as_str().expect("id").to_owned();
    let nodes = Arc::new([a, b]);
    let workers: Vec<_> = (0..40)
        .map(|n| {
            let (nodes, id) = (nodes.clone(), id.clone());
            std::thread::spawn(move || {
                let body = patient("9990002222", &format!("Writer{n}")).replacen('{', &format!(r#"{{"id":"{id}","#), 1);
                nodes[n % 2].send("PUT", &format!("/fhir/Patient/{id}"), &[("If-Match", "W/\"1\"")], Some(&body)).status
            })
        })
        .collect();
    let statuses: Vec<u16> = workers.into_iter().map(|w| w.join().expect("worker")).collect();
    assert_eq!(statuses.iter().filter(|&&s| s == 200).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|&&s| s == 412).count(), 39, "{statuses:?}");
    let history = nodes[1].send("GET", &format!("/fhir/Patient/{id}/_history"), &[], None).json();
    assert_eq!(entries(&history), 2, "exactly one new version");
}

#[test]
fn a_transaction_through_one_node_is_seen_whole_or_not_at_all_from_the_other() {
    let Some(admin) = admin_url() else { return };
    let (_db, a, b) = two_nodes(&admin);
    let nodes = Arc::new([a, b]);
    let stop = Arc::new(AtomicBool::new(false));
    // Readers on each node watch every bundle's identifier: a good bundle is seen with both its Patients or
    // none; a failing one is never seen.
    let readers: Vec<_> = (0..2)
        .map(|r| {
            let (nodes, stop) = (nodes.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut looks = 0;
                while !stop.load(Ordering::Relaxed) {
                    for n in 0..20 {
                        let page = nodes[r].send("GET", &format!("/fhir/Patient?identifier=tx-{n}"), &[], None).json();
                        let seen = entries(&page);
                        let expected: &[usize] = if n % 2 == 0 { &[0, 2] } else { &[0] };
                        assert!(expected.contains(&seen), "node {r} saw {seen} Patients of transaction {n}");
                        looks += 1;
                    }
                }
                looks
            })
        })
        .collect();
    let writers: Vec<_> = (0..20)
        .map(|n| {
            let nodes = nodes.clone();
            std::thread::spawn(move || {
                // The odd bundles fail in the database, after their first entry was written: the second
                // entry refers to a resource that does not exist.
                let second_ref = if n % 2 == 0 { "urn:uuid:a" } else { "Patient/does-not-exist" };
                let bundle = format!(
                    r#"{{"resourceType":"Bundle","type":"transaction","entry":[
                    {{"fullUrl":"urn:uuid:a","resource":{{"resourceType":"Patient","identifier":[{{"system":"urn:a","value":"tx-{n}"}}]}},"request":{{"method":"POST","url":"Patient"}}}},
                    {{"fullUrl":"urn:uuid:b","resource":{{"resourceType":"Patient","identifier":[{{"system":"urn:b","value":"tx-{n}"}}],"link":[{{"other":{{"reference":"{second_ref}"}},"type":"seealso"}}]}},"request":{{"method":"POST","url":"Patient"}}}}]}}"#
                );
                (n, nodes[n % 2].send("POST", "/fhir", &[], Some(&bundle)).status)
            })
        })
        .collect();
    for w in writers {
        let (n, status) = w.join().expect("writer");
        assert_eq!(status, if n % 2 == 0 { 200 } else { 422 }, "transaction {n}");
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        assert!(r.join().expect("reader") > 0);
    }
    for n in 0..20 {
        let page = nodes[(n + 1) % 2].send("GET", &format!("/fhir/Patient?identifier=tx-{n}"), &[], None).json();
        assert_eq!(entries(&page), if n % 2 == 0 { 2 } else { 0 }, "transaction {n}, read through the other node");
    }
}

#[test]
fn an_unreachable_database_gives_503_with_retry_after_and_the_server_recovers_when_it_appears() {
    let Some(admin) = admin_url() else { return };
    // Nothing listens on this port: the server starts anyway and refuses requests with 503.
    let nowhere = format!("postgres://postgres@127.0.0.1:{}/joinery", free_port());
    // Any bearer token: checking it needs the database, which cannot answer.
    let down = Node::start_with_token(&nowhere, &[], "x".into());
    let r = down.send("GET", "/fhir/Patient/x", &[], None);
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.header("retry-after").as_deref(), Some("5"));
    assert_eq!(r.json()["issue"][0]["code"], "transient");
    drop(down);
    // A database that does not exist yet, then appears: the same process recovers by itself.
    let name = format!("joinery_test_late_{}_{}", std::process::id(), free_port());
    let url = PgTestDatabase::url_for(&admin, &name).expect("url");
    let mut node = Node::start_with_token(&url, &[], "x".into());
    let r = node.send("POST", "/fhir/Patient", &[], Some(&patient("9990003333", "Late")));
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.header("retry-after").is_some());
    let _db = PgTestDatabase::create_named(&admin, &name).expect("create the database");
    node.token = system_token(&url);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = node.send("POST", "/fhir/Patient", &[], Some(&patient("9990003333", "Late")));
        if r.status == 201 {
            break;
        }
        assert_eq!(r.status, 503, "{}", r.body);
        assert!(Instant::now() < deadline, "the server did not recover");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(entries(&node.send("GET", "/fhir/Patient?identifier=9990003333", &[], None).json()), 1);
}

#[test]
fn a_saturated_pool_and_a_statement_past_its_timeout_give_503() {
    let Some(admin) = admin_url() else { return };
    let db = PgTestDatabase::create(&admin).expect("create database");
    // One connection, three seconds per statement, a second and a half of waiting for a connection.
    let node = Node::start(db.url(), &["--database-pool", "1", "--database-timeout-ms", "3000"]);
    assert_eq!(node.send("POST", "/fhir/Patient", &[], Some(&patient("9990004444", "Warm"))).status, 201);
    // Another client holds the lock a conditional create on this identifier needs, for six seconds.
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let holder = store::Store::Postgres(store::PgStore::open(store::PgOptions::new(db.url())).expect("open"));
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let hold = runtime.spawn(async move {
        holder
            .write(move |tx: &mut dyn store::Tx| -> Result<(), store::StoreError> {
                let crit = [store::TokenCriterion { param: "identifier".into(), system: None, code: "9990005555".into() }];
                tx.find("Patient", &crit, 2)?;
                let _ = held_tx.send(());
                std::thread::sleep(Duration::from_secs(6));
                Ok(())
            })
            .await
    });
    held_rx.recv_timeout(Duration::from_secs(10)).expect("the lock is held");
    let blocked = {
        let port = node.port;
        let auth = format!("Bearer {}", node.token);
        std::thread::spawn(move || {
            request(
                port,
                "POST",
                "/fhir/Patient",
                &[("If-None-Exist", "identifier=9990005555"), ("Authorization", &auth)],
                Some(&patient("9990005555", "Blocked")),
            )
            .expect("an answer")
        })
    };
    std::thread::sleep(Duration::from_millis(1000));
    // The only connection is waiting on the lock: a read waits for a connection, then is refused.
    let started = Instant::now();
    let r = node.send("GET", "/fhir/Patient?identifier=9990004444", &[], None);
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.header("retry-after").is_some());
    assert!(started.elapsed() < Duration::from_millis(2900), "refused after the wait timeout, not left hanging");
    // The blocked create runs past the statement timeout: refused too, not left hanging.
    let r = blocked.join().expect("blocked request");
    assert_eq!(r.status, 503, "{}", r.body);
    runtime.block_on(hold).expect("holder").expect("unit");
    // And the server carries on.
    assert_eq!(node.send("POST", "/fhir/Patient", &[("If-None-Exist", "identifier=9990005555")], Some(&patient("9990005555", "Later"))).status, 201);
}
