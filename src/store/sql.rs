//! The SQL booking store, one implementation for SQLite (default) and PostgreSQL through
//! sqlx's `Any` driver. The statements are written in the dialect both accept.
//!
//! No-overlap rule: a booking is made in one transaction that first *writes* the model's row
//! (`lock_version = lock_version + 1`). In PostgreSQL that takes the row's lock, so bookings
//! of one model are serialised across every instance; in SQLite the transaction is opened
//! with `BEGIN IMMEDIATE`, which takes the database's write lock. Only then are the busy
//! devices read and the free ones chosen, so two bookings can never pick the same device.

mod holds;
mod maintenance;
mod projects;
mod series;
mod waitlist;
mod webhooks;

use super::bookings::{
    BookingChange, BookingEvent, BookingStore, Busy, ChangeRules, EventKind, NewBooking, Origin,
    ProposalKey, StoreError, Via,
};
use super::idempotency::{Begin, IdempotencyStore, StoredReply, Times};
use crate::domain::booking::{check_against, price, BookingStatus};
use crate::domain::quota::Quotas;
use crate::domain::{
    Booking, BookingId, Cents, Device, GpuModel, Interval, Inventory, Owner, Project, ProjectName,
};
use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};
use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a cached inventory is trusted before it is read again (an import made by another
/// process shows within this time).
pub const INVENTORY_CACHE_TTL: Duration = Duration::from_secs(5);

/// Which SQL engine is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite, a file in the data directory.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// Connection settings of the SQL store.
#[derive(Debug, Clone)]
pub struct SqlOptions {
    /// `sqlite://...` or `postgres://...`.
    pub url: String,
    /// Pool size.
    pub max_connections: u32,
    /// Bound on every store operation, waiting for a connection included.
    pub timeout: Duration,
}

/// The booking store over SQLite or PostgreSQL.
pub struct SqlStore {
    pool: AnyPool,
    /// PostgreSQL: half as many connections again as `pool`, set to `synchronous_commit =
    /// off`, on which a new `Idempotency-Key` is claimed in one autocommit statement (see
    /// [`IdempotencyStore::begin`] below for why that is safe). SQLite: `None`.
    claims: Option<AnyPool>,
    dialect: Dialect,
    timeout: Duration,
    cache: Mutex<Option<(Instant, Arc<Inventory>)>>,
    /// Per model, its confirmed bookings that end after `from`, as read at the model's
    /// `lock_version` (written by every change of its bookings, in the change's
    /// transaction): reused while the version is unchanged, so repeated availability and
    /// slot searches cost one small query instead of reading every booking again.
    busy_cache: Mutex<std::collections::HashMap<String, BusySnapshot>>,
    /// How long a waitlist offer is held (`waitlist_hold`), in milliseconds.
    waitlist_hold_ms: std::sync::atomic::AtomicI64,
}

/// A model's bookings as read at one `lock_version`.
struct BusySnapshot {
    version: i64,
    from: i64,
    busy: Arc<Vec<(Interval, Busy)>>,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl SqlStore {
    /// Connects, runs the migrations and seeds the sample inventory into an empty database.
    pub async fn connect(opts: &SqlOptions) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let dialect = if opts.url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else if opts.url.starts_with("postgres:") || opts.url.starts_with("postgresql:") {
            Dialect::Postgres
        } else {
            return Err(StoreError::Invalid(format!(
                "database_url must start with sqlite:// or postgres://, got `{}`",
                opts.url.split(':').next().unwrap_or("")
            )));
        };
        let mut pool = AnyPoolOptions::new()
            .max_connections(opts.max_connections)
            .acquire_timeout(opts.timeout);
        if dialect == Dialect::Sqlite {
            pool = pool.after_connect(|conn, _| {
                Box::pin(async move {
                    // WAL + synchronous=NORMAL: a committed transaction survives a crash of
                    // the process (it is in the WAL file); a power loss or OS crash can lose
                    // the last transactions before a checkpoint (never corrupts the file).
                    // Readers never wait for the writer. See README "Durability".
                    for pragma in [
                        "PRAGMA busy_timeout = 10000",
                        "PRAGMA journal_mode = WAL",
                        "PRAGMA synchronous = NORMAL",
                    ] {
                        sqlx::query(pragma).execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            });
        }
        let pool = pool.connect(&opts.url).await?;
        // PostgreSQL: half as many connections again (at least one) claim idempotency keys.
        let claims = if dialect == Dialect::Postgres {
            let claims = AnyPoolOptions::new()
                .max_connections((opts.max_connections / 2).max(1))
                .acquire_timeout(opts.timeout)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        sqlx::query("SET synchronous_commit = off")
                            .execute(&mut *conn)
                            .await?;
                        Ok(())
                    })
                });
            Some(claims.connect(&opts.url).await?)
        } else {
            None
        };
        let migrator = match dialect {
            Dialect::Sqlite => &SQLITE_MIGRATIONS,
            Dialect::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run(&pool)
            .await
            .map_err(|e| StoreError::Invalid(format!("database migration failed: {e}")))?;
        let store = Self {
            pool,
            claims,
            dialect,
            timeout: opts.timeout,
            cache: Mutex::new(None),
            busy_cache: Mutex::new(std::collections::HashMap::new()),
            waitlist_hold_ms: std::sync::atomic::AtomicI64::new(30 * 60 * 1000),
        };
        store.seed_sample().await?;
        Ok(store)
    }

    /// Sets how long a waitlist offer is held (the setting `waitlist_hold`).
    pub fn set_waitlist_hold(&self, ttl: std::time::Duration) {
        let ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        self.waitlist_hold_ms
            .store(ms, std::sync::atomic::Ordering::Relaxed);
    }

    /// How long a waitlist offer is held.
    fn waitlist_hold(&self) -> chrono::Duration {
        chrono::Duration::milliseconds(
            self.waitlist_hold_ms
                .load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    /// The engine behind this store.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The chat sessions kept in this database (`sessions = "database"`), with the recent
    /// turns of at most `cached` sessions kept in memory on SQLite.
    pub fn sessions(&self, cached: usize) -> super::sql_sessions::SqlSessions {
        super::sql_sessions::SqlSessions::new(self.pool.clone(), self.dialect, self.timeout, cached)
    }

    async fn seed_sample(&self) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let n: i64 = sqlx::query("SELECT COUNT(*) FROM gpu_models")
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        if n == 0 {
            insert_inventory(&mut tx, &Inventory::sample()).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Opens a write transaction (SQLite takes its write lock at once).
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        Ok(match self.dialect {
            Dialect::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Dialect::Postgres => self.pool.begin().await?,
        })
    }

    /// Bounds `fut` by the store timeout.
    async fn bounded<T>(
        &self,
        fut: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let _stage = crate::ops::enter("store");
        let started = Instant::now();
        let r = tokio::time::timeout(self.timeout, fut)
            .await
            .unwrap_or(Err(StoreError::Timeout("booking")));
        metrics::histogram!("hpcbot_store_seconds", "store" => "bookings")
            .record(started.elapsed().as_secs_f64());
        r
    }

    async fn load_inventory(&self) -> Result<Inventory, StoreError> {
        let rows = sqlx::query(
            "SELECT name, memory_gb, price_cents, devices FROM gpu_models ORDER BY position",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut models = Vec::new();
        for r in rows {
            let devices: String = r.try_get("devices")?;
            models.push(GpuModel {
                name: r.try_get("name")?,
                memory_gb: r.try_get::<i64, _>("memory_gb")? as u32,
                price_per_hour: Cents(r.try_get("price_cents")?),
                devices: devices
                    .split(',')
                    .map(Device::parse)
                    .collect::<Result<_, _>>()
                    .map_err(StoreError::Invalid)?,
            });
        }
        Inventory::new(models).map_err(StoreError::Invalid)
    }

    /// Every confirmed booking and maintenance window of `model` that ends after `from`
    /// (Unix seconds). (Both change only under the model's lock, so they are cached together.)
    async fn busy_from(&self, model: &str, from: i64) -> Result<Vec<(Interval, Busy)>, StoreError> {
        let rows = sqlx::query(
            "SELECT b.id, b.start_at, b.end_at, d.device, d.position FROM bookings b \
             JOIN booking_devices d ON d.booking_id = b.id \
             WHERE b.model = $1 AND b.status = 'confirmed' AND b.end_at > $2 \
             UNION ALL SELECT maintenance_id, start_at, end_at, device, 0 FROM maintenance_devices \
             WHERE model = $1 AND end_at > $2 \
             ORDER BY id, position",
        )
        .bind(model.to_string())
        .bind(from)
        .fetch_all(&self.pool)
        .await?;
        let mut out: Vec<(String, Interval, Busy)> = Vec::new();
        for r in rows {
            let id: String = r.try_get("id")?;
            let device =
                Device::parse(&r.try_get::<String, _>("device")?).map_err(StoreError::Invalid)?;
            match out.last_mut() {
                Some((last, _, b)) if *last == id => b.gpus.push(device),
                _ => {
                    let interval = interval_of(&r)?;
                    out.push((
                        id,
                        interval,
                        Busy {
                            interval,
                            gpus: vec![device],
                        },
                    ));
                }
            }
        }
        Ok(out.into_iter().map(|(_, i, b)| (i, b)).collect())
    }

    async fn bookings_where(
        &self,
        filter: &str,
        bind: Option<&str>,
    ) -> Result<Vec<Booking>, StoreError> {
        let sql = format!(
            "SELECT b.id, b.owner, b.model, b.start_at, b.end_at, b.price_cents, b.status, \
             b.ended_early, b.series_id, b.created_at, b.project, d.device FROM bookings b JOIN booking_devices d ON d.booking_id = b.id \
             {filter} ORDER BY b.created_at, b.id, d.position"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        if let Some(v) = bind {
            q = q.bind(v.to_string());
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows_to_bookings(rows)
    }
}

async fn insert_inventory(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    inv: &Inventory,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM gpu_models")
        .execute(&mut **tx)
        .await?;
    for (pos, m) in inv.models().iter().enumerate() {
        let devices: Vec<String> = m.devices.iter().map(Device::to_string).collect();
        sqlx::query(
            "INSERT INTO gpu_models (name, memory_gb, price_cents, devices, position, lock_version) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(m.name.clone())
        .bind(m.memory_gb as i64)
        .bind(m.price_per_hour.0)
        .bind(devices.join(","))
        .bind(pos as i64)
        // Never a version an earlier inventory had (caches compare versions).
        .bind(Utc::now().timestamp_micros())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

async fn insert_booking(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    b: &Booking,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO bookings (id, owner, model, count, start_at, end_at, price_cents, status, \
         created_at, ended_early, series_id, project) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(b.id.to_string())
    .bind(b.owner.as_str().to_string())
    .bind(b.model.clone())
    .bind(b.count() as i64)
    .bind(b.interval.start().timestamp())
    .bind(b.interval.end().timestamp())
    .bind(b.price_total.0)
    .bind(b.status.as_str())
    .bind(b.created_at.timestamp_millis())
    .bind(i64::from(b.status == BookingStatus::Ended))
    .bind(b.series.as_ref().map(|s| s.to_string()))
    .bind(b.project.as_str().to_string())
    .execute(&mut **tx)
    .await?;
    insert_devices(tx, b).await
}

async fn insert_devices(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    b: &Booking,
) -> Result<(), StoreError> {
    for (pos, d) in b.gpus.iter().enumerate() {
        sqlx::query(
            "INSERT INTO booking_devices (booking_id, device, position) VALUES ($1, $2, $3)",
        )
        .bind(b.id.to_string())
        .bind(d.to_string())
        .bind(pos as i64)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// The columns of an event row, in the order [`row_to_event`] reads them.
const EVENT_COLUMNS: &str =
    "SELECT booking_id, at, kind, via, request_id, owner, model, start_at, \
     end_at, price_cents, status, created_at, gpus, project FROM booking_events";

fn row_to_event(r: &AnyRow) -> Result<BookingEvent, StoreError> {
    let bad = |what: &str, v: String| StoreError::Invalid(format!("bad stored {what} `{v}`"));
    let kind: String = r.try_get("kind")?;
    let via: String = r.try_get("via")?;
    let status: String = r.try_get("status")?;
    let gpus: String = r.try_get("gpus")?;
    let id: String = r.try_get("booking_id")?;
    Ok(BookingEvent {
        at: millis(r.try_get("at")?)?,
        kind: EventKind::parse(&kind).ok_or_else(|| bad("event kind", kind.clone()))?,
        via: Via::parse(&via).ok_or_else(|| bad("via", via.clone()))?,
        request_id: r.try_get("request_id")?,
        booking: Booking {
            id: BookingId::parse(&id).map_err(|e| StoreError::Invalid(e.to_string()))?,
            owner: Owner::from_stored(r.try_get("owner")?),
            model: r.try_get("model")?,
            gpus: gpus
                .split(',')
                .filter(|s| !s.is_empty())
                .map(Device::parse)
                .collect::<Result<_, _>>()
                .map_err(StoreError::Invalid)?,
            interval: interval_of(r)?,
            price_total: Cents(r.try_get("price_cents")?),
            status: BookingStatus::parse(&status).ok_or_else(|| bad("status", status.clone()))?,
            created_at: millis(r.try_get("created_at")?)?,
            series: None,
            project: ProjectName::from_stored(r.try_get("project")?),
        },
    })
}

/// Appends an event and its webhook deliveries (in the caller's transaction).
async fn insert_event(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    kind: EventKind,
    b: &Booking,
    origin: &Origin,
    at: DateTime<Utc>,
    proposal: Option<&ProposalKey>,
) -> Result<(), StoreError> {
    event_query(EVENT_INSERT.to_string(), kind, b, origin, at, proposal)
        .execute(&mut **tx)
        .await?;
    webhooks::fan_out_history(tx, kind, &b.id).await
}

/// How many parameters [`EVENT_INSERT`] takes.
const EVENT_PARAMS: usize = 16;

/// The event insert; its parameters are `$1..=$16` (see [`event_query`]).
const EVENT_INSERT: &str =
    "INSERT INTO booking_events (booking_id, at, kind, via, request_id, owner, model, start_at, \
     end_at, price_cents, status, created_at, gpus, proposal_session, proposal_id, project) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)";

/// `sql` (which reads the event from `$1..=$16`) with the event's values bound.
fn event_query(
    sql: String,
    kind: EventKind,
    b: &Booking,
    origin: &Origin,
    at: DateTime<Utc>,
    proposal: Option<&ProposalKey>,
) -> sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments> {
    let gpus: Vec<String> = b.gpus.iter().map(Device::to_string).collect();
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(b.id.to_string())
        .bind(at.timestamp_millis())
        .bind(kind.as_str())
        .bind(origin.via.as_str())
        .bind(origin.request_id.clone())
        .bind(b.owner.as_str().to_string())
        .bind(b.model.clone())
        .bind(b.interval.start().timestamp())
        .bind(b.interval.end().timestamp())
        .bind(b.price_total.0)
        .bind(b.status.as_str())
        .bind(b.created_at.timestamp_millis())
        .bind(gpus.join(","))
        .bind(proposal.map(|p| p.session.clone()))
        .bind(proposal.map(|p| p.id.clone()))
        .bind(b.project.as_str().to_string())
}

/// Stores the reply of a keyed request in its key's record; parameters `$1..=$5`, or
/// `$17..=$21` after an event's (`shift`).
pub(super) fn reply_update(shift: usize) -> String {
    let p = |i: usize| format!("${}", i + shift);
    format!(
        "UPDATE idempotency_keys SET status = {}, body = {} WHERE caller = {} AND idem_key = {} \
         AND token = {} AND status IS NULL",
        p(1),
        p(2),
        p(3),
        p(4),
        p(5)
    )
}

/// Binds the parameters of [`reply_update`]: the reply, and the record of `t`'s key.
pub(super) fn bind_reply(
    q: sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments>,
    t: &super::idempotency::Ticket,
    reply: super::idempotency::StoredReply,
) -> sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments> {
    q.bind(reply.status as i64)
        .bind(reply.body)
        .bind(t.caller.clone())
        .bind(t.key.clone())
        .bind(t.token.clone())
}

/// Records a booking change made by the current request: its event, and, when the request
/// carries an `Idempotency-Key`, the reply stored in the key's record, both in the caller's
/// transaction. The ticket is returned to be marked completed after the commit. On
/// PostgreSQL the two writes are one statement (a data-modifying `WITH`), one round trip.
async fn record_change(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    dialect: Dialect,
    kind: EventKind,
    b: &Booking,
    origin: &Origin,
    at: DateTime<Utc>,
    proposal: Option<&ProposalKey>,
) -> Result<Option<Arc<super::idempotency::Ticket>>, StoreError> {
    let ticket = super::idempotency::current();
    let made = super::idempotency::Made::Booking(b);
    let reply = ticket.as_ref().and_then(|t| t.reply_for(made));
    let (Some(t), Some(reply)) = (ticket, reply) else {
        insert_event(tx, kind, b, origin, at, proposal).await?;
        return Ok(None);
    };
    if dialect == Dialect::Postgres {
        let sql = format!(
            "WITH stored AS ({}) {EVENT_INSERT}",
            reply_update(EVENT_PARAMS)
        );
        bind_reply(event_query(sql, kind, b, origin, at, proposal), &t, reply)
            .execute(&mut **tx)
            .await?;
        webhooks::fan_out_history(tx, kind, &b.id).await?;
    } else {
        insert_event(tx, kind, b, origin, at, proposal).await?;
        bind_reply(sqlx::query(sqlx::AssertSqlSafe(reply_update(0))), &t, reply)
            .execute(&mut **tx)
            .await?;
    }
    Ok(Some(t))
}

/// Writes the model's row: the lock that serialises every change of its bookings.
async fn lock_model(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    model: &str,
) -> Result<(), StoreError> {
    let locked =
        sqlx::query("UPDATE gpu_models SET lock_version = lock_version + 1 WHERE name = $1")
            .bind(model.to_string())
            .execute(&mut **tx)
            .await?;
    if locked.rows_affected() == 0 {
        return Err(StoreError::UnknownModel(model.to_string()));
    }
    Ok(())
}

/// Writes the owner's lock row: the lock that serialises the owner's quota checks across
/// models and instances (`owner_locks`). Taken before the model's lock.
async fn lock_owner(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    owner: &Owner,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO owner_locks (owner, lock_version) VALUES ($1, 1) \
         ON CONFLICT (owner) DO UPDATE SET lock_version = owner_locks.lock_version + 1",
    )
    .bind(owner.as_str().to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// What a write adds to the project's money, for [`commit_price`].
struct Charge<'a> {
    /// The project whose money it is (the booking's or hold's).
    project: &'a ProjectName,
    /// What it adds to the committed total: the new price less the old (0 for a hold,
    /// which commits nothing).
    add: i64,
    /// The booking's (or hold's) new price, checked against the budget when it costs more.
    price: Cents,
    /// Whether `price` is part of the total after `add` (a booking) or not (a hold).
    price_in_total: bool,
    /// The project's budget, if any.
    budget: Option<Cents>,
    /// Read the total instead of writing it (a dry run of a change).
    dry_run: bool,
    /// Live holds at this time count against the budget too ...
    now: DateTime<Utc>,
    /// ... but for this one (the hold being confirmed).
    except_hold: Option<&'a str>,
}

impl<'a> Charge<'a> {
    /// A booking's price written to `project`'s total: `add` is its new price less its old.
    fn booking(
        project: &'a ProjectName,
        add: i64,
        price: Cents,
        budget: Option<Cents>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            project,
            add,
            price,
            price_in_total: true,
            budget,
            dry_run: false,
            now,
            except_hold: None,
        }
    }
}

/// Adds `add` to the project's running total of confirmed prices (`project_money`) and,
/// with a `budget`, refuses when `price` does not fit beside the other bookings and the
/// project's live holds. Written last in the transaction, so its row lock is held only
/// while committing; a hold writes the row too (adding nothing), so holds and bookings of
/// one project are checked one at a time on every instance.
async fn commit_price(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    charge: Charge<'_>,
) -> Result<(), StoreError> {
    let Charge {
        project,
        add,
        price,
        price_in_total,
        budget,
        dry_run,
        now,
        except_hold,
    } = charge;
    let total: i64 = if dry_run {
        if budget.is_none() {
            return Ok(());
        }
        let row = sqlx::query("SELECT confirmed_cents FROM project_money WHERE project = $1")
            .bind(project.as_str().to_string())
            .fetch_optional(&mut **tx)
            .await?;
        row.map(|r| r.try_get::<i64, _>(0))
            .transpose()?
            .unwrap_or(0)
            + add
    } else {
        // One statement whether or not the project has its row yet (a project made by an
        // import has none until its first booking).
        let row = sqlx::query(
            "INSERT INTO project_money (project, confirmed_cents) VALUES ($1, $2) \
             ON CONFLICT (project) DO UPDATE SET confirmed_cents = project_money.confirmed_cents + $2 \
             RETURNING confirmed_cents",
        )
        .bind(project.as_str().to_string())
        .bind(add)
        .fetch_one(&mut **tx)
        .await?;
        row.try_get(0)?
    };
    // A change that costs less always fits (a budget lowered later keeps what was made).
    let Some(budget) = budget.filter(|_| add > 0 || !price_in_total) else {
        return Ok(());
    };
    let held: i64 = sqlx::query(
        "SELECT CAST(COALESCE(SUM(price_cents), 0) AS BIGINT) FROM holds \
         WHERE project = $3 AND state = 'held' AND expires_at > $1 AND id <> $2",
    )
    .bind(now.timestamp_millis())
    .bind(except_hold.unwrap_or_default().to_string())
    .bind(project.as_str().to_string())
    .fetch_one(&mut **tx)
    .await?
    .try_get(0)?;
    let others = total + held - if price_in_total { price.0 } else { 0 };
    crate::domain::money::budget_left(budget, Cents(others), price).map_err(|remaining| {
        StoreError::Budget {
            budget,
            remaining,
            price_total: price,
        }
    })
}

/// The owner's confirmed bookings and live holds overlapping `window` (when and how many
/// GPUs), but for `except` (a booking being changed, or a hold being confirmed): what the
/// owner's quotas are checked against.
async fn holdings_tx(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    owner: &Owner,
    window: &Interval,
    except: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Vec<(Interval, u32)>, StoreError> {
    let rows = sqlx::query(
        "SELECT start_at, end_at, count FROM bookings WHERE owner = $1 \
         AND (status = 'confirmed' OR ended_early = 1) AND start_at < $2 AND end_at > $3 AND id <> $4 \
         UNION ALL SELECT start_at, end_at, count FROM holds WHERE owner = $1 \
         AND state = 'held' AND expires_at > $5 AND start_at < $2 AND end_at > $3 AND id <> $4",
    )
    .bind(owner.as_str().to_string())
    .bind(window.end().timestamp())
    .bind(window.start().timestamp())
    .bind(except.unwrap_or_default().to_string())
    .bind(now.timestamp_millis())
    .fetch_all(&mut **tx)
    .await?;
    rows.iter()
        .map(|r| {
            let start = ts(r.try_get::<i64, _>(0)?)?;
            let end = ts(r.try_get::<i64, _>(1)?)?;
            let n: i64 = r.try_get(2)?;
            let i = Interval::new(start, end).map_err(StoreError::Invalid)?;
            Ok((i, n as u32))
        })
        .collect()
}

/// Checks `quotas` for `count` GPUs over `interval` of `owner` (the owner's lock held).
async fn check_quotas(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    quotas: &Quotas,
    owner: &Owner,
    interval: &Interval,
    count: u32,
    except: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let others = holdings_tx(tx, owner, &quotas.window(interval), except, now).await?;
    Ok(quotas.check(&others, interval, count, now)?)
}

/// Devices of `model` in confirmed bookings (but for `except`) and live holds overlapping
/// `interval` at `now`.
async fn busy_devices_tx(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    model: &str,
    interval: &Interval,
    except: Option<&BookingId>,
    now: DateTime<Utc>,
) -> Result<HashSet<Device>, StoreError> {
    let rows = sqlx::query(
        "SELECT d.device FROM bookings b JOIN booking_devices d ON d.booking_id = b.id \
         WHERE b.model = $1 AND b.status = 'confirmed' AND b.start_at < $2 AND b.end_at > $3 \
         AND b.id <> $4 \
         UNION ALL SELECT d.device FROM holds h JOIN hold_devices d ON d.hold_id = h.id \
         WHERE h.model = $1 AND h.state = 'held' AND h.expires_at > $5 AND h.start_at < $2 \
         AND h.end_at > $3 \
         UNION ALL SELECT device FROM maintenance_devices WHERE model = $1 AND start_at < $2 \
         AND end_at > $3",
    )
    .bind(model.to_string())
    .bind(interval.end().timestamp())
    .bind(interval.start().timestamp())
    .bind(except.map(|i| i.to_string()).unwrap_or_default())
    .bind(now.timestamp_millis())
    .fetch_all(&mut **tx)
    .await?;
    rows.iter()
        .map(|r| {
            r.try_get::<String, _>(0)
                .map_err(StoreError::from)
                .and_then(|s| Device::parse(&s).map_err(StoreError::Invalid))
        })
        .collect()
}

/// `count` free devices of `model` over `interval` for a new booking or hold (the model's
/// lock held), or `InsufficientCapacity` saying how many are free.
async fn free_devices_tx(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    model: &GpuModel,
    interval: &Interval,
    count: u32,
    now: DateTime<Utc>,
) -> Result<Vec<Device>, StoreError> {
    let busy = busy_devices_tx(tx, &model.name, interval, None, now).await?;
    crate::domain::booking::allocate(model, &busy, count).ok_or_else(|| {
        StoreError::InsufficientCapacity {
            model: model.name.clone(),
            free: model.total().saturating_sub(busy.len() as u32),
            total: model.total(),
        }
    })
}

/// One booking read inside a transaction.
async fn booking_tx(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    id: &BookingId,
) -> Result<Option<Booking>, StoreError> {
    let rows = sqlx::query(
        "SELECT b.id, b.owner, b.model, b.start_at, b.end_at, b.price_cents, b.status, \
         b.ended_early, b.series_id, b.created_at, b.project, d.device FROM bookings b JOIN booking_devices d ON d.booking_id = b.id \
         WHERE b.id = $1 ORDER BY d.position",
    )
    .bind(id.to_string())
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows_to_bookings(rows)?.into_iter().next())
}

/// The booking made from a proposal, read inside a transaction.
async fn booking_by_proposal(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    p: &ProposalKey,
) -> Result<Option<Booking>, StoreError> {
    let row =
        sqlx::query("SELECT id FROM bookings WHERE proposal_session = $1 AND proposal_id = $2")
            .bind(p.session.clone())
            .bind(p.id.clone())
            .fetch_optional(&mut **tx)
            .await?;
    match row {
        Some(r) => {
            let id: String = r.try_get(0)?;
            let id = BookingId::parse(&id).map_err(|e| StoreError::Invalid(e.to_string()))?;
            booking_tx(tx, &id).await
        }
        None => Ok(None),
    }
}

/// Whether an event already carried out `p`.
async fn proposal_done(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    p: &ProposalKey,
) -> Result<bool, StoreError> {
    Ok(sqlx::query(
        "SELECT seq FROM booking_events WHERE proposal_session = $1 AND proposal_id = $2",
    )
    .bind(p.session.clone())
    .bind(p.id.clone())
    .fetch_optional(&mut **tx)
    .await?
    .is_some())
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d)
        if d.message().to_lowercase().contains("unique") || d.message().contains("duplicate"))
}

fn rejected(code: &'static str, message: impl Into<String>) -> StoreError {
    StoreError::Rejected {
        code,
        message: message.into(),
    }
}

/// The booking `old` after `change`, checked against the rules and the other bookings (read
/// in `tx`, under the model's lock). Its own devices count as free; it keeps those that stay
/// free; a started booking changes only its end and keeps every device.
async fn changed(
    old: &Booking,
    change: &BookingChange,
    rules: &ChangeRules,
    model: &GpuModel,
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
) -> Result<Booking, StoreError> {
    use crate::domain::booking::{check_request, RequestError};
    if old.status.is_cancelled() {
        return Err(StoreError::BookingCancelled);
    }
    let now = rules.now;
    let started = old.interval.start() <= now;
    let start = change.start.unwrap_or(old.interval.start());
    let end = change.end.unwrap_or(old.interval.end());
    let count = change.count.unwrap_or(old.count());
    if started && (start != old.interval.start() || count != old.count()) {
        return Err(rejected(
            "booking_started",
            "the booking has started: only its end can change",
        ));
    }
    let interval = Interval::new(start, end).map_err(|m| rejected("invalid_interval", m))?;
    if started {
        if end <= now {
            return Err(rejected(
                "end_in_past",
                format!("the new end ({}) is in the past", end.to_rfc3339()),
            ));
        }
        if interval.duration() > rules.limits.max_duration {
            return Err(rejected(
                "booking_too_long",
                format!(
                    "a booking lasts at most {} days",
                    rules.limits.max_duration.num_days()
                ),
            ));
        }
    } else {
        check_request(count as i64, &interval, now, &rules.limits).map_err(|e| {
            let code = match e {
                RequestError::Count { .. } => "invalid_count",
                RequestError::StartInPast(_) => "start_in_past",
                RequestError::TooLong { .. } => "booking_too_long",
                RequestError::TooFarAhead { .. } => "start_too_far_ahead",
            };
            rejected(code, e.to_string())
        })?;
    }
    let busy = busy_devices_tx(tx, &model.name, &interval, Some(&old.id), now).await?;
    let insufficient = || StoreError::InsufficientCapacity {
        model: model.name.clone(),
        free: model.total().saturating_sub(busy.len() as u32),
        total: model.total(),
    };
    let kept: Vec<Device> = old
        .gpus
        .iter()
        .filter(|d| !busy.contains(*d))
        .cloned()
        .collect();
    if started && kept.len() != old.gpus.len() {
        // A running job cannot move to other devices.
        return Err(insufficient());
    }
    let gpus = if count as usize <= kept.len() {
        kept[..count as usize].to_vec()
    } else {
        let mut taken = busy.clone();
        taken.extend(kept.iter().cloned());
        let more = crate::domain::booking::allocate(model, &taken, count - kept.len() as u32)
            .ok_or_else(insufficient)?;
        kept.into_iter().chain(more).collect()
    };
    // The result counts against the quotas; notice only when the start moves (a booking
    // that has started keeps its start).
    let quotas = Quotas {
        min_notice: if start == old.interval.start() {
            chrono::Duration::zero()
        } else {
            rules.limits.quotas.min_notice
        },
        ..rules.limits.quotas
    };
    check_quotas(
        tx,
        &quotas,
        &old.owner,
        &interval,
        count,
        Some(old.id.as_str()),
        now,
    )
    .await?;
    let price_total = price(model.price_per_hour, count, &interval);
    Ok(Booking {
        gpus,
        interval,
        price_total,
        ..old.clone()
    })
}

fn ts(secs: i64) -> Result<DateTime<Utc>, StoreError> {
    Utc.timestamp_opt(secs, 0)
        .single()
        .ok_or_else(|| StoreError::Invalid(format!("bad stored time {secs}")))
}

/// A stored time in Unix milliseconds (`created_at`, `expires_at`, an event's `at`).
fn millis(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .ok_or_else(|| StoreError::Invalid(format!("bad stored time {ms}")))
}

/// A row's `[start_at, end_at)` (Unix seconds).
fn interval_of(r: &AnyRow) -> Result<Interval, StoreError> {
    Interval::new(ts(r.try_get("start_at")?)?, ts(r.try_get("end_at")?)?)
        .map_err(StoreError::Invalid)
}

/// Folds joined rows — one per device, grouped by the record's `id` column, devices in
/// order — into records: `first` makes a record of its first row and device, and the
/// devices of its other rows are added to `gpus`. (Bookings, holds and maintenance
/// windows are all read this way.)
fn fold_devices<T>(
    rows: Vec<AnyRow>,
    first: impl Fn(&AnyRow, Device) -> Result<T, StoreError>,
    gpus: impl Fn(&mut T) -> &mut Vec<Device>,
) -> Result<Vec<T>, StoreError> {
    let mut out: Vec<(String, T)> = Vec::new();
    for r in &rows {
        let id: String = r.try_get("id")?;
        let device =
            Device::parse(&r.try_get::<String, _>("device")?).map_err(StoreError::Invalid)?;
        match out.last_mut() {
            Some((last, t)) if *last == id => gpus(t).push(device),
            _ => out.push((id, first(r, device)?)),
        }
    }
    Ok(out.into_iter().map(|(_, t)| t).collect())
}

/// Folds joined rows (one per device, grouped by booking) into bookings.
fn rows_to_bookings(rows: Vec<AnyRow>) -> Result<Vec<Booking>, StoreError> {
    fold_devices(rows, booking_of, |b| &mut b.gpus)
}

/// A booking from its first row and device.
fn booking_of(r: &AnyRow, device: Device) -> Result<Booking, StoreError> {
    let id: String = r.try_get("id")?;
    let status: String = r.try_get("status")?;
    Ok(Booking {
        id: BookingId::parse(&id).map_err(|e| StoreError::Invalid(e.to_string()))?,
        owner: Owner::from_stored(r.try_get("owner")?),
        model: r.try_get("model")?,
        gpus: vec![device],
        interval: interval_of(r)?,
        price_total: Cents(r.try_get("price_cents")?),
        status: match BookingStatus::parse(&status) {
            Some(BookingStatus::Cancelled) if r.try_get::<i64, _>("ended_early")? != 0 => {
                BookingStatus::Ended
            }
            Some(s) => s,
            None => return Err(StoreError::Invalid(format!("bad stored status {status}"))),
        },
        created_at: millis(r.try_get("created_at")?)?,
        series: r
            .try_get::<Option<String>, _>("series_id")?
            .map(|s| crate::domain::series::SeriesId::parse(&s))
            .transpose()
            .map_err(|e| StoreError::Invalid(e.to_string()))?,
        project: ProjectName::from_stored(r.try_get("project")?),
    })
}

#[async_trait]
impl BookingStore for SqlStore {
    async fn inventory(&self) -> Result<Arc<Inventory>, StoreError> {
        if let Some((at, inv)) = self.cache.lock().expect("cache lock").as_ref() {
            if at.elapsed() < INVENTORY_CACHE_TTL {
                return Ok(inv.clone());
            }
        }
        let inv = Arc::new(self.bounded(self.load_inventory()).await?);
        *self.cache.lock().expect("cache lock") = Some((Instant::now(), inv.clone()));
        Ok(inv)
    }

    async fn create(&self, new: NewBooking) -> Result<Booking, StoreError> {
        let inventory = self.inventory().await?;
        let model = inventory
            .models()
            .iter()
            .find(|m| m.name == new.model)
            .ok_or_else(|| StoreError::UnknownModel(new.model.clone()))?
            .clone();
        let made = self
            .bounded(async {
                let mut tx = self.begin_write().await?;
                if new.quotas.is_some() {
                    lock_owner(&mut tx, &new.owner).await?;
                }
                lock_model(&mut tx, &model.name).await?;
                if let Some(p) = &new.proposal {
                    if let Some(b) = booking_by_proposal(&mut tx, p).await? {
                        tx.commit().await?;
                        return Ok(b);
                    }
                }
                let gpus =
                    free_devices_tx(&mut tx, &model, &new.interval, new.count, new.now).await?;
                // What could be booked is then checked against the owner's quotas (what
                // cannot be booked at all says so first).
                if let Some(q) = &new.quotas {
                    check_quotas(
                        &mut tx,
                        q,
                        &new.owner,
                        &new.interval,
                        new.count,
                        None,
                        new.now,
                    )
                    .await?;
                }
                let price_total = price(model.price_per_hour, new.count, &new.interval);
                let booking = Booking {
                    id: BookingId::new(),
                    owner: new.owner.clone(),
                    model: model.name.clone(),
                    price_total,
                    gpus,
                    interval: new.interval,
                    status: BookingStatus::Confirmed,
                    created_at: new.now,
                    series: None,
                    project: new.project.clone(),
                };
                insert_booking(&mut tx, &booking).await?;
                if let Some(p) = &new.proposal {
                    sqlx::query(
                        "UPDATE bookings SET proposal_session = $1, proposal_id = $2 WHERE id = $3",
                    )
                    .bind(p.session.clone())
                    .bind(p.id.clone())
                    .bind(booking.id.to_string())
                    .execute(&mut *tx)
                    .await?;
                }
                // Last: the project's total, and its budget (see `commit_price`).
                commit_price(
                    &mut tx,
                    Charge::booking(
                        &booking.project,
                        booking.price_total.0,
                        booking.price_total,
                        new.budget,
                        new.now,
                    ),
                )
                .await?;
                let ticket = record_change(
                    &mut tx,
                    self.dialect,
                    EventKind::Created,
                    &booking,
                    &new.origin,
                    new.now,
                    new.proposal.as_ref(),
                )
                .await?;
                tx.commit().await?;
                if let Some(t) = ticket {
                    t.mark_completed();
                }
                Ok(booking)
            })
            .await;
        match (made, &new.proposal) {
            // Two confirmations of one proposal raced past the check (different models, so
            // different locks): the unique index kept one; answer with it.
            (Err(StoreError::Database(e)), Some(p)) if is_unique_violation(&e) => {
                self.by_proposal(p).await?.ok_or(StoreError::Database(e))
            }
            (other, _) => other,
        }
    }

    async fn cancel(
        &self,
        owner: &Owner,
        id: &BookingId,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> Result<Booking, StoreError> {
        // Read before the transaction: the price of the time used, if it has started.
        let inventory = self.inventory().await?;
        self.bounded(async {
            let mut tx = self.begin_write().await?;
            let Some(found) = booking_tx(&mut tx, id).await?.filter(|b| &b.owner == owner) else {
                return Err(StoreError::BookingNotFound);
            };
            lock_model(&mut tx, &found.model).await?;
            let b = booking_tx(&mut tx, id)
                .await?
                .ok_or(StoreError::BookingNotFound)?;
            if b.status.is_cancelled() {
                tx.commit().await?;
                return Ok(b);
            }
            let price_per_hour = inventory
                .find(&b.model)
                .map(|m| m.price_per_hour)
                .ok_or_else(|| StoreError::UnknownModel(b.model.clone()))?;
            let Some(after) = crate::domain::booking::cancelled_at(&b, now, price_per_hour) else {
                return Err(rejected(
                    "booking_ended",
                    "the booking has ended; there is nothing left to cancel",
                ));
            };
            sqlx::query(
                "UPDATE bookings SET status = 'cancelled', ended_early = $1, end_at = $2, \
                 price_cents = $3 WHERE id = $4",
            )
            .bind(i64::from(after.status == BookingStatus::Ended))
            .bind(after.interval.end().timestamp())
            .bind(after.price_total.0)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
            // Cancelling before the start releases the whole price; ending early keeps the
            // price of the time used.
            let kept = if after.status == BookingStatus::Ended {
                after.price_total.0
            } else {
                0
            };
            commit_price(
                &mut tx,
                Charge::booking(&b.project, kept - b.price_total.0, b.price_total, None, now),
            )
            .await?;
            let b = after;
            // What it freed goes to the waitlist, in this transaction.
            if let Some(m) = inventory.find(&b.model) {
                waitlist::offer_in(&mut tx, m, now, self.waitlist_hold()).await?;
            }
            let ticket = record_change(
                &mut tx,
                self.dialect,
                EventKind::Cancelled,
                &b,
                origin,
                now,
                None,
            )
            .await?;
            tx.commit().await?;
            if let Some(t) = ticket {
                t.mark_completed();
            }
            Ok(b)
        })
        .await
    }

    async fn change(
        &self,
        owner: &Owner,
        id: &BookingId,
        change: &BookingChange,
        rules: &ChangeRules,
        origin: &Origin,
    ) -> Result<Booking, StoreError> {
        let inventory = self.inventory().await?;
        self.bounded(async {
            let mut tx = self.begin_write().await?;
            let Some(found) = booking_tx(&mut tx, id).await?.filter(|b| &b.owner == owner)
            else {
                return Err(StoreError::BookingNotFound);
            };
            lock_owner(&mut tx, owner).await?;
            lock_model(&mut tx, &found.model).await?;
            // Read again under the lock: the booking as every other change sees it.
            let old = booking_tx(&mut tx, id)
                .await?
                .ok_or(StoreError::BookingNotFound)?;
            if let Some(p) = &rules.proposal {
                if proposal_done(&mut tx, p).await? {
                    tx.commit().await?;
                    return Ok(old);
                }
            }
            let model = inventory
                .models()
                .iter()
                .find(|m| m.name == old.model)
                .ok_or_else(|| StoreError::UnknownModel(old.model.clone()))?;
            let new = changed(&old, change, rules, model, &mut tx).await?;
            if new == old {
                tx.commit().await?;
                return Ok(old);
            }
            if rules.dry_run {
                let delta = new.price_total.0 - old.price_total.0;
                let charge = Charge {
                    dry_run: true,
                    ..Charge::booking(
                        &old.project,
                        delta,
                        new.price_total,
                        rules.limits.budget,
                        rules.now,
                    )
                };
                commit_price(&mut tx, charge).await?;
                tx.rollback().await?;
                return Ok(new);
            }
            sqlx::query(
                "UPDATE bookings SET start_at = $1, end_at = $2, count = $3, price_cents = $4 WHERE id = $5",
            )
            .bind(new.interval.start().timestamp())
            .bind(new.interval.end().timestamp())
            .bind(new.count() as i64)
            .bind(new.price_total.0)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM booking_devices WHERE booking_id = $1")
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
            insert_devices(&mut tx, &new).await?;
            let delta = new.price_total.0 - old.price_total.0;
            let charge = Charge::booking(
                &old.project,
                delta,
                new.price_total,
                rules.limits.budget,
                rules.now,
            );
            commit_price(&mut tx, charge).await?;
            // A shorter or smaller booking frees devices for the waitlist.
            waitlist::offer_in(&mut tx, model, rules.now, self.waitlist_hold()).await?;
            let ticket = record_change(
                &mut tx,
                self.dialect,
                EventKind::Changed,
                &new,
                origin,
                rules.now,
                rules.proposal.as_ref(),
            )
            .await?;
            tx.commit().await?;
            if let Some(t) = ticket {
                t.mark_completed();
            }
            Ok(new)
        })
        .await
    }

    async fn by_proposal(&self, proposal: &ProposalKey) -> Result<Option<Booking>, StoreError> {
        self.bounded(async {
            let mut conn = self.pool.acquire().await?;
            let row = sqlx::query(
                "SELECT id FROM bookings WHERE proposal_session = $1 AND proposal_id = $2",
            )
            .bind(proposal.session.clone())
            .bind(proposal.id.clone())
            .fetch_optional(&mut *conn)
            .await?;
            let Some(row) = row else { return Ok(None) };
            let id: String = row.try_get(0)?;
            let found = self.bookings_where("WHERE b.id = $1", Some(&id)).await?;
            Ok(found.into_iter().next())
        })
        .await
    }

    async fn events(&self, id: &BookingId) -> Result<Vec<BookingEvent>, StoreError> {
        self.bounded(async {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "{EVENT_COLUMNS} WHERE booking_id = $1 ORDER BY seq"
            )))
            .bind(id.to_string())
            .fetch_all(&self.pool)
            .await?;
            rows.iter().map(row_to_event).collect()
        })
        .await
    }

    async fn all_events(&self) -> Result<Vec<BookingEvent>, StoreError> {
        self.bounded(async {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!("{EVENT_COLUMNS} ORDER BY seq")))
                .fetch_all(&self.pool)
                .await?;
            rows.iter().map(row_to_event).collect()
        })
        .await
    }

    async fn list(&self, owner: &Owner) -> Result<Vec<Booking>, StoreError> {
        self.bounded(async {
            let mut list = self
                .bookings_where("WHERE b.owner = $1", Some(owner.as_str()))
                .await?;
            list.reverse();
            Ok(list)
        })
        .await
    }

    async fn busy(
        &self,
        model: &str,
        window: &Interval,
        now: DateTime<Utc>,
    ) -> Result<Vec<Busy>, StoreError> {
        self.bounded(async {
            let rows = sqlx::query(
                "SELECT b.id, b.start_at, b.end_at, d.device, d.position FROM bookings b \
                 JOIN booking_devices d ON d.booking_id = b.id \
                 WHERE b.model = $1 AND b.status = 'confirmed' AND b.start_at < $2 AND b.end_at > $3 \
                 UNION ALL SELECT h.id, h.start_at, h.end_at, d.device, d.position FROM holds h \
                 JOIN hold_devices d ON d.hold_id = h.id WHERE h.model = $1 AND h.state = 'held' \
                 AND h.expires_at > $4 AND h.start_at < $2 AND h.end_at > $3 \
                 UNION ALL SELECT maintenance_id, start_at, end_at, device, 0 FROM maintenance_devices \
                 WHERE model = $1 AND start_at < $2 AND end_at > $3 \
                 ORDER BY id, position",
            )
            .bind(model.to_string())
            .bind(window.end().timestamp())
            .bind(window.start().timestamp())
            .bind(now.timestamp_millis())
            .fetch_all(&self.pool)
            .await?;
            let mut out: Vec<(String, Busy)> = Vec::new();
            for r in rows {
                let id: String = r.try_get("id")?;
                let device = Device::parse(&r.try_get::<String, _>("device")?)
                    .map_err(StoreError::Invalid)?;
                match out.last_mut() {
                    Some((last, b)) if *last == id => b.gpus.push(device),
                    _ => {
                        let interval =
                            interval_of(&r)?;
                        out.push((
                            id,
                            Busy {
                                interval,
                                gpus: vec![device],
                            },
                        ));
                    }
                }
            }
            Ok(out.into_iter().map(|(_, b)| b).collect())
        })
        .await
    }

    async fn busy_after(
        &self,
        model: &str,
        after: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Arc<Vec<(Interval, Busy)>>, StoreError> {
        self.bounded(async {
            let version: Option<i64> =
                sqlx::query("SELECT lock_version FROM gpu_models WHERE name = $1")
                    .bind(model.to_string())
                    .fetch_optional(&self.pool)
                    .await?
                    .map(|r| r.try_get(0))
                    .transpose()?;
            let Some(version) = version else {
                return Err(StoreError::UnknownModel(model.to_string()));
            };
            let start = after.timestamp();
            let cached = {
                let map = self.busy_cache.lock().expect("busy cache");
                map.get(model)
                    .filter(|c| c.version == version && c.from <= start)
                    .map(|c| c.busy.clone())
            };
            let busy = match cached {
                Some(b) => b,
                None => {
                    // From a little before the window (or now), so later searches reuse it.
                    let from = start.min(Utc::now().timestamp() - 3600);
                    let read = Arc::new(self.busy_from(model, from).await?);
                    self.busy_cache.lock().expect("busy cache").insert(
                        model.to_string(),
                        BusySnapshot {
                            version,
                            from,
                            busy: read.clone(),
                        },
                    );
                    read
                }
            };
            // Live holds are few and expire by time, so they are read every time, never
            // cached with the bookings.
            let held = self.held_from(model, start, now).await?;
            if held.is_empty() {
                return Ok(busy);
            }
            Ok(Arc::new(busy.iter().cloned().chain(held).collect()))
        })
        .await
    }

    async fn all(&self) -> Result<Vec<Booking>, StoreError> {
        self.bounded(self.bookings_where("", None)).await
    }

    async fn import(
        &self,
        inventory: Option<Inventory>,
        bookings: Option<Vec<Booking>>,
    ) -> Result<(), StoreError> {
        let inv = match &inventory {
            Some(i) => i.clone(),
            None => self.load_inventory().await?,
        };
        let bookings = match bookings {
            Some(b) => Some(b),
            None if inventory.is_some() => None,
            None => return Ok(()),
        };
        let mut tx = self.begin_write().await?;
        // Bookings kept as they are must still fit a new inventory.
        let check = match &bookings {
            Some(b) => b.clone(),
            None => {
                let sql = "SELECT b.id, b.owner, b.model, b.start_at, b.end_at, b.price_cents, b.status, \
                     b.ended_early, b.series_id, b.created_at, b.project, d.device FROM bookings b JOIN booking_devices d ON d.booking_id = b.id \
                     ORDER BY b.created_at, b.id, d.position";
                rows_to_bookings(sqlx::query(sql).fetch_all(&mut *tx).await?)?
            }
        };
        check_against(&inv, &check).map_err(StoreError::Invalid)?;
        if let Some(inv) = &inventory {
            insert_inventory(&mut tx, inv).await?;
        }
        if let Some(list) = &bookings {
            // Holds were of the bookings replaced.
            sqlx::query("DELETE FROM hold_devices")
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM holds").execute(&mut *tx).await?;
            sqlx::query("DELETE FROM booking_devices")
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM bookings")
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE gpu_models SET lock_version = lock_version + 1")
                .execute(&mut *tx)
                .await?;
            let origin = Origin::current(Via::Import);
            let now = Utc::now();
            for b in list {
                insert_booking(&mut tx, b).await?;
                insert_event(&mut tx, EventKind::Created, b, &origin, now, None).await?;
            }
            // The projects the bookings name exist, with nothing of their own unless they
            // did, and each project's total is that of its bookings.
            sqlx::query(
                "INSERT INTO projects (name, created_at) SELECT DISTINCT project, $1 FROM bookings \
                 WHERE project NOT IN (SELECT name FROM projects)",
            )
            .bind(now.timestamp_millis())
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM project_money")
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO project_money (project, confirmed_cents) SELECT p.name, \
                 (SELECT CAST(COALESCE(SUM(b.price_cents), 0) AS BIGINT) FROM bookings b \
                 WHERE b.project = p.name AND (b.status = 'confirmed' OR b.ended_early = 1)) \
                 FROM projects p",
            )
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        *self.cache.lock().expect("cache lock") = None;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.bounded(async {
            sqlx::query("SELECT 1").fetch_one(&self.pool).await?;
            Ok(())
        })
        .await
    }

    async fn hold(
        &self,
        new: NewBooking,
        rules: crate::domain::hold::HoldRules,
    ) -> Result<crate::domain::hold::Hold, StoreError> {
        self.make_hold(new, rules).await
    }

    async fn confirm_hold(
        &self,
        owner: &Owner,
        id: &crate::domain::hold::HoldId,
        origin: &Origin,
        now: DateTime<Utc>,
        quotas: Option<Quotas>,
        budget: Option<Cents>,
    ) -> Result<(Booking, bool), StoreError> {
        self.confirm(owner, id, origin, now, quotas, budget).await
    }

    async fn release_hold(
        &self,
        owner: &Owner,
        id: &crate::domain::hold::HoldId,
        now: DateTime<Utc>,
    ) -> Result<crate::domain::hold::Hold, StoreError> {
        self.release(owner, id, now).await
    }

    async fn join_waitlist(
        &self,
        new: NewBooking,
    ) -> Result<crate::domain::waitlist::Entry, StoreError> {
        self.join(new).await
    }

    async fn waitlist(
        &self,
        owner: &Owner,
    ) -> Result<Vec<(crate::domain::waitlist::Entry, Option<u32>)>, StoreError> {
        self.entries(owner).await
    }

    async fn notices(
        &self,
        owner: &Owner,
        kinds: &[crate::domain::webhook::EventType],
        after: i64,
    ) -> Result<Vec<super::webhooks::OwnerNotice>, StoreError> {
        self.notices_of(owner, kinds, after).await
    }

    async fn leave_waitlist(
        &self,
        owner: &Owner,
        id: &crate::domain::waitlist::EntryId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.leave(owner, id, now).await
    }

    async fn refresh_waitlist(&self, now: DateTime<Utc>) -> Result<u32, StoreError> {
        self.refresh(now).await
    }

    async fn sweep_holds(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.forget_holds(before).await
    }

    async fn hold_of(
        &self,
        owner: &Owner,
        id: &crate::domain::hold::HoldId,
    ) -> Result<crate::domain::hold::Hold, StoreError> {
        SqlStore::hold_of(self, owner, id).await
    }

    async fn holds(
        &self,
        owner: &Owner,
        now: DateTime<Utc>,
    ) -> Result<Vec<crate::domain::hold::Hold>, StoreError> {
        self.live_holds(owner, now).await
    }

    async fn create_series(
        &self,
        new: NewBooking,
        occurrences: &[Interval],
        on_conflict: crate::domain::series::OnConflict,
    ) -> Result<super::bookings::SeriesMade, StoreError> {
        self.make_series(new, occurrences, on_conflict).await
    }

    async fn add_maintenance(
        &self,
        gpus: Vec<Device>,
        interval: Interval,
        reason: String,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> Result<
        (
            crate::domain::maintenance::Maintenance,
            crate::domain::maintenance::Affected,
        ),
        StoreError,
    > {
        self.add_window(gpus, interval, reason, origin, now).await
    }

    async fn maintenance(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<crate::domain::maintenance::Maintenance>, StoreError> {
        self.windows(now).await
    }

    async fn remove_maintenance(
        &self,
        id: &crate::domain::maintenance::MaintenanceId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.remove_window(id, now).await
    }

    async fn cancel_series(
        &self,
        owner: &Owner,
        id: &crate::domain::series::SeriesId,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> Result<Vec<Booking>, StoreError> {
        self.end_series(owner, id, origin, now).await
    }

    async fn confirmed_total(&self, project: &ProjectName) -> Result<Cents, StoreError> {
        self.bounded(async {
            let row = sqlx::query("SELECT confirmed_cents FROM project_money WHERE project = $1")
                .bind(project.as_str().to_string())
                .fetch_optional(&self.pool)
                .await?;
            Ok(Cents(row.map(|r| r.try_get(0)).transpose()?.unwrap_or(0)))
        })
        .await
    }

    async fn project_of(&self, owner: &Owner) -> Result<Project, StoreError> {
        self.bounded(projects::project_of(&self.pool, owner)).await
    }

    async fn money(
        &self,
        project: &ProjectName,
        now: DateTime<Utc>,
    ) -> Result<(Cents, Cents), StoreError> {
        self.bounded(async {
            let row = sqlx::query(
                "SELECT CAST(COALESCE(SUM(CASE WHEN end_at > $1 AND ended_early = 0 THEN price_cents ELSE 0 END), 0) AS BIGINT), \
                 CAST(COALESCE(SUM(CASE WHEN end_at <= $1 OR ended_early = 1 THEN price_cents ELSE 0 END), 0) AS BIGINT) \
                 FROM bookings WHERE project = $2 AND (status = 'confirmed' OR ended_early = 1)",
            )
            .bind(now.timestamp())
            .bind(project.as_str().to_string())
            .fetch_one(&self.pool)
            .await?;
            Ok((Cents(row.try_get(0)?), Cents(row.try_get(1)?)))
        })
        .await
    }
}

fn role_of(s: &str) -> crate::store::users::Role {
    if s == "admin" {
        crate::store::users::Role::Admin
    } else {
        crate::store::users::Role::User
    }
}

#[async_trait]
impl crate::store::users::UserStore for SqlStore {
    async fn add_user(
        &self,
        name: &str,
        role: crate::store::users::Role,
        project: &ProjectName,
        now_ms: i64,
    ) -> Result<String, StoreError> {
        crate::store::users::valid_name(name).map_err(StoreError::Invalid)?;
        let token = crate::store::users::new_token();
        self.bounded(async {
            if !self.project_exists(project).await? {
                return Err(projects::no_project(project));
            }
            sqlx::query(
                "INSERT INTO users (name, token_hash, role, created_at, project) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(name.to_string())
            .bind(crate::store::users::token_hash(&token))
            .bind(role.as_str())
            .bind(now_ms)
            .bind(project.as_str().to_string())
            .execute(&self.pool)
            .await
            .map_err(|e| match e {
                sqlx::Error::Database(d)
                    if d.message().to_lowercase().contains("unique")
                        || d.message().contains("duplicate") =>
                {
                    StoreError::Invalid(format!("user `{name}` exists already"))
                }
                other => other.into(),
            })?;
            Ok(token.clone())
        })
        .await
    }

    async fn user_by_token(
        &self,
        token: &str,
    ) -> Result<Option<crate::store::users::User>, StoreError> {
        self.bounded(async {
            let row = sqlx::query("SELECT name, role, project FROM users WHERE token_hash = $1")
                .bind(crate::store::users::token_hash(token))
                .fetch_optional(&self.pool)
                .await?;
            Ok(match row {
                Some(r) => Some(crate::store::users::User {
                    name: r.try_get("name")?,
                    role: role_of(&r.try_get::<String, _>("role")?),
                    project: ProjectName::from_stored(r.try_get("project")?),
                }),
                None => None,
            })
        })
        .await
    }

    async fn users(&self) -> Result<Vec<crate::store::users::User>, StoreError> {
        self.bounded(async {
            let rows = sqlx::query("SELECT name, role, project FROM users ORDER BY name")
                .fetch_all(&self.pool)
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(crate::store::users::User {
                        name: r.try_get("name")?,
                        role: role_of(&r.try_get::<String, _>("role")?),
                        project: ProjectName::from_stored(r.try_get("project")?),
                    })
                })
                .collect()
        })
        .await
    }

    async fn remove_user(&self, name: &str) -> Result<bool, StoreError> {
        self.bounded(async {
            let n = sqlx::query("DELETE FROM users WHERE name = $1")
                .bind(name.to_string())
                .execute(&self.pool)
                .await?;
            Ok(n.rows_affected() > 0)
        })
        .await
    }
}

#[async_trait]
impl IdempotencyStore for SqlStore {
    async fn begin(
        &self,
        caller: &str,
        key: &str,
        fingerprint: &str,
        times: Times,
    ) -> Result<Begin, StoreError> {
        self.bounded(async {
            let token = BookingId::new().to_string();
            let claim = || {
                sqlx::query(
                    "INSERT INTO idempotency_keys (caller, idem_key, fingerprint, token, status, \
                     body, locked_until, expires_at) VALUES ($1, $2, $3, $4, NULL, NULL, $5, $6) \
                     ON CONFLICT (caller, idem_key) DO NOTHING",
                )
                .bind(caller.to_string())
                .bind(key.to_string())
                .bind(fingerprint.to_string())
                .bind(token.clone())
                .bind(times.locked_until_ms)
                .bind(times.expires_at_ms)
            };
            // PostgreSQL: a new key (the usual case) is claimed by one autocommit statement
            // whose commit does not wait for the WAL flush. That is safe: the log is written
            // in order, so the flush of the booking change that follows the claim (a normal
            // commit) makes the claim durable too; and a claim lost in a database crash had
            // nothing committed after it, so its retry runs again, as API.md says of a request
            // cut off. One flush per keyed booking instead of two (keyed/plain bookings/s:
            // 0.74-0.82 with two, see BENCHMARKS.md). A key seen before takes the
            // transaction below.
            if let Some(claims) = &self.claims {
                if claim().execute(claims).await?.rows_affected() == 1 {
                    return Ok(Begin::Run { token });
                }
            }
            // One write transaction (SQLite: BEGIN IMMEDIATE, queued like every other writer
            // instead of an autocommit write that backs off on a busy database).
            let mut tx = self.begin_write().await?;
            if claim().execute(&mut *tx).await?.rows_affected() == 1 {
                tx.commit().await?;
                return Ok(Begin::Run { token });
            }
            let Some(row) = sqlx::query(
                "SELECT fingerprint, token, status, body, locked_until, expires_at \
                 FROM idempotency_keys WHERE caller = $1 AND idem_key = $2",
            )
            .bind(caller.to_string())
            .bind(key.to_string())
            .fetch_optional(&mut *tx)
            .await?
            else {
                // Swept between the two statements: it is as if it never was.
                return Ok(Begin::InProgress);
            };
            let stored_fp: String = row.try_get("fingerprint")?;
            let old_token: String = row.try_get("token")?;
            let status: Option<i64> = row.try_get("status")?;
            let expired = row.try_get::<i64, _>("expires_at")? < times.now_ms;
            let cut_off = status.is_none() && row.try_get::<i64, _>("locked_until")? < times.now_ms;
            if expired || (cut_off && stored_fp == fingerprint) {
                // Take over a record that is forgotten, or a run that never finished.
                let taken = sqlx::query(
                    "UPDATE idempotency_keys SET fingerprint = $1, token = $2, status = NULL, \
                     body = NULL, locked_until = $3, expires_at = $4 \
                     WHERE caller = $5 AND idem_key = $6 AND token = $7",
                )
                .bind(fingerprint.to_string())
                .bind(token.clone())
                .bind(times.locked_until_ms)
                .bind(times.expires_at_ms)
                .bind(caller.to_string())
                .bind(key.to_string())
                .bind(old_token)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                return Ok(if taken.rows_affected() == 1 {
                    Begin::Run { token }
                } else {
                    Begin::InProgress
                });
            }
            if stored_fp != fingerprint {
                return Ok(Begin::Reused);
            }
            Ok(match status {
                None => Begin::InProgress,
                Some(status) => Begin::Replay(StoredReply {
                    status: status as u16,
                    body: row
                        .try_get::<Option<String>, _>("body")?
                        .unwrap_or_default(),
                }),
            })
        })
        .await
    }

    async fn finish(
        &self,
        caller: &str,
        key: &str,
        token: &str,
        reply: &StoredReply,
    ) -> Result<(), StoreError> {
        self.bounded(async {
            let mut tx = self.begin_write().await?;
            sqlx::query(
                "UPDATE idempotency_keys SET status = $1, body = $2 \
                 WHERE caller = $3 AND idem_key = $4 AND token = $5 AND status IS NULL",
            )
            .bind(reply.status as i64)
            .bind(reply.body.clone())
            .bind(caller.to_string())
            .bind(key.to_string())
            .bind(token.to_string())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn release(&self, caller: &str, key: &str, token: &str) -> Result<(), StoreError> {
        self.bounded(async {
            let mut tx = self.begin_write().await?;
            sqlx::query(
                "DELETE FROM idempotency_keys \
                 WHERE caller = $1 AND idem_key = $2 AND token = $3 AND status IS NULL",
            )
            .bind(caller.to_string())
            .bind(key.to_string())
            .bind(token.to_string())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn sweep_idempotency(&self, now_ms: i64) -> Result<u64, StoreError> {
        self.bounded(async {
            let n = sqlx::query("DELETE FROM idempotency_keys WHERE expires_at < $1")
                .bind(now_ms)
                .execute(&self.pool)
                .await?;
            Ok(n.rows_affected())
        })
        .await
    }
}

#[async_trait]
impl crate::store::feeds::FeedStore for SqlStore {
    async fn replace_feed(
        &self,
        owner: &Owner,
        now_ms: i64,
    ) -> Result<crate::domain::ids::FeedToken, StoreError> {
        let token = crate::domain::ids::FeedToken::new();
        self.bounded(async {
            sqlx::query(
                "INSERT INTO calendar_feeds (owner, token_hash, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (owner) DO UPDATE SET token_hash = excluded.token_hash, \
                 created_at = excluded.created_at",
            )
            .bind(owner.as_str().to_string())
            .bind(crate::store::users::token_hash(token.as_str()))
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
        .await?;
        Ok(token)
    }

    async fn feed_owner(
        &self,
        token: &crate::domain::ids::FeedToken,
    ) -> Result<Option<Owner>, StoreError> {
        self.bounded(async {
            let row = sqlx::query("SELECT owner FROM calendar_feeds WHERE token_hash = $1")
                .bind(crate::store::users::token_hash(token.as_str()))
                .fetch_optional(&self.pool)
                .await?;
            Ok(match row {
                Some(r) => Some(Owner::from_stored(r.try_get("owner")?)),
                None => None,
            })
        })
        .await
    }
}
