//! Group commit for chat turns (`sessions = "database"`).
//!
//! Every turn is one commit, and a commit has a fixed price: on SQLite, the one write lock,
//! the WAL pages and the hop to the connection's thread; on PostgreSQL, the transaction, the
//! WAL flush and the backend's CPU (measured: ~0.9 of the 2 cores at 1,800 turns/s). With
//! many sessions talking at once, one task here takes every turn waiting (up to
//! [`MAX_BATCH`]) and applies them together (SQLite: one transaction; PostgreSQL: one
//! statement): each turn keeps its own version check
//! (and, on PostgreSQL, releases its own lease in its statement), a page changed by several
//! turns is written once, and the commit is paid once. A turn's reply still goes out only
//! after its commit (the caller waits for it), so nothing a person was told is lost: on
//! PostgreSQL the commit waits for the flush; on SQLite a crash of the process loses nothing
//! (WAL, `synchronous = NORMAL`).

use super::idempotency::{StoredReply, Ticket};
use super::sessions::{SessionStoreError, TurnRecord};
use crate::domain::SessionId;
use sqlx::AnyPool;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Most turns one transaction applies.
const MAX_BATCH: usize = 64;
/// Most turns waiting for the writer; a caller beyond it waits for room (bounded by the
/// engine's `store_timeout`, like every store call).
const QUEUE: usize = 1024;

/// A turn waiting to be committed.
struct Pending {
    id: SessionId,
    expected: u64,
    turn: TurnRecord,
    /// PostgreSQL: the session's lease, released in the same statement (SQLite has none).
    lease: Option<String>,
    /// The reply of the request's `Idempotency-Key`, stored with the turn (so a crash after
    /// the commit replays the reply instead of running the turn again).
    reply: Option<(Arc<Ticket>, StoredReply)>,
    /// Whether the version check passed (the turn was applied).
    done: oneshot::Sender<Result<bool, String>>,
}

/// The handle to the writer task; the task ends when the handle is dropped.
pub struct TurnWriter {
    queue: mpsc::Sender<Pending>,
}

impl TurnWriter {
    /// Starts the writer over `pool`; on SQLite it writes while holding `gate`, the process's
    /// queue for the write lock (shared with the store's other writes).
    /// A batch that takes longer than `bound` is given up (rolled back), its turns answered
    /// with an error, so a stalled database cannot hold the writer, and the gate, for ever.
    pub fn spawn(
        pool: AnyPool,
        gate: Option<Arc<tokio::sync::Mutex<()>>>,
        bound: std::time::Duration,
    ) -> Self {
        let (queue, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(pool, gate, bound, rx));
        Self { queue }
    }

    /// Commits a turn if the session still has `expected` turns; `Ok(false)` if it has not
    /// (the caller tells a conflict from a missing session). If the caller stops waiting, the
    /// turn is dropped unless the writer has taken it already (then it may be applied: the
    /// engine reports such an outcome as unknown).
    pub async fn commit(
        &self,
        id: &SessionId,
        expected: u64,
        turn: TurnRecord,
        lease: Option<&str>,
    ) -> Result<bool, SessionStoreError> {
        let (done, answer) = oneshot::channel();
        let reply = super::idempotency::current().and_then(|t| t.prepared().map(|r| (t, r)));
        let ticket = reply.as_ref().map(|(t, _)| t.clone());
        let closed = || SessionStoreError::Backend("the session writer stopped".into());
        self.queue
            .send(Pending {
                id: id.clone(),
                expected,
                turn,
                lease: lease.map(str::to_string),
                reply,
                done,
            })
            .await
            .map_err(|_| closed())?;
        let applied = answer
            .await
            .map_err(|_| closed())?
            .map_err(SessionStoreError::Backend)?;
        if let (true, Some(t)) = (applied, ticket) {
            t.mark_completed();
        }
        Ok(applied)
    }
}

async fn run(
    pool: AnyPool,
    gate: Option<Arc<tokio::sync::Mutex<()>>>,
    bound: std::time::Duration,
    mut rx: mpsc::Receiver<Pending>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // A turn whose caller stopped waiting (its deadline passed while the store was slow)
        // was answered as not stored: it must not be applied later behind its back.
        batch.retain(|p| !p.done.is_closed());
        if batch.is_empty() {
            continue;
        }
        match bounded(&pool, gate.as_deref(), bound, &batch).await {
            Ok(applied) => {
                for (p, ok) in batch.drain(..).zip(applied) {
                    let _ = p.done.send(Ok(ok));
                }
            }
            // The database did not answer in time: trying each turn alone would only take
            // longer.
            Err(Failure::Stalled) => {
                for p in batch.drain(..) {
                    let _ = p.done.send(Err(Failure::Stalled.to_string()));
                }
            }
            // The whole transaction failed: each turn alone, so one cannot fail the others.
            Err(Failure::Error(_)) => {
                for p in batch.drain(..) {
                    let r = bounded(&pool, gate.as_deref(), bound, std::slice::from_ref(&p)).await;
                    let _ = p.done.send(r.map(|v| v[0]).map_err(|e| e.to_string()));
                }
            }
        }
    }
}

/// Why a batch was not applied.
enum Failure {
    /// It took longer than the writer's bound.
    Stalled,
    /// The database refused it.
    Error(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Stalled => f.write_str("the session store did not answer in time"),
            Failure::Error(e) => f.write_str(e),
        }
    }
}

/// [`apply`], given up after `bound`.
async fn bounded(
    pool: &AnyPool,
    gate: Option<&tokio::sync::Mutex<()>>,
    bound: std::time::Duration,
    batch: &[Pending],
) -> Result<Vec<bool>, Failure> {
    match tokio::time::timeout(bound, apply(pool, gate, batch)).await {
        Ok(r) => r.map_err(|e| Failure::Error(e.to_string())),
        Err(_) => Err(Failure::Stalled),
    }
}

/// Applies `batch` in one write transaction (SQLite) or statement (PostgreSQL); per turn,
/// whether its version check passed.
async fn apply(
    pool: &AnyPool,
    gate: Option<&tokio::sync::Mutex<()>>,
    batch: &[Pending],
) -> Result<Vec<bool>, sqlx::Error> {
    let Some(gate) = gate else {
        return apply_postgres(pool, batch).await;
    };
    let _gate = gate.lock().await;
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let mut applied = Vec::with_capacity(batch.len());
    for p in batch {
        let n = super::sql_sessions::turn_update(&p.id, p.expected, &p.turn)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if let (1, Some((t, reply))) = (n, &p.reply) {
            let q = sqlx::query(sqlx::AssertSqlSafe(super::sql::reply_update(0)));
            super::sql::bind_reply(q, t, reply.clone())
                .execute(&mut *tx)
                .await?;
        }
        applied.push(n == 1);
    }
    tx.commit().await?;
    Ok(applied)
}

/// PostgreSQL: the whole batch in ONE statement (one round trip, atomic without a
/// transaction): the turns as a `VALUES` list, each session's version-checked update (whose
/// trigger appends its messages), the release of each turn's lease, and for each applied
/// turn its request's stored reply; the ids returned are the turns whose check passed.
async fn apply_postgres(pool: &AnyPool, batch: &[Pending]) -> Result<Vec<bool>, sqlx::Error> {
    use sqlx::Row;
    const COLUMNS: usize = 14;
    // The first eight in the order of `TURN_UPDATE`'s parameters, bound by `bind_turn`.
    const TYPES: [&str; COLUMNS] = [
        "text", "bigint", "text", "bigint", "text", "bigint", "text", "bigint", "text", "text",
        "text", "text", "bigint", "text",
    ];
    let rows: Vec<String> = (0..batch.len())
        .map(|i| {
            let cells: Vec<String> = (0..COLUMNS)
                .map(|k| format!("${}::{}", COLUMNS * i + k + 1, TYPES[k]))
                .collect();
            format!("({})", cells.join(", "))
        })
        .collect();
    let sql = format!(
        "WITH v (state, expires_at, last_user, last_user_at, last_reply, last_reply_at, id, \
         expected, token, r_caller, r_key, r_token, r_status, r_body) AS (VALUES {}), \
         released AS (DELETE FROM chat_leases l USING v \
         WHERE l.session_id = v.id AND l.token = v.token), \
         applied AS (UPDATE chat_sessions s SET turns = s.turns + 1, state = v.state, \
         expires_at = v.expires_at, last_user = v.last_user, last_user_at = v.last_user_at, \
         last_reply = v.last_reply, last_reply_at = v.last_reply_at \
         FROM v WHERE s.id = v.id AND s.turns = v.expected RETURNING s.id), \
         stored AS (UPDATE idempotency_keys k SET status = v.r_status, body = v.r_body \
         FROM v JOIN applied a ON a.id = v.id WHERE k.caller = v.r_caller \
         AND k.idem_key = v.r_key AND k.token = v.r_token AND k.status IS NULL) \
         SELECT id FROM applied",
        rows.join(", ")
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for p in batch {
        q = super::sql_sessions::bind_turn(q, &p.id, p.expected, &p.turn)
            .bind(p.lease.clone())
            .bind(p.reply.as_ref().map(|(t, _)| t.caller.clone()))
            .bind(p.reply.as_ref().map(|(t, _)| t.key.clone()))
            .bind(p.reply.as_ref().map(|(t, _)| t.token.clone()))
            .bind(p.reply.as_ref().map(|(_, r)| r.status as i64))
            .bind(p.reply.as_ref().map(|(_, r)| r.body.clone()));
    }
    let applied: std::collections::HashSet<String> = q
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| r.try_get::<String, _>(0))
        .collect::<Result<_, _>>()?;
    Ok(batch
        .iter()
        .map(|p| applied.contains(p.id.as_str()))
        .collect())
}
