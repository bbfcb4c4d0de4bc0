//! `GET/POST /api/bookings`, `DELETE /api/bookings/{id}`.

use super::caller::{self, reading_owner};
use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery};
use super::gpus::parse_interval;
use super::AppState;
use crate::assistant::tools::BookingView;
use crate::chat::SessionRef;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

/// The caller's bookings.
#[derive(Serialize, utoipa::ToSchema)]
pub struct BookingList {
    /// Newest first.
    pub bookings: Vec<BookingView>,
}

/// Names the session when there is no cookie.
#[derive(Deserialize, utoipa::IntoParams)]
pub struct SessionQuery {
    /// The session (instead of the `hpcbot_sid` cookie).
    pub session_id: Option<String>,
}

/// The caller's bookings, newest first.
#[utoipa::path(get, path = "/api/bookings", params(SessionQuery), responses((status = 200, body = BookingList)))]
pub async fn list(
    State(s): State<AppState>,
    caller: caller::Caller,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<SessionQuery>,
) -> Result<Json<BookingList>, ApiError> {
    let bookings = match reading_owner(&s, &caller, q.session_id.as_deref(), &headers).await? {
        Some(owner) => s.tools.bookings(&owner).await?,
        None => Vec::new(),
    };
    Ok(Json(BookingList {
        bookings: bookings.iter().map(BookingView::from).collect(),
    }))
}

/// A booking request.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBooking {
    /// GPU model (loose names like `A100` are accepted).
    pub model: String,
    /// 1..=64.
    pub count: i64,
    /// RFC 3339, not in the past.
    pub start: String,
    /// RFC 3339, after start, at most 30 days later.
    pub end: String,
    /// The session to book in (instead of the cookie); without either a session is created.
    pub session_id: Option<String>,
}

/// Books GPUs; the concrete devices are chosen by the server.
#[utoipa::path(post, path = "/api/bookings", request_body = CreateBooking,
    responses((status = 201, body = BookingView), (status = 400), (status = 404), (status = 409), (status = 413)))]
pub async fn create(
    State(s): State<AppState>,
    caller: caller::Caller,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<SessionQuery>,
    ApiJson(req): ApiJson<CreateBooking>,
) -> Result<Response, ApiError> {
    let interval = parse_interval(&req.start, &req.end)?;
    // Check the request before a session is created for it.
    s.tools.check(&req.model, req.count, &interval).await?;
    let user = caller.owner();
    let named = caller::session_ref(
        req.session_id.as_deref().or(query.session_id.as_deref()),
        &headers,
    )?;
    // No session named and a client cookie: the client is the caller, no session is needed.
    if let (SessionRef::New, Some(client)) = (&named, caller.creator()) {
        let booking = s
            .tools
            .book(&client, &req.model, req.count, interval)
            .await?;
        return Ok((StatusCode::CREATED, Json(BookingView::from(&booking))).into_response());
    }
    let session = s
        .engine
        .resolve(named, user.as_ref(), caller.creator().as_ref())
        .await?;
    let booking = s
        .tools
        .book(&session.owner, &req.model, req.count, interval)
        .await?;
    let mut res = (StatusCode::CREATED, Json(BookingView::from(&booking))).into_response();
    res.headers_mut().insert(
        header::SET_COOKIE,
        caller::set_cookie(&session.id, s.config.session_ttl.as_secs()),
    );
    Ok(res)
}

/// Cancels one of the caller's bookings.
#[utoipa::path(delete, path = "/api/bookings/{id}", params(("id" = String, Path), SessionQuery),
    responses((status = 200, body = BookingView), (status = 404)))]
pub async fn cancel(
    State(s): State<AppState>,
    caller: caller::Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<SessionQuery>,
) -> Result<Json<BookingView>, ApiError> {
    let owner = reading_owner(&s, &caller, q.session_id.as_deref(), &headers)
        .await?
        .ok_or_else(|| {
            ApiError::from(crate::assistant::tools::ToolError::BookingNotFound(
                id.clone(),
            ))
        })?;
    let booking = s.tools.cancel(&owner, &id).await?;
    Ok(Json(BookingView::from(&booking)))
}

/// Every booking of every caller, newest first (admin; open with `auth = none`).
#[utoipa::path(get, path = "/api/admin/bookings", responses((status = 200, body = BookingList), (status = 401), (status = 403)))]
pub async fn all(State(s): State<AppState>) -> Result<Json<BookingList>, ApiError> {
    let mut list = s
        .tools
        .store()
        .all()
        .await
        .map_err(crate::assistant::tools::ToolError::from)?;
    list.reverse();
    Ok(Json(BookingList {
        bookings: list.iter().map(BookingView::from).collect(),
    }))
}
