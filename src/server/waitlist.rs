//! `POST/GET /api/waitlist`, `DELETE /api/waitlist/{id}` (API.md "Waitlist"): a request that
//! does not fit now waits in line; when devices free up it is offered a hold.

use super::bookings::{CreateBooking, SessionQuery};
use super::caller::{self, reading_owner};
use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery};
use super::gpus::parse_interval;
use super::AppState;
use crate::assistant::holds::HoldView;
use crate::assistant::tools::ToolError;
use crate::domain::waitlist::{Entry, EntryId};
use crate::domain::Owner;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// An entry in line.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EntryView {
    /// Its id.
    pub id: String,
    /// GPU model.
    pub model: String,
    /// Number of GPUs.
    pub count: u32,
    /// Start.
    pub start: DateTime<Utc>,
    /// End.
    pub end: DateTime<Utc>,
    /// Its place among the model's entries in line (waiting or offered), from 1; `null`
    /// once booked or expired.
    pub position: Option<u32>,
    /// `waiting`, `offered`, `booked` or `expired`.
    pub status: &'static str,
    /// The offer: GPUs held for it until `expires_at` (`POST /api/holds/{id}/confirm`
    /// books them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold: Option<HoldView>,
    /// When it joined.
    pub created_at: DateTime<Utc>,
}

/// The caller's entries.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EntryList {
    /// Oldest first.
    pub waitlist: Vec<EntryView>,
}

async fn view(s: &AppState, owner: &Owner, e: &Entry, position: Option<u32>) -> EntryView {
    let now = s.tools.clock().now();
    let hold = match &e.hold {
        Some(h) => s
            .tools
            .hold_of(owner, h.as_str())
            .await
            .ok()
            .map(|h| HoldView::of(&h, now)),
        None => None,
    };
    EntryView {
        id: e.id.to_string(),
        model: e.model.clone(),
        count: e.count,
        start: e.interval.start(),
        end: e.interval.end(),
        position,
        status: e.status.as_str(),
        hold,
        created_at: e.created_at,
    }
}

/// Joins the waitlist with a request (the body of `POST /api/bookings`); if it fits now it
/// is offered at once.
#[utoipa::path(post, path = "/api/waitlist", request_body = CreateBooking, params(SessionQuery),
    responses((status = 201, body = EntryView), (status = 400), (status = 404)))]
pub async fn join(
    State(s): State<AppState>,
    caller: caller::Caller,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<SessionQuery>,
    ApiJson(req): ApiJson<CreateBooking>,
) -> Result<Response, ApiError> {
    let interval = parse_interval(&req.start, &req.end)?;
    s.tools.check(&req.model, req.count, &interval).await?;
    let named = req.session_id.as_deref().or(query.session_id.as_deref());
    let (owner, cookie) = caller::acting_owner(&s, &caller, named, &headers).await?;
    let new = s
        .tools
        .new_booking(&owner, &req.model, req.count, interval)
        .await?;
    let entry = s
        .tools
        .store()
        .join_waitlist(new)
        .await
        .map_err(ToolError::from)?;
    // Its place, as the caller's list shows it.
    let position = s
        .tools
        .store()
        .waitlist(&owner)
        .await
        .map_err(ToolError::from)?
        .into_iter()
        .find(|(e, _)| e.id == entry.id)
        .and_then(|(_, p)| p);
    let body = view(&s, &owner, &entry, position).await;
    Ok(caller::created(body, cookie))
}

/// The caller's entries with their place in line and any offer.
#[utoipa::path(get, path = "/api/waitlist", params(SessionQuery), responses((status = 200, body = EntryList)))]
pub async fn list(
    State(s): State<AppState>,
    caller: caller::Caller,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<SessionQuery>,
) -> Result<Json<EntryList>, ApiError> {
    let Some(owner) = reading_owner(&s, &caller, q.session_id.as_deref(), &headers).await? else {
        return Ok(Json(EntryList { waitlist: vec![] }));
    };
    // What freed by time alone since the last pass is offered before it is shown.
    let store = s.tools.store();
    store
        .refresh_waitlist(s.tools.clock().now())
        .await
        .map_err(ToolError::from)?;
    let entries = store.waitlist(&owner).await.map_err(ToolError::from)?;
    let mut out = Vec::new();
    for (e, p) in &entries {
        out.push(view(&s, &owner, e, *p).await);
    }
    Ok(Json(EntryList { waitlist: out }))
}

/// Leaves the waitlist (an offer's GPUs go to the next in line).
#[utoipa::path(delete, path = "/api/waitlist/{id}", params(("id" = String, Path), SessionQuery),
    responses((status = 204), (status = 404)))]
pub async fn leave(
    State(s): State<AppState>,
    caller: caller::Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<SessionQuery>,
) -> Result<StatusCode, ApiError> {
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "waitlist_entry_not_found",
            "no waitlist entry of yours has that id",
        )
    };
    let owner = reading_owner(&s, &caller, q.session_id.as_deref(), &headers)
        .await?
        .ok_or_else(not_found)?;
    let id = EntryId::parse(&id).map_err(|_| not_found())?;
    let gone = s
        .tools
        .store()
        .leave_waitlist(&owner, &id, s.tools.clock().now())
        .await
        .map_err(ToolError::from)?;
    if gone {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found())
    }
}
