//! Sessions in a real Redis shared by two server instances: turns of one session sent to
//! both are applied one at a time, in order, none lost; either instance shows the history.

use crate::assistants::Echo;
use crate::helpers::*;
use crate::sessions::check_history;
use hpcbot::domain::Clock;
use hpcbot::server::Overrides;
use serde_json::{json, Value};
use std::sync::Arc;

fn redis_url() -> String {
    std::env::var("HPCBOT_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

async fn instance(prefix: &str, echo: &Echo, clock: Option<Clock>) -> TestApp {
    spawn_with(Spawn {
        settings: vec![
            ("sessions", redis_url()),
            ("redis_prefix", prefix.to_string()),
        ],
        overrides: Overrides {
            assistant: Some(Arc::new(echo.clone())),
            clock,
        },
        ..Default::default()
    })
    .await
}

fn prefix() -> String {
    format!("hpcbot-test-{}", uuid::Uuid::new_v4().simple())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turns_across_two_instances_are_ordered_and_whole() {
    let p = prefix();
    let (ea, eb) = (Echo::default(), Echo::default());
    let (a, b) = (instance(&p, &ea, None).await, instance(&p, &eb, None).await);
    let sid = new_session(&a).await;
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let app = if i % 2 == 0 { &a } else { &b };
            let (c, url, sid) = (app.client.clone(), app.url("/api/chat"), sid.clone());
            tokio::spawn(async move {
                let r = c
                    .post(url)
                    .json(&json!({"message": format!("m{i}"), "session_id": sid}))
                    .send()
                    .await
                    .unwrap();
                (r.status().as_u16(), r.json::<Value>().await.unwrap())
            })
        })
        .collect();
    let mut ok = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            (200, v) => ok.push(v),
            (503, v) => assert_eq!(v["error"]["code"], "session_busy"),
            (s, v) => panic!("{s}: {v}"),
        }
    }
    assert!(ok.len() >= 10, "most turns got through: {}", ok.len());
    for app in [&a, &b] {
        let h: Value = app
            .get(&format!("/api/sessions/{sid}"))
            .await
            .json()
            .await
            .unwrap();
        check_history(h["messages"].as_array().unwrap(), &ok);
    }
    let threads: Value = b.get("/health/threads").await.json().await.unwrap();
    assert_eq!(threads["session_store"], "redis");
    assert_eq!(b.get("/health/ready").await.status(), 200);
}

#[tokio::test]
async fn a_session_started_on_one_instance_continues_on_the_other_and_expires() {
    let p = prefix();
    let clock = Clock::fixed(chrono::Utc::now());
    let (ea, eb) = (Echo::default(), Echo::default());
    let a = instance(&p, &ea, Some(clock.clone())).await;
    let b = instance(&p, &eb, Some(clock.clone())).await;
    let first: Value = a
        .post("/api/chat", &json!({"message": "one"}))
        .await
        .json()
        .await
        .unwrap();
    let sid = first["session_id"].as_str().unwrap();
    let second: Value = b
        .post("/api/chat", &json!({"message": "two", "session_id": sid}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(second["turn"], 2);
    assert_eq!(
        second["response"], "echo:two|seen:2",
        "instance B saw A's turn"
    );
    assert_eq!(
        b.delete(&format!("/api/sessions/{sid}")).await.status(),
        204
    );
    expect_error(
        a.get(&format!("/api/sessions/{sid}")).await,
        404,
        "session_not_found",
    )
    .await;
    let third: Value = a
        .post("/api/chat", &json!({"message": "three"}))
        .await
        .json()
        .await
        .unwrap();
    let sid = third["session_id"].as_str().unwrap();
    clock.advance(chrono::Duration::hours(25));
    expect_error(
        b.get(&format!("/api/sessions/{sid}")).await,
        404,
        "session_not_found",
    )
    .await;
}
