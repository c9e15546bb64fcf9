//! Decimal numbers that keep their written precision (`1.50` stays `1.50`): an i128 mantissa and a
//! decimal scale, enough for FHIR's decimals and FHIRPath's arithmetic without a bignum crate.

use std::cmp::Ordering;
use std::fmt;

/// Largest scale kept after arithmetic; FHIRPath asks for at least 8 decimal places.
pub(crate) const MAX_SCALE: u32 = 28;

/// A decimal number `mantissa × 10^-scale`, keeping the precision it was written with.
#[derive(Clone, Copy, Debug)]
pub struct Decimal {
    mantissa: i128,
    scale: u32,
    /// `-0.0` is only produced by lowBoundary/highBoundary of small negative numbers.
    negative_zero: bool,
}

const POW10: [i128; 39] = {
    let mut t = [1i128; 39];
    let mut i = 1;
    while i < 39 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

fn pow10(n: u32) -> Option<i128> {
    POW10.get(n as usize).copied()
}

impl Decimal {
    pub(crate) const ZERO: Decimal = Decimal { mantissa: 0, scale: 0, negative_zero: false };

    pub(crate) fn new(mantissa: i128, scale: u32) -> Decimal {
        Decimal { mantissa, scale, negative_zero: false }
    }

    /// Parses decimal text: `-12.340`, `1e-3`, `+7`. Returns `None` for anything else.
    pub fn parse(s: &str) -> Option<Decimal> {
        let s = s.trim();
        let (neg, body) = match s.as_bytes().first()? {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let (num, exp) = match body.find(['e', 'E']) {
            Some(i) => (&body[..i], Some(&body[i + 1..])),
            None => (body, None),
        };
        let (int, frac) = match num.find('.') {
            Some(i) => (&num[..i], &num[i + 1..]),
            None => (num, ""),
        };
        if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if num.contains('.') && frac.is_empty() {
            return None;
        }
        let mut mantissa: i128 = 0;
        for b in int.bytes().chain(frac.bytes()) {
            mantissa = mantissa.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
        }
        let mut scale = frac.len() as i64;
        if let Some(e) = exp {
            let e: i64 = e.parse().ok()?;
            scale = scale.checked_sub(e)?;
        }
        if scale < 0 {
            mantissa = mantissa.checked_mul(pow10(u32::try_from(scale.checked_neg()?).ok()?)?)?;
            scale = 0;
        }
        let scale = u32::try_from(scale).ok()?;
        if scale > 38 {
            return None;
        }
        Some(Decimal::new(if neg { -mantissa } else { mantissa }, scale))
    }

    pub fn from_i64(v: i64) -> Decimal {
        Decimal::new(i128::from(v), 0)
    }

    /// Number of digits after the decimal point as written (`1.50` → 2).
    pub fn scale(&self) -> u32 {
        self.scale
    }

    pub fn is_zero(&self) -> bool {
        self.mantissa == 0
    }

    pub(crate) fn is_negative(&self) -> bool {
        self.mantissa < 0 || self.negative_zero
    }

    pub(crate) fn with_negative_zero(mut self) -> Decimal {
        if self.mantissa == 0 {
            self.negative_zero = true;
        }
        self
    }

    /// The same value written with `scale` decimals (more digits only; `None` on overflow).
    fn widen(&self, scale: u32) -> Option<i128> {
        if scale < self.scale {
            return None;
        }
        self.mantissa.checked_mul(pow10(scale - self.scale)?)
    }

    /// Rounds (half away from zero) or pads to exactly `scale` decimals.
    pub(crate) fn rescale(&self, scale: u32) -> Option<Decimal> {
        if scale >= self.scale {
            return Some(Decimal::new(self.widen(scale)?, scale));
        }
        let div = pow10(self.scale - scale)?;
        let q = self.mantissa / div;
        let r = self.mantissa % div;
        let q = if r.unsigned_abs() * 2 >= div.unsigned_abs() { q + self.mantissa.signum() } else { q };
        Some(Decimal::new(q, scale))
    }

    fn trunc_to(&self, scale: u32) -> Decimal {
        if scale >= self.scale {
            return *self;
        }
        match pow10(self.scale - scale) {
            Some(div) => Decimal::new(self.mantissa / div, scale),
            None => Decimal::new(0, scale),
        }
    }

    /// Drops trailing zeros but keeps at least `min_scale` decimals.
    fn trim(mut self, min_scale: u32) -> Decimal {
        while self.scale > min_scale && self.mantissa % 10 == 0 {
            self.mantissa /= 10;
            self.scale -= 1;
        }
        self
    }

    /// Keeps the scale within MAX_SCALE by rounding.
    fn bound(self) -> Option<Decimal> {
        if self.scale > MAX_SCALE {
            self.rescale(MAX_SCALE)
        } else {
            Some(self)
        }
    }

    pub fn checked_add(&self, other: &Decimal) -> Option<Decimal> {
        let s = self.scale.max(other.scale);
        Decimal::new(self.widen(s)?.checked_add(other.widen(s)?)?, s).bound()
    }

    pub fn checked_sub(&self, other: &Decimal) -> Option<Decimal> {
        let s = self.scale.max(other.scale);
        Decimal::new(self.widen(s)?.checked_sub(other.widen(s)?)?, s).bound()
    }

    pub fn checked_mul(&self, other: &Decimal) -> Option<Decimal> {
        let (mut a, mut b) = (*self, *other);
        loop {
            if let Some(m) = a.mantissa.checked_mul(b.mantissa) {
                return Decimal::new(m, a.scale + b.scale).bound();
            }
            // Give up precision rather than overflow: drop a digit from the longer operand.
            if a.scale == 0 && b.scale == 0 {
                return None;
            }
            if a.scale >= b.scale {
                a = a.rescale(a.scale - 1)?;
            } else {
                b = b.rescale(b.scale - 1)?;
            }
        }
    }

    /// Division to MAX_SCALE decimals, trailing zeros dropped (keeping the operands' scale).
    /// `None` for division by zero or overflow.
    pub fn checked_div(&self, other: &Decimal) -> Option<Decimal> {
        if other.mantissa == 0 {
            return None;
        }
        let keep = self.scale.max(other.scale);
        let mut target = MAX_SCALE;
        loop {
            // result = (a.m * 10^k) / b.m, with scale = a.s + k - b.s = target
            let k = (target + other.scale).checked_sub(self.scale);
            if let Some(k) = k {
                if let Some(num) = pow10(k).and_then(|p| self.mantissa.checked_mul(p)) {
                    // one extra digit for rounding
                    if let Some(num10) = num.checked_mul(10) {
                        let q10 = num10 / other.mantissa;
                        let mut q = q10 / 10;
                        if (q10 % 10).abs() >= 5 {
                            q += if (self.mantissa < 0) != (other.mantissa < 0) { -1 } else { 1 };
                        }
                        return Some(Decimal::new(q, target).trim(keep.min(target)));
                    }
                }
            } else {
                // self has more decimals than the target can show
                return self.rescale(target + other.scale)?.checked_div(other);
            }
            if target == 0 {
                return None;
            }
            target -= 1;
        }
    }

    /// Truncated division (`div`).
    pub fn checked_div_trunc(&self, other: &Decimal) -> Option<Decimal> {
        let q = self.checked_div(other)?;
        Some(q.trunc_to(0))
    }

    /// Remainder of truncated division (`mod`), with the sign of the dividend.
    pub fn checked_rem(&self, other: &Decimal) -> Option<Decimal> {
        if other.mantissa == 0 {
            return None;
        }
        let s = self.scale.max(other.scale);
        let a = self.widen(s)?;
        let b = other.widen(s)?;
        Some(Decimal::new(a.checked_rem(b)?, s))
    }

    pub fn neg(&self) -> Decimal {
        Decimal::new(self.mantissa.checked_neg().unwrap_or(i128::MAX), self.scale)
    }

    pub fn abs(&self) -> Decimal {
        Decimal::new(self.mantissa.checked_abs().unwrap_or(i128::MAX), self.scale)
    }

    /// Rounds half away from zero to `digits` decimals.
    pub fn round(&self, digits: u32) -> Option<Decimal> {
        if digits >= self.scale {
            return Some(*self);
        }
        self.rescale(digits)
    }

    pub fn truncate(&self) -> Decimal {
        self.trunc_to(0)
    }

    pub fn floor(&self) -> Decimal {
        let t = self.trunc_to(0);
        if self.mantissa < 0 && t.cmp_value(self) != Ordering::Equal {
            Decimal::new(t.mantissa.saturating_sub(1), 0)
        } else {
            t
        }
    }

    pub fn ceiling(&self) -> Decimal {
        let t = self.trunc_to(0);
        if self.mantissa > 0 && t.cmp_value(self) != Ordering::Equal {
            Decimal::new(t.mantissa.saturating_add(1), 0)
        } else {
            t
        }
    }

    /// Floor to `digits` decimals.
    pub(crate) fn floor_to(&self, digits: u32) -> Decimal {
        let t = self.trunc_to(digits);
        if self.mantissa < 0 && t.cmp_value(self) != Ordering::Equal {
            Decimal::new(t.mantissa.saturating_sub(1), digits)
        } else {
            t
        }
    }

    /// Ceiling to `digits` decimals.
    pub(crate) fn ceil_to(&self, digits: u32) -> Decimal {
        let t = self.trunc_to(digits);
        if self.mantissa > 0 && t.cmp_value(self) != Ordering::Equal {
            Decimal::new(t.mantissa.saturating_add(1), digits)
        } else {
            t
        }
    }

    /// Numeric comparison, ignoring precision (`1.10` equals `1.1`).
    pub fn cmp_value(&self, other: &Decimal) -> Ordering {
        let s = self.scale.max(other.scale);
        match (self.widen(s), other.widen(s)) {
            (Some(a), Some(b)) => a.cmp(&b),
            _ => {
                // Too large to align exactly: compare integer parts, then the rest.
                let ai = self.trunc_to(0).mantissa;
                let bi = other.trunc_to(0).mantissa;
                if ai != bi {
                    return ai.cmp(&bi);
                }
                self.to_f64().partial_cmp(&other.to_f64()).unwrap_or(Ordering::Equal)
            }
        }
    }

    /// Equivalence: equal when rounded to the precision of the less precise operand.
    pub fn equivalent(&self, other: &Decimal) -> bool {
        let s = self.scale.min(other.scale);
        match (self.rescale(s), other.rescale(s)) {
            (Some(a), Some(b)) => a.mantissa == b.mantissa,
            _ => false,
        }
    }

    pub fn to_i64(&self) -> Option<i64> {
        if self.scale == 0 {
            return i64::try_from(self.mantissa).ok();
        }
        let p = pow10(self.scale)?;
        if self.mantissa % p != 0 {
            return None;
        }
        i64::try_from(self.mantissa / p).ok()
    }

    pub fn is_integral(&self) -> bool {
        match pow10(self.scale) {
            Some(p) => self.mantissa % p == 0,
            None => self.mantissa == 0,
        }
    }

    pub fn to_f64(&self) -> f64 {
        // Via text keeps the conversion correctly rounded.
        self.to_string().parse().unwrap_or(f64::NAN)
    }

    /// The shortest decimal that reads back as `v`; `None` for NaN and infinities.
    pub fn from_f64(v: f64) -> Option<Decimal> {
        if !v.is_finite() {
            return None;
        }
        let text = format!("{v}");
        Decimal::parse(&text).or_else(|| Decimal::parse(&format!("{v:e}")))
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let neg = self.mantissa < 0 || (self.mantissa == 0 && self.negative_zero);
        let digits = self.mantissa.unsigned_abs().to_string();
        if neg {
            f.write_str("-")?;
        }
        let scale = self.scale as usize;
        if scale == 0 {
            return f.write_str(&digits);
        }
        if digits.len() > scale {
            let (i, d) = digits.split_at(digits.len() - scale);
            write!(f, "{i}.{d}")
        } else {
            write!(f, "0.{}{}", "0".repeat(scale - digits.len()), digits)
        }
    }
}

impl PartialEq for Decimal {
    fn eq(&self, other: &Self) -> bool {
        self.cmp_value(other) == Ordering::Equal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::parse(s).expect("test literal")
    }

    #[test]
    fn parses_and_prints_with_precision() {
        assert_eq!(d("1.50").to_string(), "1.50");
        assert_eq!(d("-0.001").to_string(), "-0.001");
        assert_eq!(d("1e-3").to_string(), "0.001");
        assert_eq!(d("12E2").to_string(), "1200");
        assert!(Decimal::parse("1.").is_none());
        assert!(Decimal::parse(".5").is_none());
        assert!(Decimal::parse("1.a").is_none());
        assert!(Decimal::parse("1e-9223372036854775808").is_none());
        assert!(Decimal::parse("1e9223372036854775807").is_none());
    }

    #[test]
    fn arithmetic() {
        assert_eq!(d("1.2").checked_add(&d("1.8")).map(|x| x.to_string()), Some("3.0".into()));
        assert_eq!(d("1.2").checked_mul(&d("1.8")).map(|x| x.to_string()), Some("2.16".into()));
        assert_eq!(d("1").checked_div(&d("2")).map(|x| x.to_string()), Some("0.5".into()));
        assert_eq!(d("4.0").checked_div(&d("2.0")).map(|x| x.to_string()), Some("2.0".into()));
        assert_eq!(d("2.2").checked_rem(&d("1.8")).map(|x| x.to_string()), Some("0.4".into()));
        assert_eq!(d("2.2").checked_div_trunc(&d("1.8")).map(|x| x.to_string()), Some("1".into()));
        assert!(d("1").checked_div(&d("0")).is_none());
        let third = d("1.2").checked_div(&d("1.8")).expect("divides");
        assert!(third.equivalent(&d("0.67")));
        assert_eq!(third.round(2).map(|x| x.to_string()), Some("0.67".into()));
    }

    #[test]
    fn rounding() {
        assert_eq!(d("-1.1").ceiling().to_string(), "-1");
        assert_eq!(d("-2.1").floor().to_string(), "-3");
        assert_eq!(d("-1.56").truncate().to_string(), "-1");
        assert_eq!(d("3.14159").round(3).map(|x| x.to_string()), Some("3.142".into()));
        assert_eq!(d("-2.5").round(0).map(|x| x.to_string()), Some("-3".into()));
    }
}
