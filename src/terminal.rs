//! `hpcbot chat`: a terminal client of a running server — line editing, the session's
//! history shown on resume, the person's bookings shown whatever chat is open, replies
//! streamed as they come; Ctrl-C or Ctrl-D leaves.
//!
//! Like a browser, it keeps the server's `hpcbot_client` cookie (in `chat_client` beside the
//! session file) and sends it on every request, so every chat started here shares one owner
//! and its bookings (API.md "Identity"); an expired chat is said plainly and a new one begun.

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

/// Where the client id (the `hpcbot_client` cookie) is kept between runs.
fn client_file() -> PathBuf {
    state_file().with_file_name("chat_client")
}

fn write_state(f: PathBuf, value: &str) {
    if let Some(dir) = f.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = std::fs::write(f, value);
}

fn remember(id: &str) {
    write_state(state_file(), id);
}

/// The `hpcbot_client` value of a response's `Set-Cookie`, if it gives one.
fn client_cookie_of(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next()?.trim().strip_prefix("hpcbot_client="))
        .map(str::to_string)
        .next()
}

/// An HTTP client that sends this terminal's `hpcbot_client` cookie: the one kept from an
/// earlier run, else a new one the server gives (kept for the next run). Also returns the
/// person's bookings as the server listed them.
async fn client_with_cookie(url: &str) -> anyhow::Result<(reqwest::Client, Value)> {
    let kept = std::fs::read_to_string(client_file())
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()));
    let build = |id: &str| -> anyhow::Result<reqwest::Client> {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::COOKIE,
            reqwest::header::HeaderValue::from_str(&format!("hpcbot_client={id}"))?,
        );
        Ok(reqwest::Client::builder()
            .default_headers(headers)
            .build()?)
    };
    let client = match &kept {
        Some(id) => build(id)?,
        None => reqwest::Client::new(),
    };
    let res = client.get(format!("{url}/api/bookings")).send().await?;
    let given = client_cookie_of(&res);
    // A refusal (e.g. a server with auth = token) only means no list is shown here.
    let list: Value = match res.error_for_status() {
        Ok(r) => r.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    match (kept, given) {
        (Some(_), _) => Ok((client, list)),
        (None, Some(id)) => {
            write_state(client_file(), &id);
            Ok((build(&id)?, list))
        }
        // A server that gives no client cookie: chats own themselves as before.
        (None, None) => Ok((client, list)),
    }
}

/// Prints the person's bookings (all of them, whichever chat made them).
fn show_bookings(list: &Value) {
    let confirmed: Vec<&Value> = list["bookings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|b| b["status"] == "confirmed")
        .collect();
    if confirmed.is_empty() {
        return;
    }
    println!("Your bookings:");
    for b in confirmed {
        println!(
            "  {} × {} {} → {}  ({})",
            b["count"],
            b["model"].as_str().unwrap_or(""),
            b["start"].as_str().unwrap_or(""),
            b["end"].as_str().unwrap_or(""),
            &b["id"].as_str().unwrap_or("")[..8.min(b["id"].as_str().unwrap_or("").len())]
        );
    }
    println!();
}

/// Lists the person's bookings now.
async fn bookings(client: &reqwest::Client, url: &str) -> anyhow::Result<Value> {
    Ok(client
        .get(format!("{url}/api/bookings"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?)
}

/// What a turn came to.
enum TurnEnd {
    /// The session to continue (the reply was shown, or an error that keeps it).
    Session(Option<String>),
    /// The named session is unknown or expired on the server.
    Expired,
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
) -> anyhow::Result<TurnEnd> {
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
        let status = res.status();
        let v: Value = res.json().await.unwrap_or(Value::Null);
        if status == 404 && v["error"]["code"] == "session_not_found" && session.is_some() {
            return Ok(TurnEnd::Expired);
        }
        println!(
            "error: {}",
            v["error"]["message"]
                .as_str()
                .unwrap_or("the server refused the message")
        );
        return Ok(TurnEnd::Session(session.map(str::to_string)));
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
                    if let Some(hint) = data["proposal"].as_str().and_then(answer_hint) {
                        println!("\n[{hint}]");
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
    Ok(TurnEnd::Session(sid))
}

/// What to type to answer a reply's `proposal` (the page shows buttons instead).
fn answer_hint(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "book" => "yes to book it, no to drop it, or say what to change",
        "change" => "yes to change it, no to keep it as it is",
        "cancel" => "yes to cancel it, no to keep it",
        _ => return None,
    })
}

/// Runs the client until Ctrl-C / Ctrl-D.
pub async fn run(url: String, session: Option<String>, new: bool) -> anyhow::Result<()> {
    let url = url.trim_end_matches('/').to_string();
    let (client, list) = client_with_cookie(&url).await?;
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
            println!(
                "— your last chat ({}) has expired or is unknown to this server; \
                 a new chat starts (your bookings are kept) —",
                &id[..8.min(id.len())]
            );
            sid = None;
        }
    }
    show_bookings(&list);
    println!(
        "hpcbot at {url} — type a message; /new starts a new chat; /bookings lists your \
         bookings; Ctrl-C or Ctrl-D leaves.\n"
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
        if msg == "/bookings" {
            match bookings(&client, &url).await {
                Ok(list) if list["bookings"].as_array().is_some_and(|b| !b.is_empty()) => {
                    show_bookings(&list)
                }
                Ok(_) => println!("You have no bookings.\n"),
                Err(e) => println!("error: cannot reach {url}: {e}\n"),
            }
            continue;
        }
        let run = async {
            match turn(&client, &url, sid.as_deref(), msg).await? {
                TurnEnd::Expired => {
                    println!(
                        "— this chat has expired or is unknown to the server; a new chat \
                         starts (your bookings are kept) —"
                    );
                    match turn(&client, &url, None, msg).await? {
                        TurnEnd::Session(s) => Ok(s),
                        TurnEnd::Expired => Ok(None),
                    }
                }
                TurnEnd::Session(s) => Ok::<_, anyhow::Error>(s),
            }
        };
        tokio::select! {
            r = run => {
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
