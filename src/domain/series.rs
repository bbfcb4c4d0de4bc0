//! Recurring bookings (API.md "Recurring bookings"): one request for `times` bookings, each
//! `every` after the one before, made in one transaction — all or none (`fail`), or the ones
//! that fit (`skip`). Each occurrence is an ordinary booking carrying the series' id.

use super::Interval;
use chrono::Duration;

super::ids::booking_form_id!(
    /// A recurring series' id (on each of its bookings).
    SeriesId
);

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
