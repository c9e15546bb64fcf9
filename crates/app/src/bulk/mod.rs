//! Bulk data in and out of the record: importing NDJSON files and Bundles in batches through the same
//! preparation as REST writes (`import`), and FHIR Bulk Data export jobs that write NDJSON files (`export`).

pub mod export;
pub mod import;
mod source;

pub use export::{ExportJobs, ExportLevel, ExportManifest, ExportOutput, ExportRequest, ExportStatus, ExportSummary};
pub use import::{Failure, ImportOptions, ImportReport, Progress, TypeCounts};
pub use source::{list_sources, Source, SourceKind};
