//! `POST/GET /api/holds`, `GET/DELETE /api/holds/{id}`, `POST /api/holds/{id}/confirm`
//! (API.md "Holds"): GPUs kept for the caller for `hold_ttl`, then booked exactly as held.

use super::bookings::{CreateBooking, SessionQuery};
use super::caller::{self, reading_owner};
use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery};
use super::gpus::parse_interval;
use super::AppState;
use crate::assistant::holds::HoldView;
use crate::assistant::tools::{BookingView, ToolError};
use crate::domain::hold::HoldError;
use crate::domain::Owner;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

/// The caller's live holds.
#[derive(Serialize, utoipa::ToSchema)]
pub struct HoldList {
    /// Oldest first.
    pub holds: Vec<HoldView>,
}

/// The caller, who must already be someone for a hold to be theirs.
async fn holder(
    s: &AppState,
    caller: &caller::Caller,
    q: &SessionQuery,
    headers: &HeaderMap,
) -> Result<Owner, ApiError> {
    reading_owner(s, caller, q.session_id.as_deref(), headers)
        .await?
        .ok_or_else(|| ToolError::Hold(HoldError::NotFound).into())
}

/// Holds GPUs for the caller for `hold_ttl`: nobody else can book them meanwhile, and
/// confirming books exactly them.
#[utoipa::path(post, path = "/api/holds", request_body = CreateBooking, params(SessionQuery),
    responses((status = 201, body = HoldView), (status = 400), (status = 404), (status = 409, description = "insufficient_capacity, quota_exceeded, budget_exceeded or too_many_holds"), (status = 422)))]
pub async fn create(
    State(s): State<AppState>,
    caller: caller::Caller,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<SessionQuery>,
    ApiJson(req): ApiJson<CreateBooking>,
) -> Result<Response, ApiError> {
    let interval = parse_interval(&req.start, &req.end)?;
    // Check the request before a session is made for it.
    s.tools.check(&req.model, req.count, &interval).await?;
    let named = req.session_id.as_deref().or(query.session_id.as_deref());
    let (owner, cookie) = caller::acting_owner(&s, &caller, named, &headers).await?;
    let hold = s
        .tools
        .hold(&owner, &req.model, req.count, interval)
        .await?;
    let view = HoldView::of(&hold, s.tools.clock().now());
    Ok(caller::created(view, cookie))
}

/// The caller's live holds, oldest first.
#[utoipa::path(get, path = "/api/holds", params(SessionQuery), responses((status = 200, body = HoldList)))]
pub async fn list(
    State(s): State<AppState>,
    caller: caller::Caller,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<SessionQuery>,
) -> Result<Json<HoldList>, ApiError> {
    let holds = match reading_owner(&s, &caller, q.session_id.as_deref(), &headers).await? {
        Some(owner) => s.tools.holds(&owner).await?,
        None => Vec::new(),
    };
    let now = s.tools.clock().now();
    Ok(Json(HoldList {
        holds: holds.iter().map(|h| HoldView::of(h, now)).collect(),
    }))
}

/// One of the caller's holds, in whatever state (`held`, `expired`, `confirmed`,
/// `released`).
#[utoipa::path(get, path = "/api/holds/{id}", params(("id" = String, Path), SessionQuery),
    responses((status = 200, body = HoldView), (status = 404)))]
pub async fn one(
    State(s): State<AppState>,
    caller: caller::Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<SessionQuery>,
) -> Result<Json<HoldView>, ApiError> {
    let owner = holder(&s, &caller, &q, &headers).await?;
    let hold = s.tools.hold_of(&owner, &id).await?;
    Ok(Json(HoldView::of(&hold, s.tools.clock().now())))
}

/// Books the caller's hold on its devices: `201` with the booking; a hold confirmed before
/// answers `200` with the same booking (nothing is booked twice); after `expires_at`,
/// `410 hold_expired`.
#[utoipa::path(post, path = "/api/holds/{id}/confirm", params(("id" = String, Path), SessionQuery, ("Idempotency-Key" = Option<String>, Header, description = "as for POST /api/bookings")),
    responses((status = 201, body = BookingView), (status = 200, body = BookingView, description = "confirmed before: the same booking"), (status = 404), (status = 409), (status = 410)))]
pub async fn confirm(
    State(s): State<AppState>,
    caller: caller::Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<SessionQuery>,
) -> Result<Response, ApiError> {
    let owner = holder(&s, &caller, &q, &headers).await?;
    let (booking, new) = s.tools.confirm_hold(&owner, &id).await?;
    let status = if new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(BookingView::from(&booking))).into_response())
}

/// Gives the caller's hold back: its GPUs are free at once. `204` also for a hold that
/// expired or was released; a confirmed one is a booking, cancelled as one.
#[utoipa::path(delete, path = "/api/holds/{id}", params(("id" = String, Path), SessionQuery),
    responses((status = 204), (status = 404), (status = 409, description = "hold_confirmed: cancel the booking instead")))]
pub async fn release(
    State(s): State<AppState>,
    caller: caller::Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<SessionQuery>,
) -> Result<StatusCode, ApiError> {
    use crate::domain::hold::HoldState;
    let owner = holder(&s, &caller, &q, &headers).await?;
    let hold = s.tools.release_hold(&owner, &id).await?;
    if let HoldState::Confirmed(b) = &hold.state {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "hold_confirmed",
            format!("that hold was booked as {b}; cancel the booking (DELETE /api/bookings/{b}) instead"),
        ));
    }
    Ok(StatusCode::NO_CONTENT)
}
