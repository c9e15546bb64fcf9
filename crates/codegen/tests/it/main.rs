//! The committed generated files equal what `codegen` makes from the raw reference data, so they cannot
//! drift from it. Skipped, saying so, where the data is not there (a bare clone).

#[test]
fn generated_files_are_current() {
    let Some(data) = codegen::shared_data() else {
        eprintln!("skipped: no shared/data beside the repository (set JOINERY_SHARED_DATA to check the generated files)");
        return;
    };
    for output in codegen::OUTPUTS {
        let committed = std::fs::read_to_string(codegen::repository().join(output.path)).unwrap_or_default();
        let made = (output.make)(&data);
        assert!(committed == made, "{} differs from what codegen makes from {}; run `cargo run -p codegen`", output.path, data.display());
    }
}
