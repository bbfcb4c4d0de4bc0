//! The chat page in a real browser (Debian's chromium + chromedriver, installed by
//! `.ci/run`): ask for the inventory, book through the chat with confirmation, see the
//! booking card and the timeline change, reload and see the history, cancel from the card.
//! Saves a screenshot under the target directory and names it in the output.

use crate::helpers::*;
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::time::Duration;

/// Polls the page (a UI has no completion event to await) until `css` has an element whose
/// text contains `needle`; fails after 30 s.
async fn wait_text(c: &Client, css: &str, needle: &str) {
    for _ in 0..300 {
        for e in c.find_all(Locator::Css(css)).await.unwrap() {
            if e.text().await.unwrap_or_default().contains(needle) {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "no `{css}` containing {needle:?}; page:\n{}",
        c.source().await.unwrap_or_default()
    );
}

async fn wait_js(c: &Client, script: &str) -> Value {
    for _ in 0..300 {
        let v = c.execute(script, vec![]).await.unwrap();
        if v.as_bool() == Some(true) || v.as_u64().is_some_and(|n| n > 0) {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never true: {script}");
}

async fn say(c: &Client, text: &str) {
    let input = c.wait().for_element(Locator::Id("input")).await.unwrap();
    // Disabled while a turn runs: wait until it takes input again.
    wait_js(c, "return !document.getElementById('input').disabled").await;
    input
        .send_keys(&format!("{text}{}", char::from(Key::Enter)))
        .await
        .unwrap();
}

const A100_BOOKED: &str = "return [...document.querySelectorAll('rect[data-model=\"A100-80GB\"]')].filter(r => +r.dataset.booked > 0).length";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chat_page_books_and_cancels_in_a_real_browser() {
    let app = spawn_app().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _driver = tokio::process::Command::new("/usr/bin/chromedriver")
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("chromedriver (apt-get install chromium chromium-driver; .ci/run does)");
    let profile = tempfile::tempdir().unwrap();
    let caps = json!({"goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic", "--window-size=1280,900",
        format!("--user-data-dir={}", profile.path().display())]}});
    let mut client = None;
    for _ in 0..100 {
        match ClientBuilder::rustls()
            .unwrap()
            .capabilities(caps.as_object().unwrap().clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(c) => {
                client = Some(c);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let c = client.expect("chromedriver answers");

    c.goto(&app.url("/")).await.unwrap();
    wait_text(&c, "#inventory tbody", "A100-80GB").await;
    assert_eq!(c.execute(A100_BOOKED, vec![]).await.unwrap(), json!(0));

    say(&c, "what gpus do you have").await;
    wait_text(&c, "#messages li.assistant", "RTX-4090-24GB").await;
    // Markdown tables render as tables, not text.
    assert!(c
        .find(Locator::Css("#messages li.assistant table"))
        .await
        .is_ok());

    say(&c, "book 2 A100s tomorrow 9-12").await;
    wait_text(&c, "#messages li.assistant", "Shall I book it?").await;
    say(&c, "yes").await;
    wait_text(&c, "#messages .card", "2 × A100-80GB").await;
    wait_text(&c, "#bookings .card", "A100-80GB").await;
    wait_js(&c, A100_BOOKED).await;

    // Markdown from a message is shown as text, never run as HTML.
    say(
        &c,
        "<img src=x onerror=\"document.body.dataset.pwned=1\"> hello",
    )
    .await;
    wait_text(&c, "#messages li.user", "<img src=x").await;
    assert_eq!(
        c.execute("return document.body.dataset.pwned || null", vec![])
            .await
            .unwrap(),
        Value::Null
    );

    c.refresh().await.unwrap();
    wait_text(&c, "#messages li.user", "book 2 A100s tomorrow 9-12").await;
    wait_text(&c, "#messages li.assistant", "Booked").await;

    let cancel = c
        .wait()
        .for_element(Locator::Css("#bookings .card button.cancel"))
        .await
        .unwrap();
    cancel.click().await.unwrap();
    c.accept_alert().await.unwrap();
    wait_text(&c, "#bookings .card", "cancelled").await;
    wait_js(&c, &A100_BOOKED.replace(".length", ".length === 0")).await;

    let dir = std::env::var("CARGO_TARGET_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/target").into());
    std::fs::create_dir_all(&dir).unwrap();
    let path = format!("{dir}/hpcbot-chat-page.png");
    std::fs::write(&path, c.screenshot().await.unwrap()).unwrap();
    println!("screenshot of the chat page: {path}");

    // Phone width: one column, nothing wider than the screen.
    c.set_window_size(390, 844).await.unwrap();
    let fits = c
        .execute(
            "return document.documentElement.scrollWidth <= window.innerWidth + 1",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(fits, json!(true), "no horizontal scrolling at phone width");
    let phone = format!("{dir}/hpcbot-chat-page-phone.png");
    std::fs::write(&phone, c.screenshot().await.unwrap()).unwrap();
    println!("screenshot at phone width: {phone}");

    // "New chat" starts an empty conversation.
    c.find(Locator::Id("new-chat"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_js(
        &c,
        "return document.querySelectorAll('#messages li').length === 0",
    )
    .await;
    c.close().await.unwrap();
}
