//! A person's risk scores as FHIR RiskAssessment, from what the caller may see of their record: the
//! electronic Frailty Index (`care::frailty`; each deficit found as a factor with its contribution, 1/36, and
//! its evidence) and the emergency-admission risk (`care::admission`; each input that applies with its
//! value, coefficient, contribution to the log-odds and evidence), each with the model's name and version and
//! the resources it read as `basis`. Also the whole record's admission history, to fit and check the model.

use crate::error::AppError;
use crate::session::Session;
use care::admission::{self, AdmissionModel, AdmissionRisk, Feature, Tier, TierCuts, FEATURES};
use care::frailty::{Efi, Frailty, DEFICITS};
use care::registers::{Day, EmergencyKind, Facts, Registers};
use serde_json::{json, Value};

/// The code system of Joinery's risk models.
pub const MODEL_SYSTEM: &str = "urn:joinery:risk-model";
/// The code system of the eFI bands.
pub const EFI_BAND_SYSTEM: &str = "urn:joinery:efi-band";
/// Extensions: a factor of a score (`factor`, `contribution`, `evidence`), and the score itself.
pub const FACTOR_EXTENSION: &str = "urn:joinery:extension:risk-factor";
pub const SCORE_EXTENSION: &str = "urn:joinery:extension:risk-score";

impl Session {
    /// The person's eFI today, from the resources of their record the caller may see.
    pub async fn frailty(&self, patient_id: &str) -> Result<(Day, Frailty), AppError> {
        let facts = self.coded_facts(patient_id, false).await?;
        let today = self.today()?;
        Ok((today, Efi::builtin().assess(&facts, today)))
    }
}

impl Session {
    /// The person's risk of an emergency admission within a year, today, from the resources of their
    /// record the caller may see.
    pub async fn admission_risk(&self, patient_id: &str) -> Result<(Day, AdmissionRisk), AppError> {
        let facts = self.coded_facts(patient_id, true).await?;
        let today = self.today()?;
        let inputs = admission::inputs(&facts, today, Registers::builtin(), Efi::builtin());
        Ok((today, AdmissionModel::builtin().score(inputs)))
    }

    /// Every person alive on `on`, with the model's inputs from their record as it stood that day and
    /// whether they had an emergency admission in the 12 months after it: what the model is fitted to and
    /// checked against (system callers only; every person is noted for the audit log).
    pub async fn admission_history(&self, on: Day) -> Result<Vec<([f64; FEATURES], bool)>, AppError> {
        let people = self.population_facts().await?;
        let (registers, efi) = (Registers::builtin(), Efi::builtin());
        let until = on.months_after(12);
        let mut rows: Vec<(&String, [f64; FEATURES], bool)> = people
            .iter()
            .filter(|(_, facts)| facts.alive_on(on))
            .map(|(person, facts)| {
                let inputs = admission::inputs(&facts.as_of(on), on, registers, efi);
                (person, inputs.values, facts.emergencies_between(EmergencyKind::Admission, on, until).next().is_some())
            })
            .collect();
        // In the order of the people, so that a fit does not depend on the order of a hash map.
        rows.sort_unstable_by(|a, b| a.0.cmp(b.0));
        Ok(rows.into_iter().map(|(_, x, y)| (x, y)).collect())
    }
}

/// What a full re-score did.
#[derive(Debug, Clone)]
pub struct Refresh {
    pub run: i64,
    pub on: Day,
    /// People scored (alive on the day).
    pub people: usize,
    pub cuts: TierCuts,
    /// People in each tier, very high first.
    pub tiers: [usize; 4],
    /// Seconds reading the record, scoring, and writing the scores.
    pub seconds: [f64; 3],
    /// The members of each register and cohort (Group id, count).
    pub groups: Vec<(String, i64)>,
}

impl Session {
    /// The full re-score (system callers only): everyone alive on `on` (default today) scored from the whole
    /// record (emergency-admission probability, eFI band, segment, registered practice), the tiers cut by
    /// the configured shares of the population (`Config::tier_shares`), and every row replaced in one transaction, each person's tier
    /// before it kept. Everyone read is noted for the audit log.
    pub async fn refresh_risk(&self, on: Option<Day>) -> Result<Refresh, AppError> {
        let on = match on {
            Some(d) => d,
            None => self.today()?,
        };
        let started = std::time::Instant::now();
        let people = self.population_facts().await?;
        let read = started.elapsed().as_secs_f64();
        let at_ms = self.config.clock.now().0;
        let rules = self.group_rules();
        // Scored on the blocking pool, half the people on each of two threads, in person order (the order
        // the rows are written in, which keeps the table's inserts sequential).
        let mut scores = tokio::task::spawn_blocking(move || {
            let mut living: Vec<(&String, &Facts)> = people.iter().filter(|(_, facts)| facts.alive_on(on)).collect();
            living.sort_unstable_by(|a, b| a.0.cmp(b.0));
            let (first, second) = living.split_at(living.len() / 2);
            std::thread::scope(|scope| {
                let other = scope.spawn(|| score_people(second, on, at_ms, &rules));
                let mut scores = score_people(first, on, at_ms, &rules);
                scores.extend(other.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
                scores
            })
        })
        .await
        .map_err(|e| AppError::Internal(Box::new(e)))?;
        let probabilities: Vec<f64> = scores.iter().map(|s| s.probability).collect();
        if probabilities.is_empty() {
            return Err(AppError::NotFound("there is nobody alive on that day to score".into()));
        }
        let cuts = TierCuts::from_scores(&probabilities, self.config.tier_shares)
            .ok_or_else(|| AppError::Internal("the configured tier shares are not fractions adding up to at most 1".into()))?;
        let mut tiers = [0usize; 4];
        for s in &mut scores {
            let tier = cuts.tier(s.probability);
            tiers[tier as usize] += 1;
            s.tier = tier.code().to_owned();
        }
        let scored = started.elapsed().as_secs_f64() - read;
        let people = scores.len();
        let run = store::RiskRun {
            run: 0,
            at_ms,
            on_day: on.to_string(),
            model_version: {
                let m = &AdmissionModel::builtin().definition;
                format!("{} {}", m.model, m.version)
            },
            people: i64::try_from(people).unwrap_or(i64::MAX),
            lowest: cuts.lowest,
        };
        let number = self.store.replace_risk_scores(run, scores).await?;
        let written = started.elapsed().as_secs_f64() - read - scored;
        let groups = self.store.group_sizes().await?;
        Ok(Refresh { run: number, on, people, cuts, tiers, seconds: [read, scored, written], groups })
    }

    /// The person's tier by the cuts of the latest full re-score (none before the first).
    pub async fn tier_of(&self, probability: f64) -> Result<Option<(Tier, store::RiskRun)>, AppError> {
        let Some(run) = self.store.latest_risk_run().await? else { return Ok(None) };
        Ok(Some((TierCuts { lowest: run.lowest }.tier(probability), run)))
    }
}

/// The resource types the risk scores read: a change to one of them re-scores its person.
const SCORED_TYPES: [&str; 4] = ["Patient", "Condition", "MedicationRequest", "Encounter"];

impl Session {
    /// Notes a write for re-scoring its person once the request is recorded (`audit`).
    pub(crate) fn changed(&self, written: &crate::Written) {
        if matches!(written, crate::Written::Existing(_)) {
            return;
        }
        if let Some(s) = written.stored().filter(|s| SCORED_TYPES.contains(&s.resource_type.as_str())) {
            if let Some(person) = s.person_key.as_deref() {
                self.touched.note_change(person);
            }
        }
    }

    /// The incremental re-score of one person (system callers), once a full re-score has run: their record
    /// as it stands now scored today, the tier by the latest run's cuts, their row replaced; a person no
    /// longer on the record, or who has died, loses their row. `None` before the first full re-score.
    pub async fn rescore(&self, person: &str) -> Result<Option<store::RiskScore>, AppError> {
        if !matches!(self.caller(), care::access::Caller::System { .. }) {
            return Err(AppError::Forbidden("re-scoring is for integration systems and background work".into()));
        }
        match self.store.latest_risk_run().await? {
            Some(run) => self.rescore_by(&run, person).await,
            None => Ok(None),
        }
    }

    /// Re-scores one person with the cuts of `run` (the latest full re-score).
    async fn rescore_by(&self, run: &store::RiskRun, person: &str) -> Result<Option<store::RiskScore>, AppError> {
        let today = self.today()?;
        let facts = match self.coded_facts(person, true).await {
            Ok(facts) => facts,
            Err(AppError::NotFound(_) | AppError::Gone(_)) => Facts::default(),
            Err(e) => return Err(e),
        };
        if !facts.alive_on(today) {
            self.store.delete_risk_score(person).await?;
            return Ok(None);
        }
        let key = person.to_owned();
        let mut score = score_people(&[(&key, &facts)], today, self.config.clock.now().0, &self.group_rules())
            .pop()
            .ok_or_else(|| AppError::Internal("invariant: one person scored".into()))?;
        score.tier = TierCuts { lowest: run.lowest }.tier(score.probability).code().to_owned();
        score.run = run.run;
        self.store.upsert_risk_score(score.clone()).await?;
        Ok(Some(score))
    }
}

impl Session {
    /// Up to `limit` people with stored scores, in id order (system callers: for measuring re-scores).
    pub async fn scored_people(&self, limit: usize) -> Result<Vec<String>, AppError> {
        if !matches!(self.caller(), care::access::Caller::System { .. }) {
            return Err(AppError::Forbidden("listing everyone scored is for integration systems".into()));
        }
        Ok(self.store.risk_people(limit).await?)
    }

    /// The person's stored scores (from the last full or incremental re-score), if the caller may see them.
    pub async fn stored_risk(&self, patient_id: &str) -> Result<Option<store::RiskScore>, AppError> {
        self.read("Patient", patient_id).await?;
        Ok(self.store.risk_score(patient_id).await?)
    }
}

impl crate::App {
    /// Re-scores these people in the background, as the system `joinery risk rescore`, with one audit event
    /// for the job (failures are logged: the next full re-score puts them right).
    pub(crate) fn rescore_later(&self, people: Vec<String>) {
        let session = self.as_system("joinery risk rescore");
        tokio::spawn(async move {
            // Before the first full re-score there is nothing to keep current, and nothing is read.
            let run = match session.store.latest_risk_run().await {
                Ok(Some(run)) => run,
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "re-scoring changed records: the latest re-score could not be read");
                    return;
                }
            };
            let mut status = 200;
            for person in &people {
                if let Err(e) = session.rescore_by(&run, person).await {
                    tracing::warn!(person = %person, error = %e, "re-scoring a changed record failed");
                    status = 500;
                }
            }
            let audit = crate::audit::RequestAudit { method: "JOB", path: "risk rescore", query: None, status };
            if let Err(e) = session.audit(&audit).await {
                tracing::warn!(error = %e, "the audit log could not record a re-score");
            }
        });
    }
}

impl crate::App {
    /// The full re-score of today, as the system `joinery risk refresh`, with one audit event for the job
    /// (what the daily schedule runs).
    pub async fn scheduled_refresh(&self) -> Result<Refresh, AppError> {
        let session = self.as_system("joinery risk refresh");
        let result = session.refresh_risk(None).await;
        let status = if result.is_ok() { 200 } else { 500 };
        let audit = crate::audit::RequestAudit { method: "JOB", path: "risk refresh", query: Some("schedule"), status };
        session.audit(&audit).await?;
        result
    }

    /// Runs `scheduled_refresh` every day at `minute` minutes after midnight UTC, in the background, for as
    /// long as the server runs (each run's outcome is logged).
    pub fn refresh_daily(&self, minute: u32) -> tokio::task::JoinHandle<()> {
        let app = self.clone();
        tokio::spawn(async move {
            loop {
                let wait = until_minute_of_day(app.config.clock.now().0, minute);
                tracing::info!(in_seconds = wait / 1000, "the next scheduled risk refresh");
                tokio::time::sleep(std::time::Duration::from_millis(u64::try_from(wait).unwrap_or(0))).await;
                match app.scheduled_refresh().await {
                    Ok(r) => tracing::info!(run = r.run, people = r.people, seconds = r.seconds.iter().sum::<f64>(), "scheduled risk refresh"),
                    Err(e) => tracing::warn!(error = %e, "the scheduled risk refresh failed"),
                }
            }
        })
    }
}

/// Milliseconds from `now_ms` until the next time the day (UTC) is `minute` minutes old (a whole day when
/// it is that minute's first millisecond now).
pub fn until_minute_of_day(now_ms: i64, minute: u32) -> i64 {
    const DAY: i64 = 86_400_000;
    let into_day = now_ms.rem_euclid(DAY);
    let at = i64::from(minute % 1440) * 60_000;
    let wait = (at - into_day).rem_euclid(DAY);
    if wait == 0 {
        DAY
    } else {
        wait
    }
}

/// A stay's LACE score, with the stay's days and whether it has ended.
#[derive(Debug, Clone)]
pub struct Readmission {
    pub encounter: String,
    pub patient: String,
    pub admitted: Day,
    /// The day of discharge, or today for a stay still going on (the score is then provisional).
    pub discharged: Day,
    pub ended: bool,
    pub lace: care::readmission::Lace,
}

impl Session {
    /// LACE for an inpatient Encounter the caller may see, from what they may see of the person's record.
    pub async fn readmission_risk(&self, encounter_id: &str) -> Result<Readmission, AppError> {
        let unprocessable = |msg: &str, at: &str| AppError::unprocessable(fhir::IssueCode::Processing, msg, Some(at));
        let encounter = self.read("Encounter", encounter_id).await?;
        let body = crate::present::resource_json(&encounter)?;
        if !matches!(body["class"]["code"].as_str(), Some("IMP" | "ACUTE" | "NONAC")) {
            return Err(unprocessable("LACE is for inpatient stays: the Encounter's class is not IMP, ACUTE or NONAC", "Encounter.class"));
        }
        let patient = encounter.person_key.clone().ok_or_else(|| unprocessable("the Encounter has no subject Patient", "Encounter.subject"))?;
        let day = |at: &str| body["period"][at].as_str().and_then(|d| Day::parse(d, false));
        let admitted = day("start").ok_or_else(|| unprocessable("the stay has no start", "Encounter.period.start"))?;
        let (discharged, ended) = match day("end") {
            Some(d) => (d, true),
            None => (self.today()?.max(admitted), false),
        };
        if discharged < admitted {
            return Err(unprocessable("the stay ends before it starts", "Encounter.period.end"));
        }
        let acute = care::registers::Facts::from_resources([&body]).emergencies.iter().any(|e| e.kind == EmergencyKind::Admission);
        let facts = self.coded_facts(&patient, true).await?;
        let lace = care::readmission::lace(&facts, admitted, discharged, acute, care::readmission::Charlson::builtin());
        Ok(Readmission { encounter: encounter_id.to_owned(), patient, admitted, discharged, ended, lace })
    }
}

/// LACE as a RiskAssessment: the total, each part with its points and evidence, each Charlson group.
pub fn readmission_risk_assessment(r: &Readmission) -> Value {
    let charlson = care::readmission::Charlson::builtin();
    let l = &r.lace;
    let system = format!("{MODEL_SYSTEM}:lace:part");
    let part = |code: &str, display: &str, value: Value, points: u32, evidence: &[String]| {
        factor(&system, code, display, &[("value", value), ("contribution", json!(points))], evidence)
    };
    let encounter = format!("Encounter/{}", r.encounter);
    let comorbid: Vec<String> = l.comorbidities.iter().flat_map(|c| c.because.iter().cloned()).collect();
    let mut extension = vec![
        json!({ "url": SCORE_EXTENSION, "valueDecimal": l.total }),
        part("length-of-stay", "Length of stay (days)", json!(l.length_days), l.length_points, std::slice::from_ref(&encounter)),
        part("acute", "Acute (emergent) admission", json!(u8::from(l.acute)), if l.acute { 3 } else { 0 }, std::slice::from_ref(&encounter)),
        part("charlson", "Charlson comorbidity index", json!(l.charlson_index), l.charlson_points, &comorbid),
        part(
            "emergency-visits",
            "Emergency department visits in the 6 months before (up to 4)",
            json!(l.visits.len()),
            l.visits.len() as u32,
            &l.visits,
        ),
    ];
    let names: std::collections::HashMap<&str, &str> = charlson.groups().iter().map(|g| (g.key.as_str(), g.name.as_str())).collect();
    let group_system = format!("{MODEL_SYSTEM}:charlson:group");
    extension.extend(l.comorbidities.iter().map(|c| {
        let name = names.get(c.key.as_str()).copied().unwrap_or_default();
        factor(&group_system, &c.key, name, &[("contribution", json!(c.weight))], &c.because)
    }));
    let mut basis: std::collections::BTreeSet<String> = comorbid.into_iter().collect();
    basis.extend(l.visits.iter().cloned());
    basis.insert(encounter.clone());
    let mut notes = vec![json!({ "text": format!(
        "LACE {} of 19: length of stay {} days ({} points), {} ({} points), Charlson index {} ({} points; {} {}), {} emergency department visits in the 6 months before ({} points).",
        l.total, l.length_days, l.length_points, if l.acute { "acute admission" } else { "not an acute admission" }, if l.acute { 3 } else { 0 },
        l.charlson_index, l.charlson_points, charlson.model, charlson.version, l.visits.len(), l.visits.len()
    ) })];
    if !r.ended {
        notes.push(json!({ "text": format!("Provisional: the stay has not ended; its length is counted to {}.", r.discharged) }));
    }
    json!({
        "resourceType": "RiskAssessment",
        "extension": extension,
        "status": if r.ended { "final" } else { "preliminary" },
        "method": { "coding": [{ "system": MODEL_SYSTEM, "code": "lace", "display": "LACE index" }], "text": "LACE index (van Walraven et al., CMAJ 2010)" },
        "subject": { "reference": format!("Patient/{}", r.patient) },
        "encounter": { "reference": encounter },
        "occurrenceDateTime": r.discharged.to_string(),
        "basis": basis.iter().map(|b| json!({ "reference": b })).collect::<Vec<_>>(),
        "prediction": [{ "outcome": { "text": "Death or unplanned readmission within 30 days of discharge" },
                         "whenRange": { "high": { "value": 30, "unit": "d", "system": "http://unitsofmeasure.org", "code": "d" } } }],
        "note": notes,
    })
}

/// Each person's row of a full re-score (the tier is set once the whole population's cuts are known).
fn score_people(people: &[(&String, &Facts)], on: Day, at_ms: i64, groups: &GroupRules) -> Vec<store::RiskScore> {
    let (registers, efi, model, segmentation) =
        (Registers::builtin(), Efi::builtin(), AdmissionModel::builtin(), care::segments::Segmentation::builtin());
    people
        .iter()
        .map(|(person, facts)| {
            let memberships = registers.memberships(facts, on);
            let inputs = admission::inputs_given(facts, on, &memberships, efi);
            let band = [(Feature::FrailtySevere, "severe"), (Feature::FrailtyModerate, "moderate"), (Feature::FrailtyMild, "mild")]
                .into_iter()
                .find(|(f, _)| inputs.values[*f as usize] != 0.0)
                .map_or("fit", |(_, b)| b);
            store::RiskScore {
                person: (*person).clone(),
                run: 0,
                at_ms,
                probability: admission::logistic(model.log_odds(&inputs.values)),
                tier: String::new(),
                previous_tier: None,
                segment: segmentation.place(facts, &memberships, on).and_then(|p| i32::try_from(p.number).ok()),
                efi_band: band.to_owned(),
                practice: facts.practice.clone(),
                last_emergency: facts.emergencies.iter().filter_map(|e| e.date).filter(|d| *d <= on).max().map(|d| d.to_string()),
                groups: crate::groups::person_groups(person, facts, &memberships, on, &groups.cohorts, &groups.sensitive),
            }
        })
        .collect()
}

/// What decides a person's groups besides their record: the configured cohorts and sensitive codes.
#[derive(Clone)]
struct GroupRules {
    cohorts: std::sync::Arc<care::cohorts::Cohorts>,
    sensitive: std::sync::Arc<crate::access::SensitiveCodes>,
}

impl Session {
    fn group_rules(&self) -> GroupRules {
        GroupRules { cohorts: self.config.cohorts.clone(), sensitive: self.config.sensitive_codes.clone() }
    }
}

/// The code system of the risk tiers.
pub const TIER_SYSTEM: &str = "urn:joinery:risk-tier";

/// An emergency-admission risk as a RiskAssessment (not stored: worked out when asked); with `tier`, the
/// tier the probability falls in by the cuts of the latest full re-score.
pub fn admission_risk_assessment(patient_id: &str, today: Day, risk: &AdmissionRisk, tier: Option<&(Tier, store::RiskRun)>) -> Value {
    let model = &AdmissionModel::builtin().definition;
    let basis: std::collections::BTreeSet<&str> = risk.factors.iter().flat_map(|f| f.because.iter().map(String::as_str)).collect();
    let system = format!("{MODEL_SYSTEM}:admission:input");
    let mut extension = vec![
        json!({ "url": SCORE_EXTENSION, "valueDecimal": decimal(risk.log_odds) }),
        factor(&system, "intercept", "Intercept", &[("contribution", decimal(model.intercept))], []),
    ];
    extension.extend(risk.factors.iter().map(|f| {
        let numbers = [("value", decimal(f.value)), ("coefficient", decimal(f.coefficient)), ("contribution", decimal(f.contribution))];
        factor(&system, f.feature.key(), f.feature.name(), &numbers, &f.because)
    }));
    let mut prediction = json!({
        "outcome": { "text": "Emergency admission within a year" },
        "probabilityDecimal": decimal(risk.probability),
        "whenRange": { "high": { "value": 1, "unit": "a", "system": "http://unitsofmeasure.org", "code": "a" } },
    });
    let mut notes = vec![
        json!({ "text": format!("Log-odds {:.4}: the intercept plus each factor's value times its coefficient. {}", risk.log_odds, model.note) }),
    ];
    if let Some((tier, run)) = tier {
        prediction["qualitativeRisk"] = json!({ "coding": [{ "system": TIER_SYSTEM, "code": tier.code(), "display": tier.display() }] });
        notes.push(json!({ "text": format!(
            "Tier by the cuts of re-score {} (scored for {}, {} people): very high from {:.4}, high from {:.4}, rising from {:.4}.",
            run.run, run.on_day, run.people, run.lowest[0], run.lowest[1], run.lowest[2]
        ) }));
    }
    json!({
        "resourceType": "RiskAssessment",
        "extension": extension,
        "status": "final",
        "method": { "coding": [{ "system": MODEL_SYSTEM, "code": "emergency-admission", "display": model.model }], "text": format!("{} ({})", model.model, model.version) },
        "subject": { "reference": format!("Patient/{patient_id}") },
        "occurrenceDateTime": today.to_string(),
        "basis": basis.iter().map(|r| json!({ "reference": r })).collect::<Vec<_>>(),
        "prediction": [prediction],
        "note": notes,
    })
}

/// An eFI as a RiskAssessment (not stored: worked out when asked).
pub fn frailty_risk_assessment(patient_id: &str, today: Day, f: &Frailty) -> Value {
    let efi = Efi::builtin();
    let names: std::collections::HashMap<&str, &str> = efi.deficits().iter().map(|d| (d.key.as_str(), d.name.as_str())).collect();
    let mut basis: Vec<&str> = f.found.iter().flat_map(|d| d.because.iter().map(String::as_str)).collect();
    basis.sort_unstable();
    basis.dedup();
    let (system, contribution) = (format!("{MODEL_SYSTEM}:efi:deficit"), decimal(1.0 / DEFICITS as f64));
    let mut extension = vec![json!({ "url": SCORE_EXTENSION, "valueDecimal": decimal(f.index) })];
    extension.extend(f.found.iter().map(|d| {
        let name = names.get(d.key.as_str()).copied().unwrap_or_default();
        factor(&system, &d.key, name, &[("contribution", contribution.clone())], &d.because)
    }));
    let band = f.band.code();
    let mut label = band.to_owned();
    label[..1].make_ascii_uppercase();
    json!({
        "resourceType": "RiskAssessment",
        "extension": extension,
        "status": "final",
        "method": { "coding": [{ "system": MODEL_SYSTEM, "code": "efi", "display": efi.model }], "text": format!("{} ({})", efi.model, efi.version) },
        "subject": { "reference": format!("Patient/{patient_id}") },
        "occurrenceDateTime": today.to_string(),
        "basis": basis.iter().map(|r| json!({ "reference": r })).collect::<Vec<_>>(),
        "prediction": [{
            "outcome": { "text": "Emergency admission within a year, against people who are fit" },
            "qualitativeRisk": { "coding": [{ "system": EFI_BAND_SYSTEM, "code": band, "display": label }] },
            "relativeRisk": serde_json::Number::from_string_unchecked(f.band.admission_hazard_ratio().to_string()),
        }],
        "note": [{ "text": format!("{} of {DEFICITS} deficits: eFI {:.3}, {band}", f.found.len(), f.index) }],
    })
}

/// One factor of a score as a `FACTOR_EXTENSION`: what it is (`system`, `code`, `display`), its numbers in
/// order (`value`, `coefficient`, `contribution`, as the model has them), and the resources that show it.
fn factor<'a>(system: &str, code: &str, display: &str, numbers: &[(&str, Value)], evidence: impl IntoIterator<Item = &'a String>) -> Value {
    let mut parts = vec![json!({ "url": "factor", "valueCoding": { "system": system, "code": code, "display": display } })];
    parts.extend(numbers.iter().map(|(url, n)| json!({ "url": url, "valueDecimal": n })));
    parts.extend(evidence.into_iter().map(|r| json!({ "url": "evidence", "valueReference": { "reference": r } })));
    json!({ "url": FACTOR_EXTENSION, "extension": parts })
}

/// A JSON number with four decimal places.
fn decimal(x: f64) -> Value {
    Value::Number(serde_json::Number::from_string_unchecked(format!("{x:.4}")))
}

#[cfg(test)]
mod tests {
    use super::until_minute_of_day;

    #[test]
    fn the_next_scheduled_minute_is_today_if_still_to_come_else_tomorrow() {
        const MINUTE: i64 = 60_000;
        const DAY: i64 = 86_400_000;
        let midnight = 20_000 * DAY;
        assert_eq!(until_minute_of_day(midnight, 120), 120 * MINUTE, "two hours after midnight");
        assert_eq!(until_minute_of_day(midnight + 120 * MINUTE - 1, 120), 1);
        assert_eq!(until_minute_of_day(midnight + 120 * MINUTE, 120), DAY, "at the minute: tomorrow's");
        assert_eq!(until_minute_of_day(midnight + 121 * MINUTE, 120), DAY - MINUTE);
        assert_eq!(until_minute_of_day(midnight, 0), DAY);
        assert_eq!(until_minute_of_day(-1, 0), 1, "before 1970 too");
    }
}
