//! One person's record on SQLite (`$everything`): the shared statements of `crate::sql::person` run on a
//! read connection.

use super::search::params;
use super::{rows, SqliteStore};
use crate::error::StoreError;
use crate::model::Stored;
use crate::search::{Link, RecordQuery};
use crate::sql::{self, Dialect};

impl SqliteStore {
    pub async fn person_record(&self, q: RecordQuery) -> Result<Vec<Stored>, StoreError> {
        self.with_reader("person_record", move |c| {
            let f = sql::person::record(Dialect::Sqlite, &q);
            let mut stmt = c.prepare_cached(&f.sql())?;
            let rows = stmt.query_map(rusqlite::params_from_iter(params(&f)), rows::stored)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    pub async fn person_links(&self, person: String, keys: Vec<(String, String)>) -> Result<Vec<Link>, StoreError> {
        self.with_reader("person_links", move |c| {
            let f = sql::person::links(Dialect::Sqlite, &person, &keys);
            let mut stmt = c.prepare(&f.sql())?;
            let rows = stmt.query_map(rusqlite::params_from_iter(params(&f)), |r| {
                Ok(Link { resource_type: r.get(0)?, id: r.get(1)?, param: r.get(2)?, target_type: r.get(3)?, target_id: r.get(4)? })
            })?;
            let mut out = rows.collect::<Result<Vec<_>, _>>()?;
            out.sort();
            out.dedup();
            Ok(out)
        })
        .await
    }

    /// Current versions of shared resources (no person key), in the order given; others are skipped.
    pub async fn read_shared(&self, keys: Vec<(String, String)>) -> Result<Vec<Stored>, StoreError> {
        self.with_reader("read_shared", move |c| {
            let mut out = Vec::with_capacity(keys.len());
            for (t, id) in &keys {
                if let Some(s) = rows::current(c, t, id)?.filter(|s| !s.deleted && s.person_key.is_none()) {
                    out.push(s);
                }
            }
            Ok(out)
        })
        .await
    }
}
