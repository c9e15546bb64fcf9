//! One person as their record stands on the reference date: demographics, registration, conditions, medicines, measurements, appointments, emergencies, services and next of kin, all drawn from the person's own random stream.

use crate::calendar::{Day, HISTORY_DAYS};
use crate::catalogue::{Id, CONDITIONS};
use crate::frailty::{Deficit, FrailtyBand, POLYPHARMACY_MEDICINES};
use crate::medicine::{MEDICINE_COUNT, RULES};
use crate::morbidity::{ConditionSet, Morbidity, Sex};
use crate::names::{OLDER_FEMALE, OLDER_MALE, SURNAMES, YOUNGER_FEMALE, YOUNGER_MALE};
use crate::network::{landline, mobile, Address, Specialty};
use crate::population::{band_of, female_share};
use crate::random::Random;
use crate::utilisation::{RiskFactors, ADMISSIONS_VIA_AE, DEATHS_IN_HOSPITAL, GP_APPOINTMENTS_PER_YEAR, OUTPATIENT_ATTENDANCES_PER_YEAR};
use crate::vocabulary::episode_type;
use crate::Model;
use care::nhs_number::NhsNumber;
use chrono::{Datelike, NaiveDate};

/// Minutes in a day: times are counted in minutes from the start of the reference date.
pub(crate) const DAY_MINUTES: i64 = 1440;

/// A person's conditions, medicines and frailty, as drawn.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Health {
    pub conditions: ConditionSet,
    /// A bit per entry of `MEDICINES`.
    pub drugs: u16,
    pub long_term: u32,
    pub deficits: usize,
    pub frailty: FrailtyBand,
}

impl Health {
    pub fn has(&self, id: Id) -> bool {
        self.conditions.has(id.index())
    }

    pub fn risk_factors(&self) -> RiskFactors {
        RiskFactors::of(self.conditions, self.long_term, self.frailty)
    }
}

/// Draws conditions, then medicines by the prescribing rules, then counts eFI deficits.
pub(crate) fn draw_health(morbidity: &Morbidity, random: &mut Random, age: u32, sex: Sex) -> Health {
    let conditions = morbidity.draw(random, age, sex);
    let mut drugs = 0u16;
    for rule in RULES {
        if !conditions.has(rule.condition.index()) || drugs & (1 << rule.drug as usize) != 0 {
            continue;
        }
        if rule.unless.is_some_and(|other| drugs & (1 << other as usize) != 0) {
            continue;
        }
        if random.chance(rule.probability) {
            drugs |= 1 << rule.drug as usize;
        }
    }
    let mut deficits = 0u64;
    let mut long_term = 0;
    for index in conditions.iter() {
        let condition = &CONDITIONS[index];
        if condition.long_term {
            long_term += 1;
        }
        if let Some(deficit) = condition.deficit {
            deficits |= 1 << deficit as usize;
        }
    }
    if drugs.count_ones() as usize >= POLYPHARMACY_MEDICINES {
        deficits |= 1 << Deficit::Polypharmacy as usize;
    }
    let deficits = deficits.count_ones() as usize;
    Health { conditions, drugs, long_term, deficits, frailty: FrailtyBand::of(deficits) }
}

pub(crate) struct Diagnosis {
    pub condition: usize,
    pub variant: usize,
    pub onset: Day,
    pub abated: Option<Day>,
}

pub(crate) struct Prescription {
    pub drug: usize,
    /// Index into `Person::diagnoses` of the condition it treats.
    pub reason: usize,
    pub issued: Day,
}

pub(crate) enum Measurement {
    BloodPressure { systolic: u32, diastolic: u32 },
    HbA1c(u32),
    Egfr(u32),
    BodyMass { bmi: f64, weight: f64 },
}

pub(crate) struct Measured {
    pub time: i64,
    pub by: usize,
    pub what: Measurement,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AppointmentStatus {
    Booked,
    Fulfilled,
    NoShow,
    Cancelled,
}

impl AppointmentStatus {
    pub fn code(self) -> &'static str {
        match self {
            AppointmentStatus::Booked => "booked",
            AppointmentStatus::Fulfilled => "fulfilled",
            AppointmentStatus::NoShow => "noshow",
            AppointmentStatus::Cancelled => "cancelled",
        }
    }
}

/// A GP or outpatient appointment (and, when it took place, the visit).
pub(crate) struct Visit {
    pub time: i64,
    pub minutes: i64,
    pub status: AppointmentStatus,
    pub professional: usize,
    pub organisation: usize,
    /// None for general practice.
    pub specialty: Option<Specialty>,
    pub follow_up: bool,
}

pub(crate) struct Stay {
    pub start: i64,
    /// None while it is still going on at the reference date.
    pub end: Option<i64>,
}

/// An emergency: an A&E attendance, an emergency admission, or an attendance that led to one.
pub(crate) struct Emergency {
    pub attendance: Option<Stay>,
    pub admission: Option<Stay>,
    pub died: bool,
    pub reason: (&'static str, &'static str),
    pub emergency_doctor: usize,
    pub consultant: usize,
    pub trust: usize,
}

impl Emergency {
    /// From the start of the attendance (or admission) to the end of the admission (or attendance);
    /// an admission still going on lasts for ever, and so does one that ended in death.
    fn span(&self) -> (i64, i64) {
        let first = self.attendance.as_ref().or(self.admission.as_ref()).map_or(0, |stay| stay.start);
        let last = match (&self.admission, &self.attendance) {
            (Some(_), _) if self.died => i64::MAX,
            (Some(stay), _) => stay.end.unwrap_or(i64::MAX),
            (None, Some(stay)) => stay.end.unwrap_or(i64::MAX),
            (None, None) => first,
        };
        (first, last)
    }
}

pub(crate) struct Episode {
    pub kind: (&'static str, &'static str),
    pub organisation: usize,
    pub manager: usize,
    pub start: Day,
    pub end: Option<Day>,
}

pub(crate) struct Kin {
    pub relationship: (&'static str, &'static str),
    pub given: &'static str,
    pub family: &'static str,
    pub female: bool,
    pub phone: String,
}

pub(crate) struct Person {
    pub index: u64,
    pub sex: Sex,
    pub age: u32,
    pub birth: NaiveDate,
    pub given: &'static str,
    pub family: &'static str,
    pub address: Address,
    pub home_phone: Option<String>,
    pub mobile_phone: Option<String>,
    pub nhs_number: Option<NhsNumber>,
    pub borough: usize,
    pub practice: usize,
    pub usual_gp: usize,
    pub registered: Day,
    pub death: Option<Day>,
    pub diagnoses: Vec<Diagnosis>,
    pub prescriptions: Vec<Prescription>,
    pub measurements: Vec<Measured>,
    pub gp_visits: Vec<Visit>,
    pub outpatient_visits: Vec<Visit>,
    pub emergencies: Vec<Emergency>,
    pub episodes: Vec<Episode>,
    pub kin: Option<Kin>,
}

/// Generates person `index` from their own stream of the seed.
pub(crate) fn generate(model: &Model, index: u64) -> Person {
    let mut random = Random::stream(model.seed, index);
    let random = &mut random;
    let network = &model.network;
    let calendar = model.calendar;

    let borough = network.pick_borough(random);
    let age = network.pick_age(random, borough);
    let sex = if random.chance(female_share(age)) { Sex::Female } else { Sex::Male };
    let birth = birth_date(random, calendar.reference(), age);
    let birth_day = calendar.day_of(birth);
    let practice = network.pick_practice(random, borough);
    let trust = network.pick_trust(random, borough);
    let usual_gp = *random.pick(&network.practices[practice].gps);

    let health = draw_health(&model.morbidity, random, age, sex);
    let factors = health.risk_factors();
    let propensity = random.gamma_mean_one(2.0);
    let death = if birth_day < 0 && random.chance(model.utilisation.death_within_two_years(age, &factors)) {
        let first = birth_day.max(-HISTORY_DAYS);
        Some(random.between(i64::from(first), -1) as Day)
    } else {
        None
    };
    let end = death.unwrap_or(0);

    let female = sex == Sex::Female;
    let older = birth.year() < 1960;
    let given = *random.pick(match (female, older) {
        (true, true) => OLDER_FEMALE,
        (true, false) => YOUNGER_FEMALE,
        (false, true) => OLDER_MALE,
        (false, false) => YOUNGER_MALE,
    });
    let family = *random.pick(SURNAMES);
    let address = Address::generate(random, network.boroughs[borough].name);
    let home_phone = random.chance(0.55).then(|| landline(random));
    let mobile_phone = (age >= 14 && random.chance(0.88)).then(|| mobile(random));

    let registered = if age == 0 {
        (birth_day + random.between(7, 42) as Day).min(-1).max(birth_day)
    } else {
        let years = random.unit() * f64::from(age.min(25));
        (-(years * 365.25) as Day - 1).max(birth_day)
    };

    let mut person = Person {
        index,
        sex,
        age,
        birth,
        given,
        family,
        address,
        home_phone,
        mobile_phone,
        nhs_number: model.nhs_numbers.for_person(index),
        borough,
        practice,
        usual_gp,
        registered,
        death,
        diagnoses: Vec::new(),
        prescriptions: Vec::new(),
        measurements: Vec::new(),
        gp_visits: Vec::new(),
        outpatient_visits: Vec::new(),
        emergencies: Vec::new(),
        episodes: Vec::new(),
        kin: None,
    };

    diagnose(model, random, &mut person, &health, birth_day, end);
    prescribe(random, &mut person, &health, end);
    measure(model, random, &mut person, &health, birth_day, end);
    visit_gp(model, random, &mut person, &health, propensity, birth_day, end);
    visit_outpatients(model, random, &mut person, &health, trust, propensity, birth_day, end);
    emergencies(model, random, &mut person, &health, &factors, trust, propensity, birth_day, end);
    enrol(model, random, &mut person, &health, birth_day, end);
    person.kin = next_of_kin(random, age, female, older, family);
    person
}

/// A birth date that makes the person exactly `age` on the reference date.
fn birth_date(random: &mut Random, reference: NaiveDate, age: u32) -> NaiveDate {
    let year = reference.year() - age as i32;
    let anniversary = reference
        .with_year(year)
        .or_else(|| NaiveDate::from_ymd_opt(year, reference.month(), 28))
        .expect("invariant: the 28th exists in every month");
    let previous = anniversary
        .with_year(year - 1)
        .or_else(|| NaiveDate::from_ymd_opt(year - 1, anniversary.month(), 28))
        .expect("invariant: the 28th exists in every month");
    let span = (anniversary - previous).num_days(); // 365 or 366
                                                    // Born on or before the anniversary and after the one a year earlier.
    anniversary - chrono::TimeDelta::days(random.below(span as u64) as i64)
}

/// A day in [from, to), or `to - 1` if the range is empty.
fn day_between(random: &mut Random, from: Day, to: Day) -> Day {
    if from >= to {
        return to - 1;
    }
    random.between(i64::from(from), i64::from(to) - 1) as Day
}

/// A time in working hours on a day, on a 5-minute grid.
fn working_time(random: &mut Random, day: Day, first_minute: i64, last_minute: i64) -> i64 {
    i64::from(day) * DAY_MINUTES + first_minute + 5 * random.between(0, (last_minute - first_minute) / 5)
}

fn diagnose(model: &Model, random: &mut Random, person: &mut Person, health: &Health, birth_day: Day, end: Day) {
    let latest = end - 1;
    for index in health.conditions.iter() {
        let condition = &CONDITIONS[index];
        let variant = model.morbidity.variant(random, index, person.sex);
        let earliest = (birth_day + condition.min_age as Day * 365).min(latest);
        let (onset, abated) = if condition.episodic {
            let onset = day_between(random, earliest.max(-3 * 365), latest + 1);
            let abated = onset + random.between(7, 60) as Day;
            (onset, (abated < end).then_some(abated))
        } else {
            let years_possible = f64::from(latest - earliest) / 365.25;
            let years = random.unit() * years_possible.min(30.0);
            ((latest - (years * 365.25) as Day).max(earliest), None)
        };
        person.diagnoses.push(Diagnosis { condition: index, variant, onset, abated });
    }
}

fn prescribe(random: &mut Random, person: &mut Person, health: &Health, end: Day) {
    for drug in 0..MEDICINE_COUNT {
        if health.drugs & (1 << drug) == 0 {
            continue;
        }
        let reason = RULES
            .iter()
            .filter(|rule| rule.drug as usize == drug)
            .find_map(|rule| person.diagnoses.iter().position(|diagnosis| diagnosis.condition == rule.condition.index()))
            .expect("invariant: a drug is only prescribed for a condition the person has");
        let onset = person.diagnoses[reason].onset;
        let issued = (end - 1 - random.between(0, 84) as Day).max(onset);
        person.prescriptions.push(Prescription { drug, reason, issued });
    }
}

fn measure(model: &Model, random: &mut Random, person: &mut Person, health: &Health, birth_day: Day, end: Day) {
    if person.age < 18 {
        return;
    }
    let network = &model.network;
    let practice = &network.practices[person.practice];
    let from = (-HISTORY_DAYS).max(birth_day + 18 * 365);
    let age = f64::from(person.age);
    let male = person.sex == Sex::Male;
    let diabetic = health.has(Id::Type2Diabetes) || health.has(Id::Type1Diabetes);
    let vascular = health.has(Id::Hypertension)
        || diabetic
        || health.has(Id::CoronaryHeartDisease)
        || health.has(Id::ChronicKidneyDisease)
        || health.has(Id::HeartFailure)
        || health.has(Id::StrokeTia)
        || health.has(Id::PeripheralArterialDisease);
    let mut record = |random: &mut Random, what: Measurement| {
        let day = day_between(random, from, end);
        let by = if random.chance(0.5) { person.usual_gp } else { *random.pick(&practice.nurses) };
        person.measurements.push(Measured { time: working_time(random, day, 9 * 60, 17 * 60), by, what });
    };

    let readings = if vascular { 1 + random.poisson(2.0) } else { u32::from(random.chance(0.45)) };
    let usual_systolic = 112.0
        + 0.5 * (age - 18.0).min(60.0)
        + if male { 4.0 } else { 0.0 }
        + if health.has(Id::Hypertension) { 14.0 } else { 0.0 }
        + 6.0 * random.normal();
    for _ in 0..readings {
        let systolic = (usual_systolic + 11.0 * random.normal()).clamp(85.0, 220.0);
        let diastolic = (48.0 + 0.3 * systolic - 0.15 * (age - 60.0).max(0.0) + 5.0 * random.normal()).clamp(40.0, 130.0).min(systolic - 15.0);
        record(random, Measurement::BloodPressure { systolic: systolic.round() as u32, diastolic: diastolic.round() as u32 });
    }

    if diabetic {
        let usual = if health.has(Id::Type1Diabetes) { 64.0 } else { 58.0 } + 10.0 * random.normal();
        for _ in 0..1 + random.poisson(1.5) {
            let value = (usual + 5.0 * random.normal()).clamp(35.0, 140.0);
            record(random, Measurement::HbA1c(value.round() as u32));
        }
    } else if person.age >= 40 && random.chance(0.3) {
        let value = (37.0 + 3.0 * random.normal()).clamp(25.0, 47.0);
        record(random, Measurement::HbA1c(value.round() as u32));
    }

    if let Some(ckd) = person.diagnoses.iter().find(|diagnosis| diagnosis.condition == Id::ChronicKidneyDisease.index()) {
        // Stages 3a, 3b, 4 and 5, in the order of the catalogue's codes.
        let (low, high) = [(45.0, 59.0), (30.0, 44.0), (15.0, 29.0), (6.0, 14.0)][ckd.variant];
        let usual = low + random.unit() * (high - low);
        for _ in 0..1 + random.poisson(1.2) {
            let value = (usual + 2.0 * random.normal()).clamp(low, high);
            record(random, Measurement::Egfr(value.round() as u32));
        }
    } else if vascular || person.age >= 65 {
        let value = (105.0 - 0.75 * (age - 30.0).max(0.0) + 8.0 * random.normal()).clamp(60.0, 130.0);
        record(random, Measurement::Egfr(value.round() as u32));
    }

    if random.chance(if health.long_term > 0 { 0.85 } else { 0.5 }) {
        let height: f64 = if male { 175.5 + 7.0 * random.normal() } else { 162.0 + 6.5 * random.normal() };
        let height = height.clamp(140.0, 205.0) / 100.0;
        let mut usual_bmi = 26.0 + 4.3 * random.normal();
        if health.has(Id::Type2Diabetes) {
            usual_bmi += 3.0;
        }
        if health.has(Id::WeightLoss) {
            usual_bmi -= 3.0;
        }
        for _ in 0..1 + random.poisson(0.5) {
            let bmi = (usual_bmi + 0.6 * random.normal()).clamp(15.0, 55.0);
            let weight = bmi * height * height;
            record(random, Measurement::BodyMass { bmi: round1(bmi), weight: round1(weight) });
        }
    }
    person.measurements.sort_by_key(|measured| measured.time);
}

fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

fn visit_gp(model: &Model, random: &mut Random, person: &mut Person, health: &Health, propensity: f64, birth_day: Day, end: Day) {
    let practice = &model.network.practices[person.practice];
    let rate =
        GP_APPOINTMENTS_PER_YEAR[band_of(person.age)] * (1.0 + 0.25 * f64::from(health.long_term) + 0.1 * health.deficits as f64) * propensity.sqrt();
    let from = birth_day.max(-365);
    let past = random.poisson(rate * f64::from(end - from).max(0.0) / 365.0);
    let future = if person.death.is_none() { random.poisson(rate * 28.0 / 365.0) } else { 0 };
    for visit in 0..past + future {
        let upcoming = visit >= past;
        let day = if upcoming { random.between(0, 27) as Day } else { day_between(random, from, end) };
        let (professional, minutes) = match random.unit() {
            u if u < 0.6 => (person.usual_gp, 10),
            u if u < 0.85 => (*random.pick(&practice.gps), 10),
            _ => (*random.pick(&practice.nurses), 15),
        };
        let status = if upcoming {
            AppointmentStatus::Booked
        } else {
            match random.unit() {
                u if u < 0.90 => AppointmentStatus::Fulfilled,
                u if u < 0.95 => AppointmentStatus::NoShow,
                _ => AppointmentStatus::Cancelled,
            }
        };
        person.gp_visits.push(Visit {
            time: working_time(random, day, 8 * 60 + 30, 17 * 60 + 50),
            minutes,
            status,
            professional,
            organisation: practice.organisation,
            specialty: None,
            follow_up: random.chance(0.3),
        });
    }
    person.gp_visits.sort_by_key(|visit| visit.time);
}

/// The hospital specialties that follow a person's conditions.
fn specialties(person: &Person, health: &Health) -> Vec<Specialty> {
    let mut needed = Vec::new();
    let mut need = |condition: bool, specialty: Specialty| {
        if condition && !needed.contains(&specialty) {
            needed.push(specialty);
        }
    };
    need(
        health.has(Id::CoronaryHeartDisease)
            || health.has(Id::HeartFailure)
            || health.has(Id::AtrialFibrillation)
            || health.has(Id::HeartValveDisease),
        Specialty::Cardiology,
    );
    need(health.has(Id::Copd) || (health.has(Id::Asthma) && person.age >= 18), Specialty::RespiratoryMedicine);
    need(health.has(Id::Type2Diabetes) || health.has(Id::Type1Diabetes), Specialty::DiabeticMedicine);
    need(health.has(Id::Cancer), Specialty::MedicalOncology);
    let severe_kidney = person.diagnoses.iter().any(|diagnosis| diagnosis.condition == Id::ChronicKidneyDisease.index() && diagnosis.variant >= 2);
    need(severe_kidney, Specialty::Nephrology);
    need(health.has(Id::RheumatoidArthritis), Specialty::Rheumatology);
    need(health.has(Id::Parkinsons) || health.has(Id::Epilepsy), Specialty::Neurology);
    need(person.age >= 75 && health.frailty >= FrailtyBand::Moderate, Specialty::GeriatricMedicine);
    needed
}

#[allow(clippy::too_many_arguments)]
fn visit_outpatients(
    model: &Model,
    random: &mut Random,
    person: &mut Person,
    health: &Health,
    trust: usize,
    propensity: f64,
    birth_day: Day,
    end: Day,
) {
    let network = &model.network;
    let needed = specialties(person, health);
    let rate = OUTPATIENT_ATTENDANCES_PER_YEAR[band_of(person.age)] * (1.0 + 0.8 * needed.len() as f64) * propensity.sqrt();
    let from = birth_day.max(-HISTORY_DAYS);
    let past = random.poisson(rate * f64::from(end - from).max(0.0) / 365.0);
    let future = if person.death.is_none() { random.poisson(rate * 90.0 / 365.0) } else { 0 };
    for visit in 0..past + future {
        let upcoming = visit >= past;
        let day = if upcoming { random.between(1, 90) as Day } else { day_between(random, from, end) };
        let specialty = if needed.is_empty() { Specialty::GeneralMedicine } else { *random.pick(&needed) };
        let consultant = *random.pick(&network.trusts[trust].consultants[specialty as usize]);
        let status = if upcoming {
            AppointmentStatus::Booked
        } else if random.chance(0.92) {
            AppointmentStatus::Fulfilled
        } else {
            AppointmentStatus::NoShow
        };
        person.outpatient_visits.push(Visit {
            time: working_time(random, day, 9 * 60, 16 * 60 + 40),
            minutes: 20,
            status,
            professional: consultant,
            organisation: network.trusts[trust].organisation,
            specialty: Some(specialty),
            follow_up: random.chance(0.6),
        });
    }
    person.outpatient_visits.sort_by_key(|visit| visit.time);
}

/// Why someone was admitted: conditions they have make their own exacerbations likely.
fn admission_reason(random: &mut Random, health: &Health, age: u32) -> (&'static str, &'static str) {
    let mut options: Vec<((&'static str, &'static str), f64)> = vec![
        (("233604007", "Pneumonia"), 2.0),
        (("68566005", "Urinary tract infectious disease"), 1.5),
        (("29857009", "Chest pain"), 2.0),
        (("21522001", "Abdominal pain"), 2.0),
        (("128045006", "Cellulitis"), 1.0),
    ];
    if health.has(Id::HeartFailure) {
        options.push((("84114007", "Heart failure"), 3.0));
    }
    if health.has(Id::Copd) {
        options.push((("13645005", "Chronic obstructive lung disease"), 3.0));
    }
    if age >= 65 && (health.has(Id::Falls) || health.has(Id::FragilityFracture) || health.has(Id::Osteoporosis)) {
        options.push((("5913000", "Fracture of neck of femur"), 1.0));
        options.push((("1912002", "Fall"), 2.0));
    }
    if age >= 65 && health.has(Id::Dementia) {
        options.push((("2776000", "Delirium"), 1.5));
    }
    let cumulative: Vec<f64> = options
        .iter()
        .scan(0.0, |total, (_, weight)| {
            *total += weight;
            Some(*total)
        })
        .collect();
    options[random.weighted(&cumulative)].0
}

const ATTENDANCE_REASONS: &[(&str, &str)] = &[
    ("29857009", "Chest pain"),
    ("21522001", "Abdominal pain"),
    ("44465007", "Sprain of ankle"),
    ("25064002", "Headache"),
    ("1912002", "Fall"),
    ("267036007", "Dyspnea"),
    ("386661006", "Fever"),
];

#[allow(clippy::too_many_arguments)]
fn emergencies(
    model: &Model,
    random: &mut Random,
    person: &mut Person,
    health: &Health,
    factors: &RiskFactors,
    trust: usize,
    propensity: f64,
    birth_day: Day,
    end: Day,
) {
    let network = &model.network;
    let consultants = &network.trusts[trust].consultants;
    let from = birth_day.max(-HISTORY_DAYS);
    let years = f64::from(end - from).max(0.0) / 365.25;
    let end_minute = i64::from(end) * DAY_MINUTES;
    let length_of_stay = match person.age {
        0..=44 => 2.0,
        45..=64 => 3.5,
        65..=74 => 5.0,
        75..=84 => 7.0,
        _ => 9.0,
    };
    let admitting_specialty = |random: &mut Random| {
        if person.age >= 75 && random.chance(0.5) {
            Specialty::GeriatricMedicine
        } else {
            Specialty::GeneralMedicine
        }
    };

    let mut emergencies = Vec::new();
    let admissions = random.poisson(model.utilisation.admissions_per_year(person.age, factors) * propensity * years);
    let dies_in_hospital = person.death.is_some() && random.chance(DEATHS_IN_HOSPITAL);
    for admission in 0..admissions + u32::from(dies_in_hospital) {
        let final_stay = admission == admissions;
        let (start, discharge) = if final_stay {
            let death = person.death.expect("invariant: only the dying have a final stay");
            let days = (random.geometric(6.0) as Day).max(1);
            let start_day = (death - days).max(from);
            // Admitted on the day of death only when that is the first day of the record: then early enough to die that day.
            let latest_minute = if start_day == death { 10 * 60 } else { DAY_MINUTES - 1 };
            let start = i64::from(start_day) * DAY_MINUTES + random.between(0, latest_minute);
            (start, i64::from(death) * DAY_MINUTES + random.between(0, DAY_MINUTES - 1))
        } else {
            let start = i64::from(day_between(random, from, end)) * DAY_MINUTES + random.between(0, DAY_MINUTES - 1);
            let days = random.geometric(length_of_stay);
            let discharge = if days == 0 {
                start + random.between(4 * 60, 12 * 60)
            } else {
                (start.div_euclid(DAY_MINUTES) + i64::from(days)) * DAY_MINUTES + random.between(10 * 60, 20 * 60)
            };
            (start, discharge)
        };
        let via_attendance = random.chance(ADMISSIONS_VIA_AE);
        let attendance_minutes = random.between(60, 420);
        let (attendance, admitted_at) =
            if via_attendance { (Some(Stay { start, end: Some(start + attendance_minutes) }), start + attendance_minutes) } else { (None, start) };
        let discharge = discharge.max(admitted_at + 60);
        let (end_of_stay, died) = if final_stay {
            let last_minute = end_minute + DAY_MINUTES - 1; // the end of the day of death
            (Some(discharge.min(last_minute)), true)
        } else if person.death.is_some() && discharge >= end_minute {
            (Some(end_minute + random.between(0, DAY_MINUTES - 1)), true) // died on the ward
        } else if discharge >= 0 {
            (None, false) // still in hospital on the reference date
        } else {
            (Some(discharge), false)
        };
        let specialty = admitting_specialty(random);
        emergencies.push(Emergency {
            attendance,
            admission: Some(Stay { start: admitted_at, end: end_of_stay }),
            died,
            reason: admission_reason(random, health, person.age),
            emergency_doctor: *random.pick(&consultants[Specialty::AccidentAndEmergency as usize]),
            consultant: *random.pick(&consultants[specialty as usize]),
            trust,
        });
    }
    // A person is in at most one bed at a time: keep admissions in order and drop any that
    // would begin before the previous one ended, and none may follow a death in hospital.
    emergencies.sort_by_key(|emergency| emergency.span().0);
    let mut busy_until = i64::MIN;
    emergencies.retain(|emergency| {
        let (first, last) = emergency.span();
        if first <= busy_until {
            return false;
        }
        busy_until = last;
        true
    });
    let attendances = random.poisson(model.utilisation.attendances_per_year(person.age, factors) * propensity * years);
    for _ in 0..attendances {
        let start = i64::from(day_between(random, from, end)) * DAY_MINUTES + random.between(0, DAY_MINUTES - 1);
        let minutes = random.between(45, 360);
        let overlaps = emergencies.iter().any(|emergency: &Emergency| {
            let (first, last) = emergency.span();
            start + minutes >= first && start <= last
        });
        if overlaps || start + minutes >= end_minute {
            continue;
        }
        emergencies.push(Emergency {
            attendance: Some(Stay { start, end: Some(start + minutes) }),
            admission: None,
            died: false,
            reason: *random.pick(ATTENDANCE_REASONS),
            emergency_doctor: *random.pick(&consultants[Specialty::AccidentAndEmergency as usize]),
            consultant: *random.pick(&consultants[Specialty::AccidentAndEmergency as usize]),
            trust,
        });
    }
    emergencies.sort_by_key(|emergency| emergency.span().0);
    person.emergencies = emergencies;
}

fn enrol(model: &Model, random: &mut Random, person: &mut Person, health: &Health, birth_day: Day, end: Day) {
    let network = &model.network;
    let death = person.death;
    person.episodes.push(Episode {
        kind: episode_type::GP_REGISTRATION,
        organisation: network.practices[person.practice].organisation,
        manager: person.usual_gp,
        start: person.registered,
        end: death,
    });
    let adult = person.age >= 18;
    let start = |random: &mut Random, earliest_age: u32| {
        let earliest = (birth_day + earliest_age as Day * 365).max(-4 * 365);
        day_between(random, earliest, end)
    };
    if (health.has(Id::SeriousMentalIllness) && random.chance(0.65)) || (health.has(Id::Depression) && adult && random.chance(0.08)) {
        let begun = start(random, 14);
        person.episodes.push(Episode {
            kind: episode_type::MENTAL_HEALTH,
            organisation: network.mental_health_trust,
            manager: *random.pick(&network.mental_health_nurses),
            start: begun,
            end: death,
        });
    }
    let needs_care = health.has(Id::RequirementForCare)
        || health.has(Id::Housebound)
        || (health.has(Id::Dementia) && person.age >= 65)
        || health.frailty == FrailtyBand::Severe;
    if adult && ((needs_care && random.chance(0.55)) || (health.has(Id::LearningDisability) && random.chance(0.4))) {
        let borough = &network.boroughs[person.borough];
        let begun = start(random, 18);
        person.episodes.push(Episode {
            kind: episode_type::ADULT_SOCIAL_CARE,
            organisation: borough.council,
            manager: *random.pick(&borough.social_workers),
            start: begun,
            end: death,
        });
    }
    if adult && (health.has(Id::Housebound) || health.has(Id::SkinUlcer)) && random.chance(0.65) {
        let begun = start(random, 18);
        person.episodes.push(Episode {
            kind: episode_type::COMMUNITY_NURSING,
            organisation: network.community_trust,
            manager: *random.pick(&network.district_nurses),
            start: begun,
            end: death,
        });
    }
}

fn next_of_kin(random: &mut Random, age: u32, female: bool, older: bool, family: &'static str) -> Option<Kin> {
    const SPOUSE: (&str, &str) = ("SPS", "spouse");
    const MOTHER: (&str, &str) = ("MTH", "mother");
    const FATHER: (&str, &str) = ("FTH", "father");
    const DAUGHTER: (&str, &str) = ("DAU", "natural daughter");
    const SON: (&str, &str) = ("SON", "natural son");
    const FRIEND: (&str, &str) = ("FRND", "unrelated friend");
    const NEIGHBOUR: (&str, &str) = ("NBOR", "neighbor");
    let chance = match age {
        0..=15 => 0.9,
        16..=64 => 0.35,
        65..=79 => 0.7,
        _ => 0.85,
    };
    if !random.chance(chance) {
        return None;
    }
    let u = random.unit();
    let relationship = match age {
        0..=15 => {
            if u < 0.7 {
                MOTHER
            } else {
                FATHER
            }
        }
        16..=64 => match u {
            u if u < 0.6 => SPOUSE,
            u if u < 0.7 => MOTHER,
            u if u < 0.8 => FATHER,
            _ => FRIEND,
        },
        65..=79 => match u {
            u if u < 0.5 => SPOUSE,
            u if u < 0.7 => DAUGHTER,
            u if u < 0.9 => SON,
            _ => FRIEND,
        },
        _ => match u {
            u if u < 0.25 => SPOUSE,
            u if u < 0.55 => DAUGHTER,
            u if u < 0.85 => SON,
            u if u < 0.93 => FRIEND,
            _ => NEIGHBOUR,
        },
    };
    let kin_female = match relationship.0 {
        "MTH" | "DAU" => true,
        "FTH" | "SON" => false,
        "SPS" => random.chance(if female { 0.1 } else { 0.9 }),
        _ => random.chance(0.6),
    };
    let kin_older = match relationship.0 {
        "MTH" | "FTH" => age >= 40,
        "DAU" | "SON" => false,
        _ => older,
    };
    let given = *random.pick(match (kin_female, kin_older) {
        (true, true) => OLDER_FEMALE,
        (true, false) => YOUNGER_FEMALE,
        (false, true) => OLDER_MALE,
        (false, false) => YOUNGER_MALE,
    });
    let family = match relationship.0 {
        "FRND" | "NBOR" => *random.pick(SURNAMES),
        "SPS" if random.chance(0.3) => *random.pick(SURNAMES),
        _ => family,
    };
    Some(Kin { relationship, given, family, female: kin_female, phone: mobile(random) })
}
