//! Batched lease-and-read for PostgreSQL sessions (`sessions = "database"`).
//!
//! Each turn on a shared store starts by taking its session's lease and reading the session
//! after it (migration 0005: one function call a turn). Measured on the 2-core machine, that
//! call cost PostgreSQL more than the turn's share of the group commit: a statement's fixed
//! price (its round trip, the pool's checks, plan start-up, its own transaction) paid once a
//! turn. As the group-commit writer does for commits, one task here takes every turn waiting
//! (up to [`MAX_BATCH`]) and takes their leases and reads their sessions in one call
//! (migration 0006, `chat_lease_and_load_many`): three statements for the whole batch.
//!
//! Nothing about a turn changes: its lease is taken only if free or lapsed, and its session
//! is read with a snapshot taken after its lease (each statement of the function takes a new
//! one). A request whose caller gave up before its batch ran is dropped; if it gave up while
//! the batch ran, the engine releases the lease it may have got (it knows the token).

use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Most leases one call takes.
const MAX_BATCH: usize = 64;
/// Most requests waiting for the loader; a caller beyond it waits for room (bounded by the
/// engine's `store_timeout`, like every store call).
const QUEUE: usize = 1024;

/// What a request gets: `None` if the lease is held, else the rows read for its session
/// (columns `r_*` of the function; one row of NULLs beside `r_id` if there is no session).
pub type Loaded = Option<Vec<AnyRow>>;

/// One turn's lease to take.
#[derive(serde::Serialize)]
struct Wanted {
    id: String,
    token: String,
    /// Wall-clock Unix milliseconds the lease lapses at.
    until: i64,
    /// How many of the latest messages to read.
    last: i64,
}

struct Request {
    wanted: Wanted,
    done: oneshot::Sender<Result<Loaded, String>>,
}

/// The handle to the loader task; the task ends when the handle is dropped.
pub struct LeaseLoader {
    queue: mpsc::Sender<Request>,
}

impl LeaseLoader {
    /// Starts the loader over `pool`; a call that takes longer than `bound` is given up and
    /// its requests answered with an error.
    pub fn spawn(pool: AnyPool, bound: Duration) -> Self {
        let (queue, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(pool, bound, rx));
        Self { queue }
    }

    /// Takes session `id`'s lease with `token` until `until` (wall-clock Unix ms) if it is
    /// free or lapsed, and then reads the session's last `last` messages.
    pub async fn lease_and_load(
        &self,
        id: &str,
        token: &str,
        until: i64,
        last: i64,
    ) -> Result<Loaded, String> {
        let (done, answer) = oneshot::channel();
        let wanted = Wanted {
            id: id.to_string(),
            token: token.to_string(),
            until,
            last,
        };
        let stopped = || "the session lease loader stopped".to_string();
        self.queue
            .send(Request { wanted, done })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn run(pool: AnyPool, bound: Duration, mut rx: mpsc::Receiver<Request>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // Given up while waiting: taking its lease now would only hold the session for nobody.
        batch.retain(|r| !r.done.is_closed());
        // One try per session a call (the function wants distinct ids); a second turn of the
        // same session is told the lease is held, and polls again as it would anyway.
        let mut seen = std::collections::HashSet::new();
        let (first, again): (Vec<_>, Vec<_>) = batch
            .drain(..)
            .partition(|r| seen.insert(r.wanted.id.clone()));
        for r in again {
            let _ = r.done.send(Ok(None));
        }
        if first.is_empty() {
            continue;
        }
        let outcome = match tokio::time::timeout(bound, call(&pool, &first)).await {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(_) => Err("the session store did not answer in time".to_string()),
        };
        match outcome {
            Ok(mut rows) => {
                for r in first {
                    let _ = r.done.send(Ok(rows.remove(&r.wanted.id)));
                }
            }
            Err(e) => {
                for r in first {
                    let _ = r.done.send(Err(e.clone()));
                }
            }
        }
    }
}

/// One call of the function for `batch`: the rows of each session whose lease was taken.
async fn call(
    pool: &AnyPool,
    batch: &[Request],
) -> Result<HashMap<String, Vec<AnyRow>>, sqlx::Error> {
    let wanted: Vec<&Wanted> = batch.iter().map(|r| &r.wanted).collect();
    let json = serde_json::to_string(&wanted).map_err(|e| sqlx::Error::Encode(e.into()))?;
    let now = chrono::Utc::now().timestamp_millis();
    let rows = sqlx::query("SELECT * FROM chat_lease_and_load_many($1::json, $2)")
        .bind(json)
        .bind(now)
        .fetch_all(pool)
        .await?;
    let mut by_id: HashMap<String, Vec<AnyRow>> = HashMap::with_capacity(batch.len());
    for row in rows {
        let id: String = row.try_get("r_id")?;
        by_id.entry(id).or_default().push(row);
    }
    Ok(by_id)
}
