//! `joinery generate`: writes a seeded synthetic population as FHIR NDJSON, one file per resource type.

use crate::{megabytes, thousands, Failure, Outcome};
use chrono::NaiveDate;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// The reference date ("today" of the population) unless one is given, so that output is reproducible.
pub const DEFAULT_REFERENCE_DATE: &str = "2025-01-01";

#[derive(clap::Args, Debug, Clone)]
pub struct GenerateArgs {
    /// The seed: the same seed and options give byte-identical files.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The folder to write `{Type}.ndjson` files into (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// A named population: central-london (199,000 people), north-west-london (2.1 million) or custom.
    #[arg(long, conflicts_with = "people")]
    pub preset: Option<String>,
    /// A population of this many people (North West London's age structure and list sizes).
    #[arg(long)]
    pub people: Option<usize>,
    /// The population's "today", YYYY-MM-DD: the record holds the two years before it.
    #[arg(long, default_value = DEFAULT_REFERENCE_DATE)]
    pub reference_date: String,
    /// Worker threads; 0 means one per core (the output does not depend on it).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

/// The generator's options from the flags.
pub fn options(args: &GenerateArgs) -> Result<synth::Options, String> {
    let reference_date = NaiveDate::parse_from_str(&args.reference_date, "%Y-%m-%d")
        .map_err(|e| format!("--reference-date '{}' is not a date like 2025-01-01: {e}", args.reference_date))?;
    let mut options = match (&args.preset, args.people) {
        (Some(name), _) => synth::Options::for_preset(synth::Preset::parse(name).map_err(|e| e.to_string())?, args.seed, reference_date),
        (None, Some(people)) => synth::Options { seed: args.seed, people, preset: synth::Preset::Custom, reference_date, threads: 0 },
        (None, None) => return Err("say how big a population to generate: --preset central-london, or --people N".into()),
    };
    options.threads = args.threads;
    Ok(options)
}

pub fn run(args: &GenerateArgs) -> Outcome {
    let options = options(args).map_err(Failure::Usage)?;
    let started = Instant::now();
    let summary = generate(&options, &args.out)?;
    print_summary(&summary, started.elapsed().as_secs_f64(), &args.out);
    Ok(ExitCode::SUCCESS)
}

pub fn generate(options: &synth::Options, out: &Path) -> Result<synth::Summary, Failure> {
    tracing::info!(people = options.people, preset = options.preset.name(), "generating a population");
    synth::generate(options, out).map_err(|e| Failure::Run(e.to_string()))
}

pub fn print_summary(summary: &synth::Summary, seconds: f64, out: &Path) {
    println!(
        "Generated {} people, {} resources ({}) in {:.1} s ({} resources/s) into {}",
        thousands(summary.people),
        thousands(summary.total),
        megabytes(summary.bytes),
        seconds,
        thousands((summary.total as f64 / seconds.max(1e-9)) as u64),
        out.display()
    );
    for (t, n) in summary.counts.iter().filter(|(_, n)| **n > 0) {
        println!("  {t:<20} {:>12}", thousands(*n));
    }
}
