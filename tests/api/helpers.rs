//! `spawn_app()`: the real server on 127.0.0.1:0 with a fresh database.

use chrono::{DateTime, Duration, Utc};
use hpcbot::config::Config;
use hpcbot::server::{self, Overrides};
use serde_json::Value;
use std::net::SocketAddr;
use tokio::sync::oneshot;

/// Where the tests find PostgreSQL (`.ci/run` makes sure it runs).
pub fn postgres_base() -> String {
    std::env::var("HPCBOT_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// A fresh PostgreSQL database, dropped when this value is dropped.
pub struct PgDb {
    pub url: String,
    name: String,
}

impl PgDb {
    pub async fn new() -> Self {
        use sqlx::Connection;
        let name = format!("hpcbot_t_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&format!("{}/postgres", postgres_base()))
            .await
            .expect("PostgreSQL must run for these tests (see .ci/run)");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        Self {
            url: format!("{}/{name}", postgres_base()),
            name,
        }
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let base = postgres_base();
        let name = self.name.clone();
        // Drop is synchronous: a helper thread with its own runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                use sqlx::Connection;
                if let Ok(mut c) = sqlx::PgConnection::connect(&format!("{base}/postgres")).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut c)
                    .await;
                }
            })
        })
        .join();
    }
}

/// A running server.
pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub state: server::AppState,
    _dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    pub handle: tokio::task::JoinHandle<anyhow::Result<()>>,
    /// The PostgreSQL database the app uses, when [`Store::Postgres`] made one for it.
    pub pg: Option<PgDb>,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn delete(&self, path: &str) -> reqwest::Response {
        self.client.delete(self.url(path)).send().await.unwrap()
    }

    /// Starts graceful shutdown.
    pub fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Options for [`spawn_with`].
#[derive(Default)]
pub struct Spawn {
    pub database_url: Option<String>,
    pub settings: Vec<(&'static str, String)>,
    pub overrides: Overrides,
}

pub async fn spawn_app() -> TestApp {
    spawn_with(Spawn::default()).await
}

pub async fn spawn_with(opts: Spawn) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().display().to_string();
    let mut settings: Vec<(&str, String)> =
        vec![("listen", "127.0.0.1:0".into()), ("data_dir", data_dir)];
    if let Some(url) = &opts.database_url {
        settings.push(("database_url", url.clone()));
    }
    settings.extend(opts.settings);
    let pairs: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let config = Config::defaults_with(&pairs).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = server::build(config, opts.overrides).await.unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(server::serve(state.clone(), listener, async move {
        let _ = rx.await;
    }));
    TestApp {
        addr,
        client: reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()
            .unwrap(),
        state,
        _dir: dir,
        stop: Some(tx),
        handle,
        pg: None,
    }
}

/// Where a test server keeps its sessions: the engine's tests run on each.
#[derive(Debug, Clone, Copy)]
pub enum Store {
    /// `sessions = "memory"`.
    Memory,
    /// `sessions = "database"` on the SQLite file (the default).
    Sqlite,
    /// `sessions = "database"` on a fresh PostgreSQL database.
    Postgres,
}

impl Store {
    /// [`spawn_with`] with this session store.
    pub async fn spawn(self, mut opts: Spawn) -> TestApp {
        let mut pg = None;
        match self {
            Store::Memory => opts.settings.push(("sessions", "memory".into())),
            Store::Sqlite => opts.settings.push(("sessions", "database".into())),
            Store::Postgres => {
                let db = PgDb::new().await;
                opts.database_url = Some(db.url.clone());
                opts.settings.push(("sessions", "database".into()));
                pg = Some(db);
            }
        }
        let mut app = spawn_with(opts).await;
        app.pg = pg;
        app
    }

    /// [`echo_app`] with this session store.
    pub async fn echo_app(
        self,
        echo: &crate::assistants::Echo,
        settings: Vec<(&'static str, String)>,
    ) -> TestApp {
        self.spawn(Spawn {
            settings,
            overrides: Overrides {
                assistant: Some(std::sync::Arc::new(echo.clone())),
                ..Default::default()
            },
            ..Default::default()
        })
        .await
    }
}

/// Tomorrow at `hour`:00 UTC.
pub fn tomorrow(hour: u32) -> DateTime<Utc> {
    (Utc::now() + Duration::days(1))
        .date_naive()
        .and_hms_opt(hour, 0, 0)
        .unwrap()
        .and_utc()
}

/// `POST /api/bookings` of `count` `model` GPUs for `hours` from `start`, as the session `sid`.
pub async fn post_booking(
    app: &TestApp,
    sid: &str,
    model: &str,
    count: u32,
    start: DateTime<Utc>,
    hours: i64,
) -> reqwest::Response {
    app.post(
        "/api/bookings",
        &serde_json::json!({"model": model, "count": count, "start": start.to_rfc3339(),
            "end": (start + Duration::hours(hours)).to_rfc3339(), "session_id": sid}),
    )
    .await
}

/// `GET /api/availability`'s `free`: how many `model` GPUs are free over `hours` from `start`.
pub async fn free_gpus(app: &TestApp, model: &str, start: DateTime<Utc>, hours: i64) -> i64 {
    let q = format!(
        "/api/availability?model={model}&start={}&end={}",
        start.format("%Y-%m-%dT%H:%M:%SZ"),
        (start + Duration::hours(hours)).format("%Y-%m-%dT%H:%M:%SZ")
    );
    let v: Value = app.get(&q).await.json().await.unwrap();
    v["free"].as_i64().unwrap_or_else(|| panic!("{v}"))
}

/// Asserts API.md's error shape and code; returns the message.
pub async fn expect_error(res: reqwest::Response, status: u16, code: &str) -> String {
    assert_eq!(res.status().as_u16(), status, "status");
    assert!(
        res.headers().contains_key("x-request-id"),
        "x-request-id on errors too"
    );
    let body: Value = res.json().await.expect("JSON error body");
    assert_eq!(body["error"]["code"], code, "{body}");
    let msg = body["error"]["message"]
        .as_str()
        .expect("message")
        .to_string();
    assert!(!msg.is_empty());
    msg
}

/// A server whose assistant is the test assistant `echo`.
pub async fn echo_app(
    echo: &crate::assistants::Echo,
    settings: Vec<(&'static str, String)>,
) -> TestApp {
    spawn_with(Spawn {
        settings,
        overrides: Overrides {
            assistant: Some(std::sync::Arc::new(echo.clone())),
            ..Default::default()
        },
        ..Default::default()
    })
    .await
}

/// A new session's id (checks the 201 reply).
pub async fn new_session(app: &TestApp) -> String {
    let res = app
        .client
        .post(app.url("/api/sessions"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let v: Value = res.json().await.unwrap();
    assert!(v["created_at"].is_string() && v["expires_at"].is_string());
    v["session_id"].as_str().unwrap().to_string()
}

/// A session's messages.
pub async fn history(app: &TestApp, sid: &str) -> Vec<Value> {
    let res = app.get(&format!("/api/sessions/{sid}")).await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    v["messages"].as_array().unwrap().clone()
}

/// Starts a turn of a new session whose assistant creation blocks (until `echo.release`);
/// returns once the creation has begun (an event, not a sleep).
pub async fn blocked_turn(
    app: &TestApp,
    echo: &crate::assistants::Echo,
) -> (String, tokio::task::JoinHandle<reqwest::Response>) {
    let sid = new_session(app).await;
    echo.block_open.lock().unwrap().insert(sid.clone());
    let turn = {
        let (c, url, s) = (app.client.clone(), app.url("/api/chat"), sid.clone());
        tokio::spawn(async move {
            c.post(url)
                .json(&serde_json::json!({"message": "hi", "session_id": s}))
                .send()
                .await
                .unwrap()
        })
    };
    while echo.opens_of(&sid) == 0 {
        tokio::task::yield_now().await;
    }
    (sid, turn)
}

/// A new user `name` (role user) of `app`'s user store; their bearer token.
pub async fn user_token(app: &TestApp, name: &str) -> String {
    app.state
        .users
        .add_user(
            name,
            hpcbot::store::users::Role::User,
            &hpcbot::domain::ProjectName::default_project(),
            0,
        )
        .await
        .unwrap()
}

/// The statuses of requests sent all at once, in the order given.
pub async fn statuses(
    reqs: impl IntoIterator<Item = impl std::future::Future<Output = reqwest::Response>>,
) -> Vec<u16> {
    futures::future::join_all(reqs)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect()
}
