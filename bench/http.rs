//! HTTP load benchmarks against the real server, in-process on 127.0.0.1:0, with the
//! load generator of `hpcbot loadtest`. Each figure is reported beside a baseline measured
//! in the same run.
//!
//! `cargo bench --bench http -- turns` — chat turns with an instant test assistant at 256
//!   concurrent sessions, beside the server's trivial JSON echo route (goal: >= 50%).
//! `cargo bench --bench http -- llm` — 1,000 concurrent sessions whose turns go to a mock
//!   LLM answering after 300 ms: turns/s against the ideal 1000 / 0.3 s, p99 − 300 ms, and
//!   the server process's memory (the real `hpcbot serve` binary, in its own process).
//! `cargo bench --bench http -- turncost` — server CPU per LLM turn (mock answering at
//!   once, 64 users, 10 s) with memory and with durable sessions, beside the echo route.
//! `cargo bench --bench http -- builtin` — the built-in assistant: direct questions and
//!   session turns (64 users), beside the echo route.
//! `cargo bench --bench http -- hol` — head-of-line: other sessions' p99 while one
//!   session's upstream call hangs, beside the same load without the hang (goal <= 1.1).
//! `cargo bench --bench http -- overload` — twice the in-flight limit: shed requests'
//!   latency (goal < 10 ms) and the admitted ones' p99 beside a run at the limit.
//! `cargo bench --bench http -- memory` — bytes per idle session (100k sessions x 10 turns).
//! `cargo bench --bench http -- durable` — built-in session turns/s with `sessions =
//!   "database"` on SQLite and on PostgreSQL, each beside `sessions = "memory"` measured in the
//!   same run (goal: >= 0.5).
//! `cargo bench --bench http -- bookings` — bookings/s with 64 concurrent clients on
//!   SQLite and on PostgreSQL (`HPCBOT_TEST_POSTGRES`, default postgres://postgres@127.0.0.1:5432).
//! `cargo bench --bench http -- waitlist` — bookings/s with 1,000 entries waiting beside none.
//! `cargo bench --bench http -- webhooks` — bookings/s with 3 webhooks registered (one dead,
//!   then one hanging) beside none, same run, SQLite and PostgreSQL (goal >= 0.9).
//! `cargo bench --bench http -- limits` — bookings/s with the project's budget checked
//! beside without (quotas in both), same run, SQLite and PostgreSQL.
//! `cargo bench --bench http -- idem` — bookings/s with an `Idempotency-Key` on every request
//!   beside the same load without (SQLite, same run; goal >= 0.8).
//! `cargo bench --bench http -- patch` — PATCH/s beside POST/s, on SQLite and PostgreSQL.
//! `cargo bench --bench http -- slots` — `GET /api/slots` latency with 10,000 bookings on
//!   one model (goal p99 < 5 ms).

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
            proposal: None,
        })
    }
}

async fn start(
    settings: &[(&str, &str)],
    assistant: Option<Arc<dyn Assistant>>,
) -> (String, tempfile::TempDir) {
    let (url, dir, stop) = start_stoppable(settings, assistant).await;
    // Runs until the bench process ends.
    std::mem::forget(stop);
    (url, dir)
}

/// [`start`], with the sender that shuts the server down (and its background work, such as
/// webhook deliveries, which would otherwise go on beside the next run).
async fn start_stoppable(
    settings: &[(&str, &str)],
    assistant: Option<Arc<dyn Assistant>>,
) -> (String, tempfile::TempDir, tokio::sync::oneshot::Sender<()>) {
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
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server::serve(state, listener, async move {
        let _ = stopped.await;
    }));
    (url, dir, stop)
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
        honour_retry_after: true,
        ramp_up: Duration::ZERO,
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

/// What the booking load sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Write {
    /// `POST /api/bookings`.
    Post,
    /// The same with a fresh `Idempotency-Key` on every request.
    PostKeyed,
    /// `PATCH /api/bookings/{id}`: each client moves the end of its own booking.
    Patch,
}

/// 64 clients booking one GPU each over spread-out slots for `secs` seconds.
async fn bookings_on(label: &str, database_url: Option<String>, secs: u64) -> f64 {
    writes_on(label, database_url, secs, Write::Post).await
}

/// 64 clients writing (`what`) for `secs` seconds; returns the successful writes per second.
async fn writes_on(label: &str, database_url: Option<String>, secs: u64, what: Write) -> f64 {
    writes_with(label, database_url, secs, what, &[]).await
}

/// [`writes_on`] with more settings (`extra`).
async fn writes_with(
    label: &str,
    database_url: Option<String>,
    secs: u64,
    what: Write,
    extra: &[(&str, &str)],
) -> f64 {
    writes_after(label, database_url, secs, what, extra, Before::Nothing).await
}

/// What is set up on the server before the clients start writing.
enum Before {
    /// Nothing.
    Nothing,
    /// This many waitlist entries that cannot be offered.
    Waiting(usize),
    /// These webhook URLs registered (every event type).
    Webhooks(Vec<String>),
}

/// `waiting` waitlist entries that cannot be offered (all 8 H100s of their window are
/// booked), so that every offer pass reads them all while the clients write.
async fn wait_in_line(client: &reqwest::Client, url: &str, waiting: usize) {
    let at = chrono::Utc::now() + chrono::Duration::days(360);
    let end = at + chrono::Duration::hours(1);
    let full = json!({"model": "H100", "count": 8, "start": at, "end": end});
    let r = client
        .post(format!("{url}/api/bookings"))
        .json(&full)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    for _ in 0..waiting {
        let r = client
            .post(format!("{url}/api/waitlist"))
            .json(&full)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
    }
}

/// [`writes_with`] after `before` is set up.
async fn writes_after(
    label: &str,
    database_url: Option<String>,
    secs: u64,
    what: Write,
    extra: &[(&str, &str)],
    before: Before,
) -> f64 {
    let mut settings: Vec<(&str, &str)> = match &database_url {
        Some(u) => vec![
            ("database_url", u.as_str()),
            ("database_max_connections", "16"),
        ],
        None => vec![],
    };
    settings.extend_from_slice(extra);
    let (url, _dir, stop) = start_stoppable(&settings, None).await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let base = chrono::Utc::now() + chrono::Duration::days(1);
    match &before {
        Before::Nothing => {}
        Before::Waiting(n) => wait_in_line(&client, &url, *n).await,
        Before::Webhooks(hooks) => {
            for h in hooks {
                let r = client
                    .post(format!("{url}/api/admin/webhooks"))
                    .json(&json!({"url": h}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status().as_u16(), 201);
            }
        }
    }
    // For PATCH: every client's own booking, made before the clock starts.
    let mut own = Vec::new();
    if what == Write::Patch {
        for u in 0..64i64 {
            let model = ["A100", "H100", "L40S", "V100", "4090"][(u % 5) as usize];
            let start = base + chrono::Duration::minutes(u * WINDOW_MINUTES);
            let sid: serde_json::Value = client
                .post(format!("{url}/api/sessions"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let sid = sid["session_id"].as_str().unwrap().to_string();
            let r: serde_json::Value = client
                .post(format!("{url}/api/bookings"))
                .json(&json!({"model": model, "count": 1, "start": start, "end": start + chrono::Duration::minutes(15), "session_id": sid}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            own.push(format!("{}?session_id={sid}", r["id"].as_str().unwrap()));
        }
    }
    let until = Instant::now() + Duration::from_secs(secs);
    let tasks: Vec<_> = (0..64)
        .map(|u| {
            let (client, url) = (client.clone(), url.clone());
            let mine = own.get(u as usize).cloned();
            tokio::spawn(async move {
                let (mut ok, mut conflict, mut i) = (0u64, 0u64, 0i64);
                while Instant::now() < until {
                    let r = match what {
                        Write::Post | Write::PostKeyed => {
                            // Each client walks its own quarter hours; models rotate: free slots.
                            let start = base + chrono::Duration::minutes(u * WINDOW_MINUTES + i * 15);
                            let model = ["A100", "H100", "L40S", "V100", "4090"][(i % 5) as usize];
                            let mut req = client.post(format!("{url}/api/bookings")).json(&json!({"model": model, "count": 1, "start": start, "end": start + chrono::Duration::minutes(15)}));
                            if what == Write::PostKeyed {
                                req = req.header("idempotency-key", format!("bench-{u}-{i}"));
                            }
                            req.send().await.unwrap()
                        }
                        Write::Patch => {
                            let start = base + chrono::Duration::minutes(u * WINDOW_MINUTES);
                            let end = start + chrono::Duration::minutes(30 + 15 * (i % 2));
                            let id = mine.as_deref().unwrap();
                            client.patch(format!("{url}/api/bookings/{id}")).json(&json!({"end": end})).send().await.unwrap()
                        }
                    };
                    i += 1;
                    match r.status().as_u16() {
                        200 | 201 => ok += 1,
                        // 409: taken; 503: the store's bound passed (SQLite's one writer).
                        409 | 503 => conflict += 1,
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
    let _ = stop.send(());
    println!("RESULT {what:?} {label}: {rate:.0}/s ({ok} made, {conflict} refused (409/503), 64 clients, {secs} s)");
    rate
}

/// Each of the 64 clients of [`writes_on`] books in its own window of this many minutes (five
/// days: all 64 fit in the `max_advance` of a year).
const WINDOW_MINUTES: i64 = 5 * 24 * 60;

/// A fresh PostgreSQL database for a bench; dropped by [`drop_pg`].
async fn fresh_pg(tag: &str) -> (String, String) {
    let base = std::env::var("HPCBOT_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let name = format!("hpcbot_bench_{tag}_{}", std::process::id());
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(&format!("{base}/postgres"))
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut c)
        .await
        .unwrap();
    (format!("{base}/{name}"), name)
}

async fn drop_pg(name: &str) {
    let base = std::env::var("HPCBOT_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
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

/// Bookings/s with a key on every request beside without, same run, SQLite and PostgreSQL.
async fn idem() {
    let plain = writes_on("SQLite", None, 10, Write::Post).await;
    let keyed = writes_on("SQLite", None, 10, Write::PostKeyed).await;
    println!(
        "RESULT SQLite keyed / plain = {:.2} (goal >= 0.8)",
        keyed / plain
    );
    let (url, name) = fresh_pg("plain").await;
    let plain = writes_on("PostgreSQL", Some(url), 10, Write::Post).await;
    drop_pg(&name).await;
    let (url, name) = fresh_pg("keyed").await;
    let keyed = writes_on("PostgreSQL", Some(url), 10, Write::PostKeyed).await;
    drop_pg(&name).await;
    println!(
        "RESULT PostgreSQL keyed / plain = {:.2} (goal >= 0.8)",
        keyed / plain
    );
}

/// Bookings/s with the project's budget checked (a large one, so every booking fits) beside
/// without, same run, SQLite and PostgreSQL. Quotas are checked in both (they have no off).
async fn limits() {
    let budget = [("budget", "100000000")];
    let off = writes_on("SQLite", None, 10, Write::Post).await;
    let on = writes_with("SQLite", None, 10, Write::Post, &budget).await;
    println!(
        "RESULT SQLite budget on / off = {:.2} (goal >= 0.8)",
        on / off
    );
    let (url, name) = fresh_pg("boff").await;
    let off = writes_on("PostgreSQL", Some(url), 10, Write::Post).await;
    drop_pg(&name).await;
    let (url, name) = fresh_pg("bon").await;
    let on = writes_with("PostgreSQL", Some(url), 10, Write::Post, &budget).await;
    drop_pg(&name).await;
    println!(
        "RESULT PostgreSQL budget on / off = {:.2} (goal >= 0.8)",
        on / off
    );
}

/// Bookings/s with 1,000 entries waiting in line beside none, same run, SQLite and
/// PostgreSQL (issue 21: goal >= 0.8). The entries cannot be offered, so every offer pass
/// (each 10 s, and on every freeing write) reads them all.
async fn waitlist() {
    let none = writes_on("SQLite", None, 10, Write::Post).await;
    let many = writes_after("SQLite", None, 10, Write::Post, &[], Before::Waiting(1000)).await;
    println!(
        "RESULT SQLite 1000 waiting / none = {:.2} (goal >= 0.8)",
        many / none
    );
    let (url, name) = fresh_pg("wnone").await;
    let none = writes_on("PostgreSQL", Some(url), 10, Write::Post).await;
    drop_pg(&name).await;
    let (url, name) = fresh_pg("wmany").await;
    let many = writes_after(
        "PostgreSQL",
        Some(url),
        10,
        Write::Post,
        &[],
        Before::Waiting(1000),
    )
    .await;
    drop_pg(&name).await;
    println!(
        "RESULT PostgreSQL 1000 waiting / none = {:.2} (goal >= 0.8)",
        many / none
    );
}

/// A webhook receiver on 127.0.0.1 answering 200 to every POST; its URL and the count of
/// requests it got.
async fn receiver() -> (String, Arc<std::sync::atomic::AtomicU64>) {
    let got = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            async { "ok" }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

/// Bookings/s with 3 webhooks registered — two receivers answering at once and one dead
/// (its port refuses connections, so every event is retried) — beside none, same run,
/// SQLite and PostgreSQL (issue 20: goal >= 0.9). Every booking writes its deliveries in
/// its transaction; the sending happens beside, in the delivery worker.
async fn webhooks() {
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/hook", l.local_addr().unwrap())
    };
    let (one, got_one) = receiver().await;
    let (two, got_two) = receiver().await;
    let hanging = {
        // Accepts and reads the request, never answers: every attempt runs to webhook_timeout.
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(std::future::pending::<&'static str>),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    };
    let local = [("webhook_allowed_hosts", "127.0.0.1")];
    for (third, hooks) in [
        ("dead", vec![one.clone(), two.clone(), dead]),
        ("hanging", vec![one, two, hanging]),
    ] {
        for pg in [false, true] {
            let label = if pg { "PostgreSQL" } else { "SQLite" };
            // Twice each, alternating (none, three, none, three): the order of runs in one
            // process moves a single pair by several percent.
            let (mut none, mut three) = (0.0, 0.0);
            for round in 0..4 {
                let (url, name) = if pg {
                    let (u, n) = fresh_pg(&format!("hook{round}")).await;
                    (Some(u), Some(n))
                } else {
                    (None, None)
                };
                let before = if round % 2 == 0 {
                    Before::Nothing
                } else {
                    Before::Webhooks(hooks.clone())
                };
                let rate = writes_after(label, url, 10, Write::Post, &local, before).await;
                if round % 2 == 0 {
                    none += rate;
                } else {
                    three += rate;
                }
                if let Some(n) = name {
                    drop_pg(&n).await;
                }
            }
            let got =
                |c: &std::sync::atomic::AtomicU64| c.swap(0, std::sync::atomic::Ordering::Relaxed);
            println!(
                "RESULT {label} 3 webhooks (1 {third}) / none = {:.2} (goal >= 0.9); the live \
             receivers got {} and {} deliveries during the two runs",
                three / none,
                got(&got_one),
                got(&got_two)
            );
        }
    }
}

/// PATCH/s beside POST/s on SQLite and PostgreSQL.
async fn patch() {
    let post = writes_on("SQLite", None, 10, Write::Post).await;
    let patch = writes_on("SQLite", None, 10, Write::Patch).await;
    println!(
        "RESULT SQLite PATCH/s {patch:.0} vs POST/s {post:.0} → {:.2}",
        patch / post
    );
    let (url, name) = fresh_pg("post").await;
    let post = writes_on("PostgreSQL", Some(url), 10, Write::Post).await;
    drop_pg(&name).await;
    let (url, name) = fresh_pg("patch").await;
    let patch = writes_on("PostgreSQL", Some(url), 10, Write::Patch).await;
    drop_pg(&name).await;
    println!(
        "RESULT PostgreSQL PATCH/s {patch:.0} vs POST/s {post:.0} → {:.2}",
        patch / post
    );
}

/// `GET /api/slots` with 10,000 bookings on one model: latency of one client's requests.
async fn slots() {
    use hpcbot::domain::{Booking, BookingId, BookingStatus, Cents, Interval, Owner};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let config = Config::defaults_with(&[("data_dir", data.as_str())]).unwrap();
    let state = server::build(config, Overrides::default()).await.unwrap();
    let store = state.tools.store().clone();
    let inv = store.inventory().await.unwrap();
    let m = inv.find("a100").unwrap().clone();
    // 10,000 quarter-hour bookings of one device each over the next weeks, back to back
    // with a 2-hour gap after every tenth or so (a fixed LCG, so every run sees the same):
    // a 1-hour window with 2 devices free is rare, so a search sweeps many edges.
    let t0 = chrono::Utc::now() + chrono::Duration::hours(1);
    let t0 = chrono::DateTime::from_timestamp(t0.timestamp() / 3600 * 3600, 0).unwrap();
    let mut list = Vec::new();
    let mut seed: u64 = 42;
    let mut next_free = vec![t0; m.devices.len()];
    while list.len() < 10_000 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let d = (seed >> 33) as usize % m.devices.len();
        let gap = if (seed >> 13).is_multiple_of(10) {
            chrono::Duration::hours(2)
        } else {
            chrono::Duration::zero()
        };
        let start = next_free[d] + gap;
        let end = start + chrono::Duration::minutes(15);
        next_free[d] = end;
        list.push(Booking {
            id: BookingId::new(),
            owner: Owner::user("bench"),
            model: m.name.clone(),
            gpus: vec![m.devices[d].clone()],
            interval: Interval::new(start, end).unwrap(),
            price_total: Cents(0),
            status: BookingStatus::Confirmed,
            created_at: chrono::Utc::now(),
            series: None,
            project: hpcbot::domain::ProjectName::default_project(),
        });
    }
    let horizon = next_free.iter().max().unwrap();
    store.import(None, Some(list)).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(server::serve(state, listener, std::future::pending()));
    let client = reqwest::Client::new();
    let q = format!(
        "{url}/api/slots?model=A100&count=2&duration=1h&limit=5&after={}",
        t0.to_rfc3339().replace('+', "%2B")
    );
    let mut hist = hdrhistogram::Histogram::<u64>::new(3).unwrap();
    for i in 0..2200 {
        let t = Instant::now();
        let r = client.get(&q).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let v: serde_json::Value = r.json().await.unwrap();
        if i >= 200 {
            hist.record(t.elapsed().as_micros() as u64).unwrap();
        } else if i == 0 {
            println!(
                "first slot: {} (bookings up to {horizon})",
                v["slots"][0]["start"]
            );
        }
    }
    // The baseline in the same run: the trivial echo route.
    let mut echo = hdrhistogram::Histogram::<u64>::new(3).unwrap();
    for _ in 0..2000 {
        let t = Instant::now();
        let r = client
            .post(format!("{url}/debug/echo"))
            .json(&json!({"a": 1}))
            .send()
            .await
            .unwrap();
        let _ = r.bytes().await.unwrap();
        echo.record(t.elapsed().as_micros() as u64).unwrap();
    }
    println!(
        "RESULT slots with 10,000 bookings on one model: p50 {:.2} ms, p99 {:.2} ms (goal p99 < 5 ms); echo route p50 {:.2} ms, p99 {:.2} ms",
        hist.value_at_quantile(0.5) as f64 / 1000.0,
        hist.value_at_quantile(0.99) as f64 / 1000.0,
        echo.value_at_quantile(0.5) as f64 / 1000.0,
        echo.value_at_quantile(0.99) as f64 / 1000.0,
    );
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

/// The real `hpcbot serve` in its own process, with a mock LLM answering after 300 ms.
async fn llm_server(
    max_in_flight: &str,
) -> (
    hpcbot::assistant::llm::mock::MockLlm,
    std::process::Child,
    String,
    tempfile::TempDir,
) {
    llm_server_with(Duration::from_millis(300), max_in_flight, &[]).await
}

/// [`llm_server`] with the mock's delay and more settings (as `HPCBOT_*` variables).
async fn llm_server_with(
    delay: Duration,
    max_in_flight: &str,
    env: &[(&str, &str)],
) -> (
    hpcbot::assistant::llm::mock::MockLlm,
    std::process::Child,
    String,
    tempfile::TempDir,
) {
    let mock = hpcbot::assistant::llm::mock::MockLlm::start().await;
    mock.delay(delay);
    mock.otherwise(hpcbot::assistant::llm::mock::Behavior::Text(
        "The A100-80GB is free then.".into(),
    ));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let server = std::process::Command::new(env!("CARGO_BIN_EXE_hpcbot"))
        .arg("serve")
        .env("HPCBOT_LISTEN", format!("127.0.0.1:{port}"))
        .env("HPCBOT_DATA_DIR", dir.path())
        .env("HPCBOT_LLM_BASE_URL", &mock.base_url)
        .env("HPCBOT_MAX_IN_FLIGHT", max_in_flight)
        .env("HPCBOT_REQUEST_TIMEOUT", "120s")
        .env("HPCBOT_LOG", "warn")
        .envs(env.iter().copied())
        .spawn()
        .expect("the hpcbot binary");
    let url = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    while client.get(format!("{url}/health")).send().await.is_err() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (mock, server, url, dir)
}

async fn hol() {
    let (mock, mut server, url, _dir) = llm_server("4096").await;
    load(&url, 100, 2, Mode::Session, None).await;
    let base = load(&url, 200, 10, Mode::Session, None).await;
    // One session's upstream call hangs for the whole run.
    mock.push(hpcbot::assistant::llm::mock::Behavior::Hang);
    let before = mock.requests();
    let stuck = {
        let url = url.clone();
        tokio::spawn(async move {
            reqwest::Client::new()
                .post(format!("{url}/api/chat"))
                .json(&json!({"message": "stuck"}))
                .send()
                .await
        })
    };
    while mock.requests() == before {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let with = load(&url, 200, 10, Mode::Session, None).await;
    assert!(
        !stuck.is_finished(),
        "the stuck turn was stuck for the whole run"
    );
    stuck.abort();
    println!(
        "RESULT head-of-line: other sessions' p99 {:.1} ms with one hung upstream call vs {:.1} ms without → ratio {:.3} (goal <= 1.1); turns/s {:.0} vs {:.0}",
        with.latency_ms["p99"], base.latency_ms["p99"], with.latency_ms["p99"] / base.latency_ms["p99"], with.throughput_per_s, base.throughput_per_s
    );
    let _ = server.kill();
}

async fn overload() {
    let (_mock, mut server, url, _dir) = llm_server("100").await;
    load(&url, 50, 2, Mode::Session, None).await;
    let at_limit = load(&url, 100, 10, Mode::Session, None).await;
    let over = load(&url, 200, 10, Mode::Session, None).await;
    let shed = over.errors.get("503 overloaded").copied().unwrap_or(0);
    let e = over.error_latency_ms.clone().unwrap_or_default();
    println!(
        "RESULT overload (limit 100, 200 users honouring Retry-After): {shed} shed, shed latency p50 {:.2} ms p99 {:.2} ms max {:.2} ms (goal < 10); admitted p99 {:.1} ms vs {:.1} ms at the limit; admitted turns/s {:.0} vs {:.0}",
        e.get("p50").copied().unwrap_or(0.0), e.get("p99").copied().unwrap_or(0.0), e.get("max").copied().unwrap_or(0.0),
        over.latency_ms["p99"], at_limit.latency_ms["p99"], over.throughput_per_s, at_limit.throughput_per_s
    );
    let _ = server.kill();
}

/// Bytes per idle session in the in-memory store: 100k sessions with 10 turns each.
async fn memory() {
    use hpcbot::domain::{Owner, SessionId};
    use hpcbot::store::memory::MemorySessions;
    use hpcbot::store::sessions::{Message, Role, SessionRecord, SessionStore, TurnRecord};
    let store = MemorySessions::new(200_000);
    let now = chrono::Utc::now();
    let user = "is an H100 free tomorrow 9-12?";
    let reply = "Yes — **8 of 8** H100-80GB GPUs are free Fri 27 Nov 09:00–12:00 UTC, so 1 can be booked. Say *book it* to reserve one.";
    let before = rss_mib(std::process::id());
    for _ in 0..100_000 {
        let id = SessionId::new();
        store
            .create(SessionRecord::new(
                id.clone(),
                Owner::session(&id),
                now,
                now + chrono::Duration::hours(24),
            ))
            .await
            .unwrap();
        for t in 0..10 {
            let m = |role, content: &str| Message {
                role,
                content: content.to_string(),
                at: now,
            };
            let state =
                json!({"topic": "availability", "context": {"model": "H100-80GB", "count": 1}});
            store
                .commit_turn(
                    &id,
                    t,
                    TurnRecord {
                        user: m(Role::User, user),
                        assistant: m(Role::Assistant, reply),
                        state,
                        expires_at: now + chrono::Duration::hours(24),
                    },
                )
                .await
                .unwrap();
        }
    }
    let after = rss_mib(std::process::id());
    let per = (after - before) * 1024.0 * 1024.0 / 100_000.0;
    let payload = 10 * (user.len() + reply.len());
    println!("RESULT memory per idle session: {per:.0} bytes (100k sessions x 10 turns; message text alone {payload} bytes; RSS {before:.1} → {after:.1} MiB)");
}

/// The built-in assistant answering real questions: session turns and direct questions.
async fn builtin() {
    let (url, _dir) = start(&[], None).await;
    let msgs = [
        "what gpus do you have",
        "is an a100 free tomorrow 9-12?",
        "how much is an h100 for 3 hours",
        "my bookings",
    ];
    let run = |mode, turns| {
        let url = url.clone();
        async move {
            loadtest::run(LoadOptions {
                url,
                users: 64,
                duration: Duration::from_secs(10),
                turns,
                mode,
                verify: mode == Mode::Session,
                allow_remote: false,
                progress: false,
                messages: msgs.map(String::from).to_vec(),
                honour_retry_after: true,
                ramp_up: Duration::ZERO,
            })
            .await
            .unwrap()
        }
    };
    run(Mode::Direct, None).await;
    let direct = run(Mode::Direct, None).await;
    let session = run(Mode::Session, Some(10)).await;
    let echo = load(&url, 64, 10, Mode::Echo, None).await;
    for (name, r) in [("direct", &direct), ("session", &session), ("echo", &echo)] {
        println!(
            "RESULT builtin {name}: {:.0}/s p50 {:.2} ms p99 {:.2} ms errors {} lost turns {}",
            r.throughput_per_s,
            r.latency_ms["p50"],
            r.latency_ms["p99"],
            r.errors.values().sum::<u64>(),
            r.sessions_with_lost_turns.unwrap_or(0)
        );
    }
}

/// Built-in session turns (64 users, 10 turns a session) on a server with `settings`.
async fn builtin_turns_on(settings: &[(&str, &str)]) -> Report {
    let (url, _dir) = start(settings, None).await;
    let msgs = [
        "what gpus do you have",
        "is an a100 free tomorrow 9-12?",
        "how much is an h100 for 3 hours",
        "my bookings",
    ];
    let run = |secs| {
        let url = url.clone();
        async move {
            loadtest::run(LoadOptions {
                url,
                users: 64,
                duration: Duration::from_secs(secs),
                turns: Some(10),
                mode: Mode::Session,
                verify: true,
                allow_remote: false,
                progress: false,
                messages: msgs.map(String::from).to_vec(),
                honour_retry_after: true,
                ramp_up: Duration::ZERO,
            })
            .await
            .unwrap()
        }
    };
    run(2).await;
    run(10).await
}

/// Durable sessions against in-memory ones, in the same run.
async fn durable() {
    let pg_base = std::env::var("HPCBOT_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let pg = fresh_pg_url(&pg_base).await;
    // `HPCBOT_BENCH_DURABLE=postgres` runs the PostgreSQL pair only (for profiling it).
    let pg_only = std::env::var("HPCBOT_BENCH_DURABLE").is_ok_and(|v| v == "postgres");
    let (memory, sqlite) = if pg_only {
        (None, None)
    } else {
        let memory = builtin_turns_on(&[("sessions", "memory")]).await;
        (
            Some(memory),
            Some(builtin_turns_on(&[("sessions", "database")]).await),
        )
    };
    // PostgreSQL waits for its WAL flush at each commit; commits of concurrent connections
    // share a flush, so the pool size (the same for both runs) sets how many do.
    let pool = std::env::var("HPCBOT_BENCH_PG_POOL").unwrap_or_else(|_| "32".into());
    // The baseline first, as on SQLite, and each run after a checkpoint: a run would else
    // share the machine with PostgreSQL writing out the WAL of the run before it (also of
    // an earlier bench), which moved the memory baseline by a third between runs.
    checkpoint(&pg_base).await;
    let memory_pg = builtin_turns_on(&[
        ("sessions", "memory"),
        ("database_url", pg.as_str()),
        ("database_max_connections", pool.as_str()),
    ])
    .await;
    checkpoint(&pg_base).await;
    let postgres = builtin_turns_on(&[
        ("sessions", "database"),
        ("database_url", pg.as_str()),
        ("database_max_connections", pool.as_str()),
    ])
    .await;
    let sqlite_pair = sqlite.as_ref().zip(memory.as_ref());
    let pairs = sqlite_pair
        .map(|(r, base)| ("database (SQLite) vs memory", r, base))
        .into_iter()
        .chain([(
            "database (PostgreSQL) vs memory (bookings on PostgreSQL)",
            &postgres,
            &memory_pg,
        )]);
    for (label, r, base) in pairs {
        println!(
            "RESULT durable sessions, {label}: {:.0} vs {:.0} turns/s → ratio {:.2} (goal >= 0.50); p50 {:.2} vs {:.2} ms, p99 {:.2} vs {:.2} ms; errors {}; lost turns {}",
            r.throughput_per_s,
            base.throughput_per_s,
            r.throughput_per_s / base.throughput_per_s,
            r.latency_ms["p50"],
            base.latency_ms["p50"],
            r.latency_ms["p99"],
            base.latency_ms["p99"],
            r.errors.values().sum::<u64>(),
            r.sessions_with_lost_turns.unwrap_or(0)
        );
    }
}

/// Waits for PostgreSQL to write out its dirty buffers (`CHECKPOINT`), so the next run does
/// not share the machine with the last one's writes.
async fn checkpoint(base: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&format!("{base}/postgres"))
        .await
        .expect("PostgreSQL for the durable benchmark");
    sqlx::query("CHECKPOINT").execute(&mut conn).await.unwrap();
}

/// A new, empty PostgreSQL database under `base`; returns its URL.
async fn fresh_pg_url(base: &str) -> String {
    use sqlx::Connection;
    let name = format!("hpcbot_bench_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&format!("{base}/postgres"))
        .await
        .expect("PostgreSQL for the durable benchmark");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    format!("{base}/{name}")
}

async fn llm() {
    let (_mock, mut server, url, _dir) = llm_server("4096").await;
    let before = rss_mib(server.id());
    // Warm up at full size: connections, sessions and allocator pools exist before measuring.
    loadtest::run(LoadOptions {
        url: url.clone(),
        users: 1000,
        duration: Duration::from_secs(5),
        turns: None,
        mode: Mode::Session,
        verify: false,
        allow_remote: false,
        progress: false,
        messages: vec!["hello".into()],
        honour_retry_after: true,
        ramp_up: Duration::from_millis(300),
    })
    .await
    .unwrap();
    // Starts spread over one upstream delay (300 ms), as real sessions do not all send at
    // the same instant; then the same load in lock-step (all 1,000 start together, so every
    // 300 ms a wave of 1,000 turns queues for the 2 cores).
    for (label, ramp) in [
        ("starts spread over 300 ms", Duration::from_millis(300)),
        ("all starting at once", Duration::ZERO),
    ] {
        let (cpu0, me0) = (cpu_secs(server.id()), cpu_secs(std::process::id()));
        let r = loadtest::run(LoadOptions {
            url: url.clone(),
            users: 1000,
            duration: Duration::from_secs(15),
            turns: None,
            mode: Mode::Session,
            verify: true,
            allow_remote: false,
            progress: false,
            messages: vec!["hello".into()],
            honour_retry_after: true,
            ramp_up: ramp,
        })
        .await
        .unwrap();
        let (cpu1, me1) = (cpu_secs(server.id()), cpu_secs(std::process::id()));
        println!(
            "RESULT llm-bound, {label}: {:.0} turns/s of ideal 3333 → {:.3} (goal >= 0.9); p50 − 300 ms = {:.1} ms; p99 − 300 ms = {:.1} ms (goal < 20); lost turns {}; CPU: server {:.0} µs/turn, load generator + mock {:.1} s over {:.1} s; server RSS {:.1} MiB",
            r.throughput_per_s,
            r.throughput_per_s / (1000.0 / 0.3),
            r.latency_ms["p50"] - 300.0,
            r.latency_ms["p99"] - 300.0,
            r.sessions_with_lost_turns.unwrap_or(0),
            (cpu1 - cpu0) * 1e6 / r.ok.max(1) as f64,
            me1 - me0,
            r.seconds,
            rss_mib(server.id())
        );
    }
    println!("server RSS at start {before:.1} MiB");
    let _ = server.kill();
}

/// Server CPU per request while `users` clients send for `secs`: (report, µs per answered
/// request), from the server process's own CPU time.
async fn cpu_per_request(pid: u32, url: &str, secs: u64, mode: Mode) -> (Report, f64) {
    let cpu0 = cpu_secs(pid);
    // Not verified: reading every session back afterwards would be counted as its turns' CPU.
    let r = loadtest::run(LoadOptions {
        url: url.into(),
        users: 64,
        duration: Duration::from_secs(secs),
        turns: (mode == Mode::Session).then_some(10),
        mode,
        verify: false,
        allow_remote: false,
        progress: false,
        messages: vec!["is an a100 free tomorrow 9-12?".into()],
        honour_retry_after: true,
        ramp_up: Duration::ZERO,
    })
    .await
    .unwrap();
    let cpu = cpu_secs(pid) - cpu0;
    let per = cpu * 1e6 / r.ok.max(1) as f64;
    (r, per)
}

/// What an LLM turn costs the server: CPU µs per turn with a mock LLM answering at once,
/// 64 users, 10 s of session turns (10 a session), with memory and with durable (SQLite)
/// sessions, each beside the echo route of the same server in the same run.
async fn turncost() {
    for sessions in ["memory", "database"] {
        let (_mock, mut server, url, _dir) =
            llm_server_with(Duration::ZERO, "4096", &[("HPCBOT_SESSIONS", sessions)]).await;
        let pid = server.id();
        // Warm up: connections, sessions, allocator pools.
        load(&url, 64, 2, Mode::Session, Some(10)).await;
        load(&url, 64, 1, Mode::Echo, None).await;
        let (echo, echo_us) = cpu_per_request(pid, &url, 5, Mode::Echo).await;
        let (r, turn_us) = cpu_per_request(pid, &url, 10, Mode::Session).await;
        println!(
            "RESULT turn cost, {sessions} sessions: server {turn_us:.0} µs CPU per LLM turn ({:.0} turns/s, p99 {:.2} ms, errors {}); echo route {echo_us:.1} µs CPU per request ({:.0} req/s); ratio {:.1}× echo (goal: memory ≤ 150 µs, database ≤ 250 µs)",
            r.throughput_per_s,
            r.latency_ms["p99"],
            r.errors.values().sum::<u64>(),
            echo.throughput_per_s,
            turn_us / echo_us.max(0.001),
        );
        let _ = server.kill();
        let _ = server.wait();
    }
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
    if all || which.iter().any(|w| w == "turncost") {
        rt.block_on(turncost());
    }
    for (name, f) in [("builtin", 3), ("hol", 0), ("overload", 1), ("memory", 2)] {
        if all || which.iter().any(|w| w == name) {
            match f {
                0 => rt.block_on(hol()),
                1 => rt.block_on(overload()),
                3 => rt.block_on(builtin()),
                _ => rt.block_on(memory()),
            }
        }
    }
    if all || which.iter().any(|w| w == "bookings") {
        rt.block_on(bookings());
    }
    if all || which.iter().any(|w| w == "durable") {
        rt.block_on(durable());
    }
    if all || which.iter().any(|w| w == "idem") {
        rt.block_on(idem());
    }
    if all || which.iter().any(|w| w == "limits") {
        rt.block_on(limits());
    }
    if all || which.iter().any(|w| w == "waitlist") {
        rt.block_on(waitlist());
    }
    if all || which.iter().any(|w| w == "webhooks") {
        rt.block_on(webhooks());
    }
    if all || which.iter().any(|w| w == "patch") {
        rt.block_on(patch());
    }
    if all || which.iter().any(|w| w == "slots") {
        rt.block_on(slots());
    }
}
