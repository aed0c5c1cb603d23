//! Points in time (UTC, microsecond precision) and calendar dates.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use super::ValidationError;

/// A UTC instant with microsecond precision, stored as microseconds since the Unix epoch.
///
/// Serialized as an RFC 3339 string in human-readable formats (JSON) and as an integer in
/// compact ones (the store).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The current time of the system clock.
    pub fn now() -> Self {
        Self::from_datetime(OffsetDateTime::now_utc())
    }

    /// From microseconds since the Unix epoch.
    pub const fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    /// Microseconds since the Unix epoch.
    pub const fn as_micros(self) -> i64 {
        self.0
    }

    /// From seconds since the Unix epoch.
    pub const fn from_secs(secs: i64) -> Self {
        Self(secs.saturating_mul(1_000_000))
    }

    /// Midnight UTC at the start of `date`.
    pub fn start_of(date: Date) -> Self {
        Self::from_secs(i64::from(date.days()) * 86_400)
    }

    fn from_datetime(dt: OffsetDateTime) -> Self {
        let nanos = dt.unix_timestamp_nanos();
        // Floor, not truncation toward zero, so instants before 1970 do not round up a microsecond.
        Self(i64::try_from(nanos.div_euclid(1_000)).unwrap_or(i64::MAX))
    }

    fn to_datetime(self) -> Option<OffsetDateTime> {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000).ok()
    }

    /// This instant shifted by `micros` (saturating).
    #[must_use]
    pub const fn plus_micros(self, micros: i64) -> Self {
        Self(self.0.saturating_add(micros))
    }

    /// The calendar date (UTC) of this instant.
    pub fn date(self) -> Date {
        Date(i32::try_from(self.0.div_euclid(86_400_000_000)).unwrap_or(i32::MAX))
    }

    /// Parses RFC 3339 (`2024-05-01T12:00:00Z`, any offset) or a bare date (`2024-05-01`, midnight UTC).
    pub fn parse(field: &str, s: &str) -> Result<Self, ValidationError> {
        let s = s.trim();
        if let Ok(dt) = OffsetDateTime::parse(s, &Rfc3339) {
            return Ok(Self::from_datetime(dt.to_offset(UtcOffset::UTC)));
        }
        if let Ok(d) = Date::parse(field, s) {
            return Ok(Self::start_of(d));
        }
        Err(ValidationError::field(
            field,
            "an RFC 3339 time such as 2024-05-01T12:00:00Z, or a date such as 2024-05-01",
        ))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_datetime().and_then(|d| d.format(&Rfc3339).ok()) {
            Some(s) => f.write_str(&s),
            None => write!(f, "@{}us", self.0),
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_str(self)
        } else {
            s.serialize_i64(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            Self::parse("time", &s).map_err(serde::de::Error::custom)
        } else {
            i64::deserialize(d).map(Self)
        }
    }
}

/// Julian day number of 1970-01-01.
const UNIX_EPOCH_JULIAN_DAY: i32 = 2_440_588;

/// A calendar date, stored as days since 1970-01-01.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(i32);

impl Date {
    /// From days since 1970-01-01.
    pub const fn from_days(days: i32) -> Self {
        Self(days)
    }

    /// Days since 1970-01-01.
    pub const fn days(self) -> i32 {
        self.0
    }

    /// From a year, month (1-12) and day.
    pub fn from_ymd(year: i32, month: u8, day: u8) -> Result<Self, ValidationError> {
        let month = time::Month::try_from(month)
            .map_err(|_| ValidationError::field("date", "a month from 1 to 12"))?;
        let d = time::Date::from_calendar_date(year, month, day)
            .map_err(|_| ValidationError::field("date", "a real calendar date"))?;
        Ok(Self::from_time(d))
    }

    fn from_time(d: time::Date) -> Self {
        Self(d.to_julian_day() - UNIX_EPOCH_JULIAN_DAY)
    }

    fn to_time(self) -> Option<time::Date> {
        time::Date::from_julian_day(self.0 + UNIX_EPOCH_JULIAN_DAY).ok()
    }

    /// The first day of the block of `months` months (1: the month, 3: the quarter) that holds
    /// this date, blocks counted from January.
    pub fn first_of_month(self, months: u8) -> Self {
        match self.to_time() {
            Some(d) => {
                let m = u8::from(d.month()) - 1;
                let first = m - m % months.max(1) + 1;
                Self::from_ymd(d.year(), first, 1).unwrap_or(self)
            }
            None => self,
        }
    }

    /// Parses `YYYY-MM-DD`.
    pub fn parse(field: &str, s: &str) -> Result<Self, ValidationError> {
        let bad = || ValidationError::field(field, "a date as YYYY-MM-DD");
        let s = s.trim();
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(bad());
        }
        let num = |r: std::ops::Range<usize>| -> Result<u32, ValidationError> {
            let part = &s[r];
            if !part.bytes().all(|c| c.is_ascii_digit()) {
                return Err(bad());
            }
            part.parse().map_err(|_| bad())
        };
        let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (y, m, d) = (
            i32::try_from(y).map_err(|_| bad())?,
            u8::try_from(m).map_err(|_| bad())?,
            u8::try_from(d).map_err(|_| bad())?,
        );
        Self::from_ymd(y, m, d)
            .map_err(|_| ValidationError::field(field, "a real calendar date as YYYY-MM-DD"))
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_time() {
            Some(d) => write!(
                f,
                "{:04}-{:02}-{:02}",
                d.year(),
                u8::from(d.month()),
                d.day()
            ),
            None => write!(f, "day {}", self.0),
        }
    }
}

impl FromStr for Date {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse("date", s)
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_str(self)
        } else {
            s.serialize_i32(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            Self::parse("date", &s).map_err(serde::de::Error::custom)
        } else {
            i32::deserialize(d).map(Self)
        }
    }
}
