//! Faults an attacker or a flaky network causes (issue 13): each test reproduces one and
//! checks that one client cannot take the service down or act for another, and that every
//! fault is a clear JSON error.

use crate::assistants::Echo;
use crate::helpers::*;
use hpcbot::server::guard::session_tag;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A generous bound on anything that should happen "at once" on a loaded CI box.
const BOUND: Duration = Duration::from_secs(10);

/// Reads from `s` until EOF (or `within` passes: then `None`); returns what was read.
async fn read_to_eof(s: &mut TcpStream, within: Duration) -> Option<String> {
    let mut buf = Vec::new();
    match tokio::time::timeout(within, s.read_to_end(&mut buf)).await {
        Ok(_) => Some(String::from_utf8_lossy(&buf).into_owned()),
        Err(_) => None,
    }
}

/// The JSON body of a raw HTTP/1.1 reply.
fn body_of(reply: &str) -> Value {
    let body = reply.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    serde_json::from_str(body).unwrap_or(Value::Null)
}

/// Waits (bounded) until `cond` holds, checking at each scheduler turn.
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let started = Instant::now();
    while !cond() {
        assert!(started.elapsed() < BOUND, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

// ---- 1. /debug/* gives out no capability ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_requests_give_no_usable_session_id() {
    let echo = Echo::default();
    let app = echo_app(&echo, vec![("trusted_proxies", "127.0.0.1".into())]).await;
    let (sid, turn) = blocked_turn(&app, &echo).await;
    let res = app.get("/debug/requests").await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(!text.contains(&sid), "a session id leaked: {text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    let shown: Vec<String> = v["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["session"].as_str().map(String::from))
        .collect();
    assert!(shown.contains(&session_tag(&sid)), "{text}");
    // What is shown does not work as a session id.
    for s in &shown {
        let res = app.get(&format!("/api/bookings?session_id={s}")).await;
        expect_error(res, 404, "session_not_found").await;
    }
    // Through a proxy (not this machine) the operator routes are closed with auth = none.
    for path in ["/debug/requests", "/api/admin/bookings"] {
        let res = app
            .client
            .get(app.url(path))
            .header("x-forwarded-for", "203.0.113.9")
            .send()
            .await
            .unwrap();
        expect_error(res, 403, "forbidden").await;
    }
    echo.release.notify_waiters();
    assert_eq!(turn.await.unwrap().status(), 200);
}

// ---- 6. same-site CSRF ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_origin_text_plain_post_is_refused() {
    let app = spawn_app().await;
    let body = json!({"message": "what GPUs do you have?"}).to_string();
    // A no-cors fetch can only send text/plain (or a form): refused before anything runs.
    let res = app
        .client
        .post(app.url("/api/chat"))
        .header("content-type", "text/plain;charset=UTF-8")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    expect_error(res, 400, "unsupported_media_type").await;
    // JSON from another origin of this host (another port) or another site: refused, and
    // no cookie is set.
    let other_port = format!("http://127.0.0.1:{}", app.addr.port() + 1);
    for (name, value) in [
        ("sec-fetch-site", "same-site"),
        ("sec-fetch-site", "cross-site"),
        ("origin", other_port.as_str()),
        ("origin", "null"),
    ] {
        for path in ["/api/chat", "/api/sessions", "/api/bookings"] {
            let res = app
                .client
                .post(app.url(path))
                .header("content-type", "application/json")
                .header(name, value)
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert!(res.headers().get("set-cookie").is_none(), "{path} {name}");
            expect_error(res, 403, "cross_site_request").await;
        }
    }
    // The page itself (same origin) and clients that are not browsers are served.
    let res = app
        .client
        .post(app.url("/api/chat"))
        .header("content-type", "application/json")
        .header("origin", format!("http://{}", app.addr))
        .header("sec-fetch-site", "same-origin")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        app.post("/api/chat", &json!({"message": "hi"}))
            .await
            .status(),
        200
    );
}

// ---- 2. slow clients, idle connections, the connection cap, readiness ----

/// An app with one setting changed.
async fn spawn_setting(key: &'static str, value: &str) -> TestApp {
    spawn_with(Spawn {
        settings: vec![(key, value.into())],
        ..Default::default()
    })
    .await
}

/// A connection to the app that has sent `bytes` (a request, or the start of one).
async fn raw(app: &TestApp, bytes: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(app.addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    s
}

/// What the app sends back to `bytes` before it closes the connection (within `BOUND`).
async fn raw_reply(app: &TestApp, bytes: &[u8]) -> String {
    let mut s = raw(app, bytes).await;
    read_to_eof(&mut s, BOUND)
        .await
        .expect("the server answers and closes within BOUND")
}

/// Starts a chunked `POST /api/chat` whose body never finishes.
async fn slow_body(app: &TestApp) -> TcpStream {
    raw(app, b"POST /api/chat HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n5\r\n{\"mes\r\n").await
}

/// Starts a request whose headers never finish (slowloris).
async fn slow_headers(app: &TestApp) -> TcpStream {
    raw(app, b"GET /api/gpus HTTP/1.1\r\nhost: x\r\nx-a: ").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_body_is_a_json_408_in_seconds() {
    let app = spawn_setting("body_read_timeout", "1s").await;
    let started = Instant::now();
    let mut s = slow_body(&app).await;
    let reply = read_to_eof(&mut s, BOUND).await.expect("closed in time");
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert_eq!(body_of(&reply)["error"]["code"], "body_timeout", "{reply}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// A body declared larger than the limit is refused with 413 before it arrives: the client
/// that sends a little of a 10 MB body is not left waiting for the body timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_declared_too_large_is_a_413_at_once() {
    let app = spawn_setting("body_read_timeout", "60s").await;
    // Answered within BOUND, far below the 60 s the body may take.
    let reply = raw_reply(&app, b"POST /api/chat HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 10000000\r\n\r\n{\"message\":").await;
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    assert_eq!(
        body_of(&reply)["error"]["code"],
        "payload_too_large",
        "{reply}"
    );
}

/// The 99th percentile of `n` sequential-in-`lanes` `GET /api/gpus` latencies; all must
/// succeed.
async fn p99(app: &TestApp, n: usize, lanes: usize) -> Duration {
    let mut tasks = Vec::new();
    for _ in 0..lanes {
        let (c, url) = (app.client.clone(), app.url("/api/gpus"));
        tasks.push(tokio::spawn(async move {
            let mut v = Vec::new();
            for _ in 0..n / lanes {
                let t = Instant::now();
                let res = c.get(&url).send().await.unwrap();
                assert_eq!(res.status(), 200, "a normal request failed");
                res.bytes().await.unwrap();
                v.push(t.elapsed());
            }
            v
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    all[(all.len() * 99 / 100).min(all.len() - 1)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_body_and_slowloris_clients_do_not_starve_others() {
    let app = spawn_setting("max_in_flight", "16").await;
    p99(&app, 40, 4).await; // warm up (connections, inventory cache)
    let conns = app.state.guard.clone();
    let open = move || conns.connections.load(std::sync::atomic::Ordering::Relaxed);
    // Rounds alternate without and with the slow clients, so drift in the machine's load
    // (other tests run alongside) affects both; the best round of each is compared.
    let (mut base, mut attacked) = (Duration::MAX, Duration::MAX);
    for _ in 0..4 {
        base = base.min(p99(&app, 100, 4).await);
        // More slow clients than there are places in flight: they hold connections only.
        let before = open();
        let mut held = Vec::new();
        for _ in 0..20 {
            held.push(slow_body(&app).await);
            held.push(slow_headers(&app).await);
        }
        until("the slow connections to be accepted", || {
            open() >= before + 40
        })
        .await;
        attacked = attacked.min(p99(&app, 100, 4).await);
        assert_eq!(app.get("/health/ready").await.status(), 200);
        drop(held);
    }
    // A floor of 20 ms keeps scheduling noise out of the ratio: on a loaded 2-core box
    // the p99 of a ~2 ms request was seen to jump to 11 ms in a round with no slow client
    // doing anything. Starvation shows as 503s (the assert in p99) or waits of seconds.
    let limit = 2 * base.max(Duration::from_millis(20));
    eprintln!("p99 of GET /api/gpus: {base:?} alone, {attacked:?} beside 40 slow clients");
    assert!(
        attacked <= limit,
        "p99 with slow clients {attacked:?} > 2 x {base:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_after_the_idle_timeout() {
    let app = spawn_setting("header_read_timeout", "1s").await;
    // Kept alive after a reply, then idle.
    let reply = raw_reply(&app, b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n").await;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    // Connected, never a byte; and half a header (slowloris).
    let mut quiet = TcpStream::connect(app.addr).await.unwrap();
    assert!(read_to_eof(&mut quiet, BOUND).await.is_some());
    let mut slow = slow_headers(&app).await;
    assert!(read_to_eof(&mut slow, BOUND).await.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_get_a_json_503_and_nofile_is_raised() {
    let app = spawn_setting("max_connections", "4").await;
    let (soft, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
    assert_eq!(
        soft, hard,
        "the soft open-file limit is raised to the hard one"
    );
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(TcpStream::connect(app.addr).await.unwrap());
    }
    let g = app.state.guard.clone();
    until("4 connections", || {
        g.connections.load(std::sync::atomic::Ordering::Relaxed) == 4
    })
    .await;
    let mut extra = TcpStream::connect(app.addr).await.unwrap();
    let reply = read_to_eof(&mut extra, BOUND).await.expect("answered");
    assert!(reply.starts_with("HTTP/1.1 503"), "{reply}");
    assert!(reply.to_ascii_lowercase().contains("retry-after: 1"));
    assert_eq!(body_of(&reply)["error"]["code"], "overloaded");
    drop(held);
    until("the held connections to close", || {
        g.connections.load(std::sync::atomic::Ordering::Relaxed) == 0
    })
    .await;
    assert_eq!(app.get("/health").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_gets_only_its_share_of_the_connections() {
    let app = spawn_with(Spawn {
        settings: vec![
            ("rate_limit_loopback", "true".into()),
            ("max_connections_per_client", "2".into()),
        ],
        ..Default::default()
    })
    .await;
    let held = [
        TcpStream::connect(app.addr).await.unwrap(),
        TcpStream::connect(app.addr).await.unwrap(),
    ];
    let g = app.state.guard.clone();
    until("2 connections", || {
        g.connections.load(std::sync::atomic::Ordering::Relaxed) == 2
    })
    .await;
    let mut extra = TcpStream::connect(app.addr).await.unwrap();
    extra
        .write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let reply = read_to_eof(&mut extra, BOUND).await.expect("answered");
    assert!(reply.starts_with("HTTP/1.1 429"), "{reply}");
    assert_eq!(body_of(&reply)["error"]["code"], "too_many_connections");
    drop(held);
    until("the held connections to close", || {
        g.connections.load(std::sync::atomic::Ordering::Relaxed) == 0
    })
    .await;
    assert_eq!(app.get("/health").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_reports_saturation() {
    let echo = Echo::default();
    let app = echo_app(&echo, vec![("max_in_flight", "1".into())]).await;
    let ready: Value = app.get("/health/ready").await.json().await.unwrap();
    assert_eq!(ready["checks"]["capacity"], "ok");
    let (_sid, turn) = blocked_turn(&app, &echo).await;
    let res = app.get("/health/ready").await;
    assert_eq!(res.status(), 503);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["checks"]["capacity"], "saturated", "{v}");
    assert_eq!(v["error"]["code"], "overloaded");
    echo.release.notify_waiters();
    assert_eq!(turn.await.unwrap().status(), 200);
    assert_eq!(app.get("/health/ready").await.status(), 200);
}

// ---- 3. per-client fairness ----

async fn as_client(app: &TestApp, ip: &str, m: reqwest::Method, path: &str) -> reqwest::Response {
    app.client
        .request(m, app.url(path))
        .header("x-forwarded-for", ip)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_flood_is_limited_and_spares_other_clients() {
    let app = spawn_with(Spawn {
        settings: vec![
            ("trusted_proxies", "127.0.0.1".into()),
            ("rate_limit_sessions", "20".into()),
            ("max_sessions", "60".into()),
        ],
        ..Default::default()
    })
    .await;
    let victim = "198.51.100.2";
    let res = as_client(&app, victim, reqwest::Method::POST, "/api/sessions").await;
    assert_eq!(res.status(), 201);
    let sid = res.json::<Value>().await.unwrap()["session_id"]
        .as_str()
        .unwrap()
        .to_string();
    let booking = app
        .client
        .post(app.url("/api/bookings"))
        .header("x-forwarded-for", victim)
        .json(&json!({"model": "A100", "count": 1, "start": tomorrow(9), "end": tomorrow(10), "session_id": sid}))
        .send()
        .await
        .unwrap();
    assert_eq!(booking.status(), 201);
    let id = booking.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    let (mut created, mut refused) = (0, 0);
    for _ in 0..200 {
        let res = as_client(&app, "203.0.113.66", reqwest::Method::POST, "/api/sessions").await;
        match res.status().as_u16() {
            201 => created += 1,
            429 => {
                assert!(res.headers().contains_key("retry-after"));
                if refused == 0 {
                    expect_error(res, 429, "too_many_requests").await;
                }
                refused += 1;
            }
            s => panic!("unexpected {s}"),
        }
    }
    assert!(created <= 21, "the flood created {created} sessions");
    assert!(refused >= 179);
    // A chat turn without a session creates one: limited the same way.
    let res = app
        .client
        .post(app.url("/api/chat"))
        .header("x-forwarded-for", "203.0.113.66")
        .json(&json!({"message": "hi"}))
        .send()
        .await
        .unwrap();
    expect_error(res, 429, "too_many_requests").await;

    // The victim still sees, and can cancel, the booking; and can start new sessions.
    let list = as_client(
        &app,
        victim,
        reqwest::Method::GET,
        &format!("/api/bookings?session_id={sid}"),
    )
    .await;
    assert_eq!(list.status(), 200);
    let v: Value = list.json().await.unwrap();
    assert_eq!(v["bookings"][0]["id"], id.as_str());
    let res = as_client(&app, victim, reqwest::Method::POST, "/api/sessions").await;
    assert_eq!(res.status(), 201);
    let res = as_client(
        &app,
        victim,
        reqwest::Method::DELETE,
        &format!("/api/bookings/{id}?session_id={sid}"),
    )
    .await;
    assert_eq!(res.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turns_and_booking_changes_are_limited_per_client() {
    let app = spawn_with(Spawn {
        settings: vec![
            ("trusted_proxies", "127.0.0.1".into()),
            ("rate_limit_turns", "3".into()),
            ("rate_limit_bookings", "2".into()),
        ],
        ..Default::default()
    })
    .await;
    let post = |ip: &'static str, path: &'static str, body: Value| {
        let app = &app;
        async move {
            app.client
                .post(app.url(path))
                .header("x-forwarded-for", ip)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let ask = json!({"message": "what GPUs do you have?"});
    for _ in 0..3 {
        assert_eq!(
            post("203.0.113.1", "/api/direct/chat", ask.clone())
                .await
                .status(),
            200
        );
    }
    let res = post("203.0.113.1", "/api/direct/chat", ask.clone()).await;
    let wait: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    expect_error(res, 429, "too_many_requests").await;
    assert_eq!(
        post("203.0.113.2", "/api/direct/chat", ask).await.status(),
        200
    );

    let book = json!({"model": "V100", "count": 1, "start": tomorrow(9), "end": tomorrow(10)});
    for _ in 0..2 {
        assert_eq!(
            post("203.0.113.1", "/api/bookings", book.clone())
                .await
                .status(),
            201
        );
    }
    expect_error(
        post("203.0.113.1", "/api/bookings", book.clone()).await,
        429,
        "too_many_requests",
    )
    .await;
    assert_eq!(
        post("203.0.113.2", "/api/bookings", book).await.status(),
        201
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_gets_only_its_share_of_the_in_flight_limit() {
    let echo = Echo::default();
    let app = echo_app(
        &echo,
        vec![
            ("trusted_proxies", "127.0.0.1".into()),
            ("max_in_flight_per_client", "1".into()),
        ],
    )
    .await;
    // A turn that hangs holds the client's one place.
    let sid = new_session(&app).await;
    let hold = {
        let (c, url, sid) = (app.client.clone(), app.url("/api/chat"), sid.clone());
        tokio::spawn(async move {
            c.post(url)
                .header("x-forwarded-for", "203.0.113.7")
                .json(&json!({"message": "hang", "session_id": sid}))
                .send()
                .await
        })
    };
    let inflight = app.state.inflight.clone();
    until("the hanging turn", || !inflight.is_empty()).await;
    let res = as_client(&app, "203.0.113.7", reqwest::Method::GET, "/api/gpus").await;
    expect_error(res, 429, "too_many_requests").await;
    let res = as_client(&app, "203.0.113.7", reqwest::Method::GET, "/health/ready").await;
    assert_eq!(res.status(), 200, "probes are never limited");
    let res = as_client(&app, "203.0.113.8", reqwest::Method::GET, "/api/gpus").await;
    assert_eq!(res.status(), 200);
    hold.abort();
}

// ---- 4. /metrics stays bounded ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_size_stays_flat_under_random_404s() {
    let app = spawn_app().await;
    let random_404s = |n: usize| {
        let app = &app;
        async move {
            let mut paths = Vec::new();
            for i in 0..n {
                let path = format!("/{}/{i}", uuid::Uuid::new_v4().simple());
                let m = if i % 2 == 0 { "GET" } else { "FROB" };
                let m = reqwest::Method::from_bytes(m.as_bytes()).unwrap();
                let res = app.client.request(m, app.url(&path)).send().await.unwrap();
                assert!(res.status().is_client_error());
                paths.push(path);
            }
            paths
        }
    };
    random_404s(10).await;
    let before = app.get("/metrics").await.text().await.unwrap().len();
    let mut paths = random_404s(400).await;
    // Unauthenticated requests (401 before any route matched) are labelled the same way.
    let locked = spawn_setting("auth", "token").await;
    for _ in 0..20 {
        let path = format!("/api/{}", uuid::Uuid::new_v4().simple());
        assert_eq!(locked.get(&path).await.status(), 401);
        paths.push(path);
    }
    let after = app.get("/metrics").await.text().await.unwrap();
    eprintln!(
        "/metrics: {before} bytes, {} after 400 random 404s",
        after.len()
    );
    // The recorder is shared by the tests running alongside, whose own (bounded) labels
    // may appear meanwhile; 400 labels of their own would add ~600 KB.
    assert!(
        after.len() < before + 20_000,
        "metrics grew from {before} to {} bytes",
        after.len()
    );
    assert!(
        !paths.iter().any(|p| after.contains(p.as_str())),
        "a path became a label"
    );
    assert!(!after.contains("FROB"), "a method became a label");
    assert!(after.contains("route=\"unmatched\""));
}

// ---- 5. store failures are 503, health answers from memory ----

/// A Redis server of this test only (pausing the shared one would disturb other tests).
struct OwnRedis {
    child: std::process::Child,
    port: u16,
}

impl OwnRedis {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server (see scripts/test)");
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(started.elapsed() < BOUND, "redis-server did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Self { child, port }
    }

    fn signal(&self, sig: &str) {
        let ok = std::process::Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.signal("-CONT");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET /health/threads` answers within 100 ms.
async fn threads_answer_fast(app: &TestApp) {
    let t = Instant::now();
    let res = app.get("/health/threads").await;
    assert_eq!(res.status(), 200);
    res.bytes().await.unwrap();
    assert!(
        t.elapsed() < Duration::from_millis(100),
        "{:?}",
        t.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_paused_is_503_store_unavailable_and_recovers() {
    let redis = OwnRedis::start().await;
    let echo = Echo::default();
    let app = echo_app(
        &echo,
        vec![
            ("sessions", format!("redis://127.0.0.1:{}", redis.port)),
            ("store_timeout", "1s".into()),
        ],
    )
    .await;
    let sid = new_session(&app).await;
    let turn = json!({"message": "hello", "session_id": sid});
    assert_eq!(app.post("/api/chat", &turn).await.status(), 200);
    redis.signal("-STOP");
    let t = Instant::now();
    let res = app.post("/api/chat", &turn).await;
    assert!(res.headers().contains_key("retry-after"));
    expect_error(res, 503, "store_unavailable").await;
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
    expect_error(
        app.post("/api/sessions", &json!({})).await,
        503,
        "store_unavailable",
    )
    .await;
    threads_answer_fast(&app).await;
    redis.signal("-CONT");
    let started = Instant::now();
    loop {
        let t = Instant::now();
        let res = app.post("/api/chat", &turn).await;
        // Bounded by the store timeout and how often an orphaned lease is released (2 s).
        assert!(t.elapsed() < Duration::from_secs(6), "{:?}", t.elapsed());
        if res.status() == 200 {
            break;
        }
        expect_error(res, 503, "store_unavailable").await;
        assert!(started.elapsed() < BOUND, "no recovery");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_stall_during_the_commit_says_the_outcome_is_unknown() {
    let redis = OwnRedis::start().await;
    let echo = Echo::default();
    let app = echo_app(
        &echo,
        vec![
            ("sessions", format!("redis://127.0.0.1:{}", redis.port)),
            ("store_timeout", "1s".into()),
        ],
    )
    .await;
    // The turn has loaded its session and waits in the assistant; Redis stalls before the
    // turn commits.
    let (_sid, turn) = blocked_turn(&app, &echo).await;
    redis.signal("-STOP");
    echo.release.notify_waiters();
    let res = tokio::time::timeout(BOUND, turn).await.unwrap().unwrap();
    assert!(res.headers().contains_key("retry-after"));
    let msg = expect_error(res, 503, "outcome_unknown").await;
    assert!(msg.contains("may be missing"), "{msg}");
    redis.signal("-CONT");
    // Redis gone altogether: a clear 503 too, not a 500.
    redis.signal("-KILL");
    let res = app.post("/api/sessions", &json!({})).await;
    expect_error(res, 503, "store_unavailable").await;
    threads_answer_fast(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_states_the_limits() {
    let app = spawn_app().await;
    let doc: Value = app.get("/api/openapi.json").await.json().await.unwrap();
    let msg = &doc["components"]["schemas"]["ChatRequest"]["properties"]["message"];
    assert_eq!(msg["maxLength"], 4000, "{msg}");
    assert_eq!(msg["minLength"], 1, "{msg}");
    let params = doc["paths"]["/api/availability"]["get"]["parameters"]
        .as_array()
        .unwrap();
    for name in ["model", "start", "end"] {
        let p = params.iter().find(|p| p["name"] == name).unwrap();
        assert_eq!(p["in"], "query");
        assert_eq!(p["required"], true, "{p}");
    }
    let stream = &doc["paths"]["/api/chat/stream"]["post"]["responses"];
    assert!(stream.get("400").is_some(), "{stream}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_backends_killed_is_503_store_unavailable_and_recovers() {
    use sqlx::Connection;
    let db = PgDb::new().await;
    let app = spawn_with(Spawn {
        database_url: Some(db.url.clone()),
        settings: vec![("store_timeout", "1s".into())],
        ..Default::default()
    })
    .await;
    let sid = new_session(&app).await;
    let list = format!("/api/bookings?session_id={sid}");
    assert_eq!(app.get(&list).await.status(), 200);
    let name = db.url.rsplit('/').next().unwrap().to_string();
    let mut admin = sqlx::PgConnection::connect(&format!("{}/postgres", postgres_base()))
        .await
        .unwrap();
    let exec = |sql: String| sqlx::query(sqlx::AssertSqlSafe(sql));
    exec(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
        .execute(&mut admin)
        .await
        .unwrap();
    exec(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    ))
    .execute(&mut admin)
    .await
    .unwrap();
    let t = Instant::now();
    let res = app.get(&list).await;
    assert!(res.headers().contains_key("retry-after"));
    expect_error(res, 503, "store_unavailable").await;
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
    let book = json!({"model": "A100", "count": 1, "start": tomorrow(9), "end": tomorrow(10), "session_id": sid});
    expect_error(
        app.post("/api/bookings", &book).await,
        503,
        "store_unavailable",
    )
    .await;
    threads_answer_fast(&app).await;
    exec(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
        .execute(&mut admin)
        .await
        .unwrap();
    let started = Instant::now();
    loop {
        let res = app.post("/api/bookings", &book).await;
        if res.status() == 201 {
            break;
        }
        expect_error(res, 503, "store_unavailable").await;
        assert!(started.elapsed() < BOUND, "no recovery");
    }
}

// ---- 8, 9, 10: every error of the cases above is the contract's JSON ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_json_errors() {
    let app = spawn_setting("max_session_turns", "2").await;
    expect_error(app.get("/api/sessions/%ff").await, 400, "bad_request").await;
    expect_error(app.delete("/api/bookings/%ff").await, 400, "bad_request").await;
    let big = json!({"model": "hpc-assistant", "messages": [{"role": "user", "content": "x".repeat(70_000)}]});
    expect_error(
        app.post("/v1/chat/completions", &big).await,
        413,
        "payload_too_large",
    )
    .await;
    let long = format!("/api/gpus?x={}", "a".repeat(9000));
    expect_error(app.get(&long).await, 414, "uri_too_long").await;
    let res = app
        .client
        .get(app.url("/api/gpus"))
        .header("x-big", "b".repeat(40_000))
        .send()
        .await
        .unwrap();
    expect_error(res, 431, "headers_too_large").await;

    // A booking far ahead (year 9999) is refused, in plain RFC 3339 terms.
    let far = json!({"model": "A100", "count": 1, "start": "9999-12-31T08:00:00Z", "end": "9999-12-31T09:00:00Z"});
    expect_error(
        app.post("/api/bookings", &far).await,
        400,
        "start_too_far_ahead",
    )
    .await;

    // A session holds at most max_session_turns turns.
    let sid = new_session(&app).await;
    let turn = json!({"message": "hello", "session_id": sid});
    for _ in 0..2 {
        assert_eq!(app.post("/api/chat", &turn).await.status(), 200);
    }
    expect_error(app.post("/api/chat", &turn).await, 409, "session_full").await;
    // The history pages: the last two messages, then the two before them.
    let page: Value = app
        .get(&format!("/api/sessions/{sid}?limit=2"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (page["first"].as_u64(), page["total"].as_u64()),
        (Some(2), Some(4))
    );
    assert_eq!(page["messages"].as_array().unwrap().len(), 2);
    assert_eq!(page["messages"][0]["role"], "user");
    let earlier: Value = app
        .get(&format!("/api/sessions/{sid}?before=2&limit=10"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(earlier["first"], 0);
    assert_eq!(earlier["messages"].as_array().unwrap().len(), 2);
    expect_error(
        app.get(&format!("/api/sessions/{sid}?limit=0")).await,
        400,
        "invalid_query",
    )
    .await;
    assert_eq!(
        history(&app, &sid).await.len(),
        4,
        "the default shape is whole"
    );

    // The page carries the security headers.
    let res = app.get("/").await;
    let h = res.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(h.contains_key("referrer-policy"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bearer_scheme_is_case_insensitive() {
    let app = spawn_setting("auth", "token").await;
    let token = app
        .state
        .users
        .add_user(
            "ann",
            hpcbot::store::users::Role::User,
            &hpcbot::domain::ProjectName::default_project(),
            0,
        )
        .await
        .unwrap();
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let res = app
            .client
            .get(app.url("/api/bookings"))
            .header("authorization", format!("{scheme} {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{scheme}");
    }
}
