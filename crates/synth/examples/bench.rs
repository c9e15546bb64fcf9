//! Measures generation speed: `cargo run --release -p synth --example bench -- --people 50000 [--seed S] [--preset NAME] [--threads N] [--out DIR]`; prints one JSON object.

use chrono::NaiveDate;
use std::time::Instant;
use synth::{generate, Options, Preset};

fn main() {
    if let Err(message) = run() {
        eprintln!("bench: {message}");
        std::process::exit(2);
    }
}

fn run() -> Result<(), String> {
    let mut people: usize = 50_000;
    let mut seed: u64 = 1;
    let mut preset = Preset::Custom;
    let mut threads = 0;
    let mut out: Option<std::path::PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--people" => people = value()?.parse().map_err(|error| format!("--people: {error}"))?,
            "--seed" => seed = value()?.parse().map_err(|error| format!("--seed: {error}"))?,
            "--threads" => threads = value()?.parse().map_err(|error| format!("--threads: {error}"))?,
            "--preset" => preset = Preset::parse(&value()?).map_err(|error| error.to_string())?,
            "--out" => out = Some(value()?.into()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let reference_date = NaiveDate::from_ymd_opt(2025, 1, 1).ok_or("bad reference date")?;
    let options = Options { seed, people, preset, reference_date, threads };
    let scratch;
    let dir = match out {
        Some(dir) => dir,
        None => {
            scratch = std::env::temp_dir().join(format!("synth-bench-{}", std::process::id()));
            scratch.clone()
        }
    };
    let started = Instant::now();
    let summary = generate(&options, &dir).map_err(|error| error.to_string())?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "people": summary.people,
            "resources": summary.total,
            "seconds": (seconds * 1000.0).round() / 1000.0,
            "resources_per_second": (summary.total as f64 / seconds).round(),
            "bytes": summary.bytes,
            "threads": if threads == 0 { std::thread::available_parallelism().map_or(1, usize::from) } else { threads },
            "counts": summary.counts,
        })
    );
    if dir.starts_with(std::env::temp_dir()) && dir.file_name().is_some_and(|name| name.to_string_lossy().starts_with("synth-bench-")) {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}
