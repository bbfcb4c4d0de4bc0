//! Operations: a stuck request is visible while it is stuck, overload is shed at once,
//! and /metrics counts what happened.

use crate::assistants::Echo;
use crate::helpers::*;
use serde_json::{json, Value};

async fn age_of(app: &TestApp, sid: &str) -> Option<(u64, String)> {
    let v: Value = app.get("/debug/requests").await.json().await.unwrap();
    v["requests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["session"] == hpcbot::server::guard::session_tag(sid))
        .map(|r| {
            (
                r["age_ms"].as_u64().unwrap(),
                r["stage"].as_str().unwrap().to_string(),
            )
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_turn_shows_its_stage_and_growing_age_while_health_answers() {
    let echo = Echo::default();
    let app = echo_app(&echo, vec![]).await;
    let (sid, turn) = blocked_turn(&app, &echo).await;
    let (first, stage) = age_of(&app, &sid).await.expect("listed while stuck");
    assert_eq!(stage, "assistant");
    assert_eq!(app.get("/health").await.status(), 200);
    // Its age grows while it stays stuck (an observed change, not a sleep).
    loop {
        let (age, _) = age_of(&app, &sid).await.expect("still listed");
        if age > first {
            break;
        }
        tokio::task::yield_now().await;
    }
    let threads: Value = app.get("/health/threads").await.json().await.unwrap();
    assert!(threads["in_flight_requests"].as_u64().unwrap() >= 1);
    assert!(threads["oldest_request_ms"].as_u64().unwrap() > first);
    assert!(threads["active_threads"].as_u64().unwrap() >= 1);
    assert!(threads["workers"].as_u64().unwrap() >= 1);
    assert!(threads["timestamp"].is_string());
    echo.release.notify_waiters();
    assert_eq!(turn.await.unwrap().status(), 200);
    assert!(age_of(&app, &sid).await.is_none(), "gone once finished");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_in_flight_limit_requests_are_shed_but_health_and_metrics_answer() {
    let echo = Echo::default();
    let app = echo_app(&echo, vec![("max_in_flight", "2".into())]).await;
    let (_, a) = blocked_turn(&app, &echo).await;
    let (_, b) = blocked_turn(&app, &echo).await;
    let res = app.get("/api/gpus").await;
    assert_eq!(res.headers()["retry-after"], "1");
    expect_error(res, 503, "overloaded").await;
    assert_eq!(app.get("/health").await.status(), 200);
    assert_eq!(app.get("/health/threads").await.status(), 200);
    assert_eq!(app.get("/metrics").await.status(), 200);
    echo.release.notify_waiters();
    assert_eq!(a.await.unwrap().status(), 200);
    assert_eq!(b.await.unwrap().status(), 200);
    assert_eq!(
        app.get("/api/gpus").await.status(),
        200,
        "admitted again once below the limit"
    );
}

/// The value of the sample `name{...}` whose labels include all of `labels`.
fn sample(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && labels.iter().all(|x| l.contains(x)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text_and_count_a_request() {
    let app = spawn_app().await;
    app.post("/debug/echo", &json!({"x": 1})).await;
    let before = app.get("/metrics").await.text().await.unwrap();
    for line in before.lines().filter(|l| !l.is_empty()) {
        if line.starts_with('#') {
            assert!(
                line.starts_with("# TYPE ") || line.starts_with("# HELP "),
                "{line}"
            );
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value: {line}"));
        assert!(
            value.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&value),
            "{line}"
        );
        let name = series.split('{').next().unwrap();
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "{line}"
        );
        if let Some(labels) = series.strip_prefix(name) {
            assert!(
                labels.is_empty() || (labels.starts_with('{') && labels.ends_with('}')),
                "{line}"
            );
        }
    }
    let labels = ["route=\"/debug/echo\"", "status=\"200\""];
    let n1 = sample(&before, "hpcbot_http_requests_total", &labels);
    assert!(n1 >= 1.0);
    app.post("/debug/echo", &json!({"x": 2})).await;
    let after = app.get("/metrics").await.text().await.unwrap();
    assert_eq!(
        sample(&after, "hpcbot_http_requests_total", &labels),
        n1 + 1.0
    );
    for name in [
        "hpcbot_http_request_duration_seconds",
        "hpcbot_in_flight_requests",
        "hpcbot_sessions",
    ] {
        assert!(after.contains(name), "{name} exported");
    }
}

#[tokio::test]
async fn ready_names_each_store() {
    let app = spawn_app().await;
    let v: Value = app.get("/health/ready").await.json().await.unwrap();
    assert_eq!(v["checks"]["database"], "ok");
    assert_eq!(v["checks"]["sessions"], "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_is_503_naming_the_store_that_does_not_answer() {
    let db = PgDb::new().await;
    let app = spawn_with(Spawn {
        database_url: Some(db.url.clone()),
        ..Default::default()
    })
    .await;
    assert_eq!(app.get("/health/ready").await.status(), 200);
    drop(db); // the database goes away under the running server
    let res = app.get("/health/ready").await;
    assert_eq!(res.status(), 503);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["checks"]["database"], "failing");
    assert!(v["error"]["message"].as_str().unwrap().contains("database"));
    assert_eq!(
        app.get("/health").await.status(),
        200,
        "the process still serves"
    );
}

/// A request from loopback with `X-Forwarded-For` while `trusted_proxies` is unset (a proxy
/// on this host nobody declared) is counted in `/metrics` (and warned of once in the log);
/// the client stays the peer.
#[tokio::test]
async fn forwarding_from_loopback_without_trusted_proxies_is_flagged() {
    let app = spawn_app().await;
    let count = |text: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with("hpcbot_untrusted_forwarded_total"))
            .and_then(|l| l.rsplit_once(' '))
            .map(|(_, v)| v.parse().unwrap())
            .unwrap_or(0.0)
    };
    let before = count(&app.get("/metrics").await.text().await.unwrap());
    let res = app
        .client
        .get(app.url("/api/gpus"))
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let after = count(&app.get("/metrics").await.text().await.unwrap());
    assert!(after >= before + 1.0, "{before} -> {after}");
}
