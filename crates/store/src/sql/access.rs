//! The access decision as SQL, for both dialects: one condition on a resource row (current or version)
//! that holds when the caller may see it, joined to `access_relation` by the row's person key.

use super::Fragment;
use crate::access::{RelationKind, StaffVisibility, Visibility};

/// Appends ` AND (<row t is visible>)` for the alias `t` of `resource_current` or `resource_version` (both
/// carry `resource_type`, `id`, `person_key`, `recorded_by` and `restricted`). Nothing for `All`.
pub fn visible(f: &mut Fragment, vis: &Visibility, t: &str) {
    match vis {
        Visibility::All => {}
        Visibility::Shared => f.push(&format!(" AND {t}.person_key IS NULL")),
        Visibility::Person { patient, types, restricted } => {
            f.bind(&format!(" AND ({t}.person_key IS NULL OR ({t}.person_key = ?"), patient.as_str());
            if !restricted {
                f.push(&format!(" AND {t}.restricted = 0"));
            }
            if let Some(types) = types {
                f.one_of(&format!("{t}.resource_type"), types);
            }
            f.push("))");
        }
        Visibility::Staff(s) => staff(f, s, t),
    }
}

/// The kinds of relationship that grant a member of staff access: support staff only their organisation's.
fn kinds(s: &StaffVisibility) -> Vec<&'static str> {
    let all: &[RelationKind] = if s.administrative.is_some() {
        &[RelationKind::Registered, RelationKind::Episode, RelationKind::Encounter]
    } else {
        &[
            RelationKind::Registered,
            RelationKind::Episode,
            RelationKind::Coordinator,
            RelationKind::Team,
            RelationKind::Encounter,
            RelationKind::Conference,
            RelationKind::BreakGlass,
        ]
    };
    all.iter().map(|k| k.as_str()).collect()
}

fn staff(f: &mut Fragment, s: &StaffVisibility, t: &str) {
    // A relationship holds now between one of the caller's parties and the row's person: on SQLite one probe
    // of the relationship index per party (an `IN` list of parties would be answered from a temporary table
    // made on every execution, see `Fragment::one_of`), on PostgreSQL one probe with the list.
    f.push(&format!(" AND ({t}.person_key IS NULL OR (("));
    let probes: Vec<&[String]> = match f.dialect {
        super::Dialect::Sqlite => s.parties.chunks(1).collect(),
        super::Dialect::Postgres => vec![&s.parties[..]],
    };
    if probes.is_empty() {
        f.push("1 = 0");
    }
    for (i, parties) in probes.into_iter().enumerate() {
        if i > 0 {
            f.push(" OR ");
        }
        f.push(&format!("EXISTS (SELECT 1 FROM access_relation a WHERE a.person_key = {t}.person_key"));
        f.in_list("a.party", parties);
        // The kind is checked on the index entries found, never probed: a probe per (party, kind) pair is six
        // per party where one is enough.
        f.one_of_names("a.kind", &kinds(s));
        f.bind(" AND (a.start_ms IS NULL OR a.start_ms <= ?)", s.now);
        f.bind(" AND (a.until_ms IS NULL OR a.until_ms > CASE a.kind WHEN 'encounter' THEN ?", s.encounters_since);
        f.bind(" WHEN 'conference' THEN ?", s.conferences_since);
        f.bind(" ELSE ? END))", s.now);
    }
    f.push(")");
    // What the view shows: support staff demographics and appointments; restricted items only to the
    // organisation that recorded them; after an opt-out, what the caller's organisation recorded plus the
    // demographics and the opt-out itself.
    if let Some(types) = &s.administrative {
        f.one_of_names(&format!("{t}.resource_type"), types);
        f.bind(&format!(" AND ({t}.restricted = 0 OR {t}.recorded_by = ?)))"), s.organisation.as_str());
        return;
    }
    f.bind(&format!(" AND ({t}.recorded_by = ?"), s.organisation.as_str());
    f.push(&format!(" OR ({t}.restricted = 0 AND (1 = 0 OR (1 = 1"));
    f.one_of_names(&format!("{t}.resource_type"), s.demographics);
    f.push(")");
    f.push(&format!(" OR NOT EXISTS (SELECT 1 FROM access_relation o WHERE o.person_key = {t}.person_key AND o.party = '' AND o.kind = 'opt-out'"));
    f.bind(" AND (o.start_ms IS NULL OR o.start_ms <= ?)", s.now);
    f.bind(" AND (o.until_ms IS NULL OR o.until_ms > ?))", s.now);
    f.push(&format!(
        " OR EXISTS (SELECT 1 FROM access_relation o WHERE o.resource_type = {t}.resource_type AND o.id = {t}.id AND o.kind = 'opt-out'))"
    ));
    f.push("))))");
}
