//! Holds in the SQL store (API.md "Holds"): rows of `holds` and `hold_devices`, made and
//! confirmed under the same locks as bookings (the owner's, then the model's, the project's
//! last), so a held device is never booked by anyone else and a confirmation cannot fail for
//! capacity. A hold is live while `state = 'held'` and `expires_at` (milliseconds) is after
//! now: every read compares, nothing has to run when one expires.

use super::{
    booking_tx, check_quotas, commit_price, fold_devices, insert_booking, interval_of, lock_model,
    lock_owner, millis, record_change, Charge, SqlStore,
};
use crate::domain::booking::price;
use crate::domain::hold::{Hold, HoldError, HoldId, HoldRules, HoldState};
use crate::domain::quota::Quotas;
use crate::domain::{Booking, BookingId, Cents, Device, Interval, Owner};
use crate::store::bookings::{BookingStore, Busy, EventKind, NewBooking, Origin, StoreError};
use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::Row;

/// The columns [`rows_to_holds`] reads, one row per device.
const HOLD_COLUMNS: &str = "SELECT h.id, h.owner, h.model, h.start_at, h.end_at, h.price_cents, \
     h.expires_at, h.created_at, h.state, h.booking_id, h.project, d.device FROM holds h \
     JOIN hold_devices d ON d.hold_id = h.id";

/// Folds joined rows (grouped by hold, devices in order) into holds.
fn rows_to_holds(rows: Vec<AnyRow>) -> Result<Vec<Hold>, StoreError> {
    fold_devices(rows, hold_of_row, |h| &mut h.gpus)
}

/// A hold from its first row and device.
fn hold_of_row(r: &AnyRow, device: Device) -> Result<Hold, StoreError> {
    let bad = |e: crate::domain::ids::InvalidId| StoreError::Invalid(e.to_string());
    let state = match r.try_get::<String, _>("state")?.as_str() {
        "held" => HoldState::Held,
        "released" => HoldState::Released,
        "confirmed" => HoldState::Confirmed(
            BookingId::parse(&r.try_get::<String, _>("booking_id")?).map_err(bad)?,
        ),
        other => {
            return Err(StoreError::Invalid(format!(
                "bad stored hold state {other}"
            )))
        }
    };
    Ok(Hold {
        id: HoldId::parse(&r.try_get::<String, _>("id")?).map_err(bad)?,
        owner: Owner::from_stored(r.try_get("owner")?),
        model: r.try_get("model")?,
        gpus: vec![device],
        interval: interval_of(r)?,
        price_total: Cents(r.try_get("price_cents")?),
        expires_at: millis(r.try_get("expires_at")?)?,
        created_at: millis(r.try_get("created_at")?)?,
        state,
        project: crate::domain::ProjectName::from_stored(r.try_get("project")?),
    })
}

/// One hold of `owner`, read inside a transaction.
async fn hold_tx(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    owner: &Owner,
    id: &HoldId,
) -> Result<Hold, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{HOLD_COLUMNS} WHERE h.id = $1 AND h.owner = $2 ORDER BY d.position"
    )))
    .bind(id.to_string())
    .bind(owner.as_str().to_string())
    .fetch_all(&mut **tx)
    .await?;
    rows_to_holds(rows)?
        .into_iter()
        .next()
        .ok_or(StoreError::Hold(HoldError::NotFound))
}

impl SqlStore {
    /// Holds `new.count` devices of `new.model` for `new.owner` until `new.now + rules.ttl`,
    /// checked as a booking is (capacity, quotas, budget), and bounded per owner.
    pub(super) async fn make_hold(
        &self,
        new: NewBooking,
        rules: HoldRules,
    ) -> Result<Hold, StoreError> {
        let inventory = self.inventory().await?;
        let model = inventory
            .models()
            .iter()
            .find(|m| m.name == new.model)
            .ok_or_else(|| StoreError::UnknownModel(new.model.clone()))?
            .clone();
        self.bounded(async {
            let mut tx = self.begin_write().await?;
            lock_owner(&mut tx, &new.owner).await?;
            lock_model(&mut tx, &model.name).await?;
            let live: i64 = sqlx::query(
                "SELECT COUNT(*) FROM holds WHERE owner = $1 AND state = 'held' AND expires_at > $2",
            )
            .bind(new.owner.as_str().to_string())
            .bind(new.now.timestamp_millis())
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
            if live >= rules.max_per_owner as i64 {
                return Err(StoreError::Hold(HoldError::TooMany(rules.max_per_owner)));
            }
            let gpus =
                super::free_devices_tx(&mut tx, &model, &new.interval, new.count, new.now).await?;
            if let Some(q) = &new.quotas {
                check_quotas(&mut tx, q, &new.owner, &new.interval, new.count, None, new.now)
                    .await?;
            }
            let hold = Hold {
                id: HoldId::new(),
                owner: new.owner.clone(),
                model: model.name.clone(),
                gpus,
                interval: new.interval,
                price_total: price(model.price_per_hour, new.count, &new.interval),
                expires_at: new.now + rules.ttl,
                created_at: new.now,
                state: HoldState::Held,
                project: new.project.clone(),
            };
            insert_hold(&mut tx, &hold).await?;
            // Last: the project's row, so the budget sees every hold and booking before it.
            let charge = Charge {
                price_in_total: false,
                except_hold: Some(hold.id.as_str()),
                ..Charge::booking(&hold.project, 0, hold.price_total, new.budget, new.now)
            };
            commit_price(&mut tx, charge).await?;
            tx.commit().await?;
            Ok(hold)
        })
        .await
    }

    /// Books `owner`'s live hold `id` on its devices; a hold confirmed before returns its
    /// booking again (`false`: nothing new was booked).
    pub(super) async fn confirm(
        &self,
        owner: &Owner,
        id: &HoldId,
        origin: &Origin,
        now: DateTime<Utc>,
        quotas: Option<Quotas>,
        budget: Option<Cents>,
    ) -> Result<(Booking, bool), StoreError> {
        self.bounded(async {
            let mut tx = self.begin_write().await?;
            let found = hold_tx(&mut tx, owner, id).await?;
            lock_owner(&mut tx, owner).await?;
            lock_model(&mut tx, &found.model).await?;
            // Read again under the locks: the hold as every other write sees it.
            let hold = hold_tx(&mut tx, owner, id).await?;
            match &hold.state {
                HoldState::Confirmed(b) => {
                    let booking = booking_tx(&mut tx, b)
                        .await?
                        .ok_or(StoreError::BookingNotFound)?;
                    tx.commit().await?;
                    return Ok((booking, false));
                }
                HoldState::Released => return Err(StoreError::Hold(HoldError::Released)),
                HoldState::Held if !hold.is_live(now) => {
                    return Err(StoreError::Hold(HoldError::Expired(hold.expires_at)))
                }
                HoldState::Held => {}
            }
            // Checked when it was made and counted since; checked again without notice (its
            // start was fine when held) in case a limit was lowered meanwhile.
            if let Some(q) = quotas {
                let q = Quotas {
                    min_notice: chrono::Duration::zero(),
                    ..q
                };
                let except = Some(hold.id.as_str());
                check_quotas(
                    &mut tx,
                    &q,
                    owner,
                    &hold.interval,
                    hold.count(),
                    except,
                    now,
                )
                .await?;
            }
            let booking = hold.to_booking(now);
            insert_booking(&mut tx, &booking).await?;
            sqlx::query("UPDATE holds SET state = 'confirmed', booking_id = $1 WHERE id = $2")
                .bind(booking.id.to_string())
                .bind(hold.id.to_string())
                .execute(&mut *tx)
                .await?;
            let charge = Charge {
                except_hold: Some(hold.id.as_str()),
                ..Charge::booking(
                    &hold.project,
                    booking.price_total.0,
                    booking.price_total,
                    budget,
                    now,
                )
            };
            commit_price(&mut tx, charge).await?;
            let ticket = record_change(
                &mut tx,
                self.dialect,
                EventKind::Created,
                &booking,
                origin,
                now,
                None,
            )
            .await?;
            tx.commit().await?;
            if let Some(t) = ticket {
                t.mark_completed();
            }
            Ok((booking, true))
        })
        .await
    }

    /// Gives back `owner`'s hold `id` (nothing to do for one that expired or was released;
    /// a confirmed one is a booking now, cancelled as one).
    pub(super) async fn release(
        &self,
        owner: &Owner,
        id: &HoldId,
        now: DateTime<Utc>,
    ) -> Result<Hold, StoreError> {
        let inventory = self.inventory().await?;
        self.bounded(async {
            let mut tx = self.begin_write().await?;
            let mut hold = hold_tx(&mut tx, owner, id).await?;
            if hold.state == HoldState::Held {
                lock_model(&mut tx, &hold.model).await?;
                sqlx::query("UPDATE holds SET state = 'released' WHERE id = $1")
                    .bind(id.to_string())
                    .execute(&mut *tx)
                    .await?;
                hold.state = HoldState::Released;
                // What it held goes to the waitlist.
                if let Some(m) = inventory.find(&hold.model) {
                    super::waitlist::offer_in(&mut tx, m, now, self.waitlist_hold()).await?;
                }
            }
            tx.commit().await?;
            Ok(hold)
        })
        .await
    }

    /// `owner`'s hold `id`, in whatever state.
    pub(super) async fn hold_of(&self, owner: &Owner, id: &HoldId) -> Result<Hold, StoreError> {
        self.bounded(async {
            let mut tx = self.pool.begin().await?;
            let hold = hold_tx(&mut tx, owner, id).await;
            tx.rollback().await?;
            hold
        })
        .await
    }

    /// `owner`'s holds live at `now`, oldest first.
    pub(super) async fn live_holds(
        &self,
        owner: &Owner,
        now: DateTime<Utc>,
    ) -> Result<Vec<Hold>, StoreError> {
        self.bounded(async {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "{HOLD_COLUMNS} WHERE h.owner = $1 AND h.state = 'held' AND h.expires_at > $2 \
                 ORDER BY h.created_at, h.id, d.position"
            )))
            .bind(owner.as_str().to_string())
            .bind(now.timestamp_millis())
            .fetch_all(&self.pool)
            .await?;
            rows_to_holds(rows)
        })
        .await
    }

    /// Live holds of `model` that end after `from` (Unix seconds), as busy intervals.
    pub(super) async fn held_from(
        &self,
        model: &str,
        from: i64,
        now: DateTime<Utc>,
    ) -> Result<Vec<(Interval, Busy)>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{HOLD_COLUMNS} WHERE h.model = $1 AND h.state = 'held' AND h.expires_at > $2 \
             AND h.end_at > $3 ORDER BY h.id, d.position"
        )))
        .bind(model.to_string())
        .bind(now.timestamp_millis())
        .bind(from)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows_to_holds(rows)?
            .into_iter()
            .map(|h| {
                let busy = Busy {
                    interval: h.interval,
                    gpus: h.gpus,
                };
                (h.interval, busy)
            })
            .collect())
    }
}

pub(super) async fn insert_hold(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    h: &Hold,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO holds (id, owner, model, count, start_at, end_at, price_cents, expires_at, \
         created_at, state, project) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'held', $10)",
    )
    .bind(h.id.to_string())
    .bind(h.owner.as_str().to_string())
    .bind(h.model.clone())
    .bind(h.count() as i64)
    .bind(h.interval.start().timestamp())
    .bind(h.interval.end().timestamp())
    .bind(h.price_total.0)
    .bind(h.expires_at.timestamp_millis())
    .bind(h.created_at.timestamp_millis())
    .bind(h.project.as_str().to_string())
    .execute(&mut **tx)
    .await?;
    for (pos, d) in h.gpus.iter().enumerate() {
        sqlx::query("INSERT INTO hold_devices (hold_id, device, position) VALUES ($1, $2, $3)")
            .bind(h.id.to_string())
            .bind(d.to_string())
            .bind(pos as i64)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

impl SqlStore {
    /// See [`BookingStore::sweep_holds`].
    pub(super) async fn forget_holds(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        const GONE: &str = "SELECT id FROM holds WHERE state IN ('held', 'released') \
             AND expires_at < $1 AND id NOT IN \
             (SELECT hold_id FROM waitlist WHERE hold_id IS NOT NULL)";
        self.bounded(async {
            let mut tx = self.begin_write().await?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM hold_devices WHERE hold_id IN ({GONE})"
            )))
            .bind(before.timestamp_millis())
            .execute(&mut *tx)
            .await?;
            let n = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM holds WHERE id IN ({GONE})"
            )))
            .bind(before.timestamp_millis())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            Ok(n)
        })
        .await
    }
}
