//! Existence functions: empty, exists, all, allTrue/anyTrue/allFalse/anyFalse, subsetOf,
//! supersetOf, count, distinct, isDistinct, and not().

use super::Ctx;
use crate::ast::Func;
use crate::error::EvalError;
use crate::eval::Items;
use crate::item::Item;
use crate::operators::{contains_item, to_boolean, union_into};

fn one(b: bool) -> Items<'static> {
    vec![Item::Boolean(b)]
}

/// The Boolean values of the input; anything else is an error.
fn booleans(cx: &Ctx<'_, '_, '_>) -> Result<Vec<bool>, EvalError> {
    cx.input
        .iter()
        .map(|i| match i.to_system().as_deref() {
            Some(Item::Boolean(b)) => Ok(*b),
            _ => Err(EvalError::type_error(format!("{}() needs Boolean items", cx.call.func.name()))),
        })
        .collect()
}

pub(super) fn call<'a>(cx: &Ctx<'_, 'a, '_>) -> Result<Items<'a>, EvalError> {
    Ok(match cx.call.func {
        Func::Empty => one(cx.input.is_empty()),
        Func::Exists => {
            if cx.call.args.is_empty() {
                one(!cx.input.is_empty())
            } else {
                for (i, item) in cx.input.iter().enumerate() {
                    if to_boolean(&cx.lambda(0, item, i)?, "exists()")? == Some(true) {
                        return Ok(one(true));
                    }
                }
                one(false)
            }
        }
        Func::All => {
            for (i, item) in cx.input.iter().enumerate() {
                if to_boolean(&cx.lambda(0, item, i)?, "all()")? != Some(true) {
                    return Ok(one(false));
                }
            }
            one(true)
        }
        Func::AllTrue => one(booleans(cx)?.iter().all(|b| *b)),
        Func::AnyTrue => one(booleans(cx)?.iter().any(|b| *b)),
        Func::AllFalse => one(booleans(cx)?.iter().all(|b| !*b)),
        Func::AnyFalse => one(booleans(cx)?.iter().any(|b| !*b)),
        Func::SubsetOf => {
            let other = cx.arg(0)?;
            one(cx.input.iter().all(|i| contains_item(&other, i)))
        }
        Func::SupersetOf => {
            let other = cx.arg(0)?;
            one(other.iter().all(|i| contains_item(cx.input, i)))
        }
        Func::Count => vec![Item::Integer(cx.input.len() as i64)],
        Func::Distinct => {
            let mut out = Vec::with_capacity(cx.input.len());
            union_into(&mut out, cx.input.iter().cloned());
            out
        }
        Func::IsDistinct => {
            let mut out = Vec::with_capacity(cx.input.len());
            union_into(&mut out, cx.input.iter().cloned());
            one(out.len() == cx.input.len())
        }
        Func::Not => match to_boolean(cx.input, "not()")? {
            Some(b) => one(!b),
            None => Vec::new(),
        },
        other => return Err(EvalError::Unsupported(format!("{}() is not an existence function", other.name()))),
    })
}
