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

/// Query of `/api/availability`.
#[derive(Deserialize, utoipa::IntoParams)]
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
