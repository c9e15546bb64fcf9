//! Versioned migrations for SQLite, tracked in `PRAGMA user_version`, applied in one immediate transaction
//! so that two processes opening the same file apply each migration once.

use crate::error::StoreError;
use rusqlite::Connection;

/// Migrations in order; the database's `user_version` is the number applied.
pub const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/sqlite/0001_resources.sql"),
    include_str!("../../migrations/sqlite/0002_accounts.sql"),
    include_str!("../../migrations/sqlite/0003_access.sql"),
    include_str!("../../migrations/sqlite/0004_access_covering.sql"),
    include_str!("../../migrations/sqlite/0005_break_glass.sql"),
    include_str!("../../migrations/sqlite/0006_risk.sql"),
    include_str!("../../migrations/sqlite/0007_risk_lists.sql"),
    include_str!("../../migrations/sqlite/0008_group_members.sql"),
];

/// The audit log file's migrations in order (its own `user_version`).
pub const AUDIT_MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/sqlite-audit/0001_audit.sql"),
    include_str!("../../migrations/sqlite-audit/0002_audit_patient.sql"),
    include_str!("../../migrations/sqlite-audit/0003_audit_agent.sql"),
    include_str!("../../migrations/sqlite-audit/0004_audit_patient_span.sql"),
];

/// Brings the record's database up to date.
pub fn run(conn: &mut Connection) -> Result<(), StoreError> {
    apply(conn, MIGRATIONS)
}

/// Applies the migrations of `list` that `user_version` says are not applied yet, in one immediate
/// transaction; refuses a file made by a newer build.
pub fn apply(conn: &mut Connection, list: &[&str]) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let applied: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let applied = usize::try_from(applied).map_err(|_| StoreError::Internal("negative schema version".into()))?;
    if applied > list.len() {
        return Err(StoreError::Unavailable(format!(
            "the database has schema version {applied}, newer than this build knows ({}); upgrade Joinery",
            list.len()
        )));
    }
    for (i, sql) in list.iter().enumerate().skip(applied) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tracing::info!(version = i + 1, "applied migration");
    }
    tx.commit()?;
    Ok(())
}
