//! Pure types and rules of the booking domain: no I/O, no async.

pub mod booking;
pub mod clock;
pub mod gpu;
pub mod hold;
pub mod ids;
pub mod maintenance;
pub mod money;
pub mod project;
pub mod quota;
pub mod series;
pub mod slots;
pub mod usage;
pub mod waitlist;
pub mod webhook;

pub use booking::{Booking, BookingStatus, Interval};
pub use clock::Clock;
pub use gpu::{Device, GpuModel, Inventory};
pub use ids::{BookingId, Owner, SessionId};
pub use money::Cents;
pub use project::{Project, ProjectName};
