//! Emergency-admission risk within a year: a transparent logistic model over age, sex, long-term conditions
//! (QOF registers), emergency admissions and A&E attendances in the last 12 months, the eFI band and
//! polypharmacy. The coefficients are data (`risk/admission.json`, saying where they came from); every score
//! lists each factor's value, coefficient and contribution to the log-odds, with the resources that show it.
//! Also what checks and refits the model on a record: logistic regression by Newton's method, the
//! C-statistic, and risk tiers by percentile (the risk pyramid).

use crate::frailty::{Band, Efi};
use crate::registers::{Day, EmergencyKind, Facts, Membership, Registers};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

/// The model's inputs, each a number (an indicator is 0 or 1). Ages 18 to 44, no admissions and no frailty
/// are the reference groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Feature {
    Age0To17,
    Age45To64,
    Age65To74,
    Age75To84,
    Age85Plus,
    Male,
    LongTermConditions,
    Admissions1,
    Admissions2,
    Admissions3Plus,
    Attendances,
    FrailtyMild,
    FrailtyModerate,
    FrailtySevere,
    Medicines5To9,
    Medicines10Plus,
}

/// How many inputs the model has.
pub const FEATURES: usize = 16;

/// The most long-term conditions counted (more count as this many).
pub const CONDITIONS_CAP: usize = 6;
/// The most A&E attendances counted.
pub const ATTENDANCES_CAP: usize = 4;
/// The months before the day of assessment in which admissions, attendances and medicines count.
pub const LOOKBACK_MONTHS: u32 = 12;

impl Feature {
    pub const ALL: [Feature; FEATURES] = [
        Feature::Age0To17,
        Feature::Age45To64,
        Feature::Age65To74,
        Feature::Age75To84,
        Feature::Age85Plus,
        Feature::Male,
        Feature::LongTermConditions,
        Feature::Admissions1,
        Feature::Admissions2,
        Feature::Admissions3Plus,
        Feature::Attendances,
        Feature::FrailtyMild,
        Feature::FrailtyModerate,
        Feature::FrailtySevere,
        Feature::Medicines5To9,
        Feature::Medicines10Plus,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Feature::Age0To17 => "age-0-17",
            Feature::Age45To64 => "age-45-64",
            Feature::Age65To74 => "age-65-74",
            Feature::Age75To84 => "age-75-84",
            Feature::Age85Plus => "age-85-plus",
            Feature::Male => "male",
            Feature::LongTermConditions => "long-term-conditions",
            Feature::Admissions1 => "emergency-admissions-1",
            Feature::Admissions2 => "emergency-admissions-2",
            Feature::Admissions3Plus => "emergency-admissions-3-plus",
            Feature::Attendances => "ae-attendances",
            Feature::FrailtyMild => "efi-mild",
            Feature::FrailtyModerate => "efi-moderate",
            Feature::FrailtySevere => "efi-severe",
            Feature::Medicines5To9 => "medicines-5-9",
            Feature::Medicines10Plus => "medicines-10-plus",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Feature::Age0To17 => "Aged 0 to 17",
            Feature::Age45To64 => "Aged 45 to 64",
            Feature::Age65To74 => "Aged 65 to 74",
            Feature::Age75To84 => "Aged 75 to 84",
            Feature::Age85Plus => "Aged 85 or over",
            Feature::Male => "Male",
            Feature::LongTermConditions => "Long-term conditions (QOF registers, up to 6)",
            Feature::Admissions1 => "One emergency admission in the last 12 months",
            Feature::Admissions2 => "Two emergency admissions in the last 12 months",
            Feature::Admissions3Plus => "Three or more emergency admissions in the last 12 months",
            Feature::Attendances => "A&E attendances in the last 12 months (up to 4)",
            Feature::FrailtyMild => "Mild frailty (eFI)",
            Feature::FrailtyModerate => "Moderate frailty (eFI)",
            Feature::FrailtySevere => "Severe frailty (eFI)",
            Feature::Medicines5To9 => "5 to 9 different medicines in the last 12 months",
            Feature::Medicines10Plus => "10 or more different medicines in the last 12 months",
        }
    }
}

/// One person's inputs on one day, with the resources behind each.
#[derive(Debug, Clone, PartialEq)]
pub struct Inputs {
    pub values: [f64; FEATURES],
    pub because: [Vec<String>; FEATURES],
}

/// The model's inputs for `person` on `on`: age and sex from the Patient (no birth date: the reference age
/// group), the QOF registers they are on, their emergency admissions and A&E attendances and the different
/// medicines issued in the 12 months up to `on`, and their eFI band.
pub fn inputs(person: &Facts, on: Day, registers: &Registers, efi: &Efi) -> Inputs {
    inputs_given(person, on, &registers.memberships(person, on), efi)
}

/// As `inputs`, given the registers the person is on that day (when the caller has worked them out already).
pub fn inputs_given(person: &Facts, on: Day, memberships: &[Membership], efi: &Efi) -> Inputs {
    let mut values = [0.0; FEATURES];
    let mut because: [Vec<String>; FEATURES] = Default::default();
    let mut set = |feature: Feature, value: f64, refs: Vec<String>| {
        values[feature as usize] = value;
        because[feature as usize] = refs;
    };
    if let Some(age) = person.birth_date.map(|b| b.years_to(on)) {
        let band = match age {
            ..=17 => Some(Feature::Age0To17),
            18..=44 => None,
            45..=64 => Some(Feature::Age45To64),
            65..=74 => Some(Feature::Age65To74),
            75..=84 => Some(Feature::Age75To84),
            _ => Some(Feature::Age85Plus),
        };
        if let Some(band) = band {
            set(band, 1.0, Vec::new());
        }
    }
    if person.gender.as_deref() == Some("male") {
        set(Feature::Male, 1.0, Vec::new());
    }
    if !memberships.is_empty() {
        let refs = sorted_unique(memberships.iter().flat_map(|m| m.because.iter().map(String::as_str)));
        set(Feature::LongTermConditions, memberships.len().min(CONDITIONS_CAP) as f64, refs);
    }
    let since = on.months_before(LOOKBACK_MONTHS);
    let admissions: Vec<&str> = person.emergencies_between(EmergencyKind::Admission, since, on).map(|e| e.reference.as_str()).collect();
    let admission_feature = match admissions.len() {
        0 => None,
        1 => Some(Feature::Admissions1),
        2 => Some(Feature::Admissions2),
        _ => Some(Feature::Admissions3Plus),
    };
    if let Some(feature) = admission_feature {
        set(feature, 1.0, sorted_unique(admissions.into_iter()));
    }
    let attendances: Vec<&str> = person.emergencies_between(EmergencyKind::Attendance, since, on).map(|e| e.reference.as_str()).collect();
    if !attendances.is_empty() {
        set(Feature::Attendances, attendances.len().min(ATTENDANCES_CAP) as f64, sorted_unique(attendances.into_iter()));
    }
    let frailty = efi.assess(person, on);
    let frailty_feature = match frailty.band {
        Band::Fit => None,
        Band::Mild => Some(Feature::FrailtyMild),
        Band::Moderate => Some(Feature::FrailtyModerate),
        Band::Severe => Some(Feature::FrailtySevere),
    };
    if let Some(feature) = frailty_feature {
        set(feature, 1.0, sorted_unique(frailty.found.iter().flat_map(|f| f.because.iter().map(String::as_str))));
    }
    let (recent, distinct) = person.medicines_issued(since, on);
    let medicines_feature = match distinct {
        0..=4 => None,
        5..=9 => Some(Feature::Medicines5To9),
        _ => Some(Feature::Medicines10Plus),
    };
    if let Some(feature) = medicines_feature {
        set(feature, 1.0, sorted_unique(recent.iter().map(|m| m.reference.as_str())));
    }
    Inputs { values, because }
}

fn sorted_unique<'a>(refs: impl Iterator<Item = &'a str>) -> Vec<String> {
    refs.collect::<BTreeSet<_>>().into_iter().map(str::to_owned).collect()
}

/// The model as `risk/admission.json` holds it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Definition {
    pub model: String,
    pub version: String,
    /// Where the coefficients came from.
    pub source: String,
    pub note: String,
    pub intercept: f64,
    /// Each feature's coefficient (log odds ratio), by key.
    pub coefficients: BTreeMap<String, f64>,
}

/// A logistic model of emergency admission within a year.
#[derive(Debug, Clone)]
pub struct AdmissionModel {
    pub definition: Definition,
    coefficients: [f64; FEATURES],
}

/// Inputs that measure more of one risk, in increasing order: each coefficient must be at least 0 and at
/// least the one before, so that another condition, admission, attendance, deficit or medicine never lowers
/// a score.
const ORDERED: &[&[Feature]] = &[
    &[Feature::LongTermConditions],
    &[Feature::Admissions1, Feature::Admissions2, Feature::Admissions3Plus],
    &[Feature::Attendances],
    &[Feature::FrailtyMild, Feature::FrailtyModerate, Feature::FrailtySevere],
    &[Feature::Medicines5To9, Feature::Medicines10Plus],
];

/// One factor of a person's score: a feature that is not zero for them.
#[derive(Debug, Clone, PartialEq)]
pub struct Factor {
    pub feature: Feature,
    pub value: f64,
    pub coefficient: f64,
    /// `value × coefficient`: what it adds to the log-odds.
    pub contribution: f64,
    pub because: Vec<String>,
}

/// One person's emergency-admission risk on one day.
#[derive(Debug, Clone, PartialEq)]
pub struct AdmissionRisk {
    /// The probability of an emergency admission within a year.
    pub probability: f64,
    /// The intercept plus every factor's contribution.
    pub log_odds: f64,
    /// The factors that apply, in the model's order.
    pub factors: Vec<Factor>,
}

impl AdmissionModel {
    /// The model this build carries (`risk/admission.json`).
    pub fn builtin() -> &'static AdmissionModel {
        static BUILTIN: OnceLock<AdmissionModel> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            AdmissionModel::from_json(include_str!("../risk/admission.json"))
                .unwrap_or_else(|e| panic!("invariant: the built-in admission model is consistent: {e}"))
        })
    }

    /// Reads a model: every feature must have a finite coefficient, and no other key may appear.
    pub fn from_json(text: &str) -> Result<AdmissionModel, String> {
        let definition: Definition = serde_json::from_str(text).map_err(|e| format!("the admission model: {e}"))?;
        AdmissionModel::new(definition)
    }

    pub fn new(definition: Definition) -> Result<AdmissionModel, String> {
        let mut coefficients = [0.0; FEATURES];
        for feature in Feature::ALL {
            let c =
                *definition.coefficients.get(feature.key()).ok_or_else(|| format!("the admission model has no coefficient for {}", feature.key()))?;
            coefficients[feature as usize] = c;
        }
        if let Some(unknown) = definition.coefficients.keys().find(|k| !Feature::ALL.iter().any(|f| f.key() == k.as_str())) {
            return Err(format!("the admission model has a coefficient for {unknown}, which is not one of its inputs"));
        }
        if !definition.intercept.is_finite() || coefficients.iter().any(|c| !c.is_finite()) {
            return Err("the admission model's coefficients must be finite numbers".into());
        }
        for group in ORDERED {
            let mut floor = 0.0;
            for feature in *group {
                let c = coefficients[*feature as usize];
                if c < floor {
                    return Err(format!(
                        "the admission model gives {} a coefficient ({c}) below that of less of the same risk ({floor}): more of a risk must never lower a score",
                        feature.key()
                    ));
                }
                floor = c;
            }
        }
        Ok(AdmissionModel { definition, coefficients })
    }

    pub fn coefficient(&self, feature: Feature) -> f64 {
        self.coefficients[feature as usize]
    }

    /// The log-odds of the inputs.
    pub fn log_odds(&self, values: &[f64; FEATURES]) -> f64 {
        self.definition.intercept + values.iter().zip(&self.coefficients).map(|(x, c)| x * c).sum::<f64>()
    }

    /// The risk of the inputs, with each factor that applies.
    pub fn score(&self, inputs: Inputs) -> AdmissionRisk {
        let log_odds = self.log_odds(&inputs.values);
        let factors = Feature::ALL
            .into_iter()
            .zip(inputs.values)
            .zip(inputs.because)
            .filter(|((_, value), _)| *value != 0.0)
            .map(|((feature, value), because)| {
                let coefficient = self.coefficient(feature);
                Factor { feature, value, coefficient, contribution: value * coefficient, because }
            })
            .collect();
        AdmissionRisk { probability: logistic(log_odds), log_odds, factors }
    }
}

/// `1 / (1 + e^-x)`.
pub fn logistic(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// A logistic regression fitted to `rows` (inputs, and whether the outcome happened) by Newton's method,
/// with an L2 penalty of `ridge` on the coefficients (not the intercept) so that an input nobody has stays
/// at 0, and constrained so that more of a risk never lowers a score (as `AdmissionModel::new` requires):
/// the levels of each ordered group are fitted as non-negative steps (at least one admission, at least two,
/// at least three), and a step that would be negative is held at 0 and the rest refitted. Answers the
/// intercept and the coefficients.
pub fn fit(rows: &[([f64; FEATURES], bool)], ridge: f64) -> Result<(f64, [f64; FEATURES]), String> {
    if rows.is_empty() {
        return Err("there is nobody to fit the model to".into());
    }
    let events = rows.iter().filter(|(_, y)| *y).count();
    if events == 0 || events == rows.len() {
        return Err("the outcome must happen to some people and not to others".into());
    }
    // Each ordered group's levels as steps: a step's input is 1 when the person is at its level or above.
    let steps: Vec<([f64; FEATURES], bool)> = rows
        .iter()
        .map(|(x, y)| {
            let mut z = *x;
            for group in ORDERED {
                for (j, feature) in group.iter().enumerate() {
                    z[*feature as usize] = group[j..].iter().map(|f| x[*f as usize]).sum();
                }
            }
            (z, *y)
        })
        .collect();
    let constrained: Vec<usize> = ORDERED.iter().flat_map(|g| g.iter().map(|f| *f as usize)).collect();
    let mut held = [false; FEATURES];
    loop {
        let (intercept, z) = newton(&steps, ridge, &held)?;
        match constrained.iter().filter(|i| z[**i] < 0.0).min_by(|a, b| z[**a].total_cmp(&z[**b])) {
            Some(most_negative) => held[*most_negative] = true,
            None => {
                let mut coefficients = z;
                for group in ORDERED {
                    let mut sum = 0.0;
                    for feature in *group {
                        sum += z[*feature as usize];
                        coefficients[*feature as usize] = sum;
                    }
                }
                return Ok((intercept, coefficients));
            }
        }
    }
}

/// Newton's method for the penalised log-likelihood, with the `held` coefficients fixed at 0.
fn newton(rows: &[([f64; FEATURES], bool)], ridge: f64, held: &[bool; FEATURES]) -> Result<(f64, [f64; FEATURES]), String> {
    const P: usize = FEATURES + 1;
    let events = rows.iter().filter(|(_, y)| *y).count();
    let mut beta = [0.0; P];
    let rate = events as f64 / rows.len() as f64;
    beta[0] = (rate / (1.0 - rate)).ln();
    let penalised = |beta: &[f64; P]| -> f64 {
        let likelihood: f64 = rows
            .iter()
            .map(|(values, outcome)| {
                let eta = beta[0] + values.iter().zip(&beta[1..]).map(|(a, b)| a * b).sum::<f64>();
                // log p or log (1 - p), computed without overflow.
                let log_1p_exp = |t: f64| if t > 0.0 { t + (-t).exp().ln_1p() } else { t.exp().ln_1p() };
                if *outcome {
                    -log_1p_exp(-eta)
                } else {
                    -log_1p_exp(eta)
                }
            })
            .sum();
        likelihood - 0.5 * ridge * beta[1..].iter().map(|b| b * b).sum::<f64>()
    };
    let mut current = penalised(&beta);
    for _ in 0..100 {
        let mut gradient = [0.0; P];
        let mut hessian = [[0.0; P]; P];
        for (values, outcome) in rows {
            let mut x = [1.0; P];
            x[1..].copy_from_slice(values);
            let p = logistic(x.iter().zip(&beta).map(|(a, b)| a * b).sum());
            let (residual, weight) = (f64::from(u8::from(*outcome)) - p, p * (1.0 - p));
            for i in 0..P {
                gradient[i] += residual * x[i];
                if x[i] != 0.0 {
                    for j in 0..=i {
                        hessian[i][j] += weight * x[i] * x[j];
                    }
                }
            }
        }
        for i in 1..P {
            gradient[i] -= ridge * beta[i];
            hessian[i][i] += ridge;
        }
        for i in 0..P {
            for j in 0..i {
                hessian[j][i] = hessian[i][j];
            }
        }
        // A held coefficient does not move: its row and column become the identity, its gradient 0.
        for (k, _) in held.iter().enumerate().filter(|(_, h)| **h) {
            for j in 0..P {
                hessian[k + 1][j] = 0.0;
                hessian[j][k + 1] = 0.0;
            }
            hessian[k + 1][k + 1] = 1.0;
            gradient[k + 1] = 0.0;
        }
        let step = solve(hessian, gradient).ok_or("the inputs are collinear: the model cannot be fitted")?;
        if step.iter().any(|s| !s.is_finite()) {
            return Err("fitting diverged".into());
        }
        // Damped: halve the step until the penalised likelihood does not fall.
        let mut scale = 1.0;
        let (next, value) = loop {
            let mut next = beta;
            for (b, s) in next.iter_mut().zip(step) {
                *b += scale * s;
            }
            let value = penalised(&next);
            if value >= current - 1e-12 || scale < 1e-6 {
                break (next, value);
            }
            scale /= 2.0;
        };
        let largest = step.iter().fold(0.0f64, |m, s| m.max((scale * s).abs()));
        beta = next;
        current = value;
        if largest < 1e-9 {
            let mut coefficients = [0.0; FEATURES];
            coefficients.copy_from_slice(&beta[1..]);
            return Ok((beta[0], coefficients));
        }
    }
    Err("fitting did not converge in 100 steps".into())
}

/// Solves `a x = b` for a symmetric positive definite `a` (Cholesky); `None` when it is not.
fn solve<const P: usize>(a: [[f64; P]; P], b: [f64; P]) -> Option<[f64; P]> {
    let mut l = [[0.0; P]; P];
    for i in 0..P {
        for j in 0..=i {
            let sum: f64 = (0..j).map(|k| l[i][k] * l[j][k]).sum();
            if i == j {
                let d = a[i][i] - sum;
                if d <= 1e-12 {
                    return None;
                }
                l[i][i] = d.sqrt();
            } else {
                l[i][j] = (a[i][j] - sum) / l[j][j];
            }
        }
    }
    let mut y = [0.0; P];
    for i in 0..P {
        y[i] = (b[i] - (0..i).map(|k| l[i][k] * y[k]).sum::<f64>()) / l[i][i];
    }
    let mut x = [0.0; P];
    for i in (0..P).rev() {
        x[i] = (y[i] - (i + 1..P).map(|k| l[k][i] * x[k]).sum::<f64>()) / l[i][i];
    }
    Some(x)
}

/// The C-statistic (area under the ROC curve) of scores against outcomes: the chance that someone with the
/// outcome scores higher than someone without, ties counting half. `None` unless both groups have people.
pub fn c_statistic(scored: &[(f64, bool)]) -> Option<f64> {
    let mut sorted: Vec<(f64, bool)> = scored.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let positives = sorted.iter().filter(|(_, y)| *y).count() as f64;
    let negatives = sorted.len() as f64 - positives;
    if positives == 0.0 || negatives == 0.0 {
        return None;
    }
    // The sum of the positives' ranks (1-based), each tie group taking its mean rank.
    let (mut rank_sum, mut i) = (0.0, 0);
    while i < sorted.len() {
        let j = i + sorted[i..].iter().take_while(|(s, _)| s.total_cmp(&sorted[i].0).is_eq()).count();
        let mean_rank = (i + 1 + j) as f64 / 2.0;
        rank_sum += mean_rank * sorted[i..j].iter().filter(|(_, y)| *y).count() as f64;
        i = j;
    }
    Some((rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives))
}

/// A risk tier of the risk pyramid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Tier {
    VeryHigh,
    High,
    Rising,
    Low,
}

impl Tier {
    /// The tier a code names.
    pub fn from_code(code: &str) -> Option<Tier> {
        Tier::ALL.into_iter().find(|t| t.code() == code)
    }

    pub const ALL: [Tier; 4] = [Tier::VeryHigh, Tier::High, Tier::Rising, Tier::Low];

    pub fn code(self) -> &'static str {
        match self {
            Tier::VeryHigh => "very-high",
            Tier::High => "high",
            Tier::Rising => "rising",
            Tier::Low => "low",
        }
    }

    pub fn display(self) -> &'static str {
        match self {
            Tier::VeryHigh => "Very high",
            Tier::High => "High",
            Tier::Rising => "Rising",
            Tier::Low => "Low",
        }
    }
}

/// The default tiers: the top 0.5% very high, the next 4.5% high, the next 15% rising, the rest low.
pub const DEFAULT_TIER_SHARES: [f64; 3] = [0.005, 0.045, 0.15];

/// Whether tier shares are fractions from 0 to 1 that add up to at most 1.
pub fn valid_shares(shares: [f64; 3]) -> bool {
    shares.iter().all(|s| (0.0..=1.0).contains(s)) && shares.iter().sum::<f64>() <= 1.0
}

/// The lowest score of each upper tier in one population, set by shares of its people.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TierCuts {
    /// The lowest score in the very high, high and rising tiers.
    pub lowest: [f64; 3],
}

impl TierCuts {
    /// Cuts such that the top `shares[0]` of `scores` are very high, the next `shares[1]` high and the next
    /// `shares[2]` rising; people with equal scores share a tier, so a tier can hold a little more than its
    /// share. `None` for an empty population or shares that are not fractions adding up to at most 1.
    pub fn from_scores(scores: &[f64], shares: [f64; 3]) -> Option<TierCuts> {
        if scores.is_empty() || !valid_shares(shares) {
            return None;
        }
        let mut sorted = scores.to_vec();
        sorted.sort_by(|a, b| b.total_cmp(a));
        let n = sorted.len();
        let mut lowest = [f64::INFINITY; 3];
        let mut cumulative = 0.0;
        for (tier, share) in shares.iter().enumerate() {
            cumulative += share;
            let people = (cumulative * n as f64).round() as usize;
            // Nobody in the tier when its share rounds to no one: the cut lies above every score.
            lowest[tier] = if people == 0 { f64::INFINITY } else { sorted[people.min(n) - 1] };
        }
        Some(TierCuts { lowest })
    }

    /// The tier of one score.
    pub fn tier(&self, score: f64) -> Tier {
        if score >= self.lowest[0] {
            Tier::VeryHigh
        } else if score >= self.lowest[1] {
            Tier::High
        } else if score >= self.lowest[2] {
            Tier::Rising
        } else {
            Tier::Low
        }
    }
}
