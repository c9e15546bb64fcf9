//! FHIRPath quantities: a decimal value with a UCUM unit or a calendar duration keyword
//! (`4 'mg'`, `7 days`), with equality, equivalence, ordering and arithmetic across
//! commensurable units.

use std::cmp::Ordering;
use std::fmt;

use crate::decimal::Decimal;
use crate::ucum::{self, Canonical};

/// A quantity such as `185 '[lb_av]'` or `1 week`.
#[derive(Clone, Debug, PartialEq)]
pub struct Quantity {
    pub value: Decimal,
    /// A UCUM code (`mg`, `'1'` for none) or a calendar keyword (`week`, `days`).
    pub unit: String,
}

/// Calendar duration keywords and the UCUM unit they stand for.
pub(crate) fn calendar_keyword(word: &str) -> Option<&'static str> {
    Some(match word {
        "year" | "years" => "a",
        "month" | "months" => "mo",
        "week" | "weeks" => "wk",
        "day" | "days" => "d",
        "hour" | "hours" => "h",
        "minute" | "minutes" => "min",
        "second" | "seconds" => "s",
        "millisecond" | "milliseconds" => "ms",
        _ => return None,
    })
}

impl Quantity {
    pub fn new(value: Decimal, unit: impl Into<String>) -> Quantity {
        Quantity { value, unit: unit.into() }
    }

    /// The unit written as a calendar keyword (`week`), rather than as UCUM.
    pub fn is_calendar(&self) -> bool {
        calendar_keyword(&self.unit).is_some()
    }

    /// Year/month keywords, which are not exactly convertible to seconds.
    fn is_calendar_year_or_month(&self) -> bool {
        matches!(self.unit.as_str(), "year" | "years" | "month" | "months")
    }

    fn ucum_unit(&self) -> &str {
        calendar_keyword(&self.unit).unwrap_or(&self.unit)
    }

    fn canonical(&self) -> Option<(Decimal, Canonical)> {
        let c = ucum::canonical(self.ucum_unit())?;
        Some((self.value.checked_mul(&c.factor)?, c))
    }

    /// Both values in one unit, when the units are commensurable.
    fn aligned(&self, other: &Quantity) -> Option<(Decimal, Decimal)> {
        if self.ucum_unit() == other.ucum_unit() {
            return Some((self.value, other.value));
        }
        let (a, ca) = self.canonical()?;
        let (b, cb) = other.canonical()?;
        (ca.dims == cb.dims).then_some((a, b))
    }

    /// `=`: `None` when the quantities cannot be compared (different dimensions, or a calendar
    /// year/month against a UCUM `a`/`mo`).
    pub(crate) fn equals(&self, other: &Quantity) -> Option<bool> {
        if self.is_calendar_year_or_month() != other.is_calendar_year_or_month()
            && (self.is_calendar_year_or_month() || other.is_calendar_year_or_month())
        {
            let same_unit = self.ucum_unit() == other.ucum_unit();
            if same_unit || self.is_time() && other.is_time() {
                return None;
            }
        }
        let (a, b) = self.aligned(other)?;
        Some(a.cmp_value(&b) == Ordering::Equal)
    }

    fn is_time(&self) -> bool {
        ucum::canonical(self.ucum_unit()).is_some_and(|c| c.dims == [0, 0, 1, 0, 0, 0, 0])
    }

    /// `~`: equal at the precision of the less precise value, calendar and UCUM units alike.
    pub(crate) fn equivalent(&self, other: &Quantity) -> bool {
        if self.ucum_unit() == other.ucum_unit() {
            return self.value.equivalent(&other.value);
        }
        match (self.canonical(), other.canonical()) {
            (Some((a, ca)), Some((b, cb))) if ca.dims == cb.dims => {
                // Compare at the precision of the less precise operand, in base units.
                let sa = self.value.scale();
                let sb = other.value.scale();
                let (a, b) = if sa <= sb { (a, b) } else { (b, a) };
                let digits = a.scale().min(b.scale());
                match (a.round(digits), b.round(digits)) {
                    (Some(x), Some(y)) => x.cmp_value(&y) == Ordering::Equal,
                    _ => false,
                }
            }
            _ => false,
        }
    }

    /// Ordering, when the units are commensurable.
    pub(crate) fn compare(&self, other: &Quantity) -> Option<Ordering> {
        let (a, b) = self.aligned(other)?;
        Some(a.cmp_value(&b))
    }

    /// True when the units measure the same kind of thing.
    pub(crate) fn comparable(&self, other: &Quantity) -> bool {
        self.aligned(other).is_some()
    }

    /// `+`/`-`: the result is in the left operand's unit.
    pub(crate) fn add(&self, other: &Quantity, subtract: bool) -> Option<Quantity> {
        let rhs = if self.ucum_unit() == other.ucum_unit() {
            other.value
        } else {
            let (b, cb) = other.canonical()?;
            let ca = ucum::canonical(self.ucum_unit())?;
            if ca.dims != cb.dims {
                return None;
            }
            b.checked_div(&ca.factor)?
        };
        let value = if subtract { self.value.checked_sub(&rhs)? } else { self.value.checked_add(&rhs)? };
        Some(Quantity { value, unit: self.unit.clone() })
    }

    /// `*`/`/` between quantities: the result is in base units.
    pub(crate) fn mul(&self, other: &Quantity, divide: bool) -> Option<Quantity> {
        if self.ucum_unit() == "1" && !divide {
            return Some(Quantity { value: self.value.checked_mul(&other.value)?, unit: other.unit.clone() });
        }
        if other.ucum_unit() == "1" {
            let value = if divide { self.value.checked_div(&other.value)? } else { self.value.checked_mul(&other.value)? };
            return Some(Quantity { value, unit: self.unit.clone() });
        }
        let (a, ca) = self.canonical()?;
        let (b, cb) = other.canonical()?;
        let mut dims = ca.dims;
        for (i, v) in cb.dims.iter().enumerate() {
            dims[i] = if divide { dims[i].checked_sub(*v)? } else { dims[i].checked_add(*v)? };
        }
        let value = if divide { a.checked_div(&b)? } else { a.checked_mul(&b)? };
        Some(Quantity { value, unit: ucum::unit_for(&dims) })
    }

    /// Parses the string form accepted by `toQuantity()`: `1.5 'mg'`, `4 days`, `10`.
    pub(crate) fn parse_string(s: &str) -> Option<Quantity> {
        let s = s.trim();
        let end = s
            .char_indices()
            .find(|(i, c)| !(c.is_ascii_digit() || *c == '.' || (*i == 0 && (*c == '-' || *c == '+'))))
            .map(|(i, _)| i)
            .unwrap_or(s.len());
        let value = Decimal::parse(&s[..end])?;
        let rest = s[end..].trim();
        if rest.is_empty() {
            return Some(Quantity::new(value, "1"));
        }
        if let Some(inner) = rest.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
            if inner.is_empty() || inner.contains('\'') {
                return None;
            }
            return Some(Quantity::new(value, inner));
        }
        calendar_keyword(rest).map(|_| Quantity::new(value, rest))
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_calendar() {
            write!(f, "{} {}", self.value, self.unit)
        } else {
            write!(f, "{} '{}'", self.value, self.unit)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity::parse_string(s).expect("test quantity")
    }

    #[test]
    fn equality_across_units() {
        assert_eq!(q("4.0000 'g'").equals(&q("4000.0 'mg'")), Some(true));
        assert_eq!(q("7 days").equals(&q("1 week")), Some(true));
        assert_eq!(q("7 days").equals(&q("1 'wk'")), Some(true));
        assert_eq!(q("1 'mo'").equals(&q("1 month")), None);
        assert!(q("4 'g'").equivalent(&q("4040 'mg'")));
        assert_eq!(q("6 days").compare(&q("1 week")), Some(Ordering::Less));
        assert_eq!(q("1 'cm'").equals(&q("1 's'")), None);
    }

    #[test]
    fn products() {
        let p = q("2.0 'cm'").mul(&q("2.0 'm'"), false).expect("product");
        assert_eq!(p.equals(&q("0.040 'm2'")), Some(true));
        let r = q("4.0 'g'").mul(&q("2.0 'm'"), true).expect("ratio");
        assert_eq!(r.equals(&q("2 'g/m'")), Some(true));
        let one = q("1.0 'm'").mul(&q("1.0 'm'"), true).expect("ratio");
        assert_eq!(one.equals(&q("1 '1'")), Some(true));
    }

    #[test]
    fn string_forms() {
        assert!(Quantity::parse_string("1 wk").is_none());
        assert_eq!(q("1 'wk'").to_string(), "1 'wk'");
        assert_eq!(q("1 week").to_string(), "1 week");
        assert_eq!(q("1.0").to_string(), "1.0 '1'");
    }
}
