//! How conditions arise and cluster: a liability-threshold model with two shared latent factors, calibrated so that prevalence by age band and sex matches the catalogue.
//!
//! Each person has two latent scores, general ill health (g) and cardiometabolic risk (c), each
//! standard normal. A condition is present when `loading_g·g + loading_c·c + ε` (ε standard normal,
//! its own for each condition) exceeds a threshold set for the person's age and sex. The
//! threshold is chosen from the exact marginal of that sum, so the prevalence at every age is
//! the modelled one, while people high on g or c collect several conditions at once: the
//! clustering of multimorbidity, and the accumulation of deficits that the eFI measures.

use crate::catalogue::{CONDITIONS, CONDITION_COUNT};
use crate::population::{band_of, AGES, AGE_BANDS};
use crate::random::{inverse_normal, Random};

/// Female or male (administrative gender as FHIR records it; the model uses sex-specific rates).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sex {
    Female,
    Male,
}

/// The conditions a person has: a bit per entry of `CONDITIONS`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ConditionSet(u64);

impl ConditionSet {
    pub fn has(self, index: usize) -> bool {
        self.0 & (1 << index) != 0
    }

    pub fn insert(&mut self, index: usize) {
        self.0 |= 1 << index;
    }

    pub fn iter(self) -> impl Iterator<Item = usize> {
        (0..CONDITION_COUNT).filter(move |index| self.has(*index))
    }
}

/// Precomputed thresholds and code choices for every condition, age and sex.
pub(crate) struct Morbidity {
    /// `thresholds[condition][age][sex]`; infinite where nobody has it.
    thresholds: Vec<[[f64; 2]; AGES]>,
    /// Running totals of the variant weights of each condition, per sex.
    variants: Vec<[Vec<f64>; 2]>,
}

impl Morbidity {
    /// Builds the model for a population whose people by single year of age are `people_by_age`
    /// (used to spread each band's prevalence over its ages with the band total kept exact).
    pub fn new(people_by_age: &[f64; AGES], female_share: impl Fn(u32) -> f64) -> Morbidity {
        let mut thresholds = Vec::with_capacity(CONDITION_COUNT);
        let mut variants = Vec::with_capacity(CONDITION_COUNT);
        for condition in &CONDITIONS {
            let by_age = prevalence_by_age(&condition.percent_by_band, condition.min_age, people_by_age);
            let spread = (1.0 + condition.general.powi(2) + condition.cardiometabolic.powi(2)).sqrt();
            let mut per_age = [[f64::INFINITY; 2]; AGES];
            for (age, prevalence) in by_age.iter().enumerate() {
                let female = female_share(age as u32);
                let ratio = condition.male_to_female;
                let in_women = prevalence / (female + (1.0 - female) * ratio);
                let in_men = in_women * ratio;
                per_age[age] = [threshold(in_women, spread), threshold(in_men, spread)];
            }
            thresholds.push(per_age);
            let running = |weight: fn(&crate::catalogue::Variant) -> f64| -> Vec<f64> {
                condition
                    .variants
                    .iter()
                    .scan(0.0, |total, variant| {
                        *total += weight(variant);
                        Some(*total)
                    })
                    .collect()
            };
            variants.push([running(|variant| variant.weight_female), running(|variant| variant.weight_male)]);
        }
        Morbidity { thresholds, variants }
    }

    /// Draws the conditions of a person of this age and sex.
    pub fn draw(&self, random: &mut Random, age: u32, sex: Sex) -> ConditionSet {
        let general = random.normal();
        let cardiometabolic = random.normal();
        let age = (age as usize).min(AGES - 1);
        let column = sex as usize;
        let mut set = ConditionSet::default();
        for (index, condition) in CONDITIONS.iter().enumerate() {
            let liability = condition.general * general + condition.cardiometabolic * cardiometabolic + random.normal();
            if liability > self.thresholds[index][age][column] {
                set.insert(index);
            }
        }
        set
    }

    /// Which of a condition's codes a person is recorded with.
    pub fn variant(&self, random: &mut Random, condition: usize, sex: Sex) -> usize {
        random.weighted(&self.variants[condition][sex as usize])
    }
}

/// The liability threshold that a sum of spread `spread` exceeds with probability `p`.
fn threshold(p: f64, spread: f64) -> f64 {
    if p <= 0.0 {
        f64::INFINITY
    } else if p >= 0.99 {
        spread * inverse_normal(0.01)
    } else {
        spread * inverse_normal(1.0 - p)
    }
}

/// Prevalence (0-1) at each single year of age: the band values placed at the band middles,
/// joined smoothly on the log-odds scale, zero below `min_age`, and then scaled within each band
/// so that the population-weighted mean over the band is exactly the band value.
pub(crate) fn prevalence_by_age(percent_by_band: &[f64; 6], min_age: u32, people_by_age: &[f64; AGES]) -> [f64; AGES] {
    const FLOOR: f64 = 1e-5;
    let middles: Vec<f64> = AGE_BANDS.iter().map(|band| f64::from(band.first + band.last.min(94)) / 2.0).collect();
    let logits: Vec<f64> = percent_by_band.iter().map(|percent| logit((percent / 100.0).clamp(FLOOR, 0.95))).collect();
    let mut raw = [0.0; AGES];
    for (age, value) in raw.iter_mut().enumerate() {
        let age_f = age as f64;
        let logit_here = if age_f <= middles[0] {
            logits[0]
        } else if age_f >= middles[middles.len() - 1] {
            logits[logits.len() - 1]
        } else {
            let upper = middles.iter().position(|middle| *middle >= age_f).expect("invariant: age lies below the last middle");
            let lower = upper - 1;
            let t = (age_f - middles[lower]) / (middles[upper] - middles[lower]);
            logits[lower] + t * (logits[upper] - logits[lower])
        };
        *value = if (age as u32) < min_age || percent_by_band[band_of(age as u32)] <= 0.0 { 0.0 } else { inverse_logit(logit_here) };
    }
    let mut result = [0.0; AGES];
    for (band_index, band) in AGE_BANDS.iter().enumerate() {
        let target = percent_by_band[band_index] / 100.0;
        let ages = band.first as usize..=band.last as usize;
        let people: f64 = people_by_age[ages.clone()].iter().sum();
        let weighted: f64 = ages.clone().map(|age| people_by_age[age] * raw[age]).sum();
        if target <= 0.0 || weighted <= 0.0 || people <= 0.0 {
            continue;
        }
        let scale = target * people / weighted;
        for age in ages {
            result[age] = (raw[age] * scale).min(0.97);
        }
    }
    result
}

fn logit(p: f64) -> f64 {
    (p / (1.0 - p)).ln()
}

fn inverse_logit(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}
