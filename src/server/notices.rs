//! `GET /api/notices` (not in API.md; README "Webhooks and reminders"): what happened to the
//! caller's bookings and waitlist entries without them doing it — maintenance that moved or
//! cancelled a booking, a waitlist offer, a booking about to start — for the page to show
//! outside the chat. The same notices the webhooks carry.

use super::caller::{self, Caller};
use super::error::ApiError;
use super::extract::ApiQuery;
use super::AppState;
use crate::assistant::tools::{BookingView, ToolError};
use crate::domain::webhook::EventType;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The kinds a person is shown.
const SHOWN: [EventType; 3] = [
    EventType::MaintenanceAffected,
    EventType::WaitlistOffered,
    EventType::BookingStarting,
];

/// Which notices.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct NoticeQuery {
    /// The session (instead of the `hpcbot_sid` cookie).
    pub session_id: Option<String>,
    /// Only notices after this `seq` (default: from the first).
    pub after: Option<i64>,
}

/// One notice.
#[derive(Serialize, utoipa::ToSchema)]
pub struct NoticeView {
    /// Its number: later notices have larger ones (ask `after` the last seen).
    pub seq: i64,
    /// `maintenance.affected`, `waitlist.offered` or `booking.starting`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// The event's fields, as a webhook gets them (less the booking).
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    /// The booking as it was then, if it concerns one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub booking: Option<BookingView>,
}

/// The list.
#[derive(Serialize, utoipa::ToSchema)]
pub struct NoticeList {
    /// Oldest first, at most 10 per call (ask again `after` the last).
    pub notices: Vec<NoticeView>,
}

/// The caller's notices after `after`, oldest first.
#[utoipa::path(get, path = "/api/notices", params(NoticeQuery), responses((status = 200, body = NoticeList)))]
pub async fn list(
    State(s): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<NoticeQuery>,
) -> Result<Json<NoticeList>, ApiError> {
    let Some(owner) = caller::reading_owner(&s, &caller, q.session_id.as_deref(), &headers).await?
    else {
        return Ok(Json(NoticeList { notices: vec![] }));
    };
    let found = s
        .tools
        .store()
        .notices(&owner, &SHOWN, q.after.unwrap_or(0))
        .await
        .map_err(ToolError::from)?;
    let out = found
        .into_iter()
        .map(|n| NoticeView {
            seq: n.seq,
            kind: n.kind.as_str(),
            at: n.at,
            booking: n.booking.as_ref().map(BookingView::from),
            data: n.data,
        })
        .collect();
    Ok(Json(NoticeList { notices: out }))
}
