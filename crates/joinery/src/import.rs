//! `joinery import`: loads NDJSON files, folders of them and Bundle JSON files into the database, with
//! progress on the terminal and a summary per resource type at the end.

use crate::config::{FileConfig, StoreArgs};
use crate::progress::Watch;
use crate::{block_on, megabytes, open_store, thousands, Failure, Outcome};
use app::bulk::{ImportOptions, ImportReport, Progress};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(clap::Args, Debug, Clone)]
pub struct ImportArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// NDJSON files (`.ndjson`), Bundle or resource JSON files, and folders of them.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// NDJSON lines per write unit.
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    /// Threads that parse, validate and index; 0 means one per core.
    #[arg(long, default_value_t = 0)]
    pub workers: usize,
    /// Failures listed in the summary (all are counted).
    #[arg(long, default_value_t = 20)]
    pub show_failures: usize,
}

pub fn run(args: &ImportArgs, file: &FileConfig) -> Outcome {
    let database = args.store.resolve(file).map_err(Failure::Usage)?;
    let sources = app::bulk::list_sources(&args.paths).map_err(|e| Failure::Usage(e.to_string()))?;
    let config = crate::config::app_config(file, crate::config::LOCAL_BASE).map_err(Failure::Usage)?;
    block_on(async move {
        let app = app::App::new(open_store(&database)?, config);
        let options = ImportOptions { batch_size: args.batch, workers: args.workers, ..Default::default() };
        let outcome = import(&app, sources, options).await;
        let closed = app.shutdown().await;
        let report = outcome?;
        closed.map_err(|e| Failure::Run(format!("closing the database failed: {e}")))?;
        print_report(&report, args.show_failures);
        Ok(if report.failure_count > 0 || report.dangling.count > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
    })
}

/// Imports with progress shown while it runs.
pub async fn import(app: &app::App, sources: Vec<app::bulk::Source>, options: ImportOptions) -> Result<ImportReport, Failure> {
    let progress = Arc::new(Progress::default());
    let watch = Watch::start(progress.clone());
    let report = app.import(sources, options, progress).await;
    drop(watch);
    report.map_err(|e| Failure::Run(format!("the import stopped: {e}")))
}

pub fn print_report(report: &ImportReport, show_failures: usize) {
    let total = report.total();
    let seconds = report.write_seconds.max(1e-9);
    let resources = total.read;
    println!(
        "Imported {} file{} ({}) in {:.1} s: {} resources read, {} resources/s; references checked in {:.1} s",
        report.files,
        if report.files == 1 { "" } else { "s" },
        megabytes(report.bytes),
        report.write_seconds,
        thousands(resources),
        thousands((resources as f64 / seconds) as u64),
        report.check_seconds,
    );
    println!("  {:<24} {:>11} {:>11} {:>11} {:>11} {:>9}", "type", "read", "created", "updated", "unchanged", "failed");
    for (t, c) in report.types.iter().chain(std::iter::once((&"total".to_owned(), &total))) {
        println!(
            "  {t:<24} {:>11} {:>11} {:>11} {:>11} {:>9}",
            thousands(c.read),
            thousands(c.created),
            thousands(c.updated),
            thousands(c.unchanged),
            thousands(c.failed)
        );
    }
    for p in &report.skipped {
        println!("  skipped {} (not FHIR: a Bulk Data manifest)", p.display());
    }
    if report.dangling.count == 0 {
        println!("Every reference in what was written points at a resource that exists.");
    } else {
        println!("{} references point at resources that do not exist, for example:", thousands(report.dangling.count));
        for d in &report.dangling.samples {
            println!("  {}/{} -> {}/{}", d.resource_type, d.id, d.target_type, d.target_id);
        }
    }
    if report.failure_count > 0 {
        let shown = report.failures.len().min(show_failures);
        println!(
            "{} lines or entries were not imported{}:",
            thousands(report.failure_count),
            if shown < report.failure_count as usize { format!(" (the first {shown})") } else { String::new() }
        );
        for f in report.failures.iter().take(shown) {
            println!("  {f}");
        }
    }
}
