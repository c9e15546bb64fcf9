//! Functions over whole collections: filtering and projection (where, select, repeat, ofType,
//! is/as), subsetting (single, first, last, tail, skip, take, intersect, exclude), combining
//! (union, combine), iif, aggregate, sort, trace, children and descendants.

use std::cmp::Ordering;
use std::collections::HashSet;

use serde_json::Value;

use super::Ctx;
use crate::ast::{Func, TypeFn};
use crate::error::EvalError;
use crate::eval::{type_op, Items, Scope};
use crate::item::Item;
use crate::navigation;
use crate::operators::{contains_item, item_compare, to_boolean, union_into};

/// repeat() and descendants() stop with an error rather than run away.
const MAX_ITEMS: usize = 1_000_000;
/// repeat() over values (not nodes), whose de-duplication is quadratic.
const MAX_REPEATED_VALUES: usize = 10_000;

pub(super) fn call<'a>(cx: &Ctx<'_, 'a, '_>) -> Result<Items<'a>, EvalError> {
    let input = cx.input;
    Ok(match cx.call.func {
        Func::Where => {
            let mut out = Vec::new();
            for (i, item) in input.iter().enumerate() {
                if to_boolean(&cx.lambda(0, item, i)?, "where()")? == Some(true) {
                    out.push(item.clone());
                }
            }
            out
        }
        Func::Select => {
            let mut out = Vec::new();
            for (i, item) in input.iter().enumerate() {
                out.extend(cx.lambda(0, item, i)?);
            }
            out
        }
        Func::Repeat | Func::RepeatAll => {
            let dedupe = cx.call.func == Func::Repeat;
            let mut out: Items<'a> = Vec::new();
            // Nodes already output, by identity (a tree has no two equal positions); other
            // values by equality.
            let mut seen_nodes: HashSet<(*const Value, Option<*const Value>)> = HashSet::new();
            let mut values = 0usize;
            let mut queue: Items<'a> = input.to_vec();
            let mut next = 0;
            while next < queue.len() {
                let item = queue[next].clone();
                next += 1;
                for r in cx.lambda(0, &item, next - 1)? {
                    if dedupe {
                        let fresh = match &r {
                            Item::Node { value, info, .. } => seen_nodes.insert((*value as *const Value, info.ext.map(|e| e as *const Value))),
                            other => {
                                // Values are compared one by one: keep that quadratic work bounded.
                                values += 1;
                                if values > MAX_REPEATED_VALUES {
                                    return Err(EvalError::Unsupported("repeat() produced too many values".into()));
                                }
                                !contains_item(&out, other)
                            }
                        };
                        if !fresh {
                            continue;
                        }
                    }
                    if out.len() >= MAX_ITEMS {
                        return Err(EvalError::Unsupported("repeat() produced too many items".into()));
                    }
                    out.push(r.clone());
                    queue.push(r);
                }
            }
            out
        }
        Func::OfType | Func::Is | Func::As => {
            let spec = cx.call.type_arg.as_ref().ok_or_else(|| EvalError::type_error("missing type argument"))?;
            let f = match cx.call.func {
                Func::OfType => TypeFn::OfType,
                Func::Is => TypeFn::Is,
                _ => TypeFn::As,
            };
            type_op(cx.ev, f, input, spec)?
        }
        Func::Single => match input {
            [] => Vec::new(),
            [one] => vec![one.clone()],
            _ => return Err(EvalError::NotSingleton { context: "single()", count: input.len() }),
        },
        Func::First => input.first().cloned().into_iter().collect(),
        Func::Last => input.last().cloned().into_iter().collect(),
        Func::Tail => input.iter().skip(1).cloned().collect(),
        Func::Skip => match cx.arg_integer(0)? {
            Some(n) => input.iter().skip(usize::try_from(n).unwrap_or(0)).cloned().collect(),
            None => Vec::new(),
        },
        Func::Take => match cx.arg_integer(0)? {
            Some(n) => input.iter().take(usize::try_from(n).unwrap_or(0)).cloned().collect(),
            None => Vec::new(),
        },
        Func::Intersect => {
            let other = cx.arg(0)?;
            let mut out = Vec::new();
            union_into(&mut out, input.iter().filter(|i| contains_item(&other, i)).cloned());
            out
        }
        Func::Exclude => {
            let other = cx.arg(0)?;
            input.iter().filter(|i| !contains_item(&other, i)).cloned().collect()
        }
        Func::Union => {
            let other = cx.arg(0)?;
            let mut out = Vec::new();
            union_into(&mut out, input.iter().cloned());
            union_into(&mut out, other);
            out
        }
        Func::Combine => {
            let mut out = input.to_vec();
            out.extend(cx.arg(0)?);
            out
        }
        Func::Iif => iif(cx)?,
        Func::Aggregate => {
            let mut total = if cx.call.args.len() > 1 { cx.arg(1)? } else { Vec::new() };
            for (i, item) in input.iter().enumerate() {
                total = cx.lambda_with_total(0, item, i, Some(&total))?;
            }
            total
        }
        Func::Sort => sort(cx)?,
        Func::Trace => {
            if let Some(tracer) = cx.ev.env.tracer {
                let name = cx.arg_string(0)?.unwrap_or_default();
                if cx.call.args.len() > 1 {
                    let mut projected = Vec::new();
                    for (i, item) in input.iter().enumerate() {
                        projected.extend(cx.lambda(1, item, i)?);
                    }
                    tracer(&name, &projected);
                } else {
                    tracer(&name, input);
                }
            }
            input.to_vec()
        }
        Func::Children => {
            let mut out = Vec::new();
            for item in input {
                navigation::children(item, &mut out);
            }
            out
        }
        Func::Descendants => {
            let mut out = Vec::new();
            for item in input {
                navigation::children(item, &mut out);
            }
            let mut next = 0;
            while next < out.len() {
                let item = out[next].clone();
                next += 1;
                navigation::children(&item, &mut out);
                if out.len() > MAX_ITEMS {
                    return Err(EvalError::Unsupported("descendants() produced too many items".into()));
                }
            }
            out
        }
        other => return Err(EvalError::Unsupported(format!("{}() is not a collection function", other.name()))),
    })
}

fn iif<'a>(cx: &Ctx<'_, 'a, '_>) -> Result<Items<'a>, EvalError> {
    let item = cx.input_item()?;
    // $this is the input item; $index and $total stay those of the enclosing iteration.
    let eval_arg = |i: usize| -> Result<Items<'a>, EvalError> {
        match (item, cx.call.args.get(i)) {
            (Some(it), Some(n)) => cx.ev.eval(n, Scope { this: std::slice::from_ref(it), index: cx.scope.index, total: cx.scope.total }),
            _ => cx.arg(i),
        }
    };
    let criterion = eval_arg(0)?;
    if cx.ev.strict() {
        if let [one] = criterion.as_slice() {
            if !matches!(one.to_system().as_deref(), Some(Item::Boolean(_))) {
                return Err(EvalError::type_error("iif() criterion must be a Boolean"));
            }
        }
    }
    match to_boolean(&criterion, "iif() criterion")? {
        Some(true) => eval_arg(1),
        _ if cx.call.args.len() > 2 => eval_arg(2),
        _ => Ok(Vec::new()),
    }
}

fn sort<'a>(cx: &Ctx<'_, 'a, '_>) -> Result<Items<'a>, EvalError> {
    let input = cx.input;
    let mut keyed: Vec<(Vec<Option<Item<'a>>>, Item<'a>)> = Vec::with_capacity(input.len());
    for (i, item) in input.iter().enumerate() {
        let mut keys = Vec::new();
        if cx.call.args.is_empty() {
            keys.push(item.to_system().map(|c| c.into_owned()));
        } else {
            for k in 0..cx.call.args.len() {
                let v = cx.lambda(k, item, i)?;
                keys.push(match v.as_slice() {
                    [] => None,
                    [one] => one.to_system().map(|c| c.into_owned()),
                    _ => return Err(EvalError::NotSingleton { context: "a sort key", count: v.len() }),
                });
            }
        }
        keyed.push((keys, item.clone()));
    }
    let mut failure = None;
    keyed.sort_by(|(a, _), (b, _)| {
        for (k, (x, y)) in a.iter().zip(b).enumerate() {
            let ord = match (x, y) {
                (None, None) => Ordering::Equal,
                // Empty keys sort last (first when descending).
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(x), Some(y)) => match item_compare(x, y) {
                    Ok(o) => o.unwrap_or(Ordering::Equal),
                    Err(e) => {
                        failure.get_or_insert(e);
                        Ordering::Equal
                    }
                },
            };
            let ord = if cx.call.descending.get(k).copied().unwrap_or(false) { ord.reverse() } else { ord };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        Ordering::Equal
    });
    if let Some(e) = failure {
        return Err(e);
    }
    Ok(keyed.into_iter().map(|(_, item)| item).collect())
}
