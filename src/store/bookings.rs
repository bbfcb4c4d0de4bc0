//! The booking store: inventory and bookings, with the no-overlap rule enforced by the
//! database itself so that it holds across every server instance.

use crate::domain::{Booking, BookingId, Device, Interval, Inventory, Owner};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// What a booking store can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such model in the inventory.
    #[error("unknown GPU model `{0}`")]
    UnknownModel(String),
    /// Too few devices free for the whole interval.
    #[error("only {free} of {total} {model} GPUs are free for that whole period")]
    InsufficientCapacity {
        /// The model.
        model: String,
        /// Devices free for the whole interval.
        free: u32,
        /// All devices of the model.
        total: u32,
    },
    /// No such booking for this owner.
    #[error("booking not found")]
    BookingNotFound,
    /// Import data broke a rule; the message names the record and field.
    #[error("{0}")]
    Invalid(String),
    /// The store did not answer within its timeout.
    #[error("the {0} store did not answer in time")]
    Timeout(&'static str),
    /// Anything else from the database.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// A booking to make: devices are chosen by the store, inside its transaction.
#[derive(Debug, Clone)]
pub struct NewBooking {
    /// Who books.
    pub owner: Owner,
    /// The model's exact name.
    pub model: String,
    /// How many devices.
    pub count: u32,
    /// When.
    pub interval: Interval,
    /// Creation time.
    pub now: DateTime<Utc>,
}

/// A confirmed booking as seen by availability: when and which devices.
#[derive(Debug, Clone)]
pub struct Busy {
    /// When.
    pub interval: Interval,
    /// Which devices.
    pub gpus: Vec<Device>,
}

/// Persistence of inventory and bookings.
#[async_trait]
pub trait BookingStore: Send + Sync {
    /// The current inventory (the sample one until another is imported).
    async fn inventory(&self) -> Result<Arc<Inventory>, StoreError>;
    /// Reserves devices atomically; fails with `InsufficientCapacity` when too few are free.
    async fn create(&self, new: NewBooking) -> Result<Booking, StoreError>;
    /// Cancels one of `owner`'s confirmed bookings (a cancelled one is returned as it is).
    async fn cancel(&self, owner: &Owner, id: &BookingId) -> Result<Booking, StoreError>;
    /// `owner`'s bookings, newest first.
    async fn list(&self, owner: &Owner) -> Result<Vec<Booking>, StoreError>;
    /// Confirmed bookings of `model` that overlap `window`.
    async fn busy(&self, model: &str, window: &Interval) -> Result<Vec<Busy>, StoreError>;
    /// Every booking, oldest first (for export).
    async fn all(&self) -> Result<Vec<Booking>, StoreError>;
    /// Replaces the inventory and/or the bookings in one transaction, after checking that
    /// they agree (every booking's devices exist and belong to its model; no overlap).
    async fn import(
        &self,
        inventory: Option<Inventory>,
        bookings: Option<Vec<Booking>>,
    ) -> Result<(), StoreError>;
    /// A cheap round trip, for readiness.
    async fn ping(&self) -> Result<(), StoreError>;
}
