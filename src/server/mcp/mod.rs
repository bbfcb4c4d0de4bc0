//! `POST /mcp`: the assistant's tools for MCP clients (API.md "MCP"), served with the official
//! Rust SDK (`rmcp`) over the streamable HTTP transport.
//!
//! Stateless: every POST is answered on its own (no MCP session is kept in memory), so any
//! instance behind a load balancer can answer any request. A tool call is the REST request
//! it names ([`catalog::plan`]), run in-process through the same handlers and the same
//! `Idempotency-Key` layer, as the caller of the `/mcp` request: its token with `auth =
//! token`, its `hpcbot_client` cookie with `auth = none`. So ownership, quotas, budget and
//! exactly-once hold by construction, and an MCP error is the REST error.

pub mod catalog;

use super::caller::{cookie_client, cookie_session, AuthUser};
use super::error::ApiError;
use super::guard::LimitedAs;
use super::idempotency::IDEMPOTENCY_KEY;
use super::AppState;
use axum::body::Body;
use axum::http::{header, request::Parts, Request, StatusCode};
use axum::response::Response;
use axum::Router;
use catalog::{ArgError, Call, Effect, RestCall};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::{json, Value};
use std::sync::Arc;
use tower::ServiceExt;

/// The MCP service to nest at `/mcp`; `rest` is the router of the routes tools call.
pub fn service(state: AppState, rest: Router) -> StreamableHttpService<Mcp, NeverSessionManager> {
    let hosts = &state.config.mcp_allowed_hosts.0;
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .with_max_request_body_bytes(state.config.body_limit.get());
    let config = if hosts.iter().any(|h| h == "*") {
        config.disable_allowed_hosts()
    } else {
        config.with_allowed_hosts(hosts.iter().cloned())
    };
    let mcp = Mcp { state, rest };
    StreamableHttpService::new(
        move || Ok(mcp.clone()),
        Arc::new(NeverSessionManager::default()),
        config,
    )
}

/// The MCP server: cheap handles, cloned per request.
#[derive(Clone)]
pub struct Mcp {
    state: AppState,
    rest: Router,
}

/// The caller's HTTP request, as rmcp hands it to a tool call.
fn http_parts(ctx: &RequestContext<RoleServer>) -> Result<&Parts, ErrorData> {
    ctx.extensions
        .get::<Parts>()
        .ok_or_else(|| ErrorData::internal_error("the HTTP request is missing", None))
}

/// A tool result that is an error: `{"status", "error": {"code", "message", ...}}`, the
/// REST error with its status, as structured content and as text.
fn failed(status: StatusCode, mut body: Value, retry_after: Option<String>) -> CallToolResult {
    if let Some(obj) = body.as_object_mut() {
        obj.insert("status".into(), json!(status.as_u16()));
        if let Some(secs) = retry_after.and_then(|s| s.parse::<u64>().ok()) {
            obj.insert("retry_after_seconds".into(), json!(secs));
        }
    }
    let mut r = CallToolResult::structured_error(body.clone());
    r.content = vec![ContentBlock::text(body.to_string())];
    r
}

fn succeeded(body: Value) -> CallToolResult {
    let mut r = CallToolResult::structured(body.clone());
    r.content = vec![ContentBlock::text(body.to_string())];
    r
}

/// A refusal before any route runs, in the REST error shape.
fn refused(e: ApiError) -> CallToolResult {
    failed(e.status, e.body(), e.retry_after.map(|s| s.to_string()))
}

fn arg_error(e: ArgError) -> CallToolResult {
    refused(ApiError::bad_request(e.code(), e.to_string()))
}

impl Mcp {
    /// Runs a REST call as the caller of `parts`.
    async fn rest(&self, parts: &Parts, call: RestCall, effect: Effect) -> CallToolResult {
        if effect != Effect::Read {
            let known = parts.extensions.get::<AuthUser>().is_some()
                || cookie_client(&parts.headers).is_some()
                || cookie_session(&parts.headers).is_some();
            if !known {
                // With auth = none the caller is its cookie: a write without one would
                // belong to nobody it could ever see again.
                return refused(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "identity_required",
                    "this server knows an MCP client by the hpcbot_client cookie set on its first reply (auth = none) or by its bearer token (auth = token); this request carried neither, so it may read but not book",
                ));
            }
        }
        if effect == Effect::BookingWrite {
            if let Err(e) = self
                .state
                .guard
                .charge_booking(parts.extensions.get::<LimitedAs>())
            {
                return refused(e);
            }
        }
        let mut b = Request::builder()
            .method(call.method)
            .uri(call.uri.as_str());
        for name in [header::AUTHORIZATION, header::COOKIE] {
            for v in parts.headers.get_all(&name) {
                b = b.header(&name, v);
            }
        }
        if let Some(k) = &call.key {
            b = b.header(IDEMPOTENCY_KEY, k.as_str());
        }
        let body = match &call.body {
            Some(v) => {
                b = b.header(header::CONTENT_TYPE, "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        let mut req = match b.body(body) {
            Ok(r) => r,
            // A key that is no header value (a control character, say).
            Err(_) => {
                return refused(ApiError::bad_request(
                    "invalid_idempotency_key",
                    "idempotency_key must be 1 to 255 visible ASCII characters without spaces",
                ))
            }
        };
        // Who the caller is (token user, client cookie, peer) and the request's deadline.
        *req.extensions_mut() = parts.extensions.clone();
        match self.rest.clone().oneshot(req).await {
            Ok(res) => self.result_of(res).await,
            Err(never) => match never {},
        }
    }

    /// A route's reply as a tool result.
    async fn result_of(&self, res: Response) -> CallToolResult {
        let status = res.status();
        let retry_after = res
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = match axum::body::to_bytes(res.into_body(), usize::MAX).await {
            Ok(b) => b,
            Err(_) => return refused(ApiError::internal("the reply could not be read")),
        };
        let body: Value = if bytes.is_empty() {
            json!({})
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                json!({"error": {"code": "internal", "message": String::from_utf8_lossy(&bytes)}})
            })
        };
        if status.is_success() {
            succeeded(body)
        } else {
            failed(status, body, retry_after)
        }
    }

    /// `quote`: the price, and what it leaves of the budget of the caller's project (a
    /// token's user's; with `auth = none` everyone is in `default`).
    async fn quote(
        &self,
        caller: Option<&crate::domain::Owner>,
        model: &str,
        count: &Value,
        start: &str,
        end: &str,
    ) -> CallToolResult {
        let r = async {
            let interval = super::gpus::parse_interval(start, end)?;
            let count = count
                .as_u64()
                .filter(|c| (1..=64).contains(c))
                .ok_or_else(|| {
                    ApiError::bad_request("invalid_count", "count must be a whole number from 1 to 64")
                })? as u32;
            let t = &self.state.tools;
            let q = t.quote(model, count, &interval).await?;
            // One read of the money only when there is a budget to say anything about.
            let standing = match caller {
                Some(o) => t.standing(o).await?,
                None => t.visitor_standing().await?,
            };
            let left = if standing.limits.budget.is_some() {
                let (committed, spent) = t.money(&standing.project.name).await?;
                crate::domain::money::remaining(standing.limits.budget, committed, spent)
                    .map(|r| crate::domain::Cents(r.0 - q.price_total.0))
            } else {
                None
            };
            Ok::<_, ApiError>(json!({
                "model": q.model, "count": q.count, "start": interval.start(), "end": interval.end(),
                "price_per_hour": q.price_per_hour, "price_total": q.price_total,
                "budget_remaining_after": left,
            }))
        }
        .await;
        match r {
            Ok(v) => succeeded(v),
            Err(e) => refused(e),
        }
    }
}

impl ServerHandler for Mcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("hpcbot", env!("CARGO_PKG_VERSION")))
            .with_instructions(format!(
                "The GPU booking service of {}. Times are RFC 3339 with an offset. book, change_booking, cancel_booking and join_waitlist act for the user and cost money: confirm with them first, and pass an idempotency_key so that a retry happens once.",
                self.state.config.centre_name
            ))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(catalog::tools().to_vec()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        catalog::tool(name)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let parts = http_parts(&context)?;
        let args = request.arguments.unwrap_or_default();
        let result = match catalog::plan(&request.name, &args) {
            Err(ArgError::UnknownTool(name)) => {
                return Err(ErrorData::invalid_params(
                    format!("there is no tool called `{name}`; see tools/list"),
                    None,
                ))
            }
            Err(e) => arg_error(e),
            Ok(Call::Rest(call, effect)) => self.rest(parts, call, effect).await,
            Ok(Call::Quote {
                model,
                count,
                start,
                end,
            }) => {
                let caller = parts.extensions.get::<AuthUser>().map(|u| &u.owner);
                self.quote(caller, &model, &count, &start, &end).await
            }
        };
        Ok(result.into())
    }
}
