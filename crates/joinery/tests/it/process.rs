//! The real binary as a process: start-up and `/healthz`, graceful shutdown on SIGTERM with a clean
//! database, and no acknowledged write lost to `kill -9`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

fn start(db: &Path, port: u16) -> Child {
    start_logging(db, port, "warn", Stdio::null())
}

fn start_logging(db: &Path, port: u16, level: &str, stderr: Stdio) -> Child {
    start_with(db, port, level, stderr, &[])
}

/// The bearer token each test server's requests carry, by port.
static TOKENS: std::sync::Mutex<Vec<(u16, String)>> = std::sync::Mutex::new(Vec::new());

/// Makes a system client's token for the database (before or while a server uses it) and has every
/// `request` to `port` carry it.
pub fn authorise(db: &Path, port: u16) {
    let out = Command::new(env!("CARGO_BIN_EXE_joinery"))
        .args(["token", "--database"])
        .arg(db)
        .args(["--system", "tests"])
        .env("JOINERY_LOG", "error")
        .stdin(Stdio::null())
        .output()
        .expect("run joinery token");
    assert!(out.status.success(), "joinery token: {}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8_lossy(&out.stdout).lines().last().expect("a token line").to_owned();
    let mut tokens = TOKENS.lock().expect("tokens");
    tokens.retain(|(p, _)| *p != port);
    tokens.push((port, token));
}

fn token_for(port: u16) -> Option<String> {
    TOKENS.lock().ok()?.iter().find(|(p, _)| *p == port).map(|(_, t)| t.clone())
}

fn start_with(db: &Path, port: u16, level: &str, stderr: Stdio, extra: &[&str]) -> Child {
    authorise(db, port);
    let child = Command::new(env!("CARGO_BIN_EXE_joinery"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--database"])
        .arg(db)
        .args(extra)
        .env("JOINERY_LOG", level)
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("spawn joinery");
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if request(port, "GET", "/healthz", None).is_some_and(|(s, _)| s == 200) {
            return child;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("joinery did not answer /healthz");
}

/// One HTTP/1.1 request on a fresh connection; `None` if the connection failed.
pub fn request(port: u16, method: &str, path: &str, body: Option<&str>) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let body = body.unwrap_or("");
    let auth = token_for(port).map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/fhir+json\r\nContent-Length: {}\r\n{auth}Connection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let status = out.split(' ').nth(1)?.parse().ok()?;
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Some((status, body))
}

pub fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill").args([sig, &child.id().to_string()]).status().expect("kill").success();
    assert!(ok, "kill {sig}");
}

pub fn wait(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        assert!(Instant::now() < deadline, "the process did not exit in time");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn patient(n: usize) -> String {
    format!(r#"{{"resourceType":"Patient","identifier":[{{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"k{n}"}}],"gender":"unknown"}}"#)
}

#[test]
fn sigterm_shuts_down_cleanly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("j.db");
    let port = free_port();
    let mut child = start(&db, port);
    let (status, body) = request(port, "POST", "/fhir/Patient", Some(&patient(1))).expect("create");
    assert_eq!(status, 201, "{body}");
    signal(&child, "-TERM");
    let exit = wait(&mut child, Duration::from_secs(10));
    assert!(exit.success(), "exit status {exit:?}");
    let wal = dir.path().join("j.db-wal");
    assert!(!wal.exists() || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(1) == 0, "the WAL was checkpointed at close");
    // And it comes back with the data.
    let mut child = start(&db, port);
    let (status, body) = request(port, "GET", "/fhir/Patient?identifier=k1", None).expect("search");
    assert_eq!(status, 200);
    assert!(body.contains("\"k1\""), "{body}");
    signal(&child, "-TERM");
    wait(&mut child, Duration::from_secs(10));
}

#[test]
fn kill_9_never_loses_an_acknowledged_write() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("k.db");
    let port = free_port();
    let mut child = start(&db, port);
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (acknowledged, stop) = (acknowledged.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = w * 1_000_000;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    n += 1;
                    match request(port, "POST", "/fhir/Patient", Some(&patient(n))) {
                        Some((201, body)) => {
                            if let Some(id) = body.split("\"id\":\"").nth(1).and_then(|r| r.split('"').next()) {
                                acknowledged.lock().expect("lock").push(id.to_owned());
                            }
                        }
                        _ => break, // the server is gone
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    signal(&child, "-KILL");
    wait(&mut child, Duration::from_secs(10));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        w.join().expect("writer thread");
    }
    let ids = acknowledged.lock().expect("lock").clone();
    assert!(ids.len() > 50, "only {} writes were acknowledged before the kill", ids.len());
    let mut child = start(&db, port);
    let missing: Vec<&String> =
        ids.iter().filter(|id| request(port, "GET", &format!("/fhir/Patient/{id}"), None).map(|(s, _)| s) != Some(200)).collect();
    signal(&child, "-TERM");
    wait(&mut child, Duration::from_secs(10));
    assert!(missing.is_empty(), "{} of {} acknowledged writes were lost", missing.len(), ids.len());
}

#[test]
fn logs_carry_no_identifiers_and_metrics_are_served() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log_path = dir.path().join("stderr.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let port = free_port();
    let mut child = start_logging(&dir.path().join("l.db"), port, "trace", Stdio::from(log));
    let body = r#"{"resourceType":"Patient","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9990571234"}],"name":[{"family":"Quillfeather"}]}"#;
    let (status, created) = request(port, "POST", "/fhir/Patient", Some(body)).expect("create");
    assert_eq!(status, 201, "{created}");
    let id = created.split("\"id\":\"").nth(1).and_then(|r| r.split('"').next()).expect("id").to_owned();
    request(port, "GET", &format!("/fhir/Patient/{id}"), None).expect("read");
    request(port, "GET", "/fhir/Patient?identifier=9990571234", None).expect("search");
    request(port, "POST", "/fhir/Patient", Some(r#"{"resourceType":"Patient","name":[{"family":"Quillfeather"}],"gender":"mail"}"#))
        .expect("bad create");
    let (status, metrics) = request(port, "GET", "/metrics", None).expect("metrics");
    assert_eq!(status, 200);
    assert!(metrics.contains("joinery_http_requests_total"), "{metrics}");
    assert!(metrics.contains("joinery_store_seconds"), "{metrics}");
    // The audit log's writes: how long each took and how many events each carried.
    assert!(metrics.contains("joinery_audit_append_seconds_count"), "{metrics}");
    assert!(metrics.contains("joinery_audit_write_events_count"), "{metrics}");
    signal(&child, "-TERM");
    wait(&mut child, Duration::from_secs(10));
    let logs = std::fs::read_to_string(&log_path).expect("read logs");
    assert!(logs.contains("/fhir/{type}/{id}"), "requests are logged by route template: {logs}");
    for secret in ["9990571234", "Quillfeather", id.as_str()] {
        assert!(!logs.contains(secret), "the log contains an identifier ({secret})");
    }
}

#[test]
fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("joinery.toml");
    std::fs::write(&config, "[limits]\nheader_timeout_ms = 300\n").expect("config");
    let port = free_port();
    let mut child = start_with(&dir.path().join("h.db"), port, "warn", Stdio::null(), &["--config", config.to_str().expect("path")]);
    let started = Instant::now();
    let mut slow = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    slow.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    slow.write_all(b"GET /fhir/metadata HTTP/1.1\r\nHost: loc").expect("write");
    let mut buf = Vec::new();
    let _ = slow.read_to_end(&mut buf);
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(4), "the connection was closed by the server, after {waited:?}");
    assert!(waited >= Duration::from_millis(250), "not before the time limit: {waited:?}");
    assert!(!String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 200"), "no answer to a request never finished");
    let (status, _) = request(port, "GET", "/fhir/metadata", None).expect("a normal request");
    assert_eq!(status, 200);
    signal(&child, "-TERM");
    assert!(wait(&mut child, Duration::from_secs(10)).success());
}
