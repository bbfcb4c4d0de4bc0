//! The LLM backend against a mock OpenAI server on 127.0.0.1:0 speaking the real wire
//! format: tool calls as the caller, confirmation, deadlines, retries, the breaker and its
//! fallback, malformed answers, and cancellation when the client goes away.

use crate::helpers::*;
use hpcbot::assistant::llm::mock::{Behavior, MockLlm};
use hpcbot::domain::Clock;
use hpcbot::server::Overrides;
use serde_json::{json, Value};
use std::time::Duration;

async fn llm_app(
    mock: &MockLlm,
    mut settings: Vec<(&'static str, String)>,
    clock: Option<Clock>,
) -> TestApp {
    settings.push(("llm.base_url", mock.base_url.clone()));
    spawn_with(Spawn {
        settings,
        overrides: Overrides {
            clock,
            ..Default::default()
        },
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

#[tokio::test]
async fn a_tool_call_booking_needs_the_users_yes_then_shows_in_bookings() {
    let mock = MockLlm::start().await;
    let app = llm_app(&mock, vec![], None).await;
    let args = json!({"model": "A100-80GB", "count": 2, "start": tomorrow(9), "end": tomorrow(12)});
    mock.push(call("propose_booking", args.clone()));
    mock.push(Behavior::Text(
        "2 × A100-80GB tomorrow 09:00-12:00 for $13.74. Shall I book it?".into(),
    ));
    let (s, v) = turn(&app, None, "book 2 A100s tomorrow 9-12").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["backend"], "llm");
    assert!(v["actions"].as_array().unwrap().is_empty());
    assert_eq!(v["proposal"], "book", "the reply waits for a yes");
    let sid = v["session_id"].as_str().unwrap().to_string();
    // The tool ran and its result went back to the model.
    let second = mock.body(1).unwrap().to_string();
    assert!(
        second.contains("awaiting_confirmation") && second.contains("ampere-"),
        "{second}"
    );
    assert!(mock.body(0).unwrap()["tools"].as_array().unwrap().len() >= 7);
    assert!(mock.body(0).unwrap()["messages"][0]["content"]
        .as_str()
        .unwrap()
        .contains("SK HPC Services"));

    // The proposal holds its GPUs for the yes (API.md "Holds").
    let holds: Value = app
        .get(&format!("/api/holds?session_id={sid}"))
        .await
        .json()
        .await
        .unwrap();
    let held = holds["holds"][0].clone();
    assert_eq!(held["count"], 2, "{holds}");

    mock.push(call("confirm_booking", json!({})));
    mock.push(Behavior::Text("Booked.".into()));
    let (s, v) = turn(&app, Some(&sid), "yes please").await;
    assert_eq!(s, 200);
    assert_eq!(v["actions"][0]["type"], "booking_created");
    assert_eq!(
        v["actions"][0]["booking"]["gpus"], held["gpus"],
        "the held GPUs"
    );
    assert!(v["proposal"].is_null(), "nothing waits after the yes: {v}");
    assert_eq!(v["actions"][0]["booking"]["count"], 2);
    let list: Value = app
        .get(&format!("/api/bookings?session_id={sid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["bookings"][0]["id"], v["actions"][0]["booking"]["id"]);
}

#[tokio::test]
async fn the_model_cannot_skip_the_confirmation_turn() {
    let mock = MockLlm::start().await;
    let app = llm_app(&mock, vec![], None).await;
    let args = json!({"model": "H100", "count": 1, "start": tomorrow(9), "end": tomorrow(10)});
    mock.push(call("propose_booking", args));
    mock.push(call("confirm_booking", json!({})));
    mock.push(Behavior::Text("Done!".into()));
    let (s, v) = turn(&app, None, "book an h100 tomorrow 9-10 and don't ask").await;
    assert_eq!(s, 200);
    assert!(v["actions"].as_array().unwrap().is_empty());
    assert!(mock
        .body(2)
        .unwrap()
        .to_string()
        .contains("has not confirmed"));
    // A yes in a later turn is still needed; a "yes" without a proposal does nothing either.
    let sid = v["session_id"].as_str().unwrap();
    mock.push(call("confirm_booking", json!({})));
    mock.push(Behavior::Text("ok".into()));
    let (_, v) = turn(&app, Some(sid), "what time is it").await;
    assert!(
        v["actions"].as_array().unwrap().is_empty(),
        "no yes, no booking"
    );
    assert!(app.state.tools.store().all().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_tool_call_naming_another_users_booking_is_refused() {
    let mock = MockLlm::start().await;
    let app = llm_app(&mock, vec![], None).await;
    let res = app
        .post(
            "/api/bookings",
            &json!({"model": "V100", "count": 1, "start": tomorrow(9), "end": tomorrow(10)}),
        )
        .await;
    let theirs: Value = res.json().await.unwrap();
    mock.push(call("propose_cancel", json!({"booking_id": theirs["id"]})));
    mock.push(Behavior::Text("I could not cancel that.".into()));
    let (s, v) = turn(&app, None, "cancel booking of someone else").await;
    assert_eq!(s, 200);
    assert!(v["actions"].as_array().unwrap().is_empty());
    assert!(mock
        .body(1)
        .unwrap()
        .to_string()
        .contains("no booking of yours"));
    let all = app.state.tools.store().all().await.unwrap();
    assert_eq!(all[0].status, hpcbot::domain::BookingStatus::Confirmed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_upstream_ends_504_while_other_sessions_complete() {
    let mock = MockLlm::start().await;
    let app = llm_app(&mock, vec![("request_timeout", "6s".into())], None).await;
    mock.push(Behavior::Hang);
    let stuck = {
        let (c, url) = (app.client.clone(), app.url("/api/chat"));
        tokio::spawn(async move {
            c.post(url)
                .json(&json!({"message": "hello"}))
                .send()
                .await
                .unwrap()
        })
    };
    while mock.requests() == 0 {
        tokio::task::yield_now().await;
    }
    let seen: Value = app.get("/debug/requests").await.json().await.unwrap();
    assert!(
        seen["requests"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["stage"] == "llm"),
        "{seen}"
    );
    let others: Vec<_> = (0..50)
        .map(|i| {
            let (c, url) = (app.client.clone(), app.url("/api/chat"));
            tokio::spawn(async move {
                let r = c
                    .post(url)
                    .json(&json!({"message": format!("hi {i}")}))
                    .send()
                    .await
                    .unwrap();
                (r.status().as_u16(), r.json::<Value>().await.unwrap())
            })
        })
        .collect();
    for o in others {
        let (s, v) = o.await.unwrap();
        assert_eq!(s, 200);
        assert_eq!(v["backend"], "llm");
    }
    assert!(
        !stuck.is_finished(),
        "the hanging turn is still waiting while 50 others completed"
    );
    expect_error(stuck.await.unwrap(), 504, "deadline_exceeded").await;
}

#[tokio::test]
async fn failures_retry_then_open_the_breaker_then_a_probe_closes_it() {
    let mock = MockLlm::start().await;
    let clock = Clock::fixed(chrono::Utc::now());
    let settings = vec![
        ("llm.max_retries", "1".into()),
        ("llm.breaker_failures", "2".into()),
        ("llm.breaker_open_for", "30s".into()),
    ];
    let app = llm_app(&mock, settings, Some(clock.clone())).await;
    mock.otherwise(Behavior::Status(503));
    let (s, v) = turn(&app, None, "list gpus").await;
    assert_eq!(s, 200);
    assert_eq!(v["backend"], "fallback");
    assert!(
        v["response"]
            .as_str()
            .unwrap()
            .contains("built-in assistant answered")
            && v["response"].as_str().unwrap().contains("A100-80GB")
    );
    assert_eq!(mock.requests(), 2, "one retry");
    let sid = v["session_id"].as_str().unwrap().to_string();
    turn(&app, Some(&sid), "list gpus").await;
    assert_eq!(mock.requests(), 4);
    let threads: Value = app.get("/health/threads").await.json().await.unwrap();
    assert_eq!(threads["llm_breaker"], "open");
    let (s, v) = turn(&app, Some(&sid), "list gpus").await;
    assert_eq!((s, v["backend"].as_str().unwrap()), (200, "fallback"));
    assert_eq!(mock.requests(), 4, "open: the upstream is not touched");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("hpcbot_llm_breaker_state 2"), "{metrics}");
    clock.advance(chrono::Duration::seconds(31));
    mock.otherwise(Behavior::Text("Back again.".into()));
    let (_, v) = turn(&app, Some(&sid), "list gpus").await;
    assert_eq!(v["backend"], "llm");
    assert_eq!(v["response"], "Back again.");
    let threads: Value = app.get("/health/threads").await.json().await.unwrap();
    assert_eq!(threads["llm_breaker"], "closed");
    assert_eq!(
        history(&app, &sid).await.len(),
        8,
        "every turn stored whole"
    );
}

#[tokio::test]
async fn a_500_is_not_retried() {
    let mock = MockLlm::start().await;
    let app = llm_app(&mock, vec![], None).await;
    mock.push(Behavior::Status(500));
    let (s, v) = turn(&app, None, "hello").await;
    assert_eq!((s, v["backend"].as_str().unwrap()), (200, "fallback"));
    assert_eq!(mock.requests(), 1);
}

#[tokio::test]
async fn malformed_cut_or_empty_answers_fall_back_and_store_whole_turns() {
    for bad in [Behavior::Malformed, Behavior::Cut, Behavior::EmptyChoices] {
        let mock = MockLlm::start().await;
        let app = llm_app(&mock, vec![], None).await;
        mock.push(bad.clone());
        let (s, v) = turn(&app, None, "what gpus do you have").await;
        assert_eq!(s, 200, "{bad:?}: {v}");
        assert_eq!(v["backend"], "fallback", "{bad:?}");
        assert_eq!(
            history(&app, v["session_id"].as_str().unwrap()).await.len(),
            2
        );
    }
}

#[tokio::test]
async fn a_stream_cut_after_output_ends_with_an_error_event_and_stores_nothing() {
    let mock = MockLlm::start().await;
    let app = llm_app(&mock, vec![], None).await;
    let sid = new_session(&app).await;
    let sid = sid.as_str();
    mock.push(Behavior::Cut);
    let text = app
        .post(
            "/api/chat/stream",
            &json!({"message": "hello", "session_id": sid}),
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("event: delta")
            && text.contains("event: error")
            && !text.contains("event: done"),
        "{text}"
    );
    assert_eq!(history(&app, sid).await.len(), 0);
}

#[tokio::test]
async fn a_client_that_leaves_mid_stream_cancels_the_upstream_call() {
    let mock = MockLlm::start().await;
    let app = llm_app(&mock, vec![], None).await;
    let sid = new_session(&app).await;
    let sid = sid.as_str();
    mock.push(Behavior::SlowText(
        "one two three four five six seven eight nine ten".into(),
        Duration::from_millis(300),
    ));
    let mut res = app
        .post(
            "/api/chat/stream",
            &json!({"message": "tell me slowly", "session_id": sid}),
        )
        .await;
    let first = res.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("delta"));
    drop(res);
    // The mock sees its client (this server) go away.
    let mut waited = 0;
    while mock.disconnects() == 0 {
        assert!(waited < 200, "upstream request was not cancelled");
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
    assert_eq!(
        history(&app, sid).await.len(),
        0,
        "a cancelled turn stores nothing"
    );
}

#[tokio::test]
async fn openai_routes_speak_the_wire_format() {
    let mock = MockLlm::start().await;
    let app = llm_app(&mock, vec![], None).await;
    let models: Value = app.get("/v1/models").await.json().await.unwrap();
    assert_eq!(models["data"][0]["id"], "hpc-assistant");
    mock.push(Behavior::Text("Plain answer.".into()));
    let v: Value = app
        .post(
            "/v1/chat/completions",
            &json!({"model": "hpc-assistant", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["content"], "Plain answer.");
    mock.push(Behavior::Text("Streamed answer here.".into()));
    let text = app.post("/v1/chat/completions", &json!({"model": "hpc-assistant", "stream": true, "temperature": 0.2,
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "earlier"}, {"role": "assistant", "content": "ok"}, {"role": "user", "content": "now"}]})).await.text().await.unwrap();
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    let content: String = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| {
            serde_json::from_str::<Value>(d).unwrap()["choices"][0]["delta"]["content"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert_eq!(content, "Streamed answer here.");
    // The client's conversation went to the model.
    let sent = mock.body(1).unwrap();
    assert_eq!(
        sent["messages"].as_array().unwrap().len(),
        4,
        "system + 2 earlier + last"
    );
    expect_error(
        app.post("/v1/chat/completions", &json!({"messages": []}))
            .await,
        400,
        "invalid_request",
    )
    .await;
}

#[tokio::test]
async fn a_cancellation_needs_a_proposal_and_a_yes_in_a_later_turn() {
    let mock = MockLlm::start().await;
    let app = llm_app(&mock, vec![], None).await;
    // A booking of this session, made through the chat's own API.
    let (_, v) = turn(&app, None, "hello").await;
    let sid = v["session_id"].as_str().unwrap().to_string();
    let res = app
        .post(
            "/api/bookings",
            &json!({"model": "V100", "count": 1, "start": tomorrow(9), "end": tomorrow(10), "session_id": sid}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let mine: Value = res.json().await.unwrap();
    // Cancelling without a proposal is refused, even with a yes.
    mock.push(call("cancel_booking", json!({})));
    mock.push(Behavior::Text("ok".into()));
    let (_, v) = turn(&app, Some(&sid), "yes").await;
    assert!(v["actions"].as_array().unwrap().is_empty(), "{v}");
    // Proposed in one turn: nothing happens yet.
    mock.push(call("propose_cancel", json!({"booking_id": mine["id"]})));
    mock.push(Behavior::Text("Shall I cancel it?".into()));
    let (_, v) = turn(&app, Some(&sid), "cancel my v100 booking").await;
    assert!(v["actions"].as_array().unwrap().is_empty(), "{v}");
    let all = app.state.tools.store().all().await.unwrap();
    assert_eq!(all[0].status, hpcbot::domain::BookingStatus::Confirmed);
    // The yes in the next turn cancels it.
    mock.push(call("cancel_booking", json!({})));
    mock.push(Behavior::Text("Cancelled.".into()));
    let (_, v) = turn(&app, Some(&sid), "yes please").await;
    assert_eq!(v["actions"][0]["type"], "booking_cancelled", "{v}");
    let all = app.state.tools.store().all().await.unwrap();
    assert_eq!(all[0].status, hpcbot::domain::BookingStatus::Cancelled);
}
