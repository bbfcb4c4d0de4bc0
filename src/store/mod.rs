//! Persistence behind small traits; each backend is one file.

pub mod bookings;
pub mod feeds;
pub mod idempotency;
pub mod lease_loader;
pub mod memory;
pub mod projects;
pub mod redis;
pub mod session_cache;
pub mod sessions;
pub mod sql;
pub mod sql_sessions;
pub mod turn_writer;
pub mod users;
pub mod webhooks;

pub use bookings::{BookingStore, NewBooking, StoreError};
pub use sessions::{SessionRecord, SessionStore};
