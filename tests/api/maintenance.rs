//! Maintenance (API.md "Maintenance"): an admin takes devices or a node out of service for a
//! window; in one transaction each booking on them in it is moved to other free devices of
//! its model (same id and times) or cancelled with its price released; nothing can be
//! booked on them until the window ends or is removed.

use crate::helpers::*;
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

fn node_of(g: &Value) -> String {
    g.as_str().unwrap().split(':').next().unwrap().to_string()
}

async fn window_on(app: &TestApp, node: &str, start: DateTime<Utc>, hours: i64) -> Value {
    let res = app
        .post(
            "/api/admin/maintenance",
            &json!({"node": node, "start": start.to_rfc3339(),
                "end": (start + Duration::hours(hours)).to_rfc3339(), "reason": "PSU swap"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

async fn moves_what_fits_and_cancels_the_rest(app: TestApp) {
    let (a, b) = (new_session(&app).await, new_session(&app).await);
    let t = tomorrow(9);
    // 2 of the 8 H100s; their node goes down over them: the other node has room.
    let first: Value = post_booking(&app, &a, "H100", 2, t, 4)
        .await
        .json()
        .await
        .unwrap();
    let node = node_of(&first["gpus"][0]);
    let m = window_on(&app, &node, t, 6).await;
    let on_node = m["gpus"].as_array().unwrap().len() as i64;
    assert!(on_node >= 2, "{m}");
    assert_eq!(m["moved"], json!([first["id"]]), "{m}");
    assert_eq!(m["cancelled"], json!([]), "{m}");
    let mine: Value = app
        .get(&format!("/api/bookings?session_id={a}"))
        .await
        .json()
        .await
        .unwrap();
    let moved = &mine["bookings"][0];
    assert_eq!(moved["id"], first["id"]);
    assert_eq!(moved["status"], "confirmed");
    assert_eq!(
        (&moved["start"], &moved["end"]),
        (&first["start"], &first["end"])
    );
    assert!(moved["gpus"]
        .as_array()
        .unwrap()
        .iter()
        .all(|g| node_of(g) != node));
    // Nothing can be booked on the node in the window.
    let left = 8 - on_node - 2;
    assert_eq!(free_gpus(&app, "H100", t, 6).await, left);
    let c = new_session(&app).await;
    expect_error(
        post_booking(&app, &c, "H100", left as u32 + 1, t, 2).await,
        409,
        "insufficient_capacity",
    )
    .await;
    let list: Value = app
        .get("/api/admin/maintenance")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["maintenance"][0]["id"], m["id"]);
    assert_eq!(list["maintenance"][0]["reason"], "PSU swap");
    // Removing the window frees the node again.
    let id = m["id"].as_str().unwrap();
    let res = app
        .client
        .delete(app.url(&format!("/api/admin/maintenance/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(free_gpus(&app, "H100", t, 6).await, 6);
    let list: Value = app
        .get("/api/admin/maintenance")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["maintenance"], json!([]));

    // A day later every H100 is booked: a node going down leaves nowhere to move to, so
    // the booking is cancelled, its price released, by the admin.
    let t2 = t + Duration::days(1);
    let all: Value = post_booking(&app, &b, "H100", 8, t2, 2)
        .await
        .json()
        .await
        .unwrap();
    let before: Value = app
        .get(&format!("/api/account?session_id={b}"))
        .await
        .json()
        .await
        .unwrap();
    // The project has the first booking ($31.12) and this one ($62.24).
    assert_eq!(before["project"]["committed"], 93.36);
    let m = window_on(&app, &node_of(&all["gpus"][0]), t2, 2).await;
    assert_eq!(m["moved"], json!([]), "{m}");
    assert_eq!(m["cancelled"], json!([all["id"]]), "{m}");
    let events: Value = app
        .get(&format!(
            "/api/bookings/{}/events?session_id={b}",
            all["id"].as_str().unwrap()
        ))
        .await
        .json()
        .await
        .unwrap();
    let last = events["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (&last["type"], &last["via"]),
        (&json!("cancelled"), &json!("admin")),
        "{last}"
    );
    let after: Value = app
        .get(&format!("/api/account?session_id={b}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(after["project"]["committed"], 31.12);
}

#[tokio::test]
async fn maintenance_moves_what_fits_and_cancels_the_rest() {
    moves_what_fits_and_cancels_the_rest(spawn_app().await).await;
}

#[tokio::test]
async fn maintenance_moves_what_fits_and_cancels_the_rest_on_postgres() {
    moves_what_fits_and_cancels_the_rest(Store::Postgres.spawn(Spawn::default()).await).await;
}

#[tokio::test]
async fn bad_maintenance_requests_are_clear_errors() {
    let app = spawn_app().await;
    let t = tomorrow(9);
    let window = |extra: Value| {
        let mut b = json!({"start": t.to_rfc3339(), "end": (t + Duration::hours(2)).to_rfc3339()});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let app = &app;
    let post = |b: Value| async move { app.post("/api/admin/maintenance", &b).await };
    expect_error(
        post(window(json!({"node": "no-such-node"}))).await,
        400,
        "unknown_node",
    )
    .await;
    expect_error(post(window(json!({}))).await, 400, "invalid_json").await;
    expect_error(
        post(window(json!({"gpus": ["nowhere:7"]}))).await,
        400,
        "unknown_device",
    )
    .await;
    let past = json!({"node": "x", "start": (t - Duration::days(3)).to_rfc3339(),
        "end": (t - Duration::days(2)).to_rfc3339()});
    expect_error(post(past).await, 400, "end_in_past").await;
    let res = app
        .client
        .delete(app.url(&format!("/api/admin/maintenance/{}", "0".repeat(32))))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

/// What maintenance did is told on the owner's next chat turn, once: a booking moved (with
/// its new GPUs) and one cancelled (its price released).
#[tokio::test]
async fn the_owner_hears_of_it_on_their_next_turn_once() {
    let app = spawn_app().await;
    let (a, b) = (new_session(&app).await, new_session(&app).await);
    let t = tomorrow(9);
    let say = |sid: &str, msg: &str| {
        let body = json!({"message": msg, "session_id": sid});
        let app = &app;
        async move {
            let v: Value = app.post("/api/chat", &body).await.json().await.unwrap();
            v["response"].as_str().unwrap().to_string()
        }
    };
    assert!(!say(&a, "hi").await.contains("Maintenance"));
    let moved: Value = post_booking(&app, &a, "H100", 2, t, 2)
        .await
        .json()
        .await
        .unwrap();
    let node = node_of(&moved["gpus"][0]);
    // The other node is then full for the later hours: a second booking there is cancelled.
    let later = t + Duration::hours(4);
    let full: Value = post_booking(&app, &b, "H100", 8, later, 2)
        .await
        .json()
        .await
        .unwrap();
    let m = window_on(&app, &node, t, 8).await;
    assert_eq!(m["moved"], json!([moved["id"]]), "{m}");
    assert_eq!(m["cancelled"], json!([full["id"]]), "{m}");
    let told = say(&a, "what's up?").await;
    let id = moved["id"].as_str().unwrap();
    assert!(told.contains(&format!("moved your booking {id}")), "{told}");
    assert!(told.contains("PSU swap"), "{told}");
    assert!(
        !told.contains(full["id"].as_str().unwrap()),
        "only the owner's: {told}"
    );
    let again = say(&a, "thanks").await;
    assert!(!again.contains("Maintenance"), "told once: {again}");
    let told_b = say(&b, "hello").await;
    assert!(
        told_b.contains(&format!(
            "cancelled your booking {}",
            full["id"].as_str().unwrap()
        )) && told_b.contains("price is released"),
        "{told_b}"
    );
}
