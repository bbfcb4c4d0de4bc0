//! `auth = token`: a bearer token names a user for every `/api/*`, `/v1/*`, `/mcp` and
//! `/debug/*` route (the OpenAPI document, health, metrics and the page stay open); `/debug/*` and
//! `/api/admin/*` need the admin role. With `auth = none` every route is open and the chat
//! session is the caller.

use super::caller::AuthUser;
use super::error::ApiError;
use super::AppState;
use crate::config::AuthMode;
use crate::domain::Owner;
use crate::store::users::{token_hash, Role};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

fn unauthorized(msg: &str) -> Response {
    let mut res = ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", msg).into_response();
    res.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    res
}

/// Checks the bearer token and puts the user in the request.
pub async fn authenticate(State(s): State<AppState>, mut req: Request, next: Next) -> Response {
    if s.config.auth == AuthMode::None {
        return next.run(req).await;
    }
    let path = req.uri().path();
    // A secret feed URL is its own credential: calendar apps send no token.
    let guarded = (path.starts_with("/api/")
        && path != "/api/openapi.json"
        && !path.starts_with(super::calendar::FEED_PATH))
        || path.starts_with("/v1/")
        || path == "/mcp"
        || path.starts_with("/mcp/")
        || path.starts_with("/debug/");
    if !guarded {
        return next.run(req).await;
    }
    let admin_only = path.starts_with("/debug/") || path.starts_with("/api/admin/");
    let Some(token) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .map(str::to_string)
    else {
        return unauthorized("this server needs `Authorization: Bearer <token>`; ask an operator for a token (hpcbot user add NAME)");
    };
    let users = s.users.clone();
    let found = s
        .auth_cache
        .try_get_with(token_hash(&token), async move {
            users.user_by_token(&token).await
        })
        .await;
    let user = match found {
        Ok(Some(u)) => u,
        Ok(None) => return unauthorized("that token is not valid"),
        Err(e) => {
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                format!("cannot check the token now: {e}"),
            )
            .retry_after(2)
            .into_response()
        }
    };
    if admin_only && user.role != Role::Admin {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this route needs a token with the admin role",
        )
        .into_response();
    }
    req.extensions_mut().insert(AuthUser {
        owner: Owner::user(&user.name),
        admin: user.role == Role::Admin,
    });
    next.run(req).await
}
