//! The electronic Frailty Index (eFI; Clegg et al., Age and Ageing 2016) as the generator models it: its 36 deficits, the polypharmacy threshold, and the bands from `care::frailty`.

/// One of the 36 eFI deficits. The generator records each (except polypharmacy, which is
/// counted from the medicines issued) as a coded Condition; `catalogue::conditions` says which
/// SNOMED CT codes stand for which deficit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Deficit {
    ActivityLimitation,
    Anaemia,
    Arthritis,
    AtrialFibrillation,
    Cerebrovascular,
    ChronicKidneyDisease,
    Diabetes,
    Dizziness,
    Dyspnoea,
    Falls,
    FootProblems,
    FragilityFracture,
    HearingImpairment,
    HeartFailure,
    HeartValveDisease,
    Housebound,
    Hypertension,
    HypotensionSyncope,
    IschaemicHeartDisease,
    MemoryCognitive,
    MobilityTransfer,
    Osteoporosis,
    Parkinsonism,
    PepticUlcer,
    PeripheralVascular,
    Polypharmacy,
    RequirementForCare,
    Respiratory,
    SkinUlcer,
    SleepDisturbance,
    SocialVulnerability,
    Thyroid,
    UrinaryIncontinence,
    UrinarySystem,
    VisualImpairment,
    WeightLoss,
}

/// The eFI bands: the model's own (`care::frailty`), which the records are later scored with.
pub use care::frailty::Band as FrailtyBand;

/// Polypharmacy is this many different medicines or more issued in the 12 months before.
pub const POLYPHARMACY_MEDICINES: usize = 5;
