//! `joinery export`: the FHIR Bulk Data export from the command line, into a folder of NDJSON files.

use crate::config::{FileConfig, StoreArgs};
use crate::{block_on, megabytes, open_store, thousands, Failure, Outcome};
use app::bulk::{ExportLevel, ExportRequest};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug, Clone)]
pub struct ExportArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The folder to write `{Type}.ndjson` files and `job.json` into (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Only these resource types (comma-separated), like `_type`.
    #[arg(long = "type", value_delimiter = ',')]
    pub types: Vec<String>,
    /// Only resources updated at or after this instant, like `_since`.
    #[arg(long)]
    pub since: Option<String>,
    /// Only resources in some Patient's compartment (`Patient/$export`).
    #[arg(long)]
    pub patients: bool,
    /// Only the compartments of this Group's Patient members (`Group/[id]/$export`).
    #[arg(long, conflicts_with = "patients")]
    pub group: Option<String>,
}

pub fn run(args: &ExportArgs, file: &FileConfig) -> Outcome {
    let database = args.store.resolve(file).map_err(Failure::Usage)?;
    let (level, path) = match (&args.group, args.patients) {
        (Some(id), _) => (ExportLevel::Group(id.clone()), format!("Group/{id}/$export")),
        (None, true) => (ExportLevel::Patient, "Patient/$export".to_owned()),
        (None, false) => (ExportLevel::System, "$export".to_owned()),
    };
    let mut params = Vec::new();
    if !args.types.is_empty() {
        params.push(("_type".to_owned(), args.types.join(",")));
    }
    if let Some(s) = &args.since {
        params.push(("_since".to_owned(), s.clone()));
    }
    let query = form_query(&params);
    let request =
        ExportRequest::from_params(level, &params, format!("joinery export: {path}{query}")).map_err(|e| Failure::Usage(app_message(&e)))?;
    let config = crate::config::app_config(file, crate::config::LOCAL_BASE).map_err(Failure::Usage)?;
    block_on(async move {
        let app = app::App::new(open_store(&database)?, config);
        let outcome = app.as_system("joinery export").export_to_dir(&request, &args.out, None).await;
        let given = format!("{path}{query} --out {}", args.out.display());
        let audited = app.audit_command("export", &given, u16::from(outcome.is_err())).await;
        let closed = app.shutdown().await;
        audited.map_err(|e| Failure::Run(format!("the audit log could not record the export: {e}")))?;
        let summary = outcome.map_err(|e| match e {
            app::bulk::export::ExportError::App(a) => Failure::Run(app_message(&a)),
            other => Failure::Run(other.to_string()),
        })?;
        closed.map_err(|e| Failure::Run(format!("closing the database failed: {e}")))?;
        println!(
            "Exported {} resources ({}) in {:.1} s ({} resources/s) into {}",
            thousands(summary.resources),
            megabytes(summary.bytes),
            summary.seconds,
            thousands((summary.resources as f64 / summary.seconds.max(1e-9)) as u64),
            args.out.display()
        );
        for o in &summary.outputs {
            println!("  {:<24} {:>11}  {}", o.resource_type, thousands(o.count), o.file);
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn form_query(params: &[(String, String)]) -> String {
    if params.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("?{}", parts.join("&"))
}

/// An application error as one line for the terminal.
fn app_message(e: &app::AppError) -> String {
    let oo = e.outcome();
    let texts: Vec<String> = oo.issues.iter().map(|i| i.diagnostics.clone()).collect();
    texts.join("; ")
}
