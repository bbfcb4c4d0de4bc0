//! A person keeps their chats and bookings (issue 12): sessions in the database survive a
//! restart (graceful and hard), and the `hpcbot_client` cookie makes every chat of one
//! browser share one owner and its bookings, while two browsers never see each other's.

use crate::assistants::Echo;
use crate::helpers::*;
use crate::sessions::check_history;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A browser: keeps the cookies the server sets and sends them back (no cookie store crate).
struct Browser {
    base: String,
    client: reqwest::Client,
    cookies: BTreeMap<String, String>,
    /// The `Set-Cookie` values of the last response.
    last_set: Vec<String>,
}

impl Browser {
    fn new(base: &str) -> Self {
        Self {
            base: base.to_string(),
            client: reqwest::Client::new(),
            cookies: BTreeMap::new(),
            last_set: Vec::new(),
        }
    }

    async fn send(
        &mut self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            req = req.header("cookie", jar.join("; "));
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        self.last_set = res
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect();
        for c in &self.last_set {
            let (k, v) = c.split(';').next().unwrap().split_once('=').unwrap();
            self.cookies.insert(k.to_string(), v.to_string());
        }
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(&mut self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }

    /// One chat turn in the chat the cookie names (a new one without it); must be 200.
    async fn chat(&mut self, message: &str) -> Value {
        let (status, v) = self
            .send(
                reqwest::Method::POST,
                "/api/chat",
                Some(json!({"message": message})),
            )
            .await;
        assert_eq!(status, 200, "{message}: {v}");
        v
    }

    /// "New chat": forget the session cookie, keep the client cookie.
    fn new_chat(&mut self) {
        self.cookies.remove("hpcbot_sid");
    }

    fn client_id(&self) -> String {
        self.cookies["hpcbot_client"].clone()
    }

    async fn bookings(&mut self) -> Vec<Value> {
        let (status, v) = self.get("/api/bookings").await;
        assert_eq!(status, 200, "{v}");
        v["bookings"].as_array().unwrap().clone()
    }
}

fn text(v: &Value) -> &str {
    v["response"].as_str().unwrap()
}

/// The real `hpcbot serve` in its own process, on a free port, on `data_dir`.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    async fn start(data_dir: &std::path::Path) -> Self {
        let mut c = Command::new(env!("CARGO_BIN_EXE_hpcbot"));
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("HPCBOT_")) {
            c.env_remove(k);
        }
        let mut child = c
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--set",
                "log_format=json",
            ])
            .arg("--data-dir")
            .arg(data_dir)
            .current_dir(data_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let url = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                let Ok(v) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                if let Some(addr) = v["fields"]["address"].as_str() {
                    return format!("http://{addr}");
                }
            }
            panic!("the server ended before it served");
        })
        .await
        .expect("the server starts within 60 s");
        // Keep draining its log so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self { child, url }
    }

    /// SIGTERM, then waits (bounded) for a clean exit.
    async fn terminate(mut self) {
        let pid = self.child.id().unwrap().to_string();
        let ok = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("the server stops within 30 s of SIGTERM")
            .unwrap();
        assert!(status.success(), "graceful stop: {status}");
    }

    /// SIGKILL: no chance to flush anything.
    async fn kill(mut self) {
        self.child.start_kill().unwrap();
        tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("killed")
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_history_dialogue_state_and_bookings() {
    let data = tempfile::tempdir().unwrap();
    let s1 = Server::start(data.path()).await;
    let mut b = Browser::new(&s1.url);
    let (status, _) = b.get("/").await;
    assert_eq!(status, 200);
    let client = b.client_id();
    let r = b.chat("book an a100 tomorrow 9-10").await;
    assert!(text(&r).contains("Shall I book it?"), "{r}");
    let sid = r["session_id"].as_str().unwrap().to_string();
    assert!(
        b.bookings().await.is_empty(),
        "nothing booked before the yes"
    );

    // Graceful restart: the proposal waiting for a yes is still there.
    s1.terminate().await;
    let s2 = Server::start(data.path()).await;
    b.base = s2.url.clone();
    let r = b.chat("yes").await;
    assert_eq!(r["session_id"], sid.as_str(), "the same chat continues");
    assert_eq!(r["turn"], 2);
    assert_eq!(r["actions"][0]["type"], "booking_created", "{r}");
    let booking = r["actions"][0]["booking"].clone();
    assert_eq!(booking["model"], "A100-80GB");

    // Hard kill right after the booking turn was answered: nothing told is lost.
    s2.kill().await;
    let s3 = Server::start(data.path()).await;
    b.base = s3.url.clone();
    assert_eq!(b.client_id(), client, "the browser keeps its client cookie");
    let (status, v) = b.get(&format!("/api/sessions/{sid}")).await;
    assert_eq!(status, 200, "{v}");
    let msgs = v["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 4, "{v}");
    assert_eq!(msgs[0]["content"], "book an a100 tomorrow 9-10");
    assert_eq!(msgs[2]["content"], "yes");
    let mine = b.bookings().await;
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["id"], booking["id"]);
    let r = b.chat("my bookings").await;
    assert_eq!(r["turn"], 3);
    assert!(text(&r).contains("A100-80GB"), "{r}");

    // A new chat of the same browser sees the booking; so does one begun on a stale cookie.
    b.new_chat();
    let r = b.chat("my bookings").await;
    assert_ne!(r["session_id"], sid.as_str());
    assert_eq!(r["turn"], 1);
    assert!(text(&r).contains("A100-80GB"), "{r}");
    b.cookies.insert(
        "hpcbot_sid".into(),
        "0123456789abcdef0123456789abcdef".into(),
    );
    let r = b.chat("my bookings").await;
    assert_eq!(r["turn"], 1, "a stale chat starts a new one");
    assert!(text(&r).contains("A100-80GB"), "{r}");
    let (status, _) = b
        .send(
            reqwest::Method::DELETE,
            &format!("/api/bookings/{}", booking["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, 200, "the new chat cancels the old chat's booking");
    s3.terminate().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_chats_of_one_browser_share_bookings_and_two_browsers_never_do() {
    let app = spawn_app().await;
    let base = app.url("");
    let mut a = Browser::new(&base);
    let (status, _) = a.get("/api/gpus").await;
    assert_eq!(status, 200);
    let set = a
        .last_set
        .iter()
        .find(|c| c.starts_with("hpcbot_client="))
        .expect("a request without the cookie gets one")
        .clone();
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=31536000"] {
        assert!(set.contains(attr), "{set}");
    }
    let id = a.client_id();
    assert!(
        id.len() >= 32 && id.bytes().all(|c| c.is_ascii_hexdigit()),
        "{id}"
    );
    a.get("/api/gpus").await;
    assert!(
        a.last_set.iter().all(|c| !c.starts_with("hpcbot_client=")),
        "a request that carries it keeps it"
    );

    // Chat 1 books through the assistant.
    a.chat("book an h100 tomorrow 9-10").await;
    let r = a.chat("yes").await;
    let b1 = r["actions"][0]["booking"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let chat1 = r["session_id"].as_str().unwrap().to_string();
    let owner = app
        .state
        .engine
        .session(&hpcbot::domain::SessionId::parse(&chat1).unwrap(), None)
        .await
        .unwrap()
        .owner;
    assert_eq!(owner.as_str(), format!("client:{id}"));

    // Chat 2 of the same browser lists it and books through the API.
    a.new_chat();
    let r = a.chat("my bookings").await;
    assert_ne!(r["session_id"], chat1.as_str());
    assert!(text(&r).contains("H100-80GB"), "{r}");
    let (status, v) = a
        .send(
            reqwest::Method::POST,
            "/api/bookings",
            Some(json!({"model": "V100", "count": 1, "start": tomorrow(9), "end": tomorrow(10)})),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let b2 = v["id"].as_str().unwrap().to_string();
    let ids: Vec<Value> = a.bookings().await.iter().map(|b| b["id"].clone()).collect();
    assert_eq!(ids, vec![json!(b2), json!(b1)], "newest first, both chats'");

    // Back in chat 1: cancel chat 2's booking.
    a.cookies.insert("hpcbot_sid".into(), chat1.clone());
    let (status, v) = a
        .send(
            reqwest::Method::DELETE,
            &format!("/api/bookings/{b2}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "cancelled");

    // Another browser sees and cancels none of them.
    let mut other = Browser::new(&base);
    assert!(other.bookings().await.is_empty());
    assert_ne!(other.client_id(), id);
    let r = other.chat("my bookings").await;
    assert!(!text(&r).contains(&b1[..8]), "{r}");
    assert!(other.bookings().await.is_empty());
    let (status, v) = other
        .send(
            reqwest::Method::DELETE,
            &format!("/api/bookings/{b1}"),
            None,
        )
        .await;
    assert_eq!(status, 404, "{v}");
    assert_eq!(v["error"]["code"], "booking_not_found");
    assert_eq!(a.bookings().await.len(), 2, "untouched");

    // A client without cookies keeps today's behaviour: its session owns itself.
    let v: Value = app
        .post("/api/chat", &json!({"message": "hi"}))
        .await
        .json()
        .await
        .unwrap();
    let sid = v["session_id"].as_str().unwrap();
    let owner = app
        .state
        .engine
        .session(&hpcbot::domain::SessionId::parse(sid).unwrap(), None)
        .await
        .unwrap()
        .owner;
    assert_eq!(owner.as_str(), format!("session:{sid}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_sharing_postgresql_keep_one_sessions_turns_in_order() {
    let db = PgDb::new().await;
    let (ea, eb) = (Echo::default(), Echo::default());
    let instance = |echo: &Echo| {
        spawn_with(Spawn {
            database_url: Some(db.url.clone()),
            settings: vec![("sessions", "database".into())],
            overrides: hpcbot::server::Overrides {
                assistant: Some(Arc::new(echo.clone())),
                ..Default::default()
            },
        })
    };
    let a = instance(&ea).await;
    let b = instance(&eb).await;
    let sid = new_session(&a).await;
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let app = if i % 2 == 0 { &a } else { &b };
            let (c, url, sid) = (app.client.clone(), app.url("/api/chat"), sid.clone());
            tokio::spawn(async move {
                let r = c
                    .post(url)
                    .json(&json!({"message": format!("m{i}"), "session_id": sid}))
                    .send()
                    .await
                    .unwrap();
                (r.status().as_u16(), r.json::<Value>().await.unwrap())
            })
        })
        .collect();
    let mut ok = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            (200, v) => ok.push(v),
            (503, v) => assert_eq!(v["error"]["code"], "session_busy"),
            (s, v) => panic!("{s}: {v}"),
        }
    }
    assert!(ok.len() >= 10, "most turns got through: {}", ok.len());
    for app in [&a, &b] {
        check_history(&history(app, &sid).await, &ok);
    }
    let threads: Value = b.get("/health/threads").await.json().await.unwrap();
    assert_eq!(threads["session_store"], "database");
}

/// The database store's own contract, on SQLite and PostgreSQL: version-checked commits,
/// partial loads, expiry and sweep, and (where shared) an exclusive lease.
async fn database_store_contract(store: Store) {
    use hpcbot::domain::{Owner, SessionId};
    use hpcbot::store::sessions::{Message, Role, SessionRecord, SessionStoreError, TurnRecord};
    let app = store.spawn(Spawn::default()).await;
    let s = app.state.engine.store().clone();
    assert_eq!(s.name(), "database");
    let now = chrono::Utc::now();
    let id = SessionId::new();
    let hour = chrono::Duration::hours(1);
    s.create(SessionRecord::new(
        id.clone(),
        Owner::session(&id),
        now,
        now + hour,
    ))
    .await
    .unwrap();
    let turn = |n: u64| TurnRecord {
        user: Message {
            role: Role::User,
            content: format!("u{n}"),
            at: now,
        },
        assistant: Message {
            role: Role::Assistant,
            content: format!("a{n}"),
            at: now,
        },
        state: json!({"n": n}),
        expires_at: now + hour * 2,
    };
    assert_eq!(s.commit_turn(&id, 0, turn(0)).await.unwrap(), 1);
    assert_eq!(s.commit_turn(&id, 1, turn(1)).await.unwrap(), 2);
    assert!(matches!(
        s.commit_turn(&id, 1, turn(9)).await,
        Err(SessionStoreError::Conflict)
    ));
    assert!(matches!(
        s.commit_turn(&SessionId::new(), 0, turn(0)).await,
        Err(SessionStoreError::NotFound)
    ));
    let r = s.load(&id, now, Some(2)).await.unwrap().unwrap();
    assert_eq!((r.earlier, r.messages.len(), r.turns()), (2, 2, 2));
    assert_eq!(r.messages[0].content, "u1");
    assert_eq!(r.state, json!({"n": 1}));
    assert_eq!(
        r.expires_at.timestamp_millis(),
        (now + hour * 2).timestamp_millis()
    );
    let all = s.load(&id, now, None).await.unwrap().unwrap();
    assert_eq!(all.messages.len(), 4);
    assert!(
        s.load(&id, now + hour * 3, None).await.unwrap().is_none(),
        "expired"
    );
    if s.shared() {
        let ttl = std::time::Duration::from_secs(30);
        assert!(s.try_lease(&id, "a", ttl).await.unwrap());
        assert!(!s.try_lease(&id, "b", ttl).await.unwrap(), "held");
        s.release_lease(&id, "b").await.unwrap();
        assert!(
            !s.try_lease(&id, "b", ttl).await.unwrap(),
            "only the holder releases"
        );
        s.release_lease(&id, "a").await.unwrap();
        assert!(s.try_lease(&id, "b", ttl).await.unwrap());
        // Taking the lease and reading in one call: nothing while it is held; once it is
        // free, the session as the last commit left it; a commit that releases frees it.
        let lease_and_load =
            |token: &'static str| s.try_lease_and_load(&id, token, ttl, now, Some(2));
        assert!(lease_and_load("c").await.unwrap().is_none());
        s.release_lease(&id, "b").await.unwrap();
        let r = lease_and_load("c")
            .await
            .unwrap()
            .expect("free")
            .expect("live");
        assert_eq!((r.turns(), r.messages[1].content.as_str()), (2, "a1"));
        assert_eq!(
            s.commit_turn_and_release(&id, 2, turn(2), "c")
                .await
                .unwrap(),
            (3, true)
        );
        let r = lease_and_load("d")
            .await
            .unwrap()
            .expect("released with the commit")
            .expect("live");
        assert_eq!((r.turns(), r.messages[0].content.as_str()), (3, "u2"));
        assert!(matches!(
            s.try_lease_and_load(&SessionId::new(), "e", ttl, now, None)
                .await
                .unwrap(),
            Some(None)
        ));
        s.release_lease(&id, "d").await.unwrap();
        let short = std::time::Duration::from_millis(1);
        let other = SessionId::new();
        assert!(s.try_lease(&other, "x", short).await.unwrap());
        // A lease lapses by itself (a dead instance's turn does not block the session).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !s.try_lease(&other, "y", ttl).await.unwrap() {
            assert!(std::time::Instant::now() < deadline, "the lease lapses");
            tokio::task::yield_now().await;
        }
        // ... also when it is taken together with the read.
        s.release_lease(&other, "y").await.unwrap();
        assert!(s.try_lease(&other, "z", short).await.unwrap());
        while s
            .try_lease_and_load(&other, "w", ttl, now, None)
            .await
            .unwrap()
            .is_none()
        {
            assert!(std::time::Instant::now() < deadline, "the lease lapses");
            tokio::task::yield_now().await;
        }
        assert!(!s.try_lease(&other, "v", ttl).await.unwrap(), "w holds it");
    }
    // Many sessions committing at once (SQLite: batched into shared transactions): every
    // turn lands, and a stale one among them is refused alone.
    let many = new_sessions(&s, 40, now, now + hour).await;
    let commits: Vec<_> = many
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let (s, m, t) = (s.clone(), m.clone(), turn(i as u64));
            tokio::spawn(async move { s.commit_turn(&m, if i == 7 { 5 } else { 0 }, t).await })
        })
        .collect();
    for (i, c) in commits.into_iter().enumerate() {
        match (i, c.await.unwrap()) {
            (7, r) => assert!(matches!(r, Err(SessionStoreError::Conflict)), "{r:?}"),
            (_, r) => assert_eq!(r.unwrap(), 1),
        }
    }
    for (i, m) in many.iter().enumerate() {
        let r = s.load(m, now, None).await.unwrap().unwrap();
        assert_eq!(r.turns(), if i == 7 { 0 } else { 1 });
    }
    if s.shared() {
        // Many turns taking their leases at once (PostgreSQL: in shared calls): each reads its
        // own session, and of two turns of one session exactly one gets the lease.
        let ttl = std::time::Duration::from_secs(30);
        let tries: Vec<_> = many
            .iter()
            .chain([&many[0]])
            .enumerate()
            .map(|(i, m)| {
                let (s, m) = (s.clone(), m.clone());
                let token = format!("t{i}");
                tokio::spawn(async move { s.try_lease_and_load(&m, &token, ttl, now, None).await })
            })
            .collect();
        let mut holders_of_first = 0;
        for (i, t) in tries.into_iter().enumerate() {
            let i = i % many.len();
            match t.await.unwrap().unwrap() {
                Some(r) => {
                    let r = r.expect("live");
                    assert_eq!(r.id, many[i], "read another session");
                    if i != 7 {
                        assert_eq!(r.state, json!({"n": i}));
                        assert_eq!(r.messages[0].content, format!("u{i}"));
                    }
                    holders_of_first += usize::from(i == 0);
                }
                None => assert_eq!(i, 0, "only a second turn of one session waits"),
            }
        }
        assert_eq!(holders_of_first, 1, "one lease per session");
    }
    assert_eq!(s.sweep(now + hour * 3).await.unwrap(), 41);
    assert!(s.load(&id, now, None).await.unwrap().is_none(), "swept");
    assert!(!s.delete(&id).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_store_keeps_its_contract_on_sqlite() {
    database_store_contract(Store::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_store_keeps_its_contract_on_postgres() {
    database_store_contract(Store::Postgres).await;
}

/// A turn whose caller stopped waiting while the database was busy (its deadline passed) was
/// answered as not stored: the group-commit writer must not apply it later behind its back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_given_up_while_the_database_was_busy_is_not_stored_later() {
    let (_dir, url, app) = on_own_sqlite_file(vec![]).await;
    let s = app.state.engine.store().clone();
    let now = chrono::Utc::now();
    let hour = chrono::Duration::hours(1);
    let turn = || a_turn(now, now + hour);
    let ids = new_sessions(&s, 3, now, now + hour).await;
    // Another writer holds the file's write lock: the session writer waits behind it.
    let mut other = hold_write_lock(&url).await;
    let give_up = std::time::Duration::from_millis(100);
    for id in &ids[..2] {
        let r = tokio::time::timeout(give_up, s.commit_turn(id, 0, turn())).await;
        assert!(r.is_err(), "the commit waits for the busy database");
    }
    sqlx::query("COMMIT").execute(&mut other).await.unwrap();
    // A later turn goes through; the writer has dealt with everything queued before it.
    assert_eq!(s.commit_turn(&ids[2], 0, turn()).await.unwrap(), 1);
    // The first may have been taken up before its caller gave up (its outcome was unknown);
    // the second was still waiting when its caller gave up: it is not stored.
    let second = s.load(&ids[1], now, None).await.unwrap().unwrap();
    assert_eq!(second.turns(), 0, "a given-up turn was applied later");
}

/// `n` new sessions in the store, each owning itself.
async fn new_sessions(
    s: &std::sync::Arc<dyn hpcbot::store::SessionStore>,
    n: usize,
    now: chrono::DateTime<chrono::Utc>,
    expires: chrono::DateTime<chrono::Utc>,
) -> Vec<hpcbot::domain::SessionId> {
    use hpcbot::domain::{Owner, SessionId};
    let mut ids = Vec::new();
    for _ in 0..n {
        let id = SessionId::new();
        s.create(hpcbot::store::SessionRecord::new(
            id.clone(),
            Owner::session(&id),
            now,
            expires,
        ))
        .await
        .unwrap();
        ids.push(id);
    }
    ids
}

/// A batch of turns the database does not take within `store_timeout` is given up and its
/// turns answered with an error, so a stalled database cannot hold the writer for ever; once
/// the database is free, turns go through again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_turn_writer_gives_up_a_batch_the_database_does_not_take_in_time() {
    let (_dir, url, app) = on_own_sqlite_file(vec![("store_timeout", "300ms".into())]).await;
    let s = app.state.engine.store().clone();
    let now = chrono::Utc::now();
    let hour = chrono::Duration::hours(1);
    let turn = || a_turn(now, now + hour);
    let ids = new_sessions(&s, 2, now, now + hour).await;
    let mut other = hold_write_lock(&url).await;
    // SQLite itself would wait 10 s for its lock (busy_timeout): the writer answers first.
    let stalled = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        s.commit_turn(&ids[0], 0, turn()),
    )
    .await
    .expect("the writer gives the batch up within its bound");
    assert!(stalled.is_err(), "{stalled:?}");
    sqlx::query("COMMIT").execute(&mut other).await.unwrap();
    assert_eq!(s.commit_turn(&ids[1], 0, turn()).await.unwrap(), 1);
    assert_eq!(
        s.load(&ids[0], now, None).await.unwrap().unwrap().turns(),
        0
    );
}

/// A turn of one short message and reply, at `now`.
fn a_turn(
    now: chrono::DateTime<chrono::Utc>,
    expires_at: chrono::DateTime<chrono::Utc>,
) -> hpcbot::store::sessions::TurnRecord {
    use hpcbot::store::sessions::{Message, Role, TurnRecord};
    let message = |role, content: &str| Message {
        role,
        content: content.into(),
        at: now,
    };
    TurnRecord {
        user: message(Role::User, "u"),
        assistant: message(Role::Assistant, "a"),
        state: json!(null),
        expires_at,
    }
}

/// A server with `sessions = "database"` on an SQLite file of its own (and `settings`);
/// returns the file's folder, its URL and the server.
async fn on_own_sqlite_file(
    mut settings: Vec<(&'static str, String)>,
) -> (tempfile::TempDir, String, TestApp) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/own.db?mode=rwc", dir.path().display());
    settings.push(("sessions", "database".into()));
    let app = spawn_with(Spawn {
        database_url: Some(url.clone()),
        settings,
        ..Default::default()
    })
    .await;
    (dir, url, app)
}

/// Another connection to the SQLite file at `url`, holding its write lock until it commits.
async fn hold_write_lock(url: &str) -> sqlx::SqliteConnection {
    use sqlx::Connection;
    let mut other = sqlx::SqliteConnection::connect(url).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();
    other
}
