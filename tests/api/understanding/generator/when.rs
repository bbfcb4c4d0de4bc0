//! Dates, times, ranges and durations: a meaning (local start and end) chosen first, then
//! written in one of many surface forms. Every form follows understanding-rules.md; forms the
//! rules call ambiguous are never produced here (the negative cases make those).

use super::words::{pick, word};
use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Weekday};
use rand::rngs::StdRng;
use rand::Rng;

/// The moment the conversation happens, in the server's timezone.
#[derive(Debug, Clone, Copy)]
pub struct Local {
    /// Now, local wall clock.
    pub now: NaiveDateTime,
}

impl Local {
    /// Today, local.
    pub fn today(&self) -> NaiveDate {
        self.now.date()
    }
}

/// The month names people write.
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const MONTHS_SHORT: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const WEEKDAYS_SHORT: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// "1st", "2nd", "3rd", "11th", "21st".
pub fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

fn month(d: NaiveDate) -> (&'static str, &'static str) {
    let i = d.month0() as usize;
    (MONTHS[i], MONTHS_SHORT[i])
}

/// The nearest `w` from `today` on, today included.
pub fn nearest(today: NaiveDate, w: Weekday) -> NaiveDate {
    let ahead = (w.num_days_from_monday() + 7 - today.weekday().num_days_from_monday()) % 7;
    today + Duration::days(ahead as i64)
}

/// A date in one of the date forms, from `min` on (returns the date, text, tag).
pub fn date_phrase(
    rng: &mut StdRng,
    l: &Local,
    min: NaiveDate,
) -> Option<(NaiveDate, String, String)> {
    let today = l.today();
    let wd = today.weekday().num_days_from_monday();
    let form = rng.random_range(0..14);
    let (d, text, tag): (NaiveDate, String, &str) = match form {
        0 => (
            today,
            pick(rng, &["today", "today", "later today"]).to_string(),
            "today",
        ),
        1 => {
            let t = pick(
                rng,
                &[
                    "tomorrow", "tomorrow", "tmrw", "tmr", "tmorrow", "tommorow", "Tomorrow",
                ],
            );
            (today + Duration::days(1), t.to_string(), "tomorrow")
        }
        2 => (
            today + Duration::days(2),
            "the day after tomorrow".into(),
            "day-after-tomorrow",
        ),
        3 => {
            let n = rng.random_range(2..=9u32);
            let num = if rng.random_bool(0.5) {
                n.to_string()
            } else {
                word(n)
            };
            (
                today + Duration::days(n as i64),
                format!("in {num} days"),
                "in-n-days",
            )
        }
        4 => (
            today + Duration::days(7),
            "a week from today".into(),
            "week-from-today",
        ),
        5 => {
            let w = rng.random_range(0..7usize);
            let d = nearest(today, Weekday::try_from(w as u8).ok()?);
            let (text, tag) = match rng.random_range(0..5) {
                0 => (WEEKDAYS[w].to_lowercase(), "weekday"),
                1 => (format!("on {}", WEEKDAYS[w]), "on-weekday"),
                2 => (format!("this {}", WEEKDAYS[w]), "this-weekday"),
                3 => (WEEKDAYS_SHORT[w].to_string(), "weekday-short"),
                _ => (
                    format!("{}.", WEEKDAYS_SHORT[w].to_lowercase()),
                    "weekday-short-dot",
                ),
            };
            (d, text, tag)
        }
        6 => {
            // "next <weekday>" only where the rules make it clear: a weekday before today's.
            if wd == 0 {
                return None;
            }
            let w = rng.random_range(0..wd) as usize;
            let next_monday = today + Duration::days((7 - wd) as i64);
            (
                next_monday + Duration::days(w as i64),
                format!("next {}", WEEKDAYS[w]),
                "next-weekday",
            )
        }
        7 => {
            let w = rng.random_range(0..7usize);
            if w as u32 == wd {
                return None;
            }
            let d = nearest(today, Weekday::try_from(w as u8).ok()?) + Duration::days(7);
            let (text, tag) = match rng.random_range(0..3) {
                0 => (format!("{} week", WEEKDAYS[w]), "weekday-week"),
                1 => (format!("a week on {}", WEEKDAYS[w]), "a-week-on-weekday"),
                _ => (
                    format!("the {} after next", WEEKDAYS[w]),
                    "weekday-after-next",
                ),
            };
            (d, text, tag)
        }
        8 | 9 => {
            // Month + day without a year: only dates of this year (the rules refuse a passed
            // one and never move it to the next year, so year-end dates get a year).
            let d = today + Duration::days(rng.random_range(0..=60));
            if d.year() != today.year() {
                return None;
            }
            let (full, short) = month(d);
            let n = d.day();
            let (text, tag) = match rng.random_range(0..8) {
                0 => (format!("{short} {n}"), "mon-d"),
                1 => (format!("{full} {}", ordinal(n)), "month-dth"),
                2 => (format!("{n} {full}"), "d-month"),
                3 => (format!("{} of {full}", ordinal(n)), "dth-of-month"),
                4 => (format!("the {} of {short}", ordinal(n)), "the-dth-of-mon"),
                5 => (format!("{}-{n}", short.to_lowercase()), "mon-dash-d"),
                6 => (format!("{n}-{}", short.to_lowercase()), "d-dash-mon"),
                _ => (format!("{short}. {n}"), "mon-dot-d"),
            };
            (d, format!("on {text}"), tag)
        }
        10 => {
            let n = rng.random_range(1..=28u32);
            let d = next_day_of_month(today, n)?;
            let text = if rng.random_bool(0.5) {
                format!("the {}", ordinal(n))
            } else {
                format!("on the {}", ordinal(n))
            };
            (d, text, "ordinal")
        }
        11 | 12 => {
            let d = today + Duration::days(rng.random_range(0..=60));
            let (full, short) = month(d);
            let (y, mo, n) = (d.year(), d.month(), d.day());
            let (text, tag) = match rng.random_range(0..9) {
                0 => (format!("{y}-{mo:02}-{n:02}"), "iso"),
                1 => (format!("{n} {short} {y}"), "d-mon-y"),
                2 => (format!("{short} {n}, {y}"), "mon-d-comma-y"),
                3 => (format!("{full} {} {y}", ordinal(n)), "month-dth-y"),
                4 => (format!("{n:02}.{mo:02}.{y}"), "dotted-dmy"),
                5 => (format!("{y}/{mo:02}/{n:02}"), "slash-ymd"),
                6 if n > 12 => (format!("{n}/{mo}/{y}"), "slash-dmy-unambiguous"),
                7 if n > 12 => (format!("{mo}/{n}/{y}"), "slash-mdy-unambiguous"),
                8 if n > 12 && d.year() == today.year() => {
                    if rng.random_bool(0.5) {
                        (format!("{n}/{mo}"), "slash-dm-unambiguous")
                    } else {
                        (format!("{mo}/{n}"), "slash-md-unambiguous")
                    }
                }
                _ => return None,
            };
            (d, format!("on {text}"), tag)
        }
        _ => {
            // Weekday names with capitals and abbreviations, most common in real requests.
            let d = today + Duration::days(1);
            let w = d.weekday().num_days_from_monday() as usize;
            (d, format!("on {}", WEEKDAYS[w]), "on-weekday")
        }
    };
    if d < min || d > today + Duration::days(300) {
        return None;
    }
    Some((d, text, format!("date:{tag}")))
}

/// The next day `n` of a month from `today` on, today included (`n` ≤ 28).
pub fn next_day_of_month(today: NaiveDate, n: u32) -> Option<NaiveDate> {
    let this = today.with_day(n)?;
    if this >= today {
        return Some(this);
    }
    (today.with_day(1)? + Duration::days(32))
        .with_day(1)?
        .with_day(n)
}

/// 1–6 → 13–18, 7–11 → morning, 12 → noon (an hour without am/pm and minutes).
pub fn bare(n: u32) -> u32 {
    match n {
        1..=6 => n + 12,
        _ => n,
    }
}

/// The bare hour `n` that means `h` (whole hours only), if any.
fn bare_for(h: u32) -> Option<u32> {
    (1..=12).find(|n| bare(*n) == h)
}

fn ampm(h: u32, m: u32, sep: &str, am: &str, pm: &str) -> Option<String> {
    if h == 0 || h >= 24 {
        return None;
    }
    let (n, mer) = match h {
        1..=11 => (h, am),
        12 => (12, pm),
        _ => (h - 12, pm),
    };
    Some(if m == 0 {
        format!("{n}{sep}{mer}")
    } else {
        format!("{n}:{m:02}{sep}{mer}")
    })
}

/// A time of day as a start (`t` in minutes after midnight); `bare_ok` allows a bare hour
/// (only after "at"/"from" or in a range). Returns (text, tag).
pub fn time_phrase(rng: &mut StdRng, t: u32, bare_ok: bool) -> Option<(String, String)> {
    let (h, m) = (t / 60, t % 60);
    let mut forms: Vec<(String, &str)> = Vec::new();
    if let Some(s) = ampm(h, m, "", "am", "pm") {
        forms.push((s, "ampm"));
    }
    if let Some(s) = ampm(h, m, " ", "am", "pm") {
        forms.push((s, "ampm-space"));
    }
    if let Some(s) = ampm(h, m, " ", "a.m.", "p.m.") {
        forms.push((s, "ampm-dots"));
    }
    forms.push((format!("{h}:{m:02}"), "h24"));
    forms.push((format!("{h:02}:{m:02}"), "h24-padded"));
    forms.push((format!("{h:02}{m:02}"), "four-digits"));
    if m == 0 {
        if h >= 13 {
            forms.push((format!("{h}h"), "h-suffix"));
        }
    } else {
        forms.push((format!("{h}h{m:02}"), "h-minutes"));
        if let Some(s) = ampm(h, m, "", "am", "pm") {
            forms.push((s.replace(':', "."), "dot-ampm"));
        }
    }
    if t == 12 * 60 {
        forms.push(("noon".into(), "noon"));
        forms.push(("midday".into(), "midday"));
    }
    if m == 30 {
        if let Some(n) = bare_for(h) {
            forms.push((format!("half past {n}"), "half-past"));
        }
    }
    if m == 45 {
        if let Some(n) = bare_for(h + 1).filter(|n| ![1, 7, 12].contains(n)) {
            forms.push((format!("quarter to {n}"), "quarter-to"));
        }
    }
    if m == 0 {
        match h {
            7..=11 => forms.push((format!("{h} in the morning"), "in-the-morning")),
            13..=17 => forms.push((format!("{} in the afternoon", h - 12), "in-the-afternoon")),
            18..=22 => forms.push((format!("{} in the evening", h - 12), "in-the-evening")),
            _ => {}
        }
        if (20..=23).contains(&h) {
            forms.push((format!("{} at night", h - 12), "at-night"));
        }
        if bare_ok {
            if let Some(n) = bare_for(h) {
                forms.push((n.to_string(), "bare-hour"));
                forms.push((n.to_string(), "bare-hour"));
            }
        }
    }
    let (s, tag) = pick(rng, &forms);
    Some((s.clone(), format!("time:{tag}")))
}

/// A range end (`e` after `s`, minutes): bare hours follow the range rule.
pub fn end_phrase(rng: &mut StdRng, s: u32, e: u32) -> Option<(String, String)> {
    if e == 24 * 60 {
        return Some(("midnight".into(), "end:midnight".into()));
    }
    let (h, m) = (e / 60, e % 60);
    if m == 0 && rng.random_bool(0.45) {
        // The bare hour n with: bare(n) = h, or n (7–11) ≤ start → n + 12 = h.
        let n = (1..=12).find(|n| {
            let v = bare(*n);
            let v = if v * 60 <= s && (7..=11).contains(n) {
                v + 12
            } else {
                v
            };
            v == h && v * 60 > s
        });
        if let Some(n) = n {
            return Some((n.to_string(), "end:bare-hour".into()));
        }
    }
    if m == 0 && h >= 13 && rng.random_bool(0.3) {
        return Some((h.to_string(), "end:24h-hour".into()));
    }
    let (t, tag) = time_phrase(rng, e, false)?;
    Some((t, tag.replace("time:", "end:")))
}

/// A duration in one of the duration forms (minutes), with its tag.
pub fn duration_phrase(rng: &mut StdRng, minutes: u32) -> Option<(String, String)> {
    let mut forms: Vec<(String, &str)> = Vec::new();
    let day = 24 * 60;
    if minutes.is_multiple_of(day) {
        let k = minutes / day;
        match k {
            1 => {
                forms.push(("for a day".into(), "for-a-day"));
                forms.push(("for 24 hours".into(), "for-n-hours"));
            }
            7 => forms.push(("for a week".into(), "for-a-week")),
            14 => {
                forms.push(("for a fortnight".into(), "for-a-fortnight"));
                forms.push(("for 2 weeks".into(), "for-n-weeks"));
            }
            _ => {}
        }
        if (2..=6).contains(&k) {
            forms.push((format!("for {k} days"), "for-n-days"));
            forms.push((format!("for {} days", word(k)), "for-word-days"));
        }
    } else if minutes.is_multiple_of(60) && minutes <= 12 * 60 {
        let h = minutes / 60;
        if h == 1 {
            forms.push(("for an hour".into(), "for-an-hour"));
            forms.push(("for 1 hour".into(), "for-n-hours"));
        } else {
            forms.push((format!("for {h} hours"), "for-n-hours"));
            forms.push((format!("for {} hours", word(h)), "for-word-hours"));
            forms.push((format!("{h} hrs"), "n-hrs"));
        }
        forms.push((format!("{h}h"), "nh"));
        forms.push((format!("for {h}h"), "for-nh"));
        forms.push((format!("{h}hr"), "nhr"));
        forms.push((format!("PT{h}H"), "iso-duration"));
        if h == 4 {
            forms.push(("for a half-day".into(), "half-day"));
            forms.push(("a half-day".into(), "half-day"));
        }
    } else {
        match minutes {
            30 => {
                forms.push(("for half an hour".into(), "half-an-hour"));
                forms.push(("for 30 minutes".into(), "for-n-minutes"));
                forms.push(("30 min".into(), "n-min"));
            }
            45 => forms.push(("for 45 minutes".into(), "for-n-minutes")),
            90 => {
                forms.push(("for 90 minutes".into(), "for-n-minutes"));
                forms.push(("90 min".into(), "n-min"));
                forms.push(("for 1.5 hours".into(), "for-decimal-hours"));
                forms.push(("for an hour and a half".into(), "hour-and-a-half"));
                forms.push(("for one and a half hours".into(), "one-and-a-half-hours"));
                forms.push(("PT1H30M".into(), "iso-duration"));
            }
            150 => forms.push(("for 2.5 hours".into(), "for-decimal-hours")),
            _ => return None,
        }
    }
    if forms.is_empty() {
        return None;
    }
    let (s, tag) = pick(rng, &forms);
    Some((s.clone(), format!("dur:{tag}")))
}

/// A random duration (minutes) that `duration_phrase` can write.
pub fn random_duration(rng: &mut StdRng, short_only: bool) -> u32 {
    let short = [30, 45, 60, 90, 120, 150, 180, 240, 300, 360, 480];
    if short_only || rng.random_bool(0.8) {
        *pick(rng, &short)
    } else {
        *pick(rng, &[1440, 2880, 4320, 7 * 1440, 14 * 1440])
    }
}

/// A time of day within one day: start and end in minutes after midnight, the text and tags.
pub struct DayTime {
    /// Start, minutes after midnight.
    pub start: u32,
    /// End, minutes after midnight (may be past 24:00 for multi-day durations).
    pub end: u32,
    /// The words.
    pub text: String,
    /// Categories.
    pub tags: Vec<String>,
}

/// A time range or start + duration within a day (the date is given elsewhere).
pub fn day_time(rng: &mut StdRng) -> Option<DayTime> {
    let kind = rng.random_range(0..10);
    let quarter = |rng: &mut StdRng| *pick(rng, &[0, 0, 0, 0, 0, 30, 30, 15, 45]);
    match kind {
        0..=3 => {
            // A range within the day.
            let s = rng.random_range(7..=18u32) * 60 + quarter(rng);
            let len = rng.random_range(1..=9u32) * 60 + *pick(rng, &[0, 0, 0, 30]);
            let e = s + len;
            if e > 22 * 60 {
                return None;
            }
            let (st, stag) = time_phrase(rng, s, true)?;
            let (et, etag) = end_phrase(rng, s, e)?;
            let (text, rtag) = match rng.random_range(0..12) {
                0 => (format!("{st}-{et}"), "dash"),
                1 => (format!("{st} - {et}"), "spaced-dash"),
                2 => (format!("{st}–{et}"), "en-dash"),
                3 => (format!("{st}—{et}"), "em-dash"),
                4 => (format!("from {st} to {et}"), "from-to"),
                5 => (format!("{st} till {et}"), "till"),
                6 => (format!("{st} til {et}"), "til"),
                7 => (format!("{st} until {et}"), "until"),
                8 => (format!("{st} through {et}"), "through"),
                9 => (format!("between {st} and {et}"), "between"),
                10 => (format!("{st} to {et}"), "to"),
                _ => (format!("from {st} until {et}"), "from-until"),
            };
            // "quarter to 5 to 7" reads two ways: such phrases only start a duration; "9 in
            // the morning" only between "from ... to" / "between ... and".
            let spelled = |x: &str| x.contains("quarter") || x.contains("half past");
            let wordy = |x: &str| x.contains(" the ") || x.contains(" at ");
            if spelled(&st) || spelled(&et) {
                return None;
            }
            if (wordy(&st) || wordy(&et)) && !["from-to", "between", "from-until"].contains(&rtag) {
                return None;
            }
            Some(DayTime {
                start: s,
                end: e,
                text,
                tags: vec![format!("range:{rtag}"), stag, etag],
            })
        }
        4..=6 => {
            let s = rng.random_range(7..=19u32) * 60 + quarter(rng);
            let d = random_duration(rng, false);
            let (st, stag) = time_phrase(rng, s, true)?;
            let (dt, dtag) = duration_phrase(rng, d)?;
            let compact = !dt.starts_with("for") && !dt.starts_with('a');
            let text = match rng.random_range(0..3) {
                0 => format!(
                    "at {st} {}",
                    if compact {
                        format!("for {dt}")
                    } else {
                        dt.clone()
                    }
                ),
                1 => format!(
                    "from {st} {}",
                    if compact {
                        format!("for {dt}")
                    } else {
                        dt.clone()
                    }
                ),
                _ => format!("starting at {st}, {dt}"),
            };
            Some(DayTime {
                start: s,
                end: s + d,
                text,
                tags: vec!["range:start-duration".into(), stag, dtag],
            })
        }
        7 => {
            let s = rng.random_range(17..=22u32) * 60;
            let (st, stag) = time_phrase(rng, s, false)?;
            let text = if rng.random_bool(0.5) {
                format!("from {st} to midnight")
            } else {
                format!("{st} until midnight")
            };
            Some(DayTime {
                start: s,
                end: 24 * 60,
                text,
                tags: vec!["range:to-midnight".into(), stag],
            })
        }
        _ => {
            let (s, e, text, tag) = *pick(
                rng,
                &[
                    (9, 12, "in the morning", "morning"),
                    (9, 12, "morning", "morning"),
                    (12, 17, "in the afternoon", "afternoon"),
                    (12, 17, "afternoon", "afternoon"),
                    (17, 21, "in the evening", "evening"),
                    (17, 21, "evening", "evening"),
                    (9, 17, "during business hours", "business-hours"),
                    (9, 17, "for the working day", "working-day"),
                    (0, 24, "all day", "all-day"),
                    (0, 24, "the whole day", "whole-day"),
                    (0, 24, "full day", "full-day"),
                ],
            );
            Some(DayTime {
                start: s * 60,
                end: e * 60,
                text: text.to_string(),
                tags: vec![format!("part:{tag}")],
            })
        }
    }
}

/// `d` at `minutes` after its midnight.
pub fn at(d: NaiveDate, minutes: u32) -> NaiveDateTime {
    d.and_time(NaiveTime::MIN) + Duration::minutes(minutes as i64)
}

/// A weekday's name (0 = Monday).
pub fn weekday_name(w: usize) -> &'static str {
    WEEKDAYS[w]
}

/// A date written as month + day ("Dec 3"), for corrections and ranges.
pub fn mon_d(d: NaiveDate) -> String {
    format!("{} {}", month(d).1, d.day())
}
