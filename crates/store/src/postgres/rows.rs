//! Reading on PostgreSQL: the fixed statements (prepared once per connection), dynamic statements from the
//! shared builder (sent typed, in one round trip), and rows turned into `Stored`, matches and links.

use super::pg;
use crate::error::StoreError;
use crate::model::{Method, Stored};
use crate::search::{Link, Query};
use crate::sql::search::{self as build, KeyKind};
use crate::sql::{Dialect, Fragment, Param};
use deadpool_postgres::ClientWrapper as Client;
use serde_json::Value;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Row;

/// The current version of a resource, deleted or not.
pub const CURRENT: &str =
    "SELECT v.seq, v.resource_type, v.id, v.version, v.person_key, v.last_updated, v.method, v.deleted, v.body, v.recorded_by, v.restricted \
     FROM resource_current c JOIN resource_version v ON v.seq = c.seq WHERE c.resource_type = $1 AND c.id = $2";

/// One version of a resource.
pub const VERSION: &str =
    "SELECT v.seq, v.resource_type, v.id, v.version, v.person_key, v.last_updated, v.method, v.deleted, v.body, v.recorded_by, v.restricted \
     FROM resource_version v WHERE v.resource_type = $1 AND v.id = $2 AND v.version = $3";

/// The version stored at a sequence number.
pub const BY_SEQ: &str =
    "SELECT v.seq, v.resource_type, v.id, v.version, v.person_key, v.last_updated, v.method, v.deleted, v.body, v.recorded_by, v.restricted \
     FROM resource_version v WHERE v.seq = $1";

/// Current versions of several resources in one statement, in the order given; `$3` keeps only live ones.
const MANY: &str =
    "SELECT v.seq, v.resource_type, v.id, v.version, v.person_key, v.last_updated, v.method, v.deleted, v.body, v.recorded_by, v.restricted \
     FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(resource_type, id, n) \
     JOIN resource_current c ON c.resource_type = k.resource_type AND c.id = k.id \
     JOIN resource_version v ON v.seq = c.seq \
     WHERE NOT ($3::boolean AND c.deleted <> 0) ORDER BY k.n";

/// Current versions of shared resources (no person key: reference data, which a store distributed by person
/// keeps on every node), in the order given.
pub const SHARED: &str =
    "SELECT v.seq, v.resource_type, v.id, v.version, v.person_key, v.last_updated, v.method, v.deleted, v.body, v.recorded_by, v.restricted \
     FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(resource_type, id, n) \
     JOIN resource_current c ON c.resource_type = k.resource_type AND c.id = k.id AND c.person_key IS NULL \
     JOIN resource_version v ON v.seq = c.seq AND v.person_key IS NULL \
     WHERE c.deleted = 0 ORDER BY k.n";

/// A Patient by id: a Patient's person key is its own id, so the read is routed by the person key too.
pub const PATIENT: &str =
    "SELECT v.seq, v.resource_type, v.id, v.version, v.person_key, v.last_updated, v.method, v.deleted, v.body, v.recorded_by, v.restricted \
     FROM resource_current c JOIN resource_version v ON v.seq = c.seq AND v.person_key = c.person_key \
     WHERE c.resource_type = 'Patient' AND c.id = $1 AND c.person_key = $1";

pub fn stored(r: &Row) -> Result<Stored, StoreError> {
    stored_from(r, 0)
}

/// A `Stored` from the `STORED_COLUMNS` starting at column `at`.
pub fn stored_from(r: &Row, at: usize) -> Result<Stored, StoreError> {
    let method: String = r.try_get(at + 6).map_err(pg)?;
    Ok(Stored {
        seq: r.try_get(at).map_err(pg)?,
        resource_type: r.try_get(at + 1).map_err(pg)?,
        id: r.try_get(at + 2).map_err(pg)?,
        version: r.try_get(at + 3).map_err(pg)?,
        person_key: r.try_get(at + 4).map_err(pg)?,
        last_updated: r.try_get(at + 5).map_err(pg)?,
        method: Method::parse(&method).ok_or_else(|| StoreError::Internal(format!("unknown method {method}").into()))?,
        deleted: r.try_get::<_, i16>(at + 7).map_err(pg)? != 0,
        body: r.try_get(at + 8).map_err(pg)?,
        recorded_by: r.try_get(at + 9).map_err(pg)?,
        restricted: r.try_get::<_, i16>(at + 10).map_err(pg)? != 0,
    })
}

/// The statements a store issued, kept when asked (`PgOptions::record_statements`) so that tests can check
/// what reaches the database, e.g. that every query serving one person's record filters on its key.
#[derive(Default)]
pub struct Recorder(Option<std::sync::Mutex<Vec<String>>>);

impl Recorder {
    pub const OFF: Recorder = Recorder(None);

    pub fn new(on: bool) -> Recorder {
        Recorder(on.then(|| std::sync::Mutex::new(Vec::new())))
    }

    pub fn note(&self, sql: &str) {
        if let Some(list) = &self.0 {
            if let Ok(mut l) = list.lock() {
                l.push(sql.to_owned());
            }
        }
    }

    /// The statements noted so far, and forgets them.
    pub fn take(&self) -> Vec<String> {
        self.0.as_ref().and_then(|l| l.lock().ok().map(|mut l| std::mem::take(&mut *l))).unwrap_or_default()
    }
}

/// The parameters of a built statement with their PostgreSQL types.
fn typed(params: &[Param]) -> (Vec<&(dyn ToSql + Sync)>, Vec<Type>) {
    params
        .iter()
        .map(|p| -> (&(dyn ToSql + Sync), Type) {
            match p {
                Param::Int(i) => (i, Type::INT8),
                Param::Real(r) => (r, Type::FLOAT8),
                Param::Text(s) => (s, Type::TEXT),
                Param::TextList(l) => (l, Type::TEXT_ARRAY),
            }
        })
        .unzip()
}

/// Runs a statement of the shared builder as an unnamed statement with its parameter types given: parsed,
/// planned for these very values, bound and run in one round trip. Not prepared on purpose: a search's
/// best plan depends on its values (a code held by ten resources or by fifty thousand), and the generic
/// plan PostgreSQL switches a prepared statement to was measured ten times slower on large id sets. The
/// fixed statements (reads by id, writes) are prepared once per connection instead.
pub async fn query(c: &Client, f: &Fragment, rec: &Recorder) -> Result<Vec<Row>, StoreError> {
    debug_assert_eq!(f.dialect, Dialect::Postgres);
    let sql = f.sql();
    rec.note(&sql);
    let (values, types) = typed(&f.params);
    let typed: Vec<(&(dyn ToSql + Sync), Type)> = values.into_iter().zip(types).collect();
    c.query_typed(&sql, &typed).await.map_err(pg)
}

/// Most statements a connection keeps prepared; past it the cache starts again.
const STATEMENT_CACHE: usize = 256;

/// Runs a statement whose plan is good for any values (an id range read from one index), prepared once
/// per connection: planning it costs more than running it.
pub async fn query_prepared(c: &Client, f: &Fragment, rec: &Recorder) -> Result<Vec<Row>, StoreError> {
    debug_assert_eq!(f.dialect, Dialect::Postgres);
    let sql = f.sql();
    rec.note(&sql);
    let (values, types) = typed(&f.params);
    if c.statement_cache.size() >= STATEMENT_CACHE {
        c.statement_cache.clear();
    }
    let statement = c.prepare_typed_cached(&sql, &types).await.map_err(pg)?;
    c.query(&statement, &values).await.map_err(pg)
}

/// One page of a search, each row with its sort-key values.
pub async fn search(c: &Client, q: &Query, rec: &Recorder) -> Result<Vec<(Stored, Vec<Value>)>, StoreError> {
    let page = build::page(Dialect::Postgres, q)?;
    let rows = if page.reusable_plan { query_prepared(c, &page.statement, rec).await? } else { query(c, &page.statement, rec).await? };
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let mut keys = Vec::with_capacity(page.keys.len());
        for (i, kind) in page.keys.iter().enumerate() {
            let col = crate::sql::STORED_WIDTH + i;
            keys.push(match kind {
                KeyKind::Int => r.try_get::<_, Option<i64>>(col).map_err(pg)?.map(Value::from).unwrap_or(Value::Null),
                KeyKind::Real => {
                    r.try_get::<_, Option<f64>>(col).map_err(pg)?.and_then(serde_json::Number::from_f64).map(Value::Number).unwrap_or(Value::Null)
                }
                KeyKind::Text => r.try_get::<_, Option<String>>(col).map_err(pg)?.map(Value::String).unwrap_or(Value::Null),
            });
        }
        out.push((stored(r)?, keys));
    }
    if page.reverse {
        out.reverse();
    }
    Ok(out)
}

pub async fn links(c: &Client, f: &Fragment, rec: &Recorder) -> Result<Vec<Link>, StoreError> {
    let rows = query(c, f, rec).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push(Link {
            resource_type: r.try_get(0).map_err(pg)?,
            id: r.try_get(1).map_err(pg)?,
            param: r.try_get(2).map_err(pg)?,
            target_type: r.try_get(3).map_err(pg)?,
            target_id: r.try_get(4).map_err(pg)?,
        });
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The current versions of `keys` in the order given, skipping missing ones (and deleted ones if `live`).
pub async fn read_many(c: &deadpool_postgres::Object, keys: Vec<(String, String)>, live: bool, rec: &Recorder) -> Result<Vec<Stored>, StoreError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let (types, ids): (Vec<String>, Vec<String>) = keys.into_iter().unzip();
    rec.note(MANY);
    let s = c.prepare_cached(MANY).await.map_err(pg)?;
    c.query(&s, &[&types, &ids, &live]).await.map_err(pg)?.iter().map(stored).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn fixed_statements_read_the_shared_columns() {
        for s in [super::CURRENT, super::VERSION, super::BY_SEQ, super::MANY, super::SHARED, super::PATIENT] {
            assert!(s.starts_with(&format!("SELECT {} ", crate::sql::STORED_COLUMNS)), "{s}");
        }
    }
}
