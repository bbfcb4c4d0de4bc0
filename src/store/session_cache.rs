//! The recent turns of SQLite sessions, kept in this process beside the file
//! (`session_cache`), so a turn reads no rows: its session as the last commit left it.
//!
//! Only for a store that no other instance writes (SQLite, `shared()` false): the engine's
//! per-session queue orders the turns of a session in this process, so the entry a turn
//! reads is the one the turn before it wrote. An entry is taken out *before* its session is
//! written and put back only after the database confirmed the write: a write that fails,
//! times out or is cancelled leaves no entry, and the next turn reads the file. A turn of
//! another process on the same file is still refused by the version check of the commit
//! (its entry is then dropped); the database stays the record of every turn.
//!
//! An entry holds the last `window` messages, where `window` is the most a turn of it has
//! asked for (the assistant's history window, 0 for the built-in one); reads of the whole
//! history (`GET /api/sessions/{id}`) go to the database and keep nothing here.

use super::sessions::{SessionRecord, TurnRecord};
use crate::domain::SessionId;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// A session as last committed, with its most recent messages.
#[derive(Debug, Clone)]
struct Entry {
    record: SessionRecord,
    /// How many of the most recent messages it keeps.
    window: usize,
}

/// What is kept of a session.
#[derive(Debug, Clone)]
enum Slot {
    /// Its recent turns, as the database holds them.
    Kept(Entry),
    /// A turn of it is being written (or its write did not end well): reads go to the
    /// database and leave nothing here, so a read that raced the write cannot put an older
    /// session back. The next confirmed write of this process fills or clears it.
    Writing,
}

/// A session taken out for its write, to put back once the write is confirmed.
pub struct Taken(Option<Entry>);

/// Sessions' recent turns, the longest idle evicted beyond the capacity.
pub struct SessionCache {
    slots: moka::sync::Cache<SessionId, Arc<Slot>>,
}

/// `record` without all but its last `window` messages.
fn trimmed(mut record: SessionRecord, window: usize) -> SessionRecord {
    let drop = record.messages.len().saturating_sub(window);
    record.messages.drain(..drop);
    record.earlier += drop as u64;
    record
}

impl SessionCache {
    /// At most `capacity` sessions; `None` for 0 (no cache).
    pub fn new(capacity: usize) -> Option<Self> {
        (capacity > 0).then(|| Self {
            slots: moka::sync::Cache::builder()
                .max_capacity(capacity as u64)
                .build(),
        })
    }

    fn keep(&self, record: SessionRecord, window: usize) {
        let record = trimmed(record, window);
        self.slots.insert(
            record.id.clone(),
            Arc::new(Slot::Kept(Entry { record, window })),
        );
    }

    /// The session with its last `last` messages, if kept with at least that many (or all
    /// of its messages) and live at `now`. The entry keeps `last` messages from then on.
    pub fn get(&self, id: &SessionId, now: DateTime<Utc>, last: usize) -> Option<SessionRecord> {
        let slot = self.slots.get(id)?;
        let Slot::Kept(e) = slot.as_ref() else {
            return None;
        };
        if e.record.expires_at <= now {
            self.slots.invalidate(id);
            return None;
        }
        if e.record.messages.len() < last && e.record.earlier > 0 {
            return None;
        }
        if last > e.window {
            self.keep(e.record.clone(), last);
        }
        Some(trimmed(e.record.clone(), last))
    }

    /// Keeps a session just created (no turn of it can be running).
    pub fn created(&self, record: &SessionRecord) {
        self.keep(record.clone(), 0);
    }

    /// Keeps `record`, as read from the database, for turns reading `window` messages:
    /// unless a write of it is under way or what is kept is as recent.
    pub fn read(&self, record: &SessionRecord, window: usize) {
        let id = record.id.clone();
        self.slots.entry(id).and_compute_with(|slot| {
            use moka::ops::compute::Op;
            match slot.as_ref().map(|s| s.value().as_ref()) {
                Some(Slot::Writing) => Op::Nop,
                Some(Slot::Kept(e)) if e.record.turns() >= record.turns() => Op::Nop,
                _ => {
                    let record = trimmed(record.clone(), window);
                    Op::Put(Arc::new(Slot::Kept(Entry { record, window })))
                }
            }
        });
    }

    /// Marks the session as being written (see the module docs); returns what was kept, to
    /// put back with [`SessionCache::committed`].
    pub fn take(&self, id: &SessionId) -> Taken {
        let before = self.slots.get(id);
        self.slots.insert(id.clone(), Arc::new(Slot::Writing));
        Taken(before.and_then(|s| match Arc::unwrap_or_clone(s) {
            Slot::Kept(e) => Some(e),
            Slot::Writing => None,
        }))
    }

    /// Once the database confirmed `turn` as the session's turn after `expected` turns:
    /// keeps the session taken with it appended, or (nothing was kept, or it was not the
    /// session the turn read) clears the slot for the next read to fill.
    pub fn committed(&self, id: &SessionId, taken: Taken, expected: u64, turn: &TurnRecord) {
        match taken.0.filter(|e| e.record.turns() == expected) {
            Some(Entry { mut record, window }) => {
                record.messages.push(turn.user.clone());
                record.messages.push(turn.assistant.clone());
                record.state = turn.state.clone();
                record.expires_at = turn.expires_at;
                self.keep(record, window);
            }
            None => self.slots.invalidate(id),
        }
    }

    /// Forgets a session (deleted).
    pub fn forget(&self, id: &SessionId) {
        self.slots.invalidate(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Owner;
    use crate::store::sessions::{Message, Role};

    fn msg(role: Role, text: &str, at: DateTime<Utc>) -> Message {
        Message {
            role,
            content: text.into(),
            at,
        }
    }

    fn turn(n: u32, at: DateTime<Utc>) -> TurnRecord {
        TurnRecord {
            user: msg(Role::User, &format!("q{n}"), at),
            assistant: msg(Role::Assistant, &format!("a{n}"), at),
            state: serde_json::json!({ "n": n }),
            expires_at: at + chrono::Duration::hours(1),
        }
    }

    fn session(now: DateTime<Utc>) -> SessionRecord {
        let id = SessionId::new();
        SessionRecord::new(
            id.clone(),
            Owner::session(&id),
            now,
            now + chrono::Duration::hours(1),
        )
    }

    #[test]
    fn a_turn_reads_what_the_last_commit_left_within_its_window() {
        let cache = SessionCache::new(10).unwrap();
        let now = Utc::now();
        let fresh = session(now);
        let id = fresh.id.clone();
        cache.created(&fresh);
        // A window of 4 on a session with every message held: a hit.
        let mut seen = cache.get(&id, now, 4).expect("kept");
        assert_eq!(seen.turns(), 0);
        for n in 1..=3 {
            let taken = cache.take(&id);
            assert!(cache.get(&id, now, 4).is_none(), "not served while written");
            cache.committed(&id, taken, n as u64 - 1, &turn(n, now));
            seen = cache.get(&id, now, 4).expect("kept after the commit");
        }
        assert_eq!(seen.turns(), 3);
        assert_eq!(seen.earlier, 2);
        let texts: Vec<&str> = seen.messages.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(texts, ["q2", "a2", "q3", "a3"]);
        assert_eq!(seen.state, serde_json::json!({ "n": 3 }));
        // More than it keeps, of a session with earlier messages: read from the database.
        assert!(cache.get(&id, now, 6).is_none());
    }

    #[test]
    fn a_read_that_raced_a_write_does_not_put_an_older_session_back() {
        let cache = SessionCache::new(10).unwrap();
        let now = Utc::now();
        let fresh = session(now);
        let id = fresh.id.clone();
        cache.created(&fresh);
        let taken = cache.take(&id);
        // A read from the database during the write (the session before the turn).
        cache.read(&fresh, 0);
        assert!(cache.get(&id, now, 0).is_none());
        cache.committed(&id, taken, 0, &turn(1, now));
        cache.read(&fresh, 0);
        assert_eq!(cache.get(&id, now, 0).expect("kept").turns(), 1);
        // A write that never confirmed (cancelled): nothing is served until one does.
        let _lost = cache.take(&id);
        cache.read(&fresh, 0);
        assert!(cache.get(&id, now, 0).is_none());
        let taken = cache.take(&id);
        cache.committed(&id, taken, 1, &turn(2, now));
        assert!(
            cache.get(&id, now, 0).is_none(),
            "cleared, for a read to fill"
        );
        let mut read = fresh.clone();
        read.earlier = 4;
        cache.read(&read, 0);
        assert_eq!(cache.get(&id, now, 0).expect("filled").turns(), 2);
    }

    #[test]
    fn an_expired_session_is_not_served() {
        let cache = SessionCache::new(10).unwrap();
        let now = Utc::now();
        let mut r = session(now);
        r.expires_at = now + chrono::Duration::seconds(5);
        cache.created(&r);
        assert!(cache
            .get(&r.id, now + chrono::Duration::seconds(5), 0)
            .is_none());
        assert!(
            cache.get(&r.id, now, 0).is_none(),
            "dropped once seen expired"
        );
    }
}
