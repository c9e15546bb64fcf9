//! Search on SQLite: runs the statements of the shared search builder (`crate::sql::search`) on a read
//! connection and turns their rows into matches, counts and links.

use super::rows;
use crate::error::StoreError;
use crate::model::Stored;
use crate::search::{Link, Query};
use crate::sql::search::{self as build, KeyKind};
use crate::sql::{Dialect, Fragment, Param};
use rusqlite::types::Value as Sql;
use rusqlite::Connection;
use serde_json::Value;

/// The parameters of a statement as SQLite values (lists are already spread over placeholders).
pub(crate) fn params(f: &Fragment) -> Vec<Sql> {
    let mut out = Vec::with_capacity(f.params.len());
    for p in &f.params {
        match p {
            Param::Int(i) => out.push(Sql::Integer(*i)),
            Param::Real(r) => out.push(Sql::Real(*r)),
            Param::Text(s) => out.push(Sql::Text(s.clone())),
            Param::TextList(list) => out.extend(list.iter().map(|s| Sql::Text(s.clone()))),
        }
    }
    out
}

/// One page of matches (a page statement built by `build::page`), each with its sort-key values (the last is
/// the id) for resuming after it.
pub fn search(c: &Connection, page: &build::Page) -> Result<Vec<(Stored, Vec<Value>)>, StoreError> {
    let mut stmt = c.prepare_cached(&page.statement.sql())?;
    let kinds = &page.keys;
    let hits = stmt.query_map(rusqlite::params_from_iter(params(&page.statement)), |r| {
        let stored = rows::stored(r)?;
        let mut values = Vec::with_capacity(kinds.len());
        for (i, kind) in kinds.iter().enumerate() {
            values.push(from_sql(r.get::<_, Sql>(crate::sql::STORED_WIDTH + i)?, *kind));
        }
        Ok((stored, values))
    })?;
    let mut out = hits.collect::<Result<Vec<_>, _>>()?;
    if page.reverse {
        out.reverse();
    }
    Ok(out)
}

/// How many live resources match (the cursor and limit are ignored).
pub fn count(c: &Connection, q: &Query) -> Result<u64, StoreError> {
    let f = build::count(Dialect::Sqlite, q)?;
    let n: i64 = c.prepare_cached(&f.sql())?.query_row(rusqlite::params_from_iter(params(&f)), |r| r.get(0))?;
    Ok(n as u64)
}

/// The page's and the count's statements, each followed by its `EXPLAIN QUERY PLAN`, indented by depth.
pub fn explain(c: &Connection, q: &Query) -> Result<Vec<String>, StoreError> {
    let mut out = Vec::new();
    for (what, f) in [("page", build::page(Dialect::Sqlite, q)?.statement), ("count", build::count(Dialect::Sqlite, q)?)] {
        out.push(format!("{what}: {}", f.sql()));
        let mut stmt = c.prepare(&format!("EXPLAIN QUERY PLAN {}", f.sql()))?;
        let steps =
            stmt.query_map(rusqlite::params_from_iter(params(&f)), |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(3)?)))?;
        let mut depth_of: std::collections::HashMap<i64, usize> = std::collections::HashMap::new();
        for step in steps {
            let (id, parent, detail) = step?;
            let depth = depth_of.get(&parent).map_or(1, |d| d + 1);
            depth_of.insert(id, depth);
            out.push(format!("{}{detail}", "  ".repeat(depth)));
        }
    }
    Ok(out)
}

/// References held by the given resources (for `_include`), optionally only through `params`.
pub fn links_from(c: &Connection, resource_type: &str, ids: &[String], params: Option<&[String]>) -> Result<Vec<Link>, StoreError> {
    links(c, build::links_from(Dialect::Sqlite, resource_type, ids, params))
}

/// References pointing at the given resources (for `_revinclude` and compartments).
pub fn links_to(c: &Connection, target_type: &str, ids: &[String], source_type: Option<&str>, param: Option<&str>) -> Result<Vec<Link>, StoreError> {
    links(c, build::links_to(Dialect::Sqlite, target_type, ids, source_type, param))
}

fn links(c: &Connection, f: Fragment) -> Result<Vec<Link>, StoreError> {
    let mut stmt = c.prepare(&f.sql())?;
    let rows = stmt.query_map(rusqlite::params_from_iter(params(&f)), |r| {
        Ok(Link { resource_type: r.get(0)?, id: r.get(1)?, param: r.get(2)?, target_type: r.get(3)?, target_id: r.get(4)? })
    })?;
    let mut out = rows.collect::<Result<Vec<_>, _>>()?;
    out.sort();
    out.dedup();
    Ok(out)
}

/// A sort-key value as it goes into a cursor: numbers of a date key stay integers, of a number key reals.
fn from_sql(v: Sql, kind: KeyKind) -> Value {
    match (v, kind) {
        (Sql::Null, _) => Value::Null,
        (Sql::Integer(i), KeyKind::Real) => serde_json::Number::from_f64(i as f64).map(Value::Number).unwrap_or(Value::Null),
        (Sql::Integer(i), _) => Value::from(i),
        (Sql::Real(r), KeyKind::Int) => Value::from(r as i64),
        (Sql::Real(r), _) => serde_json::Number::from_f64(r).map(Value::Number).unwrap_or(Value::Null),
        (Sql::Text(s), _) => Value::String(s),
        (Sql::Blob(_), _) => Value::Null,
    }
}
