//! All the prose of the built-in assistant, apart from the logic that decides what to say.

use super::state::{Draft, Slot};
use super::step::Say;
use crate::assistant::builtin::format;
use crate::assistant::builtin::unread::{Unread, UnreadKind};
use crate::assistant::builtin::when::{Problem, ProblemKind};
use crate::domain::{Booking, Cents, Interval};
use chrono_tz::Tz;

pub use format::{devices, moment, money, span};

/// What the assistant can do, with examples.
pub fn examples() -> &'static str {
    "I can tell you which GPUs we have, what they cost and what is free when, and book, \
change or cancel GPUs for you. Try for example:\n\
- *what GPUs do you have?*\n\
- *is an H100 free tomorrow 9-12?*\n\
- *book 2 A100s tomorrow from 9am to 5pm*\n\
- *when's the earliest I can get 4 H100s for 8 hours?*\n\
- *my bookings* · *cancel my L40S booking* · *extend it by 2 hours*"
}

/// The words of a slot question.
fn ask(slot: Slot, d: &Draft) -> String {
    let what = match (&d.model, d.count) {
        (Some(m), Some(n)) => format!("{n} × {m}"),
        (Some(m), None) => m.clone(),
        _ => "GPUs".into(),
    };
    match slot {
        Slot::Model => {
            "Which GPU model would you like? We have A100, H100, L40S, V100 and RTX 4090 \
cards (ask *what GPUs do you have?* for prices)."
                .into()
        }
        Slot::Count => format!(
            "How many {} GPUs do you need?",
            d.model.as_deref().unwrap_or("")
        ),
        // "friday for 3 hours": the length is known, only the start is asked.
        Slot::Start if d.date.is_some() && d.minutes.is_some() => format!(
            "At what time on {} should the {what} start? (e.g. *at 9am*)",
            d.date
                .map(|x| x.format("%a %-d %b").to_string())
                .unwrap_or_default()
        ),
        Slot::Start if d.date.is_some() => {
            format!("At what time should the {what} start, and for how long?")
        }
        Slot::Start => {
            format!("When do you need the {what}? (a day and a time, e.g. *tomorrow 9-17*)")
        }
        Slot::Length => {
            format!("For how long do you need the {what}? (e.g. *for 3 hours*, *until 17:00*)")
        }
    }
}

/// Why a time cannot be used, naming the piece.
fn problem(p: &Problem) -> String {
    let t = p.text.trim();
    match &p.kind {
        ProblemKind::Unreadable => format!(
            "I didn't understand '{t}' as a date or time — which day and time do you mean?"
        ),
        ProblemKind::Impossible => {
            format!("'{t}' is not a date that exists — which day do you mean?")
        }
        ProblemKind::Past => format!(
            "'{t}' is in the past, so I can't book it — which day and time in the future do you mean?"
        ),
        ProblemKind::TooFar => format!(
            "'{t}' is more than a year ahead; bookings can start at most 365 days from now. Which day do you mean?"
        ),
        ProblemKind::Ambiguous(dates) => {
            let options: Vec<String> = dates
                .iter()
                .map(|d| d.format("%A %-d %B %Y").to_string())
                .collect();
            format!(
                "'{t}' could mean {} — which one?",
                options.join(" or ")
            )
        }
        ProblemKind::Vague => format!(
            "'{t}' is too vague for me to book — which day and time exactly, and for how long?"
        ),
        ProblemKind::StartUnsaid => format!(
            "'{t}' says how long but not when it starts — what start time do you want?"
        ),
        ProblemKind::EachDayOrStretch => format!(
            "Do you mean those hours on each day of '{t}' (one booking per day), or one stretch from the first day's start to the last day's end?"
        ),
        ProblemKind::LengthDisagrees => format!(
            "'{t}' does not match the start and end you gave — which start and end do you mean?"
        ),
        ProblemKind::EndBeforeStart => format!(
            "In '{t}' the end is not after the start — what times do you mean?"
        ),
    }
}

/// The calendar links (API.md "Calendar feed"): the booking's own `.ics` when there is one,
/// and how to subscribe to all of them. Getting a feed URL is left to the person: asking
/// again revokes the one they have, so the assistant never does it for them.
fn calendar(booking: Option<&str>) -> String {
    let all = "For all your bookings, kept up to date: `POST /api/calendar/feed` gives you a \
private feed URL to subscribe to in your calendar app (asking again replaces it), and \
`/api/calendar.ics` downloads them once.";
    match booking {
        Some(id) => format!(
            "To add booking {id} to your calendar, open `/api/bookings/{id}/ics` — an .ics \
file any calendar app imports. {all}"
        ),
        None => all.to_string(),
    }
}

/// The text for a `Say`.
pub fn say(s: &Say, centre: &str, tz: Tz, currency: &str) -> String {
    match s {
        Say::Greeting => format!("Hello! I'm the GPU booking assistant of {centre}. {}", examples()),
        Say::Help => examples().to_string(),
        Say::Thanks => "You're welcome! Anything else I can do?".into(),
        Say::NotUnderstood => format!("Sorry, I didn't understand that. {}", examples()),
        Say::NothingPending => {
            "There's nothing waiting for a yes, so I haven't done anything. What would you like to do?"
                .into()
        }
        Say::Dropped { had: true } => "OK — I haven't booked or changed anything.".into(),
        Say::Dropped { had: false } => "OK. Anything else I can do?".into(),
        Say::Ask { slot, draft } => ask(*slot, draft),
        Say::Time(p) => problem(p),
        Say::UnknownModel(m) => format!(
            "We don't have '{m}' GPUs. We have A100, H100, L40S, V100 and RTX 4090 cards — \
ask *what GPUs do you have?* to see them with prices."
        ),
        Say::NoModelFits => {
            "None of our GPU models has that. Ask *what GPUs do you have?* to see them all.".into()
        }
        Say::WhichModel(ms) => format!("Which one do you mean: {}?", ms.join(" or ")),
        Say::TooMany { model, total } => format!(
            "We have only {total} {model} GPUs in total. How many do you need (1 to {total})?"
        ),
        Say::Refuse(why) => format!("I can't book that: {why}. What would you like instead?"),
        Say::Calendar { booking } => calendar(booking.as_deref()),
        Say::NoBookings => "You have no upcoming bookings.".into(),
        Say::NoMatch(r) => format!(
            "None of your upcoming bookings matches {r}. Say *my bookings* to see them."
        ),
        Say::WhichBooking { ids: _, cancel } => format!(
            "Several of your bookings match — which one should I {}? Say its number in the list \
below, its id, its model or its day.",
            if *cancel { "cancel" } else { "change" }
        ),
        Say::NotNow => "OK — nothing is cancelled. When you want it cancelled, say e.g. \
*cancel the L40S booking*."
            .into(),
        Say::Undecided => "OK — nothing is booked or changed yet. When you have decided, tell me \
the day and time (e.g. *3 A100 on 3 Dec 9-17*) and I'll propose it."
            .into(),
        Say::OnCondition(stated) => format!(
            "I can't check that condition, so I haven't booked anything yet. When you're sure, \
say *yes* and I'll book it; the proposal is still:\n{stated}"
        ),
        Say::Restate(text) => text.clone(),
        Say::OneAtATime(text) => format!(
            "One request at a time, so that nothing is booked you did not confirm — nothing is \
booked yet. First: {text} Then tell me the next one."
        ),
        Say::Unread(pieces) => unread(pieces),
        Say::OverBudget { price, budget } => format!(
            "That would cost {}, over your budget of {}. Nothing is booked — would fewer GPUs, \
a shorter time or a cheaper model do?",
            money(Cents(*price), currency),
            money(Cents(*budget), currency)
        ),
    }
    .replace("{tz}", &tz.to_string())
    .replace("{currency}", currency)
}

/// "2 × A100-80GB (ampere-01:0-1), Fri 27 Nov 09:00–17:00 UTC (8 h), $36.64".
pub fn booking_line(b: &Booking, tz: Tz, currency: &str) -> String {
    format!(
        "`{}` — {} × {} ({}), {} ({}), {}",
        b.id.short(),
        b.count(),
        b.model,
        devices(&b.gpus),
        span(&b.interval, tz),
        format::duration(&b.interval),
        money(b.price_total, currency)
    )
}

/// The proposal of a new booking.
#[allow(clippy::too_many_arguments)]
pub fn propose_booking(
    model: &str,
    why: Option<&str>,
    count: u32,
    interval: &Interval,
    gpus: &[crate::domain::Device],
    price: Cents,
    tz: Tz,
    currency: &str,
    assumed: &[String],
    counter: Option<&str>,
) -> String {
    let mut s = String::new();
    if let Some(c) = counter {
        s.push_str(c);
        s.push(' ');
    }
    if let Some(why) = why {
        s.push_str(&format!("The {why} is the **{model}**. "));
    }
    s.push_str(&format!(
        "I can book **{count} × {model}** ({}) for **{}** ({}) — **{}** in total.",
        devices(gpus),
        span(interval, tz),
        format::duration(interval),
        money(price, currency)
    ));
    if !assumed.is_empty() {
        s.push_str(&format!(" (I assumed {}.)", assumed.join(" and ")));
    }
    s.push_str(" Shall I book it? (yes / no)");
    s
}

/// The proposal of a change.
pub fn propose_change(
    old: &Booking,
    new: &Interval,
    count: u32,
    gpus: &[crate::domain::Device],
    price: Cents,
    tz: Tz,
    currency: &str,
) -> String {
    format!(
        "I can change booking `{}` ({} × {}, {}) to **{count} × {}** ({}) for **{}** ({}) — **{}** in total (was {}). Shall I change it? (yes / no)",
        old.id.short(),
        old.count(),
        old.model,
        span(&old.interval, tz),
        old.model,
        devices(gpus),
        span(new, tz),
        format::duration(new),
        money(price, currency),
        money(old.price_total, currency),
    )
}

/// The proposal of a cancellation.
pub fn propose_cancel(list: &[&Booking], tz: Tz, currency: &str) -> String {
    let lines: Vec<String> = list
        .iter()
        .map(|b| format!("- {}", booking_line(b, tz, currency)))
        .collect();
    let what = if list.len() == 1 {
        "this booking"
    } else {
        "these bookings"
    };
    format!("Shall I cancel {what}? (yes / no)\n{}", lines.join("\n"))
}

/// Names back what was not understood, one sentence per kind, and says nothing is done.
fn unread(pieces: &[Unread]) -> String {
    let quoted = |kind: UnreadKind| {
        pieces
            .iter()
            .filter(|u| u.kind == kind)
            .map(|u| format!("'{}'", u.words))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for u in pieces {
        if seen.contains(&u.kind) {
            continue;
        }
        seen.push(u.kind);
        let w = quoted(u.kind);
        out.push(match u.kind {
            UnreadKind::Zone => format!(
                "I can't convert the time zone in {w} yet: I read every time in {{tz}}. \
Please give the times in {{tz}}."
            ),
            UnreadKind::Repeat => format!(
                "I can't book repeating sessions ({w}) in one go from chat yet. I can book them \
one at a time: which day and time is the first one?"
            ),
            UnreadKind::Money => format!(
                "I'm not sure what {w} is for. If it is a budget, say e.g. *under $40 in total*."
            ),
            UnreadKind::Part => format!(
                "I can only book whole GPUs and did not understand {w}: how many GPUs do you need?"
            ),
            UnreadKind::TimeWord => {
                format!("I didn't understand {w} in that request: which day and time do you mean?")
            }
            UnreadKind::Relative => {
                format!("I can't tell which booking {w} is: name it by its id, model, day or time.")
            }
        });
    }
    out.push("Nothing is booked or changed yet.".into());
    out.join(" ")
}
