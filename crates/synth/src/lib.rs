//! A seeded synthetic London population written as FHIR R4 Bulk Data NDJSON: the provider network, then people with their conditions, medicines, measurements, appointments, emergencies and services.
//!
//! `generate` is deterministic: the same `Options` give byte-identical files, whatever the number
//! of threads. Each person is drawn from a random stream numbered by their index, people are
//! generated in chunks on worker threads, and chunks are written strictly in order. See the
//! README for what is modelled and which published figures it follows.

mod calendar;
pub mod catalogue;
pub mod frailty;
mod json_writer;
pub mod medicine;
mod morbidity;
mod names;
mod network;
mod nhs_numbers;
mod output;
mod person;
pub mod population;
mod random;
mod record;
pub mod utilisation;
pub mod vocabulary;

pub use output::Summary;

use calendar::Calendar;
use chrono::NaiveDate;
use morbidity::{Morbidity, Sex};
use network::Network;
use nhs_numbers::NhsNumbers;
use output::{Chunk, Files};
use population::female_share;
use random::{Random, NETWORK_STREAM, NHS_NUMBER_STREAM};
use std::path::{Path, PathBuf};
use utilisation::Utilisation;

/// Which population to generate: where people live and how big the provider network is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Preset {
    /// Central London: about 199,000 registered people in 35 GP practices, in Westminster.
    CentralLondon,
    /// North West London: about 2.1 million people in eight boroughs and about 360 practices.
    NorthWestLondon,
    /// Any number of people, with North West London's boroughs, age structure and list sizes.
    Custom,
}

/// A preset name that is not known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown preset {0:?}: use central-london, north-west-london or custom")]
pub struct UnknownPreset(pub String);

impl Preset {
    pub const ALL: [Preset; 3] = [Preset::CentralLondon, Preset::NorthWestLondon, Preset::Custom];

    /// Parses `central-london`, `north-west-london` or `custom`.
    pub fn parse(name: &str) -> Result<Preset, UnknownPreset> {
        Preset::ALL.into_iter().find(|preset| preset.name() == name).ok_or_else(|| UnknownPreset(name.to_owned()))
    }

    pub fn name(self) -> &'static str {
        match self {
            Preset::CentralLondon => "central-london",
            Preset::NorthWestLondon => "north-west-london",
            Preset::Custom => "custom",
        }
    }

    /// The published number of people of a named preset (199,000 or 2,111,469); `None` for `Custom`.
    pub fn default_people(self) -> Option<usize> {
        match self {
            Preset::Custom => None,
            named => Some(network::preset_size(named).0),
        }
    }

    /// The number of GP practices for a population of `people`: the preset's published number
    /// (35 or 360) at its published size, otherwise the same average list size (about 5,700 or
    /// 5,900 people), with at least one practice per borough.
    pub fn practices_for(self, people: usize) -> usize {
        network::practices_for(self, people)
    }
}

/// What to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    pub seed: u64,
    /// How many people (Patient resources).
    pub people: usize,
    pub preset: Preset,
    /// The "today" of the population: the record is as it stands on this date. Never read from the clock.
    pub reference_date: NaiveDate,
    /// Worker threads; 0 means one per available core. The output does not depend on it.
    pub threads: usize,
}

impl Options {
    /// A named preset at its published size (or, for `Custom`, 10,000 people).
    pub fn for_preset(preset: Preset, seed: u64, reference_date: NaiveDate) -> Options {
        Options { seed, people: preset.default_people().unwrap_or(10_000), preset, reference_date, threads: 0 }
    }
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("cannot write {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the population must have at least one person")]
    NoPeople,
}

/// Everything the people of a run are drawn from; built once, read by every worker.
pub(crate) struct Model {
    pub seed: u64,
    pub calendar: Calendar,
    pub network: Network,
    pub morbidity: Morbidity,
    pub utilisation: Utilisation,
    pub nhs_numbers: NhsNumbers,
}

/// People per chunk: large enough to keep threads busy, small enough to keep memory low.
const CHUNK_PEOPLE: usize = 512;
/// People per age band drawn to calibrate the base rates.
const CALIBRATION_SAMPLE: usize = 4_000;

impl Model {
    fn new(options: &Options) -> Model {
        let mut network_random = Random::stream(options.seed, NETWORK_STREAM);
        let network = Network::build(options.preset, options.people, &mut network_random);
        let morbidity = Morbidity::new(&network.people_by_age, female_share);
        let utilisation = Utilisation::calibrate(&network.people_by_age, CALIBRATION_SAMPLE, |random, age| {
            let sex = if random.chance(female_share(age)) { Sex::Female } else { Sex::Male };
            person::draw_health(&morbidity, random, age, sex).risk_factors()
        });
        let nhs_numbers = NhsNumbers::new(&mut Random::stream(options.seed, NHS_NUMBER_STREAM));
        Model { seed: options.seed, calendar: Calendar::new(options.reference_date), network, morbidity, utilisation, nhs_numbers }
    }

    fn chunk(&self, chunk: usize, people: usize) -> Chunk {
        let mut output = Chunk::new();
        let first = chunk * CHUNK_PEOPLE;
        for index in first..(first + CHUNK_PEOPLE).min(people) {
            let person = person::generate(self, index as u64);
            record::write_person(self, &person, &mut output);
        }
        output
    }
}

/// Generates the population described by `options` into `out_dir` (created if missing), one
/// `{Type}.ndjson` file per resource type, and says what was written.
pub fn generate(options: &Options, out_dir: &Path) -> Result<Summary, GenerateError> {
    if options.people == 0 {
        return Err(GenerateError::NoPeople);
    }
    let model = Model::new(options);
    let mut files = Files::create(out_dir)?;
    let mut network = Chunk::new();
    model.network.write(&mut network);
    files.write(&network)?;
    let workers = match options.threads {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        threads => threads,
    };
    let chunks = options.people.div_ceil(CHUNK_PEOPLE);
    output::write_in_order(&mut files, chunks, workers, |chunk| model.chunk(chunk, options.people))?;
    files.finish()
}
