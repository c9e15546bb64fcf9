//! SQL shared by the reader pool and the writer: mapping rows to `Stored`, current/version look-ups and token finds.

use crate::access::Visibility;
use crate::error::StoreError;
use crate::model::{Method, Stored, TokenCriterion};
use crate::sql::{self, Dialect, Fragment};
use rusqlite::{Connection, OptionalExtension, Row};

use crate::sql::STORED_COLUMNS as COLUMNS;

pub fn stored(r: &Row<'_>) -> rusqlite::Result<Stored> {
    let method: String = r.get(6)?;
    Ok(Stored {
        seq: r.get(0)?,
        resource_type: r.get(1)?,
        id: r.get(2)?,
        version: r.get(3)?,
        person_key: r.get(4)?,
        last_updated: r.get(5)?,
        method: Method::parse(&method)
            .ok_or_else(|| rusqlite::Error::FromSqlConversionFailure(6, rusqlite::types::Type::Text, format!("unknown method {method}").into()))?,
        deleted: r.get::<_, i64>(7)? != 0,
        body: r.get(8)?,
        recorded_by: r.get(9)?,
        restricted: r.get::<_, i64>(10)? != 0,
    })
}

pub fn current(c: &Connection, resource_type: &str, id: &str) -> Result<Option<Stored>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM resource_current c JOIN resource_version v ON v.seq = c.seq WHERE c.resource_type = ?1 AND c.id = ?2");
    Ok(c.prepare_cached(&sql)?.query_row((resource_type, id), stored).optional()?)
}

/// The current version of a resource (deleted or not) if `vis` shows it: the fixed statement for `All`.
pub fn current_as(c: &Connection, resource_type: &str, id: &str, vis: &Visibility) -> Result<Option<Stored>, StoreError> {
    match vis {
        Visibility::All => current(c, resource_type, id),
        _ => Ok(query(c, &sql::current(Dialect::Sqlite, resource_type, id, vis))?.pop()),
    }
}

pub fn version(c: &Connection, resource_type: &str, id: &str, version: i64) -> Result<Option<Stored>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM resource_version v WHERE v.resource_type = ?1 AND v.id = ?2 AND v.version = ?3");
    Ok(c.prepare_cached(&sql)?.query_row((resource_type, id, version), stored).optional()?)
}

/// Ids of live resources matching every criterion (`_id` matches the id itself) that the caller may see, in
/// id order, after `after_id`.
pub fn find(
    c: &Connection,
    resource_type: &str,
    criteria: &[TokenCriterion],
    after_id: Option<&str>,
    limit: usize,
    vis: &Visibility,
) -> Result<Vec<String>, StoreError> {
    let f = sql::find(Dialect::Sqlite, resource_type, criteria, after_id, limit, vis);
    let mut stmt = c.prepare_cached(&f.sql())?;
    let ids = stmt.query_map(rusqlite::params_from_iter(super::search::params(&f)), |r| r.get::<_, String>(0))?;
    Ok(ids.collect::<Result<Vec<_>, _>>()?)
}

/// The rows of a statement of the shared builder that selects `STORED_COLUMNS`.
pub fn query(c: &Connection, f: &Fragment) -> Result<Vec<Stored>, StoreError> {
    let mut stmt = c.prepare_cached(&f.sql())?;
    let rows = stmt.query_map(rusqlite::params_from_iter(super::search::params(f)), stored)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}
