//! The booking store: inventory and bookings, with the no-overlap rule enforced by the
//! database itself so that it holds across every server instance.

use crate::domain::hold::{Hold, HoldId, HoldRules};
use crate::domain::maintenance::{Affected, Maintenance, MaintenanceId};
use crate::domain::series::{OnConflict, SeriesId};
use crate::domain::waitlist::{Entry, EntryId};
use crate::domain::{
    Booking, BookingId, Cents, Device, Interval, Inventory, Owner, Project, ProjectName,
};
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
    /// A change of a cancelled booking.
    #[error("the booking is cancelled and cannot change")]
    BookingCancelled,
    /// A change refused by the rules (e.g. `booking_started`); `code` is the API code.
    #[error("{message}")]
    Rejected {
        /// snake_case code.
        code: &'static str,
        /// What to fix.
        message: String,
    },
    /// The result would break one of the owner's quotas (`409 quota_exceeded`).
    #[error(transparent)]
    Quota(#[from] crate::domain::quota::QuotaExceeded),
    /// The price would take the project's budget below zero (`409 budget_exceeded`).
    #[error(
        "that costs {price_total}, and the project has {remaining} left of its budget of {budget}"
    )]
    Budget {
        /// The project's budget.
        budget: Cents,
        /// What is left of it before this booking.
        remaining: Cents,
        /// This booking's price.
        price_total: Cents,
    },
    /// A hold that is not there, expired, or one too many.
    #[error(transparent)]
    Hold(#[from] crate::domain::hold::HoldError),
    /// One occurrence of a series could not be booked, so none was (`on_conflict: fail`).
    #[error("occurrence {} (starting {}): {source}", .index + 1, .start.to_rfc3339())]
    Occurrence {
        /// Its place in the series, from 0.
        index: usize,
        /// When it starts.
        start: DateTime<Utc>,
        /// Why it could not be booked.
        source: Box<StoreError>,
    },
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
    /// The chat proposal it confirms: a second booking of the same proposal returns the
    /// first one instead (unique in the database).
    pub proposal: Option<ProposalKey>,
    /// Where the request came from, for the event.
    pub origin: Origin,
    /// The owner's quotas, checked under the owner's lock (`None`: not checked, as for
    /// imports of what was already booked).
    pub quotas: Option<crate::domain::quota::Quotas>,
    /// The project's budget, checked under the project's lock (`None`: none).
    pub budget: Option<Cents>,
    /// The project it is booked for (the owner's), whose money it counts in.
    pub project: ProjectName,
}

/// The chat proposal a booking comes from: the session and the proposal's id in it. A
/// proposal is booked at most once, whatever happens to the turn that confirms it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ProposalKey {
    /// The chat session.
    pub session: String,
    /// The proposal's id within the session (e.g. a random id made when it was proposed).
    pub id: String,
}

/// Which channel made a change (API.md "Booking history").
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// The REST API.
    Api,
    /// The built-in chat assistant.
    Chat,
    /// The LLM backend.
    Llm,
    /// An admin route or command.
    Admin,
    /// `hpcbot import`.
    Import,
}

impl Via {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Api => "api",
            Via::Chat => "chat",
            Via::Llm => "llm",
            Via::Admin => "admin",
            Via::Import => "import",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "api" => Via::Api,
            "chat" => Via::Chat,
            "llm" => Via::Llm,
            "admin" => Via::Admin,
            "import" => Via::Import,
            _ => return None,
        })
    }
}

/// Who asked for a change: the channel and the request id (`x-request-id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The channel.
    pub via: Via,
    /// The request's id ("" outside a request).
    pub request_id: String,
}

impl Origin {
    /// `via` with the current request's id (from the in-flight registry's task-local).
    pub fn current(via: Via) -> Self {
        Self {
            via,
            request_id: crate::ops::current()
                .map(|e| e.request_id.clone())
                .unwrap_or_default(),
        }
    }
}

/// A change of a booking (PATCH): each part `None` stays as it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BookingChange {
    /// New start.
    pub start: Option<DateTime<Utc>>,
    /// New end.
    pub end: Option<DateTime<Utc>>,
    /// New number of devices.
    pub count: Option<u32>,
}

/// What an event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// Made (or imported).
    Created,
    /// Changed in place.
    Changed,
    /// Cancelled.
    Cancelled,
}

impl EventKind {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Created => "created",
            EventKind::Changed => "changed",
            EventKind::Cancelled => "cancelled",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "created" => EventKind::Created,
            "changed" => EventKind::Changed,
            "cancelled" => EventKind::Cancelled,
            _ => return None,
        })
    }
}

/// One entry of a booking's history.
#[derive(Debug, Clone, PartialEq)]
pub struct BookingEvent {
    /// When.
    pub at: DateTime<Utc>,
    /// What.
    pub kind: EventKind,
    /// Through which channel.
    pub via: Via,
    /// The request's `x-request-id`.
    pub request_id: String,
    /// The booking as it was after the event.
    pub booking: Booking,
}

/// The rules a change is checked against, at `now`.
#[derive(Debug, Clone)]
pub struct ChangeRules {
    /// The chat proposal the change carries out: carried out at most once (a repeat returns
    /// the booking as it is).
    pub proposal: Option<ProposalKey>,
    /// "Now".
    pub now: DateTime<Utc>,
    /// The limits of `POST`.
    pub limits: crate::domain::booking::BookingLimits,
    /// Write nothing; answer what the change would give.
    pub dry_run: bool,
}

/// A confirmed booking as seen by availability: when and which devices.
#[derive(Debug, Clone)]
pub struct Busy {
    /// When.
    pub interval: Interval,
    /// Which devices.
    pub gpus: Vec<Device>,
}

/// A series as booked.
#[derive(Debug, Clone)]
pub struct SeriesMade {
    /// Its id (on each of its bookings).
    pub id: SeriesId,
    /// The occurrences booked, in order.
    pub bookings: Vec<Booking>,
    /// The occurrences not booked (`OnConflict::Skip`), in order.
    pub skipped: Vec<Skipped>,
}

/// An occurrence of a series that was not booked, and why.
#[derive(Debug, Clone)]
pub struct Skipped {
    /// When it would have been.
    pub interval: Interval,
    /// The error code a single booking would have had (`insufficient_capacity`, ...).
    pub code: &'static str,
    /// What the error says.
    pub message: String,
}

/// Persistence of inventory and bookings.
#[async_trait]
pub trait BookingStore: Send + Sync {
    /// The current inventory (the sample one until another is imported).
    async fn inventory(&self) -> Result<Arc<Inventory>, StoreError>;
    /// Reserves devices atomically; fails with `InsufficientCapacity` when too few are free.
    async fn create(&self, new: NewBooking) -> Result<Booking, StoreError>;
    /// Cancels one of `owner`'s confirmed bookings (a cancelled one is returned as it is,
    /// with no event).
    async fn cancel(
        &self,
        owner: &Owner,
        id: &BookingId,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> Result<Booking, StoreError>;
    /// Changes one of `owner`'s bookings in place, in one transaction (API.md "Changing a
    /// booking"): its own devices count as free for it, and it keeps those that stay free.
    /// With `dry_run` nothing is written: the result is what the change would give now.
    async fn change(
        &self,
        owner: &Owner,
        id: &BookingId,
        change: &BookingChange,
        rules: &ChangeRules,
        origin: &Origin,
    ) -> Result<Booking, StoreError>;
    /// The booking made from `proposal`, if any.
    async fn by_proposal(&self, proposal: &ProposalKey) -> Result<Option<Booking>, StoreError>;
    /// A booking's history, oldest first (empty for an unknown id).
    async fn events(&self, id: &BookingId) -> Result<Vec<BookingEvent>, StoreError>;
    /// Every event of every booking, oldest first (for export).
    async fn all_events(&self) -> Result<Vec<BookingEvent>, StoreError>;
    /// `owner`'s bookings, newest first.
    async fn list(&self, owner: &Owner) -> Result<Vec<Booking>, StoreError>;
    /// Confirmed bookings and holds live at `now` of `model` that overlap `window`.
    async fn busy(
        &self,
        model: &str,
        window: &Interval,
        now: DateTime<Utc>,
    ) -> Result<Vec<Busy>, StoreError>;
    /// Confirmed bookings of `model` that end after `after` (with their intervals), read
    /// again only when a change of the model's bookings committed since the last read (the
    /// model's `lock_version`), and holds live at `now`: for slot searches over long windows.
    async fn busy_after(
        &self,
        model: &str,
        after: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Arc<Vec<(Interval, Busy)>>, StoreError>;
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
    /// The money of `project`'s confirmed bookings at `now` (API.md "Budget"): `committed`,
    /// the price of those not yet ended, and `spent`, of those that ended.
    async fn money(
        &self,
        project: &ProjectName,
        now: DateTime<Utc>,
    ) -> Result<(Cents, Cents), StoreError>;
    /// `project`'s running total of confirmed prices (committed + spent), one row read.
    async fn confirmed_total(&self, project: &ProjectName) -> Result<Cents, StoreError>;
    /// The project `owner` books for and its values: a user's project, else `default`.
    async fn project_of(&self, owner: &Owner) -> Result<Project, StoreError>;
    /// Holds devices for `new.owner` until `new.now + rules.ttl` (API.md "Holds"), checked
    /// as a booking is (capacity, quotas, budget) and bounded per owner.
    async fn hold(&self, new: NewBooking, rules: HoldRules) -> Result<Hold, StoreError>;
    /// Books `owner`'s live hold on its devices: it cannot fail for capacity. A hold
    /// confirmed before returns its booking again (`false`: nothing new was booked).
    async fn confirm_hold(
        &self,
        owner: &Owner,
        id: &HoldId,
        origin: &Origin,
        now: DateTime<Utc>,
        quotas: Option<crate::domain::quota::Quotas>,
        budget: Option<Cents>,
    ) -> Result<(Booking, bool), StoreError>;
    /// Gives back `owner`'s hold (as it is if it was not held any more).
    async fn release_hold(
        &self,
        owner: &Owner,
        id: &HoldId,
        now: DateTime<Utc>,
    ) -> Result<Hold, StoreError>;
    /// Puts a request that does not fit in line (API.md "Waitlist"); offered at once if it
    /// fits now.
    async fn join_waitlist(&self, new: NewBooking) -> Result<Entry, StoreError>;
    /// `owner`'s notices of the types `kinds` made after notice `after`, oldest first, at
    /// most [`super::webhooks::NOTICES_PER_READ`] (what a chat tells on the person's next
    /// turn, and the page's News).
    async fn notices(
        &self,
        owner: &Owner,
        kinds: &[crate::domain::webhook::EventType],
        after: i64,
    ) -> Result<Vec<super::webhooks::OwnerNotice>, StoreError>;
    /// `owner`'s entries, oldest first, each with its place in line (waiting or offered).
    /// Reads only (offers are made by `refresh_waitlist` and the writes that free GPUs).
    async fn waitlist(&self, owner: &Owner) -> Result<Vec<(Entry, Option<u32>)>, StoreError>;
    /// Takes `owner`'s entry out of line, giving back its offer; `false`: no such entry.
    async fn leave_waitlist(
        &self,
        owner: &Owner,
        id: &EntryId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Forgets holds that expired or were given back before `before` (no offer refers to
    /// them any more); confirmed ones are kept (a repeated confirm answers from them).
    async fn sweep_holds(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Offers what has freed by time alone (expired holds and offers); the offers made.
    async fn refresh_waitlist(&self, now: DateTime<Utc>) -> Result<u32, StoreError>;
    /// `owner`'s hold `id`, in whatever state.
    async fn hold_of(&self, owner: &Owner, id: &HoldId) -> Result<Hold, StoreError>;
    /// `owner`'s holds live at `now`, oldest first.
    async fn holds(&self, owner: &Owner, now: DateTime<Utc>) -> Result<Vec<Hold>, StoreError>;
    /// Books `occurrences` of `new` as one series in one transaction (API.md "Recurring
    /// bookings"): all or none with `OnConflict::Fail` (`StoreError::Occurrence` names the
    /// first that does not fit), else those that fit, the others listed as skipped.
    async fn create_series(
        &self,
        new: NewBooking,
        occurrences: &[Interval],
        on_conflict: OnConflict,
    ) -> Result<SeriesMade, StoreError>;
    /// Takes `gpus` out of service over `interval` (API.md "Maintenance") in one
    /// transaction: each confirmed booking overlapping it on them is moved to other free
    /// devices of its model, or cancelled with its price released.
    async fn add_maintenance(
        &self,
        gpus: Vec<Device>,
        interval: Interval,
        reason: String,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> Result<(Maintenance, Affected), StoreError>;
    /// The maintenance windows not ended by `now`, by start.
    async fn maintenance(&self, now: DateTime<Utc>) -> Result<Vec<Maintenance>, StoreError>;
    /// Ends a window: its devices are free again (`false`: no such window).
    async fn remove_maintenance(
        &self,
        id: &MaintenanceId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Cancels every occurrence of `owner`'s series not yet ended; every occurrence as it
    /// is now, by start.
    async fn cancel_series(
        &self,
        owner: &Owner,
        id: &SeriesId,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> Result<Vec<Booking>, StoreError>;
}
