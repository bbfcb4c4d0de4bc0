//! Conversations with the built-in assistant through HTTP: slot filling, carry-over,
//! confirm/deny, conflicts with a counter-offer, cancelling — and arbitrary text.

use crate::helpers::*;
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
    assert!(
        r.contains("which GPU model") && r.contains("A100-80GB"),
        "{r}"
    );
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
    assert!(r.contains("1 of 8") && r.contains("nearest slot"), "{r}");
    let v = c.say("yes").await;
    let b = &v["actions"][0]["booking"];
    assert_eq!(b["start"], json!(tomorrow(12)), "{v}");
    assert_eq!(b["end"], json!(tomorrow(13)));
    assert_eq!(b["count"], 2);
    // More than exist: say so.
    let r = c.text("book 20 h100 tomorrow 15-16").await;
    assert!(r.contains("only **8**"), "{r}");
}

#[tokio::test]
async fn cancelling_by_my_booking_by_model_and_by_id() {
    let app = spawn_app().await;
    let mut c = Chat::new(&app);
    let r = c.text("cancel my booking").await;
    assert!(r.contains("no active bookings"), "{r}");
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
        r.contains("Which one") && r.contains(&a[..8]) && r.contains(&v[..8]),
        "{r}"
    );
    // The first 8 digits, as people type them (the whole id in the rare case they hold no
    // digit, which the assistant does not read as an id).
    let key = if v[..8].bytes().any(|b| b.is_ascii_digit()) {
        &v[..8]
    } else {
        &v[..]
    };
    let out = c.say(key).await;
    assert_eq!(out["actions"][0]["type"], "booking_cancelled");
    assert_eq!(out["actions"][0]["booking"]["id"], v.as_str());
    let out = c.say("drop the A100 reservation").await;
    assert_eq!(out["actions"][0]["booking"]["id"], a.as_str());
    assert_eq!(out["actions"][0]["booking"]["status"], "cancelled");
    let list = c.bookings().await;
    assert!(list.iter().all(|b| b["status"] == "cancelled"));
    let r = c.text("my bookings").await;
    assert!(r.contains("0 active") && r.contains("cancelled"), "{r}");
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
    c.say("book an a100 on 2030-01-15 9-10").await;
    let b = c.say("yes").await["actions"][0]["booking"].clone();
    assert_eq!(b["start"], "2030-01-15T08:00:00Z");
    assert_eq!(b["end"], "2030-01-15T09:00:00Z");
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
    assert!(
        r.starts_with("The cheapest is **RTX-4090-24GB** at **$0.59**"),
        "{r}"
    );
    let r = c.text("which gpu has the most memory").await;
    assert!(
        r.contains("80 GB") && r.contains("H100-80GB") && r.contains("A100-80GB"),
        "{r}"
    );
    let r = c.text("what is the price for an L40S per day").await;
    assert!(r.contains("$28.56") && r.contains("per day"), "{r}");
    let r = c.text("I'd like to book a V100 for the weekend").await;
    // Saturday 00:00 to Monday 00:00 (from now on when the weekend has begun).
    assert!(
        r.contains("→ Mon") && r.contains("00:00 UTC") && r.contains("Shall I book it?"),
        "{r}"
    );
    c.say("yes").await;
    c.say("book an h100 tomorrow 9-10").await;
    c.say("yes").await;
    let out = c.say("cancel everything").await;
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
    c.say("book an a100 on 2030-01-15 9-10").await;
    let first = c.say("yes").await["actions"][0]["booking"].clone();
    let r = c.text("can you move it to 2030-01-16?").await;
    assert!(
        r.contains(&format!(
            "replace booking `{}`",
            &first["id"].as_str().unwrap()[..8]
        )) && r.contains("Shall I book it?"),
        "{r}"
    );
    let out = c.say("yes").await;
    let acts = out["actions"].as_array().unwrap();
    assert_eq!(acts[0]["type"], "booking_cancelled");
    assert_eq!(acts[0]["booking"]["id"], first["id"]);
    assert_eq!(acts[1]["type"], "booking_created");
    assert_eq!(
        acts[1]["booking"]["start"], "2030-01-16T09:00:00Z",
        "same time of day, new day"
    );
    assert_eq!(acts[1]["booking"]["end"], "2030-01-16T10:00:00Z");
    let r = c.text("make it 3").await;
    assert!(r.contains("| GPUs | 3 |"), "{r}");
    let out = c.say("yes").await;
    assert_eq!(out["actions"][1]["booking"]["count"], 3);
    let confirmed: Vec<Value> = c
        .bookings()
        .await
        .into_iter()
        .filter(|b| b["status"] == "confirmed")
        .collect();
    assert_eq!(confirmed.len(), 1, "one booking left, the changed one");
    assert_eq!(confirmed[0]["count"], 3);
    // Declining a change keeps the booking as it is.
    c.say("move it to 2030-01-20").await;
    assert!(c.say("no").await["actions"].as_array().unwrap().is_empty());
    assert_eq!(
        c.bookings()
            .await
            .iter()
            .filter(|b| b["status"] == "confirmed")
            .count(),
        1
    );
}
