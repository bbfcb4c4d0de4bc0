//! Per-request plumbing: admission (load shedding), the in-flight registry, the deadline,
//! the access log and metrics.

use super::error::ApiError;
use super::AppState;
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::time::Instant;

/// The request's deadline, for handlers that bound their own waits by it.
#[derive(Debug, Clone, Copy)]
pub struct Deadline(pub Instant);

/// How long after its deadline a request is cut off if a handler did not end it itself.
const BACKSTOP: Duration = Duration::from_millis(500);

/// The route template a request matched (filled in after routing by [`matched`]); an
/// unmatched request keeps none, so labels stay one per route whatever paths arrive.
#[derive(Clone, Default)]
pub struct MatchedRoute(Arc<OnceLock<String>>);

/// After routing: records the matched route template for [`track`]'s labels.
pub async fn matched(req: Request, next: Next) -> Response {
    if let (Some(slot), Some(m)) = (
        req.extensions().get::<MatchedRoute>(),
        req.extensions().get::<MatchedPath>(),
    ) {
        let _ = slot.0.set(m.as_str().to_string());
    }
    next.run(req).await
}

/// The label of a method: the standard ones, else `other` (any token is a valid method).
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Longest request target answered (longer: `414 uri_too_long`).
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Most header bytes answered (more: `431 headers_too_large`).
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// Keeps `held` (an in-flight permit or share) until the response has been sent: to the
/// end of its body for a stream.
pub fn hold_until_sent<T: Send + Sync + 'static>(res: Response, held: T) -> Response {
    let streaming = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if !streaming {
        return res;
    }
    let (parts, body) = res.into_parts();
    let stream = futures::StreamExt::map(body.into_data_stream(), move |chunk| {
        let _ = &held;
        chunk
    });
    Response::from_parts(parts, Body::from_stream(stream))
}

/// `413 payload_too_large` for a body over `limit` bytes.
fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("the request body is larger than the server accepts ({limit} bytes)"),
    )
}

/// Reads the whole body before the request is admitted, bounded in size and time, so a
/// slow or endless body holds a connection (itself bounded) but never a place among the
/// requests in flight.
async fn read_body(req: Request, limit: usize, within: Duration) -> Result<Request, ApiError> {
    use http_body_util::BodyExt;
    let (parts, body) = req.into_parts();
    let hint = axum::body::HttpBody::size_hint(&body);
    if hint.exact() == Some(0) {
        return Ok(Request::from_parts(parts, body));
    }
    // A body declared larger than the limit (Content-Length) is refused before it comes.
    if hint.lower() > limit as u64 {
        return Err(too_large(limit));
    }
    let limited = http_body_util::Limited::new(body, limit);
    match tokio::time::timeout(within, limited.collect()).await {
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            format!(
                "the request body did not arrive within {} s; send it at once",
                within.as_secs_f64()
            ),
        )),
        Ok(Ok(c)) => Ok(Request::from_parts(parts, Body::from(c.to_bytes()))),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(too_large(limit)),
        Ok(Err(e)) => Err(ApiError::bad_request(
            "invalid_body",
            format!("could not read the request body: {e}"),
        )),
    }
}

/// Admission, registry, deadline, log and metrics around every request.
pub async fn track(State(s): State<AppState>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let slot = MatchedRoute::default();
    req.extensions_mut().insert(slot.clone());
    let exempt = path.starts_with("/health") || path == "/metrics";
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let started = Instant::now();
    let early = if req.uri().to_string().len() > MAX_URI_BYTES {
        Some(ApiError::new(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!("the request target is longer than {MAX_URI_BYTES} bytes"),
        ))
    } else if req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum::<usize>()
        > MAX_HEADER_BYTES
    {
        Some(ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!("the request headers are larger than {MAX_HEADER_BYTES} bytes"),
        ))
    } else {
        match read_body(req, s.config.body_limit.get(), s.config.body_read_timeout).await {
            Ok(r) => {
                req = r;
                None
            }
            Err(e) => {
                // The rest of the body is not read: the connection cannot be reused.
                let mut res = e.into_response();
                res.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
                return finish(&s, "unmatched", &method, started, res, &request_id);
            }
        }
    };
    if let Some(e) = early {
        return finish(
            &s,
            "unmatched",
            &method,
            started,
            e.into_response(),
            &request_id,
        );
    }
    let permit = if exempt {
        None
    } else {
        match s.admission.clone().try_acquire_owned() {
            Ok(p) => Some(p),
            Err(_) => {
                metrics::counter!("hpcbot_requests_shed_total").increment(1);
                tracing::warn!(%request_id, %path, "shed: in-flight limit reached");
                let res = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "overloaded",
                    "the server is at its limit of requests in flight; retry in a moment",
                )
                .retry_after(1)
                .into_response();
                return finish(&s, "shed", &method, started, res, &request_id);
            }
        }
    };
    let deadline = Instant::now() + s.config.request_timeout;
    req.extensions_mut().insert(Deadline(deadline));
    let reg = s
        .inflight
        .clone()
        .register(request_id.clone(), format!("{method} {path}"));
    let res = match tokio::time::timeout_at(deadline + BACKSTOP, reg.scope(next.run(req))).await {
        Ok(r) => r,
        Err(_) => ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "deadline_exceeded",
            "the request took longer than the deadline and was abandoned",
        )
        .into_response(),
    };
    let res = json_errors(res).await;
    let route = slot.0.get().cloned().unwrap_or_else(|| "unmatched".into());
    let session = reg.entry().session();
    let res = finish_logged(&s, &route, &method, started, res, &request_id, session);
    hold_until_sent(res, (reg, permit))
}

/// Makes an error reply that a layer below wrote as text (axum's rejections, e.g. a path
/// that is not UTF-8) into API.md's JSON error, keeping its status and text.
async fn json_errors(res: Response) -> Response {
    use http_body_util::BodyExt;
    let status = res.status();
    let json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || json {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let text = match tokio::time::timeout(Duration::from_secs(1), body.collect()).await {
        Ok(Ok(c)) => String::from_utf8_lossy(&c.to_bytes()).trim().to_string(),
        _ => String::new(),
    };
    let code = match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid_request",
        s if s.is_server_error() => "internal_error",
        _ => "request_failed",
    };
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("the request failed")
            .to_string()
    } else {
        text
    };
    let mut fresh = ApiError::new(status, code, message).into_response();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::CONTENT_TYPE);
    for (k, v) in fresh.headers_mut().drain() {
        if let Some(k) = k {
            parts.headers.insert(k, v);
        }
    }
    Response::from_parts(parts, fresh.into_body())
}

/// Counts and logs a finished request.
fn finish(
    s: &AppState,
    route: &str,
    method: &Method,
    started: Instant,
    res: Response,
    request_id: &str,
) -> Response {
    finish_logged(s, route, method, started, res, request_id, None)
}

/// [`finish`] with the session the request worked on, for the log line.
fn finish_logged(
    s: &AppState,
    route: &str,
    method: &Method,
    started: Instant,
    res: Response,
    request_id: &str,
    session: Option<String>,
) -> Response {
    let elapsed = started.elapsed();
    let status = res.status().as_u16();
    let m = method_label(method);
    metrics::counter!("hpcbot_http_requests_total", "route" => route.to_string(), "method" => m, "status" => status.to_string()).increment(1);
    metrics::histogram!("hpcbot_http_request_duration_seconds", "route" => route.to_string())
        .record(elapsed.as_secs_f64());
    let session = session.as_deref().unwrap_or("-");
    if elapsed >= s.config.slow_request {
        tracing::warn!(%request_id, method = m, %route, status, latency_ms = elapsed.as_millis() as u64, session, "slow request finished");
    } else {
        tracing::info!(%request_id, method = m, %route, status, latency_ms = elapsed.as_millis() as u64, session, "request");
    }
    res
}

/// Logs one warning per request that passes the slow threshold while still running.
pub async fn watchdog(s: AppState) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        for e in s.inflight.snapshot() {
            let age = e.started.elapsed();
            if age >= s.config.slow_request && e.mark_warned() {
                tracing::warn!(request_id = %e.request_id, route = %e.route, stage = e.stage(),
                    session = e.session().as_deref().unwrap_or("-"), age_ms = age.as_millis() as u64,
                    "request still running past the slow threshold");
            }
        }
    }
}
