//! The session engine through HTTP: order, single flight, isolation, deadlines, bounds,
//! and every chat/session error case of API.md.

use crate::assistants::Echo;
use crate::helpers::*;
use hpcbot::server::Overrides;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::Arc;

/// Sends `msgs` concurrently to one session; returns the 200 replies.
async fn concurrent_turns(app: &TestApp, sid: &str, msgs: Vec<String>) -> Vec<Value> {
    let tasks: Vec<_> = msgs
        .into_iter()
        .map(|m| {
            let (c, url, sid) = (app.client.clone(), app.url("/api/chat"), sid.to_string());
            tokio::spawn(async move {
                let res = c
                    .post(url)
                    .json(&json!({"message": m, "session_id": sid}))
                    .send()
                    .await
                    .unwrap();
                (res.status().as_u16(), res.json::<Value>().await.unwrap())
            })
        })
        .collect();
    let mut ok = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            (200, v) => ok.push(v),
            (503, v) => assert_eq!(v["error"]["code"], "session_busy"),
            (s, v) => panic!("unexpected {s}: {v}"),
        }
    }
    ok
}

/// The history holds exactly the replied turns, in turn order, each seeing all before it.
pub fn check_history(hist: &[Value], replies: &[Value]) {
    assert_eq!(hist.len(), 2 * replies.len(), "two entries per reply");
    let turns: HashSet<u64> = replies
        .iter()
        .map(|r| r["turn"].as_u64().unwrap())
        .collect();
    assert_eq!(turns.len(), replies.len(), "turn numbers are distinct");
    for r in replies {
        let n = r["turn"].as_u64().unwrap() as usize;
        assert!(n >= 1 && n <= replies.len(), "turn numbers are positions");
        let (user, assistant) = (&hist[2 * (n - 1)], &hist[2 * (n - 1) + 1]);
        assert_eq!(user["role"], "user");
        assert_eq!(assistant["role"], "assistant");
        assert_eq!(assistant["content"], r["response"]);
        // It saw every earlier turn.
        assert!(r["response"]
            .as_str()
            .unwrap()
            .ends_with(&format!("|seen:{}", 2 * (n - 1))));
        assert_eq!(
            format!(
                "echo:{}|seen:{}",
                user["content"].as_str().unwrap(),
                2 * (n - 1)
            ),
            r["response"]
        );
    }
}

async fn twenty_concurrent_turns_of_one_session_are_ordered_and_whole(store: Store) {
    let echo = Echo::default();
    let app = store.echo_app(&echo, vec![]).await;
    let sid = new_session(&app).await;
    let replies = concurrent_turns(&app, &sid, (0..20).map(|i| format!("m{i}")).collect()).await;
    assert!(!replies.is_empty());
    check_history(&history(&app, &sid).await, &replies);
    assert_eq!(echo.opens_of(&sid), 1);
}

async fn racing_first_turns_create_each_assistant_once(store: Store) {
    let echo = Echo::default();
    let app = store.echo_app(&echo, vec![]).await;
    let mut sids = Vec::new();
    for _ in 0..200 {
        sids.push(new_session(&app).await);
    }
    let tasks: Vec<_> = sids
        .iter()
        .map(|sid| {
            let (app_url, c, sid) = (app.url("/api/chat"), app.client.clone(), sid.clone());
            tokio::spawn(async move {
                let send = |m: &str| {
                    c.post(&app_url)
                        .json(&json!({"message": m, "session_id": sid}))
                        .send()
                };
                let (a, b) = tokio::join!(send("first"), send("second"));
                let a: Value = a.unwrap().json().await.unwrap();
                let b: Value = b.unwrap().json().await.unwrap();
                vec![a, b]
            })
        })
        .collect();
    for (t, sid) in tasks.into_iter().zip(&sids) {
        let replies = t.await.unwrap();
        check_history(&history(&app, sid).await, &replies);
        assert_eq!(echo.opens_of(sid), 1, "created once per session");
    }
}

async fn a_session_whose_creation_blocks_delays_no_other_session(store: Store) {
    let echo = Echo::default();
    let app = store.echo_app(&echo, vec![]).await;
    let (stuck, stuck_turn) = blocked_turn(&app, &echo).await;
    let others: Vec<_> = (0..50)
        .map(|i| {
            let (c, url) = (app.client.clone(), app.url("/api/chat"));
            tokio::spawn(async move {
                c.post(url)
                    .json(&json!({"message": format!("other {i}")}))
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    for o in others {
        assert_eq!(o.await.unwrap(), 200);
    }
    assert!(
        !stuck_turn.is_finished(),
        "the blocked session is still blocked while the 50 others completed"
    );
    let threads: Value = app.get("/debug/requests").await.json().await.unwrap();
    let listed = threads["requests"].as_array().unwrap().iter().any(|r| {
        r["session"] == hpcbot::server::guard::session_tag(&stuck) && r["stage"] == "assistant"
    });
    assert!(listed, "the stuck turn shows with its stage: {threads}");
    echo.release.notify_waiters();
    assert_eq!(stuck_turn.await.unwrap().status(), 200);
}

async fn a_turn_past_the_deadline_ends_504_and_leaves_no_half_turn(store: Store) {
    let echo = Echo::default();
    let app = store
        .echo_app(&echo, vec![("request_timeout", "3s".into())])
        .await;
    let sid = new_session(&app).await;
    let ok = concurrent_turns(&app, &sid, vec!["before".into()]).await;
    let res = app
        .post(
            "/api/chat",
            &json!({"message": "please hang", "session_id": sid}),
        )
        .await;
    expect_error(res, 504, "deadline_exceeded").await;
    let after = concurrent_turns(&app, &sid, vec!["after".into()]).await;
    let hist = history(&app, &sid).await;
    assert_eq!(hist.len(), 4);
    assert_eq!(after[0]["turn"], 2);
    check_history(&hist, &[ok[0].clone(), after[0].clone()]);
}

/// A stuck turn holds its session only until its own deadline: the next turn, queued
/// behind it, then runs (its own deadline is later) and the stuck one leaves nothing.
async fn a_turn_queued_behind_a_stuck_one_runs_once_the_stuck_one_times_out(store: Store) {
    let echo = Echo::default();
    let app = store
        .echo_app(&echo, vec![("request_timeout", "4s".into())])
        .await;
    let sid = new_session(&app).await;
    let stuck = {
        let (c, url, sid) = (app.client.clone(), app.url("/api/chat"), sid.clone());
        tokio::spawn(async move {
            c.post(url)
                .json(&json!({"message": "hang", "session_id": sid}))
                .send()
                .await
                .unwrap()
        })
    };
    // Queue the second turn once the first has held the session for half its deadline, so
    // the second's own deadline is 2 s after the first one's (a margin for a loaded CI box).
    loop {
        let r: Value = app.get("/debug/requests").await.json().await.unwrap();
        let held = r["requests"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["stage"] == "assistant" && e["age_ms"].as_u64().unwrap() >= 2000);
        if held {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let next = {
        let (c, url, sid) = (app.client.clone(), app.url("/api/chat"), sid.clone());
        tokio::spawn(async move {
            c.post(url)
                .json(&json!({"message": "next", "session_id": sid}))
                .send()
                .await
                .unwrap()
        })
    };
    loop {
        let r: Value = app.get("/debug/requests").await.json().await.unwrap();
        if r["requests"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["stage"] == "queued for session")
        {
            break;
        }
        tokio::task::yield_now().await;
    }
    expect_error(stuck.await.unwrap(), 504, "deadline_exceeded").await;
    let next: Value = next.await.unwrap().json().await.unwrap();
    assert_eq!(next["turn"], 1, "{next}");
    check_history(&history(&app, &sid).await, &[next]);
}

async fn two_hundred_sessions_times_five_turns_lose_nothing(store: Store) {
    let echo = Echo::default();
    let app = store.echo_app(&echo, vec![]).await;
    let mut sids = Vec::new();
    for _ in 0..200 {
        sids.push(new_session(&app).await);
    }
    let tasks: Vec<_> = sids
        .iter()
        .map(|sid| {
            let (c, url, sid) = (app.client.clone(), app.url("/api/chat"), sid.clone());
            tokio::spawn(async move {
                let mut out = Vec::new();
                for i in 0..5 {
                    let r = c
                        .post(&url)
                        .json(&json!({"message": format!("t{i}"), "session_id": sid}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 200);
                    out.push(r.json::<Value>().await.unwrap());
                }
                out
            })
        })
        .collect();
    for (t, sid) in tasks.into_iter().zip(&sids) {
        let replies = t.await.unwrap();
        check_history(&history(&app, sid).await, &replies);
    }
}

async fn sessions_expire_when_idle_and_turns_renew_them(store: Store) {
    let clock = hpcbot::domain::Clock::fixed(chrono::Utc::now());
    let echo = Echo::default();
    let app = store
        .spawn(Spawn {
            settings: vec![("session_ttl", "1h".into())],
            overrides: Overrides {
                assistant: Some(Arc::new(echo.clone())),
                clock: Some(clock.clone()),
            },
            ..Default::default()
        })
        .await;
    let sid = new_session(&app).await;
    clock.advance(chrono::Duration::minutes(50));
    assert_eq!(
        app.post("/api/chat", &json!({"message": "hi", "session_id": sid}))
            .await
            .status(),
        200
    );
    clock.advance(chrono::Duration::minutes(50));
    assert_eq!(
        app.get(&format!("/api/sessions/{sid}")).await.status(),
        200,
        "the turn renewed it"
    );
    clock.advance(chrono::Duration::minutes(61));
    expect_error(
        app.get(&format!("/api/sessions/{sid}")).await,
        404,
        "session_not_found",
    )
    .await;
    expect_error(
        app.post("/api/chat", &json!({"message": "hi", "session_id": sid}))
            .await,
        404,
        "session_not_found",
    )
    .await;
}

#[tokio::test]
async fn the_session_store_is_bounded() {
    let echo = Echo::default();
    let app = Store::Memory
        .echo_app(&echo, vec![("max_sessions", "32".into())])
        .await;
    let mut last = String::new();
    for _ in 0..300 {
        last = new_session(&app).await;
    }
    let n = app.state.engine.store().count().await.unwrap();
    assert!(n <= 32, "{n} sessions held");
    assert_eq!(
        app.get(&format!("/api/sessions/{last}")).await.status(),
        200,
        "the newest is kept"
    );
}

async fn chat_and_session_errors_have_the_contract_body(store: Store) {
    let app = store.echo_app(&Echo::default(), vec![]).await;
    expect_error(
        app.post("/api/chat", &json!({"message": ""})).await,
        400,
        "invalid_message",
    )
    .await;
    expect_error(
        app.post("/api/chat", &json!({"message": "   \n\t "})).await,
        400,
        "invalid_message",
    )
    .await;
    expect_error(
        app.post("/api/chat", &json!({"message": "x".repeat(4001)}))
            .await,
        400,
        "invalid_message",
    )
    .await;
    assert_eq!(
        app.post(
            "/api/chat",
            &json!({"message": format!("  {}  ", "é".repeat(4000))})
        )
        .await
        .status(),
        200
    );
    expect_error(
        app.post("/api/chat", &json!({"message": 5})).await,
        400,
        "invalid_json",
    )
    .await;
    expect_error(app.post("/api/chat", &json!({})).await, 400, "invalid_json").await;
    expect_error(
        app.post("/api/chat", &json!({"message": "hi", "extra": 1}))
            .await,
        400,
        "invalid_json",
    )
    .await;
    let raw = app
        .client
        .post(app.url("/api/chat"))
        .header("content-type", "application/json")
        .body("{\"message\": \"hi\"")
        .send()
        .await
        .unwrap();
    expect_error(raw, 400, "invalid_json").await;
    let unknown = "0123456789abcdef0123456789abcdef";
    expect_error(
        app.post(
            "/api/chat",
            &json!({"message": "hi", "session_id": unknown}),
        )
        .await,
        404,
        "session_not_found",
    )
    .await;
    expect_error(
        app.post(
            "/api/chat",
            &json!({"message": "hi", "session_id": "not-an-id"}),
        )
        .await,
        404,
        "session_not_found",
    )
    .await;
    expect_error(
        app.post(
            "/api/chat/stream",
            &json!({"message": "hi", "session_id": unknown}),
        )
        .await,
        404,
        "session_not_found",
    )
    .await;
    expect_error(
        app.get(&format!("/api/sessions/{unknown}")).await,
        404,
        "session_not_found",
    )
    .await;
    expect_error(
        app.delete(&format!("/api/sessions/{unknown}")).await,
        404,
        "session_not_found",
    )
    .await;
    expect_error(
        app.post("/api/direct/chat", &json!({"message": ""})).await,
        400,
        "invalid_message",
    )
    .await;
    expect_error(
        app.post(
            "/api/direct/chat",
            &json!({"message": "hi", "session_id": unknown}),
        )
        .await,
        400,
        "invalid_json",
    )
    .await;
    let sid = new_session(&app).await;
    assert_eq!(
        app.delete(&format!("/api/sessions/{sid}")).await.status(),
        204
    );
    expect_error(
        app.get(&format!("/api/sessions/{sid}")).await,
        404,
        "session_not_found",
    )
    .await;
}

async fn a_new_chat_sets_the_cookie_and_the_cookie_continues_it(store: Store) {
    let app = store.echo_app(&Echo::default(), vec![]).await;
    let res = app.post("/api/chat", &json!({"message": "one"})).await;
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/")
    );
    let first: Value = res.json().await.unwrap();
    assert_eq!(first["turn"], 1);
    assert_eq!(first["backend"], "builtin");
    assert!(first["actions"].as_array().unwrap().is_empty());
    let sid = first["session_id"].as_str().unwrap();
    assert_eq!(sid.len(), 32);
    let pair = cookie.split(';').next().unwrap().to_string();
    let second: Value = app
        .client
        .post(app.url("/api/chat"))
        .header("cookie", pair)
        .json(&json!({"message": "two"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(second["session_id"], sid);
    assert_eq!(second["turn"], 2);
    // A stale cookie starts afresh instead of failing.
    let stale: Value = app
        .client
        .post(app.url("/api/chat"))
        .header("cookie", "hpcbot_sid=0123456789abcdef0123456789abcdef")
        .json(&json!({"message": "x"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stale["turn"], 1);
}

async fn the_stream_sends_deltas_then_done(store: Store) {
    let app = store.echo_app(&Echo::default(), vec![]).await;
    let res = app
        .post("/api/chat/stream", &json!({"message": "streamed"}))
        .await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let text = res.text().await.unwrap();
    let events: Vec<(String, Value)> = text
        .split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .map(|b| {
            let ev = b
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .unwrap()
                .to_string();
            let data = b.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
            (ev, serde_json::from_str(data).unwrap())
        })
        .collect();
    let (last, done) = events.last().unwrap();
    assert_eq!(last, "done");
    let deltas: String = events
        .iter()
        .filter(|(e, _)| e == "delta")
        .map(|(_, d)| d["text"].as_str().unwrap())
        .collect();
    assert_eq!(deltas, done["response"].as_str().unwrap());
    assert!(events.len() >= 3, "several deltas: {text}");
    assert_eq!(events.iter().filter(|(e, _)| e == "done").count(), 1);
    let sid = done["session_id"].as_str().unwrap();
    assert_eq!(history(&app, sid).await.len(), 2);
}

#[tokio::test]
async fn direct_chat_is_stateless() {
    let echo = Echo::default();
    let app = echo_app(&echo, vec![]).await;
    let res = app
        .post("/api/direct/chat", &json!({"message": "hello"}))
        .await;
    assert_eq!(res.status(), 200);
    // No session cookie (only the client cookie every /api/* reply gives a cookieless caller).
    assert!(res
        .headers()
        .get_all("set-cookie")
        .iter()
        .all(|c| !c.to_str().unwrap().starts_with("hpcbot_sid=")));
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["response"], "echo:hello|seen:0");
    assert_eq!(v["backend"], "builtin");
    assert_eq!(app.state.engine.store().count().await.unwrap(), 0);
}

#[tokio::test]
async fn graceful_shutdown_lets_the_turn_in_flight_finish() {
    let echo = Echo::default();
    let mut app = echo_app(&echo, vec![]).await;
    let (_, turn) = blocked_turn(&app, &echo).await;
    app.stop();
    // New connections are refused once the listener is closed.
    let addr = app.addr;
    loop {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(!turn.is_finished());
    echo.release.notify_waiters();
    assert_eq!(turn.await.unwrap().status(), 200);
    (&mut app.handle).await.unwrap().unwrap();
}

async fn the_session_can_be_named_in_the_query_string(store: Store) {
    let app = store.echo_app(&Echo::default(), vec![]).await;
    let sid = new_session(&app).await;
    let res = app
        .post(
            &format!("/api/chat?session_id={sid}"),
            &json!({"message": "via query"}),
        )
        .await;
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["session_id"], sid.as_str());
    let b = app
        .post(
            &format!("/api/bookings?session_id={sid}"),
            &json!({"model": "V100", "count": 1, "start": tomorrow(9), "end": tomorrow(10)}),
        )
        .await;
    assert_eq!(b.status(), 201);
    let mine: Value = app
        .get(&format!("/api/bookings?session_id={sid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["bookings"].as_array().unwrap().len(), 1);
}

/// Runs each session-engine test above on every session store: memory, the database on
/// SQLite (the default) and the database on PostgreSQL.
macro_rules! on_every_store {
    ($($name:ident),* $(,)?) => {
        mod on_memory {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(crate::helpers::Store::Memory).await } )*
        }
        mod on_sqlite {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(crate::helpers::Store::Sqlite).await } )*
        }
        mod on_postgres {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(crate::helpers::Store::Postgres).await } )*
        }
    };
}

on_every_store!(
    twenty_concurrent_turns_of_one_session_are_ordered_and_whole,
    racing_first_turns_create_each_assistant_once,
    a_session_whose_creation_blocks_delays_no_other_session,
    a_turn_past_the_deadline_ends_504_and_leaves_no_half_turn,
    a_turn_queued_behind_a_stuck_one_runs_once_the_stuck_one_times_out,
    two_hundred_sessions_times_five_turns_lose_nothing,
    sessions_expire_when_idle_and_turns_renew_them,
    chat_and_session_errors_have_the_contract_body,
    a_new_chat_sets_the_cookie_and_the_cookie_continues_it,
    the_stream_sends_deltas_then_done,
    the_session_can_be_named_in_the_query_string,
);
