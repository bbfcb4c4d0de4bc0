//! The chat page in a real browser (Debian's chromium + chromedriver, installed by
//! `.ci/run`): the welcome and its examples, a booking by the proposal's button, the calendar,
//! keyboard-only booking and cancelling, the reply kept in view on desktop and phone widths,
//! the length limit, a queued message and Stop, a server restart with the page open and an
//! expired chat, a new chat that is really new. Screenshots are saved under the target
//! directory and named in the output.

use crate::assistants::Echo;
use crate::helpers::*;
use fantoccini::elements::Element;
use fantoccini::key::Key;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use hpcbot::config::Config;
use hpcbot::server::{self, Overrides};
use serde_json::{json, Value};
use std::time::Duration;

/// A headless Chromium driven through its own chromedriver; both end with this value.
struct Browser {
    c: Client,
    _driver: tokio::process::Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// `dark`: the page is shown as with a dark system theme (`prefers-color-scheme: dark`).
    async fn open(width: u32, height: u32, dark: bool) -> Self {
        let port = free_port();
        let driver = tokio::process::Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver (apt-get install chromium chromium-driver; .ci/run does)");
        let profile = tempfile::tempdir().unwrap();
        let mut args = vec![
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--no-first-run".into(),
            "--disable-quic".into(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        if dark {
            args.push("--blink-settings=preferredColorScheme=0".into());
        }
        let caps = json!({
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args}});
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
                // chromedriver is still starting: there is no event to wait for.
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        Self {
            c: client.expect("chromedriver answers"),
            _driver: driver,
            _profile: profile,
        }
    }

    /// The browser console's errors since the last call (uncaught exceptions, failed loads).
    async fn console_errors(&self) -> Vec<String> {
        let log = self.c.issue_cmd(BrowserLog).await.expect("browser log");
        log.as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

/// chromedriver's `POST /session/{id}/se/log` (the browser console).
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &reqwest::Url,
        session_id: Option<&str>,
    ) -> Result<reqwest::Url, <reqwest::Url as std::str::FromStr>::Err> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &reqwest::Url) -> (axum::http::Method, Option<String>) {
        (
            axum::http::Method::POST,
            Some(r#"{"type":"browser"}"#.into()),
        )
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls the page (a UI has no completion event to await) until `css` has an element whose
/// text contains `needle`; fails after 30 s with the page's text.
async fn wait_text(c: &Client, css: &str, needle: &str) -> Element {
    for _ in 0..300 {
        for e in c.find_all(Locator::Css(css)).await.unwrap() {
            if e.text().await.unwrap_or_default().contains(needle) {
                return e;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "no `{css}` containing {needle:?}; page text:\n{}",
        page_text(c).await
    );
}

async fn page_text(c: &Client) -> String {
    c.execute("return document.body.innerText", vec![])
        .await
        .map(|v| v.as_str().unwrap_or_default().to_string())
        .unwrap_or_default()
}

/// Polls until `script` returns true (or a positive number); fails after 30 s.
async fn wait_js(c: &Client, script: &str) -> Value {
    for _ in 0..300 {
        let v = c.execute(script, vec![]).await.unwrap();
        if v.as_bool() == Some(true) || v.as_u64().is_some_and(|n| n > 0) {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never true: {script}\npage text:\n{}", page_text(c).await);
}

async fn js(c: &Client, script: &str) -> Value {
    c.execute(script, vec![]).await.unwrap()
}

/// Types `text` into the message box and presses Enter.
async fn say(c: &Client, text: &str) {
    let input = c.wait().for_element(Locator::Id("input")).await.unwrap();
    input
        .send_keys(&format!("{text}{}", char::from(Key::Enter)))
        .await
        .unwrap();
}

/// Number of assistant replies that have finished.
const REPLIES_DONE: &str =
    "return document.querySelectorAll('#messages li.assistant:not(.streaming)').length";

async fn replies_done(c: &Client) -> u64 {
    js(c, REPLIES_DONE).await.as_u64().unwrap()
}

/// Waits for reply number `n` (1-based) to finish; returns its text.
async fn wait_reply(c: &Client, n: u64) -> String {
    wait_js(c, &format!("{REPLIES_DONE} >= {n}")).await;
    js(
        c,
        &format!("return document.querySelectorAll('#messages li.assistant:not(.streaming)')[{}].innerText", n - 1),
    )
    .await
    .as_str()
    .unwrap()
    .to_string()
}

/// The one place that decides a reply is a proposal waiting for a yes: the page shows its
/// answer buttons (it reads a structured marker when the server gives one, else the
/// wording). Waits for them under the newest reply and returns its "Book it" button.
async fn wait_for_proposal(c: &Client) -> Element {
    wait_js(
        c,
        "const r = [...document.querySelectorAll('#messages li.assistant')].pop(); return !!(r && r.querySelector('.choices .book-it'))",
    )
    .await;
    c.find(Locator::Css(
        "#messages li.assistant:last-of-type .choices .book-it",
    ))
    .await
    .unwrap()
}

/// Whether the newest reply's bottom is inside the viewport and inside the chat's scroll area.
const REPLY_IN_VIEW: &str = "const r = [...document.querySelectorAll('#messages li.assistant')].pop();
  if (!r) return false;
  const b = r.getBoundingClientRect(), s = document.getElementById('scroller').getBoundingClientRect();
  return b.bottom <= window.innerHeight + 1 && b.bottom <= s.bottom + 1 && b.bottom > s.top";

/// Presses Tab (or Shift+Tab) until the focused element matches `css`; fails after `max`.
/// Enter on the focused Extend button: the "by how much" picker opens with the focus.
async fn open_extend_picker(c: &Client) {
    press(c, "enter").await;
    wait_js(
        c,
        "return document.activeElement.classList.contains('extend-by')",
    )
    .await;
}

async fn tab_to(c: &Client, css: &str, backwards: bool, max: usize) {
    let matches = format!(
        "return !!(document.activeElement && document.activeElement.matches({}))",
        serde_json::to_string(css).unwrap()
    );
    for _ in 0..max {
        if js(c, &matches).await == json!(true) {
            return;
        }
        press(c, if backwards { "shift-tab" } else { "tab" }).await;
    }
    panic!(
        "`{css}` not reached with the keyboard; focus is on {}",
        js(c, "return document.activeElement.outerHTML.slice(0, 200)").await
    );
}

/// A key press on whatever has the focus, as a keyboard-only user makes it.
async fn press(c: &Client, key: &str) {
    let (k, shift) = match key {
        "tab" => (Key::Tab, false),
        "shift-tab" => (Key::Tab, true),
        "enter" => (Key::Enter, false),
        "down" => (Key::Down, false),
        "right" => (Key::Right, false),
        "shift-down" => (Key::Down, true),
        "escape" => (Key::Escape, false),
        other => panic!("unknown key {other}"),
    };
    use fantoccini::actions::{InputSource, KeyAction, KeyActions};
    let mut keys = KeyActions::new("keyboard".into());
    if shift {
        keys = keys.then(KeyAction::Down {
            value: Key::Shift.into(),
        });
    }
    keys = keys
        .then(KeyAction::Down { value: k.into() })
        .then(KeyAction::Up { value: k.into() });
    if shift {
        keys = keys.then(KeyAction::Up {
            value: Key::Shift.into(),
        });
    }
    c.perform_actions(keys).await.unwrap();
}

/// Saves a screenshot under the target directory and prints its path.
async fn shot(c: &Client, name: &str) -> String {
    let dir = std::env::var("CARGO_TARGET_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/target").into());
    std::fs::create_dir_all(&dir).unwrap();
    let path = format!("{dir}/{name}.png");
    std::fs::write(&path, c.screenshot().await.unwrap()).unwrap();
    println!("screenshot {name}: {path}");
    path
}

const TZ: chrono_tz::Tz = chrono_tz::Europe::Bratislava;

/// Tomorrow in the server's zone as the page names days ("Sat 28 Nov").
fn tomorrow_label() -> String {
    (chrono::Utc::now().with_timezone(&TZ).date_naive() + chrono::Days::new(1))
        .format("%a %-d %b")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_welcomes_books_by_its_button_and_keeps_the_reply_in_view() {
    let app = spawn_with(Spawn {
        settings: vec![
            ("centre_name", "Test & Co HPC".into()),
            ("timezone", TZ.name().into()),
        ],
        ..Default::default()
    })
    .await;
    let b = Browser::open(1280, 900, false).await;
    let c = &b.c;
    c.goto(&app.url("/")).await.unwrap();

    // The welcome names the centre and offers examples; one click asks it.
    wait_text(c, "#welcome h2", "Welcome to Test & Co HPC").await;
    assert!(c.title().await.unwrap().contains("Test & Co HPC"));
    wait_text(c, ".top .tz", "Europe/Bratislava").await;
    wait_text(c, "#inventory tbody", "A100-80GB").await;
    wait_text(c, "#welcome .example", "What GPUs do you have?")
        .await
        .click()
        .await
        .unwrap();
    wait_text(c, "#messages li.user", "What GPUs do you have?").await;
    let first = wait_reply(c, 1).await;
    assert!(first.contains("RTX-4090-24GB"), "{first}");
    assert!(c
        .find(Locator::Css("#messages li.assistant table"))
        .await
        .is_ok());
    assert_eq!(
        js(c, "return document.getElementById('welcome').hidden").await,
        json!(true)
    );

    // A booking through the proposal's "Book it" button.
    say(c, "book 2 A100s tomorrow 9-12").await;
    let proposal = wait_for_proposal(c).await;
    wait_reply(c, 2).await;
    proposal.click().await.unwrap();
    wait_text(c, "#messages li.user", "yes").await;
    let card = wait_text(c, "#messages .card", "2 × A100-80GB").await;
    let card_text = card.text().await.unwrap();
    assert!(card_text.contains("booked"), "{card_text}");
    assert!(
        card_text.contains(&format!("{} 09:00–12:00 CET", tomorrow_label())),
        "the time in the server's zone, named: {card_text}"
    );
    assert_eq!(
        js(c, "return document.activeElement.id").await,
        json!("input"),
        "focus back in the message box after the button"
    );
    wait_text(c, "#bookings .card", "A100-80GB").await;
    assert!(wait_reply(c, 3).await.len() > 2);

    // The calendar marks it on tomorrow's column, in the 09:00 row, with its label.
    c.find(Locator::Css("#cal-model"))
        .await
        .unwrap()
        .select_by_value("A100-80GB")
        .await
        .unwrap();
    let label = wait_text(c, "#calendar .mine-label", "2× A100").await;
    let (day, row) = (
        label
            .find(Locator::XPath(".."))
            .await
            .unwrap()
            .attr("data-d")
            .await
            .unwrap()
            .unwrap(),
        label
            .find(Locator::XPath(".."))
            .await
            .unwrap()
            .attr("data-r")
            .await
            .unwrap()
            .unwrap(),
    );
    assert_eq!(
        (day.as_str(), row.as_str()),
        ("1", "3"),
        "tomorrow, 09:00–12:00"
    );
    let header = js(
        c,
        "return document.querySelectorAll('#calendar .cal-day')[1].innerText.replace(/\\s+/g, ' ')",
    )
    .await;
    assert_eq!(header, json!(tomorrow_label()));
    let cell = js(c, "return document.querySelector('#calendar .cal-cell[data-d=\"1\"][data-r=\"3\"]').getAttribute('aria-label')").await;
    let cell = cell.as_str().unwrap();
    let gpus: Value = app.get("/api/gpus").await.json().await.unwrap();
    let total = gpus["gpus"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["model"] == "A100-80GB")
        .unwrap()["total"]
        .as_u64()
        .unwrap();
    let free = format!("A100-80GB {} of {total} free", total - 2);
    assert!(
        cell.contains(&free) && cell.contains("Yours: 2 × A100-80GB"),
        "{cell}"
    );
    assert!(cell.contains("09:00–12:00 CET"), "{cell}");
    // Focus (and hover) show every model's count for the cell.
    js(
        c,
        "document.querySelector('#calendar .cal-cell[data-d=\"1\"][data-r=\"3\"]').focus()",
    )
    .await;
    let detail = wait_text(c, "#cal-detail", "H100")
        .await
        .text()
        .await
        .unwrap();
    assert!(detail.contains(&free), "{detail}");
    // The table alternative says the same.
    let table = js(c, "return document.getElementById('cal-table').textContent").await;
    assert!(table.as_str().unwrap().contains("2 × A100-80GB"));
    // A "now" line in today's column.
    assert_eq!(js(c, "return document.querySelectorAll('#calendar .cal-cell[data-d=\"0\"] .now-line').length").await, json!(1));

    // A drag over free cells writes the request; "No" on its proposal books nothing.
    let day2 = (chrono::Utc::now().with_timezone(&TZ).date_naive() + chrono::Days::new(2))
        .format("%a %-d %b")
        .to_string();
    let from = c
        .find(Locator::Css(
            "#calendar .cal-cell[data-d=\"2\"][data-r=\"4\"]",
        ))
        .await
        .unwrap();
    let to = c
        .find(Locator::Css(
            "#calendar .cal-cell[data-d=\"2\"][data-r=\"5\"]",
        ))
        .await
        .unwrap();
    use fantoccini::actions::{InputSource, MouseActions, PointerAction, MOUSE_BUTTON_LEFT};
    let drag = MouseActions::new("mouse".into())
        .then(PointerAction::MoveToElement {
            element: from,
            duration: None,
            x: 0.0,
            y: 0.0,
        })
        .then(PointerAction::Down {
            button: MOUSE_BUTTON_LEFT,
        })
        .then(PointerAction::MoveToElement {
            element: to,
            duration: Some(Duration::from_millis(100)),
            x: 0.0,
            y: 0.0,
        })
        .then(PointerAction::Up {
            button: MOUSE_BUTTON_LEFT,
        });
    c.perform_actions(drag).await.unwrap();
    assert_eq!(
        js(c, "return document.getElementById('input').value").await,
        json!(format!("book 1 A100-80GB on {day2} from 12:00 to 18:00"))
    );
    let cards = js(
        c,
        "return document.querySelectorAll('#messages .card').length",
    )
    .await;
    let n = replies_done(c).await;
    press(c, "enter").await;
    wait_for_proposal(c).await;
    let proposed = wait_reply(c, n + 1).await;
    assert!(
        proposed.contains("12:00") && proposed.contains("18:00"),
        "{proposed}"
    );
    wait_text(
        c,
        "#messages li.assistant:last-of-type .choices button.no",
        "No",
    )
    .await
    .click()
    .await
    .unwrap();
    wait_reply(c, n + 2).await;
    assert_eq!(js(c, "return document.querySelectorAll('#messages li.user')[document.querySelectorAll('#messages li.user').length - 1].innerText.includes('no')").await, json!(true));
    assert_eq!(
        js(
            c,
            "return document.querySelectorAll('#messages .card').length"
        )
        .await,
        cards,
        "nothing booked"
    );
    // "Change" puts the focus in the box with a hint.
    say(c, "book 1 H100 tomorrow 13-14").await;
    wait_for_proposal(c).await;
    wait_text(
        c,
        "#messages li.assistant:last-of-type .choices button.change",
        "Change",
    )
    .await
    .click()
    .await
    .unwrap();
    assert_eq!(
        js(c, "return document.activeElement.id").await,
        json!("input")
    );
    wait_text(c, "#compose-hint", "change").await;
    assert_eq!(
        js(
            c,
            "return document.querySelectorAll('#messages .choices').length"
        )
        .await,
        json!(0)
    );

    // The newest reply stays in view.
    let n = replies_done(c).await;
    for i in 0..4 {
        say(c, &format!("what gpus do you have {i}")).await;
    }
    wait_reply(c, n + 4).await;
    wait_js(c, REPLY_IN_VIEW).await;

    // Too long: refused before sending, the text kept, the counter says so.
    js(c, "const i = document.getElementById('input'); i.value = 'x'.repeat(4001); i.dispatchEvent(new Event('input'))").await;
    wait_text(c, "#counter", "4001 / 4000").await;
    let users = js(
        c,
        "return document.querySelectorAll('#messages li.user').length",
    )
    .await;
    press(c, "enter").await;
    wait_text(c, "#status", "limit is 4000").await;
    assert_eq!(
        js(c, "return document.getElementById('input').value.length").await,
        json!(4001)
    );
    assert_eq!(
        js(
            c,
            "return document.querySelectorAll('#messages li.user').length"
        )
        .await,
        users
    );
    js(c, "const i = document.getElementById('input'); i.value = ''; i.dispatchEvent(new Event('input'))").await;

    // A message is shown as text, never run as HTML.
    let n = replies_done(c).await;
    say(
        c,
        "<img src=x onerror=\"document.body.dataset.pwned=1\"> hello",
    )
    .await;
    wait_text(c, "#messages li.user", "<img src=x").await;
    wait_reply(c, n + 1).await;
    assert_eq!(
        js(c, "return document.body.dataset.pwned || null").await,
        Value::Null
    );

    let errors = b.console_errors().await;
    assert!(errors.is_empty(), "console errors: {errors:?}");
    shot(c, "hpcbot-page-desktop").await;

    // Phone width: one column, nothing wider than the screen, the reply in view.
    c.set_window_size(390, 844).await.unwrap();
    let n = replies_done(c).await;
    say(c, "what gpus do you have").await;
    wait_reply(c, n + 1).await;
    wait_js(c, REPLY_IN_VIEW).await;
    assert_eq!(
        js(
            c,
            "return document.documentElement.scrollWidth <= window.innerWidth + 1"
        )
        .await,
        json!(true),
        "no horizontal scrolling at phone width"
    );
    shot(c, "hpcbot-page-phone").await;
    js(
        c,
        "document.querySelector('.calendar-box').scrollIntoView()",
    )
    .await;
    shot(c, "hpcbot-page-phone-calendar").await;

    // A reload shows the history again.
    c.set_window_size(1280, 900).await.unwrap();
    c.refresh().await.unwrap();
    wait_text(c, "#messages li.user", "book 2 A100s tomorrow 9-12").await;
    wait_text(c, "#bookings .card", "2 × A100-80GB").await;
    // Beside the bookings: the limits with their use, and the project's money.
    wait_text(c, "#account", "GPUs at once: 0 of 16 held now").await;
    wait_text(c, "#account", "Project default: no budget set").await;
    let errors = b.console_errors().await;
    assert!(errors.is_empty(), "console errors: {errors:?}");

    // "New chat" starts an empty conversation with the welcome; the bookings stay listed.
    c.find(Locator::Id("new-chat"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_js(c, "return document.querySelectorAll('#messages li').length === 0 && !document.getElementById('welcome').hidden").await;
    wait_text(c, "#bookings .card", "2 × A100-80GB").await;
    c.clone().close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_from_the_calendar_and_its_cancel_by_keyboard_alone() {
    let app = spawn_app().await;
    let b = Browser::open(1280, 900, true).await;
    let c = &b.c;
    c.goto(&app.url("/")).await.unwrap();
    wait_text(c, "#inventory tbody", "A100-80GB").await;
    wait_js(
        c,
        "return document.querySelectorAll('#calendar .cal-cell').length === 56",
    )
    .await;

    // Tab into the calendar, go to tomorrow 09:00, widen to 15:00, Enter: the request is written.
    js(c, "document.activeElement.blur()").await;
    tab_to(c, "#calendar .cal-cell", false, 40).await;
    press(c, "right").await;
    for _ in 0..3 {
        press(c, "down").await;
    }
    press(c, "shift-down").await;
    press(c, "enter").await;
    let tomorrow = (chrono::Utc::now().date_naive() + chrono::Days::new(1))
        .format("%a %-d %b")
        .to_string();
    let model = js(c, "return document.getElementById('cal-model').value").await;
    let model = model.as_str().unwrap();
    assert_eq!(
        js(c, "return document.getElementById('input').value").await,
        json!(format!("book 1 {model} on {tomorrow} from 09:00 to 15:00"))
    );
    assert_eq!(
        js(c, "return document.activeElement.id").await,
        json!("input")
    );

    // Enter sends it; the assistant proposes it; its button is reached by keyboard.
    press(c, "enter").await;
    wait_for_proposal(c).await;
    let proposed = wait_reply(c, 1).await;
    assert!(
        proposed.contains("09:00") && proposed.contains(model),
        "{proposed}"
    );
    // The buttons come from the reply's `proposal` ("book"), not from its wording.
    assert_eq!(
        js(c, "return [...document.querySelectorAll('#messages .choices button')].map(b => b.textContent)").await,
        json!(["Book it", "Change", "No"])
    );
    tab_to(c, "#messages .choices .book-it", true, 10).await;
    press(c, "enter").await;
    let card = wait_text(c, "#messages .card", model).await;
    assert!(card.text().await.unwrap().contains("09:00–15:00 UTC"));

    // Extend asks by how much (the change itself is `PATCH`, tested by the server's tests);
    // Escape leaves the booking as it is, the focus on its buttons.
    tab_to(c, "#messages .card button.extend", true, 10).await;
    open_extend_picker(c).await;
    press(c, "escape").await;
    wait_js(c, "return document.activeElement.matches('#messages .card button.extend') && !document.querySelector('.extend-by')").await;

    // Extend by keyboard alone: two hours more (a PATCH); the card shows the new end, the
    // chat says so, and "My bookings" has it too.
    open_extend_picker(c).await;
    press(c, "down").await;
    wait_js(c, "return document.activeElement.value === '2'").await;
    tab_to(c, ".asking button.confirm", false, 3).await;
    press(c, "enter").await;
    wait_text(c, "#messages li.note", "Extended").await;
    wait_text(c, "#messages .card", "09:00–17:00 UTC").await;
    wait_text(c, "#bookings .card", "09:00–17:00 UTC").await;

    // The focus stayed on the changed booking (its heading).
    let focus = js(c, "return document.activeElement.tagName + ' ' + (document.activeElement.closest('#messages .card') ? 'card' : '')").await;
    assert_eq!(focus, json!("H3 card"), "the focus stays on the booking");

    // Cancel from the card: the question's answer has the focus; the cancel is said.
    tab_to(c, "#messages .card button.cancel", false, 10).await;
    press(c, "enter").await;
    wait_js(
        c,
        "return document.activeElement.classList.contains('confirm')",
    )
    .await;
    press(c, "enter").await;
    wait_text(c, "#messages li.note", "Cancelled").await;
    wait_text(c, "#messages .card", "cancelled").await;
    wait_text(c, "#tab-cancelled", "Cancelled (1)").await;
    let focus = js(c, "return document.activeElement.tagName + ' ' + (document.activeElement.closest('.card') ? 'card' : '')").await;
    assert_eq!(focus, json!("H3 card"), "the focus stays on the booking");
    let errors = b.console_errors().await;
    assert!(errors.is_empty(), "console errors: {errors:?}");
    assert_eq!(
        js(
            c,
            "return matchMedia('(prefers-color-scheme: dark)').matches"
        )
        .await,
        json!(true)
    );
    shot(c, "hpcbot-page-keyboard-dark").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_typed_while_a_reply_streams_waits_and_stop_shows_what_was_booked() {
    let echo = Echo::default();
    let app = echo_app(&echo, vec![]).await;
    let b = Browser::open(1280, 900, false).await;
    let c = &b.c;
    c.goto(&app.url("/")).await.unwrap();
    wait_text(c, "#inventory tbody", "A100-80GB").await;
    say(c, "hang on").await;
    wait_js(c, "return !document.getElementById('stop').hidden").await;
    // The box still takes input: the next message queues behind the one streaming.
    say(c, "second").await;
    wait_text(c, "#messages li.user .queued", "Queued").await;
    c.find(Locator::Id("stop"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_text(c, "#messages li.assistant", "Stopped").await;
    wait_text(c, "#messages li.assistant", "Nothing was booked").await;
    wait_text(c, "#messages li.assistant", "echo:second").await;
    assert_eq!(
        js(
            c,
            "return document.querySelectorAll('#messages .queued').length"
        )
        .await,
        json!(0)
    );

    // A booking made while a reply was under way (here through the API, as a turn that
    // finished its booking would) is shown as booked after Stop.
    say(c, "hang again").await;
    wait_js(
        c,
        "return !!document.querySelector('#messages li.assistant.streaming')",
    )
    .await;
    let sid = js(c, "return localStorage.getItem('hpcbot.session')").await;
    let res = app
        .post(
            "/api/bookings",
            &json!({"model": "A100-80GB", "count": 1, "start": tomorrow(9).to_rfc3339(),
                "end": tomorrow(10).to_rfc3339(), "session_id": sid}),
        )
        .await;
    assert_eq!(res.status().as_u16(), 201);
    c.find(Locator::Id("stop"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_text(c, "#messages li.assistant", "made before the reply ended").await;
    let card = wait_text(c, "#messages li.assistant .card", "1 × A100-80GB").await;
    assert!(card.text().await.unwrap().contains("booked"));
    assert_eq!(
        js(c, "return document.activeElement.id").await,
        json!("input")
    );
    let errors = b.console_errors().await;
    assert!(errors.is_empty(), "console errors: {errors:?}");
}

/// The real server on a fixed port and data dir (for a restart with the page open).
async fn serve_on(
    port: u16,
    dir: &std::path::Path,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let listen = format!("127.0.0.1:{port}");
    let data = dir.display().to_string();
    let config =
        Config::defaults_with(&[("listen", listen.as_str()), ("data_dir", data.as_str())]).unwrap();
    let state = server::build(config, Overrides::default()).await.unwrap();
    let listener = tokio::net::TcpListener::bind(&listen).await.unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(server::serve(state, listener, async move {
        let _ = rx.await;
    }));
    (tx, handle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_rides_out_a_server_restart_and_an_expired_chat() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let (stop, handle) = serve_on(port, dir.path()).await;
    let url = format!("http://127.0.0.1:{port}/");
    let b = Browser::open(1280, 900, false).await;
    let c = &b.c;
    c.goto(&url).await.unwrap();
    wait_text(c, "#inventory tbody", "A100-80GB").await;
    say(c, "hello").await;
    wait_reply(c, 1).await;

    // Stop the server; a message typed now is kept, with a banner and a Retry.
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(20), handle)
        .await
        .expect("the server stops")
        .unwrap()
        .unwrap();
    say(c, "what gpus do you have").await;
    wait_text(c, "#status", "Cannot reach the server").await;
    wait_text(c, "#messages li.user.failed", "what gpus do you have").await;
    assert_eq!(replies_done(c).await, 1);
    shot(c, "hpcbot-page-offline").await;

    // Back on the same port and data: the banner clears by itself; Retry resends.
    let (stop, handle) = serve_on(port, dir.path()).await;
    wait_js(c, "return document.getElementById('status').hidden").await;
    c.find(Locator::Css("#messages li.user.failed button.retry"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let reply = wait_reply(c, 2).await;
    assert!(reply.contains("A100-80GB"), "{reply}");
    assert_eq!(
        js(
            c,
            "return document.querySelectorAll('#messages li.user.failed').length"
        )
        .await,
        json!(0)
    );

    // The chat is deleted on the server: the page says so plainly and goes on in a new chat.
    let sid = js(c, "return localStorage.getItem('hpcbot.session')").await;
    let sid = sid.as_str().unwrap().to_string();
    let res = reqwest::Client::new()
        .delete(format!("{url}api/sessions/{sid}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 204);
    say(c, "what gpus do you have").await;
    wait_text(c, "#messages li.note", "a new chat has started").await;
    let reply = wait_reply(c, 3).await;
    assert!(reply.contains("A100-80GB"), "{reply}");
    let new_sid = js(c, "return localStorage.getItem('hpcbot.session')").await;
    assert_ne!(new_sid.as_str(), Some(sid.as_str()));
    // An unknown chat remembered by the browser: said on load, and a fresh start.
    js(c, "localStorage.setItem('hpcbot.session', 'f'.repeat(32))").await;
    c.refresh().await.unwrap();
    wait_text(c, "#messages li.note", "a new chat has started").await;
    stop.send(()).unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(20), handle).await;
}

/// "New chat" is a new session: a yes typed there answers nothing, even though the previous
/// chat's proposal is still waiting and the `hpcbot_sid` cookie still names that chat; after
/// a reload the two chats stay apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_yes_in_a_new_chat_books_nothing_of_the_old_chat() {
    let app = spawn_app().await;
    let b = Browser::open(1280, 900, false).await;
    let c = &b.c;
    c.goto(&app.url("/")).await.unwrap();
    wait_text(c, "#inventory tbody", "A100-80GB").await;
    say(c, "book 2 A100s tomorrow 9-12").await;
    wait_for_proposal(c).await;
    wait_reply(c, 1).await;
    let old = js(c, "return localStorage.getItem('hpcbot.session')").await;

    c.find(Locator::Id("new-chat"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    say(c, "yes").await;
    let reply = wait_reply(c, 1).await;
    assert!(!reply.contains("Booked"), "{reply}");
    let mine = js(
        c,
        "return fetch('/api/bookings').then(r => r.json()).then(j => j.bookings.length)",
    )
    .await;
    assert_eq!(mine, json!(0), "the new chat's yes booked: {reply}");
    let new = js(c, "return localStorage.getItem('hpcbot.session')").await;
    assert_ne!(new, old, "the new chat has its own session");
    // The old chat still holds its own turns only.
    let old_history = history(&app, old.as_str().unwrap()).await;
    assert_eq!(old_history.len(), 2, "{old_history:?}");
    c.refresh().await.unwrap();
    wait_reply(c, 1).await;
    assert_eq!(
        js(
            c,
            "return document.querySelectorAll('#messages li.user').length"
        )
        .await,
        json!(1),
        "after a reload the new chat shows its own turn only"
    );
}

/// Opens the page and books 1 V100 for tomorrow 09:00–11:00 through the chat's button.
async fn book_a_v100(c: &Client, app: &TestApp) {
    c.goto(&app.url("/")).await.unwrap();
    wait_text(c, "#inventory tbody", "A100-80GB").await;
    say(c, "book 1 V100 tomorrow 9-11").await;
    let proposal = wait_for_proposal(c).await;
    wait_reply(c, 1).await;
    proposal.click().await.unwrap();
    wait_text(c, "#bookings .card", "V100-32GB").await;
}

/// A booking's "Add to calendar" serves its .ics; "Get feed URL" gives a URL that serves the
/// feed with no cookie at all, as a calendar app reads it.
#[tokio::test]
async fn a_booking_goes_to_the_calendar_and_the_feed_url_works_without_cookies() {
    let app = spawn_app().await;
    let b = Browser::open(1280, 900, false).await;
    let c = &b.c;
    book_a_v100(c, &app).await;
    wait_js(
        c,
        "return !!document.querySelector('#bookings .card a.ics')",
    )
    .await;
    let ics = js(
        c,
        "return document.querySelector('#bookings .card a.ics').getAttribute('href')",
    )
    .await;
    let ics = ics.as_str().unwrap().to_string();
    // The page's own request (its cookie and session) reads the file.
    wait_js(
        c,
        &format!(
            "if (!window.__ics) {{ window.__ics = 'pending'; fetch({ics:?}).then(r => r.text()).then(t => window.__ics = t); }} return window.__ics !== 'pending'"
        ),
    )
    .await;
    let got = js(c, "return window.__ics").await;
    let got = got.as_str().unwrap();
    assert!(
        got.contains("BEGIN:VCALENDAR") && got.contains("V100-32GB"),
        "{got}"
    );

    c.find(Locator::Css("#feed-get"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_js(
        c,
        "const i = document.getElementById('feed-url'); return !i.hidden && i.value !== ''",
    )
    .await;
    let url = js(c, "return document.getElementById('feed-url').value").await;
    let url = url.as_str().unwrap();
    assert!(url.contains("/api/calendar/feed/"), "{url}");
    assert_eq!(
        js(c, "return document.getElementById('feed-get').textContent").await,
        json!("Replace feed URL")
    );
    let feed = reqwest::get(url).await.unwrap();
    assert_eq!(feed.status(), 200);
    let text = feed.text().await.unwrap();
    assert!(text.contains("V100-32GB"), "{text}");
    assert!(b.console_errors().await.is_empty());
}

/// Maintenance that moves the person's booking shows under "News" on the page, outside the
/// chat, with the new GPUs; a reload shows it no more (it was seen).
#[tokio::test]
async fn maintenance_that_moves_a_booking_shows_in_the_news() {
    let app = spawn_app().await;
    let b = Browser::open(1280, 900, false).await;
    let c = &b.c;
    book_a_v100(c, &app).await;
    let all: Value = app.get("/api/admin/bookings").await.json().await.unwrap();
    let booking = &all["bookings"][0];
    let node = booking["gpus"][0]
        .as_str()
        .unwrap()
        .split(':')
        .next()
        .unwrap();
    let res = app
        .post(
            "/api/admin/maintenance",
            &json!({"node": node, "start": booking["start"], "end": booking["end"],
                "reason": "fan swap"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    // The panel refreshes after a turn.
    say(c, "thanks").await;
    let news = wait_text(c, "#notices", "fan swap")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        news.contains("moved your booking") && news.contains("V100-32GB"),
        "{news}"
    );
    c.refresh().await.unwrap();
    wait_text(c, "#inventory tbody", "A100-80GB").await;
    wait_text(c, "#bookings .card", "V100-32GB").await;
    assert_eq!(
        js(
            c,
            "return document.getElementById('notices').children.length"
        )
        .await,
        json!(0),
        "seen news is not shown again"
    );
    assert!(b.console_errors().await.is_empty());
}
