//! Webhook endpoints and their deliveries (API.md "Notifications and calendars"), kept in
//! the booking database so that an event and its deliveries commit with the change they
//! report: a crash can lose neither. The delivery worker (`crate::notify`) takes due
//! deliveries by writing a lease, so instances sharing the database never send one attempt
//! twice at the same time.

use super::bookings::{BookingEvent, StoreError};
use crate::domain::webhook::{EventType, Webhook, WebhookId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// Most notices one read returns.
pub const NOTICES_PER_READ: i64 = 10;

/// A notice as its owner is told it.
#[derive(Debug, Clone)]
pub struct OwnerNotice {
    /// Its number (later notices have larger ones).
    pub seq: i64,
    /// Its type.
    pub kind: EventType,
    /// When it was made.
    pub at: DateTime<Utc>,
    /// Its fields (API.md's `data` less the booking).
    pub data: serde_json::Value,
    /// The booking as it was when the notice was made, if it concerns one.
    pub booking: Option<crate::domain::Booking>,
}

/// One event as delivered, read from the history or the notices.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    /// Stable across attempts and endpoints: `evt_b<seq>` (a booking_events row) or
    /// `evt_n<seq>` (a notice).
    pub id: String,
    /// Its type.
    pub kind: EventType,
    /// When it happened.
    pub created_at: DateTime<Utc>,
    /// The booking as it was then, if the event concerns one (with how it changed).
    pub booking: Option<BookingEvent>,
    /// What else the event carries (a notice's fields; `{}` for history events).
    pub data: serde_json::Map<String, serde_json::Value>,
}

/// A delivery the caller now holds the lease of.
#[derive(Debug, Clone)]
pub struct Due {
    /// The delivery row.
    pub delivery: i64,
    /// The endpoint.
    pub webhook: WebhookId,
    /// Its URL.
    pub url: String,
    /// Its signing secret.
    pub secret: String,
    /// This attempt's number (1 for the first).
    pub attempt: u32,
    /// When the delivery was made (with its event): retries stop `webhook_retry_for` after.
    pub created_at: DateTime<Utc>,
    /// What to send.
    pub event: StoredEvent,
}

/// How an attempt went.
#[derive(Debug, Clone)]
pub struct AttemptResult {
    /// The reply's status, if one came.
    pub status: Option<u16>,
    /// Why there was no 2xx (`None` after a 2xx).
    pub error: Option<String>,
}

/// What happens to a delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// It got a 2xx: done.
    Delivered,
    /// Try again at this time.
    RetryAt(DateTime<Utc>),
    /// `webhook_retry_for` is over: given up.
    GiveUp,
}

/// What a worker asks [`WebhookStore::settle`] for: up to `limit` due deliveries, each
/// leased until `now + lease`, and no more per endpoint than `per_endpoint` counting those
/// `in_flight`.
#[derive(Debug, Clone)]
pub struct Want<'a> {
    /// Now (the wall clock: leases and retry times are compared across instances).
    pub now: DateTime<Utc>,
    /// How long a delivery taken is kept from other workers.
    pub lease: std::time::Duration,
    /// The most to take (0: only record `done`).
    pub limit: u32,
    /// The most in flight to one endpoint.
    pub per_endpoint: u32,
    /// This worker's attempts in flight, per endpoint.
    pub in_flight: &'a std::collections::HashMap<WebhookId, u32>,
}

/// An attempt made, to record.
#[derive(Debug, Clone)]
pub struct Finished {
    /// What was sent.
    pub due: Due,
    /// How it went.
    pub result: AttemptResult,
    /// What happens next.
    pub next: Next,
}

/// One logged attempt (`GET /api/admin/webhooks/{id}/deliveries`).
#[derive(Debug, Clone)]
pub struct AttemptLog {
    /// The event sent.
    pub event_id: String,
    /// Its type.
    pub kind: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Its number for this event (1 for the first).
    pub attempt: u32,
    /// The reply's status, if one came.
    pub status: Option<u16>,
    /// Why it was not a 2xx.
    pub error: Option<String>,
}

/// Where webhooks live (the booking database).
#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Registers an endpoint; returns it and its secret.
    async fn add_webhook(
        &self,
        url: &str,
        events: &[EventType],
        now: DateTime<Utc>,
    ) -> Result<(Webhook, String), StoreError>;
    /// Every endpoint, oldest first.
    async fn webhooks(&self) -> Result<Vec<Webhook>, StoreError>;
    /// Removes an endpoint and what it had still to receive (`false`: no such endpoint).
    async fn remove_webhook(&self, id: &WebhookId) -> Result<bool, StoreError>;
    /// The endpoint's most recent attempts, newest first (`None`: no such endpoint).
    async fn attempts(
        &self,
        id: &WebhookId,
        limit: u32,
    ) -> Result<Option<Vec<AttemptLog>>, StoreError>;
    /// Records the attempts `done` (each logged, with what happens next), then takes what
    /// `want` asks for — in one write, so a busy worker costs the bookings one transaction
    /// per round, not two. Each delivery taken is the earliest undelivered of its subject
    /// for its endpoint, so one booking's events arrive in order.
    async fn settle(&self, done: &[Finished], want: &Want<'_>) -> Result<Vec<Due>, StoreError>;
    /// Deliveries not yet delivered or given up (the queue `/metrics` shows).
    async fn pending_deliveries(&self) -> Result<i64, StoreError>;
    /// Makes the `booking.starting` / `booking.ending` notices now due (once per booking and
    /// time, across instances); returns how many were made.
    async fn make_reminders(
        &self,
        now: DateTime<Utc>,
        before_start: chrono::Duration,
        before_end: chrono::Duration,
    ) -> Result<u32, StoreError>;
    /// Forgets finished deliveries and attempts older than `before`.
    async fn sweep_deliveries(&self, before: DateTime<Utc>) -> Result<(), StoreError>;
}
