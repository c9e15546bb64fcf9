//! The audit log on both backends: events appended in batches to one hash chain (`care::audit::link`), read
//! back in chain order for verification. On SQLite it is a file of its own beside the record; on PostgreSQL
//! tables of the same database, whose head row every appender locks.

use crate::error::StoreError;
use crate::postgres::{pg, PgStore};
use crate::sqlite::SqliteStore;
use crate::Store;
use care::audit::{link, Hash};

/// One event to append: its body (the event as the application wrote it, which the chain covers) and what
/// it says, repeated for searching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub at_ms: i64,
    pub username: Option<String>,
    pub organisation: Option<String>,
    /// The HTTP status (or an exit status of a command).
    pub outcome: i64,
    /// The people whose records the request touched (`Patient` ids).
    pub patients: Vec<String>,
    pub body: String,
}

/// An appended event: its place in the chain and the hash stored with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub seq: i64,
    pub record: AuditRecord,
    pub hash: Vec<u8>,
}

impl Store {
    /// Appends `records` in order, as one transaction, extending the chain; returns the last sequence number.
    /// Nothing is appended if it fails.
    pub async fn append_audit(&self, records: Vec<AuditRecord>) -> Result<i64, StoreError> {
        if records.is_empty() {
            return Err(StoreError::Internal("invariant: an audit append has events".into()));
        }
        let started = std::time::Instant::now();
        let appended = match self {
            Store::Sqlite(s) => s.append_audit(records).await,
            Store::Postgres(s) => s.append_audit(records).await,
        };
        // What an operator watches of the log: how long an append takes (and, recorded by each backend,
        // `joinery_audit_write_events`: how many events share one transaction).
        metrics::histogram!("joinery_audit_append_seconds").record(started.elapsed().as_secs_f64());
        appended
    }

    /// Whether concurrent appends are gathered into one transaction by the store itself (SQLite: the append
    /// that finds the appender idle writes every event waiting), so that callers need not gather them first.
    pub fn gathers_audit_appends(&self) -> bool {
        matches!(self, Store::Sqlite(_))
    }

    /// Up to `limit` events after `after`, in chain order, each with the patients it lists.
    pub async fn audit_entries(&self, after: i64, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        self.audit_search(AuditQuery { after: Some(after), limit, ..AuditQuery::default() }).await
    }

    /// The events a query selects, in chain order or newest first. By patient (or else by agent): that index
    /// up to its mark, and a scan of the events after it (newer than any indexed), so that what the
    /// background indexer has not reached yet is found too.
    pub async fn audit_search(&self, query: AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        let by = match (&query.patient, &query.username) {
            (Some(_), _) => AuditIndex::Patient,
            (None, Some(_)) => AuditIndex::Agent,
            (None, None) => return self.audit_part(Part::Scan, &query).await,
        };
        let mark = self.audit_mark().await?;
        let (first, second) =
            if query.newest_first { (Part::Tail(mark), Part::Indexed(mark, by)) } else { (Part::Indexed(mark, by), Part::Tail(mark)) };
        let mut out = self.audit_part(first, &query).await?;
        if out.len() < query.limit {
            let rest = AuditQuery { limit: query.limit - out.len(), ..query };
            out.extend(self.audit_part(second, &rest).await?);
        }
        Ok(out)
    }

    async fn audit_part(&self, part: Part, query: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        match self {
            Store::Sqlite(s) => s.audit_query(query.sql(part, "instr")).await,
            Store::Postgres(s) => s.audit_query(query.sql(part, "strpos")).await,
        }
    }

    /// The last event the index by patient holds.
    pub async fn audit_mark(&self) -> Result<i64, StoreError> {
        match self {
            Store::Sqlite(s) => s.with_audit(|c| Ok(c.query_row("SELECT seq FROM audit_indexed WHERE one = 1", [], |r| r.get(0))?)).await,
            Store::Postgres(s) => {
                let c = s.ready_client().await?;
                c.query_one("SELECT seq FROM audit_indexed WHERE one = 1", &[]).await.map_err(pg)?.try_get(0).map_err(pg)
            }
        }
    }

    /// Rows of an index of the log (by patient, or by user) for events up to `through`, in (key, seq) order
    /// after `after`.
    pub async fn audit_index_page(
        &self,
        by: AuditIndex,
        after: Option<(String, i64)>,
        through: i64,
        limit: usize,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let (key, seq) = after.unwrap_or_default();
        let first = key.is_empty();
        // In each index's own order, so that a page is read from the index, never sorted: the index by patient
        // is keyed by the event's span first, which follows from the event. (SQLite numbers `$n` parameters in
        // the order they first appear, so each statement names them in order.)
        let by_span = by == AuditIndex::Patient;
        let sql = if by_span {
            "SELECT patient, seq FROM audit_patient WHERE seq <= $1 AND ($2 OR (span, patient, seq) > ($3, $4, $5)) \
             ORDER BY span, patient, seq LIMIT $6"
        } else {
            "SELECT username, seq FROM audit_agent WHERE seq <= $1 AND ($2 OR username > $3 OR (username = $3 AND seq > $4)) \
             ORDER BY username, seq LIMIT $5"
        };
        let cursor_span = span(seq);
        match self {
            Store::Sqlite(s) => {
                s.with_audit(move |c| {
                    let mut st = c.prepare_cached(sql)?;
                    let row = |r: &rusqlite::Row<'_>| Ok((r.get(0)?, r.get(1)?));
                    let rows = if by_span {
                        st.query_map(rusqlite::params![through, first, cursor_span, key, seq, limit], row)?.collect::<Result<Vec<_>, _>>()
                    } else {
                        st.query_map(rusqlite::params![through, first, key, seq, limit], row)?.collect::<Result<Vec<_>, _>>()
                    };
                    Ok(rows?)
                })
                .await
            }
            Store::Postgres(s) => {
                let c = s.ready_client().await?;
                let rows = if by_span {
                    c.query(sql, &[&through, &first, &cursor_span, &key, &seq, &limit]).await
                } else {
                    c.query(sql, &[&through, &first, &key, &seq, &limit]).await
                }
                .map_err(pg)?;
                rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect::<Result<Vec<_>, tokio_postgres::Error>>().map_err(pg)
            }
        }
    }

    /// Adds up to `max` events after the mark to the index by patient, in one transaction; returns how many.
    /// Several indexers (processes on one database) take turns.
    pub async fn index_audit(&self, max: usize) -> Result<usize, StoreError> {
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        match self {
            // Through the appender, which writes nothing else meanwhile.
            Store::Sqlite(s) => {
                s.audit_appender()
                    .await?
                    .exclusive(move |c| {
                        let tx = rusqlite::Transaction::new_unchecked(c, rusqlite::TransactionBehavior::Immediate)?;
                        let mark: i64 = tx.query_row("SELECT seq FROM audit_indexed WHERE one = 1", [], |r| r.get(0))?;
                        let events: Vec<(i64, String, Option<String>)> = {
                            let mut st = tx.prepare_cached("SELECT seq, patients, username FROM audit_event WHERE seq > ?1 ORDER BY seq LIMIT ?2")?;
                            let rows = st.query_map(rusqlite::params![mark, max], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                            rows.collect::<Result<_, _>>()?
                        };
                        let Some(last) = events.last().map(|(seq, _, _)| *seq) else { return Ok(0) };
                        {
                            let mut insert = tx.prepare_cached("INSERT OR IGNORE INTO audit_patient (span, patient, seq) VALUES (?1, ?2, ?3)")?;
                            for (span, patient, seq) in by_patient(&events) {
                                insert.execute(rusqlite::params![span, patient, seq])?;
                            }
                            let mut insert = tx.prepare_cached("INSERT OR IGNORE INTO audit_agent (username, seq) VALUES (?1, ?2)")?;
                            for (username, seq) in by_agent(&events) {
                                insert.execute(rusqlite::params![username, seq])?;
                            }
                        }
                        tx.execute("UPDATE audit_indexed SET seq = ?1 WHERE one = 1", [last])?;
                        tx.commit()?;
                        Ok(events.len())
                    })
                    .await
            }
            Store::Postgres(s) => {
                let mut c = s.ready_client().await?;
                let tx = c.transaction().await.map_err(pg)?;
                let mark: i64 =
                    tx.query_one("SELECT seq FROM audit_indexed WHERE one = 1 FOR UPDATE", &[]).await.map_err(pg)?.try_get(0).map_err(pg)?;
                let rows = tx
                    .query("SELECT seq, patients, username FROM audit_event WHERE seq > $1 ORDER BY seq LIMIT $2", &[&mark, &max])
                    .await
                    .map_err(pg)?;
                let events = rows
                    .iter()
                    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
                    .collect::<Result<Vec<(i64, String, Option<String>)>, tokio_postgres::Error>>()
                    .map_err(pg)?;
                let Some(last) = events.last().map(|(seq, _, _)| *seq) else { return Ok(0) };
                let (mut spans, mut patients, mut seqs) = (Vec::new(), Vec::new(), Vec::new());
                for (span, patient, seq) in by_patient(&events) {
                    spans.push(span);
                    patients.push(patient);
                    seqs.push(seq);
                }
                tx.execute(
                    "INSERT INTO audit_patient (span, patient, seq) SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[]) ON CONFLICT DO NOTHING",
                    &[&spans, &patients, &seqs],
                )
                .await
                .map_err(pg)?;
                let (users, seqs): (Vec<&str>, Vec<i64>) = by_agent(&events).into_iter().unzip();
                tx.execute(
                    "INSERT INTO audit_agent (username, seq) SELECT * FROM unnest($1::text[], $2::bigint[]) ON CONFLICT DO NOTHING",
                    &[&users, &seqs],
                )
                .await
                .map_err(pg)?;
                tx.execute("UPDATE audit_indexed SET seq = $1 WHERE one = 1", &[&last]).await.map_err(pg)?;
                tx.commit().await.map_err(pg)?;
                Ok(events.len())
            }
        }
    }
}

/// Each span of the index by patient holds 2^SPAN_BITS events: its first key is `seq >> SPAN_BITS`, so that the
/// indexer's inserts fall in the newest span's part of the index (the migrations that made the column,
/// sqlite-audit/0004 and postgres/0012, say `>> 16` too).
const SPAN_BITS: u32 = 16;

/// The span an event falls in.
fn span(seq: i64) -> i64 {
    seq >> SPAN_BITS
}

/// The spans a search by patient looks in, for the events up to `mark`, as SQL integers.
fn spans_through(mark: i64) -> String {
    (0..=span(mark.max(0))).map(|s| s.to_string()).collect::<Vec<_>>().join(", ")
}

/// The index rows of some events, in the index's order (span, patient, event), so that an insert touches
/// each page of the index once.
fn by_patient(events: &[(i64, String, Option<String>)]) -> Vec<(i64, &str, i64)> {
    let mut rows: Vec<(i64, &str, i64)> =
        events.iter().flat_map(|(seq, patients, _)| patients.split_whitespace().map(move |p| (span(*seq), p, *seq))).collect();
    rows.sort_unstable();
    rows
}

/// The rows of the index by user of some events (those made with a valid token), sorted by user.
fn by_agent(events: &[(i64, String, Option<String>)]) -> Vec<(&str, i64)> {
    let mut rows: Vec<(&str, i64)> = events.iter().filter_map(|(seq, _, user)| Some((user.as_deref()?, *seq))).collect();
    rows.sort_unstable();
    rows
}

/// Which events a statement reads: all of them, those after the index's mark, or the index up to it.
#[derive(Debug, Clone, Copy)]
enum Part {
    Scan,
    Tail(i64),
    Indexed(i64, AuditIndex),
}

/// The indexes of the audit log the background task keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditIndex {
    Patient,
    Agent,
}

/// Which events to read: every condition given holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Events after this sequence number.
    pub after: Option<i64>,
    /// Events before this sequence number.
    pub before: Option<i64>,
    /// Newest first (otherwise in chain order).
    pub newest_first: bool,
    /// Events that list this person (a `Patient` id).
    pub patient: Option<String>,
    pub username: Option<String>,
    pub organisation: Option<String>,
    /// Outcomes (HTTP or exit statuses) in any of these ranges, each from the first, inclusive, to the
    /// second, exclusive; empty: any outcome.
    pub outcomes: Vec<(i64, i64)>,
    /// Recorded at or after (ms).
    pub from_ms: Option<i64>,
    /// Recorded before (ms).
    pub until_ms: Option<i64>,
    pub limit: usize,
}

enum Arg {
    Int(i64),
    Text(String),
}

impl AuditQuery {
    /// The statement for one part, with `$n` placeholders (which SQLite reads too), for a dialect's substring
    /// function.
    fn sql(&self, part: Part, position: &str) -> (String, Vec<Arg>) {
        let mut sql = String::from("SELECT e.seq, e.at_ms, e.username, e.organisation, e.outcome, e.patients, e.body, e.hash FROM ");
        let mut args = Vec::new();
        let mut add = |sql: &mut String, condition: &str, arg: Arg| {
            args.push(arg);
            sql.push_str(&condition.replace('#', &format!("${}", args.len())));
        };
        let seq = match part {
            Part::Indexed(mark, AuditIndex::Patient) => {
                // The person looked up in each span: one seek each.
                sql.push_str(&format!("audit_patient p JOIN audit_event e ON e.seq = p.seq WHERE p.span IN ({})", spans_through(mark)));
                add(&mut sql, " AND p.patient = #", Arg::Text(self.patient.clone().unwrap_or_default()));
                add(&mut sql, " AND p.seq <= #", Arg::Int(mark));
                "p.seq"
            }
            Part::Indexed(mark, AuditIndex::Agent) => {
                sql.push_str("audit_agent p JOIN audit_event e ON e.seq = p.seq WHERE 1 = 1");
                add(&mut sql, " AND p.username = #", Arg::Text(self.username.clone().unwrap_or_default()));
                add(&mut sql, " AND p.seq <= #", Arg::Int(mark));
                "p.seq"
            }
            Part::Tail(mark) => {
                sql.push_str("audit_event e WHERE 1 = 1");
                add(&mut sql, " AND e.seq > #", Arg::Int(mark));
                "e.seq"
            }
            Part::Scan => {
                sql.push_str("audit_event e WHERE 1 = 1");
                "e.seq"
            }
        };
        if let Some(a) = self.after {
            add(&mut sql, &format!(" AND {seq} > #"), Arg::Int(a));
        }
        if let Some(b) = self.before {
            add(&mut sql, &format!(" AND {seq} < #"), Arg::Int(b));
        }
        if let (Some(p), Part::Tail(_) | Part::Scan) = (&self.patient, part) {
            add(&mut sql, &format!(" AND {position}(' ' || e.patients || ' ', #) > 0"), Arg::Text(format!(" {p} ")));
        }
        if let Some(u) = &self.username {
            add(&mut sql, " AND e.username = #", Arg::Text(u.clone()));
        }
        if let Some(o) = &self.organisation {
            add(&mut sql, " AND e.organisation = #", Arg::Text(o.clone()));
        }
        if !self.outcomes.is_empty() {
            sql.push_str(" AND (1 = 0");
            for (lo, hi) in &self.outcomes {
                add(&mut sql, " OR (e.outcome >= CAST(# AS BIGINT)", Arg::Int(*lo));
                add(&mut sql, " AND e.outcome < CAST(# AS BIGINT))", Arg::Int(*hi));
            }
            sql.push(')');
        }
        if let Some(t) = self.from_ms {
            add(&mut sql, " AND e.at_ms >= #", Arg::Int(t));
        }
        if let Some(t) = self.until_ms {
            add(&mut sql, " AND e.at_ms < #", Arg::Int(t));
        }
        sql.push_str(&format!(" ORDER BY {seq}{}", if self.newest_first { " DESC" } else { "" }));
        sql.push_str(&format!(" LIMIT {}", i64::try_from(self.limit).unwrap_or(i64::MAX)));
        (sql, args)
    }
}

/// The hashes of `records` following `(seq, previous)`: (seq, hash) for each.
pub(crate) fn chain(mut seq: i64, mut previous: Hash, records: &[AuditRecord]) -> Result<Vec<(i64, Hash)>, StoreError> {
    let mut out = Vec::with_capacity(records.len());
    for r in records {
        seq += 1;
        let n = u64::try_from(seq).map_err(|_| StoreError::Internal("invariant: audit sequence numbers are positive".into()))?;
        previous = link(&previous, n, r.body.as_bytes());
        out.push((seq, previous));
    }
    Ok(out)
}

fn as_hash(bytes: &[u8]) -> Result<Hash, StoreError> {
    bytes.try_into().map_err(|_| StoreError::Internal(format!("an audit hash of {} bytes, not 32", bytes.len()).into()))
}

/// The patients column: ids separated by spaces (FHIR ids have none).
fn split(patients: &str) -> Vec<String> {
    patients.split_whitespace().map(str::to_owned).collect()
}

/// Events as the columns of `audit_event`, one array each, for an insert from `unnest`.
struct EventColumns {
    seqs: Vec<i64>,
    at: Vec<i64>,
    users: Vec<Option<String>>,
    orgs: Vec<Option<String>>,
    outcomes: Vec<i32>,
    patients: Vec<String>,
    bodies: Vec<String>,
    hashes: Vec<Vec<u8>>,
}

impl EventColumns {
    fn of(records: &[AuditRecord], links: &[(i64, Hash)]) -> EventColumns {
        let n = records.len();
        let mut c = EventColumns {
            seqs: Vec::with_capacity(n),
            at: Vec::with_capacity(n),
            users: Vec::with_capacity(n),
            orgs: Vec::with_capacity(n),
            outcomes: Vec::with_capacity(n),
            patients: Vec::with_capacity(n),
            bodies: Vec::with_capacity(n),
            hashes: Vec::with_capacity(n),
        };
        for (r, (seq, hash)) in records.iter().zip(links) {
            c.seqs.push(*seq);
            c.at.push(r.at_ms);
            c.users.push(r.username.clone());
            c.orgs.push(r.organisation.clone());
            c.outcomes.push(i32::try_from(r.outcome).unwrap_or(i32::MAX));
            c.patients.push(r.patients.join(" "));
            c.bodies.push(r.body.clone());
            c.hashes.push(hash.to_vec());
        }
        c
    }

    /// The arrays as parameters $1 to $8.
    fn params(&self) -> Vec<&(dyn tokio_postgres::types::ToSql + Sync)> {
        vec![&self.seqs, &self.at, &self.users, &self.orgs, &self.outcomes, &self.patients, &self.bodies, &self.hashes]
    }
}

impl SqliteStore {
    async fn append_audit(&self, records: Vec<AuditRecord>) -> Result<i64, StoreError> {
        self.audit_appender().await?.append(records).await
    }

    async fn audit_query(&self, (sql, args): (String, Vec<Arg>)) -> Result<Vec<AuditEntry>, StoreError> {
        self.with_audit(move |c| {
            let mut entries = Vec::new();
            let mut st = c.prepare_cached(&sql)?;
            let values = args.iter().map(|a| match a {
                Arg::Int(i) => rusqlite::types::Value::Integer(*i),
                Arg::Text(t) => rusqlite::types::Value::Text(t.clone()),
            });
            let rows = st.query_map(rusqlite::params_from_iter(values), |r| {
                Ok(AuditEntry {
                    seq: r.get(0)?,
                    record: AuditRecord {
                        at_ms: r.get(1)?,
                        username: r.get(2)?,
                        organisation: r.get(3)?,
                        outcome: r.get(4)?,
                        patients: split(&r.get::<_, String>(5)?),
                        body: r.get(6)?,
                    },
                    hash: r.get(7)?,
                })
            })?;
            for row in rows {
                entries.push(row?);
            }
            Ok(entries)
        })
        .await
    }
}

impl PgStore {
    /// Appends in one statement naming the head this process last wrote (one round trip: the head's update
    /// and the events' insert together, committed alone); when the database's head is elsewhere (another
    /// node or process appended since, or nothing is remembered), in a transaction that locks the head row.
    /// Measured before the one-statement path: an append took four round trips, and audited reads by id on
    /// PostgreSQL kept about half the throughput of unaudited ones.
    async fn append_audit(&self, records: Vec<AuditRecord>) -> Result<i64, StoreError> {
        metrics::histogram!("joinery_audit_write_events").record(records.len() as f64);
        let mut c = self.audit_client().await?;
        if let Some((seq, previous)) = self.remembered_audit_head() {
            let links = chain(seq, previous, &records)?;
            let columns = EventColumns::of(&records, &links);
            let (last, last_hash) = links.last().map_or((seq, previous.to_vec()), |(s, h)| (*s, h.to_vec()));
            let previous = previous.to_vec();
            let append = c
                .prepare_cached(
                    "WITH moved AS (UPDATE audit_head SET seq = $9, hash = $10 WHERE one = 1 AND seq = $11 AND hash = $12 RETURNING one)
                     INSERT INTO audit_event (seq, at_ms, username, organisation, outcome, patients, body, hash)
                     SELECT e.* FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::int[], $6::text[], $7::text[], $8::bytea[]) AS e
                     WHERE EXISTS (SELECT 1 FROM moved)",
                )
                .await
                .map_err(pg)?;
            let mut params = columns.params();
            params.extend([&last as &(dyn tokio_postgres::types::ToSql + Sync), &last_hash, &seq, &previous]);
            let inserted = c.execute(&append, &params).await.map_err(pg)?;
            if inserted == records.len() as u64 {
                self.remember_audit_head(links.last().copied());
                return Ok(last);
            }
            if inserted != 0 {
                return Err(StoreError::Internal(format!("an audit append inserted {inserted} of {} events", records.len()).into()));
            }
        }
        let tx = c.transaction().await.map_err(pg)?;
        let (read_head, insert, update) = tokio::try_join!(
            tx.prepare_cached("SELECT seq, hash FROM audit_head WHERE one = 1 FOR UPDATE"),
            tx.prepare_cached(
                "INSERT INTO audit_event (seq, at_ms, username, organisation, outcome, patients, body, hash)
                 SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::int[], $6::text[], $7::text[], $8::bytea[])"
            ),
            tx.prepare_cached("UPDATE audit_head SET seq = $1, hash = $2 WHERE one = 1"),
        )
        .map_err(pg)?;
        // The head row is the chain's lock: every appender of every node extends it in turn.
        let head = tx.query_one(&read_head, &[]).await.map_err(pg)?;
        let seq: i64 = head.try_get(0).map_err(pg)?;
        let previous = as_hash(&head.try_get::<_, Vec<u8>>(1).map_err(pg)?)?;
        let links = chain(seq, previous, &records)?;
        let columns = EventColumns::of(&records, &links);
        let (last, last_hash) = links.last().map_or((seq, previous), |(s, h)| (*s, *h));
        let last_hash = last_hash.to_vec();
        let head_params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&last, &last_hash];
        let event_params = columns.params();
        tokio::try_join!(tx.execute(&insert, &event_params), tx.execute(&update, &head_params)).map_err(pg)?;
        tx.commit().await.map_err(pg)?;
        self.remember_audit_head(links.last().copied());
        Ok(last)
    }

    async fn audit_query(&self, (sql, args): (String, Vec<Arg>)) -> Result<Vec<AuditEntry>, StoreError> {
        let c = self.ready_client().await?;
        let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = args
            .iter()
            .map(|a| match a {
                Arg::Int(i) => i as &(dyn tokio_postgres::types::ToSql + Sync),
                Arg::Text(t) => t as _,
            })
            .collect();
        let rows = c.query(&sql, &params).await.map_err(pg)?;
        let mut entries = Vec::with_capacity(rows.len());
        for r in &rows {
            entries.push(AuditEntry {
                seq: r.try_get(0).map_err(pg)?,
                record: AuditRecord {
                    at_ms: r.try_get(1).map_err(pg)?,
                    username: r.try_get(2).map_err(pg)?,
                    organisation: r.try_get(3).map_err(pg)?,
                    outcome: i64::from(r.try_get::<_, i32>(4).map_err(pg)?),
                    patients: split(r.try_get(5).map_err(pg)?),
                    body: r.try_get(6).map_err(pg)?,
                },
                hash: r.try_get(7).map_err(pg)?,
            });
        }
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(c: &rusqlite::Connection, (sql, args): (String, Vec<Arg>)) -> Vec<String> {
        let values = args.into_iter().map(|a| match a {
            Arg::Int(i) => rusqlite::types::Value::Integer(i),
            Arg::Text(t) => rusqlite::types::Value::Text(t),
        });
        let mut st = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).expect("explain");
        let rows = st.query_map(rusqlite::params_from_iter(values), |r| r.get::<_, String>(3)).expect("plan");
        rows.collect::<Result<_, _>>().expect("rows")
    }

    #[test]
    fn a_search_by_patient_seeks_the_person_in_each_span_up_to_the_mark() {
        let mut c = rusqlite::Connection::open_in_memory().expect("open");
        crate::sqlite::migrate::apply(&mut c, crate::sqlite::migrate::AUDIT_MIGRATIONS).expect("migrate");
        let query = AuditQuery { patient: Some("p1".into()), newest_first: true, limit: 20, ..AuditQuery::default() };
        let (sql, args) = query.sql(Part::Indexed(200_000, AuditIndex::Patient), "instr");
        assert!(sql.contains("p.span IN (0, 1, 2, 3)"), "{sql}");
        let plan = plan(&c, (sql, args));
        assert!(plan.iter().any(|l| l.contains("SEARCH p USING PRIMARY KEY (span=? AND patient=? AND seq<?)")), "{plan:?}");
        assert!(!plan.iter().any(|l| l.starts_with("SCAN p")), "{plan:?}");
    }

    #[test]
    fn the_indexer_writes_a_batch_in_the_order_of_the_index_within_its_span() {
        let events = vec![(65_535, "b a".to_owned(), None), (65_536, "a".to_owned(), None), (65_537, "c b".to_owned(), None)];
        assert_eq!(by_patient(&events), [(0, "a", 65_535), (0, "b", 65_535), (1, "a", 65_536), (1, "b", 65_537), (1, "c", 65_537)]);
        assert_eq!(spans_through(0), "0");
        assert_eq!(spans_through(131_072), "0, 1, 2");
    }
}
