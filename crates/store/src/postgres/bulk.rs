//! Bulk reads on PostgreSQL: scans of current versions in `seq` order streamed through a server-side
//! cursor (a chunk never sits in memory whole), live counts per type, and the dangling-reference check run
//! after an import.

use super::{pg, PgStore};
use crate::bulk::{Dangling, DanglingLink, PersonScope, Scan, ScanEnd, ScanRow};
use crate::error::StoreError;
use std::path::PathBuf;

/// Rows fetched from the cursor per round trip.
const FETCH: usize = 500;

impl PgStore {
    /// The folder for files kept beside the database (`PgOptions::data_dir`): bulk export files live on the
    /// disk of the node that made them.
    pub fn data_dir(&self) -> Option<PathBuf> {
        Some(self.inner.data_dir.clone())
    }

    pub async fn last_seq(&self) -> Result<i64, StoreError> {
        let c = self.ready_client().await?;
        c.query_one("SELECT COALESCE(MAX(seq), 0)::bigint FROM resource_version", &[]).await.map_err(pg)?.try_get(0).map_err(pg)
    }

    pub async fn live_counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let c = self.ready_client().await?;
        let rows = c
            .query("SELECT resource_type, COUNT(*) FROM resource_current WHERE deleted = 0 GROUP BY resource_type ORDER BY resource_type", &[])
            .await
            .map_err(pg)?;
        rows.iter().map(|r| Ok((r.try_get::<_, String>(0).map_err(pg)?, r.try_get::<_, i64>(1).map_err(pg)?.max(0) as u64))).collect()
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
        let client = self.ready_client().await.map_err(E::from)?;
        let rt = tokio::runtime::Handle::current();
        let run = tokio::task::spawn_blocking(move || {
            let mut state = state;
            rt.block_on(client.batch_execute("BEGIN READ ONLY")).map_err(|e| E::from(pg(e)))?;
            let result = scan_chunk(&client, &rt, &scan, &mut state, &mut each);
            let _ = rt.block_on(client.batch_execute(if result.is_ok() { "COMMIT" } else { "ROLLBACK" }));
            result.map(|end| (state, end))
        });
        match run.await {
            Ok(r) => r,
            Err(join) => Err(E::from(StoreError::Internal(Box::new(join)))),
        }
    }

    pub async fn dangling_links(&self, after_seq: i64, samples: usize) -> Result<Dangling, StoreError> {
        let c = self.ready_client().await?;
        let rows = c
            .query(
                "SELECT l.resource_type, l.id, l.target_type, l.target_id, count(*) OVER () AS n
                 FROM resource_link l
                 WHERE NOT EXISTS (SELECT 1 FROM resource_current t
                                   WHERE t.resource_type = l.target_type AND t.id = l.target_id AND t.deleted = 0)
                   AND ($1::bigint = 0 OR EXISTS (SELECT 1 FROM resource_current o
                                                  WHERE o.resource_type = l.resource_type AND o.id = l.id AND o.seq > $1::bigint))
                 ORDER BY l.target_type, l.target_id, l.resource_type, l.id
                 LIMIT $2::bigint",
                &[&after_seq, &(samples.max(1) as i64)],
            )
            .await
            .map_err(pg)?;
        let mut out = Dangling::default();
        for (i, r) in rows.iter().enumerate() {
            out.count = r.try_get::<_, i64>(4).map_err(pg)?.max(0) as u64;
            if i < samples {
                out.samples.push(DanglingLink {
                    resource_type: r.try_get(0).map_err(pg)?,
                    id: r.try_get(1).map_err(pg)?,
                    target_type: r.try_get(2).map_err(pg)?,
                    target_id: r.try_get(3).map_err(pg)?,
                });
            }
        }
        Ok(out)
    }
}

/// One chunk: a cursor over the type's live current versions after `after_seq`, fetched `FETCH` rows at a
/// time.
fn scan_chunk<S, E>(
    c: &deadpool_postgres::Object,
    rt: &tokio::runtime::Handle,
    scan: &Scan,
    state: &mut S,
    each: &mut impl FnMut(&mut S, ScanRow<'_>) -> Result<(), E>,
) -> Result<ScanEnd, E>
where
    E: From<StoreError>,
{
    let fail = |e: tokio_postgres::Error| E::from(pg(e));
    let any_person = !matches!(scan.persons, PersonScope::All);
    let limit = scan.limit.max(1) as i64;
    rt.block_on(c.execute(
        "DECLARE joinery_scan NO SCROLL CURSOR FOR
         SELECT v.seq, v.id, v.person_key, v.body FROM resource_version v
         JOIN resource_current c ON c.resource_type = v.resource_type AND c.id = v.id AND c.seq = v.seq
         WHERE v.resource_type = $1::text AND v.seq > $2::bigint AND c.deleted = 0
           AND ($3::text IS NULL OR v.last_updated >= $3::text)
           AND (NOT $4::boolean OR v.person_key IS NOT NULL)
         ORDER BY v.seq LIMIT $5::bigint",
        &[&scan.resource_type, &scan.after_seq, &scan.since, &any_person, &limit],
    ))
    .map_err(fail)?;
    let mut end = ScanEnd { visited: 0, matched: 0, last_seq: scan.after_seq };
    loop {
        let rows = rt.block_on(c.query(&format!("FETCH {FETCH} FROM joinery_scan"), &[])).map_err(fail)?;
        for r in &rows {
            let seq: i64 = r.try_get(0).map_err(fail)?;
            end.visited += 1;
            end.last_seq = seq;
            let person_key: Option<&str> = r.try_get(2).map_err(fail)?;
            if let PersonScope::Persons(wanted) = &scan.persons {
                if !person_key.is_some_and(|k| wanted.contains(k)) {
                    continue;
                }
            }
            let id: &str = r.try_get(1).map_err(fail)?;
            let Some(body) = r.try_get::<_, Option<&str>>(3).map_err(fail)? else { continue };
            end.matched += 1;
            each(state, ScanRow { seq, id, person_key, body })?;
        }
        if rows.len() < FETCH {
            break;
        }
    }
    rt.block_on(c.batch_execute("CLOSE joinery_scan")).map_err(fail)?;
    Ok(end)
}
