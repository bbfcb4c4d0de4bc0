//! The dialogue state the LLM backend keeps (a proposal waiting for a yes). Kept apart
//! from the built-in assistant's state machine, whose state has its own shape.

use crate::assistant::builtin::nlu::Intent;
use crate::domain::Interval;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A booking being put together.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Draft {
    pub model: Option<String>,
    pub count: Option<u32>,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    /// A length given before the start.
    pub minutes: Option<i64>,
    /// The hold keeping a proposed booking's GPUs for the yes (API.md "Holds").
    #[serde(default)]
    pub hold: Option<String>,
}

impl Draft {
    pub fn interval(&self) -> Option<Interval> {
        Interval::new(self.start?, self.end?).ok()
    }
}

/// What the session remembers between turns.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct State {
    /// The topic of the last turn (for "what about L40S?").
    pub topic: Option<Intent>,
    /// The last model, count and window talked about (for "book it").
    pub context: Draft,
    /// A booking being filled in.
    pub draft: Option<Draft>,
    /// A complete booking waiting for yes/no.
    pub confirm: Option<Draft>,
    /// Waiting for which booking to cancel.
    pub choosing_cancel: bool,
    /// The last booking made in this chat ("move it to Tuesday").
    pub last_booking: Option<String>,
    /// The booking that the one waiting for a yes replaces.
    pub replacing: Option<String>,
}
