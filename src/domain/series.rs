//! Recurring bookings (API.md "Recurring bookings"): one request for `times` bookings, each
//! `every` after the one before, made in one transaction — all or none (`fail`), or the ones
//! that fit (`skip`). Each occurrence is an ordinary booking carrying the series' id.

use super::{BookingId, Interval};
use chrono::Duration;
use std::fmt;

/// A series id: 128 random bits as 32 hex digits, like a booking id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct SeriesId(BookingId);

impl SeriesId {
    /// A fresh random id.
    pub fn new() -> Self {
        Self(BookingId::new())
    }

    /// Parses a full id (32 hex digits).
    pub fn parse(s: &str) -> Result<Self, super::ids::InvalidId> {
        BookingId::parse(s).map(Self)
    }

    /// The textual form.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl Default for SeriesId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for SeriesId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// How a series repeats: `every` (a day or a week) `times` times (2..=52), checked on
/// construction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repeat {
    every: Duration,
    times: u32,
}

impl Repeat {
    /// Most occurrences of one series.
    pub const MAX_TIMES: u32 = 52;

    /// `every` is `1d` or `7d`; `times` is 2..=52.
    pub fn new(every: &str, times: u32) -> Result<Self, String> {
        let every = match every.trim() {
            "1d" => Duration::days(1),
            "7d" => Duration::days(7),
            other => {
                return Err(format!(
                    "repeat.every must be \"1d\" or \"7d\", got {other:?}"
                ))
            }
        };
        if !(2..=Self::MAX_TIMES).contains(&times) {
            return Err(format!(
                "repeat.times must be from 2 to {}, got {times}",
                Self::MAX_TIMES
            ));
        }
        Ok(Self { every, times })
    }

    /// How many occurrences.
    pub fn times(&self) -> u32 {
        self.times
    }

    /// The occurrences' intervals, the first being `first`. Each is the same length and
    /// starts `every` after the one before, in UTC (a series across a daylight-saving change
    /// keeps its UTC times).
    pub fn occurrences(&self, first: Interval) -> Vec<Interval> {
        (0..self.times)
            .filter_map(|i| {
                let shift = self.every * i as i32;
                Interval::new(first.start() + shift, first.end() + shift).ok()
            })
            .collect()
    }
}

/// What to do with an occurrence that cannot be booked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnConflict {
    /// Book none of the series (the default).
    #[default]
    Fail,
    /// Book the others and list it as skipped.
    Skip,
}

impl OnConflict {
    /// `fail` or `skip`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "fail" => Ok(Self::Fail),
            "skip" => Ok(Self::Skip),
            other => Err(format!(
                "on_conflict must be \"fail\" or \"skip\", got {other:?}"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn occurrences_repeat_the_first_every_day_or_week() {
        let t = Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0).unwrap();
        let first = Interval::new(t, t + Duration::hours(3)).unwrap();
        let weekly = Repeat::new("7d", 3).unwrap().occurrences(first);
        assert_eq!(weekly.len(), 3);
        assert_eq!(weekly[2].start(), t + Duration::days(14));
        assert_eq!(weekly[2].duration(), Duration::hours(3));
        assert_eq!(
            Repeat::new("1d", 2).unwrap().occurrences(first)[1].start(),
            t + Duration::days(1)
        );
    }

    #[test]
    fn bad_repeats_are_refused_with_what_to_fix() {
        assert!(Repeat::new("2d", 3).unwrap_err().contains("1d"));
        assert!(Repeat::new("7d", 1).unwrap_err().contains("2 to 52"));
        assert!(Repeat::new("7d", 53).is_err());
        assert!(OnConflict::parse("maybe").is_err());
        assert_eq!(OnConflict::parse("skip"), Ok(OnConflict::Skip));
    }
}
