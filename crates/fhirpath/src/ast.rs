//! The syntax tree of a parsed expression, with function names and type specifiers already
//! resolved so that evaluation does no string matching on them.

use crate::item::Item;

#[derive(Debug)]
pub(crate) enum Node {
    /// A literal value; `{}` is `Empty`.
    Literal(Item<'static>),
    Empty,
    /// `%name`
    Variable(String),
    This,
    Index,
    Total,
    /// `base.name`, or `name` on the focus when there is no base.
    Member(Option<Box<Node>>, String),
    /// `base.f(args)`, or `f(args)` on the focus.
    Call(Option<Box<Node>>, Box<Call>),
    Indexer(Box<Node>, Box<Node>),
    Unary(UnaryOp, Box<Node>),
    Binary(BinaryOp, Box<Node>, Box<Node>),
    /// `x is T`, `x as T` (operator form).
    TypeOp(TypeFn, Box<Node>, TypeSpec),
}

#[derive(Debug)]
pub(crate) struct Call {
    pub func: Func,
    pub args: Vec<Node>,
    /// For is/as/ofType: the type named by the argument.
    pub type_arg: Option<TypeSpec>,
    /// For matches/replaceMatches with a literal pattern: compiled once at parse time.
    pub regex: Option<regex::Regex>,
    /// For sort(): whether each key is descending (`-key`).
    pub descending: Vec<bool>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum UnaryOp {
    Plus,
    Minus,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BinaryOp {
    Mul,
    Div,
    IntDiv,
    Mod,
    Add,
    Sub,
    Concat,
    Union,
    Lt,
    Gt,
    Le,
    Ge,
    Eq,
    Equiv,
    Ne,
    NotEquiv,
    In,
    Contains,
    And,
    Or,
    Xor,
    Implies,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TypeFn {
    Is,
    As,
    OfType,
}

/// The System types of FHIRPath.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SystemType {
    Boolean,
    String,
    Integer,
    Long,
    Decimal,
    Date,
    DateTime,
    Time,
    Quantity,
}

impl SystemType {
    pub(crate) fn from_name(name: &str) -> Option<SystemType> {
        Some(match name {
            "Boolean" => SystemType::Boolean,
            "String" => SystemType::String,
            "Integer" => SystemType::Integer,
            "Long" => SystemType::Long,
            "Decimal" => SystemType::Decimal,
            "Date" => SystemType::Date,
            "DateTime" => SystemType::DateTime,
            "Time" => SystemType::Time,
            "Quantity" => SystemType::Quantity,
            _ => return None,
        })
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            SystemType::Boolean => "Boolean",
            SystemType::String => "String",
            SystemType::Integer => "Integer",
            SystemType::Long => "Long",
            SystemType::Decimal => "Decimal",
            SystemType::Date => "Date",
            SystemType::DateTime => "DateTime",
            SystemType::Time => "Time",
            SystemType::Quantity => "Quantity",
        }
    }
}

/// A type named in `is`, `as` or `ofType`, resolved against the System types and the FHIR model.
#[derive(Clone, Debug)]
pub(crate) struct TypeSpec {
    pub system: Option<SystemType>,
    pub fhir: Option<&'static str>,
}

macro_rules! functions {
    ($($variant:ident = $name:literal ($min:literal, $max:literal)),* $(,)?) => {
        /// Every function the engine knows, with its name and arity.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(crate) enum Func { $($variant),* }

        impl Func {
            pub(crate) fn lookup(name: &str) -> Option<(Func, usize, usize)> {
                match name {
                    $($name => Some((Func::$variant, $min, $max)),)*
                    _ => None,
                }
            }
            pub(crate) fn name(self) -> &'static str {
                match self { $(Func::$variant => $name),* }
            }
        }
    };
}

functions! {
    Empty = "empty"(0, 0),
    Exists = "exists"(0, 1),
    All = "all"(1, 1),
    AllTrue = "allTrue"(0, 0),
    AnyTrue = "anyTrue"(0, 0),
    AllFalse = "allFalse"(0, 0),
    AnyFalse = "anyFalse"(0, 0),
    SubsetOf = "subsetOf"(1, 1),
    SupersetOf = "supersetOf"(1, 1),
    Count = "count"(0, 0),
    Distinct = "distinct"(0, 0),
    IsDistinct = "isDistinct"(0, 0),
    Where = "where"(1, 1),
    Select = "select"(1, 1),
    Repeat = "repeat"(1, 1),
    RepeatAll = "repeatAll"(1, 1),
    OfType = "ofType"(1, 1),
    Single = "single"(0, 0),
    First = "first"(0, 0),
    Last = "last"(0, 0),
    Tail = "tail"(0, 0),
    Skip = "skip"(1, 1),
    Take = "take"(1, 1),
    Intersect = "intersect"(1, 1),
    Exclude = "exclude"(1, 1),
    Union = "union"(1, 1),
    Combine = "combine"(1, 1),
    Iif = "iif"(2, 3),
    ToBoolean = "toBoolean"(0, 0),
    ConvertsToBoolean = "convertsToBoolean"(0, 0),
    ToInteger = "toInteger"(0, 0),
    ConvertsToInteger = "convertsToInteger"(0, 0),
    ToLong = "toLong"(0, 0),
    ConvertsToLong = "convertsToLong"(0, 0),
    ToDecimal = "toDecimal"(0, 0),
    ConvertsToDecimal = "convertsToDecimal"(0, 0),
    ToStringFn = "toString"(0, 0),
    ConvertsToString = "convertsToString"(0, 0),
    ToDate = "toDate"(0, 0),
    ConvertsToDate = "convertsToDate"(0, 0),
    ToDateTime = "toDateTime"(0, 0),
    ConvertsToDateTime = "convertsToDateTime"(0, 0),
    ToTime = "toTime"(0, 0),
    ConvertsToTime = "convertsToTime"(0, 0),
    ToQuantity = "toQuantity"(0, 1),
    ConvertsToQuantity = "convertsToQuantity"(0, 1),
    IndexOf = "indexOf"(1, 1),
    LastIndexOf = "lastIndexOf"(1, 1),
    Substring = "substring"(1, 2),
    StartsWith = "startsWith"(1, 1),
    EndsWith = "endsWith"(1, 1),
    Contains = "contains"(1, 1),
    Upper = "upper"(0, 0),
    Lower = "lower"(0, 0),
    Replace = "replace"(2, 2),
    Matches = "matches"(1, 1),
    MatchesFull = "matchesFull"(1, 1),
    ReplaceMatches = "replaceMatches"(2, 2),
    Length = "length"(0, 0),
    ToChars = "toChars"(0, 0),
    Trim = "trim"(0, 0),
    Split = "split"(1, 1),
    Join = "join"(0, 1),
    Encode = "encode"(1, 1),
    Decode = "decode"(1, 1),
    Escape = "escape"(1, 1),
    Unescape = "unescape"(1, 1),
    Abs = "abs"(0, 0),
    Ceiling = "ceiling"(0, 0),
    Exp = "exp"(0, 0),
    Floor = "floor"(0, 0),
    Ln = "ln"(0, 0),
    Log = "log"(1, 1),
    Power = "power"(1, 1),
    Round = "round"(0, 1),
    Sqrt = "sqrt"(0, 0),
    Truncate = "truncate"(0, 0),
    Children = "children"(0, 0),
    Descendants = "descendants"(0, 0),
    Trace = "trace"(1, 2),
    Now = "now"(0, 0),
    Today = "today"(0, 0),
    TimeOfDay = "timeOfDay"(0, 0),
    Aggregate = "aggregate"(1, 2),
    Sort = "sort"(0, 8),
    Is = "is"(1, 1),
    As = "as"(1, 1),
    Type = "type"(0, 0),
    Not = "not"(0, 0),
    Extension = "extension"(1, 1),
    HasValue = "hasValue"(0, 0),
    GetValue = "getValue"(0, 0),
    Resolve = "resolve"(0, 0),
    ConformsTo = "conformsTo"(1, 1),
    MemberOf = "memberOf"(1, 1),
    LowBoundary = "lowBoundary"(0, 1),
    HighBoundary = "highBoundary"(0, 1),
    Precision = "precision"(0, 0),
    Comparable = "comparable"(1, 1),
    Sum = "sum"(0, 0),
    Min = "min"(0, 0),
    Max = "max"(0, 0),
    Avg = "avg"(0, 0),
    YearOf = "yearOf"(0, 0),
    MonthOf = "monthOf"(0, 0),
    DayOf = "dayOf"(0, 0),
    HourOf = "hourOf"(0, 0),
    MinuteOf = "minuteOf"(0, 0),
    SecondOf = "secondOf"(0, 0),
    MillisecondOf = "millisecondOf"(0, 0),
    TimezoneOffsetOf = "timezoneOffsetOf"(0, 0),
    DateOf = "dateOf"(0, 0),
    TimeOf = "timeOf"(0, 0),
}
