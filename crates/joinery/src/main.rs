//! The `joinery` binary: the command line, configuration (file → environment → flags) and wiring.

mod config;

use clap::{Parser, Subcommand};
use config::{Database, FileConfig, ServeArgs, Settings};
use std::path::PathBuf;
use std::process::ExitCode;

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
    /// The demonstration: serve the embedded database and say how to load data and use the API.
    Demo(ServeArgs),
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
    let (args, demo) = match cli.command {
        Command::Serve(a) => (a, false),
        Command::Demo(a) => (a, true),
    };
    let settings = match Settings::resolve(args, file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("joinery: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(&settings.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("joinery: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(settings, demo)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("joinery: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("JOINERY_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.compact().init();
    }
}

async fn serve(settings: Settings, demo: bool) -> Result<(), String> {
    let started = std::time::Instant::now();
    let store = match &settings.database {
        Database::Sqlite(path) => store::Store::Sqlite(
            store::SqliteStore::open(store::SqliteOptions::new(path)).map_err(|e| format!("cannot open {}: {e}", path.display()))?,
        ),
    };
    let app = app::App::new(store, app::Config::new(settings.base_url.clone()));
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| format!("cannot install the metrics recorder: {e}"))?;
    let render: api::MetricsRender = std::sync::Arc::new(move || metrics.render());
    let router = api::router(app.clone(), api::Options { max_body_bytes: settings.max_body_bytes, metrics: Some(render) });
    let listener = tokio::net::TcpListener::bind(&settings.listen).await.map_err(|e| format!("cannot listen on {}: {e}", settings.listen))?;
    tracing::info!(listen = %settings.listen, startup_ms = started.elapsed().as_millis() as u64, "serving");
    println!("Joinery is serving the FHIR API at {}", settings.base_url);
    if demo {
        print_demo_help(&settings);
    }
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| format!("server error: {e}"))?;
    tracing::info!("requests drained; closing the database");
    app.shutdown().await.map_err(|e| format!("closing the database failed: {e}"))?;
    tracing::info!("stopped cleanly");
    Ok(())
}

fn print_demo_help(s: &Settings) {
    let base = &s.base_url;
    println!(
        "\nThe record is empty until you load data. Try:\n\
         \n  curl {base}/metadata\
         \n  curl -X POST {base} -H 'Content-Type: application/fhir+json' --data-binary @../shared/data/synthea-r4/<a bundle>.json\
         \n  curl '{base}/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9990000018'\
         \n\nPress Ctrl-C to stop; in-flight requests finish and the database closes cleanly.\n"
    );
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
