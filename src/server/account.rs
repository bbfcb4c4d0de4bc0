//! `GET /api/account`, `GET /api/usage` and `GET /api/admin/usage` (API.md "Projects, quotas
//! and budgets"): who the caller is, the project's money and the caller's quotas with their
//! use; what bookings used inside a window (the admin's as JSON or CSV).
//!
//! The project is the caller's (`domain::project`): a user's own, else `default`, whose
//! budget is the setting `budget` unless it has one of its own (none: `null`).

use super::bookings::SessionQuery;
use super::caller::{self, reading_owner};
use super::error::ApiError;
use super::extract::ApiQuery;
use super::gpus::parse_time;
use super::AppState;
use crate::assistant::tools::UsageGroup;
use crate::domain::usage::Use;
use crate::domain::{Cents, Interval};
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

/// The caller's project and its money.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ProjectView {
    /// Its name (`default` for everyone with `auth = none`).
    pub name: String,
    /// The budget, or `null` for none.
    #[schema(value_type = Option<f64>)]
    pub budget: Option<Cents>,
    /// Price of confirmed bookings not yet ended.
    #[schema(value_type = f64)]
    pub committed: Cents,
    /// Price of confirmed bookings that ended.
    #[schema(value_type = f64)]
    pub spent: Cents,
    /// `budget - committed - spent`, or `null` without a budget.
    #[schema(value_type = Option<f64>)]
    pub remaining: Option<Cents>,
    /// The currency of the amounts.
    pub currency: String,
}

/// One quota and the caller's use of it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct QuotaView {
    /// The setting's name (`max_gpus_at_once`, ...).
    pub quota: &'static str,
    /// Its value (hours for `max_booking_duration` and `min_notice`).
    pub limit: f64,
    /// GPUs held now; GPU-hours of the current week; the longest booking not yet ended in
    /// hours; 0 for the notice.
    pub used: f64,
}

/// `GET /api/account`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Account {
    /// The caller (empty for a visitor with no session yet).
    pub owner: String,
    /// The caller's project.
    pub project: ProjectView,
    /// The caller's quotas.
    pub quotas: Vec<QuotaView>,
}

/// The caller, the project's money and the caller's quotas.
#[utoipa::path(get, path = "/api/account", params(SessionQuery), responses((status = 200, body = Account)))]
pub async fn account(
    State(s): State<AppState>,
    caller: caller::Caller,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<SessionQuery>,
) -> Result<Json<Account>, ApiError> {
    let owner = reading_owner(&s, &caller, q.session_id.as_deref(), &headers).await?;
    let (standing, quotas) = match &owner {
        Some(o) => (s.tools.standing(o).await?, s.tools.quota_use(o).await?),
        None => {
            let standing = s.tools.visitor_standing().await?;
            let quotas = standing.limits.quotas.use_at(&[], s.tools.clock().now());
            (standing, quotas)
        }
    };
    let (committed, spent) = s.tools.money(&standing.project.name).await?;
    let budget = standing.limits.budget;
    Ok(Json(Account {
        owner: owner.map(|o| o.as_str().to_string()).unwrap_or_default(),
        project: ProjectView {
            name: standing.project.name.to_string(),
            budget,
            committed,
            spent,
            remaining: crate::domain::money::remaining(budget, committed, spent),
            currency: s.config.currency.clone(),
        },
        quotas: quotas
            .iter()
            .map(|u| QuotaView {
                quota: u.quota.key(),
                limit: u.limit,
                used: u.used,
            })
            .collect(),
    }))
}

/// The window of a usage query.
#[derive(Deserialize, utoipa::IntoParams)]
pub struct UsageQuery {
    /// RFC 3339, inclusive.
    pub from: String,
    /// RFC 3339, exclusive.
    pub to: String,
    /// The session (instead of the cookie).
    pub session_id: Option<String>,
}

/// One model's use.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ModelUse {
    /// The model.
    pub model: String,
    /// GPU-hours inside the window (two decimals).
    pub gpu_hours: f64,
    /// Price of that time.
    #[schema(value_type = f64)]
    pub amount: Cents,
}

/// `GET /api/usage`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Usage {
    /// The window's start.
    pub from: chrono::DateTime<chrono::Utc>,
    /// The window's end.
    pub to: chrono::DateTime<chrono::Utc>,
    /// GPU-hours inside the window (two decimals).
    pub gpu_hours: f64,
    /// Price of that time.
    #[schema(value_type = f64)]
    pub amount: Cents,
    /// Per model, by name.
    pub by_model: Vec<ModelUse>,
}

fn window(from: &str, to: &str) -> Result<Interval, ApiError> {
    let (a, b) = (parse_time("from", from)?, parse_time("to", to)?);
    Interval::new(a, b).map_err(|m| ApiError::bad_request("invalid_interval", m))
}

/// What the caller's confirmed bookings used inside `[from, to)` (only that part counts).
#[utoipa::path(get, path = "/api/usage", params(UsageQuery), responses((status = 200, body = Usage), (status = 400)))]
pub async fn usage(
    State(s): State<AppState>,
    caller: caller::Caller,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<UsageQuery>,
) -> Result<Json<Usage>, ApiError> {
    let w = window(&q.from, &q.to)?;
    let owner = reading_owner(&s, &caller, q.session_id.as_deref(), &headers).await?;
    let (total, by) = match &owner {
        Some(o) => s.tools.usage(o, &w).await?,
        None => (Use::default(), Vec::new()),
    };
    Ok(Json(Usage {
        from: w.start(),
        to: w.end(),
        gpu_hours: total.hours_shown(),
        amount: total.amount,
        by_model: by
            .into_iter()
            .map(|(model, u)| ModelUse {
                model,
                gpu_hours: u.hours_shown(),
                amount: u.amount,
            })
            .collect(),
    }))
}

/// The window and grouping of the admin's usage report.
#[derive(Deserialize, utoipa::IntoParams)]
pub struct AdminUsageQuery {
    /// RFC 3339, inclusive.
    pub from: String,
    /// RFC 3339, exclusive.
    pub to: String,
    /// `project` (default), `owner` or `model`.
    pub group_by: Option<UsageGroup>,
    /// `csv` for CSV (as `Accept: text/csv` does).
    pub format: Option<String>,
}

/// One row of the admin's usage report.
#[derive(Serialize, utoipa::ToSchema)]
pub struct UsageRow {
    /// The project, owner or model.
    pub group: String,
    /// GPU-hours inside the window (two decimals).
    pub gpu_hours: f64,
    /// Price of that time.
    #[schema(value_type = f64)]
    pub amount: Cents,
    /// Bookings with some time inside the window.
    pub bookings: u32,
}

impl From<(String, Use)> for UsageRow {
    fn from((group, u): (String, Use)) -> Self {
        Self {
            group,
            gpu_hours: u.hours_shown(),
            amount: u.amount,
            bookings: u.bookings,
        }
    }
}

/// `GET /api/admin/usage` as JSON.
#[derive(Serialize, utoipa::ToSchema)]
pub struct UsageRows {
    /// By group, in group order.
    pub rows: Vec<UsageRow>,
}

/// Every booking's use inside `[from, to)` per project, owner or model; CSV with
/// `format=csv` or `Accept: text/csv` (a header line, then one line per row).
#[utoipa::path(get, path = "/api/admin/usage", params(AdminUsageQuery),
    responses((status = 200, body = UsageRows), (status = 400), (status = 401), (status = 403)))]
pub async fn admin_usage(
    State(s): State<AppState>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<AdminUsageQuery>,
) -> Result<Response, ApiError> {
    let w = window(&q.from, &q.to)?;
    let rows: Vec<UsageRow> = s
        .tools
        .all_usage(&w, q.group_by.unwrap_or(UsageGroup::Project))
        .await?
        .into_iter()
        .map(UsageRow::from)
        .collect();
    let csv = q.format.as_deref() == Some("csv")
        || headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/csv"));
    if !csv {
        return Ok(Json(UsageRows { rows }).into_response());
    }
    Ok((
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
        usage_csv(&rows),
    )
        .into_response())
}

/// The rows as CSV (RFC 4180: a field with a comma, quote or line break is quoted).
pub fn usage_csv(rows: &[UsageRow]) -> String {
    let field = |s: &str| {
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    let mut out = String::from("group,gpu_hours,amount,bookings\r\n");
    for r in rows {
        out.push_str(&format!(
            "{},{:.2},{:.2},{}\r\n",
            field(&r.group),
            r.gpu_hours,
            r.amount.as_decimal(),
            r.bookings
        ));
    }
    out
}
