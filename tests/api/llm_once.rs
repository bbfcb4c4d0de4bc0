//! The LLM backend books each proposal at most once (issue 11), whatever happens to the
//! turn that confirms it: a yes whose turn times out, whose stream is closed, or whose next
//! LLM round fails, then a retried yes; and two `confirm_booking` calls in one completion.
//! Also: a chat turn sent again with its `Idempotency-Key` is replayed, not run again.

use crate::helpers::*;
use futures::StreamExt;
use hpcbot::assistant::llm::mock::{Behavior, MockLlm};
use serde_json::{json, Value};

async fn llm_app(mock: &MockLlm, mut settings: Vec<(&'static str, String)>) -> TestApp {
    settings.push(("llm.base_url", mock.base_url.clone()));
    spawn_with(Spawn {
        settings,
        ..Default::default()
    })
    .await
}

fn call(name: &str, args: Value) -> Behavior {
    Behavior::ToolCall {
        name: name.into(),
        arguments: args.to_string(),
    }
}

async fn turn(app: &TestApp, sid: Option<&str>, msg: &str) -> (u16, Value) {
    let mut body = json!({"message": msg});
    if let Some(s) = sid {
        body["session_id"] = json!(s);
    }
    let res = app.post("/api/chat", &body).await;
    (res.status().as_u16(), res.json().await.unwrap())
}

/// Turn 1: the model proposes 1 H100 tomorrow 9-10. Returns the session.
async fn proposed(app: &TestApp, mock: &MockLlm) -> String {
    let args = json!({"model": "H100", "count": 1, "start": tomorrow(9), "end": tomorrow(10)});
    mock.push(call("propose_booking", args));
    mock.push(Behavior::Text(
        "1 × H100 tomorrow 09:00–10:00. Shall I book it?".into(),
    ));
    let (s, v) = turn(app, None, "book an h100 tomorrow 9-10").await;
    assert_eq!(s, 200, "{v}");
    v["session_id"].as_str().unwrap().to_string()
}

/// A retried yes books nothing new: the reply names the one booking there is.
async fn retried_yes_finds_the_booking(app: &TestApp, mock: &MockLlm, sid: &str) {
    mock.push(call("confirm_booking", json!({})));
    mock.push(Behavior::Text("It is booked.".into()));
    let (s, v) = turn(app, Some(sid), "yes").await;
    assert_eq!(s, 200, "{v}");
    let all = app.state.tools.store().all().await.unwrap();
    assert_eq!(all.len(), 1, "one booking: {all:?}");
    assert_eq!(v["actions"][0]["booking"]["id"], all[0].id.as_str(), "{v}");
}

#[tokio::test]
async fn a_yes_whose_turn_timed_out_then_a_retried_yes_books_once() {
    let mock = MockLlm::start().await;
    let app = llm_app(&mock, vec![("request_timeout", "2s".into())]).await;
    let sid = proposed(&app, &mock).await;
    // The model books, then never finishes its reply: the client's turn times out.
    mock.push(call("confirm_booking", json!({})));
    mock.push(Behavior::Hang);
    let (s, v) = turn(&app, Some(&sid), "yes").await;
    assert_eq!(s, 504, "{v}");
    assert_eq!(app.state.tools.store().all().await.unwrap().len(), 1);
    retried_yes_finds_the_booking(&app, &mock, &sid).await;
}

#[tokio::test]
async fn a_yes_whose_stream_was_closed_then_a_retried_yes_books_once() {
    let mock = MockLlm::start().await;
    let app = llm_app(&mock, vec![]).await;
    let sid = proposed(&app, &mock).await;
    mock.push(call("confirm_booking", json!({})));
    mock.push(Behavior::SlowText(
        "Booked it for you, here are all the details of what I did ".repeat(20),
        std::time::Duration::from_millis(50),
    ));
    let res = app
        .client
        .post(app.url("/api/chat/stream"))
        .json(&json!({"message": "yes", "session_id": sid}))
        .send()
        .await
        .unwrap();
    let mut stream = res.bytes_stream();
    // The first piece of the reply arrives after the booking; then the client goes away.
    let mut seen = String::new();
    while !seen.contains("event: delta") {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), stream.next())
            .await
            .expect("a delta in time")
            .expect("stream open")
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    drop(stream);
    // The turn was cancelled and not stored: only the first turn is in the history.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while mock.disconnects() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the upstream call is cancelled"
        );
        tokio::task::yield_now().await;
    }
    assert_eq!(history(&app, &sid).await.len(), 2);
    retried_yes_finds_the_booking(&app, &mock, &sid).await;
}

#[tokio::test]
async fn a_yes_whose_next_llm_round_failed_says_what_was_booked() {
    let mock = MockLlm::start().await;
    let app = llm_app(&mock, vec![("llm.max_retries", "0".into())]).await;
    let sid = proposed(&app, &mock).await;
    mock.push(call("confirm_booking", json!({})));
    mock.push(Behavior::Status(500));
    let (s, v) = turn(&app, Some(&sid), "yes").await;
    assert_eq!(s, 200, "never 'could not answer' after booking: {v}");
    let all = app.state.tools.store().all().await.unwrap();
    assert_eq!(all.len(), 1);
    let text = v["response"].as_str().unwrap();
    assert!(
        text.contains(all[0].id.short()) && text.contains("Booked"),
        "{text}"
    );
    assert_eq!(v["actions"][0]["booking"]["id"], all[0].id.as_str());
    // A yes again books nothing more.
    mock.push(call("confirm_booking", json!({})));
    mock.push(Behavior::Text("ok".into()));
    let (s, v) = turn(&app, Some(&sid), "yes").await;
    assert_eq!(s, 200);
    assert!(v["actions"].as_array().unwrap().is_empty(), "{v}");
    assert_eq!(app.state.tools.store().all().await.unwrap().len(), 1);
}

#[tokio::test]
async fn two_confirm_calls_in_one_completion_book_once() {
    let mock = MockLlm::start().await;
    let app = llm_app(&mock, vec![]).await;
    let sid = proposed(&app, &mock).await;
    mock.push(Behavior::ToolCalls(vec![
        ("confirm_booking".into(), "{}".into()),
        ("confirm_booking".into(), "{}".into()),
    ]));
    mock.push(Behavior::Text("Booked.".into()));
    let (s, v) = turn(&app, Some(&sid), "yes").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["actions"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(app.state.tools.store().all().await.unwrap().len(), 1);
    // One event, recorded as made through the LLM, with this request's id.
    let id = v["actions"][0]["booking"]["id"].as_str().unwrap();
    let ev: Value = app
        .get(&format!("/api/bookings/{id}/events?session_id={sid}"))
        .await
        .json()
        .await
        .unwrap();
    let events = ev["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{ev}");
    assert_eq!(events[0]["type"], "created");
    assert_eq!(events[0]["via"], "llm");
    assert!(!events[0]["request_id"].as_str().unwrap().is_empty());
    // Both tool results name the same booking.
    let round = mock.body(3).unwrap().to_string();
    assert_eq!(
        round.matches("\\\"status\\\":\\\"booked\\\"").count(),
        2,
        "{round}"
    );
}

#[tokio::test]
async fn a_chat_turn_sent_again_with_its_key_is_replayed() {
    let mock = MockLlm::start().await;
    let app = llm_app(&mock, vec![]).await;
    let sid = proposed(&app, &mock).await;
    mock.push(call("confirm_booking", json!({})));
    mock.push(Behavior::Text("Booked.".into()));
    let body = json!({"message": "yes", "session_id": sid});
    let send = |path: &'static str| {
        app.client
            .post(app.url(path))
            .header("idempotency-key", "turn-2")
            .json(&body)
            .send()
    };
    let first = send("/api/chat").await.unwrap();
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.unwrap();
    let again = send("/api/chat").await.unwrap();
    assert_eq!(again.headers()["idempotency-replayed"], "true");
    // The replay sets the session cookie as the first reply did.
    let cookies: Vec<_> = again.headers().get_all("set-cookie").iter().collect();
    assert!(
        cookies.iter().any(|c| c
            .to_str()
            .unwrap()
            .starts_with(&format!("hpcbot_sid={sid};"))),
        "{cookies:?}"
    );
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    assert_eq!(history(&app, &sid).await.len(), 4, "the turn ran once");
    assert_eq!(app.state.tools.store().all().await.unwrap().len(), 1);
    // The same key on the stream route is another request.
    let res = send("/api/chat/stream").await.unwrap();
    expect_error(res, 422, "idempotency_key_reused").await;
    // A streamed turn replays as one delta and its done.
    mock.push(Behavior::Text("Nothing else.".into()));
    let stream_body = json!({"message": "thanks", "session_id": sid});
    let mut texts = Vec::new();
    for _ in 0..2 {
        let res = app
            .client
            .post(app.url("/api/chat/stream"))
            .header("idempotency-key", "turn-3")
            .json(&stream_body)
            .send()
            .await
            .unwrap();
        texts.push(res.text().await.unwrap());
    }
    assert!(texts[0].contains("event: done"), "{}", texts[0]);
    assert_eq!(texts[1].matches("event: delta").count(), 1, "{}", texts[1]);
    assert!(texts[1].contains("event: done") && texts[1].contains("Nothing else."));
    assert_eq!(history(&app, &sid).await.len(), 6);
}
