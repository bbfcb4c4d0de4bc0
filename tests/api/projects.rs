//! Projects (API.md "Projects, quotas and budgets") as an operator runs them: `hpcbot
//! project add/list/set`, `hpcbot user add NAME --project P` and `hpcbot report` on the
//! database of a running server (nothing restarted), and what each user then sees: their
//! project's budget and quota values, bookings that carry their project, money counted per
//! project, export and import keeping both — on SQLite and on PostgreSQL, and exact across two instances.

use crate::helpers::*;
use chrono::Duration;
use serde_json::{json, Value};
use tokio::process::Command;

/// `hpcbot ARGS` on `app`'s booking database; stdout, or a panic with stderr.
async fn cli(app: &TestApp, args: &[&str]) -> String {
    let (ok, out, err) = cli_result(app, args).await;
    assert!(ok, "hpcbot {args:?} failed: {err}");
    out
}

/// `hpcbot ARGS` on `app`'s database: success, stdout and stderr.
async fn cli_result(app: &TestApp, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hpcbot"))
        .args(args)
        .env_remove("HPCBOT_LISTEN")
        .env("HPCBOT_DATA_DIR", &app.state.config.data_dir)
        .env("HPCBOT_DATABASE_URL", app.state.config.database().as_str())
        .output()
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// `hpcbot user add NAME ...`'s token (its last line).
async fn add_user(app: &TestApp, name: &str, more: &[&str]) -> String {
    let mut args = vec!["user", "add", name];
    args.extend_from_slice(more);
    let out = cli(app, &args).await;
    out.lines().last().unwrap().trim().to_string()
}

async fn as_user(
    app: &TestApp,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut r = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    r.send().await.unwrap()
}

async fn book(
    app: &TestApp,
    token: &str,
    model: &str,
    count: u32,
    start: chrono::DateTime<chrono::Utc>,
    hours: i64,
) -> reqwest::Response {
    let body = json!({"model": model, "count": count, "start": start.to_rfc3339(),
        "end": (start + Duration::hours(hours)).to_rfc3339()});
    as_user(
        app,
        token,
        reqwest::Method::POST,
        "/api/bookings",
        Some(body),
    )
    .await
}

async fn account(app: &TestApp, token: &str) -> Value {
    as_user(app, token, reqwest::Method::GET, "/api/account", None)
        .await
        .json()
        .await
        .unwrap()
}

fn quota(account: &Value, key: &str) -> Value {
    account["quotas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["quota"] == key)
        .cloned()
        .unwrap_or_else(|| panic!("{key} missing in {account}"))
}

/// lab: $40, at most 2 GPUs at once.
const LAB: &[&str] = &[
    "project",
    "add",
    "lab",
    "--budget",
    "40",
    "--set",
    "max_gpus_at_once=2",
];

fn token_settings() -> Vec<(&'static str, String)> {
    vec![("auth", "token".into()), ("budget", "1000".into())]
}

async fn projects_keep_their_own_budget_and_quotas(store: Store) {
    let app = store
        .spawn(Spawn {
            settings: token_settings(),
            ..Default::default()
        })
        .await;
    cli(&app, LAB).await;
    let ann = add_user(&app, "ann", &["--project", "lab"]).await;
    let bob = add_user(&app, "bob", &[]).await;
    let root = add_user(&app, "root", &["--admin"]).await;

    let a = account(&app, &ann).await;
    assert_eq!(a["owner"], "user:ann", "{a}");
    assert_eq!(
        quota(&a, "max_gpu_hours_per_week")["used"].to_string(),
        "0.0"
    );
    assert_eq!(a["project"]["name"], "lab");
    assert_eq!(a["project"]["budget"], 40.0);
    assert_eq!(a["project"]["remaining"], 40.0);
    assert_eq!(quota(&a, "max_gpus_at_once")["limit"], 2.0);
    // What the project does not set is the setting's.
    assert_eq!(quota(&a, "max_gpu_hours_per_week")["limit"], 1000.0);

    // The project's quota, not the setting's 16.
    let t = tomorrow(9);
    let res = book(&app, &ann, "H100", 3, t, 4).await;
    assert_eq!(res.status(), 409);
    let e: Value = res.json().await.unwrap();
    assert_eq!(e["error"]["code"], "quota_exceeded", "{e}");
    assert_eq!(e["error"]["details"]["limit"], 2.0);

    // 2 H100 for 4 h: $31.12 of lab's $40.
    let res = book(&app, &ann, "H100", 2, t, 4).await;
    assert_eq!(res.status(), 201);
    let b: Value = res.json().await.unwrap();
    assert_eq!(b["project"], "lab");
    // 1 more for 4 h ($15.56) is over what lab has left ($8.88), on the project's budget.
    let res = book(&app, &ann, "H100", 1, t + Duration::days(1), 4).await;
    assert_eq!(res.status(), 409);
    let e: Value = res.json().await.unwrap();
    assert_eq!(e["error"]["code"], "budget_exceeded", "{e}");
    assert_eq!(
        e["error"]["details"],
        json!({"budget": 40.0, "remaining": 8.88, "price_total": 15.56})
    );

    // Bob is in `default`: the settings, and default's money only.
    let res = book(&app, &bob, "H100", 3, t + Duration::days(2), 4).await;
    assert_eq!(res.status(), 201);
    let b: Value = res.json().await.unwrap();
    assert_eq!(b["project"], "default");
    let a = account(&app, &bob).await;
    assert_eq!(a["project"]["name"], "default");
    assert_eq!(a["project"]["budget"], 1000.0);
    assert_eq!(a["project"]["committed"], 46.68);
    assert_eq!(account(&app, &ann).await["project"]["committed"], 31.12);

    // A budget raised on the command line counts on the next request.
    cli(&app, &["project", "set", "lab", "--budget", "100"]).await;
    assert_eq!(
        book(&app, &ann, "H100", 1, t + Duration::days(1), 4)
            .await
            .status(),
        201
    );
    let list = cli(&app, &["project", "list"]).await;
    let lab = list.lines().find(|l| l.starts_with("lab\t")).unwrap();
    assert!(lab.contains("\t1\t") && lab.contains("100.00"), "{list}");

    // Usage per project, for the admin and in the report.
    let (from, to) = (t - Duration::days(1), t + Duration::days(7));
    let q = format!(
        "/api/admin/usage?group_by=project&from={}&to={}",
        from.format("%Y-%m-%dT%H:%M:%SZ"),
        to.format("%Y-%m-%dT%H:%M:%SZ")
    );
    let rows: Value = as_user(&app, &root, reqwest::Method::GET, &q, None)
        .await
        .json()
        .await
        .unwrap();
    let lab_row = rows["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["group"] == "lab")
        .cloned()
        .unwrap_or_else(|| panic!("{rows}"));
    assert_eq!(lab_row["gpu_hours"], 12.0);
    assert_eq!(lab_row["bookings"], 2);
    let csv = cli(
        &app,
        &[
            "report",
            "--from",
            &from.to_rfc3339(),
            "--to",
            &to.to_rfc3339(),
            "--by",
            "project",
            "--csv",
        ],
    )
    .await;
    assert!(csv.lines().any(|l| l.starts_with("lab,12")), "{csv}");
    assert!(csv.lines().any(|l| l.starts_with("default,12")), "{csv}");

    // A user moved to another project keeps their bookings where they were made.
    cli(&app, &["user", "set", "ann", "--project", "default"]).await;
    let res = book(&app, &ann, "V100", 1, t + Duration::days(3), 1).await;
    assert_eq!(res.status(), 201);
    let b: Value = res.json().await.unwrap();
    assert_eq!(b["project"], "default");
    let mine: Value = as_user(&app, &ann, reqwest::Method::GET, "/api/bookings", None)
        .await
        .json()
        .await
        .unwrap();
    let projects: Vec<&str> = mine
        .as_array()
        .or_else(|| mine["bookings"].as_array())
        .unwrap()
        .iter()
        .map(|b| b["project"].as_str().unwrap())
        .collect();
    assert_eq!(
        projects.iter().filter(|p| **p == "lab").count(),
        2,
        "{mine}"
    );
}

#[tokio::test]
async fn projects_keep_their_own_budget_and_quotas_on_sqlite() {
    projects_keep_their_own_budget_and_quotas(Store::Sqlite).await;
}

#[tokio::test]
async fn projects_keep_their_own_budget_and_quotas_on_postgres() {
    projects_keep_their_own_budget_and_quotas(Store::Postgres).await;
}

#[tokio::test]
async fn the_commands_refuse_what_they_cannot_do() {
    let app = spawn_with(Spawn {
        settings: token_settings(),
        ..Default::default()
    })
    .await;
    let refused = |args: &'static [&'static str], says: &'static str| {
        let app = &app;
        async move {
            let (ok, _, err) = cli_result(app, args).await;
            assert!(!ok, "{args:?} was accepted");
            assert!(err.contains(says), "{args:?}: {err}");
        }
    };
    refused(
        &["user", "add", "ann", "--project", "nope"],
        "no project `nope`",
    )
    .await;
    refused(&["project", "add", "a b"], "project name").await;
    refused(
        &["project", "add", "x", "--set", "max_gpus=4"],
        "not a quota",
    )
    .await;
    refused(
        &["project", "add", "x", "--budget", "lots"],
        "budget must be",
    )
    .await;
    refused(
        &["project", "set", "nope", "--budget", "5"],
        "no project `nope`",
    )
    .await;
    cli(&app, &["project", "add", "x"]).await;
    refused(&["project", "add", "x"], "exists already").await;
    // Nothing half-made: the refused `x` with a bad quota was never added.
    let list = cli(&app, &["project", "list"]).await;
    assert_eq!(list.lines().filter(|l| l.starts_with("x\t")).count(), 1);
}

#[tokio::test]
async fn concurrent_bookings_of_one_project_on_two_instances_never_overdraw_it() {
    let db = PgDb::new().await;
    let spawn = || {
        spawn_with(Spawn {
            database_url: Some(db.url.clone()),
            settings: token_settings(),
            ..Default::default()
        })
    };
    let (a, b) = (spawn().await, spawn().await);
    cli(&a, &["project", "add", "lab", "--budget", "50"]).await;
    let mut tokens = Vec::new();
    for i in 0..8 {
        tokens.push(add_user(&a, &format!("u{i}"), &["--project", "lab"]).await);
    }
    // Someone in `default` spends too: it must not count against lab.
    let other = add_user(&a, "other", &[]).await;
    let t = tomorrow(0) + Duration::days(1);
    assert_eq!(book(&b, &other, "A100", 4, t, 10).await.status(), 201);
    // 16 requests of one H100 for 2 h ($7.78), 2 per user, half on each instance: 6 fit in
    // lab's $50 (7 would be $54.46).
    let reqs = (0..16).map(|i| {
        let app = if i % 2 == 0 { &a } else { &b };
        book(
            app,
            &tokens[i / 2],
            "H100",
            1,
            t + Duration::hours(2 * i as i64),
            2,
        )
    });
    let codes = statuses(reqs).await;
    assert_eq!(codes.iter().filter(|c| **c == 201).count(), 6, "{codes:?}");
    assert!(codes.iter().all(|c| *c == 201 || *c == 409), "{codes:?}");
    let acct = account(&b, &tokens[0]).await;
    assert_eq!(acct["project"]["remaining"], 3.32, "{acct}");
}

#[tokio::test]
async fn export_and_import_keep_each_bookings_project() {
    let app = spawn_with(Spawn {
        settings: token_settings(),
        ..Default::default()
    })
    .await;
    cli(&app, &["project", "add", "lab", "--budget", "100"]).await;
    let ann = add_user(&app, "ann", &["--project", "lab"]).await;
    assert_eq!(
        book(&app, &ann, "V100", 2, tomorrow(9), 3).await.status(),
        201
    );
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_str().unwrap();
    cli(&app, &["export", "--out", dir]).await;
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("bookings.json")).unwrap())
            .unwrap();
    assert_eq!(file["bookings"][0]["project"], "lab", "{file}");

    // Into a fresh database: the project exists again with the booking's money in it.
    let fresh = spawn_with(Spawn {
        settings: token_settings(),
        ..Default::default()
    })
    .await;
    let bookings = out.path().join("bookings.json");
    let projects = out.path().join("projects.json");
    cli(
        &fresh,
        &[
            "import",
            "--projects",
            projects.to_str().unwrap(),
            "--bookings",
            bookings.to_str().unwrap(),
        ],
    )
    .await;
    let list = cli(&fresh, &["project", "list"]).await;
    let lab = list
        .lines()
        .find(|l| l.starts_with("lab\t"))
        .unwrap_or_else(|| panic!("{list}"));
    // Its budget came with projects.json, its money with its booking.
    let price = file["bookings"][0]["price_total"].as_f64().unwrap();
    assert!(lab.contains("\t100.00 USD\t"), "{list}");
    assert!(lab.contains(&format!("\t{price:.2}\t")), "{list}");
}

async fn say(app: &TestApp, token: &str, message: &str) -> Value {
    let res = as_user(
        app,
        token,
        reqwest::Method::POST,
        "/api/chat",
        Some(json!({"message": message})),
    )
    .await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

#[tokio::test]
async fn the_assistant_answers_from_the_users_project() {
    let app = spawn_with(Spawn {
        settings: token_settings(),
        ..Default::default()
    })
    .await;
    cli(&app, LAB).await;
    let ann = add_user(&app, "ann", &["--project", "lab"]).await;
    let v = say(&app, &ann, "how much budget do I have left?").await;
    let text = v["response"].as_str().unwrap();
    assert!(
        text.contains("lab") && text.contains("40.00") && text.contains("at most **2** GPUs"),
        "{text}"
    );
    // Over the project's quota: the reason, and nothing proposed.
    let v = say(&app, &ann, "book 3 H100 tomorrow 9-11").await;
    assert!(v["proposal"].is_null(), "{v}");
    let text = v["response"].as_str().unwrap();
    assert!(text.contains("limit is 2"), "{text}");
    // Over its budget (2 H100 for 8 h = $62.24 of $40): the reason, nothing proposed.
    let v = say(&app, &ann, "book 2 H100 tomorrow 9-17").await;
    assert!(v["proposal"].is_null(), "{v}");
    let text = v["response"].as_str().unwrap();
    assert!(text.contains("40.00"), "{text}");
}
