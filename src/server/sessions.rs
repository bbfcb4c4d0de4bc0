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

/// A page of the history: without parameters, the whole history.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Only messages before this position (0-based index into the whole history).
    pub before: Option<usize>,
    /// At most this many messages (the latest ones before `before`), 1..=1000.
    pub limit: Option<usize>,
}

/// Most messages in one page.
const MAX_PAGE: usize = 1000;

/// A session and its history (whole, or one page of it with `?before=&limit=`; the page
/// starts at position `first` of the whole history).
#[utoipa::path(get, path = "/api/sessions/{id}", params(("id" = String, Path), HistoryQuery),
    responses((status = 200, body = SessionView), (status = 400), (status = 404)))]
pub async fn get(
    State(s): State<AppState>,
    caller: caller::Caller,
    Path(id): Path<String>,
    super::extract::ApiQuery(q): super::extract::ApiQuery<HistoryQuery>,
) -> Result<Response, ApiError> {
    let user = caller.owner();
    let r = s.engine.session(&parse(&id)?, user.as_ref()).await?;
    if q.before.is_none() && q.limit.is_none() {
        return Ok(Json(SessionView {
            session_id: r.id.to_string(),
            created_at: r.created_at,
            expires_at: r.expires_at,
            messages: r.messages,
        })
        .into_response());
    }
    let limit = q.limit.unwrap_or(100);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("`limit` must be 1..={MAX_PAGE}"),
        ));
    }
    let total = r.messages.len();
    let end = q.before.unwrap_or(total).min(total);
    let first = end.saturating_sub(limit);
    Ok(Json(serde_json::json!({
        "session_id": r.id.to_string(),
        "created_at": r.created_at,
        "expires_at": r.expires_at,
        "messages": &r.messages[first..end],
        "first": first,
        "total": total,
    }))
    .into_response())
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
