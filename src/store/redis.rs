//! Sessions in Redis, shared by every server instance.
//!
//! Per session: a hash `{prefix}:s:{id}` (owner, times, turn count, dialogue state) and a
//! list `{prefix}:m:{id}` of messages (JSON), both expiring at the session's idle expiry;
//! a sorted set `{prefix}:sessions` (score = expiry) counts them. A turn is committed by a
//! Lua script that appends only if the turn count is still the one loaded (version check).
//! Turns of one session on different instances take a lease `{prefix}:l:{id}` (SET NX PX
//! with a random token, released by compare-and-delete) for their whole run, so they are
//! applied one at a time; the lease expires by itself if an instance dies.

use super::sessions::{Message, SessionRecord, SessionStore, SessionStoreError, TurnRecord};
use crate::domain::{Owner, SessionId};
use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use redis::aio::ConnectionManager;
use redis::AsyncCommands;
use std::time::Duration;

const COMMIT: &str = r#"
local turns = redis.call('HGET', KEYS[1], 'turns')
if not turns then return -1 end
if tonumber(turns) ~= tonumber(ARGV[1]) then return -2 end
redis.call('RPUSH', KEYS[2], ARGV[2], ARGV[3])
local n = tonumber(turns) + 1
redis.call('HSET', KEYS[1], 'turns', n, 'state', ARGV[4], 'expires_at', ARGV[5])
redis.call('PEXPIREAT', KEYS[1], ARGV[5])
redis.call('PEXPIREAT', KEYS[2], ARGV[5])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[6])
return n
"#;

const RELEASE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"#;

/// Sessions in Redis.
pub struct RedisSessions {
    conn: ConnectionManager,
    prefix: String,
    commit: redis::Script,
    release: redis::Script,
}

fn backend(e: redis::RedisError) -> SessionStoreError {
    SessionStoreError::Backend(e.to_string())
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_ms(v: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(v).single().unwrap_or_default()
}

impl RedisSessions {
    /// Connects to `url` (redis://...). Keys start with `prefix`.
    pub async fn connect(
        url: &str,
        prefix: &str,
        timeout: Duration,
    ) -> Result<Self, SessionStoreError> {
        let client = redis::Client::open(url).map_err(backend)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(2);
        let conn =
            tokio::time::timeout(timeout, ConnectionManager::new_with_config(client, config))
                .await
                .map_err(|_| SessionStoreError::Timeout)?
                .map_err(backend)?;
        Ok(Self {
            conn,
            prefix: prefix.to_string(),
            commit: redis::Script::new(COMMIT),
            release: redis::Script::new(RELEASE),
        })
    }

    fn meta(&self, id: &SessionId) -> String {
        format!("{}:s:{id}", self.prefix)
    }
    fn msgs(&self, id: &SessionId) -> String {
        format!("{}:m:{id}", self.prefix)
    }
    fn lease_key(&self, id: &SessionId) -> String {
        format!("{}:l:{id}", self.prefix)
    }
    fn index(&self) -> String {
        format!("{}:sessions", self.prefix)
    }
}

#[async_trait]
impl SessionStore for RedisSessions {
    async fn create(&self, r: SessionRecord) -> Result<(), SessionStoreError> {
        let mut c = self.conn.clone();
        let state = serde_json::to_string(&r.state).unwrap_or_else(|_| "null".into());
        redis::pipe()
            .atomic()
            .hset_multiple(
                self.meta(&r.id),
                &[
                    ("owner", r.owner.as_str().to_string()),
                    ("created_at", ms(r.created_at).to_string()),
                    ("expires_at", ms(r.expires_at).to_string()),
                    ("turns", "0".to_string()),
                    ("state", state),
                ],
            )
            .ignore()
            .cmd("PEXPIREAT")
            .arg(self.meta(&r.id))
            .arg(ms(r.expires_at))
            .ignore()
            .zadd(self.index(), r.id.as_str(), ms(r.expires_at))
            .ignore()
            .query_async::<()>(&mut c)
            .await
            .map_err(backend)
    }

    async fn load(
        &self,
        id: &SessionId,
        now: DateTime<Utc>,
        last: Option<usize>,
    ) -> Result<Option<SessionRecord>, SessionStoreError> {
        let mut c = self.conn.clone();
        let start = last.map_or(0, |n| -(n as isize));
        let (meta, total, raw): (
            std::collections::HashMap<String, String>,
            isize,
            Vec<String>,
        ) = redis::pipe()
            .atomic()
            .hgetall(self.meta(id))
            .llen(self.msgs(id))
            .lrange(
                self.msgs(id),
                if last == Some(0) { 1 } else { start },
                if last == Some(0) { 0 } else { -1 },
            )
            .query_async(&mut c)
            .await
            .map_err(backend)?;
        let Some(owner) = meta.get("owner") else {
            return Ok(None);
        };
        let num = |k: &str| meta.get(k).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
        let expires_at = from_ms(num("expires_at"));
        if expires_at <= now {
            return Ok(None);
        }
        let messages: Vec<Message> = raw
            .iter()
            .filter_map(|m| serde_json::from_str(m).ok())
            .collect();
        Ok(Some(SessionRecord {
            id: id.clone(),
            owner: Owner::from_stored(owner.clone()),
            created_at: from_ms(num("created_at")),
            expires_at,
            earlier: (total as u64).saturating_sub(messages.len() as u64),
            messages,
            state: meta
                .get("state")
                .and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or_default(),
        }))
    }

    async fn commit_turn(
        &self,
        id: &SessionId,
        expected_turns: u64,
        t: TurnRecord,
    ) -> Result<u64, SessionStoreError> {
        let mut c = self.conn.clone();
        let enc = |m: &Message| serde_json::to_string(m).unwrap_or_default();
        let n: i64 = self
            .commit
            .key(self.meta(id))
            .key(self.msgs(id))
            .key(self.index())
            .arg(expected_turns)
            .arg(enc(&t.user))
            .arg(enc(&t.assistant))
            .arg(serde_json::to_string(&t.state).unwrap_or_else(|_| "null".into()))
            .arg(ms(t.expires_at))
            .arg(id.as_str())
            .invoke_async(&mut c)
            .await
            .map_err(backend)?;
        match n {
            -1 => Err(SessionStoreError::NotFound),
            -2 => Err(SessionStoreError::Conflict),
            n => Ok(n as u64),
        }
    }

    async fn delete(&self, id: &SessionId) -> Result<bool, SessionStoreError> {
        let mut c = self.conn.clone();
        let (n, _): (i64, i64) = redis::pipe()
            .atomic()
            .del(&[self.meta(id), self.msgs(id)])
            .zrem(self.index(), id.as_str())
            .query_async(&mut c)
            .await
            .map_err(backend)?;
        Ok(n > 0)
    }

    async fn count(&self) -> Result<u64, SessionStoreError> {
        let mut c = self.conn.clone();
        let n: u64 = c
            .zcount(self.index(), ms(Utc::now()), "+inf")
            .await
            .map_err(backend)?;
        Ok(n)
    }

    async fn sweep(&self, now: DateTime<Utc>) -> Result<u64, SessionStoreError> {
        // The keys expire by themselves; this trims the index.
        let mut c = self.conn.clone();
        let n: u64 = c
            .zrembyscore(self.index(), "-inf", ms(now))
            .await
            .map_err(backend)?;
        Ok(n)
    }

    async fn ping(&self) -> Result<(), SessionStoreError> {
        let mut c = self.conn.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut c)
            .await
            .map(|_| ())
            .map_err(backend)
    }

    fn name(&self) -> &'static str {
        "redis"
    }

    fn shared(&self) -> bool {
        true
    }

    async fn try_lease(
        &self,
        id: &SessionId,
        token: &str,
        ttl: Duration,
    ) -> Result<bool, SessionStoreError> {
        let mut c = self.conn.clone();
        let ok: Option<String> = redis::cmd("SET")
            .arg(self.lease_key(id))
            .arg(token)
            .arg("NX")
            .arg("PX")
            .arg(ttl.as_millis() as u64)
            .query_async(&mut c)
            .await
            .map_err(backend)?;
        Ok(ok.is_some())
    }

    async fn release_lease(&self, id: &SessionId, token: &str) -> Result<(), SessionStoreError> {
        let mut c = self.conn.clone();
        let _: i64 = self
            .release
            .key(self.lease_key(id))
            .arg(token)
            .invoke_async(&mut c)
            .await
            .map_err(backend)?;
        Ok(())
    }
}
