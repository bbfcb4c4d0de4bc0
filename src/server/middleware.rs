//! Per-request plumbing: admission (load shedding), the in-flight registry, the deadline,
//! the access log and metrics.

use super::error::ApiError;
use super::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Duration;
use tokio::time::Instant;

/// The request's deadline, for handlers that bound their own waits by it.
#[derive(Debug, Clone, Copy)]
pub struct Deadline(pub Instant);

/// How long after its deadline a request is cut off if a handler did not end it itself.
const BACKSTOP: Duration = Duration::from_millis(500);

/// A route label for metrics and logs, with ids folded so the label set stays small.
pub fn route_label(path: &str) -> String {
    let mut parts: Vec<&str> = path.split('/').collect();
    for p in parts.iter_mut().skip(1) {
        if p.len() >= 16 && p.bytes().all(|b| b.is_ascii_hexdigit()) {
            *p = "{id}";
        }
    }
    let label = parts.join("/");
    const KNOWN: &[&str] = &[
        "/api/", "/health", "/metrics", "/debug/", "/v1/", "/assets/",
    ];
    if label == "/" || KNOWN.iter().any(|k| label.starts_with(k)) {
        label
    } else {
        "other".into()
    }
}

/// Admission, registry, deadline, log and metrics around every request.
pub async fn track(State(s): State<AppState>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let route = route_label(&path);
    let exempt = path.starts_with("/health") || path == "/metrics";
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let permit = if exempt {
        None
    } else {
        match s.admission.clone().try_acquire_owned() {
            Ok(p) => Some(p),
            Err(_) => {
                metrics::counter!("hpcbot_requests_shed_total").increment(1);
                tracing::warn!(%request_id, %route, "shed: in-flight limit reached");
                return ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "overloaded",
                    "the server is at its limit of requests in flight; retry in a moment",
                )
                .retry_after(1)
                .into_response();
            }
        }
    };
    let started = Instant::now();
    let deadline = started + s.config.request_timeout;
    req.extensions_mut().insert(Deadline(deadline));
    let reg = s
        .inflight
        .clone()
        .register(request_id.clone(), format!("{method} {path}"));
    let res = match tokio::time::timeout_at(deadline + BACKSTOP, reg.scope(next.run(req))).await {
        Ok(r) => r,
        Err(_) => ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "deadline_exceeded",
            "the request took longer than the deadline and was abandoned",
        )
        .into_response(),
    };
    let elapsed = started.elapsed();
    let status = res.status().as_u16();
    metrics::counter!("hpcbot_http_requests_total", "route" => route.clone(), "method" => method.to_string(), "status" => status.to_string()).increment(1);
    metrics::histogram!("hpcbot_http_request_duration_seconds", "route" => route.clone())
        .record(elapsed.as_secs_f64());
    let session = reg.entry().session();
    if elapsed >= s.config.slow_request {
        tracing::warn!(%request_id, %method, %route, status, latency_ms = elapsed.as_millis() as u64, session = session.as_deref().unwrap_or("-"), "slow request finished");
    } else {
        tracing::info!(%request_id, %method, %route, status, latency_ms = elapsed.as_millis() as u64, session = session.as_deref().unwrap_or("-"), "request");
    }
    let streaming = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if streaming {
        // Keep the request listed (and admitted) until its stream ends.
        let (parts, body) = res.into_parts();
        let held = (reg, permit);
        let stream = futures::StreamExt::map(body.into_data_stream(), move |chunk| {
            let _ = &held;
            chunk
        });
        return Response::from_parts(parts, Body::from_stream(stream));
    }
    drop(permit);
    res
}

/// Logs one warning per request that passes the slow threshold while still running.
pub async fn watchdog(s: AppState) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        for e in s.inflight.snapshot() {
            let age = e.started.elapsed();
            if age >= s.config.slow_request && e.mark_warned() {
                tracing::warn!(request_id = %e.request_id, route = %e.route, stage = e.stage(),
                    session = e.session().as_deref().unwrap_or("-"), age_ms = age.as_millis() as u64,
                    "request still running past the slow threshold");
            }
        }
    }
}
