//! The `Idempotency-Key` middleware (API.md "Exactly once"), for `POST /api/bookings`,
//! `PATCH`/`DELETE /api/bookings/{id}`, `POST /api/bookings/series`, `POST
//! /api/holds/{id}/confirm`, `POST /api/waitlist`, `POST /api/chat` and `POST /api/chat/stream`.
//!
//! The key is claimed in the booking database before the handler runs; a booking change
//! stores its reply in its own transaction (see `store::idempotency`), any other completed
//! reply is stored when the handler returns, and a stream stores its `done` reply itself.
//! A request cut off (dropped, deadline, 5xx) releases its claim: it left nothing.

use super::error::ApiError;
use super::AppState;
use crate::assistant::tools::BookingView;
use crate::store::idempotency::IdempotencyStore;
use crate::store::idempotency::{self, Begin, StoredReply, Ticket, Times};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The request header.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// The header on a replayed reply.
pub const REPLAYED: HeaderName = HeaderName::from_static("idempotency-replayed");
/// Extra time a claim is held past the request deadline before it counts as cut off.
const LOCK_MARGIN_MS: i64 = 5_000;
/// `Retry-After` for `409 request_in_progress`.
const RETRY_AFTER_SECS: u32 = 1;

/// The environment variable that makes a keyed booking change hang after its commit, before
/// its reply (testing only: the crash test kills the process there).
pub const FAULT_HOLD_AFTER_COMMIT: &str = "HPCBOT_FAULT_HOLD_AFTER_COMMIT";

fn hold_after_commit() -> bool {
    static HOLD: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *HOLD.get_or_init(|| std::env::var_os(FAULT_HOLD_AFTER_COMMIT).is_some_and(|v| v == "1"))
}

/// Which of the five routes a request is (the others ignore the header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Booking,
    /// `POST /api/bookings/series`: the reply is the series, stored in its transaction.
    Series,
    Chat,
    Stream,
    /// `POST /api/waitlist`: the reply is stored when the handler returns.
    Waitlist,
}

fn route_of(method: &Method, path: &str) -> Option<Route> {
    let path = path.trim_end_matches('/');
    match (method, path) {
        (&Method::POST, "/api/bookings") => Some(Route::Booking),
        (&Method::POST, "/api/bookings/series") => Some(Route::Series),
        (&Method::POST, "/api/chat") => Some(Route::Chat),
        (&Method::POST, "/api/waitlist") => Some(Route::Waitlist),
        (&Method::POST, p)
            if p.strip_prefix("/api/holds/")
                .and_then(|r| r.strip_suffix("/confirm"))
                .is_some_and(|id| !id.is_empty() && !id.contains('/')) =>
        {
            Some(Route::Booking)
        }
        (&Method::POST, "/api/chat/stream") => Some(Route::Stream),
        (m, p)
            if (m == Method::PATCH || m == Method::DELETE)
                && p.strip_prefix("/api/bookings/")
                    .is_some_and(|id| !id.is_empty() && !id.contains('/')) =>
        {
            Some(Route::Booking)
        }
        _ => None,
    }
}

/// Whose key it is: the token's user, else the session named (body, query or cookie), else
/// the browser's `hpcbot_client` cookie; two callers never share a record.
fn caller_of(req: &Request, body: &[u8]) -> String {
    if let Some(u) = req.extensions().get::<super::caller::AuthUser>() {
        return u.owner.as_str().to_string();
    }
    let from_body = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("session_id")
                .and_then(|s| s.as_str())
                .map(str::to_string)
        });
    let from_query = req.uri().query().and_then(|q| {
        q.split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == "session_id")
            .map(|(_, v)| v.to_string())
    });
    if let Some(id) = from_body
        .or(from_query)
        .and_then(|s| crate::domain::SessionId::parse(&s).ok())
        .or_else(|| super::caller::cookie_session(req.headers()))
    {
        return format!("session:{id}");
    }
    let client = req
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == "hpcbot_client")
        .map(|(_, v)| v.to_string());
    match client {
        Some(c) => format!("client:{c}"),
        None => "anonymous".into(),
    }
}

/// Releases the claim if the request ends without a stored reply (also when dropped).
struct Claim {
    store: Arc<dyn IdempotencyStore>,
    ticket: Arc<Ticket>,
    armed: bool,
}

impl Drop for Claim {
    fn drop(&mut self) {
        if self.armed && !self.ticket.is_completed() && !self.ticket.is_deferred() {
            release_later(self.store.clone(), self.ticket.clone());
        }
    }
}

/// Forgets a claim in the background (the request is gone).
pub fn release_later(store: Arc<dyn IdempotencyStore>, t: Arc<Ticket>) {
    tokio::spawn(async move {
        let _ = store.release(&t.caller, &t.key, &t.token).await;
    });
}

/// Stores a completed reply of the claim `t`; a cut-off one (5xx, deadline) is released.
pub async fn complete(store: &Arc<dyn IdempotencyStore>, t: &Ticket, status: u16, body: String) {
    if t.is_completed() {
        return;
    }
    let r = if status >= 500 {
        store.release(&t.caller, &t.key, &t.token).await
    } else {
        store
            .finish(&t.caller, &t.key, &t.token, &StoredReply { status, body })
            .await
    };
    match r {
        Ok(()) => t.mark_completed(),
        Err(e) => tracing::warn!(error = %e, "could not store an idempotent reply"),
    }
}

/// A stored reply sent again. A chat reply sets the session cookie again, as the first did.
fn replay(route: Route, stored: StoredReply, session_ttl_secs: u64) -> Response {
    let session = (route != Route::Booking && stored.status == 200)
        .then(|| serde_json::from_str::<serde_json::Value>(&stored.body).ok())
        .flatten()
        .and_then(|v| crate::domain::SessionId::parse(v["session_id"].as_str()?).ok());
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut res = if route == Route::Stream && status == StatusCode::OK {
        let reply: serde_json::Value = serde_json::from_str(&stored.body).unwrap_or_default();
        let text = reply["response"].as_str().unwrap_or_default().to_string();
        let body = format!(
            "event: delta\ndata: {}\n\nevent: done\ndata: {}\n\n",
            serde_json::json!({ "text": text }),
            stored.body
        );
        Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "text/event-stream")
            .header(header::CACHE_CONTROL, "no-cache")
            .body(Body::from(body))
            .expect("valid response")
    } else {
        Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(stored.body))
            .expect("valid response")
    };
    res.headers_mut()
        .insert(REPLAYED, HeaderValue::from_static("true"));
    if let Some(id) = session {
        res.headers_mut().insert(
            header::SET_COOKIE,
            super::caller::set_cookie(&id, session_ttl_secs),
        );
    }
    res
}

/// The middleware.
pub async fn idempotency(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let Some(raw) = req.headers().get(&IDEMPOTENCY_KEY).cloned() else {
        return next.run(req).await;
    };
    let Some(route) = route_of(req.method(), req.uri().path()) else {
        return next.run(req).await;
    };
    let key = match raw.to_str() {
        Ok(k) if idempotency::valid_key(k) => k.to_string(),
        _ => {
            return ApiError::bad_request(
                "invalid_idempotency_key",
                "Idempotency-Key must be 1 to 255 visible ASCII characters without spaces",
            )
            .into_response()
        }
    };
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, s.config.body_limit.get()).await {
        Ok(b) => b,
        Err(_) => {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the request body is larger than the server accepts",
            )
            .into_response()
        }
    };
    let req = Request::from_parts(parts, Body::from(bytes.clone()));
    let caller = caller_of(&req, &bytes);
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let fingerprint = idempotency::fingerprint(req.method().as_str(), &path, &bytes);
    let now_ms = chrono::Utc::now().timestamp_millis();
    let times = Times {
        now_ms,
        locked_until_ms: now_ms + s.config.request_timeout.as_millis() as i64 + LOCK_MARGIN_MS,
        expires_at_ms: now_ms + s.config.idempotency_ttl.as_millis() as i64,
    };
    let token = match s.idempotency.begin(&caller, &key, &fingerprint, times).await {
        Ok(Begin::Run { token }) => token,
        Ok(Begin::Replay(stored)) => {
            metrics::counter!("hpcbot_idempotent_replays_total").increment(1);
            return replay(route, stored, s.config.session_ttl.as_secs());
        }
        Ok(Begin::Reused) => {
            return ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "this Idempotency-Key was used with another method, path or body; use a new key for a new request",
            )
            .into_response()
        }
        Ok(Begin::InProgress) => {
            return ApiError::new(
                StatusCode::CONFLICT,
                "request_in_progress",
                "the first request with this Idempotency-Key is still running; retry in a moment",
            )
            .retry_after(RETRY_AFTER_SECS)
            .into_response()
        }
        Err(e) => return ApiError::from(crate::assistant::tools::ToolError::from(e)).into_response(),
    };
    let render: Option<idempotency::Render> = match route {
        Route::Booking => {
            let status = if req.method() == Method::POST {
                201
            } else {
                200
            };
            Some(Box::new(move |made| match made {
                idempotency::Made::Booking(b) => Some(StoredReply {
                    status,
                    body: serde_json::to_string(&BookingView::from(b)).unwrap_or_default(),
                }),
                idempotency::Made::Series(_) => None,
            }))
        }
        Route::Series => Some(Box::new(|made| match made {
            idempotency::Made::Series(m) => Some(StoredReply {
                status: 201,
                body: serde_json::to_string(&super::series::SeriesView::from(m))
                    .unwrap_or_default(),
            }),
            idempotency::Made::Booking(_) => None,
        })),
        _ => None,
    };
    let ticket = Arc::new(Ticket::new(caller, key, token, render));
    let mut claim = Claim {
        store: s.idempotency.clone(),
        ticket: ticket.clone(),
        armed: true,
    };
    let mut req = req;
    req.extensions_mut().insert(ticket.clone());
    let res = idempotency::scope(ticket.clone(), next.run(req)).await;
    if ticket.is_completed() && hold_after_commit() {
        // Fault injection for the crash test: the change is committed, the reply never goes.
        std::future::pending::<()>().await;
    }
    if ticket.is_completed() || ticket.is_deferred() {
        claim.armed = false;
        return res;
    }
    let (parts, body) = res.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(_) => return ApiError::internal("reply body could not be read").into_response(),
    };
    complete(
        &s.idempotency,
        &ticket,
        parts.status.as_u16(),
        String::from_utf8_lossy(&bytes).into_owned(),
    )
    .await;
    claim.armed = !ticket.is_completed();
    Response::from_parts(parts, Body::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_five_routes_take_a_key() {
        assert_eq!(
            route_of(&Method::POST, "/api/bookings"),
            Some(Route::Booking)
        );
        assert_eq!(
            route_of(&Method::PATCH, "/api/bookings/abc"),
            Some(Route::Booking)
        );
        assert_eq!(
            route_of(&Method::DELETE, "/api/bookings/abc"),
            Some(Route::Booking)
        );
        assert_eq!(route_of(&Method::POST, "/api/chat"), Some(Route::Chat));
        assert_eq!(
            route_of(&Method::POST, "/api/waitlist"),
            Some(Route::Waitlist)
        );
        assert_eq!(
            route_of(&Method::POST, "/api/chat/stream"),
            Some(Route::Stream)
        );
        assert_eq!(route_of(&Method::GET, "/api/bookings"), None);
        assert_eq!(route_of(&Method::GET, "/api/bookings/abc/events"), None);
        assert_eq!(route_of(&Method::POST, "/api/direct/chat"), None);
    }
}
