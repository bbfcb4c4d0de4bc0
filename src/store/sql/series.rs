//! Recurring bookings in the SQL store (API.md "Recurring bookings"): every occurrence is
//! booked in one transaction under the owner's and the model's locks, each checked as a
//! booking is (capacity, quotas counting the earlier occurrences, the budget counting
//! their prices), so a series is all or none (`fail`), or exactly the occurrences that fit
//! (`skip`), on any number of instances.

use super::{
    bind_reply, check_quotas, commit_price, free_devices_tx, insert_booking, insert_event,
    lock_model, lock_owner, reply_update, Charge, SqlStore,
};
use crate::domain::booking::price;
use crate::domain::series::{OnConflict, SeriesId};
use crate::domain::{Booking, BookingId, BookingStatus, Interval, Owner};
use crate::store::bookings::{
    BookingStore, EventKind, NewBooking, Origin, SeriesMade, Skipped, StoreError,
};
use chrono::{DateTime, Utc};
use sqlx::Row;

/// Whether `e` is an occurrence's own reason not to be booked (skipped with `skip`), not a
/// failure of the whole request.
fn skippable(e: &StoreError) -> Option<&'static str> {
    match e {
        StoreError::InsufficientCapacity { .. } => Some("insufficient_capacity"),
        StoreError::Quota(_) => Some("quota_exceeded"),
        StoreError::Budget { .. } => Some("budget_exceeded"),
        _ => None,
    }
}

impl SqlStore {
    /// Books `occurrences` of `new` as one series.
    pub(super) async fn make_series(
        &self,
        new: NewBooking,
        occurrences: &[Interval],
        on_conflict: OnConflict,
    ) -> Result<SeriesMade, StoreError> {
        let inventory = self.inventory().await?;
        let model = inventory
            .find(&new.model)
            .ok_or_else(|| StoreError::UnknownModel(new.model.clone()))?
            .clone();
        self.bounded(async {
            let mut tx = self.begin_write().await?;
            lock_owner(&mut tx, &new.owner).await?;
            lock_model(&mut tx, &model.name).await?;
            let series = SeriesId::new();
            let mut bookings = Vec::new();
            let mut skipped = Vec::new();
            for (index, interval) in occurrences.iter().enumerate() {
                // One occurrence, in a savepoint so that a skipped one leaves nothing.
                sqlx::query("SAVEPOINT occurrence")
                    .execute(&mut *tx)
                    .await?;
                let booked: Result<Booking, StoreError> = async {
                    let gpus =
                        free_devices_tx(&mut tx, &model, interval, new.count, new.now).await?;
                    if let Some(q) = &new.quotas {
                        check_quotas(&mut tx, q, &new.owner, interval, new.count, None, new.now)
                            .await?;
                    }
                    let booking = Booking {
                        id: BookingId::new(),
                        owner: new.owner.clone(),
                        model: model.name.clone(),
                        gpus,
                        interval: *interval,
                        price_total: price(model.price_per_hour, new.count, interval),
                        status: BookingStatus::Confirmed,
                        created_at: new.now,
                        series: Some(series.clone()),
                        project: new.project.clone(),
                    };
                    insert_booking(&mut tx, &booking).await?;
                    let charge = Charge::booking(
                        &booking.project,
                        booking.price_total.0,
                        booking.price_total,
                        new.budget,
                        new.now,
                    );
                    commit_price(&mut tx, charge).await?;
                    Ok(booking)
                }
                .await;
                match booked {
                    Ok(b) => {
                        sqlx::query("RELEASE SAVEPOINT occurrence")
                            .execute(&mut *tx)
                            .await?;
                        bookings.push(b);
                    }
                    Err(e) => match (on_conflict, skippable(&e)) {
                        (OnConflict::Skip, Some(code)) => {
                            sqlx::query("ROLLBACK TO SAVEPOINT occurrence")
                                .execute(&mut *tx)
                                .await?;
                            sqlx::query("RELEASE SAVEPOINT occurrence")
                                .execute(&mut *tx)
                                .await?;
                            skipped.push(Skipped {
                                interval: *interval,
                                code,
                                message: e.to_string(),
                            });
                        }
                        _ => {
                            return Err(StoreError::Occurrence {
                                index,
                                start: interval.start(),
                                source: Box::new(e),
                            })
                        }
                    },
                }
            }
            for b in &bookings {
                insert_event(&mut tx, EventKind::Created, b, &new.origin, new.now, None).await?;
            }
            let made = SeriesMade {
                id: series,
                bookings,
                skipped,
            };
            // With an Idempotency-Key, the series' reply is stored in its transaction: a
            // retry after a crash gets it again instead of booking again.
            let ticket = crate::store::idempotency::current();
            let reply = ticket
                .as_ref()
                .and_then(|t| t.reply_for(crate::store::idempotency::Made::Series(&made)));
            if let (Some(t), Some(reply)) = (&ticket, reply) {
                bind_reply(sqlx::query(sqlx::AssertSqlSafe(reply_update(0))), t, reply)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            if let Some(t) = ticket {
                t.mark_completed();
            }
            Ok(made)
        })
        .await
    }

    /// Cancels every occurrence of `owner`'s series `id` not yet ended (a started one is
    /// ended early), each as `DELETE /api/bookings/{id}` does; returns every occurrence as
    /// it is now, by start.
    pub(super) async fn end_series(
        &self,
        owner: &Owner,
        id: &SeriesId,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> Result<Vec<Booking>, StoreError> {
        let ids: Vec<String> =
            sqlx::query("SELECT id FROM bookings WHERE series_id = $1 AND owner = $2")
                .bind(id.to_string())
                .bind(owner.as_str().to_string())
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|r| r.try_get::<String, _>(0))
                .collect::<Result<_, _>>()?;
        if ids.is_empty() {
            return Err(StoreError::BookingNotFound);
        }
        for booking_id in ids {
            let bid =
                BookingId::parse(&booking_id).map_err(|e| StoreError::Invalid(e.to_string()))?;
            match self.cancel(owner, &bid, origin, now).await {
                // Ended already: nothing left to cancel.
                Ok(_)
                | Err(StoreError::Rejected {
                    code: "booking_ended",
                    ..
                }) => {}
                Err(e) => return Err(e),
            }
        }
        let mut out = self
            .bounded(self.bookings_where("WHERE b.series_id = $1", Some(id.as_str())))
            .await?;
        out.sort_by_key(|b| b.interval.start());
        Ok(out)
    }
}
