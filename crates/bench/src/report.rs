//! The report: facts about the machine, and each part's figures as JSON with the unit in every key name.

use crate::load::{Outcome, Summary};
use crate::phases::Census;
use crate::server::DbBytes;
use serde_json::{json, Value};

/// Cores, CPU model, total memory and kernel of this machine.
pub fn machine() -> Value {
    let cores = std::thread::available_parallelism().map(|n| n.get()).ok();
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split_once(':')).map(|(_, v)| v.trim().to_owned());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kb: Option<u64> =
        meminfo.lines().find(|l| l.starts_with("MemTotal:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok().map(|s| s.trim().to_owned());
    json!({
        "cores": cores,
        "cpu_model": model,
        "memory_total_mb": mem_kb.map(|kb| kb / 1024),
        "kernel": kernel,
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
    })
}

impl Outcome {
    /// A load phase's figures; `noun` names the throughput key (`creates` → `creates_per_s`).
    pub fn to_json(&self, noun: &str) -> Value {
        let s = Summary::of(&self.latencies_ns);
        let mut m = serde_json::Map::new();
        m.insert("clients".into(), json!(self.clients));
        m.insert("seconds".into(), json!(crate::round3(self.elapsed.as_secs_f64())));
        m.insert(noun.into(), json!(self.ok));
        m.insert("errors".into(), json!(self.errors));
        m.insert(format!("{noun}_per_s"), json!(crate::round3(self.per_second())));
        if let Value::Object(lat) = s.to_json() {
            m.extend(lat);
        }
        m.insert("clients_lost".into(), json!(self.clients_lost));
        m.insert("first_error".into(), json!(self.first_error));
        Value::Object(m)
    }
}

/// The store at the end: what it holds and how big the database is.
pub fn store_json(census: &Result<Census, String>, running: &DbBytes, stopped: &DbBytes) -> Value {
    let (resources, by_type, census_json) = match census {
        Ok(c) => (
            json!(c.resources),
            json!(c.by_type),
            json!({ "method": "GET /fhir/_history, all pages", "versions": c.versions, "pages": c.pages, "seconds": crate::round3(c.took.as_secs_f64()) }),
        ),
        Err(e) => (Value::Null, Value::Null, json!({ "error": e })),
    };
    json!({
        "resources": resources,
        "resources_by_type": by_type,
        "census": census_json,
        "database_bytes": running.total(),
        "database_file_bytes": running.file,
        "database_wal_bytes": running.wal,
        "database_bytes_after_shutdown": stopped.total(),
        "database_wal_bytes_after_shutdown": stopped.wal,
    })
}
