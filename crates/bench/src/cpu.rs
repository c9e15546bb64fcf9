//! CPU accounting on a shared machine (Linux `/proc`): how much CPU the server, the load generator and everything
//! else used during a measurement, so that figures taken while other work ran can be told apart, and the server's
//! CPU cost per request (which does not depend on what else runs).

use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Clock ticks per second of `/proc` CPU times (USER_HZ, 100 on Linux).
const TICKS_PER_S: f64 = 100.0;

/// CPU times at one instant, in ticks.
#[derive(Clone, Copy)]
pub struct Snapshot {
    at: Instant,
    /// Busy time of all cores (user, nice, system, irq, softirq, steal).
    busy: u64,
    server: u64,
    bench: u64,
}

/// CPU used between two snapshots, in cores (CPU seconds per second).
pub struct Usage {
    pub busy_cores: f64,
    pub server_cores: f64,
    pub bench_cores: f64,
    pub server_cpu_s: f64,
}

impl Usage {
    /// What neither the server nor the load generator used.
    pub fn others_cores(&self) -> f64 {
        (self.busy_cores - self.server_cores - self.bench_cores).max(0.0)
    }

    /// The figures, with the server's CPU milliseconds per request when `requests` is given.
    pub fn to_json(&self, requests: Option<u64>) -> Value {
        let r3 = crate::round3;
        json!({
            "cores": std::thread::available_parallelism().map(|n| n.get()).ok(),
            "busy_cores": r3(self.busy_cores),
            "server_cores": r3(self.server_cores),
            "bench_cores": r3(self.bench_cores),
            "others_cores": r3(self.others_cores()),
            "server_cpu_ms_per_request": requests.filter(|&n| n > 0).map(|n| r3(self.server_cpu_s * 1000.0 / n as f64)),
        })
    }
}

fn total_busy() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().next()?.strip_prefix("cpu ")?;
    let f: Vec<u64> = line.split_whitespace().filter_map(|x| x.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal
    Some([0usize, 1, 2, 5, 6, 7].iter().filter_map(|&i| f.get(i)).sum())
}

fn process_ticks(pid: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) in parentheses: state is field 3, utime 14, stime 15.
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some(utime + stime)
}

impl Snapshot {
    pub fn take(server_pid: u32) -> Snapshot {
        Snapshot {
            at: Instant::now(),
            busy: total_busy().unwrap_or(0),
            server: process_ticks(&server_pid.to_string()).unwrap_or(0),
            bench: process_ticks("self").unwrap_or(0),
        }
    }

    /// What was used from `self` to `later`.
    pub fn until(&self, later: &Snapshot) -> Usage {
        let seconds = later.at.duration_since(self.at).as_secs_f64().max(1e-9);
        let cores = |a: u64, b: u64| b.saturating_sub(a) as f64 / TICKS_PER_S / seconds;
        Usage {
            busy_cores: cores(self.busy, later.busy),
            server_cores: cores(self.server, later.server),
            bench_cores: cores(self.bench, later.bench),
            server_cpu_s: later.server.saturating_sub(self.server) as f64 / TICKS_PER_S,
        }
    }
}

/// Waits until other work uses at most `max_cores` over a 5-second window, for at most `limit`. Returns how long
/// it waited and what others used in the last window.
pub async fn wait_for_quiet(server_pid: u32, max_cores: f64, limit: Duration) -> (Duration, f64) {
    let started = Instant::now();
    loop {
        let a = Snapshot::take(server_pid);
        tokio::time::sleep(Duration::from_secs(5)).await;
        let others = a.until(&Snapshot::take(server_pid)).others_cores();
        if others <= max_cores || started.elapsed() >= limit {
            return (started.elapsed(), others);
        }
    }
}
