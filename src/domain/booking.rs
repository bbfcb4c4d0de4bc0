//! Bookings: a number of concrete devices of one model over a half-open interval.

use super::gpu::{Device, GpuModel};
use super::ids::{BookingId, Owner};
use super::money::Cents;
use chrono::{DateTime, Duration, Utc};
use std::collections::{BTreeMap, HashSet};

/// A half-open time interval `[start, end)` with `end > start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

impl Interval {
    /// Checks `end > start`.
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<Self, String> {
        if end <= start {
            return Err(format!(
                "the end ({}) must be after the start ({})",
                end.to_rfc3339(),
                start.to_rfc3339()
            ));
        }
        Ok(Self { start, end })
    }

    /// Start instant (inclusive).
    pub fn start(&self) -> DateTime<Utc> {
        self.start
    }

    /// End instant (exclusive).
    pub fn end(&self) -> DateTime<Utc> {
        self.end
    }

    /// Length of the interval.
    pub fn duration(&self) -> Duration {
        self.end - self.start
    }

    /// Whether the two intervals share an instant.
    pub fn overlaps(&self, other: &Interval) -> bool {
        self.start < other.end && other.start < self.end
    }
}

/// A booking's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BookingStatus {
    /// Holds its devices.
    Confirmed,
    /// Released; kept for the record.
    Cancelled,
    /// Cancelled after it started: its end is the cancel time and the time used stays
    /// charged. Shown as `cancelled` (API.md "Budget").
    #[serde(rename = "cancelled")]
    Ended,
}

impl BookingStatus {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confirmed => "confirmed",
            Self::Cancelled | Self::Ended => "cancelled",
        }
    }

    /// Whether its price is charged: confirmed, or ended early (the time used).
    pub fn charges(self) -> bool {
        matches!(self, Self::Confirmed | Self::Ended)
    }

    /// Whether it still holds devices or can change.
    pub fn is_cancelled(self) -> bool {
        matches!(self, Self::Cancelled | Self::Ended)
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "confirmed" => Some(Self::Confirmed),
            "cancelled" => Some(Self::Cancelled),
            _ => None,
        }
    }
}

/// A booking as stored and shown.
#[derive(Debug, Clone, PartialEq)]
pub struct Booking {
    /// Its id.
    pub id: BookingId,
    /// Who made it.
    pub owner: Owner,
    /// The model's name.
    pub model: String,
    /// The reserved devices (`count` of them).
    pub gpus: Vec<Device>,
    /// When.
    pub interval: Interval,
    /// count × hours × hourly price.
    pub price_total: Cents,
    /// Confirmed or cancelled.
    pub status: BookingStatus,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// The recurring series it is an occurrence of, if any.
    pub series: Option<super::series::SeriesId>,
    /// The owner's project when it was made (its price counts there).
    pub project: super::ProjectName,
}

impl Booking {
    /// Number of devices.
    pub fn count(&self) -> u32 {
        self.gpus.len() as u32
    }
}

/// The price of `count` devices over `interval`, pro rata to the second, rounded to the cent.
pub fn price(price_per_hour: Cents, count: u32, interval: &Interval) -> Cents {
    let seconds = interval.duration().num_seconds() as i128;
    let cents = price_per_hour.0 as i128 * count as i128 * seconds;
    Cents(((cents + 1800) / 3600) as i64)
}

/// What cancelling `b` at `now` makes of it (API.md "Budget"): before its start, cancelled
/// with its whole price released; once started, **ended early** — its end becomes `now`
/// rounded up to the minute (at least a minute after its start) and its price that of the
/// time used; `None` once it has ended (there is nothing left to cancel).
pub fn cancelled_at(b: &Booking, now: DateTime<Utc>, price_per_hour: Cents) -> Option<Booking> {
    if now >= b.interval.end() {
        return None;
    }
    if now < b.interval.start() {
        return Some(Booking {
            status: BookingStatus::Cancelled,
            ..b.clone()
        });
    }
    let minute = 60_000;
    let ms = now.timestamp_millis();
    let up = DateTime::from_timestamp_millis((ms + minute - 1).div_euclid(minute) * minute)
        .unwrap_or(now);
    let end = up
        .max(b.interval.start() + Duration::minutes(1))
        .min(b.interval.end());
    let interval = Interval::new(b.interval.start(), end).ok()?;
    Some(Booking {
        interval,
        price_total: price(price_per_hour, b.count(), &interval),
        status: BookingStatus::Ended,
        ..b.clone()
    })
}

/// Limits a booking request must respect.
#[derive(Debug, Clone, Copy)]
pub struct BookingLimits {
    /// Most devices in one booking.
    pub max_count: u32,
    /// Longest booking.
    pub max_duration: Duration,
    /// How far in the past a start may be (clock skew, typing time).
    pub start_grace: Duration,
    /// How far ahead a start may be (keeps every time a plain RFC 3339 year).
    pub max_advance: Duration,
    /// The owner's quotas (checked by the store, under the owner's lock).
    pub quotas: super::quota::Quotas,
    /// The project's budget (checked by the store, under the project's lock; `None`: none).
    pub budget: Option<super::money::Cents>,
    /// How long holds keep their devices, and how many one owner may have.
    pub holds: super::hold::HoldRules,
}

impl Default for BookingLimits {
    fn default() -> Self {
        Self {
            max_count: 64,
            max_duration: Duration::days(30),
            start_grace: Duration::minutes(5),
            max_advance: Duration::days(365),
            quotas: super::quota::Quotas::default(),
            budget: None,
            holds: super::hold::HoldRules::default(),
        }
    }
}

/// Why a booking request is refused before any store is asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// `count` out of range.
    #[error("count must be between 1 and {max}, got {got}")]
    Count { got: i64, max: u32 },
    /// `start` in the past.
    #[error("the start ({0}) is in the past")]
    StartInPast(String),
    /// Too long.
    #[error("a booking lasts at most {max_days} days")]
    TooLong { max_days: i64 },
    /// Starts too far ahead.
    #[error("a booking starts at most {max_days} days ahead")]
    TooFarAhead { max_days: i64 },
}

/// Checks count, start and length of a request at `now`.
pub fn check_request(
    count: i64,
    interval: &Interval,
    now: DateTime<Utc>,
    limits: &BookingLimits,
) -> Result<u32, RequestError> {
    if count < 1 || count > limits.max_count as i64 {
        return Err(RequestError::Count {
            got: count,
            max: limits.max_count,
        });
    }
    if interval.start() < now - limits.start_grace {
        return Err(RequestError::StartInPast(interval.start().to_rfc3339()));
    }
    if interval.duration() > limits.max_duration {
        return Err(RequestError::TooLong {
            max_days: limits.max_duration.num_days(),
        });
    }
    if interval.start() > now + limits.max_advance {
        return Err(RequestError::TooFarAhead {
            max_days: limits.max_advance.num_days(),
        });
    }
    Ok(count as u32)
}

/// Picks `count` free devices of `model`, given the devices already `busy` in the interval.
/// Prefers filling one node (fewest nodes per booking), then the node with the fewest free
/// devices that still fits, so large blocks stay free for large jobs. `None` if too few are free.
pub fn allocate(model: &GpuModel, busy: &HashSet<Device>, count: u32) -> Option<Vec<Device>> {
    let mut by_node: BTreeMap<&str, Vec<&Device>> = BTreeMap::new();
    for d in model.devices.iter().filter(|d| !busy.contains(*d)) {
        by_node.entry(&d.node).or_default().push(d);
    }
    let free: usize = by_node.values().map(Vec::len).sum();
    if free < count as usize {
        return None;
    }
    let want = count as usize;
    // Best fit on a single node.
    if let Some(devs) = by_node
        .values()
        .filter(|v| v.len() >= want)
        .min_by_key(|v| v.len())
    {
        return Some(devs.iter().take(want).map(|d| (*d).clone()).collect());
    }
    // Otherwise fill the fullest nodes first.
    let mut nodes: Vec<&Vec<&Device>> = by_node.values().collect();
    nodes.sort_by_key(|v| std::cmp::Reverse(v.len()));
    Some(
        nodes
            .into_iter()
            .flatten()
            .take(want)
            .map(|d| (*d).clone())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Inventory;
    use chrono::TimeZone;

    fn t(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, h, 0, 0).unwrap()
    }

    #[test]
    fn intervals_are_half_open() {
        let a = Interval::new(t(9), t(12)).unwrap();
        let b = Interval::new(t(12), t(13)).unwrap();
        assert!(!a.overlaps(&b));
        assert!(a.overlaps(&Interval::new(t(11), t(13)).unwrap()));
        assert!(Interval::new(t(9), t(9)).is_err());
    }

    #[test]
    fn price_is_count_times_hours_times_rate() {
        let i = Interval::new(t(9), t(17)).unwrap();
        assert_eq!(price(Cents(229), 2, &i), Cents(229 * 2 * 8));
        let ninety = Interval::new(t(9), t(9) + Duration::minutes(90)).unwrap();
        assert_eq!(price(Cents(100), 1, &ninety), Cents(150));
    }

    #[test]
    fn allocation_prefers_one_node() {
        let inv = Inventory::sample();
        let a100 = inv.find("a100").unwrap();
        let mut busy = HashSet::new();
        busy.insert(a100.devices[0].clone());
        let got = allocate(a100, &busy, 4).unwrap();
        let nodes: HashSet<_> = got.iter().map(|d| &d.node).collect();
        assert_eq!(nodes.len(), 1);
        assert!(got.iter().all(|d| !busy.contains(d)));
        assert!(allocate(a100, &busy, a100.total()).is_none());
    }

    #[test]
    fn request_rules() {
        let l = BookingLimits::default();
        let i = Interval::new(t(9), t(10)).unwrap();
        assert!(check_request(0, &i, t(8), &l).is_err());
        assert!(check_request(65, &i, t(8), &l).is_err());
        assert!(check_request(1, &i, t(11), &l).is_err());
        let long = Interval::new(t(9), t(9) + Duration::days(31)).unwrap();
        assert!(check_request(1, &long, t(8), &l).is_err());
        assert_eq!(check_request(2, &i, t(8), &l), Ok(2));
        let far = Interval::new(t(9) + Duration::days(366), t(10) + Duration::days(366)).unwrap();
        assert!(matches!(
            check_request(1, &far, t(8), &l),
            Err(RequestError::TooFarAhead { max_days: 365 })
        ));
    }
}

/// The least number of a model's `total` devices free at any instant of `window`, given the
/// confirmed bookings (interval, device count) that overlap it.
pub fn min_free(total: u32, booked: &[(Interval, u32)], window: &Interval) -> u32 {
    // The busiest instant is the start of some booking (or the window's start).
    let mut points: Vec<DateTime<Utc>> = vec![window.start()];
    points.extend(
        booked
            .iter()
            .map(|(i, _)| i.start())
            .filter(|s| *s > window.start() && *s < window.end()),
    );
    let peak = points
        .iter()
        .map(|p| {
            booked
                .iter()
                .filter(|(i, _)| i.start() <= *p && *p < i.end())
                .map(|(_, c)| *c)
                .sum::<u32>()
        })
        .max()
        .unwrap_or(0);
    total.saturating_sub(peak)
}

#[cfg(test)]
mod min_free_tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn counts_the_busiest_instant() {
        let t = |h| Utc.with_ymd_and_hms(2026, 12, 1, h, 0, 0).unwrap();
        let w = Interval::new(t(8), t(18)).unwrap();
        let b = vec![
            (Interval::new(t(9), t(11)).unwrap(), 2),
            (Interval::new(t(10), t(12)).unwrap(), 3),
            (Interval::new(t(12), t(13)).unwrap(), 4),
        ];
        assert_eq!(min_free(8, &b, &w), 3);
        let w2 = Interval::new(t(11), t(12)).unwrap();
        assert_eq!(min_free(8, &b, &w2), 5);
    }
}

/// Checks that bookings fit an inventory: each model exists, each device belongs to its
/// model, and no device is in two overlapping confirmed bookings. Errors name the record.
pub fn check_against(inventory: &super::Inventory, bookings: &[Booking]) -> Result<(), String> {
    let mut seen_ids = HashSet::new();
    let mut by_device: BTreeMap<&Device, Vec<(usize, Interval)>> = BTreeMap::new();
    for (i, b) in bookings.iter().enumerate() {
        if !seen_ids.insert(b.id.as_str()) {
            return Err(format!("bookings[{i}].id: `{}` is listed twice", b.id));
        }
        let model = inventory
            .models()
            .iter()
            .find(|m| m.name == b.model)
            .ok_or_else(|| format!("bookings[{i}].model: unknown model `{}`", b.model))?;
        if b.gpus.is_empty() {
            return Err(format!("bookings[{i}].gpus: no devices"));
        }
        let mut own = HashSet::new();
        for d in &b.gpus {
            if !model.devices.contains(d) {
                return Err(format!(
                    "bookings[{i}].gpus: `{d}` is not a {} device",
                    b.model
                ));
            }
            if !own.insert(d) {
                return Err(format!("bookings[{i}].gpus: `{d}` is listed twice"));
            }
            if b.status == BookingStatus::Confirmed {
                let slots = by_device.entry(d).or_default();
                if let Some((j, _)) = slots.iter().find(|(_, iv)| iv.overlaps(&b.interval)) {
                    return Err(format!(
                        "bookings[{i}].gpus: `{d}` is also in bookings[{j}] at an overlapping time"
                    ));
                }
                slots.push((i, b.interval));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod cancel_tests {
    use super::*;
    use chrono::TimeZone;

    fn booking() -> Booking {
        let t = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
        Booking {
            id: BookingId::new(),
            owner: Owner::from_stored("user:a".into()),
            model: "H100-80GB".into(),
            gpus: vec![Device::parse("hopper-01:0").unwrap()],
            interval: Interval::new(t, t + Duration::hours(4)).unwrap(),
            price_total: Cents(1556),
            status: BookingStatus::Confirmed,
            created_at: t - Duration::days(1),
            series: None,
            project: crate::domain::ProjectName::default_project(),
        }
    }

    #[test]
    fn before_the_start_the_whole_booking_is_cancelled() {
        let b = booking();
        let c = cancelled_at(&b, b.interval.start() - Duration::seconds(1), Cents(389)).unwrap();
        assert_eq!(
            (c.status, c.interval, c.price_total),
            (BookingStatus::Cancelled, b.interval, b.price_total)
        );
    }

    #[test]
    fn once_started_it_ends_at_the_next_minute_and_charges_the_time_used() {
        let b = booking();
        let s = b.interval.start();
        let c = cancelled_at(&b, s + Duration::milliseconds(90_001), Cents(389)).unwrap();
        assert_eq!(c.status, BookingStatus::Ended);
        assert_eq!(c.interval.end(), s + Duration::minutes(2));
        assert_eq!(c.price_total, Cents(13)); // 2 min of $3.89/h
                                              // On the minute stays on it; at the very start it lasts a minute.
        let on = cancelled_at(&b, s + Duration::minutes(30), Cents(389)).unwrap();
        assert_eq!(on.interval.end(), s + Duration::minutes(30));
        let first = cancelled_at(&b, s, Cents(389)).unwrap();
        assert_eq!(first.interval.end(), s + Duration::minutes(1));
        assert!(
            cancelled_at(&b, b.interval.end(), Cents(389)).is_none(),
            "ended"
        );
    }
}
