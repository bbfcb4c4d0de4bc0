//! Maintenance windows (API.md "Holds, waitlist and maintenance"): devices out of service
//! for a window. Made by an admin in one transaction that also moves every overlapping
//! booking to other free devices of its model for its whole time, or cancels it (its
//! price released) when that is impossible.

use super::{BookingId, Device, Interval};
use chrono::{DateTime, Utc};

super::ids::booking_form_id!(
    /// A maintenance window's id.
    MaintenanceId
);

/// A maintenance window as stored.
#[derive(Debug, Clone)]
pub struct Maintenance {
    /// Its id (32 hex digits).
    pub id: MaintenanceId,
    /// The devices out of service.
    pub gpus: Vec<Device>,
    /// When.
    pub interval: Interval,
    /// Why (shown to admins, and to the owners of the bookings it moved or cancelled).
    pub reason: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

/// What making a window did to the bookings that overlapped it.
#[derive(Debug, Clone, Default)]
pub struct Affected {
    /// Moved to other devices of their model (same id, same times).
    pub moved: Vec<BookingId>,
    /// Cancelled, their whole price released: no other devices were free.
    pub cancelled: Vec<BookingId>,
}
