//! `POST/GET /api/admin/webhooks`, `DELETE /api/admin/webhooks/{id}`,
//! `GET /api/admin/webhooks/{id}/deliveries` (API.md "Notifications and calendars", admin
//! only): the endpoints that hear about bookings, and what each attempt to reach them did.

use super::error::ApiError;
use super::extract::ApiJson;
use super::AppState;
use crate::assistant::tools::ToolError;
use crate::domain::webhook::{EventType, Webhook, WebhookId};
use crate::notify::ssrf::HostPolicy;
use crate::store::webhooks::AttemptLog;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Longest webhook URL.
const MAX_URL_LEN: usize = 2000;

/// Attempts `GET .../deliveries` shows, newest first.
const RECENT_ATTEMPTS: u32 = 100;

/// A webhook to register.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// `http(s)` URL to POST events to.
    pub url: String,
    /// Event types it gets (absent or empty: every type).
    pub events: Option<Vec<String>>,
}

/// A registered webhook.
#[derive(Serialize, utoipa::ToSchema)]
pub struct WebhookView {
    /// Its id.
    pub id: String,
    /// Where events go.
    pub url: String,
    /// The event types it gets.
    pub events: Vec<&'static str>,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// The signing secret: only in the reply that registers it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl From<&Webhook> for WebhookView {
    fn from(w: &Webhook) -> Self {
        let events = if w.events.is_empty() {
            EventType::ALL.to_vec()
        } else {
            w.events.clone()
        };
        Self {
            id: w.id.to_string(),
            url: w.url.clone(),
            events: events.into_iter().map(EventType::as_str).collect(),
            created_at: w.created_at,
            secret: None,
        }
    }
}

/// Every webhook.
#[derive(Serialize, utoipa::ToSchema)]
pub struct WebhookList {
    /// Oldest first.
    pub webhooks: Vec<WebhookView>,
}

/// One attempt to deliver an event.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AttemptView {
    /// The event's id (what receivers deduplicate by).
    pub event_id: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: String,
    /// When the attempt was made.
    pub at: DateTime<Utc>,
    /// Its number for this event (1 for the first).
    pub attempt: u32,
    /// The reply's status, if one came.
    pub status: Option<u16>,
    /// Why it was not a 2xx (`null` after one).
    pub error: Option<String>,
}

impl From<AttemptLog> for AttemptView {
    fn from(a: AttemptLog) -> Self {
        Self {
            event_id: a.event_id,
            kind: a.kind,
            at: a.at,
            attempt: a.attempt,
            status: a.status,
            error: a.error,
        }
    }
}

/// A webhook's recent attempts.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AttemptList {
    /// Newest first, at most 100.
    pub deliveries: Vec<AttemptView>,
}

fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "webhook_not_found",
        "no webhook has that id (see GET /api/admin/webhooks)",
    )
}

/// The event types named, checked.
fn event_types(names: &[String]) -> Result<Vec<EventType>, ApiError> {
    let mut out: Vec<EventType> = Vec::new();
    for n in names {
        let t = EventType::parse(n.trim()).ok_or_else(|| {
            let all: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
            ApiError::bad_request(
                "invalid_event_type",
                format!("`{n}` is not an event type; they are {}", all.join(", ")),
            )
        })?;
        if !out.contains(&t) {
            out.push(t);
        }
    }
    Ok(out)
}

/// Registers a webhook: its URL must be `http(s)` and reach no loopback, private or
/// link-local address unless that host is in `webhook_allowed_hosts`. The reply holds the
/// signing secret, shown only here.
#[utoipa::path(post, path = "/api/admin/webhooks", request_body = CreateWebhook,
    responses((status = 201, body = WebhookView), (status = 400), (status = 401), (status = 403)))]
pub async fn create(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<CreateWebhook>,
) -> Result<(StatusCode, Json<WebhookView>), ApiError> {
    if req.url.len() > MAX_URL_LEN {
        return Err(ApiError::bad_request(
            "invalid_url",
            format!("the URL is longer than {MAX_URL_LEN} characters"),
        ));
    }
    let events = event_types(req.events.as_deref().unwrap_or_default())?;
    let policy = HostPolicy::new(&s.config.webhook_allowed_hosts);
    let url = tokio::time::timeout(s.config.webhook_timeout, policy.check(&req.url))
        .await
        .map_err(|_| ApiError::bad_request("invalid_url", "resolving the URL's host timed out"))?
        .map_err(|e| ApiError::bad_request("invalid_url", e.to_string()))?;
    let (hook, secret) = s
        .webhooks
        .add_webhook(url.as_str(), &events, s.tools.clock().now())
        .await
        .map_err(ToolError::from)?;
    let mut view = WebhookView::from(&hook);
    view.secret = Some(secret);
    Ok((StatusCode::CREATED, Json(view)))
}

/// Every webhook, oldest first (without secrets).
#[utoipa::path(get, path = "/api/admin/webhooks",
    responses((status = 200, body = WebhookList), (status = 401), (status = 403)))]
pub async fn list(State(s): State<AppState>) -> Result<Json<WebhookList>, ApiError> {
    let hooks = s.webhooks.webhooks().await.map_err(ToolError::from)?;
    Ok(Json(WebhookList {
        webhooks: hooks.iter().map(WebhookView::from).collect(),
    }))
}

/// Removes a webhook; what it had still to receive is dropped.
#[utoipa::path(delete, path = "/api/admin/webhooks/{id}", params(("id" = String, Path)),
    responses((status = 204), (status = 404), (status = 401), (status = 403)))]
pub async fn remove(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = WebhookId::parse(&id).map_err(|_| not_found())?;
    if s.webhooks
        .remove_webhook(&id)
        .await
        .map_err(ToolError::from)?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found())
    }
}

/// A webhook's most recent attempts, newest first: the event, the status or error, the time.
#[utoipa::path(get, path = "/api/admin/webhooks/{id}/deliveries", params(("id" = String, Path)),
    responses((status = 200, body = AttemptList), (status = 404), (status = 401), (status = 403)))]
pub async fn deliveries(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<AttemptList>, ApiError> {
    let id = WebhookId::parse(&id).map_err(|_| not_found())?;
    let log = s
        .webhooks
        .attempts(&id, RECENT_ATTEMPTS)
        .await
        .map_err(ToolError::from)?
        .ok_or_else(not_found)?;
    Ok(Json(AttemptList {
        deliveries: log.into_iter().map(AttemptView::from).collect(),
    }))
}
