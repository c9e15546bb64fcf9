//! Date, DateTime and Time values with partial precision (`@2015`, `@2015-02-04T14:34`, `@T10`):
//! parsing, printing, comparison that knows when the answer is unknown, calendar arithmetic and
//! the low/high boundaries.

use std::cmp::Ordering;
use std::fmt;

/// How much of a date/time value is known. Seconds and fractions count as one precision when
/// comparing, as FHIRPath requires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Precision {
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    Millisecond,
}

/// The fields shared by the three temporal types; fields finer than `precision` are zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Moment {
    year: i32,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
    nanos: u32,
    /// Number of fraction digits written (for printing).
    frac_digits: u8,
    /// Time-zone offset in minutes, if given.
    offset: Option<i32>,
    /// The offset was written `Z`.
    zulu: bool,
    precision: Precision,
}

/// A calendar date such as `@2015-02`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Date(pub(crate) Moment);
/// A date and time such as `@2015-02-04T14:34:28.123+10:00`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateTime(pub(crate) Moment);
/// A time of day such as `@T14:34`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Time(pub(crate) Moment);

const EMPTY: Moment = Moment {
    year: 0,
    month: 1,
    day: 1,
    hour: 0,
    minute: 0,
    second: 0,
    nanos: 0,
    frac_digits: 0,
    offset: None,
    zulu: false,
    precision: Precision::Year,
};

fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

pub(crate) fn days_in_month(y: i32, m: u8) -> u8 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            if is_leap(y) {
                29
            } else {
                28
            }
        }
    }
}

/// Days since 1970-01-01 (proleptic Gregorian).
fn days_from_civil(y: i32, m: u8, d: u8) -> i64 {
    let y = i64::from(y) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i32, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    ((y + i64::from(m <= 2)) as i32, m, d)
}

const NANOS_PER_MS: i64 = 1_000_000;
const MS_PER_DAY: i64 = 86_400_000;

/// A small cursor over ASCII text, used by the temporal parsers.
struct Cursor<'s> {
    s: &'s [u8],
    i: usize,
}

impl Cursor<'_> {
    fn digits(&mut self, n: usize) -> Option<u32> {
        let slice = self.s.get(self.i..self.i + n)?;
        if !slice.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.i += n;
        Some(slice.iter().fold(0u32, |a, b| a * 10 + u32::from(b - b'0')))
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn done(&self) -> bool {
        self.i >= self.s.len()
    }
}

impl Moment {
    fn parse_time_into(c: &mut Cursor<'_>, m: &mut Moment) -> Option<()> {
        let h = c.digits(2)?;
        if h > 23 {
            return None;
        }
        m.hour = h as u8;
        m.precision = Precision::Hour;
        if c.eat(b':') {
            let mi = c.digits(2)?;
            if mi > 59 {
                return None;
            }
            m.minute = mi as u8;
            m.precision = Precision::Minute;
            if c.eat(b':') {
                let s = c.digits(2)?;
                if s > 59 {
                    return None;
                }
                m.second = s as u8;
                m.precision = Precision::Second;
                if c.peek() == Some(b'.') && c.s.get(c.i + 1).is_some_and(u8::is_ascii_digit) {
                    c.i += 1;
                    let start = c.i;
                    let mut nanos: u64 = 0;
                    while let Some(d) = c.peek().filter(u8::is_ascii_digit) {
                        if c.i - start < 9 {
                            nanos = nanos * 10 + u64::from(d - b'0');
                        }
                        c.i += 1;
                    }
                    let n = (c.i - start).min(9);
                    nanos *= 10u64.pow((9 - n) as u32);
                    m.nanos = nanos as u32;
                    m.frac_digits = (c.i - start).min(9) as u8;
                    m.precision = Precision::Millisecond;
                }
            }
        }
        Some(())
    }

    fn parse_date_into(c: &mut Cursor<'_>, m: &mut Moment) -> Option<()> {
        m.year = c.digits(4)? as i32;
        m.precision = Precision::Year;
        if c.peek() == Some(b'-') && c.s.get(c.i + 1).is_some_and(u8::is_ascii_digit) {
            c.i += 1;
            let mo = c.digits(2)?;
            if !(1..=12).contains(&mo) {
                return None;
            }
            m.month = mo as u8;
            m.precision = Precision::Month;
            if c.peek() == Some(b'-') && c.s.get(c.i + 1).is_some_and(u8::is_ascii_digit) {
                c.i += 1;
                let d = c.digits(2)?;
                if d == 0 || d > u32::from(days_in_month(m.year, m.month)) {
                    return None;
                }
                m.day = d as u8;
                m.precision = Precision::Day;
            }
        }
        Some(())
    }

    fn parse_offset(c: &mut Cursor<'_>, m: &mut Moment) -> Option<()> {
        match c.peek() {
            Some(b'Z') => {
                c.i += 1;
                m.offset = Some(0);
                m.zulu = true;
            }
            Some(sign @ (b'+' | b'-')) => {
                c.i += 1;
                let h = c.digits(2)?;
                if !c.eat(b':') {
                    return None;
                }
                let mi = c.digits(2)?;
                if h > 14 || mi > 59 {
                    return None;
                }
                let total = (h * 60 + mi) as i32;
                m.offset = Some(if sign == b'-' { -total } else { total });
            }
            _ => {}
        }
        Some(())
    }

    fn date_parts(&self) -> (i32, u8, u8) {
        (self.year, self.month, self.day)
    }

    fn time_ms(&self) -> i64 {
        i64::from(self.hour) * 3_600_000 + i64::from(self.minute) * 60_000 + i64::from(self.second) * 1000 + i64::from(self.nanos) / NANOS_PER_MS
    }

    /// Milliseconds since the epoch of the local (un-offset) reading, plus sub-ms nanos.
    fn local_ms(&self) -> i64 {
        days_from_civil(self.year, self.month, self.day) * MS_PER_DAY + self.time_ms()
    }

    fn set_local_ms(&mut self, ms: i64, keep_sub_ms: u32) {
        let days = ms.div_euclid(MS_PER_DAY);
        let rest = ms.rem_euclid(MS_PER_DAY);
        let (y, mo, d) = civil_from_days(days);
        self.year = y;
        self.month = mo;
        self.day = d;
        self.hour = (rest / 3_600_000) as u8;
        self.minute = (rest / 60_000 % 60) as u8;
        self.second = (rest / 1000 % 60) as u8;
        self.nanos = ((rest % 1000) * NANOS_PER_MS) as u32 + keep_sub_ms;
    }

    /// The same instant expressed in UTC (only meaningful with an offset and a time).
    fn to_utc(self) -> Moment {
        let Some(off) = self.offset else { return self };
        if self.precision < Precision::Hour || off == 0 {
            return self;
        }
        let mut m = self;
        let sub = self.nanos % NANOS_PER_MS as u32;
        m.set_local_ms(self.local_ms() - i64::from(off) * 60_000, sub);
        m.offset = Some(0);
        m
    }

    /// Comparison that returns `None` when precision (or a missing time zone) leaves the answer
    /// unknown.
    fn compare(&self, other: &Moment) -> Option<Ordering> {
        let (mut a, mut b) = (*self, *other);
        let both_timed = a.precision >= Precision::Hour && b.precision >= Precision::Hour;
        if both_timed {
            match (a.offset, b.offset) {
                (Some(_), Some(_)) => {
                    a = a.to_utc();
                    b = b.to_utc();
                }
                (None, None) => {}
                _ => return None,
            }
        }
        let steps: [(Precision, i64, i64); 5] = [
            (Precision::Year, i64::from(a.year), i64::from(b.year)),
            (Precision::Month, i64::from(a.month), i64::from(b.month)),
            (Precision::Day, i64::from(a.day), i64::from(b.day)),
            (Precision::Hour, i64::from(a.hour), i64::from(b.hour)),
            (Precision::Minute, i64::from(a.minute), i64::from(b.minute)),
        ];
        for (p, x, y) in steps {
            let has_a = a.precision >= p;
            let has_b = b.precision >= p;
            if !has_a || !has_b {
                return if has_a == has_b { Some(Ordering::Equal) } else { None };
            }
            if x != y {
                return Some(x.cmp(&y));
            }
        }
        let has_a = a.precision >= Precision::Second;
        let has_b = b.precision >= Precision::Second;
        if !has_a || !has_b {
            return if has_a == has_b { Some(Ordering::Equal) } else { None };
        }
        let x = u64::from(a.second) * 1_000_000_000 + u64::from(a.nanos);
        let y = u64::from(b.second) * 1_000_000_000 + u64::from(b.nanos);
        Some(x.cmp(&y))
    }

    /// One component, when the value is that precise (`Millisecond` gives the milliseconds).
    fn component(&self, p: Precision) -> Option<i64> {
        if self.precision < p {
            return None;
        }
        Some(match p {
            Precision::Year => i64::from(self.year),
            Precision::Month => i64::from(self.month),
            Precision::Day => i64::from(self.day),
            Precision::Hour => i64::from(self.hour),
            Precision::Minute => i64::from(self.minute),
            Precision::Second => i64::from(self.second),
            Precision::Millisecond => i64::from(self.nanos) / NANOS_PER_MS,
        })
    }

    fn same_precision(&self, other: &Moment) -> bool {
        let norm = |p: Precision| {
            if p == Precision::Millisecond {
                Precision::Second
            } else {
                p
            }
        };
        norm(self.precision) == norm(other.precision)
    }

    /// Equivalence: same precision and equal (time zones normalised).
    fn equivalent(&self, other: &Moment) -> bool {
        self.same_precision(other) && self.compare(other) == Some(Ordering::Equal)
    }

    fn fmt_date(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}", self.year)?;
        if self.precision >= Precision::Month {
            write!(f, "-{:02}", self.month)?;
        }
        if self.precision >= Precision::Day {
            write!(f, "-{:02}", self.day)?;
        }
        Ok(())
    }

    fn fmt_time(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}", self.hour)?;
        if self.precision >= Precision::Minute {
            write!(f, ":{:02}", self.minute)?;
        }
        if self.precision >= Precision::Second {
            write!(f, ":{:02}", self.second)?;
        }
        if self.precision >= Precision::Millisecond {
            let digits = self.frac_digits.max(1) as usize;
            let frac = format!("{:09}", self.nanos);
            write!(f, ".{}", &frac[..digits.min(9)])?;
        }
        Ok(())
    }

    fn fmt_offset(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.offset {
            Some(0) if self.zulu => f.write_str("Z"),
            Some(o) => {
                let sign = if o < 0 { '-' } else { '+' };
                write!(f, "{sign}{:02}:{:02}", o.abs() / 60, o.abs() % 60)
            }
            None => Ok(()),
        }
    }

    /// Adds a calendar quantity. `unit` is already normalised to one of
    /// year, month, week, day, hour, minute, second, millisecond.
    fn add(&self, amount: i64, unit: &str, time_only: bool) -> Option<Moment> {
        let mut m = *self;
        let original = self.precision;
        // Fill the missing parts, compute, then drop them again.
        match unit {
            "year" | "month" => {
                if time_only {
                    return None;
                }
                let months = if unit == "year" { amount.checked_mul(12)? } else { amount };
                let total = (i64::from(m.year) * 12 + i64::from(m.month) - 1).checked_add(months)?;
                m.year = i32::try_from(total.div_euclid(12)).ok()?;
                m.month = (total.rem_euclid(12) + 1) as u8;
                m.day = m.day.min(days_in_month(m.year, m.month));
            }
            _ => {
                let ms = match unit {
                    "week" => amount.checked_mul(7 * MS_PER_DAY)?,
                    "day" => amount.checked_mul(MS_PER_DAY)?,
                    "hour" => amount.checked_mul(3_600_000)?,
                    "minute" => amount.checked_mul(60_000)?,
                    "second" => amount.checked_mul(1000)?,
                    "millisecond" => amount,
                    _ => return None,
                };
                if time_only {
                    if matches!(unit, "week" | "day") {
                        return None;
                    }
                    let t = m.time_ms().checked_add(ms)?.rem_euclid(MS_PER_DAY);
                    let sub = m.nanos % NANOS_PER_MS as u32;
                    let (y, mo, d) = (m.year, m.month, m.day);
                    m.set_local_ms(t, sub);
                    m.year = y;
                    m.month = mo;
                    m.day = d;
                } else {
                    let sub = m.nanos % NANOS_PER_MS as u32;
                    m.set_local_ms(m.local_ms().checked_add(ms)?, sub);
                }
            }
        }
        if !(1..=9999).contains(&m.year) && !time_only {
            return None;
        }
        m.precision = original;
        m.clear_below_precision();
        Some(m)
    }

    fn clear_below_precision(&mut self) {
        let p = self.precision;
        if p < Precision::Month {
            self.month = 1;
        }
        if p < Precision::Day {
            self.day = 1;
        }
        if p < Precision::Hour {
            self.hour = 0;
        }
        if p < Precision::Minute {
            self.minute = 0;
        }
        if p < Precision::Second {
            self.second = 0;
        }
        if p < Precision::Millisecond {
            self.nanos = 0;
            self.frac_digits = 0;
        }
    }

    /// The precision as a digit count, as `precision()` reports it.
    fn digits(&self, time_only: bool) -> i64 {
        if time_only {
            return match self.precision {
                Precision::Hour => 2,
                Precision::Minute => 4,
                Precision::Second => 6,
                _ => 9,
            };
        }
        match self.precision {
            Precision::Year => 4,
            Precision::Month => 6,
            Precision::Day => 8,
            Precision::Hour => 10,
            Precision::Minute => 12,
            Precision::Second => 14,
            Precision::Millisecond => 17,
        }
    }

    /// lowBoundary/highBoundary: the earliest/latest moment the value can stand for, expressed to
    /// `digits` of precision.
    fn boundary(&self, digits: i64, high: bool, kind: Kind) -> Option<Moment> {
        let target = match kind {
            Kind::Time => match digits {
                2 => Precision::Hour,
                4 => Precision::Minute,
                6 => Precision::Second,
                9 => Precision::Millisecond,
                _ => return None,
            },
            Kind::Date => match digits {
                4 => Precision::Year,
                6 => Precision::Month,
                8 => Precision::Day,
                _ => return None,
            },
            Kind::DateTime => match digits {
                4 => Precision::Year,
                6 => Precision::Month,
                8 => Precision::Day,
                10 => Precision::Hour,
                12 => Precision::Minute,
                14 => Precision::Second,
                17 => Precision::Millisecond,
                _ => return None,
            },
        };
        let mut m = *self;
        // An hour alone is not a legal FHIR time: it stands for hh:00.
        if m.precision == Precision::Hour {
            m.precision = Precision::Minute;
        }
        let p = m.precision;
        if p < Precision::Month {
            m.month = if high { 12 } else { 1 };
        }
        if p < Precision::Day {
            m.day = if high { days_in_month(m.year, m.month) } else { 1 };
        }
        if p < Precision::Hour {
            m.hour = if high { 23 } else { 0 };
        }
        if p < Precision::Minute {
            m.minute = if high { 59 } else { 0 };
        }
        if p < Precision::Second {
            m.second = if high { 59 } else { 0 };
        }
        if p < Precision::Millisecond {
            m.nanos = if high { 999_000_000 } else { 0 };
            m.frac_digits = 3;
        } else if m.frac_digits < 3 {
            m.frac_digits = 3;
        }
        if kind == Kind::DateTime && target >= Precision::Hour && m.offset.is_none() {
            // Unknown zone: the widest range of offsets.
            m.offset = Some(if high { -12 * 60 } else { 14 * 60 });
            m.zulu = false;
        }
        m.precision = target;
        m.clear_below_precision();
        if target == Precision::Millisecond {
            m.frac_digits = 3;
        }
        if target < Precision::Hour {
            m.offset = None;
        }
        Some(m)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Date,
    DateTime,
    Time,
}

/// Normalises a calendar or UCUM time unit for date arithmetic; `None` for units that cannot be
/// added to a date (`'mo'`, `'a'`, `'cm'` …).
pub(crate) fn calendar_unit(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "year" | "years" => "year",
        "month" | "months" => "month",
        "week" | "weeks" | "wk" => "week",
        "day" | "days" | "d" => "day",
        "hour" | "hours" | "h" => "hour",
        "minute" | "minutes" | "min" => "minute",
        "second" | "seconds" | "s" => "second",
        "millisecond" | "milliseconds" | "ms" => "millisecond",
        _ => return None,
    })
}

impl Date {
    /// Parses `YYYY`, `YYYY-MM` or `YYYY-MM-DD`.
    pub fn parse(s: &str) -> Option<Date> {
        let mut c = Cursor { s: s.as_bytes(), i: 0 };
        let mut m = EMPTY;
        Moment::parse_date_into(&mut c, &mut m)?;
        c.done().then_some(Date(m))
    }
    pub fn precision(&self) -> Precision {
        self.0.precision
    }
    /// Year, month and day (month/day are 1 when not known).
    pub fn ymd(&self) -> (i32, u8, u8) {
        self.0.date_parts()
    }
    pub(crate) fn compare(&self, o: &Date) -> Option<Ordering> {
        self.0.compare(&o.0)
    }
    pub(crate) fn equivalent(&self, o: &Date) -> bool {
        self.0.equivalent(&o.0)
    }
    pub(crate) fn to_datetime(self) -> DateTime {
        DateTime(self.0)
    }
    pub(crate) fn add(&self, amount: i64, unit: &str) -> Option<Date> {
        self.0.add(amount, unit, false).map(Date)
    }
    pub(crate) fn precision_digits(&self) -> i64 {
        self.0.digits(false)
    }
    pub(crate) fn component(&self, p: Precision) -> Option<i64> {
        self.0.component(p)
    }
    pub(crate) fn boundary(&self, digits: i64, high: bool) -> Option<Date> {
        self.0.boundary(digits, high, Kind::Date).map(Date)
    }
}

impl DateTime {
    /// Parses an ISO 8601 date-time as FHIR writes it, with any precision from the year on:
    /// `2015`, `2015-02-04T14:34:28.123+10:00`, `2015-02-04T` (the FHIRPath literal form).
    pub fn parse(s: &str) -> Option<DateTime> {
        let mut c = Cursor { s: s.as_bytes(), i: 0 };
        let mut m = EMPTY;
        Moment::parse_date_into(&mut c, &mut m)?;
        if c.eat(b'T') && !c.done() {
            if m.precision != Precision::Day {
                return None;
            }
            Moment::parse_time_into(&mut c, &mut m)?;
            Moment::parse_offset(&mut c, &mut m)?;
        }
        c.done().then_some(DateTime(m))
    }

    /// A date-time at millisecond precision from milliseconds since the Unix epoch, read in the
    /// given time-zone offset (minutes east of UTC).
    pub fn from_unix_millis(ms: i64, offset_minutes: i32) -> DateTime {
        let mut m = EMPTY;
        m.set_local_ms(ms.saturating_add(i64::from(offset_minutes) * 60_000), 0);
        m.offset = Some(offset_minutes);
        m.zulu = offset_minutes == 0;
        m.frac_digits = 3;
        m.precision = Precision::Millisecond;
        DateTime(m)
    }

    pub fn precision(&self) -> Precision {
        self.0.precision
    }
    /// Minutes east of UTC, when the value has a time zone.
    pub fn offset_minutes(&self) -> Option<i32> {
        self.0.offset
    }
    /// Year, month and day (month/day are 1 when not known).
    pub fn ymd(&self) -> (i32, u8, u8) {
        self.0.date_parts()
    }
    pub(crate) fn compare(&self, o: &DateTime) -> Option<Ordering> {
        self.0.compare(&o.0)
    }
    pub(crate) fn equivalent(&self, o: &DateTime) -> bool {
        self.0.equivalent(&o.0)
    }
    pub(crate) fn add(&self, amount: i64, unit: &str) -> Option<DateTime> {
        self.0.add(amount, unit, false).map(DateTime)
    }
    pub(crate) fn date(&self) -> Date {
        let mut m = self.0;
        m.precision = m.precision.min(Precision::Day);
        m.offset = None;
        m.zulu = false;
        m.clear_below_precision();
        Date(m)
    }
    pub(crate) fn time(&self) -> Option<Time> {
        if self.0.precision < Precision::Hour {
            return None;
        }
        let mut m = self.0;
        m.year = 0;
        m.month = 1;
        m.day = 1;
        m.offset = None;
        m.zulu = false;
        Some(Time(m))
    }
    pub(crate) fn precision_digits(&self) -> i64 {
        self.0.digits(false)
    }
    pub(crate) fn component(&self, p: Precision) -> Option<i64> {
        self.0.component(p)
    }
    pub(crate) fn boundary(&self, digits: i64, high: bool) -> Option<DateTime> {
        self.0.boundary(digits, high, Kind::DateTime).map(DateTime)
    }
}

impl Time {
    /// Parses `hh`, `hh:mm`, `hh:mm:ss` or `hh:mm:ss.fff`.
    pub fn parse(s: &str) -> Option<Time> {
        let mut c = Cursor { s: s.as_bytes(), i: 0 };
        let mut m = EMPTY;
        Moment::parse_time_into(&mut c, &mut m)?;
        c.done().then_some(Time(m))
    }
    pub fn precision(&self) -> Precision {
        self.0.precision
    }
    pub(crate) fn compare(&self, o: &Time) -> Option<Ordering> {
        self.0.compare(&o.0)
    }
    pub(crate) fn equivalent(&self, o: &Time) -> bool {
        self.0.equivalent(&o.0)
    }
    pub(crate) fn add(&self, amount: i64, unit: &str) -> Option<Time> {
        self.0.add(amount, unit, true).map(Time)
    }
    pub(crate) fn precision_digits(&self) -> i64 {
        self.0.digits(true)
    }
    pub(crate) fn component(&self, p: Precision) -> Option<i64> {
        self.0.component(p)
    }
    pub(crate) fn boundary(&self, digits: i64, high: bool) -> Option<Time> {
        self.0.boundary(digits, high, Kind::Time).map(Time)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt_date(f)
    }
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt_date(f)?;
        if self.0.precision >= Precision::Hour {
            f.write_str("T")?;
            self.0.fmt_time(f)?;
            self.0.fmt_offset(f)?;
        }
        Ok(())
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt_time(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dt(s: &str) -> DateTime {
        DateTime::parse(s).expect("test literal")
    }

    #[test]
    fn parse_and_print() {
        assert_eq!(dt("2015-02-04T14:34:28.123+10:00").to_string(), "2015-02-04T14:34:28.123+10:00");
        assert_eq!(dt("2015T").to_string(), "2015");
        assert_eq!(dt("2011-10-14T23:37:54Z").to_string(), "2011-10-14T23:37:54Z");
        assert!(DateTime::parse("2015-02-30").is_none());
        assert!(DateTime::parse("2015-02T10").is_none());
        assert_eq!(Time::parse("14:34").map(|t| t.to_string()), Some("14:34".into()));
        assert!(Time::parse("24:00").is_none());
    }

    #[test]
    fn comparison_knows_precision() {
        assert_eq!(dt("2012-04-15T15:30:31").compare(&dt("2012-04-15T15:30:31.0")), Some(Ordering::Equal));
        assert_eq!(dt("2018-03").compare(&dt("2018-03-01")), None);
        assert_eq!(dt("2018-02").compare(&dt("2018-03-01")), Some(Ordering::Less));
        assert_eq!(dt("2012-04-15T15:00:00+02:00").compare(&dt("2012-04-15T16:00:00+03:00")), Some(Ordering::Equal));
        assert_eq!(dt("2012-04-15T15:00:00Z").compare(&dt("2012-04-15T10:00:00")), None);
    }

    #[test]
    fn arithmetic() {
        let d = Date::parse("1973-12-25").expect("date");
        assert_eq!(d.add(7, "day").map(|x| x.to_string()), Some("1974-01-01".into()));
        assert_eq!(d.add(1, "month").map(|x| x.to_string()), Some("1974-01-25".into()));
        let jan31 = Date::parse("2024-01-31").expect("date");
        assert_eq!(jan31.add(1, "month").map(|x| x.to_string()), Some("2024-02-29".into()));
        let t = dt("1973-12-25T00:00:00.000+10:00");
        assert_eq!(t.add(10, "millisecond").map(|x| x.to_string()), Some("1973-12-25T00:00:00.010+10:00".into()));
        assert_eq!(civil_from_days(days_from_civil(2000, 2, 29)), (2000, 2, 29));
    }
}
