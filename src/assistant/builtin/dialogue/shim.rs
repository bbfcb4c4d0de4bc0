//! Stand-ins for the tools the bookings issue brings (proposal keys, changes in place),
//! until they land.

use crate::assistant::tools::{ToolError, Tools};
use crate::domain::{Booking, BookingId, Cents, Device, Interval, Owner};

/// The proposal a booking came from (recorded once the bookings issue's store lands).
#[allow(dead_code)]
pub struct ProposalKey {
    pub session: String,
    pub id: String,
}

#[async_trait::async_trait]
pub trait ToolsExt {
    async fn book_proposal(
        &self,
        caller: &Owner,
        model: &str,
        count: i64,
        interval: Interval,
        key: Option<&ProposalKey>,
    ) -> Result<Booking, ToolError>;
    async fn preview_change(
        &self,
        caller: &Owner,
        id: &BookingId,
        interval: &Interval,
        count: u32,
    ) -> Result<Option<(Vec<Device>, Cents)>, ToolError>;
    async fn change_booking(
        &self,
        caller: &Owner,
        id: &str,
        interval: Interval,
        count: u32,
    ) -> Result<Booking, ToolError>;
}

#[async_trait::async_trait]
impl ToolsExt for Tools {
    async fn book_proposal(
        &self,
        caller: &Owner,
        model: &str,
        count: i64,
        interval: Interval,
        _key: Option<&ProposalKey>,
    ) -> Result<Booking, ToolError> {
        self.book(caller, model, count, interval).await
    }

    async fn preview_change(
        &self,
        caller: &Owner,
        id: &BookingId,
        interval: &Interval,
        count: u32,
    ) -> Result<Option<(Vec<Device>, Cents)>, ToolError> {
        let mine = self.bookings(caller).await?;
        let Some(old) = mine.iter().find(|b| &b.id == id) else {
            return Err(ToolError::BookingNotFound(id.to_string()));
        };
        let inv = self.inventory().await?;
        let Some(m) = inv.find(&old.model) else {
            return Err(ToolError::UnknownModel(old.model.clone()));
        };
        let busy = self.busy(&m.name, interval).await?;
        let taken: std::collections::HashSet<Device> = busy
            .iter()
            .filter(|b| !(b.interval == old.interval && b.gpus == old.gpus))
            .flat_map(|b| b.gpus.iter().cloned())
            .collect();
        let gpus = crate::domain::booking::allocate(m, &taken, count);
        Ok(gpus.map(|g| {
            (
                g,
                crate::domain::booking::price(m.price_per_hour, count, interval),
            )
        }))
    }

    async fn change_booking(
        &self,
        caller: &Owner,
        id: &str,
        interval: Interval,
        count: u32,
    ) -> Result<Booking, ToolError> {
        let old = self.cancel(caller, id).await?;
        match self.book(caller, &old.model, count as i64, interval).await {
            Ok(b) => Ok(b),
            Err(e) => {
                let _ = self
                    .book(caller, &old.model, old.count() as i64, old.interval)
                    .await;
                Err(e)
            }
        }
    }
}
