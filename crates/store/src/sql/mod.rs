//! SQL shared by the SQLite and PostgreSQL backends: a statement builder that knows the two dialects
//! (placeholders, string functions, `IN` lists), the driver-neutral parameter values it binds, and the
//! statements whose text is the same in both (search, includes, history, token finds).

pub mod access;
pub mod person;
pub mod search;

/// Which database a statement is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A value bound to a placeholder, before it is handed to a driver.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Int(i64),
    Real(f64),
    Text(String),
    /// A list of texts: bound as one array on PostgreSQL (`= ANY($n)`), spread over placeholders on SQLite.
    TextList(Vec<String>),
}

impl From<i64> for Param {
    fn from(v: i64) -> Self {
        Param::Int(v)
    }
}

impl From<f64> for Param {
    fn from(v: f64) -> Self {
        Param::Real(v)
    }
}

impl From<String> for Param {
    fn from(v: String) -> Self {
        Param::Text(v)
    }
}

impl From<&str> for Param {
    fn from(v: &str) -> Self {
        Param::Text(v.to_owned())
    }
}

/// A statement being built: its text, with `?` where each parameter goes, and the parameters in order.
/// `sql()` renders the placeholders for the dialect (`?` stays `?` on SQLite, becomes `$1`, `$2`… on
/// PostgreSQL), so fragments built apart can be appended in any order.
#[derive(Debug, Clone)]
pub struct Fragment {
    pub dialect: Dialect,
    text: String,
    pub params: Vec<Param>,
}

impl Fragment {
    pub fn new(dialect: Dialect) -> Self {
        Fragment { dialect, text: String::new(), params: Vec::new() }
    }

    pub fn push(&mut self, text: &str) {
        debug_assert!(!text.contains('?'), "invariant: placeholders are added with bind: {text}");
        self.text.push_str(text);
    }

    /// Puts `text` (no placeholder) before the statement (`EXPLAIN `).
    pub fn prepend(&mut self, text: &str) {
        debug_assert!(!text.contains('?'), "invariant: placeholders are added with bind: {text}");
        self.text.insert_str(0, text);
    }

    /// Appends `text`, whose one `?` is where `value` goes.
    pub fn bind(&mut self, text: &str, value: impl Into<Param>) {
        debug_assert_eq!(text.matches('?').count(), 1, "invariant: one placeholder per bind: {text}");
        self.text.push_str(text);
        self.params.push(value.into());
    }

    pub fn append(&mut self, other: Fragment) {
        self.text.push_str(&other.text);
        self.params.extend(other.params);
    }

    /// ` AND column IN (…values…)`; an empty list matches nothing.
    pub fn in_list(&mut self, column: &str, values: &[String]) {
        if values.is_empty() {
            self.push(" AND 1 = 0");
            return;
        }
        match self.dialect {
            Dialect::Postgres => self.bind(&format!(" AND {column} = ANY(?)"), Param::TextList(values.to_vec())),
            Dialect::Sqlite => {
                self.push(&format!(" AND {column} IN ("));
                for (i, v) in values.iter().enumerate() {
                    self.text.push_str(if i == 0 { "?" } else { ", ?" });
                    self.params.push(Param::Text(v.clone()));
                }
                self.push(")");
            }
        }
    }

    /// ` AND <expr> is one of values`, for short lists of values the caller's own code chose (kinds, types):
    /// on SQLite as equalities joined by OR on `+expr`, never as an index probe. SQLite answers `IN` with more
    /// than two bound values from an ephemeral table, a temporary b-tree with its own page cache made and
    /// dropped on every execution (measured: a clinician's read by id made one per request, and the page
    /// cache's allocations and the kernel's page faults took more time than the query).
    pub fn one_of(&mut self, expr: &str, values: &[String]) {
        match self.dialect {
            Dialect::Postgres => self.in_list(expr, values),
            Dialect::Sqlite if values.is_empty() => self.push(" AND 1 = 0"),
            Dialect::Sqlite => {
                self.push(" AND (");
                for (i, v) in values.iter().enumerate() {
                    self.text.push_str(if i == 0 { "+" } else { " OR +" });
                    self.text.push_str(expr);
                    self.text.push_str(" = ?");
                    self.params.push(Param::Text(v.clone()));
                }
                self.push(")");
            }
        }
    }

    /// As `one_of` for names fixed in the code (resource types, relationship kinds), written into the
    /// statement rather than bound: fewer parameters per execution, and one statement text for every caller.
    /// A name that is not letters, digits and '-' is bound instead.
    pub fn one_of_names(&mut self, expr: &str, names: &[&'static str]) {
        if !names.iter().all(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')) {
            return self.one_of(expr, &names.iter().map(|n| n.to_string()).collect::<Vec<_>>());
        }
        let quoted: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
        match self.dialect {
            _ if names.is_empty() => self.push(" AND 1 = 0"),
            Dialect::Postgres => self.push(&format!(" AND {expr} IN ({})", quoted.join(", "))),
            Dialect::Sqlite => {
                let plus = format!(" OR +{expr} = ");
                self.push(&format!(" AND (+{expr} = {})", quoted.join(&plus)));
            }
        }
    }

    /// The statement text with the dialect's placeholders.
    pub fn sql(&self) -> String {
        placeholders(self.dialect, &self.text)
    }
}

/// Renders `?` placeholders for the dialect. Statements here never hold a literal `?`.
pub fn placeholders(dialect: Dialect, text: &str) -> String {
    match dialect {
        Dialect::Sqlite => text.to_owned(),
        Dialect::Postgres => {
            let mut out = String::with_capacity(text.len() + 16);
            let mut n = 0;
            for ch in text.chars() {
                if ch == '?' {
                    n += 1;
                    out.push('$');
                    out.push_str(&n.to_string());
                } else {
                    out.push(ch);
                }
            }
            out
        }
    }
}

/// The columns of `resource_version v` that make a `Stored`, in the order the backends read them.
pub const STORED_COLUMNS: &str =
    "v.seq, v.resource_type, v.id, v.version, v.person_key, v.last_updated, v.method, v.deleted, v.body, v.recorded_by, v.restricted";
/// How many columns `STORED_COLUMNS` names (what a statement selects after them starts here).
pub const STORED_WIDTH: usize = 11;

/// The current version of a resource (deleted or not) if the caller may see it.
pub fn current(dialect: Dialect, resource_type: &str, id: &str, vis: &crate::access::Visibility) -> Fragment {
    let mut f = Fragment::new(dialect);
    f.bind(
        &format!("SELECT {STORED_COLUMNS} FROM resource_current c JOIN resource_version v ON v.seq = c.seq WHERE c.resource_type = ?"),
        resource_type,
    );
    f.bind(" AND c.id = ?", id);
    access::visible(&mut f, vis, "v");
    f
}

/// The live current versions of several resources that the caller may see, in the order given. PostgreSQL
/// only: the keys go in as two arrays (SQLite reads them one by one).
pub fn many(dialect: Dialect, keys: Vec<(String, String)>, vis: &crate::access::Visibility) -> Fragment {
    let (types, ids): (Vec<String>, Vec<String>) = keys.into_iter().unzip();
    let mut f = Fragment::new(dialect);
    f.bind(&format!("SELECT {STORED_COLUMNS} FROM unnest(?::text[]"), Param::TextList(types));
    f.bind(", ?::text[]) WITH ORDINALITY AS k(resource_type, id, n)", Param::TextList(ids));
    f.push(" JOIN resource_current c ON c.resource_type = k.resource_type AND c.id = k.id JOIN resource_version v ON v.seq = c.seq");
    f.push(" WHERE c.deleted = 0");
    access::visible(&mut f, vis, "v");
    f.push(" ORDER BY k.n");
    f
}

/// One row if the caller may see the current version of a resource.
pub fn sees(dialect: Dialect, resource_type: &str, id: &str, vis: &crate::access::Visibility) -> Fragment {
    let mut f = Fragment::new(dialect);
    f.bind("SELECT 1 FROM resource_current c WHERE c.resource_type = ?", resource_type);
    f.bind(" AND c.id = ?", id);
    access::visible(&mut f, vis, "c");
    f
}

/// One version of a resource if the caller may see it (as that version was recorded, with the caller's
/// relationships now).
pub fn version(dialect: Dialect, resource_type: &str, id: &str, version: i64, vis: &crate::access::Visibility) -> Fragment {
    let mut f = Fragment::new(dialect);
    f.bind(&format!("SELECT {STORED_COLUMNS} FROM resource_version v WHERE v.resource_type = ?"), resource_type);
    f.bind(" AND v.id = ?", id);
    f.bind(" AND v.version = ?", version);
    access::visible(&mut f, vis, "v");
    f
}

/// History, newest first: `(statement)` for a scope, an optional lower bound on `last_updated` and a
/// sequence cursor.
pub fn history(dialect: Dialect, q: &crate::model::HistoryQuery) -> Fragment {
    use crate::model::HistoryScope;
    let mut f = Fragment::new(dialect);
    f.push(&format!("SELECT {STORED_COLUMNS} FROM resource_version v WHERE 1 = 1"));
    match &q.scope {
        HistoryScope::System => {}
        HistoryScope::Type(t) => f.bind(" AND v.resource_type = ?", t.as_str()),
        HistoryScope::Instance(t, id) => {
            f.bind(" AND v.resource_type = ?", t.as_str());
            f.bind(" AND v.id = ?", id.as_str());
        }
    }
    if let Some(since) = &q.since {
        f.bind(" AND v.last_updated >= ?", since.as_str());
    }
    if let Some(before) = q.before_seq {
        f.bind(" AND v.seq < ?", before);
    }
    access::visible(&mut f, &q.visibility, "v");
    f.bind(" ORDER BY v.seq DESC LIMIT ?", q.limit as i64);
    f
}

/// Ids of live resources matching every token criterion (`_id` matches the id itself), in id order,
/// after `after_id`.
pub fn find(
    dialect: Dialect,
    resource_type: &str,
    criteria: &[crate::model::TokenCriterion],
    after_id: Option<&str>,
    limit: usize,
    vis: &crate::access::Visibility,
) -> Fragment {
    let mut f = Fragment::new(dialect);
    f.bind("SELECT c.id FROM resource_current c WHERE c.resource_type = ? AND c.deleted = 0", resource_type);
    for k in criteria {
        if k.param == "_id" {
            f.bind(" AND c.id = ?", k.code.as_str());
            continue;
        }
        // An id set read from the token index's key, so the look-up never scans the type.
        f.bind(" AND c.id IN (SELECT t.id FROM search_token t WHERE t.resource_type = ?", resource_type);
        f.bind(" AND t.param = ?", k.param.as_str());
        f.bind(" AND t.code = ?", k.code.as_str());
        match &k.system {
            None => {}
            Some(None) => f.push(" AND t.system IS NULL"),
            Some(Some(s)) => f.bind(" AND t.system = ?", s.as_str()),
        }
        f.push(")");
    }
    if let Some(after) = after_id {
        f.bind(" AND c.id > ?", after);
    }
    access::visible(&mut f, vis, "c");
    f.bind(" ORDER BY c.id LIMIT ?", limit as i64);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_postgres() {
        let mut f = Fragment::new(Dialect::Postgres);
        f.bind("a = ?", 1i64);
        let mut g = Fragment::new(Dialect::Postgres);
        g.bind(" AND b = ?", "x");
        g.in_list("c", &["1".into(), "2".into()]);
        f.append(g);
        assert_eq!(f.sql(), "a = $1 AND b = $2 AND c = ANY($3)");
        assert_eq!(f.params.len(), 3);
        let mut s = Fragment::new(Dialect::Sqlite);
        s.in_list("c", &["1".into(), "2".into()]);
        assert_eq!(s.sql(), " AND c IN (?, ?)");
        assert_eq!(s.params.len(), 2);
    }
}
