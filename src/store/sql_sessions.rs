//! Sessions in the booking database (`sessions = "database"`, the default): history,
//! dialogue state and the per-session lease in the SQLite file or in PostgreSQL, so a restart
//! loses nothing a person was told.
//!
//! A session is a row of `chat_sessions` (owner, times, turn count, dialogue state as JSON
//! text) and two rows of `chat_messages` per turn (seq `2k`, `2k+1`). A turn is committed by
//! one statement that bumps the turn count *only if it is still the one loaded*
//! (`UPDATE ... WHERE turns = $expected`, the version check, so a turn is never lost or
//! interleaved, whatever the lease does) and sets the turn's two messages in `last_*`
//! columns, which a trigger appends to `chat_messages`: atomic, one round trip. On PostgreSQL
//! several instances share the store, so turns of one session also take a lease, a row of
//! `chat_leases` taken only if free or lapsed, together with the session's read (one
//! function call for all the turns waiting: migration 0006, `lease_loader`), and released by
//! compare-and-delete in the commit's statement (`shared()` is true). SQLite is one machine's store: the engine's
//! per-session queue orders turns there, the version check still refuses a turn that raced
//! one of another process on the same file. On both, turns are committed in batches by the
//! group-commit writer (`turn_writer`).

use super::bookings::StoreError;
use super::sessions::{Message, Role, SessionRecord, SessionStore, SessionStoreError, TurnRecord};
use super::sql::Dialect;
use crate::domain::{Owner, SessionId};
use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use sqlx::{AnyPool, Row};
use std::sync::Arc;
use std::time::Duration;

use super::lease_loader::LeaseLoader;
use super::session_cache::SessionCache;
use super::turn_writer::TurnWriter;

/// Sessions in the SQL database.
pub struct SqlSessions {
    pool: AnyPool,
    dialect: Dialect,
    /// SQLite: this process's session writers queue here (async, FIFO) for the database's one
    /// write lock instead of in SQLite's busy handler, which sleeps 1..100 ms between tries.
    /// Guards the file's write lock only; every wait is bounded by the engine's store timeout.
    /// (Measured on the shared 2-core machine: no difference beyond the noise either way.)
    /// PostgreSQL: none (row locks).
    write_gate: Option<Arc<tokio::sync::Mutex<()>>>,
    /// The group-commit writer that turns are committed through.
    writer: TurnWriter,
    /// PostgreSQL: takes turns' leases and reads their sessions in batches. SQLite: none
    /// (one machine's store, no lease).
    loader: Option<LeaseLoader>,
    /// SQLite: the sessions' recent turns as last committed (`session_cache`), so a turn
    /// reads no rows. PostgreSQL: none (other instances write the same sessions).
    cache: Option<SessionCache>,
}

fn backend(e: impl std::fmt::Display) -> SessionStoreError {
    SessionStoreError::Backend(e.to_string())
}

impl From<sqlx::Error> for SessionStoreError {
    fn from(e: sqlx::Error) -> Self {
        backend(e)
    }
}

impl From<StoreError> for SessionStoreError {
    fn from(e: StoreError) -> Self {
        backend(e)
    }
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_ms(v: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(v).single().unwrap_or_default()
}

fn role_text(r: Role) -> &'static str {
    match r {
        Role::User => "user",
        Role::Assistant => "assistant",
    }
}

fn state_text(v: &serde_json::Value) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

impl SqlSessions {
    /// Why a turn's version check failed: another turn came first, or the session is gone.
    async fn refused(&self, id: &SessionId) -> SessionStoreError {
        let exists = sqlx::query("SELECT 1 FROM chat_sessions WHERE id = $1")
            .bind(id.as_str().to_string())
            .fetch_optional(&self.pool)
            .await;
        match exists {
            Ok(Some(_)) => SessionStoreError::Conflict,
            Ok(None) => SessionStoreError::NotFound,
            Err(e) => e.into(),
        }
    }

    /// Sessions over the booking store's pool (its migrations made the tables); `timeout`
    /// bounds each batch of the group-commit writer; on SQLite, the recent turns of at most
    /// `cached` sessions are kept in memory beside the file (0: none).
    pub fn new(pool: AnyPool, dialect: Dialect, timeout: Duration, cached: usize) -> Self {
        let write_gate =
            (dialect == Dialect::Sqlite).then(|| Arc::new(tokio::sync::Mutex::new(())));
        let writer = TurnWriter::spawn(pool.clone(), write_gate.clone(), timeout);
        let loader =
            (dialect == Dialect::Postgres).then(|| LeaseLoader::spawn(pool.clone(), timeout));
        let cache = (dialect == Dialect::Sqlite)
            .then(|| SessionCache::new(cached))
            .flatten();
        Self {
            pool,
            write_gate,
            writer,
            loader,
            dialect,
            cache,
        }
    }

    /// A write transaction, with its place at the SQLite write gate; SQLite takes its write
    /// lock at once (no deadlock-prone upgrade).
    async fn begin_write(
        &self,
    ) -> Result<
        (
            Option<tokio::sync::MutexGuard<'_, ()>>,
            sqlx::Transaction<'static, sqlx::Any>,
        ),
        sqlx::Error,
    > {
        let gate = match &self.write_gate {
            Some(g) => Some(g.lock().await),
            None => None,
        };
        let tx = match self.dialect {
            Dialect::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Dialect::Postgres => self.pool.begin().await?,
        };
        Ok((gate, tx))
    }

    /// Inserts messages `first_seq..` in one statement (one round trip).
    async fn insert_messages(
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        id: &SessionId,
        first_seq: u64,
        msgs: &[&Message],
    ) -> Result<(), sqlx::Error> {
        if msgs.is_empty() {
            return Ok(());
        }
        let values: Vec<String> = (0..msgs.len())
            .map(|i| {
                let b = 5 * i;
                format!(
                    "(${}, ${}, ${}, ${}, ${})",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO chat_messages (session_id, seq, role, content, at) VALUES {}",
            values.join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (i, m) in msgs.iter().enumerate() {
            q = q
                .bind(id.as_str().to_string())
                .bind((first_seq + i as u64) as i64)
                .bind(role_text(m.role))
                .bind(m.content.clone())
                .bind(ms(m.at));
        }
        q.execute(&mut **tx).await?;
        Ok(())
    }
}

/// The statement that commits a turn: the version check (`turns = expected`), the new state
/// and expiry, and the turn's two messages (appended by the migration's trigger). Its
/// parameters are `$1..=$8` ([`bind_turn`]).
const TURN_UPDATE: &str = "UPDATE chat_sessions SET turns = turns + 1, state = $1, \
     expires_at = $2, last_user = $3, last_user_at = $4, last_reply = $5, last_reply_at = $6 \
     WHERE id = $7 AND turns = $8";

/// [`TURN_UPDATE`], ready to run.
pub(super) fn turn_update(
    id: &SessionId,
    expected_turns: u64,
    t: &TurnRecord,
) -> sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments> {
    bind_turn(sqlx::query(TURN_UPDATE), id, expected_turns, t)
}

/// Binds a turn's values to `$1..=$8` of `q` (see [`TURN_UPDATE`]), or to the next eight
/// parameters of a statement that has others before them.
pub(super) fn bind_turn(
    q: sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments>,
    id: &SessionId,
    expected_turns: u64,
    t: &TurnRecord,
) -> sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments> {
    q.bind(state_text(&t.state))
        .bind(ms(t.expires_at))
        .bind(t.user.content.clone())
        .bind(ms(t.user.at))
        .bind(t.assistant.content.clone())
        .bind(ms(t.assistant.at))
        .bind(id.as_str().to_string())
        .bind(expected_turns as i64)
}

/// A session from the rows of its row joined with its last `last` messages (columns named
/// with `prefix`); `None` if there is no row or the session has expired.
fn record_from_rows(
    id: &SessionId,
    rows: &[sqlx::any::AnyRow],
    now: DateTime<Utc>,
    last: i64,
    prefix: &str,
) -> Result<Option<SessionRecord>, SessionStoreError> {
    let col = |name: &str| format!("{prefix}{name}");
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    // No row, or (a left join's) NULLs: no such session.
    let Some(expires_at) = row.try_get::<Option<i64>, _>(col("expires_at").as_str())? else {
        return Ok(None);
    };
    let expires_at = from_ms(expires_at);
    if expires_at <= now {
        return Ok(None);
    }
    let total = 2 * row.try_get::<i64, _>(col("turns").as_str())?.max(0);
    let from = (total - last).max(0) as u64;
    let mut messages = Vec::with_capacity(rows.len());
    for m in rows {
        if m.try_get::<Option<i64>, _>(col("seq").as_str())?.is_none() {
            continue; // a session without messages (the LEFT JOIN's empty side)
        }
        messages.push(Message {
            role: match m.try_get::<String, _>(col("role").as_str())?.as_str() {
                "user" => Role::User,
                _ => Role::Assistant,
            },
            content: m.try_get(col("content").as_str())?,
            at: from_ms(m.try_get(col("at").as_str())?),
        });
    }
    let state: String = row.try_get(col("state").as_str())?;
    Ok(Some(SessionRecord {
        id: id.clone(),
        owner: Owner::from_stored(row.try_get(col("owner").as_str())?),
        created_at: from_ms(row.try_get(col("created_at").as_str())?),
        expires_at,
        earlier: from,
        messages,
        state: serde_json::from_str(&state).unwrap_or_default(),
    }))
}

#[async_trait]
impl SessionStore for SqlSessions {
    async fn create(&self, r: SessionRecord) -> Result<(), SessionStoreError> {
        let insert = sqlx::query(
            "INSERT INTO chat_sessions (id, owner, created_at, expires_at, turns, state) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(r.id.as_str().to_string())
        .bind(r.owner.as_str().to_string())
        .bind(ms(r.created_at))
        .bind(ms(r.expires_at))
        .bind((r.messages.len() / 2) as i64)
        .bind(state_text(&r.state));
        if r.messages.is_empty() {
            // The usual case: one statement, no transaction.
            let _gate = match &self.write_gate {
                Some(g) => Some(g.lock().await),
                None => None,
            };
            insert.execute(&self.pool).await?;
            if let Some(c) = &self.cache {
                c.created(&r);
            }
            return Ok(());
        }
        let (_gate, mut tx) = self.begin_write().await?;
        insert.execute(&mut *tx).await?;
        let msgs: Vec<&Message> = r.messages.iter().collect();
        for (i, chunk) in msgs.chunks(50).enumerate() {
            Self::insert_messages(&mut tx, &r.id, 50 * i as u64, chunk).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn load(
        &self,
        id: &SessionId,
        now: DateTime<Utc>,
        last: Option<usize>,
    ) -> Result<Option<SessionRecord>, SessionStoreError> {
        let cache = self.cache.as_ref().zip(last);
        if let Some(hit) = cache.and_then(|(c, n)| c.get(id, now, n)) {
            return Ok(Some(hit));
        }
        // One statement (one round trip, one snapshot): the session's row joined with the
        // messages of exactly the turns it counts, the most recent `last` of them.
        let last = last.map_or(i64::MAX / 4, |n| n as i64);
        let rows = sqlx::query(
            "SELECT s.owner, s.created_at, s.expires_at, s.turns, s.state, m.seq, m.role, m.content, m.at \
             FROM chat_sessions s LEFT JOIN chat_messages m ON m.session_id = s.id \
             AND m.seq >= 2 * s.turns - $2 AND m.seq < 2 * s.turns \
             WHERE s.id = $1 ORDER BY m.seq",
        )
        .bind(id.as_str().to_string())
        .bind(last)
        .fetch_all(&self.pool)
        .await?;
        let record = record_from_rows(id, &rows, now, last, "")?;
        if let (Some((c, n)), Some(r)) = (cache, &record) {
            c.read(r, n);
        }
        Ok(record)
    }

    async fn commit_turn(
        &self,
        id: &SessionId,
        expected_turns: u64,
        t: TurnRecord,
    ) -> Result<u64, SessionStoreError> {
        // One statement (see the migration): the version check, the new state and expiry, and
        // (by the trigger) the two messages, atomically and in one round trip, through the
        // group-commit writer. The session's cached turns are out while it is written.
        // The turn is copied only to be kept after its write.
        let kept = self.cache.as_ref().map(|c| (c, c.take(id), t.clone()));
        let bumped = self.writer.commit(id, expected_turns, t, None).await?;
        if !bumped {
            return Err(self.refused(id).await);
        }
        if let Some((c, taken, t)) = kept {
            c.committed(id, taken, expected_turns, &t);
        }
        Ok(expected_turns + 1)
    }

    async fn commit_turn_and_release(
        &self,
        id: &SessionId,
        expected_turns: u64,
        t: TurnRecord,
        token: &str,
    ) -> Result<(u64, bool), SessionStoreError> {
        if self.dialect != Dialect::Postgres {
            return Ok((self.commit_turn(id, expected_turns, t).await?, false));
        }
        // PostgreSQL: the lease's compare-and-delete rides in the commit's statement (the
        // writer's batch), so it is released exactly when the turn is committed. If the
        // version check fails, the lease goes all the same: the turn ends there.
        let bumped = self
            .writer
            .commit(id, expected_turns, t, Some(token))
            .await?;
        if !bumped {
            return Err(self.refused(id).await);
        }
        Ok((expected_turns + 1, true))
    }

    async fn delete(&self, id: &SessionId) -> Result<bool, SessionStoreError> {
        if let Some(c) = &self.cache {
            c.forget(id);
        }
        let (_gate, mut tx) = self.begin_write().await?;
        for sql in [
            "DELETE FROM chat_messages WHERE session_id = $1",
            "DELETE FROM chat_leases WHERE session_id = $1",
        ] {
            sqlx::query(sql)
                .bind(id.as_str().to_string())
                .execute(&mut *tx)
                .await?;
        }
        let n = sqlx::query("DELETE FROM chat_sessions WHERE id = $1")
            .bind(id.as_str().to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        if let Some(c) = &self.cache {
            c.forget(id);
        }
        Ok(n > 0)
    }

    async fn count(&self) -> Result<u64, SessionStoreError> {
        let n: i64 = sqlx::query("SELECT COUNT(*) FROM chat_sessions")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        Ok(n.max(0) as u64)
    }

    async fn sweep(&self, now: DateTime<Utc>) -> Result<u64, SessionStoreError> {
        let (_gate, mut tx) = self.begin_write().await?;
        sqlx::query(
            "DELETE FROM chat_messages WHERE session_id IN \
             (SELECT id FROM chat_sessions WHERE expires_at <= $1)",
        )
        .bind(ms(now))
        .execute(&mut *tx)
        .await?;
        let n = sqlx::query("DELETE FROM chat_sessions WHERE expires_at <= $1")
            .bind(ms(now))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        // Lapsed leases (by wall time: leases are not on the injectable clock).
        sqlx::query("DELETE FROM chat_leases WHERE until < $1")
            .bind(ms(Utc::now()))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(n)
    }

    async fn ping(&self) -> Result<(), SessionStoreError> {
        sqlx::query("SELECT 1").fetch_one(&self.pool).await?;
        Ok(())
    }

    fn name(&self) -> &'static str {
        "database"
    }

    fn shared(&self) -> bool {
        self.dialect == Dialect::Postgres
    }

    async fn try_lease(
        &self,
        id: &SessionId,
        token: &str,
        ttl: Duration,
    ) -> Result<bool, SessionStoreError> {
        // Wall time, as Redis' PX: a lease must lapse even if the clock is a test's.
        let now = ms(Utc::now());
        let n = sqlx::query(
            "INSERT INTO chat_leases (session_id, token, until) VALUES ($1, $2, $3) \
             ON CONFLICT (session_id) DO UPDATE SET token = excluded.token, until = excluded.until \
             WHERE chat_leases.until < $4",
        )
        .bind(id.as_str().to_string())
        .bind(token.to_string())
        .bind(now + ttl.as_millis() as i64)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    async fn try_lease_and_load(
        &self,
        id: &SessionId,
        token: &str,
        ttl: Duration,
        now: DateTime<Utc>,
        last: Option<usize>,
    ) -> Result<Option<Option<SessionRecord>>, SessionStoreError> {
        // With the turns of other sessions waiting at the same time, in one call of the
        // migration's function: it takes the leases, then reads each session with a snapshot
        // taken after its lease (see 0006_lease_and_load_many.sql and `lease_loader`).
        let Some(loader) = &self.loader else {
            return Ok(Some(self.load(id, now, last).await?));
        };
        let until = ms(Utc::now()) + ttl.as_millis() as i64;
        let last = last.map_or(i64::MAX / 4, |n| n as i64);
        let rows = loader
            .lease_and_load(id.as_str(), token, until, last)
            .await
            .map_err(SessionStoreError::Backend)?;
        match rows {
            None => Ok(None),
            Some(rows) => Ok(Some(record_from_rows(id, &rows, now, last, "r_")?)),
        }
    }

    async fn release_lease(&self, id: &SessionId, token: &str) -> Result<(), SessionStoreError> {
        sqlx::query("DELETE FROM chat_leases WHERE session_id = $1 AND token = $2")
            .bind(id.as_str().to_string())
            .bind(token.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
