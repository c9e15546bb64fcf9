//! The generated files the build embeds, made from the raw reference data (`shared/data`): the condensed
//! FHIR R4 definitions, the FHIRPath type model and the ONS population table. The build reads only the
//! committed files; `cargo run -p codegen` remakes them, and a test checks they equal what it would make.

mod fhir_definitions;
mod fhirpath_model;
mod population;

use std::path::{Path, PathBuf};

/// One generated file: where it lives in the repository and how it is made from the data folder.
pub struct Output {
    /// Relative to the repository root.
    pub path: &'static str,
    pub make: fn(&Path) -> String,
}

/// Every generated file.
pub const OUTPUTS: [Output; 3] = [
    Output { path: "crates/fhir/generated/definitions.json", make: |data| fhir_definitions::generate(&data.join("fhir-r4")) },
    Output { path: "crates/fhirpath/generated/fhir-r4-model.txt", make: |data| fhirpath_model::generate(&data.join("fhir-r4")) },
    Output { path: "crates/synth/generated/ons_population.rs", make: |data| population::generate(&data.join("population")) },
];

/// The repository root.
pub fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The raw reference data: `$JOINERY_SHARED_DATA`, else `shared/data` beside the repository; `None` when
/// neither exists (a bare clone has only the generated files).
pub fn shared_data() -> Option<PathBuf> {
    let dir = match std::env::var_os("JOINERY_SHARED_DATA") {
        Some(d) => PathBuf::from(d),
        None => repository().join("../shared/data"),
    };
    dir.is_dir().then_some(dir)
}
