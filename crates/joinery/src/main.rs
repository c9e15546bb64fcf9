//! The `joinery` binary: the command line, configuration (file → environment → flags) and wiring.

mod audit;
mod config;
mod demo;
mod explain;
mod export;
mod generate;
mod import;
mod progress;
mod registers;
mod risk;
mod users;

use clap::{Parser, Subcommand};
use config::{Database, FileConfig, ServeArgs, Settings};
use std::path::PathBuf;
use std::process::ExitCode;

/// JSON parsing and index extraction allocate many small objects; mimalloc serves them faster than the
/// system allocator, on every thread (the import's workers included).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "joinery", version, about = "Joinery: an integrated care platform on a FHIR R4 shared care record")]
struct Cli {
    /// A TOML configuration file (keys: listen, database, base_url, log_format, max_body_bytes).
    #[arg(long, global = true, env = "JOINERY_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the FHIR API on the configured database.
    Serve(ServeArgs),
    /// The demonstration: on first run generate the Central London population and import it, then serve.
    Demo(demo::DemoArgs),
    /// Generate a synthetic population as FHIR NDJSON files, one per resource type.
    Generate(generate::GenerateArgs),
    /// Import NDJSON files, folders of them, and Bundle JSON files into the database.
    Import(import::ImportArgs),
    /// Export the record (or the Patient compartments, or a Group's) as FHIR Bulk Data NDJSON files.
    Export(export::ExportArgs),
    /// Apply pending database migrations, then exit (`serve` also applies them at start-up).
    Migrate(config::StoreArgs),
    /// Accounts: add, list, disable.
    #[command(subcommand)]
    User(users::UserCommand),
    /// Print a bearer token for an account (`--user NAME`) or an integration client (`--system NAME`).
    Token(users::TokenArgs),
    /// The audit log: verify its hash chain.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// How many people are on each long-term-condition register today (JSON).
    Registers(registers::RegistersArgs),
    /// The emergency-admission risk model against the whole record: evaluate it, or fit it (JSON).
    #[command(subcommand)]
    Risk(risk::RiskCommand),
    /// The statements a search runs and the database's plans for them (JSON).
    Explain(explain::ExplainArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let file = match FileConfig::load(cli.config.as_deref()) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("joinery: {e}");
            return ExitCode::from(2);
        }
    };
    let outcome = match cli.command {
        Command::Serve(args) => match Settings::resolve(args, file) {
            Ok(settings) => {
                init_logging(&settings.log_format, "info");
                block_on(serve(settings, None))
            }
            Err(e) => Err(Failure::Usage(e)),
        },
        Command::Demo(args) => demo::run(args, file),
        Command::Generate(args) => {
            init_logging(&cli_log_format(&file), "info");
            generate::run(&args)
        }
        Command::Import(args) => {
            init_logging(&cli_log_format(&file), "info");
            import::run(&args, &file)
        }
        Command::Export(args) => {
            init_logging(&cli_log_format(&file), "info");
            export::run(&args, &file)
        }
        Command::Migrate(args) => {
            init_logging(&cli_log_format(&file), "info");
            migrate(&args, &file)
        }
        Command::User(command) => {
            init_logging(&cli_log_format(&file), "warn");
            users::user(command, &file)
        }
        Command::Token(args) => {
            init_logging(&cli_log_format(&file), "warn");
            users::token(args, &file)
        }
        Command::Registers(args) => {
            init_logging(&cli_log_format(&file), "warn");
            registers::run(&args, &file)
        }
        Command::Risk(command) => {
            init_logging(&cli_log_format(&file), "warn");
            risk::run(command, &file)
        }
        Command::Audit(command) => {
            init_logging(&cli_log_format(&file), "warn");
            audit::run(command, &file)
        }
        Command::Explain(args) => {
            init_logging(&cli_log_format(&file), "warn");
            explain::run(&args, &file)
        }
    };
    match outcome {
        Ok(code) => code,
        Err(Failure::Usage(e)) => {
            eprintln!("joinery: {e}");
            ExitCode::from(2)
        }
        Err(Failure::Run(e)) => {
            eprintln!("joinery: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Why a command stopped.
pub enum Failure {
    /// Bad flags or configuration (exit code 2).
    Usage(String),
    /// The command could not do its work (exit code 1).
    Run(String),
}

pub type Outcome = Result<ExitCode, Failure>;

/// Commands that are not servers log as text unless a format is configured.
fn cli_log_format(file: &FileConfig) -> String {
    std::env::var("JOINERY_LOG_FORMAT").ok().or_else(|| file.log_format.clone()).unwrap_or_else(|| "text".into())
}

fn init_logging(format: &str, default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("JOINERY_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.compact().init();
    }
}

/// Runs a command's future on a multi-threaded runtime.
fn block_on(f: impl std::future::Future<Output = Outcome>) -> Outcome {
    match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r.block_on(f),
        Err(e) => Err(Failure::Run(format!("cannot start the runtime: {e}"))),
    }
}

/// `joinery migrate`: applies pending migrations (safe while other nodes run or start: PostgreSQL applies
/// them under an advisory lock, SQLite in one immediate transaction) and exits.
fn migrate(args: &config::StoreArgs, file: &FileConfig) -> Outcome {
    let database = args.resolve(file).map_err(Failure::Usage)?;
    block_on(async move {
        match &database {
            Database::Sqlite(_) => {
                // The record's file is migrated as it opens; the audit log's file beside it, as it is opened here.
                let store = open_store(&database)?;
                store.audit_mark().await.map_err(|e| Failure::Run(format!("cannot migrate the audit log: {e}")))?;
                store.close().await.map_err(|e| Failure::Run(e.to_string()))?
            }
            Database::Postgres(pg) => {
                let store = store::PgStore::open(pg.options()).map_err(|e| Failure::Run(e.to_string()))?;
                store.migrate().await.map_err(|e| Failure::Run(format!("cannot migrate the PostgreSQL database: {e}")))?;
                store.close().await.map_err(|e| Failure::Run(e.to_string()))?;
            }
        }
        println!("joinery: the database schema is up to date");
        Ok(ExitCode::SUCCESS)
    })
}

/// Opens the configured database (creating and migrating it if needed).
fn open_store(database: &Database) -> Result<store::Store, Failure> {
    match database {
        Database::Sqlite(path) => Ok(store::Store::Sqlite(
            store::SqliteStore::open(store::SqliteOptions::new(path)).map_err(|e| Failure::Run(format!("cannot open {}: {e}", path.display())))?,
        )),
        Database::Postgres(pg) => {
            let store = store::PgStore::open(pg.options()).map_err(|e| Failure::Run(format!("cannot use the PostgreSQL database: {e}")))?;
            // Migrate now if PostgreSQL is reachable. If it is not, the server still starts, answers 503 with
            // Retry-After, and migrates on the first request after it comes back.
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                let early = store.clone();
                runtime.spawn(async move {
                    if let Err(e) = early.migrate().await {
                        tracing::warn!(error = %e, "PostgreSQL is not ready; requests get 503 until it is");
                    }
                });
            }
            Ok(store::Store::Postgres(store))
        }
    }
}

/// Serves the FHIR API until SIGINT or SIGTERM, then drains requests and closes the database. `app` is
/// given when the caller has already opened the store (the demo); `banner` is printed once listening.
async fn serve(settings: Settings, prepared: Option<(app::App, String)>) -> Outcome {
    let started = std::time::Instant::now();
    let (app, banner) = match prepared {
        Some((app, banner)) => (app, Some(banner)),
        None => (app::App::new(open_store(&settings.database)?, settings.app_config()), None),
    };
    // On SQLite the audit log is a file beside the record, opened (and migrated) before listening. On
    // PostgreSQL its tables migrate with the record's when the database is first reached, which may be after
    // start-up: a server starts while its database is down and answers 503 until it is back.
    if matches!(settings.database, Database::Sqlite(_)) {
        app.open_audit_log().await.map_err(|e| Failure::Run(format!("cannot open the audit log: {e}")))?;
    }
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| Failure::Run(format!("cannot install the metrics recorder: {e}")))?;
    let render: api::MetricsRender = std::sync::Arc::new(move || metrics.render());
    let router = api::router(app.clone(), settings.http(Some(render)));
    let listener =
        tokio::net::TcpListener::bind(&settings.listen).await.map_err(|e| Failure::Run(format!("cannot listen on {}: {e}", settings.listen)))?;
    if app::audit::UNAUDITED {
        tracing::warn!("this build audits nothing (feature `unaudited`): it is for measuring what auditing costs, never for serving people");
    }
    let schedule = settings.app.risk_refresh_at.map(|minute| app.refresh_daily(minute));
    tracing::info!(listen = %settings.listen, startup_ms = started.elapsed().as_millis() as u64, "serving");
    println!("Joinery is serving the FHIR API at {}", settings.base_url);
    if let Some(b) = banner {
        println!("{b}");
    }
    accept(listener, router, std::time::Duration::from_millis(settings.header_timeout_ms as u64)).await;
    if let Some(task) = schedule {
        task.abort();
    }
    tracing::info!("requests drained; closing the database");
    app.shutdown().await.map_err(|e| Failure::Run(format!("closing the database failed: {e}")))?;
    tracing::info!("stopped cleanly");
    Ok(ExitCode::SUCCESS)
}

/// Serves HTTP/1.1 connections until a shutdown signal, then lets the open ones finish. A client that has
/// not sent a request's headers within `header_timeout` is disconnected; the body and the rest of the
/// request are bounded by the router's own time limit.
async fn accept(listener: tokio::net::TcpListener, router: axum::Router, header_timeout: std::time::Duration) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut signal = std::pin::pin!(shutdown_signal());
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of file descriptors and the like: wait a moment rather than spin.
                        tracing::warn!(error = %e, "accepting a connection failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let service = hyper_util::service::TowerToHyperService::new(router.clone());
                let mut builder = hyper::server::conn::http1::Builder::new();
                builder.timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(header_timeout);
                let connection = graceful.watch(builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service));
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
            _ = &mut signal => break,
        }
    }
    drop(listener);
    graceful.shutdown().await;
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown requested");
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bytes as `224.4 MB`.
pub fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_000_000.0)
}
