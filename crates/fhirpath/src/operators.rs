//! Operators: equality and equivalence (of items and of collections), ordering, arithmetic
//! including date/time ± quantity, string concatenation, union, membership and the
//! three-valued Boolean logic.

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::Value;

use crate::ast::{BinaryOp, Node, UnaryOp};
use crate::decimal::Decimal;
use crate::error::EvalError;
use crate::eval::{Evaluator, Items, Scope};
use crate::item::Item;
use crate::quantity::Quantity;
use crate::temporal::calendar_unit;

/// `=` on two items: `None` when the answer is unknown (date precision, incomparable units).
pub(crate) fn item_equal(a: &Item<'_>, b: &Item<'_>) -> Option<bool> {
    if a.is_complex_node() || b.is_complex_node() {
        return match (a, b) {
            (Item::Node { value: x, .. }, Item::Node { value: y, .. }) if a.is_complex_node() && b.is_complex_node() => Some(json_equal(x, y)),
            // A FHIR Quantity node against a System quantity.
            _ => match (a.to_system(), b.to_system()) {
                (Some(x), Some(y)) if !x.is_complex_node() && !y.is_complex_node() => item_equal(&x, &y),
                _ => Some(false),
            },
        };
    }
    let (Some(x), Some(y)) = (a.to_system(), b.to_system()) else {
        return None;
    };
    Some(match (x.as_ref(), y.as_ref()) {
        (Item::Boolean(p), Item::Boolean(q)) => p == q,
        (Item::Integer(p), Item::Integer(q)) => p == q,
        (Item::Integer(_) | Item::Decimal(_), Item::Integer(_) | Item::Decimal(_)) => numeric(&x)?.cmp_value(&numeric(&y)?) == Ordering::Equal,
        (Item::String(p), Item::String(q)) => p == q,
        (Item::Date(p), Item::Date(q)) => return p.compare(q).map(|o| o == Ordering::Equal),
        (Item::DateTime(p), Item::DateTime(q)) => return p.compare(q).map(|o| o == Ordering::Equal),
        (Item::Date(p), Item::DateTime(q)) => return p.to_datetime().compare(q).map(|o| o == Ordering::Equal),
        (Item::DateTime(p), Item::Date(q)) => return p.compare(&q.to_datetime()).map(|o| o == Ordering::Equal),
        (Item::Time(p), Item::Time(q)) => return p.compare(q).map(|o| o == Ordering::Equal),
        (Item::Quantity(p), Item::Quantity(q)) => return p.equals(q),
        (Item::Type(p), Item::Type(q)) => p == q,
        _ => false,
    })
}

/// `~` on two items.
pub(crate) fn item_equivalent(a: &Item<'_>, b: &Item<'_>) -> bool {
    if a.is_complex_node() && b.is_complex_node() {
        if let (Item::Node { value: x, .. }, Item::Node { value: y, .. }) = (a, b) {
            return json_equivalent(x, y);
        }
    }
    let (Some(x), Some(y)) = (a.to_system(), b.to_system()) else {
        return a.to_system().is_none() && b.to_system().is_none();
    };
    match (x.as_ref(), y.as_ref()) {
        (Item::Boolean(p), Item::Boolean(q)) => p == q,
        (Item::Integer(_) | Item::Decimal(_), Item::Integer(_) | Item::Decimal(_)) => match (numeric(&x), numeric(&y)) {
            (Some(p), Some(q)) => p.equivalent(&q),
            _ => false,
        },
        (Item::String(p), Item::String(q)) => normalize_ws(p) == normalize_ws(q),
        (Item::Date(p), Item::Date(q)) => p.equivalent(q),
        (Item::DateTime(p), Item::DateTime(q)) => p.equivalent(q),
        (Item::Date(p), Item::DateTime(q)) => p.to_datetime().equivalent(q),
        (Item::DateTime(p), Item::Date(q)) => p.equivalent(&q.to_datetime()),
        (Item::Time(p), Item::Time(q)) => p.equivalent(q),
        (Item::Quantity(p), Item::Quantity(q)) => p.equivalent(q),
        (Item::Type(p), Item::Type(q)) => p == q,
        _ => false,
    }
}

fn normalize_ws(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (Decimal::parse(x.as_str()), Decimal::parse(y.as_str())) {
            (Some(p), Some(q)) => p == q,
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_equal(p, q)),
        (Value::Object(x), Value::Object(y)) => x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w))),
        _ => a == b,
    }
}

fn json_equivalent(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => normalize_ws(x) == normalize_ws(y),
        (Value::Number(x), Value::Number(y)) => match (Decimal::parse(x.as_str()), Decimal::parse(y.as_str())) {
            (Some(p), Some(q)) => p.equivalent(&q),
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_equivalent(p, q)),
        (Value::Object(x), Value::Object(y)) => {
            let keys = |o: &serde_json::Map<String, Value>| o.keys().filter(|k| *k != "id").count();
            keys(x) == keys(y) && x.iter().filter(|(k, _)| *k != "id").all(|(k, v)| y.get(k).is_some_and(|w| json_equivalent(v, w)))
        }
        _ => a == b,
    }
}

pub(crate) fn numeric(i: &Item<'_>) -> Option<Decimal> {
    match i {
        Item::Integer(v) => Some(Decimal::from_i64(*v)),
        Item::Decimal(d) => Some(*d),
        _ => None,
    }
}

/// Ordering for `<` and friends: `Ok(None)` when unknown, an error for incomparable types.
pub(crate) fn item_compare(a: &Item<'_>, b: &Item<'_>) -> Result<Option<Ordering>, EvalError> {
    let (Some(x), Some(y)) = (a.to_system(), b.to_system()) else {
        return Ok(None);
    };
    Ok(match (x.as_ref(), y.as_ref()) {
        (Item::Integer(p), Item::Integer(q)) => Some(p.cmp(q)),
        (Item::Integer(_) | Item::Decimal(_), Item::Integer(_) | Item::Decimal(_)) => match (numeric(&x), numeric(&y)) {
            (Some(p), Some(q)) => Some(p.cmp_value(&q)),
            _ => None,
        },
        (Item::String(p), Item::String(q)) => Some(p.cmp(q)),
        (Item::Date(p), Item::Date(q)) => p.compare(q),
        (Item::DateTime(p), Item::DateTime(q)) => p.compare(q),
        (Item::Date(p), Item::DateTime(q)) => p.to_datetime().compare(q),
        (Item::DateTime(p), Item::Date(q)) => p.compare(&q.to_datetime()),
        (Item::Time(p), Item::Time(q)) => p.compare(q),
        (Item::Quantity(p), Item::Quantity(q)) => p.compare(q),
        _ => return Err(EvalError::type_error(format!("cannot compare {} with {}", x.type_info().name, y.type_info().name))),
    })
}

/// Collection equality (`=`): ordered, item by item.
fn collection_equal(a: &[Item<'_>], b: &[Item<'_>]) -> Option<bool> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    if a.len() != b.len() {
        return Some(false);
    }
    let mut unknown = false;
    for (x, y) in a.iter().zip(b) {
        match item_equal(x, y) {
            Some(false) => return Some(false),
            None => unknown = true,
            Some(true) => {}
        }
    }
    if unknown {
        None
    } else {
        Some(true)
    }
}

/// Collection equivalence (`~`): same size and every item has an equivalent, in any order.
fn collection_equivalent(a: &[Item<'_>], b: &[Item<'_>]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut used = vec![false; b.len()];
    'outer: for x in a {
        for (j, y) in b.iter().enumerate() {
            if !used[j] && item_equivalent(x, y) {
                used[j] = true;
                continue 'outer;
            }
        }
        return false;
    }
    true
}

/// Membership by equality, as `in`, `contains`, `distinct` and `union` use it.
pub(crate) fn contains_item(haystack: &[Item<'_>], needle: &Item<'_>) -> bool {
    haystack.iter().any(|h| item_equal(h, needle) == Some(true))
}

/// Appends the items of `b` not already in `out` (union semantics).
pub(crate) fn union_into<'a>(out: &mut Items<'a>, b: impl IntoIterator<Item = Item<'a>>) {
    for item in b {
        if !contains_item(out, &item) {
            out.push(item);
        }
    }
}

/// The singleton-evaluation Boolean of a collection: empty → `None`, one Boolean → its value,
/// one other item → true, several → error.
pub(crate) fn to_boolean(items: &[Item<'_>], context: &'static str) -> Result<Option<bool>, EvalError> {
    match items {
        [] => Ok(None),
        [one] => Ok(Some(match one.to_system().as_deref() {
            Some(Item::Boolean(b)) => *b,
            _ => true,
        })),
        _ => Err(EvalError::NotSingleton { context, count: items.len() }),
    }
}

fn single<'i, 'a>(items: &'i [Item<'a>], context: &'static str) -> Result<Option<Cow<'i, Item<'a>>>, EvalError> {
    match items {
        [] => Ok(None),
        [one] => Ok(one.to_system()),
        _ => Err(EvalError::NotSingleton { context, count: items.len() }),
    }
}

pub(crate) fn unary<'a>(op: UnaryOp, v: Items<'a>) -> Result<Items<'a>, EvalError> {
    let Some(x) = single(&v, "a unary operator")? else {
        return Ok(Vec::new());
    };
    let r = match (op, x.as_ref()) {
        (UnaryOp::Plus, Item::Integer(_) | Item::Decimal(_) | Item::Quantity(_)) => x.into_owned(),
        (UnaryOp::Minus, Item::Integer(i)) => match i.checked_neg() {
            Some(n) => Item::Integer(n),
            None => return Ok(Vec::new()),
        },
        (UnaryOp::Minus, Item::Decimal(d)) => Item::Decimal(d.neg()),
        (UnaryOp::Minus, Item::Quantity(q)) => Item::Quantity(Quantity::new(q.value.neg(), q.unit.clone())),
        (_, other) => return Err(EvalError::type_error(format!("unary sign cannot apply to {}", other.type_info().name))),
    };
    Ok(vec![r])
}

fn boolean(b: Option<bool>) -> Items<'static> {
    b.map(Item::Boolean).into_iter().collect()
}

pub(crate) fn binary<'a>(ev: &Evaluator<'a, '_>, op: BinaryOp, lhs: &Node, rhs: &Node, scope: Scope<'_, 'a>) -> Result<Items<'a>, EvalError> {
    // The Boolean operators may not need their right operand.
    match op {
        BinaryOp::And | BinaryOp::Or | BinaryOp::Implies => {
            let l = to_boolean(&ev.eval(lhs, scope)?, "a Boolean operator")?;
            match (op, l) {
                (BinaryOp::And, Some(false)) => return Ok(boolean(Some(false))),
                (BinaryOp::Or, Some(true)) => return Ok(boolean(Some(true))),
                (BinaryOp::Implies, Some(false)) => return Ok(boolean(Some(true))),
                _ => {}
            }
            let r = to_boolean(&ev.eval(rhs, scope)?, "a Boolean operator")?;
            return Ok(boolean(match op {
                BinaryOp::And => match (l, r) {
                    (_, Some(false)) => Some(false),
                    (Some(true), Some(true)) => Some(true),
                    _ => None,
                },
                BinaryOp::Or => match (l, r) {
                    (_, Some(true)) => Some(true),
                    (Some(false), Some(false)) => Some(false),
                    _ => None,
                },
                _ => match (l, r) {
                    (_, Some(true)) => Some(true),
                    (Some(true), r) => r,
                    _ => None,
                },
            }));
        }
        _ => {}
    }
    let l = ev.eval(lhs, scope)?;
    let r = ev.eval(rhs, scope)?;
    apply(op, l, r)
}

/// Applies a binary operator (other than and/or/implies) to evaluated operands.
pub(crate) fn apply<'a>(op: BinaryOp, l: Items<'a>, r: Items<'a>) -> Result<Items<'a>, EvalError> {
    match op {
        BinaryOp::Union => {
            let mut out = Vec::with_capacity(l.len() + r.len());
            union_into(&mut out, l);
            union_into(&mut out, r);
            Ok(out)
        }
        BinaryOp::Eq => Ok(boolean(collection_equal(&l, &r))),
        BinaryOp::Ne => Ok(boolean(collection_equal(&l, &r).map(|b| !b))),
        BinaryOp::Equiv => Ok(boolean(Some(collection_equivalent(&l, &r)))),
        BinaryOp::NotEquiv => Ok(boolean(Some(!collection_equivalent(&l, &r)))),
        BinaryOp::In | BinaryOp::Contains => {
            let (needle, hay) = if op == BinaryOp::In { (l, r) } else { (r, l) };
            match needle.as_slice() {
                [] => Ok(Vec::new()),
                [one] => Ok(boolean(Some(contains_item(&hay, one)))),
                _ => Err(EvalError::NotSingleton { context: "in/contains", count: needle.len() }),
            }
        }
        BinaryOp::Xor => {
            let a = to_boolean(&l, "xor")?;
            let b = to_boolean(&r, "xor")?;
            Ok(boolean(match (a, b) {
                (Some(x), Some(y)) => Some(x != y),
                _ => None,
            }))
        }
        BinaryOp::Lt | BinaryOp::Gt | BinaryOp::Le | BinaryOp::Ge => {
            let (Some(a), Some(b)) = (single(&l, "a comparison")?, single(&r, "a comparison")?) else {
                return Ok(Vec::new());
            };
            let Some(ord) = item_compare(&a, &b)? else {
                return Ok(Vec::new());
            };
            Ok(boolean(Some(match op {
                BinaryOp::Lt => ord == Ordering::Less,
                BinaryOp::Gt => ord == Ordering::Greater,
                BinaryOp::Le => ord != Ordering::Greater,
                _ => ord != Ordering::Less,
            })))
        }
        BinaryOp::Concat => {
            let text = |items: &[Item<'_>]| -> Result<String, EvalError> {
                Ok(match single(items, "&")? {
                    None => String::new(),
                    Some(i) => i.to_string(),
                })
            };
            Ok(vec![Item::String(text(&l)? + &text(&r)?)])
        }
        _ => {
            let (Some(a), Some(b)) = (single(&l, "an arithmetic operator")?, single(&r, "an arithmetic operator")?) else {
                return Ok(Vec::new());
            };
            arithmetic(op, &a, &b)
        }
    }
}

fn arithmetic<'a>(op: BinaryOp, a: &Item<'a>, b: &Item<'a>) -> Result<Items<'a>, EvalError> {
    let mismatch = || EvalError::type_error(format!("cannot apply {op:?} to {} and {}", a.type_info().name, b.type_info().name));
    let some = |i: Option<Item<'a>>| Ok(i.into_iter().collect());
    match (a, b) {
        (Item::Integer(x), Item::Integer(y)) => some(match op {
            BinaryOp::Add => x.checked_add(*y).map(Item::Integer),
            BinaryOp::Sub => x.checked_sub(*y).map(Item::Integer),
            BinaryOp::Mul => x.checked_mul(*y).map(Item::Integer),
            BinaryOp::Div => Decimal::from_i64(*x).checked_div(&Decimal::from_i64(*y)).map(Item::Decimal),
            BinaryOp::IntDiv => x.checked_div(*y).map(Item::Integer),
            BinaryOp::Mod => x.checked_rem(*y).map(Item::Integer),
            _ => return Err(mismatch()),
        }),
        (Item::Integer(_) | Item::Decimal(_), Item::Integer(_) | Item::Decimal(_)) => {
            let (Some(x), Some(y)) = (numeric(a), numeric(b)) else {
                return Err(mismatch());
            };
            some(
                match op {
                    BinaryOp::Add => x.checked_add(&y),
                    BinaryOp::Sub => x.checked_sub(&y),
                    BinaryOp::Mul => x.checked_mul(&y),
                    BinaryOp::Div => x.checked_div(&y),
                    BinaryOp::IntDiv => x.checked_div_trunc(&y),
                    BinaryOp::Mod => x.checked_rem(&y),
                    _ => return Err(mismatch()),
                }
                .map(Item::Decimal),
            )
        }
        (Item::String(x), Item::String(y)) if op == BinaryOp::Add => Ok(vec![Item::String(format!("{x}{y}"))]),
        (Item::Quantity(x), Item::Quantity(y)) => some(match op {
            BinaryOp::Add => x.add(y, false).map(Item::Quantity),
            BinaryOp::Sub => x.add(y, true).map(Item::Quantity),
            BinaryOp::Mul => x.mul(y, false).map(Item::Quantity),
            BinaryOp::Div => x.mul(y, true).map(Item::Quantity),
            _ => return Err(mismatch()),
        }),
        (Item::Quantity(q), Item::Integer(_) | Item::Decimal(_)) if matches!(op, BinaryOp::Mul | BinaryOp::Div) => {
            let Some(n) = numeric(b) else {
                return Err(mismatch());
            };
            let v = if op == BinaryOp::Mul { q.value.checked_mul(&n) } else { q.value.checked_div(&n) };
            some(v.map(|v| Item::Quantity(Quantity::new(v, q.unit.clone()))))
        }
        (Item::Integer(_) | Item::Decimal(_), Item::Quantity(q)) if op == BinaryOp::Mul => {
            let Some(n) = numeric(a) else {
                return Err(mismatch());
            };
            some(n.checked_mul(&q.value).map(|v| Item::Quantity(Quantity::new(v, q.unit.clone()))))
        }
        (Item::Date(_) | Item::DateTime(_) | Item::Time(_), Item::Quantity(q)) if matches!(op, BinaryOp::Add | BinaryOp::Sub) => {
            let unit = calendar_unit(&q.unit)
                .ok_or_else(|| EvalError::type_error(format!("cannot add '{}' to a date or time: use a calendar duration", q.unit)))?;
            let mut amount = q.value.truncate().to_i64().ok_or_else(mismatch)?;
            if op == BinaryOp::Sub {
                amount = -amount;
            }
            let r = match a {
                Item::Date(d) => d.add(amount, unit).map(Item::Date),
                Item::DateTime(d) => d.add(amount, unit).map(Item::DateTime),
                Item::Time(t) => match unit {
                    "year" | "month" | "week" | "day" => return Err(mismatch()),
                    _ => t.add(amount, unit).map(Item::Time),
                },
                _ => None,
            };
            some(r)
        }
        _ => Err(mismatch()),
    }
}
