//! The conversation as an explicit state machine: `state` (what is pending), `step` (every
//! transition, pure), `act` (runs a plan through the tools), `reply` (all prose).

pub mod act;
pub mod reply;
pub mod state;
pub mod step;
#[cfg(test)]
mod tests;

pub use act::{Ctx, Out};
pub use state::State;

use super::nlu::Parsed;
use crate::domain::Inventory;
use chrono::{DateTime, Utc};
use step::Facts;

/// Whether a turn needs the caller's bookings (references, lists, totals, changes).
fn needs_bookings(state: &State, p: &Parsed) -> bool {
    use super::nlu::Intent::*;
    matches!(p.intent, Cancel | Change | MyBookings | Total | Details)
        || p.booking_ref.is_some()
        || matches!(
            state.pending,
            state::Pending::Choosing { .. } | state::Pending::Confirming { .. }
        )
}

/// One turn: step, then act.
pub async fn respond(
    ctx: &Ctx<'_>,
    inventory: &Inventory,
    now: DateTime<Utc>,
    p: &Parsed,
    state: &mut State,
) -> Out {
    let bookings = if needs_bookings(state, p) {
        match ctx.tools.bookings(ctx.caller).await {
            Ok(b) => b,
            Err(e) => {
                return Out {
                    text: format!(
                        "Sorry, the booking system is not answering right now ({e}); nothing was changed."
                    ),
                    actions: Vec::new(),
                }
            }
        }
    } else {
        Vec::new()
    };
    let facts = Facts {
        now,
        tz: ctx.tz,
        inventory,
        bookings: &bookings,
    };
    let (next, plan) = step::step(state, p, &facts);
    *state = next;
    act::run(ctx, plan, state, &facts).await
}
