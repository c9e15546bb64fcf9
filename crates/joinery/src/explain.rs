//! `joinery explain 'Observation?code=…'`: the statements a search runs for the system client and the
//! database's plans for them (SQLite's `EXPLAIN QUERY PLAN`, PostgreSQL's `EXPLAIN`), printed as JSON, so that
//! a slow search shape can be looked at without reading the code.

use crate::config::{FileConfig, StoreArgs};
use crate::registers::audited_system_task;
use crate::{Failure, Outcome};
use serde_json::json;

#[derive(clap::Args, Debug, Clone)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The search as it follows the base URL: `Type?name=value&…` (values percent-encoded as in a URL).
    pub search: String,
}

pub fn run(args: &ExplainArgs, file: &FileConfig) -> Outcome {
    let (resource_type, query) = args.search.split_once('?').unwrap_or((args.search.as_str(), ""));
    let resource_type = resource_type.trim_start_matches('/').to_owned();
    if resource_type.is_empty() || resource_type.contains('/') {
        return Err(Failure::Usage(format!("'{}' is not a search (Type?name=value&…)", args.search)));
    }
    let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    audited_system_task(&args.store, file, "explain", Some(&args.search), |session| async move {
        let plan = session.explain_search(&resource_type, &params).await.map_err(|e| e.to_string())?;
        Ok(json!({ "search": format!("{resource_type}?{query}"), "plan": plan }))
    })
}
