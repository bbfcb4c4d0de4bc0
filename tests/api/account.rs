//! `GET /api/account`, `GET /api/usage`, `GET /api/admin/usage` (API.md "Projects, quotas and
//! budgets"): the caller's quota use, the project's money, and use inside a window — only the
//! part of each booking inside it — on SQLite and PostgreSQL; the admin's report as CSV.

use crate::helpers::*;
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

async fn book(app: &TestApp, sid: &str, model: &str, count: u32, start: DateTime<Utc>, hours: i64) {
    let res = post_booking(app, sid, model, count, start, hours).await;
    assert_eq!(res.status(), 201, "{model} x{count}");
}

async fn get_json(app: &TestApp, path: &str) -> Value {
    let res = app.get(path).await;
    assert_eq!(res.status(), 200, "{path}");
    res.json().await.unwrap()
}

async fn account_and_usage(app: &TestApp) {
    let sid = new_session(app).await;
    let t = tomorrow(10);
    // 2 A100 for 4 h ($18.32) and 1 H100 for 2 h ($7.78).
    book(app, &sid, "A100", 2, t, 4).await;
    book(app, &sid, "H100", 1, t + Duration::hours(3), 2).await;
    let a = get_json(app, &format!("/api/account?session_id={sid}")).await;
    assert!(!a["owner"].as_str().unwrap().is_empty());
    assert_eq!(a["project"]["name"], "default");
    assert_eq!(a["project"]["budget"], Value::Null);
    assert_eq!(a["project"]["remaining"], Value::Null);
    assert_eq!(a["project"]["committed"], 26.1);
    assert_eq!(a["project"]["spent"], 0.0);
    assert_eq!(a["project"]["currency"], "USD");
    let quotas: Vec<&str> = a["quotas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["quota"].as_str().unwrap())
        .collect();
    assert_eq!(
        quotas,
        [
            "max_gpus_at_once",
            "max_gpu_hours_per_week",
            "max_booking_duration",
            "min_notice"
        ]
    );
    assert_eq!(a["quotas"][0]["limit"], 16.0);
    assert_eq!(a["quotas"][2]["used"], 4.0, "the longest booking, in hours");
    // Only [t+2h, t+4h) counts: 2 A100 × 2 h ($9.16) and 1 H100 × 1 h ($3.89).
    let from = (t + Duration::hours(2)).to_rfc3339();
    let to = (t + Duration::hours(4)).to_rfc3339();
    let q = |p: &str| format!("{p}?from={}&to={}", urlencode(&from), urlencode(&to));
    let u = get_json(app, &format!("{}&session_id={sid}", q("/api/usage"))).await;
    assert_eq!(u["gpu_hours"], 5.0);
    assert_eq!(u["amount"], 13.05);
    assert_eq!(
        u["by_model"],
        json!([
            {"model": "A100-80GB", "gpu_hours": 4.0, "amount": 9.16},
            {"model": "H100-80GB", "gpu_hours": 1.0, "amount": 3.89}
        ])
    );
    // Another owner's use is not the caller's; the admin sees both by owner.
    let other = new_session(app).await;
    book(app, &other, "V100", 1, t + Duration::hours(2), 1).await;
    let u = get_json(app, &format!("{}&session_id={sid}", q("/api/usage"))).await;
    assert_eq!(u["gpu_hours"], 5.0);
    let rows = get_json(app, &format!("{}&group_by=owner", q("/api/admin/usage"))).await;
    assert_eq!(rows["rows"].as_array().unwrap().len(), 2);
    let rows = get_json(app, &q("/api/admin/usage")).await;
    assert_eq!(
        rows["rows"],
        json!([{"group": "default", "gpu_hours": 6.0, "amount": 13.84, "bookings": 3}])
    );
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test]
async fn account_and_usage_on_sqlite() {
    account_and_usage(&spawn_app().await).await;
}

#[tokio::test]
async fn account_and_usage_on_postgresql() {
    account_and_usage(&Store::Postgres.spawn(Spawn::default()).await).await;
}

#[tokio::test]
async fn the_admin_report_is_csv_when_asked() {
    let app = spawn_app().await;
    let sid = new_session(&app).await;
    let t = tomorrow(10);
    book(&app, &sid, "L40S", 3, t, 2).await;
    let path = format!(
        "/api/admin/usage?from={}&to={}&group_by=model",
        urlencode(&t.to_rfc3339()),
        urlencode(&(t + Duration::days(1)).to_rfc3339())
    );
    for res in [
        app.get(&format!("{path}&format=csv")).await,
        app.client
            .get(app.url(&path))
            .header("accept", "text/csv")
            .send()
            .await
            .unwrap(),
    ] {
        assert_eq!(res.status(), 200);
        assert!(res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv"));
        assert_eq!(
            res.text().await.unwrap(),
            "group,gpu_hours,amount,bookings\r\nL40S-48GB,6.00,7.14,1\r\n"
        );
    }
    // A window that is not one: 400 with the contract's body.
    let res = app
        .get("/api/usage?from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z")
        .await;
    expect_error(res, 400, "invalid_interval").await;
}

#[tokio::test]
async fn the_assistant_answers_from_the_account() {
    let app = spawn_app().await;
    let sid = new_session(&app).await;
    book(&app, &sid, "A100", 2, tomorrow(10), 4).await;
    for msg in [
        "what are my limits?",
        "how much budget do I have left?",
        "how many gpu-hours have I used this month?",
    ] {
        let res = app
            .post("/api/chat", &json!({"message": msg, "session_id": sid}))
            .await;
        assert_eq!(res.status(), 200);
        let v: Value = res.json().await.unwrap();
        let text = v["response"].as_str().unwrap();
        assert!(v["proposal"].is_null(), "{msg}: {v}");
        assert!(
            text.contains("16") && text.contains("1000") && text.contains("no budget"),
            "{msg}: {text}"
        );
    }
}
