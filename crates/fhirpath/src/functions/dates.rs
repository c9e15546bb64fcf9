//! Date and time component functions (FHIRPath 2.1): yearOf … millisecondOf,
//! timezoneOffsetOf, dateOf and timeOf.

use super::Ctx;
use crate::ast::Func;
use crate::decimal::Decimal;
use crate::error::EvalError;
use crate::eval::Items;
use crate::item::Item;
use crate::temporal::Precision;

pub(super) fn call<'a>(cx: &Ctx<'_, 'a, '_>) -> Result<Items<'a>, EvalError> {
    let func = cx.call.func;
    let Some(v) = cx.input_single()? else {
        return Ok(Vec::new());
    };
    let precision = match func {
        Func::YearOf => Precision::Year,
        Func::MonthOf => Precision::Month,
        Func::DayOf => Precision::Day,
        Func::HourOf => Precision::Hour,
        Func::MinuteOf => Precision::Minute,
        Func::SecondOf => Precision::Second,
        Func::MillisecondOf => Precision::Millisecond,
        Func::TimezoneOffsetOf => {
            return Ok(match v.as_ref() {
                Item::DateTime(d) => d
                    .offset_minutes()
                    .and_then(|m| Decimal::from_i64(i64::from(m)).checked_div(&Decimal::from_i64(60)))
                    .map(Item::Decimal)
                    .into_iter()
                    .collect(),
                _ => Vec::new(),
            })
        }
        Func::DateOf => {
            return Ok(match v.as_ref() {
                Item::DateTime(d) => vec![Item::Date(d.date())],
                Item::Date(d) => vec![Item::Date(*d)],
                _ => Vec::new(),
            })
        }
        Func::TimeOf => {
            return Ok(match v.as_ref() {
                Item::DateTime(d) => d.time().map(Item::Time).into_iter().collect(),
                _ => Vec::new(),
            })
        }
        other => return Err(EvalError::Unsupported(format!("{}() is not a date function", other.name()))),
    };
    let component = match v.as_ref() {
        Item::Date(d) if precision <= Precision::Day => d.component(precision),
        Item::DateTime(d) => d.component(precision),
        Item::Time(t) if precision >= Precision::Hour => t.component(precision),
        Item::Date(_) | Item::Time(_) => None,
        other => return Err(EvalError::type_error(format!("{}() needs a date or time, not {}", func.name(), other.type_info().name))),
    };
    Ok(component.map(Item::Integer).into_iter().collect())
}
