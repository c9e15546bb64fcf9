//! Members of the registers and eligibility cohorts on both backends, written with the risk scores (a full
//! re-score replaces every membership, keeping since when each person has been a member; an incremental
//! re-score replaces one person's) and read back as a Group's members the caller may see.

use crate::access::Visibility;
use crate::error::StoreError;
use crate::postgres::pg;
use crate::sql::{access, Dialect, Fragment};
use crate::Store;

/// A person's membership of a Group (a register or an eligibility cohort), as a re-score finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    /// The Group's id.
    pub group: String,
    /// The rule or register that admitted them.
    pub reason: String,
    /// The resources that show it.
    pub because: Vec<String>,
    /// The evidence holds an item coded as sensitive: only callers who see everything, and the person
    /// themself, see this membership.
    pub restricted: bool,
}

/// A Group's member as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMemberRow {
    /// The Patient's id.
    pub person: String,
    pub reason: String,
    pub because: Vec<String>,
    /// When a re-score first found them a member (milliseconds since 1970).
    pub since_ms: i64,
}

const UPSERT: &str = "INSERT INTO group_member (group_id, person_key, reason, because, restricted, since_ms, run)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT (group_id, person_key) DO UPDATE SET reason = excluded.reason, because = excluded.because,
        restricted = excluded.restricted, run = excluded.run";

const PG_UPSERT_MANY: &str = "INSERT INTO group_member (group_id, person_key, reason, because, restricted, since_ms, run)
    SELECT g, p, r, b, x, $6, $7 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int2[]) AS u(g, p, r, b, x)
    ON CONFLICT (group_id, person_key) DO UPDATE SET reason = excluded.reason, because = excluded.because,
        restricted = excluded.restricted, run = excluded.run";

/// Writes a person's memberships (SQLite, inside the caller's transaction), stamped with `run`.
pub(crate) fn sqlite_upsert(c: &rusqlite::Connection, person: &str, run: i64, at_ms: i64, groups: &[GroupMember]) -> Result<(), StoreError> {
    let mut st = c.prepare_cached(UPSERT)?;
    for g in groups {
        st.execute(rusqlite::params![g.group, person, g.reason, g.because.join(" "), i64::from(g.restricted), at_ms, run])?;
    }
    Ok(())
}

/// Removes a person's memberships other than `keep` (SQLite, inside the caller's transaction).
pub(crate) fn sqlite_remove_others(c: &rusqlite::Connection, person: &str, keep: &[GroupMember]) -> Result<(), StoreError> {
    let ids = serde_json::to_string(&keep.iter().map(|g| g.group.as_str()).collect::<Vec<_>>()).map_err(|e| StoreError::Internal(Box::new(e)))?;
    c.prepare_cached("DELETE FROM group_member WHERE person_key = ?1 AND group_id NOT IN (SELECT value FROM json_each(?2))")?
        .execute(rusqlite::params![person, ids])?;
    Ok(())
}

/// Writes the memberships of many people (PostgreSQL, inside the caller's transaction), stamped with `run`.
pub(crate) async fn pg_upsert(
    tx: &tokio_postgres::Transaction<'_>,
    people: &[(&str, &[GroupMember])],
    run: i64,
    at_ms: i64,
) -> Result<(), StoreError> {
    let rows: Vec<(&str, &GroupMember)> = people.iter().flat_map(|(p, groups)| groups.iter().map(move |g| (*p, g))).collect();
    if rows.is_empty() {
        return Ok(());
    }
    let st = tx.prepare(PG_UPSERT_MANY).await.map_err(pg)?;
    for batch in rows.chunks(5_000) {
        let groups: Vec<&str> = batch.iter().map(|(_, g)| g.group.as_str()).collect();
        let persons: Vec<&str> = batch.iter().map(|(p, _)| *p).collect();
        let reasons: Vec<&str> = batch.iter().map(|(_, g)| g.reason.as_str()).collect();
        let because: Vec<String> = batch.iter().map(|(_, g)| g.because.join(" ")).collect();
        let restricted: Vec<i16> = batch.iter().map(|(_, g)| i16::from(g.restricted)).collect();
        tx.execute(&st, &[&groups, &persons, &reasons, &because, &restricted, &at_ms, &run]).await.map_err(pg)?;
    }
    Ok(())
}

/// Removes a person's memberships other than `keep` (PostgreSQL, inside the caller's transaction).
pub(crate) async fn pg_remove_others(tx: &tokio_postgres::Transaction<'_>, person: &str, keep: &[GroupMember]) -> Result<(), StoreError> {
    let ids: Vec<&str> = keep.iter().map(|g| g.group.as_str()).collect();
    tx.execute("DELETE FROM group_member WHERE person_key = $1 AND NOT (group_id = ANY($2::text[]))", &[&person, &ids]).await.map_err(pg)?;
    Ok(())
}

impl Store {
    /// The members of a Group that the caller may see (their current Patient visible to them; a membership
    /// whose evidence is sensitive only to callers who see everything and to the person themself), in id
    /// order.
    pub async fn group_members(&self, group: &str, visibility: &Visibility) -> Result<Vec<GroupMemberRow>, StoreError> {
        let build = |d: Dialect| {
            let mut f = Fragment::new(d);
            f.bind(
                "SELECT g.person_key, g.reason, g.because, g.since_ms FROM group_member g
                 JOIN resource_current c ON c.resource_type = 'Patient' AND c.id = g.person_key
                 WHERE g.group_id = ? AND c.deleted = 0",
                group,
            );
            if !matches!(visibility, Visibility::All | Visibility::Person { restricted: true, .. }) {
                f.push(" AND g.restricted = 0");
            }
            access::visible(&mut f, visibility, "c");
            f.push(" ORDER BY g.person_key");
            f
        };
        let row = |person: String, reason: String, because: String, since_ms: i64| GroupMemberRow {
            person,
            reason,
            because: because.split(' ').filter(|b| !b.is_empty()).map(str::to_owned).collect(),
            since_ms,
        };
        match self {
            Store::Sqlite(s) => {
                let f = build(Dialect::Sqlite);
                s.with_reader("group members", move |c| {
                    let mut st = c.prepare_cached(&f.sql())?;
                    let mut rows = st.query(rusqlite::params_from_iter(crate::sqlite::search::params(&f)))?;
                    let mut out = Vec::new();
                    while let Some(r) = rows.next()? {
                        out.push(row(r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?));
                    }
                    Ok(out)
                })
                .await
            }
            Store::Postgres(s) => {
                let rows = s.query_fragment(&build(Dialect::Postgres)).await?;
                rows.iter()
                    .map(|r| Ok(row(r.try_get(0).map_err(pg)?, r.try_get(1).map_err(pg)?, r.try_get(2).map_err(pg)?, r.try_get(3).map_err(pg)?)))
                    .collect()
            }
        }
    }

    /// How many members each Group has (every member, for reports by the system), by id.
    pub async fn group_sizes(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let sql = "SELECT group_id, COUNT(*) FROM group_member GROUP BY group_id ORDER BY group_id";
        match self {
            Store::Sqlite(s) => {
                s.with_reader("group sizes", move |c| {
                    let mut st = c.prepare(sql)?;
                    let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                    Ok(rows.collect::<Result<Vec<_>, _>>()?)
                })
                .await
            }
            Store::Postgres(s) => {
                let rows = s.ready_client().await?.query(sql, &[]).await.map_err(pg)?;
                rows.iter().map(|r| Ok((r.try_get(0).map_err(pg)?, r.try_get(1).map_err(pg)?))).collect()
            }
        }
    }
}
