//! Versioned migrations for PostgreSQL, recorded in `schema_migrations` and applied under a session-level
//! advisory lock, so that nodes starting together apply each migration exactly once; each migration runs
//! in its own transaction.

use super::pg;
use crate::error::StoreError;
use deadpool_postgres::Object;

/// Migrations in order; a migration's version is its position, counting from 1.
pub const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_resources", include_str!("../../migrations/postgres/0001_resources.sql")),
    ("0002_accounts", include_str!("../../migrations/postgres/0002_accounts.sql")),
    ("0003_access", include_str!("../../migrations/postgres/0003_access.sql")),
    ("0004_access_covering", include_str!("../../migrations/postgres/0004_access_covering.sql")),
    ("0005_audit", include_str!("../../migrations/postgres/0005_audit.sql")),
    ("0006_break_glass", include_str!("../../migrations/postgres/0006_break_glass.sql")),
    ("0007_audit_patient", include_str!("../../migrations/postgres/0007_audit_patient.sql")),
    ("0008_risk", include_str!("../../migrations/postgres/0008_risk.sql")),
    ("0009_risk_lists", include_str!("../../migrations/postgres/0009_risk_lists.sql")),
    ("0010_group_members", include_str!("../../migrations/postgres/0010_group_members.sql")),
    ("0011_audit_agent", include_str!("../../migrations/postgres/0011_audit_agent.sql")),
    ("0012_audit_patient_span", include_str!("../../migrations/postgres/0012_audit_patient_span.sql")),
];

/// The advisory lock that admits one migrator at a time ("joinery migrate" in ASCII).
const MIGRATION_LOCK: i64 = 0x6a6f_696e_6d69_6772;

pub async fn run(client: Object) -> Result<(), StoreError> {
    // A migration (or waiting for another node's) may take longer than a request's statement timeout.
    client.batch_execute("SET statement_timeout = 0").await.map_err(pg)?;
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK]).await.map_err(pg)?;
    let result = apply(&client).await;
    let reset = client.batch_execute("RESET statement_timeout").await;
    if let Err(e) = reset.and(client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]).await.map(|_| ())) {
        tracing::warn!(error = %e, "could not release the migration lock; it goes with the connection");
        drop(Object::take(client));
    }
    result
}

async fn apply(client: &Object) -> Result<(), StoreError> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version    BIGINT PRIMARY KEY,
                name       TEXT NOT NULL,
                applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
            )",
        )
        .await
        .map_err(pg)?;
    let applied: i64 = client.query_one("SELECT coalesce(max(version), 0) FROM schema_migrations", &[]).await.map_err(pg)?.try_get(0).map_err(pg)?;
    let applied = usize::try_from(applied).map_err(|_| StoreError::Internal("negative schema version".into()))?;
    if applied > MIGRATIONS.len() {
        return Err(StoreError::Unavailable(format!(
            "the database has schema version {applied}, newer than this build knows ({}); upgrade Joinery",
            MIGRATIONS.len()
        )));
    }
    for (i, (name, sql)) in MIGRATIONS.iter().enumerate().skip(applied) {
        let version = (i + 1) as i64;
        client.batch_execute("BEGIN").await.map_err(pg)?;
        let step = async {
            client.batch_execute(sql).await?;
            client.execute("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", &[&version, name]).await?;
            client.batch_execute("COMMIT").await
        };
        if let Err(e) = step.await {
            let _ = client.batch_execute("ROLLBACK").await;
            return Err(pg(e));
        }
        tracing::info!(version, name, "applied migration");
    }
    Ok(())
}
