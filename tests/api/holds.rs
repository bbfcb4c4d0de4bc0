//! Holds (API.md "Holds"): GPUs held for `hold_ttl` are taken for everyone else, count
//! against the holder's quotas and budget, and confirm into a booking on exactly those
//! devices; an expired hold frees them by time alone and answers `410 hold_expired`.

use crate::helpers::*;
use chrono::{DateTime, Duration, Utc};
use hpcbot::domain::Clock;
use hpcbot::server::Overrides;
use serde_json::{json, Value};
use std::collections::HashSet;

/// `POST /api/holds` of `count` `model` GPUs for `hours` from `start`, as `sid`.
async fn post_hold(
    app: &TestApp,
    sid: &str,
    model: &str,
    count: u32,
    start: DateTime<Utc>,
    hours: i64,
) -> reqwest::Response {
    app.post(
        "/api/holds",
        &json!({"model": model, "count": count, "start": start.to_rfc3339(),
            "end": (start + Duration::hours(hours)).to_rfc3339(), "session_id": sid}),
    )
    .await
}

async fn confirm(app: &TestApp, sid: &str, id: &str) -> reqwest::Response {
    app.post(
        &format!("/api/holds/{id}/confirm?session_id={sid}"),
        &json!({}),
    )
    .await
}

fn clocked(clock: &Clock, settings: Vec<(&'static str, String)>) -> Spawn {
    Spawn {
        settings,
        overrides: Overrides {
            clock: Some(clock.clone()),
            ..Default::default()
        },
        ..Default::default()
    }
}

async fn held_books_exactly_what_was_held(app: TestApp) {
    let (a, b) = (new_session(&app).await, new_session(&app).await);
    let t = tomorrow(9);
    let res = post_hold(&app, &a, "H100", 6, t, 4).await;
    assert_eq!(res.status(), 201);
    let hold: Value = res.json().await.unwrap();
    assert_eq!(hold["count"], 6);
    assert_eq!(hold["price_total"], 93.36);
    assert_eq!(hold["gpus"].as_array().unwrap().len(), 6);
    assert!(hold["expires_at"].is_string(), "{hold}");
    // Taken for everyone else: availability, and another person's booking.
    assert_eq!(free_gpus(&app, "H100", t, 4).await, 2);
    expect_error(
        post_booking(&app, &b, "H100", 3, t, 4).await,
        409,
        "insufficient_capacity",
    )
    .await;
    // Only its holder can confirm it.
    let id = hold["id"].as_str().unwrap();
    expect_error(confirm(&app, &b, id).await, 404, "hold_not_found").await;
    let res = confirm(&app, &a, id).await;
    assert_eq!(res.status(), 201);
    let booking: Value = res.json().await.unwrap();
    assert_eq!(booking["gpus"], hold["gpus"]);
    assert_eq!(booking["price_total"], hold["price_total"]);
    assert_eq!(booking["status"], "confirmed");
    // A repeated confirmation books nothing more: the same booking.
    let again = confirm(&app, &a, id).await;
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["id"], booking["id"]);
    let mine: Value = app
        .get(&format!("/api/bookings?session_id={a}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["bookings"].as_array().unwrap().len(), 1);
    // Held GPUs became booked ones: still 2 free, and no hold left.
    assert_eq!(free_gpus(&app, "H100", t, 4).await, 2);
    let holds: Value = app
        .get(&format!("/api/holds?session_id={a}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(holds["holds"], json!([]));
    let one: Value = app
        .get(&format!("/api/holds/{id}?session_id={a}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["status"], "confirmed");
    assert_eq!(one["booking_id"], booking["id"]);
}

#[tokio::test]
async fn a_hold_keeps_its_gpus_and_books_exactly_them() {
    held_books_exactly_what_was_held(spawn_app().await).await;
}

#[tokio::test]
async fn a_hold_keeps_its_gpus_and_books_exactly_them_on_postgres() {
    held_books_exactly_what_was_held(Store::Postgres.spawn(Spawn::default()).await).await;
}

#[tokio::test]
async fn an_expired_hold_frees_its_gpus_by_time_and_cannot_be_confirmed() {
    let clock = Clock::fixed(Utc::now());
    let app = spawn_with(clocked(&clock, vec![("hold_ttl", "2m".into())])).await;
    let (a, b) = (new_session(&app).await, new_session(&app).await);
    let t = tomorrow(9);
    let hold: Value = post_hold(&app, &a, "H100", 8, t, 2)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(free_gpus(&app, "H100", t, 2).await, 0);
    clock.advance(Duration::seconds(119));
    assert_eq!(
        free_gpus(&app, "H100", t, 2).await,
        0,
        "held until expires_at"
    );
    clock.advance(Duration::seconds(1));
    assert_eq!(free_gpus(&app, "H100", t, 2).await, 8, "free at expires_at");
    assert_eq!(post_booking(&app, &b, "H100", 8, t, 2).await.status(), 201);
    let id = hold["id"].as_str().unwrap();
    let msg = expect_error(confirm(&app, &a, id).await, 410, "hold_expired").await;
    assert!(msg.contains("expired"), "{msg}");
    let one: Value = app
        .get(&format!("/api/holds/{id}?session_id={a}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["status"], "expired");
}

#[tokio::test]
async fn an_owner_has_at_most_max_holds_and_a_released_one_frees_its_gpus() {
    let app = spawn_with(Spawn {
        settings: vec![("max_holds_per_owner", "2".into())],
        ..Default::default()
    })
    .await;
    let a = new_session(&app).await;
    let t = tomorrow(9);
    let first: Value = post_hold(&app, &a, "L40S", 4, t, 2)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(post_hold(&app, &a, "L40S", 4, t, 2).await.status(), 201);
    expect_error(
        post_hold(&app, &a, "V100", 1, t, 2).await,
        409,
        "too_many_holds",
    )
    .await;
    assert_eq!(free_gpus(&app, "L40S", t, 2).await, 0);
    let id = first["id"].as_str().unwrap();
    let res = app.delete(&format!("/api/holds/{id}?session_id={a}")).await;
    assert_eq!(res.status(), 204);
    assert_eq!(free_gpus(&app, "L40S", t, 2).await, 4);
    expect_error(confirm(&app, &a, id).await, 404, "hold_not_found").await;
    assert_eq!(post_hold(&app, &a, "V100", 1, t, 2).await.status(), 201);
    // Bad input is a clear error and holds nothing.
    expect_error(
        post_hold(&app, &a, "B200", 1, t, 2).await,
        404,
        "unknown_model",
    )
    .await;
    expect_error(confirm(&app, &a, "not-an-id").await, 404, "hold_not_found").await;
}

#[tokio::test]
async fn holds_count_against_the_quotas_and_the_budget() {
    let app = spawn_with(Spawn {
        settings: vec![("budget", "50".into()), ("max_gpus_at_once", "10".into())],
        ..Default::default()
    })
    .await;
    let a = new_session(&app).await;
    let t = tomorrow(9);
    // $31.12 held of $50: a $31.12 booking does not fit beside it.
    let hold = post_hold(&app, &a, "H100", 1, t, 8).await;
    let code = hold.status();
    let hold: Value = hold.json().await.unwrap();
    assert_eq!(code, 201, "{hold}");
    let res = post_booking(&app, &a, "H100", 1, t + Duration::days(1), 8).await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "budget_exceeded", "{body}");
    assert_eq!(body["error"]["details"]["remaining"], 18.88);
    // 1 GPU held + 10 would be 11 at once, over 10.
    let res = post_booking(&app, &a, "A100", 10, t, 2).await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "quota_exceeded", "{body}");
    assert_eq!(body["error"]["details"]["used"], 1.0);
    // The hold itself confirms: it is not counted twice.
    let id = hold["id"].as_str().unwrap();
    assert_eq!(confirm(&app, &a, id).await.status(), 201);
    let acct: Value = app
        .get(&format!("/api/account?session_id={a}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(acct["project"]["committed"], 31.12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holds_and_bookings_on_two_instances_never_share_a_device() {
    let db = PgDb::new().await;
    let spawn = || {
        spawn_with(Spawn {
            database_url: Some(db.url.clone()),
            settings: vec![("sessions", "database".into())],
            ..Default::default()
        })
    };
    let (a, b) = (spawn().await, spawn().await);
    let t = tomorrow(0) + Duration::days(1);
    // 24 people want 1 of the 8 H100s at once, half by hold and half by booking, half on
    // each instance: 8 get one, and no device is given twice.
    let mut sids = Vec::new();
    for i in 0..24 {
        sids.push(new_session(if i % 2 == 0 { &a } else { &b }).await);
    }
    let reqs = sids.iter().enumerate().map(|(i, sid)| {
        let app = if i % 2 == 0 { &a } else { &b };
        async move {
            let res = if i % 4 < 2 {
                post_hold(app, sid, "H100", 1, t, 3).await
            } else {
                post_booking(app, sid, "H100", 1, t, 3).await
            };
            let code = res.status().as_u16();
            let body: Value = res.json().await.unwrap();
            (i, code, body)
        }
    });
    let results = futures::future::join_all(reqs).await;
    let won: Vec<_> = results.iter().filter(|(_, c, _)| *c == 201).collect();
    assert_eq!(won.len(), 8, "{results:?}");
    assert!(results.iter().all(|(_, c, _)| *c == 201 || *c == 409));
    // Every hold confirms (on the other instance) on its own devices.
    let mut devices = HashSet::new();
    for (i, _, body) in won {
        let gpus = if i % 4 < 2 {
            let other = if i % 2 == 0 { &b } else { &a };
            let res = confirm(other, &sids[*i], body["id"].as_str().unwrap()).await;
            assert_eq!(res.status(), 201);
            let booking: Value = res.json().await.unwrap();
            assert_eq!(booking["gpus"], body["gpus"]);
            booking["gpus"].clone()
        } else {
            body["gpus"].clone()
        };
        for g in gpus.as_array().unwrap() {
            assert!(devices.insert(g.as_str().unwrap().to_string()), "{g} twice");
        }
    }
    assert_eq!(devices.len(), 8);
}

async fn say(app: &TestApp, sid: &str, message: &str) -> Value {
    let res = app
        .post("/api/chat", &json!({"message": message, "session_id": sid}))
        .await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn live_holds(app: &TestApp, sid: &str) -> Vec<Value> {
    let v: Value = app
        .get(&format!("/api/holds?session_id={sid}"))
        .await
        .json()
        .await
        .unwrap();
    v["holds"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_chat_quote_is_a_hold_and_the_yes_books_exactly_it() {
    let app = spawn_app().await;
    let (a, b) = (new_session(&app).await, new_session(&app).await);
    let day = tomorrow(9).format("%Y-%m-%d").to_string();
    let t = tomorrow(9);
    let quote = say(
        &app,
        &a,
        &format!("book 6 h100 on {day} from 9:00 to 13:00"),
    )
    .await;
    assert!(!quote["proposal"].is_null(), "{quote}");
    let held = live_holds(&app, &a).await;
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0]["count"], 6);
    // While the person reads the quote, nobody else can take those GPUs.
    assert_eq!(free_gpus(&app, "H100", t, 4).await, 2);
    expect_error(
        post_booking(&app, &b, "H100", 3, t, 4).await,
        409,
        "insufficient_capacity",
    )
    .await;
    let done = say(&app, &a, "yes").await;
    let booked = done["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["type"] == "booking_created")
        .unwrap_or_else(|| panic!("{done}"))
        .clone();
    assert_eq!(booked["booking"]["gpus"], held[0]["gpus"]);
    assert!(live_holds(&app, &a).await.is_empty());
    // A correction quotes again and gives the first hold back; a no gives it back too.
    say(
        &app,
        &a,
        &format!("book 2 a100 on {day} from 9:00 to 11:00"),
    )
    .await;
    say(&app, &a, "actually make that 4").await;
    let held = live_holds(&app, &a).await;
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0]["count"], 4);
    say(&app, &a, "no").await;
    assert!(live_holds(&app, &a).await.is_empty());
    assert_eq!(free_gpus(&app, "A100", t, 2).await, 12);
}

/// Lapsed and given-back holds are forgotten by the sweep once older than it keeps them;
/// a live one and a confirmed one stay (a repeated confirm still answers with its booking).
#[tokio::test]
async fn the_sweep_forgets_lapsed_and_released_holds_only() {
    let app = spawn_app().await;
    let sid = new_session(&app).await;
    let t = tomorrow(9);
    let id_of = |v: Value| v["id"].as_str().unwrap().to_string();
    let released = id_of(
        post_hold(&app, &sid, "L40S", 1, t, 1)
            .await
            .json()
            .await
            .unwrap(),
    );
    let res = app
        .delete(&format!("/api/holds/{released}?session_id={sid}"))
        .await;
    assert_eq!(res.status(), 204);
    let confirmed = id_of(
        post_hold(&app, &sid, "L40S", 1, t, 1)
            .await
            .json()
            .await
            .unwrap(),
    );
    assert_eq!(confirm(&app, &sid, &confirmed).await.status(), 201);
    let live = id_of(
        post_hold(&app, &sid, "L40S", 1, t, 1)
            .await
            .json()
            .await
            .unwrap(),
    );
    let store = app.state.tools.store();
    // Now nothing has lapsed long enough; two days on, the released and the live one have.
    assert_eq!(store.sweep_holds(Utc::now()).await.unwrap(), 0);
    let later = Utc::now() + Duration::days(2);
    assert_eq!(store.sweep_holds(later).await.unwrap(), 2);
    for id in [&released, &live] {
        let res = app.get(&format!("/api/holds/{id}?session_id={sid}")).await;
        expect_error(res, 404, "hold_not_found").await;
    }
    let res = app
        .get(&format!("/api/holds/{confirmed}?session_id={sid}"))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(confirm(&app, &sid, &confirmed).await.status(), 200);
}
