//! Quotas (API.md "Projects, quotas and budgets"): how much one owner may hold, checked for
//! the result of a create or a change against the owner's other confirmed bookings.
//!
//! Pure: the store reads the owner's bookings under the owner's lock and asks [`Quotas::check`];
//! the assistant asks the same before it proposes, so both doors give one answer.

use super::booking::Interval;
use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// The quota values that apply to one owner.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quotas {
    /// GPUs of the owner's confirmed bookings at any instant.
    pub max_gpus_at_once: u32,
    /// GPU-hours of the owner's confirmed bookings inside one calendar week.
    pub max_gpu_hours_per_week: u32,
    /// Longest booking.
    pub max_booking_duration: Duration,
    /// A booking starts at least this long after now.
    pub min_notice: Duration,
    /// The zone whose Monday 00:00 starts a week.
    pub week_zone: Tz,
}

impl Default for Quotas {
    fn default() -> Self {
        Self {
            max_gpus_at_once: 16,
            max_gpu_hours_per_week: 1000,
            max_booking_duration: Duration::days(30),
            min_notice: Duration::zero(),
            week_zone: Tz::UTC,
        }
    }
}

/// Which quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quota {
    /// `max_gpus_at_once`.
    GpusAtOnce,
    /// `max_gpu_hours_per_week`.
    GpuHoursPerWeek,
    /// `max_booking_duration`.
    BookingDuration,
    /// `min_notice`.
    MinNotice,
}

impl Quota {
    /// The setting's name, as API.md's `details.quota`.
    pub fn key(self) -> &'static str {
        match self {
            Quota::GpusAtOnce => "max_gpus_at_once",
            Quota::GpuHoursPerWeek => "max_gpu_hours_per_week",
            Quota::BookingDuration => "max_booking_duration",
            Quota::MinNotice => "min_notice",
        }
    }

    /// The quota a setting's name names.
    pub fn from_key(key: &str) -> Option<Self> {
        [
            Quota::GpusAtOnce,
            Quota::GpuHoursPerWeek,
            Quota::BookingDuration,
            Quota::MinNotice,
        ]
        .into_iter()
        .find(|q| q.key() == key)
    }
}

/// A request that would break a quota: the numbers API.md's `details` carry. Durations are
/// in hours (`max_booking_duration`, `min_notice`), GPU-hours rounded to two decimals.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", self.message())]
pub struct QuotaExceeded {
    /// Which quota.
    pub quota: Quota,
    /// Its value.
    pub limit: f64,
    /// What the owner's other bookings use of it.
    pub used: f64,
    /// What this request asks.
    pub requested: f64,
}

impl QuotaExceeded {
    /// What is left of the quota (never below zero).
    pub fn left(&self) -> f64 {
        (self.limit - self.used).max(0.0)
    }

    /// The limit, what is used and what is left, in words a person can act on.
    pub fn message(&self) -> String {
        let n = shown;
        match self.quota {
            Quota::GpusAtOnce => format!(
                "that would hold {} GPUs at once; the limit is {}, your other bookings hold {} then, so {} more would fit",
                n(self.used + self.requested),
                n(self.limit),
                n(self.used),
                n(self.left())
            ),
            Quota::GpuHoursPerWeek => format!(
                "that would use {} GPU-hours in one week; the limit is {} a week, your other bookings use {} of that week, so {} are left",
                n(self.used + self.requested),
                n(self.limit),
                n(self.used),
                n(self.left())
            ),
            Quota::BookingDuration => format!(
                "a booking may last at most {} hours; this one lasts {}",
                n(self.limit),
                n(self.requested)
            ),
            Quota::MinNotice => format!(
                "a booking must start at least {} hours from now; this one starts in {}",
                n(self.limit),
                n(self.requested)
            ),
        }
    }
}

/// A quota's number as a person reads it: whole numbers without decimals, others to the
/// cent ("16", "32.50").
pub fn shown(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
    }
}

fn hours(d: Duration) -> f64 {
    d.num_seconds() as f64 / 3600.0
}

/// `x`, or 0 when it is below or at zero: a sum of nothing is -0.0, which `f64::max` may
/// keep, and which prints (and serialises) as "-0".
fn not_negative(x: f64) -> f64 {
    if x > 0.0 {
        x
    } else {
        0.0
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

impl Quotas {
    /// The window of the owner's bookings that [`Quotas::check`] needs to see for a request
    /// over `interval`: the calendar weeks it touches (which contain every instant of it).
    pub fn window(&self, interval: &Interval) -> Interval {
        let from = self.week_start(interval.start());
        let mut to = self.week_start(interval.end());
        if to < interval.end() {
            to = self.week_after(to);
        }
        Interval::new(from, to.max(from + Duration::days(7))).expect("weeks are positive")
    }

    /// Monday 00:00 (in `week_zone`) of the week holding `t`.
    fn week_start(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        let local = t.with_timezone(&self.week_zone).date_naive();
        let monday = local - Duration::days(local.weekday().num_days_from_monday() as i64);
        self.midnight(monday)
    }

    /// The Monday 00:00 a week after the one starting at `start`.
    fn week_after(&self, start: DateTime<Utc>) -> DateTime<Utc> {
        let local = start.with_timezone(&self.week_zone).date_naive();
        self.midnight(local + Duration::days(7))
    }

    /// 00:00 of `day` in `week_zone` (the first instant of the day when a change of clocks
    /// skips midnight).
    fn midnight(&self, day: chrono::NaiveDate) -> DateTime<Utc> {
        let at = day.and_time(NaiveTime::MIN);
        match self.week_zone.from_local_datetime(&at) {
            chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
                t.with_timezone(&Utc)
            }
            chrono::LocalResult::None => self
                .week_zone
                .from_local_datetime(&(at + Duration::hours(1)))
                .earliest()
                .map_or_else(|| at.and_utc(), |t| t.with_timezone(&Utc)),
        }
    }

    /// Whether `count` GPUs over `interval`, beside the owner's `others` (confirmed bookings:
    /// interval and GPUs), keep every quota at `now`.
    pub fn check(
        &self,
        others: &[(Interval, u32)],
        interval: &Interval,
        count: u32,
        now: DateTime<Utc>,
    ) -> Result<(), QuotaExceeded> {
        if interval.duration() > self.max_booking_duration {
            return Err(QuotaExceeded {
                quota: Quota::BookingDuration,
                limit: round2(hours(self.max_booking_duration)),
                used: 0.0,
                requested: round2(hours(interval.duration())),
            });
        }
        // No notice asked (the default, and a change that keeps its start): the rules of
        // every booking (a start up to a few minutes ago) are the only ones.
        if self.min_notice > Duration::zero() && interval.start() < now + self.min_notice {
            return Err(QuotaExceeded {
                quota: Quota::MinNotice,
                limit: round2(hours(self.min_notice)),
                used: 0.0,
                requested: round2(hours(interval.start() - now).max(0.0)),
            });
        }
        let peak = peak_during(others, interval);
        if peak + count > self.max_gpus_at_once {
            return Err(QuotaExceeded {
                quota: Quota::GpusAtOnce,
                limit: self.max_gpus_at_once as f64,
                used: peak as f64,
                requested: count as f64,
            });
        }
        let mut week = self.week_start(interval.start());
        while week < interval.end() {
            let next = self.week_after(week);
            let w = Interval::new(week, next).expect("a week is positive");
            let used: f64 = others
                .iter()
                .map(|(i, n)| gpu_hours(i, *n, &w))
                .sum::<f64>();
            let used = not_negative(used);
            let asked = gpu_hours(interval, count, &w);
            if used + asked > self.max_gpu_hours_per_week as f64 + 1e-9 {
                return Err(QuotaExceeded {
                    quota: Quota::GpuHoursPerWeek,
                    limit: self.max_gpu_hours_per_week as f64,
                    used: round2(used),
                    requested: round2(asked),
                });
            }
            week = next;
        }
        Ok(())
    }
}

/// One quota's value and what the owner uses of it now (API.md `GET /api/account`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuotaUse {
    /// Which quota.
    pub quota: Quota,
    /// Its value (hours for the two durations).
    pub limit: f64,
    /// GPUs held at `now`; GPU-hours of the current week; the longest booking not yet
    /// ended, in hours; 0 for the notice (no booking holds notice).
    pub used: f64,
}

impl Quotas {
    /// Every quota with its use at `now`, given the owner's confirmed bookings (`held`: at
    /// least those of the current week and those not yet ended).
    pub fn use_at(&self, held: &[(Interval, u32)], now: DateTime<Utc>) -> Vec<QuotaUse> {
        let week_start = self.week_start(now);
        let week = Interval::new(week_start, self.week_after(week_start)).expect("a week");
        let at_once: u32 = held
            .iter()
            .filter(|(i, _)| i.start() <= now && now < i.end())
            .map(|(_, n)| *n)
            .sum();
        let week_hours = held
            .iter()
            .map(|(i, n)| gpu_hours(i, *n, &week))
            .sum::<f64>();
        let week_hours = not_negative(week_hours);
        let longest = held
            .iter()
            .filter(|(i, _)| i.end() > now)
            .map(|(i, _)| hours(i.duration()))
            .fold(0.0, f64::max);
        vec![
            QuotaUse {
                quota: Quota::GpusAtOnce,
                limit: self.max_gpus_at_once as f64,
                used: at_once as f64,
            },
            QuotaUse {
                quota: Quota::GpuHoursPerWeek,
                limit: self.max_gpu_hours_per_week as f64,
                used: round2(week_hours),
            },
            QuotaUse {
                quota: Quota::BookingDuration,
                limit: round2(hours(self.max_booking_duration)),
                used: round2(longest),
            },
            QuotaUse {
                quota: Quota::MinNotice,
                limit: round2(hours(self.min_notice)),
                used: 0.0,
            },
        ]
    }
}

/// GPU-hours of `count` GPUs over the part of `i` inside `w`.
fn gpu_hours(i: &Interval, count: u32, w: &Interval) -> f64 {
    let from = i.start().max(w.start());
    let to = i.end().min(w.end());
    if to <= from {
        return 0.0;
    }
    hours(to - from) * count as f64
}

/// The most GPUs `others` hold at any instant of `interval`.
fn peak_during(others: &[(Interval, u32)], interval: &Interval) -> u32 {
    // Every change of the sum happens at a start or an end; the sum just after each start
    // inside the interval (and at its own start) is a candidate.
    let mut points: Vec<DateTime<Utc>> = vec![interval.start()];
    points.extend(
        others
            .iter()
            .map(|(i, _)| i.start())
            .filter(|t| *t > interval.start() && *t < interval.end()),
    );
    points
        .iter()
        .map(|t| {
            others
                .iter()
                .filter(|(i, _)| i.start() <= *t && *t < i.end())
                .map(|(_, n)| *n)
                .sum()
        })
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn iv(a: &str, b: &str) -> Interval {
        Interval::new(at(a), at(b)).unwrap()
    }

    const NOW: &str = "2026-11-26T10:00:00Z";

    #[test]
    fn gpus_at_once_counts_only_what_overlaps_at_one_instant() {
        let q = Quotas::default();
        // 12 on Wednesday and 6 later the same day, never together: 12 at most.
        let others = [
            (iv("2026-12-02T09:00:00Z", "2026-12-02T12:00:00Z"), 12),
            (iv("2026-12-02T13:00:00Z", "2026-12-02T17:00:00Z"), 6),
        ];
        let new = iv("2026-12-02T09:00:00Z", "2026-12-02T17:00:00Z");
        assert!(q.check(&others, &new, 4, at(NOW)).is_ok());
        let e = q.check(&others, &new, 5, at(NOW)).unwrap_err();
        assert_eq!(
            (e.quota, e.limit, e.used, e.requested, e.left()),
            (Quota::GpusAtOnce, 16.0, 12.0, 5.0, 4.0)
        );
        // Back to back is not at once.
        let after = iv("2026-12-02T17:00:00Z", "2026-12-02T18:00:00Z");
        assert!(q.check(&others, &after, 16, at(NOW)).is_ok());
    }

    #[test]
    fn gpu_hours_count_per_calendar_week_and_only_the_part_inside_it() {
        let q = Quotas {
            max_gpu_hours_per_week: 100,
            ..Quotas::default()
        };
        // Sun 29 Nov 20:00 to Mon 30 Nov 04:00: 4 h in the week of 23 Nov, 4 h in the next.
        let across = iv("2026-11-29T20:00:00Z", "2026-11-30T04:00:00Z");
        let others = [(iv("2026-11-23T00:00:00Z", "2026-11-23T12:00:00Z"), 8)]; // 96 GPU-h
        assert!(q
            .check(&others, &across, 1, at("2026-11-20T00:00:00Z"))
            .is_ok());
        let e = q
            .check(&others, &across, 2, at("2026-11-20T00:00:00Z"))
            .unwrap_err();
        assert_eq!(
            (e.quota, e.used, e.requested),
            (Quota::GpuHoursPerWeek, 96.0, 8.0)
        );
        // A zone moves the week's start: in Tokyo (UTC+9) Mon 00:00 is Sun 15:00 UTC, so the
        // whole request is in the next week and the other booking is not.
        let tokyo = Quotas {
            week_zone: chrono_tz::Asia::Tokyo,
            ..q
        };
        assert!(tokyo
            .check(&others, &across, 12, at("2026-11-20T00:00:00Z"))
            .is_ok());
    }

    #[test]
    fn length_and_notice_are_quotas_too() {
        let q = Quotas {
            max_booking_duration: Duration::hours(8),
            min_notice: Duration::hours(2),
            ..Quotas::default()
        };
        let long = iv("2026-11-27T09:00:00Z", "2026-11-27T18:00:00Z");
        let e = q.check(&[], &long, 1, at(NOW)).unwrap_err();
        assert_eq!(
            (e.quota, e.limit, e.requested),
            (Quota::BookingDuration, 8.0, 9.0)
        );
        let soon = iv("2026-11-26T11:00:00Z", "2026-11-26T12:00:00Z");
        let e = q.check(&[], &soon, 1, at(NOW)).unwrap_err();
        assert_eq!(
            (e.quota, e.limit, e.requested),
            (Quota::MinNotice, 2.0, 1.0)
        );
        assert!(e.message().contains("at least 2 hours"));
        // Without a notice, a start a moment ago (allowed for every booking) is no quota's.
        let now = iv("2026-11-26T09:58:00Z", "2026-11-26T12:00:00Z");
        assert!(Quotas::default().check(&[], &now, 1, at(NOW)).is_ok());
    }

    #[test]
    fn use_is_what_is_held_now_and_this_week() {
        let q = Quotas::default();
        let held = [
            (iv("2026-11-26T09:00:00Z", "2026-11-26T12:00:00Z"), 4), // now: 4 held, 12 GPU-h
            (iv("2026-11-28T09:00:00Z", "2026-11-28T19:00:00Z"), 2), // Saturday: 20 GPU-h
            (iv("2026-11-30T09:00:00Z", "2026-12-02T09:00:00Z"), 1), // next week, 48 h long
        ];
        let used: Vec<(&str, f64, f64)> = q
            .use_at(&held, at(NOW))
            .iter()
            .map(|u| (u.quota.key(), u.limit, u.used))
            .collect();
        assert_eq!(
            used,
            [
                ("max_gpus_at_once", 16.0, 4.0),
                ("max_gpu_hours_per_week", 1000.0, 32.0),
                ("max_booking_duration", 720.0, 48.0),
                ("min_notice", 0.0, 0.0),
            ]
        );
    }

    #[test]
    fn the_window_covers_every_week_a_request_touches() {
        let q = Quotas::default();
        let w = q.window(&iv("2026-11-29T20:00:00Z", "2026-11-30T04:00:00Z"));
        assert_eq!(
            (w.start(), w.end()),
            (at("2026-11-23T00:00:00Z"), at("2026-12-07T00:00:00Z"))
        );
    }
}
