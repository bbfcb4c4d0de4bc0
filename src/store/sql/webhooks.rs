//! Webhooks in the SQL store (see `migrations/*/..._webhooks.sql`). An event is fanned out
//! in the transaction that makes it: one `webhook_deliveries` row per endpoint that wants
//! its type, so a committed change always has its deliveries and a rolled-back one never
//! does. Workers take rows by writing `lease_until`; a row is due when it is pending, its
//! `next_at` has come, no lease is live, and no earlier row of its subject (the booking or
//! waitlist entry) is still pending for its endpoint — which keeps one subject's events in
//! order.

use super::{millis, row_to_event, SqlStore, EVENT_COLUMNS};
use crate::domain::webhook::{EventType, Webhook, WebhookId};
use crate::domain::{BookingId, Owner};
use crate::store::bookings::{EventKind, StoreError};
use crate::store::webhooks::{
    AttemptLog, Due, Finished, Next, OwnerNotice, StoredEvent, Want, WebhookStore, NOTICES_PER_READ,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;
use std::collections::HashMap;

type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// How late a reminder is still made (after a restart, say): a `booking.starting` more
/// than this after the start would only confuse.
const REMINDER_LATE_BY: chrono::Duration = chrono::Duration::seconds(60);

/// Reminders made in one pass at most (the next pass makes the rest).
const REMINDERS_PER_PASS: i64 = 500;

/// The stored form of an endpoint's types: `,a,b,` (matched with `LIKE '%,a,%'`), or `''`
/// for every type.
fn events_column(events: &[EventType]) -> String {
    if events.is_empty() {
        return String::new();
    }
    let names: Vec<&str> = events.iter().map(|e| e.as_str()).collect();
    format!(",{},", names.join(","))
}

fn events_of_column(s: &str) -> Result<Vec<EventType>, StoreError> {
    s.split(',')
        .filter(|t| !t.is_empty())
        .map(|t| {
            EventType::parse(t)
                .ok_or_else(|| StoreError::Invalid(format!("bad stored event type `{t}`")))
        })
        .collect()
}

/// The endpoints that want `$T` (the last parameter, `%,type,%`).
const WANTS: &str = "FROM webhooks w WHERE w.events = '' OR w.events LIKE";

/// The type of a history event.
pub(super) fn history_type(kind: EventKind) -> EventType {
    match kind {
        EventKind::Created => EventType::BookingCreated,
        EventKind::Changed => EventType::BookingChanged,
        EventKind::Cancelled => EventType::BookingCancelled,
    }
}

/// Fans the booking history's newest event of `booking` (just written in `tx`; the model's
/// lock keeps any other event of it out) out to the endpoints that want it.
pub(super) async fn fan_out_history(
    tx: &mut Tx,
    kind: EventKind,
    booking: &BookingId,
) -> Result<(), StoreError> {
    let t = history_type(kind);
    let now = Utc::now().timestamp_millis();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO webhook_deliveries (webhook_id, source, seq, type, subject, state, \
         attempts, next_at, lease_until, created_at) SELECT w.id, 'b', \
         (SELECT max(e.seq) FROM booking_events e WHERE e.booking_id = $1), $2, $1, 'pending', \
         0, $3, 0, $3 {WANTS} $4"
    )))
    .bind(booking.to_string())
    .bind(t.as_str())
    .bind(now)
    .bind(format!("%,{},%", t.as_str()))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// An event that is not a row of the booking history.
pub(super) struct Notice {
    /// Its type.
    pub kind: EventType,
    /// The booking or waitlist entry it is about (orders its deliveries).
    pub subject: String,
    /// Whom it concerns.
    pub owner: Owner,
    /// The booking it carries as it is now in `tx` (its newest history row), if any.
    pub booking: Option<BookingId>,
    /// Its other fields.
    pub data: serde_json::Value,
    /// Makes it once only: a second notice with the same key is not made.
    pub once_key: Option<String>,
}

/// Writes `n` and fans it out, in `tx`; `false` when its `once_key` was taken already.
pub(super) async fn add_notice(
    tx: &mut Tx,
    n: Notice,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let row = sqlx::query(
        "INSERT INTO notices (type, subject, owner, created_at, history_seq, data, once_key) \
         VALUES ($1, $2, $3, $4, (SELECT max(e.seq) FROM booking_events e WHERE e.booking_id = $5), \
         $6, $7) ON CONFLICT (once_key) DO NOTHING RETURNING seq",
    )
    .bind(n.kind.as_str())
    .bind(n.subject.clone())
    .bind(n.owner.as_str().to_string())
    .bind(now.timestamp_millis())
    .bind(n.booking.as_ref().map(BookingId::to_string))
    .bind(n.data.to_string())
    .bind(n.once_key)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else {
        return Ok(false);
    };
    let seq: i64 = row.try_get(0)?;
    let wall = Utc::now().timestamp_millis();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO webhook_deliveries (webhook_id, source, seq, type, subject, state, \
         attempts, next_at, lease_until, created_at) SELECT w.id, 'n', $1, $2, $3, 'pending', \
         0, $4, 0, $4 {WANTS} $5"
    )))
    .bind(seq)
    .bind(n.kind.as_str())
    .bind(n.subject)
    .bind(wall)
    .bind(format!("%,{},%", n.kind.as_str()))
    .execute(&mut **tx)
    .await?;
    Ok(true)
}

/// The due deliveries `want` may take: pending, their time come, no live lease, none of
/// their subject earlier still pending for their endpoint; endpoints with every slot taken
/// are left out in the query, so a slow one's backlog cannot crowd out the others.
async fn due_ids<'e, E>(ex: E, want: &Want<'_>) -> Result<Vec<i64>, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    if want.limit == 0 {
        return Ok(Vec::new());
    }
    let full: Vec<String> = want
        .in_flight
        .iter()
        .filter(|(_, n)| **n >= want.per_endpoint)
        .map(|(w, _)| w.to_string())
        .collect();
    let skip = if full.is_empty() {
        String::new()
    } else {
        let marks: Vec<String> = (0..full.len()).map(|i| format!("${}", i + 3)).collect();
        format!(" AND d.webhook_id NOT IN ({})", marks.join(", "))
    };
    let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT d.id, d.webhook_id FROM webhook_deliveries d \
         WHERE d.state = 'pending' AND d.next_at <= $1 AND d.lease_until <= $1 \
         AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e WHERE \
         e.webhook_id = d.webhook_id AND e.subject = d.subject AND e.state = 'pending' \
         AND e.id < d.id){skip} ORDER BY d.next_at, d.id LIMIT $2"
    )))
    .bind(want.now.timestamp_millis())
    .bind(want.limit as i64 * 4);
    for w in &full {
        q = q.bind(w.clone());
    }
    let mut taken: HashMap<String, u32> = want
        .in_flight
        .iter()
        .map(|(w, n)| (w.to_string(), *n))
        .collect();
    let mut chosen = Vec::new();
    for r in q.fetch_all(ex).await? {
        let busy = taken.entry(r.try_get("webhook_id")?).or_default();
        if *busy < want.per_endpoint && (chosen.len() as u32) < want.limit {
            *busy += 1;
            chosen.push(r.try_get("id")?);
        }
    }
    Ok(chosen)
}

/// Logs each attempt of `done` and records what happens next to its delivery.
async fn record(tx: &mut Tx, done: &[Finished]) -> Result<(), StoreError> {
    let at = Utc::now().timestamp_millis();
    for f in done {
        sqlx::query(
            "INSERT INTO webhook_attempts (webhook_id, event_id, type, at, attempt, \
             status_code, error) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(f.due.webhook.to_string())
        .bind(f.due.event.id.clone())
        .bind(f.due.event.kind.as_str())
        .bind(at)
        .bind(f.due.attempt as i64)
        .bind(f.result.status.map(|s| s as i64))
        .bind(f.result.error.clone())
        .execute(&mut **tx)
        .await?;
        let (state, next_at) = match f.next {
            Next::Delivered => ("delivered", 0),
            Next::RetryAt(t) => ("pending", t.timestamp_millis()),
            Next::GiveUp => ("failed", 0),
        };
        sqlx::query(
            "UPDATE webhook_deliveries SET state = $1, \
             next_at = CASE WHEN $2 > 0 THEN $2 ELSE next_at END, lease_until = 0, \
             lease_token = NULL WHERE id = $3",
        )
        .bind(state)
        .bind(next_at)
        .bind(f.due.delivery)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

fn webhook_of_row(r: &sqlx::any::AnyRow) -> Result<Webhook, StoreError> {
    Ok(Webhook {
        id: WebhookId::parse(&r.try_get::<String, _>("id")?)
            .map_err(|e| StoreError::Invalid(e.to_string()))?,
        url: r.try_get("url")?,
        events: events_of_column(&r.try_get::<String, _>("events")?)?,
        created_at: millis(r.try_get("created_at")?)?,
    })
}

impl SqlStore {
    /// The event a delivery row points at.
    async fn stored_event(
        &self,
        source: &str,
        seq: i64,
        kind: EventType,
    ) -> Result<StoredEvent, StoreError> {
        let history = |seq: i64| async move {
            let r = sqlx::query(sqlx::AssertSqlSafe(format!(
                "{EVENT_COLUMNS} WHERE seq = $1"
            )))
            .bind(seq)
            .fetch_one(&self.pool)
            .await?;
            row_to_event(&r)
        };
        if source == "b" {
            let ev = history(seq).await?;
            return Ok(StoredEvent {
                id: format!("evt_b{seq}"),
                kind,
                created_at: ev.at,
                booking: Some(ev),
                data: serde_json::Map::new(),
            });
        }
        let r = sqlx::query("SELECT created_at, history_seq, data FROM notices WHERE seq = $1")
            .bind(seq)
            .fetch_one(&self.pool)
            .await?;
        let data: String = r.try_get("data")?;
        let data = match serde_json::from_str(&data) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => return Err(StoreError::Invalid(format!("bad stored notice {seq}"))),
        };
        let booking = match r.try_get::<Option<i64>, _>("history_seq")? {
            Some(h) => Some(history(h).await?),
            None => None,
        };
        Ok(StoredEvent {
            id: format!("evt_n{seq}"),
            kind,
            created_at: millis(r.try_get("created_at")?)?,
            booking,
            data,
        })
    }

    /// `owner`'s notices of `kinds` after `after` (see
    /// [`crate::store::bookings::BookingStore::notices`]).
    pub(super) async fn notices_of(
        &self,
        owner: &Owner,
        kinds: &[EventType],
        after: i64,
    ) -> Result<Vec<OwnerNotice>, StoreError> {
        if kinds.is_empty() {
            return Ok(Vec::new());
        }
        let marks: Vec<String> = (0..kinds.len()).map(|i| format!("${}", i + 4)).collect();
        self.bounded(async {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT seq, type FROM notices WHERE owner = $1 AND seq > $2 \
                 AND type IN ({}) ORDER BY seq LIMIT $3",
                marks.join(", ")
            )))
            .bind(owner.as_str().to_string())
            .bind(after)
            .bind(NOTICES_PER_READ);
            for k in kinds {
                q = q.bind(k.as_str());
            }
            let mut out = Vec::new();
            for r in q.fetch_all(&self.pool).await? {
                let seq: i64 = r.try_get(0)?;
                let name: String = r.try_get(1)?;
                let kind = EventType::parse(&name)
                    .ok_or_else(|| StoreError::Invalid(format!("bad stored type {name}")))?;
                let e = self.stored_event("n", seq, kind).await?;
                out.push(OwnerNotice {
                    seq,
                    kind,
                    at: e.created_at,
                    data: serde_json::Value::Object(e.data),
                    booking: e.booking.map(|b| b.booking),
                });
            }
            Ok(out)
        })
        .await
    }

    /// The reminders of one kind now due and not yet made: (booking, owner, its start or
    /// end) — a read, so a pass with nothing to do writes nothing.
    async fn reminders_due(
        &self,
        kind: EventType,
        now: DateTime<Utc>,
        before: chrono::Duration,
    ) -> Result<Vec<(String, String, i64)>, StoreError> {
        let column = match kind {
            EventType::BookingStarting => "start_at",
            _ => "end_at",
        };
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT b.id, b.owner, b.{column} FROM bookings b WHERE b.status = 'confirmed' \
             AND b.{column} > $1 AND b.{column} <= $2 AND NOT EXISTS (SELECT 1 FROM notices n \
             WHERE n.once_key = $3 || b.id || ':' || CAST(b.{column} AS TEXT)) \
             ORDER BY b.{column} LIMIT $4"
        )))
        .bind((now - REMINDER_LATE_BY).timestamp())
        .bind((now + before).timestamp())
        .bind(reminder_prefix(kind))
        .bind(REMINDERS_PER_PASS)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect()
    }
}

/// The start of a reminder's `once_key`: `<type>:`, then `<booking>:<unix time>`.
fn reminder_prefix(kind: EventType) -> String {
    format!("{}:", kind.as_str())
}

#[async_trait]
impl WebhookStore for SqlStore {
    async fn add_webhook(
        &self,
        url: &str,
        events: &[EventType],
        now: DateTime<Utc>,
    ) -> Result<(Webhook, String), StoreError> {
        let hook = Webhook {
            id: WebhookId::new(),
            url: url.to_string(),
            events: events.to_vec(),
            created_at: now,
        };
        let secret = crate::domain::ids::new_secret();
        self.bounded(async {
            sqlx::query(
                "INSERT INTO webhooks (id, url, events, secret, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(hook.id.to_string())
            .bind(hook.url.clone())
            .bind(events_column(events))
            .bind(secret.clone())
            .bind(now.timestamp_millis())
            .execute(&self.pool)
            .await?;
            Ok(())
        })
        .await?;
        Ok((hook, secret))
    }

    async fn webhooks(&self) -> Result<Vec<Webhook>, StoreError> {
        self.bounded(async {
            sqlx::query("SELECT id, url, events, created_at FROM webhooks ORDER BY created_at, id")
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(webhook_of_row)
                .collect()
        })
        .await
    }

    async fn remove_webhook(&self, id: &WebhookId) -> Result<bool, StoreError> {
        self.bounded(async {
            let mut tx = self.begin_write().await?;
            for table in ["webhook_deliveries", "webhook_attempts"] {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DELETE FROM {table} WHERE webhook_id = $1"
                )))
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
            }
            let gone = sqlx::query("DELETE FROM webhooks WHERE id = $1")
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            Ok(gone == 1)
        })
        .await
    }

    async fn attempts(
        &self,
        id: &WebhookId,
        limit: u32,
    ) -> Result<Option<Vec<AttemptLog>>, StoreError> {
        self.bounded(async {
            let known = sqlx::query("SELECT id FROM webhooks WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await?;
            if known.is_none() {
                return Ok(None);
            }
            let rows = sqlx::query(
                "SELECT event_id, type, at, attempt, status_code, error FROM webhook_attempts \
                 WHERE webhook_id = $1 ORDER BY id DESC LIMIT $2",
            )
            .bind(id.to_string())
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(AttemptLog {
                        event_id: r.try_get("event_id")?,
                        kind: r.try_get("type")?,
                        at: millis(r.try_get("at")?)?,
                        attempt: r.try_get::<i64, _>("attempt")? as u32,
                        status: r
                            .try_get::<Option<i64>, _>("status_code")?
                            .map(|s| s as u16),
                        error: r.try_get("error")?,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()
                .map(Some)
        })
        .await
    }

    async fn settle(&self, done: &[Finished], want: &Want<'_>) -> Result<Vec<Due>, StoreError> {
        let now_ms = want.now.timestamp_millis();
        let until = now_ms + want.lease.as_millis() as i64;
        self.bounded(async {
            // Nothing to record: look before taking the write lock (most passes find nothing).
            let mut chosen = if done.is_empty() {
                let c = due_ids(&self.pool, want).await?;
                if c.is_empty() {
                    return Ok(Vec::new());
                }
                Some(c)
            } else {
                None
            };
            let mut tx = self.begin_write().await?;
            record(&mut tx, done).await?;
            let ids = match chosen.take() {
                Some(c) => c,
                None if want.limit > 0 => due_ids(&mut *tx, want).await?,
                None => Vec::new(),
            };
            let token = uuid::Uuid::new_v4().simple().to_string();
            if !ids.is_empty() {
                // The lease: rows another worker took since the read are not taken again.
                let marks: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 4)).collect();
                let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE webhook_deliveries SET lease_until = $1, lease_token = $2, \
                     attempts = attempts + 1 WHERE state = 'pending' AND lease_until <= $3 \
                     AND id IN ({})",
                    marks.join(", ")
                )))
                .bind(until)
                .bind(token.clone())
                .bind(now_ms);
                for id in &ids {
                    q = q.bind(*id);
                }
                q.execute(&mut *tx).await?;
            }
            tx.commit().await?;
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            let rows = sqlx::query(
                "SELECT d.id, d.webhook_id, d.source, d.seq, d.type, d.attempts, d.created_at, \
                 w.url, w.secret FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id \
                 WHERE d.lease_token = $1 AND d.lease_until = $2 ORDER BY d.id",
            )
            .bind(token)
            .bind(until)
            .fetch_all(&self.pool)
            .await?;
            let mut due = Vec::new();
            for r in rows {
                let kind_name: String = r.try_get("type")?;
                let kind = EventType::parse(&kind_name)
                    .ok_or_else(|| StoreError::Invalid(format!("bad stored type {kind_name}")))?;
                let source: String = r.try_get("source")?;
                let event = self.stored_event(&source, r.try_get("seq")?, kind).await?;
                due.push(Due {
                    delivery: r.try_get("id")?,
                    webhook: WebhookId::parse(&r.try_get::<String, _>("webhook_id")?)
                        .map_err(|e| StoreError::Invalid(e.to_string()))?,
                    url: r.try_get("url")?,
                    secret: r.try_get("secret")?,
                    attempt: r.try_get::<i64, _>("attempts")? as u32,
                    created_at: millis(r.try_get("created_at")?)?,
                    event,
                });
            }
            Ok(due)
        })
        .await
    }

    async fn pending_deliveries(&self) -> Result<i64, StoreError> {
        self.bounded(async {
            let r = sqlx::query("SELECT count(*) FROM webhook_deliveries WHERE state = 'pending'")
                .fetch_one(&self.pool)
                .await?;
            Ok(r.try_get::<i64, _>(0)?)
        })
        .await
    }

    async fn make_reminders(
        &self,
        now: DateTime<Utc>,
        before_start: chrono::Duration,
        before_end: chrono::Duration,
    ) -> Result<u32, StoreError> {
        self.bounded(async {
            let mut due = Vec::new();
            for (kind, before) in [
                (EventType::BookingStarting, before_start),
                (EventType::BookingEnding, before_end),
            ] {
                for row in self.reminders_due(kind, now, before).await? {
                    due.push((kind, row));
                }
            }
            if due.is_empty() {
                return Ok(0);
            }
            // Another instance may make the same ones now: the unique key keeps one of each.
            let mut tx = self.begin_write().await?;
            let mut made = 0;
            for (kind, (id, owner, at)) in due {
                let booking =
                    BookingId::parse(&id).map_err(|e| StoreError::Invalid(e.to_string()))?;
                let notice = Notice {
                    kind,
                    subject: id.clone(),
                    owner: Owner::from_stored(owner),
                    booking: Some(booking),
                    data: serde_json::json!({}),
                    once_key: Some(format!("{}{id}:{at}", reminder_prefix(kind))),
                };
                if add_notice(&mut tx, notice, now).await? {
                    made += 1;
                }
            }
            tx.commit().await?;
            if made > 0 {
                metrics::counter!("hpcbot_reminders_total").increment(made as u64);
            }
            Ok(made)
        })
        .await
    }

    async fn sweep_deliveries(&self, before: DateTime<Utc>) -> Result<(), StoreError> {
        self.bounded(async {
            let ms = before.timestamp_millis();
            sqlx::query(
                "DELETE FROM webhook_deliveries WHERE state <> 'pending' AND created_at < $1",
            )
            .bind(ms)
            .execute(&self.pool)
            .await?;
            sqlx::query("DELETE FROM webhook_attempts WHERE at < $1")
                .bind(ms)
                .execute(&self.pool)
                .await?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_events_column_matches_only_whole_type_names() {
        let col = events_column(&[EventType::BookingCreated, EventType::BookingEnding]);
        assert_eq!(col, ",booking.created,booking.ending,");
        assert_eq!(
            events_of_column(&col).unwrap(),
            vec![EventType::BookingCreated, EventType::BookingEnding]
        );
        assert_eq!(events_column(&[]), "");
        assert!(events_of_column("").unwrap().is_empty());
    }
}
