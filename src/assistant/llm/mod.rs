//! The LLM backend: an OpenAI-compatible model that acts only through [`Tools`], as the
//! caller, with at most [`MAX_TOOL_ROUNDS`] tool rounds a turn. A booking needs the
//! confirmation turn: the model can only *propose* one; `confirm_booking` books only what
//! was proposed in an earlier turn, and only when the person's message is a yes.
//! While the upstream's breaker is open, or when a call fails before any output was
//! streamed, the built-in assistant answers (`backend: "fallback"`).
//!
//! Exactly once: each proposal (booking or change) gets a random id kept in the session
//! state; confirming books it through [`Tools::book_proposal`] / [`Tools::change`] with the
//! key (session, id), so a second `confirm_*` in one reply, a retried yes after a turn that
//! timed out or lost its stream, or a turn whose next LLM round failed, returns what was
//! booked instead of booking again. A turn that acted and then lost the LLM still answers,
//! saying what was done.

pub mod breaker;
pub mod client;
pub mod mock;
pub mod state;

use super::builtin::format::{devices, span};
use super::builtin::{nlu, Builtin};
use super::tools::{BookingChange, BookingView, ProposalKey, SlotQuery, ToolError, Tools};
use super::{
    Action, Assistant, AssistantError, Backend, Conversation, ProposalKind, Reply, TurnInput,
};
use crate::domain::{Interval, SessionId};
use crate::store::sessions::Role;
use async_trait::async_trait;
use breaker::{Admission, Breaker};
use chrono::{DateTime, Utc};
use client::{ChatMessage, LlmClient, ToolCall, WireFunction, WireToolCall};
use serde_json::value::RawValue;
use serde_json::{json, Value};
use state::{Draft, State};
use std::sync::Arc;
use std::sync::OnceLock;
use std::time::Instant;

/// Most tool rounds in one turn.
pub const MAX_TOOL_ROUNDS: usize = 5;

/// The notice put before a fallback reply.
pub const FALLBACK_NOTICE: &str =
    "_The AI assistant is unavailable right now, so the built-in assistant answered._\n\n";

/// The LLM backend (cheap to clone: shared client and breaker).
#[derive(Clone)]
pub struct Llm {
    client: Arc<LlmClient>,
    breaker: Arc<Breaker>,
    tools: Tools,
    builtin: Builtin,
    centre: String,
    tz: chrono_tz::Tz,
    max_history: usize,
    /// The inventory last written into a system prompt, with its text.
    inventory_text: Arc<std::sync::Mutex<InventoryText>>,
}

/// An inventory and its lines of the system prompt.
type InventoryText = Option<(Arc<crate::domain::Inventory>, Arc<str>)>;

/// Resets a half-open breaker if its probe is cancelled before it resolves.
struct ProbeGuard<'a> {
    breaker: &'a Breaker,
    armed: bool,
}

impl Drop for ProbeGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.breaker.abandon_probe();
        }
    }
}

fn schema(name: &str, description: &str, params: Value) -> Value {
    json!({"type": "function", "function": {"name": name, "description": description, "parameters": params}})
}

/// The tool schemas as JSON text, made once.
fn tools_json() -> &'static RawValue {
    static TOOLS: OnceLock<Box<RawValue>> = OnceLock::new();
    TOOLS.get_or_init(|| {
        serde_json::value::to_raw_value(&tool_schemas()).expect("tool schemas serialise")
    })
}

/// The tools offered to the model, with JSON schemas.
pub fn tool_schemas() -> Value {
    let window = json!({"type": "object", "properties": {
        "model": {"type": "string", "description": "GPU model, e.g. A100-80GB"},
        "start": {"type": "string", "description": "RFC 3339 time with offset"},
        "end": {"type": "string", "description": "RFC 3339 time with offset"}}, "required": ["model", "start", "end"]});
    let booking = json!({"type": "object", "properties": {
        "model": {"type": "string"}, "count": {"type": "integer", "minimum": 1, "maximum": 64},
        "start": {"type": "string", "description": "RFC 3339"}, "end": {"type": "string", "description": "RFC 3339"}},
        "required": ["model", "count", "start", "end"]});
    json!([
        schema("list_gpus", "The GPU models with memory, total devices, devices free now and hourly price.", json!({"type": "object", "properties": {}})),
        schema("check_availability", "How many GPUs of a model are free over a time window.", window),
        schema("quote", "The price of count GPUs of a model over a window.", booking.clone()),
        schema("propose_booking", "Check a booking and hold it for the user's confirmation. Show the returned details and ask the user to confirm; do not claim it is booked.", booking),
        schema("confirm_booking", "Book the booking proposed earlier, after the user has said yes in their latest message.", json!({"type": "object", "properties": {}})),
        schema("list_my_bookings", "The user's bookings, newest first.", json!({"type": "object", "properties": {}})),
        schema("find_slots", "The earliest windows in which count GPUs are free for a whole duration, cheapest first on equal starts. Offer these when the wanted time is full.", json!({"type": "object", "properties": {
            "model": {"type": "string", "description": "GPU model; omit to search every model"},
            "count": {"type": "integer", "minimum": 1, "maximum": 64},
            "duration": {"type": "string", "description": "length, e.g. 90m, 8h, 2d"},
            "after": {"type": "string", "description": "RFC 3339; default now"},
            "before": {"type": "string", "description": "RFC 3339; default 30 days after `after`"},
            "limit": {"type": "integer", "minimum": 1, "maximum": 50}}, "required": ["count", "duration"]})),
        schema("propose_change", "Check a change of one of the user's bookings (new start, end and/or count; a started booking can change only its end) and hold it for confirmation. Show the returned details and ask the user to confirm.", json!({"type": "object", "properties": {
            "booking_id": {"type": "string"}, "start": {"type": "string", "description": "RFC 3339"},
            "end": {"type": "string", "description": "RFC 3339"}, "count": {"type": "integer", "minimum": 1, "maximum": 64}}, "required": ["booking_id"]})),
        schema("confirm_change", "Make the change proposed earlier, after the user has said yes in their latest message.", json!({"type": "object", "properties": {}})),
        schema("propose_cancel", "Check one of the user's bookings by id (or a unique prefix of 4+ characters) and hold its cancellation for the user's confirmation. Show the booking and ask the user to confirm.", json!({"type": "object", "properties": {"booking_id": {"type": "string"}}, "required": ["booking_id"]})),
        schema("cancel_booking", "Cancel the booking proposed earlier with propose_cancel, after the user has said yes in their latest message.", json!({"type": "object", "properties": {}})),
    ])
}

fn time_arg(args: &Value, key: &str) -> Result<DateTime<Utc>, String> {
    let s = args[key]
        .as_str()
        .ok_or_else(|| format!("`{key}` is missing"))?;
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("`{key}` must be RFC 3339 with an offset, got `{s}`"))
}

fn window_arg(args: &Value) -> Result<Interval, String> {
    Interval::new(time_arg(args, "start")?, time_arg(args, "end")?)
}

fn tool_err(e: ToolError) -> Value {
    json!({"error": e.to_string()})
}

/// Where the LLM keeps its proposal ids in the session state (beside the dialogue state
/// the built-in assistant shares).
const PENDING_KEY: &str = "llm_pending";

/// The LLM's proposals waiting for a yes, each with the id that makes it happen once.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
struct Pending {
    /// The id of the booking proposal in `State::confirm`.
    booking: Option<String>,
    /// A change waiting for a yes.
    change: Option<PendingChange>,
    /// A cancellation waiting for a yes (the booking's full id).
    cancel: Option<String>,
}

/// A proposed change of a booking.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct PendingChange {
    id: String,
    booking_id: String,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    count: Option<u32>,
}

/// A fresh proposal id (128 random bits).
fn proposal_id() -> String {
    crate::domain::BookingId::new().to_string()
}

/// What the turn's mutable parts are.
struct TurnState {
    state: State,
    pending: Pending,
}

/// What was proposed before this turn (only those can be confirmed in it).
struct Before {
    booking: Option<(Draft, Option<String>)>,
    change: Option<PendingChange>,
    cancel: Option<String>,
}

impl Before {
    /// Whether anything waits for a yes.
    fn is_some(&self) -> bool {
        self.booking.is_some() || self.change.is_some() || self.cancel.is_some()
    }
}

/// The tools that act on a yes.
const CONFIRMS: [&str; 3] = ["confirm_booking", "confirm_change", "cancel_booking"];

/// A reply that says what a turn did when the LLM could not finish it.
fn acted_summary(actions: &[Action]) -> String {
    let mut lines = vec!["_The AI assistant stopped answering, but this was done:_".to_string()];
    for a in actions {
        let (what, b) = match a {
            Action::BookingCreated { booking } => ("Booked", booking),
            Action::BookingCancelled { booking } => ("Cancelled", booking),
            Action::BookingChanged { booking } => ("Changed", booking),
        };
        lines.push(format!(
            "- {what} `{}`: {} × {}, {} – {}, {}",
            &booking_short(&b.id),
            b.count,
            b.model,
            b.start.to_rfc3339(),
            b.end.to_rfc3339(),
            b.price_total
        ));
    }
    lines.push("Say \"my bookings\" to see them.".into());
    lines.join("\n")
}

fn booking_short(id: &str) -> String {
    id.chars().take(8).collect()
}

fn opt_time(args: &Value, key: &str) -> Result<Option<DateTime<Utc>>, String> {
    if args.get(key).is_none_or(Value::is_null) {
        return Ok(None);
    }
    time_arg(args, key).map(Some)
}

impl Llm {
    /// An LLM backend over a shared client and breaker, falling back to `builtin`.
    pub fn new(
        client: Arc<LlmClient>,
        breaker: Arc<Breaker>,
        tools: Tools,
        builtin: Builtin,
        centre: String,
        tz: chrono_tz::Tz,
        max_history: usize,
    ) -> Self {
        Self {
            client,
            breaker,
            tools,
            builtin,
            centre,
            tz,
            max_history,
            inventory_text: Default::default(),
        }
    }

    /// The inventory's lines of the system prompt, written once per inventory read.
    fn inventory_text(&self, inv: &Arc<crate::domain::Inventory>) -> Arc<str> {
        let mut last = self.inventory_text.lock().expect("inventory text");
        if let Some((_, text)) = last.as_ref().filter(|(seen, _)| Arc::ptr_eq(seen, inv)) {
            return text.clone();
        }
        let text: Arc<str> = inv
            .models()
            .iter()
            .map(|m| {
                format!(
                    "- {}: {} GB, {} devices, {} per GPU-hour",
                    m.name,
                    m.memory_gb,
                    m.total(),
                    m.price_per_hour
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
            .into();
        *last = Some((inv.clone(), text.clone()));
        text
    }

    async fn system_prompt(&self) -> String {
        // The cached inventory: no per-turn availability queries (the model asks a tool).
        let inventory = match self.tools.inventory().await {
            Ok(inv) => self.inventory_text(&inv),
            Err(_) => "(unavailable: call list_gpus)".into(),
        };
        let now = self.tools.clock().now().with_timezone(&self.tz);
        format!(
            "You are the GPU booking assistant of {centre}. Now is {now} (time zone {tz}); read the times people type in that zone and pass tool times as RFC 3339 with an offset.\n\
             Inventory:\n{inventory}\n\
             Use the tools for every fact about availability, prices and bookings. To book: call propose_booking, state the model, count, nodes, times and price, and ask the user to confirm. Only when the user confirms in their next message, call confirm_booking. Never claim a booking exists unless confirm_booking returned it. Answer briefly in Markdown.",
            centre = self.centre,
            now = now.to_rfc3339(),
            tz = self.tz,
        )
    }

    /// Runs one tool call as the caller.
    async fn run_tool(
        &self,
        call: &ToolCall,
        input: &TurnInput<'_>,
        turn: &mut TurnState,
        before: &Before,
        user_said_yes: bool,
        actions: &mut Vec<Action>,
    ) -> Value {
        let state = &mut turn.state;
        let args: Value = serde_json::from_str(if call.arguments.trim().is_empty() {
            "{}"
        } else {
            &call.arguments
        })
        .unwrap_or(Value::Null);
        if !args.is_object() {
            return json!({"error": "arguments must be a JSON object"});
        }
        let t = &self.tools;
        match call.name.as_str() {
            "list_gpus" => t.gpus().await.map(|g| json!(g)).unwrap_or_else(tool_err),
            "check_availability" => match window_arg(&args) {
                Ok(w) => t
                    .availability(args["model"].as_str().unwrap_or_default(), w)
                    .await
                    .map(|a| json!(a))
                    .unwrap_or_else(tool_err),
                Err(e) => json!({"error": e}),
            },
            "quote" => match window_arg(&args) {
                Ok(w) => {
                    let count = args["count"].as_u64().unwrap_or(1) as u32;
                    t.quote(args["model"].as_str().unwrap_or_default(), count, &w)
                        .await
                        .map(|q| json!({"model": q.model, "count": q.count, "price_per_hour": q.price_per_hour, "price_total": q.price_total}))
                        .unwrap_or_else(tool_err)
                }
                Err(e) => json!({"error": e}),
            },
            "propose_booking" => {
                let w = match window_arg(&args) {
                    Ok(w) => w,
                    Err(e) => return json!({"error": e}),
                };
                let count = args["count"].as_i64().unwrap_or(0);
                let (model, count) = match t
                    .check(args["model"].as_str().unwrap_or_default(), count, &w)
                    .await
                {
                    Ok(x) => x,
                    Err(e) => return tool_err(e),
                };
                let quote = match t.quote(&model, count, &w).await {
                    Ok(q) => q,
                    Err(e) => return tool_err(e),
                };
                // A new proposal replaces the one before: its hold is given back first.
                if let Some(h) = state.confirm.as_ref().and_then(|d| d.hold.clone()) {
                    let _ = t.release_hold(input.caller, &h).await;
                }
                match t.preview(&model, count, &w).await {
                    Ok(Some(devs)) => {
                        // The proposal holds its GPUs, so the yes books exactly these.
                        let (devs, hold) = match t.hold(input.caller, &model, count as i64, w).await
                        {
                            Ok(h) => (h.gpus.clone(), Some(h.id.to_string())),
                            Err(_) => (devs, None),
                        };
                        state.confirm = Some(Draft {
                            model: Some(model.clone()),
                            count: Some(count),
                            start: Some(w.start()),
                            end: Some(w.end()),
                            minutes: None,
                            hold,
                        });
                        turn.pending.booking = Some(proposal_id());
                        json!({"status": "awaiting_confirmation", "model": model, "count": count, "nodes": devices(&devs), "when": span(&w, self.tz),
                               "start": w.start(), "end": w.end(), "price_total": quote.price_total,
                               "next": "Show these details and ask the user to confirm. Book only after they say yes, with confirm_booking."})
                    }
                    Ok(None) => {
                        let free = t
                            .availability(&model, w)
                            .await
                            .map(|a| a.bookable)
                            .unwrap_or(0);
                        let offer = t
                            .next_free(
                                &model,
                                count,
                                w.duration(),
                                w.start(),
                                chrono::Duration::days(14),
                            )
                            .await
                            .ok()
                            .flatten();
                        json!({"error": format!("only {free} {model} GPUs are free for that whole period"),
                               "nearest_free_slot": offer.map(|o| json!({"start": o.start(), "end": o.end()}))})
                    }
                    Err(e) => tool_err(e),
                }
            }
            "confirm_booking" => {
                if !input.can_act {
                    return json!({"error": "bookings cannot be made in this channel; the user must use a chat session"});
                }
                let Some((d, pid)) = before.booking.clone().filter(|_| user_said_yes) else {
                    return json!({"error": "the user has not confirmed a proposed booking in this message: call propose_booking, show the details, and ask them to confirm first"});
                };
                let (Some(model), Some(count), Some(start), Some(end)) =
                    (d.model, d.count, d.start, d.end)
                else {
                    return json!({"error": "no complete booking was proposed"});
                };
                let Ok(w) = Interval::new(start, end) else {
                    return json!({"error": "bad proposed window"});
                };
                // The proposal's hold books exactly its GPUs; an expired one falls back to
                // booking what is free, once, by the proposal's key.
                let confirmed = match &d.hold {
                    Some(h) => match t.confirm_hold(input.caller, h).await {
                        Ok((b, _)) => Some(Ok(b)),
                        Err(ToolError::Hold(_)) => None,
                        Err(e) => Some(Err(e)),
                    },
                    None => None,
                };
                let made = match (confirmed, pid, input.session) {
                    (Some(done), _, _) => done,
                    (None, Some(id), Some(session)) => {
                        let key = ProposalKey {
                            session: session.to_string(),
                            id,
                        };
                        t.book_proposal(input.caller, &model, count as i64, w, &key)
                            .await
                    }
                    // A proposal from before proposal ids: booked as before.
                    (None, _, _) => t.book(input.caller, &model, count as i64, w).await,
                };
                match made {
                    Ok(b) => {
                        state.confirm = None;
                        turn.pending.booking = None;
                        let view = BookingView::from(&b);
                        push_once(
                            actions,
                            Action::BookingCreated {
                                booking: view.clone(),
                            },
                        );
                        json!({"status": "booked", "booking": view})
                    }
                    Err(e) => tool_err(e),
                }
            }
            "find_slots" => {
                let duration = args["duration"]
                    .as_str()
                    .and_then(crate::domain::slots::parse_duration)
                    .ok_or("`duration` must be like 90m, 8h or 2d");
                let (after, before_t) = match (opt_time(&args, "after"), opt_time(&args, "before"))
                {
                    (Ok(a), Ok(b)) => (a, b),
                    (Err(e), _) | (_, Err(e)) => return json!({"error": e}),
                };
                match duration {
                    Ok(duration) => t
                        .slots(SlotQuery {
                            model: args["model"].as_str().map(str::to_string),
                            count: args["count"].as_u64().unwrap_or(0).min(1000) as u32,
                            duration,
                            after,
                            before: before_t,
                            limit: args["limit"].as_u64().unwrap_or(5).min(1000) as usize,
                        })
                        .await
                        .map(|s| json!({"slots": s}))
                        .unwrap_or_else(tool_err),
                    Err(e) => json!({"error": e}),
                }
            }
            "propose_change" => {
                let (start, end) = match (opt_time(&args, "start"), opt_time(&args, "end")) {
                    (Ok(a), Ok(b)) => (a, b),
                    (Err(e), _) | (_, Err(e)) => return json!({"error": e}),
                };
                let change = BookingChange {
                    start,
                    end,
                    count: args["count"].as_u64().map(|c| c.min(1000) as u32),
                };
                let id = args["booking_id"].as_str().unwrap_or_default();
                match t.preview_change(input.caller, id, change).await {
                    Ok(p) => {
                        turn.pending.change = Some(PendingChange {
                            id: proposal_id(),
                            booking_id: p.after.id.to_string(),
                            start,
                            end,
                            count: change.count,
                        });
                        json!({"status": "awaiting_confirmation", "before": BookingView::from(&p.before),
                               "after": BookingView::from(&p.after),
                               "next": "Show the change (times, GPUs, new price) and ask the user to confirm. Make it only after they say yes, with confirm_change."})
                    }
                    Err(e) => tool_err(e),
                }
            }
            "confirm_change" => {
                if !input.can_act {
                    return json!({"error": "bookings cannot be changed in this channel"});
                }
                let Some(p) = before.change.clone().filter(|_| user_said_yes) else {
                    return json!({"error": "the user has not confirmed a proposed change in this message: call propose_change, show the details, and ask them to confirm first"});
                };
                let change = BookingChange {
                    start: p.start,
                    end: p.end,
                    count: p.count,
                };
                let key = input.session.map(|s| ProposalKey {
                    session: s.to_string(),
                    id: p.id.clone(),
                });
                match t
                    .change(input.caller, &p.booking_id, change, key.as_ref())
                    .await
                {
                    Ok(b) => {
                        turn.pending.change = None;
                        let view = BookingView::from(&b);
                        push_once(
                            actions,
                            Action::BookingChanged {
                                booking: view.clone(),
                            },
                        );
                        json!({"status": "changed", "booking": view})
                    }
                    Err(e) => tool_err(e),
                }
            }
            "list_my_bookings" => t
                .bookings(input.caller)
                .await
                .map(|l| json!(l.iter().map(BookingView::from).collect::<Vec<_>>()))
                .unwrap_or_else(tool_err),
            "propose_cancel" => {
                let id = args["booking_id"].as_str().unwrap_or_default();
                let found = match t.resolve_id(input.caller, id).await {
                    Ok(full) => t
                        .bookings(input.caller)
                        .await
                        .map(|l| l.into_iter().find(|b| b.id == full)),
                    Err(e) => Err(e),
                };
                match found {
                    Ok(Some(b)) => {
                        turn.pending.cancel = Some(b.id.to_string());
                        json!({"status": "awaiting_confirmation", "booking": BookingView::from(&b),
                               "next": "Show the booking and ask the user to confirm the cancellation. Cancel it only after they say yes, with cancel_booking."})
                    }
                    Ok(None) => tool_err(ToolError::BookingNotFound(id.to_string())),
                    Err(e) => tool_err(e),
                }
            }
            "cancel_booking" => {
                if !input.can_act {
                    return json!({"error": "bookings cannot be cancelled in this channel"});
                }
                // The same rule as bookings and changes: only a cancellation proposed in an
                // earlier turn, and only when the user's latest message is a yes.
                let Some(id) = before.cancel.clone().filter(|_| user_said_yes) else {
                    return json!({"error": "the user has not confirmed a proposed cancellation in this message: call propose_cancel, show the booking, and ask them to confirm first"});
                };
                match t.cancel(input.caller, &id).await {
                    Ok(b) => {
                        turn.pending.cancel = None;
                        let view = BookingView::from(&b);
                        push_once(
                            actions,
                            Action::BookingCancelled {
                                booking: view.clone(),
                            },
                        );
                        json!({"status": "cancelled", "booking": view})
                    }
                    Err(e) => tool_err(e),
                }
            }
            other => json!({"error": format!("there is no tool called `{other}`")}),
        }
    }

    /// Whether `message` is a yes, as the built-in understanding reads it (no when the
    /// inventory cannot be read: nothing is confirmed on a guess).
    async fn said_yes(&self, message: &str) -> bool {
        let Ok(inventory) = self.tools.inventory().await else {
            return false;
        };
        let now = self.tools.clock().now().with_timezone(&self.tz);
        nlu::parse(message, &inventory, now).intent == nlu::Intent::Yes
    }

    async fn fallback(&self, input: &TurnInput<'_>, why: &str) -> Result<Reply, AssistantError> {
        tracing::warn!(
            reason = why,
            "LLM unavailable; the built-in assistant answers"
        );
        metrics::counter!("hpcbot_llm_fallbacks_total").increment(1);
        if let Some(d) = input.deltas {
            let _ = d.send(FALLBACK_NOTICE.to_string());
        }
        let mut r = self.builtin.answer(input, Backend::Fallback).await?;
        r.text = format!("{FALLBACK_NOTICE}{}", r.text);
        Ok(r)
    }

    async fn answer(&self, input: TurnInput<'_>) -> Result<Reply, AssistantError> {
        let admission = self.breaker.admit();
        if admission == Admission::Refused {
            return self.fallback(&input, "circuit breaker open").await;
        }
        let mut guard = ProbeGuard {
            breaker: &self.breaker,
            armed: admission == Admission::Probe,
        };
        // Read from the borrowed state, without copying it first.
        use serde::Deserialize;
        let state = State::deserialize(&input.state).unwrap_or_default();
        let pending = input
            .state
            .get(PENDING_KEY)
            .and_then(|v| Pending::deserialize(v).ok())
            .unwrap_or_default();
        let before = Before {
            booking: state.confirm.clone().map(|d| (d, pending.booking.clone())),
            change: pending.change.clone(),
            cancel: pending.cancel.clone(),
        };
        let pending_before = pending.clone();
        let mut turn = TurnState { state, pending };
        // Whether the message is a yes matters only to a confirm call of something proposed
        // before this turn: read then, at most once (the parse was a tenth of every turn).
        let mut user_said_yes: Option<bool> = None;

        let mut messages = vec![ChatMessage::text("system", self.system_prompt().await)];
        // The most recent messages only: bounded prompt size and upstream cost.
        let recent = &input.history[input.history.len().saturating_sub(self.max_history)..];
        for m in recent {
            messages.push(ChatMessage::text(
                if m.role == Role::User {
                    "user"
                } else {
                    "assistant"
                },
                m.content.as_str(),
            ));
        }
        messages.push(ChatMessage::text("user", input.message));
        let (mut text, mut actions) = (String::new(), Vec::new());
        for round in 0..=MAX_TOOL_ROUNDS {
            // The last round offers no tools, so the model has to answer in words.
            let offered = (round < MAX_TOOL_ROUNDS).then(tools_json);
            let started = Instant::now();
            let stage = crate::ops::enter("llm");
            // Output counts as given to the user only when it was streamed to them.
            let mut streamed = input.deltas.is_some() && !text.is_empty();
            let result = {
                let mut relay = |d: &str| {
                    text.push_str(d);
                    if let Some(tx) = input.deltas {
                        streamed = true;
                        let _ = tx.send(d.to_string());
                    }
                };
                self.client.complete(&messages, offered, &mut relay).await
            };
            drop(stage);
            metrics::histogram!("hpcbot_llm_call_seconds").record(started.elapsed().as_secs_f64());
            metrics::counter!("hpcbot_llm_calls_total").increment(1);
            let completion = match result {
                Ok(c) => {
                    self.breaker.success();
                    guard.armed = false;
                    c
                }
                Err(e) => {
                    metrics::counter!("hpcbot_llm_errors_total").increment(1);
                    self.breaker.failure();
                    guard.armed = false;
                    if !actions.is_empty() {
                        // Something was done: say what, never "could not answer".
                        let summary = acted_summary(&actions);
                        if let Some(tx) = input.deltas {
                            let _ = tx.send(format!("\n\n{summary}"));
                        }
                        text = if text.trim().is_empty() {
                            summary
                        } else {
                            format!("{text}\n\n{summary}")
                        };
                        let proposal = turn.proposed_since(&pending_before);
                        return Ok(Reply {
                            text,
                            actions,
                            backend: Backend::Llm,
                            state: turn.into_value(),
                            proposal,
                        });
                    }
                    if streamed {
                        // Part of the answer is out (or a booking was made): say so rather
                        // than have a second backend answer over it.
                        return Err(AssistantError::Unavailable(format!(
                            "{e} (after part of the reply was sent)"
                        )));
                    }
                    return self.fallback(&input, &e.to_string()).await;
                }
            };
            if completion.tool_calls.is_empty() {
                break;
            }
            messages.push(ChatMessage {
                role: "assistant",
                content: (!completion.content.is_empty())
                    .then(|| completion.content.clone().into()),
                tool_calls: completion
                    .tool_calls
                    .iter()
                    .map(|c| WireToolCall {
                        id: c.id.clone(),
                        kind: "function",
                        function: WireFunction {
                            name: c.name.clone(),
                            arguments: c.arguments.clone(),
                        },
                    })
                    .collect(),
                tool_call_id: None,
            });
            if user_said_yes.is_none()
                && before.is_some()
                && completion
                    .tool_calls
                    .iter()
                    .any(|c| CONFIRMS.contains(&c.name.as_str()))
            {
                user_said_yes = Some(self.said_yes(input.message).await);
            }
            for call in &completion.tool_calls {
                let result = self
                    .run_tool(
                        call,
                        &input,
                        &mut turn,
                        &before,
                        user_said_yes.unwrap_or(false),
                        &mut actions,
                    )
                    .await;
                messages.push(ChatMessage {
                    role: "tool",
                    content: Some(result.to_string().into()),
                    tool_calls: Vec::new(),
                    tool_call_id: Some(call.id.clone()),
                });
            }
        }
        if text.trim().is_empty() {
            text = "Sorry — I couldn't put an answer together. Could you rephrase that?".into();
            if let Some(tx) = input.deltas {
                let _ = tx.send(text.clone());
            }
        }
        let proposal = turn.proposed_since(&pending_before);
        Ok(Reply {
            text,
            actions,
            backend: Backend::Llm,
            state: turn.into_value(),
            proposal,
        })
    }
}

impl TurnState {
    /// What this turn proposed: a proposal that waits now and did not before it.
    fn proposed_since(&self, before: &Pending) -> Option<ProposalKind> {
        let p = &self.pending;
        if p.cancel.is_some() && p.cancel != before.cancel {
            Some(ProposalKind::Cancel)
        } else if p.change.is_some() && p.change != before.change {
            Some(ProposalKind::Change)
        } else if p.booking.is_some() && p.booking != before.booking {
            Some(ProposalKind::Book)
        } else {
            None
        }
    }

    /// The state to keep: the shared dialogue state with the LLM's proposal ids beside it.
    fn into_value(self) -> Value {
        let mut v = serde_json::to_value(&self.state).unwrap_or_default();
        if let Value::Object(m) = &mut v {
            m.insert(
                PENDING_KEY.into(),
                serde_json::to_value(&self.pending).unwrap_or_default(),
            );
        }
        v
    }
}

/// Adds an action unless the same one is listed (a repeated confirm in one turn).
fn push_once(actions: &mut Vec<Action>, a: Action) {
    let id = |a: &Action| match a {
        Action::BookingCreated { booking }
        | Action::BookingCancelled { booking }
        | Action::BookingChanged { booking } => (std::mem::discriminant(a), booking.id.clone()),
    };
    if !actions.iter().any(|x| id(x) == id(&a)) {
        actions.push(a);
    }
}

#[async_trait]
impl Assistant for Llm {
    async fn open(
        &self,
        _session: Option<&SessionId>,
    ) -> Result<Arc<dyn Conversation>, AssistantError> {
        Ok(Arc::new(self.clone()))
    }

    fn history_window(&self) -> Option<usize> {
        Some(self.max_history)
    }
}

#[async_trait]
impl Conversation for Llm {
    async fn reply(&self, input: TurnInput<'_>) -> Result<Reply, AssistantError> {
        self.answer(input).await
    }
}
