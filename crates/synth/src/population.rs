//! Who lives where: the ONS mid-2020 single-year-of-age estimates for the eight North West London boroughs (embedded at build time), their postcode districts, and the age bands used throughout.

/// One borough's row of the ONS table: people by single year of age, 0 to 89, then 90 and over.
pub(crate) struct OnsBorough {
    #[allow(dead_code)] // the ONS area code, kept so that each row can be traced to the table
    pub code: &'static str,
    pub name: &'static str,
    pub total: u32,
    pub by_age: [u32; 91],
}

include!("../generated/ons_population.rs");

/// The oldest age generated; the ONS "90 and over" column is spread over 90 to this age.
pub const OLDEST_AGE: u32 = 100;
/// Ages 0 to `OLDEST_AGE`.
pub(crate) const AGES: usize = OLDEST_AGE as usize + 1;
/// Each year past 90 holds this share of the year before (so about 73% of the 90+ are 90-94).
const NINETY_PLUS_DECAY: f64 = 0.78;

/// The age bands in which prevalence and rates are modelled and checked.
pub const AGE_BANDS: [AgeBand; 6] = [
    AgeBand { label: "0-17", first: 0, last: 17 },
    AgeBand { label: "18-44", first: 18, last: 44 },
    AgeBand { label: "45-64", first: 45, last: 64 },
    AgeBand { label: "65-74", first: 65, last: 74 },
    AgeBand { label: "75-84", first: 75, last: 84 },
    AgeBand { label: "85+", first: 85, last: OLDEST_AGE },
];

/// A band of ages, both ends included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AgeBand {
    pub label: &'static str,
    pub first: u32,
    pub last: u32,
}

/// The index in `AGE_BANDS` of the band holding `age`.
pub fn band_of(age: u32) -> usize {
    AGE_BANDS.iter().position(|band| age <= band.last).unwrap_or(AGE_BANDS.len() - 1)
}

/// The ONS row of a borough, by its name in the table.
pub(crate) fn ons_borough(name: &str) -> &'static OnsBorough {
    ONS_BOROUGHS
        .iter()
        .find(|borough| borough.name == name)
        .expect("invariant: every borough of a preset is one of the eight in the ONS table (checked by build.rs)")
}

/// People per single year of age 0..=OLDEST_AGE in a borough, the 90+ column spread geometrically.
pub(crate) fn people_by_age(borough: &OnsBorough) -> [f64; AGES] {
    let mut weights = [0.0; AGES];
    for (age, count) in borough.by_age.iter().take(90).enumerate() {
        weights[age] = f64::from(*count);
    }
    let spread: Vec<f64> = (0..AGES - 90).map(|k| NINETY_PLUS_DECAY.powi(k as i32)).collect();
    let spread_total: f64 = spread.iter().sum();
    for (k, share) in spread.iter().enumerate() {
        weights[90 + k] = f64::from(borough.by_age[90]) * share / spread_total;
    }
    weights
}

/// The share of people of an age who are female.
///
/// The ONS table here has no sex split, so this is a modelling assumption following the shape of
/// ONS mid-year estimates for London: slightly more boys than girls in childhood, about even
/// through working age, then a female majority that grows with age as men die younger.
pub(crate) fn female_share(age: u32) -> f64 {
    match age {
        0..=17 => 0.488,
        18..=59 => 0.500,
        60..=69 => 0.515,
        70..=79 => 0.535,
        80..=84 => 0.565,
        85..=89 => 0.610,
        _ => 0.680,
    }
}

/// Postcode districts that lie in each borough (outward codes; the inward part is generated).
pub(crate) fn postcode_districts(borough: &str) -> &'static [&'static str] {
    match borough {
        "Brent" => &["NW2", "NW6", "NW9", "NW10", "HA0", "HA9"],
        "Ealing" => &["W3", "W5", "W7", "W13", "UB1", "UB2", "UB5", "UB6"],
        "Hammersmith and Fulham" => &["W6", "W12", "W14", "SW6"],
        "Harrow" => &["HA1", "HA2", "HA3", "HA5", "HA7"],
        "Hillingdon" => &["UB3", "UB4", "UB7", "UB8", "UB10", "HA4", "HA6"],
        "Hounslow" => &["TW3", "TW4", "TW5", "TW7", "TW8", "TW13", "TW14", "W4"],
        "Kensington and Chelsea" => &["W8", "W10", "W11", "SW3", "SW5", "SW7", "SW10"],
        "Westminster" => &["W1G", "W1H", "W1U", "W2", "W9", "NW8", "SW1P", "SW1V", "SW1W", "WC2N"],
        _ => panic!("invariant: the borough {borough} is not one of the eight North West London boroughs"),
    }
}

/// The letters allowed in the last two places of a postcode.
pub(crate) const INWARD_LETTERS: &[u8] = b"ABDEFGHJLNPQRSTUWXYZ";
