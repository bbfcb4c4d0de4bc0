//! Every transition of the conversation, in one pure function: `step(state, message, facts)
//! -> (state, plan)`. No I/O: the plan is run by `act`, and its prose written by `reply`.
//! The rule it keeps: nothing is booked, changed or cancelled except by a yes to a proposal
//! that stated it; what cannot be read is asked about, never guessed.

use super::state::{Act, Draft, Memory, Pending, Proposal, Purpose, Slot, State};
use crate::assistant::builtin::lexicon::Cue;
use crate::assistant::builtin::nlu::{BookingRef, Count, Intent, Parsed};
use crate::assistant::builtin::unread::{Unread, UnreadKind};
use crate::assistant::builtin::when::Problem;
use crate::domain::{Booking, BookingStatus, Inventory};
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// What the world looks like for this turn (read before the step; nothing is written).
pub struct Facts<'a> {
    pub now: DateTime<Utc>,
    pub tz: Tz,
    pub inventory: &'a Inventory,
    /// The caller's bookings, newest first, when the step needs them.
    pub bookings: &'a [Booking],
}

impl Facts<'_> {
    fn today(&self) -> NaiveDate {
        self.now.with_timezone(&self.tz).date_naive()
    }

    /// A local date and time as an instant (the earlier one in a DST fold; a time in a DST
    /// gap moves an hour on).
    pub fn at(&self, date: NaiveDate, t: NaiveTime) -> DateTime<Utc> {
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

    fn local_time(&self, t: DateTime<Utc>) -> NaiveTime {
        t.with_timezone(&self.tz).time()
    }

    fn local_date(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.tz).date_naive()
    }

    /// The caller's bookings that can still be cancelled or changed.
    fn live(&self) -> Vec<&Booking> {
        let mut v: Vec<&Booking> = self
            .bookings
            .iter()
            .filter(|b| b.status == BookingStatus::Confirmed && b.interval.end() > self.now)
            .collect();
        v.sort_by_key(|b| b.interval.start());
        v
    }
}

/// A change asked of an existing booking, as said.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChangeAsk {
    pub date: Option<NaiveDate>,
    pub end_date: Option<NaiveDate>,
    pub start: Option<NaiveTime>,
    pub end: Option<NaiveTime>,
    pub end_midnight: bool,
    pub minutes: Option<i64>,
    pub extra: Option<i64>,
    pub by: Option<i64>,
    pub shift: Option<i64>,
    pub later: bool,
    pub earlier: bool,
    pub extend: bool,
    pub shorten: bool,
    pub count: Option<u32>,
    pub count_delta: Option<i32>,
    pub model: Option<String>,
    /// "same end time": a new start leaves the end where it is.
    #[serde(default)]
    pub keep_end: bool,
    /// "add 2 hours at the start": the time added goes before the booking, not after.
    #[serde(default)]
    pub extra_at_start: bool,
    /// "move it to Saturday, same hours": a move, which keeps the booking's length; a
    /// reading that changes the length is not what was said (asked instead).
    #[serde(default)]
    pub keep_length: bool,
    /// "make it 4 if it's under $50 total": the most the changed booking may cost (cents).
    #[serde(default)]
    pub budget: Option<i64>,
}

impl ChangeAsk {
    fn from(p: &Parsed) -> Self {
        let s = &p.time.said;
        let mins = |d: Option<Duration>| d.map(|d| d.num_minutes());
        // "end at 13:00 ... free for others in the afternoon": a part of the day beside an
        // end is a story, not a new start.
        use crate::assistant::builtin::when::MentionKind as K;
        let kinds = || {
            p.time
                .mentions
                .iter()
                .filter(|m| !m.negated)
                .map(|m| &m.kind)
        };
        let pod_start_only = kinds().any(|k| matches!(k, K::PartOfDay(..)))
            && kinds().any(|k| matches!(k, K::Until(_, Some(_))))
            && !kinds().any(|k| matches!(k, K::Time(_) | K::TimeRange(..) | K::DateTime(..)));
        // "push the end out to 8pm", "finish at 6 instead": one time said of the end is the
        // new end, not a new start (nor a move of the whole booking).
        let end_only = p.change.end_named
            && !p.change.start_named
            && !p.change.keep_end
            && s.start.is_some()
            && s.end.is_none()
            && !s.end_midnight
            && s.duration.is_none();
        let (start, end) = if end_only {
            (None, s.start)
        } else {
            (s.start.filter(|_| !pod_start_only), s.end)
        };
        ChangeAsk {
            date: s.date,
            end_date: s.end_date,
            start,
            end,
            end_midnight: s.end_midnight,
            minutes: mins(s.duration),
            extra: mins(s.extra),
            by: mins(s.by),
            shift: mins(s.shift),
            later: p.change.later && !end_only,
            earlier: p.change.earlier && !end_only,
            // ("move it to Saturday ... one more experiment": a "more" beside a move, with no
            // time added, is not a longer booking.)
            extend: (p.change.extend || p.change.more && !(p.change.moved && s.extra.is_none()))
                && !end_only,
            shorten: p.change.shorten && !end_only,
            count: match p.count {
                Some(Count::Exact(n)) => Some(n),
                _ if p.count_delta.is_some() => None,
                _ => p.bare_number.filter(|_| !p.time_said()),
            },
            count_delta: p.count_delta,
            model: p.model().map(str::to_string),
            keep_end: p.change.keep_end,
            extra_at_start: s.extra.is_some() && p.change.start_named && !p.change.end_named,
            keep_length: (p.change.moved
                || p.words.windows(2).any(|w| {
                    w[0] == "same"
                        && matches!(w[1].as_str(), "hours" | "times" | "length" | "duration")
                }))
                && !(p.change.extend || p.change.shorten)
                && !p.change.end_named
                && s.duration.is_none()
                && s.extra.is_none()
                && s.by.is_none()
                // (an end said; a part of the day's end is only where it is looked for)
                && !kinds().any(|k| matches!(k, K::TimeRange(..) | K::Until(_, Some(_)))),
            budget: p.budget,
        }
    }

    /// A correction of an earlier ask: what is said now replaces, the rest stays.
    fn over(self, old: &ChangeAsk) -> ChangeAsk {
        let direction = self.later || self.earlier || self.extend || self.shorten;
        ChangeAsk {
            date: self.date.or(old.date),
            end_date: self.end_date.or(old.end_date),
            start: self.start.or(old.start),
            end: self.end.or(old.end),
            end_midnight: self.end_midnight || old.end_midnight && self.end.is_none(),
            minutes: self
                .minutes
                .or(if self.extra.is_some() || self.by.is_some() {
                    None
                } else {
                    old.minutes
                }),
            extra: self
                .extra
                .or(if self.minutes.is_some() || self.by.is_some() {
                    None
                } else {
                    old.extra
                }),
            by: self
                .by
                .or(if self.minutes.is_some() || self.extra.is_some() {
                    None
                } else {
                    old.by
                }),
            shift: self.shift.or(old.shift),
            later: if direction { self.later } else { old.later },
            earlier: if direction { self.earlier } else { old.earlier },
            extend: if direction { self.extend } else { old.extend },
            shorten: if direction { self.shorten } else { old.shorten },
            count: self.count.or(if self.count_delta.is_some() {
                None
            } else {
                old.count
            }),
            count_delta: self.count_delta.or(if self.count.is_some() {
                None
            } else {
                old.count_delta
            }),
            model: self.model.or(old.model.clone()),
            keep_end: self.keep_end || old.keep_end && self.end.is_none(),
            // A length or end said now is a new length, whatever the move said before.
            budget: self.budget.or(old.budget),
            keep_length: self.keep_length
                || old.keep_length
                    && self.minutes.is_none()
                    && self.end.is_none()
                    && !self.end_midnight
                    && !direction,
            extra_at_start: if self.extra.is_some() {
                self.extra_at_start
            } else {
                old.extra_at_start
            },
        }
    }

    fn is_empty(&self) -> bool {
        *self == ChangeAsk::default()
            || ChangeAsk {
                later: false,
                earlier: false,
                extend: false,
                shorten: false,
                ..self.clone()
            } == ChangeAsk::default()
    }
}

/// Prose the renderer writes; the plan's answer when nothing is to be looked up.
#[derive(Debug, Clone, PartialEq)]
pub enum Say {
    Greeting,
    Help,
    Thanks,
    NotUnderstood,
    /// A yes with nothing waiting for it.
    NothingPending,
    /// A no: what was pending is dropped.
    Dropped {
        had: bool,
    },
    /// One question for a missing slot.
    Ask {
        slot: Slot,
        draft: Draft,
    },
    /// A time that cannot be used, named back.
    Time(Problem),
    /// The person named a model the inventory has not.
    UnknownModel(String),
    /// No model has the property asked for.
    NoModelFits,
    /// Several models named for one booking.
    WhichModel(Vec<String>),
    /// More GPUs than the model has.
    TooMany {
        model: String,
        total: u32,
    },
    /// A reason the request cannot be made as said.
    Refuse(String),
    /// No booking to cancel or change.
    NoBookings,
    /// A reference matched none of the bookings.
    NoMatch(String),
    /// Several bookings fit; which one?
    WhichBooking {
        ids: Vec<String>,
        cancel: bool,
    },
    /// A cancellation said as a plan or a maybe ("I might cancel it later"): nothing is
    /// proposed until it is asked for.
    NotNow,
    /// A yes on a condition that cannot be checked: the proposal (its statement) waits.
    OnCondition(String),
    /// A correction or change said as a maybe ("hmm, or maybe the 3rd"): what waited is
    /// dropped and nothing new is proposed until the person decides.
    Undecided,
    /// A pending proposal's statement again (the price asked while it waits).
    Restate(String),
    /// A yes that adds another request: the pending proposal again, still waiting, and
    /// nothing booked — one request at a time.
    OneAtATime(String),
    /// Words that could change what is booked and were not understood, named back.
    Unread(Vec<Unread>),
    /// The request costs more than the budget said with it (both in cents).
    OverBudget {
        price: i64,
        budget: i64,
    },
    /// "add it to my calendar": the calendar links (of this booking, when there is one).
    Calendar {
        booking: Option<String>,
    },
}

/// A question answered from the store.
#[derive(Debug, Clone, PartialEq)]
pub enum Question {
    Inventory,
    /// Facts about some models (memory, architecture, size, price).
    Models(Vec<String>),
    /// The price per hour or of a period.
    Price {
        model: Option<String>,
        count: u32,
        window: Option<(DateTime<Utc>, DateTime<Utc>)>,
        minutes: Option<i64>,
        why: Option<String>,
    },
    Availability {
        models: Vec<String>,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    },
    /// The caller's upcoming bookings: of these models, and on these days, when said
    /// ("when does my L40S booking start?", "anything on Wednesday?").
    MyBookings {
        models: Vec<String>,
        days: Vec<NaiveDate>,
    },
    Total,
    /// The caller's quotas with their use, the project's money, and this month's use.
    Account,
    /// Which GPUs a workload needs ("which GPU for a 70B model?", "will a 13B fit on a
    /// 4090?"): answered, never proposed.
    Workload {
        workload: crate::assistant::builtin::workload::Workload,
        models: Vec<String>,
    },
    /// The earliest window (proposed as a booking).
    FindSlot {
        model: Option<String>,
        count: u32,
        minutes: i64,
        after: DateTime<Utc>,
        assumed_length: bool,
    },
}

/// What to do this turn.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    Say(Say),
    /// Check a complete request and state it (or the nearest free alternative).
    Propose {
        draft: Draft,
        model: String,
        count: u32,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        assumed: Vec<String>,
    },
    /// State a change of a booking.
    ProposeChange {
        booking: String,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        count: u32,
        ask: ChangeAsk,
    },
    /// State a cancellation.
    ProposeCancel {
        bookings: Vec<String>,
    },
    /// The yes: act on the proposal.
    Execute(Proposal),
    Answer(Question),
    /// "put me on the waitlist": the request that did not fit (`None`: there is none).
    JoinWaitlist(Option<super::state::WaitRequest>),
}

/// Where a request stands once its slots are read.
enum Resolved {
    Ready {
        model: String,
        count: u32,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        assumed: Vec<String>,
    },
    Need(Slot),
    Bad(Say),
}

/// The one transition function: the transition, then the check every cancellation passes
/// (`qualified_cancel`).
pub fn step(state: &State, p: &Parsed, f: &Facts<'_>) -> (State, Plan) {
    // "put me on the waitlist", "queue me for them": the request that did not fit waits.
    if asks_waitlist(&p.words) {
        let mut next = state.clone();
        let wait = next.memory.waitable.take();
        next.pending = Pending::Idle;
        return (next, Plan::JoinWaitlist(wait));
    }
    // "add it to my calendar", "can I get it as an .ics?": the links, and nothing else. A
    // message that also names GPUs, a number or a time goes the usual way.
    if asks_calendar(&p.words)
        && p.models.is_empty()
        && p.count.is_none()
        && p.bare_number.is_none()
        && p.time.mentions.is_empty()
        && p.intent != Intent::Cancel
    {
        let booking = state.memory.last_booking.clone();
        return (state.clone(), Plan::Say(Say::Calendar { booking }));
    }
    let (next, plan) = transition(state, p, f);
    match plan {
        Plan::ProposeCancel { bookings } => qualified_cancel(next, bookings, false, p, f),
        Plan::Say(Say::WhichBooking { ids, cancel: true }) if part_of_day(p).is_some() => {
            qualified_cancel(next, ids, true, p, f)
        }
        plan => (next, plan),
    }
}

/// Whether the message is about calendars ("calendar", "ical", ".ics"), not a week number
/// ("calendar week 50" is a time).
fn asks_calendar(words: &[String]) -> bool {
    words.iter().enumerate().any(|(i, w)| {
        let w = w.trim_start_matches('.');
        matches!(w, "ical" | "icalendar" | "ics" | "icloud")
            || (matches!(w, "calendar" | "calender" | "calendars")
                && !matches!(
                    words.get(i + 1).map(String::as_str),
                    Some("week" | "weeks" | "wk" | "cw")
                ))
    })
}

/// Whether the message asks to wait in line ("waitlist", "wait list", "queue me").
fn asks_waitlist(words: &[String]) -> bool {
    words
        .iter()
        .any(|w| matches!(w.as_str(), "waitlist" | "waitinglist" | "wait-list"))
        || words.windows(2).any(|w| {
            matches!(w[0].as_str(), "wait" | "waiting") && w[1] == "list"
                || w[0] == "queue" && matches!(w[1].as_str(), "me" | "us" | "it")
        })
}

/// The parts of the day a message qualifies bookings by ("both morning ones"), as local
/// hours [from, to) of their start.
fn part_of_day(p: &Parsed) -> Option<(u32, u32)> {
    let words = &p.words;
    let found = [
        ("morning", (5, 12)),
        ("afternoon", (12, 17)),
        ("evening", (17, 23)),
        ("night", (19, 29)),
    ]
    .iter()
    .filter(|(w, _)| {
        words
            .iter()
            .any(|t| t == w || t.strip_suffix('s') == Some(w))
    })
    .map(|(_, r)| *r)
    // Two parts named ("the afternoon one, the morning stays"): the rest of the message
    // says which; this check does not choose between them.
    .fold((None, 0), |(first, n), r| (first.or(Some(r)), n + 1));
    match found {
        (Some(r), 1) => Some(r),
        _ => None,
    }
}

/// How many bookings the message says it means ("both", "the two ... ones", "3 bookings").
fn bookings_counted(p: &Parsed) -> Option<usize> {
    let w = &p.words;
    // "the later of my two": the number is of the bookings chosen from ("get rid of" is not).
    let of_some = w.iter().enumerate().any(|(i, t)| {
        t == "of"
            && w[i + 1..]
                .iter()
                .take(2)
                .filter(|x| *x != "both")
                .any(|x| crate::assistant::builtin::words::number(x).is_some_and(|n| n >= 2))
    });
    if p.pick.is_some() || of_some {
        return None;
    }
    if w.iter().any(|t| t == "both") {
        return Some(2);
    }
    let noun = |t: &str| {
        matches!(
            t,
            "ones" | "bookings" | "reservations" | "slots" | "sessions"
        )
    };
    w.iter().enumerate().find_map(|(i, t)| {
        let n = crate::assistant::builtin::words::number(t)?;
        let near = w.iter().skip(i + 1).take(2).any(|x| noun(x));
        (n >= 2 && near).then_some(n as usize)
    })
}

/// A proposed cancellation must agree with every qualifier said: bookings named by a part
/// of the day start in it, and a number of bookings said is the number proposed. What does
/// not agree is narrowed to what does, or asked. `asked`: the bookings were the candidates
/// of a question (which one?), so the qualifier must narrow them to one.
fn qualified_cancel(
    next: State,
    bookings: Vec<String>,
    asked: bool,
    p: &Parsed,
    f: &Facts<'_>,
) -> (State, Plan) {
    let pod = part_of_day(p);
    let counted = bookings_counted(p);
    if pod.is_none() && counted.is_none() {
        return (next, Plan::ProposeCancel { bookings });
    }
    let in_part = |b: &Booking| {
        pod.is_none_or(|(from, to)| {
            let h = f.local_time(b.interval.start()).hour();
            (from..to).contains(&h) || (from..to).contains(&(h + 24))
        })
    };
    let of_models = |b: &Booking| p.models.is_empty() || p.models.contains(&b.model);
    // A kept clause ("..., but leave the morning one") was checked when the bookings were
    // chosen; what it keeps is never among those that fit.
    let live = unkept(f.live(), p, &next.memory, f).unwrap_or_else(|_| f.live());
    let chosen: Vec<&Booking> = live
        .iter()
        .copied()
        .filter(|b| bookings.iter().any(|id| id == b.id.as_str()) && in_part(b))
        .collect();
    let all_fitting: Vec<&Booking> = live
        .iter()
        .copied()
        .filter(|b| in_part(b) && of_models(b))
        .collect();
    let proposed = match counted {
        Some(n) if chosen.len() == n => Some(chosen),
        Some(n) if all_fitting.len() == n => Some(all_fitting.clone()),
        Some(_) => None,
        None if asked && chosen.len() == 1 || !asked && !chosen.is_empty() => Some(chosen),
        None => None,
    };
    let memory = next.memory.clone();
    match proposed {
        Some(list) => (
            next,
            Plan::ProposeCancel {
                bookings: list.iter().map(|b| b.id.to_string()).collect(),
            },
        ),
        None if all_fitting.is_empty() => (
            State {
                pending: Pending::Idle,
                memory,
            },
            Plan::Say(Say::NoMatch(describe_ref(p))),
        ),
        None => {
            let ids: Vec<String> = all_fitting.iter().map(|b| b.id.to_string()).collect();
            if asked && ids == bookings {
                return (next, Plan::Say(Say::WhichBooking { ids, cancel: true }));
            }
            let mut memory = memory;
            memory.listed = ids.clone();
            (
                State {
                    pending: Pending::Choosing {
                        purpose: Purpose::Cancel,
                        candidates: ids.clone(),
                    },
                    memory,
                },
                Plan::Say(Say::WhichBooking { ids, cancel: true }),
            )
        }
    }
}

/// The transition itself.
fn transition(state: &State, p: &Parsed, f: &Facts<'_>) -> (State, Plan) {
    let mut mem = state.memory.clone();
    // A suggested time lasts one turn: "book it" takes it, anything else drops it.
    let suggestion = mem.suggestion.take();
    let state = &State {
        pending: state.pending.clone(),
        memory: Memory {
            suggestion: suggestion.filter(|_| p.intent == Intent::Yes && p.cues.has(Cue::Book)),
            ..mem.clone()
        },
    };
    let mem = state.memory.clone();
    let keep = |plan: Plan| (state.clone(), plan);
    let idle = |memory: Memory, plan: Plan| {
        (
            State {
                pending: Pending::Idle,
                memory,
            },
            plan,
        )
    };
    let about_time = matches!(
        p.intent,
        Intent::Book
            | Intent::Availability
            | Intent::Change
            | Intent::Details
            | Intent::FindSlot
            | Intent::Price
    ) || matches!(
        state.pending,
        Pending::Filling { .. } | Pending::Confirming { .. }
    );

    // A time that cannot be used: name it and ask; never act on the rest of the message, and
    // never leave a proposal that a later yes would book.
    if let Some(problem) = p.time.problems.first() {
        if about_time && !matches!(p.intent, Intent::No | Intent::Cancel) {
            let mut draft = request_so_far(&state.pending);
            absorb_details(&mut draft, p, f);
            draft.day_unread = true;
            let pending = if matches!(p.intent, Intent::Book | Intent::Details)
                || matches!(
                    state.pending,
                    Pending::Filling { .. } | Pending::Confirming { .. }
                ) {
                Pending::Filling {
                    draft,
                    asking: Slot::Start,
                }
            } else {
                Pending::Idle
            };
            return (
                State {
                    pending,
                    memory: mem,
                },
                Plan::Say(Say::Time(problem.clone())),
            );
        }
    }
    // Words that could change what is booked and that nothing read ("3pm CET", "every
    // Monday", "1.5 A100"): name them back; never propose, change, cancel or confirm on
    // the rest of the message, and never leave a proposal a later yes would book.
    // A question only answers: money or a part of a GPU said in it cannot act.
    let acting_unread: Vec<Unread> = p
        .unread
        .iter()
        .filter(|u| {
            !matches!(p.intent, Intent::Price | Intent::Availability)
                || matches!(
                    u.kind,
                    UnreadKind::Zone | UnreadKind::Repeat | UnreadKind::TimeWord
                )
        })
        .cloned()
        .collect();
    if !acting_unread.is_empty() && (about_time || matches!(p.intent, Intent::Cancel | Intent::Yes))
    {
        let say = Plan::Say(Say::Unread(acting_unread));
        let request = matches!(p.intent, Intent::Book | Intent::Details | Intent::Yes)
            || matches!(
                state.pending,
                Pending::Filling { .. } | Pending::Confirming { .. }
            );
        if !request || p.intent == Intent::Cancel {
            return keep(say);
        }
        let mut draft = request_so_far(&state.pending);
        absorb_details(&mut draft, p, f);
        let kinds = || p.unread.iter().map(|u| u.kind);
        if kinds().any(|k| {
            matches!(
                k,
                UnreadKind::Zone | UnreadKind::Repeat | UnreadKind::TimeWord
            )
        }) {
            draft.forget_time();
        }
        if kinds().any(|k| k == UnreadKind::Part) {
            draft.count = None;
            draft.count_all = false;
            draft.count_open = true;
        }
        return asking(draft, Slot::Start, mem, say);
    }
    if let Some(name) = &p.unknown_model {
        if p.models.is_empty()
            && matches!(
                p.intent,
                Intent::Book | Intent::Details | Intent::Availability | Intent::Price
            )
        {
            // A request keeps what else it said ("two MI300 tomorrow 9-12": the count and the
            // times wait for a model we have); a question is only answered.
            let request = p.intent == Intent::Book
                || p.intent == Intent::Details
                    && (matches!(state.pending, Pending::Filling { .. }) || p.time_said());
            if !request {
                return keep(Plan::Say(Say::UnknownModel(name.clone())));
            }
            let mut draft = match &state.pending {
                Pending::Filling { draft, .. } => draft.clone(),
                _ => Draft::default(),
            };
            absorb_details(&mut draft, p, f);
            draft.model = None;
            draft.model_why = None;
            // A count said with the unknown model ("two MI300") is not read: ask it rather
            // than let the next model's singular imply one.
            if draft.count.is_none() && !draft.count_all {
                draft.count_open = true;
            }
            return asking(
                draft,
                Slot::Model,
                mem,
                Plan::Say(Say::UnknownModel(name.clone())),
            );
        }
    }
    if p.no_model_fits && !matches!(p.intent, Intent::Yes | Intent::No) {
        return keep(Plan::Say(Say::NoModelFits));
    }

    // "which GPU for a 70B model?": sized from the inventory, whatever else it names.
    if let Some(workload) = p.workload {
        // A question, or a request that names no GPU and no time ("I want to fine-tune a
        // 7B model"): sizing is what can be answered; a request with both goes on.
        let asks = p.question && !p.cues.has(Cue::Book)
            || !p.time_said() && p.models.is_empty() && p.by_property.is_none();
        if asks && !matches!(p.intent, Intent::Yes | Intent::No) {
            return keep(Plan::Answer(Question::Workload {
                workload,
                models: p.models.clone(),
            }));
        }
    }
    match (&state.pending, p.intent) {
        // Small talk never changes what is pending.
        (_, Intent::Greeting) => keep(Plan::Say(Say::Greeting)),
        (_, Intent::Help) => keep(Plan::Say(Say::Help)),
        (_, Intent::Thanks) => keep(Plan::Say(Say::Thanks)),

        // A proposal waits: only a yes to it acts.
        // A yes that adds another request ("ok, and one more for sunday"): the yes and the
        // new request are two bookings, proposed one at a time — this one still waits.
        (Pending::Confirming { proposal }, _)
            if p.cues.has(Cue::Yes) && p.has_details() && adds_another(&p.words) =>
        {
            keep(Plan::Say(Say::OneAtATime(proposal.stated.clone())))
        }
        // "yes, but only if they are on the same node as my storage", "ok if my professor
        // agrees": a yes on a condition the assistant cannot check is not yet a yes; the
        // proposal waits for one.
        (Pending::Confirming { proposal }, _)
            if p.cues.has(Cue::Yes) && p.budget.is_none() && conditional(&p.words) =>
        {
            keep(Plan::Say(Say::OnCondition(proposal.stated.clone())))
        }
        // "yes if it's under $10": the budget is checked before anything is booked: within
        // it, the stated proposal is the yes's; over it, said; with more changes, proposed
        // again with the budget kept.
        (Pending::Confirming { proposal }, _)
            if p.cues.has(Cue::Yes)
                && p.budget.is_some()
                && matches!(proposal.act, Act::Book { .. }) =>
        {
            let mut draft = request_so_far(&state.pending);
            absorb_details(&mut draft, p, f);
            if let Act::Book { draft: before, .. } = &proposal.act {
                let only_budget = Draft {
                    budget: before.budget,
                    ..draft.clone()
                } == *before;
                if only_budget && p.budget.is_some_and(|b| proposal.price_cents <= b) {
                    return idle(mem, Plan::Execute(proposal.clone()));
                }
            }
            fill(draft, mem, p, f)
        }
        // A yes that carries more ("yes, and add an hour at the end", "yep but 3") is a new
        // request on top of the proposal: proposed again, never the old one booked.
        (Pending::Confirming { proposal }, Intent::Yes)
            if p.has_details()
                && matches!(&proposal.act, Act::Book { draft, .. } if {
                    let mut after = draft.clone();
                    absorb_details(&mut after, p, f);
                    after != *draft
                }) =>
        {
            let mut draft = request_so_far(&state.pending);
            absorb_details(&mut draft, p, f);
            fill(draft, mem, p, f)
        }
        (Pending::Confirming { proposal }, Intent::Yes) => {
            let mut memory = mem;
            if let Act::Book { draft, .. } = &proposal.act {
                memory.context = draft.clone();
            }
            idle(memory, Plan::Execute(proposal.clone()))
        }
        (Pending::Confirming { .. }, Intent::No) => {
            idle(mem, Plan::Say(Say::Dropped { had: true }))
        }
        (Pending::Confirming { proposal }, Intent::Price) if !p.has_details() => {
            keep(Plan::Say(Say::Restate(proposal.stated.clone())))
        }
        // "hmm, or maybe the 3rd": neither the proposal nor the maybe is what was decided.
        (Pending::Confirming { .. }, i) if corrects(p, i) && undecided(&p.words) => {
            idle(mem, Plan::Say(Say::Undecided))
        }
        (Pending::Confirming { proposal }, i) if corrects(p, i) => match &proposal.act {
            Act::Book { draft: before, .. } => {
                let mut draft = before.clone();
                if p.count.is_none() && p.count_delta.is_none() && !p.time_said() {
                    if let Some(n) = p.bare_number {
                        draft.count = Some(n);
                        draft.count_all = false;
                    }
                }
                absorb_details(&mut draft, p, f);
                if draft == *before {
                    // A correction that changed nothing in the proposal ("no, 3 or 4"):
                    // something in it was not read, so the proposal is dropped, never
                    // stated again as if it were what the person asked.
                    return idle(mem, Plan::Say(Say::NotUnderstood));
                }
                fill(draft, mem, p, f)
            }
            Act::Change { booking, ask, .. } => {
                match f.bookings.iter().find(|b| b.id.as_str() == booking) {
                    Some(b) => change(b, &ChangeAsk::from(p).over(ask), mem, f),
                    None => idle(mem, Plan::Say(Say::NoMatch(booking.clone()))),
                }
            }
            Act::Cancel { .. }
                if p.booking_ref.is_some() || p.ref_by_model || !p.models.is_empty() =>
            {
                cancel(p, mem, f)
            }
            Act::Cancel { .. } => idle(mem, Plan::Say(Say::NotUnderstood)),
        },
        (Pending::Confirming { .. }, Intent::Unknown | Intent::Details) => {
            // Something about the proposal that could not be read: drop it rather than
            // let a later yes act on it.
            idle(mem, Plan::Say(Say::NotUnderstood))
        }
        // "yes, cancel it" to a proposed cancellation: the yes.
        (Pending::Confirming { proposal }, Intent::Cancel)
            if matches!(proposal.act, Act::Cancel { .. })
                && p.cues.has(Cue::Yes)
                && !p.cues.has(Cue::No)
                && p.booking_ref.as_ref().is_none_or(|r| *r == BookingRef::It)
                && !p.ref_by_model =>
        {
            idle(mem, Plan::Execute(proposal.clone()))
        }
        (Pending::Confirming { .. }, Intent::Cancel)
            if p.booking_ref.as_ref().is_none_or(|r| *r == BookingRef::It) && !p.ref_by_model =>
        {
            // "cancel that" while a proposal waits: a no to the proposal.
            idle(mem, Plan::Say(Say::Dropped { had: true }))
        }

        // Filling a request.
        (Pending::Filling { .. }, Intent::No) => idle(mem, Plan::Say(Say::Dropped { had: true })),
        (Pending::Filling { draft, asking }, i)
            if corrects(p, i)
                || i == Intent::Yes && p.has_details()
                || *asking == Slot::Count && p.booking_ref == Some(BookingRef::All) =>
        {
            let mut draft = draft.clone();
            if *asking == Slot::Count && p.booking_ref == Some(BookingRef::All) {
                // "all of them"
                draft.count_all = true;
            }
            // ("4" alone, while the model is asked: how many is still open, so it is that.)
            let only_a_number = draft.count.is_none() && p.models.is_empty() && p.words.len() == 1;
            if (*asking == Slot::Count || draft.count.is_some() || p.correction || only_a_number)
                && p.count.is_none()
            {
                if let Some(n) = p
                    .bare_number
                    .filter(|_| !p.time_said() || *asking == Slot::Count)
                {
                    draft.count = Some(n);
                    draft.count_all = false;
                }
            }
            absorb_details(&mut draft, p, f);
            fill(draft, mem, p, f)
        }
        (Pending::Filling { draft, asking }, Intent::Yes | Intent::Unknown)
            if mem.suggestion.is_none() || !p.cues.has(Cue::Book) =>
        {
            keep(Plan::Say(Say::Ask {
                slot: *asking,
                draft: draft.clone(),
            }))
        }

        // Choosing a booking.
        (Pending::Choosing { .. }, Intent::No) => idle(mem, Plan::Say(Say::Dropped { had: true })),
        (
            Pending::Choosing {
                purpose,
                candidates,
            },
            _,
        ) if (p.booking_ref.is_some()
            || !p.models.is_empty()
            || p.time.said.date.is_some()
            || p.reference().names_booking())
            && !other_action(p.intent, purpose) =>
        {
            // While choosing, a model named ("the l40s") is the choice.
            let pool: Vec<&Booking> = f
                .live()
                .into_iter()
                .filter(|b| candidates.iter().any(|c| c == b.id.as_str()))
                .filter(|b| p.models.is_empty() || p.models.contains(&b.model))
                .collect();
            let hits = refer(&pool, p, &mem, f);
            match (hits.as_slice(), purpose) {
                ([one], Purpose::Cancel) => (
                    State {
                        pending: Pending::Idle,
                        memory: mem,
                    },
                    Plan::ProposeCancel {
                        bookings: vec![one.id.to_string()],
                    },
                ),
                ([one], Purpose::Change { ask }) => change(one, ask, mem, f),
                ([], _) => keep(Plan::Say(Say::NoMatch(describe_ref(p)))),
                (many, _) => keep(Plan::Say(Say::WhichBooking {
                    ids: many.iter().map(|b| b.id.to_string()).collect(),
                    cancel: matches!(purpose, Purpose::Cancel),
                })),
            }
        }

        // Nothing waits for a yes.
        (_, Intent::Yes)
            if p.cues.has(Cue::Book)
                && (mem.context.model.is_some() || mem.suggestion.is_some()) =>
        {
            // "book it" after a suggested time, or a question about a model and a time.
            let mut mem = mem;
            let draft = mem.suggestion.take().unwrap_or_else(|| mem.context.clone());
            fill(draft, mem, p, f)
        }
        (_, Intent::Yes) => keep(Plan::Say(Say::NothingPending)),
        (Pending::Idle, Intent::No) => keep(Plan::Say(Say::Dropped { had: false })),

        (_, Intent::Book) => {
            let mut draft = if p.cues.has(Cue::Correct) || same_again(p) {
                mem.context.clone()
            } else {
                Draft::default()
            };
            absorb_details(&mut draft, p, f);
            // "ok, book one L40S then", "reserve 2 of them" right after a question about a
            // model and a time: what the question said fills what this request did not.
            let just_asked = matches!(mem.topic, Some(Intent::Availability | Intent::Price));
            if p.refers_back && just_asked {
                if draft.model.is_none() && p.models.is_empty() {
                    draft.model = mem.context.model.clone();
                }
                if !draft.has_time() {
                    draft.take_time_from(&mem.context);
                }
            }
            fill(draft, mem, p, f)
        }
        (_, Intent::Cancel) if hedged(&p.words) => keep(Plan::Say(Say::NotNow)),
        (_, Intent::Cancel) => cancel(p, mem, f),
        (_, Intent::Change) if undecided(&p.words) => keep(Plan::Say(Say::Undecided)),
        (_, Intent::Change) => {
            let ask = ChangeAsk::from(p);
            pick_booking(p, &mem, f, Purpose::Change { ask: Box::new(ask) })
        }
        (_, Intent::Details)
            if mem.topic == Some(Intent::Cancel)
                && (p.ref_by_model
                    || matches!(
                        p.booking_ref,
                        Some(BookingRef::Dates(_) | BookingRef::Id(_) | BookingRef::Ordinal(_))
                    )) =>
        {
            cancel(p, mem, f)
        }
        (_, Intent::Details)
            if (p.correction || p.count_delta.is_some())
                && mem.last_booking.is_some()
                && !same_again(p) =>
        {
            // "make it 3 GPUs instead" after a booking: a change of that booking.
            let ask = ChangeAsk::from(p);
            pick_booking(p, &mem, f, Purpose::Change { ask: Box::new(ask) })
        }
        (_, Intent::Details) => match mem.topic {
            Some(Intent::Availability) | Some(Intent::Price) if !same_again(p) => {
                let mut ctx = mem.context.clone();
                absorb_details(&mut ctx, p, f);
                let mut memory = mem;
                memory.context = ctx.clone();
                let topic = memory.topic;
                let q = if topic == Some(Intent::Price) {
                    price_question(&ctx, p, f)
                } else {
                    availability_question(&ctx, f)
                };
                idle(memory, Plan::Answer(q))
            }
            _ if p.model().is_some()
                || matches!(p.count, Some(Count::Exact(_) | Count::Some))
                || same_again(p) && (p.time_said() || p.count.is_some()) =>
            {
                // "2 A100s tomorrow 9-5" without a verb: a request; proposing it is safe.
                let mut draft = if same_again(p) {
                    mem.context.clone()
                } else {
                    Draft::default()
                };
                absorb_details(&mut draft, p, f);
                fill(draft, mem, p, f)
            }
            // "saturday 5 dec" as a first message: the start of a request (the model is
            // asked next), not something to forget.
            _ if p.time_said() && matches!(state.pending, Pending::Idle) => {
                let mut draft = Draft::default();
                absorb_details(&mut draft, p, f);
                fill(draft, mem, p, f)
            }
            _ => keep(Plan::Say(Say::NotUnderstood)),
        },
        (_, Intent::Availability) => {
            let mut ctx = Draft::default();
            absorb_details(&mut ctx, p, f);
            if ctx.model.is_none() && p.models.is_empty() && !p.cues.has(Cue::All) {
                ctx.model = None;
            }
            let mut memory = mem;
            memory.topic = Some(Intent::Availability);
            memory.context = ctx.clone();
            let mut q = availability_question(&ctx, f);
            if let Question::Availability { models, .. } = &mut q {
                if p.models.len() > 1 {
                    *models = p.models.clone();
                }
            }
            (
                State {
                    pending: state.pending.clone(),
                    memory,
                },
                Plan::Answer(q),
            )
        }
        (_, Intent::Price) => {
            let mut ctx = Draft::default();
            absorb_details(&mut ctx, p, f);
            let mut memory = mem;
            memory.topic = Some(Intent::Price);
            memory.context = ctx.clone();
            let q = price_question(&ctx, p, f);
            (
                State {
                    pending: state.pending.clone(),
                    memory,
                },
                Plan::Answer(q),
            )
        }
        (_, Intent::FindSlot) => {
            let mut ctx = Draft::default();
            absorb_details(&mut ctx, p, f);
            let after = match (ctx.date, ctx.start) {
                (Some(d), s) => f.at(d, s.unwrap_or(NaiveTime::MIN)).max(f.now),
                _ => f.now,
            };
            let (minutes, assumed_length) = match ctx.minutes {
                Some(m) => (m, false),
                None => (60, true),
            };
            let count = match (
                ctx.count_all,
                ctx.model.as_deref().and_then(|m| f.inventory.find(m)),
            ) {
                (true, Some(m)) => m.total(),
                _ => ctx.count.unwrap_or(1),
            };
            let mut memory = mem;
            memory.topic = Some(Intent::FindSlot);
            memory.context = ctx.clone();
            (
                State {
                    pending: Pending::Idle,
                    memory,
                },
                Plan::Answer(Question::FindSlot {
                    model: ctx.model,
                    count,
                    minutes,
                    after,
                    assumed_length,
                }),
            )
        }
        (_, Intent::Inventory) => {
            let mut memory = mem;
            memory.topic = Some(Intent::Inventory);
            // "what architecture is the h100", "which cards have 80GB?", "which of your
            // GPUs are Ada Lovelace?": the models themselves, every one that fits.
            let listing = p.cues.has(Cue::Question)
                && !p.wanted.cheapest
                && !p.wanted.most_memory
                && !p.wanted.fastest;
            if !p.models.is_empty()
                || listing && (p.wanted.min_memory.is_some() || p.wanted.family.is_some())
            {
                let names = if p.models.is_empty() {
                    crate::assistant::builtin::nlu::fitting(f.inventory, &p.wanted)
                } else {
                    p.models.clone()
                };
                return (
                    State {
                        pending: state.pending.clone(),
                        memory,
                    },
                    Plan::Answer(Question::Models(names)),
                );
            }
            if let Some((m, why)) = &p.by_property {
                // "what's your cheapest card?": the price of that one.
                memory.context.model = Some(m.clone());
                let q = Question::Price {
                    model: Some(m.clone()),
                    count: 1,
                    window: None,
                    minutes: None,
                    why: Some(why.clone()),
                };
                return (
                    State {
                        pending: state.pending.clone(),
                        memory,
                    },
                    Plan::Answer(q),
                );
            }
            (
                State {
                    pending: state.pending.clone(),
                    memory,
                },
                Plan::Answer(Question::Inventory),
            )
        }
        (_, Intent::MyBookings) => {
            let mut memory = mem;
            memory.topic = Some(Intent::MyBookings);
            (
                State {
                    pending: state.pending.clone(),
                    memory,
                },
                Plan::Answer(Question::MyBookings {
                    models: p.models.clone(),
                    days: match &p.booking_ref {
                        Some(BookingRef::Dates(days)) => days.clone(),
                        _ => p.time.said.date.into_iter().collect(),
                    },
                }),
            )
        }
        (_, Intent::Total) => keep(Plan::Answer(Question::Total)),
        (_, Intent::Account) => keep(Plan::Answer(Question::Account)),
        (_, Intent::Unknown) => keep(Plan::Say(Say::NotUnderstood)),
    }
}

/// Whether a message while something is pending corrects it: it has details and is not a
/// question about something else.
fn corrects(p: &Parsed, i: Intent) -> bool {
    p.has_details()
        && matches!(
            i,
            Intent::Details | Intent::Book | Intent::Change | Intent::Inventory | Intent::Unknown
        )
        || p.bare_number.is_some() && p.correction && matches!(i, Intent::Details | Intent::Unknown)
}

/// "same but next week", "the same again": a new request like the last one.
fn same_again(p: &Parsed) -> bool {
    p.same
}

/// Copies the message's details into a draft, slot by slot.
fn absorb_details(d: &mut Draft, p: &Parsed, f: &Facts<'_>) {
    if p.budget.is_some() {
        d.budget = p.budget;
    }
    if let Some(m) = p.model() {
        if d.model.as_deref() != Some(m) {
            d.model = Some(m.to_string());
            d.model_why = p.by_property.as_ref().map(|(_, why)| why.clone());
        }
    } else if p.models.len() > 1 {
        // A correction naming the model asked for and one other ("the V100 is too small,
        // A100s instead"): the other. Anything else with several models: ask which, never
        // keep the old one as if nothing was said.
        let others: Vec<&String> = p
            .models
            .iter()
            .filter(|m| d.model.as_deref() != Some(m.as_str()))
            .collect();
        d.model = match others.as_slice() {
            [one] if p.correction && others.len() < p.models.len() => Some(one.to_string()),
            _ => None,
        };
        d.model_why = None;
    }
    match p.count {
        Some(Count::Exact(n)) => {
            d.count = Some(n);
            d.count_all = false;
        }
        Some(Count::All) => {
            d.count_all = true;
            d.count = None;
        }
        Some(Count::Some) | None => {}
    }
    if matches!(p.count, Some(Count::Some)) && d.count.is_none() {
        d.count_open = true;
    }
    if p.one_implied && d.count.is_none() && !d.count_all && !d.count_open {
        d.count = Some(1);
    }
    if let (Some(delta), Some(c)) = (p.count_delta, d.count) {
        d.count = u32::try_from(c as i64 + delta as i64).ok();
    }
    d.absorb_time(&p.time.said, f.now);
}

/// The booking request a pending state holds (being filled in or proposed), or none.
fn request_so_far(pending: &Pending) -> Draft {
    match pending {
        Pending::Filling { draft, .. } => draft.clone(),
        Pending::Confirming { proposal } => match &proposal.act {
            Act::Book { draft, .. } => draft.clone(),
            _ => Draft::default(),
        },
        _ => Draft::default(),
    }
}

/// A request waiting for `slot`, after `plan` (which asks for it).
fn asking(draft: Draft, slot: Slot, memory: Memory, plan: Plan) -> (State, Plan) {
    let pending = Pending::Filling {
        draft,
        asking: slot,
    };
    (State { pending, memory }, plan)
}

/// Moves a request on: asks for the first missing slot, refuses what cannot be, or
/// proposes it.
fn fill(draft: Draft, mem: Memory, p: &Parsed, f: &Facts<'_>) -> (State, Plan) {
    if p.models.len() > 1 && draft.model.is_none() {
        let plan = Plan::Say(Say::WhichModel(p.models.clone()));
        return asking(draft, Slot::Model, mem, plan);
    }
    match resolve(&draft, f) {
        Resolved::Ready {
            model,
            count,
            start,
            end,
            assumed,
        } if over_budget(&draft, &model, count, start, end, f).is_none() => {
            let mut memory = mem;
            memory.context = draft.clone();
            (
                State {
                    pending: Pending::Filling {
                        draft: draft.clone(),
                        asking: Slot::Start,
                    },
                    memory,
                },
                Plan::Propose {
                    draft,
                    model,
                    count,
                    start,
                    end,
                    assumed,
                },
            )
        }
        Resolved::Ready {
            model,
            count,
            start,
            end,
            ..
        } => {
            let (price, budget) =
                over_budget(&draft, &model, count, start, end, f).expect("checked above");
            asking(
                draft,
                Slot::Start,
                mem,
                Plan::Say(Say::OverBudget { price, budget }),
            )
        }
        Resolved::Need(slot) => (
            State {
                pending: Pending::Filling {
                    draft: draft.clone(),
                    asking: slot,
                },
                memory: mem,
            },
            Plan::Say(Say::Ask { slot, draft }),
        ),
        Resolved::Bad(say) => {
            let asking = match &say {
                Say::TooMany { .. } => Slot::Count,
                _ => Slot::Start,
            };
            (
                State {
                    pending: Pending::Filling { draft, asking },
                    memory: mem,
                },
                Plan::Say(say),
            )
        }
    }
}

/// The price and the budget, when a budget was said and the request costs more.
fn over_budget(
    d: &Draft,
    model: &str,
    count: u32,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    f: &Facts<'_>,
) -> Option<(i64, i64)> {
    let budget = d.budget?;
    let m = f.inventory.find(model)?;
    let interval = crate::domain::Interval::new(start, end).ok()?;
    let price = crate::domain::booking::price(m.price_per_hour, count, &interval).0;
    (price > budget).then_some((price, budget))
}

/// Reads a draft into a model, a count and an interval, by the documented rules; or the
/// first slot still missing.
fn resolve(d: &Draft, f: &Facts<'_>) -> Resolved {
    let Some(model) = d.model.clone() else {
        return Resolved::Need(Slot::Model);
    };
    let Some(m) = f.inventory.find(&model) else {
        return Resolved::Bad(Say::UnknownModel(model));
    };
    let count = match (d.count, d.count_all) {
        (_, true) => m.total(),
        (Some(n), _) => n,
        (None, _) => return Resolved::Need(Slot::Count),
    };
    if count == 0 {
        return Resolved::Need(Slot::Count);
    }
    if count > m.total() {
        return Resolved::Bad(Say::TooMany {
            model: m.name.clone(),
            total: m.total(),
        });
    }
    let mut assumed = Vec::new();
    let today = f.today();
    let soon = ceil_minute(f.now);
    let start = if let Some(mins) = d.from_now {
        let base = d.said_at.unwrap_or(f.now);
        ceil_minute(base + Duration::minutes(mins)).max(soon)
    } else if let Some(date) = d.date {
        match d.start {
            Some(t) => f.at(date, t),
            None if d.whole_days => f.at(date, NaiveTime::MIN).max(soon),
            // A length without a start time does not say when it begins ("saturday for a
            // couple of hours"): asked, as an end without a start is ("until 21:30").
            None if d.minutes.is_some() && d.end.is_none() => return Resolved::Need(Slot::Start),
            // Days said as a range without times ("to Wednesday"): from 09:00 (said).
            None if d.end_date.is_some() && d.end.is_none() => {
                if date == today && f.at(date, nine()) < f.now {
                    assumed.push("starting now".to_string());
                    soon
                } else {
                    assumed.push("a 09:00 start".to_string());
                    f.at(date, nine())
                }
            }
            None => return Resolved::Need(Slot::Start),
        }
    } else if d.day_unread {
        // The day said earlier was not understood: ask again rather than assume today.
        return Resolved::Need(Slot::Start);
    } else if let Some(t) = d.start {
        let at = f.at(today, t);
        if at >= f.now - Duration::minutes(5) {
            at
        } else {
            f.at(today + Duration::days(1), t)
        }
    } else if d.whole_days {
        soon
    } else {
        return Resolved::Need(Slot::Start);
    };
    let start_date = f.local_date(start);
    let end = if d.whole_days && d.start.is_none() || d.end_midnight {
        f.at(
            d.end_date.unwrap_or(start_date) + Duration::days(1),
            NaiveTime::MIN,
        )
    } else if let Some(e) = d.end {
        // An end before the start ("10pm to 2am") is asked about, not read as overnight.
        f.at(d.end_date.unwrap_or(start_date), e)
    } else if let Some(mins) = d.minutes {
        start + Duration::minutes(mins)
    } else if let Some(day) = d.end_date {
        f.at(day + Duration::days(1), NaiveTime::MIN)
    } else {
        return Resolved::Need(Slot::Length);
    };
    if start < f.now - Duration::minutes(5) {
        return Resolved::Bad(Say::Refuse(format!(
            "that start ({}) is in the past",
            super::reply::moment(start, f.tz)
        )));
    }
    if end <= start {
        return Resolved::Bad(Say::Refuse("the end is not after the start".into()));
    }
    if end - start > Duration::days(30) {
        return Resolved::Bad(Say::Refuse("a booking lasts at most 30 days".into()));
    }
    if start > f.now + Duration::days(365) {
        return Resolved::Bad(Say::Refuse(
            "bookings can start at most 365 days ahead".into(),
        ));
    }
    Resolved::Ready {
        model: m.name.clone(),
        count,
        start,
        end,
        assumed,
    }
}

fn nine() -> NaiveTime {
    NaiveTime::from_hms_opt(9, 0, 0).expect("valid")
}

/// The next whole minute.
pub fn ceil_minute(t: DateTime<Utc>) -> DateTime<Utc> {
    let s = t.timestamp();
    let next = (s + 59).div_euclid(60) * 60;
    DateTime::from_timestamp(next, 0).unwrap_or(t)
}

/// An availability question's window: a day without times is the whole day.
fn availability_question(ctx: &Draft, f: &Facts<'_>) -> Question {
    let today = f.today();
    let (start, end) = match resolve_window(ctx, f) {
        Some(w) => w,
        None => {
            let date = ctx.date.unwrap_or(today);
            let s = f.at(date, NaiveTime::MIN).max(f.now);
            let e = f.at(
                ctx.end_date.unwrap_or(date) + Duration::days(1),
                NaiveTime::MIN,
            );
            (s, e)
        }
    };
    Question::Availability {
        models: ctx.model.iter().cloned().collect(),
        start,
        end,
    }
}

/// The window a draft names, when it names a whole one.
fn resolve_window(ctx: &Draft, f: &Facts<'_>) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let mut d = ctx.clone();
    d.model = Some(d.model.clone().unwrap_or_else(|| {
        f.inventory
            .models()
            .first()
            .map(|m| m.name.clone())
            .unwrap_or_default()
    }));
    d.count = Some(1);
    d.count_all = false;
    if d.date.is_some()
        && d.start.is_none()
        && d.minutes.is_none()
        && d.end.is_none()
        && !d.whole_days
        && d.end_date.is_none()
    {
        return None;
    }
    if !d.has_time() {
        let s = ceil_minute(f.now);
        return Some((s, s + Duration::hours(1)));
    }
    if d.start.is_some() && d.end.is_none() && d.minutes.is_none() && !d.end_midnight {
        d.minutes = Some(60);
    }
    // The same rules as a booking.
    match resolve(&d, f) {
        Resolved::Ready { start, end, .. } => Some((start, end)),
        _ => None,
    }
}

/// A price question: per hour, per period, or for a stated window or length.
fn price_question(ctx: &Draft, p: &Parsed, f: &Facts<'_>) -> Question {
    let mut ctx = ctx.clone();
    // "what do two H100s cost for Saturday?": a day with no hours is priced whole.
    if ctx.date.is_some() && ctx.start.is_none() && ctx.end.is_none() && ctx.minutes.is_none() {
        ctx.whole_days = true;
    }
    // "a whole day on 8 H100s costs how much?": a length of 24 hours, not the rest of today.
    if ctx.whole_days && ctx.date.is_none() && ctx.end_date.is_none() && ctx.from_now.is_none() {
        ctx.whole_days = false;
        ctx.end_midnight = false;
        ctx.minutes = Some(24 * 60);
    }
    let ctx = &ctx;
    let window =
        if ctx.start.is_some() || ctx.end.is_some() || ctx.whole_days || ctx.end_date.is_some() {
            resolve_window(ctx, f)
        } else {
            None
        };
    // "all the L40S for 10 hours": every GPU of the model.
    let all = ctx
        .model
        .as_deref()
        .filter(|_| ctx.count_all)
        .and_then(|m| f.inventory.find(m))
        .map(|m| m.total());
    Question::Price {
        model: ctx.model.clone(),
        count: ctx.count.or(all).unwrap_or(1),
        window,
        minutes: if window.is_none() {
            ctx.minutes.or(p.per_minutes)
        } else {
            None
        },
        why: ctx.model_why.clone(),
    }
}

/// The bookings a message points at, among `pool`.
fn refer<'b>(pool: &[&'b Booking], p: &Parsed, mem: &Memory, f: &Facts<'_>) -> Vec<&'b Booking> {
    let p = p.reference();
    let mut hits: Vec<&Booking> = pool.to_vec();
    match &p.booking_ref {
        Some(BookingRef::Id(prefix)) => {
            hits.retain(|b| b.id.as_str().starts_with(prefix.as_str()));
        }
        Some(BookingRef::Ordinal(n)) => {
            // "the second H100 booking": the second of the H100 ones (none if there is
            // only one, and the person is asked).
            if !p.models.is_empty() {
                hits.retain(|b| p.models.contains(&b.model));
            }
            let order: Vec<&Booking> = if mem.listed.is_empty() {
                hits.clone()
            } else {
                mem.listed
                    .iter()
                    .filter_map(|id| hits.iter().find(|b| b.id.as_str() == id).copied())
                    .collect()
            };
            hits = match n {
                0 => order.last().copied().into_iter().collect(),
                n => order.get(n - 1).copied().into_iter().collect(),
            };
        }
        Some(BookingRef::Dates(ds)) => {
            // "the thursday one": that weekday in any of the next five weeks.
            let weeks = if p.weekday_ref { 0..=5 } else { 0..=0 };
            hits.retain(|b| {
                let day = f.local_date(b.interval.start());
                ds.iter().any(|d| {
                    weeks
                        .clone()
                        .any(|k| day == *d + chrono::Duration::days(7 * k))
                })
            });
        }
        // "CANCEL SATURDAY PLS": a day alone in a cancellation names the day's bookings.
        // ("I won't need the friday a100s, release them": "them" is what the day names.)
        None | Some(BookingRef::All | BookingRef::It)
            if p.intent == Intent::Cancel
                && (p.time.said.start.is_none() || !timed(p))
                && (p.booking_ref != Some(BookingRef::It) || p.time.said.date.is_some()) =>
        {
            // A day, or days ("next week"), said alone name the bookings that start then.
            if let Some(d) = p.time.said.date {
                let last = p.time.said.end_date.unwrap_or(d);
                hits.retain(|b| (d..=last).contains(&f.local_date(b.interval.start())));
            }
        }
        Some(BookingRef::It) if !p.ref_by_model && p.time.said.date.is_none() => {
            if let Some(last) = &mem.last_booking {
                if hits.iter().any(|b| b.id.as_str() == last) {
                    hits.retain(|b| b.id.as_str() == last);
                }
            }
        }
        _ => {}
    }
    if !p.models.is_empty()
        && (p.ref_by_model || p.intent == Intent::Cancel || p.booking_ref.is_some())
    {
        hits.retain(|b| p.models.contains(&b.model));
    } else if p.definite_model {
        // "drop the l40s to one card": in a change, a definite model narrows several down
        // (it may also be the new model, so it never empties the list).
        narrow(&mut hits, Kept::Some, |b| p.models.contains(&b.model));
    }
    // "the 48GB one", "the 32gb cards": a memory size names the models that have exactly
    // it (two 80 GB models are both kept, and the person is asked which).
    if let (true, Some(gb)) = (p.models.is_empty(), p.wanted.min_memory) {
        hits.retain(|b| {
            f.inventory
                .find(&b.model)
                .is_some_and(|m| m.memory_gb == gb)
        });
    }
    // "the friday booking that starts at 9": a start time said with a cancellation narrows
    // several down (for a change, a time is the new one, not a reference); "the evening
    // one": a part of the day alone narrows to the bookings that start in it.
    match (part_of_day(p), p.time.said.start, p.intent) {
        (Some((from, to)), _, Intent::Cancel) if !timed(p) => narrow(&mut hits, Kept::Some, |b| {
            let h = f.local_time(b.interval.start()).hour();
            (from..to).contains(&h) || (from..to).contains(&(h + 24))
        }),
        (_, Some(t), Intent::Cancel) => narrow(&mut hits, Kept::Some, |b| {
            f.local_time(b.interval.start()) == t
        }),
        _ => {}
    }
    // "the booking I just made": the one this chat made last, when it is among them.
    if p.pick == Some(crate::assistant::builtin::nlu::Pick::Newest) {
        if let Some(last) = &mem.last_booking {
            narrow(&mut hits, Kept::One, |b| b.id.as_str() == last);
        }
    }
    // "the big one", "the later of my two": the one that is most so, if only one is.
    if let Some(pick) = p.pick {
        use crate::assistant::builtin::nlu::Pick;
        let key = |b: &Booking| match pick {
            Pick::Biggest => b.count() as i64,
            Pick::Smallest => -(b.count() as i64),
            Pick::Latest => b.interval.start().timestamp(),
            Pick::Earliest => -b.interval.start().timestamp(),
            Pick::Cheapest => -b.price_total.0,
            Pick::Dearest => b.price_total.0,
            Pick::Newest => b.created_at.timestamp_millis(),
        };
        // "Big" is the GPUs and the time together: 8 GPUs for 2 hours beside 1 for 3 days is
        // no bigger by both, so neither is "the big one" (the person is asked).
        let gpu_seconds = |b: &Booking| b.count() as i64 * b.interval.duration().num_seconds();
        let size = |b: &Booking| match pick {
            Pick::Biggest => gpu_seconds(b),
            Pick::Smallest => -gpu_seconds(b),
            _ => 0,
        };
        let best = hits.iter().map(|b| key(b)).max();
        let best_size = hits.iter().map(|b| size(b)).max();
        narrow(&mut hits, Kept::One, |b| {
            Some(key(b)) == best && Some(size(b)) == best_size
        });
    }
    // "the one with 6 GPUs", "the booking with 2 V100s": a count narrows several down.
    if let (Some(Count::Exact(n)), true) = (p.count, p.with_count) {
        narrow(&mut hits, Kept::Some, |b| b.count() == n);
    }
    hits
}

/// Whether a time of day was said as a time ("at 9", "2-4pm"), not only as a part of the
/// day ("the evening one", whose start is the part's).
fn timed(p: &Parsed) -> bool {
    use crate::assistant::builtin::when::MentionKind as K;
    p.time
        .mentions
        .iter()
        .any(|m| !m.negated && matches!(m.kind, K::Time(_) | K::TimeRange(..) | K::DateTime(..)))
}

/// How many bookings a narrowing must keep to apply.
#[derive(Clone, Copy, PartialEq)]
enum Kept {
    /// At least one.
    Some,
    /// Exactly one ("the big one" among two of the same size narrows nothing).
    One,
}

/// Keeps only the bookings that `keep`, when there are several and enough are kept (`need`);
/// else leaves `hits` as they are: a description that fits none, or a tie, narrows nothing
/// and the person is asked.
fn narrow(hits: &mut Vec<&Booking>, need: Kept, keep: impl Fn(&Booking) -> bool) {
    if hits.len() < 2 {
        return;
    }
    let kept: Vec<&Booking> = hits.iter().copied().filter(|b| keep(b)).collect();
    let enough = match need {
        Kept::Some => !kept.is_empty(),
        Kept::One => kept.len() == 1,
    };
    if enough {
        *hits = kept;
    }
}

fn describe_ref(p: &Parsed) -> String {
    match &p.booking_ref {
        Some(BookingRef::Id(x)) => format!("`{x}`"),
        Some(BookingRef::Dates(ds)) => format!(
            "on {}",
            ds.iter()
                .map(|d| d.format("%a %-d %b").to_string())
                .collect::<Vec<_>>()
                .join(" or ")
        ),
        Some(BookingRef::Ordinal(n)) => format!("number {n}"),
        _ if !p.models.is_empty() => p.models.join(", "),
        _ => "that".into(),
    }
}

/// A cancellation: which booking(s), then a proposal that names them.
fn cancel(p: &Parsed, mem: Memory, f: &Facts<'_>) -> (State, Plan) {
    let live = f.live();
    // An exception ("all my A100 bookings except the friday one") is read only beside
    // "everything" and models; elsewhere it is asked, never ignored.
    if p.except.is_some() && p.booking_ref != Some(BookingRef::All) {
        return (
            State {
                pending: Pending::Idle,
                memory: mem,
            },
            Plan::Say(Say::NotUnderstood),
        );
    }
    if live.is_empty() {
        return (
            State {
                pending: Pending::Idle,
                memory: mem,
            },
            Plan::Say(Say::NoBookings),
        );
    }
    let live = match unkept(live, p, &mem, f) {
        Ok(live) => live,
        Err(why) => return settled(mem, Plan::Say(why.say(p))),
    };
    // "all of my friday bookings", "everything I have next week": all of those, not all.
    let all_of_a_time = p.time.said.date.is_some() || p.target.is_some();
    if p.booking_ref == Some(BookingRef::All) && p.models.is_empty() && !all_of_a_time {
        // "everything except the H100": all but the models excepted; an exception that names
        // no model ("except the friday one") is not read, so nothing is proposed.
        let keep: &[String] = match &p.except {
            Some(models) if models.is_empty() => {
                return (
                    State {
                        pending: Pending::Idle,
                        memory: mem,
                    },
                    Plan::Say(Say::NotUnderstood),
                )
            }
            Some(models) => models,
            None => &[],
        };
        let bookings: Vec<String> = live
            .iter()
            .filter(|b| !keep.contains(&b.model))
            .map(|b| b.id.to_string())
            .collect();
        if bookings.is_empty() {
            return (
                State {
                    pending: Pending::Idle,
                    memory: mem,
                },
                Plan::Say(Say::NoMatch(describe_ref(p))),
            );
        }
        return (
            State {
                pending: Pending::Idle,
                memory: mem,
            },
            Plan::ProposeCancel { bookings },
        );
    }
    pick_booking(p, &mem, f, Purpose::Cancel)
}

/// Why a kept clause cannot be used.
#[derive(Debug, Clone, Copy, PartialEq)]
enum KeptUnclear {
    /// It names none of the person's bookings ("keep monday" with nothing on monday).
    NoneOf,
    /// It names all of them, so nothing would be left to act on.
    AllOf,
}

impl KeptUnclear {
    /// What is said instead of acting.
    fn say(self, p: &Parsed) -> Say {
        match self {
            KeptUnclear::NoneOf => {
                Say::NoMatch(p.kept.as_deref().map_or_else(String::new, describe_ref))
            }
            KeptUnclear::AllOf => Say::NotUnderstood,
        }
    }
}

/// Nothing pending, with `plan` to carry out.
fn settled(memory: Memory, plan: Plan) -> (State, Plan) {
    (
        State {
            pending: Pending::Idle,
            memory,
        },
        plan,
    )
}

/// "the 80gb ones", "my bookings on friday": a plural reference with a description means
/// every booking that fits it ("which one", "either" ask for one).
fn plural_named(p: &Parsed) -> bool {
    let w = |x: &[&str]| p.words.iter().any(|t| x.contains(&t.as_str()));
    p.names_booking()
        && w(&["ones", "bookings", "reservations", "slots"])
        && !w(&["one", "which", "whichever", "either"])
}

/// The bookings a message may point at: all live ones but those a kept clause names ("...,
/// keep monday"). A kept clause that names none of them, or all of them, does not say what
/// the person thinks it does: it is asked about, never dropped.
fn unkept<'b>(
    live: Vec<&'b Booking>,
    p: &Parsed,
    mem: &Memory,
    f: &Facts<'_>,
) -> Result<Vec<&'b Booking>, KeptUnclear> {
    let Some(k) = &p.kept else {
        return Ok(live);
    };
    let kept = refer(&live, k, mem, f);
    if kept.is_empty() {
        return Err(KeptUnclear::NoneOf);
    }
    if kept.len() == live.len() {
        return Err(KeptUnclear::AllOf);
    }
    Ok(live
        .into_iter()
        .filter(|b| !kept.iter().any(|x| x.id == b.id))
        .collect())
}

/// Finds the one booking meant, or asks which.
fn pick_booking(p: &Parsed, mem: &Memory, f: &Facts<'_>, purpose: Purpose) -> (State, Plan) {
    let live = f.live();
    if live.is_empty() {
        return (
            State {
                pending: Pending::Idle,
                memory: mem.clone(),
            },
            Plan::Say(Say::NoBookings),
        );
    }
    let live = match unkept(live, p, mem, f) {
        Ok(live) => live,
        Err(why) => return settled(mem.clone(), Plan::Say(why.say(p))),
    };
    // For a change, a date without a booking noun is the new time, not a reference.
    let hits = refer(&live, p, mem, f);
    let r = p.reference();
    // "the a100 and the h100" names both; "the a100 or the h100" names one of them.
    let all_named = (r.models.len() > 1
        || matches!(&r.booking_ref, Some(BookingRef::Dates(ds)) if ds.len() > 1))
        && !r.words.iter().any(|w| w == "or")
        && matches!(purpose, Purpose::Cancel);
    match hits.as_slice() {
        [] => (
            State {
                pending: Pending::Idle,
                memory: mem.clone(),
            },
            Plan::Say(Say::NoMatch(describe_ref(p))),
        ),
        [one] => match &purpose {
            Purpose::Cancel => (
                State {
                    pending: Pending::Idle,
                    memory: mem.clone(),
                },
                Plan::ProposeCancel {
                    bookings: vec![one.id.to_string()],
                },
            ),
            Purpose::Change { ask } => change(one, ask, mem.clone(), f),
        },
        many if all_named
            || (r.cues.has(Cue::All) || plural_named(r) && many.len() < live.len())
                && matches!(purpose, Purpose::Cancel) =>
        {
            (
                State {
                    pending: Pending::Idle,
                    memory: mem.clone(),
                },
                Plan::ProposeCancel {
                    bookings: many.iter().map(|b| b.id.to_string()).collect(),
                },
            )
        }
        many => {
            let ids: Vec<String> = many.iter().map(|b| b.id.to_string()).collect();
            let mut memory = mem.clone();
            memory.listed = ids.clone();
            let cancel = matches!(purpose, Purpose::Cancel);
            (
                State {
                    pending: Pending::Choosing {
                        purpose,
                        candidates: ids.clone(),
                    },
                    memory,
                },
                Plan::Say(Say::WhichBooking { ids, cancel }),
            )
        }
    }
}

/// The new times and count of a booking, from what was asked; refused when it cannot be
/// read or is not allowed (a started booking changes only its end).
fn change(b: &Booking, ask: &ChangeAsk, mem: Memory, f: &Facts<'_>) -> (State, Plan) {
    let refuse = |mem: Memory, why: &str| {
        (
            State {
                pending: Pending::Idle,
                memory: mem,
            },
            Plan::Say(Say::Refuse(why.to_string())),
        )
    };
    if ask.is_empty() {
        return (
            State {
                pending: Pending::Idle,
                memory: mem,
            },
            Plan::Say(Say::NotUnderstood),
        );
    }
    if ask.model.as_deref().is_some_and(|m| m != b.model) {
        return refuse(
            mem,
            "a booking's model cannot be switched in place — cancel it and book the other model",
        );
    }
    let (s0, e0) = (b.interval.start(), b.interval.end());
    // "switch my booking from monday to thursday": a range of days that starts on the
    // booking's own day names where it goes, not a booking over both days.
    let moved;
    let ask = match (ask.date, ask.end_date) {
        (Some(from), Some(to))
            if from == f.local_date(s0)
                && from != to
                && ask.start.is_none()
                && ask.end.is_none() =>
        {
            moved = ChangeAsk {
                date: Some(to),
                end_date: None,
                ..ask.clone()
            };
            &moved
        }
        // "move it to the same time next week", "to next week": a range of days without
        // times is not a day to move to; which day is asked.
        (Some(_), Some(_)) if ask.start.is_none() && ask.end.is_none() => {
            return refuse(
                mem,
                "which day do you mean? A range of days is not one day to move it to",
            );
        }
        _ => ask,
    };
    let len = e0 - s0;
    let mut start = s0;
    let mut end = e0;
    let signed = |m: i64| Duration::minutes(m);
    if let Some(sh) = ask.shift {
        // "start 30 minutes later, the end stays": only the start moves.
        start = s0 + signed(sh);
        if !ask.keep_end {
            end = e0 + signed(sh);
        }
    } else if let Some(by) = ask.by.or(ask.minutes).filter(|_| ask.later || ask.earlier) {
        if ask.later && ask.earlier {
            return refuse(mem, "I can't tell whether you mean earlier or later");
        }
        let d = if ask.earlier { -by } else { by };
        if ask.extend || ask.shorten {
            end = e0 + signed(if ask.shorten { -by } else { by });
        } else {
            start = s0 + signed(d);
            end = e0 + signed(d);
        }
    } else if let Some(x) = ask.extra {
        if ask.extra_at_start {
            start = s0 - signed(x);
        } else {
            end = e0 + signed(x);
        }
    } else if let Some(by) = ask.by.filter(|_| ask.extend || ask.shorten) {
        end = e0 + signed(if ask.shorten { -by } else { by });
    } else if ask.minutes.is_some()
        && (ask.extend || ask.shorten)
        && ask.start.is_none()
        && ask.date.is_none()
    {
        // "extend it by 2 hours" read as a length after "extend": add it.
        let m = ask.minutes.unwrap_or(0);
        end = e0 + signed(if ask.shorten { -m } else { m });
    } else {
        let mut ask = ask.clone();
        if (ask.extend || ask.shorten) && ask.end.is_none() && ask.start.is_some() && !ask.keep_end
        {
            // "extend it to 7pm": the time is the new end.
            ask.end = ask.start.take();
        }
        let ask = &ask;
        let old_date = f.local_date(s0);
        let old_time = f.local_time(s0);
        let end_only = ask.start.is_none()
            && ask.date.is_none()
            && (ask.end.is_some() || ask.end_midnight || ask.end_date.is_some());
        if end_only
            || (ask.extend || ask.shorten)
                && ask.start.is_none()
                && (ask.end.is_some() || ask.end_date.is_some() || ask.date.is_some())
        {
            let day = ask
                .end_date
                .or(ask.date)
                .unwrap_or_else(|| f.local_date(e0));
            end = if ask.end_midnight {
                f.at(day + Duration::days(1), NaiveTime::MIN)
            } else if let Some(e) = ask.end {
                f.at(day, e)
            } else {
                // "keep them until Friday": the same time of day on that day.
                f.at(day, f.local_time(e0))
            };
        } else if ask.date.is_some() || ask.start.is_some() {
            let date = ask.date.unwrap_or(old_date);
            let time = ask.start.unwrap_or(old_time);
            start = f.at(date, time);
            end = match (ask.end, ask.end_midnight, ask.minutes) {
                (Some(e), _, _) => {
                    let mut x = f.at(ask.end_date.unwrap_or(date), e);
                    if x <= start {
                        x = f.at(ask.end_date.unwrap_or(date) + Duration::days(1), e);
                    }
                    x
                }
                (None, true, _) => f.at(
                    ask.end_date.unwrap_or(date) + Duration::days(1),
                    NaiveTime::MIN,
                ),
                (None, false, Some(m)) => start + signed(m),
                _ if ask.keep_end && e0 > start => e0,
                _ => start + len,
            };
        } else if let Some(m) = ask.minutes {
            end = s0 + signed(m);
        }
    }
    let count = match (ask.count, ask.count_delta) {
        (Some(n), _) => n,
        (None, Some(d)) => match u32::try_from(b.count() as i64 + d as i64) {
            Ok(n) if n >= 1 => n,
            _ => return refuse(mem, "a booking needs at least one GPU"),
        },
        _ => b.count(),
    };
    if start == s0 && end == e0 && count == b.count() {
        return refuse(mem, "that would leave the booking as it is");
    }
    if s0 <= f.now && (start != s0 || count != b.count()) {
        return refuse(
            mem,
            "this booking has already started, so only its end can change",
        );
    }
    if end <= start {
        return refuse(mem, "the end would not be after the start");
    }
    if ask.keep_length && end - start != e0 - s0 {
        return refuse(
            mem,
            "a move keeps the booking's length, and what I read would change it — say the new day and start (and end, if it changes)",
        );
    }
    if start < f.now - Duration::minutes(5) && start != s0 {
        return refuse(mem, "the new start would be in the past");
    }
    if end <= f.now {
        return refuse(mem, "the new end would be in the past");
    }
    (
        State {
            pending: Pending::Idle,
            memory: mem,
        },
        Plan::ProposeChange {
            booking: b.id.to_string(),
            start,
            end,
            count,
            ask: ask.clone(),
        },
    )
}

/// Whether a message said while choosing a booking asks for another action than the one
/// the choice is for ("push the a100 one to 3" while choosing what to cancel): then it is
/// that request, never the choice.
fn other_action(intent: Intent, purpose: &Purpose) -> bool {
    match purpose {
        Purpose::Cancel => matches!(intent, Intent::Change | Intent::Book),
        Purpose::Change { .. } => matches!(intent, Intent::Cancel | Intent::Book),
    }
}

/// Whether a message asks for a booking beside the one it answers ("and one more for
/// sunday", "another one on monday", "also 2 H100s"). "Add an hour" is not another booking.
fn adds_another(words: &[String]) -> bool {
    words.iter().enumerate().any(|(i, w)| {
        let next = words.get(i + 1).map(String::as_str).unwrap_or("");
        match w.as_str() {
            "another" | "also" | "additionally" => {
                !matches!(next, "hour" | "hours" | "day" | "days")
            }
            "one" | "1" => next == "more",
            "as" => next == "well",
            _ => false,
        }
    })
}

/// Whether a message speaks of an action as a plan or a maybe ("I might cancel it later",
/// "thinking about cancelling"), not as a request.
/// Whether a message makes its yes depend on something ("only if", "provided", "as long
/// as", "assuming", "once my professor agrees", "if they are on one node").
fn conditional(words: &[String]) -> bool {
    words.iter().enumerate().any(|(i, w)| {
        let next = words.get(i + 1).map(String::as_str).unwrap_or("");
        match w.as_str() {
            "if" | "unless" | "provided" | "providing" | "assuming" => true,
            "as" => next == "long",
            "once" => !matches!(next, "more" | "again" | "a"),
            _ => false,
        }
    })
}

/// Whether a message says its choice is not made yet ("or maybe the 3rd", "perhaps the
/// H100", "not sure yet"): what it names is not a decision to act on.
fn undecided(words: &[String]) -> bool {
    words.iter().enumerate().any(|(i, w)| {
        let prev = if i > 0 { words[i - 1].as_str() } else { "" };
        let next = words.get(i + 1).map(String::as_str).unwrap_or("");
        match w.as_str() {
            "maybe" | "perhaps" | "unsure" | "undecided" => true,
            // "not sure yet", "not certain"
            "sure" | "certain" => prev == "not",
            // "or was it saturday?", "let me check", "I'll check", "need to double-check"
            "was" => prev == "or" && next == "it",
            "check" | "double-check" | "doublecheck" => {
                matches!(prev, "me" | "i'll" | "ill" | "to" | "must" | "should")
            }
            _ => false,
        }
    })
}

fn hedged(words: &[String]) -> bool {
    words.iter().enumerate().any(|(i, w)| {
        let prev = if i > 0 { words[i - 1].as_str() } else { "" };
        let next = words.get(i + 1).map(String::as_str).unwrap_or("");
        match w.as_str() {
            "might" | "thinking" | "considering" | "possibly" | "eventually" => true,
            _ if undecided(std::slice::from_ref(w)) => true,
            "sure" | "certain" => prev == "not",
            // Not the month ("the May booking"), not "the later one".
            "may" => matches!(next, "have" | "need" | "want" | "cancel" | "be" | "not"),
            "later" => !matches!(prev, "the" | "a"),
            _ => false,
        }
    })
}
