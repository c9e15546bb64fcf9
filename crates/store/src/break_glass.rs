//! Break-glass grants on both backends: recorded with the relationship that lets the access condition of
//! every query honour them for their window, listed by person and for review, and reviewed once.

use crate::columns::Columns;
use crate::error::StoreError;
use crate::postgres::{pg, PgStore};
use crate::sqlite::SqliteStore;
use crate::Store;

/// One grant as stored. `party` is who it is to (`PractitionerRole/x`, or `Practitioner/x`); the moments
/// are milliseconds since 1970, the window `[from_ms, until_ms)`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BreakGlassGrant {
    pub id: String,
    pub patient: String,
    pub username: String,
    pub party: String,
    pub organisation: String,
    pub role: String,
    pub reason: String,
    /// `system|code` of the coded reason, if one was given, and its display.
    pub reason_code: Option<String>,
    pub reason_display: Option<String>,
    pub from_ms: i64,
    pub until_ms: i64,
    pub review: Option<BreakGlassReview>,
}

/// A privacy officer's review of a grant.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BreakGlassReview {
    pub at_ms: i64,
    pub reviewer: String,
    pub outcome: String,
    pub note: Option<String>,
}

/// Which grants a listing returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantFilter {
    /// Not yet reviewed.
    Open,
    /// Reviewed.
    Reviewed,
    All,
}

const COLUMNS: &str = "id, person_key, username, party, organisation, role, reason, reason_code, reason_display, from_ms, until_ms, \
                       reviewed_ms, reviewer, review_outcome, review_note";

impl GrantFilter {
    fn condition(self) -> &'static str {
        match self {
            GrantFilter::Open => "reviewed_ms IS NULL",
            GrantFilter::Reviewed => "reviewed_ms IS NOT NULL",
            GrantFilter::All => "1 = 1",
        }
    }
}

impl Store {
    /// Records a grant and, in the same transaction, the relationship that makes it count in every query.
    pub async fn add_break_glass(&self, grant: BreakGlassGrant) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.add_break_glass(grant).await,
            Store::Postgres(s) => s.add_break_glass(grant).await,
        }
    }

    /// The grants made for one person, oldest first.
    pub async fn break_glass_for(&self, patient: &str) -> Result<Vec<BreakGlassGrant>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM break_glass WHERE person_key = $1 ORDER BY from_ms, id");
        self.grants(sql, vec![patient.to_owned()]).await
    }

    /// One grant by its id.
    pub async fn break_glass_grant(&self, id: &str) -> Result<Option<BreakGlassGrant>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM break_glass WHERE id = $1");
        Ok(self.grants(sql, vec![id.to_owned()]).await?.pop())
    }

    /// Up to `limit` grants the filter selects, oldest first (by the window's start, then id), after
    /// `after` (a grant's start and id) if given: keyset pages.
    pub async fn break_glass_list(
        &self,
        filter: GrantFilter,
        after: Option<(i64, String)>,
        limit: usize,
    ) -> Result<Vec<BreakGlassGrant>, StoreError> {
        let (resume, args) = match after {
            Some((from_ms, id)) => (format!(" AND (from_ms > {from_ms} OR (from_ms = {from_ms} AND id > $1))"), vec![id]),
            None => (String::new(), Vec::new()),
        };
        let sql = format!("SELECT {COLUMNS} FROM break_glass WHERE {}{resume} ORDER BY from_ms, id LIMIT {limit}", filter.condition());
        self.grants(sql, args).await
    }

    /// Records the review of a grant: `Ok(true)` if it was open, `Ok(false)` if it had been reviewed already
    /// (the first review stands), `NotFound` if there is no such grant.
    pub async fn review_break_glass(&self, id: &str, review: BreakGlassReview) -> Result<bool, StoreError> {
        let reviewed = match self {
            Store::Sqlite(s) => s.review_break_glass(id.to_owned(), review).await?,
            Store::Postgres(s) => s.review_break_glass(id, review).await?,
        };
        if reviewed {
            return Ok(true);
        }
        match self.break_glass_grant(id).await? {
            Some(_) => Ok(false),
            None => Err(StoreError::NotFound(format!("there is no break-glass grant {id}"))),
        }
    }

    /// Runs a listing (`$1`… placeholders, which SQLite reads too).
    async fn grants(&self, sql: String, args: Vec<String>) -> Result<Vec<BreakGlassGrant>, StoreError> {
        match self {
            Store::Sqlite(s) => {
                s.with_reader("break_glass", move |c| {
                    let mut st = c.prepare(&sql)?;
                    let rows = st.query_map(rusqlite::params_from_iter(args.iter()), |r| grant(r))?;
                    Ok(rows.collect::<Result<Vec<_>, _>>()?)
                })
                .await
            }
            Store::Postgres(s) => {
                let c = s.ready_client().await?;
                let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = args.iter().map(|a| a as _).collect();
                let rows = c.query(&sql, &params).await.map_err(pg)?;
                rows.iter().map(grant).collect::<Result<Vec<_>, _>>().map_err(pg)
            }
        }
    }
}

/// A grant from a row of `COLUMNS`.
fn grant<R: Columns>(r: &R) -> Result<BreakGlassGrant, R::Error> {
    let reviewed: Option<i64> = r.column(11)?;
    Ok(BreakGlassGrant {
        id: r.column(0)?,
        patient: r.column(1)?,
        username: r.column(2)?,
        party: r.column(3)?,
        organisation: r.column(4)?,
        role: r.column(5)?,
        reason: r.column(6)?,
        reason_code: r.column(7)?,
        reason_display: r.column(8)?,
        from_ms: r.column(9)?,
        until_ms: r.column(10)?,
        review: match reviewed {
            Some(at_ms) => Some(BreakGlassReview {
                at_ms,
                reviewer: r.column::<Option<String>>(12)?.unwrap_or_default(),
                outcome: r.column::<Option<String>>(13)?.unwrap_or_default(),
                note: r.column(14)?,
            }),
            None => None,
        },
    })
}

impl SqliteStore {
    async fn add_break_glass(&self, g: BreakGlassGrant) -> Result<(), StoreError> {
        self.admin_write(move |c| {
            c.execute(
                "INSERT INTO break_glass (id, person_key, username, party, organisation, role, reason, reason_code, reason_display, from_ms, until_ms)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rusqlite::params![
                    g.id,
                    g.patient,
                    g.username,
                    g.party,
                    g.organisation,
                    g.role,
                    g.reason,
                    g.reason_code,
                    g.reason_display,
                    g.from_ms,
                    g.until_ms
                ],
            )?;
            c.execute(
                "INSERT INTO access_relation (resource_type, id, n, person_key, party, kind, start_ms, until_ms)
                 VALUES ('BreakGlass', ?, 0, ?, ?, 'break-glass', ?, ?)",
                rusqlite::params![g.id, g.patient, g.party, g.from_ms, g.until_ms],
            )?;
            Ok(())
        })
        .await
    }

    async fn review_break_glass(&self, id: String, r: BreakGlassReview) -> Result<bool, StoreError> {
        self.admin_write(move |c| {
            Ok(c.execute(
                "UPDATE break_glass SET reviewed_ms = ?, reviewer = ?, review_outcome = ?, review_note = ? WHERE id = ? AND reviewed_ms IS NULL",
                rusqlite::params![r.at_ms, r.reviewer, r.outcome, r.note, id],
            )? > 0)
        })
        .await
    }
}

impl PgStore {
    async fn add_break_glass(&self, g: BreakGlassGrant) -> Result<(), StoreError> {
        let c = self.ready_client().await?;
        // One statement, so one transaction: the grant and its relationship together.
        c.execute(
            "WITH grant_row AS (
                 INSERT INTO break_glass (id, person_key, username, party, organisation, role, reason, reason_code, reason_display, from_ms, until_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id)
             INSERT INTO access_relation (resource_type, id, n, person_key, party, kind, start_ms, until_ms)
             SELECT 'BreakGlass', id, 0, $2, $4, 'break-glass', $10, $11 FROM grant_row",
            &[
                &g.id,
                &g.patient,
                &g.username,
                &g.party,
                &g.organisation,
                &g.role,
                &g.reason,
                &g.reason_code,
                &g.reason_display,
                &g.from_ms,
                &g.until_ms,
            ],
        )
        .await
        .map_err(pg)?;
        Ok(())
    }

    async fn review_break_glass(&self, id: &str, r: BreakGlassReview) -> Result<bool, StoreError> {
        let c = self.ready_client().await?;
        let n = c
            .execute(
                "UPDATE break_glass SET reviewed_ms = $1, reviewer = $2, review_outcome = $3, review_note = $4 WHERE id = $5 AND reviewed_ms IS NULL",
                &[&r.at_ms, &r.reviewer, &r.outcome, &r.note, &id],
            )
            .await
            .map_err(pg)?;
        Ok(n > 0)
    }
}
