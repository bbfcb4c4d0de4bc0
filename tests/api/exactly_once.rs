//! Exactly once (issue 11): `Idempotency-Key` on the booking and chat routes, changing a
//! booking in place (`PATCH`), finding slots, and the booking history.

use crate::helpers::*;
use chrono::{Duration, Utc};
use hpcbot::domain::Clock;
use hpcbot::server::Overrides;
use serde_json::{json, Value};

/// A request with an `Idempotency-Key`: (status, replayed?, body text).
async fn keyed(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    key: &str,
    body: Option<&Value>,
) -> (u16, bool, String) {
    let mut r = client.request(method, url).header("idempotency-key", key);
    if let Some(b) = body {
        r = r.json(b);
    }
    let res = r.send().await.unwrap();
    let replayed = res
        .headers()
        .get("idempotency-replayed")
        .is_some_and(|v| v == "true");
    (res.status().as_u16(), replayed, res.text().await.unwrap())
}

fn booking_body(hour: u32) -> Value {
    json!({"model": "A100", "count": 1, "start": tomorrow(hour), "end": tomorrow(hour + 1)})
}

/// 64 concurrent identical POSTs with one key, spread over `apps`: one booking, and every
/// reply is that booking's 201 (or `409 request_in_progress` while the first runs).
async fn sixty_four_posts_book_once(apps: &[&TestApp]) {
    let key = uuid::Uuid::new_v4().to_string();
    let body = booking_body(9);
    let mut tasks = Vec::new();
    for i in 0..64 {
        let app = apps[i % apps.len()];
        let (c, url, key, body) = (
            app.client.clone(),
            app.url("/api/bookings"),
            key.clone(),
            body.clone(),
        );
        tasks.push(tokio::spawn(async move {
            keyed(&c, reqwest::Method::POST, url, &key, Some(&body)).await
        }));
    }
    let mut created = Vec::new();
    for t in tasks {
        let (status, _, text) = t.await.unwrap();
        match status {
            201 => created.push(text),
            409 => {
                let v: Value = serde_json::from_str(&text).unwrap();
                assert_eq!(v["error"]["code"], "request_in_progress", "{v}");
            }
            other => panic!("unexpected {other}: {text}"),
        }
    }
    assert!(!created.is_empty(), "the first request books");
    assert!(created.iter().all(|b| b == &created[0]), "identical bodies");
    // Every instance replays the same reply afterwards.
    for app in apps {
        let (status, replayed, text) = keyed(
            &app.client,
            reqwest::Method::POST,
            app.url("/api/bookings"),
            &key,
            Some(&body),
        )
        .await;
        assert_eq!((status, replayed), (201, true));
        assert_eq!(text, created[0]);
    }
    let all = apps[0].state.tools.store().all().await.unwrap();
    assert_eq!(all.len(), 1, "exactly one booking");
    let v: Value = serde_json::from_str(&created[0]).unwrap();
    assert_eq!(v["id"], all[0].id.as_str());
}

#[tokio::test]
async fn sixty_four_concurrent_posts_with_one_key_book_once_on_sqlite() {
    let app = spawn_app().await;
    sixty_four_posts_book_once(&[&app]).await;
}

#[tokio::test]
async fn sixty_four_concurrent_posts_with_one_key_book_once_on_postgres() {
    let db = PgDb::new().await;
    let app = spawn_with(Spawn {
        database_url: Some(db.url.clone()),
        ..Default::default()
    })
    .await;
    sixty_four_posts_book_once(&[&app]).await;
}

#[tokio::test]
async fn sixty_four_concurrent_posts_with_one_key_book_once_on_two_instances() {
    let db = PgDb::new().await;
    let a = spawn_with(Spawn {
        database_url: Some(db.url.clone()),
        ..Default::default()
    })
    .await;
    let b = spawn_with(Spawn {
        database_url: Some(db.url.clone()),
        ..Default::default()
    })
    .await;
    sixty_four_posts_book_once(&[&a, &b]).await;
}

#[tokio::test]
async fn a_key_replays_the_same_request_and_refuses_another() {
    let app = spawn_app().await;
    let c = &app.client;
    let url = app.url("/api/bookings");
    let (s, r, first) = keyed(
        c,
        reqwest::Method::POST,
        url.clone(),
        "k-1",
        Some(&booking_body(9)),
    )
    .await;
    assert_eq!((s, r), (201, false));
    // The same JSON value, keys in another order and other spacing: a replay, nothing new.
    let reordered = format!(
        r#"{{ "end" : {},  "start": {}, "count": 1, "model": "A100" }}"#,
        json!(tomorrow(10)),
        json!(tomorrow(9))
    );
    let res = c
        .post(url.clone())
        .header("idempotency-key", "k-1")
        .header("content-type", "application/json")
        .body(reordered)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["idempotency-replayed"], "true");
    let again = res.text().await.unwrap();
    assert_eq!(again, first);
    assert_eq!(app.state.tools.store().all().await.unwrap().len(), 1);
    // Another body, or another method and path, with the same key.
    let res = c
        .post(&url)
        .header("idempotency-key", "k-1")
        .json(&booking_body(11))
        .send()
        .await
        .unwrap();
    expect_error(res, 422, "idempotency_key_reused").await;
    let id = serde_json::from_str::<Value>(&first).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let res = c
        .delete(app.url(&format!("/api/bookings/{id}")))
        .header("idempotency-key", "k-1")
        .send()
        .await
        .unwrap();
    expect_error(res, 422, "idempotency_key_reused").await;
    // Errors are replayed too.
    let bad = json!({"model": "A100", "count": 0, "start": tomorrow(9), "end": tomorrow(10)});
    let (s, r, e1) = keyed(c, reqwest::Method::POST, url.clone(), "k-2", Some(&bad)).await;
    assert_eq!((s, r), (400, false));
    let (s, r, e2) = keyed(c, reqwest::Method::POST, url.clone(), "k-2", Some(&bad)).await;
    assert_eq!((s, r), (400, true));
    assert_eq!(e1, e2);
    // A key that is not visible ASCII.
    for bad_key in ["has space", &"k".repeat(256)] {
        let res = c
            .post(&url)
            .header("idempotency-key", bad_key)
            .json(&booking_body(9))
            .send()
            .await
            .unwrap();
        expect_error(res, 400, "invalid_idempotency_key").await;
    }
    // Without the header, as before: two requests, two bookings.
    for _ in 0..2 {
        assert_eq!(
            app.post("/api/bookings", &booking_body(13)).await.status(),
            201
        );
    }
    assert_eq!(app.state.tools.store().all().await.unwrap().len(), 3);
}

#[tokio::test]
async fn keys_are_per_caller() {
    let app = spawn_app().await;
    let (s1, s2) = (new_session(&app).await, new_session(&app).await);
    let mut bodies = Vec::new();
    for sid in [&s1, &s2] {
        let res = app
            .client
            .post(app.url("/api/bookings"))
            .header("idempotency-key", "shared-key")
            .header("cookie", format!("hpcbot_sid={sid}"))
            .json(&booking_body(9))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        assert!(res.headers().get("idempotency-replayed").is_none());
        bodies.push(res.json::<Value>().await.unwrap());
    }
    assert_ne!(
        bodies[0]["id"], bodies[1]["id"],
        "two callers, two bookings"
    );
}

#[tokio::test]
async fn patch_and_delete_with_a_key_act_once() {
    let app = spawn_app().await;
    let sid = new_session(&app).await;
    let mut body = booking_body(9);
    body["session_id"] = json!(sid);
    let b: Value = app.post("/api/bookings", &body).await.json().await.unwrap();
    let url = app.url(&format!(
        "/api/bookings/{}?session_id={sid}",
        b["id"].as_str().unwrap()
    ));
    let change = json!({"end": tomorrow(12)});
    let (s, r, first) = keyed(
        &app.client,
        reqwest::Method::PATCH,
        url.clone(),
        "p-1",
        Some(&change),
    )
    .await;
    assert_eq!((s, r), (200, false), "{first}");
    let (s, r, again) = keyed(
        &app.client,
        reqwest::Method::PATCH,
        url.clone(),
        "p-1",
        Some(&change),
    )
    .await;
    assert_eq!((s, r), (200, true));
    assert_eq!(first, again);
    let (s, _, cancelled) = keyed(
        &app.client,
        reqwest::Method::DELETE,
        url.clone(),
        "d-1",
        None,
    )
    .await;
    assert_eq!(s, 200);
    let (s, r, again) = keyed(
        &app.client,
        reqwest::Method::DELETE,
        url.clone(),
        "d-1",
        None,
    )
    .await;
    assert_eq!((s, r, again), (200, true, cancelled));
    let ev: Value = app
        .get(&format!(
            "/api/bookings/{}/events?session_id={sid}",
            b["id"].as_str().unwrap()
        ))
        .await
        .json()
        .await
        .unwrap();
    let kinds: Vec<&str> = ev["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["created", "changed", "cancelled"]);
}

async fn patch(app: &TestApp, sid: &str, id: &str, body: &Value) -> reqwest::Response {
    app.client
        .patch(app.url(&format!("/api/bookings/{id}?session_id={sid}")))
        .header("x-request-id", format!("req-{}", body))
        .json(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_booking_changes_in_place_keeping_its_devices() {
    let app = spawn_app().await;
    let sid = new_session(&app).await;
    let b: Value = app
        .post(
            "/api/bookings",
            &json!({"model": "A100", "count": 2, "start": tomorrow(9), "end": tomorrow(12), "session_id": sid}),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = b["id"].as_str().unwrap().to_string();
    // Bad bodies are 400 before the booking is looked up (an unknown id too).
    for (body, who) in [
        (json!({}), id.as_str()),
        (json!({"end": null}), id.as_str()),
        (json!({"colour": "red"}), id.as_str()),
        (json!({"count": "3"}), id.as_str()),
        (json!({}), "ffffffffffffffffffffffffffffffff"),
    ] {
        let res = patch(&app, &sid, who, &body).await;
        assert_eq!(res.status(), 400, "{body}");
    }
    // Longer: same id, same devices, new price.
    let res = patch(&app, &sid, &id, &json!({"end": tomorrow(13)})).await;
    assert_eq!(res.status(), 200);
    let longer: Value = res.json().await.unwrap();
    assert_eq!(longer["id"], b["id"]);
    assert_eq!(longer["gpus"], b["gpus"]);
    assert_eq!(longer["end"], json!(tomorrow(13)));
    let per_hour = b["price_total"].as_f64().unwrap() / 3.0;
    assert!((longer["price_total"].as_f64().unwrap() - per_hour * 4.0).abs() < 0.02);
    // More devices: it keeps its two; fewer: a subset of what it had.
    let more: Value = patch(&app, &sid, &id, &json!({"count": 3}))
        .await
        .json()
        .await
        .unwrap();
    let had: Vec<Value> = b["gpus"].as_array().unwrap().clone();
    assert!(
        had.iter()
            .all(|d| more["gpus"].as_array().unwrap().contains(d)),
        "{more}"
    );
    let fewer: Value = patch(&app, &sid, &id, &json!({"count": 1}))
        .await
        .json()
        .await
        .unwrap();
    assert!(more["gpus"].as_array().unwrap().contains(&fewer["gpus"][0]));
    // What cannot fit changes nothing.
    let before: Value = app
        .get(&format!("/api/bookings?session_id={sid}"))
        .await
        .json()
        .await
        .unwrap();
    let res = patch(&app, &sid, &id, &json!({"count": 64, "end": tomorrow(14)})).await;
    expect_error(res, 409, "insufficient_capacity").await;
    let after: Value = app
        .get(&format!("/api/bookings?session_id={sid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(before, after);
    // Another caller's booking is not found; a cancelled one cannot change.
    let other = new_session(&app).await;
    expect_error(
        patch(&app, &other, &id, &json!({"count": 2})).await,
        404,
        "booking_not_found",
    )
    .await;
    let res = app
        .client
        .delete(app.url(&format!("/api/bookings/{id}?session_id={sid}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    expect_error(
        patch(&app, &sid, &id, &json!({"count": 2})).await,
        409,
        "booking_cancelled",
    )
    .await;

    // History: one event per change, in order, with the request id; none for the refusals.
    let ev: Value = app
        .get(&format!("/api/bookings/{id}/events?session_id={sid}"))
        .await
        .json()
        .await
        .unwrap();
    let events = ev["events"].as_array().unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["created", "changed", "changed", "changed", "cancelled"]
    );
    assert!(events.iter().all(|e| e["via"] == "api"));
    assert_eq!(
        events[1]["request_id"],
        format!("req-{}", json!({"end": tomorrow(13)}))
    );
    assert_eq!(events[1]["booking"]["end"], json!(tomorrow(13)));
    assert_eq!(events[4]["booking"]["status"], "cancelled");
    let res = app
        .get(&format!("/api/bookings/{id}/events?session_id={other}"))
        .await;
    expect_error(res, 404, "booking_not_found").await;
}

#[tokio::test]
async fn a_started_booking_changes_only_its_end() {
    let t0 = (Utc::now() + Duration::days(2))
        .date_naive()
        .and_hms_opt(8, 0, 0)
        .unwrap()
        .and_utc();
    let clock = Clock::fixed(t0);
    let app = spawn_with(Spawn {
        overrides: Overrides {
            clock: Some(clock.clone()),
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let sid = new_session(&app).await;
    let b: Value = app
        .post(
            "/api/bookings",
            &json!({"model": "H100", "count": 2, "start": t0 + Duration::hours(1), "end": t0 + Duration::hours(3), "session_id": sid}),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = b["id"].as_str().unwrap().to_string();
    clock.advance(Duration::hours(2));
    let res = patch(&app, &sid, &id, &json!({"start": t0 + Duration::hours(4)})).await;
    expect_error(res, 400, "booking_started").await;
    let res = patch(&app, &sid, &id, &json!({"count": 1})).await;
    expect_error(res, 400, "booking_started").await;
    let res = patch(&app, &sid, &id, &json!({"end": t0 + Duration::minutes(90)})).await;
    expect_error(res, 400, "end_in_past").await;
    let res = patch(&app, &sid, &id, &json!({"end": t0 + Duration::hours(5)})).await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["gpus"], b["gpus"], "a running booking keeps its devices");
    assert_eq!(v["end"], json!(t0 + Duration::hours(5)));
}

#[tokio::test]
async fn slots_are_the_earliest_free_windows_and_can_be_booked() {
    let app = spawn_app().await;
    for q in [
        "duration=1h",
        "count=1",
        "count=0&duration=1h",
        "count=65&duration=1h",
        "count=1&duration=31d",
        "count=1&duration=soon",
        "count=1&duration=1h&limit=0",
        "count=1&duration=1h&limit=51",
    ] {
        assert_eq!(
            app.get(&format!("/api/slots?{q}")).await.status(),
            400,
            "{q}"
        );
    }
    let after = tomorrow(9);
    let res = app
        .get(&format!(
            "/api/slots?count=1&duration=1h&after={}&before={}",
            after.to_rfc3339().replace('+', "%2B"),
            after.to_rfc3339().replace('+', "%2B")
        ))
        .await;
    assert_eq!(res.status(), 400);
    expect_error(
        app.get("/api/slots?count=1&duration=1h&model=Z80").await,
        404,
        "unknown_model",
    )
    .await;
    // Fill every A100 from 9 to 11 tomorrow: the first 2-hour slot for 1 A100 is at 11.
    let total = app
        .state
        .tools
        .inventory()
        .await
        .unwrap()
        .find("a100")
        .unwrap()
        .total();
    let res = app
        .post(
            "/api/bookings",
            &json!({"model": "A100", "count": total, "start": tomorrow(9), "end": tomorrow(11)}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let q = format!(
        "/api/slots?model=a100&count=1&duration=PT2H&after={}&limit=3",
        tomorrow(9).to_rfc3339().replace('+', "%2B")
    );
    let v: Value = app.get(&q).await.json().await.unwrap();
    let slots = v["slots"].as_array().unwrap();
    assert_eq!(slots.len(), 3);
    assert_eq!(slots[0]["start"], json!(tomorrow(11)));
    assert_eq!(
        slots[1]["start"],
        json!(tomorrow(13)),
        "the next one starts where it ends"
    );
    let res = app
        .post(
            "/api/bookings",
            &json!({"model": slots[0]["model"], "count": 1, "start": slots[0]["start"], "end": slots[0]["end"]}),
        )
        .await;
    assert_eq!(res.status(), 201, "a slot booked at once succeeds");
    // Every model: equal starts list the cheaper first.
    let v: Value = app
        .get(&format!(
            "/api/slots?count=1&duration=1h&after={}&limit=5",
            tomorrow(15).to_rfc3339().replace('+', "%2B")
        ))
        .await
        .json()
        .await
        .unwrap();
    let prices: Vec<f64> = v["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["price_total"].as_f64().unwrap())
        .collect();
    assert_eq!(prices.len(), 5);
    assert!(prices.windows(2).all(|w| w[0] <= w[1]), "{prices:?}");
}

#[tokio::test]
async fn the_openapi_document_describes_keys_changes_slots_and_history() {
    let app = spawn_app().await;
    let v: Value = app.get("/api/openapi.json").await.json().await.unwrap();
    let paths = &v["paths"];
    assert!(paths["/api/bookings/{id}"]["patch"].is_object());
    assert!(paths["/api/bookings/{id}/events"]["get"].is_object());
    assert!(paths["/api/slots"]["get"].is_object());
    for (path, method) in [
        ("/api/bookings", "post"),
        ("/api/bookings/{id}", "patch"),
        ("/api/bookings/{id}", "delete"),
        ("/api/chat", "post"),
        ("/api/chat/stream", "post"),
    ] {
        let params = paths[path][method]["parameters"].to_string();
        assert!(
            params.contains("Idempotency-Key"),
            "{path} {method}: {params}"
        );
    }
}

#[tokio::test]
async fn a_booking_made_in_the_chat_is_recorded_as_via_chat() {
    let app = spawn_app().await;
    let sid = new_session(&app).await;
    for msg in ["book an a100 tomorrow 9-10", "yes"] {
        let res = app
            .post("/api/chat", &json!({"message": msg, "session_id": sid}))
            .await;
        assert_eq!(res.status(), 200);
    }
    let all = app.state.tools.store().all().await.unwrap();
    assert_eq!(all.len(), 1);
    let ev: Value = app
        .get(&format!(
            "/api/bookings/{}/events?session_id={sid}",
            all[0].id
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ev["events"][0]["via"], "chat", "{ev}");
}

/// A keyed chat turn stores its reply in the turn's own commit, on every session store: the
/// same key again replays it (and never runs the turn twice); with `sessions = "memory"` the
/// reply is stored when the handler returns, as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyed_chat_turn_is_replayed_on_every_session_store() {
    for store in [Store::Sqlite, Store::Postgres, Store::Memory] {
        let app = store.spawn(Spawn::default()).await;
        let sid = new_session(&app).await;
        let send = || {
            app.client
                .post(app.url("/api/chat"))
                .header("idempotency-key", "k-1")
                .json(&json!({"message": "book 1 h100 tomorrow 10-11", "session_id": sid}))
                .send()
        };
        let first = send().await.unwrap();
        assert_eq!(first.status(), 200, "{store:?}: {:?}", first.text().await);
        assert!(first.headers().get("idempotency-replayed").is_none());
        let first: Value = first.json().await.unwrap();
        assert_eq!(first["proposal"], "book");
        let again = send().await.unwrap();
        assert_eq!(again.headers()["idempotency-replayed"], "true");
        assert_eq!(again.json::<Value>().await.unwrap(), first);
        assert_eq!(history(&app, &sid).await.len(), 2, "the turn ran once");
    }
}
