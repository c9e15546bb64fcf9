//! The search query model the store executes: AND-ed groups of OR-ed predicates over index values, with
//! chains and reverse chains, sort keys and a keyset cursor. Parsing from FHIR syntax happens in `app`.

use serde_json::Value;

/// A search over one resource type.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub resource_type: String,
    /// Every group must match; within a group, any predicate may.
    pub filters: Vec<Vec<Predicate>>,
    pub sort: Vec<SortKey>,
    /// Rows wanted (the caller asks for one more than a page to learn whether another follows).
    pub limit: usize,
    /// Resume after this position (values of the sort keys, then the id), from a previous page.
    pub after: Option<Vec<Value>>,
    /// Or: the rows just before this position (a previous page), still returned in the query's order.
    pub before: Option<Vec<Value>>,
    /// The search serves one person's record (a compartment search): only resources whose person key is
    /// this Patient id match, and every index table the query reads is filtered on that key, so that a
    /// store distributed by person answers it from that person's shard.
    pub person: Option<String>,
    /// What the caller may see: applied inside the statement, so counts and pages hold nothing else.
    pub visibility: crate::access::Visibility,
}

/// A test on one parameter of the resource being searched.
#[derive(Debug, Clone, PartialEq)]
pub struct Predicate {
    pub param: String,
    pub test: Test,
}

/// How values compare with a search value's range (prefixes of date, number and quantity searches).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeOp {
    /// The search range contains the value's range.
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    /// Starts after the search range.
    Sa,
    /// Ends before the search range.
    Eb,
    /// Overlaps the (already widened) search range.
    Overlaps,
}

/// String matching modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StringMode {
    StartsWith,
    Contains,
    Exact,
}

/// URI matching modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriMode {
    Exact,
    /// The stored URI starts with the search value.
    Below,
    /// The search value starts with the stored URI.
    Above,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    /// `:missing=true` (no value at all) or `false` (some value). `table` names the parameter's index.
    Missing {
        missing: bool,
        table: IndexTable,
    },
    /// `_id`.
    Id(String),
    /// `system` is `None` for any system, `Some(None)` for no system; `code` is `None` for any code of the
    /// system (`system|`). `negate` is `:not`.
    Token {
        system: Option<Option<String>>,
        code: Option<String>,
        negate: bool,
    },
    /// Prefix match on normalised display text (`:text`).
    TokenText(String),
    /// `value` is normalised for StartsWith and Contains, as given for Exact.
    String {
        value: String,
        mode: StringMode,
    },
    /// A local reference; `target_type` `None` matches any type.
    Reference {
        target_type: Option<String>,
        target_id: String,
    },
    /// An absolute or canonical reference.
    ReferenceUrl(String),
    /// Milliseconds, inclusive.
    Date {
        op: RangeOp,
        low: i64,
        high: i64,
    },
    /// The search value, and its precision range.
    Number {
        op: RangeOp,
        value: f64,
        low: f64,
        high: f64,
    },
    Quantity {
        op: RangeOp,
        value: f64,
        low: f64,
        high: f64,
        system: Option<String>,
        code: Option<String>,
    },
    Uri {
        value: String,
        mode: UriMode,
    },
    /// A token and a second value from the same element: `second` is a Token or a Quantity test.
    Composite {
        system: Option<Option<String>>,
        code: String,
        second: Box<Test>,
    },
    /// The parameter is a reference whose target (of one of `target_types`) matches `inner`.
    Chain {
        target_types: Vec<String>,
        inner: Box<Predicate>,
    },
    /// `_has`: some `source_type` resource whose `reference_param` points here matches `inner`.
    Has {
        source_type: String,
        reference_param: String,
        inner: Box<Predicate>,
    },
}

/// The index table that holds a parameter's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexTable {
    Token,
    String,
    Reference,
    Date,
    Number,
    Quantity,
    Uri,
    Composite,
}

impl IndexTable {
    pub fn name(self) -> &'static str {
        match self {
            IndexTable::Token => "search_token",
            IndexTable::String => "search_string",
            IndexTable::Reference => "search_reference",
            IndexTable::Date => "search_date",
            IndexTable::Number => "search_number",
            IndexTable::Quantity => "search_quantity",
            IndexTable::Uri => "search_uri",
            IndexTable::Composite => "search_composite",
        }
    }
}

/// One `_sort` key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKey {
    /// `None` sorts by id.
    pub param: Option<String>,
    pub table: IndexTable,
    pub descending: bool,
}

impl SortKey {
    /// Whether `v` can stand for this key in a cursor: the id (no parameter) is a valid resource id; a
    /// parameter's value is JSON null (no value) or of the index's kind: a whole number of milliseconds for
    /// dates, a finite number for numbers and quantities, text otherwise.
    pub fn accepts(&self, v: &Value) -> bool {
        match (&self.param, self.table, v) {
            (None, _, Value::String(id)) => fhir::id::is_valid_id(id),
            (None, _, _) => false,
            (Some(_), _, Value::Null) => true,
            (Some(_), IndexTable::Date, Value::Number(n)) => n.as_i64().is_some(),
            (Some(_), IndexTable::Number | IndexTable::Quantity, Value::Number(n)) => n.as_f64().is_some_and(f64::is_finite),
            (Some(_), IndexTable::Date | IndexTable::Number | IndexTable::Quantity, _) => false,
            (Some(_), _, Value::String(_)) => true,
            (Some(_), _, _) => false,
        }
    }
}

/// A page of one person's record (`$everything`): the live resources whose person key is `person`, in
/// (type, id) order.
#[derive(Debug, Clone, Default)]
pub struct RecordQuery {
    /// The Patient id.
    pub person: String,
    /// Only these types.
    pub types: Option<Vec<String>>,
    /// Resume after this (type, id).
    pub after: Option<(String, String)>,
    /// Only resources updated at or after this instant (store format).
    pub since: Option<String>,
    pub limit: usize,
    /// What the caller may see.
    pub visibility: crate::access::Visibility,
}

/// A page of matches: each row with the values of its sort keys (to resume after it).
#[derive(Debug, Clone)]
pub struct Matches {
    pub rows: Vec<(crate::Stored, Vec<Value>)>,
}

/// A reference from one resource to another, as indexed for search parameters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Link {
    pub resource_type: String,
    pub id: String,
    pub param: String,
    pub target_type: String,
    pub target_id: String,
}
