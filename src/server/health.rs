//! Health, readiness, thread and request views, and Prometheus metrics.

use super::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How long readiness waits for each store.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// `200 {"status": "ok"}` while the process serves.
#[utoipa::path(get, path = "/health", responses((status = 200)))]
pub async fn health() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// How often the session count shown by health and metrics is refreshed.
const COUNT_EVERY: Duration = Duration::from_secs(2);

/// Keeps the session count in memory (read from the store in the background, bounded by
/// the store timeout), so `/health/threads` and `/metrics` never wait for a hanging store.
pub async fn count_sessions(s: AppState) {
    let mut tick = tokio::time::interval(COUNT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Ok(Ok(n)) =
            tokio::time::timeout(s.config.store_timeout, s.engine.store().count()).await
        {
            s.guard.sessions_seen.store(n, Ordering::Relaxed);
        }
    }
}

/// Whether the server is at one of its limits: no place left among the requests in
/// flight, or as many connections open as it allows.
fn saturated(s: &AppState) -> Option<&'static str> {
    if s.admission.available_permits() == 0 {
        Some("in-flight requests")
    } else if s.guard.connections.load(Ordering::Relaxed)
        >= s.guard.max_connections.load(Ordering::Relaxed)
    {
        Some("connections")
    } else {
        None
    }
}

/// `200` when every configured store answers and the server has room, else `503` naming
/// what fails (a store, or the limit it is at).
#[utoipa::path(get, path = "/health/ready", responses((status = 200), (status = 503)))]
pub async fn ready(State(s): State<AppState>) -> Response {
    let db = tokio::time::timeout(READY_TIMEOUT, s.tools.store().ping()).await;
    let sessions = tokio::time::timeout(READY_TIMEOUT, s.engine.store().ping()).await;
    let db_ok = matches!(db, Ok(Ok(())));
    let sessions_ok = matches!(sessions, Ok(Ok(())));
    let full = saturated(&s);
    let checks = json!({"database": if db_ok {"ok"} else {"failing"}, "sessions": if sessions_ok {"ok"} else {"failing"},
        "capacity": if full.is_some() {"saturated"} else {"ok"}});
    if let (true, true, Some(limit)) = (db_ok, sessions_ok, full) {
        return (StatusCode::SERVICE_UNAVAILABLE, [(header::RETRY_AFTER, "1")], Json(json!({
            "status": "saturated",
            "checks": checks,
            "error": {"code": "overloaded", "message": format!("the server is at its limit of {limit}")}
        }))).into_response();
    }
    if db_ok && sessions_ok {
        (
            StatusCode::OK,
            Json(json!({"status": "ready", "checks": checks})),
        )
            .into_response()
    } else {
        let failing = if !db_ok { "database" } else { "sessions" };
        (StatusCode::SERVICE_UNAVAILABLE, Json(json!({
            "status": "unavailable",
            "checks": checks,
            "error": {"code": "store_unavailable", "message": format!("the {failing} store does not answer")}
        }))).into_response()
    }
}

/// OS threads of this process (Linux), or 0 where unknown.
fn os_threads() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("Threads:")
                    .map(|v| v.trim().parse().unwrap_or(0))
            })
        })
        .unwrap_or(0)
}

/// Threads, runtime workers, tasks, requests in flight and sessions.
#[utoipa::path(get, path = "/health/threads", responses((status = 200)))]
pub async fn threads(State(s): State<AppState>) -> Json<serde_json::Value> {
    let rt = tokio::runtime::Handle::current().metrics();
    let oldest = s
        .inflight
        .snapshot()
        .first()
        .map(|e| e.started.elapsed().as_millis() as u64)
        .unwrap_or(0);
    let sessions = s.guard.sessions_seen.load(Ordering::Relaxed);
    Json(json!({
        "connections": s.guard.connections.load(Ordering::Relaxed),
        "max_connections": s.guard.max_connections.load(Ordering::Relaxed),
        "active_threads": os_threads(),
        "workers": rt.num_workers(),
        "alive_tasks": rt.num_alive_tasks(),
        "in_flight_requests": s.inflight.len(),
        "max_in_flight": s.config.max_in_flight,
        "sessions": sessions,
        "sessions_with_turns_running": s.engine.active_sessions(),
        "oldest_request_ms": oldest,
        "session_store": s.engine.store().name(),
        "llm_breaker": s.llm_breaker.as_ref().map(|b| b.state()),
        "timestamp": s.tools.clock().now(),
    }))
}

/// Every request in flight with its stage and age: the deadlock detector. Sessions are
/// shown as tags (a hash), never as usable ids.
pub async fn requests(State(s): State<AppState>) -> Json<serde_json::Value> {
    let list: Vec<_> = s
        .inflight
        .snapshot()
        .iter()
        .map(|e| {
            json!({
                "request_id": e.request_id,
                "route": e.route,
                "session": e.session().map(|id| super::guard::session_tag(&id)),
                "stage": e.stage(),
                "age_ms": e.started.elapsed().as_millis() as u64,
            })
        })
        .collect();
    Json(json!({"requests": list}))
}

/// Prometheus text format.
pub async fn metrics(State(s): State<AppState>) -> Response {
    metrics::gauge!("hpcbot_in_flight_requests").set(s.inflight.len() as f64);
    if let Some(b) = &s.llm_breaker {
        metrics::gauge!("hpcbot_llm_breaker_state").set(b.state().gauge());
    }
    metrics::gauge!("hpcbot_sessions").set(s.guard.sessions_seen.load(Ordering::Relaxed) as f64);
    metrics::gauge!("hpcbot_connections").set(s.guard.connections.load(Ordering::Relaxed) as f64);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(),
    )
        .into_response()
}

/// A trivial JSON echo: the baseline that load benchmarks compare turns against.
pub async fn echo(body: axum::body::Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}
