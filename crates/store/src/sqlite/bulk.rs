//! Bulk reads on SQLite: chunked scans of current versions in `seq` order on a read connection, live counts
//! per type, and the dangling-reference check run after an import.

use super::SqliteStore;
use crate::bulk::{Dangling, DanglingLink, PersonScope, Scan, ScanEnd, ScanRow};
use crate::error::StoreError;
use rusqlite::Connection;
use std::path::PathBuf;

impl SqliteStore {
    pub fn data_dir(&self) -> Option<PathBuf> {
        let parent = self.inner.path.parent()?;
        Some(if parent.as_os_str().is_empty() { PathBuf::from(".") } else { parent.to_path_buf() })
    }

    pub async fn last_seq(&self) -> Result<i64, StoreError> {
        self.with_reader("last_seq", |c| Ok(c.query_row("SELECT COALESCE(MAX(seq), 0) FROM resource_version", [], |r| r.get(0))?)).await
    }

    pub async fn live_counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        self.with_bulk_reader("live_counts", |c| {
            let mut stmt = c.prepare_cached(
                "SELECT resource_type, COUNT(*) FROM resource_current WHERE deleted = 0 GROUP BY resource_type ORDER BY resource_type",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.max(0) as u64)))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    pub async fn scan_current<S, E>(
        &self,
        scan: Scan,
        state: S,
        mut each: impl FnMut(&mut S, ScanRow<'_>) -> Result<(), E> + Send + 'static,
    ) -> Result<(S, ScanEnd), E>
    where
        S: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let outcome = self
            .with_bulk_reader("scan", move |c| {
                let mut state = state;
                Ok(scan_chunk(c, &scan, &mut state, &mut each).map(|end| (state, end)))
            })
            .await;
        match outcome {
            Ok(inner) => inner,
            Err(e) => Err(E::from(e)),
        }
    }

    pub async fn dangling_links(&self, after_seq: i64, samples: usize) -> Result<Dangling, StoreError> {
        self.with_bulk_reader("dangling", move |c| {
            // Links are walked in target order, so the look-ups of their targets touch the current-version
            // table in key order; the owner is only checked for links that dangle.
            let mut stmt = c.prepare(
                "SELECT l.resource_type, l.id, l.target_type, l.target_id
                 FROM resource_link l INDEXED BY resource_link_target
                 WHERE NOT EXISTS (SELECT 1 FROM resource_current t
                                   WHERE t.resource_type = l.target_type AND t.id = l.target_id AND t.deleted = 0)
                   AND (?1 = 0 OR EXISTS (SELECT 1 FROM resource_current o
                                          WHERE o.resource_type = l.resource_type AND o.id = l.id AND o.seq > ?1))",
            )?;
            let mut rows = stmt.query([after_seq])?;
            let mut out = Dangling::default();
            while let Some(r) = rows.next()? {
                out.count += 1;
                if out.samples.len() < samples {
                    out.samples.push(DanglingLink { resource_type: r.get(0)?, id: r.get(1)?, target_type: r.get(2)?, target_id: r.get(3)? });
                }
            }
            Ok(out)
        })
        .await
    }
}

fn scan_chunk<S, E>(c: &Connection, scan: &Scan, state: &mut S, each: &mut impl FnMut(&mut S, ScanRow<'_>) -> Result<(), E>) -> Result<ScanEnd, E>
where
    E: From<StoreError>,
{
    let mut sql = String::from(
        "SELECT v.seq, v.id, v.person_key, v.body FROM resource_version v INDEXED BY resource_version_type_seq
         JOIN resource_current c ON c.resource_type = v.resource_type AND c.id = v.id
         WHERE v.resource_type = ?1 AND v.seq > ?2 AND c.seq = v.seq AND c.deleted = 0",
    );
    if scan.since.is_some() {
        sql.push_str(" AND v.last_updated >= ?4");
    }
    if !matches!(scan.persons, PersonScope::All) {
        sql.push_str(" AND v.person_key IS NOT NULL");
    }
    sql.push_str(" ORDER BY v.seq LIMIT ?3");
    let sql_error = |e: rusqlite::Error| E::from(StoreError::from(e));
    let mut stmt = c.prepare_cached(&sql).map_err(sql_error)?;
    let limit = scan.limit.max(1) as i64;
    let mut rows = match &scan.since {
        Some(since) => stmt.query(rusqlite::params![scan.resource_type, scan.after_seq, limit, since]),
        None => stmt.query(rusqlite::params![scan.resource_type, scan.after_seq, limit]),
    }
    .map_err(sql_error)?;
    let mut end = ScanEnd { visited: 0, matched: 0, last_seq: scan.after_seq };
    while let Some(r) = rows.next().map_err(sql_error)? {
        let seq: i64 = r.get(0).map_err(sql_error)?;
        end.visited += 1;
        end.last_seq = seq;
        let person_key = r.get_ref(2).map_err(sql_error)?.as_str_or_null().map_err(|e| sql_error(e.into()))?;
        if let PersonScope::Persons(set) = &scan.persons {
            if !person_key.is_some_and(|k| set.contains(k)) {
                continue;
            }
        }
        let id = r.get_ref(1).map_err(sql_error)?.as_str().map_err(|e| sql_error(e.into()))?;
        let Some(body) = r.get_ref(3).map_err(sql_error)?.as_str_or_null().map_err(|e| sql_error(e.into()))? else { continue };
        end.matched += 1;
        each(state, ScanRow { seq, id, person_key, body })?;
    }
    Ok(end)
}
