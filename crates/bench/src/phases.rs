//! The measured phases: create Patients, read them (many connections, then one), post the Synthea transaction
//! bundles, and count what the store holds at the end.

use crate::data::{self, SyntheaBundle};
use crate::load::{self, Conn, Limits, Outcome, Reply, Req, Rng, Summary, Work};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const BUNDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// The transaction phase stops sending bundles after this long, whatever is left.
const TRANSACTION_LIMIT: Duration = Duration::from_secs(900);
/// The untimed top-up before the read phase gives up after this long.
const TOPUP_LIMIT: Duration = Duration::from_secs(300);

/// POST {base}/Patient with `Prefer: return=representation`, NHS numbers in turn from `next`: expects 201 and
/// keeps the assigned id.
pub struct CreatePatients {
    pub base: String,
    pub next: AtomicU64,
    /// The `Authorization` header to send instead of the server under test's token.
    pub authorization: Option<&'static str>,
}

impl Work for CreatePatients {
    fn request(&self, rng: &mut Rng) -> Req {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut req = Req::post(format!("{}/Patient", self.base), data::patient(&data::nhs_number(n), rng));
        req.headers.push(("prefer", "return=representation"));
        if let Some(a) = self.authorization {
            req.headers.push(("authorization", a));
        }
        req
    }

    fn check(&self, reply: &Reply) -> Result<Option<String>, String> {
        if reply.status != 201 {
            return Err(reply.describe());
        }
        let value: Value = serde_json::from_slice(&reply.body).map_err(|e| format!("the 201 body is not JSON ({e}): {}", reply.describe()))?;
        match value.get("id").and_then(Value::as_str) {
            Some(id) if !id.is_empty() => Ok(Some(id.to_owned())),
            _ => Err(format!("the 201 body has no id: {}", reply.describe())),
        }
    }
}

/// GET /fhir/Patient/{random created id}: expects 200.
struct ReadPatients {
    ids: Arc<Vec<String>>,
}

impl Work for ReadPatients {
    fn request(&self, rng: &mut Rng) -> Req {
        Req::get(format!("/fhir/Patient/{}", rng.pick(&self.ids)))
    }

    fn check(&self, reply: &Reply) -> Result<Option<String>, String> {
        if reply.status == 200 && reply.body.first() == Some(&b'{') {
            Ok(None)
        } else {
            Err(reply.describe())
        }
    }
}

/// Numbers the NHS numbers across create runs so that they do not repeat.
static NHS_SEQUENCE: AtomicU64 = AtomicU64::new(1);

async fn create_run(addr: SocketAddr, clients: usize, duration: Duration, max: u64, seed: u64) -> Outcome {
    let start = NHS_SEQUENCE.load(Ordering::Relaxed);
    let work = Arc::new(CreatePatients { base: "/fhir".into(), next: AtomicU64::new(start), authorization: None });
    let limits = Limits { clients, duration, max_requests: max, timeout: REQUEST_TIMEOUT };
    let out = load::run(addr, &limits, work.clone(), seed).await;
    NHS_SEQUENCE.store(work.next.load(Ordering::Relaxed), Ordering::Relaxed);
    out
}

/// The timed create phase.
pub async fn create(addr: SocketAddr, clients: usize, duration: Duration, max: u64) -> Outcome {
    eprintln!("bench: create: {clients} clients POST Patients for {duration:?}");
    let out = create_run(addr, clients, duration, max, 1).await;
    progress("create", "creates", &out);
    out
}

/// Untimed creates until `want` more Patients exist (bounded by a time limit).
pub async fn top_up(addr: SocketAddr, clients: usize, want: u64) -> Outcome {
    eprintln!("bench: creating {want} more Patients before the read phase (not timed as a phase)");
    let out = create_run(addr, clients, TOPUP_LIMIT, want, 2).await;
    progress("create top-up", "creates", &out);
    out
}

/// A read phase over the given ids.
pub async fn read(addr: SocketAddr, clients: usize, duration: Duration, max: u64, ids: Arc<Vec<String>>, label: &str) -> Outcome {
    eprintln!("bench: {label}: {clients} client(s) GET random Patients among {} for {duration:?}", ids.len());
    let limits = Limits { clients, duration, max_requests: max, timeout: REQUEST_TIMEOUT };
    let out = load::run(addr, &limits, Arc::new(ReadPatients { ids }), 3 + clients as u64).await;
    progress(label, "reads", &out);
    out
}

fn progress(label: &str, noun: &str, out: &Outcome) {
    let s = Summary::of(&out.latencies_ns);
    eprintln!(
        "bench: {label}: {} {noun} in {:.2} s = {:.0}/s; p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms; {} errors",
        out.ok,
        out.elapsed.as_secs_f64(),
        out.per_second(),
        s.p50_ns as f64 / 1e6,
        s.p99_ns as f64 / 1e6,
        s.max_ns as f64 / 1e6,
        out.errors
    );
    if let Some(e) = &out.first_error {
        eprintln!("bench: {label}: first error: {e}");
    }
}

/// The one-connection read figures: median and p99 against the 0.3 ms target.
pub fn one_connection_json(out: &Outcome) -> Value {
    let s = Summary::of(&out.latencies_ns);
    let median_ms = crate::round3(s.p50_ns as f64 / 1e6);
    json!({
        "clients": 1,
        "seconds": crate::round3(out.elapsed.as_secs_f64()),
        "reads": out.ok,
        "errors": out.errors,
        "reads_per_s": crate::round3(out.per_second()),
        "median_ms": median_ms,
        "p99_ms": crate::round3(s.p99_ns as f64 / 1e6),
        "max_ms": crate::round3(s.max_ns as f64 / 1e6),
        "target_median_ms": 0.3,
        "meets_target": s.count > 0 && median_ms < 0.3,
        "first_error": out.first_error,
    })
}

/// What the transaction phase did.
pub struct Transactions {
    pub bundles_total: usize,
    pub bundles_sent: usize,
    pub entries_sent: usize,
    /// Entries the server answered `201` (new resources).
    pub created: usize,
    pub failures: usize,
    pub first_failure: Option<String>,
    pub truncated: bool,
    pub wall: Duration,
    /// (entries, latency) of each bundle answered 200.
    pub timings: Vec<(usize, Duration)>,
}

impl Transactions {
    pub fn to_json(&self, dir: &Path) -> Value {
        let ns: Vec<u64> = self.timings.iter().map(|(_, d)| d.as_nanos() as u64).collect();
        let big: Vec<f64> = self.timings.iter().filter(|(n, _)| (450..=550).contains(n)).map(|(_, d)| crate::ms(*d)).collect();
        let big_mean = if big.is_empty() { Value::Null } else { json!(crate::round3(big.iter().sum::<f64>() / big.len() as f64)) };
        let big_max = big.iter().copied().fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))));
        let wall = self.wall.as_secs_f64();
        json!({
            "synthea_dir": dir.display().to_string(),
            "bundles": self.bundles_sent,
            "bundles_in_folder": self.bundles_total,
            "entries": self.entries_sent,
            "resources_created": self.created,
            "failures": self.failures,
            "first_failure": self.first_failure,
            "stopped_at_time_limit": self.truncated,
            "wall_s": crate::round3(wall),
            "resources_per_s": crate::round3(if wall > 0.0 { self.entries_sent as f64 / wall } else { 0.0 }),
            "bundle_latency": Summary::of(&ns).to_json(),
            "bundles_450_to_550_entries": {
                "count": big.len(),
                "mean_ms": big_mean,
                "max_ms": big_max.map(crate::round3),
            },
        })
    }
}

/// Posts each bundle in turn on one connection, with `Prefer: return=minimal`; each must be answered 200 with a
/// transaction-response of as many entries, all 2xx.
pub async fn transactions(addr: SocketAddr, bundles: &[SyntheaBundle]) -> Transactions {
    let entries: usize = bundles.iter().map(|b| b.entries).sum();
    eprintln!("bench: transaction: {} bundles, {entries} entries, one at a time", bundles.len());
    let mut t = Transactions {
        bundles_total: bundles.len(),
        bundles_sent: 0,
        entries_sent: 0,
        created: 0,
        failures: 0,
        first_failure: None,
        truncated: false,
        wall: Duration::ZERO,
        timings: vec![],
    };
    let fail = |t: &mut Transactions, e: String| {
        t.failures += 1;
        eprintln!("bench: transaction: {e}");
        t.first_failure.get_or_insert(e);
    };
    let mut conn = match Conn::open(addr).await {
        Ok(c) => Some(c),
        Err(e) => {
            fail(&mut t, e);
            None
        }
    };
    let started = Instant::now();
    for (i, b) in bundles.iter().enumerate() {
        if started.elapsed() > TRANSACTION_LIMIT {
            t.truncated = true;
            eprintln!("bench: transaction: stopping after {TRANSACTION_LIMIT:?} with {} bundles left", bundles.len() - i);
            break;
        }
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match Conn::open(addr).await {
                Ok(c) => conn.insert(c),
                Err(e) => {
                    fail(&mut t, e);
                    break;
                }
            },
        };
        let mut req = Req::post("/fhir".into(), b.body.clone());
        req.headers.push(("prefer", "return=minimal"));
        t.bundles_sent += 1;
        t.entries_sent += b.entries;
        let t0 = Instant::now();
        match c.send(&req, BUNDLE_TIMEOUT).await {
            Ok(reply) => {
                let took = t0.elapsed();
                match check_transaction(&reply, b.entries) {
                    Ok(created) => {
                        t.created += created;
                        t.timings.push((b.entries, took));
                    }
                    Err(e) => fail(&mut t, format!("{}: {e}", b.name)),
                }
            }
            Err(e) => {
                fail(&mut t, format!("{}: {e}", b.name));
                conn = None;
            }
        }
        if (i + 1) % 25 == 0 || i + 1 == bundles.len() {
            eprintln!("bench: transaction: {}/{} bundles, {:.1} s", i + 1, bundles.len(), started.elapsed().as_secs_f64());
        }
    }
    t.wall = started.elapsed();
    eprintln!(
        "bench: transaction: {} entries in {:.2} s = {:.0} resources/s; {} failures",
        t.entries_sent,
        t.wall.as_secs_f64(),
        t.entries_sent as f64 / t.wall.as_secs_f64().max(1e-9),
        t.failures
    );
    t
}

/// Checks a transaction-response; returns how many entries were created (201).
fn check_transaction(reply: &Reply, entries: usize) -> Result<usize, String> {
    if reply.status != 200 {
        return Err(reply.describe());
    }
    let value: Value = serde_json::from_slice(&reply.body).map_err(|e| format!("the 200 body is not JSON ({e}): {}", reply.describe()))?;
    if value.get("type").and_then(Value::as_str) != Some("transaction-response") {
        return Err(format!("not a transaction-response: {}", reply.describe()));
    }
    let answered = value.get("entry").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    if answered.len() != entries {
        return Err(format!("{} entries sent, {} answered", entries, answered.len()));
    }
    let mut created = 0;
    for (i, e) in answered.iter().enumerate() {
        let status = e.pointer("/response/status").and_then(Value::as_str).unwrap_or("");
        if status.starts_with("201") {
            created += 1;
        } else if !status.starts_with('2') {
            return Err(format!("entry {i} answered '{status}'"));
        }
    }
    Ok(created)
}

/// What the store holds, counted through the system history.
pub struct Census {
    pub resources: usize,
    pub by_type: BTreeMap<String, usize>,
    pub versions: usize,
    pub pages: usize,
    pub took: Duration,
}

/// Counts the live resources by walking `GET /fhir/_history` (newest first): the first version seen of each
/// resource decides whether it is live.
pub async fn census(addr: SocketAddr) -> Result<Census, String> {
    eprintln!("bench: counting the resources in the store (GET /fhir/_history)");
    let started = Instant::now();
    let mut conn = Conn::open(addr).await?;
    let mut path = "/fhir/_history?_count=1000".to_owned();
    let mut seen = HashSet::new();
    let mut c = Census { resources: 0, by_type: BTreeMap::new(), versions: 0, pages: 0, took: Duration::ZERO };
    loop {
        let reply = conn.send(&Req::get(path.clone()), REQUEST_TIMEOUT).await?;
        if reply.status != 200 {
            return Err(format!("GET {path}: {}", reply.describe()));
        }
        let page: Value = serde_json::from_slice(&reply.body).map_err(|e| format!("GET {path}: the body is not JSON: {e}"))?;
        c.pages += 1;
        for e in page.get("entry").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]) {
            c.versions += 1;
            let full = e.get("fullUrl").and_then(Value::as_str).unwrap_or("");
            let mut parts = full.rsplit('/');
            let (id, rtype) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            if !seen.insert(format!("{rtype}/{id}")) {
                continue;
            }
            if e.pointer("/request/method").and_then(Value::as_str) != Some("DELETE") {
                c.resources += 1;
                *c.by_type.entry(rtype.to_owned()).or_default() += 1;
            }
        }
        let next = page
            .get("link")
            .and_then(Value::as_array)
            .and_then(|links| links.iter().find(|l| l.get("relation").and_then(Value::as_str) == Some("next")))
            .and_then(|l| l.get("url").and_then(Value::as_str));
        match next.and_then(|u| u.find("/fhir/").map(|i| u[i..].to_owned())) {
            Some(p) if c.pages < 100_000 => path = p,
            _ => break,
        }
    }
    c.took = started.elapsed();
    eprintln!("bench: {} resources ({} versions, {} pages) in {:.2} s", c.resources, c.versions, c.pages, c.took.as_secs_f64());
    Ok(c)
}
