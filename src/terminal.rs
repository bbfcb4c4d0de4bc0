//! `hpcbot chat`: a terminal client of a running server — line editing, the session's
//! history shown on resume, replies streamed as they come; Ctrl-C or Ctrl-D leaves.

use futures::StreamExt;
use serde_json::{json, Value};
use std::io::Write;
use std::path::PathBuf;

/// Where the last session id is remembered between runs.
pub fn state_file() -> PathBuf {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("hpcbot").join("chat_session")
}

fn remember(id: &str) {
    let f = state_file();
    if let Some(dir) = f.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = std::fs::write(f, id);
}

async fn show_history(client: &reqwest::Client, url: &str, id: &str) -> anyhow::Result<bool> {
    let res = client
        .get(format!("{url}/api/sessions/{id}"))
        .send()
        .await?;
    if res.status() == 404 {
        return Ok(false);
    }
    let v: Value = res.error_for_status()?.json().await?;
    let msgs = v["messages"].as_array().cloned().unwrap_or_default();
    if !msgs.is_empty() {
        println!("— resuming session {id} ({} turns) —", msgs.len() / 2);
        for m in msgs {
            let who = if m["role"] == "user" { "you" } else { "bot" };
            println!("{who}> {}\n", m["content"].as_str().unwrap_or_default());
        }
    }
    Ok(true)
}

/// One turn over `/api/chat/stream`, printing deltas as they arrive. Returns the session id.
async fn turn(
    client: &reqwest::Client,
    url: &str,
    session: Option<&str>,
    message: &str,
) -> anyhow::Result<Option<String>> {
    let mut body = json!({"message": message});
    if let Some(s) = session {
        body["session_id"] = json!(s);
    }
    // A key per turn: the one retry after a lost connection is answered once (API.md
    // "Exactly once"): a turn that completed is replayed, one that did not runs again.
    let key = uuid::Uuid::new_v4().simple().to_string();
    let send = || {
        client
            .post(format!("{url}/api/chat/stream"))
            .header("idempotency-key", key.as_str())
            .json(&body)
            .send()
    };
    let res = match send().await {
        Err(e) if e.is_connect() || e.is_request() => send().await?,
        other => other?,
    };
    if !res.status().is_success() {
        let v: Value = res.json().await.unwrap_or(Value::Null);
        println!(
            "error: {}",
            v["error"]["message"]
                .as_str()
                .unwrap_or("the server refused the message")
        );
        return Ok(session.map(str::to_string));
    }
    print!("bot> ");
    let mut stream = res.bytes_stream();
    let mut buf = String::new();
    let mut sid = session.map(str::to_string);
    while let Some(chunk) = stream.next().await {
        buf.push_str(&String::from_utf8_lossy(&chunk?));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let event = block
                .lines()
                .find_map(|l| l.strip_prefix("event:"))
                .map(str::trim)
                .unwrap_or("");
            let data: Value = block
                .lines()
                .find_map(|l| l.strip_prefix("data:"))
                .and_then(|d| serde_json::from_str(d.trim()).ok())
                .unwrap_or(Value::Null);
            match event {
                "delta" => {
                    print!("{}", data["text"].as_str().unwrap_or_default());
                    let _ = std::io::stdout().flush();
                }
                "action" => {}
                "done" => {
                    sid = data["session_id"].as_str().map(str::to_string);
                    for a in data["actions"].as_array().into_iter().flatten() {
                        println!(
                            "\n[{}: {} × {} {}]",
                            a["type"].as_str().unwrap_or(""),
                            a["booking"]["count"],
                            a["booking"]["model"].as_str().unwrap_or(""),
                            a["booking"]["id"].as_str().unwrap_or("")
                        );
                    }
                    println!("\n");
                }
                "error" => println!(
                    "\nerror: {}\n",
                    data["error"]["message"].as_str().unwrap_or("unknown")
                ),
                _ => {}
            }
        }
    }
    Ok(sid)
}

/// Runs the client until Ctrl-C / Ctrl-D.
pub async fn run(url: String, session: Option<String>, new: bool) -> anyhow::Result<()> {
    let url = url.trim_end_matches('/').to_string();
    let client = reqwest::Client::new();
    let mut sid = session.or_else(|| {
        if new {
            None
        } else {
            std::fs::read_to_string(state_file())
                .ok()
                .map(|s| s.trim().to_string())
        }
    });
    if let Some(id) = sid.clone() {
        if !show_history(&client, &url, &id).await? {
            sid = None;
        }
    }
    println!(
        "hpcbot at {url} — type a message; /new starts a new chat; Ctrl-C or Ctrl-D leaves.\n"
    );
    let mut editor = rustyline::DefaultEditor::new()?;
    loop {
        let (ed, line) = tokio::task::spawn_blocking(move || {
            let line = editor.readline("you> ");
            (editor, line)
        })
        .await?;
        editor = ed;
        let line = match line {
            Ok(l) => l,
            Err(
                rustyline::error::ReadlineError::Interrupted | rustyline::error::ReadlineError::Eof,
            ) => break,
            Err(e) => return Err(e.into()),
        };
        let msg = line.trim();
        if msg.is_empty() {
            continue;
        }
        let _ = editor.add_history_entry(msg);
        if msg == "/new" {
            sid = None;
            println!("— new chat —\n");
            continue;
        }
        tokio::select! {
            r = turn(&client, &url, sid.as_deref(), msg) => {
                match r {
                    Ok(s) => {
                        if let Some(s) = &s {
                            remember(s);
                        }
                        sid = s;
                    }
                    Err(e) => println!("\nerror: cannot reach {url}: {e}\n"),
                }
            }
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    println!("bye");
    Ok(())
}
