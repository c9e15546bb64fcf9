//! `bench search`: prepares a store of a synthetic population (`joinery generate`, then `joinery import`, or an
//! existing database), serves it, and measures the search shapes of the search-performance issue with keep-alive
//! clients, checking every answer against values computed from the NDJSON.

use crate::load::{self, Limits, Outcome, Summary};
use crate::population::{self, Population};
use crate::queries::{self, Shape};
use crate::server::{self, Server};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Measures FHIR search on a generated population.
#[derive(clap::Args, Debug, Clone)]
pub struct SearchArgs {
    /// People in the generated population.
    #[arg(long, default_value_t = 100_000)]
    people: u64,
    /// The generator's seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The database to search: reused when it exists (it must hold the population of --people and --seed), made
    /// there (and kept) otherwise.
    #[arg(long)]
    database: Option<PathBuf>,
    /// Search this PostgreSQL database (a URL) instead of a SQLite file: the population is loaded into it
    /// (which must hold nothing of it yet) unless --postgres-loaded says it holds it already.
    #[arg(long, conflicts_with = "database")]
    postgres: Option<String>,
    /// The --postgres database already holds the population of --people and --seed.
    #[arg(long, requires = "postgres")]
    postgres_loaded: bool,
    /// The NDJSON the database was loaded from; generated again (it is deterministic) when not given.
    #[arg(long)]
    ndjson: Option<PathBuf>,
    /// Where to make the work folder (NDJSON, database, server log) [default: the system's temporary folder].
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Keep the generated NDJSON and database (their paths are printed and reported).
    #[arg(long)]
    keep: bool,
    /// Also write the JSON report to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// The `joinery` binary [default: `joinery` next to this executable].
    #[arg(long)]
    joinery: Option<PathBuf>,
    /// Seconds each query shape is measured with all clients.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Seconds of unmeasured load before each shape (page cache, prepared statements).
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Seconds each shape is also measured on one connection (its latency without queueing; 0 skips it).
    #[arg(long, default_value_t = 3)]
    one_seconds: u64,
    /// Concurrent clients, one keep-alive connection each.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Threads of the load generator's runtime.
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// Only these shapes (comma-separated: identifier, observation, family, name, summary_count, total_accurate,
    /// read_system, read_gp, family_gp, worklist_system, worklist_gp).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Upper bound on the requests of one measurement.
    #[arg(long, default_value_t = 2_000_000)]
    max_requests: u64,
    /// On a shared machine: before each shape, wait until other processes use at most this many cores (over 5 s).
    #[arg(long)]
    quiet_cores: Option<f64>,
    /// The longest wait for --quiet-cores, in seconds, after which the shape is measured anyway.
    #[arg(long, default_value_t = 600)]
    quiet_wait: u64,
}

pub fn main(args: SearchArgs) -> ExitCode {
    let mut cleanup = Cleanup::default();
    let result = run(&args, &mut cleanup);
    cleanup.run();
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("bench search: finished, but some requests failed or the server did not stop cleanly (see the report)");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("bench search: {e}");
            ExitCode::from(2)
        }
    }
}

/// What the run made and must remove at the end.
#[derive(Default)]
struct Cleanup {
    paths: Vec<PathBuf>,
}

impl Cleanup {
    fn run(&mut self) {
        for p in self.paths.drain(..).rev() {
            let removed = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
            if let Err(e) = removed {
                if e.kind() != std::io::ErrorKind::NotFound {
                    eprintln!("bench search: cannot remove {}: {e}", p.display());
                }
            }
        }
    }
}

/// Runs `joinery ARGS`, its stderr passed through; returns its stdout and how long it took. An exit code in
/// `tolerated` is reported but not an error (`import` exits 1 when some lines were refused).
fn joinery_command(joinery: &Path, args: &[&std::ffi::OsStr], tolerated: &[i32]) -> Result<(String, Duration, Option<i32>), String> {
    let shown: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    eprintln!("bench search: running {} {}", joinery.display(), shown.join(" "));
    let started = Instant::now();
    let output = Command::new(joinery)
        .args(args)
        .env("JOINERY_LOG", "warn")
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", joinery.display()))?;
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let code = output.status.code();
    if !output.status.success() {
        if code.is_some_and(|c| tolerated.contains(&c)) {
            eprintln!("bench search: warning: `joinery {}` exited with {}; its output:\n{stdout}", shown.join(" "), output.status);
        } else {
            return Err(format!("`joinery {}` failed ({}); its output:\n{stdout}", shown.join(" "), output.status));
        }
    }
    Ok((stdout, took, code))
}

/// A command's output as JSON when it is JSON, else as text (cut).
fn output_json(stdout: &str) -> Value {
    serde_json::from_str(stdout.trim()).unwrap_or_else(|_| Value::String(stdout.chars().take(4000).collect()))
}

fn run(args: &SearchArgs, cleanup: &mut Cleanup) -> Result<bool, String> {
    let run_started = Instant::now();
    let joinery = crate::locate_joinery(args.joinery.as_deref())?;
    let parent = args.work_dir.clone().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    let work = server::unique_dir_in(&parent, &format!("joinery-bench-search-{}", args.people))?;
    if !args.keep {
        cleanup.paths.push(work.clone());
    }
    eprintln!("bench search: working in {}", work.display());

    // The NDJSON.
    let mut preparation = serde_json::Map::new();
    let ndjson = match &args.ndjson {
        Some(dir) => {
            preparation.insert("ndjson".into(), json!({ "given": dir.display().to_string() }));
            dir.clone()
        }
        None => {
            let dir = work.join("ndjson");
            let (stdout, took, _) = joinery_command(
                &joinery,
                &[
                    "generate".as_ref(),
                    "--people".as_ref(),
                    args.people.to_string().as_ref(),
                    "--seed".as_ref(),
                    args.seed.to_string().as_ref(),
                    "--out".as_ref(),
                    dir.as_os_str(),
                ],
                &[],
            )?;
            eprintln!("bench search: generated in {:.1} s", took.as_secs_f64());
            preparation.insert("generate_s".into(), json!(crate::round3(took.as_secs_f64())));
            preparation.insert("generate_output".into(), output_json(&stdout));
            dir
        }
    };

    // The database.
    // Absolute: the server runs in a folder of its own, where a relative path would name a new database.
    let absolute = |p: &Path| std::path::absolute(p).map_err(|e| format!("cannot resolve {}: {e}", p.display()));
    let (db, reused) = match (&args.postgres, &args.database) {
        (Some(url), _) => (PathBuf::from(url), args.postgres_loaded),
        (None, Some(p)) if p.exists() => (absolute(p)?, true),
        (None, Some(p)) => (absolute(p)?, false),
        (None, None) => (work.join("joinery.db"), false),
    };
    if reused {
        eprintln!("bench search: reusing the database {}", db.display());
        preparation.insert("import_s".into(), Value::Null);
    } else {
        let (stdout, took, code) = joinery_command(&joinery, &["import".as_ref(), "--database".as_ref(), db.as_os_str(), ndjson.as_os_str()], &[1])?;
        if args.postgres.is_none() && !db.is_file() {
            return Err(format!("`joinery import` made no database at {}", db.display()));
        }
        eprintln!("bench search: imported in {:.1} s", took.as_secs_f64());
        preparation.insert("import_s".into(), json!(crate::round3(took.as_secs_f64())));
        preparation.insert("import_exit_code".into(), json!(code));
        preparation.insert("import_output".into(), output_json(&stdout));
    }
    preparation.insert("reused_database".into(), json!(reused));
    let bytes_after_import = server::database_bytes(&db);

    // The risk scores the worklists page through: a full re-score.
    let (stdout, took, _) = joinery_command(&joinery, &["risk".as_ref(), "refresh".as_ref(), "--database".as_ref(), db.as_os_str()], &[])?;
    eprintln!("bench search: risk scores refreshed in {:.1} s", took.as_secs_f64());
    preparation.insert("risk_refresh_s".into(), json!(crate::round3(took.as_secs_f64())));
    preparation.insert("risk_refresh_output".into(), output_json(&stdout));

    // The values the searches use.
    let started = Instant::now();
    eprintln!("bench search: reading {}", ndjson.display());
    let population = population::read(&ndjson, args.seed)?;
    preparation.insert("read_ndjson_s".into(), json!(crate::round3(started.elapsed().as_secs_f64())));
    eprintln!(
        "bench search: {} people, {} resources; family '{}' ({} matches), name '{}' ({} matches), count {}={} ({} matches)",
        population.people,
        population.resources,
        population.family,
        population.family_matches,
        population.name_prefix,
        population.name_matches,
        population.count.param,
        population.count.value,
        population.count.matches
    );
    if population.people != args.people {
        eprintln!("bench search: warning: the NDJSON holds {} people, not {}", population.people, args.people);
    }
    let mut shapes = queries::shapes(&population);
    let mut gp_header = None;
    if let Some(practice) = &population.practice {
        // A clinician of the practice with the most registered people: an account on the database and a token.
        let role = format!("PractitionerRole/{}", practice.role);
        let add = ["user", "add", "--database"].map(std::ffi::OsStr::new);
        let rest = ["--username", "bench-gp", "--role", "clinician", "--practitioner-role", role.as_str()].map(std::ffi::OsStr::new);
        let args_add: Vec<&std::ffi::OsStr> = add.into_iter().chain([db.as_os_str()]).chain(rest).collect();
        // Exit 1: the account is there already (a reused database).
        joinery_command(&joinery, &args_add, &[1])?;
        let token = ["token", "--database"].map(std::ffi::OsStr::new);
        let args_token: Vec<&std::ffi::OsStr> = token.into_iter().chain([db.as_os_str(), "--user".as_ref(), "bench-gp".as_ref()]).collect();
        let (stdout, _, _) = joinery_command(&joinery, &args_token, &[])?;
        let token = stdout.lines().last().unwrap_or_default().trim();
        if token.is_empty() {
            return Err("`joinery token --user bench-gp` printed no token".into());
        }
        // One header for the whole run, shared by the clients' requests.
        let header: &'static str = Box::leak(format!("Bearer {token}").into_boxed_str());
        shapes.extend(queries::access_shapes(&population, header));
        gp_header = Some(header);
    }
    shapes.extend(queries::worklist_shapes(&population, gp_header));
    if !args.only.is_empty() {
        shapes.retain(|s| args.only.iter().any(|o| o == s.name));
        if shapes.is_empty() {
            return Err(format!("--only {:?} names no shape", args.only));
        }
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads.max(1))
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let measured = runtime.block_on(serve_and_measure(args, &joinery, &db, &population, shapes))?;

    let bytes = server::database_bytes(&db);
    // The size of a file on this machine; a PostgreSQL database's is the server's business.
    let size = |n: u64| if args.postgres.is_some() { Value::Null } else { json!(n) };
    let kept = json!({
        "ndjson": if args.keep || args.ndjson.is_some() { Some(ndjson.display().to_string()) } else { None },
        "database": if args.keep || args.database.is_some() { Some(db.display().to_string()) } else { None },
    });
    let report = json!({
        "bench": {
            "mode": "search",
            "version": env!("CARGO_PKG_VERSION"),
            "joinery": joinery.display().to_string(),
            "people": args.people,
            "seed": args.seed,
            "seconds_per_shape": args.seconds,
            "warmup_s": args.warmup,
            "one_connection_s": args.one_seconds,
            "clients": args.clients,
            "client_threads": args.client_threads.max(1),
            "quiet_cores": args.quiet_cores,
        },
        "machine": crate::report::machine(),
        "preparation": Value::Object(preparation),
        "data": {
            "people": population.people,
            "resources": population.resources,
            "resources_by_type": population.counts,
            "resources_in_store_by_type": measured.store_counts,
            "store_matches_ndjson": measured.store_matches,
            "ndjson_bytes": population.bytes,
            "backend": if args.postgres.is_some() { "postgres" } else { "sqlite" },
            "database_bytes": size(bytes.total()),
            "database_file_bytes": size(bytes.file),
            "database_wal_bytes": size(bytes.wal),
            "database_bytes_after_import": size(bytes_after_import.total()),
            "database": db.display().to_string(),
        },
        "picked": population.to_json(),
        "server": measured.server,
        "access": access_summary(&measured.queries),
        "queries": measured.queries,
        "memory": measured.memory,
        "kept": kept,
        "ok": measured.healthy,
        "total_s": crate::round3(run_started.elapsed().as_secs_f64()),
    });
    let text = serde_json::to_string_pretty(&report).map_err(|e| format!("cannot render the report: {e}"))?;
    println!("{text}");
    if let Some(out) = &args.out {
        std::fs::write(out, format!("{text}\n")).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
        eprintln!("bench search: wrote {}", out.display());
    }
    if args.keep {
        eprintln!("bench search: kept the NDJSON in {} and the database {}", ndjson.display(), db.display());
    } else if args.database.is_none() {
        eprintln!("bench search: removing the work folder {} (pass --keep to keep it)", work.display());
    }
    Ok(measured.healthy)
}

struct Measured {
    queries: Value,
    server: Value,
    memory: Value,
    store_counts: Value,
    store_matches: bool,
    healthy: bool,
}

async fn serve_and_measure(args: &SearchArgs, joinery: &Path, db: &Path, population: &Population, shapes: Vec<Shape>) -> Result<Measured, String> {
    eprintln!("bench search: starting {} on {}", joinery.display(), db.display());
    let mut server = Server::start_on(joinery, Some(db)).await?;
    eprintln!("bench search: serving on {} after {:.1} ms", server.addr, crate::ms(server.startup));
    let sampler = server::RssSampler::start(server.pid(), Duration::from_millis(100));
    let mut healthy = true;

    // Does the store hold what the NDJSON does?
    let mut store_counts = serde_json::Map::new();
    let mut store_matches = true;
    let mut conn = load::Conn::open(server.addr).await?;
    for (t, n) in &population.counts {
        let reply = conn.send(&load::Req::get(format!("/fhir/{t}?_summary=count")), REQUEST_TIMEOUT).await?;
        let total = serde_json::from_slice::<Value>(&reply.body).ok().and_then(|b| b.get("total").and_then(Value::as_u64));
        if reply.status != 200 || total.is_none() {
            eprintln!("bench search: cannot count {t}: {}", reply.describe());
        }
        if total != Some(*n) {
            eprintln!("bench search: warning: the store holds {total:?} {t}, the NDJSON {n}");
            store_matches = false;
        }
        store_counts.insert(t.clone(), json!(total));
    }
    drop(conn);
    if !store_matches {
        eprintln!(
            "bench search: warning: the database does not hold exactly the resources of the NDJSON (see above); the searches read \
             Patient and Observation, whose expected answers hold only if those two match"
        );
    }

    let mut reports = serde_json::Map::new();
    for shape in shapes {
        let name = shape.name;
        let description = shape.description.clone();
        let example = shape.example().map(str::to_owned);
        let values = shape.values();
        let target = shape.target_json();
        let (target_per_s, target_p99) = (shape.target_per_s, shape.target_p99_ms);
        let work: Arc<dyn load::Work> = Arc::new(shape);
        eprintln!("bench search: {name}: {description}");
        let mut waited = None;
        if let Some(max) = args.quiet_cores {
            let (w, others) = crate::cpu::wait_for_quiet(server.pid(), max, Duration::from_secs(args.quiet_wait)).await;
            eprintln!("bench search: {name}: waited {:.0} s for other work to use at most {max} cores (last: {others:.2})", w.as_secs_f64());
            waited = Some(json!({ "waited_s": crate::round3(w.as_secs_f64()), "others_cores_before": crate::round3(others) }));
        }
        if args.warmup > 0 {
            let limits = Limits {
                clients: args.clients,
                duration: Duration::from_secs(args.warmup),
                max_requests: args.max_requests,
                timeout: REQUEST_TIMEOUT,
            };
            let warm = load::run(server.addr, &limits, work.clone(), 7).await;
            progress(name, "warm-up", &warm);
        }
        let limits = Limits {
            clients: args.clients,
            duration: Duration::from_secs(args.seconds.max(1)),
            max_requests: args.max_requests,
            timeout: REQUEST_TIMEOUT,
        };
        let load_before = loadavg();
        let cpu_before = crate::cpu::Snapshot::take(server.pid());
        let out = load::run(server.addr, &limits, work.clone(), 11).await;
        let cpu = cpu_before.until(&crate::cpu::Snapshot::take(server.pid()));
        let load_after = loadavg();
        eprintln!(
            "bench search: {name}: server {:.2} cores, bench {:.2}, others {:.2}; server CPU {:.3} ms per request",
            cpu.server_cores,
            cpu.bench_cores,
            cpu.others_cores(),
            cpu.server_cpu_s * 1000.0 / out.ok.max(1) as f64
        );
        progress(name, &format!("{} clients", args.clients), &out);
        healthy &= out.errors == 0;
        let s = Summary::of(&out.latencies_ns);
        let p99_ms = s.p99_ns as f64 / 1e6;
        let meets = out.errors == 0 && s.count > 0 && p99_ms < target_p99 && target_per_s.is_none_or(|t| out.per_second() >= t);
        let mut r = match out.to_json("requests") {
            Value::Object(m) => m,
            _ => serde_json::Map::new(),
        };
        let mut head = serde_json::Map::new();
        head.insert("query".into(), json!(description));
        head.insert("example".into(), json!(example));
        head.insert("distinct_requests".into(), json!(values));
        head.insert("target".into(), target);
        head.insert("meets_target".into(), json!(meets));
        // The machine is shared: the 1-minute load average around the measurement says how much.
        head.insert("loadavg_1m_before_after".into(), json!([load_before, load_after]));
        head.insert("cpu".into(), cpu.to_json(Some(out.ok)));
        if let Some(w) = waited {
            head.insert("quiet_wait".into(), w);
        }
        head.append(&mut r);
        if args.one_seconds > 0 {
            let limits =
                Limits { clients: 1, duration: Duration::from_secs(args.one_seconds), max_requests: args.max_requests, timeout: REQUEST_TIMEOUT };
            let cpu_before = crate::cpu::Snapshot::take(server.pid());
            let one = load::run(server.addr, &limits, work.clone(), 13).await;
            let cpu = cpu_before.until(&crate::cpu::Snapshot::take(server.pid()));
            progress(name, "1 client", &one);
            healthy &= one.errors == 0;
            let s1 = Summary::of(&one.latencies_ns);
            let mut o = serde_json::Map::new();
            o.insert("requests".into(), json!(one.ok));
            o.insert("errors".into(), json!(one.errors));
            o.insert("requests_per_s".into(), json!(crate::round3(one.per_second())));
            if let Value::Object(lat) = s1.to_json() {
                o.extend(lat);
            }
            o.insert("first_error".into(), json!(one.first_error));
            o.insert("cpu".into(), cpu.to_json(Some(one.ok)));
            head.insert("one_connection".into(), Value::Object(o));
        }
        reports.insert(name.into(), Value::Object(head));
    }

    let memory = sampler.stop();
    eprintln!("bench search: stopping the server (SIGTERM)");
    let stopped = server.stop()?;
    healthy &= stopped.clean();
    let log = server.log_tail(20);
    if !log.is_empty() {
        eprintln!("bench search: the server's log (last lines):\n{log}");
    }
    let server_json = json!({
        "startup_ms": crate::round3(crate::ms(server.startup)),
        "shutdown_ms": crate::round3(crate::ms(stopped.shutdown)),
        "exit_status": stopped.describe(),
        "clean_exit": stopped.clean(),
        "log_lines": stopped.log_lines,
    });
    Ok(Measured {
        queries: Value::Object(reports),
        server: server_json,
        memory: memory.to_json(),
        store_counts: Value::Object(store_counts),
        store_matches,
        healthy,
    })
}

/// The access targets: a GP's read keeps at least 80% of the system client's throughput on the same people;
/// `Patient?family=` as the GP answers with p99 under 50 ms.
fn access_summary(queries: &Value) -> Value {
    let rate = |name: &str| queries.get(name).and_then(|q| q.get("requests_per_s")).and_then(Value::as_f64);
    let ratio = match (rate("read_gp"), rate("read_system")) {
        (Some(gp), Some(system)) if system > 0.0 => Some(crate::round3(gp / system)),
        _ => None,
    };
    let family_p99 = queries.get("family_gp").and_then(|q| q.get("p99_ms")).and_then(Value::as_f64);
    json!({
        "read_gp_over_system": ratio,
        "read_meets_80_percent": ratio.map(|r| r >= 0.8),
        "family_gp_p99_ms": family_p99,
        "family_gp_meets_50_ms": family_p99.map(|p| p < 50.0),
    })
}

/// The 1-minute load average of the machine.
fn loadavg() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg").ok()?.split_whitespace().next()?.parse().ok()
}

fn progress(name: &str, label: &str, out: &Outcome) {
    let s = Summary::of(&out.latencies_ns);
    eprintln!(
        "bench search: {name} ({label}): {} requests in {:.2} s = {:.0}/s; p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms; {} errors",
        out.ok,
        out.elapsed.as_secs_f64(),
        out.per_second(),
        s.p50_ns as f64 / 1e6,
        s.p99_ns as f64 / 1e6,
        s.max_ns as f64 / 1e6,
        out.errors
    );
    if let Some(e) = &out.first_error {
        eprintln!("bench search: {name} ({label}): first error: {e}");
    }
}
