//! The built-in assistant: offline understanding of how people ask for GPUs — no model
//! files, no network. Also the stand-in when an LLM is down.

pub mod clauses;
pub mod dialogue;
pub mod format;
pub mod lexicon;
pub mod nlu;
pub mod unread;
pub mod when;
pub mod words;
pub mod workload;
pub mod zone;

#[cfg(test)]
mod nlu_tests;

use super::tools::Tools;
use super::{Assistant, AssistantError, Backend, Conversation, ProposalKind, Reply, TurnInput};
use crate::config::Config;
use crate::domain::SessionId;
use crate::store::sessions::Role;
use async_trait::async_trait;
use std::sync::Arc;

/// The built-in assistant.
#[derive(Clone)]
pub struct Builtin {
    tools: Tools,
    centre: String,
    currency: String,
    tz: chrono_tz::Tz,
    /// The session this conversation belongs to (proposal keys); `None` for direct chat.
    session: Option<String>,
}

impl Builtin {
    /// A built-in assistant over `tools`.
    pub fn new(tools: Tools, config: &Config) -> Self {
        Self {
            tools,
            centre: config.centre_name.clone(),
            currency: config.currency.clone(),
            tz: config.timezone,
            session: None,
        }
    }

    /// Answers one message given the dialogue state; returns the reply and the new state.
    pub async fn answer(
        &self,
        input: &TurnInput<'_>,
        backend: Backend,
    ) -> Result<Reply, AssistantError> {
        let inventory = self
            .tools
            .inventory()
            .await
            .map_err(|e| AssistantError::Unavailable(e.to_string()))?;
        let now = self.tools.clock().now();
        let parsed = nlu::parse(input.message, &inventory, now.with_timezone(&self.tz));
        let mut state = dialogue::State::decode(&input.state);
        let ctx = dialogue::Ctx {
            tools: &self.tools,
            caller: input.caller,
            tz: self.tz,
            centre: &self.centre,
            currency: &self.currency,
            can_act: input.can_act,
            session: self.session.as_deref(),
            previous_hold: None,
        };
        // A conversation held by the client (the OpenAI-compatible route sends its messages,
        // no state): the person's earlier messages are read again, in order and without
        // acting, so "what about L40S?" or a yes means what it meant there.
        if input.state.is_null() {
            let replay = dialogue::Ctx {
                can_act: false,
                ..ctx
            };
            for said in input.history.iter().filter(|m| m.role == Role::User) {
                let earlier = nlu::parse(&said.content, &inventory, now.with_timezone(&self.tz));
                dialogue::respond(&replay, &inventory, now, &earlier, &mut state).await;
            }
        }
        let waiting_before = proposal_id(&state);
        let held_before = held(&state);
        let ctx = dialogue::Ctx {
            previous_hold: held_before.as_deref(),
            ..ctx
        };
        let mut out = dialogue::respond(&ctx, &inventory, now, &parsed, &mut state).await;
        if input.can_act {
            if let Some(told) = self.waitlist_offer(input.caller, &mut state).await {
                out.text = format!("{}\n\n{told}", out.text);
            }
            if let Some(told) = self.maintenance_news(input.caller, &mut state).await {
                out.text = format!("{}\n\n{told}", out.text);
            }
        }
        // A quote that no longer waits (a no, a correction, another request) gives its GPUs
        // back at once instead of keeping them from others until its hold expires (one the
        // yes confirmed is a booking now, and giving it back changes nothing).
        if let Some(h) = held_before.filter(|h| held(&state).as_ref() != Some(h)) {
            if let Err(e) = self.tools.release_hold(input.caller, &h).await {
                tracing::debug!(error = %e, "a dropped quote's hold was not given back");
            }
        }
        if let Some(d) = input.deltas {
            // The reply in pieces of a few words, as a streamed reply would come.
            let mut piece = String::new();
            for (i, w) in out.text.split_inclusive(' ').enumerate() {
                piece.push_str(w);
                if i % 4 == 3 {
                    let _ = d.send(std::mem::take(&mut piece));
                }
            }
            if !piece.is_empty() {
                let _ = d.send(piece);
            }
        }
        // A proposal this reply states (new, or changed by a correction); one that still waits
        // from an earlier turn while this one answered a question is not offered again.
        let proposal = match &state.pending {
            dialogue::state::Pending::Confirming { proposal }
                if waiting_before.as_deref() != Some(proposal.id.as_str()) =>
            {
                Some(match proposal.act {
                    dialogue::state::Act::Book { .. } => ProposalKind::Book,
                    dialogue::state::Act::Change { .. } => ProposalKind::Change,
                    dialogue::state::Act::Cancel { .. } => ProposalKind::Cancel,
                })
            }
            _ => None,
        };
        Ok(Reply {
            text: out.text,
            actions: out.actions,
            backend,
            state: serde_json::to_value(&state).unwrap_or_default(),
            proposal,
        })
    }
}

impl Builtin {
    /// What maintenance did to the person's bookings since this chat last told them
    /// (API.md: "an event that concerns the person is shown on their next turn"): each
    /// moved or cancelled booking that has not ended, once per chat.
    async fn maintenance_news(
        &self,
        caller: &crate::domain::Owner,
        state: &mut dialogue::State,
    ) -> Option<String> {
        use crate::domain::webhook::EventType;
        let seen = state.memory.notices_seen;
        let news = self
            .tools
            .store()
            .notices(caller, &[EventType::MaintenanceAffected], seen)
            .await
            .ok()?;
        let now = self.tools.clock().now();
        let mut told = Vec::new();
        for n in &news {
            state.memory.notices_seen = state.memory.notices_seen.max(n.seq);
            let Some(b) = n.booking.as_ref().filter(|b| b.interval.end() > now) else {
                continue;
            };
            let m = &n.data["maintenance"];
            let reason = m["reason"].as_str().unwrap_or("maintenance");
            let what = format!(
                "{} × {} for {}",
                b.count(),
                b.model,
                format::span(&b.interval, self.tz)
            );
            told.push(match n.data["outcome"].as_str() {
                Some("moved") => format!(
                    "Maintenance ({reason}) moved your booking {} ({what}) to other GPUs: {}. \
                     Its times and price are the same.",
                    b.id,
                    format::devices(&b.gpus)
                ),
                _ => format!(
                    "Maintenance ({reason}) cancelled your booking {} ({what}): no other GPUs \
                     of that model were free. Its price is released.",
                    b.id
                ),
            });
        }
        (!told.is_empty()).then(|| told.join("\n\n"))
    }

    /// A waitlist offer not told yet (API.md "Waitlist": "an offer is shown on the person's
    /// next turn"): when nothing else waits for a yes, it becomes the proposal, so a yes
    /// confirms its hold. Looked for only while this chat has the person in line.
    async fn waitlist_offer(
        &self,
        caller: &crate::domain::Owner,
        state: &mut dialogue::State,
    ) -> Option<String> {
        use dialogue::state::{Act, Pending, Proposal};
        if !state.memory.waiting || !matches!(state.pending, Pending::Idle) {
            return None;
        }
        let now = self.tools.clock().now();
        let entries = self.tools.store().waitlist(caller).await.ok()?;
        state.memory.waiting = entries.iter().any(|(e, _)| {
            matches!(
                e.status,
                crate::domain::waitlist::EntryStatus::Waiting
                    | crate::domain::waitlist::EntryStatus::Offered
            )
        });
        for (e, _) in entries {
            let Some(hold_id) = e.hold.as_ref() else {
                continue;
            };
            if state.memory.offers_seen.contains(&e.id.to_string()) {
                continue;
            }
            let Ok(hold) = self.tools.hold_of(caller, hold_id.as_str()).await else {
                continue;
            };
            if !hold.is_live(now) {
                continue;
            }
            state.memory.offers_seen.push(e.id.to_string());
            let stated = format!(
                "From the waitlist: **{} × {}** ({}) for **{}** came free and are held for you until {} — **{}** in total. Shall I book them? (yes / no)",
                hold.count(),
                hold.model,
                format::devices(&hold.gpus),
                format::span(&hold.interval, self.tz),
                hold.expires_at.with_timezone(&self.tz).format("%H:%M %Z"),
                format::money(hold.price_total, &self.currency)
            );
            state.pending = Pending::Confirming {
                proposal: Proposal {
                    id: uuid::Uuid::new_v4().simple().to_string(),
                    act: Act::Book {
                        draft: Default::default(),
                        model: hold.model.clone(),
                        count: hold.count(),
                        start: hold.interval.start(),
                        end: hold.interval.end(),
                        hold: Some(hold.id.to_string()),
                    },
                    price_cents: hold.price_total.0,
                    stated: stated.clone(),
                },
            };
            return Some(stated);
        }
        None
    }
}

/// The hold of the booking proposal waiting for a yes in `state`, if any.
fn held(state: &dialogue::State) -> Option<String> {
    match &state.pending {
        dialogue::state::Pending::Confirming { proposal } => match &proposal.act {
            dialogue::state::Act::Book { hold, .. } => hold.clone(),
            _ => None,
        },
        _ => None,
    }
}

/// The id of the proposal waiting for a yes in `state`, if any.
fn proposal_id(state: &dialogue::State) -> Option<String> {
    match &state.pending {
        dialogue::state::Pending::Confirming { proposal } => Some(proposal.id.clone()),
        _ => None,
    }
}

#[async_trait]
impl Assistant for Builtin {
    async fn open(
        &self,
        session: Option<&SessionId>,
    ) -> Result<Arc<dyn Conversation>, AssistantError> {
        let mut c = self.clone();
        c.session = session.map(|s| s.to_string());
        Ok(Arc::new(c))
    }

    fn history_window(&self) -> Option<usize> {
        // The dialogue state carries what it needs; the text of earlier turns is not read.
        Some(0)
    }
}

#[async_trait]
impl Conversation for Builtin {
    async fn reply(&self, input: TurnInput<'_>) -> Result<Reply, AssistantError> {
        self.answer(&input, Backend::Builtin).await
    }
}
