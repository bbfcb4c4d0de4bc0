//! Runs a plan through the tools (the only I/O of the dialogue) and writes the reply.
//! A proposal is checked here (free devices, price, the nearest free alternative) and
//! becomes the pending state; a yes executes it as the caller, at most once per proposal.

use super::reply;
use super::state::{Act, Pending, Proposal, State};
use super::step::{Facts, Plan, Question, Say};
use crate::assistant::builtin::format::{booking_table, gpu_table};
use crate::assistant::builtin::workload::{fits, Workload};
use crate::assistant::tools::{BookingChange, BookingView, ProposalKey, ToolError, Tools};
use crate::assistant::Action;
use crate::domain::{Booking, BookingStatus, Cents, Interval, Owner};
use chrono::Duration;
use chrono_tz::Tz;

/// How far ahead a counter-offer may be.
const OFFER_HORIZON_DAYS: i64 = 14;

/// Everything acting needs.
pub struct Ctx<'a> {
    pub tools: &'a Tools,
    pub caller: &'a Owner,
    pub tz: Tz,
    pub centre: &'a str,
    pub currency: &'a str,
    /// `false` for the stateless direct chat: nothing is ever changed.
    pub can_act: bool,
    /// The session, for proposal keys.
    pub session: Option<&'a str>,
    /// The hold of the quote that waited before this message: a new quote (a correction,
    /// another request) gives it back first, so the person's own hold never stands in the
    /// way of what they now ask.
    pub previous_hold: Option<&'a str>,
}

/// The reply of one turn.
pub struct Out {
    pub text: String,
    pub actions: Vec<Action>,
}

fn text(t: impl Into<String>) -> Out {
    Out {
        text: t.into(),
        actions: Vec::new(),
    }
}

/// A tool failure as the person reads it.
fn failure(e: &ToolError) -> String {
    match e {
        ToolError::Unavailable(_) | ToolError::Internal(_) => {
            "Sorry, the booking system is not answering right now; nothing was changed. Please try again in a moment.".into()
        }
        other => format!("I couldn't do that: {other}."),
    }
}

/// Runs `plan`; `state` is the step's new state and may be refined (a proposal made).
pub async fn run(ctx: &Ctx<'_>, plan: Plan, state: &mut State, f: &Facts<'_>) -> Out {
    let say = |s: &Say| reply::say(s, ctx.centre, ctx.tz, ctx.currency);
    match plan {
        Plan::Say(Say::WhichBooking { ids, cancel }) => {
            let list: Vec<&Booking> = ids
                .iter()
                .filter_map(|id| f.bookings.iter().find(|b| b.id.as_str() == id))
                .collect();
            let mut s = say(&Say::WhichBooking { ids, cancel });
            for (i, b) in list.iter().enumerate() {
                s.push_str(&format!(
                    "\n{}. {}",
                    i + 1,
                    reply::booking_line(b, ctx.tz, ctx.currency)
                ));
            }
            text(s)
        }
        Plan::Say(Say::Ask {
            slot: super::state::Slot::Model,
            ..
        }) => {
            let names: Vec<&str> = f
                .inventory
                .models()
                .iter()
                .map(|m| m.name.as_str())
                .collect();
            text(format!(
                "Which GPU model would you like? We have {} (ask *what GPUs do you have?* for prices).",
                names.join(", ")
            ))
        }
        Plan::Say(s) => text(say(&s)),
        Plan::Propose {
            draft,
            model,
            count,
            start,
            end,
            assumed,
        } => {
            if !ctx.can_act {
                return text("This chat can answer questions but not book. Open a chat session to book GPUs.");
            }
            let Ok(interval) = Interval::new(start, end) else {
                return text(say(&Say::Refuse("the end is not after the start".into())));
            };
            let why = draft.model_why.clone();
            let propose = |interval: Interval,
                           gpus: Vec<crate::domain::Device>,
                           price: Cents,
                           hold: Option<String>,
                           state: &mut State| {
                let stated = reply::propose_booking(
                    &model,
                    why.as_deref(),
                    count,
                    &interval,
                    &gpus,
                    price,
                    ctx.tz,
                    ctx.currency,
                    &assumed,
                    None,
                );
                state.pending = Pending::Confirming {
                    proposal: Proposal {
                        id: uuid::Uuid::new_v4().simple().to_string(),
                        act: Act::Book {
                            draft: draft.clone(),
                            model: model.clone(),
                            count,
                            start: interval.start(),
                            end: interval.end(),
                            hold,
                        },
                        price_cents: price.0,
                        stated: stated.clone(),
                    },
                };
                text(stated)
            };
            if let Some(h) = ctx.previous_hold {
                if let Err(e) = ctx.tools.release_hold(ctx.caller, h).await {
                    tracing::debug!(error = %e, "the earlier quote's hold was not given back");
                }
            }
            if let Err(e) = ctx.tools.check(&model, count as i64, &interval).await {
                return text(say(&Say::Refuse(e.to_string())));
            }
            // A request over a quota is answered with the reason and what would fit, never
            // proposed.
            match ctx
                .tools
                .check_quotas(ctx.caller, &interval, count, None)
                .await
            {
                Ok(()) => {}
                Err(ToolError::Quota(q)) => {
                    return text(format!(
                        "I can't book that: {}. Nothing was booked.",
                        q.message()
                    ))
                }
                Err(e) => return text(failure(&e)),
            }
            match ctx.tools.preview(&model, count, &interval).await {
                Ok(Some(gpus)) => match ctx.tools.quote(&model, count, &interval).await {
                    Ok(q) => match ctx.tools.check_budget(ctx.caller, q.price_total).await {
                        // The quote is a hold: the GPUs stated are kept for the yes. When
                        // none can be made (too many holds, a race), the quote stands alone.
                        Ok(()) => match ctx
                            .tools
                            .hold(ctx.caller, &model, count as i64, interval)
                            .await
                        {
                            Ok(h) => propose(
                                h.interval,
                                h.gpus.clone(),
                                h.price_total,
                                Some(h.id.to_string()),
                                state,
                            ),
                            Err(_) => propose(interval, gpus, q.price_total, None, state),
                        },
                        // Over the project's budget: the reason, never a proposal.
                        Err(e @ ToolError::Budget { .. }) => {
                            text(format!("I can't book that: {e}. Nothing was booked."))
                        }
                        Err(e) => text(failure(&e)),
                    },
                    Err(e) => text(failure(&e)),
                },
                Ok(None) => {
                    let free = ctx
                        .tools
                        .availability(&model, interval)
                        .await
                        .map(|a| a.bookable)
                        .unwrap_or(0);
                    // What did not fit can wait in line for GPUs that free up.
                    state.memory.waitable = Some(super::state::WaitRequest {
                        model: model.clone(),
                        count,
                        start: interval.start(),
                        end: interval.end(),
                    });
                    let offer = ctx
                        .tools
                        .next_free(
                            &model,
                            count,
                            interval.duration(),
                            interval.start(),
                            Duration::days(OFFER_HORIZON_DAYS),
                        )
                        .await;
                    let busy = format!(
                        "Only {free} {model} GPU{} free for all of {}.",
                        if free == 1 { " is" } else { "s are" },
                        reply::span(&interval, ctx.tz)
                    );
                    match offer {
                        Ok(Some(alt)) => {
                            // A suggestion, not a proposal: a bare yes must not book a time
                            // the person did not ask for. "book it" makes it a proposal.
                            let local = alt.start().with_timezone(&ctx.tz);
                            let mut suggested = draft.clone();
                            suggested.model = Some(model.clone());
                            suggested.count = Some(count);
                            suggested.count_all = false;
                            suggested.date = Some(local.date_naive());
                            suggested.start = Some(local.time());
                            suggested.end = None;
                            suggested.end_date = None;
                            suggested.end_midnight = false;
                            suggested.whole_days = false;
                            suggested.from_now = None;
                            suggested.minutes = Some(alt.duration().num_minutes());
                            state.pending = Pending::Filling {
                                draft: draft.clone(),
                                asking: super::state::Slot::Start,
                            };
                            state.memory.suggestion = Some(suggested);
                            text(format!(
                                "{busy} Nothing was booked. The nearest time {count} are free for as long is **{}** — say *book it* if you want that instead, tell me another time, or say *put me on the waitlist* and I'll hold them for you if they free up.",
                                reply::span(&alt, ctx.tz)
                            ))
                        }
                        Ok(None) => text(format!(
                            "{busy} I found no time in the next {OFFER_HORIZON_DAYS} days when {count} are free for as long — try fewer GPUs or a shorter booking, or say *put me on the waitlist* and I'll hold them for you if they free up."
                        )),
                        Err(e) => text(failure(&e)),
                    }
                }
                Err(e) => text(failure(&e)),
            }
        }
        Plan::ProposeChange {
            booking,
            start,
            end,
            count,
            ask,
        } => {
            if !ctx.can_act {
                return text("This chat can answer questions but not change bookings.");
            }
            let Some(old) = f.bookings.iter().find(|b| b.id.as_str() == booking) else {
                return text(say(&Say::NoMatch(booking)));
            };
            let Ok(interval) = Interval::new(start, end) else {
                return text(say(&Say::Refuse("the end is not after the start".into())));
            };
            let change = change_of(old, start, end, count);
            match ctx.tools.preview_change(ctx.caller, old.id.as_str(), change).await {
                Ok(preview) if ask.budget.is_some_and(|b| preview.after.price_total.0 > b) => {
                    text(format!(
                        "That change would cost **{}** in total, over the {} you said, so I haven't proposed it. Nothing is changed.",
                        reply::money(preview.after.price_total, ctx.currency),
                        reply::money(Cents(ask.budget.unwrap_or_default()), ctx.currency)
                    ))
                }
                Ok(preview) => {
                    let (gpus, price) = (preview.after.gpus, preview.after.price_total);
                    let stated = reply::propose_change(old, &interval, count, &gpus, price, ctx.tz, ctx.currency);
                    state.pending = Pending::Confirming {
                        proposal: Proposal {
                            id: uuid::Uuid::new_v4().simple().to_string(),
                            act: Act::Change {
                                booking: old.id.to_string(),
                                start,
                                end,
                                count,
                                ask,
                            },
                            price_cents: price.0,
                            stated: stated.clone(),
                        },
                    };
                    text(stated)
                }
                Err(ToolError::Quota(q)) => text(format!(
                    "That change does not fit your quota: {}. Your booking stays as it is.",
                    q.message()
                )),
                Err(ToolError::InsufficientCapacity { free, .. }) => text(format!(
                    "That change does not fit: only {free} {} GPUs are free for {}. Your booking stays as it is.",
                    old.model,
                    reply::span(&interval, ctx.tz)
                )),
                Err(e) => text(failure(&e)),
            }
        }
        Plan::ProposeCancel { bookings } => {
            if !ctx.can_act {
                return text("This chat can answer questions but not cancel bookings.");
            }
            let list: Vec<&Booking> = bookings
                .iter()
                .filter_map(|id| f.bookings.iter().find(|b| b.id.as_str() == id))
                .collect();
            if list.is_empty() {
                return text(say(&Say::NoBookings));
            }
            let stated = reply::propose_cancel(&list, ctx.tz, ctx.currency);
            state.pending = Pending::Confirming {
                proposal: Proposal {
                    id: uuid::Uuid::new_v4().simple().to_string(),
                    act: Act::Cancel {
                        bookings: list.iter().map(|b| b.id.to_string()).collect(),
                    },
                    price_cents: list.iter().map(|b| b.price_total.0).sum(),
                    stated: stated.clone(),
                },
            };
            text(stated)
        }
        Plan::Execute(p) => execute(ctx, p, state, f).await,
        Plan::Answer(q) => answer(ctx, q, state, f).await,
        Plan::JoinWaitlist(None) => text(
            "There is nothing to wait for yet: ask for the GPUs you need, and if they are taken I can put you on the waitlist.",
        ),
        Plan::JoinWaitlist(Some(w)) => {
            if !ctx.can_act {
                return text("This chat can answer questions but not join the waitlist.");
            }
            let Ok(interval) = Interval::new(w.start, w.end) else {
                return text("That request is no longer valid; nothing was done.");
            };
            let joined = match ctx
                .tools
                .new_booking(ctx.caller, &w.model, w.count as i64, interval)
                .await
            {
                Ok(new) => ctx.tools.store().join_waitlist(new).await.map_err(ToolError::from),
                Err(e) => Err(e),
            };
            match joined {
                Ok(_) => {
                    state.memory.waiting = true;
                    text(format!(
                        "You're on the waitlist for **{} × {}** for **{}**. If they free up I'll hold them for you and tell you here (also on the page); nothing is booked until you say yes.",
                        w.count,
                        w.model,
                        reply::span(&interval, ctx.tz)
                    ))
                }
                Err(e) => text(failure(&e)),
            }
        }
    }
}

/// The yes: does what the proposal stated, once.
async fn execute(ctx: &Ctx<'_>, p: Proposal, state: &mut State, f: &Facts<'_>) -> Out {
    if !ctx.can_act {
        return text("This chat can answer questions but not book.");
    }
    match p.act {
        Act::Book {
            model,
            count,
            start,
            end,
            hold,
            ..
        } => {
            let Ok(interval) = Interval::new(start, end) else {
                return text("That booking is no longer valid; nothing was booked.");
            };
            // The hold made with the quote books exactly its GPUs; a repeated yes finds it
            // confirmed and answers the same booking. Once it has expired, the yes books
            // what is free, as below.
            let confirmed = match &hold {
                Some(h) => match ctx.tools.confirm_hold(ctx.caller, h).await {
                    Ok((b, _)) => Some(Ok(b)),
                    Err(ToolError::Hold(_)) => None,
                    Err(e) => Some(Err(e)),
                },
                None => None,
            };
            // The proposal's key makes a repeated yes (a retried turn) return the same
            // booking instead of making another.
            let booked = match (confirmed, ctx.session) {
                (Some(done), _) => done,
                (None, Some(s)) => {
                    let key = ProposalKey {
                        session: s.to_string(),
                        id: p.id.clone(),
                    };
                    ctx.tools
                        .book_proposal(ctx.caller, &model, count as i64, interval, &key)
                        .await
                }
                (None, None) => {
                    ctx.tools
                        .book(ctx.caller, &model, count as i64, interval)
                        .await
                }
            };
            match booked {
                Ok(b) => {
                    state.memory.last_booking = Some(b.id.to_string());
                    let price_changed = b.price_total.0 != p.price_cents;
                    let mut s = format!(
                        "Booked! {} (booking id `{}`)",
                        reply::booking_line(&b, ctx.tz, ctx.currency),
                        b.id
                    );
                    if price_changed {
                        s.push_str(" (the price differs from the quote because the times were rounded to the second)");
                    }
                    s.push_str(". Say *cancel it* to cancel or *extend it by an hour* to change it.");
                    Out {
                        text: s,
                        actions: vec![Action::BookingCreated {
                            booking: BookingView::from(&b),
                        }],
                    }
                }
                Err(ToolError::InsufficientCapacity { free, .. }) => text(format!(
                    "Sorry — someone booked those GPUs a moment ago: only {free} are free now, so nothing was booked. Shall I look for another time? Tell me when."
                )),
                Err(e) => text(failure(&e)),
            }
        }
        Act::Change {
            booking,
            start,
            end,
            count,
            ..
        } => {
            if end <= start {
                return text("That change is no longer valid; nothing was changed.");
            }
            let key = ctx.session.map(|s| ProposalKey {
                session: s.to_string(),
                id: p.id.clone(),
            });
            // The caller's bookings were read for this turn (a proposal was pending).
            let change = match f.bookings.iter().find(|b| b.id.as_str() == booking) {
                Some(b) => change_of(b, start, end, count),
                None => BookingChange {
                    start: Some(start),
                    end: Some(end),
                    count: Some(count),
                },
            };
            if change == BookingChange::default() {
                return text("That booking already has those times and GPUs; nothing to change.");
            }
            match ctx
                .tools
                .change(ctx.caller, &booking, change, key.as_ref())
                .await
            {
                Ok(b) => {
                    state.memory.last_booking = Some(b.id.to_string());
                    Out {
                        text: format!(
                            "Changed! {}.",
                            reply::booking_line(&b, ctx.tz, ctx.currency)
                        ),
                        actions: vec![Action::BookingChanged {
                            booking: BookingView::from(&b),
                        }],
                    }
                }
                Err(ToolError::InsufficientCapacity { .. }) => text(
                    "Sorry — those GPUs were taken a moment ago, so the booking stays as it was.",
                ),
                Err(e) => text(failure(&e)),
            }
        }
        Act::Cancel { bookings } => {
            state.memory.topic = Some(crate::assistant::builtin::nlu::Intent::Cancel);
            let mut out = Out {
                text: String::new(),
                actions: Vec::new(),
            };
            let mut lines = Vec::new();
            for id in bookings {
                match ctx.tools.cancel(ctx.caller, &id).await {
                    Ok(b) => {
                        if state.memory.last_booking.as_deref() == Some(b.id.as_str()) {
                            state.memory.last_booking = None;
                        }
                        lines.push(format!(
                            "- {}",
                            reply::booking_line(&b, ctx.tz, ctx.currency)
                        ));
                        out.actions.push(Action::BookingCancelled {
                            booking: BookingView::from(&b),
                        });
                    }
                    Err(e) => lines.push(format!("- `{id}`: {}", failure(&e))),
                }
            }
            out.text = format!("Cancelled:\n{}", lines.join("\n"));
            out
        }
    }
}

/// Answers a question from the store.
async fn answer(ctx: &Ctx<'_>, q: Question, state: &mut State, f: &Facts<'_>) -> Out {
    let money = |c: Cents| reply::money(c, ctx.currency);
    let out = match q {
        Question::Models(names) => {
            let lines: Vec<String> = names
                .iter()
                .filter_map(|n| f.inventory.find(n))
                .map(|m| {
                    format!(
                        "- **{}**: {} GB, {} architecture, {} GPUs, {} per GPU-hour",
                        m.name,
                        m.memory_gb,
                        m.architecture().unwrap_or("unknown"),
                        m.total(),
                        money(m.price_per_hour)
                    )
                })
                .collect();
            if lines.is_empty() {
                text("None of our GPU models fits that. Ask *what GPUs do you have?* to see them all.")
            } else {
                text(lines.join("\n"))
            }
        }
        Question::Inventory => match ctx.tools.gpus().await {
            Ok(g) => text(format!(
                "These are the GPUs of {}:\n\n{}\nAsk me what is free when, or to book some.",
                ctx.centre,
                gpu_table(&g, ctx.currency)
            )),
            Err(e) => text(failure(&e)),
        },
        Question::Price {
            model,
            count,
            window,
            minutes,
            why,
        } => {
            let inv = f.inventory;
            match model.as_deref().and_then(|m| inv.find(m)) {
                None => {
                    let lines: Vec<String> = inv
                        .models()
                        .iter()
                        .map(|m| format!("- {}: {} per GPU-hour", m.name, money(m.price_per_hour)))
                        .collect();
                    text(format!("Prices per GPU per hour:\n{}", lines.join("\n")))
                }
                Some(m) => {
                    let lead = match why {
                        Some(w) => format!("The {w} is the **{}** ({} GB). ", m.name, m.memory_gb),
                        None => String::new(),
                    };
                    let hourly = format!("{} per GPU-hour", money(m.price_per_hour));
                    match (window, minutes) {
                        (Some((s, e)), _) => match Interval::new(s, e) {
                            Ok(i) => {
                                let total =
                                    crate::domain::booking::price(m.price_per_hour, count, &i);
                                text(format!(
                                    "{lead}{count} × {} for {} ({}) costs **{}** ({hourly}).",
                                    m.name,
                                    reply::span(&i, ctx.tz),
                                    crate::assistant::builtin::format::duration(&i),
                                    money(total)
                                ))
                            }
                            Err(_) => text(format!("{lead}The {} costs {hourly}.", m.name)),
                        },
                        (None, Some(mins)) => {
                            let total = Cents(
                                ((m.price_per_hour.0 as i128 * count as i128 * mins as i128 * 60
                                    + 1800)
                                    / 3600) as i64,
                            );
                            text(format!(
                                "{lead}{count} × {} for {} costs **{}** ({hourly}; {} per {}).",
                                m.name,
                                human_minutes(mins),
                                money(total),
                                money(total),
                                human_minutes(mins).trim_start_matches("1 ")
                            ))
                        }
                        (None, None) => text(format!(
                            "{lead}The {} ({} GB) costs **{hourly}**{}.",
                            m.name,
                            m.memory_gb,
                            if count > 1 {
                                format!(
                                    "; {count} of them cost {} per hour",
                                    money(Cents(m.price_per_hour.0 * count as i64))
                                )
                            } else {
                                String::new()
                            }
                        )),
                    }
                }
            }
        }
        Question::Availability { models, start, end } => {
            let Ok(window) = Interval::new(start, end) else {
                return text("That window is empty — which times do you mean?");
            };
            let names: Vec<String> = if models.is_empty() {
                f.inventory
                    .models()
                    .iter()
                    .map(|m| m.name.clone())
                    .collect()
            } else {
                models
            };
            let mut lines = Vec::new();
            for n in &names {
                match ctx.tools.availability(n, window).await {
                    Ok(a) => lines.push(format!(
                        "- {}: {} of {} free for the whole time",
                        a.model, a.bookable, a.total
                    )),
                    Err(e) => return text(failure(&e)),
                }
            }
            text(format!(
                "For {}:\n{}\nSay *book it* (with how many) to book.",
                reply::span(&window, ctx.tz),
                lines.join("\n")
            ))
        }
        Question::MyBookings { models, days } => {
            let mut list: Vec<&Booking> = f.bookings.iter().collect();
            list.sort_by_key(|b| b.interval.start());
            let upcoming: Vec<Booking> = list
                .iter()
                .filter(|b| b.status == BookingStatus::Confirmed && b.interval.end() > f.now)
                .map(|b| (*b).clone())
                .collect();
            // A booking is on a day when any part of it is.
            let on_day = |b: &Booking, d: &chrono::NaiveDate| {
                let first = b.interval.start().with_timezone(&ctx.tz).date_naive();
                let last = b.interval.end().with_timezone(&ctx.tz).date_naive();
                first <= *d && *d <= last
            };
            let asked: Vec<Booking> = upcoming
                .iter()
                .filter(|b| models.is_empty() || models.contains(&b.model))
                .filter(|b| days.is_empty() || days.iter().any(|d| on_day(b, d)))
                .cloned()
                .collect();
            let which = {
                let mut w = models.join(" or ");
                if !days.is_empty() {
                    let names: Vec<String> = days
                        .iter()
                        .map(|d| d.format("%a %-d %b").to_string())
                        .collect();
                    w = format!("{w} on {}", names.join(" or ")).trim().to_string();
                }
                w
            };
            if upcoming.is_empty() {
                text("You have no upcoming bookings.")
            } else if asked.is_empty() {
                text(format!(
                    "You have no upcoming {which} bookings ({} upcoming in all; say *my \
bookings* to see them).",
                    upcoming.len()
                ))
            } else {
                state.memory.listed = asked.iter().map(|b| b.id.to_string()).collect();
                let total: i64 = asked.iter().map(|b| b.price_total.0).sum();
                let gpu_hours: f64 = asked
                    .iter()
                    .map(|b| b.count() as f64 * b.interval.duration().num_minutes() as f64 / 60.0)
                    .sum();
                let title = if which.is_empty() {
                    "Your upcoming bookings".to_string()
                } else {
                    format!("Your upcoming {which} bookings")
                };
                text(format!(
                    "{title}:\n\n{}\nTotal: **{}**, {} GPU-hours.",
                    booking_table(&asked, ctx.tz, ctx.currency),
                    money(Cents(total)),
                    format_hours(gpu_hours)
                ))
            }
        }
        Question::Workload { workload, models } => text(workload_answer(&workload, &models, f)),
        Question::Account => match account_text(ctx, f).await {
            Ok(t) => text(t),
            Err(e) => text(failure(&e)),
        },
        Question::Total => {
            let confirmed: Vec<&Booking> = f
                .bookings
                .iter()
                .filter(|b| b.status == BookingStatus::Confirmed)
                .collect();
            let total: i64 = confirmed.iter().map(|b| b.price_total.0).sum();
            if confirmed.is_empty() {
                text(
                    "You have no confirmed bookings, so your total is **$0.00**."
                        .replace("$0.00", &money(Cents(0))),
                )
            } else {
                let lines: Vec<String> = confirmed
                    .iter()
                    .map(|b| format!("- {}", reply::booking_line(b, ctx.tz, ctx.currency)))
                    .collect();
                text(format!(
                    "Your {} confirmed booking{} come{} to **{}** in total:\n{}",
                    confirmed.len(),
                    if confirmed.len() == 1 { "" } else { "s" },
                    if confirmed.len() == 1 { "s" } else { "" },
                    money(Cents(total)),
                    lines.join("\n")
                ))
            }
        }
        Question::FindSlot {
            model,
            count,
            minutes,
            after,
            assumed_length,
        } => {
            let names: Vec<String> = match &model {
                Some(m) => vec![m.clone()],
                None => f
                    .inventory
                    .models()
                    .iter()
                    .map(|m| m.name.clone())
                    .collect(),
            };
            let mut best: Option<(Interval, String)> = None;
            for n in names {
                match ctx
                    .tools
                    .next_free(
                        &n,
                        count,
                        Duration::minutes(minutes),
                        after,
                        Duration::days(30),
                    )
                    .await
                {
                    Ok(Some(i)) => {
                        if best.as_ref().is_none_or(|(b, _)| i.start() < b.start()) {
                            best = Some((i, n));
                        }
                    }
                    Ok(None) => {}
                    Err(e) => return text(failure(&e)),
                }
            }
            match best {
                None => text(format!(
                    "I found no time in the next 30 days when {count} {} GPUs are free for {}.",
                    model.as_deref().unwrap_or(""),
                    human_minutes(minutes)
                )),
                // A model or a length not said is not proposed: the person hears the time
                // and says what they want (a yes can only book what was said).
                Some((i, m)) if model.is_none() || assumed_length => text(format!(
                    "The earliest time {count} × {m} {} free{}: **{}**. Nothing is proposed yet: tell me the model{} and I'll check it for you.",
                    if count == 1 { "is" } else { "are" },
                    if assumed_length {
                        " for an hour".to_string()
                    } else {
                        format!(" for {}", human_minutes(minutes))
                    },
                    reply::span(&i, ctx.tz),
                    if assumed_length { ", how many and for how long" } else { " and how many" },
                )),
                Some((i, m)) => {
                    let note = if assumed_length {
                        vec!["one hour (say how long you need)".to_string()]
                    } else {
                        vec![]
                    };
                    let mut draft = state.memory.context.clone();
                    draft.model = Some(m.clone());
                    draft.count = Some(count);
                    return Box::pin(run(
                        ctx,
                        Plan::Propose {
                            draft,
                            model: m,
                            count,
                            start: i.start(),
                            end: i.end(),
                            assumed: note,
                        },
                        state,
                        f,
                    ))
                    .await
                    .prefix("The earliest I found: ");
                }
            }
        }
    };
    out
}

impl Out {
    fn prefix(mut self, p: &str) -> Out {
        self.text = format!("{p}{}", self.text);
        self
    }
}

/// The fields of `b` that a change to (start, end, count) alters, and only those.
fn change_of(
    b: &Booking,
    start: chrono::DateTime<chrono::Utc>,
    end: chrono::DateTime<chrono::Utc>,
    count: u32,
) -> BookingChange {
    BookingChange {
        start: (start != b.interval.start()).then_some(start),
        end: (end != b.interval.end()).then_some(end),
        count: (count != b.count()).then_some(count),
    }
}

/// "90 minutes", "8 hours", "2 days".
fn human_minutes(m: i64) -> String {
    match m {
        m if m % 1440 == 0 => format!("{} day{}", m / 1440, if m == 1440 { "" } else { "s" }),
        m if m % 60 == 0 => format!("{} hour{}", m / 60, if m == 60 { "" } else { "s" }),
        m => format!("{m} minutes"),
    }
}

/// GPU-hours with at most one decimal ("12", "7.5").
fn format_hours(h: f64) -> String {
    let tenths = (h * 10.0).round() / 10.0;
    if tenths.fract() == 0.0 {
        format!("{tenths:.0}")
    } else {
        format!("{tenths:.1}")
    }
}

/// Which of our GPUs hold a workload, and how many of each.
fn workload_answer(w: &Workload, asked: &[String], f: &Facts<'_>) -> String {
    let need = w.need_gb();
    let options = fits(f.inventory, need);
    let mut out = format!(
        "That needs roughly **{need:.0} GB** of GPU memory ({}). A rule of thumb, not a \
promise: batch size and context length change it.",
        w.reasoning()
    );
    for name in asked {
        if let Some(m) = f.inventory.find(name) {
            match options.iter().find(|(n, _, _)| n == name) {
                Some((_, 1, _)) => out.push_str(&format!(
                    "\n\nYes: one **{}** ({} GB) holds it.",
                    m.name, m.memory_gb
                )),
                Some((_, n, _)) => out.push_str(&format!(
                    "\n\nOne **{}** ({} GB) is not enough; **{n}** of them together are \
(with the model split across them).",
                    m.name, m.memory_gb
                )),
                None => out.push_str(&format!(
                    "\n\nThe **{}** ({} GB, {} in all) cannot hold it.",
                    m.name,
                    m.memory_gb,
                    m.total()
                )),
            }
        }
    }
    if options.is_empty() {
        out.push_str("\n\nNone of our GPU models holds it, even all of one model together.");
    } else {
        let lines: Vec<String> = options
            .iter()
            .map(|(name, n, gb)| format!("- {n} × **{name}** ({} GB in all)", n * gb))
            .collect();
        out.push_str(&format!(
            "\n\nWhat holds it, cheapest first:\n{}\n\nNothing is booked: say e.g. *book {} {} \
tomorrow 9-17* when you know when.",
            lines.join("\n"),
            options[0].1,
            options[0].0
        ));
    }
    out
}

/// The caller's limits and what is used of them, the project's money and this month's use
/// (the same numbers as `GET /api/account` and `GET /api/usage`).
async fn account_text(ctx: &Ctx<'_>, f: &Facts<'_>) -> Result<String, ToolError> {
    use crate::domain::quota::Quota;
    use chrono::{Datelike, TimeZone};
    let money = |c: Cents| reply::money(c, ctx.currency);
    let n = crate::domain::quota::shown;
    let mut lines = Vec::new();
    for u in ctx.tools.quota_use(ctx.caller).await? {
        lines.push(match u.quota {
            Quota::GpusAtOnce => format!(
                "- at most **{}** GPUs at once (you hold {} now)",
                n(u.limit),
                n(u.used)
            ),
            Quota::GpuHoursPerWeek => format!(
                "- **{}** GPU-hours a week ({} used this week, {} left)",
                n(u.limit),
                n(u.used),
                n((u.limit - u.used).max(0.0))
            ),
            Quota::BookingDuration => {
                format!("- one booking lasts at most **{}** hours", n(u.limit))
            }
            Quota::MinNotice if u.limit == 0.0 => "- no notice needed before a start".into(),
            Quota::MinNotice => format!(
                "- a booking starts at least **{}** hours from now",
                n(u.limit)
            ),
        });
    }
    let standing = ctx.tools.standing(ctx.caller).await?;
    let project = &standing.project.name;
    let (committed, spent) = ctx.tools.money(project).await?;
    let local = f.now.with_timezone(&ctx.tz).date_naive();
    let first = local.with_day(1).unwrap_or(local);
    let next = (first + Duration::days(32)).with_day(1).unwrap_or(first);
    let at = |d: chrono::NaiveDate| {
        ctx.tz
            .from_local_datetime(&d.and_time(chrono::NaiveTime::MIN))
            .earliest()
            .map(|t| t.with_timezone(&chrono::Utc))
    };
    let month = match (at(first), at(next)) {
        (Some(a), Some(b)) => Interval::new(a, b).ok(),
        _ => None,
    };
    let used = match month {
        Some(w) => Some(ctx.tools.usage(ctx.caller, &w).await?.0),
        None => None,
    };
    let mut out = format!("Your limits:\n{}\n", lines.join("\n"));
    out.push_str(&match standing.limits.budget {
        None => format!(
            "Your project ({project}) has no budget set: {} is committed to bookings not yet ended and {} spent on those that ended.",
            money(committed),
            money(spent)
        ),
        Some(b) => format!(
            "Your project ({project}) has **{}** left of its budget of {} ({} committed to bookings not yet ended, {} spent).",
            money(Cents(b.0 - committed.0 - spent.0)),
            money(b),
            money(committed),
            money(spent)
        ),
    });
    if let Some(u) = used {
        out.push_str(&format!(
            "\nThis month ({}) your bookings use **{}** GPU-hours, {}.",
            first.format("%B %Y"),
            n(u.hours_shown()),
            money(u.amount)
        ));
    }
    Ok(out)
}
