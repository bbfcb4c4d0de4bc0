//! One error type for every route, rendered as API.md's error body. The only place that
//! maps errors of the layers below to HTTP.

use crate::assistant::tools::ToolError;
use crate::chat::ChatError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error reply: status, snake_case code and a message a person can act on.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Machine-readable code.
    pub code: &'static str,
    /// Human-readable message.
    pub message: String,
    /// Seconds for `Retry-After`, when retrying later helps.
    pub retry_after: Option<u32>,
    /// `error.details`, for errors whose numbers a client acts on (`quota_exceeded`).
    pub details: Option<serde_json::Value>,
}

impl ApiError {
    /// An error with the given parts.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
            details: None,
        }
    }

    /// `400` with `code`.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// `404 not_found` for an unknown route.
    pub fn no_route() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such route; see /api/openapi.json",
        )
    }

    /// Adds `Retry-After`.
    pub fn retry_after(mut self, secs: u32) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// `500`, logged with its cause and answered without internals.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "something went wrong on our side; please try again",
        )
    }
}

impl ApiError {
    /// API.md's error body: `{"error": {"code", "message", "details"?}}`.
    pub fn body(&self) -> serde_json::Value {
        match &self.details {
            Some(d) => json!({"error": {"code": self.code, "message": self.message, "details": d}}),
            None => json!({"error": {"code": self.code, "message": self.message}}),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.body();
        let mut res = (self.status, axum::Json(body)).into_response();
        if let Some(s) = self.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        res
    }
}

impl From<ToolError> for ApiError {
    fn from(e: ToolError) -> Self {
        let msg = e.to_string();
        match e {
            ToolError::Invalid { code, message } => Self::bad_request(code, message),
            ToolError::UnknownModel(_) => Self::new(
                StatusCode::NOT_FOUND,
                "unknown_model",
                format!("{msg}; see GET /api/gpus for the models"),
            ),
            ToolError::InsufficientCapacity { .. } => {
                Self::new(StatusCode::CONFLICT, "insufficient_capacity", msg)
            }
            ToolError::Quota(q) => {
                let mut e = Self::new(StatusCode::CONFLICT, "quota_exceeded", msg);
                e.details = Some(json!({
                    "quota": q.quota.key(),
                    "limit": q.limit,
                    "used": q.used,
                    "requested": q.requested,
                }));
                e
            }
            ToolError::Budget {
                budget,
                remaining,
                price_total,
            } => {
                let mut e = Self::new(StatusCode::CONFLICT, "budget_exceeded", msg);
                e.details = Some(json!({
                    "budget": budget,
                    "remaining": remaining,
                    "price_total": price_total,
                }));
                e
            }
            ToolError::Occurrence {
                index,
                start,
                source,
            } => {
                // The occurrence's own error, naming which one it is.
                let mut e = Self::from(*source);
                e.message = format!(
                    "occurrence {} of the series (starting {}): {}",
                    index + 1,
                    start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    e.message
                );
                let mut details = e.details.take().unwrap_or_else(|| json!({}));
                details["occurrence"] = json!(index + 1);
                details["start"] = json!(start);
                e.details = Some(details);
                e
            }
            ToolError::Hold(h) => {
                use crate::domain::hold::HoldError;
                let (status, code) = match h {
                    HoldError::NotFound | HoldError::Released => {
                        (StatusCode::NOT_FOUND, "hold_not_found")
                    }
                    HoldError::Expired(_) => (StatusCode::GONE, "hold_expired"),
                    HoldError::TooMany(_) => (StatusCode::CONFLICT, "too_many_holds"),
                };
                Self::new(status, code, msg)
            }
            ToolError::BookingNotFound(_) => Self::new(
                StatusCode::NOT_FOUND,
                "booking_not_found",
                "no booking of yours has that id",
            ),
            ToolError::BookingCancelled => {
                Self::new(StatusCode::CONFLICT, "booking_cancelled", msg)
            }
            ToolError::Ambiguous(_) => Self::bad_request("ambiguous_booking_id", msg),
            ToolError::Unavailable(_) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", msg).retry_after(2)
            }
            ToolError::Internal(m) => Self::internal(m),
        }
    }
}

impl From<ChatError> for ApiError {
    fn from(e: ChatError) -> Self {
        let msg = e.to_string();
        match e {
            ChatError::InvalidMessage(m) => Self::bad_request("invalid_message", m),
            ChatError::SessionNotFound => Self::new(
                StatusCode::NOT_FOUND,
                "session_not_found",
                "no such session (it may have expired); start a new one without session_id",
            ),
            ChatError::SessionBusy => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "session_busy", msg).retry_after(1)
            }
            ChatError::DeadlineExceeded => Self::new(
                StatusCode::GATEWAY_TIMEOUT,
                "deadline_exceeded",
                "the reply took too long and was abandoned; nothing was saved, please try again",
            ),
            ChatError::Assistant(m) => Self::new(
                StatusCode::BAD_GATEWAY,
                "assistant_unavailable",
                format!("the assistant could not answer: {m}"),
            ),
            ChatError::Store(crate::store::sessions::SessionStoreError::NotFound) => Self::new(
                StatusCode::NOT_FOUND,
                "session_not_found",
                "no such session (it may have expired)",
            ),
            ChatError::Store(crate::store::sessions::SessionStoreError::Conflict) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "session_busy",
                "another message of this session was saved first; try again",
            )
            .retry_after(1),
            ChatError::Store(crate::store::sessions::SessionStoreError::Timeout) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "the session store did not answer in time",
            )
            .retry_after(2),
            ChatError::Store(crate::store::sessions::SessionStoreError::Backend(cause)) => {
                tracing::warn!(error = %cause, "session store failed");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    "the session store is not answering; retry in a moment",
                )
                .retry_after(2)
            }
            ChatError::Store(crate::store::sessions::SessionStoreError::Full) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "the session store is full; retry in a moment",
            )
            .retry_after(2),
            ChatError::RateLimited(wait) => {
                let secs = wait.as_secs_f64().ceil().max(1.0) as u32;
                Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_requests",
                    format!("this client has started too many sessions lately; retry in {secs} s or keep using your session"),
                )
                .retry_after(secs)
            }
            ChatError::OutcomeUnknown { actions } => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "outcome_unknown",
                format!(
                    "the reply was made but the session store did not confirm saving it, so it may be missing from the history; {} — check GET /api/bookings before repeating (an Idempotency-Key makes a retry safe)",
                    if actions == 0 { "it changed no booking".to_string() } else { format!("the {actions} booking change(s) it made stand") }
                ),
            )
            .retry_after(2),
            ChatError::SessionFull(max) => Self::new(
                StatusCode::CONFLICT,
                "session_full",
                format!("this session has reached its limit of {max} turns; start a new session (send no session_id)"),
            ),
        }
    }
}
