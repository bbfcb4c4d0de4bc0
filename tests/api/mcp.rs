//! `POST /mcp` (API.md "MCP"): the official MCP Python SDK as the client (`tests/mcp_client.py`,
//! installed by scripts/test), and raw JSON-RPC for the rules around it: the token, the
//! cookie as the caller with `auth = none`, the booking rate, the Host check, and a keyed
//! `book` on two instances of one PostgreSQL database.

use crate::helpers::*;
use chrono::Duration;
use serde_json::{json, Value};

/// Runs the SDK script against `app` (tokens: `auth = token`); its stdout.
async fn sdk(app: &TestApp, tokens: &[&str]) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mcp_client.py");
    let start = tomorrow(13);
    let out = tokio::process::Command::new("python3")
        .arg(script)
        .arg(app.url("/mcp"))
        .arg(start.to_rfc3339())
        .arg((start + Duration::hours(2)).to_rfc3339())
        .args(tokens)
        .output()
        .await
        .expect("python3 (see scripts/test)");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success() && stdout.contains("mcp ok"),
        "the MCP SDK script failed (is `mcp` installed? scripts/test installs it):\n{stdout}\n{stderr}"
    );
    stdout
}

/// The ids the script booked, in order.
fn booked(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("booked "))
        .map(str::to_string)
        .collect()
}

/// One `tools/call` as a bare JSON-RPC POST (stateless: no initialize needed); the HTTP
/// status and the JSON-RPC reply.
async fn call(req: reqwest::RequestBuilder, name: &str, args: Value) -> (u16, Value) {
    let res = req
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": name, "arguments": args}}))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body = res.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// A tool call's structured result, and whether it is an error.
fn result(reply: &Value) -> (bool, &Value) {
    let r = &reply["result"];
    (r["isError"] == true, &r["structuredContent"])
}

fn window() -> Value {
    let start = tomorrow(9);
    json!({"start": start.to_rfc3339(), "end": (start + Duration::hours(2)).to_rfc3339()})
}

fn book_args(count: u32, key: Option<&str>) -> Value {
    let mut a = json!({"model": "A100", "count": count});
    a.as_object_mut()
        .unwrap()
        .extend(window().as_object().unwrap().clone());
    if let Some(k) = key {
        a["idempotency_key"] = json!(k);
    }
    a
}

async fn token_app(settings: Vec<(&'static str, String)>) -> (TestApp, String, String) {
    let mut s = vec![("auth", "token".to_string())];
    s.extend(settings);
    let app = spawn_with(Spawn {
        settings: s,
        ..Default::default()
    })
    .await;
    let (ann, bob) = (user_token(&app, "ann").await, user_token(&app, "bob").await);
    (app, ann, bob)
}

async fn bookings_of(app: &TestApp, token: &str) -> Vec<Value> {
    let v: Value = app
        .client
        .get(app.url("/api/bookings"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["bookings"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mcp_python_sdk_books_as_the_token_s_user_and_once_per_key() {
    let (app, ann, bob) = token_app(vec![]).await;
    let out = sdk(&app, &[&ann, &bob]).await;
    let ids = booked(&out);
    assert_eq!(ids.len(), 2, "{out}");
    // What the server holds: the keyed book, repeated, is one booking (changed to 3 GPUs);
    // the V100s were cancelled; bob has nothing and could touch nothing.
    let mine = bookings_of(&app, &ann).await;
    let by_id = |id: &str| mine.iter().find(|b| b["id"] == id).cloned().unwrap();
    assert_eq!(mine.len(), 2, "{mine:?}");
    assert_eq!(
        (
            by_id(&ids[0])["count"].clone(),
            by_id(&ids[0])["status"].clone()
        ),
        (json!(3), json!("confirmed"))
    );
    assert_eq!(by_id(&ids[1])["status"], "cancelled");
    assert!(bookings_of(&app, &bob).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_auth_none_the_mcp_client_s_cookie_is_the_caller() {
    let app = spawn_app().await;
    // The SDK keeps the cookie of its first reply: it sees and cancels what it booked.
    let out = sdk(&app, &[]).await;
    assert_eq!(booked(&out).len(), 2, "{out}");
    // A client that keeps no cookie may read but not book: its booking would be nobody's.
    let bare = reqwest::Client::new();
    let (status, reply) = call(bare.post(app.url("/mcp")), "book", book_args(1, None)).await;
    assert_eq!(status, 200);
    let (is_error, r) = result(&reply);
    assert!(is_error, "{reply}");
    assert_eq!(r["error"]["code"], "identity_required", "{reply}");
    let (_, reply) = call(bare.post(app.url("/mcp")), "list_gpus", json!({})).await;
    assert!(!result(&reply).0, "{reply}");
}

#[tokio::test]
async fn mcp_needs_the_token_and_answers_only_its_own_host_names() {
    let (app, ann, _) = token_app(vec![]).await;
    let (status, _) = call(app.client.post(app.url("/mcp")), "list_gpus", json!({})).await;
    assert_eq!(status, 401, "no token, no tools");
    let (status, reply) = call(
        app.client.post(app.url("/mcp")).bearer_auth(&ann),
        "list_gpus",
        json!({}),
    )
    .await;
    assert_eq!((status, result(&reply).0), (200, false), "{reply}");
    // A page of another site reaching this server through its own name (DNS rebinding).
    let (status, _) = call(
        app.client
            .post(app.url("/mcp"))
            .bearer_auth(&ann)
            .header("host", "evil.example"),
        "list_gpus",
        json!({}),
    )
    .await;
    assert_eq!(status, 403);
    // An unknown tool is a protocol error; bad arguments are a tool error.
    let (_, reply) = call(
        app.client.post(app.url("/mcp")).bearer_auth(&ann),
        "launch_rockets",
        json!({}),
    )
    .await;
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("launch_rockets"),
        "{reply}"
    );
}

#[tokio::test]
async fn mcp_bookings_count_against_the_booking_rate_of_their_caller() {
    let (app, ann, bob) = token_app(vec![("rate_limit_bookings", "2".into())]).await;
    let book = |token: &str, count| {
        call(
            app.client
                .post(app.url("/mcp"))
                .bearer_auth(token.to_string()),
            "book",
            book_args(count, None),
        )
    };
    for _ in 0..2 {
        let (_, reply) = book(&ann, 1).await;
        assert!(!result(&reply).0, "{reply}");
    }
    let (_, reply) = book(&ann, 1).await;
    let (is_error, r) = result(&reply);
    assert!(is_error, "{reply}");
    assert_eq!(
        (r["status"].clone(), r["error"]["code"].clone()),
        (json!(429), json!("too_many_requests"))
    );
    assert!(
        r["retry_after_seconds"].as_u64().is_some_and(|s| s >= 1),
        "{reply}"
    );
    // Reads are not booking changes, and another caller has their own allowance.
    let (_, reply) = call(
        app.client.post(app.url("/mcp")).bearer_auth(&ann),
        "my_bookings",
        json!({}),
    )
    .await;
    assert_eq!(result(&reply).1["bookings"].as_array().unwrap().len(), 2);
    assert!(!result(&book(&bob, 1).await.1).0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyed_mcp_book_is_one_booking_across_two_postgres_instances() {
    let db = PgDb::new().await;
    let spawn = || {
        spawn_with(Spawn {
            database_url: Some(db.url.clone()),
            settings: vec![("auth", "token".into()), ("sessions", "database".into())],
            ..Default::default()
        })
    };
    let (a, b) = (spawn().await, spawn().await);
    let ann = user_token(&a, "ann").await;
    let args = book_args(2, Some("agent-retry-7"));
    let on = |on_b: bool| {
        let app = if on_b { &b } else { &a };
        call(
            app.client.post(app.url("/mcp")).bearer_auth(&ann),
            "book",
            args.clone(),
        )
    };
    // The agent's call and its retry land on different instances at once.
    let ((_, first), (_, second)) = tokio::join!(on(false), on(true));
    let ids: Vec<Value> = [&first, &second]
        .into_iter()
        .map(|r| {
            let (is_error, v) = result(r);
            if is_error {
                // The retry may arrive while the first still runs: told to retry, not booked.
                assert_eq!(v["error"]["code"], "request_in_progress", "{r}");
                Value::Null
            } else {
                v["id"].clone()
            }
        })
        .collect();
    // Once both have answered, a third retry replays the booking.
    let (_, third) = on(true).await;
    let id = result(&third).1["id"].clone();
    assert!(id.is_string(), "{third}");
    assert!(
        ids.iter().all(|i| i.is_null() || *i == id),
        "{ids:?} vs {id}"
    );
    let all = bookings_of(&a, &ann).await;
    assert_eq!(all.len(), 1, "one booking for one key: {all:?}");
    assert_eq!(all[0]["id"], id);
}

#[tokio::test]
async fn a_keyed_join_waitlist_retried_is_one_entry() {
    let (app, ann, _) = token_app(vec![]).await;
    let mcp = || app.client.post(app.url("/mcp")).bearer_auth(&ann);
    let mut full = book_args(8, None);
    full["model"] = json!("V100");
    assert!(!result(&call(mcp(), "book", full.clone()).await.1).0);
    let mut join = full.clone();
    join["count"] = json!(1);
    join["idempotency_key"] = json!("wait-1");
    let (_, first) = call(mcp(), "join_waitlist", join.clone()).await;
    let (_, again) = call(mcp(), "join_waitlist", join).await;
    assert_eq!(result(&first).1["status"], "waiting", "{first}");
    assert_eq!(result(&first).1["id"], result(&again).1["id"], "{again}");
    let list: Value = app
        .client
        .get(app.url("/api/waitlist"))
        .bearer_auth(&ann)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["waitlist"].as_array().unwrap().len(), 1, "{list}");
}
