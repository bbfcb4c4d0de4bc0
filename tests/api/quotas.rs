//! Quotas (API.md "Projects, quotas and budgets"): GPUs at once, GPU-hours a week, the
//! longest booking and the notice, checked on `POST` and `PATCH` (the result counts) as
//! `409 quota_exceeded` with the numbers in `details`; the chat names the limit instead of
//! proposing; one owner's concurrent requests on two instances never both pass a quota only
//! one of them fits.

use crate::helpers::*;
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

/// `post` that must succeed; the booking made.
async fn books(
    app: &TestApp,
    sid: &str,
    model: &str,
    count: u32,
    start: DateTime<Utc>,
    hours: i64,
) -> Value {
    let res = post_booking(app, sid, model, count, start, hours).await;
    assert_eq!(res.status(), 201, "{model} x{count}");
    res.json().await.unwrap()
}

/// The caller's bookings.
async fn mine(app: &TestApp, sid: &str) -> Vec<Value> {
    let all: Value = app
        .get(&format!("/api/bookings?session_id={sid}"))
        .await
        .json()
        .await
        .unwrap();
    all["bookings"].as_array().unwrap().clone()
}

/// The `details` of a `409 quota_exceeded` (checks the status and code).
async fn quota_details(res: reqwest::Response) -> Value {
    assert_eq!(res.status(), 409);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "quota_exceeded", "{body}");
    assert!(!body["error"]["message"].as_str().unwrap().is_empty());
    body["error"]["details"].clone()
}

/// A Monday at `hour`:00 UTC, at least a week ahead (so a week's hours are all ahead).
fn monday(hour: u32) -> DateTime<Utc> {
    use chrono::Datelike;
    let mut d = (Utc::now() + Duration::days(8)).date_naive();
    while d.weekday() != chrono::Weekday::Mon {
        d += Duration::days(1);
    }
    d.and_hms_opt(hour, 0, 0).unwrap().and_utc()
}

async fn gpus_at_once_is_checked_at_every_instant(app: &TestApp) {
    let sid = new_session(app).await;
    let t = tomorrow(9);
    books(app, &sid, "A100", 12, t, 4).await;
    let d =
        quota_details(post_booking(app, &sid, "H100", 6, t + Duration::hours(2), 4).await).await;
    assert_eq!(
        d,
        json!({"quota": "max_gpus_at_once", "limit": 16.0, "used": 12.0, "requested": 6.0})
    );
    // What is left fits; after the A100s end, all 16 do; another owner has their own 16.
    books(app, &sid, "H100", 4, t + Duration::hours(2), 4).await;
    books(app, &sid, "L40S", 8, t + Duration::hours(6), 2).await;
    let other = new_session(app).await;
    books(app, &other, "H100", 4, t, 4).await;
}

#[tokio::test]
async fn gpus_at_once_on_sqlite() {
    gpus_at_once_is_checked_at_every_instant(&spawn_app().await).await;
}

#[tokio::test]
async fn gpus_at_once_on_postgresql() {
    let app = Store::Postgres.spawn(Spawn::default()).await;
    gpus_at_once_is_checked_at_every_instant(&app).await;
}

#[tokio::test]
async fn gpu_hours_count_per_calendar_week() {
    let app = spawn_with(Spawn {
        settings: vec![("max_gpu_hours_per_week", "40".into())],
        ..Default::default()
    })
    .await;
    let sid = new_session(&app).await;
    let mon = monday(9);
    // 4 GPUs × 8 h = 32 GPU-hours on Monday; 2 × 8 = 16 more on Wednesday is over 40.
    books(&app, &sid, "V100", 4, mon, 8).await;
    let d =
        quota_details(post_booking(&app, &sid, "V100", 2, mon + Duration::days(2), 8).await).await;
    assert_eq!(
        d,
        json!({"quota": "max_gpu_hours_per_week", "limit": 40.0, "used": 32.0, "requested": 16.0})
    );
    // One GPU for 8 h fits; the next week starts again from zero.
    books(&app, &sid, "V100", 1, mon + Duration::days(2), 8).await;
    books(&app, &sid, "V100", 4, mon + Duration::days(7), 10).await;
}

#[tokio::test]
async fn a_change_is_checked_for_its_result() {
    let app = spawn_app().await;
    let sid = new_session(&app).await;
    let t = tomorrow(9);
    books(&app, &sid, "A100", 10, t, 4).await;
    let b = books(&app, &sid, "H100", 4, t, 4).await;
    let id = b["id"].as_str().unwrap();
    // 4 → 7 H100 beside 10 A100 would be 17 at once.
    let patch = |body: Value| {
        app.client
            .patch(app.url(&format!("/api/bookings/{id}?session_id={sid}")))
            .json(&body)
            .send()
    };
    let d = quota_details(patch(json!({"count": 7})).await.unwrap()).await;
    assert_eq!(d["used"], 10.0);
    assert_eq!(d["requested"], 7.0);
    // Moved to after the A100s end, 7 fit: the booking's own GPUs never count twice.
    let res = app
        .client
        .patch(app.url(&format!("/api/bookings/{id}?session_id={sid}")))
        .json(
            &json!({"count": 6, "start": (t + Duration::hours(4)).to_rfc3339(),
            "end": (t + Duration::hours(8)).to_rfc3339()}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let counts: Vec<u64> = mine(&app, &sid)
        .await
        .iter()
        .map(|b| b["count"].as_u64().unwrap())
        .collect();
    assert_eq!(counts, [6, 10], "the refused change changed nothing");
}

#[tokio::test]
async fn notice_and_length_are_settings() {
    let app = spawn_with(Spawn {
        settings: vec![
            ("min_notice", "3h".into()),
            ("max_booking_duration", "12h".into()),
        ],
        ..Default::default()
    })
    .await;
    let sid = new_session(&app).await;
    let soon = Utc::now() + Duration::hours(1);
    let d = quota_details(post_booking(&app, &sid, "A100", 1, soon, 2).await).await;
    assert_eq!(
        (d["quota"].as_str(), d["limit"].as_f64()),
        (Some("min_notice"), Some(3.0))
    );
    let d = quota_details(post_booking(&app, &sid, "A100", 1, tomorrow(6), 13).await).await;
    assert_eq!(
        d,
        json!({"quota": "max_booking_duration", "limit": 12.0, "used": 0.0, "requested": 13.0})
    );
    books(&app, &sid, "A100", 1, tomorrow(6), 12).await;
}

#[tokio::test]
async fn the_chat_says_the_limit_and_proposes_nothing() {
    let app = spawn_app().await;
    let sid = new_session(&app).await;
    let t = tomorrow(9);
    books(&app, &sid, "A100", 12, t, 8).await;
    let say = |msg: &'static str| {
        let app = &app;
        let sid = sid.clone();
        async move {
            let res = app
                .post("/api/chat", &json!({"message": msg, "session_id": sid}))
                .await;
            assert_eq!(res.status(), 200);
            let v: Value = res.json().await.unwrap();
            v
        }
    };
    let v = say("book 6 h100 tomorrow from 9am to 5pm").await;
    let text = v["response"].as_str().unwrap();
    assert!(v["proposal"].is_null(), "{v}");
    assert!(text.contains("16") && text.contains("4 more"), "{text}");
    let v = say("yes").await;
    assert!(v["proposal"].is_null());
    let all: Value = app
        .get(&format!("/api/bookings?session_id={sid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        all["bookings"].as_array().unwrap().len(),
        1,
        "nothing booked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_owner_on_two_instances_never_passes_a_quota_twice() {
    let db = PgDb::new().await;
    let spawn = || {
        spawn_with(Spawn {
            database_url: Some(db.url.clone()),
            settings: vec![("sessions", "database".into())],
            ..Default::default()
        })
    };
    let (a, b) = (spawn().await, spawn().await);
    let sid = new_session(&a).await;
    let t = tomorrow(9);
    // Rounds of two requests of 9 GPUs of different models (different model locks), one
    // on each instance: 18 > 16, so exactly one of each pair may pass.
    for round in 0..6 {
        let at = t + Duration::hours(3 * round);
        let (x, y) = tokio::join!(
            post_booking(&a, &sid, "A100", 9, at, 2),
            post_booking(&b, &sid, "H100", 8 + (round % 2) as u32, at, 2)
        );
        let codes = [x.status().as_u16(), y.status().as_u16()];
        assert!(
            codes.contains(&201) && codes.contains(&409),
            "round {round}: {codes:?}"
        );
    }
}
