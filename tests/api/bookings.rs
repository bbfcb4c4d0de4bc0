//! GPUs, availability and bookings over HTTP, and every error case of API.md's section.

use crate::helpers::*;
use chrono::Duration;
use serde_json::{json, Value};

async fn book(app: &TestApp, body: Value) -> reqwest::Response {
    app.post("/api/bookings", &body).await
}

#[tokio::test]
async fn gpus_list_the_sample_inventory() {
    let app = spawn_app().await;
    let res = app.get("/api/gpus").await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let gpus = body["gpus"].as_array().unwrap();
    for family in ["A100", "H100", "L40S", "V100", "4090"] {
        let g = gpus
            .iter()
            .find(|g| g["model"].as_str().unwrap().contains(family))
            .unwrap_or_else(|| panic!("{family} listed"));
        assert!(g["total"].as_u64().unwrap() >= 4);
        assert_eq!(g["available_now"], g["total"]);
        assert!(g["price_per_hour"].as_f64().unwrap() > 0.0);
        assert!(g["memory_gb"].as_u64().unwrap() >= 24);
    }
}

#[tokio::test]
async fn a_booking_reserves_devices_prices_them_and_can_be_cancelled() {
    let app = spawn_app().await;
    let (start, end) = (tomorrow(9), tomorrow(17));
    let res = book(
        &app,
        json!({"model": "a100", "count": 2, "start": start, "end": end}),
    )
    .await;
    assert_eq!(res.status(), 201);
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.starts_with("hpcbot_sid=")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Lax")
    );
    let sid = cookie["hpcbot_sid=".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let b: Value = res.json().await.unwrap();
    assert_eq!(b["model"], "A100-80GB");
    assert_eq!(b["count"], 2);
    assert_eq!(b["status"], "confirmed");
    assert_eq!(b["gpus"].as_array().unwrap().len(), 2);
    let gpus: Value = app.get("/api/gpus").await.json().await.unwrap();
    let rate = gpus["gpus"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["model"] == "A100-80GB")
        .unwrap()["price_per_hour"]
        .as_f64()
        .unwrap();
    assert!((b["price_total"].as_f64().unwrap() - rate * 2.0 * 8.0).abs() < 0.006);

    let q = format!(
        "/api/availability?model=A100-80GB&start={}&end={}",
        start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    let a: Value = app.get(&q).await.json().await.unwrap();
    assert_eq!(
        a["free"].as_u64().unwrap() + 2,
        a["total"].as_u64().unwrap()
    );

    let mine: Value = app
        .get(&format!("/api/bookings?session_id={sid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["bookings"][0]["id"], b["id"]);
    let others: Value = app.get("/api/bookings").await.json().await.unwrap();
    assert_eq!(
        others["bookings"].as_array().unwrap().len(),
        0,
        "a caller without a session owns nothing"
    );

    let id = b["id"].as_str().unwrap();
    // Someone else cannot cancel it.
    let other = book(
        &app,
        json!({"model": "V100", "count": 1, "start": start, "end": end}),
    )
    .await;
    let other_sid = other.headers()["set-cookie"].to_str().unwrap()["hpcbot_sid=".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_string();
    expect_error(
        app.delete(&format!("/api/bookings/{id}?session_id={other_sid}"))
            .await,
        404,
        "booking_not_found",
    )
    .await;
    let res = app
        .client
        .delete(app.url(&format!("/api/bookings/{id}")))
        .header("cookie", format!("hpcbot_sid={sid}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let c: Value = res.json().await.unwrap();
    assert_eq!(c["status"], "cancelled");
    let a: Value = app.get(&q).await.json().await.unwrap();
    assert_eq!(a["free"], a["total"]);
}

#[tokio::test]
async fn request_ids_are_echoed_or_made() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "abc-123");
    let res = app.get("/api/gpus").await;
    assert!(!res.headers()["x-request-id"].is_empty());
}

#[tokio::test]
async fn every_bookings_error_case_has_the_contract_body() {
    let app = spawn_app().await;
    let (s, e) = (tomorrow(9), tomorrow(12));
    let raw = |body: Vec<u8>| {
        app.client
            .post(app.url("/api/bookings"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    expect_error(
        raw(b"{not json".to_vec()).await.unwrap(),
        400,
        "invalid_json",
    )
    .await;
    expect_error(
        raw(vec![b'"', 0xff, 0xfe, b'"']).await.unwrap(),
        400,
        "invalid_json",
    )
    .await;
    expect_error(raw(Vec::new()).await.unwrap(), 400, "invalid_json").await;
    expect_error(
        book(
            &app,
            json!({"model": "A100", "count": "two", "start": s, "end": e}),
        )
        .await,
        400,
        "invalid_json",
    )
    .await;
    expect_error(
        book(&app, json!({"model": "A100", "start": s, "end": e})).await,
        400,
        "invalid_json",
    )
    .await;
    expect_error(
        book(
            &app,
            json!({"model": "A100", "count": 1, "start": s, "end": e, "colour": "red"}),
        )
        .await,
        400,
        "invalid_json",
    )
    .await;
    expect_error(
        book(
            &app,
            json!({"model": "A100", "count": 0, "start": s, "end": e}),
        )
        .await,
        400,
        "invalid_count",
    )
    .await;
    expect_error(
        book(
            &app,
            json!({"model": "A100", "count": 65, "start": s, "end": e}),
        )
        .await,
        400,
        "invalid_count",
    )
    .await;
    let past = chrono::Utc::now() - Duration::hours(3);
    expect_error(
        book(
            &app,
            json!({"model": "A100", "count": 1, "start": past, "end": e}),
        )
        .await,
        400,
        "start_in_past",
    )
    .await;
    expect_error(
        book(
            &app,
            json!({"model": "A100", "count": 1, "start": e, "end": s}),
        )
        .await,
        400,
        "invalid_interval",
    )
    .await;
    expect_error(
        book(
            &app,
            json!({"model": "A100", "count": 1, "start": s, "end": s}),
        )
        .await,
        400,
        "invalid_interval",
    )
    .await;
    expect_error(
        book(
            &app,
            json!({"model": "A100", "count": 1, "start": s, "end": s + Duration::days(31)}),
        )
        .await,
        400,
        "booking_too_long",
    )
    .await;
    expect_error(
        book(
            &app,
            json!({"model": "A100", "count": 1, "start": "tomorrow", "end": e}),
        )
        .await,
        400,
        "invalid_time",
    )
    .await;
    expect_error(
        book(
            &app,
            json!({"model": "TPU-v9", "count": 1, "start": s, "end": e}),
        )
        .await,
        404,
        "unknown_model",
    )
    .await;
    expect_error(book(&app, json!({"model": "A100", "count": 1, "start": s, "end": e, "session_id": "0123456789abcdef0123456789abcdef"})).await, 404, "session_not_found").await;
    let big = format!("{{\"model\": \"{}\"}}", "x".repeat(70 * 1024));
    expect_error(
        raw(big.into_bytes()).await.unwrap(),
        413,
        "payload_too_large",
    )
    .await;

    // 409 says how many are free.
    let msg = expect_error(
        book(
            &app,
            json!({"model": "H100", "count": 9, "start": s, "end": e}),
        )
        .await,
        409,
        "insufficient_capacity",
    )
    .await;
    assert!(msg.contains("8 of 8"), "{msg}");
    assert_eq!(
        book(
            &app,
            json!({"model": "H100", "count": 6, "start": s, "end": e})
        )
        .await
        .status(),
        201
    );
    let msg = expect_error(
        book(
            &app,
            json!({"model": "H100", "count": 3, "start": s, "end": e}),
        )
        .await,
        409,
        "insufficient_capacity",
    )
    .await;
    assert!(msg.contains("2 of 8"), "{msg}");

    expect_error(
        app.delete("/api/bookings/0123456789abcdef0123456789abcdef")
            .await,
        404,
        "booking_not_found",
    )
    .await;
    expect_error(
        app.delete("/api/bookings/nope").await,
        404,
        "booking_not_found",
    )
    .await;

    let q = |m: &str, a: &str, b: &str| format!("/api/availability?model={m}&start={a}&end={b}");
    expect_error(
        app.get(&q("TPU", "2030-01-01T00:00:00Z", "2030-01-01T01:00:00Z"))
            .await,
        404,
        "unknown_model",
    )
    .await;
    expect_error(
        app.get(&q("A100", "2030-01-01T01:00:00Z", "2030-01-01T01:00:00Z"))
            .await,
        400,
        "invalid_interval",
    )
    .await;
    expect_error(
        app.get(&q("A100", "soon", "2030-01-01T01:00:00Z")).await,
        400,
        "invalid_time",
    )
    .await;
    expect_error(
        app.get("/api/availability?model=A100").await,
        400,
        "invalid_query",
    )
    .await;
    expect_error(app.get("/no/such/route").await, 404, "not_found").await;
    expect_error(
        app.client
            .put(app.url("/api/bookings"))
            .send()
            .await
            .unwrap(),
        405,
        "method_not_allowed",
    )
    .await;
}

#[tokio::test]
async fn availability_accepts_offsets_even_unescaped() {
    let app = spawn_app().await;
    let res = app.get("/api/availability?model=l40s&start=2030-01-01T10:00:00+01:00&end=2030-01-01T12:00:00%2B01:00").await;
    assert_eq!(res.status(), 200);
    let a: Value = res.json().await.unwrap();
    assert_eq!(a["start"], "2030-01-01T09:00:00Z");
    assert_eq!(a["model"], "L40S-48GB");
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let app = spawn_app().await;
    let doc: Value = app.get("/api/openapi.json").await.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/api/chat",
        "/api/chat/stream",
        "/api/direct/chat",
        "/api/sessions",
        "/api/sessions/{id}",
        "/api/gpus",
        "/api/availability",
        "/api/timeline",
        "/api/bookings",
        "/api/bookings/{id}",
        "/api/admin/bookings",
        "/health",
        "/health/ready",
        "/health/threads",
        "/v1/models",
        "/v1/chat/completions",
    ] {
        assert!(paths.contains_key(p), "{p} documented");
    }
}
