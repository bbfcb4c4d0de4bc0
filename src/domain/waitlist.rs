//! The waitlist (API.md "Waitlist"): a request that does not fit now waits; when devices
//! free up, waiting entries that now fit whole are offered in the order they were made (an
//! entry that still does not fit never blocks a later one that does). An offer is a hold
//! for `waitlist_hold`; confirming it books it; one that expires goes back to waiting.

use super::hold::HoldId;
use super::{Interval, Owner};
use chrono::{DateTime, Utc};

super::ids::booking_form_id!(
    /// A waitlist entry's id.
    EntryId
);

/// Where an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryStatus {
    /// In line.
    Waiting,
    /// Devices are held for it (its `hold`).
    Offered,
    /// Its offer was confirmed: it is a booking now.
    Booked,
    /// Its start passed while it waited.
    Expired,
}

impl EntryStatus {
    /// The stored and shown form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Offered => "offered",
            Self::Booked => "booked",
            Self::Expired => "expired",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "waiting" => Some(Self::Waiting),
            "offered" => Some(Self::Offered),
            "booked" => Some(Self::Booked),
            "expired" => Some(Self::Expired),
            _ => None,
        }
    }
}

/// One request in line.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Its id (32 hex digits).
    pub id: EntryId,
    /// Who waits.
    pub owner: Owner,
    /// The model's exact name.
    pub model: String,
    /// How many devices.
    pub count: u32,
    /// When.
    pub interval: Interval,
    /// When it joined (its place in line).
    pub created_at: DateTime<Utc>,
    /// Waiting, offered, booked or expired.
    pub status: EntryStatus,
    /// The offer's hold, when offered.
    pub hold: Option<HoldId>,
}
