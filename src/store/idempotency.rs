//! Exactly once for retried requests (API.md "Exactly once: `Idempotency-Key`").
//!
//! A record per (caller, key) lives in the booking database. The first request inserts it
//! as *running* (a random token names the run); a booking change made by that request
//! writes its reply into the record in the same transaction as the change (through the
//! [`Ticket`] in the task-local scope), so a crash between commit and reply loses nothing;
//! any other reply is stored when the handler returns. A run that never finished (cut off,
//! crashed) counts as gone once its lock passes, and the request runs again.

use crate::domain::Booking;
use async_trait::async_trait;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::StoreError;

/// A stored reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReply {
    /// HTTP status.
    pub status: u16,
    /// The body (JSON text).
    pub body: String,
}

/// What the first look at a key says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// This request runs; it holds the record under `token`.
    Run {
        /// Names this run.
        token: String,
    },
    /// The first request completed: send its reply again.
    Replay(StoredReply),
    /// The key was used with another method, path or body.
    Reused,
    /// The first request is still running.
    InProgress,
}

/// Times of a record, in Unix milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct Times {
    /// Now.
    pub now_ms: i64,
    /// A run not finished by then was cut off.
    pub locked_until_ms: i64,
    /// The record may be forgotten after this.
    pub expires_at_ms: i64,
}

/// Where idempotency records are kept (the booking database).
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims `key` for a run, or says why not.
    async fn begin(
        &self,
        caller: &str,
        key: &str,
        fingerprint: &str,
        times: Times,
    ) -> Result<Begin, StoreError>;
    /// Stores the reply of the run `token` (no-op if already stored).
    async fn finish(
        &self,
        caller: &str,
        key: &str,
        token: &str,
        reply: &StoredReply,
    ) -> Result<(), StoreError>;
    /// Forgets the run `token` that left nothing (cut off, failed): the key may run again.
    async fn release(&self, caller: &str, key: &str, token: &str) -> Result<(), StoreError>;
    /// Deletes the records that expired before `now_ms`.
    async fn sweep_idempotency(&self, now_ms: i64) -> Result<u64, StoreError>;
}

/// What a booking request made, for its reply.
#[derive(Debug, Clone, Copy)]
pub enum Made<'a> {
    /// One booking (created, changed, cancelled, or booked from a hold).
    Booking(&'a Booking),
    /// A recurring series.
    Series(&'a super::bookings::SeriesMade),
}

/// How a booking change renders the reply of the request that made it (`None`: not the
/// route's kind of result, so nothing is stored in the transaction).
pub type Render = Box<dyn Fn(Made<'_>) -> Option<StoredReply> + Send + Sync>;

/// The running request's claim on its key, visible to the store through the task-local
/// scope so that a booking change stores the reply in its own transaction.
pub struct Ticket {
    /// The caller the key belongs to.
    pub caller: String,
    /// The key.
    pub key: String,
    /// Names this run.
    pub token: String,
    render: Option<Render>,
    /// A chat turn's reply, set before the turn's commit so the session store writes it in
    /// the same transaction (`sessions = "database"`).
    prepared: std::sync::Mutex<Option<StoredReply>>,
    completed: AtomicBool,
    deferred: AtomicBool,
}

impl Ticket {
    /// A ticket; `render` is set for the booking routes (their reply is the booking).
    pub fn new(caller: String, key: String, token: String, render: Option<Render>) -> Self {
        Self {
            caller,
            key,
            token,
            render,
            prepared: std::sync::Mutex::new(None),
            completed: AtomicBool::new(false),
            deferred: AtomicBool::new(false),
        }
    }

    /// The reply to store with a booking change, unless one was stored already.
    pub fn reply_for(&self, made: Made<'_>) -> Option<StoredReply> {
        if self.completed.load(Ordering::SeqCst) {
            return None;
        }
        self.render.as_ref().and_then(|r| r(made))
    }

    /// Sets the reply a chat turn will give if its commit succeeds.
    pub fn prepare(&self, reply: StoredReply) {
        *self.prepared.lock().expect("prepared reply") = Some(reply);
    }

    /// The reply prepared for the turn being committed, unless one was stored already.
    pub fn prepared(&self) -> Option<StoredReply> {
        if self.is_completed() {
            return None;
        }
        self.prepared.lock().expect("prepared reply").clone()
    }

    /// Marks the reply stored (after the transaction committed).
    pub fn mark_completed(&self) {
        self.completed.store(true, Ordering::SeqCst);
    }

    /// Whether the reply is stored.
    pub fn is_completed(&self) -> bool {
        self.completed.load(Ordering::SeqCst)
    }

    /// The handler stores the reply itself (a stream): the middleware leaves it.
    pub fn defer(&self) {
        self.deferred.store(true, Ordering::SeqCst);
    }

    /// Whether the handler took over.
    pub fn is_deferred(&self) -> bool {
        self.deferred.load(Ordering::SeqCst)
    }
}

tokio::task_local! {
    static TICKET: Arc<Ticket>;
}

/// The current request's ticket, if it carries an `Idempotency-Key`.
pub fn current() -> Option<Arc<Ticket>> {
    TICKET.try_with(Arc::clone).ok()
}

/// Runs `fut` with `ticket` as the current request's ticket.
pub async fn scope<F: std::future::Future>(ticket: Arc<Ticket>, fut: F) -> F::Output {
    TICKET.scope(ticket, fut).await
}

/// Checks a key: 1..=255 visible ASCII characters, no spaces.
pub fn valid_key(key: &str) -> bool {
    (1..=255).contains(&key.len()) && key.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// The fingerprint of a request: method, path (with query) and the body as a canonical JSON
/// value (sorted keys, no whitespace), so key order and spacing do not matter.
pub fn fingerprint(method: &str, path: &str, body: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update(b"\n");
    h.update(path.as_bytes());
    h.update(b"\n");
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => {
            let mut out = String::new();
            canonical(&v, &mut out);
            h.update(b"json:");
            h.update(out.as_bytes());
        }
        Err(_) => {
            h.update(b"raw:");
            h.update(body);
        }
    }
    hex::encode(h.finalize())
}

/// Writes `v` with object keys sorted, whatever serde_json's map order is.
fn canonical(v: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical(&m[k], out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_json_value_same_fingerprint() {
        let a = fingerprint(
            "POST",
            "/api/bookings",
            br#"{"a": 1, "b": [1, {"y":2,"x":1}]}"#,
        );
        let b = fingerprint("POST", "/api/bookings", br#"{"b":[1,{"x":1,"y":2}],"a":1}"#);
        assert_eq!(a, b);
        assert_ne!(
            a,
            fingerprint("POST", "/api/bookings", br#"{"a":2,"b":[1,{"x":1,"y":2}]}"#)
        );
        assert_ne!(
            a,
            fingerprint(
                "PATCH",
                "/api/bookings",
                br#"{"a":1,"b":[1,{"x":1,"y":2}]}"#
            )
        );
    }

    #[test]
    fn keys_are_visible_ascii_without_spaces() {
        assert!(valid_key("abc-123_XYZ"));
        assert!(valid_key(&"k".repeat(255)));
        for bad in ["", "a b", "ключ", "a\tb"] {
            assert!(!valid_key(bad), "{bad}");
        }
        assert!(!valid_key(&"k".repeat(256)));
    }
}
