//! HTTP load benchmarks against the real server, in-process on 127.0.0.1:0, with the
//! load generator of `hpcbot loadtest`. Each figure is reported beside a baseline measured
//! in the same run.
//!
//! `cargo bench --bench http -- turns` — chat turns with an instant test assistant at 256
//!   concurrent sessions, beside the server's trivial JSON echo route (goal: >= 50%).
//! `cargo bench --bench http -- llm` — 1,000 concurrent sessions whose turns go to a mock
//!   LLM answering after 300 ms: turns/s against the ideal 1000 / 0.3 s, p99 − 300 ms, and
//!   the server process's memory (the real `hpcbot serve` binary, in its own process).
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
        Ok(Reply {
            text: format!("ok: {}", input.message),
            actions: vec![],
            backend: Backend::Builtin,
            state: input.state,
        })
    }
}

async fn start(
    settings: &[(&str, &str)],
    assistant: Option<Arc<dyn Assistant>>,
) -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let mut all = vec![("data_dir", data.as_str()), ("max_in_flight", "4096")];
    all.extend_from_slice(settings);
    let config = Config::defaults_with(&all).unwrap();
    let state = server::build(
        config,
        Overrides {
            assistant,
            ..Default::default()
        },
    )
    .await
    .unwrap();
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
    println!(
        "echo route : {}",
        echo.text().replace('\n', "\n             ")
    );
    println!(
        "chat turns : {}",
        chat.text().replace('\n', "\n             ")
    );
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
        Some(u) => vec![
            ("database_url", u.as_str()),
            ("database_max_connections", "16"),
        ],
        None => vec![],
    };
    let (url, _dir) = start(&settings, None).await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
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
    let base = std::env::var("HPCBOT_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let name = format!("hpcbot_bench_{}", std::process::id());
    {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&format!("{base}/postgres"))
            .await
            .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut c)
            .await
            .unwrap();
    }
    let pg = bookings_on("PostgreSQL", Some(format!("{base}/{name}")), 10).await;
    println!("RESULT PostgreSQL / SQLite = {:.2}", pg / sqlite);
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(&format!("{base}/postgres"))
        .await
        .unwrap();
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut c)
    .await;
}

/// CPU seconds (user + system) a process has used so far.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// Resident memory of a process, in MiB.
fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("VmRSS:").map(|v| {
                    v.trim()
                        .trim_end_matches(" kB")
                        .trim()
                        .parse::<f64>()
                        .unwrap_or(0.0)
                })
            })
        })
        .unwrap_or(0.0)
        / 1024.0
}

async fn llm() {
    let mock = hpcbot::assistant::llm::mock::MockLlm::start().await;
    mock.delay(Duration::from_millis(300));
    mock.otherwise(hpcbot::assistant::llm::mock::Behavior::Text(
        "The A100-80GB is free then.".into(),
    ));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_hpcbot"))
        .arg("serve")
        .env("HPCBOT_LISTEN", format!("127.0.0.1:{port}"))
        .env("HPCBOT_DATA_DIR", dir.path())
        .env("HPCBOT_LLM_BASE_URL", &mock.base_url)
        .env("HPCBOT_MAX_IN_FLIGHT", "4096")
        .env("HPCBOT_LOG", "warn")
        .spawn()
        .expect("the hpcbot binary");
    let url = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    while client.get(format!("{url}/health")).send().await.is_err() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let before = rss_mib(server.id());
    load(&url, 100, 2, Mode::Session, None).await;
    let (cpu0, me0) = (cpu_secs(server.id()), cpu_secs(std::process::id()));
    let r = load(&url, 1000, 15, Mode::Session, None).await;
    let (cpu1, me1) = (cpu_secs(server.id()), cpu_secs(std::process::id()));
    let after = rss_mib(server.id());
    println!(
        "CPU: server {:.2} s ({:.0} µs/turn), load generator + mock {:.2} s, over {:.1} s on 2 cores",
        cpu1 - cpu0,
        (cpu1 - cpu0) * 1e6 / r.ok.max(1) as f64,
        me1 - me0,
        r.seconds
    );
    println!("llm-bound  : {}", r.text().replace('\n', "\n             "));
    let ideal = 1000.0 / 0.3;
    println!(
        "RESULT llm-bound turns/s {:.0} of ideal {:.0} → {:.3} (goal >= 0.9); p50 − 300 ms = {:.1} ms; p99 − 300 ms = {:.1} ms (goal < 20); server RSS {:.1} MiB at start, {:.1} MiB after {} sessions",
        r.throughput_per_s,
        ideal,
        r.throughput_per_s / ideal,
        r.latency_ms["p50"] - 300.0,
        r.latency_ms["p99"] - 300.0,
        before,
        after,
        r.sessions
    );
    let _ = server.kill();
}

fn main() {
    let which: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let all = which.is_empty();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    if all || which.iter().any(|w| w == "turns") {
        rt.block_on(turns());
    }
    if all || which.iter().any(|w| w == "llm") {
        rt.block_on(llm());
    }
    if all || which.iter().any(|w| w == "bookings") {
        rt.block_on(bookings());
    }
}
