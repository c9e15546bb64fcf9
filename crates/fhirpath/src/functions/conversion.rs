//! Conversion functions: toBoolean, toInteger, toLong, toDecimal, toString, toDate, toDateTime,
//! toTime, toQuantity and their convertsTo… tests.

use super::Ctx;
use crate::ast::Func;
use crate::decimal::Decimal;
use crate::error::EvalError;
use crate::eval::Items;
use crate::item::Item;
use crate::quantity::Quantity;
use crate::temporal::{Date, DateTime, Time};

pub(super) fn call<'a>(cx: &Ctx<'_, 'a, '_>) -> Result<Items<'a>, EvalError> {
    let (target, test) = match cx.call.func {
        Func::ToBoolean => (Func::ToBoolean, false),
        Func::ConvertsToBoolean => (Func::ToBoolean, true),
        Func::ToInteger => (Func::ToInteger, false),
        Func::ConvertsToInteger => (Func::ToInteger, true),
        Func::ToLong => (Func::ToInteger, false),
        Func::ConvertsToLong => (Func::ToInteger, true),
        Func::ToDecimal => (Func::ToDecimal, false),
        Func::ConvertsToDecimal => (Func::ToDecimal, true),
        Func::ToStringFn => (Func::ToStringFn, false),
        Func::ConvertsToString => (Func::ToStringFn, true),
        Func::ToDate => (Func::ToDate, false),
        Func::ConvertsToDate => (Func::ToDate, true),
        Func::ToDateTime => (Func::ToDateTime, false),
        Func::ConvertsToDateTime => (Func::ToDateTime, true),
        Func::ToTime => (Func::ToTime, false),
        Func::ConvertsToTime => (Func::ToTime, true),
        Func::ToQuantity => (Func::ToQuantity, false),
        Func::ConvertsToQuantity => (Func::ToQuantity, true),
        other => return Err(EvalError::Unsupported(format!("{}() is not a conversion", other.name()))),
    };
    let Some(item) = cx.input_item()? else {
        return Ok(Vec::new());
    };
    let Some(value) = item.to_system() else {
        return Ok(if test { vec![Item::Boolean(false)] } else { Vec::new() });
    };
    let converted = match target {
        Func::ToBoolean => to_boolean(&value),
        Func::ToInteger => to_integer(&value),
        Func::ToDecimal => to_decimal(&value),
        Func::ToStringFn => to_string(&value),
        Func::ToDate => to_date(&value),
        Func::ToDateTime => to_datetime(&value),
        Func::ToTime => to_time(&value),
        _ => {
            let unit = cx.arg_string(0)?;
            to_quantity(&value, unit.as_deref())
        }
    };
    Ok(if test { vec![Item::Boolean(converted.is_some())] } else { converted.into_iter().collect() })
}

fn to_boolean<'a>(v: &Item<'a>) -> Option<Item<'a>> {
    Some(Item::Boolean(match v {
        Item::Boolean(b) => *b,
        Item::Integer(1) => true,
        Item::Integer(0) => false,
        Item::Decimal(d) if d.cmp_value(&Decimal::from_i64(1)).is_eq() => true,
        Item::Decimal(d) if d.is_zero() => false,
        Item::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "t" | "yes" | "y" | "1" | "1.0" => true,
            "false" | "f" | "no" | "n" | "0" | "0.0" => false,
            _ => return None,
        },
        _ => return None,
    }))
}

fn is_integer_text(s: &str) -> bool {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

fn to_integer<'a>(v: &Item<'a>) -> Option<Item<'a>> {
    match v {
        Item::Integer(i) => Some(Item::Integer(*i)),
        Item::Boolean(b) => Some(Item::Integer(i64::from(*b))),
        Item::String(s) if is_integer_text(s) => s.parse().ok().map(Item::Integer),
        _ => None,
    }
}

fn to_decimal<'a>(v: &Item<'a>) -> Option<Item<'a>> {
    match v {
        Item::Integer(i) => Some(Item::Decimal(Decimal::from_i64(*i))),
        Item::Decimal(d) => Some(Item::Decimal(*d)),
        Item::Boolean(b) => Some(Item::Decimal(Decimal::new(i128::from(*b) * 10, 1))),
        Item::String(s) => {
            let body = s.strip_prefix(['+', '-']).unwrap_or(s);
            let ok = !body.is_empty() && body.bytes().all(|b| b.is_ascii_digit() || b == b'.');
            if ok {
                Decimal::parse(s).map(Item::Decimal)
            } else {
                None
            }
        }
        _ => None,
    }
}

fn to_string<'a>(v: &Item<'a>) -> Option<Item<'a>> {
    match v {
        Item::Node { .. } | Item::Type(_) => None,
        other => Some(Item::String(other.to_string())),
    }
}

fn to_date<'a>(v: &Item<'a>) -> Option<Item<'a>> {
    match v {
        Item::Date(d) => Some(Item::Date(*d)),
        Item::DateTime(d) => Some(Item::Date(d.date())),
        Item::String(s) => Date::parse(s).or_else(|| DateTime::parse(s).map(|d| d.date())).map(Item::Date),
        _ => None,
    }
}

fn to_datetime<'a>(v: &Item<'a>) -> Option<Item<'a>> {
    match v {
        Item::DateTime(d) => Some(Item::DateTime(*d)),
        Item::Date(d) => Some(Item::DateTime(d.to_datetime())),
        Item::String(s) => DateTime::parse(s).map(Item::DateTime),
        _ => None,
    }
}

fn to_time<'a>(v: &Item<'a>) -> Option<Item<'a>> {
    match v {
        Item::Time(t) => Some(Item::Time(*t)),
        Item::String(s) => Time::parse(s.strip_prefix('T').unwrap_or(s)).map(Item::Time),
        _ => None,
    }
}

fn to_quantity<'a>(v: &Item<'a>, unit: Option<&str>) -> Option<Item<'a>> {
    let q = match v {
        Item::Quantity(q) => q.clone(),
        Item::Integer(i) => Quantity::new(Decimal::from_i64(*i), "1"),
        Item::Decimal(d) => Quantity::new(*d, "1"),
        Item::Boolean(b) => Quantity::new(Decimal::new(i128::from(*b) * 10, 1), "1"),
        Item::String(s) => Quantity::parse_string(s)?,
        _ => return None,
    };
    match unit {
        None => Some(Item::Quantity(q)),
        Some(u) if u == q.unit => Some(Item::Quantity(q)),
        Some(u) => {
            let zero = Quantity::new(Decimal::ZERO, u);
            let converted = zero.add(&q, false)?;
            Some(Item::Quantity(converted))
        }
    }
}
