//! `bench peer`: one workload against Joinery and another FHIR server (a peer, at a base URL it is given) in one
//! run on the same data. The same generated Patients and Observations are loaded into each through its own API
//! as 100-entry transaction Bundles (timed: the transaction throughput), then each lookup is measured on each
//! server in alternating turns, and last the creates. Prints each server's figures and Joinery's throughput over
//! the peer's, workload by workload.

use crate::data::{self, NHS_NUMBER_SYSTEM};
use crate::load::{self, Conn, Limits, Outcome, Req, Rng, Summary, Work};
use crate::phases::CreatePatients;
use crate::population::normalize;
use crate::queries::{encode, Expect, Shape};
use crate::server::Server;
use bytes::Bytes;
use serde_json::{json, Value};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const BUNDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Entries in each transaction Bundle of the load.
const BUNDLE_ENTRIES: usize = 100;
/// The page size of the paged searches.
const PAGE: usize = 20;
const LOINC: &str = "http://loinc.org";
/// The vital signs every person has some of: (LOINC code, display, UCUM unit, lowest value, spread).
const CODES: &[(&str, &str, &str, f64, f64)] = &[
    ("8867-4", "Heart rate", "/min", 50.0, 60.0),
    ("9279-1", "Respiratory rate", "/min", 10.0, 14.0),
    ("8310-5", "Body temperature", "Cel", 35.5, 3.0),
    ("29463-7", "Body weight", "kg", 45.0, 70.0),
    ("8302-2", "Body height", "cm", 145.0, 50.0),
];
/// The workloads, in the order they run (the creates last: they add people).
const WORKLOADS: &[&str] = &["read", "identifier", "observation_subject", "observation_code", "family", "code_count", "create"];

/// `bench peer [--peer URL]`.
#[derive(clap::Args, Debug, Clone)]
pub struct PeerArgs {
    /// The peer's FHIR base URL (`http://host:port` or `http://host:port/path`); without it only Joinery is measured.
    #[arg(long)]
    peer: Option<String>,
    /// The peer's name in the report.
    #[arg(long, default_value = "peer")]
    peer_name: String,
    /// A bearer token for the peer (sent as `Authorization: Bearer …`); none is sent without it.
    #[arg(long)]
    peer_token: Option<String>,
    /// The peer's process id, to report its CPU per request beside Joinery's.
    #[arg(long)]
    peer_pid: Option<u32>,
    /// Patients loaded into each server.
    #[arg(long, default_value_t = 10_000)]
    patients: usize,
    /// Observations per Patient (their codes cycle through five vital signs).
    #[arg(long, default_value_t = 4)]
    observations_per_patient: usize,
    /// Seconds each workload is measured on each server, per round.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Seconds of unmeasured load before each measurement.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Rounds: each workload is measured once per round on each server, the order of the servers alternating.
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Concurrent clients (one keep-alive connection each) of the lookups.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Concurrent clients of the creates.
    #[arg(long, default_value_t = 32)]
    create_clients: usize,
    /// Threads of the load generator's runtime.
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// Only these workloads (comma-separated: read, identifier, observation_subject, observation_code, family,
    /// code_count, create).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// The `joinery` binary [default: `joinery` next to this executable].
    #[arg(long)]
    joinery: Option<PathBuf>,
    /// Also write the JSON report to this file.
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn main(args: PeerArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(args.client_threads.max(1)).enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bench peer: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(&args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("bench peer: finished, but some requests failed (see the report)");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("bench peer: {e}");
            ExitCode::from(2)
        }
    }
}

/// A FHIR server under measurement, and the data as it named it.
struct Target {
    name: String,
    addr: SocketAddr,
    /// The base URL's path (`""` or `/fhir`), which every request path starts with.
    base: String,
    pid: Option<u32>,
    /// The `Authorization` header its requests carry, when not the server under test's own token.
    authorization: Option<&'static str>,
    /// Patient ids, in the order of the generated people.
    patients: Vec<String>,
    load: Value,
}

/// Splits `http://host:port[/path]` into the address and the path (without a trailing `/`).
fn parse_base(url: &str) -> Result<(SocketAddr, String), String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| format!("the peer's URL must start with http:// (got '{url}')"))?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, ""),
    };
    let addr = host
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve '{host}': {e}"))?
        .next()
        .ok_or_else(|| format!("'{host}' resolves to no address"))?;
    Ok((addr, path.to_owned()))
}

/// The people's distinct NHS numbers, in order.
fn nhs_numbers(n: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(n);
    let mut k = 1u64;
    while out.len() < n {
        let number = data::nhs_number(k);
        if out.last() != Some(&number) {
            out.push(number);
        }
        k += 1;
    }
    out
}

/// Person `i`'s family name: the names in turn, so that each is held by about `people / names` people.
fn family(i: usize) -> &'static str {
    data::FAMILY[i % data::FAMILY.len()]
}

/// The code of person `i`'s `j`-th Observation.
fn code_of(i: usize, j: usize) -> usize {
    (i + j) % CODES.len()
}

fn observation(patient_id: &str, i: usize, j: usize, rng: &mut Rng) -> Value {
    let (code, display, unit, low, spread) = CODES[code_of(i, j)];
    let value = ((low + spread * (rng.below(1000) as f64) / 1000.0) * 10.0).round() / 10.0;
    json!({
        "resourceType": "Observation",
        "status": "final",
        "category": [{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs" }] }],
        "code": { "coding": [{ "system": LOINC, "code": code, "display": display }] },
        "subject": { "reference": format!("Patient/{patient_id}") },
        "effectiveDateTime": format!("2024-{:02}-{:02}T{:02}:00:00Z", 1 + rng.below(12), 1 + rng.below(28), 8 + rng.below(10)),
        "valueQuantity": { "value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit },
    })
}

fn transaction(resources: Vec<Value>) -> Bytes {
    let entry: Vec<Value> = resources
        .into_iter()
        .map(|r| {
            let t = r.get("resourceType").and_then(Value::as_str).unwrap_or_default().to_owned();
            json!({ "resource": r, "request": { "method": "POST", "url": t } })
        })
        .collect();
    Bytes::from(json!({ "resourceType": "Bundle", "type": "transaction", "entry": entry }).to_string())
}

/// The id in a transaction entry's `response.location` (`[base/]Type/id[/_history/v]`).
fn located_id(entry: &Value, resource_type: &str) -> Option<String> {
    let location = entry.pointer("/response/location").and_then(Value::as_str)?;
    let marker = format!("{resource_type}/");
    let at = location.rfind(&marker)?;
    let id = location[at + marker.len()..].split('/').next()?;
    (!id.is_empty()).then(|| id.to_owned())
}

/// Posts one transaction Bundle; the ids the server gave its entries, in order.
async fn post_transaction(conn: &mut Conn, t: &Target, body: Bytes, entries: usize, resource_type: &str) -> Result<Vec<String>, String> {
    let mut req = Req::post(if t.base.is_empty() { "/".into() } else { t.base.clone() }, body);
    if let Some(a) = t.authorization {
        req.headers.push(("authorization", a));
    }
    let reply = conn.send(&req, BUNDLE_TIMEOUT).await?;
    if reply.status != 200 {
        return Err(format!("the transaction was answered {}", reply.describe()));
    }
    let value: Value = serde_json::from_slice(&reply.body).map_err(|e| format!("the transaction-response is not JSON ({e})"))?;
    let answered = value.get("entry").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    if answered.len() != entries {
        return Err(format!("{entries} entries sent, {} answered", answered.len()));
    }
    answered
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let status = e.pointer("/response/status").and_then(Value::as_str).unwrap_or_default();
            if !status.starts_with("201") {
                return Err(format!("entry {i} was answered '{status}'"));
            }
            located_id(e, resource_type).ok_or_else(|| format!("entry {i} names no {resource_type} in response.location: {e}"))
        })
        .collect()
}

/// Loads the people, then their Observations, as 100-entry transactions one at a time; fills the target's ids and
/// its load figures.
async fn load_into(target: &mut Target, args: &PeerArgs, numbers: &[String]) -> Result<(), String> {
    eprintln!("bench peer: {}: loading {} Patients and their Observations as {BUNDLE_ENTRIES}-entry transactions", target.name, numbers.len());
    let mut conn = Conn::open(target.addr).await?;
    let mut rng = Rng::new(17);
    let started = Instant::now();
    let (mut bundles, mut entries) = (0usize, 0usize);
    let mut timings = Vec::new();
    let mut patients = Vec::with_capacity(numbers.len());
    for (chunk_no, chunk) in numbers.chunks(BUNDLE_ENTRIES).enumerate() {
        let people: Vec<Value> =
            chunk.iter().enumerate().map(|(k, nhs)| data::patient_named(nhs, Some(family(chunk_no * BUNDLE_ENTRIES + k)), &mut rng)).collect();
        let t0 = Instant::now();
        let ids = post_transaction(&mut conn, target, transaction(people), chunk.len(), "Patient").await?;
        timings.push(t0.elapsed().as_nanos() as u64);
        patients.extend(ids);
        bundles += 1;
        entries += chunk.len();
    }
    let per_person = args.observations_per_patient;
    let per_bundle = (BUNDLE_ENTRIES / per_person.max(1)).max(1);
    for (chunk_no, chunk) in patients.chunks(per_bundle).enumerate() {
        let first = chunk_no * per_bundle;
        let mut observations = Vec::with_capacity(chunk.len() * per_person);
        for (k, id) in chunk.iter().enumerate() {
            for j in 0..per_person {
                observations.push(observation(id, first + k, j, &mut rng));
            }
        }
        let n = observations.len();
        if n == 0 {
            continue;
        }
        let t0 = Instant::now();
        post_transaction(&mut conn, target, transaction(observations), n, "Observation").await?;
        timings.push(t0.elapsed().as_nanos() as u64);
        bundles += 1;
        entries += n;
    }
    let wall = started.elapsed();
    let s = Summary::of(&timings);
    let per_s = entries as f64 / wall.as_secs_f64().max(1e-9);
    eprintln!("bench peer: {}: {entries} resources in {bundles} transactions, {:.1} s = {per_s:.0} resources/s", target.name, wall.as_secs_f64());
    target.patients = patients;
    target.load = json!({
        "bundles": bundles,
        "resources": entries,
        "seconds": crate::round3(wall.as_secs_f64()),
        "resources_per_s": crate::round3(per_s),
        "bundle_ms": s.to_json(),
    });
    Ok(())
}

/// How many of the people hold each family name, and how many Observations carry each code.
struct Census {
    by_family: Vec<usize>,
    by_code: Vec<usize>,
}

fn census(people: usize, per_person: usize) -> Census {
    let mut by_family = vec![0; data::FAMILY.len()];
    let mut by_code = vec![0; CODES.len()];
    for i in 0..people {
        by_family[i % data::FAMILY.len()] += 1;
        for j in 0..per_person {
            by_code[code_of(i, j)] += 1;
        }
    }
    Census { by_family, by_code }
}

/// The lookup workloads on one target, by name.
fn shape(name: &str, t: &Target, numbers: &[String], census: &Census, per_person: usize) -> Option<Shape> {
    let s = shape_as_anyone(name, t, numbers, census, per_person)?;
    Some(match t.authorization {
        Some(a) => s.asked_as(a),
        None => s,
    })
}

fn shape_as_anyone(name: &str, t: &Target, numbers: &[String], census: &Census, per_person: usize) -> Option<Shape> {
    let b = &t.base;
    let code_token = |c: usize| encode(&format!("{LOINC}|{}", CODES[c].0));
    let families = data::FAMILY.len().min(t.patients.len());
    Some(match name {
        "read" => Shape::new(
            "read",
            "Patient/{id} (random among the people)".into(),
            None,
            f64::INFINITY,
            t.patients.iter().map(|id| (format!("{b}/Patient/{id}"), Expect::Resource { id: id.clone() })).collect(),
        ),
        "identifier" => Shape::new(
            "identifier",
            "Patient?identifier=NHS number (random among the people)".into(),
            None,
            f64::INFINITY,
            numbers
                .iter()
                .zip(&t.patients)
                .map(|(nhs, id)| {
                    (format!("{b}/Patient?identifier={}", encode(&format!("{NHS_NUMBER_SYSTEM}|{nhs}"))), Expect::One { id: id.clone() })
                })
                .collect(),
        ),
        "observation_subject" => Shape::new(
            "observation_subject",
            format!("Observation?subject=Patient/{{id}} ({per_person} matches)"),
            None,
            f64::INFINITY,
            t.patients
                .iter()
                .map(|id| (format!("{b}/Observation?subject=Patient/{id}"), Expect::Matches { count: per_person, of: "Observation" }))
                .collect(),
        ),
        "observation_code" => Shape::new(
            "observation_code",
            format!("Observation?code={LOINC}|…&_count={PAGE} (one of {} codes, about {} matches each)", CODES.len(), census.by_code[0]),
            None,
            f64::INFINITY,
            (0..CODES.len())
                .map(|c| {
                    (
                        format!("{b}/Observation?code={}&_count={PAGE}", code_token(c)),
                        Expect::Matches { count: census.by_code[c].min(PAGE), of: "Observation" },
                    )
                })
                .collect(),
        ),
        "family" => Shape::new(
            "family",
            format!("Patient?family=…&_count={PAGE} (one of {families} names, about {} matches each)", census.by_family[0]),
            None,
            f64::INFINITY,
            (0..families)
                .map(|f| {
                    let name = data::FAMILY[f];
                    (
                        format!("{b}/Patient?family={}&_count={PAGE}", encode(name)),
                        Expect::Names { count: census.by_family[f].min(PAGE), prefix: normalize(name), family_only: true },
                    )
                })
                .collect(),
        ),
        "code_count" => Shape::new(
            "code_count",
            format!("Observation?code={LOINC}|…&_summary=count (about {} matches)", census.by_code[0]),
            None,
            f64::INFINITY,
            (0..CODES.len())
                .map(|c| {
                    (format!("{b}/Observation?code={}&_summary=count", code_token(c)), Expect::Total { total: census.by_code[c] as u64, entries: 0 })
                })
                .collect(),
        ),
        _ => return None,
    })
}

/// Waits (up to a minute) until the server's own CPU falls under a tenth of a core over two seconds: background
/// work started by the load (indexes, re-scores) finishes before anything is measured.
async fn settle(t: &Target) {
    let Some(pid) = t.pid else { return };
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        let a = crate::cpu::Snapshot::take(pid);
        tokio::time::sleep(Duration::from_secs(2)).await;
        if a.until(&crate::cpu::Snapshot::take(pid)).server_cores < 0.1 {
            return;
        }
    }
    eprintln!("bench peer: {}: still busy after a minute; measuring anyway", t.name);
}

/// One measurement of `work` on `t`: a warm-up, then `seconds` with `clients`.
async fn measure(t: &Target, work: Arc<dyn Work>, clients: usize, args: &PeerArgs, label: &str) -> (Outcome, Option<crate::cpu::Usage>) {
    if args.warmup > 0 {
        let limits = Limits { clients, duration: Duration::from_secs(args.warmup), max_requests: u64::MAX, timeout: REQUEST_TIMEOUT };
        let _ = load::run(t.addr, &limits, work.clone(), 7).await;
    }
    let limits = Limits { clients, duration: Duration::from_secs(args.seconds.max(1)), max_requests: u64::MAX, timeout: REQUEST_TIMEOUT };
    let before = t.pid.map(crate::cpu::Snapshot::take);
    let out = load::run(t.addr, &limits, work, 11).await;
    let cpu = before.zip(t.pid).map(|(b, pid)| b.until(&crate::cpu::Snapshot::take(pid)));
    let s = Summary::of(&out.latencies_ns);
    eprintln!(
        "bench peer: {label} on {}: {:.0}/s, p50 {:.2} ms, p99 {:.2} ms, {} errors{}",
        t.name,
        out.per_second(),
        s.p50_ns as f64 / 1e6,
        s.p99_ns as f64 / 1e6,
        out.errors,
        cpu.as_ref().map(|c| format!(", server CPU {:.3} ms a request", c.server_cpu_s * 1000.0 / out.ok.max(1) as f64)).unwrap_or_default()
    );
    if let Some(e) = &out.first_error {
        eprintln!("bench peer: {label} on {}: first error: {e}", t.name);
    }
    (out, cpu)
}

async fn run(args: &PeerArgs) -> Result<bool, String> {
    let joinery = crate::locate_joinery(args.joinery.as_deref())?;
    let chosen: Vec<&str> = WORKLOADS.iter().copied().filter(|w| args.only.is_empty() || args.only.iter().any(|o| o == w)).collect();
    if let Some(unknown) = args.only.iter().find(|o| !WORKLOADS.contains(&o.as_str())) {
        return Err(format!("unknown workload '{unknown}' (known: {})", WORKLOADS.join(", ")));
    }
    let numbers = nhs_numbers(args.patients);
    let census = census(args.patients, args.observations_per_patient);

    let mut server = Server::start(&joinery).await?;
    eprintln!("bench peer: joinery serving on {} (a fresh database, a system client's token)", server.addr);
    let mut targets = vec![Target {
        name: "joinery".into(),
        addr: server.addr,
        base: "/fhir".into(),
        pid: Some(server.pid()),
        authorization: None,
        patients: vec![],
        load: Value::Null,
    }];
    if let Some(url) = &args.peer {
        let (addr, base) = parse_base(url)?;
        let authorization = args.peer_token.as_ref().map(|t| &*Box::leak(format!("Bearer {t}").into_boxed_str()));
        targets.push(Target { name: args.peer_name.clone(), addr, base, pid: args.peer_pid, authorization, patients: vec![], load: Value::Null });
    }
    for t in targets.iter_mut() {
        load_into(t, args, &numbers).await?;
    }
    for t in &targets {
        settle(t).await;
    }

    let mut healthy = true;
    let mut workloads = serde_json::Map::new();
    let mut table = Vec::new();
    for name in chosen {
        let mut runs: Vec<Vec<Value>> = vec![Vec::new(); targets.len()];
        let mut rates: Vec<Vec<f64>> = vec![Vec::new(); targets.len()];
        let mut p99s: Vec<Vec<f64>> = vec![Vec::new(); targets.len()];
        let mut description = String::new();
        for round in 0..args.rounds.max(1) {
            let mut order: Vec<usize> = (0..targets.len()).collect();
            if round % 2 == 1 {
                order.reverse();
            }
            for i in order {
                let t = &targets[i];
                let (work, clients): (Arc<dyn Work>, usize) = if name == "create" {
                    description = format!("POST Patient, {} clients", args.create_clients);
                    // NHS numbers beyond the loaded people's, 100,000 apart per round and server (the test range
                    // holds a million): identifiers stay unique.
                    let start = 100_000 * (1 + (round * targets.len() + i) as u64 % 9);
                    (
                        Arc::new(CreatePatients { base: t.base.clone(), next: AtomicU64::new(start), authorization: t.authorization }),
                        args.create_clients,
                    )
                } else {
                    let Some(s) = shape(name, t, &numbers, &census, args.observations_per_patient) else { continue };
                    description = s.description.clone();
                    (Arc::new(s), args.clients)
                };
                let (out, cpu) = measure(t, work, clients, args, name).await;
                healthy &= out.errors == 0 && out.ok > 0;
                let s = Summary::of(&out.latencies_ns);
                rates[i].push(out.per_second());
                p99s[i].push(s.p99_ns as f64 / 1e6);
                let mut r = match out.to_json("requests") {
                    Value::Object(m) => m,
                    _ => serde_json::Map::new(),
                };
                r.insert("round".into(), json!(round + 1));
                if let Some(c) = cpu {
                    r.insert("cpu".into(), c.to_json(Some(out.ok)));
                }
                runs[i].push(Value::Object(r));
            }
        }
        let ratios: Vec<f64> = match (rates.first(), rates.get(1)) {
            (Some(j), Some(p)) => j.iter().zip(p).map(|(a, b)| if *b > 0.0 { crate::round3(a / b) } else { 0.0 }).collect(),
            _ => Vec::new(),
        };
        let mut w = serde_json::Map::new();
        w.insert("description".into(), json!(description));
        for (t, r) in targets.iter().zip(&runs) {
            w.insert(t.name.clone(), json!(r));
        }
        if !ratios.is_empty() {
            w.insert("joinery_over_peer_per_round".into(), json!(ratios));
        }
        table.push(row(name, &targets, &rates, &p99s, &ratios));
        workloads.insert(name.into(), Value::Object(w));
    }

    eprintln!("bench peer: stopping joinery (SIGTERM)");
    let stopped = server.stop()?;
    healthy &= stopped.clean();
    eprintln!("\n{}", table.join("\n"));
    let report = json!({
        "benchmark": "peer",
        "machine": crate::report::machine(),
        "data": {
            "patients": args.patients,
            "observations": args.patients * args.observations_per_patient,
            "family_names": data::FAMILY.len(),
            "codes": CODES.iter().map(|c| c.0).collect::<Vec<_>>(),
            "observations_per_code": census.by_code,
        },
        "settings": { "clients": args.clients, "create_clients": args.create_clients, "seconds": args.seconds, "warmup_s": args.warmup, "rounds": args.rounds },
        "servers": targets.iter().map(|t| json!({ "name": t.name, "base": format!("http://{}{}", t.addr, t.base), "load": t.load })).collect::<Vec<_>>(),
        "workloads": workloads,
        "joinery_exit": stopped.describe(),
        "healthy": healthy,
    });
    let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
    println!("{text}");
    if let Some(out) = &args.out {
        std::fs::write(out, &text).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    }
    Ok(healthy)
}

/// A line of the summary table: each server's requests per second (p99 ms) by round, and the ratios.
fn row(name: &str, targets: &[Target], rates: &[Vec<f64>], p99s: &[Vec<f64>], ratios: &[f64]) -> String {
    let cells: Vec<String> = targets
        .iter()
        .zip(rates.iter().zip(p99s))
        .map(|(t, (r, p))| {
            let runs: Vec<String> = r.iter().zip(p).map(|(r, p)| format!("{r:.0} ({p:.1})")).collect();
            format!("{}: {}", t.name, runs.join(", "))
        })
        .collect();
    let ratio = if ratios.is_empty() {
        String::new()
    } else {
        format!(" | ratio {}", ratios.iter().map(|r| format!("{r:.2}")).collect::<Vec<_>>().join(", "))
    };
    format!("{name:<20} | {}{ratio}", cells.join(" | "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_split_into_address_and_path() {
        let (addr, base) = parse_base("http://127.0.0.1:8090").unwrap();
        assert_eq!((addr.port(), base.as_str()), (8090, ""));
        let (_, base) = parse_base("http://127.0.0.1:8080/fhir/").unwrap();
        assert_eq!(base, "/fhir");
        assert!(parse_base("https://127.0.0.1:8080").is_err());
    }

    #[test]
    fn ids_come_from_the_response_location() {
        let e = json!({ "response": { "status": "201 Created", "location": "http://h:1/fhir/Patient/abc/_history/1" } });
        assert_eq!(located_id(&e, "Patient").as_deref(), Some("abc"));
        let e = json!({ "response": { "status": "201", "location": "Observation/x-1" } });
        assert_eq!(located_id(&e, "Observation").as_deref(), Some("x-1"));
        assert_eq!(located_id(&e, "Patient"), None);
    }

    #[test]
    fn the_data_is_what_the_expected_answers_say() {
        let numbers = nhs_numbers(300);
        let distinct: std::collections::BTreeSet<&String> = numbers.iter().collect();
        assert_eq!(distinct.len(), 300, "NHS numbers repeat");
        let c = census(1000, 4);
        assert_eq!(c.by_code.iter().sum::<usize>(), 4000);
        assert_eq!(c.by_code, vec![800; 5]);
        assert_eq!(c.by_family.iter().sum::<usize>(), 1000);
    }
}
