//! The conversation: slot filling, context carried between turns, confirmation before a
//! booking, counter-offers on conflicts. The state lives in the session (JSON).

use super::format::{booking_table, devices, duration, gpu_table, moment, money, span};
use super::nlu::{Intent, Parsed, Superlative};
use super::when::When;
use crate::assistant::tools::{BookingView, ToolError, Tools};
use crate::assistant::Action;
use crate::domain::{BookingStatus, Interval, Owner};
use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// How far ahead a counter-offer may be.
const OFFER_HORIZON_DAYS: i64 = 14;

/// A booking being put together.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Draft {
    pub model: Option<String>,
    pub count: Option<u32>,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    /// A length given before the start.
    pub minutes: Option<i64>,
}

impl Draft {
    fn interval(&self) -> Option<Interval> {
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

/// Everything a reply needs.
pub struct Ctx<'a> {
    pub tools: &'a Tools,
    pub caller: &'a Owner,
    pub tz: Tz,
    pub centre: &'a str,
    pub currency: &'a str,
    pub can_act: bool,
}

/// The reply of one turn.
pub struct Out {
    pub text: String,
    pub actions: Vec<Action>,
}

fn say(text: impl Into<String>) -> Out {
    Out {
        text: text.into(),
        actions: Vec::new(),
    }
}

impl Ctx<'_> {
    fn now(&self) -> DateTime<Utc> {
        self.tools.clock().now()
    }

    fn local(&self, date: chrono::NaiveDate, t: NaiveTime) -> DateTime<Utc> {
        let naive = date.and_time(t);
        self.tz
            .from_local_datetime(&naive)
            .earliest()
            .or_else(|| {
                self.tz
                    .from_local_datetime(&(naive + Duration::hours(1)))
                    .earliest()
            })
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_else(|| naive.and_utc())
    }

    fn today(&self) -> chrono::NaiveDate {
        self.now().with_timezone(&self.tz).date_naive()
    }

    fn money(&self, c: crate::domain::Cents) -> String {
        money(c, self.currency)
    }

    /// Turns what was said about time into a start / end, given the rules in `when.rs`.
    /// `whole_day`: a bare date means the whole day (availability) rather than 09:00.
    fn times(
        &self,
        w: &When,
        whole_day: bool,
    ) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>, Option<i64>) {
        let now = self.now();
        let soon = ceil_minute(now);
        let dur = w.duration.map(|d| d.num_minutes());
        let end_on = |date: chrono::NaiveDate, start: DateTime<Utc>| -> Option<DateTime<Utc>> {
            let e = w.end?;
            let mut end = if w.end_of_day {
                self.local(date + Duration::days(1), NaiveTime::MIN)
            } else {
                self.local(date, e)
            };
            while end <= start {
                end += Duration::days(1);
            }
            Some(end)
        };
        if let Some(rel) = w.from_now {
            let start = ceil_minute(now + rel);
            let local_date = start.with_timezone(&self.tz).date_naive();
            let end = dur
                .map(|m| start + Duration::minutes(m))
                .or_else(|| end_on(local_date, start));
            return (Some(start), end, dur);
        }
        if let Some(st) = w.start {
            let explicit = w.date.is_some();
            let mut date = w.date.unwrap_or_else(|| self.today());
            let mut start = self.local(date, st);
            let passed = if w.end.is_some() && !w.end_of_day {
                self.local(date, w.end.unwrap_or(st)) <= now
            } else {
                start < now - Duration::minutes(5)
            };
            if !explicit && passed {
                date += Duration::days(1);
                start = self.local(date, st);
            }
            let end = end_on(date, start).or_else(|| dur.map(|m| start + Duration::minutes(m)));
            // Already under way ("this weekend" on a Saturday, "today all day"): from now on.
            if start < now && end.is_some_and(|e| e > soon) {
                return (Some(soon), end, end.map(|e| (e - soon).num_minutes()));
            }
            return (Some(start), end, dur);
        }
        if let Some(date) = w.date {
            let day_start = self.local(date, NaiveTime::MIN);
            let day_end = self.local(date + Duration::days(1), NaiveTime::MIN);
            if whole_day && dur.is_none() && w.end.is_none() {
                return (Some(day_start.max(soon)), Some(day_end), None);
            }
            let nine = self.local(date, NaiveTime::from_hms_opt(9, 0, 0).expect("09:00"));
            let start = if date == self.today() {
                nine.max(soon)
            } else {
                nine
            };
            let end = dur
                .map(|m| start + Duration::minutes(m))
                .or_else(|| end_on(date, start));
            return (Some(start), end, dur);
        }
        if w.end.is_some() {
            let end = end_on(self.today(), soon);
            return (Some(soon), end, dur);
        }
        (None, None, dur)
    }

    /// A window for a question: what was said, else the context, else the next hour.
    fn window(&self, p: &Parsed, ctx: &Draft) -> Interval {
        let (s, e, d) = self.times(&p.when, true);
        let now = ceil_minute(self.now());
        let start = s
            .or(if p.when.is_empty() { ctx.start } else { None })
            .unwrap_or(now);
        let end = e
            .or_else(|| d.map(|m| start + Duration::minutes(m)))
            .or(if p.when.is_empty() { ctx.end } else { None })
            .filter(|e| *e > start)
            .unwrap_or(start + Duration::hours(1));
        Interval::new(start, end).expect("end after start")
    }
}

fn ceil_minute(t: DateTime<Utc>) -> DateTime<Utc> {
    let secs = t.timestamp();
    let up = if secs % 60 == 0 && t.timestamp_subsec_nanos() == 0 {
        secs
    } else {
        secs - secs.rem_euclid(60) + 60
    };
    DateTime::from_timestamp(up, 0).unwrap_or(t)
}

fn tool_error(e: &ToolError) -> String {
    match e {
        ToolError::Unavailable(_) | ToolError::Internal(_) => {
            "Sorry — I couldn't reach the booking system just now. Please try again in a moment."
                .into()
        }
        other => format!("{}.", capitalise(&other.to_string())),
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

fn examples() -> &'static str {
    "- *What GPUs do you have?*\n- *Is an H100 free tomorrow 9-12?*\n- *How much for 4 V100s for a week?*\n- *Book 2 A100s tomorrow from 9am to 5pm*\n- *Show my bookings* · *Cancel booking 7f3a…*"
}

/// Answers one message.
pub async fn respond(ctx: &Ctx<'_>, p: &Parsed, state: &mut State) -> Out {
    let out = match p.intent {
        Intent::Yes => yes(ctx, state).await,
        Intent::No => {
            state.replacing = None;
            let had = state.confirm.take().is_some() | state.draft.take().is_some();
            state.choosing_cancel = false;
            say(if had { "OK — I haven't booked anything. What else can I do for you?" } else { "OK. Anything else I can help with?" })
        }
        Intent::Greeting => say(format!("Hello! I'm the booking assistant of **{}**. I can show our GPUs, tell you what's free when and what it costs, and book or cancel GPUs for you. For example:\n{}", ctx.centre, examples())),
        Intent::Help => say(format!("I can help you rent GPUs at **{}**:\n\n- **See the hardware**: *list gpus*\n- **Check availability**: *is an H100 free tomorrow 9-12?*\n- **Get a price**: *what would 4 V100s for a week cost?*\n- **Book**: *book 2 A100s tomorrow from 9am to 5pm* — I'll confirm the details and price before booking\n- **Your bookings**: *my bookings*, *cancel booking 7f3a1c2e*\n\nTimes are read in {}.", ctx.centre, ctx.tz)),
        Intent::Thanks => say("You're welcome! Anything else — another booking, or a look at availability?"),
        Intent::Inventory => with_superlative(ctx, p, inventory(ctx, state).await).await,
        // "How much will that be?" while a booking waits for a yes: state it again.
        Intent::Price if p.models.is_empty() && p.when.is_empty() && p.superlative.is_none() && state.confirm.is_some() => {
            let d = state.confirm.clone().unwrap_or_default();
            advance(ctx, d, state).await
        }
        Intent::Price => with_superlative(ctx, p, price(ctx, p, state).await).await,
        Intent::Availability => availability(ctx, p, state).await,
        Intent::Book => book(ctx, p, state).await,
        Intent::MyBookings => my_bookings(ctx, state).await,
        Intent::Cancel => cancel(ctx, p, state).await,
        Intent::Slots => slots(ctx, p, state).await,
        Intent::Change => change(ctx, p, state).await,
        Intent::Unknown => {
            if state.choosing_cancel && p.booking_ref.is_some() {
                cancel(ctx, p, state).await
            } else {
                say(format!("I'm not sure I understood that — I'm the GPU booking assistant of {}. I can list GPUs, check availability, quote prices, and book or cancel GPUs. Try:\n{}", ctx.centre, examples()))
            }
        }
    };
    if !matches!(
        p.intent,
        Intent::Yes | Intent::No | Intent::Thanks | Intent::Unknown | Intent::Slots
    ) {
        state.topic = Some(p.intent);
    }
    out
}

/// Puts the answer to "cheapest" / "most memory" before a reply.
async fn with_superlative(ctx: &Ctx<'_>, p: &Parsed, out: Out) -> Out {
    let Some(sup) = p.superlative else { return out };
    let Ok(gpus) = ctx.tools.gpus().await else {
        return out;
    };
    let head = match sup {
        Superlative::Cheapest => gpus.iter().min_by_key(|g| g.price_per_hour).map(|g| {
            format!(
                "The cheapest is **{}** at **{}** per GPU-hour ({} GB, {} free now).",
                g.model,
                ctx.money(g.price_per_hour),
                g.memory_gb,
                g.available_now
            )
        }),
        Superlative::MostMemory => {
            let max = gpus.iter().map(|g| g.memory_gb).max().unwrap_or(0);
            let names: Vec<String> = gpus
                .iter()
                .filter(|g| g.memory_gb == max)
                .map(|g| format!("**{}** ({}/h)", g.model, ctx.money(g.price_per_hour)))
                .collect();
            Some(format!(
                "The most memory per GPU is {max} GB: {}.",
                names.join(" and ")
            ))
        }
    };
    match head {
        Some(h) => Out {
            text: format!("{h}\n\n{}", out.text),
            actions: out.actions,
        },
        None => out,
    }
}

async fn inventory(ctx: &Ctx<'_>, _state: &mut State) -> Out {
    match ctx.tools.gpus().await {
        Ok(g) => {
            let total: u32 = g.iter().map(|x| x.total).sum();
            say(format!("**{}** has {} GPUs of {} models:\n\n{}\nAsk me about availability, or say e.g. *book 2 A100s tomorrow 9-17*.", ctx.centre, total, g.len(), gpu_table(&g, ctx.currency)))
        }
        Err(e) => say(tool_error(&e)),
    }
}

async fn price(ctx: &Ctx<'_>, p: &Parsed, state: &mut State) -> Out {
    let models = if p.models.is_empty() {
        state.context.model.clone().into_iter().collect()
    } else {
        p.models.clone()
    };
    // Prices need only the (cached) inventory, not what is free now.
    let inv = match ctx.tools.inventory().await {
        Ok(inv) => inv,
        Err(e) => return say(tool_error(&e)),
    };
    if models.is_empty() {
        let mut s = String::from(
            "Prices per GPU-hour:\n\n| Model | Memory | Price / GPU-hour |\n|---|---:|---:|\n",
        );
        for g in inv.models() {
            s.push_str(&format!(
                "| {} | {} GB | {} |\n",
                g.name,
                g.memory_gb,
                ctx.money(g.price_per_hour)
            ));
        }
        s.push_str("\nA booking costs count × hours × the hourly price, pro rata to the minute.");
        return say(s);
    }
    let (start, end, dur) = ctx.times(&p.when, false);
    let count = p.count.or(p.bare_number).unwrap_or(1);
    let mut lines = Vec::new();
    for m in &models {
        let Some(g) = inv.models().iter().find(|g| &g.name == m) else {
            continue;
        };
        // "every H100": all of the model's devices.
        let count = if p.all { g.total() } else { count };
        let span_len = match (start, end, dur) {
            (Some(s), Some(e), _) => Interval::new(s, e).ok(),
            (_, _, Some(d)) => {
                let s = start.unwrap_or_else(|| ceil_minute(ctx.now()));
                Interval::new(s, s + Duration::minutes(d)).ok()
            }
            _ => None,
        };
        match span_len {
            Some(iv) => {
                let q = crate::domain::booking::price(g.price_per_hour, count, &iv);
                lines.push(format!(
                    "**{count} × {}** for {} = **{}** ({} per GPU-hour).",
                    g.name,
                    duration(&iv),
                    ctx.money(q),
                    ctx.money(g.price_per_hour)
                ));
                state.context = Draft {
                    model: Some(g.name.clone()),
                    count: Some(count),
                    start,
                    end: end.filter(|_| start.is_some()),
                    minutes: Some(iv.duration().num_minutes()),
                };
            }
            None => {
                let mut per = if count > 1 {
                    format!(
                        " — {} per hour for {count}",
                        ctx.money(crate::domain::Cents(g.price_per_hour.0 * count as i64))
                    )
                } else {
                    String::new()
                };
                if let Some(minutes) = p.per_minutes {
                    let label = match minutes {
                        1440 => "day",
                        10080 => "week",
                        _ => "30 days",
                    };
                    let cents = g.price_per_hour.0 * count as i64 * minutes / 60;
                    per.push_str(&format!(
                        " — **{}** per {label} for {count}",
                        ctx.money(crate::domain::Cents(cents))
                    ));
                }
                lines.push(format!(
                    "**{}** ({} GB) costs **{}** per GPU-hour{per}.",
                    g.name,
                    g.memory_gb,
                    ctx.money(g.price_per_hour)
                ));
                state.context.model = Some(g.name.clone());
                state.context.count = p.count.or(state.context.count);
            }
        }
    }
    say(lines.join("\n\n"))
}

async fn availability(ctx: &Ctx<'_>, p: &Parsed, state: &mut State) -> Out {
    let models: Vec<String> = if p.models.is_empty() {
        state
            .context
            .model
            .clone()
            .filter(|_| !p.when.is_empty() || p.count.is_some())
            .into_iter()
            .collect()
    } else {
        p.models.clone()
    };
    let window = ctx.window(p, &state.context);
    let when = if p.when.is_empty() && state.context.start.is_none()
        || p.when.from_now == Some(Duration::zero())
            && p.when.duration.is_none()
            && p.when.end.is_none()
    {
        "right now".to_string()
    } else {
        span(&window, ctx.tz)
    };
    if models.is_empty() {
        let gpus = match ctx.tools.gpus().await {
            Ok(g) => g,
            Err(e) => return say(tool_error(&e)),
        };
        let mut s = format!("Free GPUs {when}:\n\n| Model | Free | Total |\n|---|---:|---:|\n");
        for g in &gpus {
            match ctx.tools.availability(&g.model, window).await {
                Ok(a) => s.push_str(&format!("| {} | {} | {} |\n", a.model, a.free, a.total)),
                Err(e) => return say(tool_error(&e)),
            }
        }
        s.push_str("\nTell me a model and a time to book, e.g. *book 2 L40S for that slot*.");
        state.context = Draft {
            model: None,
            count: p.count,
            start: Some(window.start()),
            end: Some(window.end()),
            minutes: None,
        };
        return say(s);
    }
    // "what about L40S?" keeps the count asked about before.
    let count = if p.intent == Intent::Slots {
        p.count.or(state.context.count)
    } else {
        p.count
    };
    let mut lines = Vec::new();
    for m in &models {
        let a = match ctx.tools.availability(m, window).await {
            Ok(a) => a,
            Err(e) => return say(tool_error(&e)),
        };
        match count {
            Some(c) if a.bookable >= c => lines.push(format!("Yes — **{} of {}** {} GPUs are free {when}, so {c} can be booked. Say *book it* to reserve {}.", a.free, a.total, a.model, if c == 1 { "one".to_string() } else { c.to_string() })),
            Some(c) => {
                let offer = ctx.tools.next_free(&a.model, c, window.duration(), window.start(), Duration::days(OFFER_HORIZON_DAYS)).await.ok().flatten();
                let alt = match offer {
                    Some(o) if c <= a.total => format!(" The nearest time with {c} free is **{}**.", span(&o, ctx.tz)),
                    _ if c > a.total => format!(" We have {} in total.", a.total),
                    _ => String::new(),
                };
                lines.push(format!("No — only **{} of {}** {} GPUs are free {when}.{alt}", a.bookable.min(a.free), a.total, a.model));
            }
            None => lines.push(format!("**{} of {}** {} GPUs are free {when}.", a.free, a.total, a.model)),
        }
        if a.free != a.bookable && a.bookable < a.free {
            lines.push(format!(
                "(Bookings start and end inside that window: {} can be booked for all of it.)",
                a.bookable
            ));
        }
    }
    state.context = Draft {
        model: models.first().cloned(),
        count,
        start: Some(window.start()),
        end: Some(window.end()),
        minutes: None,
    };
    say(lines.join("\n\n"))
}

/// Merges what a message says into a draft.
fn merge(ctx: &Ctx<'_>, p: &Parsed, d: &mut Draft, awaiting_count: bool) {
    if let Some(m) = p.models.first() {
        d.model = Some(m.clone());
    }
    if let Some(c) = p.count.or(
        if awaiting_count || d.model.is_some() && p.models.is_empty() && p.when.is_empty() {
            p.bare_number
        } else {
            None
        },
    ) {
        d.count = Some(c);
    }
    if !p.when.is_empty() {
        let (s, e, dur) = ctx.times(&p.when, false);
        match (s, e) {
            (Some(s), e) => {
                d.start = Some(s);
                d.end = e.or_else(|| d.minutes.or(dur).map(|m| s + Duration::minutes(m)));
                if e.is_some() || dur.is_some() {
                    d.minutes = dur.or(e.map(|e| (e - s).num_minutes()));
                }
            }
            (None, _) => {
                if let Some(m) = dur {
                    d.minutes = Some(m);
                    d.end = d.start.map(|s| s + Duration::minutes(m));
                }
            }
        }
    }
}

async fn book(ctx: &Ctx<'_>, p: &Parsed, state: &mut State) -> Out {
    // A fresh request starts from the context of the last question ("book it"), else from
    // the booking being filled in.
    let mut d = match (&state.confirm, &state.draft) {
        (Some(c), _) if p.models.is_empty() || p.models.first() == c.model.as_ref() => c.clone(),
        (_, Some(d)) if p.models.is_empty() || p.models.first() == d.model.as_ref() => d.clone(),
        _ if matches!(state.topic, Some(Intent::Availability | Intent::Price)) => {
            state.context.clone()
        }
        _ => Draft::default(),
    };
    if p.all {
        if let Some(m) = p.models.first().or(d.model.as_ref()) {
            if let Ok(inv) = ctx.tools.inventory().await {
                d.count = inv.find(m).map(|x| x.total());
            }
        }
    }
    merge(ctx, p, &mut d, false);
    state.confirm = None;
    state.replacing = None;
    advance(ctx, d, state).await
}

/// Asks for what is missing, or checks the booking and asks for confirmation.
async fn advance(ctx: &Ctx<'_>, d: Draft, state: &mut State) -> Out {
    let Some(model) = d.model.clone() else {
        let names = match ctx.tools.gpus().await {
            Ok(g) => g
                .iter()
                .map(|x| {
                    format!(
                        "**{}** ({} free now, {}/h)",
                        x.model,
                        x.available_now,
                        ctx.money(x.price_per_hour)
                    )
                })
                .collect::<Vec<_>>()
                .join(", "),
            Err(e) => return say(tool_error(&e)),
        };
        state.draft = Some(d);
        return say(format!(
            "Sure — which GPU model would you like? We have {names}."
        ));
    };
    let Some(count) = d.count else {
        state.draft = Some(d);
        return say(format!("How many **{model}** GPUs do you need?"));
    };
    let Some(start) = d.start else {
        state.draft = Some(d);
        return say(format!("When do you need the {count} × {model}? For example *tomorrow 9-17*, *Friday from 10:00 for 3 hours* or *in 2 hours for 90 minutes*."));
    };
    let Some(interval) = d.interval() else {
        state.draft = Some(d);
        return say(format!(
            "For how long, starting {}? For example *for 3 hours*, *until 18:00* or *for 2 days*.",
            moment(start, ctx.tz)
        ));
    };
    if let Err(e) = ctx.tools.check(&model, count as i64, &interval).await {
        let mut d = d;
        let msg = tool_error(&e);
        if matches!(
            e,
            ToolError::Invalid {
                code: "start_in_past",
                ..
            }
        ) {
            d.start = None;
            d.end = None;
            state.draft = Some(d);
            return say(format!(
                "That time ({}) has already passed — when should it start instead?",
                span(&interval, ctx.tz)
            ));
        }
        if matches!(
            e,
            ToolError::Invalid {
                code: "invalid_count",
                ..
            }
        ) {
            d.count = None;
        }
        if matches!(
            e,
            ToolError::Invalid {
                code: "booking_too_long",
                ..
            }
        ) {
            d.end = None;
            d.minutes = None;
        }
        state.draft = Some(d);
        return say(format!("{msg} Could you adjust that?"));
    }
    state.draft = None;
    let quote = match ctx.tools.quote(&model, count, &interval).await {
        Ok(q) => q,
        Err(e) => return say(tool_error(&e)),
    };
    let preview = match ctx.tools.preview(&model, count, &interval).await {
        Ok(p) => p,
        Err(e) => return say(tool_error(&e)),
    };
    state.context = d.clone();
    match preview {
        Some(devs) => {
            state.confirm = Some(d);
            let act = if ctx.can_act {
                "\n\n**Shall I book it?** (yes / no)"
            } else {
                "\n\nThis is a quote only: to book, ask me in a chat session."
            };
            say(format!(
                "Here is the booking:\n\n| | |\n|---|---|\n| Model | {model} |\n| GPUs | {count} |\n| Nodes | {} |\n| When | {} ({}) |\n| Price | **{}** ({} × {} per GPU-hour) |{act}",
                devices(&devs), span(&interval, ctx.tz), duration(&interval), ctx.money(quote.price_total), count, ctx.money(quote.price_per_hour)
            ))
        }
        None => conflict(ctx, d, &interval, state).await,
    }
}

/// Not enough free: say how many are, and offer the nearest slot that fits.
async fn conflict(ctx: &Ctx<'_>, d: Draft, interval: &Interval, state: &mut State) -> Out {
    let (model, count) = (d.model.clone().unwrap_or_default(), d.count.unwrap_or(1));
    let a = match ctx.tools.availability(&model, *interval).await {
        Ok(a) => a,
        Err(e) => return say(tool_error(&e)),
    };
    if count > a.total {
        state.draft = Some(Draft { count: None, ..d });
        return say(format!("We have only **{}** {} GPUs in total, so {} can't be booked at once. How many would you like instead?", a.total, model, count));
    }
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
    let head = format!(
        "Only **{} of {}** {} GPUs are free for {}, not {}.",
        a.bookable,
        a.total,
        model,
        span(interval, ctx.tz),
        count
    );
    match offer {
        Ok(Some(o)) => {
            let alt = Draft {
                start: Some(o.start()),
                end: Some(o.end()),
                ..d
            };
            let q = ctx
                .tools
                .quote(&model, count, &o)
                .await
                .map(|q| ctx.money(q.price_total))
                .unwrap_or_default();
            state.confirm = ctx.can_act.then(|| alt.clone());
            state.context = alt;
            let ask = if ctx.can_act {
                " **Shall I book that instead?** (yes / no)"
            } else {
                ""
            };
            say(format!(
                "{head} The nearest slot with {count} free is **{}** ({}).{ask}",
                span(&o, ctx.tz),
                q
            ))
        }
        Ok(None) => {
            state.draft = Some(Draft {
                start: None,
                end: None,
                ..d
            });
            say(format!("{head} I found no slot with {count} free in the next {OFFER_HORIZON_DAYS} days — try fewer GPUs or another model."))
        }
        Err(e) => say(tool_error(&e)),
    }
}

async fn yes(ctx: &Ctx<'_>, state: &mut State) -> Out {
    let Some(d) = state.confirm.take() else {
        if let Some(d) = state.draft.clone() {
            return advance(ctx, d, state).await;
        }
        if state.context.model.is_some()
            && matches!(state.topic, Some(Intent::Availability | Intent::Price))
        {
            // "Say *book it*": a yes to the question just answered.
            let empty = Parsed {
                intent: Intent::Book,
                models: vec![],
                count: None,
                all: false,
                when: When::default(),
                booking_ref: None,
                bare_number: None,
                superlative: None,
                per_minutes: None,
            };
            return Box::pin(book(ctx, &empty, state)).await;
        }
        return say("There's nothing waiting for a yes right now. What would you like to do — check availability or book GPUs?");
    };
    if !ctx.can_act {
        return say("I can't book from here (this channel only answers questions). Please use a chat session to book.");
    }
    let (Some(model), Some(count), Some(interval)) = (d.model.clone(), d.count, d.interval())
    else {
        return advance(ctx, d, state).await;
    };
    if let Some(old_id) = state.replacing.take() {
        return replace(ctx, &old_id, d, state).await;
    }
    match ctx
        .tools
        .book(ctx.caller, &model, count as i64, interval)
        .await
    {
        Ok(b) => {
            state.context = Draft::default();
            state.last_booking = Some(b.id.to_string());
            Out {
                text: format!(
                    "**Booked!** **{} × {}** on {} for {} — total **{}**.\n\nBooking id: `{}` (say *cancel booking {}* to cancel it).",
                    b.count(), b.model, devices(&b.gpus), span(&b.interval, ctx.tz), ctx.money(b.price_total), b.id, b.id.short()
                ),
                actions: vec![Action::BookingCreated { booking: BookingView::from(&b) }],
            }
        }
        Err(ToolError::InsufficientCapacity { .. }) => conflict(ctx, d, &interval, state).await,
        Err(e @ ToolError::Invalid { .. }) => {
            state.draft = Some(Draft {
                start: None,
                end: None,
                ..d
            });
            say(format!("{} When should it be instead?", tool_error(&e)))
        }
        Err(e) => {
            state.confirm = Some(d);
            say(format!("{} Say *yes* to try again.", tool_error(&e)))
        }
    }
}

/// A change to a booking made earlier in this chat: the booking it would become, for a yes.
async fn change(ctx: &Ctx<'_>, p: &Parsed, state: &mut State) -> Out {
    if state.confirm.is_some() || state.draft.is_some() {
        return slots(ctx, p, state).await;
    }
    let Some(id) = state.last_booking.clone() else {
        return say("Which booking should I change? Say *my bookings* to see them; to change one, cancel it and book again.");
    };
    let now = ctx.now();
    let old = match ctx.tools.bookings(ctx.caller).await {
        Ok(list) => list.into_iter().find(|b| {
            b.id.as_str() == id && b.status == BookingStatus::Confirmed && b.interval.end() > now
        }),
        Err(e) => return say(tool_error(&e)),
    };
    let Some(old) = old else {
        state.last_booking = None;
        return say("That booking is no longer active. Say *my bookings* to see the others.");
    };
    let minutes = old.interval.duration().num_minutes();
    let mut d = Draft {
        model: Some(old.model.clone()),
        count: Some(old.count()),
        start: Some(old.interval.start()),
        end: Some(old.interval.end()),
        minutes: Some(minutes),
    };
    let w = &p.when;
    if let (Some(date), None, None, None, None) = (w.date, w.start, w.end, w.duration, w.from_now) {
        // A new day alone keeps the time of day and the length.
        let start = ctx.local(date, old.interval.start().with_timezone(&ctx.tz).time());
        d.start = Some(start);
        d.end = Some(start + Duration::minutes(minutes));
    } else {
        merge(ctx, p, &mut d, true);
    }
    if d.model.as_deref() == Some(old.model.as_str())
        && d.count == Some(old.count())
        && d.interval() == Some(old.interval)
    {
        return say("That is the booking as it is. What should change — the day, the time, the number of GPUs or the model?");
    }
    state.replacing = Some(old.id.to_string());
    let out = advance(ctx, d, state).await;
    Out {
        text: format!(
            "This would replace booking `{}` ({} × {}, {}).\n\n{}",
            old.id.short(),
            old.count(),
            old.model,
            span(&old.interval, ctx.tz),
            out.text
        ),
        actions: out.actions,
    }
}

/// Makes the confirmed change: cancels the old booking, books the new one, and puts the old
/// one back if the new one cannot be made.
async fn replace(ctx: &Ctx<'_>, old_id: &str, d: Draft, state: &mut State) -> Out {
    let (Some(model), Some(count), Some(interval)) = (d.model.clone(), d.count, d.interval())
    else {
        return advance(ctx, d, state).await;
    };
    let old = match ctx.tools.cancel(ctx.caller, old_id).await {
        Ok(b) => b,
        Err(e) => return say(format!("{} Nothing was changed.", tool_error(&e))),
    };
    let mut actions = vec![Action::BookingCancelled {
        booking: BookingView::from(&old),
    }];
    match ctx
        .tools
        .book(ctx.caller, &model, count as i64, interval)
        .await
    {
        Ok(b) => {
            state.last_booking = Some(b.id.to_string());
            state.context = Draft::default();
            actions.push(Action::BookingCreated {
                booking: BookingView::from(&b),
            });
            Out {
                text: format!(
                    "**Changed.** Booking `{}` is cancelled; the new booking is **{} × {}** on {} for {} — total **{}**.\n\nBooking id: `{}`.",
                    old.id.short(), b.count(), b.model, devices(&b.gpus), span(&b.interval, ctx.tz), ctx.money(b.price_total), b.id
                ),
                actions,
            }
        }
        Err(e) => {
            // Put the original back (it gets a new id).
            let back = ctx
                .tools
                .book(ctx.caller, &old.model, old.count() as i64, old.interval)
                .await;
            let tail = match back {
                Ok(b) => {
                    state.last_booking = Some(b.id.to_string());
                    actions.push(Action::BookingCreated {
                        booking: BookingView::from(&b),
                    });
                    format!("Your original booking is kept (new id `{}`).", b.id.short())
                }
                Err(_) => "I could not restore the original booking either; please book again."
                    .to_string(),
            };
            Out {
                text: format!("I could not make the change: {} {tail}", tool_error(&e)),
                actions,
            }
        }
    }
}

async fn my_bookings(ctx: &Ctx<'_>, _state: &mut State) -> Out {
    match ctx.tools.bookings(ctx.caller).await {
        Ok(list) if list.is_empty() => {
            say("You have no bookings yet. Say e.g. *book an H100 tomorrow 9-12* to make one.")
        }
        Ok(list) => {
            let now = ctx.now();
            let active = list
                .iter()
                .filter(|b| b.status == BookingStatus::Confirmed && b.interval.end() > now)
                .count();
            say(format!(
                "You have {} booking{} ({} active):\n\n{}",
                list.len(),
                if list.len() == 1 { "" } else { "s" },
                active,
                booking_table(&list, ctx.tz, ctx.currency)
            ))
        }
        Err(e) => say(tool_error(&e)),
    }
}

async fn cancel(ctx: &Ctx<'_>, p: &Parsed, state: &mut State) -> Out {
    if !ctx.can_act {
        return say("I can't cancel bookings from here (this channel only answers questions). Please use a chat session.");
    }
    // "cancel that" while a booking waits for confirmation: drop it.
    if p.booking_ref.is_none()
        && p.models.is_empty()
        && (state.confirm.is_some() || state.draft.is_some())
    {
        state.confirm = None;
        state.draft = None;
        return say("OK — I haven't booked anything.");
    }
    let done = |b: &crate::domain::Booking| Out {
        text: format!(
            "Cancelled booking `{}`: {} × {} for {}. The GPUs are free again.",
            b.id.short(),
            b.count(),
            b.model,
            span(&b.interval, ctx.tz)
        ),
        actions: vec![Action::BookingCancelled {
            booking: BookingView::from(b),
        }],
    };
    if let Some(r) = &p.booking_ref {
        state.choosing_cancel = false;
        return match ctx.tools.cancel(ctx.caller, r).await {
            Ok(b) => done(&b),
            Err(e) => say(format!(
                "{} Say *my bookings* to see their ids.",
                tool_error(&e)
            )),
        };
    }
    let list = match ctx.tools.bookings(ctx.caller).await {
        Ok(l) => l,
        Err(e) => return say(tool_error(&e)),
    };
    let now = ctx.now();
    let active: Vec<_> = list
        .into_iter()
        .filter(|b| b.status == BookingStatus::Confirmed && b.interval.end() > now)
        .filter(|b| p.models.is_empty() || p.models.contains(&b.model))
        .collect();
    let of = p
        .models
        .first()
        .map(|m| format!(" of {m}"))
        .unwrap_or_default();
    match active.as_slice() {
        [] => say(format!("You have no active bookings{of} to cancel.")),
        [one] => match ctx.tools.cancel(ctx.caller, one.id.as_str()).await {
            Ok(b) => done(&b),
            Err(e) => say(tool_error(&e)),
        },
        many if p.all => {
            let mut out = Out {
                text: String::new(),
                actions: Vec::new(),
            };
            for b in many {
                if let Ok(c) = ctx.tools.cancel(ctx.caller, b.id.as_str()).await {
                    out.actions.push(Action::BookingCancelled {
                        booking: BookingView::from(&c),
                    });
                }
            }
            out.text = format!(
                "Cancelled all {} of your active bookings{of}.",
                out.actions.len()
            );
            out
        }
        many => {
            state.choosing_cancel = true;
            say(format!("You have {} active bookings{of}. Which one should I cancel? Give its id (the first 8 characters are enough):\n\n{}", many.len(), booking_table(many, ctx.tz, ctx.currency)))
        }
    }
}

/// Only slots: fill the booking being made, or carry the last question over to them
/// ("what about L40S?", "and tomorrow?").
async fn slots(ctx: &Ctx<'_>, p: &Parsed, state: &mut State) -> Out {
    if state.choosing_cancel && p.booking_ref.is_some() {
        return cancel(ctx, p, state).await;
    }
    if let Some(c) = state.confirm.clone() {
        let mut d = c;
        merge(ctx, p, &mut d, true);
        state.confirm = None;
        return advance(ctx, d, state).await;
    }
    if let Some(d) = state.draft.clone() {
        let mut d = d;
        let awaiting_count = d.model.is_some() && d.count.is_none();
        merge(ctx, p, &mut d, awaiting_count);
        return advance(ctx, d, state).await;
    }
    match state.topic {
        Some(Intent::Availability) => availability(ctx, p, state).await,
        Some(Intent::Price) => price(ctx, p, state).await,
        _ if !p.models.is_empty() => {
            let mut q = p.clone();
            q.intent = Intent::Availability;
            let a = availability(ctx, &q, state).await;
            let pr = price(ctx, &q, state).await;
            state.topic = Some(Intent::Availability);
            say(format!("{}\n\n{}", pr.text, a.text))
        }
        _ => say(format!("What would you like to do with that? I can check availability, quote a price or book. For example:\n{}", examples())),
    }
}
