//! Days counted from the reference date (the "today" of the population, given by the caller) and their FHIR date and dateTime text.

use chrono::{Datelike, NaiveDate, TimeDelta};

/// A day as an offset from the reference date: 0 is the reference date, −1 the day before.
pub(crate) type Day = i32;

/// The days of the two years before the reference date, in which past events happen.
pub(crate) const HISTORY_DAYS: Day = 730;

/// Turns day offsets into dates.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Calendar {
    reference: NaiveDate,
}

impl Calendar {
    pub fn new(reference: NaiveDate) -> Calendar {
        Calendar { reference }
    }

    pub fn reference(&self) -> NaiveDate {
        self.reference
    }

    pub fn date(&self, day: Day) -> NaiveDate {
        self.reference
            .checked_add_signed(TimeDelta::days(i64::from(day)))
            .expect("invariant: generated days lie within a few centuries of the reference date")
    }

    /// The day offset of a date.
    pub fn day_of(&self, date: NaiveDate) -> Day {
        (date - self.reference).num_days() as Day
    }

    /// A day, displayed as `YYYY-MM-DD`.
    pub fn day(&self, day: Day) -> IsoDate {
        IsoDate(self.date(day))
    }

    /// A time counted in minutes from the start of the reference date, displayed as `YYYY-MM-DDThh:mm:00Z`.
    pub fn at(&self, minutes: i64) -> IsoInstant {
        IsoInstant { date: self.date(minutes.div_euclid(1440) as Day), minute: minutes.rem_euclid(1440) as u32 }
    }
}

/// A date displayed as `YYYY-MM-DD` (a FHIR date).
#[derive(Clone, Copy, Debug)]
pub(crate) struct IsoDate(pub NaiveDate);

impl std::fmt::Display for IsoDate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.0.year(), self.0.month(), self.0.day())
    }
}

/// A minute of a day displayed as `YYYY-MM-DDThh:mm:00Z` (a FHIR dateTime and instant, in UTC).
#[derive(Clone, Copy, Debug)]
pub(crate) struct IsoInstant {
    date: NaiveDate,
    minute: u32,
}

impl std::fmt::Display for IsoInstant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}T{:02}:{:02}:00Z", self.date.year(), self.date.month(), self.date.day(), self.minute / 60, self.minute % 60)
    }
}
