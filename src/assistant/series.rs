//! Recurring bookings as the tools offer them (API.md "Recurring bookings"): every
//! occurrence checked as one booking is, then booked by the store in one transaction.

use super::tools::{ToolError, Tools};
use crate::domain::booking::check_request;
use crate::domain::series::{OnConflict, Repeat, SeriesId};
use crate::domain::{Booking, Interval, Owner};
use crate::store::bookings::{Origin, SeriesMade};

impl Tools {
    /// Books `repeat.times()` occurrences of `count` GPUs of `model`, the first over
    /// `first`, for `caller`.
    pub async fn book_series(
        &self,
        caller: &Owner,
        model: &str,
        count: i64,
        first: Interval,
        repeat: Repeat,
        on_conflict: OnConflict,
    ) -> Result<SeriesMade, ToolError> {
        let new = self.new_booking(caller, model, count, first).await?;
        let occurrences = repeat.occurrences(new.interval);
        // The last occurrence must be bookable as much as the first (how far ahead).
        if let Some(last) = occurrences.last() {
            check_request(count, last, self.clock().now(), self.limits())?;
        }
        Ok(self
            .store()
            .create_series(new, &occurrences, on_conflict)
            .await?)
    }

    /// Cancels every occurrence of the caller's series not yet ended.
    pub async fn cancel_series(&self, caller: &Owner, id: &str) -> Result<Vec<Booking>, ToolError> {
        let id = SeriesId::parse(id).map_err(|_| ToolError::BookingNotFound(id.to_string()))?;
        Ok(self
            .store()
            .cancel_series(caller, &id, &Origin::current(self.via()), self.now_ms())
            .await?)
    }
}
