//! Calendar feeds (API.md "Calendar feed"), read back with the `icalendar` crate's parser:
//! one VEVENT per booking with a stable UID, UTC times, SEQUENCE counting changes, cancelled
//! ones kept as CANCELLED; the secret feed URL (no cookie, no token) and its replacement;
//! one booking's `.ics`; nobody reads another's.

use crate::helpers::*;
use chrono::{DateTime, Duration, Utc};
use hpcbot::domain::Clock;
use hpcbot::server::Overrides;
use icalendar::{
    CalendarComponent, CalendarDateTime, Component, DatePerhapsTime, Event, EventStatus,
};
use serde_json::{json, Value};

/// The VEVENTs of an iCalendar reply (checks its content type).
async fn events_of(res: reqwest::Response) -> Vec<Event> {
    assert_eq!(res.status(), 200);
    let ct = res.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("text/calendar"), "{ct}");
    let text = res.text().await.unwrap();
    assert!(text.contains("\r\n"), "RFC 5545 lines end in CRLF");
    let cal: icalendar::Calendar = text.parse().unwrap_or_else(|e| panic!("{e}\n{text}"));
    cal.components
        .into_iter()
        .filter_map(|c| match c {
            CalendarComponent::Event(e) => Some(e),
            _ => None,
        })
        .collect()
}

fn utc(t: DateTime<Utc>) -> Option<DatePerhapsTime> {
    Some(DatePerhapsTime::DateTime(CalendarDateTime::Utc(
        t.with_timezone(&Utc),
    )))
}

async fn book(app: &TestApp, sid: &str, count: u32, start: DateTime<Utc>, hours: i64) -> Value {
    let res = app
        .post(
            "/api/bookings",
            &json!({"model": "A100", "count": count, "start": start.to_rfc3339(),
                "end": (start + Duration::hours(hours)).to_rfc3339(), "session_id": sid}),
        )
        .await;
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

#[tokio::test]
async fn the_feed_shows_each_booking_once_with_its_changes_and_cancellation() {
    let app = spawn_app().await;
    let sid = new_session(&app).await;
    let start = tomorrow(9);
    let b = book(&app, &sid, 2, start, 3).await;
    let id = b["id"].as_str().unwrap();
    let feed = format!("/api/calendar.ics?session_id={sid}");

    let evs = events_of(app.get(&feed).await).await;
    assert_eq!(evs.len(), 1);
    let e = &evs[0];
    assert!(e.get_uid().unwrap().contains(id), "{:?}", e.get_uid());
    assert_eq!(e.get_start(), utc(start));
    assert_eq!(e.get_end(), utc(start + Duration::hours(3)));
    assert_eq!(e.get_summary(), Some("2 × A100-80GB"));
    let desc = e.get_description().unwrap();
    for gpu in b["gpus"].as_array().unwrap() {
        assert!(desc.contains(gpu.as_str().unwrap()), "{desc}");
    }
    assert!(desc.contains("13.74"), "the price: {desc}");
    assert_eq!(e.get_sequence(), Some(0));
    assert_eq!(e.get_status(), Some(EventStatus::Confirmed));
    let uid = e.get_uid().unwrap().to_string();

    // A change: the same event (same UID), its new end, SEQUENCE 1.
    let res = app
        .client
        .patch(app.url(&format!("/api/bookings/{id}?session_id={sid}")))
        .json(&json!({"end": (start + Duration::hours(4)).to_rfc3339()}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let evs = events_of(app.get(&feed).await).await;
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].get_uid(), Some(uid.as_str()));
    assert_eq!(evs[0].get_end(), utc(start + Duration::hours(4)));
    assert_eq!(evs[0].get_sequence(), Some(1));

    // Cancelled: still there, as CANCELLED, a revision later.
    let res = app
        .delete(&format!("/api/bookings/{id}?session_id={sid}"))
        .await;
    assert_eq!(res.status(), 200);
    let evs = events_of(app.get(&feed).await).await;
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].get_status(), Some(EventStatus::Cancelled));
    assert_eq!(evs[0].get_sequence(), Some(2));

    // One booking's own file says the same.
    let one = events_of(
        app.get(&format!("/api/bookings/{id}/ics?session_id={sid}"))
            .await,
    )
    .await;
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].get_uid(), Some(uid.as_str()));
    assert_eq!(one[0].get_status(), Some(EventStatus::Cancelled));
    // Another session reads neither.
    let other = new_session(&app).await;
    expect_error(
        app.get(&format!("/api/bookings/{id}/ics?session_id={other}"))
            .await,
        404,
        "booking_not_found",
    )
    .await;
    assert!(events_of(
        app.get(&format!("/api/calendar.ics?session_id={other}"))
            .await
    )
    .await
    .is_empty());
}

#[tokio::test]
async fn bookings_that_ended_over_30_days_ago_leave_the_feed() {
    let clock = Clock::fixed(Utc::now());
    let app = spawn_with(Spawn {
        // The session outlives the jump in time.
        settings: vec![("session_ttl", "90d".into())],
        overrides: Overrides {
            clock: Some(clock.clone()),
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let sid = new_session(&app).await;
    let near = tomorrow(9);
    book(&app, &sid, 1, near, 1).await;
    book(&app, &sid, 1, near + Duration::days(20), 1).await;
    let feed = format!("/api/calendar.ics?session_id={sid}");
    assert_eq!(events_of(app.get(&feed).await).await.len(), 2);
    // 35 days on: the first ended 34 days ago, the second 14 days ago.
    clock.advance(Duration::days(35));
    let evs = events_of(app.get(&feed).await).await;
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].get_start(), utc(near + Duration::days(20)));
}

#[tokio::test]
async fn the_secret_feed_url_needs_no_token_and_asking_again_revokes_it() {
    let app = spawn_with(Spawn {
        settings: vec![("auth", "token".into())],
        ..Default::default()
    })
    .await;
    let (ann, bob) = (user_token(&app, "ann").await, user_token(&app, "bob").await);
    let start = tomorrow(10);
    let res = app
        .client
        .post(app.url("/api/bookings"))
        .bearer_auth(&ann)
        .json(
            &json!({"model": "H100", "count": 1, "start": start.to_rfc3339(),
            "end": (start + Duration::hours(2)).to_rfc3339()}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let booking: Value = res.json().await.unwrap();
    let id = booking["id"].as_str().unwrap();

    // The feed of the token's user; without a token it is 401 like any route.
    expect_error(app.get("/api/calendar.ics").await, 401, "unauthorized").await;
    let mine = app
        .client
        .get(app.url("/api/calendar.ics"))
        .bearer_auth(&ann)
        .send()
        .await
        .unwrap();
    assert_eq!(events_of(mine).await.len(), 1);
    let bobs = app
        .client
        .get(app.url(&format!("/api/bookings/{id}/ics")))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    expect_error(bobs, 404, "booking_not_found").await;

    let new_feed = || async {
        let res = app
            .client
            .post(app.url("/api/calendar/feed"))
            .bearer_auth(&ann)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let v: Value = res.json().await.unwrap();
        v["url"].as_str().unwrap().to_string()
    };
    let first = new_feed().await;
    let secret = first
        .rsplit('/')
        .next()
        .unwrap()
        .trim_end_matches(".ics")
        .to_string();
    assert!(secret.len() >= 32, "at least 128 bits: {first}");
    assert!(
        first.starts_with(&format!("http://{}/", app.addr)),
        "{first}"
    );
    // A calendar app: no cookie, no token.
    let plain = reqwest::Client::new();
    let evs = events_of(plain.get(&first).send().await.unwrap()).await;
    assert_eq!(evs.len(), 1);
    assert!(evs[0].get_uid().unwrap().contains(id));

    let second = new_feed().await;
    assert_ne!(first, second);
    expect_error(
        plain.get(&first).send().await.unwrap(),
        404,
        "feed_not_found",
    )
    .await;
    assert_eq!(
        events_of(plain.get(&second).send().await.unwrap())
            .await
            .len(),
        1
    );
    expect_error(
        plain
            .get(app.url(&format!("/api/calendar/feed/{}.ics", "0".repeat(64))))
            .send()
            .await
            .unwrap(),
        404,
        "feed_not_found",
    )
    .await;
}

#[tokio::test]
async fn feeds_work_on_postgresql_too() {
    let app = Store::Postgres.spawn(Spawn::default()).await;
    let sid = new_session(&app).await;
    book(&app, &sid, 1, tomorrow(9), 2).await;
    let res = app
        .client
        .post(app.url(&format!("/api/calendar/feed?session_id={sid}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let url: Value = res.json().await.unwrap();
    let url = url["url"].as_str().unwrap();
    let evs = events_of(reqwest::Client::new().get(url).send().await.unwrap()).await;
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].get_sequence(), Some(0));
}

/// "add it to my calendar" in chat: the link of the booking just made (which serves that
/// booking), how to subscribe to all of them — and nothing booked, changed or revoked.
#[tokio::test]
async fn in_chat_add_it_to_my_calendar_gives_the_links_and_does_nothing_else() {
    let app = spawn_app().await;
    let sid = new_session(&app).await;
    let say = |msg: &'static str| {
        let (app, sid) = (&app, sid.clone());
        async move {
            let v: Value = app
                .post("/api/chat", &json!({"message": msg, "session_id": sid}))
                .await
                .json()
                .await
                .unwrap();
            v["response"].as_str().unwrap().to_string()
        }
    };
    let none = say("can I get my bookings into my calendar?").await;
    assert!(none.contains("/api/calendar/feed"), "{none}");
    assert!(!none.contains("/api/bookings/"), "no booking yet: {none}");
    say("book 1 H100 tomorrow from 9 to 11").await;
    say("yes").await;
    let mine: Value = app
        .get(&format!("/api/bookings?session_id={sid}"))
        .await
        .json()
        .await
        .unwrap();
    let booked = mine["bookings"].as_array().unwrap().clone();
    assert_eq!(booked.len(), 1, "{mine}");
    let id = booked[0]["id"].as_str().unwrap();
    for ask in ["add it to my calendar", "can you send me an .ics for that?"] {
        let text = say(ask).await;
        let link = format!("/api/bookings/{id}/ics");
        assert!(text.contains(&link), "{ask}: {text}");
        let events = events_of(app.get(&format!("{link}?session_id={sid}")).await).await;
        assert_eq!(events.len(), 1);
    }
    let after: Value = app
        .get(&format!("/api/bookings?session_id={sid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(after["bookings"], json!(booked), "nothing changed");
}
