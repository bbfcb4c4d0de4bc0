//! `POST/GET /api/admin/maintenance`, `DELETE /api/admin/maintenance/{id}` (API.md
//! "Maintenance", admin only): devices out of service for a window, and what that did to
//! the bookings on them.

use super::error::ApiError;
use super::extract::ApiJson;
use super::gpus::parse_interval;
use super::AppState;
use crate::assistant::tools::ToolError;
use crate::domain::maintenance::{Maintenance, MaintenanceId};
use crate::domain::{BookingId, Device};
use crate::store::bookings::{Origin, Via};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A maintenance request: `gpus` or `node` (exactly one), and the window.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMaintenance {
    /// Devices, `node:index`.
    pub gpus: Option<Vec<String>>,
    /// A node: every device on it.
    pub node: Option<String>,
    /// RFC 3339.
    pub start: String,
    /// RFC 3339, after start.
    pub end: String,
    /// Why (shown to admins).
    pub reason: Option<String>,
}

/// A maintenance window.
#[derive(Serialize, utoipa::ToSchema)]
pub struct MaintenanceView {
    /// Its id.
    pub id: String,
    /// The devices out of service.
    pub gpus: Vec<String>,
    /// Start.
    pub start: DateTime<Utc>,
    /// End.
    pub end: DateTime<Utc>,
    /// Why.
    pub reason: String,
    /// Bookings moved to other devices (same id and times); only when just made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moved: Option<Vec<String>>,
    /// Bookings cancelled, their price released; only when just made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancelled: Option<Vec<String>>,
}

impl From<&Maintenance> for MaintenanceView {
    fn from(m: &Maintenance) -> Self {
        Self {
            id: m.id.to_string(),
            gpus: m.gpus.iter().map(Device::to_string).collect(),
            start: m.interval.start(),
            end: m.interval.end(),
            reason: m.reason.clone(),
            moved: None,
            cancelled: None,
        }
    }
}

/// The windows not yet ended.
#[derive(Serialize, utoipa::ToSchema)]
pub struct MaintenanceList {
    /// By start.
    pub maintenance: Vec<MaintenanceView>,
}

/// Takes devices out of service for a window; every booking on them in it is moved to
/// other free devices of its model or, where none are, cancelled (all in one transaction).
#[utoipa::path(post, path = "/api/admin/maintenance", request_body = CreateMaintenance,
    responses((status = 201, body = MaintenanceView), (status = 400), (status = 401), (status = 403)))]
pub async fn create(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<CreateMaintenance>,
) -> Result<(StatusCode, Json<MaintenanceView>), ApiError> {
    let interval = parse_interval(&req.start, &req.end)?;
    let now = s.tools.clock().now();
    if interval.end() <= now {
        return Err(ApiError::bad_request(
            "end_in_past",
            "the window has ended already; give an end in the future",
        ));
    }
    let inventory = s.tools.inventory().await?;
    let gpus: Vec<Device> = match (&req.gpus, &req.node) {
        (Some(list), None) if !list.is_empty() => list
            .iter()
            .map(|g| Device::parse(g).map_err(|m| ApiError::bad_request("invalid_device", m)))
            .collect::<Result<_, _>>()?,
        (None, Some(node)) => {
            let on: Vec<Device> = inventory
                .models()
                .iter()
                .flat_map(|m| m.devices.iter())
                .filter(|d| d.node == *node)
                .cloned()
                .collect();
            if on.is_empty() {
                return Err(ApiError::bad_request(
                    "unknown_node",
                    format!("no node `{node}` in the inventory (see GET /api/gpus)"),
                ));
            }
            on
        }
        _ => {
            return Err(ApiError::bad_request(
                "invalid_json",
                "give either `gpus` (a non-empty list of node:index) or `node`",
            ))
        }
    };
    let reason = req.reason.unwrap_or_else(|| "maintenance".into());
    let (window, affected) = s
        .tools
        .store()
        .add_maintenance(gpus, interval, reason, &Origin::current(Via::Admin), now)
        .await
        .map_err(ToolError::from)?;
    let mut view = MaintenanceView::from(&window);
    view.moved = Some(affected.moved.iter().map(BookingId::to_string).collect());
    view.cancelled = Some(
        affected
            .cancelled
            .iter()
            .map(BookingId::to_string)
            .collect(),
    );
    Ok((StatusCode::CREATED, Json(view)))
}

/// The maintenance windows not yet ended, by start.
#[utoipa::path(get, path = "/api/admin/maintenance", responses((status = 200, body = MaintenanceList), (status = 401), (status = 403)))]
pub async fn list(State(s): State<AppState>) -> Result<Json<MaintenanceList>, ApiError> {
    let list = s
        .tools
        .store()
        .maintenance(s.tools.clock().now())
        .await
        .map_err(ToolError::from)?;
    Ok(Json(MaintenanceList {
        maintenance: list.iter().map(MaintenanceView::from).collect(),
    }))
}

/// Ends a window: its devices are free again.
#[utoipa::path(delete, path = "/api/admin/maintenance/{id}", params(("id" = String, Path)),
    responses((status = 204), (status = 404), (status = 401), (status = 403)))]
pub async fn remove(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "maintenance_not_found",
            "no maintenance window has that id",
        )
    };
    let id = MaintenanceId::parse(&id).map_err(|_| not_found())?;
    let gone = s
        .tools
        .store()
        .remove_maintenance(&id, s.tools.clock().now())
        .await
        .map_err(ToolError::from)?;
    if gone {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found())
    }
}
