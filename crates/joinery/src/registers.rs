//! `joinery registers`: how many people are on each long-term-condition register today, the eFI bands of
//! people aged 65 and over and the population segments, across the whole record (a scan of every Patient,
//! Condition, MedicationRequest and Encounter), printed as JSON and audited as a read of every record it
//! counted.

use crate::config::{FileConfig, StoreArgs};
use crate::{block_on, open_store, Failure, Outcome};
use serde_json::json;

#[derive(clap::Args, Debug, Clone)]
pub struct RegistersArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Count the registers as on this day (YYYY-MM-DD; default today), for a record whose people were
    /// generated as on another day.
    #[arg(long)]
    pub on: Option<String>,
}

pub fn run(args: &RegistersArgs, file: &FileConfig) -> Outcome {
    let on = args.on.as_deref().map(parse_day).transpose()?;
    let given = args.on.as_ref().map(|d| format!("--on {d}"));
    audited_system_task(&args.store, file, "registers", given.as_deref(), |session| async move {
        let started = std::time::Instant::now();
        let counts = session.register_counts(on).await.map_err(|e| e.to_string())?;
        let share = |n: u64, of: u64| if of == 0 { 0.0 } else { ((n as f64) * 10_000.0 / of as f64).round() / 100.0 };
        let registers = care::registers::Registers::builtin();
        let rows: Vec<serde_json::Value> = counts
            .counts
            .iter()
            .filter_map(|(code, n)| {
                let r = registers.get(code)?;
                Some(json!({ "code": code, "name": r.name, "indicator": r.indicator, "people": n, "percent": share(*n, counts.people) }))
            })
            .collect();
        let bands: serde_json::Map<String, serde_json::Value> = care::frailty::Band::ALL
            .iter()
            .zip(counts.frailty_65)
            .map(|(b, n)| (b.code().to_owned(), json!({ "people": n, "percent": share(n, counts.aged_65) })))
            .collect();
        let segmentation = care::segments::Segmentation::builtin();
        let segments: Vec<serde_json::Value> = segmentation
            .segments()
            .iter()
            .map(|g| {
                let n = counts.segments.get(&g.number).copied().unwrap_or(0);
                json!({ "number": g.number, "name": g.name, "people": n, "percent": share(n, counts.people) })
            })
            .collect();
        Ok(json!({
            "date": counts.date.to_string(),
            "people": counts.people,
            "seconds": seconds(started),
            "registers": rows,
            "efi_aged_65_and_over": { "people": counts.aged_65, "bands": bands },
            "segments": { "model": segmentation.model, "groups": segments, "without_birth_date": counts.unsegmented },
        }))
    })
}

/// A day given on the command line (YYYY-MM-DD).
pub fn parse_day(text: &str) -> Result<care::registers::Day, Failure> {
    Some(text)
        .filter(|t| t.len() == 10)
        .and_then(|t| care::registers::Day::parse(t, false))
        .ok_or_else(|| Failure::Usage(format!("--on {text} is not a date (YYYY-MM-DD)")))
}

/// Seconds since `started`, to the millisecond.
pub fn seconds(started: std::time::Instant) -> f64 {
    (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0
}

/// Runs `task` as the integration system `joinery {path}` on the configured database, records one audit
/// event for it (the command, its flags and whether it succeeded), and prints what it returns as JSON.
pub fn audited_system_task<F, Fut>(store: &StoreArgs, file: &FileConfig, path: &str, query: Option<&str>, task: F) -> Outcome
where
    F: FnOnce(app::Session) -> Fut,
    Fut: std::future::Future<Output = Result<serde_json::Value, String>>,
{
    let database = store.resolve(file).map_err(Failure::Usage)?;
    let config = crate::config::app_config(file, crate::config::LOCAL_BASE).map_err(Failure::Usage)?;
    block_on(async move {
        let app = app::App::new(open_store(&database)?, config);
        let session = app.as_system(&format!("joinery {path}"));
        let outcome = task(session.clone()).await;
        let status = if outcome.is_ok() { 0 } else { 1 };
        let audit = app::audit::RequestAudit { method: "CLI", path, query, status };
        let audited = session.audit(&audit).await;
        let closed = app.shutdown().await;
        audited.map_err(|e| Failure::Run(format!("the audit log could not record the command: {e}")))?;
        let report = outcome.map_err(Failure::Run)?;
        closed.map_err(|e| Failure::Run(format!("closing the database failed: {e}")))?;
        println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
        Ok(std::process::ExitCode::SUCCESS)
    })
}
