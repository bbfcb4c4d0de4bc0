//! Dates, times, durations and relative starts, read in the configured time zone.
//!
//! Rules for ambiguous words (also in the README):
//! - a weekday ("friday", "this friday") is the nearest such day from today on, today
//!   included; "next friday" is the Friday of next calendar week (weeks start on Monday);
//! - a month and day without a year ("Dec 3", "3 December") is the next such date;
//! - parts of the day: morning 09:00–12:00, afternoon 12:00–17:00, evening / tonight
//!   17:00–21:00, business hours 09:00–17:00, all day 00:00–24:00;
//! - "the weekend" is Saturday 00:00 for two days (the dialogue starts it now if begun);
//!   "next week" is next Monday 00:00 for seven days; "next month" its first day;
//! - an hour without am/pm: 1–6 is afternoon ("at 2" = 14:00), 7–12 as written; in a range
//!   an end not after the start is taken as afternoon ("9-5" = 09:00–17:00);
//! - a start time without a date is today, or tomorrow once that time has passed;
//! - a date without a time starts at 09:00 for a booking (or now, if it is today and later);
//!   for an availability question it means the whole day.

use super::words::{decimal, number, starts_with};
use chrono::{Datelike, Duration, NaiveDate, NaiveTime, Weekday};

/// A time of day as typed, with whether am/pm (or a 24-hour form) fixed it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Typed {
    h: u32,
    m: u32,
    /// am/pm or the hour itself settles morning vs afternoon.
    fixed: bool,
    /// Written as a time (colon, am/pm, noon): not just a number.
    marked: bool,
}

/// What a message says about when.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct When {
    /// A calendar date.
    pub date: Option<NaiveDate>,
    /// Start time of day.
    pub start: Option<NaiveTime>,
    /// End time of day (with `start`, a range; `24:00` is the end of the day).
    pub end: Option<NaiveTime>,
    /// The range ends at midnight after the start's day.
    pub end_of_day: bool,
    /// A length ("for 3 hours").
    pub duration: Option<Duration>,
    /// A start relative to now ("in 2 hours", "now").
    pub from_now: Option<Duration>,
}

impl When {
    /// Whether anything about time was said.
    pub fn is_empty(&self) -> bool {
        *self == When::default()
    }
}

fn weekday(t: &str) -> Option<Weekday> {
    Some(match t {
        "monday" | "mon" | "mondays" => Weekday::Mon,
        "tuesday" | "tue" | "tues" | "tuesdays" => Weekday::Tue,
        "wednesday" | "wed" | "weds" | "wednesdays" => Weekday::Wed,
        "thursday" | "thu" | "thur" | "thurs" | "thursdays" => Weekday::Thu,
        "friday" | "fri" | "fridays" => Weekday::Fri,
        "saturday" | "sat" | "saturdays" => Weekday::Sat,
        "sunday" | "sun" | "sundays" => Weekday::Sun,
        _ => return None,
    })
}

fn month(t: &str) -> Option<u32> {
    let m = match t.get(..3)? {
        "jan" => 1,
        "feb" => 2,
        "mar" => 3,
        "apr" => 4,
        "may" => 5,
        "jun" => 6,
        "jul" => 7,
        "aug" => 8,
        "sep" => 9,
        "oct" => 10,
        "nov" => 11,
        "dec" => 12,
        _ => return None,
    };
    const FULL: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    let full = FULL[m as usize - 1];
    (full.starts_with(t) || t == "sept").then_some(m)
}

/// "3", "3rd", "21st" → day of month.
fn day_of_month(t: &str) -> Option<u32> {
    let digits = t.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let suffix = &t[digits.len()..];
    if !["", "st", "nd", "rd", "th"].contains(&suffix) || digits.is_empty() || digits.len() > 2 {
        return None;
    }
    digits.parse().ok().filter(|d| (1..=31).contains(d))
}

/// Parses "9", "9am", "9:30", "14:00", "9.30pm", "noon", "midnight", "17h".
fn time(t: &str) -> Option<Typed> {
    match t {
        "noon" | "midday" => {
            return Some(Typed {
                h: 12,
                m: 0,
                fixed: true,
                marked: true,
            })
        }
        "midnight" => {
            return Some(Typed {
                h: 0,
                m: 0,
                fixed: true,
                marked: true,
            })
        }
        _ => {}
    }
    let (body, meridiem) = if let Some(b) = t.strip_suffix("am").or_else(|| t.strip_suffix("a.m")) {
        (b, Some(false))
    } else if let Some(b) = t.strip_suffix("pm").or_else(|| t.strip_suffix("p.m")) {
        (b, Some(true))
    } else {
        (t, None)
    };
    let (h, m, colon) = match body.split_once([':', '.']) {
        Some((h, m)) if m.len() == 2 => (h.parse::<u32>().ok()?, m.parse::<u32>().ok()?, true),
        Some(_) => return None,
        None if !body.is_empty() && body.len() <= 2 => (body.parse::<u32>().ok()?, 0, false),
        None => return None,
    };
    if m > 59 {
        return None;
    }
    match meridiem {
        Some(pm) => {
            if !(1..=12).contains(&h) {
                return None;
            }
            let h = match (pm, h) {
                (false, 12) => 0,
                (true, 12) => 12,
                (true, h) => h + 12,
                (false, h) => h,
            };
            Some(Typed {
                h,
                m,
                fixed: true,
                marked: true,
            })
        }
        None if h <= 24 => Some(Typed {
            h,
            m,
            fixed: colon || h > 12 || h == 0,
            marked: colon,
        }),
        None => None,
    }
}

/// Afternoon for a bare 1–6 ("at 2" = 14:00).
fn settle_start(t: Typed) -> Typed {
    if !t.fixed && (1..=6).contains(&t.h) {
        Typed { h: t.h + 12, ..t }
    } else {
        t
    }
}

/// Settles a range: a bare start 1–6 is afternoon; an end not after the start gets +12h.
fn settle_range(a: Typed, b: Typed) -> (Typed, Typed) {
    // "2 and 4 pm": a bare start takes the end's afternoon when that keeps it before the end.
    let a = if !a.fixed && a.h < 12 && b.marked && b.h >= 12 && a.h + 12 < b.h {
        Typed { h: a.h + 12, ..a }
    } else {
        a
    };
    let a = if !a.fixed && (1..=6).contains(&a.h) && (b.h <= 12) {
        Typed { h: a.h + 12, ..a }
    } else {
        a
    };
    let mut b = b;
    if !b.fixed && b.h < 12 && b.h * 60 + b.m <= a.h * 60 + a.m {
        b.h += 12;
    }
    (a, b)
}

fn naive(t: Typed) -> NaiveTime {
    NaiveTime::from_hms_opt(t.h % 24, t.m, 0).expect("valid time")
}

/// A unit of duration → minutes.
fn unit_minutes(t: &str) -> Option<i64> {
    Some(match t {
        "minute" | "minutes" | "min" | "mins" | "m" => 1,
        "hour" | "hours" | "hr" | "hrs" | "h" => 60,
        "day" | "days" | "d" => 24 * 60,
        "night" | "nights" => 24 * 60,
        "week" | "weeks" | "wk" | "wks" | "w" => 7 * 24 * 60,
        "month" | "months" => 30 * 24 * 60,
        _ => return None,
    })
}

/// "3h", "90min", "2d", "1.5hrs" in one token.
fn compact_duration(t: &str) -> Option<Duration> {
    let split = t.find(|c: char| c.is_ascii_alphabetic())?;
    let (n, u) = t.split_at(split);
    if n.is_empty() {
        return None;
    }
    let n: f64 = n.parse().ok()?;
    Some(Duration::minutes(
        (n * unit_minutes(u)? as f64).round() as i64
    ))
}

fn part_of_day(toks: &[String], i: usize) -> Option<(u32, u32, usize)> {
    let t = toks[i].as_str();
    let two = toks.get(i + 1).map(|n| format!("{t} {n}"));
    match two.as_deref() {
        Some("business hours" | "working hours" | "office hours" | "work hours") => {
            return Some((9, 17, 2))
        }
        Some("all day" | "whole day" | "full day" | "entire day") => return Some((0, 24, 2)),
        _ => {}
    }
    Some(match t {
        "morning" | "mornings" => (9, 12, 1),
        "afternoon" | "afternoons" => (12, 17, 1),
        "evening" | "evenings" | "tonight" => (17, 21, 1),
        _ => return None,
    })
}

/// Reads every time expression of `toks` (relative to `today`), marking the tokens used.
pub fn parse(toks: &[String], today: NaiveDate, used: &mut [bool]) -> When {
    let mut w = When::default();
    let mut i = 0;
    let mark = |used: &mut [bool], from: usize, n: usize| {
        used.iter_mut().skip(from).take(n).for_each(|u| *u = true)
    };
    while i < toks.len() {
        let t = toks[i].as_str();
        let next = toks.get(i + 1).map(String::as_str);
        let next2 = toks.get(i + 2).map(String::as_str);
        let prev = if i > 0 { toks[i - 1].as_str() } else { "" };

        // Dates.
        if starts_with(&toks[i..], "day after tomorrow") {
            w.date = Some(today + Duration::days(2));
            mark(used, i, 3);
            i += 3;
            continue;
        }
        match t {
            "today" | "tonight" => {
                w.date = Some(today);
                if t == "tonight" {
                    w.start = Some(naive(Typed {
                        h: 17,
                        m: 0,
                        fixed: true,
                        marked: true,
                    }));
                    w.end = Some(naive(Typed {
                        h: 21,
                        m: 0,
                        fixed: true,
                        marked: true,
                    }));
                }
                mark(used, i, 1);
                i += 1;
                continue;
            }
            "tomorrow" | "tmrw" | "tmr" | "tmrow" | "tomorow" | "tommorow" | "tommorrow"
            | "tomorrows" | "2moro" => {
                w.date = Some(today + Duration::days(1));
                mark(used, i, 1);
                i += 1;
                continue;
            }
            "now" | "asap" | "immediately" | "straight"
                if !(t == "straight" && next != Some("away")) =>
            {
                if !(prev == "from" && w.from_now.is_some()) {
                    w.from_now = Some(Duration::zero());
                }
                mark(used, i, if t == "straight" { 2 } else { 1 });
                i += if t == "straight" { 2 } else { 1 };
                continue;
            }
            "next" | "this" | "coming" if next.is_some_and(|n| weekday(n).is_some()) => {
                let wd = weekday(next.unwrap_or_default()).expect("checked");
                w.date = Some(if t == "next" {
                    next_week(today, wd)
                } else {
                    nearest(today, wd)
                });
                mark(used, i, 2);
                i += 2;
                continue;
            }
            "next" if next == Some("week") => {
                // The whole of next week, Monday 00:00 for seven days.
                w.date = Some(next_week(today, Weekday::Mon));
                w.start = w.start.or(Some(NaiveTime::MIN));
                w.duration = w.duration.or(Some(Duration::days(7)));
                mark(used, i, 2);
                i += 2;
                continue;
            }
            "next" if next == Some("month") => {
                w.date = add_month(today, 1);
                mark(used, i, 2);
                i += 2;
                continue;
            }
            "weekend" if prev != "a" => {
                // The whole weekend: Saturday 00:00 to Monday 00:00 (a time said too wins).
                w.date = Some(nearest(today, Weekday::Sat));
                w.start = w.start.or(Some(NaiveTime::MIN));
                w.duration = w.duration.or(Some(Duration::days(2)));
                mark(used, i, 1);
                i += 1;
                continue;
            }
            _ => {}
        }
        if let Some(wd) = weekday(t) {
            w.date = Some(nearest(today, wd));
            mark(used, i, 1);
            i += 1;
            continue;
        }
        if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
            w.date = Some(d);
            mark(used, i, 1);
            i += 1;
            continue;
        }
        // "dec 3", "december 3rd 2026"
        if let (Some(m), Some(d)) = (month(t), next.and_then(day_of_month)) {
            let year = next2
                .and_then(|y| y.parse::<i32>().ok())
                .filter(|y| (2000..2100).contains(y));
            w.date = month_day(today, m, d, year);
            let n = if year.is_some() { 3 } else { 2 };
            mark(used, i, n);
            i += n;
            continue;
        }
        // "3 december", "3rd of dec 2026"
        if let Some(d) = day_of_month(t) {
            let (of, mi) = if next == Some("of") {
                (1, next2)
            } else {
                (0, next)
            };
            if let Some(m) = mi.and_then(month) {
                let yi = toks
                    .get(i + 2 + of)
                    .and_then(|y| y.parse::<i32>().ok())
                    .filter(|y| (2000..2100).contains(y));
                w.date = month_day(today, m, d, yi);
                let n = 2 + of + usize::from(yi.is_some());
                mark(used, i, n);
                i += n;
                continue;
            }
        }
        // "on the 5th"
        if t == "the" && prev == "on" {
            if let Some(d) = next
                .filter(|n| {
                    n.ends_with("st") || n.ends_with("nd") || n.ends_with("rd") || n.ends_with("th")
                })
                .and_then(day_of_month)
            {
                let this = NaiveDate::from_ymd_opt(today.year(), today.month(), d);
                w.date = match this {
                    Some(x) if x >= today => Some(x),
                    _ => add_month(today, d),
                };
                mark(used, i - 1, 3);
                i += 2;
                continue;
            }
        }

        // Relative: "in 2 hours", "in 3 days", "2 hours from now".
        if t == "in" {
            if let Some((d, n)) = duration_at(toks, i + 1) {
                if d >= Duration::days(1) && d.num_minutes() % (24 * 60) == 0 {
                    w.date = Some(today + Duration::days(d.num_days()));
                } else {
                    w.from_now = Some(d);
                }
                mark(used, i, 1 + n);
                i += 1 + n;
                continue;
            }
        }

        // Parts of the day.
        if let Some((a, b, n)) = part_of_day(toks, i).filter(|_| prev != "good") {
            w.start = Some(naive(Typed {
                h: a,
                m: 0,
                fixed: true,
                marked: true,
            }));
            if b == 24 {
                w.end = Some(NaiveTime::MIN);
                w.end_of_day = true;
            } else {
                w.end = Some(naive(Typed {
                    h: b,
                    m: 0,
                    fixed: true,
                    marked: true,
                }));
            }
            mark(used, i, n);
            i += n;
            continue;
        }

        // Ranges in one token: "9-17", "9am-5pm", "10:00-12:00".
        if let Some((a, b)) = t
            .split_once('-')
            .and_then(|(a, b)| Some((time(a)?, time(b)?)))
        {
            set_range(&mut w, a, b);
            mark(used, i, 1);
            i += 1;
            continue;
        }
        // "from 2pm to 6pm", "between 10 and 12", "10 to 4", "9 - 5", "9am until noon"
        let joiner = |s: Option<&str>| {
            matches!(
                s,
                Some("to" | "until" | "till" | "til" | "-" | "and" | "through")
            )
        };
        if let Some(a) = time(t) {
            let numeric_ok = a.marked
                || matches!(prev, "from" | "between" | "at" | "@")
                || (joiner(next) && next != Some("and"));
            if numeric_ok && joiner(next) {
                if let Some(b) = next2.and_then(time) {
                    // "2 to 4 gpus" is a count, not a time.
                    let after = toks.get(i + 3).map(String::as_str);
                    if !after.is_some_and(|x| super::words::is_gpu_noun(x) && x != "of") {
                        set_range(&mut w, a, b);
                        let from = if matches!(prev, "from" | "between") {
                            i - 1
                        } else {
                            i
                        };
                        mark(used, from, i + 3 - from);
                        i += 3;
                        continue;
                    }
                }
            }
            let after_until = matches!(prev, "until" | "till" | "til" | "to" | "by")
                && (a.marked || w.start.is_some());
            if after_until && !unit_follows(next) {
                let end = if w.start.is_none() {
                    a
                } else {
                    settle_range(start_typed(&w), a).1
                };
                w.end = Some(naive(end));
                w.end_of_day = end.h == 24;
                mark(used, i - 1, 2);
                i += 1;
                continue;
            }
            let start_word = matches!(
                prev,
                "at" | "from" | "@" | "starting" | "start" | "begin" | "beginning" | "after"
            );
            if (a.marked || start_word) && !unit_follows(next) {
                w.start = Some(naive(if a.fixed { a } else { settle_start(a) }));
                if start_word {
                    used[i - 1] = true;
                }
                mark(used, i, 1);
                i += 1;
                continue;
            }
        }

        // Durations: "for 3 hours", "90 minutes", "a week", "3h".
        if let Some((d, n)) = duration_at(toks, i) {
            let from = if prev == "for" { i - 1 } else { i };
            if toks.get(i + n).map(String::as_str) == Some("from")
                && toks.get(i + n + 1).map(String::as_str) == Some("now")
            {
                w.from_now = Some(d);
                mark(used, from, i + n + 2 - from);
                i += n + 2;
                continue;
            }
            w.duration = Some(d);
            mark(used, from, i + n - from);
            i += n;
            continue;
        }
        i += 1;
    }
    w
}

fn unit_follows(next: Option<&str>) -> bool {
    next.is_some_and(|n| unit_minutes(n).is_some())
}

fn start_typed(w: &When) -> Typed {
    use chrono::Timelike;
    let s = w.start.unwrap_or(NaiveTime::MIN);
    Typed {
        h: s.hour(),
        m: s.minute(),
        fixed: true,
        marked: true,
    }
}

fn set_range(w: &mut When, a: Typed, b: Typed) {
    let (a, b) = settle_range(a, b);
    w.start = Some(naive(a));
    w.end = Some(naive(b));
    w.end_of_day = b.h == 24;
}

/// A duration starting at token `i`: "3 hours", "two days", "a week", "half an hour",
/// "an hour and a half", "1.5h", "a couple of hours". Returns it and the tokens it used.
fn duration_at(toks: &[String], i: usize) -> Option<(Duration, usize)> {
    let t = toks.get(i)?.as_str();
    if let Some(d) = compact_duration(t) {
        return Some((d, 1));
    }
    if t == "half"
        && toks.get(i + 1).map(String::as_str) == Some("an")
        && toks.get(i + 2).map(String::as_str) == Some("hour")
    {
        return Some((Duration::minutes(30), 3));
    }
    // "a couple of hours", "a few days"
    let (n, skip) = match (
        t,
        toks.get(i + 1).map(String::as_str),
        toks.get(i + 2).map(String::as_str),
    ) {
        ("a", Some(w @ ("couple" | "few" | "pair")), Some("of")) => (number(w)? as f64, 3),
        ("a", Some(w @ ("couple" | "few")), _) => (number(w)? as f64, 2),
        _ => (decimal(t)?, 1),
    };
    let unit = unit_minutes(toks.get(i + skip)?)?;
    let mut minutes = (n * unit as f64).round() as i64;
    let mut used = skip + 1;
    if starts_with(&toks[i + used..], "and a half") {
        minutes += unit / 2;
        used += 3;
    }
    (minutes > 0).then(|| (Duration::minutes(minutes), used))
}

/// The nearest `wd` from `today` on (today included).
fn nearest(today: NaiveDate, wd: Weekday) -> NaiveDate {
    let ahead = (wd.num_days_from_monday() + 7 - today.weekday().num_days_from_monday()) % 7;
    today + Duration::days(ahead as i64)
}

/// `wd` in the calendar week after this one.
fn next_week(today: NaiveDate, wd: Weekday) -> NaiveDate {
    let monday =
        today - Duration::days(today.weekday().num_days_from_monday() as i64) + Duration::days(7);
    monday + Duration::days(wd.num_days_from_monday() as i64)
}

fn month_day(today: NaiveDate, m: u32, d: u32, year: Option<i32>) -> Option<NaiveDate> {
    if let Some(y) = year {
        return NaiveDate::from_ymd_opt(y, m, d);
    }
    match NaiveDate::from_ymd_opt(today.year(), m, d) {
        Some(x) if x >= today => Some(x),
        _ => NaiveDate::from_ymd_opt(today.year() + 1, m, d),
    }
}

fn add_month(today: NaiveDate, d: u32) -> Option<NaiveDate> {
    let (y, m) = if today.month() == 12 {
        (today.year() + 1, 1)
    } else {
        (today.year(), today.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, d)
}
