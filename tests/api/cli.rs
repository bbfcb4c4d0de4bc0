//! The command line as people use it: serve's settings, chat, import/export, loadtest.

use crate::helpers::*;
use serde_json::Value;
use std::process::Stdio;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

fn hpcbot() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hpcbot"));
    c.env_remove("HPCBOT_LISTEN")
        .env_remove("HPCBOT_TIMEZONE")
        .env_remove("HPCBOT_DATABASE_URL");
    c
}

async fn run_with_stdin(mut cmd: Command, input: &str) -> (bool, String, String) {
    let mut child = cmd
        .kill_on_drop(true)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .await
        .unwrap();
    let out = child.wait_with_output().await.unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[tokio::test]
async fn serve_help_lists_the_settings_and_bad_ones_stop_start_up() {
    let (ok, out, _) = run_with_stdin(
        {
            let mut c = hpcbot();
            c.args(["serve", "--help"]);
            c
        },
        "",
    )
    .await;
    assert!(ok);
    for v in [
        "HPCBOT_LISTEN",
        "HPCBOT_DATA_DIR",
        "HPCBOT_DATABASE_URL",
        "HPCBOT_SESSIONS",
        "HPCBOT_TIMEZONE",
        "HPCBOT_AUTH",
        "HPCBOT_LLM_BASE_URL",
        "HPCBOT_LLM_API_KEY",
        "HPCBOT_LLM_MODEL",
        "HPCBOT_REQUEST_TIMEOUT",
    ] {
        assert!(out.contains(v), "{v} listed");
    }
    let dir = tempfile::tempdir().unwrap();
    let mut c = hpcbot();
    c.args(["serve"])
        .current_dir(dir.path())
        .env("HPCBOT_TIMEZONE", "Mars/Base");
    let (ok, _, err) = run_with_stdin(c, "").await;
    assert!(!ok);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("`timezone`") && err.contains("HPCBOT_TIMEZONE"),
        "{err}"
    );
}

#[tokio::test]
async fn chat_client_books_and_resumes_with_history() {
    let app = spawn_app().await;
    let state = tempfile::tempdir().unwrap();
    let chat = || {
        let mut c = hpcbot();
        c.args(["chat", "--url", &app.url("")])
            .env("XDG_STATE_HOME", state.path());
        c
    };
    let (ok, out, err) = run_with_stdin(chat(), "book an a100 tomorrow 9-10\nyes\n").await;
    assert!(ok, "{err}");
    assert!(
        out.contains("Shall I book it?") && out.contains("Booked"),
        "{out}"
    );
    assert_eq!(
        out.matches("[yes to book it, no to drop it, or say what to change]")
            .count(),
        1,
        "the proposal, and only it, says how to answer: {out}"
    );
    let (ok, out, _) = run_with_stdin(chat(), "my bookings\n").await;
    assert!(ok);
    assert!(
        out.contains("resuming session") && out.contains("you> book an a100 tomorrow 9-10"),
        "{out}"
    );
    assert!(
        out.contains("A100-80GB") && out.contains("confirmed"),
        "{out}"
    );
    // The terminal kept its client cookie, so its bookings are shown on start, and a chat the
    // server does not know is said plainly and a new one begun with the bookings still there.
    assert!(state.path().join("hpcbot/chat_client").exists());
    std::fs::write(
        state.path().join("hpcbot/chat_session"),
        "0123456789abcdef0123456789abcdef",
    )
    .unwrap();
    let (ok, out, err) = run_with_stdin(chat(), "show my bookings\n").await;
    assert!(ok, "{err}");
    assert!(
        out.contains("has expired or is unknown") && out.contains("Your bookings:"),
        "{out}"
    );
    let reply = &out[out.find("bot> ").expect("a reply") + 5..];
    assert!(
        reply.contains("A100-80GB"),
        "the new chat lists the booking: {out}"
    );
    assert_ne!(
        std::fs::read_to_string(state.path().join("hpcbot/chat_session")).unwrap(),
        "0123456789abcdef0123456789abcdef",
        "the new chat is remembered"
    );
}

#[tokio::test]
async fn import_is_all_or_nothing_and_export_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let with_data = |args: &[&str]| {
        let mut c = hpcbot();
        c.args(args)
            .arg("--data-dir")
            .arg(d.join("data"))
            .current_dir(d);
        c
    };
    std::fs::write(d.join("inv.json"), r#"{"models": [{"model": "B200-192GB", "memory_gb": 192, "price_per_hour": 6.5, "nodes": [{"name": "bw-01", "gpus": 8}]}]}"#).unwrap();
    let bookings = r#"{"bookings": [{"id": "0123456789abcdef0123456789abcdef", "owner": "user:ann", "model": "B200-192GB", "count": 2,
        "start": "2030-01-01T09:00:00Z", "end": "2030-01-01T10:00:00Z", "gpus": ["bw-01:0", "bw-01:1"], "price_total": 13.0,
        "status": "confirmed", "created_at": "2029-12-01T00:00:00Z"}]}"#;
    std::fs::write(d.join("b.json"), bookings).unwrap();
    let (ok, out, err) = run_with_stdin(
        with_data(&["import", "--inventory", "inv.json", "--bookings", "b.json"]),
        "",
    )
    .await;
    assert!(ok, "{err}");
    assert!(out.contains("1 models, 1 bookings"), "{out}");
    // A booking that overlaps on a device: refused, and nothing changes.
    std::fs::write(d.join("bad.json"), bookings.replace(r#"{"bookings": ["#, r#"{"bookings": [{"id": "1123456789abcdef0123456789abcdef", "owner": "user:bob", "model": "B200-192GB", "count": 1, "start": "2030-01-01T09:30:00Z", "end": "2030-01-01T11:00:00Z", "gpus": ["bw-01:1"], "price_total": 1.0, "status": "confirmed", "created_at": "2029-12-01T00:00:00Z"}, "#)).unwrap();
    let (ok, _, err) = run_with_stdin(with_data(&["import", "--bookings", "bad.json"]), "").await;
    assert!(!ok);
    assert!(
        err.contains("bookings[1].gpus") && err.contains("bw-01:1"),
        "{err}"
    );
    std::fs::write(
        d.join("syntax.json"),
        "{\n  \"models\": [\n    {\"model\": 5}\n  ]\n}",
    )
    .unwrap();
    let (ok, _, err) =
        run_with_stdin(with_data(&["import", "--inventory", "syntax.json"]), "").await;
    assert!(!ok && err.contains("line 3"), "{err}");
    let (ok, _, err) = run_with_stdin(with_data(&["export", "--out", "out"]), "").await;
    assert!(ok, "{err}");
    let inv: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("out/gpu_inventory.json")).unwrap())
            .unwrap();
    assert_eq!(inv["models"][0]["model"], "B200-192GB");
    let b: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("out/bookings.json")).unwrap())
            .unwrap();
    assert_eq!(
        b["bookings"].as_array().unwrap().len(),
        1,
        "the refused import changed nothing"
    );
    assert_eq!(b["bookings"][0]["gpus"][1], "bw-01:1");
    // The exported files import again.
    let (ok, _, err) = run_with_stdin(
        with_data(&[
            "import",
            "--inventory",
            "out/gpu_inventory.json",
            "--bookings",
            "out/bookings.json",
        ]),
        "",
    )
    .await;
    assert!(ok, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loadtest_reports_and_verifies_and_refuses_remote_targets() {
    let app = spawn_app().await;
    let mut c = hpcbot();
    c.args([
        "loadtest",
        "--url",
        &app.url(""),
        "--users",
        "8",
        "--duration",
        "1s",
        "--turns",
        "3",
        "--verify",
    ]);
    let (ok, out, err) = run_with_stdin(c, "").await;
    assert!(ok, "{out}{err}");
    let summary: Value = serde_json::from_str(out.trim().lines().last().unwrap()).unwrap();
    assert!(summary["ok"].as_u64().unwrap() > 0);
    assert_eq!(summary["sessions_with_lost_turns"], 0);
    assert!(summary["latency_ms"]["p99"].as_f64().unwrap() > 0.0);
    let mut c = hpcbot();
    c.args([
        "loadtest",
        "--url",
        "http://10.1.2.3:8080",
        "--duration",
        "1s",
    ]);
    let (ok, _, err) = run_with_stdin(c, "").await;
    assert!(!ok && err.contains("--allow-remote"), "{err}");
}

/// Nothing listening at the URL (a wrong port): the load test says so at once instead of
/// hammering the port for the whole duration (it counted 3 M connect errors in 60 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loadtest_of_a_url_nobody_answers_says_so_at_once() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut c = hpcbot();
    c.args(["loadtest", "--url", &url, "--duration", "10m"]);
    let (ok, out, err) =
        tokio::time::timeout(std::time::Duration::from_secs(60), run_with_stdin(c, ""))
            .await
            .expect("the load test ends long before its 10-minute duration");
    assert!(!ok, "{out}");
    assert!(err.contains(&url) && err.contains("no answer"), "{err}");
}

/// `hpcbot ARGS --data-dir DIR`, run in DIR.
fn in_dir(args: &[&str], dir: &std::path::Path) -> Command {
    let mut c = hpcbot();
    c.args(args).arg("--data-dir").arg(dir).current_dir(dir);
    c
}

#[tokio::test]
async fn maintenance_windows_are_added_listed_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| in_dir(args, dir.path());
    let start = (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339();
    let end = (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339();
    let add = [
        "maintenance",
        "add",
        "--node",
        "hopper-01",
        "--start",
        &start,
        "--end",
        &end,
    ];
    let (ok, out, err) = run_with_stdin(run(&add), "").await;
    assert!(ok, "{err}");
    let id = out
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("added "))
        .unwrap_or_else(|| panic!("{out}"))
        .to_string();
    let (ok, out, _) = run_with_stdin(run(&["maintenance", "list"]), "").await;
    assert!(
        ok && out.contains(&id) && out.contains("hopper-01:0"),
        "{out}"
    );
    let (ok, _, err) = run_with_stdin(run(&["maintenance", "remove", &id]), "").await;
    assert!(ok, "{err}");
    let (ok, out, _) = run_with_stdin(run(&["maintenance", "list"]), "").await;
    assert!(ok && !out.contains(&id), "{out}");
    let bad = [
        "maintenance",
        "add",
        "--node",
        "nowhere",
        "--start",
        &start,
        "--end",
        &end,
    ];
    let (ok, _, err) = run_with_stdin(run(&bad), "").await;
    assert!(!ok && err.contains("no node"), "{err}");
}

#[tokio::test]
async fn users_are_added_listed_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| in_dir(args, dir.path());
    let (ok, out, err) = run_with_stdin(run(&["user", "add", "ann", "--admin"]), "").await;
    assert!(ok, "{err}");
    let token = out.lines().last().unwrap().trim().to_string();
    assert!(token.starts_with("hpc_") && token.len() > 30, "{out}");
    let (ok, out, _) = run_with_stdin(run(&["user", "list"]), "").await;
    assert!(ok && out.contains("ann\tadmin"), "{out}");
    let (ok, _, err) = run_with_stdin(run(&["user", "add", "ann"]), "").await;
    assert!(!ok && err.contains("exists"), "{err}");
    let (ok, _, _) = run_with_stdin(run(&["user", "remove", "ann"]), "").await;
    assert!(ok);
    let (ok, _, err) = run_with_stdin(run(&["user", "remove", "ann"]), "").await;
    assert!(!ok && err.contains("no user"), "{err}");
}
