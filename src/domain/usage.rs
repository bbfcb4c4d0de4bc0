//! What bookings used inside a window (API.md `GET /api/usage`, `GET /api/admin/usage`):
//! GPU-hours and money of the part of each confirmed booking inside `[from, to)`.
//!
//! Pure: the callers read the bookings; the sums are here so that the caller's and the
//! admin's views count the same way.

use super::booking::{Booking, Interval};
use super::money::Cents;
use std::collections::BTreeMap;

/// The use of some bookings inside a window.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Use {
    /// GPU-hours inside the window.
    pub gpu_hours: f64,
    /// The price of that part (pro rata to the second, rounded to the cent per booking).
    pub amount: Cents,
    /// Bookings that had some part inside.
    pub bookings: u32,
}

impl Use {
    fn add(&mut self, other: Use) {
        self.gpu_hours += other.gpu_hours;
        self.amount = Cents(self.amount.0 + other.amount.0);
        self.bookings += other.bookings;
    }

    /// GPU-hours rounded to two decimals, as shown.
    pub fn hours_shown(&self) -> f64 {
        (self.gpu_hours * 100.0).round() / 100.0
    }
}

/// The part of one booking inside `window` (nothing for a cancelled one).
pub fn use_of(b: &Booking, window: &Interval) -> Use {
    if !b.status.charges() {
        return Use::default();
    }
    let from = b.interval.start().max(window.start());
    let to = b.interval.end().min(window.end());
    if to <= from {
        return Use::default();
    }
    let inside = (to - from).num_seconds() as i128;
    let whole = b.interval.duration().num_seconds().max(1) as i128;
    Use {
        gpu_hours: inside as f64 / 3600.0 * b.count() as f64,
        amount: Cents(((b.price_total.0 as i128 * inside + whole / 2) / whole) as i64),
        bookings: 1,
    }
}

/// The use of `bookings` inside `window`, in all and per key (`key` names the group of a
/// booking: its model, owner or project), groups in key order.
pub fn grouped(
    bookings: &[Booking],
    window: &Interval,
    key: impl Fn(&Booking) -> String,
) -> (Use, Vec<(String, Use)>) {
    let mut total = Use::default();
    let mut groups: BTreeMap<String, Use> = BTreeMap::new();
    for b in bookings {
        let u = use_of(b, window);
        if u.bookings == 0 {
            continue;
        }
        total.add(u);
        groups.entry(key(b)).or_default().add(u);
    }
    (total, groups.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{BookingId, BookingStatus, Device, Owner};
    use chrono::{DateTime, Utc};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn booking(model: &str, count: u32, a: &str, b: &str, cents: i64) -> Booking {
        Booking {
            id: BookingId::new(),
            owner: Owner::user("alice"),
            model: model.into(),
            gpus: (0..count)
                .map(|index| Device {
                    node: "n".into(),
                    index,
                })
                .collect(),
            interval: Interval::new(at(a), at(b)).unwrap(),
            price_total: Cents(cents),
            status: BookingStatus::Confirmed,
            created_at: at(a),
            series: None,
            project: crate::domain::ProjectName::default_project(),
        }
    }

    #[test]
    fn only_the_part_inside_the_window_counts() {
        // 2 GPUs 10:00–14:00 ($8.00); the window takes 12:00–14:00: 4 GPU-hours, $4.00.
        let bs = [
            booking(
                "A100-80GB",
                2,
                "2026-12-01T10:00:00Z",
                "2026-12-01T14:00:00Z",
                800,
            ),
            booking(
                "H100-80GB",
                1,
                "2026-12-01T13:00:00Z",
                "2026-12-01T15:00:00Z",
                778,
            ),
        ];
        let w = Interval::new(at("2026-12-01T12:00:00Z"), at("2026-12-01T14:00:00Z")).unwrap();
        let (total, by) = grouped(&bs, &w, |b| b.model.clone());
        assert_eq!(
            (total.hours_shown(), total.amount, total.bookings),
            (5.0, Cents(789), 2)
        );
        assert_eq!(by[0].0, "A100-80GB");
        assert_eq!((by[0].1.gpu_hours, by[0].1.amount), (4.0, Cents(400)));
        // Cancelled bookings and bookings outside use nothing.
        let mut c = bs[0].clone();
        c.status = BookingStatus::Cancelled;
        assert_eq!(use_of(&c, &w), Use::default());
        let before = Interval::new(at("2026-11-30T00:00:00Z"), at("2026-12-01T10:00:00Z")).unwrap();
        assert_eq!(use_of(&bs[0], &before), Use::default());
    }
}
