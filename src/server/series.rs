//! `POST /api/bookings/series`, `DELETE /api/bookings/series/{id}` (API.md "Recurring
//! bookings").

use super::bookings::SessionQuery;
use super::caller::{self, reading_owner};
use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery};
use super::gpus::parse_interval;
use super::AppState;
use crate::assistant::tools::{BookingView, ToolError};
use crate::domain::series::{OnConflict, Repeat};
use crate::store::bookings::SeriesMade;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How a series repeats.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RepeatBody {
    /// `1d` (daily) or `7d` (weekly).
    pub every: String,
    /// How many occurrences, 2..=52.
    pub times: u32,
}

/// A series request: the first occurrence, and how it repeats.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSeries {
    /// GPU model (loose names like `A100` are accepted).
    pub model: String,
    /// 1..=64.
    pub count: i64,
    /// The first occurrence's start, RFC 3339.
    pub start: String,
    /// The first occurrence's end, RFC 3339.
    pub end: String,
    /// How it repeats.
    pub repeat: RepeatBody,
    /// `fail` (default: all or none) or `skip` (book those that fit).
    pub on_conflict: Option<String>,
    /// The session to book in (instead of the cookie).
    pub session_id: Option<String>,
}

/// An occurrence not booked (`on_conflict: skip`).
#[derive(Serialize, utoipa::ToSchema)]
pub struct SkippedView {
    /// When it would have started.
    pub start: DateTime<Utc>,
    /// When it would have ended.
    pub end: DateTime<Utc>,
    /// The error code a single booking would have had (`insufficient_capacity`,
    /// `quota_exceeded`, `budget_exceeded`).
    pub reason: &'static str,
    /// What it says.
    pub message: String,
}

/// A series as booked.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SeriesView {
    /// The series' id (also on each booking).
    pub series_id: String,
    /// The occurrences booked, in order.
    pub bookings: Vec<BookingView>,
    /// The occurrences not booked, in order.
    pub skipped: Vec<SkippedView>,
}

impl From<&SeriesMade> for SeriesView {
    fn from(m: &SeriesMade) -> Self {
        Self {
            series_id: m.id.to_string(),
            bookings: m.bookings.iter().map(BookingView::from).collect(),
            skipped: m
                .skipped
                .iter()
                .map(|s| SkippedView {
                    start: s.interval.start(),
                    end: s.interval.end(),
                    reason: s.code,
                    message: s.message.clone(),
                })
                .collect(),
        }
    }
}

/// A series' occurrences after its cancellation.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SeriesBookings {
    /// The series' id.
    pub series_id: String,
    /// Every occurrence as it is now, by start.
    pub bookings: Vec<BookingView>,
}

/// Books a recurring series: `times` bookings, each `every` after the one before, in one
/// transaction. Quotas and budget count the whole series.
#[utoipa::path(post, path = "/api/bookings/series", request_body = CreateSeries, params(SessionQuery, ("Idempotency-Key" = Option<String>, Header, description = "as for POST /api/bookings")),
    responses((status = 201, body = SeriesView), (status = 400), (status = 404), (status = 409, description = "fail: the first occurrence that does not fit (details.occurrence, details.start); skip: none fits")))]
pub async fn create(
    State(s): State<AppState>,
    caller: caller::Caller,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<SessionQuery>,
    ApiJson(req): ApiJson<CreateSeries>,
) -> Result<Response, ApiError> {
    let first = parse_interval(&req.start, &req.end)?;
    let repeat = Repeat::new(&req.repeat.every, req.repeat.times)
        .map_err(|m| ApiError::bad_request("invalid_repeat", m))?;
    let on_conflict = match req.on_conflict.as_deref() {
        None => OnConflict::Fail,
        Some(s) => {
            OnConflict::parse(s).map_err(|m| ApiError::bad_request("invalid_on_conflict", m))?
        }
    };
    s.tools.check(&req.model, req.count, &first).await?;
    let named = req.session_id.as_deref().or(query.session_id.as_deref());
    let (owner, cookie) = caller::acting_owner(&s, &caller, named, &headers).await?;
    let made = s
        .tools
        .book_series(&owner, &req.model, req.count, first, repeat, on_conflict)
        .await?;
    if made.bookings.is_empty() {
        // Skipping every occurrence books nothing: that is a refusal, not a series.
        let first = &made.skipped[0];
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            first.code,
            format!(
                "no occurrence of the series can be booked; the first: {}",
                first.message
            ),
        ));
    }
    Ok(caller::created(SeriesView::from(&made), cookie))
}

/// Cancels every occurrence of the caller's series not yet ended (a started one is ended
/// early); answers every occurrence as it is now.
#[utoipa::path(delete, path = "/api/bookings/series/{id}", params(("id" = String, Path), SessionQuery),
    responses((status = 200, body = SeriesBookings), (status = 404)))]
pub async fn cancel(
    State(s): State<AppState>,
    caller: caller::Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<SessionQuery>,
) -> Result<Json<SeriesBookings>, ApiError> {
    let owner = reading_owner(&s, &caller, q.session_id.as_deref(), &headers)
        .await?
        .ok_or_else(|| ApiError::from(ToolError::BookingNotFound(id.clone())))?;
    let bookings = s.tools.cancel_series(&owner, &id).await?;
    Ok(Json(SeriesBookings {
        series_id: id,
        bookings: bookings.iter().map(BookingView::from).collect(),
    }))
}
