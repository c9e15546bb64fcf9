//! The electronic Frailty Index (eFI; Clegg et al., Age and Ageing 2016): its 36 equally weighted deficits, the index, its bands and the published admission hazard ratios.

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

/// The number of eFI deficits: the index is deficits present divided by this.
pub const DEFICITS: usize = 36;

/// Polypharmacy is this many different medicines or more issued in the 12 months before.
pub const POLYPHARMACY_MEDICINES: usize = 5;

/// The eFI bands: fit ≤ 0.12, mild > 0.12 to 0.24, moderate > 0.24 to 0.36, severe > 0.36.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FrailtyBand {
    Fit,
    Mild,
    Moderate,
    Severe,
}

impl FrailtyBand {
    pub const ALL: [FrailtyBand; 4] = [FrailtyBand::Fit, FrailtyBand::Mild, FrailtyBand::Moderate, FrailtyBand::Severe];

    /// The band of a person with `deficits` of the 36 present. Compared in whole numbers
    /// (deficits × 100 against the cut-off × 36) so that a boundary such as exactly 0.24 is exact.
    pub fn of_deficits(deficits: usize) -> FrailtyBand {
        let scaled = deficits * 100;
        if scaled <= 12 * DEFICITS {
            FrailtyBand::Fit
        } else if scaled <= 24 * DEFICITS {
            FrailtyBand::Mild
        } else if scaled <= 36 * DEFICITS {
            FrailtyBand::Moderate
        } else {
            FrailtyBand::Severe
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            FrailtyBand::Fit => "fit",
            FrailtyBand::Mild => "mild",
            FrailtyBand::Moderate => "moderate",
            FrailtyBand::Severe => "severe",
        }
    }

    /// The one-year emergency admission hazard ratio against the fit, published with the eFI
    /// (Clegg et al. 2016): mild 1.93, moderate 3.04, severe 4.73.
    pub fn admission_hazard_ratio(self) -> f64 {
        match self {
            FrailtyBand::Fit => 1.0,
            FrailtyBand::Mild => 1.93,
            FrailtyBand::Moderate => 3.04,
            FrailtyBand::Severe => 4.73,
        }
    }
}
