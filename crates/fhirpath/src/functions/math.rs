//! Math functions (abs, ceiling, exp, floor, ln, log, power, round, sqrt, truncate), the
//! aggregates sum/min/max/avg, and precision functions (lowBoundary, highBoundary, precision,
//! comparable).

use std::cmp::Ordering;

use super::Ctx;
use crate::ast::Func;
use crate::decimal::{Decimal, MAX_SCALE};
use crate::error::EvalError;
use crate::eval::Items;
use crate::item::Item;
use crate::operators::{apply, item_compare, numeric};
use crate::quantity::Quantity;

fn from_f64<'a>(v: f64) -> Items<'a> {
    Decimal::from_f64(v).map(Item::Decimal).into_iter().collect()
}

fn int_or_decimal<'a>(d: Decimal) -> Item<'a> {
    match d.to_i64() {
        Some(i) => Item::Integer(i),
        None => Item::Decimal(d),
    }
}

pub(super) fn call<'a>(cx: &Ctx<'_, 'a, '_>) -> Result<Items<'a>, EvalError> {
    let func = cx.call.func;
    match func {
        Func::Sum | Func::Min | Func::Max | Func::Avg => return aggregate(cx),
        _ => {}
    }
    let Some(v) = cx.input_single()? else {
        return Ok(Vec::new());
    };
    let v = v.into_owned();
    let not_number = || EvalError::type_error(format!("{}() needs a number, not {}", func.name(), v.type_info().name));
    Ok(match func {
        Func::Abs => match &v {
            Item::Integer(i) => i.checked_abs().map(Item::Integer).into_iter().collect(),
            Item::Decimal(d) => vec![Item::Decimal(d.abs())],
            Item::Quantity(q) => vec![Item::Quantity(Quantity::new(q.value.abs(), q.unit.clone()))],
            _ => return Err(not_number()),
        },
        Func::Ceiling | Func::Floor | Func::Truncate => {
            let d = numeric(&v).ok_or_else(not_number)?;
            let r = match func {
                Func::Ceiling => d.ceiling(),
                Func::Floor => d.floor(),
                _ => d.truncate(),
            };
            r.to_i64().map(Item::Integer).into_iter().collect()
        }
        Func::Round => {
            let d = numeric(&v).ok_or_else(not_number)?;
            let digits = cx.arg_integer(0)?.unwrap_or(0);
            let digits = u32::try_from(digits).map_err(|_| EvalError::type_error("round() precision must be >= 0"))?;
            match (&v, d.round(digits)) {
                (Item::Integer(_), Some(r)) => vec![int_or_decimal(r)],
                (_, Some(r)) => vec![Item::Decimal(r)],
                (_, None) => Vec::new(),
            }
        }
        Func::Exp | Func::Ln | Func::Sqrt => {
            let x = numeric(&v).ok_or_else(not_number)?.to_f64();
            let r = match func {
                Func::Exp => x.exp(),
                Func::Ln => x.ln(),
                _ => x.sqrt(),
            };
            from_f64(r)
        }
        Func::Log => {
            let x = numeric(&v).ok_or_else(not_number)?.to_f64();
            let Some(base) = cx.arg_single(0)? else {
                return Ok(Vec::new());
            };
            let b = numeric(&base).ok_or_else(not_number)?.to_f64();
            from_f64(x.ln() / b.ln())
        }
        Func::Power => {
            let Some(e) = cx.arg_single(0)? else {
                return Ok(Vec::new());
            };
            match (&v, &e) {
                (Item::Integer(b), Item::Integer(p)) if *p >= 0 => {
                    u32::try_from(*p).ok().and_then(|p| b.checked_pow(p)).map(Item::Integer).into_iter().collect()
                }
                _ => {
                    let b = numeric(&v).ok_or_else(not_number)?.to_f64();
                    let p = numeric(&e).ok_or_else(not_number)?.to_f64();
                    from_f64(b.powf(p))
                }
            }
        }
        Func::LowBoundary | Func::HighBoundary => {
            let high = func == Func::HighBoundary;
            let digits = cx.arg_integer(0)?;
            boundary(&v, digits, high).into_iter().collect()
        }
        Func::Precision => {
            let p = match &v {
                Item::Decimal(d) => i64::from(d.scale()),
                Item::Integer(_) => 0,
                Item::Date(d) => d.precision_digits(),
                Item::DateTime(d) => d.precision_digits(),
                Item::Time(t) => t.precision_digits(),
                _ => return Ok(Vec::new()),
            };
            vec![Item::Integer(p)]
        }
        Func::Comparable => {
            let Some(other) = cx.arg_single(0)? else {
                return Ok(Vec::new());
            };
            match (&v, &other) {
                (Item::Quantity(a), Item::Quantity(b)) => vec![Item::Boolean(a.comparable(b))],
                _ => return Err(EvalError::type_error("comparable() needs quantities")),
            }
        }
        other => return Err(EvalError::Unsupported(format!("{}() is not a math function", other.name()))),
    })
}

fn aggregate<'a>(cx: &Ctx<'_, 'a, '_>) -> Result<Items<'a>, EvalError> {
    let func = cx.call.func;
    let values: Vec<Item<'a>> = cx.input.iter().filter_map(|i| i.to_system().map(|c| c.into_owned())).collect();
    if values.is_empty() {
        return Ok(if func == Func::Sum { vec![Item::Integer(0)] } else { Vec::new() });
    }
    match func {
        Func::Min | Func::Max => {
            let mut best = values[0].clone();
            for v in &values[1..] {
                let ord = item_compare(v, &best)?;
                let better = match func {
                    Func::Min => ord == Some(Ordering::Less),
                    _ => ord == Some(Ordering::Greater),
                };
                if better {
                    best = v.clone();
                }
            }
            Ok(vec![best])
        }
        _ => {
            let n = values.len() as i64;
            let mut total = vec![values[0].clone()];
            for v in &values[1..] {
                total = apply(crate::ast::BinaryOp::Add, total, vec![v.clone()])?;
            }
            if func == Func::Avg {
                total = apply(crate::ast::BinaryOp::Div, total, vec![Item::Integer(n)])?;
            }
            Ok(total)
        }
    }
}

/// lowBoundary()/highBoundary() of a decimal written with `value.scale()` digits: the value
/// stands for the interval ± half a unit in its last place.
fn decimal_boundary(d: &Decimal, digits: u32, high: bool) -> Option<Decimal> {
    if d.is_negative() {
        // Mirror: the low boundary of -x is minus the high boundary of x.
        let r = decimal_boundary(&d.neg(), digits, !high)?;
        return Some(if r.is_zero() { r.neg().with_negative_zero() } else { r.neg() });
    }
    let half = Decimal::new(5, d.scale() + 1);
    let edge = if high { d.checked_add(&half)? } else { d.checked_sub(&half)? };
    if edge.is_negative() {
        // Zero: the interval straddles it.
        let r = edge.floor_to(digits);
        return r.rescale(digits);
    }
    let r = if high {
        // Beyond the requested precision the value rounds to zero.
        if d.is_zero() || d.cmp_value(&Decimal::new(1, digits)) == Ordering::Less {
            Decimal::new(0, digits)
        } else {
            edge.ceil_to(digits)
        }
    } else {
        edge.floor_to(digits)
    };
    r.rescale(digits)
}

fn boundary<'a>(v: &Item<'a>, digits: Option<i64>, high: bool) -> Option<Item<'a>> {
    match v {
        Item::Integer(_) | Item::Decimal(_) | Item::Quantity(_) => {
            let digits = digits.unwrap_or(8);
            if !(0..=i64::from(MAX_SCALE)).contains(&digits) {
                return None;
            }
            let digits = digits as u32;
            match v {
                Item::Quantity(q) => decimal_boundary(&q.value, digits, high).map(|d| Item::Quantity(Quantity::new(d, q.unit.clone()))),
                _ => decimal_boundary(&numeric(v)?, digits, high).map(Item::Decimal),
            }
        }
        Item::Date(d) => d.boundary(digits.unwrap_or(8), high).map(Item::Date),
        Item::DateTime(d) => d.boundary(digits.unwrap_or(17), high).map(Item::DateTime),
        Item::Time(t) => t.boundary(digits.unwrap_or(9), high).map(Item::Time),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(v: &str, digits: u32, high: bool) -> String {
        let d = Decimal::parse(v).expect("test decimal");
        decimal_boundary(&d, digits, high).map(|x| x.to_string()).unwrap_or_default()
    }

    #[test]
    fn decimal_boundaries() {
        assert_eq!(b("1.587", 8, false), "1.58650000");
        assert_eq!(b("1.587", 2, false), "1.58");
        assert_eq!(b("1.587", 0, false), "1");
        assert_eq!(b("-1.587", 2, false), "-1.59");
        assert_eq!(b("-1.587", 0, false), "-2");
        assert_eq!(b("1", 0, false), "0");
        assert_eq!(b("120", 2, false), "119.50");
        assert_eq!(b("-120", 2, false), "-120.50");
        assert_eq!(b("0.0034", 1, false), "0.0");
        assert_eq!(b("-0.0034", 1, false), "-0.0");
        assert_eq!(b("12.500", 4, false), "12.4995");
        assert_eq!(b("1.587", 2, true), "1.59");
        assert_eq!(b("-1.587", 2, true), "-1.58");
        assert_eq!(b("1", 0, true), "2");
        assert_eq!(b("0.0034", 1, true), "0.0");
        assert_eq!(b("12.500", 4, true), "12.5005");
        assert_eq!(b("-1.587", 8, true), "-1.58650000");
    }
}
