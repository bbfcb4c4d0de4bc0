//! The SQL booking store, one implementation for SQLite (default) and PostgreSQL through
//! sqlx's `Any` driver. The statements are written in the dialect both accept.
//!
//! No-overlap rule: a booking is made in one transaction that first *writes* the model's row
//! (`lock_version = lock_version + 1`). In PostgreSQL that takes the row's lock, so bookings
//! of one model are serialised across every instance; in SQLite the transaction is opened
//! with `BEGIN IMMEDIATE`, which takes the database's write lock. Only then are the busy
//! devices read and the free ones chosen, so two bookings can never pick the same device.

use super::bookings::{BookingStore, Busy, NewBooking, StoreError};
use crate::domain::booking::{check_against, price, BookingStatus};
use crate::domain::{Booking, BookingId, Cents, Device, GpuModel, Interval, Inventory, Owner};
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
    dialect: Dialect,
    timeout: Duration,
    cache: Mutex<Option<(Instant, Arc<Inventory>)>>,
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
            dialect,
            timeout: opts.timeout,
            cache: Mutex::new(None),
        };
        store.seed_sample().await?;
        Ok(store)
    }

    /// The engine behind this store.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The chat sessions kept in this database (`sessions = "database"`).
    pub fn sessions(&self) -> super::sql_sessions::SqlSessions {
        super::sql_sessions::SqlSessions::new(self.pool.clone(), self.dialect)
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

    async fn bookings_where(
        &self,
        filter: &str,
        bind: Option<&str>,
    ) -> Result<Vec<Booking>, StoreError> {
        let sql = format!(
            "SELECT b.id, b.owner, b.model, b.start_at, b.end_at, b.price_cents, b.status, \
             b.created_at, d.device FROM bookings b JOIN booking_devices d ON d.booking_id = b.id \
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
             VALUES ($1, $2, $3, $4, $5, 0)",
        )
        .bind(m.name.clone())
        .bind(m.memory_gb as i64)
        .bind(m.price_per_hour.0)
        .bind(devices.join(","))
        .bind(pos as i64)
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
        "INSERT INTO bookings (id, owner, model, count, start_at, end_at, price_cents, status, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
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
    .execute(&mut **tx)
    .await?;
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

fn ts(secs: i64) -> Result<DateTime<Utc>, StoreError> {
    Utc.timestamp_opt(secs, 0)
        .single()
        .ok_or_else(|| StoreError::Invalid(format!("bad stored time {secs}")))
}

/// Folds joined rows (one per device, grouped by booking) into bookings.
fn rows_to_bookings(rows: Vec<AnyRow>) -> Result<Vec<Booking>, StoreError> {
    let mut out: Vec<Booking> = Vec::new();
    for r in rows {
        let id: String = r.try_get("id")?;
        let device =
            Device::parse(&r.try_get::<String, _>("device")?).map_err(StoreError::Invalid)?;
        if let Some(last) = out.last_mut().filter(|b| b.id.as_str() == id) {
            last.gpus.push(device);
            continue;
        }
        let status: String = r.try_get("status")?;
        let created: i64 = r.try_get("created_at")?;
        out.push(Booking {
            id: BookingId::parse(&id).map_err(|e| StoreError::Invalid(e.to_string()))?,
            owner: Owner::from_stored(r.try_get("owner")?),
            model: r.try_get("model")?,
            gpus: vec![device],
            interval: Interval::new(ts(r.try_get("start_at")?)?, ts(r.try_get("end_at")?)?)
                .map_err(StoreError::Invalid)?,
            price_total: Cents(r.try_get("price_cents")?),
            status: BookingStatus::parse(&status)
                .ok_or_else(|| StoreError::Invalid(format!("bad stored status {status}")))?,
            created_at: Utc
                .timestamp_millis_opt(created)
                .single()
                .ok_or_else(|| StoreError::Invalid(format!("bad stored time {created}")))?,
        });
    }
    Ok(out)
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
        self.bounded(async {
            let mut tx = self.begin_write().await?;
            // The lock: see the module comment.
            let locked = sqlx::query(
                "UPDATE gpu_models SET lock_version = lock_version + 1 WHERE name = $1",
            )
            .bind(model.name.clone())
            .execute(&mut *tx)
            .await?;
            if locked.rows_affected() == 0 {
                return Err(StoreError::UnknownModel(model.name.clone()));
            }
            let rows = sqlx::query(
                "SELECT d.device FROM bookings b JOIN booking_devices d ON d.booking_id = b.id \
                 WHERE b.model = $1 AND b.status = 'confirmed' AND b.start_at < $2 AND b.end_at > $3",
            )
            .bind(model.name.clone())
            .bind(new.interval.end().timestamp())
            .bind(new.interval.start().timestamp())
            .fetch_all(&mut *tx)
            .await?;
            let busy: HashSet<Device> = rows
                .iter()
                .map(|r| r.try_get::<String, _>(0).map(|s| Device::parse(&s)))
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .collect::<Result<_, _>>()
                .map_err(StoreError::Invalid)?;
            let Some(gpus) = crate::domain::booking::allocate(&model, &busy, new.count) else {
                return Err(StoreError::InsufficientCapacity {
                    model: model.name.clone(),
                    free: model.total().saturating_sub(busy.len() as u32),
                    total: model.total(),
                });
            };
            let booking = Booking {
                id: BookingId::new(),
                owner: new.owner.clone(),
                model: model.name.clone(),
                price_total: price(model.price_per_hour, new.count, &new.interval),
                gpus,
                interval: new.interval,
                status: BookingStatus::Confirmed,
                created_at: new.now,
            };
            insert_booking(&mut tx, &booking).await?;
            tx.commit().await?;
            Ok(booking)
        })
        .await
    }

    async fn cancel(&self, owner: &Owner, id: &BookingId) -> Result<Booking, StoreError> {
        self.bounded(async {
            sqlx::query("UPDATE bookings SET status = 'cancelled' WHERE id = $1 AND owner = $2")
                .bind(id.to_string())
                .bind(owner.as_str().to_string())
                .execute(&self.pool)
                .await?;
            let found = self
                .bookings_where("WHERE b.id = $1", Some(id.as_str()))
                .await?;
            found
                .into_iter()
                .find(|b| &b.owner == owner)
                .ok_or(StoreError::BookingNotFound)
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

    async fn busy(&self, model: &str, window: &Interval) -> Result<Vec<Busy>, StoreError> {
        self.bounded(async {
            let rows = sqlx::query(
                "SELECT b.id, b.start_at, b.end_at, d.device FROM bookings b \
                 JOIN booking_devices d ON d.booking_id = b.id \
                 WHERE b.model = $1 AND b.status = 'confirmed' AND b.start_at < $2 AND b.end_at > $3 \
                 ORDER BY b.id, d.position",
            )
            .bind(model.to_string())
            .bind(window.end().timestamp())
            .bind(window.start().timestamp())
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
                            Interval::new(ts(r.try_get("start_at")?)?, ts(r.try_get("end_at")?)?)
                                .map_err(StoreError::Invalid)?;
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
                     b.created_at, d.device FROM bookings b JOIN booking_devices d ON d.booking_id = b.id \
                     ORDER BY b.created_at, b.id, d.position";
                rows_to_bookings(sqlx::query(sql).fetch_all(&mut *tx).await?)?
            }
        };
        check_against(&inv, &check).map_err(StoreError::Invalid)?;
        if let Some(inv) = &inventory {
            insert_inventory(&mut tx, inv).await?;
        }
        if let Some(list) = &bookings {
            sqlx::query("DELETE FROM booking_devices")
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM bookings")
                .execute(&mut *tx)
                .await?;
            for b in list {
                insert_booking(&mut tx, b).await?;
            }
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
        now_ms: i64,
    ) -> Result<String, StoreError> {
        crate::store::users::valid_name(name).map_err(StoreError::Invalid)?;
        let token = crate::store::users::new_token();
        self.bounded(async {
            sqlx::query(
                "INSERT INTO users (name, token_hash, role, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(name.to_string())
            .bind(crate::store::users::token_hash(&token))
            .bind(role.as_str())
            .bind(now_ms)
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
            let row = sqlx::query("SELECT name, role FROM users WHERE token_hash = $1")
                .bind(crate::store::users::token_hash(token))
                .fetch_optional(&self.pool)
                .await?;
            Ok(match row {
                Some(r) => Some(crate::store::users::User {
                    name: r.try_get("name")?,
                    role: role_of(&r.try_get::<String, _>("role")?),
                }),
                None => None,
            })
        })
        .await
    }

    async fn users(&self) -> Result<Vec<crate::store::users::User>, StoreError> {
        self.bounded(async {
            let rows = sqlx::query("SELECT name, role FROM users ORDER BY name")
                .fetch_all(&self.pool)
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(crate::store::users::User {
                        name: r.try_get("name")?,
                        role: role_of(&r.try_get::<String, _>("role")?),
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
