//! What answers a message: the built-in assistant (default) or an LLM, both acting only
//! through [`tools::Tools`].

pub mod builtin;
pub mod holds;
pub mod llm;
pub mod series;
pub mod tools;

use crate::domain::{Owner, SessionId};
use crate::store::sessions::Message;
use async_trait::async_trait;
use serde::Serialize;
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedSender;
use tools::BookingView;

/// Which backend produced a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// The built-in assistant.
    Builtin,
    /// The configured LLM.
    Llm,
    /// The built-in assistant standing in for an LLM that is down.
    Fallback,
}

impl Backend {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Builtin => "builtin",
            Backend::Llm => "llm",
            Backend::Fallback => "fallback",
        }
    }
}

/// What a turn changed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// A booking was made.
    BookingCreated {
        /// The booking.
        booking: BookingView,
    },
    /// A booking was changed in place (same id).
    BookingChanged {
        /// The booking after the change.
        booking: BookingView,
    },
    /// A booking was cancelled.
    BookingCancelled {
        /// The booking.
        booking: BookingView,
    },
}

/// One turn as the assistant sees it.
pub struct TurnInput<'a> {
    /// Who is asking (bookings are made and listed as this owner).
    pub caller: &'a Owner,
    /// The chat session (`None` for a stateless question): proposals are keyed by it so
    /// that each is booked at most once.
    pub session: Option<&'a SessionId>,
    /// The message, trimmed.
    pub message: &'a str,
    /// Earlier messages of the session, in order.
    pub history: &'a [Message],
    /// Dialogue state left by the previous turn (`Null` at first).
    pub state: serde_json::Value,
    /// Whether this turn may change bookings (`false` for the stateless direct chat).
    pub can_act: bool,
    /// Where to send pieces of the reply as they are produced (streaming).
    pub deltas: Option<&'a UnboundedSender<String>>,
}

/// What a reply asks the person to confirm (clients offer buttons for the yes and the no).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProposalKind {
    /// A new booking.
    Book,
    /// A change of a booking.
    Change,
    /// A cancellation.
    Cancel,
}

/// The assistant's answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The text (Markdown).
    pub text: String,
    /// What changed.
    pub actions: Vec<Action>,
    /// Who answered.
    pub backend: Backend,
    /// Dialogue state to keep for the next turn.
    pub state: serde_json::Value,
    /// What the reply proposes and waits for a yes to, if anything.
    pub proposal: Option<ProposalKind>,
}

/// Why an assistant could not answer.
#[derive(Debug, thiserror::Error)]
pub enum AssistantError {
    /// A dependency was unavailable.
    #[error("{0}")]
    Unavailable(String),
    /// Anything else.
    #[error("{0}")]
    Failed(String),
}

/// A backend. `open` prepares what one session needs; it may be slow and runs once per
/// session (single flight in the engine); `Conversation::reply` answers one turn.
#[async_trait]
pub trait Assistant: Send + Sync {
    /// Prepares a conversation (for `None`, a stateless one-off question).
    async fn open(
        &self,
        session: Option<&SessionId>,
    ) -> Result<Arc<dyn Conversation>, AssistantError>;

    /// How many of the most recent messages a turn needs to see (`None`: all of them).
    fn history_window(&self) -> Option<usize> {
        None
    }
}

/// One session's conversation with a backend.
#[async_trait]
pub trait Conversation: Send + Sync {
    /// Answers one turn.
    async fn reply(&self, input: TurnInput<'_>) -> Result<Reply, AssistantError>;
}
