//! Who the caller is and which session a request names (API.md "Identity").

use super::error::ApiError;
use super::AppState;
use crate::chat::{ChatError, SessionRef};
use crate::domain::ids::ClientId;
use crate::domain::{Owner, SessionId};
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// The session cookie's name.
pub const COOKIE: &str = "hpcbot_sid";

/// The client cookie's name (API.md "Identity"): one per browser, so that every chat of it
/// shares one owner under `auth = none`.
pub const CLIENT_COOKIE: &str = "hpcbot_client";

/// The client cookie's lifetime: one year (API.md).
pub const CLIENT_COOKIE_MAX_AGE: u64 = 365 * 24 * 3600;

/// The first well-formed value of cookie `name` (a malformed one counts as absent).
fn cookie<T>(headers: &HeaderMap, name: &str, parse: impl Fn(&str) -> Option<T>) -> Option<T> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .filter(|(k, _)| *k == name)
        .find_map(|(_, v)| parse(v))
}

/// The session id in the `hpcbot_sid` cookie, if any and well-formed.
pub fn cookie_session(headers: &HeaderMap) -> Option<SessionId> {
    cookie(headers, COOKIE, |v| SessionId::parse(v).ok())
}

/// The client id in the `hpcbot_client` cookie, if any and well-formed.
pub fn cookie_client(headers: &HeaderMap) -> Option<ClientId> {
    cookie(headers, CLIENT_COOKIE, |v| ClientId::parse(v).ok())
}

/// The `Set-Cookie` value giving a client its id.
pub fn set_client_cookie(id: &ClientId) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{CLIENT_COOKIE}={id}; HttpOnly; SameSite=Lax; Path=/; Max-Age={CLIENT_COOKIE_MAX_AGE}"
    ))
    .expect("ascii cookie")
}

/// The client id a request carried in its cookie (put in the request by [`client_cookie`]).
#[derive(Debug, Clone)]
pub struct CarriedClient(pub ClientId);

/// Reads `hpcbot_client` into the request; gives a new one to a request of the page or of an
/// `/api/*` route that lacks it. The request itself stays cookieless (its new session owns
/// itself): the id counts from the client's next request on, when it carries the cookie.
pub async fn client_cookie(mut req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let gives = path == "/" || path.starts_with("/api/") || path == "/mcp";
    let carried = cookie_client(req.headers());
    if let Some(c) = &carried {
        req.extensions_mut().insert(CarriedClient(c.clone()));
    }
    let mut res = next.run(req).await;
    if gives && carried.is_none() {
        res.headers_mut()
            .append(header::SET_COOKIE, set_client_cookie(&ClientId::new()));
    }
    res
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

/// The caller: the token's user with `auth = token`; with `auth = none` the client of the
/// `hpcbot_client` cookie, if the request carried one (else the session is the caller).
pub struct Caller {
    /// The user a bearer token named.
    pub user: Option<AuthUser>,
    /// The client cookie the request carried.
    pub client: Option<ClientId>,
}

impl Caller {
    /// The owner named by the token, if any: only that owner's sessions are visible to it.
    pub fn owner(&self) -> Option<Owner> {
        self.user.as_ref().map(|u| u.owner.clone())
    }

    /// Who a session created by this request belongs to: the token's user, else the client
    /// of the cookie; `None`: the new session owns itself (a client without cookies).
    pub fn creator(&self) -> Option<Owner> {
        self.owner()
            .or_else(|| self.client.as_ref().map(Owner::client))
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Caller {
            user: parts.extensions.get::<AuthUser>().cloned(),
            client: parts.extensions.get::<CarriedClient>().map(|c| c.0.clone()),
        })
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

/// The owner whose bookings a read or cancel concerns: the token's user, else the named
/// session's owner; with no live session named (none, or a stale cookie), the client of the
/// `hpcbot_client` cookie. `None`: a caller without any of these owns nothing.
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
        SessionRef::Explicit(id) => Ok(Some(state.engine.session_head(&id, None).await?.owner)),
        SessionRef::Cookie(id) => match state.engine.session_head(&id, None).await {
            Ok(r) => Ok(Some(r.owner)),
            Err(ChatError::SessionNotFound) => Ok(caller.creator()),
            Err(e) => Err(e.into()),
        },
        SessionRef::New => Ok(caller.creator()),
    }
}

/// The owner a hold, series or waitlist entry is made for, and the session cookie to give
/// when a session had to be made (a caller with no identity at all, as for `POST
/// /api/bookings`).
pub async fn acting_owner(
    s: &AppState,
    caller: &Caller,
    explicit: Option<&str>,
    headers: &HeaderMap,
) -> Result<(Owner, Option<HeaderValue>), ApiError> {
    if let Some(o) = reading_owner(s, caller, explicit, headers).await? {
        return Ok((o, None));
    }
    let session = s
        .engine
        .resolve(SessionRef::New, None, caller.creator().as_ref())
        .await?;
    let cookie = set_cookie(&session.id, s.config.session_ttl.as_secs());
    Ok((session.owner, Some(cookie)))
}

/// `201` with `body`, and the session cookie [`acting_owner`] asked for, if any.
pub fn created<T: serde::Serialize>(body: T, cookie: Option<HeaderValue>) -> Response {
    use axum::response::IntoResponse;
    let mut res = (axum::http::StatusCode::CREATED, axum::Json(body)).into_response();
    if let Some(c) = cookie {
        res.headers_mut().insert(header::SET_COOKIE, c);
    }
    res
}
