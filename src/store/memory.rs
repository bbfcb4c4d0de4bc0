//! In-memory sessions (the default): sharded maps, each behind a std `Mutex` held only for
//! map operations — never across an `.await`. Bounded in number; idle sessions expire.
//! Kept compact: the dialogue state as JSON text, message vectors without slack.

use super::sessions::{Message, SessionRecord, SessionStore, SessionStoreError, TurnRecord};
use crate::domain::{Owner, SessionId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

const SHARDS: usize = 16;

/// A session as held in memory (the id is the map's key).
struct Stored {
    owner: Owner,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    messages: Vec<Message>,
    state: Box<str>,
}

fn state_text(v: &serde_json::Value) -> Box<str> {
    serde_json::to_string(v)
        .unwrap_or_else(|_| "null".into())
        .into_boxed_str()
}

type Shard = Mutex<HashMap<SessionId, Stored>>;

/// Sessions held in this process.
pub struct MemorySessions {
    shards: Vec<Shard>,
    per_shard: usize,
}

impl MemorySessions {
    /// A store holding at most about `capacity` sessions; when full, the session idle the
    /// longest is evicted to make room.
    pub fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
        }
    }

    fn shard(&self, id: &SessionId) -> &Shard {
        let mut h = DefaultHasher::new();
        id.hash(&mut h);
        &self.shards[h.finish() as usize % SHARDS]
    }
}

#[async_trait]
impl SessionStore for MemorySessions {
    async fn create(&self, record: SessionRecord) -> Result<(), SessionStoreError> {
        let mut map = self.shard(&record.id).lock().expect("session shard");
        if map.len() >= self.per_shard {
            let now = record.created_at;
            map.retain(|_, r| r.expires_at > now);
        }
        if map.len() >= self.per_shard {
            // Evict the session that would expire first: the one idle the longest.
            if let Some(oldest) = map
                .iter()
                .min_by_key(|(_, r)| r.expires_at)
                .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        let stored = Stored {
            state: state_text(&record.state),
            owner: record.owner,
            created_at: record.created_at,
            expires_at: record.expires_at,
            messages: record.messages,
        };
        map.insert(record.id, stored);
        Ok(())
    }

    async fn load(
        &self,
        id: &SessionId,
        now: DateTime<Utc>,
        last: Option<usize>,
    ) -> Result<Option<SessionRecord>, SessionStoreError> {
        let mut map = self.shard(id).lock().expect("session shard");
        match map.get(id) {
            Some(r) if r.expires_at > now => {
                // Copy only what is asked for: a turn needs the recent messages, not all.
                let skip = last.map_or(0, |n| r.messages.len().saturating_sub(n));
                Ok(Some(SessionRecord {
                    id: id.clone(),
                    owner: r.owner.clone(),
                    created_at: r.created_at,
                    expires_at: r.expires_at,
                    messages: r.messages[skip..].to_vec(),
                    earlier: skip as u64,
                    state: serde_json::from_str(&r.state).unwrap_or_default(),
                }))
            }
            Some(_) => {
                map.remove(id);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn commit_turn(
        &self,
        id: &SessionId,
        expected_turns: u64,
        turn: TurnRecord,
    ) -> Result<u64, SessionStoreError> {
        let state = state_text(&turn.state);
        let mut map = self.shard(id).lock().expect("session shard");
        let r = map.get_mut(id).ok_or(SessionStoreError::NotFound)?;
        if (r.messages.len() / 2) as u64 != expected_turns {
            return Err(SessionStoreError::Conflict);
        }
        r.messages.reserve_exact(2);
        r.messages.push(turn.user);
        r.messages.push(turn.assistant);
        r.state = state;
        r.expires_at = turn.expires_at;
        Ok((r.messages.len() / 2) as u64)
    }

    async fn delete(&self, id: &SessionId) -> Result<bool, SessionStoreError> {
        Ok(self
            .shard(id)
            .lock()
            .expect("session shard")
            .remove(id)
            .is_some())
    }

    async fn count(&self) -> Result<u64, SessionStoreError> {
        Ok(self
            .shards
            .iter()
            .map(|s| s.lock().expect("session shard").len() as u64)
            .sum())
    }

    async fn sweep(&self, now: DateTime<Utc>) -> Result<u64, SessionStoreError> {
        let mut dropped = 0;
        for s in &self.shards {
            let mut map = s.lock().expect("session shard");
            let before = map.len();
            map.retain(|_, r| r.expires_at > now);
            dropped += (before - map.len()) as u64;
        }
        Ok(dropped)
    }

    async fn ping(&self) -> Result<(), SessionStoreError> {
        Ok(())
    }

    fn name(&self) -> &'static str {
        "memory"
    }
}
