//! A crash between the commit and the reply (issue 11): the server process (the real
//! binary, a child process) is killed with SIGKILL after a keyed booking committed and
//! before its reply went out; restarted on the same data, the retry with the same key
//! returns that booking and creates nothing.

use crate::helpers::tomorrow;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

/// Starts `hpcbot serve` on a free port over `data`; returns it once `/health` answers.
async fn serve(data: &std::path::Path, hold: bool) -> (Child, String) {
    let hold = if hold { "1" } else { "0" };
    serve_with(data, &[("HPCBOT_FAULT_HOLD_AFTER_COMMIT", hold)]).await
}

/// [`serve`] with these environment variables set.
pub async fn serve_with(data: &std::path::Path, envs: &[(&str, &str)]) -> (Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut c = Command::new(env!("CARGO_BIN_EXE_hpcbot"));
    c.arg("serve")
        .env_remove("HPCBOT_DATABASE_URL")
        .env("HPCBOT_LISTEN", format!("127.0.0.1:{port}"))
        .env("HPCBOT_DATA_DIR", data)
        .envs(envs.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    let child = c.spawn().unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = client.get(format!("{url}/health")).send().await {
            if r.status() == 200 {
                break;
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "the server starts");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (child, url)
}

/// Sends `body` to `url` with `key` in its own task (the test may kill the server under it).
fn send_keyed(
    client: &reqwest::Client,
    url: String,
    key: &'static str,
    body: &Value,
) -> JoinHandle<reqwest::Result<reqwest::Response>> {
    let (c, b) = (client.clone(), body.clone());
    tokio::spawn(async move {
        c.post(url)
            .header("idempotency-key", key)
            .json(&b)
            .send()
            .await
    })
}

/// Kills the server with SIGKILL, checks that `first` never got its reply, and starts the
/// server again on the same data.
async fn kill_and_restart(
    mut child: Child,
    first: JoinHandle<reqwest::Result<reqwest::Response>>,
    data: &std::path::Path,
) -> (Child, String) {
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    assert!(
        first.await.unwrap().is_err(),
        "the first request got no reply"
    );
    serve(data, false).await
}

async fn admin_bookings(url: &str) -> Vec<Value> {
    let v: Value = reqwest::get(format!("{url}/api/admin/bookings"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["bookings"].as_array().unwrap().clone()
}

#[tokio::test]
async fn killed_after_the_commit_the_retry_returns_the_booking_and_creates_nothing() {
    let data = tempfile::tempdir().unwrap();
    let (child, url) = serve(data.path(), true).await;
    let body = json!({"model": "A100", "count": 2, "start": tomorrow(9), "end": tomorrow(12)});
    let client = reqwest::Client::new();
    let first = send_keyed(&client, format!("{url}/api/bookings"), "crash-1", &body);
    // Wait for the commit (the booking is visible), then kill the process before it replies.
    let committed = until("the booking commits", || async {
        admin_bookings(&url).await.first().cloned()
    })
    .await;
    let (_child, url) = kill_and_restart(child, first, data.path()).await;
    let res = send_keyed(&client, format!("{url}/api/bookings"), "crash-1", &body)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["idempotency-replayed"], "true");
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["id"], committed["id"]);
    assert_eq!(v["gpus"], committed["gpus"]);
    assert_eq!(admin_bookings(&url).await.len(), 1, "nothing new");
}

/// Polls `probe` (the state the server shows) until it yields a value, for at most 30 s:
/// the test waits for an event, the commit, not for a length of time.
async fn until<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_chat_turn_killed_after_its_commit_is_replayed_not_run_again() {
    let data = tempfile::tempdir().unwrap();
    let (child, url) = serve(data.path(), true).await;
    let client = reqwest::Client::new();
    // (POST /api/sessions takes no key; it ignores the header.)
    let created = send_keyed(&client, format!("{url}/api/sessions"), "s-1", &json!({}));
    let created: Value = created.await.unwrap().unwrap().json().await.unwrap();
    let sid = created["session_id"].as_str().unwrap().to_string();
    let body = json!({"message": "book 2 a100 tomorrow 9-12", "session_id": sid});
    let first = send_keyed(&client, format!("{url}/api/chat"), "turn-1", &body);
    // Wait for the turn's commit (it is in the history), then kill the process before it
    // replies.
    let messages = |url: String| {
        let (c, sid) = (client.clone(), sid.clone());
        async move {
            let v: Value = c
                .get(format!("{url}/api/sessions/{sid}"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["messages"].as_array().unwrap().clone()
        }
    };
    until("the turn commits", || async {
        (messages(url.clone()).await.len() >= 2).then_some(())
    })
    .await;
    let (_child, url) = kill_and_restart(child, first, data.path()).await;
    let res = send_keyed(&client, format!("{url}/api/chat"), "turn-1", &body)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(res.status(), 200, "replayed at once, not in progress");
    assert_eq!(res.headers()["idempotency-replayed"], "true");
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["turn"], 1);
    assert_eq!(v["proposal"], "book");
    let history = messages(url.clone()).await;
    assert_eq!(history.len(), 2, "the turn ran once");
    assert_eq!(history[1]["content"], v["response"]);
}
