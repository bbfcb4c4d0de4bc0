//! The session engine: get-or-create (single flight), per-session turn order, history and
//! expiry — the only place that sequences turns.
//!
//! Each session has a FIFO queue (a fair `tokio::sync::Mutex`) that only its own turns
//! wait on, bounded by the request deadline. The map of queues is a std `Mutex` held for a
//! lookup only. A turn is committed to the session store whole (user message + reply +
//! state, with a version check) or not at all: a turn that is cancelled or runs out of
//! time leaves nothing behind.

use crate::assistant::{
    Action, Assistant, AssistantError, Backend, Conversation, ProposalKind, TurnInput,
};
use crate::domain::{Clock, Owner, SessionId};
use crate::ops;
use crate::store::sessions::{Message, Role, SessionRecord, SessionStoreError, TurnRecord};
use crate::store::SessionStore;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::{timeout_at, Instant};

/// Longest message, in characters after trimming.
pub const MAX_MESSAGE_CHARS: usize = 4000;

/// Why a turn or session operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// Empty or too long.
    #[error("{0}")]
    InvalidMessage(String),
    /// Unknown, expired or not the caller's.
    #[error("session not found or expired")]
    SessionNotFound,
    /// Waited the whole deadline for the session's earlier turns.
    #[error("the session is still busy with earlier messages; try again")]
    SessionBusy,
    /// The turn did not finish within the deadline.
    #[error("the reply took longer than the request deadline")]
    DeadlineExceeded,
    /// The assistant failed.
    #[error("the assistant could not answer: {0}")]
    Assistant(String),
    /// The session store failed.
    #[error("session store: {0}")]
    Store(#[from] SessionStoreError),
    /// This client created too many sessions lately; retry after the wait.
    #[error("too many new sessions from this client")]
    RateLimited(Duration),
    /// The turn ran (and what it did, e.g. a booking, stands), but the session store did
    /// not confirm saving it: whether it is in the history is unknown.
    #[error("the session store did not confirm saving this turn")]
    OutcomeUnknown {
        /// How many actions (bookings made or cancelled) the turn took.
        actions: usize,
    },
    /// The session holds the most turns allowed.
    #[error("this session has reached its limit of {0} turns; start a new session")]
    SessionFull(u64),
}

/// The outcome of a turn (API.md's reply object).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct TurnReply {
    /// The session.
    #[schema(value_type = String)]
    pub session_id: SessionId,
    /// The reply (Markdown).
    pub response: String,
    /// 1-based position of this turn in the session.
    pub turn: u64,
    /// Who answered.
    pub backend: Backend,
    /// What the turn changed.
    pub actions: Vec<Action>,
    /// What the reply proposes and waits for a yes to (`book`, `change`, `cancel`), else
    /// `null`: clients show buttons for the answer instead of reading the wording.
    pub proposal: Option<ProposalKind>,
}

/// How a turn names its session.
#[derive(Debug, Clone)]
pub enum SessionRef {
    /// An explicit id (body or query): must exist.
    Explicit(SessionId),
    /// From the cookie: a stale one starts a new session.
    Cookie(SessionId),
    /// None: start a new session.
    New,
}

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Idle time after which a session expires.
    pub session_ttl: Duration,
    /// Conversations kept ready in this process.
    pub max_conversations: u64,
    /// Bound on each session-store call.
    pub store_timeout: Duration,
    /// Turns one session may hold (`None`: no cap).
    pub max_turns: Option<u64>,
}

/// The session engine. Cheap to share behind an `Arc`.
pub struct Engine {
    store: Arc<dyn SessionStore>,
    assistant: Arc<dyn Assistant>,
    clock: Clock,
    opts: EngineOptions,
    conversations: moka::future::Cache<SessionId, Arc<dyn Conversation>>,
    queues: Mutex<HashMap<SessionId, Arc<tokio::sync::Mutex<()>>>>,
}

/// A place in a session's queue; leaves the queue (and drops it if nobody else is in it)
/// when dropped, also when the turn is cancelled.
struct QueuePlace<'a> {
    engine: &'a Engine,
    id: SessionId,
    queue: Arc<tokio::sync::Mutex<()>>,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for QueuePlace<'_> {
    fn drop(&mut self) {
        self.guard.take();
        let mut map = self.engine.queues.lock().expect("queues");
        // Only the map and this place hold it: nobody waits, so the queue can go.
        if Arc::strong_count(&self.queue) == 2 {
            map.remove(&self.id);
        }
    }
}

/// A session's cross-instance lease, released when dropped (also when the turn is
/// cancelled); it expires by itself shortly after the turn's deadline in any case.
struct Lease {
    store: Arc<dyn SessionStore>,
    id: SessionId,
    token: String,
    /// How long it was taken for (bounds the release's retries).
    ttl: Duration,
}

impl Lease {
    /// Releases the lease now, before the reply goes out, so the session's next turn (often
    /// sent at once) finds it free instead of polling until a background release ran.
    /// Waits at most `bound`; a release the store did not confirm by then (or that is
    /// cancelled) is left to Drop, which retries it in the background until confirmed.
    async fn release(mut self, bound: Duration) {
        if self.token.is_empty() {
            return;
        }
        let done = tokio::time::timeout(bound, self.store.release_lease(&self.id, &self.token))
            .await
            .is_ok_and(|r| r.is_ok());
        if done {
            self.token.clear(); // Drop has nothing left to do
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.token.is_empty() {
            return; // released already
        }
        let (store, id, token) = (
            self.store.clone(),
            self.id.clone(),
            std::mem::take(&mut self.token),
        );
        release(store, id, token, self.ttl, Retry::UntilReleased);
    }
}

/// How often a lease release is tried again, at most.
const RELEASE_EVERY: Duration = Duration::from_secs(2);

/// When [`release`] stops trying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// The lease is held: one release that the store confirms is enough.
    UntilReleased,
    /// The request to take it timed out, so a stalled store may still apply it later (on
    /// another connection than the release): keep releasing until it would have expired.
    UntilExpired,
}

/// Releases a lease with its token, retrying with backoff (bounded by the lease's own
/// expiry) while the store does not answer — so a store that stalled and resumed does not
/// leave the session blocked for a whole request deadline. Releasing is compare-and-delete
/// on our own token: it never touches another turn's lease.
fn release(
    store: Arc<dyn SessionStore>,
    id: SessionId,
    token: String,
    ttl: Duration,
    retry: Retry,
) {
    tokio::spawn(async move {
        let until = Instant::now() + ttl;
        let mut wait = Duration::from_millis(250);
        loop {
            let done = tokio::time::timeout(RELEASE_EVERY, store.release_lease(&id, &token))
                .await
                .is_ok_and(|r| r.is_ok());
            if (done && retry == Retry::UntilReleased) || Instant::now() + wait >= until {
                return;
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(RELEASE_EVERY);
        }
    });
}

impl Engine {
    /// Takes the session's lease in a store shared by several instances, waiting (polling
    /// with jitter) at most until `deadline`, and reads the session (the last `last` messages)
    /// once it holds it, in one store call. A store of this process only needs no lease.
    async fn lease_and_load(
        &self,
        id: &SessionId,
        owner: Option<&Owner>,
        last: Option<usize>,
        deadline: Instant,
    ) -> Result<(Option<Lease>, SessionRecord), ChatError> {
        if !self.store.shared() {
            return Ok((None, self.session_recent(id, owner, last).await?));
        }
        let token = SessionId::new().to_string();
        loop {
            let ttl = deadline.saturating_duration_since(Instant::now()) + Duration::from_secs(1);
            let now = self.clock.now();
            let taken = self
                .bounded(self.store.try_lease_and_load(id, &token, ttl, now, last))
                .await;
            match taken {
                Ok(Some(record)) => {
                    let lease = Lease {
                        store: self.store.clone(),
                        id: id.clone(),
                        token,
                        ttl,
                    };
                    // On an error the lease is dropped here, and so released.
                    let record = record
                        .filter(|r| owner.is_none_or(|o| &r.owner == o))
                        .ok_or(ChatError::SessionNotFound)?;
                    return Ok((Some(lease), record));
                }
                Ok(None) => {}
                Err(e) => {
                    release(
                        self.store.clone(),
                        id.clone(),
                        token,
                        ttl,
                        Retry::UntilExpired,
                    );
                    return Err(e);
                }
            }
            let wait = Duration::from_millis(rand::random_range(5..25));
            if Instant::now() + wait >= deadline {
                return Err(ChatError::SessionBusy);
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// An engine over a session store and an assistant.
    pub fn new(
        store: Arc<dyn SessionStore>,
        assistant: Arc<dyn Assistant>,
        clock: Clock,
        opts: EngineOptions,
    ) -> Self {
        let conversations = moka::future::Cache::builder()
            .max_capacity(opts.max_conversations)
            .time_to_idle(opts.session_ttl)
            .build();
        Self {
            store,
            assistant,
            clock,
            opts,
            conversations,
            queues: Mutex::new(HashMap::new()),
        }
    }

    /// The session store.
    pub fn store(&self) -> &Arc<dyn SessionStore> {
        &self.store
    }

    fn expiry(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + chrono::Duration::from_std(self.opts.session_ttl).unwrap_or(chrono::Duration::days(1))
    }

    async fn bounded<T>(
        &self,
        fut: impl std::future::Future<Output = Result<T, SessionStoreError>>,
    ) -> Result<T, ChatError> {
        let _stage = ops::enter("store");
        let started = std::time::Instant::now();
        let r = match tokio::time::timeout(self.opts.store_timeout, fut).await {
            Ok(r) => Ok(r?),
            Err(_) => Err(SessionStoreError::Timeout.into()),
        };
        metrics::histogram!("hpcbot_store_seconds", "store" => "sessions")
            .record(started.elapsed().as_secs_f64());
        r
    }

    /// Creates a session owned by `owner` (`None`: the session owns itself, auth = none).
    pub async fn create_session(&self, owner: Option<&Owner>) -> Result<SessionRecord, ChatError> {
        ops::check_session_gate().map_err(ChatError::RateLimited)?;
        let id = SessionId::new();
        let owner = owner.cloned().unwrap_or_else(|| Owner::session(&id));
        let now = self.clock.now();
        let record = SessionRecord::new(id, owner, now, self.expiry(now));
        ops::set_stage("store");
        self.bounded(self.store.create(record.clone())).await?;
        Ok(record)
    }

    /// Loads a live session that `owner` may see (`None` owner: any).
    pub async fn session(
        &self,
        id: &SessionId,
        owner: Option<&Owner>,
    ) -> Result<SessionRecord, ChatError> {
        self.session_recent(id, owner, None).await
    }

    /// Like [`Engine::session`], without the messages: whether it is live, and whose.
    pub async fn session_head(
        &self,
        id: &SessionId,
        owner: Option<&Owner>,
    ) -> Result<SessionRecord, ChatError> {
        self.session_recent(id, owner, Some(0)).await
    }

    /// Like [`Engine::session`], with at most `last` of the most recent messages.
    async fn session_recent(
        &self,
        id: &SessionId,
        owner: Option<&Owner>,
        last: Option<usize>,
    ) -> Result<SessionRecord, ChatError> {
        let rec = self
            .bounded(self.store.load(id, self.clock.now(), last))
            .await?
            .ok_or(ChatError::SessionNotFound)?;
        match owner {
            Some(o) if &rec.owner != o => Err(ChatError::SessionNotFound),
            _ => Ok(rec),
        }
    }

    /// Deletes a session `owner` may see.
    pub async fn delete_session(
        &self,
        id: &SessionId,
        owner: Option<&Owner>,
    ) -> Result<(), ChatError> {
        self.session(id, owner).await?;
        self.bounded(self.store.delete(id)).await?;
        self.conversations.invalidate(id).await;
        Ok(())
    }

    /// Resolves how a request names its session into a live session (its record without
    /// messages), creating one when needed. `owner` is the authenticated user whose sessions
    /// alone are visible (`None` with auth = none: whoever holds a session's id may use it);
    /// `creator` owns a session created here (the user, or the `hpcbot_client` of auth = none;
    /// `None`: it owns itself). A stale cookie starts a new session of the same creator, so a
    /// person's bookings stay theirs.
    pub async fn resolve(
        &self,
        r: SessionRef,
        owner: Option<&Owner>,
        creator: Option<&Owner>,
    ) -> Result<SessionRecord, ChatError> {
        // Only whether it exists and whose it is matters here: no messages are read (the
        // turn loads what its assistant reads, under the session's queue).
        match r {
            SessionRef::Explicit(id) => self.session_head(&id, owner).await,
            SessionRef::Cookie(id) => match self.session_head(&id, owner).await {
                Err(ChatError::SessionNotFound) => self.create_session(creator).await,
                other => other,
            },
            SessionRef::New => self.create_session(creator).await,
        }
    }

    /// Checks a message: 1..=4000 characters after trimming. Returns it trimmed.
    pub fn check_message(message: &str) -> Result<&str, ChatError> {
        let m = message.trim();
        let n = m.chars().count();
        if n == 0 {
            return Err(ChatError::InvalidMessage("the message is empty".into()));
        }
        if n > MAX_MESSAGE_CHARS {
            return Err(ChatError::InvalidMessage(format!(
                "the message has {n} characters; the limit is {MAX_MESSAGE_CHARS}"
            )));
        }
        Ok(m)
    }

    /// Runs one turn of session `id` (which the caller has resolved) for `caller`, the owner
    /// bookings are made as. Waits only for the same session's earlier turns.
    pub async fn turn(
        &self,
        id: &SessionId,
        owner: Option<&Owner>,
        message: &str,
        deadline: Instant,
        deltas: Option<&UnboundedSender<String>>,
    ) -> Result<TurnReply, ChatError> {
        let message = Self::check_message(message)?;
        ops::set_session(id.as_str());
        let queue = self
            .queues
            .lock()
            .expect("queues")
            .entry(id.clone())
            .or_default()
            .clone();
        let mut place = QueuePlace {
            engine: self,
            id: id.clone(),
            queue: queue.clone(),
            guard: None,
        };
        ops::set_stage("queued for session");
        place.guard = Some(
            timeout_at(deadline, queue.lock_owned())
                .await
                .map_err(|_| ChatError::SessionBusy)?,
        );
        let (lease, record) = self
            .lease_and_load(id, owner, self.assistant.history_window(), deadline)
            .await?;
        if let Some(max) = self.opts.max_turns.filter(|m| record.turns() >= *m) {
            return Err(ChatError::SessionFull(max));
        }
        ops::set_stage("assistant");
        let assistant = self.assistant.clone();
        let session = id.clone();
        let conversation = timeout_at(
            deadline,
            self.conversations.try_get_with(id.clone(), async move {
                assistant.open(Some(&session)).await
            }),
        )
        .await
        .map_err(|_| ChatError::DeadlineExceeded)?
        .map_err(|e: Arc<AssistantError>| ChatError::Assistant(e.to_string()))?;

        let user_at = self.clock.now();
        let reply = timeout_at(
            deadline,
            conversation.reply(TurnInput {
                caller: &record.owner,
                session: Some(id),
                message,
                history: &record.messages,
                state: record.state.clone(),
                can_act: true,
                deltas,
            }),
        )
        .await
        .map_err(|_| ChatError::DeadlineExceeded)?
        .map_err(|e| ChatError::Assistant(e.to_string()))?;

        ops::set_stage("store");
        let now = self.clock.now();
        let turn = TurnRecord {
            user: Message {
                role: Role::User,
                content: message.to_string(),
                at: user_at,
            },
            assistant: Message {
                role: Role::Assistant,
                content: reply.text.clone(),
                at: now,
            },
            state: reply.state,
            expires_at: self.expiry(now),
        };
        let out = TurnReply {
            session_id: id.clone(),
            response: reply.text,
            turn: record.turns() + 1,
            backend: reply.backend,
            actions: reply.actions,
            proposal: reply.proposal,
        };
        if let Some(t) = crate::store::idempotency::current() {
            // With an `Idempotency-Key`, the reply is stored in the turn's own commit where
            // the store can (the booking database): a crash after it replays, never reruns.
            t.prepare(crate::store::idempotency::StoredReply {
                status: 200,
                body: serde_json::to_string(&out).unwrap_or_default(),
            });
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        // A commit that timed out or failed in the store may or may not have been applied,
        // and what the turn did (a booking) stands either way: say so, never "nothing saved".
        let unknown = ChatError::OutcomeUnknown {
            actions: out.actions.len(),
        };
        let commit = async {
            match &lease {
                Some(l) => {
                    self.store
                        .commit_turn_and_release(id, record.turns(), turn, &l.token)
                        .await
                }
                None => Ok((
                    self.store.commit_turn(id, record.turns(), turn).await?,
                    false,
                )),
            }
        };
        let (committed, released) =
            match tokio::time::timeout(remaining.min(self.opts.store_timeout), commit).await {
                Ok(Ok(n)) => n,
                Ok(Err(SessionStoreError::Timeout | SessionStoreError::Backend(_))) => {
                    return Err(unknown)
                }
                Ok(Err(e)) => return Err(e.into()),
                Err(_) if out.actions.is_empty() && remaining < self.opts.store_timeout => {
                    return Err(ChatError::DeadlineExceeded)
                }
                Err(_) => return Err(unknown),
            };
        if let Some(mut lease) = lease {
            if released {
                lease.token.clear(); // released with the commit: Drop has nothing to do
            }
            // Released before the reply (the session's next turn, often sent at once, finds
            // it free); one that the store does not confirm in time goes to the retrying
            // background release, as on every other path (Drop).
            lease.release(self.opts.store_timeout).await;
        }
        drop(place);
        metrics::counter!("hpcbot_turns_total", "backend" => out.backend.as_str()).increment(1);
        debug_assert_eq!(committed, out.turn, "a commit adds exactly this turn");
        Ok(out)
    }

    /// A stateless question: no session, no history, never changes a booking.
    pub async fn direct(
        &self,
        message: &str,
        deadline: Instant,
    ) -> Result<(String, Backend), ChatError> {
        self.oneshot(&[], message, deadline, None).await
    }

    /// A one-off answer to `message` after the client-held `history` (the OpenAI-compatible
    /// route): no session, and it never changes a booking.
    pub async fn oneshot(
        &self,
        history: &[Message],
        message: &str,
        deadline: Instant,
        deltas: Option<&UnboundedSender<String>>,
    ) -> Result<(String, Backend), ChatError> {
        let message = Self::check_message(message)?;
        ops::set_stage("assistant");
        let anonymous = Owner::from_stored("anonymous:".into());
        let run = async {
            let conv = self.assistant.open(None).await?;
            conv.reply(TurnInput {
                caller: &anonymous,
                session: None,
                message,
                history,
                state: serde_json::Value::Null,
                can_act: false,
                deltas,
            })
            .await
        };
        let reply = timeout_at(deadline, run)
            .await
            .map_err(|_| ChatError::DeadlineExceeded)?
            .map_err(|e| ChatError::Assistant(e.to_string()))?;
        Ok((reply.text, reply.backend))
    }

    /// Sessions whose turns are running or queued in this process.
    pub fn active_sessions(&self) -> usize {
        self.queues.lock().expect("queues").len()
    }
}
