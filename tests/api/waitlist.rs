//! The waitlist (API.md "Waitlist"): requests that do not fit wait in line; when devices
//! free up, entries that now fit whole are offered a hold in the order they joined (one
//! that still does not fit never blocks a later one); an expired offer goes to the next.

use crate::helpers::*;
use chrono::{DateTime, Duration, Utc};
use hpcbot::domain::Clock;
use hpcbot::server::Overrides;
use serde_json::{json, Value};

async fn join(app: &TestApp, sid: &str, count: u32, start: DateTime<Utc>, hours: i64) -> Value {
    let res = app
        .post(
            "/api/waitlist",
            &json!({"model": "H100", "count": count, "start": start.to_rfc3339(),
                "end": (start + Duration::hours(hours)).to_rfc3339(), "session_id": sid}),
        )
        .await;
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

async fn entries(app: &TestApp, sid: &str) -> Vec<Value> {
    let v: Value = app
        .get(&format!("/api/waitlist?session_id={sid}"))
        .await
        .json()
        .await
        .unwrap();
    v["waitlist"].as_array().unwrap().clone()
}

async fn offers_in_order_without_blocking(app: TestApp) {
    let [x, a, b, c] = [
        new_session(&app).await,
        new_session(&app).await,
        new_session(&app).await,
        new_session(&app).await,
    ];
    let t = tomorrow(9);
    let all: Value = post_booking(&app, &x, "H100", 8, t, 2)
        .await
        .json()
        .await
        .unwrap();
    let ea = join(&app, &a, 4, t, 2).await;
    assert_eq!(
        (&ea["status"], &ea["position"]),
        (&json!("waiting"), &json!(1))
    );
    let eb = join(&app, &b, 8, t, 2).await;
    assert_eq!(eb["position"], 2);
    let ec = join(&app, &c, 2, t, 2).await;
    assert_eq!(ec["position"], 3);
    // The 8 free up: A (4) is offered; B (8) does not fit in the 4 left and waits; C (2),
    // behind B, is offered all the same.
    let id = all["id"].as_str().unwrap();
    assert_eq!(
        app.delete(&format!("/api/bookings/{id}?session_id={x}"))
            .await
            .status(),
        200
    );
    let (wa, wb, wc) = (
        entries(&app, &a).await,
        entries(&app, &b).await,
        entries(&app, &c).await,
    );
    assert_eq!(wa[0]["status"], "offered", "{wa:?}");
    assert_eq!(wb[0]["status"], "waiting", "{wb:?}");
    assert_eq!(wc[0]["status"], "offered", "{wc:?}");
    assert_eq!(free_gpus(&app, "H100", t, 2).await, 2);
    // Confirming the offer books exactly its GPUs; the entry is booked.
    let hold = &wa[0]["hold"];
    assert_eq!(hold["count"], 4);
    let res = app
        .post(
            &format!(
                "/api/holds/{}/confirm?session_id={a}",
                hold["id"].as_str().unwrap()
            ),
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let booking: Value = res.json().await.unwrap();
    assert_eq!(booking["gpus"], hold["gpus"]);
    let wa = entries(&app, &a).await;
    assert_eq!(
        (&wa[0]["status"], &wa[0]["position"]),
        (&json!("booked"), &Value::Null)
    );
    // Leaving gives the place up; another's entry is not theirs to remove.
    let bid = wb[0]["id"].as_str().unwrap();
    let res = app
        .delete(&format!("/api/waitlist/{bid}?session_id={c}"))
        .await;
    assert_eq!(res.status(), 404);
    let res = app
        .delete(&format!("/api/waitlist/{bid}?session_id={b}"))
        .await;
    assert_eq!(res.status(), 204);
    assert!(entries(&app, &b).await.is_empty());
}

#[tokio::test]
async fn entries_are_offered_in_order_and_one_that_does_not_fit_blocks_none() {
    offers_in_order_without_blocking(spawn_app().await).await;
}

#[tokio::test]
async fn entries_are_offered_in_order_on_postgres() {
    offers_in_order_without_blocking(Store::Postgres.spawn(Spawn::default()).await).await;
}

#[tokio::test]
async fn an_expired_offer_goes_to_the_next_in_line() {
    let clock = Clock::fixed(Utc::now());
    let app = spawn_with(Spawn {
        settings: vec![("waitlist_hold", "1m".into())],
        overrides: Overrides {
            clock: Some(clock.clone()),
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let [x, a, b] = [
        new_session(&app).await,
        new_session(&app).await,
        new_session(&app).await,
    ];
    let t = tomorrow(9);
    let all: Value = post_booking(&app, &x, "H100", 8, t, 2)
        .await
        .json()
        .await
        .unwrap();
    join(&app, &a, 8, t, 2).await;
    join(&app, &b, 8, t, 2).await;
    let id = all["id"].as_str().unwrap();
    app.delete(&format!("/api/bookings/{id}?session_id={x}"))
        .await;
    assert_eq!(entries(&app, &a).await[0]["status"], "offered");
    assert_eq!(entries(&app, &b).await[0]["status"], "waiting");
    // A lets the offer run out: it goes to B; A waits again.
    clock.advance(Duration::seconds(61));
    assert_eq!(entries(&app, &b).await[0]["status"], "offered");
    let wa = entries(&app, &a).await;
    assert_eq!(wa[0]["status"], "waiting");
    assert!(wa[0]["hold"].is_null(), "{wa:?}");
}

#[tokio::test]
async fn in_chat_a_request_that_does_not_fit_waits_and_its_offer_is_told_and_booked() {
    let app = spawn_app().await;
    let (x, a) = (new_session(&app).await, new_session(&app).await);
    let t = tomorrow(9);
    let day = t.format("%Y-%m-%d").to_string();
    let all: Value = post_booking(&app, &x, "H100", 8, t, 4)
        .await
        .json()
        .await
        .unwrap();
    let say = |sid: String, msg: String| {
        let app = &app;
        async move {
            let v: Value = app
                .post("/api/chat", &json!({"message": msg, "session_id": sid}))
                .await
                .json()
                .await
                .unwrap();
            v
        }
    };
    let busy = say(
        a.clone(),
        format!("book 4 h100 on {day} from 9:00 to 13:00"),
    )
    .await;
    let text = busy["response"].as_str().unwrap();
    assert!(
        text.contains("waitlist") && busy["proposal"].is_null(),
        "{busy}"
    );
    let joined = say(a.clone(), "ok, put me on the waitlist".into()).await;
    assert!(
        joined["response"]
            .as_str()
            .unwrap()
            .contains("on the waitlist"),
        "{joined}"
    );
    assert_eq!(entries(&app, &a).await[0]["status"], "waiting");
    // The GPUs free up; the person's next turn tells the offer and a yes books it.
    let id = all["id"].as_str().unwrap();
    app.delete(&format!("/api/bookings/{id}?session_id={x}"))
        .await;
    let told = say(a.clone(), "any news?".into()).await;
    let text = told["response"].as_str().unwrap();
    assert!(text.contains("From the waitlist"), "{told}");
    assert_eq!(told["proposal"], "book", "{told}");
    let booked = say(a.clone(), "yes".into()).await;
    let b = &booked["actions"][0]["booking"];
    assert_eq!(
        (&b["count"], &b["status"]),
        (&json!(4), &json!("confirmed")),
        "{booked}"
    );
    assert_eq!(entries(&app, &a).await[0]["status"], "booked");
}
