//! The in-flight registry: where every request is while it is there. Layers below the
//! server mark their stage through a task-local handle, so a stuck request shows what it
//! waits for (`/debug/requests`) and the watchdog can log it while it is stuck.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// One request in flight.
#[derive(Debug)]
pub struct Entry {
    /// The request id (`x-request-id`).
    pub request_id: String,
    /// Method and route, e.g. `POST /api/chat`.
    pub route: String,
    /// When it arrived.
    pub started: Instant,
    state: Mutex<EntryState>,
    /// Asked before this request creates a session (the per-client rate limit).
    session_gate: GateSlot,
}

/// Holds the session gate (a closure, so not `Debug` by itself).
#[derive(Default)]
struct GateSlot(std::sync::OnceLock<SessionGate>);

impl std::fmt::Debug for GateSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() {
            "gate"
        } else {
            "no gate"
        })
    }
}

/// A check run before the current request creates a session: `Err(wait)` refuses it.
pub type SessionGate = Arc<dyn Fn() -> Result<(), std::time::Duration> + Send + Sync>;

/// Sets the current request's session gate (no-op outside a request).
pub fn set_session_gate(gate: SessionGate) {
    let _ = CURRENT.try_with(|e| e.session_gate.0.set(gate));
}

/// Asks the current request's session gate, if any, whether it may create a session.
pub fn check_session_gate() -> Result<(), std::time::Duration> {
    CURRENT
        .try_with(|e| e.session_gate.0.get().map(|g| g()).unwrap_or(Ok(())))
        .unwrap_or(Ok(()))
}

#[derive(Debug, Default)]
struct EntryState {
    stage: &'static str,
    session: Option<String>,
    warned: bool,
}

impl Entry {
    /// Its current stage.
    pub fn stage(&self) -> &'static str {
        self.state.lock().expect("entry").stage
    }

    /// The session it works on, if any.
    pub fn session(&self) -> Option<String> {
        self.state.lock().expect("entry").session.clone()
    }

    /// Marks it warned about; `true` the first time only.
    pub fn mark_warned(&self) -> bool {
        let mut s = self.state.lock().expect("entry");
        !std::mem::replace(&mut s.warned, true)
    }
}

tokio::task_local! {
    static CURRENT: Arc<Entry>;
}

/// Sets the current request's stage (no-op outside a request).
pub fn set_stage(stage: &'static str) {
    let _ = CURRENT.try_with(|e| e.state.lock().expect("entry").stage = stage);
}

/// Marks the current request's stage until the guard is dropped, then restores the one
/// before (for nested work such as a store call inside the assistant).
pub fn enter(stage: &'static str) -> StageGuard {
    let previous = CURRENT
        .try_with(|e| std::mem::replace(&mut e.state.lock().expect("entry").stage, stage))
        .ok();
    StageGuard { previous }
}

/// Restores the previous stage when dropped.
pub struct StageGuard {
    previous: Option<&'static str>,
}

impl Drop for StageGuard {
    fn drop(&mut self) {
        if let Some(p) = self.previous {
            set_stage(p);
        }
    }
}

/// Records the session the current request works on (no-op outside a request).
pub fn set_session(id: &str) {
    let _ = CURRENT.try_with(|e| e.state.lock().expect("entry").session = Some(id.to_string()));
}

/// Every request in flight, by a process-local number.
#[derive(Debug, Default)]
pub struct Inflight {
    next: AtomicU64,
    map: Mutex<HashMap<u64, Arc<Entry>>>,
}

/// Removes its entry from the registry when dropped (also when the request is cancelled).
pub struct Registration {
    registry: Arc<Inflight>,
    key: u64,
    entry: Arc<Entry>,
}

impl Registration {
    /// Runs `fut` with this entry as the current request.
    pub async fn scope<F: std::future::Future>(&self, fut: F) -> F::Output {
        CURRENT.scope(self.entry.clone(), fut).await
    }

    /// The entry.
    pub fn entry(&self) -> &Arc<Entry> {
        &self.entry
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.registry
            .map
            .lock()
            .expect("inflight")
            .remove(&self.key);
    }
}

impl Inflight {
    /// Registers a request; it stays listed until the registration is dropped.
    pub fn register(self: Arc<Self>, request_id: String, route: String) -> Registration {
        let key = self.next.fetch_add(1, Ordering::Relaxed);
        let entry = Arc::new(Entry {
            request_id,
            route,
            started: Instant::now(),
            state: Mutex::new(EntryState {
                stage: "handler",
                ..Default::default()
            }),
            session_gate: GateSlot::default(),
        });
        self.map
            .lock()
            .expect("inflight")
            .insert(key, entry.clone());
        Registration {
            registry: self.clone(),
            key,
            entry,
        }
    }

    /// How many requests are in flight.
    pub fn len(&self) -> usize {
        self.map.lock().expect("inflight").len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A snapshot, oldest first.
    pub fn snapshot(&self) -> Vec<Arc<Entry>> {
        let mut v: Vec<Arc<Entry>> = self
            .map
            .lock()
            .expect("inflight")
            .values()
            .cloned()
            .collect();
        v.sort_by_key(|e| e.started);
        v
    }
}

/// The current request's entry, to carry into a task it spawns.
pub fn current() -> Option<Arc<Entry>> {
    CURRENT.try_with(Arc::clone).ok()
}

/// Runs `fut` as part of the request `entry`.
pub async fn scope<F: std::future::Future>(entry: Arc<Entry>, fut: F) -> F::Output {
    CURRENT.scope(entry, fut).await
}
