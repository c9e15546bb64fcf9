//! Risk scores on both backends: a full re-score replaces every person's row in one transaction (keeping
//! each person's tier before it as `previous_tier`) and records the run with its tier cuts; an incremental
//! re-score updates one person's row; both are read back by person and the latest run.

use crate::access::Visibility;
use crate::columns::Columns;
use crate::error::StoreError;
use crate::groups::{self, GroupMember};
use crate::model::Stored;
use crate::postgres::{pg, PgStore};
use crate::sql::{access, Dialect, Fragment, STORED_COLUMNS, STORED_WIDTH};
use crate::sqlite::SqliteStore;
use crate::Store;

/// One full re-score. `run` is numbered by the store when it is recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct RiskRun {
    pub run: i64,
    pub at_ms: i64,
    /// The day scored for (YYYY-MM-DD).
    pub on_day: String,
    pub model_version: String,
    pub people: i64,
    /// The lowest probability in the very high, high and rising tiers.
    pub lowest: [f64; 3],
}

/// One person's scores.
#[derive(Debug, Clone, PartialEq)]
pub struct RiskScore {
    /// The Patient's id.
    pub person: String,
    /// The run whose cuts set the tier.
    pub run: i64,
    pub at_ms: i64,
    pub probability: f64,
    pub tier: String,
    /// The tier before the last full run (kept by the store; ignored when writing).
    pub previous_tier: Option<String>,
    pub segment: Option<i32>,
    pub efi_band: String,
    /// The registered practice's Organization id.
    pub practice: Option<String>,
    /// The day (YYYY-MM-DD) of the person's latest A&E attendance or emergency admission.
    pub last_emergency: Option<String>,
    /// The registers and cohorts the person is in (written with the scores; read back by Group, not here).
    pub groups: Vec<GroupMember>,
}

/// Which people a worklist holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Worklist {
    /// In the very high or high tier, with no active CarePlan.
    TopTiersWithoutCarePlan,
    /// In a higher tier than before the last full re-score.
    TierRose,
    /// With an A&E attendance or emergency admission on or after this day (YYYY-MM-DD).
    RecentEmergency { since: String },
    /// With an active CarePlan whose period (the time until its review) ended before this instant
    /// (milliseconds since 1970).
    ReviewOverdue { before_ms: i64 },
    /// Everyone scored (with a caseload: the coordinator's people by risk).
    ByRisk,
}

/// One page of a worklist: highest probability first (then by id), after a cursor, as the caller may see.
#[derive(Debug, Clone)]
pub struct WorklistQuery {
    pub list: Worklist,
    /// Only people registered with one of these practices (Organization ids).
    pub practices: Option<Vec<String>>,
    /// Only people one of these parties (`Practitioner/x`, `PractitionerRole/x`) is care coordinator for at
    /// `now_ms`: a caseload.
    pub coordinators: Option<Vec<String>>,
    /// Now, for the caseload's relationships (milliseconds since 1970).
    pub now_ms: i64,
    /// Resume after this person: their probability and id.
    pub after: Option<(f64, String)>,
    pub limit: usize,
    pub visibility: Visibility,
}

const RUN_COLUMNS: &str = "run, at_ms, on_day, model_version, people, lowest_very_high, lowest_high, lowest_rising";
const SCORE_COLUMNS: &str = "person_key, run, at_ms, probability, tier, previous_tier, segment, efi_band, practice, last_emergency";

/// Rows written to PostgreSQL in one statement.
const PG_BATCH: usize = 5_000;

impl Store {
    /// Records a full re-score: the run (numbered one more than the last) and every person's scores,
    /// replacing all rows before it (a person no longer scored, for example one who has died, loses theirs),
    /// in one transaction. Answers the run's number.
    pub async fn replace_risk_scores(&self, run: RiskRun, scores: Vec<RiskScore>) -> Result<i64, StoreError> {
        match self {
            Store::Sqlite(s) => s.replace_risk_scores(run, scores).await,
            Store::Postgres(s) => s.replace_risk_scores(run, scores).await,
        }
    }

    /// Writes one person's scores from an incremental re-score (their tier before it stays as it was).
    pub async fn upsert_risk_score(&self, score: RiskScore) -> Result<(), StoreError> {
        let sql = "INSERT INTO risk_score (person_key, run, at_ms, probability, tier, segment, efi_band, practice, last_emergency)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                   ON CONFLICT (person_key) DO UPDATE SET run = excluded.run, at_ms = excluded.at_ms, probability = excluded.probability,
                       tier = excluded.tier, segment = excluded.segment, efi_band = excluded.efi_band, practice = excluded.practice,
                       last_emergency = excluded.last_emergency";
        match self {
            Store::Sqlite(s) => {
                s.admin_write(move |c| {
                    c.execute(
                        sql,
                        rusqlite::params![
                            score.person,
                            score.run,
                            score.at_ms,
                            score.probability,
                            score.tier,
                            score.segment,
                            score.efi_band,
                            score.practice,
                            score.last_emergency
                        ],
                    )?;
                    groups::sqlite_upsert(c, &score.person, score.run, score.at_ms, &score.groups)?;
                    groups::sqlite_remove_others(c, &score.person, &score.groups)
                })
                .await
            }
            Store::Postgres(s) => {
                let mut c = s.ready_client().await?;
                let tx = c.transaction().await.map_err(pg)?;
                tx.execute(
                    sql,
                    &[
                        &score.person,
                        &score.run,
                        &score.at_ms,
                        &score.probability,
                        &score.tier,
                        &score.segment,
                        &score.efi_band,
                        &score.practice,
                        &score.last_emergency,
                    ],
                )
                .await
                .map_err(pg)?;
                groups::pg_upsert(&tx, &[(score.person.as_str(), score.groups.as_slice())], score.run, score.at_ms).await?;
                groups::pg_remove_others(&tx, &score.person, &score.groups).await?;
                tx.commit().await.map_err(pg)
            }
        }
    }

    /// Removes one person's scores and memberships (they have died or left the record).
    pub async fn delete_risk_score(&self, person: &str) -> Result<(), StoreError> {
        let sql = "DELETE FROM risk_score WHERE person_key = $1";
        match self {
            Store::Sqlite(s) => {
                let person = person.to_owned();
                s.admin_write(move |c| {
                    c.execute(sql, [&person])?;
                    groups::sqlite_remove_others(c, &person, &[])
                })
                .await
            }
            Store::Postgres(s) => {
                let mut c = s.ready_client().await?;
                let tx = c.transaction().await.map_err(pg)?;
                tx.execute(sql, &[&person]).await.map_err(pg)?;
                groups::pg_remove_others(&tx, person, &[]).await?;
                tx.commit().await.map_err(pg)
            }
        }
    }

    /// One page of a worklist: each person's current Patient version with their scores.
    pub async fn worklist(&self, q: WorklistQuery) -> Result<Vec<(Stored, RiskScore)>, StoreError> {
        match self {
            Store::Sqlite(s) => {
                let f = worklist_sql(Dialect::Sqlite, &q);
                s.with_reader("worklist", move |c| {
                    let mut st = c.prepare_cached(&f.sql())?;
                    let mut rows = st.query(rusqlite::params_from_iter(crate::sqlite::search::params(&f)))?;
                    let mut out = Vec::new();
                    while let Some(r) = rows.next()? {
                        out.push((crate::sqlite::rows::stored(r)?, score_row(&SqliteRow(r, STORED_WIDTH))?));
                    }
                    Ok(out)
                })
                .await
            }
            Store::Postgres(s) => {
                let f = worklist_sql(Dialect::Postgres, &q);
                let rows = s.query_fragment(&f).await?;
                rows.iter().map(|r| Ok((crate::postgres::rows::stored(r)?, score_row(&PgRow(r, STORED_WIDTH))?))).collect()
            }
        }
    }

    /// Up to `limit` scored people, in id order.
    pub async fn risk_people(&self, limit: usize) -> Result<Vec<String>, StoreError> {
        let sql = format!("SELECT person_key FROM risk_score ORDER BY person_key LIMIT {limit}");
        self.rows(sql, Vec::new(), |r| required(r.text(0)?, "person_key")).await
    }

    /// The latest full re-score, if any has run.
    pub async fn latest_risk_run(&self) -> Result<Option<RiskRun>, StoreError> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM risk_run ORDER BY run DESC LIMIT 1");
        Ok(self.rows(sql, Vec::new(), run_row).await?.pop())
    }

    /// One person's scores, if they have been scored.
    pub async fn risk_score(&self, person: &str) -> Result<Option<RiskScore>, StoreError> {
        let sql = format!("SELECT {SCORE_COLUMNS} FROM risk_score WHERE person_key = $1");
        Ok(self.rows(sql, vec![person.to_owned()], score_row).await?.pop())
    }

    /// Runs a query (`$1`… placeholders, which SQLite reads too) and turns each row into a value.
    async fn rows<T: Send + 'static>(
        &self,
        sql: String,
        args: Vec<String>,
        read: fn(&dyn RowReader) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        match self {
            Store::Sqlite(s) => {
                s.with_reader("risk", move |c| {
                    let mut st = c.prepare(&sql)?;
                    let mut rows = st.query(rusqlite::params_from_iter(args.iter()))?;
                    let mut out = Vec::new();
                    while let Some(r) = rows.next()? {
                        out.push(read(&SqliteRow(r, 0))?);
                    }
                    Ok(out)
                })
                .await
            }
            Store::Postgres(s) => {
                let c = s.ready_client().await?;
                let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = args.iter().map(|a| a as _).collect();
                let rows = c.query(&sql, &params).await.map_err(pg)?;
                rows.iter().map(|r| read(&PgRow(r, 0))).collect()
            }
        }
    }
}

/// A row of either driver, read by position into the few types these tables hold.
trait RowReader {
    fn text(&self, i: usize) -> Result<Option<String>, StoreError>;
    fn int(&self, i: usize) -> Result<Option<i64>, StoreError>;
    fn real(&self, i: usize) -> Result<f64, StoreError>;
}

/// A row and the column its values start at.
struct SqliteRow<'a, 'b>(&'a rusqlite::Row<'b>, usize);
struct PgRow<'a>(&'a tokio_postgres::Row, usize);

impl RowReader for SqliteRow<'_, '_> {
    fn text(&self, i: usize) -> Result<Option<String>, StoreError> {
        Ok(self.0.column(self.1 + i)?)
    }
    fn int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        Ok(self.0.column(self.1 + i)?)
    }
    fn real(&self, i: usize) -> Result<f64, StoreError> {
        Ok(self.0.column(self.1 + i)?)
    }
}

impl RowReader for PgRow<'_> {
    fn text(&self, i: usize) -> Result<Option<String>, StoreError> {
        self.0.column(self.1 + i).map_err(pg)
    }
    fn int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        // `segment` is an INTEGER column; the others BIGINT.
        match self.0.column::<Option<i64>>(self.1 + i) {
            Ok(v) => Ok(v),
            Err(_) => Ok(self.0.column::<Option<i32>>(self.1 + i).map_err(pg)?.map(i64::from)),
        }
    }
    fn real(&self, i: usize) -> Result<f64, StoreError> {
        self.0.column(self.1 + i).map_err(pg)
    }
}

/// A tier's rank (0 the highest) in SQL.
fn tier_rank(column: &str) -> String {
    format!("CASE {column} WHEN 'very-high' THEN 0 WHEN 'high' THEN 1 WHEN 'rising' THEN 2 ELSE 3 END")
}

/// The statement of one worklist page: `STORED_COLUMNS` of the person's Patient, then `SCORE_COLUMNS`.
fn worklist_sql(d: Dialect, q: &WorklistQuery) -> Fragment {
    let mut f = Fragment::new(d);
    let score_columns: Vec<String> = SCORE_COLUMNS.split(", ").map(|c| format!("r.{c}")).collect();
    let outer_columns: Vec<String> = SCORE_COLUMNS.split(", ").map(|c| format!("w.{c}")).collect();
    let join = match d {
        Dialect::Sqlite => "CROSS JOIN",
        Dialect::Postgres => "JOIN",
    };
    let by_person = if d == Dialect::Sqlite { " INDEXED BY resource_current_person" } else { "" };
    // The page is chosen on the scores and the current-version rows (no bodies), then the bodies of its
    // people are read.
    f.push(&format!("SELECT {STORED_COLUMNS}, {} FROM (SELECT {}, c.seq AS current_seq FROM ", outer_columns.join(", "), score_columns.join(", ")));
    // Few people (a caseload, or those with an overdue care plan review) are found first and their scores
    // read by person, then sorted. Otherwise people are read highest risk first, each checked (practice,
    // list, access) as it comes, until the page is full: SQLite, which has no statistics on these tables, is
    // told to take that index and to join each person's Patient after (CROSS JOIN keeps the order). Lists
    // that hold few people are read from an index of just them (recent emergencies by day, then sorted;
    // changed tiers highest risk first).
    let overdue = |f: &mut Fragment, before_ms: i64| {
        f.bind(
            &format!(
                "SELECT DISTINCT cp.person_key FROM search_date sd {join} resource_current cp ON cp.resource_type = 'CarePlan' AND cp.id = sd.id
                 WHERE sd.resource_type = 'CarePlan' AND sd.param = 'date' AND sd.low < ? AND cp.deleted = 0 AND cp.person_key IS NOT NULL
                   AND EXISTS (SELECT 1 FROM search_token st WHERE st.resource_type = 'CarePlan' AND st.param = 'status'
                               AND st.code = 'active' AND st.id = cp.id)"
            ),
            before_ms,
        );
        f.bind(" AND sd.high < ?", before_ms);
    };
    let driven = match (&q.coordinators, &q.list) {
        (Some(parties), _) => {
            f.push("(SELECT DISTINCT ar.person_key FROM access_relation ar WHERE ar.kind = 'coordinator'");
            f.in_list("ar.party", parties);
            f.bind(" AND (ar.start_ms IS NULL OR ar.start_ms <= ?)", q.now_ms);
            f.bind(" AND (ar.until_ms IS NULL OR ar.until_ms > ?))", q.now_ms);
            true
        }
        (None, Worklist::ReviewOverdue { before_ms }) => {
            f.push("(");
            overdue(&mut f, *before_ms);
            f.push(")");
            true
        }
        _ => false,
    };
    if driven {
        f.push(&format!(" dp {join} risk_score r ON r.person_key = dp.person_key"));
    } else if d == Dialect::Sqlite {
        let index = match q.list {
            Worklist::TierRose => "risk_score_changed",
            Worklist::RecentEmergency { .. } => "risk_score_emergency",
            _ => "risk_score_probability",
        };
        f.push(&format!("risk_score r INDEXED BY {index}"));
    } else {
        f.push("risk_score r");
    }
    f.push(&format!(" {join} resource_current c ON c.resource_type = 'Patient' AND c.id = r.person_key WHERE c.deleted = 0"));
    if let Some(practices) = &q.practices {
        f.in_list("r.practice", practices);
    }
    match &q.list {
        // The top tiers are the highest probabilities: the scan stops at the high tier's cut.
        Worklist::TopTiersWithoutCarePlan => f.push(&format!(
            " AND r.tier IN ('very-high', 'high')
              AND r.probability >= (SELECT COALESCE(MIN(lowest_high), 0) FROM risk_run WHERE run = (SELECT MAX(run) FROM risk_run))
              AND NOT EXISTS (SELECT 1 FROM resource_current cp{by_person}
                              WHERE cp.person_key = r.person_key AND cp.resource_type = 'CarePlan' AND cp.deleted = 0
                                AND EXISTS (SELECT 1 FROM search_token st WHERE st.resource_type = 'CarePlan' AND st.param = 'status'
                                            AND st.code = 'active' AND st.id = cp.id))"
        )),
        // The partial index's condition, word for word, then the direction of the change.
        Worklist::TierRose => f.push(&format!(
            " AND r.previous_tier IS NOT NULL AND r.previous_tier <> r.tier AND {} < {}",
            tier_rank("r.tier"),
            tier_rank("r.previous_tier")
        )),
        Worklist::RecentEmergency { since } => f.bind(" AND r.last_emergency IS NOT NULL AND r.last_emergency >= ?", since.as_str()),
        // Found first unless a caseload was.
        Worklist::ReviewOverdue { before_ms } if q.coordinators.is_some() => {
            f.push(" AND r.person_key IN (");
            overdue(&mut f, *before_ms);
            f.push(")");
        }
        Worklist::ReviewOverdue { .. } | Worklist::ByRisk => {}
    }
    if let Some((probability, id)) = &q.after {
        f.bind(" AND (r.probability < ?", *probability);
        f.bind(" OR (r.probability = ?", *probability);
        f.bind(" AND r.person_key > ?))", id.as_str());
    }
    access::visible(&mut f, &q.visibility, "c");
    f.push(&format!(
        " ORDER BY r.probability DESC, r.person_key LIMIT {}) w {join} resource_version v ON v.seq = w.current_seq
         ORDER BY w.probability DESC, w.person_key",
        q.limit
    ));
    f
}

fn required<T>(value: Option<T>, column: &str) -> Result<T, StoreError> {
    value.ok_or_else(|| StoreError::Internal(format!("risk tables: {column} is null").into()))
}

fn run_row(r: &dyn RowReader) -> Result<RiskRun, StoreError> {
    Ok(RiskRun {
        run: required(r.int(0)?, "run")?,
        at_ms: required(r.int(1)?, "at_ms")?,
        on_day: required(r.text(2)?, "on_day")?,
        model_version: required(r.text(3)?, "model_version")?,
        people: required(r.int(4)?, "people")?,
        lowest: [r.real(5)?, r.real(6)?, r.real(7)?],
    })
}

fn score_row(r: &dyn RowReader) -> Result<RiskScore, StoreError> {
    Ok(RiskScore {
        person: required(r.text(0)?, "person_key")?,
        run: required(r.int(1)?, "run")?,
        at_ms: required(r.int(2)?, "at_ms")?,
        probability: r.real(3)?,
        tier: required(r.text(4)?, "tier")?,
        previous_tier: r.text(5)?,
        segment: r.int(6)?.and_then(|s| i32::try_from(s).ok()),
        efi_band: required(r.text(7)?, "efi_band")?,
        practice: r.text(8)?,
        last_emergency: r.text(9)?,
        groups: Vec::new(),
    })
}

impl SqliteStore {
    async fn replace_risk_scores(&self, run: RiskRun, scores: Vec<RiskScore>) -> Result<i64, StoreError> {
        self.admin_write(move |c| {
            let number: i64 = c.query_row("SELECT COALESCE(MAX(run), 0) + 1 FROM risk_run", [], |r| r.get(0))?;
            c.execute(
                &format!("INSERT INTO risk_run ({RUN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
                rusqlite::params![number, run.at_ms, run.on_day, run.model_version, run.people, run.lowest[0], run.lowest[1], run.lowest[2]],
            )?;
            let mut upsert = c.prepare(
                "INSERT INTO risk_score (person_key, run, at_ms, probability, tier, segment, efi_band, practice, last_emergency)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (person_key) DO UPDATE SET previous_tier = risk_score.tier, run = excluded.run, at_ms = excluded.at_ms,
                     probability = excluded.probability, tier = excluded.tier, segment = excluded.segment, efi_band = excluded.efi_band,
                     practice = excluded.practice, last_emergency = excluded.last_emergency",
            )?;
            for s in &scores {
                upsert.execute(rusqlite::params![
                    s.person,
                    number,
                    s.at_ms,
                    s.probability,
                    s.tier,
                    s.segment,
                    s.efi_band,
                    s.practice,
                    s.last_emergency
                ])?;
                groups::sqlite_upsert(c, &s.person, number, run.at_ms, &s.groups)?;
            }
            c.execute("DELETE FROM risk_score WHERE run <> ?", [number])?;
            c.execute("DELETE FROM group_member WHERE run <> ?", [number])?;
            Ok(number)
        })
        .await
    }
}

impl PgStore {
    async fn replace_risk_scores(&self, run: RiskRun, scores: Vec<RiskScore>) -> Result<i64, StoreError> {
        let mut c = self.ready_client().await?;
        let tx = c.transaction().await.map_err(pg)?;
        // One refresh at a time: the run's number and the rows it replaces go together.
        tx.batch_execute("LOCK TABLE risk_run IN EXCLUSIVE MODE").await.map_err(pg)?;
        let number: i64 = tx.query_one("SELECT COALESCE(MAX(run), 0) + 1 FROM risk_run", &[]).await.map_err(pg)?.get(0);
        tx.execute(
            &format!("INSERT INTO risk_run ({RUN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"),
            &[&number, &run.at_ms, &run.on_day, &run.model_version, &run.people, &run.lowest[0], &run.lowest[1], &run.lowest[2]],
        )
        .await
        .map_err(pg)?;
        let upsert = tx
            .prepare(
                "INSERT INTO risk_score (person_key, run, at_ms, probability, tier, segment, efi_band, practice, last_emergency)
                 SELECT p, $2, a, pr, t, s, e, g, l
                 FROM unnest($1::text[], $3::bigint[], $4::float8[], $5::text[], $6::int4[], $7::text[], $8::text[], $9::text[])
                     AS u(p, a, pr, t, s, e, g, l)
                 ON CONFLICT (person_key) DO UPDATE SET previous_tier = risk_score.tier, run = excluded.run, at_ms = excluded.at_ms,
                     probability = excluded.probability, tier = excluded.tier, segment = excluded.segment, efi_band = excluded.efi_band,
                     practice = excluded.practice, last_emergency = excluded.last_emergency",
            )
            .await
            .map_err(pg)?;
        for batch in scores.chunks(PG_BATCH) {
            let persons: Vec<&str> = batch.iter().map(|s| s.person.as_str()).collect();
            let at: Vec<i64> = batch.iter().map(|s| s.at_ms).collect();
            let probabilities: Vec<f64> = batch.iter().map(|s| s.probability).collect();
            let tiers: Vec<&str> = batch.iter().map(|s| s.tier.as_str()).collect();
            let segments: Vec<Option<i32>> = batch.iter().map(|s| s.segment).collect();
            let bands: Vec<&str> = batch.iter().map(|s| s.efi_band.as_str()).collect();
            let practices: Vec<Option<&str>> = batch.iter().map(|s| s.practice.as_deref()).collect();
            let emergencies: Vec<Option<&str>> = batch.iter().map(|s| s.last_emergency.as_deref()).collect();
            tx.execute(&upsert, &[&persons, &number, &at, &probabilities, &tiers, &segments, &bands, &practices, &emergencies]).await.map_err(pg)?;
        }
        tx.execute("DELETE FROM risk_score WHERE run <> $1", &[&number]).await.map_err(pg)?;
        let members: Vec<(&str, &[GroupMember])> = scores.iter().map(|s| (s.person.as_str(), s.groups.as_slice())).collect();
        groups::pg_upsert(&tx, &members, number, run.at_ms).await?;
        tx.execute("DELETE FROM group_member WHERE run <> $1", &[&number]).await.map_err(pg)?;
        tx.commit().await.map_err(pg)?;
        Ok(number)
    }
}
