//! Holds as the tools offer them (API.md "Holds"): every rule a booking follows, through
//! the store, which makes, confirms and expires them under the booking locks.

use super::tools::{ToolError, Tools};
use crate::domain::hold::{Hold, HoldError, HoldId};
use crate::domain::{Booking, Interval, Owner};
use crate::store::bookings::Origin;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A hold as clients see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HoldView {
    /// Hold id (32 hex digits).
    pub id: String,
    /// GPU model.
    pub model: String,
    /// Number of GPUs.
    pub count: u32,
    /// Start (inclusive).
    pub start: DateTime<Utc>,
    /// End (exclusive).
    pub end: DateTime<Utc>,
    /// The held devices, `node:index`.
    pub gpus: Vec<String>,
    /// What the booking will cost.
    #[schema(value_type = f64)]
    pub price_total: crate::domain::Cents,
    /// Until when the devices are kept.
    pub expires_at: DateTime<Utc>,
    /// `held`, `expired`, `confirmed` or `released`.
    pub status: &'static str,
    /// The booking made from it, once confirmed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub booking_id: Option<String>,
}

impl HoldView {
    /// `h` as seen at `now`.
    pub fn of(h: &Hold, now: DateTime<Utc>) -> Self {
        use crate::domain::hold::HoldState;
        let (status, booking_id) = match &h.state {
            HoldState::Held if h.is_live(now) => ("held", None),
            HoldState::Held => ("expired", None),
            HoldState::Confirmed(b) => ("confirmed", Some(b.to_string())),
            HoldState::Released => ("released", None),
        };
        Self {
            id: h.id.to_string(),
            model: h.model.clone(),
            count: h.count(),
            start: h.interval.start(),
            end: h.interval.end(),
            gpus: h.gpus.iter().map(|d| d.to_string()).collect(),
            price_total: h.price_total,
            expires_at: h.expires_at,
            status,
            booking_id,
        }
    }
}

fn hold_id(id: &str) -> Result<HoldId, ToolError> {
    HoldId::parse(id).map_err(|_| ToolError::Hold(HoldError::NotFound))
}

impl Tools {
    /// Holds `count` GPUs of `model` over `interval` for `caller` for the `hold_ttl`.
    pub async fn hold(
        &self,
        caller: &Owner,
        model: &str,
        count: i64,
        interval: Interval,
    ) -> Result<Hold, ToolError> {
        let new = self.new_booking(caller, model, count, interval).await?;
        Ok(self.store().hold(new, self.limits().holds).await?)
    }

    /// Books the caller's live hold `id`; `false` when it was booked before (the same
    /// booking is returned, nothing new is booked).
    pub async fn confirm_hold(
        &self,
        caller: &Owner,
        id: &str,
    ) -> Result<(Booking, bool), ToolError> {
        let id = hold_id(id)?;
        let limits = self.standing(caller).await?.limits;
        let made = self
            .store()
            .confirm_hold(
                caller,
                &id,
                &Origin::current(self.via()),
                self.now_ms(),
                Some(limits.quotas),
                limits.budget,
            )
            .await?;
        if made.1 {
            metrics::counter!("hpcbot_bookings_total", "outcome" => "created").increment(1);
        }
        Ok(made)
    }

    /// Gives back the caller's hold `id`.
    pub async fn release_hold(&self, caller: &Owner, id: &str) -> Result<Hold, ToolError> {
        Ok(self
            .store()
            .release_hold(caller, &hold_id(id)?, self.now_ms())
            .await?)
    }

    /// The caller's hold `id`, in whatever state.
    pub async fn hold_of(&self, caller: &Owner, id: &str) -> Result<Hold, ToolError> {
        Ok(self.store().hold_of(caller, &hold_id(id)?).await?)
    }

    /// The caller's live holds, oldest first.
    pub async fn holds(&self, caller: &Owner) -> Result<Vec<Hold>, ToolError> {
        Ok(self.store().holds(caller, self.clock().now()).await?)
    }
}
