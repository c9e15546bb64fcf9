//! `joinery risk`: the emergency-admission model against the whole record. `evaluate` scores everyone alive
//! on a day from their record as it stood then and checks the scores against the emergency admissions of
//! the 12 months after (C-statistic, risk tiers, admissions in each); `fit` fits the model's coefficients to
//! the same history and prints them as a model file; `refresh` re-scores everyone and stores the scores, tiers,
//! eFI bands and segments. Each prints JSON and is audited as a read of every record.

use crate::config::{FileConfig, StoreArgs};
use crate::registers::{audited_system_task, parse_day, seconds};
use crate::{Failure, Outcome};
use care::admission::{self, AdmissionModel, Definition, Feature, Tier, TierCuts, DEFAULT_TIER_SHARES};
use serde_json::json;

#[derive(clap::Subcommand, Debug, Clone)]
pub enum RiskCommand {
    /// Score everyone alive on a day and check the scores against the next 12 months' emergency admissions.
    Evaluate(EvaluateArgs),
    /// Fit the model's coefficients to the record: inputs on a day, emergency admissions in the 12 months after.
    Fit(FitArgs),
    /// Re-score everyone alive today (or `--on`): probability, tier, eFI band and segment, stored for worklists.
    Refresh(RefreshArgs),
    /// Re-score people one at a time as a change to their record would, and print how long each took (ms).
    Rescore(RescoreArgs),
}

#[derive(clap::Args, Debug, Clone)]
pub struct RescoreArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The people to re-score (Patient ids); without it, the first `--sample` people scored.
    #[arg(long)]
    pub person: Vec<String>,
    #[arg(long, default_value_t = 1000)]
    pub sample: usize,
}

#[derive(clap::Args, Debug, Clone)]
pub struct RefreshArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Score as on this day (YYYY-MM-DD; default today).
    #[arg(long)]
    pub on: Option<String>,
}

#[derive(clap::Args, Debug, Clone)]
pub struct EvaluateArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The day to score on (YYYY-MM-DD); its next 12 months must be in the record.
    #[arg(long)]
    pub on: String,
    /// A model file (as `fit` prints) instead of the built-in model.
    #[arg(long)]
    pub model: Option<std::path::PathBuf>,
}

#[derive(clap::Args, Debug, Clone)]
pub struct FitArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The day whose inputs are fitted to the emergency admissions of the 12 months after (YYYY-MM-DD).
    #[arg(long)]
    pub on: String,
    /// The L2 penalty on the coefficients (not the intercept).
    #[arg(long, default_value_t = 1.0)]
    pub ridge: f64,
    /// The model's version in the file printed.
    #[arg(long, default_value = "fitted")]
    pub version: String,
    /// Where the data came from, for the file's `source` (default: the day and the number of people).
    #[arg(long)]
    pub source: Option<String>,
}

pub fn run(command: RiskCommand, file: &FileConfig) -> Outcome {
    match command {
        RiskCommand::Evaluate(args) => evaluate(&args, file),
        RiskCommand::Fit(args) => fit(&args, file),
        RiskCommand::Refresh(args) => refresh(&args, file),
        RiskCommand::Rescore(args) => rescore(&args, file),
    }
}

fn rescore(args: &RescoreArgs, file: &FileConfig) -> Outcome {
    let (given, sample) = (args.person.clone(), args.sample);
    audited_system_task(&args.store, file, "risk", Some("rescore"), |session| async move {
        let people = if given.is_empty() { session.scored_people(sample).await.map_err(|e| e.to_string())? } else { given };
        if people.is_empty() {
            return Err("nobody to re-score: run `joinery risk refresh` first".into());
        }
        let mut ms = Vec::with_capacity(people.len());
        let mut changed = 0;
        for person in &people {
            let before = session.stored_risk(person).await.map_err(|e| e.to_string())?;
            let started = std::time::Instant::now();
            let after = session.rescore(person).await.map_err(|e| e.to_string())?;
            ms.push(started.elapsed().as_secs_f64() * 1000.0);
            changed += usize::from(before.map(|b| (b.tier, b.probability)) != after.map(|a| (a.tier, a.probability)));
        }
        ms.sort_by(f64::total_cmp);
        let at = |q: f64| round(ms[((ms.len() - 1) as f64 * q).round() as usize]);
        Ok(json!({
            "people": people.len(),
            "changed": changed,
            "ms": { "p50": at(0.5), "p90": at(0.9), "p99": at(0.99), "max": at(1.0), "mean": round(mean(ms.iter().copied())) },
        }))
    })
}

fn refresh(args: &RefreshArgs, file: &FileConfig) -> Outcome {
    let on = args.on.as_deref().map(parse_day).transpose()?;
    let query = match &args.on {
        Some(d) => format!("refresh --on {d}"),
        None => "refresh".to_owned(),
    };
    audited_system_task(&args.store, file, "risk", Some(&query), |session| async move {
        let started = std::time::Instant::now();
        let r = session.refresh_risk(on).await.map_err(|e| e.to_string())?;
        let tiers: Vec<serde_json::Value> = Tier::ALL
            .iter()
            .zip(r.tiers)
            .zip([Some(r.cuts.lowest[0]), Some(r.cuts.lowest[1]), Some(r.cuts.lowest[2]), None])
            .map(|((tier, n), lowest)| json!({ "tier": tier.code(), "people": n, "percent": percent(n, r.people), "lowest_probability": lowest }))
            .collect();
        Ok(json!({
            "run": r.run,
            "on": r.on.to_string(),
            "people": r.people,
            "tiers": tiers,
            "groups": r.groups.iter().map(|(id, n)| (id.clone(), json!(n))).collect::<serde_json::Map<_, _>>(),
            "seconds": { "read": round(r.seconds[0]), "score": round(r.seconds[1]), "write": round(r.seconds[2]), "total": seconds(started) },
        }))
    })
}

fn evaluate(args: &EvaluateArgs, file: &FileConfig) -> Outcome {
    let on = parse_day(&args.on)?;
    let model = match &args.model {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?;
            AdmissionModel::from_json(&text).map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?
        }
        None => AdmissionModel::builtin().clone(),
    };
    let query = format!("evaluate --on {}", args.on);
    audited_system_task(&args.store, file, "risk", Some(&query), |session| async move {
        let started = std::time::Instant::now();
        let rows = session.admission_history(on).await.map_err(|e| e.to_string())?;
        let read = seconds(started);
        let scored: Vec<(f64, bool)> = rows.iter().map(|(x, y)| (admission::logistic(model.log_odds(x)), *y)).collect();
        let scores: Vec<f64> = scored.iter().map(|(p, _)| *p).collect();
        let admitted = scored.iter().filter(|(_, y)| *y).count();
        let cuts = TierCuts::from_scores(&scores, DEFAULT_TIER_SHARES);
        let tiers: Vec<serde_json::Value> = Tier::ALL
            .iter()
            .map(|tier| {
                let members: Vec<&(f64, bool)> = scored.iter().filter(|(p, _)| cuts.is_some_and(|c| c.tier(*p) == *tier)).collect();
                let in_tier_admitted = members.iter().filter(|(_, y)| *y).count();
                json!({
                    "tier": tier.code(),
                    "people": members.len(),
                    "admitted": in_tier_admitted,
                    "admitted_percent": percent(in_tier_admitted, members.len()),
                    "mean_predicted_percent": mean(members.iter().map(|(p, _)| *p)) * 100.0,
                    "lowest_probability": members.iter().map(|(p, _)| *p).fold(f64::INFINITY, f64::min),
                })
            })
            .collect();
        Ok(json!({
            "model": model.definition.model,
            "version": model.definition.version,
            "on": on.to_string(),
            "outcome": format!("emergency admission after {on} up to {}", on.months_after(12)),
            "people": rows.len(),
            "admitted": admitted,
            "admitted_percent": percent(admitted, rows.len()),
            "mean_predicted_percent": mean(scores.iter().copied()) * 100.0,
            "c_statistic": admission::c_statistic(&scored),
            "tiers": tiers,
            "seconds": { "read_and_inputs": read, "total": seconds(started) },
        }))
    })
}

fn fit(args: &FitArgs, file: &FileConfig) -> Outcome {
    let on = parse_day(&args.on)?;
    if !(args.ridge.is_finite() && args.ridge >= 0.0) {
        return Err(Failure::Usage(format!("--ridge {} must be a number of at least 0", args.ridge)));
    }
    let query = format!("fit --on {}", args.on);
    let (ridge, version, source) = (args.ridge, args.version.clone(), args.source.clone());
    audited_system_task(&args.store, file, "risk", Some(&query), |session| async move {
        let rows = session.admission_history(on).await.map_err(|e| e.to_string())?;
        let admitted = rows.iter().filter(|(_, y)| *y).count();
        let (intercept, coefficients) = admission::fit(&rows, ridge).map_err(|e| format!("the model cannot be fitted: {e}"))?;
        let source = source.unwrap_or_else(|| {
            format!(
                "Fitted by `joinery risk fit --on {on} --ridge {ridge}`: logistic regression of an emergency admission after {on} up to {} on the inputs as the record stood on {on}, over {} people alive that day ({admitted} admitted).",
                on.months_after(12),
                rows.len()
            )
        });
        let definition = Definition {
            model: "Joinery emergency admission risk".into(),
            version,
            source,
            note: "Inputs: age group (18 to 44 the reference), male sex, the number of QOF registers the person is on (up to 6), emergency admissions in the last 12 months (1, 2, 3 or more), A&E attendances in the last 12 months (up to 4), eFI band (fit the reference) and different medicines issued in the last 12 months (5 to 9, 10 or more).".into(),
            intercept: round(intercept),
            coefficients: Feature::ALL.iter().map(|f| (f.key().to_owned(), round(coefficients[*f as usize]))).collect(),
        };
        // The file must load as a model: more of a risk must not lower a score.
        AdmissionModel::new(definition.clone())
            .map_err(|e| format!("the fitted model cannot be used: {e}\n{}", serde_json::to_string_pretty(&definition).unwrap_or_default()))?;
        serde_json::to_value(&definition).map_err(|e| e.to_string())
    })
}

fn round(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

fn percent(n: usize, of: usize) -> f64 {
    if of == 0 {
        0.0
    } else {
        (n as f64 * 10_000.0 / of as f64).round() / 100.0
    }
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 {
        0.0
    } else {
        sum / n as f64
    }
}
