//! Recurring bookings (API.md "Recurring bookings"): `times` occurrences, each `every` after
//! the one before, all or none (`fail`) or those that fit (`skip`); quotas and budget count
//! the whole series; cancelling the series cancels what has not ended.

use crate::helpers::*;
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

fn series_body(
    sid: &str,
    model: &str,
    count: u32,
    start: DateTime<Utc>,
    hours: i64,
    (every, times): (&str, u32),
    on_conflict: Option<&str>,
) -> Value {
    let mut b = json!({"model": model, "count": count, "start": start.to_rfc3339(),
        "end": (start + Duration::hours(hours)).to_rfc3339(),
        "repeat": {"every": every, "times": times}, "session_id": sid});
    if let Some(c) = on_conflict {
        b["on_conflict"] = json!(c);
    }
    b
}

async fn bookings_of(app: &TestApp, sid: &str) -> Vec<Value> {
    let v: Value = app
        .get(&format!("/api/bookings?session_id={sid}"))
        .await
        .json()
        .await
        .unwrap();
    v["bookings"].as_array().unwrap().clone()
}

async fn series_books_every_occurrence_or_none(app: TestApp) {
    let (a, b) = (new_session(&app).await, new_session(&app).await);
    let t = tomorrow(9);
    let res = app
        .post(
            "/api/bookings/series",
            &series_body(&a, "A100", 2, t, 3, ("7d", 3), None),
        )
        .await;
    assert_eq!(res.status(), 201);
    let made: Value = res.json().await.unwrap();
    let list = made["bookings"].as_array().unwrap();
    assert_eq!(list.len(), 3);
    assert_eq!(made["skipped"], json!([]));
    for (i, bk) in list.iter().enumerate() {
        let start = t + Duration::days(7 * i as i64);
        assert_eq!(bk["start"], start.format("%Y-%m-%dT%H:%M:%SZ").to_string());
        assert_eq!(bk["series_id"], made["series_id"]);
        assert_eq!(bk["price_total"], 13.74);
    }
    assert_eq!(bookings_of(&app, &a).await.len(), 3);
    // Another person takes the third week's 10 other A100s: `fail` books nothing and names it.
    assert_eq!(
        post_booking(&app, &b, "A100", 10, t + Duration::days(14), 3)
            .await
            .status(),
        201
    );
    let res = app
        .post(
            "/api/bookings/series",
            &series_body(&a, "A100", 1, t, 3, ("7d", 4), Some("fail")),
        )
        .await;
    assert_eq!(res.status(), 409);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"]["code"], "insufficient_capacity", "{err}");
    assert_eq!(err["error"]["details"]["occurrence"], 3);
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("occurrence 3"));
    assert_eq!(bookings_of(&app, &a).await.len(), 3, "none of the four");
    // `skip` books the three that fit and lists the one that does not.
    let res = app
        .post(
            "/api/bookings/series",
            &series_body(&a, "A100", 1, t, 3, ("7d", 4), Some("skip")),
        )
        .await;
    assert_eq!(res.status(), 201);
    let made: Value = res.json().await.unwrap();
    assert_eq!(made["bookings"].as_array().unwrap().len(), 3);
    let skipped = made["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0]["reason"], "insufficient_capacity");
    let third = (t + Duration::days(14))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    assert_eq!(skipped[0]["start"], third);
    // Cancelling the series cancels its occurrences, and only them.
    let id = made["series_id"].as_str().unwrap();
    let res = app
        .delete(&format!("/api/bookings/series/{id}?session_id={a}"))
        .await;
    assert_eq!(res.status(), 200);
    let after: Value = res.json().await.unwrap();
    assert!(after["bookings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|b| b["status"] == "cancelled"));
    let mine = bookings_of(&app, &a).await;
    let confirmed = mine.iter().filter(|b| b["status"] == "confirmed").count();
    assert_eq!(confirmed, 3, "the first series stays");
    // Someone else's series is not theirs to cancel.
    let res = app
        .delete(&format!("/api/bookings/series/{id}?session_id={b}"))
        .await;
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn a_series_books_every_occurrence_or_none() {
    series_books_every_occurrence_or_none(spawn_app().await).await;
}

#[tokio::test]
async fn a_series_books_every_occurrence_or_none_on_postgres() {
    series_books_every_occurrence_or_none(Store::Postgres.spawn(Spawn::default()).await).await;
}

#[tokio::test]
async fn quotas_and_budget_count_the_whole_series() {
    let app = spawn_with(Spawn {
        settings: vec![
            ("budget", "100".into()),
            ("max_gpu_hours_per_week", "20".into()),
        ],
        ..Default::default()
    })
    .await;
    let a = new_session(&app).await;
    let t = tomorrow(9);
    // Daily 4 H100 for 2 h from a Monday = 8 GPU-hours a day: three days of one week are
    // 24 GPU-hours, over 20.
    use chrono::Datelike;
    let monday = t + Duration::days(7 - t.weekday().num_days_from_monday() as i64);
    let res = app
        .post(
            "/api/bookings/series",
            &series_body(&a, "H100", 4, monday, 2, ("1d", 3), None),
        )
        .await;
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"]["code"], "quota_exceeded", "{err}");
    assert_eq!(err["error"]["details"]["occurrence"], 3);
    // Weekly 1 H100 for 8 h ($31.12 each): four are $124.48, over $100; three fit.
    let res = app
        .post(
            "/api/bookings/series",
            &series_body(&a, "H100", 1, t, 8, ("7d", 4), None),
        )
        .await;
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"]["code"], "budget_exceeded", "{err}");
    assert_eq!(err["error"]["details"]["occurrence"], 4);
    assert_eq!(bookings_of(&app, &a).await.len(), 0);
    let res = app
        .post(
            "/api/bookings/series",
            &series_body(&a, "H100", 1, t, 8, ("7d", 3), None),
        )
        .await;
    assert_eq!(res.status(), 201);
    // Bad input is a clear error and books nothing.
    let bad = series_body(&a, "H100", 1, t, 1, ("2d", 3), None);
    expect_error(
        app.post("/api/bookings/series", &bad).await,
        400,
        "invalid_repeat",
    )
    .await;
    let bad = series_body(&a, "H100", 1, t, 1, ("7d", 53), None);
    expect_error(
        app.post("/api/bookings/series", &bad).await,
        400,
        "invalid_repeat",
    )
    .await;
    let bad = series_body(&a, "H100", 1, t, 1, ("7d", 2), Some("maybe"));
    expect_error(
        app.post("/api/bookings/series", &bad).await,
        400,
        "invalid_on_conflict",
    )
    .await;
    assert_eq!(bookings_of(&app, &a).await.len(), 3);
}

#[tokio::test]
async fn a_keyed_series_retried_books_once() {
    let app = spawn_app().await;
    let a = new_session(&app).await;
    let body = series_body(&a, "L40S", 1, tomorrow(9), 2, ("1d", 3), None);
    let send = || {
        app.client
            .post(app.url("/api/bookings/series"))
            .header("Idempotency-Key", "weekly-lab-1")
            .json(&body)
            .send()
    };
    let first = send().await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let again = send().await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotency-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["series_id"], first["series_id"]);
    assert_eq!(bookings_of(&app, &a).await.len(), 3);
}
