//! Maintenance windows in the SQL store (API.md "Maintenance"): rows of `maintenance` and
//! `maintenance_devices`, which every busy-device query reads beside bookings and holds.
//! A window is made in one transaction under the locks of every model it touches: the
//! devices become unavailable, live holds on them are released, and each confirmed booking
//! that overlaps it on them is moved to other free devices of its model for its whole time
//! (same id and times; event `changed` via `admin`) or, where none are free, cancelled with
//! its whole price released (event `cancelled` via `admin`); each gets the notice `maintenance.affected`.

use super::webhooks::{add_notice, Notice};
use super::{
    booking_tx, busy_devices_tx, commit_price, fold_devices, insert_devices, interval_of,
    lock_model, millis, record_change, Charge, SqlStore,
};
use crate::domain::booking::allocate;
use crate::domain::maintenance::{Affected, Maintenance, MaintenanceId};
use crate::domain::webhook::EventType;
use crate::domain::{BookingId, BookingStatus, Device, Interval};
use crate::store::bookings::{BookingStore, EventKind, Origin, StoreError};
use chrono::{DateTime, Utc};
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet};

impl SqlStore {
    /// Takes `gpus` out of service over `interval`, moving or cancelling what overlaps.
    pub(super) async fn add_window(
        &self,
        gpus: Vec<Device>,
        interval: Interval,
        reason: String,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> Result<(Maintenance, Affected), StoreError> {
        let inventory = self.inventory().await?;
        let mut by_model: BTreeMap<String, Vec<Device>> = BTreeMap::new();
        for d in &gpus {
            let m = inventory
                .models()
                .iter()
                .find(|m| m.devices.contains(d))
                .ok_or_else(|| StoreError::Rejected {
                    code: "unknown_device",
                    message: format!("no GPU `{d}` in the inventory (see GET /api/gpus)"),
                })?;
            by_model.entry(m.name.clone()).or_default().push(d.clone());
        }
        self.bounded(async {
            let mut tx = self.begin_write().await?;
            // Every model's lock, in name order (the same order everywhere: no deadlock).
            for m in by_model.keys() {
                lock_model(&mut tx, m).await?;
            }
            let window = Maintenance {
                id: MaintenanceId::new(),
                gpus: gpus.clone(),
                interval,
                reason,
                created_at: now,
            };
            sqlx::query(
                "INSERT INTO maintenance (id, reason, start_at, end_at, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(window.id.to_string())
            .bind(window.reason.clone())
            .bind(interval.start().timestamp())
            .bind(interval.end().timestamp())
            .bind(now.timestamp_millis())
            .execute(&mut *tx)
            .await?;
            for (model, devices) in &by_model {
                for d in devices {
                    sqlx::query(
                        "INSERT INTO maintenance_devices (maintenance_id, model, device, start_at, end_at) \
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(window.id.to_string())
                    .bind(model.clone())
                    .bind(d.to_string())
                    .bind(interval.start().timestamp())
                    .bind(interval.end().timestamp())
                    .execute(&mut *tx)
                    .await?;
                    // A hold on the device in the window can no longer be kept.
                    sqlx::query(
                        "UPDATE holds SET state = 'released' WHERE state = 'held' AND expires_at > $1 \
                         AND start_at < $2 AND end_at > $3 AND id IN \
                         (SELECT hold_id FROM hold_devices WHERE device = $4)",
                    )
                    .bind(now.timestamp_millis())
                    .bind(interval.end().timestamp())
                    .bind(interval.start().timestamp())
                    .bind(d.to_string())
                    .execute(&mut *tx)
                    .await?;
                }
            }
            let taken: BTreeSet<String> = gpus.iter().map(Device::to_string).collect();
            let mut affected = Affected::default();
            for model in by_model.keys() {
                let ids: Vec<String> = sqlx::query(
                    "SELECT DISTINCT b.id, b.start_at FROM bookings b \
                     JOIN booking_devices d ON d.booking_id = b.id \
                     WHERE b.model = $1 AND b.status = 'confirmed' AND b.start_at < $2 \
                     AND b.end_at > $3 ORDER BY b.start_at, b.id",
                )
                .bind(model.clone())
                .bind(interval.end().timestamp())
                .bind(interval.start().timestamp())
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| r.try_get::<String, _>(0))
                .collect::<Result<_, _>>()?;
                let m = inventory.find(model).expect("model of a device");
                for id in ids {
                    let bid = BookingId::parse(&id).map_err(|e| StoreError::Invalid(e.to_string()))?;
                    let Some(old) = booking_tx(&mut tx, &bid).await? else {
                        continue;
                    };
                    if !old.gpus.iter().any(|d| taken.contains(&d.to_string())) {
                        continue;
                    }
                    // Its own devices count as free but for those now out of service.
                    let busy =
                        busy_devices_tx(&mut tx, model, &old.interval, Some(&old.id), now).await?;
                    let kept: Vec<Device> =
                        old.gpus.iter().filter(|d| !busy.contains(*d)).cloned().collect();
                    let mut taken_now = busy.clone();
                    taken_now.extend(kept.iter().cloned());
                    let more = allocate(m, &taken_now, old.count() - kept.len() as u32);
                    let (kind, after) = match more {
                        Some(more) => {
                            let mut b = old.clone();
                            b.gpus = kept.into_iter().chain(more).collect();
                            sqlx::query("DELETE FROM booking_devices WHERE booking_id = $1")
                                .bind(id.clone())
                                .execute(&mut *tx)
                                .await?;
                            insert_devices(&mut tx, &b).await?;
                            affected.moved.push(b.id.clone());
                            (EventKind::Changed, b)
                        }
                        None => {
                            sqlx::query("UPDATE bookings SET status = 'cancelled' WHERE id = $1")
                                .bind(id.clone())
                                .execute(&mut *tx)
                                .await?;
                            let b = crate::domain::Booking {
                                status: BookingStatus::Cancelled,
                                ..old.clone()
                            };
                            let charge = Charge::booking(
                                &old.project,
                                -old.price_total.0,
                                old.price_total,
                                None,
                                now,
                            );
                            commit_price(&mut tx, charge).await?;
                            affected.cancelled.push(b.id.clone());
                            (EventKind::Cancelled, b)
                        }
                    };
                    record_change(&mut tx, self.dialect, kind, &after, origin, now, None).await?;
                    let outcome = if kind == EventKind::Changed { "moved" } else { "cancelled" };
                    let notice = Notice {
                        kind: EventType::MaintenanceAffected,
                        subject: after.id.to_string(),
                        owner: after.owner.clone(),
                        booking: Some(after.id.clone()),
                        data: serde_json::json!({
                            "outcome": outcome,
                            "maintenance": {
                                "id": window.id.to_string(),
                                "start": window.interval.start(),
                                "end": window.interval.end(),
                                "reason": window.reason,
                            },
                        }),
                        once_key: None,
                    };
                    add_notice(&mut tx, notice, now).await?;
                }
            }
            tx.commit().await?;
            Ok((window, affected))
        })
        .await
    }

    /// Every maintenance window that has not ended by `now`, by start.
    pub(super) async fn windows(&self, now: DateTime<Utc>) -> Result<Vec<Maintenance>, StoreError> {
        self.bounded(async {
            let rows = sqlx::query(
                "SELECT m.id, m.reason, m.start_at, m.end_at, m.created_at, d.device \
                 FROM maintenance m JOIN maintenance_devices d ON d.maintenance_id = m.id \
                 WHERE m.end_at > $1 ORDER BY m.start_at, m.id, d.device",
            )
            .bind(now.timestamp())
            .fetch_all(&self.pool)
            .await?;
            fold_devices(
                rows,
                |r, device| {
                    Ok(Maintenance {
                        id: MaintenanceId::parse(&r.try_get::<String, _>("id")?)
                            .map_err(|e| StoreError::Invalid(e.to_string()))?,
                        gpus: vec![device],
                        interval: interval_of(r)?,
                        reason: r.try_get("reason")?,
                        created_at: millis(r.try_get("created_at")?)?,
                    })
                },
                |m| &mut m.gpus,
            )
        })
        .await
    }

    /// Ends window `id`: its devices are free again (`false`: no such window).
    pub(super) async fn remove_window(
        &self,
        id: &MaintenanceId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let inventory = self.inventory().await?;
        self.bounded(async {
            let mut tx = self.begin_write().await?;
            let models: Vec<String> = sqlx::query(
                "SELECT DISTINCT model FROM maintenance_devices WHERE maintenance_id = $1 ORDER BY model",
            )
            .bind(id.to_string())
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<Result<_, _>>()?;
            // The models' locks: a slot search cached before sees the devices free again.
            for m in &models {
                lock_model(&mut tx, m).await?;
            }
            sqlx::query("DELETE FROM maintenance_devices WHERE maintenance_id = $1")
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
            let gone = sqlx::query("DELETE FROM maintenance WHERE id = $1")
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            // The devices freed go to the waitlist.
            for m in models.iter().filter_map(|m| inventory.find(m)) {
                super::waitlist::offer_in(&mut tx, m, now, self.waitlist_hold()).await?;
            }
            tx.commit().await?;
            Ok(gone > 0)
        })
        .await
    }
}
