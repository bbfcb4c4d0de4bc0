//! `POST /api/chat`, `POST /api/chat/stream`, `POST /api/direct/chat`.

use super::bookings::SessionQuery;
use super::caller;
use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery};
use super::middleware::Deadline;
use super::{sse, AppState};
use crate::assistant::Backend;
use crate::chat::{Engine, SessionRef, TurnReply};
use crate::ops;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::sse::Event;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// One turn.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatRequest {
    /// 1..=4000 characters after trimming.
    #[schema(min_length = 1, max_length = 4000)]
    pub message: String,
    /// The session; without it (and without the cookie) a new session is created.
    pub session_id: Option<String>,
}

/// Resolves the session of a chat request (creating one if needed).
async fn open_session(
    s: &AppState,
    caller: &caller::Caller,
    headers: &HeaderMap,
    query: &SessionQuery,
    req: &ChatRequest,
    checked_by_turn: bool,
) -> Result<(crate::domain::SessionId, Option<crate::domain::Owner>), ApiError> {
    Engine::check_message(&req.message)?;
    let user = caller.owner();
    let named = caller::session_ref(
        req.session_id.as_deref().or(query.session_id.as_deref()),
        headers,
    )?;
    if let (SessionRef::Explicit(id), true) = (&named, checked_by_turn) {
        // The turn loads the session anyway and answers 404 if it is missing or not the
        // caller's: one read fewer per turn.
        return Ok((id.clone(), user));
    }
    let session = s
        .engine
        .resolve(named, user.as_ref(), caller.creator().as_ref())
        .await?;
    Ok((session.id, user))
}

/// One turn of a conversation.
#[utoipa::path(post, path = "/api/chat", request_body = ChatRequest, params(("Idempotency-Key" = Option<String>, Header, description = "1..=255 visible ASCII; a repeat with the same method, path and body replays the first reply (Idempotency-Replayed: true)")),
    responses((status = 200, body = TurnReply), (status = 400), (status = 404), (status = 409), (status = 422), (status = 503), (status = 504)))]
pub async fn chat(
    State(s): State<AppState>,
    Extension(Deadline(deadline)): Extension<Deadline>,
    caller: caller::Caller,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<SessionQuery>,
    ApiJson(req): ApiJson<ChatRequest>,
) -> Result<Response, ApiError> {
    let (id, user) = open_session(&s, &caller, &headers, &query, &req, true).await?;
    let reply = s
        .engine
        .turn(&id, user.as_ref(), &req.message, deadline, None)
        .await?;
    let mut res = Json(reply).into_response();
    res.headers_mut().insert(
        header::SET_COOKIE,
        caller::set_cookie(&id, s.config.session_ttl.as_secs()),
    );
    Ok(res)
}

fn event<T: Serialize>(name: &str, data: &T) -> Event {
    Event::default()
        .event(name)
        .json_data(data)
        .expect("serialisable event")
}

/// The same turn as `/api/chat`, answered as server-sent events: `delta` pieces, `action`s,
/// then `done` (the reply object) or `error`. If the client goes away, the turn is
/// cancelled and nothing of it is stored.
#[utoipa::path(post, path = "/api/chat/stream", request_body = ChatRequest, params(("Idempotency-Key" = Option<String>, Header, description = "1..=255 visible ASCII; a repeat with the same method, path and body replays the first reply (Idempotency-Replayed: true)")),
    responses((status = 200, description = "text/event-stream of delta, action, done | error"),
        (status = 400, description = "invalid message or body"), (status = 404), (status = 409), (status = 413),
        (status = 415), (status = 422), (status = 429), (status = 503)))]
pub async fn stream(
    State(s): State<AppState>,
    Extension(Deadline(deadline)): Extension<Deadline>,
    caller: caller::Caller,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<SessionQuery>,
    ticket: Option<Extension<std::sync::Arc<crate::store::idempotency::Ticket>>>,
    ApiJson(req): ApiJson<ChatRequest>,
) -> Result<Response, ApiError> {
    // A stream's status is sent before the turn runs: a missing session is found here.
    let (id, user) = open_session(&s, &caller, &headers, &query, &req, false).await?;
    let engine = s.engine.clone();
    let sid = id.clone();
    // With an Idempotency-Key the stream stores its own reply (at `done`); if the client
    // goes away first, the claim is released: the turn was not stored either.
    let claim = ticket.map(|Extension(t)| {
        t.defer();
        StreamClaim {
            store: s.idempotency.clone(),
            ticket: t,
        }
    });
    let mut res = sse::reply(move |tx| async move {
        let (dtx, drx) = mpsc::unbounded_channel::<String>();
        let ticket = claim.as_ref().map(|c| c.ticket.clone());
        let turn = async {
            let turn = engine.turn(&sid, user.as_ref(), &req.message, deadline, Some(&dtx));
            // The stream runs in its own task: the key's ticket goes with it, so the turn's
            // commit stores the reply (see `Engine::turn`).
            match ticket {
                Some(t) => crate::store::idempotency::scope(t, turn).await,
                None => turn.await,
            }
        };
        let delta = |text| event("delta", &serde_json::json!({"text": text}));
        let Some(result) = sse::relay(turn, drx, &tx, delta).await else {
            return;
        };
        ops::set_stage("streaming");
        match result {
            Ok(reply) => {
                for a in &reply.actions {
                    let _ = tx.send(event("action", a)).await;
                }
                if let Some(c) = &claim {
                    let body = serde_json::to_string(&reply).unwrap_or_default();
                    super::idempotency::complete(&c.store, &c.ticket, 200, body).await;
                }
                let _ = tx.send(event("done", &reply)).await;
            }
            Err(e) => {
                let e = ApiError::from(e);
                let error = serde_json::json!({"error": {"code": e.code, "message": e.message}});
                let _ = tx.send(event("error", &error)).await;
            }
        }
    });
    res.headers_mut().insert(
        header::SET_COOKIE,
        caller::set_cookie(&id, s.config.session_ttl.as_secs()),
    );
    Ok(res)
}

/// A stream's claim on its Idempotency-Key: released when dropped without a stored reply
/// (the client went away, or the turn failed).
struct StreamClaim {
    store: std::sync::Arc<dyn crate::store::idempotency::IdempotencyStore>,
    ticket: std::sync::Arc<crate::store::idempotency::Ticket>,
}

impl Drop for StreamClaim {
    fn drop(&mut self) {
        if !self.ticket.is_completed() {
            super::idempotency::release_later(self.store.clone(), self.ticket.clone());
        }
    }
}

/// A stateless question.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DirectRequest {
    /// 1..=4000 characters after trimming.
    #[schema(min_length = 1, max_length = 4000)]
    pub message: String,
}

/// The answer to a stateless question.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DirectReply {
    /// The answer (Markdown).
    pub response: String,
    /// Who answered.
    pub backend: Backend,
}

/// One stateless question: no session, no history; never changes a booking.
#[utoipa::path(post, path = "/api/direct/chat", request_body = DirectRequest,
    responses((status = 200, body = DirectReply), (status = 400), (status = 504)))]
pub async fn direct(
    State(s): State<AppState>,
    Extension(Deadline(deadline)): Extension<Deadline>,
    ApiJson(req): ApiJson<DirectRequest>,
) -> Result<Json<DirectReply>, ApiError> {
    let (response, backend) = s.engine.direct(&req.message, deadline).await?;
    Ok(Json(DirectReply { response, backend }))
}
