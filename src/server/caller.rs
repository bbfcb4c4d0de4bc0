//! Who the caller is and which session a request names (API.md "Identity").

use super::error::ApiError;
use super::AppState;
use crate::chat::{ChatError, SessionRef};
use crate::domain::{Owner, SessionId};
use axum::http::{header, HeaderMap, HeaderValue};

/// The session cookie's name.
pub const COOKIE: &str = "hpcbot_sid";

/// The session id in the `hpcbot_sid` cookie, if any and well-formed.
pub fn cookie_session(headers: &HeaderMap) -> Option<SessionId> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .and_then(|(_, v)| SessionId::parse(v).ok())
}

/// The `Set-Cookie` value for a session.
pub fn set_cookie(id: &SessionId, ttl_secs: u64) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{COOKIE}={id}; HttpOnly; SameSite=Lax; Path=/; Max-Age={ttl_secs}"
    ))
    .expect("ascii cookie")
}

/// `404 session_not_found`.
pub fn session_not_found() -> ApiError {
    ChatError::SessionNotFound.into()
}

/// The user a bearer token named (put in the request by the auth middleware).
#[derive(Debug, Clone)]
pub struct AuthUser {
    /// Bookings and sessions belong to this owner.
    pub owner: Owner,
    /// Whether the admin routes are open to them.
    pub admin: bool,
}

/// The caller: the token's user with `auth = token`, `None` with `auth = none` (then the
/// session itself is the caller).
pub struct Caller(pub Option<AuthUser>);

impl Caller {
    /// The owner named by the token, if any.
    pub fn owner(&self) -> Option<Owner> {
        self.0.as_ref().map(|u| u.owner.clone())
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Caller(parts.extensions.get::<AuthUser>().cloned()))
    }
}

/// How the request names its session: an explicit id (body or query) wins over the cookie.
pub fn session_ref(explicit: Option<&str>, headers: &HeaderMap) -> Result<SessionRef, ApiError> {
    match explicit.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => SessionId::parse(s)
            .map(SessionRef::Explicit)
            .map_err(|_| session_not_found()),
        None => Ok(cookie_session(headers)
            .map(SessionRef::Cookie)
            .unwrap_or(SessionRef::New)),
    }
}

/// The owner whose bookings a read or cancel concerns: the named session's owner. `None`
/// when the request names no live session (a stale cookie): such a caller owns nothing.
pub async fn reading_owner(
    state: &AppState,
    caller: &Caller,
    explicit: Option<&str>,
    headers: &HeaderMap,
) -> Result<Option<Owner>, ApiError> {
    if let Some(u) = caller.owner() {
        return Ok(Some(u));
    }
    match session_ref(explicit, headers)? {
        SessionRef::Explicit(id) => Ok(Some(state.engine.session(&id, None).await?.owner)),
        SessionRef::Cookie(id) => match state.engine.session(&id, None).await {
            Ok(r) => Ok(Some(r.owner)),
            Err(ChatError::SessionNotFound) => Ok(None),
            Err(e) => Err(e.into()),
        },
        SessionRef::New => Ok(None),
    }
}
