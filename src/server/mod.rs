//! The HTTP server (axum): one file per resource; routes parse, call one function, map
//! the result.

pub mod account;
pub mod auth;
pub mod bookings;
pub mod calendar;
pub mod caller;
pub mod chat;
pub mod error;
pub mod extract;
pub mod gpus;
pub mod guard;
pub mod health;
pub mod holds;
pub mod idempotency;
pub mod listen;
pub mod maintenance;
pub mod mcp;
pub mod middleware;
pub mod notices;
pub mod openai;
pub mod series;
pub mod sessions;
pub mod sse;
pub mod ui;
pub mod waitlist;
pub mod webhooks;

use crate::assistant::tools::Tools;
use crate::assistant::Assistant;
use crate::chat::{Engine, EngineOptions};
use crate::config::{Config, SessionsBackend};
use crate::domain::booking::BookingLimits;
use crate::domain::Clock;
use crate::ops::Inflight;
use crate::store::memory::MemorySessions;
use crate::store::sql::{SqlOptions, SqlStore};
use crate::store::{BookingStore, SessionStore};
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderName, HeaderValue};
use axum::routing::{delete, get, post};
use axum::Router;
use error::ApiError;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::future::Future;
use std::sync::{Arc, OnceLock};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::OpenApi;

/// Everything a handler needs, behind one `Arc`: axum clones the state for every
/// middleware layer and handler of every request, and a struct of a dozen handles cost a
/// dozen shared reference counts bumped and dropped each time (about 10% of a chat turn's
/// CPU across the two cores, measured with `cargo bench --bench http -- turncost`).
#[derive(Clone)]
pub struct AppState(Arc<AppParts>);

impl std::ops::Deref for AppState {
    type Target = AppParts;

    fn deref(&self) -> &AppParts {
        &self.0
    }
}

/// The handles of [`AppState`].
pub struct AppParts {
    /// Validated settings.
    pub config: Arc<Config>,
    /// The operations on GPUs and bookings.
    pub tools: Tools,
    /// The session engine.
    pub engine: Arc<Engine>,
    /// Requests in flight.
    pub inflight: Arc<Inflight>,
    /// Admission: one permit per request in flight.
    pub admission: Arc<Semaphore>,
    /// The Prometheus recorder's handle.
    pub metrics: PrometheusHandle,
    /// The LLM upstream's circuit breaker, when an LLM is configured.
    pub llm_breaker: Option<Arc<crate::assistant::llm::breaker::Breaker>>,
    /// Users (for `auth = token`).
    pub users: Arc<dyn crate::store::users::UserStore>,
    /// Secret calendar feed tokens (the booking database).
    pub feeds: Arc<dyn crate::store::feeds::FeedStore>,
    /// Token lookups, kept briefly so a request costs no query (revocation shows within
    /// [`AUTH_CACHE_TTL`]).
    pub auth_cache: moka::future::Cache<String, Option<crate::store::users::User>>,
    /// Per-client limits, connection counts and the last seen session count.
    pub guard: Arc<guard::Guard>,
    /// Idempotency-Key records (the booking database).
    pub idempotency: Arc<dyn crate::store::idempotency::IdempotencyStore>,
    /// Webhook endpoints and deliveries (the booking database).
    pub webhooks: Arc<dyn crate::store::webhooks::WebhookStore>,
}

/// How long a token lookup is trusted.
pub const AUTH_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(30);

/// What a caller (main or a test) may put in instead of the defaults.
#[derive(Default)]
pub struct Overrides {
    /// "Now" (the system clock by default).
    pub clock: Option<Clock>,
    /// The assistant (the built-in one by default).
    pub assistant: Option<Arc<dyn Assistant>>,
}

/// The process-wide Prometheus recorder (the `metrics` facade is global by design).
fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (e.g. by an embedding program).
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Connects the stores and builds the state.
pub async fn build(config: Config, overrides: Overrides) -> anyhow::Result<AppState> {
    let clock = overrides.clock.unwrap_or_default();
    let database = config.database();
    if database.is_sqlite() {
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            anyhow::anyhow!("cannot create data_dir {}: {e}", config.data_dir.display())
        })?;
    }
    let sql = Arc::new(
        SqlStore::connect(&SqlOptions {
            url: database.as_str().to_string(),
            max_connections: config.database_max_connections.get(),
            timeout: config.store_timeout,
        })
        .await
        .map_err(|e| anyhow::anyhow!("database ({}): {e}", redact(database.as_str())))?,
    );
    sql.set_waitlist_hold(config.waitlist_hold);
    let store: Arc<dyn BookingStore> = sql.clone();
    let limits = BookingLimits {
        max_advance: chrono::Duration::from_std(config.max_advance)
            .map_err(|_| anyhow::anyhow!("max_advance is too large"))?,
        quotas: config.quotas()?,
        budget: config.budget,
        holds: crate::domain::hold::HoldRules {
            ttl: chrono::Duration::from_std(config.hold_ttl)
                .map_err(|_| anyhow::anyhow!("hold_ttl is too large"))?,
            max_per_owner: config.max_holds_per_owner,
        },
        ..BookingLimits::default()
    };
    let tools = Tools::new(store, clock.clone(), limits);
    let sessions: Arc<dyn SessionStore> = match &config.sessions {
        SessionsBackend::Database => Arc::new(sql.sessions(config.session_cache)),
        SessionsBackend::Memory => Arc::new(MemorySessions::new(config.max_sessions.get())),
        SessionsBackend::Redis(url) => Arc::new(
            crate::store::redis::RedisSessions::connect(
                url,
                &config.redis_prefix,
                config.store_timeout,
            )
            .await
            .map_err(|e| anyhow::anyhow!("sessions ({}): {e}", redact(url)))?,
        ),
    };
    let builtin = crate::assistant::builtin::Builtin::new(
        tools.with_via(crate::store::bookings::Via::Chat),
        &config,
    );
    let mut llm_breaker = None;
    let assistant: Arc<dyn Assistant> = match (overrides.assistant, &config.llm.base_url) {
        (Some(a), _) => a,
        (None, Some(base_url)) => {
            use crate::assistant::llm::{breaker, client, Llm};
            let llm = &config.llm;
            // One HTTP client for the process, made here, never per session.
            let client = Arc::new(client::LlmClient::new(client::ClientOptions {
                base_url: base_url.0.clone(),
                api_key: llm.api_key.clone(),
                model: llm.model.clone(),
                connect_timeout: llm.connect_timeout,
                first_byte_timeout: llm.first_byte_timeout,
                call_timeout: llm.timeout,
                max_retries: llm.max_retries,
            })?);
            let b = Arc::new(breaker::Breaker::new(
                breaker::BreakerOptions {
                    failures: llm.breaker_failures.get(),
                    window: chrono::Duration::from_std(llm.breaker_window)?,
                    open_for: chrono::Duration::from_std(llm.breaker_open_for)?,
                },
                clock.clone(),
            ));
            llm_breaker = Some(b.clone());
            Arc::new(Llm::new(
                client,
                b,
                tools.with_via(crate::store::bookings::Via::Llm),
                builtin,
                config.centre_name.clone(),
                config.timezone,
                llm.max_history,
            ))
        }
        (None, None) => Arc::new(builtin),
    };
    let engine = Arc::new(Engine::new(
        sessions,
        assistant,
        clock,
        EngineOptions {
            session_ttl: config.session_ttl,
            max_conversations: config.max_sessions.get() as u64,
            store_timeout: config.store_timeout,
            max_turns: Some(config.max_session_turns.get()),
        },
    ));
    Ok(AppState(Arc::new(AppParts {
        guard: Arc::new(guard::Guard::new(&config)),
        admission: Arc::new(Semaphore::new(config.max_in_flight.get())),
        config: Arc::new(config),
        tools,
        engine,
        inflight: Arc::new(Inflight::default()),
        metrics: metrics_handle(),
        llm_breaker,
        idempotency: sql.clone(),
        webhooks: sql.clone(),
        feeds: sql.clone(),
        users: sql,
        auth_cache: moka::future::Cache::builder()
            .max_capacity(10_000)
            .time_to_live(AUTH_CACHE_TTL)
            .build(),
    })))
}

/// A URL with its password hidden, for logs and errors.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..s + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// The OpenAPI document, generated from the handlers and types.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "hpcbot",
        description = "Chat assistant and GPU booking service of an HPC centre"
    ),
    paths(
        chat::chat,
        chat::stream,
        chat::direct,
        sessions::create,
        sessions::get,
        sessions::delete,
        gpus::list,
        gpus::availability,
        gpus::timeline,
        bookings::list,
        bookings::create,
        bookings::cancel,
        bookings::change,
        bookings::events,
        bookings::slots,
        bookings::all,
        series::create,
        series::cancel,
        maintenance::create,
        maintenance::list,
        maintenance::remove,
        notices::list,
        webhooks::create,
        webhooks::list,
        webhooks::remove,
        webhooks::deliveries,
        waitlist::join,
        waitlist::list,
        waitlist::leave,
        holds::create,
        holds::list,
        holds::one,
        holds::confirm,
        holds::release,
        account::account,
        account::usage,
        account::admin_usage,
        calendar::mine,
        calendar::create_feed,
        calendar::feed,
        calendar::one,
        health::health,
        health::ready,
        health::threads,
        openai::models,
        openai::completions,
    ),
    components(schemas(crate::assistant::Action))
)]
pub struct ApiDoc;

async fn openapi() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(ApiDoc::openapi())
}

/// The page's Content-Security-Policy: everything from this origin only, no inline
/// script or style, never framed.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The REST routes that MCP tools call ([`mcp::catalog`]), behind the idempotency layer
/// as at the front door; the caller's identity and limits were settled by the `/mcp`
/// request itself.
fn mcp_rest(state: &AppState) -> Router {
    Router::new()
        .route("/api/gpus", get(gpus::list))
        .route("/api/availability", get(gpus::availability))
        .route("/api/slots", get(bookings::slots))
        .route("/api/bookings", get(bookings::list).post(bookings::create))
        .route(
            "/api/bookings/{id}",
            axum::routing::patch(bookings::change).delete(bookings::cancel),
        )
        .route("/api/account", get(account::account))
        .route("/api/waitlist", post(waitlist::join))
        .fallback(|| async { ApiError::no_route() })
        .layer(DefaultBodyLimit::max(state.config.body_limit.get()))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            idempotency::idempotency,
        ))
        .with_state(state.clone())
}

/// The router with every route and layer.
pub fn router(state: AppState) -> Router {
    let x_request_id = HeaderName::from_static("x-request-id");
    let mcp = mcp::service(state.clone(), mcp_rest(&state));
    Router::new()
        .route_service("/mcp", mcp)
        .route("/api/chat", post(chat::chat))
        .route("/api/chat/stream", post(chat::stream))
        .route("/api/direct/chat", post(chat::direct))
        .route("/api/sessions", post(sessions::create))
        .route(
            "/api/sessions/{id}",
            get(sessions::get).delete(sessions::delete),
        )
        .route("/api/gpus", get(gpus::list))
        .route("/api/availability", get(gpus::availability))
        .route("/api/timeline", get(gpus::timeline))
        .route("/", get(ui::index))
        .route("/assets/{file}", get(ui::asset))
        .route("/api/bookings", get(bookings::list).post(bookings::create))
        .route(
            "/api/bookings/{id}",
            delete(bookings::cancel).patch(bookings::change),
        )
        .route("/api/bookings/{id}/events", get(bookings::events))
        .route("/api/bookings/{id}/ics", get(calendar::one))
        .route("/api/calendar.ics", get(calendar::mine))
        .route("/api/calendar/feed", post(calendar::create_feed))
        .route("/api/calendar/feed/{file}", get(calendar::feed))
        .route("/api/slots", get(bookings::slots))
        .route("/api/bookings/series", post(series::create))
        .route("/api/bookings/series/{id}", delete(series::cancel))
        .route("/api/holds", get(holds::list).post(holds::create))
        .route("/api/waitlist", get(waitlist::list).post(waitlist::join))
        .route("/api/waitlist/{id}", delete(waitlist::leave))
        .route("/api/notices", get(notices::list))
        .route("/api/holds/{id}", get(holds::one).delete(holds::release))
        .route("/api/holds/{id}/confirm", post(holds::confirm))
        .route("/api/admin/bookings", get(bookings::all))
        .route(
            "/api/admin/maintenance",
            get(maintenance::list).post(maintenance::create),
        )
        .route("/api/admin/maintenance/{id}", delete(maintenance::remove))
        .route(
            "/api/admin/webhooks",
            get(webhooks::list).post(webhooks::create),
        )
        .route("/api/admin/webhooks/{id}", delete(webhooks::remove))
        .route(
            "/api/admin/webhooks/{id}/deliveries",
            get(webhooks::deliveries),
        )
        .route("/api/account", get(account::account))
        .route("/api/usage", get(account::usage))
        .route("/api/admin/usage", get(account::admin_usage))
        .route("/api/openapi.json", get(openapi))
        .route("/v1/models", get(openai::models))
        .route("/v1/chat/completions", post(openai::completions))
        .route("/health", get(health::health))
        .route("/health/ready", get(health::ready))
        .route("/health/threads", get(health::threads))
        .route("/debug/requests", get(health::requests))
        .route("/debug/echo", post(health::echo))
        .route("/metrics", get(health::metrics))
        .fallback(|| async { ApiError::no_route() })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method; see /api/openapi.json",
            )
        })
        .route_layer(axum::middleware::from_fn(middleware::matched))
        .layer(DefaultBodyLimit::max(state.config.body_limit.get()))
        // Inside the guard: a refused request (a cross-site write, which a browser sends
        // without its SameSite=Lax cookie) must not be handed a new client id that would
        // replace the browser's own.
        .layer(axum::middleware::from_fn(caller::client_cookie))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            idempotency::idempotency,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::protect,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::track,
        ))
        .layer(CatchPanicLayer::custom(|_| {
            axum::response::IntoResponse::into_response(ApiError::internal("a handler panicked"))
        }))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(PropagateRequestIdLayer::new(x_request_id.clone()))
        .layer(SetRequestIdLayer::new(x_request_id, MakeRequestUuid))
        .with_state(state)
}

/// How long an expired or given-back hold is kept (for `GET /api/holds/{id}`'s `expired`).
pub const HOLD_KEEP: chrono::Duration = chrono::Duration::days(1);

/// How often offers are made for what freed by time alone (expired holds and offers).
pub const WAITLIST_PASS: std::time::Duration = std::time::Duration::from_secs(10);

/// Serves until `shutdown` resolves, then lets in-flight requests finish within the grace
/// period.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let grace = state.config.shutdown_grace;
    // The background work: all of it stops when serving ends, or when this future is
    // dropped (a JoinSet aborts its tasks on drop), never outliving the server.
    let mut background = tokio::task::JoinSet::new();
    background.spawn(middleware::watchdog(state.clone()));
    {
        let engine = state.engine.clone();
        let clock = state.tools.clock().clone();
        let guard = state.guard.clone();
        let bound = state.config.store_timeout;
        let keys = state.idempotency.clone();
        let bookings = state.tools.store().clone();
        background.spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                tick.tick().await;
                let _ = tokio::time::timeout(bound, engine.store().sweep(clock.now())).await;
                // Holds are read by time (a lapsed one counts for nothing), so this only
                // keeps the table small.
                let _ = bookings.sweep_holds(clock.now() - HOLD_KEEP).await;
                guard.sweep();
                let _ = tokio::time::timeout(
                    bound,
                    keys.sweep_idempotency(chrono::Utc::now().timestamp_millis()),
                )
                .await;
            }
        });
    }
    // Holds and waitlist offers expire by time alone: a pass offers what they freed (every
    // pass recomputes from the database, so one missed by a crash is made by the next).
    {
        let tools = state.tools.clone();
        let bound = state.config.store_timeout;
        background.spawn(async move {
            let mut tick = tokio::time::interval(WAITLIST_PASS);
            loop {
                tick.tick().await;
                let now = tools.clock().now();
                let pass = tools.store().refresh_waitlist(now);
                if let Ok(Err(e)) = tokio::time::timeout(bound, pass).await {
                    tracing::warn!(error = %e, "waitlist pass failed");
                }
            }
        });
    }
    // Webhook deliveries and reminders (crate::notify): the work is in the database, so
    // stopping this task loses nothing.
    let deliverer = Arc::new(crate::notify::Deliverer::new(
        &state.config,
        state.webhooks.clone(),
        state.tools.clock().clone(),
    )?);
    background.spawn(deliverer.run());
    background.spawn(health::count_sessions(state.clone()));
    let conn_opts = listen::Options::new(&state.config, &state.guard);
    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        tracing::info!("shutting down: no new connections; finishing requests in flight");
        let _ = stopping_tx.send(());
    };
    let guard = state.guard.clone();
    let server = listen::serve(listener, router(state), conn_opts, guard, signal);
    let grace_over = async move {
        if stopping_rx.await.is_ok() {
            tokio::time::sleep(grace).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    let result = tokio::select! {
        r = server => r,
        _ = grace_over => {
            tracing::warn!("shutdown grace period over; closing the connections left");
            Ok(())
        }
    };
    background.abort_all();
    result
}

/// Builds the state from `config` and serves on `listener` until `shutdown`.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let state = build(config, Overrides::default()).await?;
    serve(state, listener, shutdown).await
}
