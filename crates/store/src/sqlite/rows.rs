//! SQL shared by the reader pool and the writer: mapping rows to `Stored`, current/version look-ups and token finds.

use crate::error::StoreError;
use crate::model::{Method, Stored, TokenCriterion};
use rusqlite::{Connection, OptionalExtension, Row};

pub const COLUMNS: &str = "v.seq, v.resource_type, v.id, v.version, v.person_key, v.last_updated, v.method, v.deleted, v.body";

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
    })
}

pub fn current(c: &Connection, resource_type: &str, id: &str) -> Result<Option<Stored>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM resource_current c JOIN resource_version v ON v.seq = c.seq WHERE c.resource_type = ?1 AND c.id = ?2");
    Ok(c.prepare_cached(&sql)?.query_row((resource_type, id), stored).optional()?)
}

pub fn version(c: &Connection, resource_type: &str, id: &str, version: i64) -> Result<Option<Stored>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM resource_version v WHERE v.resource_type = ?1 AND v.id = ?2 AND v.version = ?3");
    Ok(c.prepare_cached(&sql)?.query_row((resource_type, id, version), stored).optional()?)
}

/// Ids of live resources matching every criterion (`_id` matches the id itself), in id order, after `after_id`.
pub fn find(
    c: &Connection,
    resource_type: &str,
    criteria: &[TokenCriterion],
    after_id: Option<&str>,
    limit: usize,
) -> Result<Vec<String>, StoreError> {
    let mut sql = String::from("SELECT c.id FROM resource_current c WHERE c.resource_type = ? AND c.deleted = 0");
    let mut params: Vec<rusqlite::types::Value> = vec![resource_type.to_owned().into()];
    for k in criteria {
        if k.param == "_id" {
            sql.push_str(" AND c.id = ?");
            params.push(k.code.clone().into());
            continue;
        }
        // An id set read from the token index's key, so the look-up never scans the type.
        sql.push_str(" AND c.id IN (SELECT t.id FROM search_token t WHERE t.resource_type = ? AND t.param = ? AND t.code = ?");
        params.push(resource_type.to_owned().into());
        params.push(k.param.clone().into());
        params.push(k.code.clone().into());
        match &k.system {
            None => {}
            Some(None) => sql.push_str(" AND t.system IS NULL"),
            Some(Some(s)) => {
                sql.push_str(" AND t.system = ?");
                params.push(s.clone().into());
            }
        }
        sql.push(')');
    }
    if let Some(after) = after_id {
        sql.push_str(" AND c.id > ?");
        params.push(after.to_owned().into());
    }
    sql.push_str(" ORDER BY c.id LIMIT ?");
    params.push((limit as i64).into());
    let mut stmt = c.prepare_cached(&sql)?;
    let ids = stmt.query_map(rusqlite::params_from_iter(params), |r| r.get::<_, String>(0))?;
    Ok(ids.collect::<Result<Vec<_>, _>>()?)
}
