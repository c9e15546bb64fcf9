//! The server under test: spawns `joinery serve` on a free loopback port and a fresh (or a given) database,
//! waits for `/healthz`, samples its memory, and stops it with SIGTERM; everything it made is removed on drop
//! (a given database is left alone).

use crate::load::{Conn, Req};
use serde_json::{json, Value};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const STARTUP_LIMIT: Duration = Duration::from_secs(30);
/// On an existing (possibly large) database, opening may first have to read a big write-ahead log.
const STARTUP_LIMIT_EXISTING: Duration = Duration::from_secs(600);
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(2);

/// A running `joinery serve`.
pub struct Server {
    child: Option<Child>,
    dir: PathBuf,
    /// The database served: in `dir` (fresh) or given by the caller (not removed).
    db: PathBuf,
    pub addr: SocketAddr,
    /// From spawn to the first `200 ok` from `GET /healthz`.
    pub startup: Duration,
}

/// How the server stopped.
pub struct Stopped {
    pub shutdown: Duration,
    pub status: Option<ExitStatus>,
    pub code: Option<i32>,
    pub killed: bool,
    /// The process had already exited (crashed or was killed) before the bench asked it to stop.
    pub exited_before_stop: bool,
    pub log_lines: usize,
}

impl Stopped {
    /// Exited by itself with status 0 within the limit.
    pub fn clean(&self) -> bool {
        !self.killed && !self.exited_before_stop && self.status.map(|s| s.success()).unwrap_or(false)
    }

    pub fn describe(&self) -> String {
        match self.status {
            None => "unknown".into(),
            Some(s) => {
                use std::os::unix::process::ExitStatusExt;
                match (s.code(), s.signal()) {
                    (Some(c), _) => format!("exit code {c}"),
                    (None, Some(sig)) => format!("killed by signal {sig}"),
                    _ => s.to_string(),
                }
            }
        }
    }
}

/// Sizes of the database files, in bytes.
pub struct DbBytes {
    pub file: u64,
    pub wal: u64,
}

impl DbBytes {
    pub fn total(&self) -> u64 {
        self.file + self.wal
    }
}

impl Server {
    /// Spawns `joinery serve` with `JOINERY_LOG=warn` on a fresh database and waits until `/healthz` answers.
    pub async fn start(joinery: &Path) -> Result<Server, String> {
        Server::start_on(joinery, None).await
    }

    /// As `start`, on `database` when given (an existing database, left in place on drop).
    pub async fn start_on(joinery: &Path, database: Option<&Path>) -> Result<Server, String> {
        let dir = unique_temp_dir()?;
        let db = database.map(Path::to_path_buf).unwrap_or_else(|| dir.join("joinery.db"));
        let limit = if database.is_some() { STARTUP_LIMIT_EXISTING } else { STARTUP_LIMIT };
        // A system client's token, made on the database before the server opens it.
        let minted = Command::new(joinery)
            .args(["token", "--system", "bench", "--database"])
            .arg(&db)
            .env("JOINERY_LOG", "warn")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {} token: {e}", joinery.display()))?;
        if !minted.status.success() {
            return Err(format!("joinery token failed: {}", String::from_utf8_lossy(&minted.stderr)));
        }
        let token = String::from_utf8_lossy(&minted.stdout).lines().last().unwrap_or_default().to_owned();
        let port = free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        crate::load::set_token(&token, addr)?;
        let log = std::fs::File::create(dir.join("joinery.log")).map_err(|e| format!("cannot create the server's log file: {e}"))?;
        let log2 = log.try_clone().map_err(|e| format!("cannot share the server's log file: {e}"))?;
        let started = Instant::now();
        let spawned = Command::new(joinery)
            .arg("serve")
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--database")
            .arg(&db)
            .env("JOINERY_LOG", "warn")
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn();
        let child = match spawned {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(format!("cannot start {}: {e}", joinery.display()));
            }
        };
        // From here on, dropping `server` kills the child and removes the folder.
        let mut server = Server { child: Some(child), dir, db, addr, startup: Duration::ZERO };
        loop {
            if let Some(child) = server.child.as_mut() {
                match child.try_wait() {
                    Ok(Some(status)) => {
                        return Err(format!("joinery exited ({status}) before it was ready; its log:\n{}", server.log_tail(40)));
                    }
                    Ok(None) => {}
                    Err(e) => return Err(format!("cannot watch the joinery process: {e}")),
                }
            }
            if healthy(addr).await {
                server.startup = started.elapsed();
                return Ok(server);
            }
            if started.elapsed() > limit {
                return Err(format!("joinery did not answer GET /healthz within {limit:?}; its log:\n{}", server.log_tail(40)));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    pub fn db_path(&self) -> PathBuf {
        self.db.clone()
    }

    pub fn database_bytes(&self) -> DbBytes {
        database_bytes(&self.db)
    }

    /// The last `n` lines the server wrote to stdout and stderr.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(self.dir.join("joinery.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with("Joinery is serving")).collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    fn log_lines(&self) -> usize {
        std::fs::read_to_string(self.dir.join("joinery.log")).map(|t| t.lines().filter(|l| !l.starts_with("Joinery is serving")).count()).unwrap_or(0)
    }

    /// Sends SIGTERM and waits for the exit; kills the process if it has not exited within the limit.
    pub fn stop(&mut self) -> Result<Stopped, String> {
        let Some(mut child) = self.child.take() else {
            return Err("the server was already stopped".into());
        };
        if let Ok(Some(status)) = child.try_wait() {
            return Ok(Stopped {
                shutdown: Duration::ZERO,
                status: Some(status),
                code: status.code(),
                killed: false,
                exited_before_stop: true,
                log_lines: self.log_lines(),
            });
        }
        let started = Instant::now();
        let sent = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
        match sent {
            Ok(s) if s.success() => {}
            Ok(s) => eprintln!("bench: `kill -TERM {}` failed ({s})", child.id()),
            Err(e) => eprintln!("bench: cannot run `kill`: {e}"),
        }
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    let shutdown = started.elapsed();
                    return Ok(Stopped {
                        shutdown,
                        status: Some(status),
                        code: status.code(),
                        killed: false,
                        exited_before_stop: false,
                        log_lines: self.log_lines(),
                    });
                }
                Ok(None) if started.elapsed() < SHUTDOWN_LIMIT => std::thread::sleep(Duration::from_millis(1)),
                Ok(None) => {
                    eprintln!("bench: joinery did not stop within {SHUTDOWN_LIMIT:?} of SIGTERM; killing it");
                    let _ = child.kill();
                    let status = child.wait().ok();
                    return Ok(Stopped {
                        shutdown: started.elapsed(),
                        status,
                        code: status.and_then(|s| s.code()),
                        killed: true,
                        exited_before_stop: false,
                        log_lines: self.log_lines(),
                    });
                }
                Err(e) => return Err(format!("cannot wait for the joinery process: {e}")),
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One `GET /healthz` on a new connection; true on `200 ok`.
async fn healthy(addr: SocketAddr) -> bool {
    let Ok(mut conn) = Conn::open(addr).await else {
        return false;
    };
    match conn.send(&Req::get("/healthz".into()), Duration::from_secs(1)).await {
        Ok(r) => r.status == 200 && r.body.as_ref() == b"ok",
        Err(_) => false,
    }
}

/// Sizes of a database file and its write-ahead log (`PATH-wal`).
pub fn database_bytes(db: &Path) -> DbBytes {
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    DbBytes { file: size(db), wal: size(Path::new(&wal)) }
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).map_err(|e| format!("cannot find a free port: {e}"))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| format!("cannot find a free port: {e}"))
}

fn unique_temp_dir() -> Result<PathBuf, String> {
    unique_dir_in(&std::env::temp_dir(), "joinery-bench")
}

/// A new folder `PARENT/NAME-PID-NANOS`.
pub fn unique_dir_in(parent: &Path, name: &str) -> Result<PathBuf, String> {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let dir = parent.join(format!("{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

/// Samples a process's resident memory (VmRSS) on its own thread.
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    state: Arc<Mutex<Memory>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Resident memory figures, in kB.
#[derive(Default, Clone)]
pub struct Memory {
    pub peak_kb: u64,
    pub last_kb: u64,
    pub samples: u64,
}

impl Memory {
    pub fn to_json(&self) -> Value {
        let mb = |kb: u64| crate::round3(kb as f64 / 1024.0);
        json!({ "peak_rss_mb": mb(self.peak_kb), "final_rss_mb": mb(self.last_kb), "samples": self.samples, "interval_ms": 100 })
    }
}

impl RssSampler {
    pub fn start(pid: u32, every: Duration) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let state = Arc::new(Mutex::new(Memory::default()));
        let (s, st) = (stop.clone(), state.clone());
        let path = format!("/proc/{pid}/status");
        let thread = std::thread::spawn(move || {
            let sample = || {
                if let Some(kb) = vm_rss_kb(&path) {
                    if let Ok(mut m) = st.lock() {
                        m.peak_kb = m.peak_kb.max(kb);
                        m.last_kb = kb;
                        m.samples += 1;
                    }
                }
            };
            while !s.load(Ordering::Relaxed) {
                sample();
                std::thread::sleep(every);
            }
            sample();
        });
        RssSampler { stop, state, thread: Some(thread) }
    }

    /// Stops sampling (after one last sample) and returns the figures.
    pub fn stop(mut self) -> Memory {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.state.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

fn vm_rss_kb(path: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
