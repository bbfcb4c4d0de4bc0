//! The waitlist in the SQL store (API.md "Waitlist"). Offers are made by [`offer_in`], run
//! inside every transaction that frees devices of a model (a cancellation, a change, a hold
//! given back, a maintenance window removed), under that model's lock, and by a periodic
//! pass (`refresh_waitlist`) for what frees by time alone (holds and offers that expire).
//! Every pass recomputes from the rows, so an offer missed by a crash is made by the next.
//! Each offer, lapse and expiry writes its notice (`waitlist.offered` / `waitlist.expired`)
//! in the same transaction.

use super::holds::insert_hold;
use super::webhooks::{add_notice, Notice};
use super::{interval_of, lock_model, millis, SqlStore};
use crate::domain::booking::{allocate, price};
use crate::domain::hold::{Hold, HoldId, HoldState};
use crate::domain::waitlist::{Entry, EntryId, EntryStatus};
use crate::domain::webhook::EventType;
use crate::domain::{Device, GpuModel, Owner};
use crate::store::bookings::{BookingStore, NewBooking, StoreError};
use chrono::{DateTime, Duration, Utc};
use sqlx::any::AnyRow;
use sqlx::Row;
use std::collections::HashSet;

const ENTRY_COLUMNS: &str =
    "SELECT id, owner, model, count, start_at, end_at, created_at, status, hold_id FROM waitlist";

fn row_to_entry(r: &AnyRow) -> Result<Entry, StoreError> {
    let bad = |e: crate::domain::ids::InvalidId| StoreError::Invalid(e.to_string());
    let status: String = r.try_get("status")?;
    let created: i64 = r.try_get("created_at")?;
    Ok(Entry {
        id: EntryId::parse(&r.try_get::<String, _>("id")?).map_err(bad)?,
        owner: Owner::from_stored(r.try_get("owner")?),
        model: r.try_get("model")?,
        count: r.try_get::<i64, _>("count")? as u32,
        interval: interval_of(r)?,
        created_at: millis(created)?,
        status: EntryStatus::parse(&status)
            .ok_or_else(|| StoreError::Invalid(format!("bad stored waitlist status {status}")))?,
        hold: r
            .try_get::<Option<String>, _>("hold_id")?
            .map(|h| HoldId::parse(&h))
            .transpose()
            .map_err(bad)?,
    })
}

/// Every device of `model` taken (confirmed bookings, live holds, maintenance) in
/// `[from, to)`, with when.
async fn taken_tx(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    model: &str,
    from: i64,
    to: i64,
    now: DateTime<Utc>,
) -> Result<Vec<(i64, i64, Device)>, StoreError> {
    let rows = sqlx::query(
        "SELECT b.start_at, b.end_at, d.device FROM bookings b \
         JOIN booking_devices d ON d.booking_id = b.id \
         WHERE b.model = $1 AND b.status = 'confirmed' AND b.start_at < $2 AND b.end_at > $3 \
         UNION ALL SELECT h.start_at, h.end_at, d.device FROM holds h \
         JOIN hold_devices d ON d.hold_id = h.id WHERE h.model = $1 AND h.state = 'held' \
         AND h.expires_at > $4 AND h.start_at < $2 AND h.end_at > $3 \
         UNION ALL SELECT start_at, end_at, device FROM maintenance_devices \
         WHERE model = $1 AND start_at < $2 AND end_at > $3",
    )
    .bind(model.to_string())
    .bind(to)
    .bind(from)
    .bind(now.timestamp_millis())
    .fetch_all(&mut **tx)
    .await?;
    rows.iter()
        .map(|r| {
            let d = Device::parse(&r.try_get::<String, _>(2)?).map_err(StoreError::Invalid)?;
            Ok((r.try_get(0)?, r.try_get(1)?, d))
        })
        .collect()
}

/// Offers free devices of `model` to its waiting entries, in the order they joined (the
/// model's lock held). Entries whose start passed expire; offers whose hold was confirmed
/// are booked; offers whose hold expired or was given back wait again (and are passed over
/// in this pass, so what they held goes to the next in line). Returns how many offers.
/// The `waitlist.expired` notice of entry `id`, now `status`: `waiting` again (its offer
/// lapsed) or `expired` (its start passed).
fn expired_notice(id: &str, owner: Owner, status: &str) -> Notice {
    Notice {
        kind: EventType::WaitlistExpired,
        subject: id.to_string(),
        owner,
        booking: None,
        data: serde_json::json!({"entry": {"id": id, "status": status}}),
        once_key: None,
    }
}

pub(super) async fn offer_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    model: &GpuModel,
    now: DateTime<Utc>,
    ttl: Duration,
) -> Result<u32, StoreError> {
    let secs = now.timestamp();
    // Most freeing writes find nobody in line: one read, and nothing more.
    let in_line = sqlx::query(
        "SELECT id FROM waitlist WHERE model = $1 AND status IN ('waiting', 'offered') LIMIT 1",
    )
    .bind(model.name.clone())
    .fetch_optional(&mut **tx)
    .await?;
    if in_line.is_none() {
        return Ok(0);
    }
    let offered = sqlx::query(
        "SELECT w.id, w.start_at, h.state, h.expires_at, w.owner FROM waitlist w \
         JOIN holds h ON h.id = w.hold_id WHERE w.model = $1 AND w.status = 'offered'",
    )
    .bind(model.name.clone())
    .fetch_all(&mut **tx)
    .await?;
    let mut passed_over: HashSet<String> = HashSet::new();
    for r in offered {
        let id: String = r.try_get(0)?;
        let start: i64 = r.try_get(1)?;
        let state: String = r.try_get(2)?;
        let expires: i64 = r.try_get(3)?;
        let next = match state.as_str() {
            "confirmed" => "booked",
            "held" if expires > now.timestamp_millis() => continue,
            _ if start <= secs => "expired",
            _ => {
                passed_over.insert(id.clone());
                "waiting"
            }
        };
        sqlx::query("UPDATE waitlist SET status = $1, hold_id = NULL WHERE id = $2")
            .bind(next)
            .bind(id.clone())
            .execute(&mut **tx)
            .await?;
        if next != "booked" {
            let owner = Owner::from_stored(r.try_get(4)?);
            add_notice(tx, expired_notice(&id, owner, next), now).await?;
        }
    }
    let started = sqlx::query(
        "SELECT id, owner FROM waitlist WHERE model = $1 AND status = 'waiting' AND start_at <= $2",
    )
    .bind(model.name.clone())
    .bind(secs)
    .fetch_all(&mut **tx)
    .await?;
    for r in started {
        let id: String = r.try_get(0)?;
        sqlx::query("UPDATE waitlist SET status = 'expired' WHERE id = $1")
            .bind(id.clone())
            .execute(&mut **tx)
            .await?;
        let owner = Owner::from_stored(r.try_get(1)?);
        add_notice(tx, expired_notice(&id, owner, "expired"), now).await?;
    }
    let waiting: Vec<Entry> = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{ENTRY_COLUMNS} WHERE model = $1 AND status = 'waiting' ORDER BY created_at, id"
    )))
    .bind(model.name.clone())
    .fetch_all(&mut **tx)
    .await?
    .iter()
    .map(row_to_entry)
    .collect::<Result<_, _>>()?;
    let waiting: Vec<Entry> = waiting
        .into_iter()
        .filter(|e| !passed_over.contains(e.id.as_str()))
        .collect();
    if waiting.is_empty() {
        return Ok(0);
    }
    let from = waiting
        .iter()
        .map(|e| e.interval.start().timestamp())
        .min()
        .unwrap_or(secs);
    let to = waiting
        .iter()
        .map(|e| e.interval.end().timestamp())
        .max()
        .unwrap_or(secs);
    let mut taken = taken_tx(tx, &model.name, from, to, now).await?;
    let mut offers = 0;
    for e in waiting {
        let (s, t) = (e.interval.start().timestamp(), e.interval.end().timestamp());
        let busy: HashSet<Device> = taken
            .iter()
            .filter(|(a, b, _)| *a < t && *b > s)
            .map(|(_, _, d)| d.clone())
            .collect();
        // An entry that does not fit whole waits; it never blocks a later one that does.
        let Some(gpus) = allocate(model, &busy, e.count) else {
            continue;
        };
        let hold = Hold {
            id: HoldId::new(),
            owner: e.owner.clone(),
            model: model.name.clone(),
            gpus,
            interval: e.interval,
            price_total: price(model.price_per_hour, e.count, &e.interval),
            expires_at: now + ttl,
            created_at: now,
            state: HoldState::Held,
            project: super::projects::project_of(&mut **tx, &e.owner).await?.name,
        };
        insert_hold(tx, &hold).await?;
        sqlx::query("UPDATE waitlist SET status = 'offered', hold_id = $1 WHERE id = $2")
            .bind(hold.id.to_string())
            .bind(e.id.to_string())
            .execute(&mut **tx)
            .await?;
        let notice = Notice {
            kind: EventType::WaitlistOffered,
            subject: e.id.to_string(),
            owner: e.owner.clone(),
            booking: None,
            data: serde_json::json!({
                "entry": {"id": e.id.to_string(), "status": "offered"},
                "hold": {
                    "id": hold.id.to_string(),
                    "model": hold.model,
                    "count": e.count,
                    "start": hold.interval.start(),
                    "end": hold.interval.end(),
                    "gpus": hold.gpus.iter().map(Device::to_string).collect::<Vec<_>>(),
                    "price_total": hold.price_total,
                    "expires_at": hold.expires_at,
                },
            }),
            once_key: None,
        };
        add_notice(tx, notice, now).await?;
        taken.extend(hold.gpus.iter().map(|d| (s, t, d.clone())));
        offers += 1;
    }
    if offers > 0 {
        metrics::counter!("hpcbot_waitlist_offers_total").increment(offers as u64);
    }
    Ok(offers)
}

impl SqlStore {
    /// The model named, from the inventory.
    async fn model_of(&self, name: &str) -> Result<GpuModel, StoreError> {
        self.inventory()
            .await?
            .find(name)
            .cloned()
            .ok_or_else(|| StoreError::UnknownModel(name.to_string()))
    }

    /// Puts `new` in line (offered at once if it fits now).
    pub(super) async fn join(&self, new: NewBooking) -> Result<Entry, StoreError> {
        let model = self.model_of(&new.model).await?;
        let ttl = self.waitlist_hold();
        self.bounded(async {
            let mut tx = self.begin_write().await?;
            lock_model(&mut tx, &model.name).await?;
            let id = EntryId::new();
            // Its place in line: after every entry of the model already there, also when
            // two join within one millisecond (read under the model's lock).
            let last: Option<i64> =
                sqlx::query("SELECT MAX(created_at) FROM waitlist WHERE model = $1")
                    .bind(model.name.clone())
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get(0)?;
            let at = new.now.timestamp_millis().max(last.map_or(i64::MIN, |l| l + 1));
            sqlx::query(
                "INSERT INTO waitlist (id, owner, model, count, start_at, end_at, created_at, status) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'waiting')",
            )
            .bind(id.to_string())
            .bind(new.owner.as_str().to_string())
            .bind(model.name.clone())
            .bind(new.count as i64)
            .bind(new.interval.start().timestamp())
            .bind(new.interval.end().timestamp())
            .bind(at)
            .execute(&mut *tx)
            .await?;
            offer_in(&mut tx, &model, new.now, ttl).await?;
            let entry = sqlx::query(sqlx::AssertSqlSafe(format!("{ENTRY_COLUMNS} WHERE id = $1")))
                .bind(id.to_string())
                .fetch_one(&mut *tx)
                .await?;
            let entry = row_to_entry(&entry)?;
            tx.commit().await?;
            Ok(entry)
        })
        .await
    }

    /// Runs an offer pass for every model with entries in line; returns the offers made.
    pub(super) async fn refresh(&self, now: DateTime<Utc>) -> Result<u32, StoreError> {
        let ttl = self.waitlist_hold();
        let models: Vec<String> = self
            .bounded(async {
                Ok(sqlx::query(
                    "SELECT DISTINCT model FROM waitlist WHERE status IN ('waiting', 'offered') \
                     ORDER BY model",
                )
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|r| r.try_get::<String, _>(0))
                .collect::<Result<Vec<_>, _>>()?)
            })
            .await?;
        let mut offers = 0;
        for name in models {
            let Ok(model) = self.model_of(&name).await else {
                continue;
            };
            offers += self
                .bounded(async {
                    let mut tx = self.begin_write().await?;
                    lock_model(&mut tx, &model.name).await?;
                    let n = offer_in(&mut tx, &model, now, ttl).await?;
                    tx.commit().await?;
                    Ok(n)
                })
                .await?;
        }
        Ok(offers)
    }

    /// `owner`'s entries, oldest first, each with its place among the model's entries in
    /// line (waiting or offered), in one query. It reads only: offers are made by the
    /// freeing writes and by the offer pass (`refresh`).
    pub(super) async fn entries(
        &self,
        owner: &Owner,
    ) -> Result<Vec<(Entry, Option<u32>)>, StoreError> {
        self.bounded(async {
            let rows = sqlx::query(
                "SELECT w.id, w.owner, w.model, w.count, w.start_at, w.end_at, w.created_at, \
                 w.status, w.hold_id, (SELECT COUNT(*) FROM waitlist o WHERE o.model = w.model \
                 AND o.status IN ('waiting', 'offered') AND (o.created_at < w.created_at \
                 OR (o.created_at = w.created_at AND o.id < w.id))) AS ahead \
                 FROM waitlist w WHERE w.owner = $1 ORDER BY w.created_at, w.id",
            )
            .bind(owner.as_str().to_string())
            .fetch_all(&self.pool)
            .await?;
            rows.iter()
                .map(|r| {
                    let e = row_to_entry(r)?;
                    let ahead: i64 = r.try_get("ahead")?;
                    let position = matches!(e.status, EntryStatus::Waiting | EntryStatus::Offered)
                        .then_some(ahead as u32 + 1);
                    Ok((e, position))
                })
                .collect()
        })
        .await
    }

    /// Takes `owner`'s entry out of line (giving back its offer's hold); `false`: none.
    pub(super) async fn leave(
        &self,
        owner: &Owner,
        id: &EntryId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{ENTRY_COLUMNS} WHERE id = $1 AND owner = $2"
        )))
        .bind(id.to_string())
        .bind(owner.as_str().to_string())
        .fetch_optional(&self.pool)
        .await?;
        let Some(entry) = row.as_ref().map(row_to_entry).transpose()? else {
            return Ok(false);
        };
        let model = self.model_of(&entry.model).await?;
        let ttl = self.waitlist_hold();
        self.bounded(async {
            let mut tx = self.begin_write().await?;
            lock_model(&mut tx, &model.name).await?;
            if let (EntryStatus::Offered, Some(h)) = (entry.status, &entry.hold) {
                sqlx::query("UPDATE holds SET state = 'released' WHERE id = $1 AND state = 'held'")
                    .bind(h.to_string())
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query("DELETE FROM waitlist WHERE id = $1")
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
            // What it was offered goes to the next in line.
            offer_in(&mut tx, &model, now, ttl).await?;
            tx.commit().await?;
            Ok(true)
        })
        .await
    }
}
