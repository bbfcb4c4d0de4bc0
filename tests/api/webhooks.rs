//! Webhooks (API.md "Notifications and calendars"), against a real HTTP receiver on this
//! machine: registration refuses what could reach inside the network; every booking change
//! arrives signed, in order, at least once; a failed attempt is retried with the same event
//! id; a hanging receiver holds up no booking; reminders come once, also across two
//! instances; a SIGKILL between a booking and its delivery loses nothing.

use crate::helpers::*;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{Duration, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// What the receiver answers.
#[derive(Clone, Copy)]
pub enum Answer {
    /// 200 to everything.
    Ok,
    /// This status to the first `n` requests, then 200.
    FailFirst(u16, u32),
    /// Never answers (the request hangs until the sender gives up).
    Hang,
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Got {
    pub headers: HeaderMap,
    pub raw: Vec<u8>,
    pub body: Value,
}

impl Got {
    fn event_id(&self) -> &str {
        self.headers["hpcbot-event-id"].to_str().unwrap()
    }

    fn kind(&self) -> &str {
        self.body["type"].as_str().unwrap()
    }
}

struct ReceiverState {
    answer: Mutex<Answer>,
    seen: Mutex<u32>,
    tx: mpsc::UnboundedSender<Got>,
}

/// A webhook endpoint on 127.0.0.1 that records every request.
pub struct Receiver {
    pub url: String,
    rx: mpsc::UnboundedReceiver<Got>,
    state: Arc<ReceiverState>,
    _server: tokio::task::JoinHandle<()>,
}

async fn hook(
    State(s): State<Arc<ReceiverState>>,
    headers: HeaderMap,
    raw: axum::body::Bytes,
) -> StatusCode {
    let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let n = {
        let mut seen = s.seen.lock().unwrap();
        *seen += 1;
        *seen
    };
    let answer = *s.answer.lock().unwrap();
    let _ = s.tx.send(Got {
        headers,
        raw: raw.to_vec(),
        body,
    });
    match answer {
        Answer::Ok => StatusCode::OK,
        Answer::FailFirst(code, k) if n <= k => StatusCode::from_u16(code).unwrap(),
        Answer::FailFirst(..) => StatusCode::OK,
        Answer::Hang => std::future::pending().await,
    }
}

impl Receiver {
    pub async fn start(answer: Answer) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let state = Arc::new(ReceiverState {
            answer: Mutex::new(answer),
            seen: Mutex::new(0),
            tx,
        });
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(hook))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            url,
            rx,
            state,
            _server: server,
        }
    }

    pub fn answer(&self, a: Answer) {
        *self.state.answer.lock().unwrap() = a;
    }

    /// The next request (bounded wait: a delivery that never comes fails the test).
    pub async fn next(&mut self) -> Got {
        tokio::time::timeout(std::time::Duration::from_secs(30), self.rx.recv())
            .await
            .expect("a delivery within 30 s")
            .expect("the receiver runs")
    }

    /// Requests until one of type `kind` about `subject` (a booking id) arrives; all of them.
    pub async fn until(&mut self, kind: &str, booking: &str) -> Vec<Got> {
        let mut got = Vec::new();
        loop {
            let g = self.next().await;
            let done = g.kind() == kind && g.body["data"]["booking"]["id"] == booking;
            got.push(g);
            if done {
                return got;
            }
        }
    }
}

/// Settings that let webhooks reach the receivers on 127.0.0.1.
pub fn local_hooks() -> Vec<(&'static str, String)> {
    vec![("webhook_allowed_hosts", "127.0.0.1".into())]
}

/// A server on SQLite whose webhooks may reach 127.0.0.1, with these settings too.
async fn hooks_app(more: &[(&'static str, &str)]) -> TestApp {
    let mut settings = local_hooks();
    settings.extend(more.iter().map(|(k, v)| (*k, v.to_string())));
    spawn_with(Spawn {
        settings,
        ..Default::default()
    })
    .await
}

/// Registers `url` for `events` (all when empty); returns the reply.
pub async fn register(app: &TestApp, url: &str, events: &[&str]) -> Value {
    let body = if events.is_empty() {
        json!({"url": url})
    } else {
        json!({"url": url, "events": events})
    };
    let res = app.post("/api/admin/webhooks", &body).await;
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

/// The webhook's delivery log once `ready` holds for its entries (polled, bounded: an
/// attempt is logged just after its reply reached the server).
async fn deliveries_when(app: &TestApp, hook: &Value, ready: impl Fn(&[Value]) -> bool) -> Value {
    let path = format!(
        "/api/admin/webhooks/{}/deliveries",
        hook["id"].as_str().unwrap()
    );
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let log: Value = app.get(&path).await.json().await.unwrap();
        if ready(log["deliveries"].as_array().unwrap()) || tokio::time::Instant::now() > deadline {
            return log;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Checks `Hpcbot-Signature` against `secret`, as a receiver would.
fn assert_signed(g: &Got, secret: &str) {
    let header = g.headers["hpcbot-signature"].to_str().unwrap();
    let (t, v1) = header
        .split_once(",v1=")
        .map(|(t, v)| (t.trim_start_matches("t="), v))
        .expect("t=...,v1=...");
    let t: i64 = t.parse().unwrap();
    assert!(
        (Utc::now().timestamp() - t).abs() < 300,
        "a recent timestamp"
    );
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(&g.raw);
    mac.verify_slice(&hex::decode(v1).unwrap())
        .expect("the signature verifies");
}

#[tokio::test]
async fn registration_refuses_internal_hosts_and_shows_the_secret_once() {
    let app = spawn_app().await;
    for (url, code) in [
        ("file:///etc/passwd", "invalid_url"),
        ("http://127.0.0.1:9/hook", "invalid_url"),
        ("http://169.254.169.254/latest/meta-data", "invalid_url"),
        ("http://10.0.0.7/hook", "invalid_url"),
        ("http://[::1]:9/hook", "invalid_url"),
        ("nonsense", "invalid_url"),
    ] {
        let res = app.post("/api/admin/webhooks", &json!({"url": url})).await;
        expect_error(res, 400, code).await;
    }
    let app = hooks_app(&[]).await;
    let res = app
        .post(
            "/api/admin/webhooks",
            &json!({"url": "http://127.0.0.1:9/hook", "events": ["booking.made"]}),
        )
        .await;
    expect_error(res, 400, "invalid_event_type").await;
    let made = register(&app, "http://127.0.0.1:9/hook", &["booking.created"]).await;
    assert_eq!(made["secret"].as_str().unwrap().len(), 64, "{made}");
    assert_eq!(made["events"], json!(["booking.created"]));
    let all = register(&app, "http://127.0.0.1:9/other", &[]).await;
    assert_eq!(all["events"].as_array().unwrap().len(), 8, "every type");
    let list: Value = app.get("/api/admin/webhooks").await.json().await.unwrap();
    let hooks = list["webhooks"].as_array().unwrap();
    assert_eq!(hooks.len(), 2);
    assert!(hooks.iter().all(|h| h.get("secret").is_none()), "{list}");
    let id = made["id"].as_str().unwrap();
    let res = app.delete(&format!("/api/admin/webhooks/{id}")).await;
    assert_eq!(res.status(), 204);
    let res = app.delete(&format!("/api/admin/webhooks/{id}")).await;
    expect_error(res, 404, "webhook_not_found").await;
    let res = app
        .get(&format!("/api/admin/webhooks/{id}/deliveries"))
        .await;
    expect_error(res, 404, "webhook_not_found").await;
}

/// A booking made, changed and cancelled: three signed events in that order, each with the
/// booking as it was after it; the delivery log shows each attempt.
async fn changes_arrive_signed_and_in_order(store: Store) {
    let mut rx = Receiver::start(Answer::Ok).await;
    let app = store
        .spawn(Spawn {
            settings: local_hooks(),
            ..Default::default()
        })
        .await;
    let hook = register(&app, &rx.url, &[]).await;
    let secret = hook["secret"].as_str().unwrap();
    let sid = new_session(&app).await;
    let t = tomorrow(9);
    let b: Value = post_booking(&app, &sid, "H100", 2, t, 2)
        .await
        .json()
        .await
        .unwrap();
    let id = b["id"].as_str().unwrap();
    let res = app
        .client
        .patch(app.url(&format!("/api/bookings/{id}?session_id={sid}")))
        .json(&json!({"count": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .delete(&format!("/api/bookings/{id}?session_id={sid}"))
        .await;
    assert_eq!(res.status(), 200);
    let got = rx.until("booking.cancelled", id).await;
    let kinds: Vec<&str> = got.iter().map(Got::kind).collect();
    assert_eq!(
        kinds,
        ["booking.created", "booking.changed", "booking.cancelled"]
    );
    for g in &got {
        assert_signed(g, secret);
        assert_eq!(
            g.body["id"],
            g.event_id(),
            "the header names the body's event"
        );
        assert_eq!(g.body["data"]["booking"]["id"], id);
        assert_eq!(g.body["data"]["via"], "api");
        assert!(g.body["created_at"].is_string());
    }
    assert_eq!(got[0].body["data"]["booking"]["count"], 2);
    assert_eq!(got[1].body["data"]["booking"]["count"], 3);
    assert_eq!(got[2].body["data"]["booking"]["status"], "cancelled");
    let ids: std::collections::HashSet<&str> = got.iter().map(Got::event_id).collect();
    assert_eq!(ids.len(), 3, "each event its own id");
    // The last attempt is recorded just after its reply: wait for it (bounded).
    let log = deliveries_when(&app, &hook, |d| d.len() >= 3).await;
    let entries = log["deliveries"].as_array().unwrap();
    assert_eq!(entries.len(), 3, "{log}");
    assert!(
        entries
            .iter()
            .all(|e| e["status"] == 200 && e["error"].is_null()),
        "{log}"
    );
    assert_eq!(
        entries[0]["type"], "booking.cancelled",
        "newest first: {log}"
    );
}

#[tokio::test]
async fn changes_arrive_signed_and_in_order_on_sqlite() {
    changes_arrive_signed_and_in_order(Store::Sqlite).await;
}

#[tokio::test]
async fn changes_arrive_signed_and_in_order_on_postgres() {
    changes_arrive_signed_and_in_order(Store::Postgres).await;
}

#[tokio::test]
async fn a_failed_attempt_is_retried_with_the_same_event_id_and_order_is_kept() {
    let mut rx = Receiver::start(Answer::FailFirst(503, 2)).await;
    let app = hooks_app(&[]).await;
    let hook = register(&app, &rx.url, &["booking.created", "booking.cancelled"]).await;
    let sid = new_session(&app).await;
    let b: Value = post_booking(&app, &sid, "H100", 1, tomorrow(9), 1)
        .await
        .json()
        .await
        .unwrap();
    let id = b["id"].as_str().unwrap();
    // Cancelled while its creation is still undelivered: the cancellation waits its turn.
    let res = app
        .delete(&format!("/api/bookings/{id}?session_id={sid}"))
        .await;
    assert_eq!(res.status(), 200);
    let got = rx.until("booking.cancelled", id).await;
    let kinds: Vec<&str> = got.iter().map(Got::kind).collect();
    assert_eq!(
        kinds,
        [
            "booking.created",
            "booking.created",
            "booking.created",
            "booking.cancelled"
        ],
        "two failures, the retry that succeeds, then the next event"
    );
    assert!(
        got[..3].iter().all(|g| g.event_id() == got[0].event_id()),
        "retries carry the same event id"
    );
    assert_eq!(got[0].raw, got[2].raw, "and the same body");
    let log = deliveries_when(&app, &hook, |d| d.len() >= 4).await;
    let first = log["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["attempt"] == 1 && e["type"] == "booking.created")
        .cloned()
        .unwrap_or_else(|| panic!("{log}"));
    assert_eq!(first["status"], 503);
    assert!(first["error"].as_str().unwrap().contains("503"), "{first}");
}

#[tokio::test]
async fn a_hanging_endpoint_delays_no_booking_and_no_other_endpoint() {
    let mut stuck = Receiver::start(Answer::Hang).await;
    let mut fine = Receiver::start(Answer::Ok).await;
    // Far longer than the test: a booking that waited for the stuck endpoint would show.
    let app = hooks_app(&[("webhook_timeout", "120s")]).await;
    register(&app, &stuck.url, &[]).await;
    register(&app, &fine.url, &[]).await;
    let sid = new_session(&app).await;
    let first: Value = post_booking(&app, &sid, "A100", 1, tomorrow(8), 1)
        .await
        .json()
        .await
        .unwrap();
    // The stuck endpoint now holds a request open.
    let held = stuck.next().await;
    assert_eq!(held.body["data"]["booking"]["id"], first["id"]);
    let mut ids = vec![first["id"].as_str().unwrap().to_string()];
    for h in 0..6 {
        let res = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            post_booking(&app, &sid, "A100", 1, tomorrow(10 + h), 1),
        )
        .await
        .expect("a booking is not held up by a hanging endpoint");
        assert_eq!(res.status(), 201);
        let b: Value = res.json().await.unwrap();
        ids.push(b["id"].as_str().unwrap().to_string());
    }
    let mut delivered = std::collections::HashSet::new();
    while delivered.len() < ids.len() {
        let g = fine.next().await;
        delivered.insert(
            g.body["data"]["booking"]["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(
        delivered,
        ids.into_iter().collect(),
        "the other endpoint got every event"
    );
}

/// The `booking.starting` and `booking.ending` reminders of a booking made inside both
/// windows come within a pass, once.
#[tokio::test]
async fn reminders_come_once_for_a_booking_made_inside_their_window() {
    let mut rx = Receiver::start(Answer::Ok).await;
    let app = hooks_app(&[("reminder_before_end", "2h")]).await;
    register(
        &app,
        &rx.url,
        &["booking.starting", "booking.ending", "booking.cancelled"],
    )
    .await;
    let sid = new_session(&app).await;
    let start = Utc::now() + Duration::minutes(10);
    let res = post_booking(&app, &sid, "H100", 1, start, 1).await;
    assert_eq!(res.status(), 201);
    let b: Value = res.json().await.unwrap();
    let id = b["id"].as_str().unwrap();
    let mut kinds = std::collections::HashSet::new();
    while kinds.len() < 2 {
        let g = rx.next().await;
        assert_eq!(g.body["data"]["booking"]["id"], id);
        assert!(
            kinds.insert(g.kind().to_string()),
            "each reminder once: {:?}",
            g.body
        );
    }
    assert_eq!(
        kinds,
        ["booking.starting", "booking.ending"]
            .map(String::from)
            .into_iter()
            .collect()
    );
    // Later passes make no second reminder: the cancellation is the next thing to arrive.
    let res = app
        .delete(&format!("/api/bookings/{id}?session_id={sid}"))
        .await;
    assert_eq!(res.status(), 200);
    let after = rx.until("booking.cancelled", id).await;
    assert_eq!(
        after.len(),
        1,
        "{:?}",
        after.iter().map(Got::kind).collect::<Vec<_>>()
    );
}

/// Two instances on one PostgreSQL database: each event reaches the endpoint once, and a
/// reminder is made once, whichever instance made the booking.
#[tokio::test]
async fn two_instances_deliver_each_event_once() {
    let mut rx = Receiver::start(Answer::Ok).await;
    let db = PgDb::new().await;
    let spawn = || {
        let mut settings = local_hooks();
        settings.push(("sessions", "database".into()));
        spawn_with(Spawn {
            database_url: Some(db.url.clone()),
            settings,
            ..Default::default()
        })
    };
    let (a, b) = (spawn().await, spawn().await);
    register(&a, &rx.url, &["booking.created", "booking.starting"]).await;
    let (sa, sb) = (new_session(&a).await, new_session(&b).await);
    let mut ids = std::collections::HashSet::new();
    for i in 0..10 {
        let (app, sid) = if i % 2 == 0 { (&a, &sa) } else { (&b, &sb) };
        let start = Utc::now() + Duration::minutes(5 + i);
        let res = post_booking(app, sid, "A100", 1, start, 1).await;
        assert_eq!(res.status(), 201);
        let v: Value = res.json().await.unwrap();
        ids.insert(v["id"].as_str().unwrap().to_string());
    }
    // 10 created and 10 starting (all start within 15 minutes).
    let mut seen: std::collections::HashMap<(String, String), u32> = Default::default();
    while seen.len() < 20 {
        let g = rx.next().await;
        let key = (
            g.kind().to_string(),
            g.body["data"]["booking"]["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
        assert!(ids.contains(&key.1));
        *seen.entry(key).or_default() += 1;
    }
    // One more event after all of them: anything sent twice would have come by now.
    let start = Utc::now() + Duration::days(2);
    let res = post_booking(&a, &sa, "A100", 1, start, 1).await;
    let last: Value = res.json().await.unwrap();
    let tail = rx
        .until("booking.created", last["id"].as_str().unwrap())
        .await;
    for g in &tail[..tail.len() - 1] {
        let key = (
            g.kind().to_string(),
            g.body["data"]["booking"]["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
        *seen.entry(key).or_default() += 1;
    }
    assert!(seen.values().all(|n| *n == 1), "{seen:?}");
}

/// Maintenance that cancels a booking tells its owner (`maintenance.affected`), and the
/// GPUs it frees are offered to the waitlist (`waitlist.offered`).
#[tokio::test]
async fn maintenance_and_waitlist_events_are_delivered() {
    let mut rx = Receiver::start(Answer::Ok).await;
    let app = hooks_app(&[]).await;
    register(&app, &rx.url, &["maintenance.affected", "waitlist.offered"]).await;
    let (a, w) = (new_session(&app).await, new_session(&app).await);
    let t = tomorrow(9);
    let all: Value = post_booking(&app, &a, "H100", 8, t, 2)
        .await
        .json()
        .await
        .unwrap();
    let res = app
        .post(
            "/api/waitlist",
            &json!({"model": "H100", "count": 2, "start": (t + Duration::hours(1)).to_rfc3339(),
                "end": (t + Duration::hours(2)).to_rfc3339(), "session_id": w}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let waiting: Value = res.json().await.unwrap();
    assert_eq!(waiting["status"], "waiting", "{waiting}");
    let node = all["gpus"][0]
        .as_str()
        .unwrap()
        .split(':')
        .next()
        .unwrap()
        .to_string();
    let res = app
        .post(
            "/api/admin/maintenance",
            &json!({"node": node, "start": t.to_rfc3339(),
                "end": (t + Duration::hours(1)).to_rfc3339(), "reason": "PSU swap"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let g = rx.next().await;
    assert_eq!(g.kind(), "maintenance.affected", "{:?}", g.body);
    assert_eq!(g.body["data"]["booking"]["id"], all["id"]);
    assert_eq!(g.body["data"]["outcome"], "cancelled");
    assert_eq!(g.body["data"]["maintenance"]["reason"], "PSU swap");
    // The whole booking was cancelled, so the waiting entry now fits and is offered.
    let g = rx.next().await;
    assert_eq!(g.kind(), "waitlist.offered", "{:?}", g.body);
    assert_eq!(g.body["data"]["hold"]["count"], 2);
    assert_eq!(g.body["data"]["entry"]["id"], waiting["id"]);
}

/// SIGKILL of the server (the real binary) after a booking committed and before its event
/// was delivered: restarted on the same data, it delivers the event.
#[tokio::test]
async fn a_sigkill_between_a_booking_and_its_delivery_loses_no_event() {
    let mut rx = Receiver::start(Answer::FailFirst(503, u32::MAX)).await;
    let data = tempfile::tempdir().unwrap();
    let envs = [
        ("HPCBOT_WEBHOOK_ALLOWED_HOSTS", "127.0.0.1"),
        ("HPCBOT_WEBHOOK_TIMEOUT", "2s"),
    ];
    let (mut child, url) = crate::crash::serve_with(data.path(), &envs).await;
    let client = reqwest::Client::new();
    let res = client
        .post(format!("{url}/api/admin/webhooks"))
        .json(&json!({"url": rx.url, "events": ["booking.created"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let sid: Value = client
        .post(format!("{url}/api/sessions"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let start = tomorrow(9);
    let res = client
        .post(format!("{url}/api/bookings"))
        .json(
            &json!({"model": "H100", "count": 1, "start": start.to_rfc3339(),
            "end": (start + Duration::hours(1)).to_rfc3339(),
            "session_id": sid["session_id"]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let booking: Value = res.json().await.unwrap();
    // The endpoint refuses it (so it is not delivered), then the server is killed.
    let refused = rx.next().await;
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    rx.answer(Answer::Ok);
    let (_child, _url) = crate::crash::serve_with(data.path(), &envs).await;
    let got = rx
        .until("booking.created", booking["id"].as_str().unwrap())
        .await;
    let last = got.last().unwrap();
    assert_eq!(
        last.event_id(),
        refused.event_id(),
        "the same event, delivered after the restart"
    );
}
