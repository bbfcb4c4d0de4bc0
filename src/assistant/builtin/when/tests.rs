//! Table tests. Each row: (message, now, expected). `now` is "ref" (Thu 2026-11-26 10:00 UTC)
//! or "YYYY-MM-DDTHH:MM Zone". Expected: space-separated `date=`, `end_date=`, `start=`, `end=`,
//! `mid` (end_midnight), `whole`, `dur=`/`fn=`/`extra=`/`by=`/`shift=` (minutes), `!Kind` for
//! each problem in text order, `neg` (some mention negated), `none` (nothing temporal).
//! The Said must equal exactly what is listed (unlisted fields None/false).

use super::*;
use chrono::TimeZone;

fn now_of(s: &str) -> DateTime<Tz> {
    let (dt, zone) = if s == "ref" {
        ("2026-11-26T10:00", "UTC")
    } else {
        s.split_once(' ').unwrap()
    };
    let tz: Tz = zone.parse().unwrap();
    let naive = chrono::NaiveDateTime::parse_from_str(dt, "%Y-%m-%dT%H:%M").unwrap();
    tz.from_local_datetime(&naive).single().unwrap()
}

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}
fn t(s: &str) -> NaiveTime {
    NaiveTime::parse_from_str(s, "%H:%M").unwrap()
}

fn kind_name(k: &ProblemKind) -> &'static str {
    match k {
        ProblemKind::Unreadable => "Unreadable",
        ProblemKind::Impossible => "Impossible",
        ProblemKind::Past => "Past",
        ProblemKind::TooFar => "TooFar",
        ProblemKind::Ambiguous(_) => "Ambiguous",
        ProblemKind::EndBeforeStart => "EndBeforeStart",
        ProblemKind::LengthDisagrees => "LengthDisagrees",
        ProblemKind::Vague => "Vague",
        ProblemKind::StartUnsaid => "StartUnsaid",
        ProblemKind::EachDayOrStretch => "EachDayOrStretch",
    }
}

fn check(text: &str, now: &str, exp: &str) -> Result<(), String> {
    let r = read(text, now_of(now));
    let mut want = Said::default();
    let mut probs: Vec<String> = Vec::new();
    let mut want_neg = false;
    let mut want_none = false;
    for w in exp.split_whitespace() {
        let (k, v) = w.split_once('=').unwrap_or((w, ""));
        let mins = || Duration::minutes(v.parse::<i64>().unwrap());
        match k {
            "date" => want.date = Some(d(v)),
            "end_date" => want.end_date = Some(d(v)),
            "start" => want.start = Some(t(v)),
            "end" => want.end = Some(t(v)),
            "mid" => want.end_midnight = true,
            "whole" => want.whole_days = true,
            "dur" => want.duration = Some(mins()),
            "fn" => want.from_now = Some(mins()),
            "extra" => want.extra = Some(mins()),
            "by" => want.by = Some(mins()),
            "shift" => want.shift = Some(mins()),
            "neg" => want_neg = true,
            "none" => want_none = true,
            _ if k.starts_with('!') => probs.push(k[1..].to_string()),
            _ => panic!("bad expectation {w}"),
        }
    }
    let got_probs: Vec<String> = r
        .problems
        .iter()
        .map(|p| kind_name(&p.kind).to_string())
        .collect();
    let mut errs = Vec::new();
    if r.said != want {
        errs.push(format!("said {:?}\n        want {:?}", r.said, want));
    }
    if got_probs != probs {
        errs.push(format!("problems {:?} want {:?}", r.problems, probs));
    }
    if want_neg && !r.mentions.iter().any(|m| m.negated) {
        errs.push("no negated mention".into());
    }
    if want_none && !r.is_empty() {
        errs.push(format!("not empty: {:?} {:?}", r.mentions, r.problems));
    }
    // spans must be valid and inside the text
    for sp in r.consumed() {
        if sp.start >= sp.end
            || sp.end > text.len()
            || !text.is_char_boundary(sp.start)
            || !text.is_char_boundary(sp.end)
        {
            errs.push(format!("bad span {sp:?}"));
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{text:?} @ {now}:\n    {}\n    mentions {:?}",
            errs.join("\n    "),
            r.mentions
        ))
    }
}

const R: &str = "ref";
const M30: &str = "2026-11-30T10:00 UTC"; // Monday, month end
const Y31: &str = "2026-12-31T18:00 UTC"; // Thursday evening, year end
const SUN: &str = "2026-11-29T12:00 UTC"; // Sunday
const EVE: &str = "2026-11-26T20:30 UTC"; // Thursday evening
const NY: &str = "2026-11-26T21:00 America/New_York"; // = Fri 02:00 UTC
const TYO: &str = "2026-11-27T05:00 Asia/Tokyo"; // = Thu 20:00 UTC, Friday local

#[rustfmt::skip]
const TABLE: &[(&str, &str, &str)] = &[
    // ── dates: words ──
    ("today", R, "date=2026-11-26"),
    ("tomorrow", R, "date=2026-11-27"),
    ("Tomorrow", R, "date=2026-11-27"),
    ("TOMORROW", R, "date=2026-11-27"),
    ("tmrw", R, "date=2026-11-27"),
    ("tmr", R, "date=2026-11-27"),
    ("tmorrow", R, "date=2026-11-27"),
    ("tommorow", R, "date=2026-11-27"),
    ("tomorow", R, "date=2026-11-27"),
    ("tomorrw", R, "date=2026-11-27"),
    ("tomrorow", R, "date=2026-11-27"),
    ("the day after tomorrow", R, "date=2026-11-28"),
    ("day after tomorrow", R, "date=2026-11-28"),
    ("in 3 days", R, "date=2026-11-29"),
    ("in three days", R, "date=2026-11-29"),
    ("in 2 weeks", R, "date=2026-12-10"),
    ("3 days from now", R, "date=2026-11-29"),
    ("a week from today", R, "date=2026-12-03"),
    ("a week from tomorrow", R, "date=2026-12-04"),
    // ── weekdays ──
    ("friday", R, "date=2026-11-27"),
    ("on Friday", R, "date=2026-11-27"),
    ("this Friday", R, "date=2026-11-27"),
    ("coming friday", R, "date=2026-11-27"),
    ("Fri", R, "date=2026-11-27"),
    ("fri.", R, "date=2026-11-27"),
    ("fridya", R, "date=2026-11-27"),
    ("firday", R, "date=2026-11-27"),
    ("thursday", R, "date=2026-11-26"),
    ("on thursday", R, "date=2026-11-26"),
    ("saturday", R, "date=2026-11-28"),
    ("sunday", R, "date=2026-11-29"),
    ("monday", R, "date=2026-11-30"),
    ("tuesday", R, "date=2026-12-01"),
    ("tues", R, "date=2026-12-01"),
    ("wednesday", R, "date=2026-12-02"),
    ("wensday", R, "date=2026-12-02"),
    ("wednesdy", R, "date=2026-12-02"),
    ("next Monday", R, "date=2026-11-30"),
    ("next tuesday", R, "date=2026-12-01"),
    ("next Wednesday", R, "date=2026-12-02"),
    ("next thursday", R, "date=2026-12-03"),
    ("next Friday", R, "!Ambiguous"),
    // "this/coming Thursday" said on a Thursday: today or a week on — asked.
    ("this thursday", R, "!Ambiguous"),
    ("the coming Thursday at 2pm", R, "start=14:00 !Ambiguous"),
    ("this coming thursday", R, "!Ambiguous"),
    ("upcoming friday", R, "date=2026-11-27"),
    ("next saturday", R, "!Ambiguous"),
    ("next sunday", R, "!Ambiguous"),
    ("last Thursday", R, "!Past"),
    ("last monday", R, "!Past"),
    ("Monday week", R, "date=2026-12-07"),
    ("a week on Monday", R, "date=2026-12-07"),
    ("the Friday after next", R, "date=2026-12-04"),
    ("friday next week", R, "date=2026-12-04"),
    ("Friday the 4th", R, "date=2026-12-04"),
    ("Friday the 5th", R, "!Ambiguous"),
    ("this weekend", R, "date=2026-11-28 end_date=2026-11-29 whole"),
    ("the weekend", R, "date=2026-11-28 end_date=2026-11-29 whole"),
    ("next weekend", R, "!Ambiguous"),
    ("next week", R, "date=2026-11-30 end_date=2026-12-06 whole"),
    ("this week", R, "date=2026-11-26 end_date=2026-11-29 whole"),
    ("last week", R, "!Past"),
    // ── month + day ──
    ("Dec 3", R, "date=2026-12-03"),
    ("December 3rd", R, "date=2026-12-03"),
    ("3 December", R, "date=2026-12-03"),
    ("3rd of December", R, "date=2026-12-03"),
    ("the 3rd of Dec", R, "date=2026-12-03"),
    ("the 3rd of December", R, "date=2026-12-03"),
    ("dec-3", R, "date=2026-12-03"),
    ("3-dec", R, "date=2026-12-03"),
    ("Dec. 3", R, "date=2026-12-03"),
    ("Decmber 3", R, "date=2026-12-03"),
    ("DEC 3", R, "date=2026-12-03"),
    ("Dec 3rd", R, "date=2026-12-03"),
    ("3 Dec", R, "date=2026-12-03"),
    ("Dec the 3rd", R, "date=2026-12-03"),
    ("Nov 28", R, "date=2026-11-28"),
    ("Nov 26", R, "date=2026-11-26"),
    ("January 15", R, "date=2027-01-15"),
    ("Jan 5", R, "date=2027-01-05"),
    ("Nov 20", R, "!Past"),
    ("Oct 31", R, "!Past"),
    ("Feb 29", R, "!Impossible"),
    // ── ordinals ──
    ("the 3rd", R, "date=2026-12-03"),
    ("on the 21st", R, "date=2026-12-21"),
    ("on 21st", R, "date=2026-12-21"),
    ("the 30th", R, "date=2026-11-30"),
    ("the 26th", R, "date=2026-11-26"),
    ("the 1st", R, "date=2026-12-01"),
    ("the 31st", R, "date=2026-12-31"),
    ("the first", R, "date=2026-12-01"),
    ("the twenty-first", R, "date=2026-12-21"),
    ("the third of december", R, "date=2026-12-03"),
    // ── with a year / numeric ──
    ("2026-12-03", R, "date=2026-12-03"),
    ("3 Dec 2026", R, "date=2026-12-03"),
    ("Dec 3, 2026", R, "date=2026-12-03"),
    ("December 3rd 2026", R, "date=2026-12-03"),
    ("03.12.2026", R, "date=2026-12-03"),
    ("3.12.2026", R, "date=2026-12-03"),
    ("2026/12/03", R, "date=2026-12-03"),
    ("Jan 15 2027", R, "date=2027-01-15"),
    ("3/12/2026", R, "!Ambiguous"),
    ("12/3/2026", R, "!Ambiguous"),
    ("3/12", R, "!Ambiguous"),
    ("24/12/2026", R, "date=2026-12-24"),
    ("12/24/2026", R, "date=2026-12-24"),
    ("24/12", R, "date=2026-12-24"),
    ("12/24", R, "date=2026-12-24"),
    ("24/12/26", R, "date=2026-12-24"),
    // ── impossible / past / too far / unreadable ──
    ("June 31", R, "!Impossible"),
    ("Feb 30", R, "!Impossible"),
    ("the 32nd", R, "!Impossible"),
    ("31/11", R, "!Impossible"),
    ("April 31st", R, "!Impossible"),
    ("2026-02-30", R, "!Impossible"),
    ("yesterday", R, "!Past"),
    ("two days ago", R, "!Past"),
    ("3 days ago", R, "!Past"),
    ("the day before yesterday", R, "!Past"),
    ("Dec 3 2025", R, "!Past"),
    ("2025-12-03", R, "!Past"),
    ("today at 8am", R, "!Past"),
    ("today at 9", R, "!Past"),
    ("this morning", R, "date=2026-11-26 start=09:00 end=12:00"),
    ("today from 9 till 5", R, "!Past"),
    ("Dec 3 2027", R, "!TooFar"),
    ("2027-12-03", R, "!TooFar"),
    ("in 400 days", R, "!TooFar"),
    ("on blursday", R, "!Unreadable"),
    ("the 3st", R, "!Unreadable"),
    ("the 22th", R, "!Unreadable"),
    ("Decembruary 4", R, "!Unreadable"),
    ("on frogday", R, "!Unreadable"),
    ("at 25:00", R, "!Unreadable"),
    ("25:00", R, "!Unreadable"),
    ("at 25", R, "!Unreadable"),
    ("13pm", R, "!Unreadable"),
    ("at 9:75", R, "!Unreadable"),
    ("for 3", R, "!Unreadable"),
    ("for 3 please", R, "!Unreadable"),
    ("overnight", R, "!Vague"),
    ("for a few hours", R, "!Vague"),
    ("2-3 hours", R, "!Vague"),
    ("sometime soon", R, "!Vague !Vague"),
    // ── times of day ──
    ("9am", R, "start=09:00"),
    ("9 am", R, "start=09:00"),
    ("9 a.m.", R, "start=09:00"),
    ("9 A.M.", R, "start=09:00"),
    ("9:00", R, "start=09:00"),
    ("09:00", R, "start=09:00"),
    ("9.30am", R, "start=09:30"),
    ("at 9.30", R, "start=09:30"),
    ("0900", R, "start=09:00"),
    ("at 0900", R, "start=09:00"),
    ("at 1730", R, "start=17:30"),
    ("17h", R, "start=17:00"),
    ("9h30", R, "start=09:30"),
    ("14h30", R, "start=14:30"),
    ("noon", R, "start=12:00"),
    ("midday", R, "start=12:00"),
    ("at noon", R, "start=12:00"),
    ("half past 2", R, "start=14:30"),
    ("half past nine", R, "start=09:30"),
    ("quarter to 5", R, "start=16:45"),
    ("quarter past 9", R, "start=09:15"),
    ("twenty past three", R, "start=15:20"),
    ("half-past 2", R, "start=14:30"),
    ("9 o clock", R, "start=09:00"),
    ("at 5 o’clock tomorrow", R, "date=2026-11-27 start=17:00"),
    ("ten past 9 tomorrow", R, "date=2026-11-27 start=09:10"),
    ("until end of day", R, "mid"),
    ("till the end of the day tomorrow", R, "end_date=2026-11-27 mid"),
    ("by eod", R, "mid"),
    ("a quarter past 9", R, "start=09:15"),
    ("9 in the morning", R, "start=09:00"),
    ("4 in the afternoon", R, "start=16:00"),
    ("8 in the evening", R, "start=20:00"),
    ("8 at night", R, "start=20:00"),
    ("at 9", R, "start=09:00"),
    ("at 3", R, "start=15:00"),
    ("at 12", R, "start=12:00"),
    ("at 7", R, "start=07:00"),
    ("at 6", R, "start=18:00"),
    ("at 13", R, "start=13:00"),
    ("at 14:00", R, "start=14:00"),
    ("at two", R, "start=14:00"),
    ("at 5 o'clock", R, "start=17:00"),
    ("five o'clock", R, "start=17:00"),
    ("3pm", R, "start=15:00"),
    ("3 PM", R, "start=15:00"),
    ("3 p.m.", R, "start=15:00"),
    ("11:45pm", R, "start=23:45"),
    ("12am", R, "start=00:00"),
    ("12pm", R, "start=12:00"),
    ("12:30pm", R, "start=12:30"),
    ("from 14:00", R, "start=14:00"),
    ("starting at 3pm", R, "start=15:00"),
    ("until noon", R, "end=12:00"),
    ("till 5", R, "end=17:00"),
    ("until 6pm", R, "end=18:00"),
    ("by 5pm", R, "end=17:00"),
    ("by friday", R, "end_date=2026-11-27 whole"),
    ("extend it by 2", R, "!Vague"),
    ("increase it by 2 GPUs", R, "none"),
    ("until midnight", R, "mid"),
    ("ending at 4pm", R, "end=16:00"),
    // ── times with dates ──
    ("tomorrow at 9", R, "date=2026-11-27 start=09:00"),
    ("tomorrow at 3pm", R, "date=2026-11-27 start=15:00"),
    ("tomorrow 9", R, "date=2026-11-27 start=09:00"),
    ("9am tomorrow", R, "date=2026-11-27 start=09:00"),
    ("friday at 14:00", R, "date=2026-11-27 start=14:00"),
    ("friday 3pm", R, "date=2026-11-27 start=15:00"),
    ("at 3 on friday", R, "date=2026-11-27 start=15:00"),
    ("Dec 3 at 10am", R, "date=2026-12-03 start=10:00"),
    ("on Dec 3 at 10", R, "date=2026-12-03 start=10:00"),
    ("monday 9am", R, "date=2026-11-30 start=09:00"),
    ("today at 3pm", R, "date=2026-11-26 start=15:00"),
    ("today at 10", R, "date=2026-11-26 start=10:00"),
    ("tomorrow at noon", R, "date=2026-11-27 start=12:00"),
    ("tomorrow noon", R, "date=2026-11-27 start=12:00"),
    ("2026-12-03T09:00", R, "date=2026-12-03 start=09:00"),
    ("2026-12-03 09:00", R, "date=2026-12-03 start=09:00"),
    ("2026-12-03T09:00Z", R, "date=2026-12-03 start=09:00"),
    ("2026-12-03T09:00:00+01:00", R, "date=2026-12-03 start=08:00"),
    ("2026-12-03T09:00-0500", R, "date=2026-12-03 start=14:00"),
    ("2026-12-03T02:00Z", NY, "date=2026-12-02 start=21:00"),
    ("2026-12-03T09:00", NY, "date=2026-12-03 start=09:00"),
    ("call me at 555-1234", R, "none"),
    ("tomorrow morning", R, "date=2026-11-27 start=09:00 end=12:00"),
    ("tomorrow afternoon", R, "date=2026-11-27 start=12:00 end=17:00"),
    ("tomorrow evening", R, "date=2026-11-27 start=17:00 end=21:00"),
    ("tomorrow night", R, "date=2026-11-27 start=17:00 end=21:00"),
    ("tonight", R, "date=2026-11-26 start=17:00 end=21:00"),
    ("this evening", R, "date=2026-11-26 start=17:00 end=21:00"),
    ("this afternoon", R, "date=2026-11-26 start=12:00 end=17:00"),
    ("in the morning", R, "start=09:00 end=12:00"),
    ("friday afternoon", R, "date=2026-11-27 start=12:00 end=17:00"),
    ("tomorrow morning at 10", R, "date=2026-11-27 start=10:00"),
    ("at 9 tonight", R, "date=2026-11-26 start=21:00"),
    ("9 tonight", R, "date=2026-11-26 start=21:00"),
    ("book 2 A100s on 12/3", R, "!Ambiguous"),
    ("on 12/03/2026 at 9", R, "start=09:00 !Ambiguous"),
    ("a week from now", R, "date=2026-12-03"),
    ("in a week", R, "date=2026-12-03"),
    ("3 weeks from today", R, "date=2026-12-17"),
    ("next tues 10-12", R, "date=2026-12-01 start=10:00 end=12:00"),
    ("the 5th at 3pm for 2 hours", R, "date=2026-12-05 start=15:00 dur=120"),
    ("the Friday after next at 3", R, "date=2026-12-04 start=15:00"),
    ("tomorrow at 9 until 5", R, "date=2026-11-27 start=09:00 end=17:00"),
    ("tomorrow 2 a100s", R, "date=2026-11-27"),
    ("wed 9-11", R, "date=2026-12-02 start=09:00 end=11:00"),
    ("a.s.a.p.", R, "fn=0"),
    ("office hours", R, "start=09:00 end=17:00"),
    ("working hours on monday", R, "date=2026-11-30 start=09:00 end=17:00"),
    ("Feb 29 2027", R, "!Impossible"),
    ("Feb 29 2028", R, "!TooFar"),
    ("tonight at 9", R, "date=2026-11-26 start=21:00"),
    ("next week 9am", R, "date=2026-11-30 end_date=2026-12-06 start=09:00"),
    ("tomorrow evening at 7:30", R, "date=2026-11-27 start=19:30"),
    ("friday afternoon 2-4", R, "date=2026-11-27 start=14:00 end=16:00"),
    // ── time ranges ──
    ("9-5", R, "start=09:00 end=17:00"),
    ("9 - 5", R, "start=09:00 end=17:00"),
    ("9–17", R, "start=09:00 end=17:00"),
    ("9—17", R, "start=09:00 end=17:00"),
    ("9am-5pm", R, "start=09:00 end=17:00"),
    ("9am to 5pm", R, "start=09:00 end=17:00"),
    ("1 pm - 3 pm", R, "start=13:00 end=15:00"),
    ("9:00-17:00", R, "start=09:00 end=17:00"),
    ("0800-1700", R, "start=08:00 end=17:00"),
    ("1300-1500 tomorrow", R, "date=2026-11-27 start=13:00 end=15:00"),
    ("9:00 - 17:30", R, "start=09:00 end=17:30"),
    ("from 9 to 5", R, "start=09:00 end=17:00"),
    ("9 till 5", R, "start=09:00 end=17:00"),
    ("9 til 5", R, "start=09:00 end=17:00"),
    ("9 until 17:00", R, "start=09:00 end=17:00"),
    ("9 through 5", R, "start=09:00 end=17:00"),
    ("between 9 and 5", R, "start=09:00 end=17:00"),
    ("between 2pm and 4pm", R, "start=14:00 end=16:00"),
    ("9 to 5", R, "start=09:00 end=17:00"),
    ("10 to 2", R, "start=10:00 end=14:00"),
    ("from 10 to 2", R, "start=10:00 end=14:00"),
    ("11-1", R, "start=11:00 end=13:00"),
    ("7-9pm", R, "start=19:00 end=21:00"),
    ("9-5pm", R, "start=09:00 end=17:00"),
    ("from 8 till noon", R, "start=08:00 end=12:00"),
    ("noon to 4", R, "start=12:00 end=16:00"),
    ("from 2pm until midnight", R, "start=14:00 mid"),
    ("from 9am for 3 hours", R, "start=09:00 dur=180"),
    ("business hours", R, "start=09:00 end=17:00"),
    ("working day", R, "start=09:00 end=17:00"),
    ("5pm to 3pm", R, "!EndBeforeStart"),
    ("tomorrow 9 to 5 but only half the time, like 4 hours", R, "date=2026-11-27 start=09:00 end=17:00 dur=240 !LengthDisagrees"),
    ("from 9 to 11 for three hours", R, "start=09:00 end=11:00 dur=180 !LengthDisagrees"),
    ("from 9 to 5 for 8 hours", R, "start=09:00 end=17:00 dur=480"),
    ("17:00-15:00", R, "!EndBeforeStart"),
    // ── dates with time ranges ──
    ("tomorrow 9-5", R, "date=2026-11-27 start=09:00 end=17:00"),
    ("9-5 tomorrow", R, "date=2026-11-27 start=09:00 end=17:00"),
    ("tomorrow from 9 till 5", R, "date=2026-11-27 start=09:00 end=17:00"),
    ("from 9 till 5 tomorrow", R, "date=2026-11-27 start=09:00 end=17:00"),
    ("friday 10am-2pm", R, "date=2026-11-27 start=10:00 end=14:00"),
    ("friday from 10 to 4", R, "date=2026-11-27 start=10:00 end=16:00"),
    ("9-5 on Dec 3", R, "date=2026-12-03 start=09:00 end=17:00"),
    ("during business hours tomorrow", R, "date=2026-11-27 start=09:00 end=17:00"),
    ("at 14:00 for 3 hours", R, "start=14:00 dur=180"),
    ("tomorrow at 9 for 8 hours", R, "date=2026-11-27 start=09:00 dur=480"),
    ("from 10am for 2 hours", R, "start=10:00 dur=120"),
    ("Dec 3 for 3 hours", R, "date=2026-12-03 dur=180"),
    ("friday for a day", R, "date=2026-11-27 dur=1440"),
    ("tomorrow for 4 hours starting at 2pm", R, "date=2026-11-27 start=14:00 dur=240"),
    // ── date ranges ──
    ("from Monday to Wednesday", R, "date=2026-11-30 end_date=2026-12-02 whole"),
    ("Monday to Wednesday", R, "date=2026-11-30 end_date=2026-12-02 whole"),
    ("Monday through Friday", R, "date=2026-11-30 end_date=2026-12-04 whole"),
    ("from Wednesday to Monday", R, "date=2026-12-02 end_date=2026-12-07 whole"),
    ("Dec 3-5", R, "date=2026-12-03 end_date=2026-12-05 whole"),
    ("Dec 3 - 5", R, "date=2026-12-03 end_date=2026-12-05 whole"),
    ("Dec 3 to Dec 5", R, "date=2026-12-03 end_date=2026-12-05 whole"),
    ("Dec 3 to 5", R, "date=2026-12-03 end_date=2026-12-05 whole"),
    ("3-5 Dec", R, "date=2026-12-03 end_date=2026-12-05 whole"),
    ("3 to 5 December", R, "date=2026-12-03 end_date=2026-12-05 whole"),
    ("Dec 28 - Jan 3", R, "date=2026-12-28 end_date=2027-01-03 whole"),
    ("from Dec 3 until Dec 5", R, "date=2026-12-03 end_date=2026-12-05 whole"),
    ("2026-12-03 to 2026-12-05", R, "date=2026-12-03 end_date=2026-12-05 whole"),
    ("through Friday", R, "end_date=2026-11-27 whole"),
    ("until Friday", R, "end_date=2026-11-27 whole"),
    ("until Friday 18:00", R, "end_date=2026-11-27 end=18:00"),
    ("Monday 9am to Wednesday 5pm", R, "date=2026-11-30 start=09:00 end_date=2026-12-02 end=17:00"),
    ("from tomorrow 9am until Saturday noon", R, "date=2026-11-27 start=09:00 end_date=2026-11-28 end=12:00"),
    ("all day tomorrow", R, "date=2026-11-27 whole mid"),
    ("tomorrow all day", R, "date=2026-11-27 whole mid"),
    ("all day", R, "whole mid"),
    ("book an A100 for the day tomorrow", R, "date=2026-11-27 whole mid"),
    ("for the week", R, "!Vague"),
    ("for the night", R, "!Vague"),
    ("all week", R, "date=2026-11-26 end_date=2026-11-29 whole"),
    ("all next week", R, "date=2026-11-30 end_date=2026-12-06 whole"),
    ("midnight to 6am", R, "start=00:00 end=06:00"),
    ("9am-midnight", R, "start=09:00 mid"),
    ("the whole day", R, "whole mid"),
    ("full day on friday", R, "date=2026-11-27 whole mid"),
    ("Dec 5-3", R, "!EndBeforeStart"),
    // ── durations ──
    ("for 3 hours", R, "dur=180"),
    ("3h", R, "dur=180"),
    ("3 hrs", R, "dur=180"),
    ("3hr", R, "dur=180"),
    ("for 90 minutes", R, "dur=90"),
    ("90 min", R, "dur=90"),
    ("90mins", R, "dur=90"),
    ("for 90m", R, "dur=90"),
    ("for 90 minuts", R, "dur=90"),
    ("for 3 hourss", R, "dur=180"),
    ("for 1.5 hours", R, "dur=90"),
    ("for an hour and a half", R, "dur=90"),
    ("one and a half hours", R, "dur=90"),
    ("for half an hour", R, "dur=30"),
    ("for 2 days", R, "dur=2880"),
    ("for a day", R, "dur=1440"),
    ("for a week", R, "dur=10080"),
    ("for two weeks", R, "dur=20160"),
    ("for a fortnight", R, "dur=20160"),
    ("PT3H", R, "dur=180"),
    ("PT1H30M", R, "dur=90"),
    ("PT90M", R, "dur=90"),
    ("a half-day", R, "dur=240"),
    ("half a day", R, "dur=240"),
    ("for 2 hours", R, "dur=120"),
    ("2 hours", R, "dur=120"),
    ("for 2h30", R, "dur=150"),
    ("2 hours 30 minutes", R, "dur=150"),
    ("2 hours and 30 minutes", R, "dur=150"),
    ("for 45 minutes", R, "dur=45"),
    ("for forty five minutes", R, "dur=45"),
    ("for forty-five minutes", R, "dur=45"),
    ("for two hours", R, "dur=120"),
    ("a 3-hour slot", R, "dur=180"),
    ("for a couple of hours", R, "dur=120"),
    ("for 17h", R, "dur=1020"),
    ("for an hour", R, "dur=60"),
    ("an hour", R, "dur=60"),
    ("for 3 days", R, "dur=4320"),
    // ── relative starts ──
    ("in 2 hours", R, "fn=120"),
    ("in 30 minutes", R, "fn=30"),
    ("in half an hour", R, "fn=30"),
    ("in an hour", R, "fn=60"),
    ("2 hours from now", R, "fn=120"),
    ("now", R, "fn=0"),
    ("right now", R, "fn=0"),
    ("right away", R, "fn=0"),
    ("asap", R, "fn=0"),
    ("ASAP", R, "fn=0"),
    ("immediately", R, "fn=0"),
    ("straight away", R, "fn=0"),
    // ── changes ──
    ("keep it 3 more hours", R, "extra=180"),
    ("another hour", R, "extra=60"),
    ("an extra day", R, "extra=1440"),
    ("2 extra hours", R, "extra=120"),
    ("another 30 minutes", R, "extra=30"),
    ("one more hour", R, "extra=60"),
    ("2 hours longer", R, "extra=120"),
    ("extend it by 2 hours", R, "by=120"),
    ("shorten it by 30 minutes", R, "by=30"),
    ("make it an hour later", R, "shift=60"),
    ("2 hours earlier", R, "shift=-120"),
    ("30 minutes later", R, "shift=30"),
    ("push it back an hour", R, "dur=60"),
    ("move it to Thursday", R, "date=2026-11-26"),
    ("make that Wednesday", R, "date=2026-12-02"),
    ("could it be 3 till 5 instead?", R, "start=15:00 end=17:00"),
    ("shorten it to end at noon", R, "end=12:00"),
    // ── negation and corrections ──
    ("oops — the 21st, not the 20th", R, "date=2026-12-21 neg"),
    ("the 21st not the 20th", R, "date=2026-12-21 neg"),
    ("not friday but saturday", R, "date=2026-11-28 neg"),
    ("saturday instead of friday", R, "date=2026-11-28 neg"),
    ("not at 9, at 10", R, "start=10:00 neg"),
    ("not sure, maybe tomorrow", R, "date=2026-11-27"),
    ("saturday rather than friday", R, "date=2026-11-28 neg"),
    ("not on friday, on saturday", R, "date=2026-11-28 neg"),
    ("Mon-Fri 9-5", R, "date=2026-11-30 end_date=2026-12-04 start=09:00 end=17:00 !EachDayOrStretch"),
    ("Mon to Fri 9am-5pm", R, "date=2026-11-30 end_date=2026-12-04 start=09:00 end=17:00 !EachDayOrStretch"),
    ("Monday to Wednesday 9-5", R, "date=2026-11-30 end_date=2026-12-02 start=09:00 end=17:00 !EachDayOrStretch"),
    ("mon-wed", R, "date=2026-11-30 end_date=2026-12-02 whole"),
    ("between Monday and Wednesday", R, "date=2026-11-30 end_date=2026-12-02 whole"),
    ("Dec 3rd-5th", R, "date=2026-12-03 end_date=2026-12-05 whole"),
    ("3rd-5th December", R, "date=2026-12-03 end_date=2026-12-05 whole"),
    ("from the 3rd to the 5th", R, "date=2026-12-03 end_date=2026-12-05 whole"),
    ("from 2026-12-03T09:00 to 2026-12-04T17:00", R, "date=2026-12-03 start=09:00 end_date=2026-12-04 end=17:00"),
    ("from 9:00 on Dec 3 to 17:00 on Dec 4", R, "date=2026-12-03 start=09:00 end_date=2026-12-04 end=17:00"),
    ("from Friday 6pm to Monday 8am", R, "date=2026-11-27 start=18:00 end_date=2026-11-30 end=08:00"),
    ("from 10pm to 2am", R, "!EndBeforeStart"),
    ("2moro at 9", R, "date=2026-11-27 start=09:00"),
    ("2mrw 10-2", R, "date=2026-11-27 start=10:00 end=14:00"),
    ("cn i get 1 a100 2moro 10-2", R, "date=2026-11-27 start=10:00 end=14:00"),
    ("1 a100 2moro", R, "date=2026-11-27"),
    ("2 v100 saturday at midnight for 4 hours", R, "dur=240 !Vague"),
    ("2 h100 in week 50, monday to wednesday", R, "date=2026-11-30 end_date=2026-12-02 whole !Vague"),
    ("a week on monday", R, "date=2026-12-07"),
    ("for 1 week 2 days", R, "dur=12960"),
    ("for 2 hours 30 minutes", R, "dur=150"),
    ("can today's booking start at 11 instead? end stays 5pm", R, "date=2026-11-26 start=11:00 end=17:00"),
    ("at 9 or at 10", R, "start=10:00 !Vague"),
    ("tonight from 8", R, "date=2026-11-26 start=20:00"),
    ("tomorrow evening at 7", R, "date=2026-11-27 start=19:00"),
    ("tomorrow morning at 8", R, "date=2026-11-27 start=08:00"),
    ("tonight from 8am", R, "!Past"),
    ("one l40s this weekend 10 to 4", R, "date=2026-11-28 end_date=2026-11-29 start=10:00 end=16:00 !EachDayOrStretch"),
    ("monday to wednesday 9-5", R, "date=2026-11-30 end_date=2026-12-02 start=09:00 end=17:00 !EachDayOrStretch"),
    ("from monday 9am to wednesday 5pm", R, "date=2026-11-30 start=09:00 end_date=2026-12-02 end=17:00"),
    ("this past monday", R, "!Past"),
    ("second of december", R, "date=2026-12-02"),
    ("1,5 hours", R, "dur=90"),
    ("at 9ish", R, "start=09:00"),
    ("at midnight", R, "start=00:00"),
    ("in December", R, "!Vague"),
    ("next month", R, "!Vague"),
    ("for a month", R, "!Vague"),
    ("end of the month", R, "!Vague"),
    ("before friday", R, "!Vague"),
    ("after 5pm", R, "start=17:00"),
    ("next monday, through friday", R, "date=2026-11-30 end_date=2026-12-04 whole"),
    ("through friday starting next monday", R, "date=2026-11-30 end_date=2026-11-27 whole !EndBeforeStart"),
    ("saturday and sunday", R, "date=2026-11-28 end_date=2026-11-29 whole"),
    ("Dec 3 and 4", R, "date=2026-12-03 end_date=2026-12-04 whole"),
    ("monday and wednesday", R, "date=2026-12-02 !Ambiguous"),
    ("from now until 5pm", R, "fn=0 end=17:00"),
    ("starting now for 2 hours", R, "fn=0 dur=120"),
    ("until now", R, "none"),
    ("friday or saturday", R, "date=2026-11-28 !Ambiguous"),
    ("book Friday, no wait, Saturday", R, "date=2026-11-28 !Ambiguous"),
    ("tomorrow at 9, for 3 hours, tomorrow", R, "date=2026-11-27 start=09:00 dur=180"),
    ("start tomorrow at 9, end friday 5pm", R, "date=2026-11-27 start=09:00 end_date=2026-11-27 end=17:00"),
    ("starting tomorrow", R, "date=2026-11-27"),
    ("till 17:00 tomorrow", R, "end_date=2026-11-27 end=17:00"),
    ("until 24:00", R, "mid"),
    // ── never temporal ──
    ("at $2.29 per hour", R, "none"),
    ("the 3rd GPU", R, "none"),
    ("the 2nd one", R, "none"),
    ("the first week of December", R, "!Vague"),
    ("the first Monday of December", R, "!Vague"),
    ("the last friday of the month", R, "!Vague"),
    ("50% off", R, "none"),
    ("24 GB", R, "none"),
    ("don't care", R, "none"),
    ("book 2 A100s", R, "none"),
    ("I want 80GB cards", R, "none"),
    ("RTX 4090 x4 please", R, "none"),
    ("how much is an A100?", R, "none"),
    ("4x H100", R, "none"),
    ("48 GB or more", R, "none"),
    ("at least 48 GB", R, "none"),
    ("book 3", R, "none"),
    ("make it 4 GPUs", R, "none"),
    ("I need 8", R, "none"),
    ("a-100 please", R, "none"),
    ("H100 80GB", R, "none"),
    ("3 of them", R, "none"),
    ("no — three, not two", R, "none"),
    ("2 to 3 GPUs", R, "none"),
    ("rtx4090", R, "none"),
    ("v100", R, "none"),
    ("I need it 24/7", R, "none"),
    ("cancel booking 7f3a", R, "none"),
    ("yes", R, "none"),
    ("what GPUs do you have", R, "none"),
    ("sounds good", R, "none"),
    ("one more GPU", R, "none"),
    ("may I book 2 a100s", R, "none"),
    ("is it yours", R, "none"),
    ("2 yours", R, "none"),
    ("midway through", R, "none"),
    ("todays slot", R, "date=2026-11-26"),
    ("for 2 horus", R, "dur=120"),
    ("satruday", R, "date=2026-11-28"),
    ("thursdya", R, "date=2026-11-26"),
    ("Novmber 28", R, "date=2026-11-28"),
    ("tomorrrow", R, "date=2026-11-27"),
    ("tomorrow afternon", R, "date=2026-11-27 start=12:00 end=17:00"),
    ("this evning", R, "date=2026-11-26 start=17:00 end=21:00"),
    ("for now, 2 l40s", R, "none"),
    ("a pair of v100", R, "none"),
    ("book 2-3 L40S", R, "none"),
    ("the cheapest one", R, "none"),
    ("a couple of a100s", R, "none"),
    ("rtx 4090 at 3", R, "start=15:00"),
    // ── sentences with filler ──
    ("hey, could I grab 2 a100s tmrw from 9 till 5 pls, thanks!", R, "date=2026-11-27 start=09:00 end=17:00"),
    ("book 2 A100s tomorrow", R, "date=2026-11-27"),
    ("can I get an RTX 4090 friday at 2pm", R, "date=2026-11-27 start=14:00"),
    ("is an H100 free tomorrow 9-12?", R, "date=2026-11-27 start=09:00 end=12:00"),
    ("book x4 L40S next monday 9-5", R, "date=2026-11-30 start=09:00 end=17:00"),
    ("I need 4 H100s on Dec 3 at 10am", R, "date=2026-12-03 start=10:00"),
    ("what would 4 V100s for a week cost?", R, "dur=10080"),
    ("any A100 free between 2pm and 4pm today?", R, "date=2026-11-26 start=14:00 end=16:00"),
    ("can I have 3 V100s for 90 minutes starting at 3pm tomorrow", R, "date=2026-11-27 start=15:00 dur=90"),
    ("I'd like the H100 on 24/12 from 0900 for 3 hrs", R, "date=2026-12-24 start=09:00 dur=180"),
    ("reserve 4 l40s from Monday to Wednesday please", R, "date=2026-11-30 end_date=2026-12-02 whole"),
    ("please book me an a100 asap for 2 hours", R, "fn=0 dur=120"),
    ("in 2 hours for 30 minutes", R, "fn=120 dur=30"),
    ("tomorrow, 2pm-6pm, 2 a100s", R, "date=2026-11-27 start=14:00 end=18:00"),
    ("I need 8 A100s for a day — when's the earliest?", R, "dur=1440"),
    ("book the 4090 Friday the 4th", R, "date=2026-12-04"),
    ("2 h100s tomorrow 2-4pm please", R, "date=2026-11-27 start=14:00 end=16:00"),
    ("Could you reserve two A100 GPUs for me on December 3rd from 9am to 1pm?", R, "date=2026-12-03 start=09:00 end=13:00"),
    ("need 1 l40s for 3 hrs on fri.", R, "date=2026-11-27 dur=180"),
    ("gimme 4 v100 tmr 10-14", R, "date=2026-11-27 start=10:00 end=14:00"),
    ("book 2 A100s on blursday", R, "!Unreadable"),
    ("book an a100 yesterday at 3", R, "!Past"),
    ("2 A100s for 3", R, "!Unreadable"),
    ("book it for next friday at 9", R, "start=09:00 !Ambiguous"),
    ("can I have it until midnight tomorrow", R, "end_date=2026-11-27 mid"),
    ("book 8 a100s for 2 weeks from monday", R, "date=2026-11-30 dur=20160"),
    ("hi! tmrw 9 to 5 for 2 rtx 4090s?", R, "date=2026-11-27 start=09:00 end=17:00"),
    ("what about the 3st?", R, "!Unreadable"),
    ("book an H100 on June 31 at 9", R, "!Impossible"),
    ("is the L40S free next week?", R, "date=2026-11-30 end_date=2026-12-06 whole"),
    ("I want 2 a100 this weekend", R, "date=2026-11-28 end_date=2026-11-29 whole"),
    ("book 3 h100 Dec 3-5", R, "date=2026-12-03 end_date=2026-12-05 whole"),
    ("book from 9am to 5pm on 3/12/2026", R, "start=09:00 end=17:00 !Ambiguous"),
    ("tomorrow 5pm to 3pm", R, "!EndBeforeStart"),
    ("thanks a lot!", R, "none"),
    ("Hi there! I'd love 2 H100s this Friday afternoon, say 1 to 4?", R, "date=2026-11-27 start=13:00 end=16:00"),
    ("Need an A100 for a quick 30 min test right now", R, "fn=0 dur=30"),
    ("could you book me 4 V100s monday through wednesday 8am-6pm", R, "date=2026-11-30 end_date=2026-12-02 start=08:00 end=18:00 !EachDayOrStretch"),
    ("3 L40S, 12/10 at 14:00, 6 hours", R, "start=14:00 dur=360 !Ambiguous"),
    ("reserve one RTX 4090 on the 1st of december from 10:00 until 18:00", R, "date=2026-12-01 start=10:00 end=18:00"),
    ("book 2 a100 on dec 7th 9:00-13:00 please", R, "date=2026-12-07 start=09:00 end=13:00"),
    ("pls 1x h100 tomorow 9", R, "date=2026-11-27 start=09:00"),
    ("gimme an h100 for the weekend", R, "date=2026-11-28 end_date=2026-11-29 whole"),
    ("I need 4 GPUs tomorrow between 10 and 2", R, "date=2026-11-27 start=10:00 end=14:00"),
    ("can I get the A100s from 2pm today until 10am tomorrow", R, "date=2026-11-26 start=14:00 end_date=2026-11-27 end=10:00"),
    ("book 16 a100 for 48h starting friday 6pm", R, "date=2026-11-27 start=18:00 dur=2880"),
    ("let's do 2026-12-10 14:00 to 2026-12-10 18:00", R, "date=2026-12-10 end_date=2026-12-10 start=14:00 end=18:00"),
    ("hold 2 GPUs at 3:30pm tmrw", R, "date=2026-11-27 start=15:30"),
    ("book it for 90 mins at half past 3", R, "start=15:30 dur=90"),
    ("I'd like an L40S on the twenty-third", R, "date=2026-12-23"),
    ("quarter past ten tomorrow", R, "date=2026-11-27 start=10:15"),
    ("the day after tomorrow at noon for 2 hours", R, "date=2026-11-28 start=12:00 dur=120"),
    ("book for tonight 8-11pm", R, "date=2026-11-26 start=20:00 end=23:00"),
    // ── month end (Mon 2026-11-30 10:00) ──
    ("tomorrow", M30, "date=2026-12-01"),
    ("friday", M30, "date=2026-12-04"),
    ("next friday", M30, "!Ambiguous"),
    ("next monday", M30, "date=2026-12-07"),
    ("monday", M30, "date=2026-11-30"),
    ("the 1st", M30, "date=2026-12-01"),
    ("the 30th", M30, "date=2026-11-30"),
    ("the 31st", M30, "date=2026-12-31"),
    ("this weekend", M30, "date=2026-12-05 end_date=2026-12-06 whole"),
    ("next week", M30, "date=2026-12-07 end_date=2026-12-13 whole"),
    ("Nov 30", M30, "date=2026-11-30"),
    ("Nov 29", M30, "!Past"),
    ("in 2 days", M30, "date=2026-12-02"),
    ("Monday week", M30, "date=2026-12-14"),
    // ── year end (Thu 2026-12-31 18:00) ──
    ("tomorrow", Y31, "date=2027-01-01"),
    ("Jan 2", Y31, "date=2027-01-02"),
    ("2 Jan 2027", Y31, "date=2027-01-02"),
    ("Dec 24", Y31, "!Past"),
    ("the 1st", Y31, "date=2027-01-01"),
    ("today at 5pm", Y31, "!Past"),
    ("today at 8pm", Y31, "date=2026-12-31 start=20:00"),
    ("tonight", Y31, "date=2026-12-31 start=17:00 end=21:00"),
    ("this afternoon", Y31, "!Past"),
    ("at 9", Y31, "start=09:00"),
    ("1/2/2027", Y31, "!Ambiguous"),
    ("12/31", Y31, "date=2026-12-31"),
    ("Dec 31 2027", Y31, "date=2027-12-31"),
    ("Jan 1 2028", Y31, "!TooFar"),
    ("next week", Y31, "date=2027-01-04 end_date=2027-01-10 whole"),
    ("Dec 30 - Jan 2", Y31, "!Past"),
    ("friday", Y31, "date=2027-01-01"),
    ("next year", Y31, "none"),
    // ── a Sunday (2026-11-29 12:00) ──
    ("this weekend", SUN, "date=2026-11-29 end_date=2026-11-29 whole"),
    ("next weekend", SUN, "date=2026-12-05 end_date=2026-12-06 whole"),
    ("next monday", SUN, "date=2026-11-30"),
    ("next friday", SUN, "date=2026-12-04"),
    ("monday", SUN, "date=2026-11-30"),
    ("sunday", SUN, "date=2026-11-29"),
    ("next week", SUN, "date=2026-11-30 end_date=2026-12-06 whole"),
    ("tomorrow", SUN, "date=2026-11-30"),
    ("Monday week", SUN, "date=2026-12-07"),
    ("this morning", SUN, "!Past"),
    ("this afternoon", SUN, "date=2026-11-29 start=12:00 end=17:00"),
    // ── evening (Thu 20:30) ──
    ("tonight", EVE, "date=2026-11-26 start=17:00 end=21:00"),
    ("today at 8pm", EVE, "!Past"),
    ("today at 9pm", EVE, "date=2026-11-26 start=21:00"),
    ("at 9", EVE, "start=09:00"),
    ("in 2 hours", EVE, "fn=120"),
    ("this afternoon", EVE, "!Past"),
    ("tomorrow 9-5", EVE, "date=2026-11-27 start=09:00 end=17:00"),
    // ── non-UTC zones ──
    ("today", NY, "date=2026-11-26"),
    ("tomorrow", NY, "date=2026-11-27"),
    ("friday", NY, "date=2026-11-27"),
    ("today at 8pm", NY, "!Past"),
    ("today at 10pm", NY, "date=2026-11-26 start=22:00"),
    ("next friday", NY, "!Ambiguous"),
    ("today", TYO, "date=2026-11-27"),
    ("tomorrow", TYO, "date=2026-11-28"),
    ("friday", TYO, "date=2026-11-27"),
    ("next friday", TYO, "date=2026-12-04"),
    ("Nov 26", TYO, "!Past"),
    ("today 9-5", TYO, "date=2026-11-27 start=09:00 end=17:00"),
];

#[test]
fn table() {
    let mut fails = Vec::new();
    for (text, now, exp) in TABLE {
        if let Err(e) = check(text, now, exp) {
            fails.push(e);
        }
    }
    for f in &fails {
        eprintln!("{f}\n");
    }
    eprintln!("table: {} rows, {} failed", TABLE.len(), fails.len());
    assert!(
        fails.is_empty(),
        "{} of {} rows failed",
        fails.len(),
        TABLE.len()
    );
}

/// The crate-measurement table (src/phrases.tsv), read leniently: the row's value must be
/// in `said` (a range end may be given as start + duration; "through Friday" leaves the
/// start date unsaid), refusals must give a problem, NONE must give nothing.
#[test]
fn phrase_table() {
    let table = include_str!("phrases.tsv");
    let now = now_of("ref");
    let mut fails = Vec::new();
    let mut n = 0;
    for line in table
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        n += 1;
        let (p, x) = line.split_once('\t').unwrap();
        let w: Vec<&str> = x.split_whitespace().collect();
        let r = read(p, now);
        let s = &r.said;
        let clean = r.problems.is_empty();
        let end_of = |s: &Said| s.end.or_else(|| Some(s.start? + s.duration?));
        let mins = |i: usize| Duration::minutes(w[i].parse::<i64>().unwrap());
        let ok = match w[0] {
            "D" => clean && s.date == Some(d(w[1])),
            "DT" => clean && s.date == Some(d(w[1])) && s.start == Some(t(w[2])),
            "T" => clean && s.start == Some(t(w[1])),
            "R" => {
                clean
                    && s.date == Some(d(w[1]))
                    && s.start == Some(t(w[2]))
                    && end_of(s) == Some(t(w[4]))
            }
            "TR" => clean && s.start == Some(t(w[1])) && end_of(s) == Some(t(w[2])),
            "DR" => {
                clean
                    && (s.date == Some(d(w[1]))
                        || (s.date.is_none() && d(w[1]) == now.date_naive()))
                    && (s.end_date == Some(d(w[2])) || (s.end_date.is_none() && d(w[1]) == d(w[2])))
                    && s.whole_days
            }
            "DUR" => clean && s.duration == Some(mins(1)),
            "FN" => clean && s.from_now == Some(mins(1)),
            "EXTRA" => clean && s.extra == Some(mins(1)),
            "BY" => clean && s.by == Some(mins(1)),
            "SHIFT" => clean && s.shift == Some(mins(1)),
            "X" => !r.problems.is_empty(),
            "NONE" => r.is_empty(),
            _ => panic!("{x}"),
        };
        if !ok {
            fails.push(format!("{p:?} [{x}] → {:?} {:?}", r.said, r.problems));
        }
    }
    for f in &fails {
        eprintln!("{f}");
    }
    eprintln!("phrase table: {n} rows, {} failed", fails.len());
    assert!(fails.is_empty());
}

#[test]
fn spans_and_consumed() {
    let text = "book 2 A100s Dec 2 at 4 pm for 3 hours";
    let r = read(text, now_of("ref"));
    let pieces: Vec<&str> = r.consumed().iter().map(|sp| &text[sp.clone()]).collect();
    assert_eq!(pieces, vec!["Dec 2 at 4 pm", "for 3 hours"], "{r:?}");
    assert!(
        !r.consumed().iter().any(|sp| sp.contains(&5)),
        "the count 2 is not consumed"
    );
    let text = "is an H100 free tomorrow 9-12?";
    let r = read(text, now_of("ref"));
    let pieces: Vec<&str> = r.mentions.iter().map(|m| &text[m.span.clone()]).collect();
    assert_eq!(pieces, vec!["tomorrow", "9-12"]);
    let text = "next week 9am";
    let r = read(text, now_of("ref"));
    assert_eq!(r.mentions.len(), 2, "{r:?}");
    let text = "the 21st, not the 20th";
    let r = read(text, now_of("ref"));
    assert_eq!(r.mentions.len(), 2);
    assert!(!r.mentions[0].negated && r.mentions[1].negated);
    assert_eq!(&text[r.mentions[1].span.clone()], "the 20th");
    let text = "on blursday";
    let r = read(text, now_of("ref"));
    assert_eq!(r.problems[0].text, "on blursday");
    let text = "at 9 next friday";
    let r = read(text, now_of("ref"));
    assert_eq!(&text[r.mentions[0].span.clone()], "at 9");
    assert_eq!(r.problems[0].text, "next friday");
    let text = "next friday, at 9";
    let r = read(text, now_of("ref"));
    assert_eq!(&text[r.mentions[0].span.clone()], "at 9");
    assert_eq!(r.problems[0].text, "next friday");
    let r = read("next friday", now_of("ref"));
    assert_eq!(
        r.problems[0].kind,
        ProblemKind::Ambiguous(vec![d("2026-11-27"), d("2026-12-04")])
    );
    let r = read("3/12/2026", now_of("ref"));
    assert_eq!(
        r.problems[0].kind,
        ProblemKind::Ambiguous(vec![d("2026-12-03"), d("2026-03-12")])
    );
    let r = read("", now_of("ref"));
    assert!(r.is_empty());
}

#[test]
fn no_panics_on_odd_input() {
    let odd = [
        "",
        " ",
        "-",
        "--",
        "9-",
        "-5",
        ":",
        "9:",
        ":30",
        "at",
        "from",
        "between 9 and",
        "for",
        "in",
        "the",
        "the 0th",
        "0/0",
        "99/99/9999",
        "9999-99-99",
        "2026-12-",
        "12:",
        "ŧ€ß 9–",
        "’",
        "9’",
        "at 99999999999999999999",
        "for 99999999999 hours",
        "PT",
        "PT3",
        "half past",
        "quarter to",
        "a.m.",
        "9 a.",
        "Dec",
        "Dec.",
        "Dec -",
        "3rd of",
        "not",
        "not the",
        "¿mañana a las 9?",
        "2026-12-03T",
        "2026-12-03T25:00",
        "until",
        "through",
        "0900 0900 0900",
        "a week on",
        "x x x 4 4 4",
        "12/",
        "/12",
        "1.",
        ".5 hours",
        "tomorrow tomorrow tomorrow",
    ];
    for s in odd {
        let r = read(s, now_of("ref"));
        for sp in r.consumed() {
            assert!(
                sp.end <= s.len() && s.is_char_boundary(sp.start) && s.is_char_boundary(sp.end),
                "{s:?}"
            );
        }
    }
}

/// Micro benchmark: `cargo test --release -- --ignored bench --nocapture`.
#[test]
#[ignore]
fn bench() {
    let msgs = [
        "hey, could I grab 2 a100s tmrw from 9 till 5 pls, thanks!",
        "book 2 A100s tomorrow",
        "can I get an RTX 4090 friday at 2pm",
        "is an H100 free tomorrow 9-12?",
        "what would 4 V100s for a week cost?",
        "oops — the 21st, not the 20th",
        "I need 4 H100s on Dec 3 at 10am for 3 hours",
        "extend it by 2 hours",
        "reserve 4 l40s from Monday to Wednesday please",
        "how much is an A100?",
        "yes",
        "can I have 3 V100s for 90 minutes starting at 3pm tomorrow",
    ];
    let now = now_of("ref");
    let n = 100_000;
    let t0 = std::time::Instant::now();
    let mut acc = 0usize;
    for i in 0..n {
        let r = read(std::hint::black_box(msgs[i % msgs.len()]), now);
        acc += r.mentions.len();
    }
    let el = t0.elapsed();
    eprintln!(
        "{} reads of {} typical messages: {:.2} µs per message (acc {acc})",
        n,
        msgs.len(),
        el.as_secs_f64() * 1e6 / n as f64
    );
}

/// Random token soups from the grammar's own vocabulary: no panic, valid spans, and the
/// `Said` invariants hold.
#[test]
fn random_soup() {
    let vocab = [
        "9",
        "5",
        "12",
        "0",
        "24",
        "25",
        "31",
        "2026",
        "0900",
        "1730",
        "3rd",
        "21st",
        "3st",
        "9am",
        "5pm",
        "9:30",
        "17h",
        "9h30",
        "a100",
        "80GB",
        "x4",
        "4x",
        "-",
        "–",
        "/",
        ".",
        ",",
        ":",
        "to",
        "till",
        "until",
        "through",
        "from",
        "between",
        "and",
        "at",
        "on",
        "in",
        "for",
        "by",
        "not",
        "but",
        "the",
        "of",
        "a",
        "an",
        "half",
        "quarter",
        "past",
        "next",
        "this",
        "last",
        "week",
        "weekend",
        "day",
        "days",
        "hours",
        "minutes",
        "h",
        "min",
        "more",
        "another",
        "later",
        "earlier",
        "ago",
        "now",
        "asap",
        "today",
        "tomorrow",
        "tmrw",
        "yesterday",
        "tonight",
        "friday",
        "monday",
        "sunday",
        "dec",
        "december",
        "june",
        "may",
        "morning",
        "evening",
        "noon",
        "midnight",
        "all",
        "whole",
        "business",
        "hours",
        "o'clock",
        "PT3H",
        "2026-12-03",
        "2026-12-03T09:00",
        "3/12",
        "24/12",
        "blursday",
        "eod",
        "end",
        "of the day",
        "rather than",
        "twenty",
        "past three",
        "or",
        "saturday and sunday",
        "2moro",
        "1,5",
        "0800",
        "+01:00",
        "Z",
        "by",
        "$",
        "%",
        "x",
        "mon-fri",
        "and a half",
        "a.m.",
        "p.m.",
        "12/10/2026",
        "Decembruary",
        "overnight",
        "month",
        "before",
        "after",
        "instead",
        "’",
        "é",
        "!",
        "?",
    ];
    let mut seed: u64 = 0x8c3308b80e06f4fc;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let nows = [
        now_of("ref"),
        now_of(M30),
        now_of(Y31),
        now_of(SUN),
        now_of(NY),
    ];
    for _ in 0..std::env::var("SOUP")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000)
    {
        let n = 1 + (next() % 8) as usize;
        let mut s = String::new();
        for k in 0..n {
            if k > 0 && next() % 3 != 0 {
                s.push(' ');
            }
            s.push_str(vocab[(next() % vocab.len() as u64) as usize]);
        }
        let now = nows[(next() % nows.len() as u64) as usize];
        let r = read(&s, now);
        for sp in r.consumed() {
            assert!(
                sp.start < sp.end
                    && sp.end <= s.len()
                    && s.is_char_boundary(sp.start)
                    && s.is_char_boundary(sp.end),
                "{s:?} {sp:?}"
            );
        }
        assert!(
            !(r.said.end_midnight && r.said.end.is_some()),
            "{s:?} {:?}",
            r.said
        );
        if let (Some(a), Some(b)) = (r.said.date, r.said.end_date) {
            assert!(
                b >= a
                    || r.problems
                        .iter()
                        .any(|p| p.kind == ProblemKind::EndBeforeStart),
                "{s:?} {:?}",
                r
            );
        }
        for p in &r.problems {
            assert_eq!(p.text, &s[p.span.clone()]);
        }
    }
}
