//! `bench`: starts a release `joinery` on a fresh database, drives it over HTTP/1.1 and prints the figures as JSON.
//!
//! Progress goes to stderr; the one JSON document goes to stdout (and to `--out FILE`). The exit code is 0 when
//! every request succeeded and the server stopped cleanly, 1 when the run finished but something failed (the JSON
//! says what), 2 when the run could not be carried out. `bench search` measures FHIR search on a generated
//! population instead (see `search.rs`).

#![forbid(unsafe_code)]

mod cpu;
mod data;
mod load;
mod peer;
mod phases;
mod population;
mod queries;
mod report;
mod search;
mod server;

use clap::{Parser, Subcommand};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Measures the Joinery record core: start-up, creates, reads, Synthea transactions, memory and shutdown.
#[derive(Parser, Debug, Clone)]
#[command(name = "bench", version)]
pub struct Args {
    /// Also write the JSON report to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// The `joinery` binary [default: `joinery` next to this executable, i.e. target/release/joinery].
    #[arg(long)]
    joinery: Option<PathBuf>,
    /// The folder of Synthea R4 transaction bundles [default: ../shared/data/synthea-r4 from the repository root].
    #[arg(long)]
    synthea: Option<PathBuf>,
    /// Skip the Synthea transaction phase.
    #[arg(long)]
    skip_synthea: bool,
    /// Seconds per timed phase (create, read; the one-connection read runs for half of it, 1 to 5 s).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Concurrent clients (one keep-alive connection each) in the create phase.
    #[arg(long, default_value_t = 32)]
    create_clients: usize,
    /// Concurrent clients (one keep-alive connection each) in the read phase.
    #[arg(long, default_value_t = 16)]
    read_clients: usize,
    /// Threads of the load generator's runtime; the server gets the rest of the machine.
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// Patients that must exist before the read phase; more are created (untimed) if the create phase made fewer.
    #[arg(long, default_value_t = 10_000)]
    min_patients: usize,
    /// Upper bound on the requests of one phase, whatever the time limit.
    #[arg(long, default_value_t = 2_000_000)]
    max_requests: u64,
    /// Another measurement instead of the default one.
    #[command(subcommand)]
    mode: Option<Mode>,
}

#[derive(Subcommand, Debug, Clone)]
enum Mode {
    /// Search on a generated population: `bench search --people 100000 [--database PATH] [--keep]`.
    Search(search::SearchArgs),
    /// The same workload against Joinery and another FHIR server: `bench peer --peer http://127.0.0.1:8090`.
    Peer(peer::PeerArgs),
}

fn main() -> ExitCode {
    let mut args = Args::parse();
    match args.mode.take() {
        Some(Mode::Search(search_args)) => return search::main(search_args),
        Some(Mode::Peer(peer_args)) => return peer::main(peer_args),
        None => {}
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(args.client_threads.max(1)).enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bench: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("bench: finished, but some requests failed or the server did not stop cleanly (see the report)");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::from(2)
        }
    }
}

/// The whole run; returns whether everything succeeded.
async fn run(args: Args) -> Result<bool, String> {
    let run_started = Instant::now();
    let joinery = locate_joinery(args.joinery.as_deref())?;
    let bundles = if args.skip_synthea {
        None
    } else {
        let dir = locate_synthea(args.synthea.as_deref())?;
        eprintln!("bench: reading the Synthea bundles in {}", dir.display());
        let b = data::load_synthea(&dir)?;
        eprintln!("bench: {} bundles, {} entries", b.len(), b.iter().map(|b| b.entries).sum::<usize>());
        Some((dir, b))
    };
    let machine = report::machine();
    let seconds = Duration::from_secs(args.seconds.max(1));

    eprintln!("bench: starting {}", joinery.display());
    let mut server = server::Server::start(&joinery).await?;
    let startup = server.startup;
    eprintln!("bench: serving on {} after {:.1} ms (database {})", server.addr, ms(server.startup), server.db_path().display());
    let sampler = server::RssSampler::start(server.pid(), Duration::from_millis(100));

    let mut healthy = true;
    let mut phase_reports = serde_json::Map::new();

    // create
    let create = phases::create(server.addr, args.create_clients, seconds, args.max_requests).await;
    healthy &= create.errors == 0;
    let mut ids = create.kept.clone();
    phase_reports.insert("create".into(), create.to_json("creates"));
    let mut topped_up = 0usize;
    if ids.len() < args.min_patients {
        let want = args.min_patients - ids.len();
        let topup = phases::top_up(server.addr, args.create_clients, want as u64).await;
        healthy &= topup.errors == 0;
        topped_up = topup.kept.len();
        ids.extend(topup.kept.iter().cloned());
        phase_reports.insert("create_topup".into(), topup.to_json("creates"));
        if ids.len() < args.min_patients {
            eprintln!("bench: only {} Patients exist (wanted {}); reading those", ids.len(), args.min_patients);
        }
    }

    // read
    if ids.is_empty() {
        return Err("no Patient was created, so there is nothing to read; see the errors above".into());
    }
    let ids = std::sync::Arc::new(ids);
    let read = phases::read(server.addr, args.read_clients, seconds, args.max_requests, ids.clone(), "read").await;
    healthy &= read.errors == 0;
    phase_reports.insert("read".into(), read.to_json("reads"));
    let one_seconds = Duration::from_secs((args.seconds / 2).clamp(1, 5));
    let one = phases::read(server.addr, 1, one_seconds, args.max_requests, ids.clone(), "read on one connection").await;
    healthy &= one.errors == 0;
    phase_reports.insert("read_one_connection".into(), phases::one_connection_json(&one));

    // transaction
    let mut synthea = None;
    if let Some((dir, bundles)) = &bundles {
        let t = phases::transactions(server.addr, bundles).await;
        healthy &= t.failures == 0 && !t.truncated;
        phase_reports.insert("transaction".into(), t.to_json(dir));
        synthea = Some(t);
    }

    // memory, database and census while the server still runs
    let memory = sampler.stop();
    let db_running = server.database_bytes();
    let census = phases::census(server.addr).await;
    if let Err(e) = &census {
        eprintln!("bench: cannot count the resources: {e}");
        healthy = false;
    }

    // shutdown
    eprintln!("bench: stopping the server (SIGTERM)");
    let stopped = server.stop()?;
    if stopped.exited_before_stop {
        eprintln!("bench: the server had already exited ({}) before it was asked to stop", stopped.describe());
    } else {
        eprintln!("bench: stopped in {:.1} ms ({})", ms(stopped.shutdown), stopped.describe());
    }
    healthy &= stopped.clean();
    let db_stopped = server.database_bytes();
    let log = server.log_tail(20);
    if !log.is_empty() {
        eprintln!("bench: the server's log (last lines):\n{log}");
    }
    drop(server);

    let created = create.kept.len() + topped_up;
    let data = json!({
        "patients_created": created,
        "patients_created_in_timed_phase": create.kept.len(),
        "synthea_bundles": synthea.as_ref().map(|s| s.bundles_sent).unwrap_or(0),
        "synthea_entries": synthea.as_ref().map(|s| s.entries_sent).unwrap_or(0),
        "synthea_resources_created": synthea.as_ref().map(|s| s.created).unwrap_or(0),
        "expected_resources": created + synthea.as_ref().map(|s| s.created).unwrap_or(0),
    });
    let store = report::store_json(&census, &db_running, &db_stopped);
    let report = json!({
        "bench": {
            "version": env!("CARGO_PKG_VERSION"),
            "joinery": joinery.display().to_string(),
            "seconds_per_phase": args.seconds,
            "create_clients": args.create_clients,
            "read_clients": args.read_clients,
            "client_threads": args.client_threads.max(1),
            "min_patients": args.min_patients,
            "synthea_dir": bundles.as_ref().map(|(d, _)| d.display().to_string()),
        },
        "machine": machine,
        "server": {
            "startup_ms": round3(ms(startup)),
            "shutdown_ms": round3(ms(stopped.shutdown)),
            "exit_status": stopped.describe(),
            "exit_code": stopped.code,
            "clean_exit": stopped.clean(),
            "killed_after_timeout": stopped.killed,
            "exited_before_stop": stopped.exited_before_stop,
            "log_lines": stopped.log_lines,
        },
        "data": data,
        "phases": Value::Object(phase_reports),
        "memory": memory.to_json(),
        "store": store,
        "ok": healthy,
        "total_s": round3(run_started.elapsed().as_secs_f64()),
    });
    let text = serde_json::to_string_pretty(&report).map_err(|e| format!("cannot render the report: {e}"))?;
    println!("{text}");
    if let Some(out) = &args.out {
        std::fs::write(out, format!("{text}\n")).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
        eprintln!("bench: wrote {}", out.display());
    }
    Ok(healthy)
}

/// The `joinery` binary: the flag, or `joinery` beside this executable.
fn locate_joinery(flag: Option<&Path>) -> Result<PathBuf, String> {
    let path = match flag {
        Some(p) => p.to_path_buf(),
        None => {
            let exe = std::env::current_exe().map_err(|e| format!("cannot find this executable's path: {e}"))?;
            let dir = exe.parent().ok_or_else(|| format!("{} has no parent folder", exe.display()))?;
            dir.join(format!("joinery{}", std::env::consts::EXE_SUFFIX))
        }
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "the joinery binary is not at {}: build it first with `cargo build --release -p joinery -p bench`, or pass --joinery PATH",
            path.display()
        ))
    }
}

/// The Synthea folder: the flag, or `../shared/data/synthea-r4` from the working directory or from the repository root.
fn locate_synthea(flag: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(p) = flag {
        return if p.is_dir() { Ok(p.to_path_buf()) } else { Err(format!("--synthea {} is not a folder", p.display())) };
    }
    let relative = Path::new("../shared/data/synthea-r4");
    let from_root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(relative);
    for candidate in [relative.to_path_buf(), from_root] {
        if candidate.is_dir() {
            return Ok(candidate);
        }
    }
    Err(format!("no Synthea folder at {} (relative to the repository root): pass --synthea DIR or --skip-synthea", relative.display()))
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Rounds to three decimals (microseconds when the unit is ms).
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
