//! Conversations with the built-in assistant through HTTP: slot filling, carry-over,
//! confirm/deny, conflicts with a counter-offer, cancelling — and arbitrary text.

use crate::helpers::*;
use chrono::Datelike;
use serde_json::{json, Value};

/// A chat session driven through `/api/chat`.
struct Chat<'a> {
    app: &'a TestApp,
    sid: Option<String>,
}

impl<'a> Chat<'a> {
    fn new(app: &'a TestApp) -> Self {
        Self { app, sid: None }
    }

    async fn say(&mut self, msg: &str) -> Value {
        let mut body = json!({"message": msg});
        if let Some(s) = &self.sid {
            body["session_id"] = json!(s);
        }
        let res = self.app.post("/api/chat", &body).await;
        assert_eq!(res.status(), 200, "{msg}");
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["backend"], "builtin");
        self.sid = Some(v["session_id"].as_str().unwrap().to_string());
        v
    }

    async fn text(&mut self, msg: &str) -> String {
        self.say(msg).await["response"]
            .as_str()
            .unwrap()
            .to_string()
    }

    async fn bookings(&self) -> Vec<Value> {
        let v: Value = self
            .app
            .get(&format!(
                "/api/bookings?session_id={}",
                self.sid.as_ref().unwrap()
            ))
            .await
            .json()
            .await
            .unwrap();
        v["bookings"].as_array().unwrap().clone()
    }
}

#[tokio::test]
async fn slot_filling_asks_only_for_what_is_missing_then_books_after_yes() {
    let app = spawn_app().await;
    let mut c = Chat::new(&app);
    let r = c.text("I need some GPUs").await;
    assert!(r.contains("GPU model") && r.contains("A100-80GB"), "{r}");
    let r = c.text("A100").await;
    assert!(r.contains("How many") && r.contains("A100-80GB"), "{r}");
    let r = c.text("2").await;
    assert!(r.contains("When"), "{r}");
    let r = c.text("tomorrow 10-16").await;
    assert!(
        r.contains("Shall I book it?") && r.contains("$27.48") && r.contains("ampere-"),
        "{r}"
    );
    // Asking the price while it waits for a yes states the booking again.
    let r = c.text("how much will that be?").await;
    assert!(
        r.contains("$27.48") && r.contains("Shall I book it?"),
        "{r}"
    );
    assert!(
        c.bookings().await.is_empty(),
        "nothing is booked before the yes"
    );
    let v = c.say("yes").await;
    assert_eq!(v["actions"][0]["type"], "booking_created");
    let b = &v["actions"][0]["booking"];
    assert_eq!(b["count"], 2);
    assert_eq!(b["model"], "A100-80GB");
    assert_eq!(b["start"], json!(tomorrow(10)));
    assert_eq!(b["end"], json!(tomorrow(16)));
    let list = c.bookings().await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], b["id"]);
    assert!(v["response"]
        .as_str()
        .unwrap()
        .contains(b["id"].as_str().unwrap()));
}

#[tokio::test]
async fn context_carries_from_a_question_to_book_it() {
    let app = spawn_app().await;
    let mut c = Chat::new(&app);
    let r = c.text("is an H100 free tomorrow 10:00-12:00?").await;
    assert!(r.contains("8 of 8") && r.contains("H100-80GB"), "{r}");
    let r = c.text("what about L40S?").await;
    assert!(r.contains("L40S-48GB") && r.contains("of 8"), "{r}");
    let r = c.text("book it").await;
    assert!(
        r.contains("L40S-48GB") && r.contains("Shall I book it?"),
        "{r}"
    );
    let v = c.say("yep, go ahead").await;
    let b = &v["actions"][0]["booking"];
    assert_eq!(b["model"], "L40S-48GB");
    assert_eq!(b["count"], 1);
    assert_eq!(b["start"], json!(tomorrow(10)));
    assert_eq!(b["end"], json!(tomorrow(12)));
}

#[tokio::test]
async fn no_means_nothing_is_booked() {
    let app = spawn_app().await;
    let mut c = Chat::new(&app);
    let r = c.text("book 2 v100 tomorrow 9-12").await;
    assert!(r.contains("Shall I book it?"), "{r}");
    let v = c.say("no").await;
    assert!(v["actions"].as_array().unwrap().is_empty());
    let v = c.say("yes").await;
    assert!(
        v["actions"].as_array().unwrap().is_empty(),
        "the declined booking is gone"
    );
    assert!(c.bookings().await.is_empty());
    let r = c
        .text("reserve four v100 for two days starting tomorrow")
        .await;
    assert!(r.contains("should the 4 × V100-32GB start"), "{r}");
    let r = c.text("at 9am").await;
    assert!(r.contains("2 days"), "{r}");
    let r = c.text("actually cancel that").await;
    assert!(r.contains("haven't booked"), "{r}");
    assert!(c.bookings().await.is_empty());
}

#[tokio::test]
async fn a_conflict_says_how_many_are_free_and_offers_the_nearest_slot() {
    let app = spawn_app().await;
    let taken = app
        .post(
            "/api/bookings",
            &json!({"model": "H100", "count": 7, "start": tomorrow(9), "end": tomorrow(12)}),
        )
        .await;
    assert_eq!(taken.status(), 201);
    let mut c = Chat::new(&app);
    let r = c.text("book 2 h100 tomorrow 10-11").await;
    assert!(r.contains("Only 1") && r.contains("nearest time"), "{r}");
    // The nearest free time is a suggestion: a bare yes books nothing ...
    let v = c.say("yes").await;
    assert!(v["actions"].as_array().unwrap().is_empty(), "{v}");
    // ... "book it" right after the suggestion states it, and a yes books it.
    let r = c.text("book 2 h100 tomorrow 10-11").await;
    assert!(r.contains("nearest time"), "{r}");
    let r = c.text("book it").await;
    assert!(r.contains("Shall I book it?"), "{r}");
    let v = c.say("yes").await;
    let b = &v["actions"][0]["booking"];
    assert_eq!(b["start"], json!(tomorrow(12)), "{v}");
    assert_eq!(b["end"], json!(tomorrow(13)));
    assert_eq!(b["count"], 2);
    // More than exist: say so.
    let r = c.text("book 20 h100 tomorrow 15-16").await;
    assert!(r.contains("only 8"), "{r}");
}

#[tokio::test]
async fn cancelling_by_my_booking_by_model_and_by_id() {
    let app = spawn_app().await;
    let mut c = Chat::new(&app);
    let r = c.text("cancel my booking").await;
    assert!(r.contains("no upcoming bookings"), "{r}");
    c.say("book an a100 tomorrow 9-10").await;
    let a = c.say("yes").await["actions"][0]["booking"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    c.say("book a v100 tomorrow 9-10").await;
    let v = c.say("yes").await["actions"][0]["booking"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = c.text("cancel my booking").await;
    assert!(
        r.contains("which one") && r.contains(&a[..8]) && r.contains(&v[..8]),
        "{r}"
    );
    // The first 8 digits, as people type them (the whole id in the rare case they hold no
    // digit, which the assistant does not read as an id).
    let key = if v[..8].bytes().any(|b| b.is_ascii_digit()) {
        &v[..8]
    } else {
        &v[..]
    };
    let r = c.text(key).await;
    assert!(r.contains("Shall I cancel") && r.contains(&v[..8]), "{r}");
    let out = c.say("yes").await;
    assert_eq!(out["actions"][0]["type"], "booking_cancelled");
    assert_eq!(out["actions"][0]["booking"]["id"], v.as_str());
    let r = c.text("drop the A100 reservation").await;
    assert!(r.contains("Shall I cancel") && r.contains(&a[..8]), "{r}");
    let out = c.say("yes").await;
    assert_eq!(out["actions"][0]["booking"]["id"], a.as_str());
    assert_eq!(out["actions"][0]["booking"]["status"], "cancelled");
    let list = c.bookings().await;
    assert!(list.iter().all(|b| b["status"] == "cancelled"));
    let r = c.text("my bookings").await;
    assert!(r.contains("no upcoming bookings"), "{r}");
}

#[tokio::test]
async fn another_sessions_booking_cannot_be_cancelled_by_id() {
    let app = spawn_app().await;
    let mut owner = Chat::new(&app);
    owner.say("book an a100 tomorrow 9-10").await;
    let id = owner.say("yes").await["actions"][0]["booking"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut other = Chat::new(&app);
    let out = other.say(&format!("cancel booking {id}")).await;
    assert!(out["actions"].as_array().unwrap().is_empty());
    assert_eq!(owner.bookings().await[0]["status"], "confirmed");
}

#[tokio::test]
async fn direct_chat_answers_but_never_books() {
    let app = spawn_app().await;
    for msg in [
        "book 2 a100 tomorrow 9-12",
        "yes",
        "what gpus do you have",
        "how much is an h100",
    ] {
        let res = app.post("/api/direct/chat", &json!({"message": msg})).await;
        assert_eq!(res.status(), 200);
        let v: Value = res.json().await.unwrap();
        assert!(!v["response"].as_str().unwrap().is_empty());
        assert_eq!(v["backend"], "builtin");
    }
    assert!(app.state.tools.store().all().await.unwrap().is_empty());
}

#[tokio::test]
async fn times_are_read_in_the_configured_timezone() {
    let app = spawn_with(Spawn {
        // 2030 is further ahead than the default max_advance (365 days).
        settings: vec![
            ("timezone", "Europe/Bratislava".into()),
            ("max_advance", "3650d".into()),
        ],
        ..Default::default()
    })
    .await;
    let mut c = Chat::new(&app);
    // A winter day within the next year, read in Bratislava (UTC+1).
    let day = in_days(40);
    c.say(&format!("book an a100 on {day} 9-10")).await;
    let b = c.say("yes").await["actions"][0]["booking"].clone();
    let offset = if day.month() >= 4 && day.month() <= 10 {
        2
    } else {
        1
    };
    assert_eq!(b["start"], json!(format!("{day}T{:02}:00:00Z", 9 - offset)));
    assert_eq!(b["end"], json!(format!("{day}T{:02}:00:00Z", 10 - offset)));
}

#[tokio::test]
async fn the_centre_name_is_configurable() {
    let app = spawn_with(Spawn {
        settings: vec![("centre_name", "Tatra GPU Cloud".into())],
        ..Default::default()
    })
    .await;
    let r = Chat::new(&app).text("hello").await;
    assert!(r.contains("Tatra GPU Cloud"), "{r}");
}

#[tokio::test]
async fn superlatives_periods_weekends_and_cancel_everything() {
    let app = spawn_app().await;
    let mut c = Chat::new(&app);
    let r = c.text("what's the cheapest gpu?").await;
    assert!(r.contains("RTX-4090-24GB") && r.contains("$0.59"), "{r}");
    let r = c.text("which gpu has the most memory").await;
    assert!(r.contains("80 GB") && r.contains("A100-80GB"), "{r}");
    let r = c.text("what is the price for an L40S per day").await;
    assert!(r.contains("$28.56") && r.contains("day"), "{r}");
    let r = c.text("I'd like to book a V100 for the weekend").await;
    // Saturday 00:00 to Monday 00:00 (from now on when the weekend has begun).
    assert!(
        r.contains("→ Mon") && r.contains("00:00 UTC") && r.contains("Shall I book it?"),
        "{r}"
    );
    c.say("yes").await;
    c.say("book an h100 tomorrow 9-10").await;
    c.say("yes").await;
    let r = c.text("cancel everything").await;
    assert!(r.contains("Shall I cancel these bookings?"), "{r}");
    let out = c.say("yes").await;
    assert_eq!(out["actions"].as_array().unwrap().len(), 2, "{out}");
    assert!(c
        .bookings()
        .await
        .iter()
        .all(|b| b["status"] == "cancelled"));
}

#[tokio::test]
async fn a_booking_can_be_moved_and_resized_after_a_yes() {
    // 2030 is further ahead than the default max_advance (365 days).
    let app = spawn_with(Spawn {
        settings: vec![("max_advance", "3650d".into())],
        ..Default::default()
    })
    .await;
    let mut c = Chat::new(&app);
    let day = in_days(20);
    c.say(&format!("book an a100 on {day} 9-10")).await;
    let first = c.say("yes").await["actions"][0]["booking"].clone();
    let next = day.succ_opt().unwrap();
    let r = c.text(&format!("can you move it to {next}?")).await;
    assert!(
        r.contains(&first["id"].as_str().unwrap()[..8]) && r.contains("Shall I change it?"),
        "{r}"
    );
    let out = c.say("yes").await;
    let acts = out["actions"].as_array().unwrap();
    let changed = acts.last().unwrap();
    assert_eq!(changed["type"], "booking_changed", "{out}");
    assert_eq!(
        changed["booking"]["start"],
        json!(format!("{next}T09:00:00Z")),
        "same time of day, new day"
    );
    assert_eq!(
        changed["booking"]["end"],
        json!(format!("{next}T10:00:00Z"))
    );
    let r = c.text("make it 3").await;
    assert!(
        r.contains("**3 × A100-80GB**") && r.contains("Shall I change it?"),
        "{r}"
    );
    let out = c.say("yes").await;
    assert_eq!(
        out["actions"].as_array().unwrap().last().unwrap()["booking"]["count"],
        3
    );
    let confirmed: Vec<Value> = c
        .bookings()
        .await
        .into_iter()
        .filter(|b| b["status"] == "confirmed")
        .collect();
    assert_eq!(confirmed.len(), 1, "one booking left, the changed one");
    assert_eq!(confirmed[0]["count"], 3);
    // Declining a change keeps the booking as it is.
    let later = in_days(25);
    c.say(&format!("move it to {later}")).await;
    assert!(c.say("no").await["actions"].as_array().unwrap().is_empty());
    let confirmed: Vec<Value> = c
        .bookings()
        .await
        .into_iter()
        .filter(|b| b["status"] == "confirmed")
        .collect();
    assert_eq!(confirmed.len(), 1);
    assert_eq!(confirmed[0]["start"], json!(format!("{next}T09:00:00Z")));
}

/// A date `n` days from today (UTC), as `YYYY-MM-DD`.
fn in_days(n: i64) -> chrono::NaiveDate {
    (chrono::Utc::now() + chrono::Duration::days(n)).date_naive()
}

#[tokio::test]
async fn a_reply_says_what_it_waits_for_a_yes_to() {
    let app = spawn_app().await;
    let mut c = Chat::new(&app);
    let v = c.say("book 2 v100 tomorrow 9-12").await;
    assert_eq!(v["proposal"], "book", "{v}");
    let v = c.say("make it 3 hours later").await;
    assert!(v["proposal"] == "book" || v["proposal"].is_null(), "{v}");
    let v = c.say("book 2 v100 tomorrow 9-12").await;
    assert_eq!(v["proposal"], "book", "{v}");
    let v = c.say("yes").await;
    assert_eq!(v["actions"][0]["type"], "booking_created");
    assert!(v["proposal"].is_null(), "nothing waits after the yes: {v}");
    let v = c.say("extend it to 14:00").await;
    assert_eq!(v["proposal"], "change", "{v}");
    let v = c.say("no").await;
    assert!(v["proposal"].is_null(), "{v}");
    let v = c.say("cancel it").await;
    assert_eq!(v["proposal"], "cancel", "{v}");
    let v = c.say("what gpus do you have").await;
    assert!(v["proposal"].is_null(), "a question is not a proposal: {v}");
}
