//! How often people use services and die: target rates by age band, each person's multipliers for multimorbidity and frailty, and the calibration that keeps each band's average on target.
//!
//! A person's yearly rate of emergency admission is `base(band) × (1 + 0.15 × long-term conditions)
//! × eFI hazard ratio × G`, where the hazard ratios are the published eFI ones (fit 1, mild 1.93,
//! moderate 3.04, severe 4.73; Clegg et al. 2016) and G is a lasting personal propensity (gamma,
//! mean 1), so that people admitted in one year are more likely to be admitted in the next, as
//! in real data. `base(band)` is calibrated so that the band's mean rate equals
//! `ADMISSIONS_PER_1000`. A&E attendances and deaths follow the same pattern, more weakly.
//! The targets are modelling assumptions of the order of English hospital activity by age; they
//! are not taken from the reference sources, which do not tabulate rates by age.

use crate::catalogue::Id;
use crate::frailty::FrailtyBand;
use crate::population::{band_of, AGES, AGE_BANDS};
use crate::random::Random;

/// Target emergency admissions per 1,000 people per year, by age band (0-17, 18-44, 45-64, 65-74, 75-84, 85+).
pub const ADMISSIONS_PER_1000: [f64; 6] = [60.0, 55.0, 75.0, 135.0, 245.0, 430.0];
/// Target A&E attendances per 1,000 people per year, including those that lead to admission.
pub const AE_ATTENDANCES_PER_1000: [f64; 6] = [380.0, 350.0, 270.0, 290.0, 420.0, 700.0];
/// The share of emergency admissions that come through A&E (the rest are direct, for example from a GP).
pub const ADMISSIONS_VIA_AE: f64 = 0.7;
/// GP appointments per year for someone with no long-term condition, by age band.
pub const GP_APPOINTMENTS_PER_YEAR: [f64; 6] = [2.2, 2.4, 3.0, 3.8, 4.6, 5.2];
/// Outpatient attendances per year for someone with no condition a specialist follows, by age band.
pub const OUTPATIENT_ATTENDANCES_PER_YEAR: [f64; 6] = [0.2, 0.3, 0.45, 0.6, 0.7, 0.6];
/// The share of deaths that happen during an emergency admission.
pub const DEATHS_IN_HOSPITAL: f64 = 0.45;

/// Yearly probability of death at an age: the shape of the England and Wales life tables, a little
/// lower as London's is. An assumption for realism, not a checked figure.
pub(crate) fn annual_mortality(age: u32) -> f64 {
    match age {
        0 => 0.0035,
        1..=14 => 0.0001,
        15..=29 => 0.0004,
        30..=44 => 0.0009,
        45..=54 => 0.0022,
        55..=64 => 0.0055,
        65..=74 => 0.013,
        75..=84 => 0.040,
        85..=89 => 0.10,
        _ => 0.19,
    }
}

/// What the rates depend on: the person's conditions and frailty as recorded.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RiskFactors {
    pub long_term_conditions: u32,
    pub frailty: FrailtyBand,
    pub heart_failure: bool,
    pub cancer: bool,
    pub dementia: bool,
}

impl RiskFactors {
    pub fn admission_multiplier(&self) -> f64 {
        (1.0 + 0.15 * f64::from(self.long_term_conditions)) * self.frailty.admission_hazard_ratio()
    }

    pub fn attendance_multiplier(&self) -> f64 {
        (1.0 + 0.10 * f64::from(self.long_term_conditions)) * self.frailty.admission_hazard_ratio().sqrt()
    }

    pub fn death_multiplier(&self) -> f64 {
        let frailty = match self.frailty {
            FrailtyBand::Fit => 1.0,
            FrailtyBand::Mild => 1.4,
            FrailtyBand::Moderate => 2.0,
            FrailtyBand::Severe => 3.0,
        };
        let condition = |present: bool| if present { 1.5 } else { 1.0 };
        frailty * condition(self.heart_failure) * condition(self.cancer) * condition(self.dementia)
    }

    pub fn of(conditions: crate::morbidity::ConditionSet, long_term_conditions: u32, frailty: FrailtyBand) -> RiskFactors {
        RiskFactors {
            long_term_conditions,
            frailty,
            heart_failure: conditions.has(Id::HeartFailure.index()),
            cancer: conditions.has(Id::Cancer.index()),
            dementia: conditions.has(Id::Dementia.index()),
        }
    }
}

/// Base rates per band, calibrated so that each band's mean is on target.
#[derive(Clone, Debug)]
pub(crate) struct Utilisation {
    admission_base: [f64; 6],
    attendance_base: [f64; 6],
    death_base_scale: [f64; 6],
}

impl Utilisation {
    /// Calibrates against `sample_per_band` people per band drawn by `draw(random, age)`, which
    /// returns their risk factors. The sample uses a fixed seed of its own, so the base rates
    /// are the same for every seed and every run.
    pub fn calibrate(people_by_age: &[f64; AGES], sample_per_band: usize, draw: impl Fn(&mut Random, u32) -> RiskFactors) -> Utilisation {
        const CALIBRATION_SEED: u64 = 0x4A6F_696E_6572_7921;
        let mut admission_base = [0.0; 6];
        let mut attendance_base = [0.0; 6];
        let mut death_base_scale = [0.0; 6];
        for (band_index, band) in AGE_BANDS.iter().enumerate() {
            let ages: Vec<usize> = (band.first as usize..=band.last as usize).collect();
            let cumulative: Vec<f64> = ages
                .iter()
                .scan(0.0, |total, age| {
                    *total += people_by_age[*age].max(1e-9);
                    Some(*total)
                })
                .collect();
            let mut random = Random::stream(CALIBRATION_SEED, band_index as u64);
            let (mut admission, mut attendance, mut death, mut mortality) = (0.0, 0.0, 0.0, 0.0);
            for _ in 0..sample_per_band {
                let age = ages[random.weighted(&cumulative)] as u32;
                let factors = draw(&mut random, age);
                admission += factors.admission_multiplier();
                attendance += factors.attendance_multiplier();
                death += factors.death_multiplier();
                mortality += annual_mortality(age);
            }
            let n = sample_per_band as f64;
            death_base_scale[band_index] = 1.0 / (death / n);
            // Deaths in hospital add an admission each, while the people most at risk of admission
            // die sooner and so spend less time at risk; measured over large populations, the two
            // together add about half the admissions of the deaths in hospital, which the other
            // admissions leave room for.
            let dying_admissions = 0.5 * DEATHS_IN_HOSPITAL * mortality / n;
            let admissions = (ADMISSIONS_PER_1000[band_index] / 1000.0 - dying_admissions).max(0.0);
            admission_base[band_index] = admissions / (admission / n);
            let attendance_only = AE_ATTENDANCES_PER_1000[band_index] - ADMISSIONS_VIA_AE * ADMISSIONS_PER_1000[band_index];
            attendance_base[band_index] = attendance_only.max(0.0) / 1000.0 / (attendance / n);
        }
        Utilisation { admission_base, attendance_base, death_base_scale }
    }

    /// Emergency admissions per year for this person, before their personal propensity.
    pub fn admissions_per_year(&self, age: u32, factors: &RiskFactors) -> f64 {
        self.admission_base[band_of(age)] * factors.admission_multiplier()
    }

    /// A&E attendances per year that do not lead to admission.
    pub fn attendances_per_year(&self, age: u32, factors: &RiskFactors) -> f64 {
        self.attendance_base[band_of(age)] * factors.attendance_multiplier()
    }

    /// The probability of dying within the two years before the reference date.
    pub fn death_within_two_years(&self, age: u32, factors: &RiskFactors) -> f64 {
        let yearly = (annual_mortality(age) * factors.death_multiplier() * self.death_base_scale[band_of(age)]).min(0.6);
        1.0 - (1.0 - yearly).powi(2)
    }
}
