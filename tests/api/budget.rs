//! The project's budget (API.md "Budget", the setting `budget` for the project `default`):
//! a create or change whose price would take `remaining` below zero is `409
//! budget_exceeded` with `details`; a cancellation releases the price; the chat says the
//! reason instead of proposing; concurrent bookings on two instances never overdraw it.

use crate::helpers::*;
use chrono::Duration;
use serde_json::{json, Value};

fn with_budget(amount: &str) -> Spawn {
    Spawn {
        settings: vec![("budget", amount.into())],
        ..Default::default()
    }
}

async fn budget_details(res: reqwest::Response) -> Value {
    assert_eq!(res.status(), 409);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "budget_exceeded", "{body}");
    body["error"]["details"].clone()
}

#[tokio::test]
async fn a_booking_never_takes_the_budget_below_zero() {
    let app = spawn_with(with_budget("50")).await;
    let sid = new_session(&app).await;
    let t = tomorrow(9);
    let first = post_booking(&app, &sid, "A100", 2, t, 8).await; // $36.64
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["project"], "default");
    let d = budget_details(post_booking(&app, &sid, "H100", 1, t, 4).await).await; // $15.56
    assert_eq!(
        d,
        json!({"budget": 50.0, "remaining": 13.36, "price_total": 15.56})
    );
    assert_eq!(
        post_booking(&app, &sid, "V100", 1, t, 4).await.status(),
        201
    ); // $3.16
       // A change counts its new price, not its old one twice.
    let id = first["id"].as_str().unwrap();
    let patch = |count: u32| {
        app.client
            .patch(app.url(&format!("/api/bookings/{id}?session_id={sid}")))
            .json(&json!({"count": count}))
            .send()
    };
    let d = budget_details(patch(3).await.unwrap()).await; // 3 × 8 h = $54.96
    assert_eq!(d["remaining"], 46.84);
    assert_eq!(patch(1).await.unwrap().status(), 200); // $18.32
                                                       // Cancelling releases the price.
    let res = app
        .delete(&format!("/api/bookings/{id}?session_id={sid}"))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        post_booking(&app, &sid, "H100", 1, t, 4).await.status(),
        201
    );
    let a: Value = app
        .get(&format!("/api/account?session_id={sid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(a["project"]["budget"], 50.0);
    assert_eq!(a["project"]["committed"], 18.72);
    assert_eq!(a["project"]["remaining"], 31.28);
}

#[tokio::test]
async fn the_chat_says_the_budget_and_proposes_nothing() {
    let app = spawn_with(with_budget("20")).await;
    let sid = new_session(&app).await;
    let res = app
        .post(
            "/api/chat",
            &json!({"message": "book 2 h100 tomorrow from 9am to 5pm", "session_id": sid}),
        )
        .await;
    let v: Value = res.json().await.unwrap();
    let text = v["response"].as_str().unwrap();
    assert!(v["proposal"].is_null(), "{v}");
    assert!(text.contains("62.24") && text.contains("20.00"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_bookings_on_two_instances_never_overdraw() {
    let db = PgDb::new().await;
    let spawn = || {
        spawn_with(Spawn {
            database_url: Some(db.url.clone()),
            settings: vec![("budget", "50".into()), ("sessions", "database".into())],
            ..Default::default()
        })
    };
    let (a, b) = (spawn().await, spawn().await);
    let t = tomorrow(0) + Duration::days(1);
    // 16 requests of one H100 for 2 h ($7.78) at different times (no capacity limit in
    // play), from different people, half on each instance: 6 fit in $50 (7 would be $54.46).
    let mut sids = Vec::new();
    for i in 0..16 {
        sids.push(new_session(if i % 2 == 0 { &a } else { &b }).await);
    }
    let reqs = sids.iter().enumerate().map(|(i, sid)| {
        let app = if i % 2 == 0 { &a } else { &b };
        post_booking(app, sid, "H100", 1, t + Duration::hours(2 * i as i64), 2)
    });
    let codes = statuses(reqs).await;
    assert_eq!(codes.iter().filter(|c| **c == 201).count(), 6, "{codes:?}");
    assert!(codes.iter().all(|c| *c == 201 || *c == 409), "{codes:?}");
    let acct: Value = a
        .get(&format!("/api/account?session_id={}", sids[0]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(acct["project"]["remaining"], 3.32);
}

#[tokio::test]
async fn a_started_booking_is_ended_early_and_charges_the_time_used() {
    use hpcbot::domain::Clock;
    use hpcbot::server::Overrides;
    let t0 = tomorrow(9);
    let clock = Clock::fixed(t0 - Duration::hours(1));
    let app = spawn_with(Spawn {
        settings: vec![("budget", "100".into()), ("session_ttl", "30d".into())],
        overrides: Overrides {
            clock: Some(clock.clone()),
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let sid = new_session(&app).await;
    // 2 H100 for 4 h from t0: $31.12.
    let b: Value = post_booking(&app, &sid, "H100", 2, t0, 4)
        .await
        .json()
        .await
        .unwrap();
    let id = b["id"].as_str().unwrap().to_string();
    // 1 h 10 min 30 s after the start: ended at 1 h 11 min (rounded up to the minute).
    clock.advance(Duration::hours(1) + Duration::minutes(70) + Duration::seconds(30));
    let res = app
        .delete(&format!("/api/bookings/{id}?session_id={sid}"))
        .await;
    assert_eq!(res.status(), 200);
    let ended: Value = res.json().await.unwrap();
    assert_eq!(ended["status"], "cancelled");
    let end = t0 + Duration::minutes(71);
    assert_eq!(ended["end"], end.format("%Y-%m-%dT%H:%M:%SZ").to_string());
    // 2 × 71/60 h × $3.89 = $9.21
    assert_eq!(ended["price_total"], 9.21);
    // Its devices are free from then on, and the time used stays spent.
    let other = new_session(&app).await;
    assert_eq!(
        post_booking(&app, &other, "H100", 8, end, 2).await.status(),
        201
    );
    let a: Value = app
        .get(&format!("/api/account?session_id={sid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(a["project"]["spent"], 9.21);
    // The other person's 8 H100 ($62.24) are committed; 100 - 62.24 - 9.21 = 28.55.
    assert_eq!(a["project"]["remaining"], 28.55);
    // A second cancellation changes nothing.
    let again: Value = app
        .delete(&format!("/api/bookings/{id}?session_id={sid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["end"], ended["end"]);
    assert_eq!(again["price_total"], 9.21);
    // A booking that has ended has nothing left to cancel.
    let past: Value = post_booking(&app, &sid, "V100", 1, end, 1)
        .await
        .json()
        .await
        .unwrap();
    clock.advance(Duration::hours(3));
    let past_id = past["id"].as_str().unwrap();
    expect_error(
        app.delete(&format!("/api/bookings/{past_id}?session_id={sid}"))
            .await,
        400,
        "booking_ended",
    )
    .await;
}
