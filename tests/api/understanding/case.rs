//! One conversation to measure, whatever wrote it (a TOML table or the paraphrase
//! generator): the world it starts in, what the person types, and what must come of it.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use std::fmt;

/// A booking as the expectations name it: model (the inventory's exact name), count, times.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Spec {
    /// The inventory's exact model name (resolved when the case is built).
    pub model: String,
    /// Number of GPUs.
    pub count: u32,
    /// Start, UTC.
    pub start: DateTime<Utc>,
    /// End, UTC.
    pub end: DateTime<Utc>,
}

impl fmt::Display for Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} x{} {} → {}",
            self.model,
            self.count,
            self.start.format("%a %Y-%m-%d %H:%M"),
            self.end.format("%a %Y-%m-%d %H:%M UTC")
        )
    }
}

/// A change to an existing booking: the fields left `None` keep their old value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    /// Which of the person's existing bookings (index into `Case::existing`).
    pub index: usize,
    /// New model, if it changes.
    pub model: Option<String>,
    /// New count, if it changes.
    pub count: Option<u32>,
    /// New start, if it changes.
    pub start: Option<DateTime<Utc>>,
    /// New end, if it changes.
    pub end: Option<DateTime<Utc>>,
}

/// What must come of the conversation (conversation-format.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// Exactly one new booking with these values.
    Book(Spec),
    /// Nothing created, changed or cancelled.
    None,
    /// Exactly these existing bookings cancelled.
    Cancel(Vec<usize>),
    /// One existing booking now has other values.
    Change(Changed),
    /// Nothing changed, and the last reply holds every `reply_has` string.
    Answer,
}

impl Expect {
    /// The person's confirmed bookings at the end, if the expectation is met, given those at
    /// the start (a change may be made in place or as cancel-then-book: both end the same).
    pub fn final_bookings(&self, existing: &[Spec]) -> Vec<Spec> {
        let mut out: Vec<Spec> = existing.to_vec();
        match self {
            Expect::Book(b) => out.push(b.clone()),
            Expect::None | Expect::Answer => {}
            Expect::Cancel(idx) => {
                out = existing
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !idx.contains(i))
                    .map(|(_, b)| b.clone())
                    .collect();
            }
            Expect::Change(c) => {
                let b = &mut out[c.index];
                if let Some(m) = &c.model {
                    b.model = m.clone();
                }
                if let Some(n) = c.count {
                    b.count = n;
                }
                if let Some(s) = c.start {
                    b.start = s;
                }
                if let Some(e) = c.end {
                    b.end = e;
                }
            }
        }
        out.sort();
        out
    }

    /// The wire name (`book`, `none`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Expect::Book(_) => "book",
            Expect::None => "none",
            Expect::Cancel(_) => "cancel",
            Expect::Change(_) => "change",
            Expect::Answer => "answer",
        }
    }
}

/// One conversation of one person with a fresh booking database.
#[derive(Debug, Clone)]
pub struct Case {
    /// Short name, unique within its origin.
    pub name: String,
    /// Where it comes from: a file path, or `generator seed N`.
    pub origin: String,
    /// The fixed clock.
    pub now: DateTime<Utc>,
    /// The server's timezone setting.
    pub tz: Tz,
    /// The person's bookings when the conversation starts.
    pub existing: Vec<Spec>,
    /// Someone else's bookings (capacity the person cannot see or change).
    pub others: Vec<Spec>,
    /// What the person types, in order.
    pub turns: Vec<String>,
    /// What must come of it.
    pub expect: Expect,
    /// Strings (case-insensitive) the last reply must hold.
    pub reply_has: Vec<String>,
    /// Categories for the report (surface forms used, negative kind, ...).
    pub tags: Vec<String>,
    /// The turns (indexes) at which a booking may be made, changed or cancelled — the
    /// person's yes turns — when the writer knows them (the generator does). Whatever it is,
    /// nothing may happen at the first turn: no proposal can have been accepted yet.
    pub act_turns: Option<Vec<usize>>,
}

impl Case {
    /// `origin: name`, for messages.
    pub fn label(&self) -> String {
        format!("{}: {}", self.origin, self.name)
    }
}
