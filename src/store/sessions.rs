//! The session store: chat history and the assistant's dialogue state per session.
//!
//! A turn is committed with a version check (`expected_turns`): the store appends the two
//! messages only if the session still has exactly the turns the caller loaded. Inside one
//! process the engine's per-session queue already orders turns; across instances (Redis)
//! the same check makes a lost or interleaved turn impossible even if a lease expires.

use crate::domain::{Owner, SessionId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The person.
    User,
    /// The assistant.
    Assistant,
}

/// One message of the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// What was said (Markdown for the assistant).
    pub content: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// A whole session as loaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Its id.
    pub id: SessionId,
    /// Who it belongs to.
    pub owner: Owner,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it expires unless renewed by a turn.
    pub expires_at: DateTime<Utc>,
    /// Two messages per completed turn, in order (the most recent ones when loaded with a
    /// limit; `earlier` counts those left out).
    pub messages: Vec<Message>,
    /// Messages before `messages` that were not loaded.
    #[serde(default)]
    pub earlier: u64,
    /// The assistant's dialogue state (pending booking, last model asked about, ...).
    pub state: serde_json::Value,
}

impl SessionRecord {
    /// A new, empty session.
    pub fn new(id: SessionId, owner: Owner, now: DateTime<Utc>, expires_at: DateTime<Utc>) -> Self {
        Self {
            id,
            owner,
            created_at: now,
            expires_at,
            messages: Vec::new(),
            earlier: 0,
            state: serde_json::Value::Null,
        }
    }

    /// Completed turns.
    pub fn turns(&self) -> u64 {
        (self.earlier + self.messages.len() as u64) / 2
    }
}

/// A completed turn, ready to append.
#[derive(Debug, Clone)]
pub struct TurnRecord {
    /// The person's message.
    pub user: Message,
    /// The reply.
    pub assistant: Message,
    /// The dialogue state after the turn.
    pub state: serde_json::Value,
    /// The new expiry (idle time renewed).
    pub expires_at: DateTime<Utc>,
}

/// What a session store can fail with.
#[derive(Debug, thiserror::Error)]
pub enum SessionStoreError {
    /// Unknown or expired.
    #[error("session not found")]
    NotFound,
    /// Another turn was committed since this one loaded the session.
    #[error("the session changed while this turn ran")]
    Conflict,
    /// The store is full and nothing could be evicted.
    #[error("the session store is full")]
    Full,
    /// Timed out.
    #[error("the session store did not answer in time")]
    Timeout,
    /// Backend failure.
    #[error("session store error: {0}")]
    Backend(String),
}

/// Where sessions live: memory (default) or Redis.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Stores a new session.
    async fn create(&self, record: SessionRecord) -> Result<(), SessionStoreError>;
    /// Loads a live session (`None` if unknown or expired at `now`), with at most `last`
    /// of its most recent messages (all with `None`).
    async fn load(
        &self,
        id: &SessionId,
        now: DateTime<Utc>,
        last: Option<usize>,
    ) -> Result<Option<SessionRecord>, SessionStoreError>;
    /// Appends a turn if the session still has `expected_turns` turns; returns the new count.
    async fn commit_turn(
        &self,
        id: &SessionId,
        expected_turns: u64,
        turn: TurnRecord,
    ) -> Result<u64, SessionStoreError>;
    /// [`SessionStore::commit_turn`], and the release of the session's lease `token` in the
    /// same step where the store can do that (one round trip instead of two); returns the new
    /// count and whether the lease was released (if not, the caller releases it).
    async fn commit_turn_and_release(
        &self,
        id: &SessionId,
        expected_turns: u64,
        turn: TurnRecord,
        _token: &str,
    ) -> Result<(u64, bool), SessionStoreError> {
        Ok((self.commit_turn(id, expected_turns, turn).await?, false))
    }
    /// Deletes a session; `false` if there was none.
    async fn delete(&self, id: &SessionId) -> Result<bool, SessionStoreError>;
    /// How many sessions are held (expired ones may count until swept).
    async fn count(&self) -> Result<u64, SessionStoreError>;
    /// Drops expired sessions; returns how many.
    async fn sweep(&self, now: DateTime<Utc>) -> Result<u64, SessionStoreError>;
    /// A round trip, for readiness.
    async fn ping(&self) -> Result<(), SessionStoreError>;
    /// The backend's name, for health output.
    fn name(&self) -> &'static str;

    /// Whether turns must take a lease (the store is shared by several processes).
    fn shared(&self) -> bool {
        false
    }

    /// [`SessionStore::try_lease`] and, if taken, [`SessionStore::load`] (with `now` and
    /// `last`), in one round trip where the store can: `None` if the lease is held, else the
    /// session as read after the lease was taken (`Some(None)`: no such live session).
    async fn try_lease_and_load(
        &self,
        id: &SessionId,
        token: &str,
        ttl: std::time::Duration,
        now: DateTime<Utc>,
        last: Option<usize>,
    ) -> Result<Option<Option<SessionRecord>>, SessionStoreError> {
        if !self.try_lease(id, token, ttl).await? {
            return Ok(None);
        }
        Ok(Some(self.load(id, now, last).await?))
    }

    /// Tries to take the session's cross-instance lease with `token` for at most `ttl`;
    /// `false` if another turn holds it. Stores used by one process need none: the
    /// engine's per-session queue already orders turns there.
    async fn try_lease(
        &self,
        _id: &SessionId,
        _token: &str,
        _ttl: std::time::Duration,
    ) -> Result<bool, SessionStoreError> {
        Ok(true)
    }

    /// Releases the lease if `token` still holds it.
    async fn release_lease(&self, _id: &SessionId, _token: &str) -> Result<(), SessionStoreError> {
        Ok(())
    }
}
