//! `cargo run -p codegen [-- --check] [--data DIR]`: remakes the generated files from the raw reference
//! data, or with `--check` only reports those that differ (exit code 1).

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let check = args.iter().any(|a| a == "--check");
    let data = match args.iter().position(|a| a == "--data").and_then(|i| args.get(i + 1)) {
        Some(d) => std::path::PathBuf::from(d),
        None => match codegen::shared_data() {
            Some(d) => d,
            None => {
                eprintln!("codegen: no reference data: pass --data DIR or set JOINERY_SHARED_DATA (shared/data beside the repository)");
                return ExitCode::from(2);
            }
        },
    };
    let mut stale = 0;
    for output in codegen::OUTPUTS {
        let made = (output.make)(&data);
        let path = codegen::repository().join(output.path);
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current == made {
            println!("unchanged {} ({} bytes)", output.path, made.len());
            continue;
        }
        stale += 1;
        if check {
            println!("differs   {}", output.path);
            continue;
        }
        if let Err(e) = std::fs::write(&path, &made) {
            eprintln!("codegen: cannot write {}: {e}", path.display());
            return ExitCode::from(2);
        }
        println!("wrote     {} ({} bytes)", output.path, made.len());
    }
    if check && stale > 0 {
        eprintln!("codegen: {stale} generated file(s) differ from the data; run `cargo run -p codegen`");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
