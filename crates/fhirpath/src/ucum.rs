//! The part of UCUM that FHIRPath quantity comparison and arithmetic need: parsing unit
//! expressions (`mg/dL`, `kg.m-2`, `10*3/uL`, `mm[Hg]`) into a scale factor and a dimension
//! vector over base units, and writing a dimension vector back as a unit.

use crate::decimal::Decimal;

/// Exponents of the base units m, g, s, K, mol, C, cd.
pub(crate) type Dims = [i8; 7];

const BASES: [&str; 7] = ["m", "g", "s", "K", "mol", "C", "cd"];

/// A unit reduced to base units: `value_in_unit × factor` is the value in base units.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Canonical {
    pub factor: Decimal,
    pub dims: Dims,
}

const fn d(m: i8, g: i8, s: i8) -> Dims {
    [m, g, s, 0, 0, 0, 0]
}

/// (atom, factor, dims, takes prefixes)
const ATOMS: &[(&str, &str, Dims, bool)] = &[
    ("m", "1", d(1, 0, 0), true),
    ("g", "1", d(0, 1, 0), true),
    ("s", "1", d(0, 0, 1), true),
    ("K", "1", [0, 0, 0, 1, 0, 0, 0], true),
    ("mol", "1", [0, 0, 0, 0, 1, 0, 0], true),
    ("C", "1", [0, 0, 0, 0, 0, 1, 0], true),
    ("cd", "1", [0, 0, 0, 0, 0, 0, 1], true),
    ("A", "1", [0, 0, -1, 0, 0, 1, 0], true),
    ("min", "60", d(0, 0, 1), false),
    ("h", "3600", d(0, 0, 1), false),
    ("d", "86400", d(0, 0, 1), false),
    ("wk", "604800", d(0, 0, 1), false),
    ("mo", "2629800", d(0, 0, 1), false),
    ("a", "31557600", d(0, 0, 1), false),
    ("l", "0.001", d(3, 0, 0), true),
    ("L", "0.001", d(3, 0, 0), true),
    ("t", "1000000", d(0, 1, 0), true),
    ("Hz", "1", d(0, 0, -1), true),
    ("N", "1000", d(1, 1, -2), true),
    ("Pa", "1000", d(-1, 1, -2), true),
    ("bar", "100000000", d(-1, 1, -2), true),
    ("J", "1000", d(2, 1, -2), true),
    ("W", "1000", d(2, 1, -3), true),
    ("cal", "4184", d(2, 1, -2), true),
    ("[Cal]", "4184000", d(2, 1, -2), false),
    ("m[Hg]", "133322000", d(-1, 1, -2), true),
    ("m[H2O]", "9806650", d(-1, 1, -2), true),
    ("[in_i]", "0.0254", d(1, 0, 0), false),
    ("[ft_i]", "0.3048", d(1, 0, 0), false),
    ("[yd_i]", "0.9144", d(1, 0, 0), false),
    ("[mi_i]", "1609.344", d(1, 0, 0), false),
    ("[lb_av]", "453.59237", d(0, 1, 0), false),
    ("[oz_av]", "28.349523125", d(0, 1, 0), false),
    ("[gr]", "0.06479891", d(0, 1, 0), false),
    ("[stone_av]", "6350.29318", d(0, 1, 0), false),
    ("eq", "1", [0, 0, 0, 0, 1, 0, 0], true),
    ("U", "0.000000016666666666666666667", [0, 0, -1, 0, 1, 0, 0], true),
    ("%", "0.01", d(0, 0, 0), false),
    ("10*", "10", d(0, 0, 0), false),
    ("10^", "10", d(0, 0, 0), false),
    ("[ppth]", "0.001", d(0, 0, 0), false),
    ("[ppm]", "0.000001", d(0, 0, 0), false),
];

const PREFIXES: &[(&str, i32)] = &[
    ("da", 1),
    ("Y", 24),
    ("Z", 21),
    ("E", 18),
    ("P", 15),
    ("T", 12),
    ("G", 9),
    ("M", 6),
    ("k", 3),
    ("h", 2),
    ("d", -1),
    ("c", -2),
    ("m", -3),
    ("u", -6),
    ("n", -9),
    ("p", -12),
    ("f", -15),
];

fn power_of_ten(e: i32) -> Decimal {
    if e >= 0 {
        Decimal::new(10i128.pow(e as u32), 0)
    } else {
        Decimal::new(1, (-e) as u32)
    }
}

fn atom(sym: &str) -> Option<Canonical> {
    for (a, f, dims, _) in ATOMS {
        if *a == sym {
            return Some(Canonical { factor: Decimal::parse(f)?, dims: *dims });
        }
    }
    for (p, e) in PREFIXES {
        if let Some(rest) = sym.strip_prefix(p) {
            for (a, f, dims, prefixable) in ATOMS {
                if *prefixable && *a == rest {
                    let factor = Decimal::parse(f)?.checked_mul(&power_of_ten(*e))?;
                    return Some(Canonical { factor, dims: *dims });
                }
            }
        }
    }
    None
}

fn pow(c: Canonical, e: i32) -> Option<Canonical> {
    if e.unsigned_abs() > 24 {
        return None;
    }
    let mut factor = Decimal::from_i64(1);
    for _ in 0..e.unsigned_abs() {
        factor = factor.checked_mul(&c.factor)?;
    }
    if e < 0 {
        factor = Decimal::from_i64(1).checked_div(&factor)?;
    }
    let mut dims = [0i8; 7];
    for (i, v) in c.dims.iter().enumerate() {
        dims[i] = v.checked_mul(i8::try_from(e).ok()?)?;
    }
    Some(Canonical { factor, dims })
}

fn combine(a: Canonical, b: Canonical, divide: bool) -> Option<Canonical> {
    let factor = if divide { a.factor.checked_div(&b.factor)? } else { a.factor.checked_mul(&b.factor)? };
    let mut dims = a.dims;
    for (i, v) in b.dims.iter().enumerate() {
        dims[i] = if divide { dims[i].checked_sub(*v)? } else { dims[i].checked_add(*v)? };
    }
    Some(Canonical { factor, dims })
}

/// Reduces a UCUM unit expression to base units; `None` for units outside the supported subset.
pub(crate) fn canonical(unit: &str) -> Option<Canonical> {
    let mut p = UnitParser { s: unit.as_bytes(), i: 0 };
    let c = p.term()?;
    (p.i == p.s.len()).then_some(c)
}

struct UnitParser<'s> {
    s: &'s [u8],
    i: usize,
}

impl UnitParser<'_> {
    fn term(&mut self) -> Option<Canonical> {
        let one = Canonical { factor: Decimal::from_i64(1), dims: [0; 7] };
        let mut acc = if self.s.get(self.i) == Some(&b'/') {
            self.i += 1;
            combine(one, self.component()?, true)?
        } else {
            self.component()?
        };
        loop {
            match self.s.get(self.i) {
                Some(b'.') => {
                    self.i += 1;
                    acc = combine(acc, self.component()?, false)?;
                }
                Some(b'/') => {
                    self.i += 1;
                    acc = combine(acc, self.component()?, true)?;
                }
                _ => return Some(acc),
            }
        }
    }

    fn component(&mut self) -> Option<Canonical> {
        let one = Canonical { factor: Decimal::from_i64(1), dims: [0; 7] };
        if self.s.get(self.i) == Some(&b'(') {
            self.i += 1;
            let t = self.term()?;
            if self.s.get(self.i) != Some(&b')') {
                return None;
            }
            self.i += 1;
            return Some(t);
        }
        // Read one symbol: up to '.', '/', '(' or ')' outside brackets/braces.
        let start = self.i;
        let mut depth_sq = 0;
        let mut sym = String::new();
        while let Some(&c) = self.s.get(self.i) {
            match c {
                b'[' => depth_sq += 1,
                b']' => depth_sq -= 1,
                b'{' => {
                    // annotation: skipped
                    let close = self.s[self.i..].iter().position(|&x| x == b'}')?;
                    self.i += close + 1;
                    continue;
                }
                b'.' | b'/' | b'(' | b')' if depth_sq == 0 => break,
                _ => {}
            }
            sym.push(c as char);
            self.i += 1;
        }
        if self.i == start {
            return None;
        }
        if sym.is_empty() {
            return Some(one); // only an annotation: dimensionless
        }
        if sym.bytes().all(|b| b.is_ascii_digit()) {
            let v: i64 = sym.parse().ok()?;
            return Some(Canonical { factor: Decimal::from_i64(v), dims: [0; 7] });
        }
        // Split a trailing exponent: the longest [+-]?digits suffix after a non-digit.
        let bytes = sym.as_bytes();
        let mut cut = bytes.len();
        while cut > 0 && bytes[cut - 1].is_ascii_digit() {
            cut -= 1;
        }
        if cut > 0 && cut < bytes.len() && matches!(bytes[cut - 1], b'+' | b'-') {
            cut -= 1;
        }
        let (base, exp) = sym.split_at(cut);
        let exp: i32 = if exp.is_empty() { 1 } else { exp.parse().ok()? };
        if base.is_empty() {
            return None;
        }
        let c = atom(base)?;
        pow(c, exp)
    }
}

/// Writes base-unit dimensions as a UCUM unit (`g/m`, `m2`, `1`).
pub(crate) fn unit_for(dims: &Dims) -> String {
    let mut num = Vec::new();
    let mut den = Vec::new();
    for (i, e) in dims.iter().enumerate() {
        let name = BASES[i];
        match e {
            0 => {}
            1 => num.push(name.to_owned()),
            e if *e > 1 => num.push(format!("{name}{e}")),
            -1 => den.push(name.to_owned()),
            e => den.push(format!("{name}{}", -e)),
        }
    }
    let mut s = if num.is_empty() { "1".to_owned() } else { num.join(".") };
    for d in den {
        s.push('/');
        s.push_str(&d);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reduces_common_units() {
        let mg = canonical("mg").expect("mg");
        assert_eq!(mg.factor.to_string(), "0.001");
        let bmi = canonical("kg/m2").expect("kg/m2");
        assert_eq!(bmi.dims, [-2, 1, 0, 0, 0, 0, 0]);
        let per_ul = canonical("10*3/uL").expect("10*3/uL");
        assert_eq!(per_ul.dims, [-3, 0, 0, 0, 0, 0, 0]);
        assert!(canonical("mm[Hg]").is_some());
        assert!(canonical("{beats}/min").is_some());
        assert!(canonical("[lb_av]").is_some());
        assert!(canonical("furlong").is_none());
        assert_eq!(unit_for(&[1, 1, -2, 0, 0, 0, 0]), "m.g/s2");
    }
}
