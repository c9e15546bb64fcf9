//! A write unit on PostgreSQL: one transaction (READ COMMITTED) on a pooled connection, run on the
//! blocking thread pool because units are synchronous closures.
//!
//! What keeps units exact when several processes write to one database, with no lock in this process:
//! - `current` locks the resource's `resource_current` row (`FOR UPDATE`) before reading it, so units that
//!   read and then write a resource (`If-Match`, version increments, delete checks, reference checks) run
//!   one after the other; when the row does not exist yet, an advisory lock on the resource's identity
//!   stands in for it, so two create-on-update `PUT`s make versions 1 and 2, not a conflict.
//! - `find` takes a transaction-scoped advisory lock on each criterion (type, parameter, code) before it
//!   searches, and `put` takes the same locks for the identifiers it writes, so two conditional creates on
//!   the same identifier serialise and the second finds the first. The search runs as a new statement after
//!   the lock is granted, so it sees what the first committed.
//! - The unique constraint on (resource_type, id, version) is the last line of defence: a breach is a
//!   `Conflict` (409), as are deadlocks and serialization failures.

use super::{pg, rows};
use crate::error::StoreError;
use crate::model::{NewVersion, Stored, TokenCriterion};
use crate::sql::{self, Dialect};
use crate::{Tx, Visibility};
use deadpool_postgres::Object;
use fhir::search::{IndexEntry, IndexValue};
use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use tokio::runtime::Handle;

/// Runs `unit` in one transaction and commits it; any error or panic rolls it back.
pub fn run<T, E>(client: Object, rt: Handle, unit: impl FnOnce(&mut dyn Tx) -> Result<T, E>) -> Result<T, E>
where
    E: From<StoreError>,
{
    if let Err(e) = rt.block_on(client.batch_execute("BEGIN")) {
        return Err(E::from(pg(e)));
    }
    let mut tx = PgTx { client: &client, rt: &rt, failure: None, current: HashMap::new(), found: HashMap::new(), locked: HashSet::new() };
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| unit(&mut tx)));
    let failure = tx.failure.take();
    let result = match outcome {
        // A statement failed but the unit went on: PostgreSQL has aborted the transaction and COMMIT would
        // quietly roll it back, so the unit must not be told it succeeded.
        Ok(Ok(_)) if failure.is_some() => Err(E::from(failure.unwrap_or(StoreError::Conflict))),
        Ok(Ok(value)) => match rt.block_on(client.batch_execute("COMMIT")) {
            Ok(()) => return Ok(value),
            Err(e) => Err(E::from(pg(e))),
        },
        Ok(Err(e)) => Err(e),
        Err(_) => {
            tracing::error!("a write unit panicked; its transaction was rolled back");
            Err(E::from(StoreError::Internal("a write unit panicked".into())))
        }
    };
    if let Err(e) = rt.block_on(client.batch_execute("ROLLBACK")) {
        // The connection is in an unknown state: take it out of the pool rather than hand it to someone else.
        tracing::warn!(error = %e, "rollback failed; dropping the connection");
        drop(Object::take(client));
    }
    result
}

/// The advisory-lock key of a criterion: (type, parameter, code), hashed to 64 bits (FNV-1a). A collision
/// only makes two unrelated units wait for each other.
fn lock_key(resource_type: &str, param: &str, code: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in [resource_type, param, code] {
        for b in part.bytes().chain(std::iter::once(0u8)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h as i64
}

/// Takes one advisory lock for the rest of the transaction.
const LOCK_ONE: &str = "SELECT pg_advisory_xact_lock($1)";

/// The current row of a resource, locked, with the version it points at (NULL when the row changed while
/// the statement waited for its lock: the join is then re-checked against the new row and fails).
const CURRENT_FOR_UPDATE: &str =
    "SELECT c.seq, v.seq, v.resource_type, v.id, v.version, v.person_key, v.last_updated, v.method, v.deleted, v.body, v.recorded_by, v.restricted \
     FROM resource_current c LEFT JOIN resource_version v ON v.seq = c.seq \
     WHERE c.resource_type = $1 AND c.id = $2 FOR UPDATE OF c";

/// Token parameters whose values `put` locks, because conditional operations search on them.
const KEYED_PARAMS: &[&str] = &["identifier"];

struct PgTx<'c> {
    client: &'c Object,
    rt: &'c Handle,
    /// The first error a statement raised: after it, the transaction can only roll back.
    failure: Option<StoreError>,
    /// Resources read (and locked) or written in this unit: the rows are ours until the end.
    current: HashMap<(String, String), Option<Stored>>,
    /// Finds already made in this unit, by type and criteria; a write of the type forgets them.
    found: HashMap<(String, String, usize), Vec<String>>,
    /// Advisory locks already held by this transaction.
    locked: HashSet<i64>,
}

impl PgTx<'_> {
    fn check<T>(&mut self, r: Result<T, tokio_postgres::Error>) -> Result<T, StoreError> {
        r.map_err(|e| {
            let err = pg(e);
            if self.failure.is_none() {
                self.failure = Some(err.duplicate());
            }
            err
        })
    }

    /// Takes the advisory locks not held yet, in key order (so that two units never wait on each other in
    /// opposite orders for the keys of one call).
    fn lock(&mut self, keys: impl IntoIterator<Item = i64>) -> Result<(), StoreError> {
        let mut wanted: Vec<i64> = keys.into_iter().filter(|k| !self.locked.contains(k)).collect();
        if wanted.is_empty() {
            return Ok(());
        }
        wanted.sort_unstable();
        wanted.dedup();
        let (c, rt) = (self.client, self.rt);
        let r = rt.block_on(async {
            let s = c.prepare_cached("SELECT count(pg_advisory_xact_lock(k)) FROM unnest($1::bigint[]) AS k").await?;
            c.execute(&s, &[&wanted]).await
        });
        self.check(r)?;
        self.locked.extend(wanted);
        Ok(())
    }
}

impl Tx for PgTx<'_> {
    fn current(&mut self, resource_type: &str, id: &str) -> Result<Option<Stored>, StoreError> {
        let key = (resource_type.to_owned(), id.to_owned());
        if let Some(known) = self.current.get(&key) {
            return Ok(known.clone());
        }
        // One round trip, pipelined: the lock on the resource's identity (which stands in for the row while
        // it does not exist, so that two units creating it run one after the other), then the row, locked,
        // with its version. The second statement's snapshot is taken after the first has its lock.
        let identity = lock_key(resource_type, "_id", id);
        let take_identity = !self.locked.contains(&identity);
        let (c, rt) = (self.client, self.rt);
        let r = rt.block_on(async {
            let (lock, read) = tokio::join!(c.prepare_cached(LOCK_ONE), c.prepare_cached(CURRENT_FOR_UPDATE));
            let (lock, read) = (lock?, read?);
            let locking = async {
                if take_identity {
                    c.execute(&lock, &[&identity]).await?;
                }
                Ok::<_, tokio_postgres::Error>(())
            };
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&resource_type, &id];
            let (locked, row) = tokio::join!(locking, c.query_opt(&read, &params));
            locked?;
            row
        });
        let row = self.check(r)?;
        self.locked.insert(identity);
        let stored = match row {
            None => None,
            // The version was read with the row: it is the current one.
            Some(r) if r.try_get::<_, Option<i64>>(1).map_err(pg)?.is_some() => Some(rows::stored_from(&r, 1)?),
            // The row changed while this unit waited for its lock, and the version joined to it was the old
            // one: read the current version in a new statement, which sees what was committed meanwhile.
            Some(r) => {
                let seq: i64 = r.try_get(0).map_err(pg)?;
                let r = rt.block_on(async {
                    let s = c.prepare_cached(rows::BY_SEQ).await?;
                    c.query_opt(&s, &[&seq]).await
                });
                self.check(r)?.map(|r| rows::stored(&r)).transpose()?
            }
        };
        self.current.insert(key, stored.clone());
        Ok(stored)
    }

    fn find_visible(&mut self, resource_type: &str, criteria: &[TokenCriterion], limit: usize, vis: &Visibility) -> Result<Vec<String>, StoreError> {
        let memo = (resource_type.to_owned(), format!("{criteria:?}{vis:?}"), limit);
        if let Some(ids) = self.found.get(&memo) {
            return Ok(ids.clone());
        }
        self.lock(criteria.iter().map(|k| lock_key(resource_type, &k.param, &k.code)))?;
        let f = sql::find(Dialect::Postgres, resource_type, criteria, None, limit, vis);
        let (c, rt) = (self.client, self.rt);
        let r = rt.block_on(rows::query(c, &f, &rows::Recorder::OFF));
        let rows = match r {
            Ok(rows) => rows,
            Err(e) => {
                if self.failure.is_none() {
                    self.failure = Some(e.duplicate());
                }
                return Err(e);
            }
        };
        let ids = rows.iter().map(|r| r.try_get::<_, String>(0).map_err(pg)).collect::<Result<Vec<_>, _>>()?;
        self.found.insert(memo, ids.clone());
        Ok(ids)
    }

    fn referrers(&mut self, resource_type: &str, id: &str, limit: usize) -> Result<Vec<(String, String)>, StoreError> {
        let (c, rt) = (self.client, self.rt);
        let limit = limit as i64;
        let r = rt.block_on(async {
            let s = c
                .prepare_cached(
                    "SELECT DISTINCT resource_type, id FROM resource_link WHERE target_type = $1 AND target_id = $2
                     AND NOT (resource_type = $1 AND id = $2) ORDER BY resource_type, id LIMIT $3",
                )
                .await?;
            c.query(&s, &[&resource_type, &id, &limit]).await
        });
        let rows = self.check(r)?;
        rows.iter().map(|r| Ok((r.try_get(0).map_err(pg)?, r.try_get(1).map_err(pg)?))).collect()
    }

    fn sees(&mut self, resource_type: &str, id: &str, vis: &Visibility) -> Result<bool, StoreError> {
        let f = sql::sees(Dialect::Postgres, resource_type, id, vis);
        let (c, rt) = (self.client, self.rt);
        match rt.block_on(rows::query(c, &f, &rows::Recorder::OFF)) {
            Ok(rows) => Ok(!rows.is_empty()),
            Err(e) => {
                if self.failure.is_none() {
                    self.failure = Some(e.duplicate());
                }
                Err(e)
            }
        }
    }

    fn put(&mut self, v: NewVersion<'_>) -> Result<Stored, StoreError> {
        let keys: Vec<i64> = v
            .index
            .iter()
            .filter(|e| KEYED_PARAMS.contains(&e.param.as_str()))
            .filter_map(|e| match &e.value {
                IndexValue::Token { code, .. } => Some(lock_key(v.resource_type, &e.param, code)),
                _ => None,
            })
            .filter(|k| !self.locked.contains(k))
            .collect();
        let mut keys = keys;
        keys.sort_unstable();
        keys.dedup();
        let cols = Columns::of(&v);
        let deleted: i16 = i16::from(v.body.is_none());
        let (c, rt) = (self.client, self.rt);
        let r = rt.block_on(async {
            let s = c.prepare_cached(PUT).await?;
            c.query_one(
                &s,
                &[
                    &v.resource_type,
                    &v.id,
                    &v.version,
                    &v.person_key,
                    &v.last_updated,
                    &v.method.as_str(),
                    &deleted,
                    &v.body,
                    &keys,
                    &cols.link_type,
                    &cols.link_id,
                    &cols.token_param,
                    &cols.token_system,
                    &cols.token_code,
                    &cols.string_param,
                    &cols.string_norm,
                    &cols.string_exact,
                    &cols.ref_param,
                    &cols.ref_type,
                    &cols.ref_id,
                    &cols.ref_url,
                    &cols.date_param,
                    &cols.date_low,
                    &cols.date_high,
                    &cols.number_param,
                    &cols.number_value,
                    &cols.number_low,
                    &cols.number_high,
                    &cols.qty_param,
                    &cols.qty_value,
                    &cols.qty_low,
                    &cols.qty_high,
                    &cols.qty_system,
                    &cols.qty_code,
                    &cols.qty_unit,
                    &cols.uri_param,
                    &cols.uri_value,
                    &cols.comp_param,
                    &cols.comp_system,
                    &cols.comp_code,
                    &cols.comp_v_system,
                    &cols.comp_v_code,
                    &cols.comp_v_low,
                    &cols.comp_v_high,
                    &v.recorded_by,
                    &i16::from(v.restricted),
                    &cols.relation_party,
                    &cols.relation_kind,
                    &cols.relation_start,
                    &cols.relation_until,
                ],
            )
            .await
        });
        let row = self.check(r)?;
        self.locked.extend(keys);
        let seq: i64 = row.try_get(0).map_err(pg)?;
        let stored = Stored {
            seq,
            resource_type: v.resource_type.to_owned(),
            id: v.id.to_owned(),
            version: v.version,
            person_key: v.person_key.map(str::to_owned),
            last_updated: v.last_updated.to_owned(),
            method: v.method,
            deleted: v.body.is_none(),
            body: v.body.map(str::to_owned),
            recorded_by: v.recorded_by.map(str::to_owned),
            restricted: v.restricted,
        };
        self.current.insert((v.resource_type.to_owned(), v.id.to_owned()), Some(stored.clone()));
        self.found.retain(|(t, _, _), _| t != v.resource_type);
        Ok(stored)
    }
}

/// One statement writes a version: the advisory locks on its identifiers, the version row, the current
/// pointer, the removal of the previous version's index rows (a no-op for version 1) and the new index
/// rows, each index table fed from parallel arrays. The sub-statements share one snapshot, so the deletes
/// see only the old rows and never the ones inserted beside them.
const PUT: &str = "
WITH l AS (SELECT count(pg_advisory_xact_lock(k)) AS n FROM unnest($9::bigint[]) AS k),
v AS (
    INSERT INTO resource_version (resource_type, id, version, person_key, last_updated, method, deleted, body, recorded_by, restricted)
    SELECT $1::text, $2::text, $3::bigint, $4::text, $5::text, $6::text, $7::smallint, $8::text, $45::text, $46::smallint FROM l
    RETURNING seq
),
c AS (
    INSERT INTO resource_current (resource_type, id, seq, version, deleted, person_key, recorded_by, restricted)
    SELECT $1::text, $2::text, v.seq, $3::bigint, $7::smallint, $4::text, $45::text, $46::smallint FROM v
    ON CONFLICT (resource_type, id) DO UPDATE SET seq = excluded.seq, version = excluded.version,
        deleted = excluded.deleted, person_key = excluded.person_key, recorded_by = excluded.recorded_by,
        restricted = excluded.restricted
),
d_relation AS (DELETE FROM access_relation WHERE resource_type = $1::text AND id = $2::text AND $3::bigint > 1),
i_relation AS (
    INSERT INTO access_relation (resource_type, id, n, person_key, party, kind, start_ms, until_ms)
    SELECT $1::text, $2::text, (u.n - 1)::int, $4::text, a, b, c, d
    FROM unnest($47::text[], $48::text[], $49::bigint[], $50::bigint[]) WITH ORDINALITY AS u(a, b, c, d, n)
),
d_token AS (DELETE FROM search_token WHERE resource_type = $1::text AND id = $2::text AND $3::bigint > 1),
d_string AS (DELETE FROM search_string WHERE resource_type = $1::text AND id = $2::text AND $3::bigint > 1),
d_reference AS (DELETE FROM search_reference WHERE resource_type = $1::text AND id = $2::text AND $3::bigint > 1),
d_date AS (DELETE FROM search_date WHERE resource_type = $1::text AND id = $2::text AND $3::bigint > 1),
d_number AS (DELETE FROM search_number WHERE resource_type = $1::text AND id = $2::text AND $3::bigint > 1),
d_quantity AS (DELETE FROM search_quantity WHERE resource_type = $1::text AND id = $2::text AND $3::bigint > 1),
d_uri AS (DELETE FROM search_uri WHERE resource_type = $1::text AND id = $2::text AND $3::bigint > 1),
d_composite AS (DELETE FROM search_composite WHERE resource_type = $1::text AND id = $2::text AND $3::bigint > 1),
d_link AS (DELETE FROM resource_link WHERE resource_type = $1::text AND id = $2::text AND $3::bigint > 1),
i_link AS (
    INSERT INTO resource_link (resource_type, id, target_type, target_id, person_key)
    SELECT $1::text, $2::text, a, b, $4::text FROM unnest($10::text[], $11::text[]) AS u(a, b)
),
i_token AS (
    INSERT INTO search_token (resource_type, id, param, system, code, person_key)
    SELECT $1::text, $2::text, a, b, c, $4::text FROM unnest($12::text[], $13::text[], $14::text[]) AS u(a, b, c)
),
i_string AS (
    INSERT INTO search_string (resource_type, id, param, norm, exact, person_key)
    SELECT $1::text, $2::text, a, b, c, $4::text FROM unnest($15::text[], $16::text[], $17::text[]) AS u(a, b, c)
),
i_reference AS (
    INSERT INTO search_reference (resource_type, id, param, target_type, target_id, url, person_key)
    SELECT $1::text, $2::text, a, b, c, d, $4::text FROM unnest($18::text[], $19::text[], $20::text[], $21::text[]) AS u(a, b, c, d)
),
i_date AS (
    INSERT INTO search_date (resource_type, id, param, low, high, person_key)
    SELECT $1::text, $2::text, a, b, c, $4::text FROM unnest($22::text[], $23::bigint[], $24::bigint[]) AS u(a, b, c)
),
i_number AS (
    INSERT INTO search_number (resource_type, id, param, value, low, high, person_key)
    SELECT $1::text, $2::text, a, b, c, d, $4::text FROM unnest($25::text[], $26::float8[], $27::float8[], $28::float8[]) AS u(a, b, c, d)
),
i_quantity AS (
    INSERT INTO search_quantity (resource_type, id, param, value, low, high, system, code, unit, person_key)
    SELECT $1::text, $2::text, a, b, c, d, e, f, g, $4::text
    FROM unnest($29::text[], $30::float8[], $31::float8[], $32::float8[], $33::text[], $34::text[], $35::text[]) AS u(a, b, c, d, e, f, g)
),
i_uri AS (
    INSERT INTO search_uri (resource_type, id, param, uri, person_key)
    SELECT $1::text, $2::text, a, b, $4::text FROM unnest($36::text[], $37::text[]) AS u(a, b)
),
i_composite AS (
    INSERT INTO search_composite (resource_type, id, param, system, code, v_system, v_code, v_low, v_high, person_key)
    SELECT $1::text, $2::text, a, b, c, d, e, f, g, $4::text
    FROM unnest($38::text[], $39::text[], $40::text[], $41::text[], $42::text[], $43::float8[], $44::float8[]) AS u(a, b, c, d, e, f, g)
)
SELECT seq FROM v";

/// The index rows of a version as parallel arrays, one set per table.
#[derive(Default)]
struct Columns {
    link_type: Vec<String>,
    link_id: Vec<String>,
    token_param: Vec<String>,
    token_system: Vec<Option<String>>,
    token_code: Vec<String>,
    string_param: Vec<String>,
    string_norm: Vec<String>,
    string_exact: Vec<String>,
    ref_param: Vec<String>,
    ref_type: Vec<Option<String>>,
    ref_id: Vec<Option<String>>,
    ref_url: Vec<Option<String>>,
    date_param: Vec<String>,
    date_low: Vec<i64>,
    date_high: Vec<i64>,
    number_param: Vec<String>,
    number_value: Vec<f64>,
    number_low: Vec<f64>,
    number_high: Vec<f64>,
    qty_param: Vec<String>,
    qty_value: Vec<f64>,
    qty_low: Vec<f64>,
    qty_high: Vec<f64>,
    qty_system: Vec<Option<String>>,
    qty_code: Vec<Option<String>>,
    qty_unit: Vec<Option<String>>,
    uri_param: Vec<String>,
    uri_value: Vec<String>,
    comp_param: Vec<String>,
    comp_system: Vec<Option<String>>,
    comp_code: Vec<String>,
    comp_v_system: Vec<Option<String>>,
    comp_v_code: Vec<Option<String>>,
    comp_v_low: Vec<Option<f64>>,
    comp_v_high: Vec<Option<f64>>,
    relation_party: Vec<String>,
    relation_kind: Vec<&'static str>,
    relation_start: Vec<Option<i64>>,
    relation_until: Vec<Option<i64>>,
}

/// PostgreSQL text cannot hold U+0000; index values drop it (the body keeps it, escaped by JSON).
fn text(s: &str) -> String {
    if s.contains('\0') {
        s.replace('\0', "")
    } else {
        s.to_owned()
    }
}

fn opt(s: &Option<String>) -> Option<String> {
    s.as_deref().map(text)
}

impl Columns {
    fn of(v: &NewVersion<'_>) -> Columns {
        let mut c = Columns::default();
        if v.body.is_none() {
            return c; // a deletion has no index rows
        }
        for (t, id) in v.links {
            c.link_type.push(text(t));
            c.link_id.push(text(id));
        }
        for e in v.index {
            c.add(e);
        }
        if v.person_key.is_some() {
            for r in v.relations {
                c.relation_party.push(text(&r.party));
                c.relation_kind.push(r.kind.as_str());
                c.relation_start.push(r.start);
                c.relation_until.push(r.until);
            }
        }
        c
    }

    fn add(&mut self, e: &IndexEntry) {
        let p = text(&e.param);
        match &e.value {
            IndexValue::Token { system, code } => {
                self.token_param.push(p);
                self.token_system.push(opt(system));
                self.token_code.push(text(code));
            }
            IndexValue::String { norm, exact } => {
                self.string_param.push(p);
                self.string_norm.push(text(norm));
                self.string_exact.push(text(exact));
            }
            IndexValue::Reference { target_type, target_id, url } => {
                self.ref_param.push(p);
                self.ref_type.push(opt(target_type));
                self.ref_id.push(opt(target_id));
                self.ref_url.push(opt(url));
            }
            IndexValue::Date { low, high } => {
                self.date_param.push(p);
                self.date_low.push(*low);
                self.date_high.push(*high);
            }
            IndexValue::Number { value, low, high } => {
                self.number_param.push(p);
                self.number_value.push(*value);
                self.number_low.push(*low);
                self.number_high.push(*high);
            }
            IndexValue::Quantity { value, low, high, system, code, unit } => {
                self.qty_param.push(p);
                self.qty_value.push(*value);
                self.qty_low.push(*low);
                self.qty_high.push(*high);
                self.qty_system.push(opt(system));
                self.qty_code.push(opt(code));
                self.qty_unit.push(opt(unit));
            }
            IndexValue::Uri(uri) => {
                self.uri_param.push(p);
                self.uri_value.push(text(uri));
            }
            IndexValue::Composite { system, code, second } => {
                let (v_system, v_code, v_low, v_high) = match second.as_ref() {
                    IndexValue::Token { system, code } => (opt(system), Some(text(code)), None, None),
                    IndexValue::Quantity { low, high, system, code, .. } => (opt(system), opt(code), Some(*low), Some(*high)),
                    IndexValue::Date { low, high } => (None, None, Some(*low as f64), Some(*high as f64)),
                    IndexValue::Number { low, high, .. } => (None, None, Some(*low), Some(*high)),
                    IndexValue::String { norm, .. } => (None, Some(text(norm)), None, None),
                    _ => return,
                };
                self.comp_param.push(p);
                self.comp_system.push(opt(system));
                self.comp_code.push(text(code));
                self.comp_v_system.push(v_system);
                self.comp_v_code.push(v_code);
                self.comp_v_low.push(v_low);
                self.comp_v_high.push(v_high);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_keys_are_stable_and_distinct() {
        assert_eq!(lock_key("Patient", "identifier", "1"), lock_key("Patient", "identifier", "1"));
        assert_ne!(lock_key("Patient", "identifier", "1"), lock_key("Patient", "identifier1", ""));
        assert_ne!(lock_key("Patient", "_id", "a"), lock_key("Group", "_id", "a"));
    }
}
