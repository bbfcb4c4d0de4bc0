//! `POST /api/sessions`, `GET/DELETE /api/sessions/{id}`.

use super::caller;
use super::error::ApiError;
use super::AppState;
use crate::domain::SessionId;
use crate::store::sessions::{Message, SessionRecord};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A session without its history.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionInfo {
    /// Its id.
    pub session_id: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Expiry unless renewed by a turn.
    pub expires_at: DateTime<Utc>,
}

/// A session with its whole history.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionView {
    /// Its id.
    pub session_id: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Expiry unless renewed by a turn.
    pub expires_at: DateTime<Utc>,
    /// Two entries per completed turn, in order.
    #[schema(value_type = Vec<Object>)]
    pub messages: Vec<Message>,
}

impl From<&SessionRecord> for SessionInfo {
    fn from(r: &SessionRecord) -> Self {
        Self {
            session_id: r.id.to_string(),
            created_at: r.created_at,
            expires_at: r.expires_at,
        }
    }
}

/// Creates a session (its assistant starts lazily on the first turn).
#[utoipa::path(post, path = "/api/sessions", responses((status = 201, body = SessionInfo)))]
pub async fn create(
    State(s): State<AppState>,
    caller: caller::Caller,
) -> Result<Response, ApiError> {
    let rec = s.engine.create_session(caller.creator().as_ref()).await?;
    let mut res = (StatusCode::CREATED, Json(SessionInfo::from(&rec))).into_response();
    res.headers_mut().insert(
        header::SET_COOKIE,
        caller::set_cookie(&rec.id, s.config.session_ttl.as_secs()),
    );
    Ok(res)
}

fn parse(id: &str) -> Result<SessionId, ApiError> {
    SessionId::parse(id).map_err(|_| caller::session_not_found())
}

/// A session and its whole history.
#[utoipa::path(get, path = "/api/sessions/{id}", params(("id" = String, Path)),
    responses((status = 200, body = SessionView), (status = 404)))]
pub async fn get(
    State(s): State<AppState>,
    caller: caller::Caller,
    Path(id): Path<String>,
) -> Result<Json<SessionView>, ApiError> {
    let user = caller.owner();
    let r = s.engine.session(&parse(&id)?, user.as_ref()).await?;
    Ok(Json(SessionView {
        session_id: r.id.to_string(),
        created_at: r.created_at,
        expires_at: r.expires_at,
        messages: r.messages,
    }))
}

/// Deletes a session (its bookings stay).
#[utoipa::path(delete, path = "/api/sessions/{id}", params(("id" = String, Path)),
    responses((status = 204), (status = 404)))]
pub async fn delete(
    State(s): State<AppState>,
    caller: caller::Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let user = caller.owner();
    s.engine.delete_session(&parse(&id)?, user.as_ref()).await?;
    Ok(StatusCode::NO_CONTENT)
}
