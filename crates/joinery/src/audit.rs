//! `joinery audit verify`: walks the audit log's hash chain and says whether it is intact, or where it
//! first breaks (exit code 1).

use crate::config::{app_config, FileConfig, StoreArgs, LOCAL_BASE};
use crate::{block_on, open_store, Failure, Outcome};
use std::process::ExitCode;

#[derive(clap::Subcommand, Debug, Clone)]
pub enum AuditCommand {
    /// Check every event of the audit log against the chain: the first changed, inserted or missing event is
    /// reported and the exit code is 1.
    Verify(StoreArgs),
}

pub fn run(command: AuditCommand, file: &FileConfig) -> Outcome {
    match command {
        AuditCommand::Verify(store) => {
            let database = store.resolve(file).map_err(Failure::Usage)?;
            let config = app_config(file, LOCAL_BASE).map_err(Failure::Usage)?;
            block_on(async move {
                let app = app::App::new(open_store(&database)?, config);
                let checked = app.verify_audit().await;
                let closed = app.shutdown().await;
                let checked = checked.map_err(|e| Failure::Run(format!("cannot read the audit log: {e}")))?;
                closed.map_err(|e| Failure::Run(format!("closing the database failed: {e}")))?;
                match checked {
                    Ok(n) => {
                        println!("the audit log is intact: {n} events");
                        Ok(ExitCode::SUCCESS)
                    }
                    Err(b) => {
                        println!("the audit log is broken: {b}");
                        Ok(ExitCode::FAILURE)
                    }
                }
            })
        }
    }
}
