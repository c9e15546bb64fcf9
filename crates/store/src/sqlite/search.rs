//! Search on SQLite: turns a `Query` into SQL over the index tables (each predicate an id set that the
//! current-version table is filtered by), with sort keys, keyset paging, counts and reference look-ups for
//! includes.

use super::rows;
use crate::error::StoreError;
use crate::model::Stored;
use crate::search::{IndexTable, Link, Predicate, Query, RangeOp, SortKey, StringMode, Test, UriMode};
use rusqlite::types::Value as Sql;
use rusqlite::Connection;
use serde_json::Value;

/// A fragment of SQL and its parameters, in order.
#[derive(Default)]
struct Fragment {
    text: String,
    params: Vec<Sql>,
}

impl Fragment {
    fn push(&mut self, text: &str) {
        self.text.push_str(text);
    }

    fn bind(&mut self, text: &str, value: impl Into<Sql>) {
        self.text.push_str(text);
        self.params.push(value.into());
    }

    fn append(&mut self, other: Fragment) {
        self.text.push_str(&other.text);
        self.params.extend(other.params);
    }
}

/// The highest code point, for prefix ranges (`x >= 'abc' AND x < 'abc\u{10FFFF}'`).
const PREFIX_END: char = '\u{10FFFF}';

/// Ids of live `resource_type` resources for which `pred` holds, and whether the caller must negate
/// membership (`:missing=true`, `:not`, `ne`).
fn id_set(resource_type: &str, pred: &Predicate) -> Result<(Fragment, bool), StoreError> {
    let mut f = Fragment::default();
    let table = table_of(&pred.test);
    let negated = matches!(
        pred.test,
        Test::Missing { missing: true, .. } | Test::Token { negate: true, .. } | Test::Date { op: RangeOp::Ne, .. }
    ) || matches!(pred.test, Test::Number { op: RangeOp::Ne, .. } | Test::Quantity { op: RangeOp::Ne, .. });
    match &pred.test {
        Test::Id(id) => {
            f.bind("SELECT id FROM resource_current WHERE resource_type = ?", resource_type.to_owned());
            f.bind(" AND deleted = 0 AND id = ?", id.clone());
            return Ok((f, false));
        }
        Test::Has { source_type, reference_param, inner } => {
            f.bind("SELECT x.target_id FROM search_reference x WHERE x.resource_type = ?", source_type.clone());
            f.bind(" AND x.param = ?", reference_param.clone());
            f.bind(" AND x.target_type = ?", resource_type.to_owned());
            let (inner_set, inner_negated) = id_set(source_type, inner)?;
            f.push(if inner_negated { " AND x.id NOT IN (" } else { " AND x.id IN (" });
            f.append(inner_set);
            f.push(")");
            return Ok((f, false));
        }
        _ => {}
    }
    let Some(table) = table else {
        return Err(StoreError::Internal("invariant: a test without an index table".into()));
    };
    f.push(&format!("SELECT x.id FROM {} x WHERE x.resource_type = ?", table.name()));
    f.params.push(resource_type.to_owned().into());
    f.bind(" AND x.param = ?", pred.param.clone());
    condition(&pred.test, &mut f)?;
    Ok((f, negated))
}

fn table_of(test: &Test) -> Option<IndexTable> {
    Some(match test {
        Test::Missing { table, .. } => *table,
        Test::Token { .. } | Test::TokenText(_) => IndexTable::Token,
        Test::String { .. } => IndexTable::String,
        Test::Reference { .. } | Test::ReferenceUrl(_) | Test::Chain { .. } => IndexTable::Reference,
        Test::Date { .. } => IndexTable::Date,
        Test::Number { .. } => IndexTable::Number,
        Test::Quantity { .. } => IndexTable::Quantity,
        Test::Uri { .. } => IndexTable::Uri,
        Test::Composite { .. } => IndexTable::Composite,
        Test::Id(_) | Test::Has { .. } => return None,
    })
}

/// The part of the WHERE clause after `x.resource_type = ? AND x.param = ?`.
fn condition(test: &Test, f: &mut Fragment) -> Result<(), StoreError> {
    match test {
        Test::Missing { .. } => {}
        Test::Token { system, code, .. } => {
            if let Some(code) = code {
                f.bind(" AND x.code = ?", code.clone());
            }
            system_condition("x.system", system, f);
        }
        Test::TokenText(prefix) => prefix_range("x.code", prefix, f),
        Test::String { value, mode } => match mode {
            StringMode::StartsWith => prefix_range("x.norm", value, f),
            StringMode::Contains => f.bind(" AND instr(x.norm, ?) > 0", value.clone()),
            StringMode::Exact => f.bind(" AND x.exact = ?", value.clone()),
        },
        Test::Reference { target_type, target_id } => {
            f.bind(" AND x.target_id = ?", target_id.clone());
            if let Some(t) = target_type {
                f.bind(" AND x.target_type = ?", t.clone());
            }
        }
        Test::ReferenceUrl(url) => f.bind(" AND x.url = ?", url.clone()),
        Test::Date { op, low, high } => range_condition("x.low", "x.high", *op, Sql::Integer(*low), Sql::Integer(*high), f),
        Test::Number { op, value, low, high } => point_condition("x.value", *op, *value, *low, *high, f),
        Test::Quantity { op, value, low, high, system, code } => {
            point_condition("x.value", *op, *value, *low, *high, f);
            if let Some(s) = system {
                f.bind(" AND x.system = ?", s.clone());
            }
            if let Some(c) = code {
                if system.is_some() {
                    f.bind(" AND x.code = ?", c.clone());
                } else {
                    f.bind(" AND (x.code = ?", c.clone());
                    f.bind(" OR x.unit = ?)", c.clone());
                }
            }
        }
        Test::Uri { value, mode } => match mode {
            UriMode::Exact => f.bind(" AND x.uri = ?", value.clone()),
            UriMode::Below => prefix_range("x.uri", value, f),
            UriMode::Above => f.bind(" AND substr(?, 1, length(x.uri)) = x.uri", value.clone()),
        },
        Test::Composite { system, code, second } => {
            f.bind(" AND x.code = ?", code.clone());
            system_condition("x.system", system, f);
            match second.as_ref() {
                Test::Token { system, code, .. } => {
                    if let Some(code) = code {
                        f.bind(" AND x.v_code = ?", code.clone());
                    }
                    system_condition("x.v_system", system, f);
                }
                Test::Quantity { op, value, low, high, system, code } => {
                    point_condition("((x.v_low + x.v_high) / 2)", *op, *value, *low, *high, f);
                    if let Some(s) = system {
                        f.bind(" AND x.v_system = ?", s.clone());
                    }
                    if let Some(c) = code {
                        f.bind(" AND x.v_code = ?", c.clone());
                    }
                }
                Test::Date { op, low, high } => {
                    range_condition("x.v_low", "x.v_high", *op, Sql::Real(*low as f64), Sql::Real(*high as f64), f)
                }
                _ => return Err(StoreError::Internal("invariant: unsupported composite component".into())),
            }
        }
        Test::Chain { target_types, inner } => {
            f.push(" AND (");
            for (i, t) in target_types.iter().enumerate() {
                if i > 0 {
                    f.push(" OR ");
                }
                let (set, negated) = id_set(t, inner)?;
                f.bind("(x.target_type = ?", t.clone());
                f.push(if negated { " AND x.target_id NOT IN (" } else { " AND x.target_id IN (" });
                f.append(set);
                f.push("))");
            }
            if target_types.is_empty() {
                f.push("0");
            }
            f.push(")");
        }
        Test::Id(_) | Test::Has { .. } => {}
    }
    Ok(())
}

fn system_condition(column: &str, system: &Option<Option<String>>, f: &mut Fragment) {
    match system {
        None => {}
        Some(None) => f.push(&format!(" AND {column} IS NULL")),
        Some(Some(s)) => f.bind(&format!(" AND {column} = ?"), s.clone()),
    }
}

fn prefix_range(column: &str, prefix: &str, f: &mut Fragment) {
    f.bind(&format!(" AND {column} >= ?"), prefix.to_owned());
    f.bind(&format!(" AND {column} < ?"), format!("{prefix}{PREFIX_END}"));
}

/// A stored range [lo, hi] against the search range [s_low, s_high], by the prefix rules of FHIR dates.
fn range_condition(lo: &str, hi: &str, op: RangeOp, s_low: Sql, s_high: Sql, f: &mut Fragment) {
    let contained = |f: &mut Fragment| {
        f.bind(&format!("({lo} >= ?"), s_low.clone());
        f.bind(&format!(" AND {hi} <= ?)"), s_high.clone());
    };
    match op {
        RangeOp::Eq | RangeOp::Ne => {
            f.push(" AND ");
            contained(f);
        }
        RangeOp::Gt => f.bind(&format!(" AND {hi} > ?"), s_high),
        RangeOp::Lt => f.bind(&format!(" AND {lo} < ?"), s_low),
        RangeOp::Ge => {
            f.bind(&format!(" AND ({hi} > ? OR "), s_high.clone());
            contained(f);
            f.push(")");
        }
        RangeOp::Le => {
            f.bind(&format!(" AND ({lo} < ? OR "), s_low.clone());
            contained(f);
            f.push(")");
        }
        RangeOp::Sa => f.bind(&format!(" AND {lo} > ?"), s_high),
        RangeOp::Eb => f.bind(&format!(" AND {hi} < ?"), s_low),
        RangeOp::Overlaps => {
            f.bind(&format!(" AND {lo} <= ?"), s_high);
            f.bind(&format!(" AND {hi} >= ?"), s_low);
        }
    }
}

/// A stored value against a search value with its precision range [low, high).
fn point_condition(column: &str, op: RangeOp, value: f64, low: f64, high: f64, f: &mut Fragment) {
    match op {
        RangeOp::Eq | RangeOp::Ne => {
            f.bind(&format!(" AND {column} >= ?"), low);
            f.bind(&format!(" AND {column} < ?"), high);
        }
        RangeOp::Gt | RangeOp::Sa => f.bind(&format!(" AND {column} > ?"), value),
        RangeOp::Lt | RangeOp::Eb => f.bind(&format!(" AND {column} < ?"), value),
        RangeOp::Ge => f.bind(&format!(" AND {column} >= ?"), value),
        RangeOp::Le => f.bind(&format!(" AND {column} <= ?"), value),
        RangeOp::Overlaps => {
            f.bind(&format!(" AND {column} >= ?"), low);
            f.bind(&format!(" AND {column} <= ?"), high);
        }
    }
}

/// `c.resource_type = ? AND c.deleted = 0 AND <every filter group>`.
fn filters(q: &Query) -> Result<Fragment, StoreError> {
    let mut f = Fragment::default();
    f.bind("c.resource_type = ? AND c.deleted = 0", q.resource_type.clone());
    for group in &q.filters {
        f.push(" AND (");
        for (i, pred) in group.iter().enumerate() {
            if i > 0 {
                f.push(" OR ");
            }
            if let Test::Id(id) = &pred.test {
                f.bind("c.id = ?", id.clone());
                continue;
            }
            let (set, negated) = id_set(&q.resource_type, pred)?;
            f.push(if negated { "c.id NOT IN (" } else { "c.id IN (" });
            f.append(set);
            f.push(")");
        }
        if group.is_empty() {
            f.push("1");
        }
        f.push(")");
    }
    Ok(f)
}

/// The SQL expression of a sort key for row `c`: never NULL, so that keyset comparisons work. Missing
/// values sort last in both directions.
fn sort_expr(key: &SortKey, f: &mut Fragment) {
    let Some(param) = &key.param else {
        f.push("c.id");
        return;
    };
    let (column_asc, column_desc) = match key.table {
        IndexTable::Date => ("MIN(x.low)", "MAX(x.high)"),
        IndexTable::String => ("MIN(x.norm)", "MAX(x.norm)"),
        IndexTable::Token => ("MIN(x.code)", "MAX(x.code)"),
        IndexTable::Number | IndexTable::Quantity => ("MIN(x.value)", "MAX(x.value)"),
        IndexTable::Reference => ("MIN(x.target_id)", "MAX(x.target_id)"),
        IndexTable::Uri => ("MIN(x.uri)", "MAX(x.uri)"),
        IndexTable::Composite => ("MIN(x.code)", "MAX(x.code)"),
    };
    let column = if key.descending { column_desc } else { column_asc };
    let missing = if key.descending { "-9e307" } else { "X'00'" };
    f.push(&format!("COALESCE((SELECT {column} FROM {} x WHERE x.resource_type = c.resource_type AND x.id = c.id AND x.param = ?", key.table.name()));
    f.params.push(param.clone().into());
    f.push(&format!("), {missing})"));
}

/// One page of matches, each with its sort-key values (the last is the id) for resuming after it.
pub fn search(c: &Connection, q: &Query) -> Result<Vec<(Stored, Vec<Value>)>, StoreError> {
    let mut keys: Vec<SortKey> = q.sort.iter().filter(|k| k.param.is_some()).cloned().collect();
    let id_desc = q.sort.iter().find(|k| k.param.is_none()).is_some_and(|k| k.descending);
    keys.push(SortKey { param: None, table: IndexTable::Token, descending: id_desc });
    let mut f = Fragment::default();
    f.push("SELECT q.seq0");
    for i in 0..keys.len() {
        f.push(&format!(", q.k{i}"));
    }
    f.push(" FROM (SELECT c.seq AS seq0");
    for (i, k) in keys.iter().enumerate() {
        f.push(", ");
        sort_expr(k, &mut f);
        f.push(&format!(" AS k{i}"));
    }
    f.push(" FROM resource_current c WHERE ");
    f.append(filters(q)?);
    f.push(") q");
    let reverse = q.after.is_none() && q.before.is_some();
    if let Some(after) = q.after.as_ref().or(q.before.as_ref()) {
        if after.len() != keys.len() {
            return Err(StoreError::Internal("invariant: the cursor does not match the sort".into()));
        }
        f.push(" WHERE (");
        for i in 0..keys.len() {
            if i > 0 {
                f.push(" OR ");
            }
            f.push("(");
            for (j, prior) in after.iter().enumerate().take(i) {
                f.bind(&format!("q.k{j} = ? AND "), to_sql(prior));
            }
            let op = if keys[i].descending != reverse { "<" } else { ">" };
            f.bind(&format!("q.k{i} {op} ?"), to_sql(&after[i]));
            f.push(")");
        }
        f.push(")");
    }
    f.push(" ORDER BY ");
    for (i, k) in keys.iter().enumerate() {
        if i > 0 {
            f.push(", ");
        }
        f.push(&format!("q.k{i}{}", if k.descending != reverse { " DESC" } else { "" }));
    }
    f.bind(" LIMIT ?", q.limit as i64);
    let mut stmt = c.prepare_cached(&f.text)?;
    let width = keys.len();
    let hits = stmt.query_map(rusqlite::params_from_iter(f.params), |r| {
        let seq: i64 = r.get(0)?;
        let mut values = Vec::with_capacity(width);
        for i in 0..width {
            values.push(from_sql(r.get::<_, Sql>(i + 1)?));
        }
        Ok((seq, values))
    })?;
    let hits = hits.collect::<Result<Vec<_>, _>>()?;
    let mut out = Vec::with_capacity(hits.len());
    for (seq, values) in hits {
        if let Some(s) = rows::by_seq(c, seq)? {
            out.push((s, values));
        }
    }
    if reverse {
        out.reverse();
    }
    Ok(out)
}

/// How many live resources match (the cursor and limit are ignored).
pub fn count(c: &Connection, q: &Query) -> Result<u64, StoreError> {
    let mut f = Fragment::default();
    f.push("SELECT COUNT(*) FROM resource_current c WHERE ");
    f.append(filters(q)?);
    let n: i64 = c.prepare_cached(&f.text)?.query_row(rusqlite::params_from_iter(f.params), |r| r.get(0))?;
    Ok(n as u64)
}

/// References held by the given resources (for `_include`), optionally only through `params`.
pub fn links_from(c: &Connection, resource_type: &str, ids: &[String], params: Option<&[String]>) -> Result<Vec<Link>, StoreError> {
    let mut f = Fragment::default();
    f.bind(
        "SELECT resource_type, id, param, target_type, target_id FROM search_reference WHERE resource_type = ? AND target_id IS NOT NULL",
        resource_type.to_owned(),
    );
    in_list("id", ids, &mut f);
    if let Some(p) = params {
        in_list("param", p, &mut f);
    }
    links(c, f)
}

/// References pointing at the given resources (for `_revinclude` and compartments), optionally only from
/// `source_type` through `param`.
pub fn links_to(c: &Connection, target_type: &str, ids: &[String], source_type: Option<&str>, param: Option<&str>) -> Result<Vec<Link>, StoreError> {
    let mut f = Fragment::default();
    f.bind("SELECT resource_type, id, param, target_type, target_id FROM search_reference WHERE target_type = ?", target_type.to_owned());
    in_list("target_id", ids, &mut f);
    if let Some(t) = source_type {
        f.bind(" AND resource_type = ?", t.to_owned());
    }
    if let Some(p) = param {
        f.bind(" AND param = ?", p.to_owned());
    }
    links(c, f)
}

fn in_list(column: &str, values: &[String], f: &mut Fragment) {
    f.push(&format!(" AND {column} IN ("));
    for (i, v) in values.iter().enumerate() {
        f.bind(if i == 0 { "?" } else { ", ?" }, v.clone());
    }
    if values.is_empty() {
        f.push("NULL");
    }
    f.push(")");
}

fn links(c: &Connection, f: Fragment) -> Result<Vec<Link>, StoreError> {
    let mut stmt = c.prepare(&f.text)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(f.params), |r| {
        Ok(Link { resource_type: r.get(0)?, id: r.get(1)?, param: r.get(2)?, target_type: r.get(3)?, target_id: r.get(4)? })
    })?;
    let mut out = rows.collect::<Result<Vec<_>, _>>()?;
    out.sort();
    out.dedup();
    Ok(out)
}

fn to_sql(v: &Value) -> Sql {
    match v {
        Value::Null => Sql::Null,
        Value::Bool(b) => Sql::Integer(*b as i64),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Sql::Integer(i),
            None => Sql::Real(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => Sql::Text(s.clone()),
        Value::Object(o) => match o.get("blob").and_then(Value::as_str) {
            Some(hex) => Sql::Blob((0..hex.len() / 2).filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()).collect()),
            None => Sql::Null,
        },
        Value::Array(_) => Sql::Null,
    }
}

fn from_sql(v: Sql) -> Value {
    match v {
        Sql::Null => Value::Null,
        Sql::Integer(i) => Value::from(i),
        Sql::Real(r) => serde_json::Number::from_f64(r).map(Value::Number).unwrap_or(Value::Null),
        Sql::Text(s) => Value::String(s),
        Sql::Blob(b) => serde_json::json!({ "blob": b.iter().map(|x| format!("{x:02x}")).collect::<String>() }),
    }
}
