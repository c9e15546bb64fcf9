//! The statements that serve one person's record (`$everything`): every statement filters each table it
//! reads on `person_key`, the key the store would be distributed by, so a sharded store answers them from
//! the person's shard alone.

use super::{Dialect, Fragment, STORED_COLUMNS};
use crate::search::RecordQuery;

/// The live current resources of the person's record, in (type, id) order, after the cursor.
pub fn record(d: Dialect, q: &RecordQuery) -> Fragment {
    let mut f = Fragment::new(d);
    f.bind(
        &format!(
            "SELECT {STORED_COLUMNS} FROM resource_current c JOIN resource_version v ON v.seq = c.seq AND v.person_key = c.person_key \
             WHERE c.person_key = ?"
        ),
        q.person.as_str(),
    );
    f.push(" AND c.deleted = 0");
    if let Some(types) = &q.types {
        f.in_list("c.resource_type", types);
    }
    if let Some((t, id)) = &q.after {
        f.bind(" AND (c.resource_type > ?", t.as_str());
        f.bind(" OR (c.resource_type = ?", t.as_str());
        f.bind(" AND c.id > ?))", id.as_str());
    }
    if let Some(since) = &q.since {
        f.bind(" AND v.last_updated >= ?", since.as_str());
    }
    super::access::visible(&mut f, &q.visibility, "c");
    f.bind(" ORDER BY c.resource_type, c.id LIMIT ?", q.limit as i64);
    f
}

/// The references held by the given resources of the person's record.
pub fn links(d: Dialect, person: &str, keys: &[(String, String)]) -> Fragment {
    let mut f = Fragment::new(d);
    f.bind("SELECT x.resource_type, x.id, x.param, x.target_type, x.target_id FROM search_reference x WHERE x.person_key = ?", person);
    f.push(" AND x.target_id IS NOT NULL AND (");
    let mut types: Vec<&str> = keys.iter().map(|(t, _)| t.as_str()).collect();
    types.sort_unstable();
    types.dedup();
    for (i, t) in types.iter().enumerate() {
        if i > 0 {
            f.push(" OR ");
        }
        f.bind("(x.resource_type = ?", *t);
        let ids: Vec<String> = keys.iter().filter(|(kt, _)| kt == t).map(|(_, id)| id.clone()).collect();
        f.in_list("x.id", &ids);
        f.push(")");
    }
    if types.is_empty() {
        f.push("1 = 0");
    }
    f.push(")");
    f
}
