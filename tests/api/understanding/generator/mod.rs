//! The paraphrase generator: seeded, reproducible random requests rendered into English,
//! single-turn and spread over several turns with corrections, plus negative cases whose
//! right outcome is no booking. The expected outcome is computed here from the request's
//! meaning and the rules (understanding-rules.md) — never by asking the parser.

mod negative;
mod when;
mod words;

use super::case::{Case, Expect, Spec};
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use when::{at, date_phrase, day_time, duration_phrase, Local};
use words::{model_with_count, pick, word, ModelWords, MODELS};

/// The reference clock of the rules: Thursday 2026-11-26 10:00 UTC.
const REFERENCE_NOW: (i32, u32, u32, u32) = (2026, 11, 26, 10);

/// Share of conversations with one typo.
const TYPO_RATE: f64 = 0.06;

/// The `i`-th conversation of the run seeded `seed` (each one reproducible on its own).
pub fn case(seed: u64, i: u64) -> Case {
    let mut rng = StdRng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(i));
    loop {
        if let Some(mut c) = attempt(&mut rng) {
            c.name = format!("gen-{i}");
            c.origin = format!("generator seed {seed}");
            return c;
        }
    }
}

/// The world of one conversation: clock and timezone.
pub struct World {
    /// Now, UTC.
    pub now: DateTime<Utc>,
    /// The server's timezone.
    pub tz: Tz,
    /// Now in that timezone.
    pub local: Local,
    /// Categories.
    pub tags: Vec<String>,
}

impl World {
    /// A local wall-clock time in UTC (`None` in a DST gap or fold).
    pub fn utc(&self, t: NaiveDateTime) -> Option<DateTime<Utc>> {
        self.tz
            .from_local_datetime(&t)
            .single()
            .map(|t| t.with_timezone(&Utc))
    }

    /// Moves now by `secs` seconds (for "now" requests, which need a now between minutes).
    fn shift(&mut self, secs: i64) {
        self.now += Duration::seconds(secs);
        self.local.now += Duration::seconds(secs);
    }
}

fn world(rng: &mut StdRng) -> Option<World> {
    let (y, m, d, h) = REFERENCE_NOW;
    if rng.random_bool(0.55) {
        let now = Utc.with_ymd_and_hms(y, m, d, h, 0, 0).single()?;
        return Some(World {
            now,
            tz: Tz::UTC,
            local: Local {
                now: now.naive_utc(),
            },
            tags: vec!["now:reference".into(), "tz:UTC".into()],
        });
    }
    let tz = *pick(
        rng,
        &[Tz::UTC, Tz::Europe__Bratislava, Tz::America__New_York],
    );
    let (date, kind) = match rng.random_range(0..10) {
        0 => (NaiveDate::from_ymd_opt(2026, 11, 30)?, "month-end"),
        1 => (
            NaiveDate::from_ymd_opt(2026, 12, *pick(rng, &[29, 30, 31]))?,
            "year-end",
        ),
        _ => (
            NaiveDate::from_ymd_opt(2026, 11, 23)? + Duration::days(rng.random_range(0..40)),
            "other-day",
        ),
    };
    let local = date.and_hms_opt(rng.random_range(6..=22), *pick(rng, &[0, 0, 15, 30, 45]), 0)?;
    let now = tz.from_local_datetime(&local).single()?.with_timezone(&Utc);
    Some(World {
        now,
        tz,
        local: Local { now: local },
        tags: vec![
            format!("now:{kind}"),
            format!("now:{}", local.format("%a")),
            format!("tz:{}", tz.name()),
        ],
    })
}

/// When, as meant and as written.
pub struct WhenOut {
    /// Local start and end.
    pub start: NaiveDateTime,
    /// Local end.
    pub end: NaiveDateTime,
    /// Set when the words name UTC instants themselves (ISO with `Z`).
    pub utc: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// The words for one turn.
    pub single: String,
    /// The words spread over turns (date, then time), when they split.
    pub parts: Vec<String>,
    /// The date, when a date correction keeps the time of day and length.
    pub date: Option<NaiveDate>,
    /// The day of month as written ("the 20th"), for "the 21st, not the 20th".
    pub day_written: bool,
    /// The time of day may be corrected ("could it be 3 till 5 instead?").
    pub time_correctable: bool,
    /// Categories.
    pub tags: Vec<String>,
}

/// Whether the date form writes the day of the month ("Dec 20", "the 20th", "2026-12-20"),
/// so that "oops, the 21st not the 20th" refers to something the person said.
fn day_written(date_tag: &str) -> bool {
    let relative = [
        "today",
        "tomorrow",
        "day-after-tomorrow",
        "in-n-days",
        "week-from-today",
    ];
    !date_tag.contains("weekday") && !relative.iter().any(|r| date_tag == format!("date:{r}"))
}

/// Whether a local start is acceptable for a positive case: after now by a margin that no
/// reading of "now" can blur, and within the booking horizon.
fn future(w: &World, start: NaiveDateTime, end: NaiveDateTime) -> bool {
    start > w.local.now + Duration::minutes(15)
        && end - start <= Duration::days(30)
        && start < w.local.now + Duration::days(300)
}

fn when_out(rng: &mut StdRng, w: &mut World) -> Option<WhenOut> {
    let l = w.local;
    let today = l.today();
    let k = rng.random_range(0..100);
    if k < 58 {
        let (d, dtext, dtag) = date_phrase(rng, &l, today)?;
        let dt = day_time(rng)?;
        let (start, end) = (at(d, dt.start), at(d, dt.end));
        if !future(w, start, end) {
            return None;
        }
        let single = if rng.random_bool(0.3) && !dt.tags[0].starts_with("part:") {
            format!("{} {}", dt.text, dtext)
        } else {
            format!("{} {}", dtext, dt.text)
        };
        let mut tags = vec![dtag.clone()];
        tags.extend(dt.tags.iter().cloned());
        let part = dt.tags[0].starts_with("part:");
        return Some(WhenOut {
            start,
            end,
            utc: None,
            single,
            parts: vec![dtext.clone(), dt.text],
            date: Some(d),
            day_written: day_written(&dtag),
            time_correctable: !part && dt.end <= 22 * 60,
            tags,
        });
    }
    if k < 66 {
        // A date, a duration and a start said after them ("friday for 3 hours, starting at
        // 2pm"; a date and a length alone are asked, see `negative`).
        let (d, dtext, dtag) = date_phrase(rng, &l, today)?;
        let mins = when::random_duration(rng, false);
        let (dur, durtag) = duration_phrase(rng, mins)?;
        if !dur.starts_with("for") {
            return None;
        }
        let h = rng.random_range(8..=15u32);
        let said = if rng.random_bool(0.5) {
            format!("starting at {h}:00")
        } else {
            format!(
                "from {}{}",
                if h > 12 { h - 12 } else { h },
                if h >= 12 { "pm" } else { "am" }
            )
        };
        let start = at(d, h * 60);
        let end = start + Duration::minutes(mins as i64);
        if !future(w, start, end) {
            return None;
        }
        return Some(WhenOut {
            start,
            end,
            utc: None,
            single: format!("{dtext} {dur}, {said}"),
            parts: vec![dtext, format!("{dur}, {said}")],
            date: Some(d),
            day_written: day_written(&dtag),
            time_correctable: false,
            tags: vec![dtag, durtag, "when:date-duration-start-after".into()],
        });
    }
    if k < 72 {
        // A time without a date: today, or tomorrow if that time has passed.
        let s = rng.random_range(7..=20u32) * 60 + *pick(rng, &[0, 0, 30]);
        let now_min = l.now.hour() * 60 + l.now.minute();
        if s.abs_diff(now_min) < 30 {
            return None;
        }
        let d = if s > now_min {
            today
        } else {
            today + Duration::days(1)
        };
        let mins = when::random_duration(rng, true);
        let (st, stag) = when::time_phrase(rng, s, true)?;
        let (dur, durtag) = duration_phrase(rng, mins)?;
        let dur = if dur.starts_with("for") {
            dur
        } else {
            format!("for {dur}")
        };
        let start = at(d, s);
        let end = start + Duration::minutes(mins as i64);
        if !future(w, start, end) {
            return None;
        }
        let text = format!("at {st} {dur}");
        return Some(WhenOut {
            start,
            end,
            utc: None,
            single: text.clone(),
            parts: vec![text],
            date: None,
            day_written: false,
            time_correctable: false,
            tags: vec![
                "date:none".into(),
                format!(
                    "date:none-{}",
                    if d == today { "today" } else { "tomorrow" }
                ),
                stag,
                durtag,
            ],
        });
    }
    if k < 80 {
        // A start relative to now.
        let mins = when::random_duration(rng, true);
        let (dur, durtag) = duration_phrase(rng, mins)?;
        let dur = if dur.starts_with("for") {
            dur
        } else {
            format!("for {dur}")
        };
        let (rel, start, tag) = if rng.random_bool(0.5) {
            // "now": the next whole minute, so now must fall between minutes.
            w.shift(rng.random_range(5..55));
            let start = w.local.now.with_second(0)? + Duration::minutes(1);
            let words = pick(
                rng,
                &[
                    "now",
                    "right now",
                    "right away",
                    "asap",
                    "immediately",
                    "starting now",
                ],
            );
            (words.to_string(), start, "rel:now")
        } else {
            let (n, unit, mins_ahead) = *pick(
                rng,
                &[
                    (2, "hours", 120),
                    (3, "hours", 180),
                    (1, "hour", 60),
                    (30, "minutes", 30),
                    (45, "minutes", 45),
                    (90, "minutes", 90),
                ],
            );
            let text = if n == 1 {
                "in an hour".to_string()
            } else {
                format!("in {n} {unit}")
            };
            (text, w.local.now + Duration::minutes(mins_ahead), "rel:in")
        };
        let end = start + Duration::minutes(mins as i64);
        let text = match rng.random_range(0..3) {
            0 => format!("{rel} {dur}"),
            1 => format!("starting {rel}, {dur}"),
            _ if rel.starts_with("in ") || rel.ends_with("now") => format!("{dur}, starting {rel}"),
            _ => format!("{dur}, {rel}"),
        };
        return Some(WhenOut {
            start,
            end,
            utc: None,
            single: text.clone(),
            parts: vec![text],
            date: None,
            day_written: false,
            time_correctable: false,
            tags: vec![tag.into(), durtag],
        });
    }
    if k < 87 {
        // ISO date-times, local or UTC (`Z`).
        let d = today + Duration::days(rng.random_range(1..=40));
        let s = rng.random_range(7..=18u32) * 60 + *pick(rng, &[0, 0, 30]);
        let mins = when::random_duration(rng, true);
        let z = rng.random_bool(0.3);
        let start = at(d, s);
        let end = start + Duration::minutes(mins as i64);
        let iso = |t: NaiveDateTime, sep: &str| {
            format!(
                "{}{sep}{}{}",
                t.format("%Y-%m-%d"),
                t.format("%H:%M"),
                if z { "Z" } else { "" }
            )
        };
        let sep = if rng.random_bool(0.6) { "T" } else { " " };
        let (text, tag) = if rng.random_bool(0.5) {
            (
                format!("from {} to {}", iso(start, sep), iso(end, sep)),
                "iso-range",
            )
        } else {
            let (dur, _) = duration_phrase(rng, mins)?;
            let dur = if dur.starts_with("for") {
                dur
            } else {
                format!("for {dur}")
            };
            (format!("{} {dur}", iso(start, sep)), "iso-start-duration")
        };
        let utc = if z {
            Some((Utc.from_utc_datetime(&start), Utc.from_utc_datetime(&end)))
        } else {
            None
        };
        let local_start = match utc {
            Some((s, _)) => s.with_timezone(&w.tz).naive_local(),
            None => start,
        };
        if !future(w, local_start, local_start + (end - start)) {
            return None;
        }
        let sep_tag = if sep == "T" { "t" } else { "space" };
        return Some(WhenOut {
            start,
            end,
            utc,
            single: text.clone(),
            parts: vec![text],
            date: None,
            day_written: false,
            time_correctable: false,
            tags: vec![
                format!("when:{tag}"),
                format!("when:iso-{sep_tag}{}", if z { "-z" } else { "" }),
            ],
        });
    }
    if k < 95 {
        // Whole days: the first day 00:00 to the day after the last.
        let first = today + Duration::days(rng.random_range(1..=40));
        let last = first + Duration::days(rng.random_range(1..=5));
        let (text, tag) = match rng.random_range(0..4) {
            0 => {
                let (w1, w2) = (first.weekday(), last.weekday());
                // Both weekdays must resolve (nearest from today) to exactly these dates.
                if when::nearest(today, w1) != first || when::nearest(today, w2) != last {
                    return None;
                }
                (
                    format!(
                        "from {} to {}",
                        when::weekday_name(w1.num_days_from_monday() as usize),
                        when::weekday_name(w2.num_days_from_monday() as usize)
                    ),
                    "weekday-to-weekday",
                )
            }
            1 if first.month() == last.month() && first.year() == today.year() => (
                format!("{}-{}", when::mon_d(first), last.day()),
                "mon-d1-d2",
            ),
            2 if last.year() == today.year() => (
                format!("{} to {}", when::mon_d(first), when::mon_d(last)),
                "mon-d-to-mon-d",
            ),
            3 if last.year() == today.year() => (
                format!("from {} through {}", when::mon_d(first), when::mon_d(last)),
                "from-through",
            ),
            _ => return None,
        };
        let start = at(first, 0);
        let end = at(last + Duration::days(1), 0);
        if !future(w, start, end) {
            return None;
        }
        return Some(WhenOut {
            start,
            end,
            utc: None,
            single: text.clone(),
            parts: vec![text],
            date: None,
            day_written: false,
            time_correctable: false,
            tags: vec![format!("daterange:{tag}")],
        });
    }
    // Tonight: today 17:00–21:00.
    let start = at(today, 17 * 60);
    if !future(w, start, at(today, 21 * 60)) {
        return None;
    }
    Some(WhenOut {
        start,
        end: at(today, 21 * 60),
        utc: None,
        single: "tonight".into(),
        parts: vec!["tonight".into()],
        date: Some(today),
        day_written: false,
        time_correctable: false,
        tags: vec!["part:tonight".into()],
    })
}

/// A positive request: model, count, when.
struct Req {
    model: &'static ModelWords,
    count: u32,
    when: WhenOut,
}

impl Req {
    fn spec(&self, w: &World) -> Option<Spec> {
        let (start, end) = match self.when.utc {
            Some(se) => se,
            None => (w.utc(self.when.start)?, w.utc(self.when.end)?),
        };
        Some(Spec {
            model: self.model.name.to_string(),
            count: self.count,
            start,
            end,
        })
    }
}

fn random_count(rng: &mut StdRng, m: &ModelWords) -> u32 {
    match rng.random_range(0..10) {
        0..=2 => 1,
        3..=5 => 2,
        6 if m.total <= 8 => m.total,
        _ => rng.random_range(3..=m.total.min(8)),
    }
}

fn attempt(rng: &mut StdRng) -> Option<Case> {
    let mut w = world(rng)?;
    let roll = rng.random_range(0..100);
    let negative = roll < 22;
    let mut case = if negative {
        negative::case(rng, &mut w)?
    } else {
        positive(rng, &mut w)?
    };
    case.now = w.now;
    case.tz = w.tz;
    case.tags.extend(w.tags.iter().cloned());
    // Typos only in requests that must succeed: in a negative one ("yesterdy") a typo
    // would blur what the right outcome is.
    if !negative && rng.random_bool(TYPO_RATE) {
        let i = rng.random_range(0..case.turns.len());
        if let Some(t) = words::typo(rng, &case.turns[i]) {
            case.turns[i] = t;
            case.tags.push("typo".into());
        }
    }
    Some(case)
}

fn new_case(turns: Vec<String>, expect: Expect, tags: Vec<String>) -> Case {
    Case {
        name: String::new(),
        origin: String::new(),
        now: Utc::now(),
        tz: Tz::UTC,
        existing: Vec::new(),
        others: Vec::new(),
        turns,
        expect,
        reply_has: Vec::new(),
        tags,
        act_turns: None,
    }
}

/// A yes-word turn.
fn yes(rng: &mut StdRng) -> String {
    pick(rng, words::YES).to_string()
}

/// Opening + request + closing, sometimes with a story.
fn dress(rng: &mut StdRng, core: &str, tags: &mut Vec<String>) -> String {
    let opener = *pick(rng, words::OPENERS);
    let closer = *pick(rng, words::CLOSERS);
    let story = if rng.random_bool(0.12) {
        tags.push("filler:story".into());
        *pick(rng, words::STORIES)
    } else {
        ""
    };
    if !opener.is_empty() || !closer.is_empty() {
        tags.push("filler:politeness".into());
    }
    let closer = match closer {
        "" => String::new(),
        c if core.ends_with('?') => format!(" {c}"),
        c => format!(", {c}"),
    };
    [opener, story, &format!("{core}{closer}")]
        .iter()
        .filter(|s| !s.is_empty())
        .cloned()
        .collect::<Vec<_>>()
        .join(" ")
}

fn positive(rng: &mut StdRng, w: &mut World) -> Option<Case> {
    let model = pick(rng, MODELS);
    let count = random_count(rng, model);
    let when = when_out(rng, w)?;
    let mut req = Req { model, count, when };
    let mut tags: Vec<String> = req.when.tags.clone();
    let style = rng.random_range(0..100);
    let mut turns: Vec<String> = Vec::new();
    let mut slots = Slots::default();
    if style < 55 {
        // One turn, then yes (sometimes a correction in between).
        let (mtext, ctag, mtag) = model_with_count(rng, model, count);
        tags.extend([ctag, mtag, "turns:single".into()]);
        let ask = pick(rng, words::ASKS);
        let core = ask.replace("{m}", &mtext).replace("{w}", &req.when.single);
        turns.push(dress(rng, &core, &mut tags));
    } else {
        tags.push("turns:multi".into());
        slots = multi_turn(rng, &mut req, &mut turns, &mut tags)?;
    }
    if rng.random_bool(0.3) {
        // Not every slot can be corrected in every request: try a few kinds.
        for _ in 0..4 {
            if correction(rng, w, &mut req, &slots, &mut turns, &mut tags).is_some() {
                break;
            }
        }
    }
    turns.push(yes(rng));
    if rng.random_bool(0.05) {
        // A second yes has nothing pending: still exactly one booking.
        turns.push(yes(rng));
        tags.push("extra-yes-after-booking".into());
    }
    let spec = req.spec(w)?;
    // Over the default weekly quota (API.md: 1000 GPU-hours a week) a request is refused,
    // rightly: those are the quota tests' cases, not the generator's.
    if spec.count as i64 * (spec.end - spec.start).num_minutes() > 1000 * 60 {
        return None;
    }
    // The booking may only be made at a yes (before any typo changes the words).
    let act_turns = turns
        .iter()
        .enumerate()
        .filter(|(_, t)| words::YES.contains(&t.as_str()))
        .map(|(i, _)| i)
        .collect();
    let mut case = new_case(turns, Expect::Book(spec.clone()), tags);
    case.act_turns = Some(act_turns);
    surroundings(rng, w, &mut case, &spec);
    Some(case)
}

/// The turn (index) by which each slot has been given: a correction of a slot may follow it
/// at once, before the other slots are given.
#[derive(Default)]
struct Slots {
    model: usize,
    count: usize,
    date: usize,
    time: usize,
}

/// The same request spread over turns: model first, then count, then date, then time.
fn multi_turn(
    rng: &mut StdRng,
    req: &mut Req,
    turns: &mut Vec<String>,
    tags: &mut Vec<String>,
) -> Option<Slots> {
    let mut slots = Slots::default();
    let m = req.model;
    let n = req.count;
    let plural = *pick(rng, m.plural);
    let count_fragment = |rng: &mut StdRng| -> (String, String) {
        let forms: Vec<(String, &str)> = if n == 1 {
            vec![
                ("just one".into(), "just-one"),
                ("1 GPU".into(), "n-gpus"),
                ("one of them".into(), "n-of-them"),
            ]
        } else {
            vec![
                (format!("{n} GPUs"), "n-gpus"),
                (format!("{n} of them"), "n-of-them"),
                (format!("{} of them", word(n)), "word-of-them"),
                (format!("I need {n} of those"), "need-n-of-those"),
            ]
        };
        let (t, tag) = pick(rng, &forms);
        (t.clone(), format!("count-turn:{tag}"))
    };
    match rng.random_range(0..3) {
        0 => {
            let opening = pick(
                rng,
                &[
                    "I'd like to book some {p}",
                    "do you have {p}? I want to book some",
                    "I need some {p}",
                ],
            );
            turns.push(dress(rng, &opening.replace("{p}", plural), tags));
            let (c, ctag) = count_fragment(rng);
            turns.push(c);
            slots.count = turns.len() - 1;
            tags.extend(["open:plural-model".to_string(), ctag]);
        }
        1 => {
            let (mtext, ctag, mtag) = model_with_count(rng, m, n);
            let opening = pick(
                rng,
                &["I need {m}", "I'd like to book {m}", "can I reserve {m}?"],
            );
            turns.push(dress(rng, &opening.replace("{m}", &mtext), tags));
            tags.extend(["open:model-and-count".to_string(), ctag, mtag]);
        }
        _ => {
            let opening = pick(
                rng,
                &[
                    "I need some GPUs",
                    "can I book some GPUs?",
                    "I want to reserve GPUs",
                ],
            );
            turns.push(dress(rng, opening, tags));
            if rng.random_bool(0.3) && !m.property_fragment.is_empty() {
                let (ptag, p) = pick(rng, m.property_fragment);
                turns.push(p.to_string());
                tags.push(format!("model-turn:property-{ptag}"));
            } else {
                let t = pick(rng, &["{p} please", "let's go with {p}", "{p}"]);
                turns.push(t.replace("{p}", plural));
                tags.push("model-turn:name".into());
            }
            slots.model = turns.len() - 1;
            let (c, ctag) = count_fragment(rng);
            turns.push(c);
            slots.count = turns.len() - 1;
            tags.extend(["open:no-model".to_string(), ctag]);
        }
    }
    if req.when.parts.len() == 2 && rng.random_bool(0.75) {
        turns.push(req.when.parts[0].clone());
        slots.date = turns.len() - 1;
        turns.push(req.when.parts[1].clone());
        tags.push("when:split-turns".into());
    } else {
        turns.push(req.when.single.clone());
        slots.date = turns.len() - 1;
    }
    slots.time = turns.len() - 1;
    Some(slots)
}

/// A correction of one slot; `req` takes the new value.
fn correction(
    rng: &mut StdRng,
    w: &World,
    req: &mut Req,
    slots: &Slots,
    turns: &mut Vec<String>,
    tags: &mut Vec<String>,
) -> Option<()> {
    let kind = rng.random_range(0..4);
    let slot = [slots.count, slots.model, slots.date, slots.time][kind];
    let text = match kind {
        0 => {
            let max = req.model.total.min(8);
            let n = rng.random_range(1..=max);
            if n == req.count {
                return None;
            }
            let old = req.count;
            req.count = n;
            let (t, tag) = match rng.random_range(0..4) {
                0 => (format!("actually {n} GPUs"), "actually-n-gpus"),
                1 => (format!("sorry, make that {n} GPUs"), "make-that-n"),
                2 => (format!("no — {}, not {}", word(n), word(old)), "no-n-not-m"),
                _ => (format!("actually I need {n} of them"), "need-n-of-them"),
            };
            tags.push(format!("corr:count-{tag}"));
            t
        }
        1 => {
            // After "all the V100s", "make that A100" could mean 8 or all 12: not asked.
            if tags.iter().any(|t| t == "count:all") {
                return None;
            }
            let others: Vec<&'static ModelWords> = MODELS
                .iter()
                .filter(|m| m.name != req.model.name && m.total >= req.count)
                .collect();
            if others.is_empty() {
                return None;
            }
            let m = *pick(rng, &others);
            req.model = m;
            let sing = m
                .singular
                .iter()
                .find(|s| !s.contains("rxt"))
                .copied()
                .unwrap_or(m.name);
            let (t, tag) = match rng.random_range(0..4) {
                0 => (format!("make that {sing}"), "make-that"),
                1 => (format!("same but {sing}"), "same-but"),
                2 => (format!("actually make it {sing}"), "make-it"),
                _ => (
                    format!("hmm, switch to {} please", pick(rng, m.plural)),
                    "switch-to",
                ),
            };
            tags.push(format!("corr:model-{tag}"));
            t
        }
        2 => {
            let d = req.when.date?;
            let today = w.local.today();
            let (nd, t, tag) = match rng.random_range(0..3) {
                0 if req.when.day_written => {
                    let nd = d + Duration::days(*pick(rng, &[-1, 1, 2]));
                    // "the 21st" alone means the next 21st from today: it must be this one.
                    if nd.day() > 28 || when::next_day_of_month(today, nd.day()) != Some(nd) {
                        return None;
                    }
                    let (new, old) = (when::ordinal(nd.day()), when::ordinal(d.day()));
                    let text = match rng.random_range(0..3) {
                        0 => format!("oops, the {new} not the {old}"),
                        1 => format!("oops — the {new}, not the {old}"),
                        _ => format!("sorry, I meant the {new}"),
                    };
                    (nd, text, "ordinal")
                }
                1 => {
                    let wd = rng.random_range(0..7u8);
                    let nd = when::nearest(today, chrono::Weekday::try_from(wd).ok()?);
                    (
                        nd,
                        format!("make that {}", when::weekday_name(wd as usize)),
                        "weekday",
                    )
                }
                _ => {
                    let nd = today + Duration::days(rng.random_range(1..=30));
                    if nd.year() != today.year() {
                        return None;
                    }
                    (nd, format!("actually {} instead", when::mon_d(nd)), "mon-d")
                }
            };
            if nd == d {
                return None;
            }
            let len = req.when.end - req.when.start;
            let start = nd.and_time(req.when.start.time());
            if !future(w, start, start + len) {
                return None;
            }
            req.when.start = start;
            req.when.end = start + len;
            req.when.date = Some(nd);
            tags.push(format!("corr:date-{tag}"));
            t
        }
        _ => {
            if !req.when.time_correctable {
                return None;
            }
            let d = req.when.date?;
            let s = rng.random_range(8..=16u32) * 60;
            let e = s + rng.random_range(1..=5u32) * 60;
            let (st, _) = when::time_phrase(rng, s, true)?;
            let (et, _) = when::end_phrase(rng, s, e)?;
            let (t, tag) = match rng.random_range(0..3) {
                0 => (
                    format!("could it be {st} till {et} instead?"),
                    "could-it-be",
                ),
                1 => (format!("actually from {st} to {et}"), "actually-from-to"),
                _ => (format!("make it {st}-{et} instead"), "make-it"),
            };
            let (start, end) = (at(d, s), at(d, e));
            if !future(w, start, end) {
                return None;
            }
            req.when.start = start;
            req.when.end = end;
            tags.push(format!("corr:time-{tag}"));
            t
        }
    };
    // Before the yes (after the proposal) or right after the turn that gave the slot.
    tags.push("corr:any".into());
    if slot + 1 < turns.len() && rng.random_bool(0.5) {
        turns.insert(slot + 1, text);
        tags.push("corr:mid-conversation".into());
    } else {
        turns.push(text);
    }
    Some(())
}

/// Sometimes the person has a booking already, or someone else holds part of the model.
fn surroundings(rng: &mut StdRng, w: &World, case: &mut Case, spec: &Spec) {
    if rng.random_bool(0.1) {
        let start = w.now + Duration::days(rng.random_range(15..40));
        let start = start
            .with_minute(0)
            .and_then(|t| t.with_second(0))
            .unwrap_or(start);
        let m = pick(rng, MODELS);
        let end = start + Duration::hours(2);
        // It must not take capacity the request needs.
        if m.name != spec.model || end <= spec.start || start >= spec.end {
            case.existing.push(Spec {
                model: m.name.to_string(),
                count: 1,
                start,
                end,
            });
            case.tags.push("world:existing-booking".into());
        }
    }
    let total = MODELS
        .iter()
        .find(|m| m.name == spec.model)
        .map_or(0, |m| m.total);
    if rng.random_bool(0.12) && spec.count < total {
        let n = rng.random_range(1..=total - spec.count);
        case.others.push(Spec {
            model: spec.model.clone(),
            count: n,
            start: spec.start - Duration::hours(1),
            end: spec.end + Duration::hours(1),
        });
        case.tags.push("world:others-share-model".into());
    }
}
