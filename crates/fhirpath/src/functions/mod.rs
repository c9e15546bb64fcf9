//! Function calls: argument evaluation (plain arguments in the caller's scope, lambda arguments
//! per input item with `$this`/`$index`), and dispatch to the function families.

mod collections;
mod conversion;
mod dates;
mod existence;
mod fhir;
mod math;
mod strings;

use std::borrow::Cow;

use crate::ast::{Call, Func, Node};
use crate::error::EvalError;
use crate::eval::{Evaluator, Items, Scope};
use crate::item::Item;

/// What a function implementation sees.
pub(crate) struct Ctx<'x, 'a, 'e> {
    pub ev: &'x Evaluator<'a, 'e>,
    pub call: &'x Call,
    pub input: &'x [Item<'a>],
    pub scope: Scope<'x, 'a>,
}

impl<'x, 'a> Ctx<'x, 'a, '_> {
    /// Argument `i`, evaluated in the caller's scope.
    pub fn arg(&self, i: usize) -> Result<Items<'a>, EvalError> {
        match self.call.args.get(i) {
            Some(n) => self.ev.eval(n, self.scope),
            None => Ok(Vec::new()),
        }
    }

    /// Argument `i` as at most one System value.
    pub fn arg_single(&self, i: usize) -> Result<Option<Item<'a>>, EvalError> {
        let v = self.arg(i)?;
        match v.as_slice() {
            [] => Ok(None),
            [one] => Ok(one.to_system().map(Cow::into_owned)),
            _ => Err(EvalError::NotSingleton { context: self.call.func.name(), count: v.len() }),
        }
    }

    pub fn arg_string(&self, i: usize) -> Result<Option<String>, EvalError> {
        match self.arg_single(i)? {
            None => Ok(None),
            Some(Item::String(s)) => Ok(Some(s)),
            Some(other) => {
                Err(EvalError::type_error(format!("{}() expects a String argument, not {}", self.call.func.name(), other.type_info().name)))
            }
        }
    }

    pub fn arg_integer(&self, i: usize) -> Result<Option<i64>, EvalError> {
        match self.arg_single(i)? {
            None => Ok(None),
            Some(Item::Integer(v)) => Ok(Some(v)),
            Some(other) => {
                Err(EvalError::type_error(format!("{}() expects an Integer argument, not {}", self.call.func.name(), other.type_info().name)))
            }
        }
    }

    /// Argument `i` evaluated with `$this` = `item` and `$index` = `index`.
    pub fn lambda(&self, i: usize, item: &Item<'a>, index: usize) -> Result<Items<'a>, EvalError> {
        self.lambda_with_total(i, item, index, self.scope.total)
    }

    pub fn lambda_with_total(&self, i: usize, item: &Item<'a>, index: usize, total: Option<&[Item<'a>]>) -> Result<Items<'a>, EvalError> {
        let Some(n) = self.call.args.get(i) else {
            return Ok(Vec::new());
        };
        let this = std::slice::from_ref(item);
        self.ev.eval(n, Scope { this, index: Some(index), total })
    }

    /// The input as at most one item (not converted).
    pub fn input_item(&self) -> Result<Option<&'x Item<'a>>, EvalError> {
        match self.input {
            [] => Ok(None),
            [one] => Ok(Some(one)),
            _ => Err(EvalError::NotSingleton { context: self.call.func.name(), count: self.input.len() }),
        }
    }

    /// The input as at most one System value.
    pub fn input_single(&self) -> Result<Option<Cow<'x, Item<'a>>>, EvalError> {
        Ok(self.input_item()?.and_then(Item::to_system))
    }

    /// The input as at most one string; other primitives are converted, complex values refused.
    pub fn input_string(&self) -> Result<Option<Cow<'x, str>>, EvalError> {
        let Some(item) = self.input_item()? else {
            return Ok(None);
        };
        if let Some(s) = item.as_str() {
            return Ok(Some(Cow::Borrowed(s)));
        }
        match item.to_system() {
            None => Ok(None),
            Some(v) => match v.as_ref() {
                Item::String(s) => Ok(Some(Cow::Owned(s.clone()))),
                Item::Integer(_) | Item::Decimal(_) | Item::Boolean(_) | Item::Date(_) | Item::DateTime(_) | Item::Time(_) => {
                    Ok(Some(Cow::Owned(v.to_string())))
                }
                other => Err(EvalError::type_error(format!("{}() applies to strings, not {}", self.call.func.name(), other.type_info().name))),
            },
        }
    }
}

/// Errors for ordered functions applied to the unordered result of children()/descendants().
pub(crate) fn check_ordered(func: Func, base: &Node) -> Result<(), EvalError> {
    let ordered = matches!(func, Func::First | Func::Last | Func::Tail | Func::Skip | Func::Take);
    if let (true, Node::Call(_, inner)) = (ordered, base) {
        if matches!(inner.func, Func::Children | Func::Descendants) {
            return Err(EvalError::type_error(format!("{}() needs an ordered collection; {}() is unordered", func.name(), inner.func.name())));
        }
    }
    Ok(())
}

pub(crate) fn call<'a>(ev: &Evaluator<'a, '_>, call: &Call, input: &[Item<'a>], scope: Scope<'_, 'a>) -> Result<Items<'a>, EvalError> {
    let cx = Ctx { ev, call, input, scope };
    use Func::*;
    match call.func {
        Empty | Exists | All | AllTrue | AnyTrue | AllFalse | AnyFalse | SubsetOf | SupersetOf | Count | Distinct | IsDistinct | Not => {
            existence::call(&cx)
        }
        Where | Select | Repeat | RepeatAll | OfType | Is | As | Single | First | Last | Tail | Skip | Take | Intersect | Exclude | Union
        | Combine | Iif | Aggregate | Sort | Trace | Children | Descendants => collections::call(&cx),
        ToBoolean | ConvertsToBoolean | ToInteger | ConvertsToInteger | ToLong | ConvertsToLong | ToDecimal | ConvertsToDecimal | ToStringFn
        | ConvertsToString | ToDate | ConvertsToDate | ToDateTime | ConvertsToDateTime | ToTime | ConvertsToTime | ToQuantity
        | ConvertsToQuantity => conversion::call(&cx),
        IndexOf | LastIndexOf | Substring | StartsWith | EndsWith | Contains | Upper | Lower | Replace | Matches | MatchesFull | ReplaceMatches
        | Length | ToChars | Trim | Split | Join | Encode | Decode | Escape | Unescape => strings::call(&cx),
        Abs | Ceiling | Exp | Floor | Ln | Log | Power | Round | Sqrt | Truncate | LowBoundary | HighBoundary | Precision | Comparable | Sum
        | Min | Max | Avg => math::call(&cx),
        Type | Extension | HasValue | GetValue | Resolve | ConformsTo | MemberOf | Now | Today | TimeOfDay => fhir::call(&cx),
        YearOf | MonthOf | DayOf | HourOf | MinuteOf | SecondOf | MillisecondOf | TimezoneOffsetOf | DateOf | TimeOf => dates::call(&cx),
    }
}
