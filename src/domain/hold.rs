//! Holds (API.md "Holds, waitlist and maintenance"): concrete devices kept for one owner for
//! a short time, so that what was quoted can be booked exactly as quoted. A hold counts as
//! taken for everyone else, and against its owner's quotas and project's budget, while it is
//! live; it expires by time alone (every query compares `expires_at` with now), so no timer
//! that a crash could lose is needed.

use super::{Booking, BookingId, Cents, Device, Interval, Owner};
use chrono::{DateTime, Duration, Utc};

super::ids::booking_form_id!(
    /// A hold id.
    HoldId
);

/// Where a hold is in its life. Expiry is not a state: a `Held` hold past `expires_at` is
/// expired (see [`Hold::is_live`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldState {
    /// Devices kept until `expires_at`.
    Held,
    /// Booked: the booking made from it.
    Confirmed(BookingId),
    /// Given back by its owner.
    Released,
}

impl HoldState {
    /// The stored form of the state's kind.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Held => "held",
            Self::Confirmed(_) => "confirmed",
            Self::Released => "released",
        }
    }
}

/// Devices held for one owner.
#[derive(Debug, Clone)]
pub struct Hold {
    /// Its id.
    pub id: HoldId,
    /// Who holds them.
    pub owner: Owner,
    /// The model's exact name.
    pub model: String,
    /// The devices held, in order.
    pub gpus: Vec<Device>,
    /// When.
    pub interval: Interval,
    /// What the booking will cost.
    pub price_total: Cents,
    /// Until when the devices are kept.
    pub expires_at: DateTime<Utc>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// Held, confirmed or released.
    pub state: HoldState,
    /// The owner's project when it was made (its price counts there while it is live).
    pub project: super::ProjectName,
}

impl Hold {
    /// How many devices.
    pub fn count(&self) -> u32 {
        self.gpus.len() as u32
    }

    /// Whether the devices are still kept at `now`.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.state == HoldState::Held && now < self.expires_at
    }

    /// The booking this hold becomes on confirmation (a new id; the same devices, times
    /// and price).
    pub fn to_booking(&self, now: DateTime<Utc>) -> Booking {
        Booking {
            id: BookingId::new(),
            owner: self.owner.clone(),
            model: self.model.clone(),
            gpus: self.gpus.clone(),
            interval: self.interval,
            price_total: self.price_total,
            status: super::BookingStatus::Confirmed,
            created_at: now,
            series: None,
            project: self.project.clone(),
        }
    }
}

/// The settings holds follow.
#[derive(Debug, Clone, Copy)]
pub struct HoldRules {
    /// How long a hold keeps its devices (`hold_ttl`).
    pub ttl: Duration,
    /// Live holds one owner may have at once (`max_holds_per_owner`).
    pub max_per_owner: u32,
}

impl Default for HoldRules {
    fn default() -> Self {
        Self {
            ttl: Duration::minutes(5),
            max_per_owner: 3,
        }
    }
}

/// Why a hold could not be made, confirmed or found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HoldError {
    /// No hold of this owner has the id.
    #[error("no hold of yours has that id")]
    NotFound,
    /// The hold expired before it was confirmed (`410 hold_expired`).
    #[error("the hold expired at {}; its GPUs are no longer kept for you — ask again or book them if they are still free", .0.to_rfc3339())]
    Expired(DateTime<Utc>),
    /// The hold was given back.
    #[error("the hold was released and can no longer be confirmed")]
    Released,
    /// The owner has the most live holds allowed (`409 too_many_holds`).
    #[error("you already hold GPUs {0} times, the most at once; confirm or release one first")]
    TooMany(u32),
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn hold(state: HoldState, expires_at: DateTime<Utc>) -> Hold {
        let t = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
        Hold {
            id: HoldId::new(),
            owner: Owner::from_stored("user:a".into()),
            model: "H100-80GB".into(),
            gpus: vec![Device::parse("gpu-h100-01:0").unwrap()],
            interval: Interval::new(t, t + Duration::hours(2)).unwrap(),
            price_total: Cents(778),
            expires_at,
            created_at: t - Duration::days(1),
            state,
            project: crate::domain::ProjectName::default_project(),
        }
    }

    #[test]
    fn a_hold_is_live_until_it_expires_and_only_while_held() {
        let at = Utc.with_ymd_and_hms(2026, 11, 30, 10, 5, 0).unwrap();
        let h = hold(HoldState::Held, at);
        assert!(h.is_live(at - Duration::seconds(1)));
        assert!(!h.is_live(at), "expired at expires_at");
        assert!(!hold(HoldState::Released, at).is_live(at - Duration::minutes(1)));
        assert!(
            !hold(HoldState::Confirmed(BookingId::new()), at).is_live(at - Duration::minutes(1))
        );
    }

    #[test]
    fn its_booking_has_the_same_devices_times_and_price() {
        let h = hold(HoldState::Held, Utc::now());
        let b = h.to_booking(Utc::now());
        assert_eq!(
            (b.gpus, b.interval, b.price_total),
            (h.gpus, h.interval, h.price_total)
        );
    }
}
