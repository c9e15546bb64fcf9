//! The generated population against the figures it models: ONS age structure, condition prevalence by age band and in total, multimorbidity, emergency admission and A&E rates, frailty, and the signal a risk model should find.
//!
//! Tolerances are stated with each check. Where a check compares a sample with a model figure,
//! the tolerance is a number of standard errors (so that it means the same at any sample size)
//! with a floor; where it compares with a published figure, the source is named as
//! `shared/reference/population-health.md` gives it.

use crate::fixture::{population, reference_date, PersonFacts};
use std::collections::HashSet;
use synth::catalogue::{condition, condition_of_code, deficit_of_code};
use synth::frailty::{FrailtyBand, POLYPHARMACY_MEDICINES};
use synth::population::{band_of, AGE_BANDS};
use synth::utilisation::{ADMISSIONS_PER_1000, AE_ATTENDANCES_PER_1000};

fn percent(count: usize, total: usize) -> f64 {
    100.0 * count as f64 / total.max(1) as f64
}

/// The standard error of a percentage estimated from `n` people.
fn standard_error(percent: f64, n: usize) -> f64 {
    let p = percent / 100.0;
    100.0 * (p * (1.0 - p) / n.max(1) as f64).sqrt()
}

fn has_any(person: &PersonFacts, codes: &[&str]) -> bool {
    codes.iter().any(|code| person.codes.contains(*code))
}

fn codes_of(key: &str) -> Vec<&'static str> {
    condition(key).unwrap_or_else(|| panic!("no condition {key}")).variants.iter().map(|variant| variant.code).collect()
}

#[test]
fn age_structure_matches_the_ons_estimates() {
    // ONS mid-2020, the eight North West London boroughs: 22.6% aged 0-17, 13.5% aged 65+,
    // 6.1% aged 75+ (6.11% in the summary table). Tolerance: 0.6 percentage points for 75+
    // (about 3.5 standard errors at 20,000 people), 1.0 for the larger groups.
    let people = &population().people;
    let n = people.len();
    let share = |predicate: &dyn Fn(u32) -> bool| percent(people.iter().filter(|person| predicate(person.age)).count(), n);
    let aged_75 = share(&|age| age >= 75);
    let aged_65 = share(&|age| age >= 65);
    let children = share(&|age| age <= 17);
    assert!((aged_75 - 6.11).abs() <= 0.6, "aged 75+: {aged_75:.2}% against ONS 6.11%");
    assert!((aged_65 - 13.48).abs() <= 1.0, "aged 65+: {aged_65:.2}% against ONS 13.48%");
    assert!((children - 22.61).abs() <= 1.0, "aged 0-17: {children:.2}% against ONS 22.61%");
}

#[test]
fn prevalence_by_age_band_matches_the_model() {
    // Each band's prevalence within 4 standard errors of the modelled figure, or 0.3 percentage points if wider.
    let people = &population().people;
    let mut failures = Vec::new();
    for key in [
        "hypertension",
        "type-2-diabetes",
        "coronary-heart-disease",
        "heart-failure",
        "atrial-fibrillation",
        "stroke-tia",
        "copd",
        "asthma",
        "chronic-kidney-disease",
        "dementia",
        "serious-mental-illness",
    ] {
        let codes = codes_of(key);
        let target = condition(key).expect("in the catalogue").percent_by_band;
        for (band_index, band) in AGE_BANDS.iter().enumerate() {
            let in_band: Vec<&PersonFacts> = people.iter().filter(|person| band_of(person.age) == band_index).collect();
            let observed = percent(in_band.iter().filter(|person| has_any(person, &codes)).count(), in_band.len());
            let tolerance = (4.0 * standard_error(target[band_index], in_band.len())).max(0.3);
            if (observed - target[band_index]).abs() > tolerance {
                failures.push(format!(
                    "{key} aged {}: {observed:.2}% against {:.2}% (tolerance {tolerance:.2}, n = {})",
                    band.label,
                    target[band_index],
                    in_band.len()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn total_prevalence_matches_published_registers() {
    // QOF registers of East London practices (as population-health.md gives them): hypertension
    // 10.4-13.7%, type 2 diabetes 4.5-7.2%, coronary heart disease 1.7-2.4%, serious mental
    // illness 1.3-1.7% of the list; dementia in about 4% of people aged 65+. Each range is widened
    // by 3 standard errors of the sample; "about 4%" is taken as 3-5%.
    let people = &population().people;
    let n = people.len();
    let mut failures = Vec::new();
    for (key, low, high) in
        [("hypertension", 10.4, 13.7), ("type-2-diabetes", 4.5, 7.2), ("coronary-heart-disease", 1.7, 2.4), ("serious-mental-illness", 1.3, 1.7)]
    {
        let codes = codes_of(key);
        let observed = percent(people.iter().filter(|person| has_any(person, &codes)).count(), n);
        let slack = 3.0 * standard_error(observed, n);
        if observed < low - slack || observed > high + slack {
            failures.push(format!("{key}: {observed:.2}% outside {low}-{high}% (± {slack:.2})"));
        }
    }
    let dementia = codes_of("dementia");
    let older: Vec<&PersonFacts> = people.iter().filter(|person| person.age >= 65).collect();
    let observed = percent(older.iter().filter(|person| has_any(person, &dementia)).count(), older.len());
    let slack = 3.0 * standard_error(observed, older.len());
    if !(3.0 - slack..=5.0 + slack).contains(&observed) {
        failures.push(format!("dementia aged 65+: {observed:.2}% not about 4%"));
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

fn long_term_conditions(person: &PersonFacts) -> usize {
    person
        .codes
        .iter()
        .filter_map(|code| condition_of_code(code))
        .filter(|condition| condition.long_term)
        .map(|condition| condition.key)
        .collect::<HashSet<_>>()
        .len()
}

#[test]
fn multimorbidity_is_common_and_most_older_people_have_two_or_more() {
    // Barnett et al. (Lancet 2012, Scotland): 42.2% have at least one long-term condition, 23.2%
    // at least two, and most people aged 65+ have two or more. North West London is younger and
    // the generator records fewer kinds of condition than Barnett's 40, so the all-ages shares
    // are checked within wide bands (30-50% and 12-30%); the 65+ statement is checked as it stands.
    let people = &population().people;
    let n = people.len();
    let one = percent(people.iter().filter(|person| long_term_conditions(person) >= 1).count(), n);
    let two = percent(people.iter().filter(|person| long_term_conditions(person) >= 2).count(), n);
    let older: Vec<&PersonFacts> = people.iter().filter(|person| person.age >= 65).collect();
    let older_two = percent(older.iter().filter(|person| long_term_conditions(person) >= 2).count(), older.len());
    assert!((30.0..=50.0).contains(&one), "at least one long-term condition: {one:.1}%");
    assert!((12.0..=30.0).contains(&two), "at least two: {two:.1}%");
    assert!(older_two > 50.0, "aged 65+ with at least two: {older_two:.1}%");
}

/// Events per 1,000 person-years by age band, with a robust standard error, over the two years before the reference date.
fn rates_by_band(events: impl Fn(&PersonFacts) -> usize) -> Vec<(f64, f64, usize)> {
    let people = &population().people;
    AGE_BANDS
        .iter()
        .enumerate()
        .map(|(band_index, _)| {
            let in_band: Vec<&PersonFacts> = people.iter().filter(|person| band_of(person.age) == band_index).collect();
            let years: f64 = in_band.iter().map(|person| person.exposure_years()).sum();
            let count: f64 = in_band.iter().map(|person| events(person) as f64).sum();
            let rate = count / years;
            // Sandwich estimate: the spread of each person's events around their expected number.
            let spread: f64 = in_band.iter().map(|person| (events(person) as f64 - rate * person.exposure_years()).powi(2)).sum();
            (1000.0 * rate, 1000.0 * spread.sqrt() / years, in_band.len())
        })
        .collect()
}

fn check_rates(name: &str, rates: &[(f64, f64, usize)], targets: &[f64; 6]) {
    // Within 4 robust standard errors of the modelled rate, or 15% if wider; and rising with age from 18-44 on.
    let mut failures = Vec::new();
    for (band_index, (rate, error, n)) in rates.iter().enumerate() {
        let target = targets[band_index];
        let tolerance = (4.0 * error).max(0.15 * target);
        if (rate - target).abs() > tolerance {
            failures.push(format!(
                "{name} aged {}: {rate:.0} per 1,000 a year against {target:.0} (tolerance {tolerance:.0}, n = {n})",
                AGE_BANDS[band_index].label
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn emergency_admissions_rise_with_age_at_the_modelled_rates() {
    let rates = rates_by_band(|person| person.admissions.len());
    check_rates("emergency admissions", &rates, &ADMISSIONS_PER_1000);
    for pair in rates[1..].windows(2) {
        assert!(pair[1].0 > pair[0].0, "admission rates should rise with age from 18-44: {rates:?}");
    }
}

#[test]
fn ae_attendances_follow_the_modelled_rates() {
    let rates = rates_by_band(|person| person.attendances.len());
    check_rates("A&E attendances", &rates, &AE_ATTENDANCES_PER_1000);
}

/// The eFI band of a person, computed from the record as a frailty index would: deficits from
/// coded conditions, and polypharmacy from medicines issued in the last 12 months.
fn frailty(person: &PersonFacts) -> FrailtyBand {
    let mut deficits: HashSet<_> = person.codes.iter().filter_map(|code| deficit_of_code(code)).collect();
    if person.recent_medicines.len() >= POLYPHARMACY_MEDICINES {
        deficits.insert(synth::frailty::Deficit::Polypharmacy);
    }
    FrailtyBand::of(deficits.len())
}

fn living_older_people() -> Vec<&'static PersonFacts> {
    population().people.iter().filter(|person| person.age >= 65 && person.death.is_none()).collect()
}

#[test]
fn frailty_among_older_people_follows_the_published_distribution() {
    // eFI bands among people aged 65+ in a Spanish primary-care adaptation (population-health.md):
    // fit 41%, mild 32%, moderate 19%, severe 8%. Each within 12 percentage points.
    let older = living_older_people();
    let published = [41.0, 32.0, 19.0, 8.0];
    let shares: Vec<f64> =
        FrailtyBand::ALL.iter().map(|band| percent(older.iter().filter(|person| frailty(person) == *band).count(), older.len())).collect();
    for (index, band) in FrailtyBand::ALL.iter().enumerate() {
        assert!((shares[index] - published[index]).abs() <= 12.0, "{} {:.1}% against {}% ({shares:?})", band.code(), shares[index], published[index]);
    }
}

/// Admissions in the 12 months before the reference date.
fn admissions_last_year(person: &PersonFacts) -> usize {
    person.admissions.iter().filter(|start| (reference_date() - **start).num_days() <= 365).count()
}

#[test]
fn admissions_rise_with_frailty() {
    // Among living people aged 65+, admissions in the last 12 months rise from band to band of
    // the eFI computed from the record, and the severely frail are admitted at least twice as
    // often as the fit (the published one-year hazard ratio is 4.73, before adjustment for age).
    let older = living_older_people();
    let rates: Vec<f64> = FrailtyBand::ALL
        .iter()
        .map(|band| {
            let group: Vec<&&PersonFacts> = older.iter().filter(|person| frailty(person) == *band).collect();
            group.iter().map(|person| admissions_last_year(person)).sum::<usize>() as f64 / group.len().max(1) as f64
        })
        .collect();
    for pair in rates.windows(2) {
        assert!(pair[1] > pair[0], "admission rate by frailty band should rise: {rates:?}");
    }
    assert!(rates[3] >= 2.0 * rates[0], "severe against fit: {rates:?}");
}

#[test]
fn past_admissions_predict_the_next_year() {
    // A risk model trained on months 13-24 is checked against months 1-12 (counted back from the
    // reference date): people admitted in months 13-24 should be admitted in months 1-12 at
    // least 1.5 times as often as people who were not.
    let living: Vec<&PersonFacts> = population().people.iter().filter(|person| person.death.is_none()).collect();
    let earlier = |person: &PersonFacts| person.admissions.iter().any(|start| (reference_date() - *start).num_days() > 365);
    let rate = |admitted: bool| {
        let group: Vec<&&PersonFacts> = living.iter().filter(|person| earlier(person) == admitted).collect();
        group.iter().map(|person| admissions_last_year(person)).sum::<usize>() as f64 / group.len().max(1) as f64
    };
    let (with, without) = (rate(true), rate(false));
    assert!(with >= 1.5 * without, "admitted before: {with:.3} a year, not admitted: {without:.3}");
}

#[test]
fn some_people_die_and_nothing_happens_after_death() {
    // Deaths in two years: between 0.5% and 2.5% of a London population (about 0.6% a year).
    let people = &population().people;
    let died: Vec<&PersonFacts> = people.iter().filter(|person| person.death.is_some()).collect();
    let share = percent(died.len(), people.len());
    assert!((0.5..=2.5).contains(&share), "died: {share:.2}%");
    for person in died {
        let death = person.death.expect("filtered");
        assert!(death < reference_date() && (reference_date() - death).num_days() <= 730);
        assert!(person.admissions.iter().chain(&person.attendances).all(|start| *start <= death), "an emergency after death");
    }
}
