//! The instrument checked against itself: a scripted assistant whose actions are known
//! must be scored exact, asked and wrong as conversation-format.md says; the table loader
//! must name the file and conversation of a mistake; the generator must be reproducible,
//! varied and consistent; and with the real assistant, a deliberately false expectation
//! must never be scored exact.

use super::case::{Case, Changed, Expect, Spec};
use super::generator;
use super::harness::{Harness, Score};
use super::tables;
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use hpcbot::assistant::tools::Tools;
use hpcbot::assistant::{
    Action, Assistant, AssistantError, Backend, Conversation, Reply, TurnInput,
};
use hpcbot::config::Config;
use hpcbot::domain::booking::BookingStatus;
use hpcbot::domain::{Interval, Inventory, SessionId};
use std::collections::BTreeSet;
use std::sync::Arc;

/// What the scripted assistant does at one turn.
#[derive(Clone)]
enum Act {
    /// Books this for the caller.
    Book(Spec),
    /// Cancels the caller's booking that starts then.
    Cancel(DateTime<Utc>),
    /// Answers this text.
    Say(&'static str),
}

/// An assistant that follows a script: `script[i]` at the i-th turn. The turn number travels
/// in the dialogue state, so the script only advances if the harness carries the state.
#[derive(Clone)]
struct Scripted {
    tools: Tools,
    script: Arc<Vec<Vec<Act>>>,
}

#[async_trait]
impl Assistant for Scripted {
    async fn open(&self, _: Option<&SessionId>) -> Result<Arc<dyn Conversation>, AssistantError> {
        Ok(Arc::new(self.clone()))
    }
}

#[async_trait]
impl Conversation for Scripted {
    async fn reply(&self, input: TurnInput<'_>) -> Result<Reply, AssistantError> {
        let turn = input.state.as_u64().unwrap_or(0) as usize;
        let mut text = String::from("ok");
        let mut actions = Vec::new();
        let fail = |e: hpcbot::assistant::tools::ToolError| AssistantError::Failed(e.to_string());
        for act in self.script.get(turn).into_iter().flatten() {
            match act {
                Act::Book(b) => {
                    let iv = Interval::new(b.start, b.end).expect("script interval");
                    let booking = self
                        .tools
                        .book(input.caller, &b.model, b.count as i64, iv)
                        .await
                        .map_err(fail)?;
                    actions.push(Action::BookingCreated {
                        booking: (&booking).into(),
                    });
                }
                Act::Cancel(start) => {
                    let mine = self.tools.bookings(input.caller).await.map_err(fail)?;
                    let b = mine
                        .iter()
                        .find(|b| {
                            b.interval.start() == *start && b.status == BookingStatus::Confirmed
                        })
                        .expect("script cancels a booking that exists");
                    let cancelled = self
                        .tools
                        .cancel(input.caller, b.id.as_str())
                        .await
                        .map_err(fail)?;
                    actions.push(Action::BookingCancelled {
                        booking: (&cancelled).into(),
                    });
                }
                Act::Say(s) => text = s.to_string(),
            }
        }
        Ok(Reply {
            text,
            actions,
            backend: Backend::Builtin,
            state: serde_json::json!(turn + 1),
            proposal: None,
        })
    }
}

async fn scripted(script: Vec<Vec<Act>>) -> Harness {
    let script = Arc::new(script);
    Harness::new(Box::new(
        move |tools: Tools, _: &Config| -> Arc<dyn Assistant> {
            Arc::new(Scripted {
                tools,
                script: script.clone(),
            })
        },
    ))
    .await
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn spec(model: &str, count: u32, start: &str, end: &str) -> Spec {
    Spec {
        model: model.into(),
        count,
        start: t(start),
        end: t(end),
    }
}

fn case(existing: Vec<Spec>, expect: Expect) -> Case {
    Case {
        name: "selfcheck".into(),
        origin: "selfcheck".into(),
        now: t(tables::DEFAULT_NOW),
        tz: chrono_tz::Tz::UTC,
        existing,
        others: vec![spec(
            "A100-80GB",
            4,
            "2026-11-27T00:00:00Z",
            "2026-11-28T00:00:00Z",
        )],
        turns: vec!["book it".into(), "yes".into()],
        expect,
        reply_has: Vec::new(),
        tags: Vec::new(),
        act_turns: None,
    }
}

async fn score(script: Vec<Vec<Act>>, c: &Case) -> Score {
    scripted(script).await.run(c).await.unwrap().score
}

#[tokio::test]
async fn the_harness_scores_exact_asked_and_wrong() {
    let want = spec(
        "A100-80GB",
        2,
        "2026-11-27T09:00:00Z",
        "2026-11-27T17:00:00Z",
    );
    let book = case(Vec::new(), Expect::Book(want.clone()));
    // The booking made at the second turn (the yes): needs the state carried between turns.
    assert_eq!(
        score(vec![vec![], vec![Act::Book(want.clone())]], &book).await,
        Score::Exact
    );
    let mut day_off = want.clone();
    day_off.start += Duration::days(1);
    day_off.end += Duration::days(1);
    assert_eq!(
        score(vec![vec![], vec![Act::Book(day_off.clone())]], &book).await,
        Score::Wrong
    );
    let mut other_model = want.clone();
    other_model.model = "H100-80GB".into();
    assert_eq!(
        score(vec![vec![], vec![Act::Book(other_model)]], &book).await,
        Score::Wrong
    );
    assert_eq!(
        score(vec![vec![Act::Say("how many?")]], &book).await,
        Score::Asked
    );
    let both = vec![vec![], vec![Act::Book(want.clone()), Act::Book(day_off)]];
    assert_eq!(
        score(both, &book).await,
        Score::Wrong,
        "one booking too many"
    );

    // Right values, but booked before any yes: never acceptable.
    let at_once = vec![vec![Act::Book(want.clone())], vec![]];
    assert_eq!(
        score(at_once, &book).await,
        Score::Wrong,
        "booked at the first turn"
    );
    let mut yes_at_third = book.clone();
    yes_at_third.turns.push("yes".into());
    yes_at_third.act_turns = Some(vec![2]);
    let early = vec![vec![], vec![Act::Book(want.clone())], vec![]];
    assert_eq!(
        score(early.clone(), &yes_at_third).await,
        Score::Wrong,
        "booked before the yes"
    );
    yes_at_third.act_turns = Some(vec![1, 2]);
    assert_eq!(score(early, &yes_at_third).await, Score::Exact);

    let none = case(Vec::new(), Expect::None);
    assert_eq!(score(vec![vec![]], &none).await, Score::Exact);
    assert_eq!(
        score(vec![vec![], vec![Act::Book(want.clone())]], &none).await,
        Score::Wrong
    );
}

#[tokio::test]
async fn the_harness_scores_cancel_change_and_answer() {
    let a = spec(
        "V100-32GB",
        1,
        "2026-11-30T09:00:00Z",
        "2026-11-30T12:00:00Z",
    );
    let b = spec(
        "L40S-48GB",
        2,
        "2026-12-01T09:00:00Z",
        "2026-12-01T12:00:00Z",
    );
    let cancel_b = case(vec![a.clone(), b.clone()], Expect::Cancel(vec![1]));
    assert_eq!(
        score(vec![vec![], vec![Act::Cancel(b.start)]], &cancel_b).await,
        Score::Exact
    );
    assert_eq!(
        score(vec![vec![], vec![Act::Cancel(a.start)]], &cancel_b).await,
        Score::Wrong
    );
    assert_eq!(score(vec![], &cancel_b).await, Score::Asked);
    let keep = case(vec![a.clone(), b.clone()], Expect::None);
    assert_eq!(
        score(vec![vec![Act::Cancel(a.start)]], &keep).await,
        Score::Wrong
    );

    // A change made as cancel-then-book ends the same as one made in place.
    let change = case(
        vec![a.clone()],
        Expect::Change(Changed {
            index: 0,
            model: None,
            count: Some(3),
            start: None,
            end: None,
        }),
    );
    let mut three = a.clone();
    three.count = 3;
    let redo = vec![vec![], vec![Act::Cancel(a.start), Act::Book(three.clone())]];
    assert_eq!(score(redo, &change).await, Score::Exact);
    let mut two = a.clone();
    two.count = 2;
    let wrong = vec![vec![], vec![Act::Cancel(a.start), Act::Book(two)]];
    assert_eq!(score(wrong, &change).await, Score::Wrong);

    let mut answer = case(Vec::new(), Expect::Answer);
    answer.reply_has = vec!["36.64".into()];
    assert_eq!(
        score(vec![vec![], vec![Act::Say("That is $36.64.")]], &answer).await,
        Score::Exact
    );
    assert_eq!(
        score(vec![vec![], vec![Act::Say("That is $36.65.")]], &answer).await,
        Score::Asked
    );
}

#[test]
fn the_loader_names_the_file_and_conversation_of_a_mistake() {
    let inv = Inventory::sample();
    let ok = r#"
[[conv]]
name = "a"
tz = "Europe/Bratislava"
existing = [{ model = "a100", count = 2, start = "2026-11-27T09:00:00Z", end = "2026-11-27T17:00:00Z" }]
turns = ["move it to Monday", "yes"]
expect = "change"
changed = { index = 0, start = "2026-11-30T09:00:00Z", end = "2026-11-30T17:00:00Z" }

[[conv]]
name = "b"
turns = ["how much is an A100?"]
expect = "answer"
reply_has = ["2.29"]
"#;
    let cases = tables::parse("t.toml", ok, &inv).unwrap();
    assert_eq!(cases.len(), 2);
    assert_eq!(cases[0].existing[0].model, "A100-80GB");
    assert_eq!(cases[0].tz, chrono_tz::Europe::Bratislava);
    assert_eq!(cases[1].now, t(tables::DEFAULT_NOW));
    let bad = [
        (r#"[[conv]]
name = "x"
turns = ["hi"]
expect = "book"
booking = { model = "TPU", count = 1, start = "2026-11-27T09:00:00Z", end = "2026-11-27T10:00:00Z" }"#, "booking.model"),
        ("[[conv]]\nname = \"x\"\nturns = [\"hi\"]\nexpect = \"book\"", "needs `booking`"),
        ("[[conv]]\nname = \"x\"\nturns = [\"hi\"]\nexpect = \"cancel\"\ncancelled = [0]", "index 0"),
        ("[[conv]]\nname = \"x\"\nturns = [\"hi\"]\nexpect = \"none\"\nbookings = 1", "bookings"),
        ("[[conv]]\nname = \"x\"\nturns = [\"hi\"]\nexpect = \"maybe\"", "maybe"),
        ("[[conv]]\nname = \"x\"\nnow = \"tomorrow\"\nturns = [\"hi\"]\nexpect = \"none\"", "now"),
        ("[[conv]]\nname = \"x\"\ntz = \"Mars/Olympus\"\nturns = [\"hi\"]\nexpect = \"none\"", "tz"),
        ("[[conv]]\nname = \"x\"\nturns = [\"a\"]\nexpect = \"none\"\n[[conv]]\nname = \"x\"\nturns = [\"b\"]\nexpect = \"none\"", "twice"),
    ];
    for (text, needle) in bad {
        let e = tables::parse("bad.toml", text, &inv).unwrap_err();
        assert!(e.starts_with("bad.toml") && e.contains(needle), "{e}");
        if !e.contains("unknown field") {
            assert!(e.contains("`x`"), "names the conversation: {e}");
        }
    }
}

#[test]
fn the_generator_is_reproducible_varied_and_consistent() {
    let inv = Inventory::sample();
    let n = 3000;
    let mut tags = BTreeSet::new();
    for i in 0..n {
        let c = generator::case(7, i);
        let again = generator::case(7, i);
        assert_eq!(c.turns, again.turns, "same seed, same conversation");
        assert_eq!(c.expect, again.expect);
        assert!(!c.turns.is_empty() && c.turns.iter().all(|t| !t.trim().is_empty()));
        if let Expect::Book(b) = &c.expect {
            let m = inv.find(&b.model).expect("a model of the inventory");
            assert!(
                b.count >= 1 && b.count <= m.total(),
                "{}: count {}",
                c.name,
                b.count
            );
            assert!(
                b.end > b.start && b.end - b.start <= Duration::days(30),
                "{c:?}"
            );
            assert!(
                b.start >= c.now,
                "{}: start {} before now {}",
                c.name,
                b.start,
                c.now
            );
            assert!(b.start - c.now <= Duration::days(365));
            assert_eq!(b.start.timestamp() % 60, 0, "starts are whole minutes");
        }
        tags.extend(c.tags.iter().cloned());
    }
    let family = |p: &str| tags.iter().filter(|t| t.starts_with(p)).count();
    assert!(family("date:") >= 15, "date forms: {tags:?}");
    let ranges = family("range:")
        + family("dur:")
        + family("daterange:")
        + family("part:")
        + family("rel:")
        + family("when:");
    assert!(ranges >= 15, "range and duration forms: {tags:?}");
    assert!(family("neg:") >= 15, "negative kinds: {tags:?}");
    assert!(family("corr:") >= 8, "corrections: {tags:?}");
    for must in [
        "tz:Europe/Bratislava",
        "tz:America/New_York",
        "now:year-end",
        "now:month-end",
        "typo",
        "turns:multi",
    ] {
        assert!(tags.contains(must), "{must} never generated");
    }
    let different: BTreeSet<Vec<String>> = (0..50).map(|i| generator::case(8, i).turns).collect();
    assert_eq!(different.len(), 50, "another seed, other conversations");
}

#[tokio::test]
async fn with_the_real_assistant_a_false_expectation_is_never_exact() {
    let mut bench = Harness::builtin().await;
    let path = tables::folder().join("harness-selfcheck.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let cases = tables::parse("harness-selfcheck.toml", &text, bench.inventory()).unwrap();
    let mut checked = 0;
    for c in cases {
        let Expect::Book(b) = &c.expect else { continue };
        for shift in [Duration::days(1), Duration::hours(-1)] {
            let mut lie = c.clone();
            let mut moved = b.clone();
            moved.start += shift;
            moved.end += shift;
            lie.expect = Expect::Book(moved);
            let o = bench.run(&lie).await.unwrap();
            assert_ne!(o.score, Score::Exact, "{}: {:?}", c.label(), o.transcript);
            checked += 1;
        }
        let mut more = c.clone();
        let mut plus_one = b.clone();
        plus_one.count += 1;
        more.expect = Expect::Book(plus_one);
        assert_ne!(
            bench.run(&more).await.unwrap().score,
            Score::Exact,
            "{}",
            c.label()
        );
    }
    assert!(
        checked >= 2,
        "harness-selfcheck.toml holds booking conversations"
    );
}
