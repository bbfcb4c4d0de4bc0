//! HTTP load benchmarks against the real server, in-process on 127.0.0.1:0, with the
//! load generator of `hpcbot loadtest`. Each figure is reported beside a baseline measured
//! in the same run.
//!
//! `cargo bench --bench http -- turns` — chat turns with an instant test assistant at 256
//!   concurrent sessions, beside the server's trivial JSON echo route (goal: >= 50%).
//! `cargo bench --bench http -- bookings` — bookings/s with 64 concurrent clients on
//!   SQLite and on PostgreSQL (`HPCBOT_TEST_POSTGRES`, default postgres://postgres@127.0.0.1:5432).

use async_trait::async_trait;
use hpcbot::assistant::{Assistant, AssistantError, Backend, Conversation, Reply, TurnInput};
use hpcbot::config::Config;
use hpcbot::domain::SessionId;
use hpcbot::loadtest::{self, LoadOptions, Mode, Report};
use hpcbot::server::{self, Overrides};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Answers at once: measures the engine and HTTP, not an assistant.
struct Instant0;

#[async_trait]
impl Assistant for Instant0 {
    async fn open(&self, _: Option<&SessionId>) -> Result<Arc<dyn Conversation>, AssistantError> {
        Ok(Arc::new(Instant0))
    }
}

#[async_trait]
impl Conversation for Instant0 {
    async fn reply(&self, input: TurnInput<'_>) -> Result<Reply, AssistantError> {
        Ok(Reply { text: format!("ok: {}", input.message), actions: vec![], backend: Backend::Builtin, state: input.state })
    }
}

async fn start(settings: &[(&str, &str)], assistant: Option<Arc<dyn Assistant>>) -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let mut all = vec![("data_dir", data.as_str()), ("max_in_flight", "4096")];
    all.extend_from_slice(settings);
    let config = Config::defaults_with(&all).unwrap();
    let state = server::build(config, Overrides { assistant, ..Default::default() }).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(server::serve(state, listener, std::future::pending()));
    (url, dir)
}

async fn load(url: &str, users: usize, secs: u64, mode: Mode, turns: Option<usize>) -> Report {
    loadtest::run(LoadOptions {
        url: url.into(),
        users,
        duration: Duration::from_secs(secs),
        turns,
        mode,
        verify: mode == Mode::Session,
        allow_remote: false,
        progress: false,
        messages: vec!["hello".into()],
    })
    .await
    .unwrap()
}

async fn turns() {
    let (url, _dir) = start(&[], Some(Arc::new(Instant0))).await;
    // Warm up both paths.
    load(&url, 64, 1, Mode::Echo, None).await;
    load(&url, 64, 1, Mode::Session, Some(20)).await;
    let echo = load(&url, 256, 10, Mode::Echo, None).await;
    let chat = load(&url, 256, 10, Mode::Session, Some(20)).await;
    println!("echo route : {}", echo.text().replace('\n', "\n             "));
    println!("chat turns : {}", chat.text().replace('\n', "\n             "));
    println!(
        "RESULT turns/s {:.0} vs echo {:.0} req/s → ratio {:.2} (goal >= 0.50); turn p50 {:.2} ms p99 {:.2} ms; lost turns {}",
        chat.throughput_per_s,
        echo.throughput_per_s,
        chat.throughput_per_s / echo.throughput_per_s,
        chat.latency_ms["p50"],
        chat.latency_ms["p99"],
        chat.sessions_with_lost_turns.unwrap_or(0)
    );
}

/// 64 clients booking one GPU each over spread-out slots for `secs` seconds.
async fn bookings_on(label: &str, database_url: Option<String>, secs: u64) -> f64 {
    let settings: Vec<(&str, &str)> = match &database_url {
        Some(u) => vec![("database_url", u.as_str()), ("database_max_connections", "16")],
        None => vec![],
    };
    let (url, _dir) = start(&settings, None).await;
    let client = reqwest::Client::builder().pool_max_idle_per_host(64).build().unwrap();
    let until = Instant::now() + Duration::from_secs(secs);
    let base = chrono::Utc::now() + chrono::Duration::days(1);
    let tasks: Vec<_> = (0..64)
        .map(|u| {
            let (client, url) = (client.clone(), format!("{url}/api/bookings"));
            tokio::spawn(async move {
                let (mut ok, mut conflict, mut i) = (0u64, 0u64, 0i64);
                while Instant::now() < until {
                    // Each client walks its own hours; models rotate: mostly free slots.
                    let start = base + chrono::Duration::hours(u * 1000 + i);
                    let model = ["A100", "H100", "L40S", "V100", "4090"][(i % 5) as usize];
                    i += 1;
                    let r = client.post(&url).json(&json!({"model": model, "count": 1, "start": start, "end": start + chrono::Duration::hours(1)})).send().await.unwrap();
                    match r.status().as_u16() {
                        201 => ok += 1,
                        409 => conflict += 1,
                        s => panic!("unexpected {s}"),
                    }
                }
                (ok, conflict)
            })
        })
        .collect();
    let t0 = Instant::now();
    let (mut ok, mut conflict) = (0, 0);
    for t in tasks {
        let (o, c) = t.await.unwrap();
        ok += o;
        conflict += c;
    }
    let rate = ok as f64 / t0.elapsed().as_secs_f64();
    println!("RESULT bookings {label}: {rate:.0} bookings/s ({ok} made, {conflict} conflicts, 64 clients, {secs} s)");
    rate
}

async fn bookings() {
    let sqlite = bookings_on("SQLite", None, 10).await;
    let base = std::env::var("HPCBOT_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let name = format!("hpcbot_bench_{}", std::process::id());
    {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&format!("{base}/postgres")).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut c).await.unwrap();
    }
    let pg = bookings_on("PostgreSQL", Some(format!("{base}/{name}")), 10).await;
    println!("RESULT PostgreSQL / SQLite = {:.2}", pg / sqlite);
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(&format!("{base}/postgres")).await.unwrap();
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).execute(&mut c).await;
}

fn main() {
    let which: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let all = which.is_empty();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    if all || which.iter().any(|w| w == "turns") {
        rt.block_on(turns());
    }
    if all || which.iter().any(|w| w == "bookings") {
        rt.block_on(bookings());
    }
}
