//! What a conversation remembers between turns: one enum of what is pending (so no two
//! flags can disagree) and a small memory for references ("it", "what about L40S?").
//! Stored as JSON in the session; a state that fails to decode is logged and replaced by
//! an idle one (see `State::decode`).

use super::super::nlu::Intent;
use super::super::when::Said;
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

/// A booking request being put together: what the person said, slot by slot. Times are
/// kept as said (a date, a time of day, a length) so a correction replaces one slot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Draft {
    pub model: Option<String>,
    /// Why this model, when a property chose it ("the cheapest with at least 48 GB").
    pub model_why: Option<String>,
    pub count: Option<u32>,
    /// "all" of the model.
    pub count_all: bool,
    /// A plural was said without a number ("some GPUs"): how many is asked, not assumed.
    pub count_open: bool,
    pub date: Option<NaiveDate>,
    pub end_date: Option<NaiveDate>,
    pub start: Option<NaiveTime>,
    pub end: Option<NaiveTime>,
    pub end_midnight: bool,
    pub whole_days: bool,
    /// Length in minutes.
    pub minutes: Option<i64>,
    /// Start relative to now, in minutes.
    pub from_now: Option<i64>,
    /// When `from_now` was said (a later turn must not move it).
    pub said_at: Option<DateTime<Utc>>,
    /// A day was said but could not be read: a later time without a day must not fall back
    /// to today.
    pub day_unread: bool,
    /// "under $40": the most the booking may cost, in cents (checked before proposing).
    pub budget: Option<i64>,
}

impl Draft {
    /// Forgets every time slot: what was said about time was not wholly understood, so no
    /// part of it may be proposed later.
    pub fn forget_time(&mut self) {
        *self = Draft {
            model: self.model.take(),
            model_why: self.model_why.take(),
            count: self.count,
            count_all: self.count_all,
            count_open: self.count_open,
            budget: self.budget,
            day_unread: true,
            ..Draft::default()
        };
    }

    /// Whether any time slot is filled.
    pub fn has_time(&self) -> bool {
        self.date.is_some()
            || self.start.is_some()
            || self.from_now.is_some()
            || self.minutes.is_some()
            || self.end.is_some()
            || self.whole_days
    }

    /// Takes every time slot of `other` (a request that said no time of its own, building
    /// on the question just answered).
    pub fn take_time_from(&mut self, other: &Draft) {
        self.date = other.date;
        self.end_date = other.end_date;
        self.start = other.start;
        self.end = other.end;
        self.end_midnight = other.end_midnight;
        self.whole_days = other.whole_days;
        self.minutes = other.minutes;
        self.from_now = other.from_now;
        self.said_at = other.said_at;
    }

    /// Takes what `said` names, slot by slot; everything else stays ("the 21st, not the
    /// 20th" changes the date only; "3 till 5 instead" the times only).
    pub fn absorb_time(&mut self, said: &Said, now: DateTime<Utc>) {
        if let Some(d) = said.from_now {
            self.from_now = Some(d.num_minutes());
            self.said_at = Some(now);
            self.date = None;
            self.start = None;
            self.whole_days = false;
        }
        if said.date.is_some() || said.from_now.is_some() {
            self.day_unread = false;
        }
        if let Some(date) = said.date {
            // A range of days moves as a whole when only its first day is corrected.
            if said.end_date.is_none() {
                if let (Some(old), Some(end)) = (self.date, self.end_date) {
                    self.end_date = Some(end + (date - old));
                }
            }
            self.date = Some(date);
            self.from_now = None;
        }
        if said.end_date.is_some() {
            self.end_date = said.end_date;
        }
        if said.whole_days {
            self.whole_days = true;
            self.start = None;
            self.end = None;
            self.minutes = None;
        }
        match (
            said.start,
            said.end.or(said.end_midnight.then_some(NaiveTime::MIN)),
        ) {
            (Some(s), Some(e)) => {
                self.start = Some(s);
                self.end = Some(e);
                self.end_midnight = said.end_midnight;
                self.minutes = None;
                self.whole_days = false;
                self.from_now = None;
            }
            (Some(s), None) => {
                // A new start keeps the length: "at 10 instead" of 9-5 is 10-18.
                if let (Some(old), Some(end), false) = (self.start, self.end, self.end_midnight) {
                    let len = end - old;
                    if len > Duration::zero() && said.duration.is_none() {
                        self.minutes = Some(len.num_minutes());
                        self.end = None;
                    }
                }
                self.start = Some(s);
                self.whole_days = false;
                self.from_now = None;
            }
            (None, Some(e)) if !said.whole_days => {
                self.end = Some(e);
                self.end_midnight = said.end_midnight;
                self.minutes = None;
                self.whole_days = false;
            }
            (None, Some(_)) => {}
            (None, None) => {}
        }
        // "an hour later" moves the period; "2h more" lengthens it. Only within its day: a
        // move across midnight is not applied (the caller then asks rather than repeats).
        if let (Some(sh), Some(start)) = (said.shift, self.start) {
            let (s, e) = (
                start.overflowing_add_signed(sh),
                self.end.map(|e| e.overflowing_add_signed(sh)),
            );
            if s.1 == 0 && e.is_none_or(|e| e.1 == 0) && !self.end_midnight {
                self.start = Some(s.0);
                self.end = e.map(|e| e.0);
            }
        }
        if let Some(extra) = said.extra {
            match (self.end, self.minutes) {
                (Some(end), _) if !self.end_midnight => {
                    let (e, wrap) = end.overflowing_add_signed(extra);
                    if wrap == 0 && e > end {
                        self.end = Some(e);
                    }
                }
                (None, Some(m)) => self.minutes = Some(m + extra.num_minutes()),
                _ => {}
            }
        }
        if let Some(d) = said.duration {
            self.minutes = Some(d.num_minutes());
            if said.end.is_none() && !said.end_midnight {
                self.end = None;
                self.end_midnight = false;
                if said.end_date.is_none() {
                    self.end_date = None;
                }
            }
            if !said.whole_days {
                self.whole_days = false;
            }
        }
    }
}

/// The slot the assistant asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Slot {
    Model,
    Count,
    Start,
    Length,
}

/// What a confirmed proposal will do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Act {
    /// Make a booking.
    Book {
        /// What was said, for corrections before the yes.
        draft: Draft,
        model: String,
        count: u32,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        /// The hold keeping the quoted GPUs while the yes is awaited (API.md "Holds"): the
        /// yes confirms it, so what was quoted is what is booked. `None` when no hold could
        /// be made (the yes then books, if the GPUs are still free).
        #[serde(default)]
        hold: Option<String>,
    },
    /// Change a booking in place.
    Change {
        booking: String,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        count: u32,
        /// What was asked, for corrections before the yes ("sorry, 3 hours").
        #[serde(default)]
        ask: super::step::ChangeAsk,
    },
    /// Cancel bookings.
    Cancel { bookings: Vec<String> },
}

/// A proposal waiting for a yes: the act and its id (a booking records the proposal it
/// came from, so a repeated yes cannot book twice).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    pub id: String,
    pub act: Act,
    /// The price stated, in cents.
    pub price_cents: i64,
    /// The sentence that stated it (repeated when asked "how much?").
    pub stated: String,
}

/// What to do with the booking being chosen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Purpose {
    Cancel,
    Change { ask: Box<super::step::ChangeAsk> },
}

/// What the conversation waits for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "pending", rename_all = "snake_case")]
pub enum Pending {
    /// Nothing.
    #[default]
    Idle,
    /// A booking request with a slot asked for.
    Filling { draft: Draft, asking: Slot },
    /// A proposal stated; only a yes to it acts.
    Confirming { proposal: Proposal },
    /// Which of several bookings.
    Choosing {
        purpose: Purpose,
        candidates: Vec<String>,
    },
}

/// What references need.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Memory {
    /// The last booking made or changed in this chat ("cancel it").
    pub last_booking: Option<String>,
    /// Booking ids in the order last shown ("the second one").
    pub listed: Vec<String>,
    /// The topic of the last answer ("what about L40S?").
    pub topic: Option<Intent>,
    /// The model, count and time of the last question ("book it").
    pub context: Draft,
    /// A free time suggested when the one asked for was taken ("book it" takes it).
    pub suggestion: Option<Draft>,
    /// The request that did not fit, for "put me on the waitlist" (API.md "Waitlist").
    pub waitable: Option<WaitRequest>,
    /// This chat put the person on the waitlist: offers are looked for on each turn.
    pub waiting: bool,
    /// Waitlist entries whose offer this chat has told (each is told once).
    pub offers_seen: Vec<String>,
    /// The last `maintenance.affected` notice this chat has told (each is told once).
    pub notices_seen: i64,
}

/// A request that did not fit, as the waitlist would hold it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaitRequest {
    pub model: String,
    pub count: u32,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// The whole state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct State {
    pub pending: Pending,
    pub memory: Memory,
}

impl State {
    /// Decodes the stored state; a state that cannot be read is logged (never silently
    /// dropped) and the conversation goes on from idle.
    pub fn decode(value: &serde_json::Value) -> State {
        if value.is_null() {
            return State::default();
        }
        match serde_json::from_value(value.clone()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "dialogue state could not be decoded; starting idle");
                State::default()
            }
        }
    }
}
