//! The two ways an expression can fail: it does not parse ([`ParseError`]), or evaluating it
//! against some data is an error in the language ([`EvalError`]), e.g. `single()` on many items.

/// The expression text is not valid FHIRPath (syntax, unknown function or type, bad arity).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("syntax error at offset {pos}: {msg}")]
    Syntax { pos: usize, msg: String },
    #[error("unknown function {name}() at offset {pos}")]
    UnknownFunction { name: String, pos: usize },
    #[error("{name}() at offset {pos} takes {min} to {max} arguments, not {got}")]
    Arity { name: String, pos: usize, min: usize, max: usize, got: usize },
    #[error("unknown type {0}")]
    UnknownType(String),
    #[error("invalid regular expression: {0}")]
    Regex(String),
}

impl ParseError {
    pub(crate) fn syntax(pos: usize, msg: impl Into<String>) -> ParseError {
        ParseError::Syntax { pos, msg: msg.into() }
    }
}

/// Evaluation failed: the expression is not applicable to this data.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    /// An operator or function needed at most one item and got more.
    #[error("{context} expects a single item, got {count}")]
    NotSingleton { context: &'static str, count: usize },
    /// An operand or argument has a type the operation does not accept.
    #[error("{0}")]
    Type(String),
    /// Strict mode: the element does not exist on the type.
    #[error("{name} is not an element of {on}")]
    UnknownElement { name: String, on: String },
    #[error("unknown variable %{0}")]
    UnknownVariable(String),
    /// now(), today() and timeOfDay() need the clock reading from [`crate::Env::with_now`].
    #[error("{0}() needs the current time: set it with Env::with_now")]
    NoClock(&'static str),
    #[error("invalid regular expression: {0}")]
    Regex(String),
    /// A function that needs services this engine does not have (terminology, profiles).
    #[error("{0}")]
    Unsupported(String),
}

impl EvalError {
    pub(crate) fn type_error(msg: impl Into<String>) -> EvalError {
        EvalError::Type(msg.into())
    }
}
