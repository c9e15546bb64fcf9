//! `joinery registers`: how many people are on each long-term-condition register today, and the eFI bands of
//! people aged 65 and over, across the whole record (a scan of every Patient, Condition and
//! MedicationRequest), printed as JSON and audited as a read of every record it counted.

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
    let database = args.store.resolve(file).map_err(Failure::Usage)?;
    let config = crate::config::app_config(file, crate::config::LOCAL_BASE).map_err(Failure::Usage)?;
    let on = match &args.on {
        Some(text) if text.len() == 10 => {
            Some(care::registers::Day::parse(text, false).ok_or_else(|| Failure::Usage(format!("--on {text} is not a date (YYYY-MM-DD)")))?)
        }
        Some(text) => return Err(Failure::Usage(format!("--on {text} is not a date (YYYY-MM-DD)"))),
        None => None,
    };
    block_on(async move {
        let app = app::App::new(open_store(&database)?, config);
        let session = app.as_system("joinery registers");
        let started = std::time::Instant::now();
        let outcome = session.register_counts(on).await;
        let status = if outcome.is_ok() { 0 } else { 1 };
        let given = args.on.as_ref().map(|d| format!("--on {d}"));
        let audit = app::audit::RequestAudit { method: "CLI", path: "registers", query: given.as_deref(), status };
        let audited = session.audit(&audit).await;
        let closed = app.shutdown().await;
        audited.map_err(|e| Failure::Run(format!("the audit log could not record the count: {e}")))?;
        let counts = outcome.map_err(|e| Failure::Run(e.to_string()))?;
        closed.map_err(|e| Failure::Run(format!("closing the database failed: {e}")))?;
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
        let report = json!({
            "date": counts.date.to_string(),
            "people": counts.people,
            "seconds": (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
            "registers": rows,
            "efi_aged_65_and_over": { "people": counts.aged_65, "bands": bands },
        });
        println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
        Ok(std::process::ExitCode::SUCCESS)
    })
}
