//! Runs one conversation against an assistant WITHOUT HTTP: one SQLite store for the whole
//! run, reset per conversation; a fresh owner, fixed clock and timezone per conversation; the
//! turns fed one by one through the public `Assistant::open` / `Conversation::reply`, carrying
//! `Reply::state`. Then the person's bookings are compared with the expectation.

use super::case::{Case, Expect, Spec};
use hpcbot::assistant::tools::Tools;
use hpcbot::assistant::{Action, Assistant, TurnInput};
use hpcbot::config::Config;
use hpcbot::domain::booking::{BookingLimits, BookingStatus};
use hpcbot::domain::{Clock, Interval, Inventory, Owner, SessionId};
use hpcbot::store::sql::{SqlOptions, SqlStore};
use hpcbot::store::{BookingStore, NewBooking};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// How a conversation is scored (conversation-format.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Score {
    /// The bookings ended exactly as expected (and `reply_has` was found).
    Exact,
    /// Nothing changed although a change was expected, or `reply_has` is missing.
    Asked,
    /// A booking created / changed / cancelled that the expectation does not name.
    Wrong,
}

/// One turn as it happened.
#[derive(Debug, Clone)]
pub struct Turn {
    /// What the person typed.
    pub said: String,
    /// What the assistant answered (or its error).
    pub reply: String,
    /// What the turn changed, in short.
    pub actions: Vec<String>,
}

/// The result of one conversation.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The score.
    pub score: Score,
    /// Why, in a few words.
    pub reason: String,
    /// Turns and replies.
    pub transcript: Vec<Turn>,
    /// The person's confirmed bookings the expectation asks for at the end.
    pub expected: Vec<Spec>,
    /// The person's confirmed bookings at the end.
    pub actual: Vec<Spec>,
}

/// Builds the assistant under test for one conversation (the tools carry its clock).
pub type MakeAssistant = dyn Fn(Tools, &Config) -> Arc<dyn Assistant> + Send + Sync;

/// The measuring bench: one store, reused by every conversation.
pub struct Harness {
    store: Arc<dyn BookingStore>,
    inventory: Arc<Inventory>,
    configs: HashMap<String, Config>,
    make: Box<MakeAssistant>,
    _dir: tempfile::TempDir,
}

impl Harness {
    /// A bench over the real built-in assistant.
    pub async fn builtin() -> Self {
        Self::new(Box::new(
            |tools: Tools, config: &Config| -> Arc<dyn Assistant> {
                Arc::new(hpcbot::assistant::builtin::Builtin::new(tools, config))
            },
        ))
        .await
    }

    /// A bench over the assistant `make` builds (the self-check uses a scripted one).
    pub async fn new(make: Box<MakeAssistant>) -> Self {
        // In memory-backed /dev/shm when there is one: thousands of conversations reset the
        // bookings, and no fsync is worth waiting for in a measurement.
        let shm = std::path::Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            tempfile::tempdir_in(shm).or_else(|_| tempfile::tempdir())
        } else {
            tempfile::tempdir()
        }
        .expect("temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("eval.db").display());
        let store = SqlStore::connect(&SqlOptions {
            url,
            max_connections: 2,
            timeout: Duration::from_secs(30),
        })
        .await
        .expect("SQLite store");
        let store: Arc<dyn BookingStore> = Arc::new(store);
        let inventory = store.inventory().await.expect("inventory");
        Self {
            store,
            inventory,
            configs: HashMap::new(),
            make,
            _dir: dir,
        }
    }

    /// The inventory the conversations run against (the sample one).
    pub fn inventory(&self) -> &Inventory {
        &self.inventory
    }

    fn config(&mut self, tz: &str) -> Config {
        self.configs
            .entry(tz.to_string())
            .or_insert_with(|| {
                Config::defaults_with(&[("timezone", tz)])
                    .unwrap_or_else(|e| panic!("config with timezone {tz}: {e}"))
            })
            .clone()
    }

    /// Runs `case` and scores it. `Err` means the case itself is unusable (a fixture that
    /// does not fit the inventory): a fault of the test data, not of the assistant.
    pub async fn run(&mut self, case: &Case) -> Result<Outcome, String> {
        self.store
            .import(None, Some(Vec::new()))
            .await
            .map_err(|e| format!("resetting the bookings: {e}"))?;
        let person = Owner::session(&SessionId::new());
        let other = Owner::session(&SessionId::new());
        for (who, list, what) in [
            (&person, &case.existing, "existing"),
            (&other, &case.others, "others"),
        ] {
            for (i, b) in list.iter().enumerate() {
                let interval =
                    Interval::new(b.start, b.end).map_err(|e| format!("{what}[{i}]: {e}"))?;
                self.store
                    .create(NewBooking {
                        owner: who.clone(),
                        model: b.model.clone(),
                        count: b.count,
                        interval,
                        now: case.now,
                        proposal: None,
                        origin: hpcbot::store::bookings::Origin::current(
                            hpcbot::store::bookings::Via::Import,
                        ),
                        quotas: None,
                        budget: None,
                        project: hpcbot::domain::ProjectName::default_project(),
                    })
                    .await
                    .map_err(|e| format!("{what}[{i}] ({b}) cannot be set up: {e}"))?;
            }
        }
        let config = self.config(case.tz.name());
        let tools = Tools::new(
            self.store.clone(),
            Clock::fixed(case.now),
            BookingLimits::default(),
        );
        let assistant = (self.make)(tools, &config);
        let session = SessionId::new();
        let conversation = assistant
            .open(Some(&session))
            .await
            .map_err(|e| format!("opening the conversation: {e}"))?;
        let mut state = serde_json::Value::Null;
        let mut transcript = Vec::new();
        for said in &case.turns {
            let message = said.trim();
            let turn = conversation
                .reply(TurnInput {
                    caller: &person,
                    session: Some(&session),
                    message,
                    history: &[],
                    state: state.clone(),
                    can_act: true,
                    deltas: None,
                })
                .await;
            match turn {
                Ok(r) => {
                    state = r.state;
                    transcript.push(Turn {
                        said: said.clone(),
                        reply: r.text,
                        actions: r.actions.iter().map(action_summary).collect(),
                    });
                }
                Err(e) => transcript.push(Turn {
                    said: said.clone(),
                    reply: format!("<assistant error: {e}>"),
                    actions: Vec::new(),
                }),
            }
        }
        let actual = self.confirmed(&person).await?;
        let others_after = self.confirmed(&other).await?;
        let mut others_before = case.others.clone();
        others_before.sort();
        let mut before = case.existing.clone();
        before.sort();
        let expected = case.expect.final_bookings(&case.existing);
        let last = transcript
            .last()
            .map(|t| t.reply.to_lowercase())
            .unwrap_or_default();
        let missing: Vec<&String> = case
            .reply_has
            .iter()
            .filter(|s| !last.contains(&s.to_lowercase()))
            .collect();
        // A change at a turn that cannot be the person's yes to a proposal.
        let acted_early = transcript.iter().enumerate().find(|(i, t)| {
            !t.actions.is_empty()
                && (*i == 0 || case.act_turns.as_ref().is_some_and(|ok| !ok.contains(i)))
        });
        let (score, reason) = if others_after != others_before {
            (Score::Wrong, "someone else's bookings changed".to_string())
        } else if let Some((i, _)) = acted_early {
            (
                Score::Wrong,
                format!("acted at turn {} without a yes to a proposal", i + 1),
            )
        } else if actual == expected {
            if missing.is_empty() {
                (Score::Exact, "as expected".to_string())
            } else {
                (Score::Asked, format!("the last reply lacks {missing:?}"))
            }
        } else if actual == before {
            (
                Score::Asked,
                format!("nothing changed (expected: {})", case.expect.kind()),
            )
        } else {
            (
                Score::Wrong,
                "the bookings differ from the expectation".to_string(),
            )
        };
        Ok(Outcome {
            score,
            reason,
            transcript,
            expected,
            actual,
        })
    }

    /// `owner`'s confirmed bookings, sorted.
    async fn confirmed(&self, owner: &Owner) -> Result<Vec<Spec>, String> {
        let mut out: Vec<Spec> = self
            .store
            .list(owner)
            .await
            .map_err(|e| format!("listing bookings: {e}"))?
            .into_iter()
            .filter(|b| b.status == BookingStatus::Confirmed)
            .map(|b| Spec {
                model: b.model.clone(),
                count: b.count(),
                start: b.interval.start(),
                end: b.interval.end(),
            })
            .collect();
        out.sort();
        Ok(out)
    }
}

fn action_summary(a: &Action) -> String {
    let (verb, b) = match a {
        Action::BookingCreated { booking } => ("booked", booking),
        Action::BookingChanged { booking } => ("changed", booking),
        Action::BookingCancelled { booking } => ("cancelled", booking),
    };
    format!(
        "{verb} {} x{} {} → {}",
        b.model,
        b.count,
        b.start.format("%Y-%m-%d %H:%M"),
        b.end.format("%Y-%m-%d %H:%M UTC")
    )
}

/// Whether `expect` is well formed against `existing` (indexes in range).
pub fn check_expect(expect: &Expect, existing: &[Spec]) -> Result<(), String> {
    match expect {
        Expect::Cancel(idx) => {
            if idx.is_empty() {
                return Err("cancelled: empty".into());
            }
            if let Some(i) = idx.iter().find(|i| **i >= existing.len()) {
                return Err(format!(
                    "cancelled: index {i} but only {} existing booking(s)",
                    existing.len()
                ));
            }
        }
        Expect::Change(c) if c.index >= existing.len() => {
            return Err(format!(
                "changed.index: {} but only {} existing booking(s)",
                c.index,
                existing.len()
            ))
        }
        _ => {}
    }
    Ok(())
}
