//! `GET/POST /api/bookings`, `PATCH/DELETE /api/bookings/{id}`, `GET /api/bookings/{id}/events`,
//! `GET /api/slots`.

use super::caller::{self, reading_owner};
use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery};
use super::gpus::{parse_interval, parse_time};
use super::AppState;
use crate::assistant::tools::{BookingChange, BookingView, EventView, Slot, SlotQuery, ToolError};
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
#[utoipa::path(post, path = "/api/bookings", request_body = CreateBooking, params(("Idempotency-Key" = Option<String>, Header, description = "1..=255 visible ASCII; a repeat with the same method, path and body replays the first reply (Idempotency-Replayed: true)")),
    responses((status = 201, body = BookingView), (status = 400), (status = 404), (status = 409), (status = 413), (status = 422)))]
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
#[utoipa::path(delete, path = "/api/bookings/{id}", params(("id" = String, Path), SessionQuery, ("Idempotency-Key" = Option<String>, Header, description = "1..=255 visible ASCII; a repeat with the same method, path and body replays the first reply (Idempotency-Replayed: true)")),
    responses((status = 200, body = BookingView), (status = 404), (status = 409), (status = 422)))]
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

/// `PATCH /api/bookings/{id}` body: `{"start"?, "end"?, "count"?}`, at least one, no nulls.
fn parse_change(
    body: &serde_json::Map<String, serde_json::Value>,
) -> Result<BookingChange, ApiError> {
    use serde_json::Value;
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "empty_change",
            "the body must change something: give start, end and/or count",
        ));
    }
    let mut change = BookingChange::default();
    for (k, v) in body {
        match (k.as_str(), v) {
            ("start", Value::String(t)) => change.start = Some(parse_time("start", t)?),
            ("end", Value::String(t)) => change.end = Some(parse_time("end", t)?),
            ("count", Value::Number(n)) => {
                let c = n
                    .as_u64()
                    .filter(|c| *c <= u32::MAX as u64)
                    .ok_or_else(|| {
                        ApiError::bad_request(
                            "invalid_count",
                            "count must be a whole number from 1 to 64",
                        )
                    })?;
                change.count = Some(c as u32);
            }
            ("start" | "end" | "count", other) => {
                return Err(ApiError::bad_request(
                    "invalid_json",
                    format!(
                        "`{k}` must be {}, got {}",
                        if k == "count" {
                            "a number"
                        } else {
                            "an RFC 3339 time"
                        },
                        if other.is_null() {
                            "null".to_string()
                        } else {
                            other.to_string()
                        }
                    ),
                ))
            }
            _ => {
                return Err(ApiError::bad_request(
                    "invalid_json",
                    format!("unknown field `{k}`; a change takes start, end and count"),
                ))
            }
        }
    }
    Ok(change)
}

/// A change of a booking (every field optional; at least one).
#[derive(Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ChangeBooking {
    /// New start (RFC 3339); not for a booking that has started.
    pub start: Option<String>,
    /// New end (RFC 3339), after the start and not in the past.
    pub end: Option<String>,
    /// New number of GPUs, 1..=64; not for a booking that has started.
    pub count: Option<i64>,
}

/// Changes one of the caller's bookings in place, all or nothing: its own GPUs count as free
/// for it and it keeps those that stay free; a started booking can change only its end.
#[utoipa::path(patch, path = "/api/bookings/{id}", params(("id" = String, Path), SessionQuery, ("Idempotency-Key" = Option<String>, Header, description = "1..=255 visible ASCII; a repeat with the same method, path and body replays the first reply (Idempotency-Replayed: true)")),
    request_body = ChangeBooking,
    responses((status = 200, body = BookingView), (status = 400), (status = 404), (status = 409), (status = 422)))]
pub async fn change(
    State(s): State<AppState>,
    caller: caller::Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<SessionQuery>,
    ApiJson(body): ApiJson<serde_json::Map<String, serde_json::Value>>,
) -> Result<Json<BookingView>, ApiError> {
    let change = parse_change(&body)?;
    let owner = reading_owner(&s, &caller, q.session_id.as_deref(), &headers)
        .await?
        .ok_or_else(|| ApiError::from(ToolError::BookingNotFound(id.clone())))?;
    let booking = s.tools.change(&owner, &id, change, None).await?;
    Ok(Json(BookingView::from(&booking)))
}

/// A booking's history.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EventList {
    /// Oldest first.
    pub events: Vec<EventView>,
}

/// A booking's history: one event per create, change and cancel (and import), oldest first.
#[utoipa::path(get, path = "/api/bookings/{id}/events", params(("id" = String, Path), SessionQuery),
    responses((status = 200, body = EventList), (status = 404)))]
pub async fn events(
    State(s): State<AppState>,
    caller: caller::Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<SessionQuery>,
) -> Result<Json<EventList>, ApiError> {
    let owner = history_reader(&s, &caller, q.session_id.as_deref(), &headers, &id).await?;
    let events = s.tools.events(owner.as_ref(), &id).await?;
    Ok(Json(EventList {
        events: events.iter().map(EventView::from).collect(),
    }))
}

/// Whose booking `id` a history read may show: `None` for an admin (any booking), else the
/// caller's own only; a caller who owns nothing is told the booking does not exist.
pub async fn history_reader(
    s: &AppState,
    caller: &caller::Caller,
    session: Option<&str>,
    headers: &HeaderMap,
    id: &str,
) -> Result<Option<crate::domain::Owner>, ApiError> {
    if caller.user.as_ref().is_some_and(|u| u.admin) {
        return Ok(None);
    }
    reading_owner(s, caller, session, headers)
        .await?
        .map(Some)
        .ok_or_else(|| ToolError::BookingNotFound(id.to_string()).into())
}

/// Query of `/api/slots`.
#[derive(Deserialize, utoipa::IntoParams)]
pub struct SlotsQuery {
    /// Devices wanted, 1..=64.
    pub count: Option<String>,
    /// Length: `90m`, `8h`, `2d` or ISO 8601 `PT8H`; at most 30 days.
    pub duration: Option<String>,
    /// One model (loose names accepted); without it every model.
    pub model: Option<String>,
    /// Earliest start, RFC 3339 (default now; a past time means now).
    pub after: Option<String>,
    /// Latest end, RFC 3339 (default 30 days after `after`).
    pub before: Option<String>,
    /// Most slots, 1..=50 (default 5).
    pub limit: Option<String>,
}

/// The slots found.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SlotList {
    /// Earliest first.
    pub slots: Vec<Slot>,
}

/// The earliest windows in which `count` GPUs of a model are free for `duration`.
#[utoipa::path(get, path = "/api/slots", params(SlotsQuery),
    responses((status = 200, body = SlotList), (status = 400), (status = 404)))]
pub async fn slots(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<SlotsQuery>,
) -> Result<Json<SlotList>, ApiError> {
    let count = q
        .count
        .as_deref()
        .and_then(|c| c.trim().parse::<u32>().ok())
        .ok_or_else(|| ApiError::bad_request("invalid_count", "`count` (1..=64) is required"))?;
    let duration = q
        .duration
        .as_deref()
        .and_then(crate::domain::slots::parse_duration)
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_duration",
                "`duration` is required, like 90m, 8h, 2d or PT8H",
            )
        })?;
    let limit = match q.limit.as_deref() {
        None => 5,
        Some(l) => l.trim().parse::<usize>().map_err(|_| {
            ApiError::bad_request("invalid_limit", "`limit` must be a number from 1 to 50")
        })?,
    };
    let time =
        |field: &str, v: &Option<String>| v.as_deref().map(|t| parse_time(field, t)).transpose();
    let slots = s
        .tools
        .slots(SlotQuery {
            model: q.model.filter(|m| !m.trim().is_empty()),
            count,
            duration,
            after: time("after", &q.after)?,
            before: time("before", &q.before)?,
            limit,
        })
        .await?;
    Ok(Json(SlotList { slots }))
}
