//! `GET /api/gpus`, `GET /api/availability`.

use super::error::ApiError;
use super::extract::ApiQuery;
use super::AppState;
use crate::assistant::tools::{Availability, GpuSummary};
use crate::domain::Interval;
use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The GPU list.
#[derive(Serialize, utoipa::ToSchema)]
pub struct GpuList {
    /// One entry per model.
    pub gpus: Vec<GpuSummary>,
}

/// Every GPU model with its size, price and what is free now.
#[utoipa::path(get, path = "/api/gpus", responses((status = 200, body = GpuList)))]
pub async fn list(State(s): State<AppState>) -> Result<Json<GpuList>, ApiError> {
    Ok(Json(GpuList {
        gpus: s.tools.gpus().await?,
    }))
}

/// Query of `/api/availability` (every parameter required).
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AvailabilityQuery {
    /// Model name (loose: `A100`, `a100-80gb`).
    pub model: String,
    /// Window start, RFC 3339.
    pub start: String,
    /// Window end, RFC 3339.
    pub end: String,
}

/// Parses an RFC 3339 time; a `+` that a query string turned into a space is put back.
pub fn parse_time(field: &str, s: &str) -> Result<DateTime<Utc>, ApiError> {
    let s = s.trim();
    DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_rfc3339(&s.replace(' ', "+")))
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| ApiError::bad_request("invalid_time", format!("`{field}` must be an RFC 3339 time with an offset, like 2026-11-27T09:00:00Z; got `{s}`")))
}

/// Parses a `[start, end)` pair.
pub fn parse_interval(start: &str, end: &str) -> Result<Interval, ApiError> {
    let (s, e) = (parse_time("start", start)?, parse_time("end", end)?);
    Interval::new(s, e).map_err(|m| ApiError::bad_request("invalid_interval", m))
}

/// How many GPUs of a model are free over a window: `free` is the least number free at any
/// instant of `[start, end)`.
#[utoipa::path(get, path = "/api/availability", params(AvailabilityQuery),
    responses((status = 200, body = Availability), (status = 400), (status = 404)))]
pub async fn availability(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<AvailabilityQuery>,
) -> Result<Json<Availability>, ApiError> {
    let interval = parse_interval(&q.start, &q.end)?;
    Ok(Json(s.tools.availability(&q.model, interval).await?))
}

/// Query of `/api/timeline`.
#[derive(Deserialize, utoipa::IntoParams)]
pub struct TimelineQuery {
    /// Days ahead (1..=31, default 7).
    pub days: Option<u32>,
    /// Hours per slot (1..=24, default 3).
    pub step_hours: Option<u32>,
}

/// The timeline: per model, the least number free in each slot from the current hour on.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Timeline {
    /// Start of the first slot.
    pub start: DateTime<Utc>,
    /// Hours per slot.
    pub step_hours: u32,
    /// One entry per model.
    pub models: Vec<crate::assistant::tools::ModelTimeline>,
}

/// Booked vs free devices per model over the coming days, in slots (for the web page's
/// availability picture).
#[utoipa::path(get, path = "/api/timeline", params(TimelineQuery), responses((status = 200, body = Timeline), (status = 400)))]
pub async fn timeline(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<TimelineQuery>,
) -> Result<Json<Timeline>, ApiError> {
    let days = q.days.unwrap_or(7);
    let step_hours = q.step_hours.unwrap_or(3);
    if !(1..=31).contains(&days) || !(1..=24).contains(&step_hours) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "days must be 1..=31 and step_hours 1..=24",
        ));
    }
    let now = s.tools.clock().now();
    let start = DateTime::from_timestamp(now.timestamp() - now.timestamp().rem_euclid(3600), 0)
        .unwrap_or(now);
    let slots = (days * 24 / step_hours) as usize;
    let models = s
        .tools
        .timeline(start, chrono::Duration::hours(step_hours as i64), slots)
        .await?;
    Ok(Json(Timeline {
        start,
        step_hours,
        models,
    }))
}
