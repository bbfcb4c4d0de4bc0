//! The time grammar: reads every date, time, duration and range in one chat message.
//!
//! Pure (no I/O), deps chrono 0.4 + chrono-tz 0.10. Written so that this file can become
//! `when/mod.rs` (no `crate::` paths). Design after chrono-node / Duckling:
//!
//! 1. a hand-written lexer (words, numbers, punctuation, byte spans, "glued" flags, model-name
//!    detection, typo-tolerant date vocabulary);
//! 2. pattern parsers that turn token runs into *atoms* (dates, times, bare hour candidates,
//!    parts of day, durations with a role, connectors, problems);
//! 3. a merge/refine step that groups atoms into points and ranges ("from 9 till 5",
//!    "Monday to Wednesday", "tomorrow at 9"), applies the cue rules for bare numbers and the
//!    am/pm rules, and produces mentions, problems and the merged `Said`.
//!
//! See /work/notes/understanding-rules.md for the rules and whenlib-note.md for the gaps.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Timelike, Weekday};
use chrono_tz::Tz;
use std::ops::Range;

#[cfg(test)]
mod tests;

// ───────────────────────────── public interface ─────────────────────────────

/// Everything a message says about time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reading {
    /// What was understood, merged (only what was said; nothing assumed).
    pub said: Said,
    /// Each understood piece, in text order (for debugging and the NLU's exclusions).
    pub mentions: Vec<Mention>,
    /// Temporal-looking pieces NOT understood or refused, in text order.
    pub problems: Vec<Problem>,
}

impl Reading {
    /// Byte ranges of `text` this reading consumed (mentions and problems), in text order,
    /// overlapping pieces merged: the NLU must not read numbers inside them as counts
    /// ("Dec 2", "4 pm", "for 3 hours").
    pub fn consumed(&self) -> Vec<Range<usize>> {
        let mut v: Vec<Range<usize>> = self
            .mentions
            .iter()
            .map(|m| m.span.clone())
            .chain(self.problems.iter().map(|p| p.span.clone()))
            .collect();
        v.sort_by_key(|r| (r.start, r.end));
        // overlapping pieces become one range
        let mut out: Vec<Range<usize>> = Vec::with_capacity(v.len());
        for r in v {
            match out.last_mut() {
                Some(last) if r.start < last.end => last.end = last.end.max(r.end),
                _ => out.push(r),
            }
        }
        out
    }
    /// True when nothing temporal was found.
    pub fn is_empty(&self) -> bool {
        self.mentions.is_empty() && self.problems.is_empty()
    }
}

/// What was said, by slot. Every field is None unless the person said it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Said {
    /// The day the period starts ("tomorrow", "Dec 3", "friday", "2026-12-03").
    pub date: Option<NaiveDate>,
    /// The day the period ends, when said: "to Wednesday", "Dec 3-5", "until Friday 18:00",
    /// "through Friday", "next week" (its Sunday).
    pub end_date: Option<NaiveDate>,
    /// Start time of day: "at 9", "9-5" (09:00), "morning" (09:00), "from 14:00".
    pub start: Option<NaiveTime>,
    /// End time of day: "9-5" (17:00), "until noon", "morning" (12:00). 24:00 is `end_midnight`
    /// (then `end` is None).
    pub end: Option<NaiveTime>,
    /// The end is midnight at the END of the end day ("until midnight", "all day").
    pub end_midnight: bool,
    /// Whole days without times: "all day", a date range without times, "next week",
    /// "this weekend" (start 00:00, end = the day after end_date (or date) 00:00).
    pub whole_days: bool,
    /// A length: "for 3 hours", "90 min", "a half-day" (4 h), "for a week".
    pub duration: Option<Duration>,
    /// A start relative to now: "in 2 hours" (2 h), "now"/"asap"/"right away" (0).
    pub from_now: Option<Duration>,
    /// An amount to ADD to a booking's end: "3 more hours", "another hour", "an extra day".
    pub extra: Option<Duration>,
    /// "by 2 hours" (a signed change whose direction the verb gives).
    pub by: Option<Duration>,
    /// A shift of the whole period: "an hour later" (+1 h), "2 hours earlier" (−2 h).
    pub shift: Option<Duration>,
}

/// One understood piece.
#[derive(Debug, Clone, PartialEq)]
pub struct Mention {
    pub span: Range<usize>,
    pub kind: MentionKind,
    /// Said in a negation: "the 21st, NOT THE 20TH", "not friday but saturday" — not merged
    /// into `said`.
    pub negated: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MentionKind {
    Date(NaiveDate),
    DateRange(NaiveDate, NaiveDate), // inclusive last day
    Time(NaiveTime),
    TimeRange(NaiveTime, NaiveTime), // end may be 00:00 meaning 24:00 (see end_midnight)
    PartOfDay(NaiveTime, NaiveTime),
    DateTime(NaiveDate, NaiveTime),
    Duration(Duration),
    FromNow(Duration),
    Extra(Duration),
    By(Duration),
    Shift(Duration),
    WholeDay,
    /// ADDITION: an end without a start: "until noon", "till Friday 18:00", "through Friday",
    /// "to Wednesday 5pm" (the second half of a range whose first half carries a date).
    /// A time of 00:00 here means 24:00 (midnight at the end of the day).
    Until(Option<NaiveDate>, Option<NaiveTime>),
}

/// A temporal-looking piece that was not understood, or that cannot be booked.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub span: Range<usize>,
    /// The piece as typed (for "I didn't understand '31/2' as a date").
    pub text: String,
    pub kind: ProblemKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ProblemKind {
    /// Looks like a date/time/duration but was not understood ("blursday", "the 3st",
    /// "Decembruary 4", "for 3" with no unit, "25:00").
    Unreadable,
    /// A date that does not exist: "June 31", "Feb 30", "the 32nd", "31/11".
    Impossible,
    /// Before now: "yesterday", "two days ago", "last Thursday", "last week", "Dec 3 2025",
    /// "Nov 20" (month+day without year already passed this year), "today at 8am" at 10:00.
    Past,
    /// More than 365 days ahead.
    TooFar,
    /// Several readings; the candidate dates, in order of likelihood.
    Ambiguous(Vec<NaiveDate>),
    /// An explicit end at or before an explicit start on the same day ("5pm to 3pm").
    EndBeforeStart,
    /// A length that disagrees with the start and end said ("9 to 5 ... for 4 hours").
    LengthDisagrees,
    /// ADDITION: understood as time-related but too vague to act on: "overnight", "soon",
    /// "sometime", "a few hours", "2-3 hours" (the assistant asks).
    Vague,
    /// A length inside a part of the day with no start ("tomorrow afternoon for 2 hours"):
    /// when in the part it starts is not said (the assistant asks).
    StartUnsaid,
    /// Hours of the day beside a range of days ("this weekend 10 to 4", "mon-fri 9-5"):
    /// those hours each day, or one stretch from the first day's start to the last day's
    /// end (the assistant asks).
    EachDayOrStretch,
}

/// Reads `text` as said at `now` (in the server's timezone).
pub fn read(text: &str, now: DateTime<Tz>) -> Reading {
    let toks = lex(text);
    let now_t = now.time();
    let cx = Cx {
        text,
        t: &toks,
        today: now.date_naive(),
        tz: now.timezone(),
        now_t: NaiveTime::from_hms_opt(now_t.hour(), now_t.minute(), 0).unwrap(),
    };
    let atoms = cx.atoms();
    cx.merge(&atoms)
}

// ───────────────────────────── lexer ─────────────────────────────

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum L {
    No,
    Month(u8),
    Wd(u8), // 0 = Monday
    Today,
    Tomorrow,
    Yesterday,
    Tonight,
    Day,
    Week,
    Weekend,
    MonthW,
    During,
    Ish,
    Fortnight,
    Hour,
    Minute,
    H,
    M,
    Morning,
    Afternoon,
    Evening,
    Night,
    Noon,
    Midnight,
    Am,
    Pm,
    A, // "a", "an"
    P, // the letter p of "p.m."
    Next,
    This,
    Last,
    After,
    Before,
    Ago,
    From,
    Starting,
    Ending,
    Eod,
    To,
    Till,
    Through,
    Between,
    And,
    At,
    On,
    In,
    For,
    By,
    More,
    Another,
    Extra,
    /// "add", "plus": a length after it is added ("add an hour at the end").
    Add,
    Later,
    Earlier,
    Longer,
    Half,
    Quarter,
    Past,
    The,
    Of,
    OClock,
    Now,
    Asap,
    Immediately,
    Right,
    Away,
    Straight,
    All,
    Whole,
    Full,
    Business,
    Working,
    Overnight,
    Soon,
    Sometime,
    Few,
    Couple,
    Not,
    But,
    Instead,
    Rather,
    Or,
    Num(u8),
    Ord(u8),
    Sfx(u8), // st nd rd th → 1 2 3 4
    T,
    Z,
    Pt,
    Gpu,
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum K {
    W,
    N,
    P,
}

#[derive(Clone, Copy, Debug)]
struct Tok {
    s: usize,
    e: usize,
    k: K,
    /// punctuation char ('-' for en/em dashes, '\'' for ’, '#' for other non-ASCII)
    ch: u8,
    /// no whitespace between this token and the previous one
    glued: bool,
    l: L,
    n: u32,
    nd: u8,
    /// part of a model name / size / count ("a100", "80gb", "x4", "4x")
    model: bool,
    /// shape of an unknown word: DAYISH ("blursday"), MONTHISH ("decembruary"), FILLER ("please")
    f: u8,
}

const DAYISH: u8 = 1;
const MONTHISH: u8 = 2;
const FILLER: u8 = 4;

/// Shape flags of an unknown lowercase word.
fn shape(w: &str) -> u8 {
    let mut f = 0;
    let stem = w.strip_suffix('s').unwrap_or(w);
    if stem.len() >= 5
        && stem.ends_with("day")
        && !matches!(
            stem,
            "holiday"
                | "birthday"
                | "someday"
                | "everyday"
                | "payday"
                | "weekday"
                | "workday"
                | "doomsday"
                | "mayday"
                | "heyday"
                | "nowaday"
                | "midday"
                | "halfday"
                | "yesterday"
                | "alday"
                | "allday"
                | "fullday"
                | "oneday"
                | "twoday"
                | "threeday"
                | "sameday"
                | "schoolday"
                | "gameday"
                | "friday"
                | "today"
                | "monday"
                | "sunday"
        )
    {
        f |= DAYISH;
    }
    if w.len() >= 5
        && [
            "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
        ]
        .iter()
        .any(|p| w.starts_with(p))
        && (w.ends_with("ber")
            || w.ends_with("ary")
            || w.ends_with("ust")
            || w.ends_with("ch")
            || w.ends_with("il")
            || w.ends_with("ne")
            || w.ends_with("ly")
            || w.contains("emb")
            || w.contains("uar"))
    {
        f |= MONTHISH;
    }
    if matches!(
        w,
        "please" | "pls" | "plz" | "thanks" | "thx" | "then" | "ok" | "okay" | "thank" | "ty"
    ) {
        f |= FILLER;
    }
    f
}

fn lookup(w: &str) -> L {
    use L::*;
    let w = w.strip_suffix("'s").unwrap_or(w);
    match w {
        "jan" | "january" => Month(1),
        "feb" | "february" | "febuary" => Month(2),
        "mar" | "march" => Month(3),
        "apr" | "april" => Month(4),
        "may" => Month(5),
        "jun" | "june" => Month(6),
        "jul" | "july" => Month(7),
        "aug" | "august" => Month(8),
        "sep" | "sept" | "september" => Month(9),
        "oct" | "october" => Month(10),
        "nov" | "november" => Month(11),
        "dec" | "december" => Month(12),
        "mon" | "monday" | "mondays" => Wd(0),
        "tue" | "tues" | "tuesday" | "tuesdays" => Wd(1),
        "wed" | "weds" | "wednesday" | "wednesdays" | "wensday" | "wendsday" | "wednsday" => Wd(2),
        "thu" | "thur" | "thurs" | "thursday" | "thursdays" => Wd(3),
        "fri" | "friday" | "fridays" => Wd(4),
        "sat" | "saturday" | "saturdays" => Wd(5),
        "sun" | "sunday" | "sundays" => Wd(6),
        "today" | "tdy" => Today,
        "tomorrow" | "tmrw" | "tmr" | "tmrow" | "tmoro" | "tomoz" | "tomo" | "tommorow"
        | "tommorrow" | "tomorow" | "tomoro" | "tmw" => Tomorrow,
        "yesterday" => Yesterday,
        "tonight" | "tonite" | "2nite" => Tonight,
        "day" | "days" => Day,
        "week" | "weeks" | "wk" | "wks" => Week,
        "weekend" | "weekends" => Weekend,
        "month" | "months" => MonthW,
        "during" => During,
        "ish" => Ish,
        "fortnight" | "fortnights" => Fortnight,
        "hour" | "hours" | "hr" | "hrs" => Hour,
        "minute" | "minutes" | "min" | "mins" => Minute,
        "h" => H,
        "m" => M,
        "morning" | "mornings" => Morning,
        "afternoon" | "afternoons" | "arvo" => Afternoon,
        "evening" | "evenings" => Evening,
        "night" => Night,
        "noon" | "midday" | "lunchtime" => Noon,
        "midnight" => Midnight,
        "am" => Am,
        "pm" => Pm,
        "a" | "an" => A,
        "p" => P,
        "next" => Next,
        "this" | "coming" | "upcoming" => This,
        "last" | "previous" => Last,
        "after" => After,
        "before" => Before,
        "ago" => Ago,
        "from" => From,
        "starting" | "start" | "starts" | "beginning" | "begin" => Starting,
        "end" | "ending" | "ends" | "finish" | "finishing" | "finishes" => Ending,
        "eod" | "cob" => Eod,
        "to" => To,
        "till" | "til" | "until" | "untill" | "'til" | "'till" => Till,
        "through" | "thru" | "thro" | "throught" => Through,
        "between" => Between,
        "and" | "&" => And,
        "at" | "@" => At,
        "on" => On,
        "in" => In,
        "for" => For,
        "by" => By,
        "more" | "additional" => More,
        "another" => Another,
        "extra" => Extra,
        "add" | "adding" | "plus" => Add,
        "later" => Later,
        "earlier" | "sooner" => Earlier,
        "longer" => Longer,
        "half" => Half,
        "quarter" => Quarter,
        "past" => Past,
        "the" => The,
        "of" => Of,
        "o'clock" | "oclock" => OClock,
        "now" => Now,
        "asap" => Asap,
        "immediately" | "immediatly" | "straightaway" => Immediately,
        "right" => Right,
        "away" => Away,
        "straight" => Straight,
        "all" => All,
        "whole" | "entire" => Whole,
        "full" => Full,
        "business" | "office" => Business,
        "working" | "work" => Working,
        "overnight" => Overnight,
        "soon" | "soonish" | "whenever" => Soon,
        "sometime" | "someday" => Sometime,
        "few" | "several" => Few,
        "couple" => Couple,
        "not" => Not,
        "but" => But,
        "instead" => Instead,
        "rather" => Rather,
        "or" => Or,
        "zero" => Num(0),
        "one" => Num(1),
        "two" => Num(2),
        "three" => Num(3),
        "four" => Num(4),
        "five" => Num(5),
        "six" => Num(6),
        "seven" => Num(7),
        "eight" => Num(8),
        "nine" => Num(9),
        "ten" => Num(10),
        "eleven" => Num(11),
        "twelve" => Num(12),
        "thirteen" => Num(13),
        "fourteen" => Num(14),
        "fifteen" => Num(15),
        "sixteen" => Num(16),
        "seventeen" => Num(17),
        "eighteen" => Num(18),
        "nineteen" => Num(19),
        "twenty" => Num(20),
        "thirty" => Num(30),
        "forty" => Num(40),
        "fifty" => Num(50),
        "sixty" => Num(60),
        "ninety" => Num(90),
        "first" => Ord(1),
        "second" => Ord(2),
        "third" => Ord(3),
        "fourth" => Ord(4),
        "fifth" => Ord(5),
        "sixth" => Ord(6),
        "seventh" => Ord(7),
        "eighth" => Ord(8),
        "ninth" => Ord(9),
        "tenth" => Ord(10),
        "eleventh" => Ord(11),
        "twelfth" => Ord(12),
        "thirteenth" => Ord(13),
        "fourteenth" => Ord(14),
        "fifteenth" => Ord(15),
        "sixteenth" => Ord(16),
        "seventeenth" => Ord(17),
        "eighteenth" => Ord(18),
        "nineteenth" => Ord(19),
        "twentieth" => Ord(20),
        "thirtieth" => Ord(30),
        "st" => Sfx(1),
        "nd" => Sfx(2),
        "rd" => Sfx(3),
        "th" => Sfx(4),
        "t" => T,
        "z" | "utc" => Z,
        "pt" => Pt,
        "gpu" | "gpus" | "card" | "cards" | "node" | "nodes" | "device" | "devices" | "units"
        | "gb" | "gig" | "gigs" | "x" | "people" | "users" | "jobs" | "boxes" | "machines"
        | "servers" | "instances" | "of them" => Gpu,
        _ => typo(w),
    }
}

/// Date words that accept one Damerau edit (words of 5+ letters only).
const TYPO_VOCAB: &[(&str, L)] = &[
    ("january", L::Month(1)),
    ("february", L::Month(2)),
    ("april", L::Month(4)),
    ("august", L::Month(8)),
    ("september", L::Month(9)),
    ("october", L::Month(10)),
    ("november", L::Month(11)),
    ("december", L::Month(12)),
    ("monday", L::Wd(0)),
    ("tuesday", L::Wd(1)),
    ("wednesday", L::Wd(2)),
    ("thursday", L::Wd(3)),
    ("friday", L::Wd(4)),
    ("saturday", L::Wd(5)),
    ("sunday", L::Wd(6)),
    ("tomorrow", L::Tomorrow),
    ("yesterday", L::Yesterday),
    ("today", L::Today),
    ("tonight", L::Tonight),
    ("minutes", L::Minute),
    ("minute", L::Minute),
    ("hours", L::Hour),
    ("afternoon", L::Afternoon),
    ("morning", L::Morning),
    ("evening", L::Evening),
    ("midnight", L::Midnight),
    ("fortnight", L::Fortnight),
    ("weekend", L::Weekend),
    ("midday", L::Noon),
    ("overnight", L::Overnight),
    ("immediately", L::Immediately),
];

/// Real words one edit away from a date word: never typo-corrected.
const NOT_TYPOS: &[&str] = &[
    "yours", "tours", "pours", "fours", "hoers", "midway", "mourning", "moaning", "minuet",
    "minuets", "toady", "toddy", "sundae", "sundry", "mondo",
];

fn typo(w: &str) -> L {
    let n = w.len();
    if n < 5 || !w.bytes().all(|c| c.is_ascii_lowercase()) || NOT_TYPOS.contains(&w) {
        return L::Other;
    }
    for (v, l) in TYPO_VOCAB {
        if v.len().abs_diff(n) <= 1 && within_one_edit(w.as_bytes(), v.as_bytes()) {
            return *l;
        }
    }
    L::Other
}

/// Damerau distance ≤ 1 (one letter dropped, added, changed, or two adjacent swapped).
fn within_one_edit(a: &[u8], b: &[u8]) -> bool {
    let (la, lb) = (a.len(), b.len());
    let mut i = 0;
    while i < la && i < lb && a[i] == b[i] {
        i += 1;
    }
    if i == la && i == lb {
        return true;
    }
    if la == lb {
        // substitution or transposition
        if a[i + 1..] == b[i + 1..] {
            return true;
        }
        i + 1 < la && a[i] == b[i + 1] && a[i + 1] == b[i] && a[i + 2..] == b[i + 2..]
    } else if la + 1 == lb {
        a[i..] == b[i + 1..]
    } else if lb + 1 == la {
        a[i + 1..] == b[i..]
    } else {
        false
    }
}

fn lex(text: &str) -> Vec<Tok> {
    let b = text.as_bytes();
    let mut out: Vec<Tok> = Vec::with_capacity(24);
    let mut i = 0;
    let mut prev_end = usize::MAX;
    let mut buf = [0u8; 32];
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let glued = prev_end == i;
        let s = i;
        let tok = if c.is_ascii_digit() {
            let mut n: u64 = 0;
            while i < b.len() && b[i].is_ascii_digit() {
                n = (n * 10 + (b[i] - b'0') as u64).min(1_000_000_000);
                i += 1;
            }
            Tok {
                s,
                e: i,
                k: K::N,
                ch: 0,
                glued,
                l: L::No,
                n: n as u32,
                nd: (i - s).min(255) as u8,
                model: false,
                f: 0,
            }
        } else if c.is_ascii_alphabetic() {
            let mut len = 0;
            loop {
                if i < b.len() && b[i].is_ascii_alphabetic() {
                    if len < buf.len() {
                        buf[len] = b[i].to_ascii_lowercase();
                    }
                    len += 1;
                    i += 1;
                } else if i + 1 < b.len() && b[i] == b'\'' && b[i + 1].is_ascii_alphabetic() {
                    if len < buf.len() {
                        buf[len] = b'\'';
                    }
                    len += 1;
                    i += 1;
                } else if i + 3 < b.len()
                    && b[i..i + 3] == [0xE2, 0x80, 0x99]
                    && b[i + 3].is_ascii_alphabetic()
                {
                    if len < buf.len() {
                        buf[len] = b'\'';
                    }
                    len += 1;
                    i += 3;
                } else {
                    break;
                }
            }
            let (l, f) = if len <= buf.len() {
                let w = std::str::from_utf8(&buf[..len]).unwrap_or("");
                let l = lookup(w);
                (l, if l == L::Other { shape(w) } else { 0 })
            } else {
                (L::Other, 0)
            };
            Tok {
                s,
                e: i,
                k: K::W,
                ch: 0,
                glued,
                l,
                n: 0,
                nd: 0,
                model: false,
                f,
            }
        } else if c >= 0x80 {
            let ch = text[i..].chars().next().unwrap();
            i += ch.len_utf8();
            let p = match ch {
                // "10→16": an arrow joins a range like a dash
                '–' | '—' | '‒' | '−' | '→' => b'-',
                '’' | '‘' => b'\'',
                _ => b'#',
            };
            Tok {
                s,
                e: i,
                k: K::P,
                ch: p,
                glued,
                l: L::No,
                n: 0,
                nd: 0,
                model: false,
                f: 0,
            }
        } else {
            i += 1;
            let l = match c {
                b'@' => L::At,
                b'&' => L::And,
                _ => L::No,
            };
            Tok {
                s,
                e: i,
                k: K::P,
                ch: c,
                glued,
                l,
                n: 0,
                nd: 0,
                model: false,
                f: 0,
            }
        };
        out.push(tok);
        prev_end = i;
    }
    // "o clock" → o'clock
    let mut j = 0;
    while j + 1 < out.len() {
        if out[j].k == K::W
            && text[out[j].s..out[j].e].eq_ignore_ascii_case("o")
            && out[j + 1].k == K::W
            && text[out[j + 1].s..out[j + 1].e].eq_ignore_ascii_case("clock")
        {
            out[j].e = out[j + 1].e;
            out[j].l = L::OClock;
            out.remove(j + 1);
        }
        j += 1;
    }
    // "2moro", "2morrow", "2mrw": tomorrow
    let mut j = 0;
    while j + 1 < out.len() {
        if out[j].k == K::N
            && out[j].n == 2
            && out[j].nd == 1
            && out[j + 1].glued
            && out[j + 1].k == K::W
        {
            let w = text[out[j + 1].s..out[j + 1].e].to_ascii_lowercase();
            if matches!(
                w.as_str(),
                "moro" | "morrow" | "morow" | "mrw" | "mro" | "moz"
            ) {
                let (s, glued) = (out[j].s, out[j].glued);
                out.remove(j);
                out[j].s = s;
                // Glued to what the "2" was glued to, not to the "2" itself.
                out[j].glued = glued;
                out[j].l = L::Tomorrow;
            }
        }
        j += 1;
    }
    // Model names, sizes and counts: a number glued to letters that are not a time suffix
    // ("a100", "80gb", "x4", "4x", "rtx4090", "a-100"), and those letters themselves.
    for j in 0..out.len() {
        if out[j].k != K::N {
            continue;
        }
        let mut model = false;
        if j > 0 && out[j].glued {
            let p = out[j - 1];
            if p.k == K::W {
                let ok = match p.l {
                    L::H | L::T => j >= 2 && p.glued && out[j - 2].k == K::N,
                    // "dec3": a month glued to its day
                    L::Pt | L::Month(_) => true,
                    _ => false,
                };
                if !ok {
                    model = true;
                }
            } else if p.k == K::P && p.ch == b'-' && j >= 2 && p.glued {
                let w = out[j - 2];
                if w.k == K::W
                    && !matches!(w.l, L::Month(_) | L::Wd(_) | L::Today | L::Tomorrow)
                    && w.l != L::No
                    && matches!(w.l, L::Other | L::A | L::H | L::P | L::M | L::T | L::Gpu)
                {
                    model = true;
                }
            }
        }
        if j + 1 < out.len() && out[j + 1].glued && out[j + 1].k == K::W {
            let ok = matches!(
                out[j + 1].l,
                L::Am
                    | L::Pm
                    | L::A
                    | L::P
                    | L::H
                    | L::Hour
                    | L::Minute
                    | L::M
                    | L::Sfx(_)
                    | L::T
                    | L::Z
                    | L::Ish
                    | L::Day
                    | L::Week
                    | L::Month(_)
            );
            if !ok {
                model = true;
            }
        }
        // "1 rtx 4090", "3 h100s", "2 gpus": a number before a GPU word is a count.
        if !model && j + 1 < out.len() && !out[j + 1].glued {
            let next = out[j + 1];
            let word = &text[next.s..next.e];
            let lw = word.to_ascii_lowercase();
            if next.model
                || next.l == L::Gpu
                || (next.k == K::W
                    && matches!(
                        lw.as_str(),
                        "rtx"
                            | "gtx"
                            | "tesla"
                            | "nvidia"
                            | "quadro"
                            | "radeon"
                            | "hopper"
                            | "ampere"
                            | "volta"
                            | "ada"
                            | "lovelace"
                    ))
                || (next.k == K::W && lw.chars().any(|c| c.is_ascii_digit()))
            {
                out[j].model = true;
                continue;
            }
        }
        if model {
            out[j].model = true;
            // "h-100": the letters before the dash belong to the model too.
            if j >= 2
                && out[j].glued
                && out[j - 1].k == K::P
                && out[j - 1].glued
                && out[j - 2].k == K::W
            {
                out[j - 2].l = L::Other;
                out[j - 2].model = true;
            }
            if j > 0 && out[j].glued && out[j - 1].k == K::W {
                out[j - 1].l = L::Other;
                out[j - 1].model = true;
            }
            if j + 1 < out.len() && out[j + 1].glued && out[j + 1].k == K::W {
                out[j + 1].l = L::Other;
                out[j + 1].model = true;
            }
        }
    }
    out
}

// ───────────────────────────── atoms ─────────────────────────────

type PK = ProblemKind;

#[derive(Clone, Copy, Debug, PartialEq)]
struct TV {
    h: u32,
    m: u32,
    /// taken as written (am/pm, ":mm", "h" notation, > 12, "in the morning")
    fixed: bool,
    /// needs a cue (at/from/to/...): bare numbers, "9.30", "1730"
    weak: bool,
    /// "midnight"
    midnight: bool,
    /// fixed only by ":mm" (hour ≤ 12, no am/pm): a part of day may still make it pm
    soft: bool,
}

impl TV {
    fn bare(h: u32) -> TV {
        TV {
            h,
            m: 0,
            fixed: h > 12 || h == 0,
            weak: true,
            midnight: false,
            soft: false,
        }
    }
    /// The 1–6 → afternoon rule for hours without am/pm.
    fn resolve(self) -> NaiveTime {
        let mut h = self.h;
        if !self.fixed && (1..=6).contains(&h) {
            h += 12;
        }
        NaiveTime::from_hms_opt(h % 24, self.m, 0).unwrap()
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Role {
    Plain,
    FromNow,
    Extra,
    By,
    Shift,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Conn {
    From,
    To,
    Till,
    Through,
    Between,
    And,
    At,
    On,
    Not,
    But,
    Before,
    By,
}

#[derive(Clone, Debug, PartialEq)]
enum AK {
    Date(Result<NaiveDate, PK>),
    DRange(NaiveDate, NaiveDate),
    Time(TV),
    Pod(NaiveTime, NaiveTime),
    WholeDay,
    Dur(Duration, Role),
    Now,
    Prob(PK),
    C(Conn),
}

#[derive(Clone, Debug)]
struct Atom {
    s: usize,
    e: usize,
    /// first token index and one past the last
    ts: usize,
    te: usize,
    k: AK,
}

struct Cx<'a> {
    text: &'a str,
    t: &'a [Tok],
    today: NaiveDate,
    now_t: NaiveTime,
    tz: Tz,
}

fn ymd(y: i32, m: u32, d: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(y, m, d)
}

fn wd_of(i: u8) -> Weekday {
    match i {
        0 => Weekday::Mon,
        1 => Weekday::Tue,
        2 => Weekday::Wed,
        3 => Weekday::Thu,
        4 => Weekday::Fri,
        5 => Weekday::Sat,
        _ => Weekday::Sun,
    }
}

impl<'a> Cx<'a> {
    // ── token access ──
    fn l(&self, i: usize) -> L {
        match self.t.get(i) {
            Some(t) if t.k == K::W => t.l,
            _ => L::No,
        }
    }
    fn p(&self, i: usize, c: u8) -> bool {
        matches!(self.t.get(i), Some(t) if t.k == K::P && t.ch == c)
    }
    fn is_num(&self, i: usize) -> bool {
        matches!(self.t.get(i), Some(t) if t.k == K::N && !t.model)
    }
    fn num(&self, i: usize) -> Option<u32> {
        match self.t.get(i) {
            Some(t) if t.k == K::N && !t.model => Some(t.n),
            _ => None,
        }
    }
    fn glued(&self, i: usize) -> bool {
        self.t.get(i).is_some_and(|t| t.glued)
    }
    /// A number word or a digit number (small).
    fn numw(&self, i: usize) -> Option<(u32, usize)> {
        if let Some(n) = self.num(i) {
            return Some((n, i + 1));
        }
        if let L::Num(n) = self.l(i) {
            let n = n as u32;
            if (n == 20 || n == 30 || n == 40 || n == 50)
                && matches!(self.l(i + 1), L::Num(k) if k < 10)
            {
                if let L::Num(k) = self.l(i + 1) {
                    return Some((n + k as u32, i + 2));
                }
            }
            if (n == 20 || n == 30 || n == 40 || n == 50)
                && self.p(i + 1, b'-')
                && matches!(self.l(i + 2), L::Num(k) if k < 10)
            {
                if let L::Num(k) = self.l(i + 2) {
                    return Some((n + k as u32, i + 3));
                }
            }
            return Some((n, i + 1));
        }
        None
    }
    /// Words that make a preceding number a count, not a time ("2 A100s", "4 GPUs").
    fn blocker(&self, i: usize) -> bool {
        match self.t.get(i) {
            Some(t) if t.model => true,
            Some(t) if t.k == K::W => {
                matches!(t.l, L::Gpu | L::More | L::Of)
                    || (t.l == L::Other && self.t.get(i + 1).is_some_and(|u| u.model && u.glued))
            }
            Some(t) if t.k == K::P && t.ch == b'x' => true,
            Some(t) if t.k == K::P && (t.ch == b'%' || t.ch == b'$') => true,
            _ => false,
        }
    }

    fn date_ok(&self, d: NaiveDate) -> Result<NaiveDate, PK> {
        if d < self.today {
            Err(PK::Past)
        } else if (d - self.today).num_days() > 365 {
            Err(PK::TooFar)
        } else {
            Ok(d)
        }
    }
    fn next_wd(&self, wd: u8) -> NaiveDate {
        let cur = self.today.weekday().num_days_from_monday() as i64;
        let diff = (wd as i64 - cur).rem_euclid(7);
        self.today + Duration::days(diff)
    }
    /// Monday of the current calendar week.
    fn week_start(&self) -> NaiveDate {
        self.today - Duration::days(self.today.weekday().num_days_from_monday() as i64)
    }
    /// Month + day without a year: the next such date, today included; a date passed by at
    /// most 90 days is Past (never moved to next year); older ones are next year's.
    fn month_day(&self, m: u32, d: u32) -> Result<NaiveDate, PK> {
        if d == 0 || m == 0 || m > 12 || d > 31 {
            return Err(PK::Impossible);
        }
        let y = self.today.year();
        let this = ymd(y, m, d);
        let next = ymd(y + 1, m, d);
        match (this, next) {
            (None, None) => Err(PK::Impossible),
            (Some(x), _) if x >= self.today => self.date_ok(x),
            (Some(x), _) if (self.today - x).num_days() <= 90 => Err(PK::Past),
            (_, Some(n)) => self.date_ok(n),
            (Some(_), None) => Err(PK::Impossible), // Feb 29 passed, next year not leap
        }
    }
    fn ymd_ok(&self, y: i32, m: u32, d: u32) -> Result<NaiveDate, PK> {
        match ymd(y, m, d) {
            Some(x) => self.date_ok(x),
            None => Err(PK::Impossible),
        }
    }
    /// "the 3rd": the next day of a month with that number, today included.
    fn ordinal_day(&self, d: u32) -> Result<NaiveDate, PK> {
        if d == 0 || d > 31 {
            return Err(PK::Impossible);
        }
        let (mut y, mut m) = (self.today.year(), self.today.month());
        for _ in 0..13 {
            if let Some(x) = ymd(y, m, d).filter(|x| *x >= self.today) {
                return self.date_ok(x);
            }
            if m == 12 {
                y += 1;
                m = 1;
            } else {
                m += 1;
            }
        }
        Err(PK::Impossible)
    }

    // ── atom scanner ──
    fn atoms(&self) -> Vec<Atom> {
        let mut out: Vec<Atom> = Vec::with_capacity(8);
        let mut i = 0;
        let n = self.t.len();
        while i < n {
            let before = out.len();
            let next = self
                .numeric_date(i, &mut out)
                .or_else(|| self.holiday(i, &mut out))
                .or_else(|| self.date_words(i, &mut out))
                .or_else(|| self.time(i, &mut out))
                .or_else(|| self.duration(i, &mut out))
                .or_else(|| self.pod(i, &mut out))
                .or_else(|| self.misc(i, &mut out));
            match next {
                Some(j) if j > i => i = j,
                _ => {
                    out.truncate(before);
                    i += 1;
                }
            }
        }
        out
    }

    fn push(&self, out: &mut Vec<Atom>, ts: usize, te: usize, k: AK) {
        let s = self.t[ts].s;
        let e = self.t[te - 1].e;
        out.push(Atom { s, e, ts, te, k });
    }

    /// ISO dates and date-times, y/m/d, d.m.y, a/b[/y].
    fn numeric_date(&self, i: usize, out: &mut Vec<Atom>) -> Option<usize> {
        let t = self.t;
        if t[i].k != K::N || t[i].model {
            return None;
        }
        let a = t[i].n;
        // YYYY-MM-DD or YYYY/MM/DD
        if t[i].nd == 4
            && (self.p(i + 1, b'-') || self.p(i + 1, b'/'))
            && self.is_num(i + 2)
            && self.p(i + 3, t[i + 1].ch)
            && self.is_num(i + 4)
            && self.glued(i + 1)
            && self.glued(i + 2)
            && self.glued(i + 3)
            && self.glued(i + 4)
        {
            let (m, d) = (t[i + 2].n, t[i + 4].n);
            let date = self.ymd_ok(a as i32, m, d);
            let mut j = i + 5;
            // time part: T09:00[:00][Z|±hh:mm] or " 09:00"
            let tpos = if self.l(j) == L::T && self.glued(j) {
                Some(j + 1)
            } else if self.is_num(j) && t[j].nd <= 2 && self.p(j + 1, b':') {
                Some(j)
            } else {
                None
            };
            if let Some(k) = tpos.filter(|&k| {
                self.is_num(k) && self.p(k + 1, b':') && self.is_num(k + 2) && t[k + 2].nd == 2
            }) {
                let (h, mi) = (t[k].n, t[k + 2].n);
                j = k + 3;
                if self.p(j, b':') && self.is_num(j + 1) {
                    j += 2;
                }
                // an explicit offset ("Z", "+01:00", "-0500") is converted to the local zone
                let mut offset_min: Option<i64> = None;
                if self.l(j) == L::Z && self.glued(j) {
                    j += 1;
                    offset_min = Some(0);
                } else if (self.p(j, b'+') || self.p(j, b'-'))
                    && self.glued(j)
                    && self.is_num(j + 1)
                    // only in the strict form ("2026-12-22T10:00-05:00"): written with a
                    // space, "2026-12-22 10:00-12:00" is a range of times
                    && tpos == Some(i + 6)
                {
                    let sign = if self.p(j, b'-') { -1 } else { 1 };
                    let (oh, om, nj) = if t[j + 1].nd == 4 {
                        (t[j + 1].n / 100, t[j + 1].n % 100, j + 2)
                    } else if self.p(j + 2, b':') && self.is_num(j + 3) {
                        (t[j + 1].n, t[j + 3].n, j + 4)
                    } else {
                        (t[j + 1].n, 0, j + 2)
                    };
                    if oh <= 14 && om < 60 {
                        offset_min = Some(sign * (oh as i64 * 60 + om as i64));
                        j = nj;
                    }
                }
                if h > 23 || mi > 59 {
                    self.push(out, i, j, AK::Prob(PK::Unreadable));
                    return Some(j);
                }
                let (mut date, mut h, mut mi) = (date, h, mi);
                if let (Some(off), Some(d)) = (offset_min, ymd(a as i32, m, d)) {
                    use chrono::TimeZone;
                    let utc = d.and_time(hm(h, mi)) - Duration::minutes(off);
                    let local = self.tz.from_utc_datetime(&utc).naive_local();
                    date = self.date_ok(local.date());
                    h = local.hour();
                    mi = local.minute();
                }
                match date {
                    Ok(d) => {
                        self.push(out, i, i + 5, AK::Date(Ok(d)));
                        let a = out.len() - 1;
                        out[a].e = t[j - 1].e;
                        out[a].te = j;
                        // store the time as a separate atom sharing the span end
                        out.push(Atom {
                            s: t[k].s,
                            e: t[j - 1].e,
                            ts: k,
                            te: j,
                            k: AK::Time(TV {
                                h,
                                m: mi,
                                fixed: true,
                                weak: false,
                                midnight: false,
                                soft: false,
                            }),
                        });
                        // keep the date atom ending where the time starts
                        out[a].e = t[i + 4].e;
                        out[a].te = i + 5;
                    }
                    Err(p) => self.push(out, i, j, AK::Prob(p)),
                }
                return Some(j);
            }
            self.push(out, i, j, AK::Date(date));
            return Some(j);
        }
        // D.M.YYYY
        if t[i].nd <= 2
            && self.p(i + 1, b'.')
            && self.is_num(i + 2)
            && t[i + 2].nd <= 2
            && self.p(i + 3, b'.')
            && self.is_num(i + 4)
            && (t[i + 4].nd == 4 || t[i + 4].nd == 2)
            && self.glued(i + 1)
            && self.glued(i + 2)
            && self.glued(i + 3)
            && self.glued(i + 4)
        {
            let y = if t[i + 4].nd == 2 {
                2000 + t[i + 4].n
            } else {
                t[i + 4].n
            } as i32;
            self.push(out, i, i + 5, AK::Date(self.ymd_ok(y, t[i + 2].n, a)));
            return Some(i + 5);
        }
        // A/B[/Y]
        if t[i].nd <= 2
            && self.p(i + 1, b'/')
            && self.glued(i + 1)
            && self.glued(i + 2)
            && self.is_num(i + 2)
            && t[i + 2].nd <= 2
        {
            let b = t[i + 2].n;
            let (year, j) = if self.p(i + 3, b'/')
                && self.glued(i + 3)
                && self.is_num(i + 4)
                && self.glued(i + 4)
                && (t[i + 4].nd == 4 || t[i + 4].nd == 2)
            {
                (
                    Some(if t[i + 4].nd == 2 {
                        2000 + t[i + 4].n
                    } else {
                        t[i + 4].n
                    } as i32),
                    i + 5,
                )
            } else {
                (None, i + 3)
            };
            if year.is_none()
                && ((a == 24 && b == 7)
                    || a == 0
                    || b == 0
                    || (a <= 3 && b <= 4 && a < b)
                    || self.blocker(j))
            {
                return None; // "24/7", fractions "1/2", "2/3", counts
            }
            if year.is_none()
                && (self.l(j) == L::Hour || self.l(j) == L::Minute || self.l(j) == L::Day)
            {
                return None;
            }
            let res = |m: u32, d: u32| -> Option<Result<NaiveDate, PK>> {
                if m == 0 || m > 12 || d == 0 || d > 31 {
                    return None;
                }
                Some(match year {
                    Some(y) => self.ymd_ok(y, m, d),
                    None => self.month_day(m, d),
                })
            };
            let dm = res(b, a); // day/month
            let md = res(a, b); // month/day
            let k = match (dm, md) {
                (Some(x), None) | (None, Some(x)) => AK::Date(x),
                (Some(x), Some(y)) => {
                    if a == b {
                        AK::Date(x)
                    } else {
                        let mut c = Vec::new();
                        let raw = |m: u32, d: u32| match year {
                            Some(y) => ymd(y, m, d),
                            None => match self.month_day(m, d) {
                                Ok(v) => Some(v),
                                Err(_) => ymd(self.today.year(), m, d),
                            },
                        };
                        // bookable candidates first, nearest first; then the others (day/month
                        // before month/day)
                        let mut good: Vec<NaiveDate> = Vec::new();
                        for (ok, v) in [(x.is_ok(), raw(b, a)), (y.is_ok(), raw(a, b))] {
                            if let Some(v) = v {
                                if ok {
                                    good.push(v);
                                } else {
                                    c.push(v);
                                }
                            }
                        }
                        good.sort();
                        good.append(&mut c);
                        c = good;
                        if x.is_err() && y.is_err() && x == y {
                            AK::Date(x)
                        } else {
                            AK::Prob(PK::Ambiguous(c))
                        }
                    }
                }
                (None, None) => AK::Prob(if a <= 12 || b <= 12 {
                    PK::Impossible
                } else {
                    PK::Unreadable
                }),
            };
            self.push(out, i, j, k);
            return Some(j);
        }
        None
    }

    /// A day number: "3", "3rd", "third", "twenty-first". Returns (day, next, explicit ordinal, bad suffix).
    fn day_num(&self, i: usize, allow_words: bool) -> Option<(u32, usize, bool, bool)> {
        let t = self.t;
        if self.is_num(i) && t[i].nd <= 2 {
            let d = t[i].n;
            if let L::Sfx(s) = self.l(i + 1) {
                {
                    let want = match d % 100 {
                        11..=13 => 4,
                        _ => match d % 10 {
                            1 => 1,
                            2 => 2,
                            3 => 3,
                            _ => 4,
                        },
                    };
                    return Some((d, i + 2, true, s != want));
                }
            }
            return Some((d, i + 1, false, false));
        }
        if allow_words {
            if let L::Ord(d) = self.l(i) {
                return Some((d as u32, i + 1, true, false));
            }
            if let L::Num(n @ (20 | 30)) = self.l(i) {
                let k = if self.p(i + 1, b'-') { i + 2 } else { i + 1 };
                if let L::Ord(d @ 1..=9) = self.l(k) {
                    return Some((n as u32 + d as u32, k + 1, true, false));
                }
            }
        }
        None
    }

    /// A 4-digit year after a date: "2026", ", 2026".
    fn year_after(&self, i: usize) -> Option<(i32, usize)> {
        let k = if self.p(i, b',') { i + 1 } else { i };
        if self.is_num(k)
            && self.t[k].nd == 4
            && (1900..2200).contains(&self.t[k].n)
            && !self.p(k + 1, b':')
        {
            return Some((self.t[k].n as i32, k + 1));
        }
        None
    }

    fn md_result(&self, m: u32, d: u32, year: Option<i32>) -> Result<NaiveDate, PK> {
        match year {
            Some(y) => self.ymd_ok(y, m, d),
            None => self.month_day(m, d),
        }
    }

    /// Days of the year named by a holiday ("christmas eve", "new year's day"): the next
    /// one from today. Words are compared without apostrophes ("new year's" = "new years").
    fn holiday(&self, i: usize, out: &mut Vec<Atom>) -> Option<usize> {
        const DAYS: &[(&[&str], u32, u32)] = &[
            (&["christmas", "eve"], 12, 24),
            (&["xmas", "eve"], 12, 24),
            (&["christmas", "day"], 12, 25),
            (&["xmas", "day"], 12, 25),
            (&["christmas"], 12, 25),
            (&["xmas"], 12, 25),
            (&["boxing", "day"], 12, 26),
            (&["new", "years", "eve"], 12, 31),
            (&["new", "year", "eve"], 12, 31),
            (&["nye"], 12, 31),
            (&["new", "years", "day"], 1, 1),
            (&["new", "year", "day"], 1, 1),
        ];
        // Every token passes here: only a holiday's first word is read further.
        let first = self.t.get(i).filter(|t| t.k == K::W)?;
        let head = &self.text[first.s..first.e];
        if !["christmas", "xmas", "boxing", "new", "nye"]
            .iter()
            .any(|w| head.eq_ignore_ascii_case(w))
        {
            return None;
        }
        // The words from i on, apostrophes and their "s" folded in ("year's" → "years").
        let mut words: Vec<(String, usize)> = Vec::new();
        let mut k = i;
        while k < self.t.len() && words.len() < 3 {
            let t = &self.t[k];
            match t.k {
                K::W => {
                    let w = self.text[t.s..t.e]
                        .to_lowercase()
                        .replace(['\'', '\u{2019}'], "");
                    match words.last_mut() {
                        Some((last, end)) if w == "s" && *end + 1 == k => {
                            last.push('s');
                            *end = k + 1;
                        }
                        _ => words.push((w, k + 1)),
                    }
                }
                K::P if t.ch == b'\'' => {}
                _ => break,
            }
            k += 1;
        }
        let (end, m, d) = DAYS.iter().find_map(|(phrase, m, d)| {
            let hit =
                phrase.len() <= words.len() && phrase.iter().zip(&words).all(|(p, (w, _))| p == w);
            hit.then(|| (words[phrase.len() - 1].1, *m, *d))
        })?;
        self.push(out, i, end, AK::Date(self.month_day(m, d)));
        Some(end)
    }

    fn date_words(&self, i: usize, out: &mut Vec<Atom>) -> Option<usize> {
        let today = self.today;
        match self.l(i) {
            L::Today => {
                self.push(out, i, i + 1, AK::Date(Ok(today)));
                Some(i + 1)
            }
            // "tomorrow week" (British): a week after tomorrow.
            L::Tomorrow if self.l(i + 1) == L::Week => {
                self.push(
                    out,
                    i,
                    i + 2,
                    AK::Date(self.date_ok(today + Duration::days(8))),
                );
                Some(i + 2)
            }
            L::Tomorrow => {
                self.push(
                    out,
                    i,
                    i + 1,
                    AK::Date(self.date_ok(today + Duration::days(1))),
                );
                Some(i + 1)
            }
            L::Yesterday => {
                self.push(out, i, i + 1, AK::Date(Err(PK::Past)));
                Some(i + 1)
            }
            L::Tonight => {
                self.push(out, i, i + 1, AK::Date(Ok(today)));
                self.push(out, i, i + 1, AK::Pod(hm(17, 0), hm(21, 0)));
                Some(i + 1)
            }
            L::The | L::Day => {
                // "the day after tomorrow", "the day before yesterday", "the 3rd [of Dec]",
                // "the Friday after next", "the weekend"
                let j = if self.l(i) == L::The { i + 1 } else { i };
                if self.l(j) == L::Day && self.l(j + 1) == L::After && self.l(j + 2) == L::Tomorrow
                {
                    self.push(
                        out,
                        i,
                        j + 3,
                        AK::Date(self.date_ok(today + Duration::days(2))),
                    );
                    return Some(j + 3);
                }
                if self.l(j) == L::Day
                    && self.l(j + 1) == L::Before
                    && self.l(j + 2) == L::Yesterday
                {
                    self.push(out, i, j + 3, AK::Date(Err(PK::Past)));
                    return Some(j + 3);
                }
                if j == i {
                    return None;
                }
                if let L::Wd(w) = self.l(j) {
                    if self.l(j + 1) == L::After && self.l(j + 2) == L::Next {
                        let mut d = self.next_wd(w);
                        if d == today {
                            d += Duration::days(7);
                        }
                        self.push(out, i, j + 3, AK::Date(self.date_ok(d + Duration::days(7))));
                        return Some(j + 3);
                    }
                    return None;
                }
                if self.l(j) == L::Weekend {
                    return self.weekend(i, j + 1, false, out);
                }
                if let Some((d, k, ord, bad)) = self.day_num(j, true) {
                    if !ord && !self.is_num(j) {
                        return None;
                    }
                    if !ord {
                        // "the 3 of Dec" is fine; "the 3" alone is not a date
                        if !(self.l(k) == L::Of && matches!(self.l(k + 1), L::Month(_))) {
                            return None;
                        }
                    }
                    if bad {
                        self.push(out, i, k, AK::Prob(PK::Unreadable));
                        return Some(k);
                    }
                    return Some(self.day_then_month(i, d, k, out));
                }
                None
            }
            L::Wd(w) => self.weekday(i, i, w, None, out),
            L::On => {
                if let L::Wd(w) = self.l(i + 1) {
                    return self.weekday(i, i + 1, w, None, out);
                }
                // "on the 21st" → handled when the scanner reaches "the"; "on 21st"
                if let Some((d, k, true, bad)) = self.day_num(i + 1, false) {
                    if bad {
                        self.push(out, i, k, AK::Prob(PK::Unreadable));
                        return Some(k);
                    }
                    return Some(self.day_then_month(i, d, k, out));
                }
                if self.l(i + 1) == L::Other && self.unknown_day_word(i + 1) {
                    self.push(out, i, i + 2, AK::Prob(PK::Unreadable));
                    return Some(i + 2);
                }
                None
            }
            L::This | L::Next | L::Last => {
                let q = self.l(i);
                // "this coming Monday": one qualifier.
                let j = if q == L::This && self.l(i + 1) == L::This {
                    i + 2
                } else {
                    i + 1
                };
                match self.l(j) {
                    L::Wd(w) => self.weekday(i, j, w, Some(q), out),
                    L::Week => {
                        let ws = self.week_start();
                        match q {
                            L::Last => self.push(out, i, j + 1, AK::Date(Err(PK::Past))),
                            L::This => {
                                self.push(out, i, j + 1, AK::DRange(today, ws + Duration::days(6)))
                            }
                            _ => self.push(
                                out,
                                i,
                                j + 1,
                                AK::DRange(ws + Duration::days(7), ws + Duration::days(13)),
                            ),
                        }
                        Some(j + 1)
                    }
                    L::Weekend => match q {
                        L::Last => {
                            self.push(out, i, j + 1, AK::Date(Err(PK::Past)));
                            Some(j + 1)
                        }
                        L::This => self.weekend(i, j + 1, false, out),
                        _ => self.weekend(i, j + 1, true, out),
                    },
                    L::Month(_) if q == L::Last => None,
                    L::Past if matches!(self.l(j + 1), L::Wd(_) | L::Week | L::Weekend) => {
                        self.push(out, i, j + 2, AK::Date(Err(PK::Past)));
                        Some(j + 2)
                    }
                    L::Morning | L::Afternoon | L::Evening | L::Night if q == L::This => {
                        self.push(out, i, j, AK::Date(Ok(today)));
                        self.pod(j, out)
                    }
                    L::Morning | L::Afternoon | L::Evening | L::Night if q == L::Last => {
                        self.push(out, i, j + 1, AK::Date(Err(PK::Past)));
                        Some(j + 1)
                    }
                    _ => None,
                }
            }
            L::A => {
                // "a week on Monday", "a week from today/tomorrow/now"
                if self.l(i + 1) == L::Week {
                    let j = i + 2;
                    if let (L::On, L::Wd(w)) = (self.l(j), self.l(j + 1)) {
                        let mut d = self.next_wd(w);
                        if d == today {
                            d += Duration::days(7);
                        }
                        self.push(out, i, j + 2, AK::Date(self.date_ok(d + Duration::days(7))));
                        return Some(j + 2);
                    }
                    if self.l(j) == L::From {
                        let base = match self.l(j + 1) {
                            L::Today | L::Now => Some(today),
                            L::Tomorrow => Some(today + Duration::days(1)),
                            L::Wd(w) => Some(self.next_wd(w)),
                            _ => None,
                        };
                        if let Some(b) = base {
                            self.push(out, i, j + 2, AK::Date(self.date_ok(b + Duration::days(7))));
                            return Some(j + 2);
                        }
                    }
                }
                None
            }
            L::Ord(d) if self.l(i + 1) == L::Of && matches!(self.l(i + 2), L::Month(_)) => {
                Some(self.day_then_month(i, d as u32, i + 1, out))
            }
            // "week 50", "wk 50", "calendar week 50": week numbers differ by convention (ISO,
            // US) and people rarely know which they mean → ask
            L::Week
                if self.num(i + 1).is_some_and(|n| (1..=53).contains(&n))
                    && !matches!(self.l(i + 2), L::Hour | L::Minute | L::Day | L::Week | L::H) =>
            {
                let ts = self.vague_back(i, out);
                self.push(out, ts, i + 2, AK::Prob(PK::Vague));
                Some(i + 2)
            }
            L::MonthW => {
                // "next month", "end of the month": too vague to book; "for a month" too
                let ts = self.vague_back(i, out);
                self.push(out, ts, i + 1, AK::Prob(PK::Vague));
                Some(i + 1)
            }
            L::Month(m)
                if self
                    .day_num(i + 1 + self.p(i + 1, b'.') as usize, true)
                    .is_none()
                    && !(self.p(i + 1, b'-') && self.is_num(i + 2))
                    && self.l(i + 1) != L::The =>
            {
                // a month alone ("in December", "mid-december"): vague; "may" only after in/during
                let prev = self.l(i.wrapping_sub(1));
                if m == 5 && !matches!(prev, L::In | L::During) {
                    return None;
                }
                if matches!(prev, L::Of) && self.is_num(i.wrapping_sub(2)) {
                    return None;
                }
                let ts = self.vague_back(i, out);
                self.push(out, ts, i + 1, AK::Prob(PK::Vague));
                Some(i + 1)
            }
            L::Month(m) => {
                // Month ['.'] ['-'] Day [sfx] [,] [Year] [ - Day | to [Month] Day ]
                let mut j = i + 1;
                if self.p(j, b'.') {
                    j += 1;
                }
                if self.p(j, b'-') && self.glued(j) {
                    j += 1;
                }
                if self.l(j) == L::The {
                    j += 1;
                }
                let (d, k, _ord, bad) = self.day_num(j, true)?;
                if self.is_num(j) && self.t[j].nd > 2 {
                    return None;
                }
                if bad {
                    self.push(out, i, k, AK::Prob(PK::Unreadable));
                    return Some(k);
                }
                if !_ord && self.blocker(k) {
                    return None; // "may 2 A100s"
                }
                let m = m as u32;
                // a time right after ("Dec 3 10am", "Dec 3 at 10") is not a range end
                let (year, mut k2) = match self.year_after(k) {
                    Some((y, n)) => (Some(y), n),
                    None => (None, k),
                };
                // range: "Dec 3-5", "Dec 3 to 5", "Dec 3 to Dec 5", "Dec 3 - Dec 5"
                if let Some(r) = self.day_range_tail(i, m, d, year, k2, out) {
                    return Some(r);
                }
                if d == 0 || d > 31 {
                    self.push(out, i, k2, AK::Prob(PK::Impossible));
                    return Some(k2);
                }
                let res = self.md_result(m, d, year);
                // "Dec 3 2026" only; a weekday after is ignored
                if self.p(k2, b'.') && k2 == k {
                    k2 = k; // keep the dot out
                }
                self.push(out, i, k2, AK::Date(res));
                Some(k2)
            }
            L::Other => {
                let j = i;
                if self.unknown_day_word(j)
                    && matches!(
                        self.l(j.wrapping_sub(1)),
                        L::On | L::Next | L::This | L::Last | L::By | L::Till | L::From
                    )
                {
                    self.push(out, j, j + 1, AK::Prob(PK::Unreadable));
                    return Some(j + 1);
                }
                if self.unknown_day_word(j) && self.t[j].e - self.t[j].s >= 6 {
                    self.push(out, j, j + 1, AK::Prob(PK::Unreadable));
                    return Some(j + 1);
                }
                // "Decembruary 4": a month-looking word with a day number
                if let Some((_, k, _, _)) =
                    self.day_num(j + 1, false).filter(|_| self.month_looking(j))
                {
                    self.push(out, j, k, AK::Prob(PK::Unreadable));
                    return Some(k);
                }
                None
            }
            L::No if self.is_num(i) => {
                // "3 December", "3rd of Dec", "3-dec", "3-5 Dec", "3 to 5 December"
                let (d, k, _ord, bad) = self.day_num(i, false)?;
                let mut j = k;
                if self.l(j) == L::Of
                    || (self.p(j, b'-') && self.glued(j) && matches!(self.l(j + 1), L::Month(_)))
                {
                    j += 1;
                }
                if let L::Month(m) = self.l(j) {
                    if bad {
                        self.push(out, i, j + 1, AK::Prob(PK::Unreadable));
                        return Some(j + 1);
                    }
                    let mut e = j + 1;
                    if self.p(e, b'.') && self.glued(e) && !self.is_num(e + 1) {
                        e += 1;
                    }
                    let (year, e) = match self.year_after(e) {
                        Some((y, n)) => (Some(y), n),
                        None => (None, e),
                    };
                    self.push(out, i, e, AK::Date(self.md_result(m as u32, d, year)));
                    return Some(e);
                }
                // "3-5 Dec", "3 to 5 December"
                let range_word = self.p(k, b'-')
                    || self.l(k) == L::To
                    || self.l(k) == L::Till
                    || self.l(k) == L::Through;
                if let Some((d2, k2, _, _)) =
                    self.day_num(k + 1, false).filter(|_| range_word && !bad)
                {
                    let mut j2 = k2;
                    if self.l(j2) == L::Of {
                        j2 += 1;
                    }
                    if let L::Month(m) = self.l(j2) {
                        let (year, e) = match self.year_after(j2 + 1) {
                            Some((y, n)) => (Some(y), n),
                            None => (None, j2 + 1),
                        };
                        self.push_drange(
                            out,
                            i,
                            e,
                            self.md_result(m as u32, d, year),
                            self.md_result(m as u32, d2, year),
                        );
                        return Some(e);
                    }
                }
                if bad {
                    // "the 3st" without "the": "3st"
                    self.push(out, i, k, AK::Prob(PK::Unreadable));
                    return Some(k);
                }
                // "21st" alone (with a real suffix) → ordinal day
                if k == i + 2 && self.glued(i + 1) {
                    return Some(self.day_then_month(i, d, k, out));
                }
                None
            }
            _ => None,
        }
    }

    /// Extends a vague piece back over "for a", "next", "in the", "end of the", "mid-".
    fn vague_back(&self, i: usize, out: &mut Vec<Atom>) -> usize {
        let soft = |a: &Atom| matches!(a.k, AK::C(_)) || matches!(a.k, AK::Time(tv) if tv.weak);
        let floor = out.iter().rev().find(|a| !soft(a)).map_or(0, |a| a.te);
        let mut ts = i;
        while ts > floor && ts + 4 > i {
            let p = ts - 1;
            let ok = matches!(
                self.l(p),
                L::Next | L::This | L::Last | L::The | L::A | L::For | L::In | L::During | L::Of
            ) || (matches!(self.l(p), L::Num(_)) && p + 1 == i)
                || (self.is_num(p) && p + 1 == i)
                || (self.p(p, b'-') && p + 1 == i && self.glued(i))
                || self.t[p].k == K::W
                    && matches!(
                        self.text[self.t[p].s..self.t[p].e]
                            .to_ascii_lowercase()
                            .as_str(),
                        "end" | "mid" | "early" | "late" | "start" | "beginning"
                    );
            if !ok {
                break;
            }
            ts = p;
        }
        while out.last().is_some_and(|a| a.ts >= ts) {
            out.pop();
        }
        ts
    }

    /// After a day number (with "the"/"on" before at ts): optional "of Month [Year]" or a range.
    fn day_then_month(&self, ts: usize, d: u32, k: usize, out: &mut Vec<Atom>) -> usize {
        let mut j = k;
        if self.l(j) == L::Of {
            j += 1;
        }
        if let L::Month(m) = self.l(j) {
            let mut e = j + 1;
            if self.p(e, b'.') && !self.is_num(e + 1) {
                e += 1;
            }
            let (year, e) = match self.year_after(e) {
                Some((y, n)) => (Some(y), n),
                None => (None, e),
            };
            self.push(out, ts, e, AK::Date(self.md_result(m as u32, d, year)));
            return e;
        }
        if self.blocker(k)
            || matches!(
                self.l(k),
                L::Week
                    | L::Weekend
                    | L::Day
                    | L::Hour
                    | L::Minute
                    | L::MonthW
                    | L::Wd(_)
                    | L::Half
            )
            || self.t.get(k).is_some_and(|t| {
                t.k == K::W
                    && matches!(
                        &self.text[t.s..t.e],
                        "one" | "One" | "time" | "option" | "choice"
                    )
            })
        {
            return ts; // "the 3rd GPU", "the 2nd one": not a date
        }
        self.push(out, ts, k, AK::Date(self.ordinal_day(d)));
        k
    }

    fn push_drange(
        &self,
        out: &mut Vec<Atom>,
        ts: usize,
        te: usize,
        a: Result<NaiveDate, PK>,
        b: Result<NaiveDate, PK>,
    ) {
        let k = match (a, b) {
            (Ok(a), Ok(b)) if b >= a => AK::DRange(a, b),
            (Ok(_), Ok(_)) => AK::Prob(PK::EndBeforeStart),
            (Err(e), _) | (_, Err(e)) => AK::Prob(e),
        };
        self.push(out, ts, te, k);
    }

    /// After "Month Day [Year]" at k: "-5", "to 5", "to Dec 5", "- Dec 5".
    fn day_range_tail(
        &self,
        ts: usize,
        m: u32,
        d: u32,
        year: Option<i32>,
        k: usize,
        out: &mut Vec<Atom>,
    ) -> Option<usize> {
        let and = self.l(k) == L::And;
        if !(self.p(k, b'-') || matches!(self.l(k), L::To | L::Till | L::Through | L::And)) {
            return None;
        }
        let mut j = k + 1;
        let mut m2 = m;
        if let L::Month(mm) = self.l(j) {
            m2 = mm as u32;
            j += 1;
            if self.p(j, b'.') {
                j += 1;
            }
        } else if self.l(j) == L::The {
            j += 1;
        }
        let (d2, e, _, _) = self.day_num(j, m2 != m)?;
        if self.is_num(j) && self.t[j].nd > 2 {
            return None;
        }
        // "Dec 3 to 5pm": a time, not a day
        if matches!(
            self.l(e),
            L::Am | L::Pm | L::OClock | L::H | L::Hour | L::Minute
        ) || self.p(e, b':')
        {
            return None;
        }
        if and && !(m2 == m && d2 == d + 1) {
            return None; // "Dec 3 and 4" is a range; "Dec 3 and 9" is two days
        }
        if m2 == m && d2 <= d && !self.p(k, b'-') {
            return None;
        }
        if m2 == m && !(1..=31).contains(&d2) {
            return None;
        }
        let (year2, e) = match self.year_after(e) {
            Some((y, n)) => (Some(y), n),
            None => (year, e),
        };
        let a = self.md_result(m, d, year.or(year2));
        let mut b = self.md_result(m2, d2, year2);
        if let (Ok(x), Err(PK::Past)) = (&a, &b) {
            // "Dec 28 - Jan 3": the end rolls into next year
            if let Some(y) = ymd(x.year() + 1, m2, d2) {
                b = self.date_ok(y);
            }
        }
        self.push_drange(out, ts, e, a, b);
        Some(e)
    }

    fn weekend(&self, ts: usize, te: usize, next: bool, out: &mut Vec<Atom>) -> Option<usize> {
        let today = self.today;
        let ws = self.week_start();
        let sat = ws + Duration::days(5);
        let sun = ws + Duration::days(6);
        let k = if next {
            if today < sat {
                AK::Date(Err(PK::Ambiguous(vec![sat, sat + Duration::days(7)])))
            } else {
                AK::DRange(sat + Duration::days(7), sun + Duration::days(7))
            }
        } else {
            AK::DRange(today.max(sat), sun)
        };
        self.push(out, ts, te, k);
        Some(te)
    }

    /// A weekday at index w (ts = first token, incl. "on"/"this"/"next"/"last").
    fn weekday(
        &self,
        ts: usize,
        w: usize,
        wd: u8,
        q: Option<L>,
        out: &mut Vec<Atom>,
    ) -> Option<usize> {
        let today = self.today;
        let cur = today.weekday().num_days_from_monday() as u8;
        // "the first Monday of December", "the last friday of the month": not supported → ask
        if self.l(w + 1) == L::Of {
            let end = match (self.l(w + 2), self.l(w + 3)) {
                (L::Month(_), _) => Some(w + 3),
                (L::The, L::MonthW) => Some(w + 4),
                _ => None,
            };
            if let Some(end) = end {
                let mut ts = ts;
                while ts > 0
                    && ts + 4 > w
                    && matches!(self.l(ts - 1), L::The | L::Ord(_) | L::Last | L::Next)
                {
                    ts -= 1;
                }
                while out.last().is_some_and(|a| a.te > ts) {
                    out.pop();
                }
                self.push(out, ts, end, AK::Prob(PK::Vague));
                return Some(end);
            }
        }
        let mut e = w + 1;
        if self.p(e, b'.') && self.glued(e) {
            e += 1;
        }
        // "Friday, Dec 4" / "Friday the 4th": the explicit date wins, a mismatch is ambiguous
        {
            let mut j = e;
            if self.p(j, b',') {
                j += 1;
            }
            let mut tmp = Vec::new();
            let start = out.len();
            let _ = start;
            let r = match self.l(j) {
                L::Month(_) | L::The => self.date_words(j, &mut tmp),
                L::No if self.is_num(j) => self
                    .numeric_date(j, &mut tmp)
                    .or_else(|| self.date_words(j, &mut tmp)),
                _ => None,
            };
            if let (Some(end), Some(a), 1, false) = (r, tmp.first(), tmp.len(), q == Some(L::Last))
            {
                if let AK::Date(Ok(d)) = a.k {
                    let k = if d.weekday() == wd_of(wd) {
                        AK::Date(Ok(d))
                    } else {
                        let guess = self.next_wd(wd);
                        AK::Date(Err(PK::Ambiguous(vec![d, guess])))
                    };
                    self.push(out, ts, end, k);
                    return Some(end);
                }
                if let AK::Date(Err(_)) | AK::Prob(_) = a.k {
                    self.push(out, ts, end, a.k.clone());
                    return Some(end);
                }
            }
        }
        // "Monday week", "Friday next week", "Friday this week"
        if self.l(e) == L::Week && q.is_none() {
            let mut d = self.next_wd(wd);
            if d == today {
                d += Duration::days(7);
            }
            self.push(
                out,
                ts,
                e + 1,
                AK::Date(self.date_ok(d + Duration::days(7))),
            );
            return Some(e + 1);
        }
        if matches!(self.l(e), L::Next | L::This) && self.l(e + 1) == L::Week && q.is_none() {
            let ws = self.week_start() + Duration::days(if self.l(e) == L::Next { 7 } else { 0 });
            let d = ws + Duration::days(wd as i64);
            self.push(out, ts, e + 2, AK::Date(self.date_ok(d)));
            return Some(e + 2);
        }
        let k = match q {
            Some(L::Last) => AK::Date(Err(PK::Past)),
            Some(L::Next) => {
                let nw = self.week_start() + Duration::days(7 + wd as i64);
                if wd > cur {
                    AK::Date(Err(PK::Ambiguous(vec![self.next_wd(wd), nw])))
                } else {
                    AK::Date(self.date_ok(nw))
                }
            }
            // "this Thursday" said on a Thursday: today, or the one a week on?
            Some(L::This) if wd == cur => {
                AK::Date(Err(PK::Ambiguous(vec![today, today + Duration::days(7)])))
            }
            _ => AK::Date(Ok(self.next_wd(wd))),
        };
        self.push(out, ts, e.min(w + 1), k);
        Some(w + 1)
    }

    fn unknown_day_word(&self, i: usize) -> bool {
        matches!(self.t.get(i), Some(t) if t.k == K::W && t.l == L::Other && !t.model && t.f & DAYISH != 0)
    }

    fn month_looking(&self, i: usize) -> bool {
        matches!(self.t.get(i), Some(t) if t.k == K::W && t.l == L::Other && !t.model && t.f & MONTHISH != 0)
    }

    /// Explicit times: "9am", "9 a.m.", "9:30", "09:00", "9.30am", "0900", "17h", "9h30",
    /// "noon", "midnight", "half past 2", "quarter to 5", "9 in the morning", "8 at night",
    /// "3 o'clock".
    fn time(&self, i: usize, out: &mut Vec<Atom>) -> Option<usize> {
        let t = self.t;
        // "from 13 hour until 17 hour" (a clock hour said as in many languages): after a
        // range or clock word, a number and a singular "hour" not followed by "from",
        // "later" or the like is a time of day; no length ends "until" or starts "from".
        if let Some(tok) = t.get(i).filter(|x| x.k == K::N && x.nd <= 2 && x.n <= 24) {
            let word = |k: usize| t.get(k).map(|x| self.text[x.s..x.e].to_lowercase());
            // "until the 14 hours": a "the" may stand between the cue and the number.
            let c = if i > 1 && self.l(i - 1) == L::The {
                i - 1
            } else {
                i
            };
            let cue = c > 0 && matches!(self.l(c - 1), L::From | L::Till | L::To | L::At);
            let end_cue = c > 0 && matches!(self.l(c - 1), L::Till | L::To);
            let after = self.l(i + 2);
            let unit = word(i + 1);
            // An end is never a length: "until 17 hours" is 17:00 too.
            let hour =
                unit.as_deref() == Some("hour") || end_cue && unit.as_deref() == Some("hours");
            if cue && hour && !matches!(after, L::From | L::Later | L::Ago | L::After | L::Before) {
                let tv = TV {
                    h: tok.n % 24,
                    m: 0,
                    fixed: tok.n > 12,
                    weak: false,
                    midnight: tok.n == 24,
                    soft: false,
                };
                self.push(out, i, i + 2, AK::Time(tv));
                return Some(i + 2);
            }
        }
        match self.l(i) {
            L::Noon => {
                self.push(
                    out,
                    i,
                    i + 1,
                    AK::Time(TV {
                        h: 12,
                        m: 0,
                        fixed: true,
                        weak: false,
                        midnight: false,
                        soft: false,
                    }),
                );
                return Some(i + 1);
            }
            L::Midnight => {
                self.push(
                    out,
                    i,
                    i + 1,
                    AK::Time(TV {
                        h: 0,
                        m: 0,
                        fixed: true,
                        weak: false,
                        midnight: true,
                        soft: false,
                    }),
                );
                return Some(i + 1);
            }
            L::Half | L::Quarter => {
                let mins = if self.l(i) == L::Half { 30 } else { 15 };
                let d = self.p(i + 1, b'-') as usize; // "half-past 2"
                let (past, j) = match self.l(i + 1 + d) {
                    L::Past => (true, i + 2 + d),
                    L::To => (false, i + 2 + d),
                    _ => return None,
                };
                if self.l(i) == L::Half && !past {
                    return None;
                }
                let (h, mut e) = self.numw(j)?;
                if !(1..=12).contains(&h) {
                    return None;
                }
                let mut tv = TV::bare(h);
                tv.weak = false;
                if let Some((fix, e2)) = self.ampm(e) {
                    tv = fix_ampm(tv, fix)?;
                    e = e2;
                } else if let Some((tv2, e2)) = self.in_the(e, tv) {
                    tv = tv2;
                    e = e2;
                }
                let base = tv.resolve();
                let r = if past {
                    base + Duration::minutes(mins)
                } else {
                    base - Duration::minutes(mins)
                };
                self.push(
                    out,
                    i,
                    e,
                    AK::Time(TV {
                        h: r.hour(),
                        m: r.minute(),
                        fixed: true,
                        weak: false,
                        midnight: false,
                        soft: false,
                    }),
                );
                return Some(e);
            }
            L::Num(_) if self.l(self.numw(i)?.1) == L::Past => {
                // "twenty past three", "five past 9"
                let (mins, j) = self.numw(i)?;
                let (h, e) = self.numw(j + 1)?;
                if !matches!(mins, 5 | 10 | 20 | 25) || !(1..=12).contains(&h) {
                    return None;
                }
                let base = TV {
                    weak: false,
                    ..TV::bare(h)
                };
                let (tv, e) = match (self.ampm(e), self.in_the(e, base)) {
                    (Some((pm, e2)), _) => (fix_ampm(base, pm)?, e2),
                    (None, Some(x)) => x,
                    _ => (base, e),
                };
                let r = tv.resolve() + Duration::minutes(mins as i64);
                self.push(
                    out,
                    i,
                    e,
                    AK::Time(TV {
                        h: r.hour(),
                        m: r.minute(),
                        fixed: true,
                        weak: false,
                        midnight: false,
                        soft: false,
                    }),
                );
                return Some(e);
            }
            L::Num(_) => {
                // "two pm", "three o'clock", "eight in the evening"; bare number words are weak
                let (h, e) = self.numw(i)?;
                if !(1..=12).contains(&h) {
                    return None;
                }
                let tv = TV::bare(h);
                if let Some((fix, e2)) = self.ampm(e) {
                    self.push(out, i, e2, AK::Time(fix_ampm(tv, fix)?));
                    return Some(e2);
                }
                if self.l(e) == L::OClock {
                    self.push(out, i, e + 1, AK::Time(TV { weak: false, ..tv }));
                    return Some(e + 1);
                }
                if let Some((tv2, e2)) = self.in_the(e, tv) {
                    self.push(out, i, e2, AK::Time(tv2));
                    return Some(e2);
                }
                if self.blocker(e)
                    || matches!(
                        self.l(e),
                        L::Hour
                            | L::Minute
                            | L::Day
                            | L::Week
                            | L::A
                            | L::More
                            | L::Extra
                            | L::Half
                    )
                {
                    return None;
                }
                if matches!(
                    self.l(i.wrapping_sub(1)),
                    L::At | L::From | L::Till | L::To | L::Between | L::And | L::Through
                ) {
                    self.push(out, i, e, AK::Time(tv));
                    return Some(e);
                }
                return None;
            }
            _ => {}
        }
        if t.get(i)?.k != K::N
            || t[i].model
            || (i > 0 && t[i - 1].k == K::P && matches!(t[i - 1].ch, b'$' | b'#'))
        {
            return None;
        }
        let n = t[i].n;
        let nd = t[i].nd;
        // H:MM, H.MM
        if nd <= 2
            && (self.p(i + 1, b':') || self.p(i + 1, b'.'))
            && self.glued(i + 1)
            && self.is_num(i + 2)
            && self.glued(i + 2)
            && t[i + 2].nd == 2
        {
            let colon = self.p(i + 1, b':');
            let m = t[i + 2].n;
            let mut e = i + 3;
            let mut tv = TV {
                h: n,
                m,
                fixed: true,
                weak: !colon,
                midnight: false,
                soft: n <= 12,
            };
            if let Some((fix, e2)) = self.ampm(e) {
                e = e2;
                match fix_ampm(TV { fixed: false, ..tv }, fix) {
                    Some(x) => tv = TV { weak: false, ..x },
                    None => {
                        self.push(out, i, e, AK::Prob(PK::Unreadable));
                        return Some(e);
                    }
                }
            } else if let Some((tv2, e2)) = self.in_the(e, TV { fixed: false, ..tv }) {
                tv = TV { weak: false, ..tv2 };
                e = e2;
            } else if !colon {
                // "9.30" needs a cue; "1.5 hours" is a duration
                if matches!(self.l(e), L::Hour | L::Minute | L::Day | L::Week | L::H)
                    || self.blocker(e)
                {
                    return None;
                }
            }
            if tv.h > 24 || tv.m > 59 || (tv.h == 24 && tv.m > 0) {
                if colon {
                    self.push(out, i, e, AK::Prob(PK::Unreadable));
                    return Some(e);
                }
                return None;
            }
            if tv.h == 24 {
                tv = TV {
                    h: 0,
                    m: 0,
                    fixed: true,
                    weak: false,
                    midnight: true,
                    soft: false,
                };
            }
            self.push(out, i, e, AK::Time(tv));
            return Some(e);
        }
        // 17h, 9h30, 14h30 (not after for/in/by: a duration)
        if nd <= 2 && self.l(i + 1) == L::H && self.glued(i + 1) {
            let prev = self.l(i.wrapping_sub(1));
            if matches!(prev, L::For | L::In | L::By | L::Another | L::Extra) {
                return None;
            }
            if self.is_num(i + 2) && self.glued(i + 2) && t[i + 2].nd == 2 {
                let m = t[i + 2].n;
                if n > 23 || m > 59 {
                    self.push(out, i, i + 3, AK::Prob(PK::Unreadable));
                    return Some(i + 3);
                }
                // "2h30" after nothing: a time only if the hour looks like one
                self.push(
                    out,
                    i,
                    i + 3,
                    AK::Time(TV {
                        h: n,
                        m,
                        fixed: true,
                        weak: false,
                        midnight: false,
                        soft: false,
                    }),
                );
                return Some(i + 3);
            }
            if (13..=23).contains(&n)
                || (matches!(
                    prev,
                    L::At | L::From | L::Till | L::To | L::Between | L::And
                ) && n <= 23)
            {
                self.push(
                    out,
                    i,
                    i + 2,
                    AK::Time(TV {
                        h: n,
                        m: 0,
                        fixed: true,
                        weak: false,
                        midnight: false,
                        soft: false,
                    }),
                );
                return Some(i + 2);
            }
            return None;
        }
        // 9am, 9 a.m., 9pm
        if nd <= 2 {
            if self.l(i + 1) == L::Tonight && (1..=12).contains(&n) {
                // "9 tonight": pm; "tonight" itself is read next (today + evening)
                let h = if n == 12 { 0 } else { n + 12 };
                self.push(
                    out,
                    i,
                    i + 1,
                    AK::Time(TV {
                        h: h % 24,
                        m: 0,
                        fixed: true,
                        weak: false,
                        midnight: n == 12,
                        soft: false,
                    }),
                );
                return Some(i + 1);
            }
            if let Some((fix, e)) = self.ampm(i + 1) {
                match fix_ampm(TV::bare(n), fix) {
                    Some(tv) => self.push(out, i, e, AK::Time(TV { weak: false, ..tv })),
                    None => self.push(out, i, e, AK::Prob(PK::Unreadable)),
                }
                return Some(e);
            }
            if self.l(i + 1) == L::OClock {
                // "18 o'clock" (a 24-hour clock said in words) is 18:00
                if (13..=24).contains(&n) {
                    let tv = TV {
                        h: n % 24,
                        m: 0,
                        fixed: true,
                        weak: false,
                        midnight: n == 24,
                        soft: false,
                    };
                    self.push(out, i, i + 2, AK::Time(tv));
                    return Some(i + 2);
                }
                if n == 0 || n > 12 {
                    self.push(out, i, i + 2, AK::Prob(PK::Unreadable));
                } else {
                    self.push(
                        out,
                        i,
                        i + 2,
                        AK::Time(TV {
                            weak: false,
                            ..TV::bare(n)
                        }),
                    );
                }
                return Some(i + 2);
            }
            if let Some((tv, e)) = self
                .in_the(i + 1, TV::bare(n))
                .filter(|_| (1..=12).contains(&n))
            {
                self.push(out, i, e, AK::Time(tv));
                return Some(e);
            }
        }
        // 0900, 1730 (4 digits, 24 h): strong with a leading zero, weak otherwise; 930 weak
        let hhmm_range = |k: usize| self.is_num(k) && t[k].nd == 4;
        let dashy = self.p(i + 1, b'-') && (!hhmm_range(i + 2) || nd == 3);
        if (nd == 4 || nd == 3) && !self.p(i + 1, b'/') && !dashy && !self.p(i + 1, b'.') {
            let (h, m) = (n / 100, n % 100);
            let lead0 = self.text.as_bytes()[t[i].s] == b'0';
            if h <= 24 && m <= 59 && !(h == 24 && m > 0) && !self.blocker(i + 1) {
                if let Some((fix, e)) = self.ampm(i + 1) {
                    let tv = TV {
                        h,
                        m,
                        fixed: false,
                        weak: false,
                        midnight: false,
                        soft: false,
                    };
                    if let Some(tv) = fix_ampm(tv, fix) {
                        self.push(out, i, e, AK::Time(tv));
                        return Some(e);
                    }
                }
                let strong = nd == 4 && lead0;
                let prev = self.l(i.wrapping_sub(1));
                let cued = matches!(
                    prev,
                    L::At
                        | L::From
                        | L::Till
                        | L::To
                        | L::Between
                        | L::And
                        | L::Through
                        | L::By
                        | L::Starting
                ) || (i >= 2 && self.p(i - 1, b'-') && hhmm_range(i - 2))
                    || (self.p(i + 1, b'-') && hhmm_range(i + 2));
                // "1730 till 21h30", "tomorrow 1400 for 3 hours": a range or length next to
                // it, or a day before it, cues a 24-hour time (not after a month or a number:
                // "Dec 3 2026 for 3 hours" has a year).
                let year_like = matches!(prev, L::Month(_))
                    || (i >= 1
                        && self.is_num(i - 1)
                        && self.text.as_bytes()[t[i - 1].e - 1].is_ascii_digit());
                let near_cue = !year_like
                    && (matches!(self.l(i + 1), L::Till | L::To | L::Through | L::For)
                        || matches!(prev, L::Today | L::Tomorrow | L::Tonight | L::Wd(_)));
                if strong || cued || near_cue {
                    let mut tv = TV {
                        h,
                        m,
                        fixed: true,
                        weak: false,
                        midnight: false,
                        soft: false,
                    };
                    if h == 24 {
                        tv = TV {
                            h: 0,
                            m: 0,
                            fixed: true,
                            weak: false,
                            midnight: true,
                            soft: false,
                        };
                    }
                    self.push(out, i, i + 1, AK::Time(tv));
                    return Some(i + 1);
                }
            } else if matches!(self.l(i.wrapping_sub(1)), L::At)
                && nd == 4
                && !self.blocker(i + 1)
                && !(1900..2200).contains(&n)
            {
                self.push(out, i - 1, i + 1, AK::Prob(PK::Unreadable));
                return Some(i + 1);
            }
        }
        None
    }

    /// am/pm after a number: "am", "pm", "a.m.", "p.m.", "a", "p" (glued "9a").
    fn ampm(&self, i: usize) -> Option<(bool, usize)> {
        match self.l(i) {
            L::Am => Some((false, i + 1 + self.p(i + 1, b'.') as usize)),
            L::Pm => Some((true, i + 1 + self.p(i + 1, b'.') as usize)),
            L::A | L::P
                if self.p(i + 1, b'.')
                    && self.glued(i + 1)
                    && self.l(i + 2) == L::M
                    && self.glued(i + 2) =>
            {
                let pm = self.l(i) == L::P;
                let e = i + 3 + (self.p(i + 3, b'.') && self.glued(i + 3)) as usize;
                Some((pm, e))
            }
            L::A | L::P if self.glued(i) && self.t[i].e - self.t[i].s == 1 && self.l(i) == L::P => {
                Some((true, i + 1))
            }
            _ => None,
        }
    }

    /// "in the morning", "in the afternoon", "in the evening", "at night", "tonight" after an hour.
    fn in_the(&self, i: usize, tv: TV) -> Option<(TV, usize)> {
        let (pm, e) = if self.l(i) == L::In && self.l(i + 1) == L::The {
            match self.l(i + 2) {
                L::Morning => (false, i + 3),
                L::Afternoon | L::Evening | L::Night => (true, i + 3),
                _ => return None,
            }
        } else if self.l(i) == L::At && self.l(i + 1) == L::Night {
            (true, i + 2)
        } else {
            return None;
        };
        if tv.h > 12 {
            return None;
        }
        let h = if pm {
            if tv.h == 12 {
                12
            } else {
                tv.h + 12
            }
        } else if tv.h == 12 {
            0
        } else {
            tv.h
        };
        Some((
            TV {
                h,
                m: tv.m,
                fixed: true,
                weak: false,
                midnight: false,
                soft: false,
            },
            e,
        ))
    }

    /// Durations with their role.
    fn duration(&self, i: usize, out: &mut Vec<Atom>) -> Option<usize> {
        let t = self.t;
        let mut j = i;
        let mut role = Role::Plain;
        let mut from_now_word = false;
        match self.l(j) {
            L::For => j += 1,
            L::In => {
                role = Role::FromNow;
                j += 1
            }
            L::By => {
                role = Role::By;
                j += 1
            }
            L::Add => {
                role = Role::Extra;
                j += 1;
                // "add on an hour", "add another hour"
                if self.l(j) == L::On {
                    j += 1;
                }
            }
            _ => {}
        }
        // "move it to another day", "on another day": some other day, not one more day.
        if j == i
            && i > 0
            && matches!(self.l(i - 1), L::To | L::On)
            && self.l(j) == L::Another
            && self.l(j + 1) == L::Day
        {
            self.push(out, i, j + 2, AK::Prob(PK::Vague));
            return Some(j + 2);
        }
        // "another hour", "an extra hour", "extra 2 hours", "another 2 hours"
        let mut qty: Option<f64> = None;
        if self.l(j) == L::Another {
            role = Role::Extra;
            j += 1;
            qty = Some(1.0);
        } else if self.l(j) == L::A && self.l(j + 1) == L::Extra {
            role = Role::Extra;
            j += 2;
            qty = Some(1.0);
        } else if self.l(j) == L::Extra {
            role = Role::Extra;
            j += 1;
            qty = Some(1.0);
        }
        // "a half-day", "half a day", "half day"
        {
            let mut k = j;
            if self.l(k) == L::A {
                k += 1;
            }
            if self.l(k) == L::Half
                && (self.l(k + 1) == L::Day
                    || (self.p(k + 1, b'-') && self.l(k + 2) == L::Day)
                    || (self.l(k + 1) == L::A && self.l(k + 2) == L::Day))
            {
                let e = if self.l(k + 1) == L::Day {
                    k + 2
                } else {
                    k + 3
                };
                return Some(self.finish_dur(i, e, Duration::hours(4), role, out));
            }
        }
        // quantity
        let mut k = j;
        let mut vague = false;
        let mut num_range = false;
        if let Some(n) = self.num(k) {
            if t[k].nd > 4 {
                return None;
            }
            // decimal "1.5"
            if (self.p(k + 1, b'.')
                || (self.p(k + 1, b',') && t.get(k + 2).is_some_and(|x| x.nd == 1)))
                && self.glued(k + 1)
                && self.is_num(k + 2)
                && self.glued(k + 2)
            {
                let frac: f64 = self.text[t[k + 2].s..t[k + 2].e]
                    .parse::<f64>()
                    .unwrap_or(0.0)
                    / 10f64.powi(t[k + 2].nd as i32);
                qty = Some(n as f64 + frac);
                k += 3;
            } else if (self.p(k + 1, b'-') || self.l(k + 1) == L::To || self.l(k + 1) == L::Or)
                && self.is_num(k + 2)
                && matches!(self.l(k + 3), L::Hour | L::Minute | L::Day | L::Week)
            {
                num_range = true;
                qty = Some(t[k + 2].n as f64);
                k += 3;
            } else {
                qty = Some(n as f64);
                k += 1;
            }
        } else if let Some((n, e)) = self.numw(k).filter(|_| matches!(self.l(k), L::Num(_))) {
            qty = Some(n as f64);
            k = e;
        } else if self.l(k) == L::A && self.l(k + 1) == L::Couple && self.l(k + 2) == L::Of {
            qty = Some(2.0);
            k += 3;
        } else if self.l(k) == L::A && self.l(k + 1) == L::Couple {
            qty = Some(2.0);
            k += 2;
        } else if (self.l(k) == L::A && self.l(k + 1) == L::Few) || self.l(k) == L::Few {
            vague = true;
            qty = Some(1.0);
            k += if self.l(k) == L::A { 2 } else { 1 };
        } else if self.l(k) == L::Half && self.l(k + 1) == L::A {
            // "half an hour"
            qty = Some(0.5);
            k += 2;
        } else if self.l(k) == L::A {
            qty = Some(1.0);
            k += 1;
        } else if self.l(k) == L::Pt && self.is_num(k + 1) {
            // ISO 8601 "PT3H", "PT1H30M", "PT90M"
            let mut e = k + 1;
            let mut total = 0i64;
            let mut any = false;
            while self.is_num(e) && self.glued(e) {
                let n = t[e].n as i64;
                match self.l(e + 1) {
                    L::H => total += n * 60,
                    L::M => total += n,
                    _ => break,
                }
                any = true;
                e += 2;
            }
            if any {
                return Some(self.finish_dur(i, e, Duration::minutes(total), role, out));
            }
            return None;
        }
        let qv = qty?;
        // "one and a half hours"
        if self.l(k) == L::And && self.l(k + 1) == L::A && self.l(k + 2) == L::Half {
            qty = Some(qv + 0.5);
            k += 3;
        }
        let mut qv = qty.unwrap();
        // "3 more hours", "2 extra hours"
        if matches!(self.l(k), L::More | L::Extra) {
            role = Role::Extra;
            k += 1;
        }
        if self.p(k, b'-') && self.glued(k) {
            k += 1; // "3-hour"
        }
        let unit_min: i64 = match self.l(k) {
            L::Hour | L::H => 60,
            L::Minute => 1,
            L::M if self.glued(k) => 1,
            L::Day => 1440,
            L::Week => 10080,
            L::Fortnight => 20160,
            _ => {
                // "for 3" with nothing after → unreadable ("for 9 December" is a day)
                if i != j
                    && self.l(i) == L::For
                    && self.is_num(j)
                    && k == j + 1
                    && t[j].nd <= 3
                    && self.nothing_after(k)
                    && !matches!(self.l(k), L::Month(_))
                {
                    self.push(out, i, k, AK::Prob(PK::Unreadable));
                    return Some(k);
                }
                return None;
            }
        };
        let mut e = k + 1;
        // "an hour and a half"
        if self.l(e) == L::And && self.l(e + 1) == L::A && self.l(e + 2) == L::Half {
            qv += 0.5;
            e += 3;
        }
        let mut total = (qv * unit_min as f64).round() as i64;
        // "2 hours 30 minutes", "2h30", "2 hours and 30 mins"
        if unit_min == 60 {
            let mut f = e;
            if self.l(f) == L::And {
                f += 1;
            }
            if self.is_num(f) && t[f].nd <= 2 {
                if self.l(f + 1) == L::Minute || (self.l(f + 1) == L::M && self.glued(f + 1)) {
                    total += t[f].n as i64;
                    e = f + 2;
                } else if f == e && self.glued(f) && self.l(k) == L::H {
                    total += t[f].n as i64;
                    e = f + 1;
                }
            }
        }
        if vague || num_range {
            self.push(out, i, e, AK::Prob(PK::Vague));
            return Some(e);
        }
        // postfix: later / earlier / ago / longer / more / from now
        let d = Duration::minutes(total);
        match self.l(e) {
            L::Later => return Some(self.finish_dur(i, e + 1, d, Role::Shift, out)),
            L::Earlier => return Some(self.finish_dur(i, e + 1, -d, Role::Shift, out)),
            L::Ago => {
                self.push(out, i, e + 1, AK::Date(Err(PK::Past)));
                return Some(e + 1);
            }
            L::Longer | L::More => return Some(self.finish_dur(i, e + 1, d, Role::Extra, out)),
            L::From if matches!(self.l(e + 1), L::Now | L::Today) => {
                role = Role::FromNow;
                from_now_word = true;
                e += 2;
            }
            L::From if self.l(e + 1) == L::Tomorrow && unit_min >= 1440 => {
                let dd = self.today + Duration::days(1 + total / 1440);
                self.push(out, i, e + 2, AK::Date(self.date_ok(dd)));
                return Some(e + 2);
            }
            _ => {}
        }
        let _ = from_now_word;
        // "in 3 days" / "3 days from now" → a date
        if role == Role::FromNow && unit_min >= 1440 {
            let dd = self.today + Duration::days(total / 1440);
            self.push(out, i, e, AK::Date(self.date_ok(dd)));
            return Some(e);
        }
        // bare "3 hours" needs no cue: the unit is the cue; but "a day" alone is not a duration
        // unless preceded by for/in/by ("a day" in "twice a day")
        if i == j
            && qty == Some(1.0)
            && self.l(j) == L::A
            && role == Role::Plain
            && unit_min >= 1440
            && !matches!(self.l(i.wrapping_sub(1)), L::For)
        {
            return None;
        }
        Some(self.finish_dur(i, e, d, role, out))
    }

    fn nothing_after(&self, k: usize) -> bool {
        match self.t.get(k) {
            None => true,
            Some(t) if t.k == K::P => t.ch != b'x' && t.ch != b'%' && t.ch != b'$',
            Some(t) => {
                (t.l == L::Other && t.f & FILLER != 0)
                    || matches!(
                        t.l,
                        L::From
                            | L::At
                            | L::On
                            | L::Starting
                            | L::Today
                            | L::Tomorrow
                            | L::Wd(_)
                            | L::Next
                            | L::This
                            | L::Month(_)
                    )
            }
        }
    }

    fn finish_dur(
        &self,
        ts: usize,
        te: usize,
        d: Duration,
        role: Role,
        out: &mut Vec<Atom>,
    ) -> usize {
        self.push(out, ts, te, AK::Dur(d, role));
        te
    }

    /// Parts of day and whole days.
    fn pod(&self, i: usize, out: &mut Vec<Atom>) -> Option<usize> {
        let l = self.l(i);
        let (a, b, e) = match l {
            L::Morning => (hm(9, 0), hm(12, 0), i + 1),
            L::Afternoon => (hm(12, 0), hm(17, 0), i + 1),
            L::Evening | L::Night => (hm(17, 0), hm(21, 0), i + 1),
            L::In if self.l(i + 1) == L::The => match self.l(i + 2) {
                L::Morning => (hm(9, 0), hm(12, 0), i + 3),
                L::Afternoon => (hm(12, 0), hm(17, 0), i + 3),
                L::Evening | L::Night => (hm(17, 0), hm(21, 0), i + 3),
                _ => return None,
            },
            L::At if self.l(i + 1) == L::Night => (hm(17, 0), hm(21, 0), i + 2),
            L::Business | L::Working if matches!(self.l(i + 1), L::Hour | L::Day) => {
                (hm(9, 0), hm(17, 0), i + 2)
            }
            L::All | L::Whole | L::Full | L::The => {
                let mut k = i;
                if self.l(k) == L::The {
                    k += 1;
                }
                if !matches!(self.l(k), L::All | L::Whole | L::Full) {
                    return None;
                }
                k += 1;
                if self.p(k, b'-') {
                    k += 1;
                }
                if self.l(k) == L::Day && !matches!(self.l(k + 1), L::After | L::Before) {
                    self.push(out, i, k + 1, AK::WholeDay);
                    return Some(k + 1);
                }
                if self.l(k) == L::Week && self.l(i) == L::All {
                    // "all week": the rest of this week
                    let sun = self.week_start() + Duration::days(6);
                    self.push(out, i, k + 1, AK::DRange(self.today, sun));
                    return Some(k + 1);
                }
                return None;
            }
            L::For if self.l(i + 1) == L::The => match self.l(i + 2) {
                // "for the day" = all day; "for the week", "for the night" → ask
                L::Day if !matches!(self.l(i + 3), L::After | L::Before) => {
                    self.push(out, i, i + 3, AK::WholeDay);
                    return Some(i + 3);
                }
                L::Week | L::Night | L::MonthW => {
                    self.push(out, i, i + 3, AK::Prob(PK::Vague));
                    return Some(i + 3);
                }
                _ => return None,
            },
            L::Overnight | L::Soon | L::Sometime => {
                self.push(out, i, i + 1, AK::Prob(PK::Vague));
                return Some(i + 1);
            }
            _ => return None,
        };
        self.push(out, i, e, AK::Pod(a, b));
        Some(e)
    }

    fn misc(&self, i: usize, out: &mut Vec<Atom>) -> Option<usize> {
        let t = self.t;
        let c = match self.l(i) {
            L::From => Conn::From,
            L::Starting => {
                if self.l(i + 1) == L::At || self.l(i + 1) == L::From {
                    self.push(out, i, i + 2, AK::C(Conn::From));
                    return Some(i + 2);
                }
                Conn::From
            }
            L::Eod => {
                self.push(out, i, i + 1, AK::C(Conn::Till));
                self.push(
                    out,
                    i,
                    i + 1,
                    AK::Time(TV {
                        h: 0,
                        m: 0,
                        fixed: true,
                        weak: false,
                        midnight: true,
                        soft: false,
                    }),
                );
                return Some(i + 1);
            }
            L::Ending => {
                // "end of (the) day", "eod": until midnight
                let k = if self.l(i + 1) == L::Of {
                    if self.l(i + 2) == L::The {
                        i + 3
                    } else {
                        i + 2
                    }
                } else {
                    0
                };
                if k > 0 && self.l(k) == L::Day {
                    self.push(out, i, k, AK::C(Conn::Till));
                    self.push(
                        out,
                        k,
                        k + 1,
                        AK::Time(TV {
                            h: 0,
                            m: 0,
                            fixed: true,
                            weak: false,
                            midnight: true,
                            soft: false,
                        }),
                    );
                    return Some(k + 1);
                }
                if matches!(self.l(i + 1), L::At | L::By | L::On) {
                    self.push(out, i, i + 2, AK::C(Conn::Till));
                    return Some(i + 2);
                }
                Conn::Till
            }
            L::To => Conn::To,
            L::Till => Conn::Till,
            L::Through => Conn::Through,
            L::Between => Conn::Between,
            L::And => Conn::And,
            L::At => {
                // "at 25" → unreadable; "at 13" fine
                let bad_hour = |n: u32| {
                    t[i + 1].nd <= 2
                        && n > 24
                        && !self.blocker(i + 2)
                        && !self.p(i + 2, b'%')
                        && !matches!(self.l(i + 2), L::Other)
                };
                if self.num(i + 1).is_some_and(bad_hour) {
                    self.push(out, i, i + 2, AK::Prob(PK::Unreadable));
                    return Some(i + 2);
                }
                Conn::At
            }
            L::On => Conn::On,
            L::By => Conn::By,
            L::Not => Conn::Not,
            L::Before => Conn::Before,
            L::After => Conn::From,
            L::Rather
                if self.t.get(i + 1).is_some_and(|x| {
                    x.k == K::W && self.text[x.s..x.e].eq_ignore_ascii_case("than")
                }) =>
            {
                self.push(out, i, i + 2, AK::C(Conn::Not));
                return Some(i + 2);
            }
            L::Instead if self.l(i + 1) == L::Of => {
                self.push(out, i, i + 2, AK::C(Conn::Not));
                return Some(i + 2);
            }
            L::But => Conn::But,
            L::Now => {
                if matches!(self.l(i.wrapping_sub(1)), L::For | L::Till | L::By) {
                    return None; // "for now", "until now", "by now"
                }
                let s = if matches!(self.l(i.wrapping_sub(1)), L::Right | L::From) {
                    // "from now until 5pm": the "from" belongs to "now"
                    if out
                        .last()
                        .is_some_and(|a| a.te == i && matches!(a.k, AK::C(Conn::From)))
                    {
                        out.pop();
                    }
                    i - 1
                } else {
                    i
                };
                self.push(out, s, i + 1, AK::Now);
                return Some(i + 1);
            }
            L::Asap | L::Immediately => {
                self.push(out, i, i + 1, AK::Now);
                return Some(i + 1);
            }
            L::Right | L::Straight if self.l(i + 1) == L::Away => {
                self.push(out, i, i + 2, AK::Now);
                return Some(i + 2);
            }
            L::A if self.p(i + 1, b'.') && matches!(self.l(i + 2), L::Other) => {
                // "a.s.a.p."
                let w = &self.text[t[i].s
                    ..t.get(i + 7)
                        .map_or(self.text.len(), |x| x.s)
                        .min(self.text.len())];
                if w.to_ascii_lowercase().starts_with("a.s.a.p") {
                    let e = (i..t.len())
                        .take(8)
                        .rfind(|&k| t[k].e <= t[i].s + 8)
                        .unwrap_or(i)
                        + 1;
                    self.push(out, i, e, AK::Now);
                    return Some(e);
                }
                return None;
            }
            _ => {
                if t[i].k == K::P && t[i].ch == b'-' {
                    Conn::To
                } else if t[i].k == K::P && t[i].ch == b',' {
                    return None;
                } else if self.is_num(i)
                    && t[i].nd <= 2
                    && t[i].n <= 24
                    && !self.p(i + 1, b'.')
                    && !self.p(i + 1, b'/')
                    && !self.blocker(i + 1)
                {
                    // a bare number: an hour candidate that needs a cue
                    if matches!(
                        self.l(i + 1),
                        L::Hour
                            | L::Minute
                            | L::Day
                            | L::Week
                            | L::Month(_)
                            | L::Sfx(_)
                            | L::More
                            | L::Extra
                    ) {
                        return None;
                    }
                    self.push(out, i, i + 1, AK::Time(TV::bare(t[i].n)));
                    return Some(i + 1);
                } else {
                    return None;
                }
            }
        };
        self.push(out, i, i + 1, AK::C(c));
        Some(i + 1)
    }
}

fn hm(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap()
}

fn fix_ampm(tv: TV, pm: bool) -> Option<TV> {
    if tv.h == 0 || tv.h > 12 {
        // "13pm", "0am"
        return None;
    }
    let h = match (pm, tv.h) {
        (false, 12) => 0,
        (false, h) => h,
        (true, 12) => 12,
        (true, h) => h + 12,
    };
    Some(TV {
        h,
        m: tv.m,
        fixed: true,
        weak: false,
        midnight: false,
        soft: false,
    })
}

// ───────────────────────────── merge ─────────────────────────────

/// A point: a date and/or a time (or part of day), with its atom range.
#[derive(Clone, Debug, Default)]
struct Pt {
    date: Option<Result<NaiveDate, PK>>,
    drange: Option<(NaiveDate, NaiveDate)>,
    time: Option<TV>,
    pod: Option<(NaiveTime, NaiveTime)>,
    whole: bool,
    dspan: (usize, usize),
    tspan: (usize, usize),
    pspan: (usize, usize),
    wspan: (usize, usize),
    a0: usize,
    a1: usize,
    /// the time is a weak bare number that was accepted by a cue
    problem: Option<(PK, usize, usize)>,
}

impl Pt {
    fn is_empty(&self) -> bool {
        self.date.is_none()
            && self.drange.is_none()
            && self.time.is_none()
            && self.pod.is_none()
            && !self.whole
            && self.problem.is_none()
    }
}

impl<'a> Cx<'a> {
    /// Reads a point starting at atom k. `cued`: a preceding connector makes a bare number a time.
    fn point(&self, at: &[Atom], k: usize, cued: bool) -> Pt {
        self.point_x(at, k, cued, false)
    }

    /// `range_end`: the second half of a date range; a bare number after its date that starts
    /// a time range belongs to that time range ("Mon-Fri 9-5").
    fn point_x(&self, at: &[Atom], k: usize, cued: bool, range_end: bool) -> Pt {
        let mut p = Pt {
            a0: k,
            a1: k,
            ..Default::default()
        };
        let mut j = k;
        let mut cue = cued;
        while j < at.len() {
            // adjacency: atoms must be close (only spaces, commas, "at"/"on" connectors between)
            if j > p.a0 && !self.adjacent(&at[j - 1], &at[j]) {
                break;
            }
            match &at[j].k {
                AK::C(Conn::At) | AK::C(Conn::On) => {
                    // "at"/"on" joins a point only if something temporal follows
                    if j + 1 < at.len()
                        && self.adjacent(&at[j], &at[j + 1])
                        && matches!(
                            at[j + 1].k,
                            AK::Time(_) | AK::Date(_) | AK::DRange(..) | AK::Pod(..)
                        )
                    {
                        cue = true;
                        if p.a1 == p.a0 && j == k {
                            p.a0 = j;
                        }
                        j += 1;
                        continue;
                    }
                    break;
                }
                AK::Date(d) if p.date.is_none() && p.drange.is_none() => {
                    p.date = Some(d.clone());
                    p.dspan = (at[j].s, at[j].e);
                }
                AK::DRange(a, b) if p.date.is_none() && p.drange.is_none() => {
                    p.drange = Some((*a, *b));
                    p.dspan = (at[j].s, at[j].e);
                }
                AK::Time(tv) if p.time.is_none() => {
                    if tv.weak {
                        // a bare number is a time only with a cue: a connector, or a date just before
                        let ok = cue
                            || (p.date.is_some()
                                && j > k
                                && matches!(at[j - 1].k, AK::Date(_) | AK::Pod(..))
                                && !self.weak_is_count(at, j));
                        if !ok {
                            break;
                        }
                    }
                    if range_end
                        && !cue
                        && p.date.is_some()
                        && j + 2 < at.len()
                        && matches!(at[j + 1].k, AK::C(Conn::To | Conn::Till | Conn::Through))
                        && matches!(at[j + 2].k, AK::Time(_))
                    {
                        break;
                    }
                    p.time = Some(*tv);
                    p.tspan = (at[j].s, at[j].e);
                }
                AK::Pod(a, b) if p.pod.is_none() => {
                    p.pod = Some((*a, *b));
                    p.pspan = (at[j].s, at[j].e);
                }
                AK::WholeDay if !p.whole => {
                    p.whole = true;
                    p.wspan = (at[j].s, at[j].e);
                }
                _ => break,
            }
            cue = false;
            j += 1;
            p.a1 = j;
        }
        // a time with a part of day: the time is more precise ("tonight at 9" → 21:00)
        if let (Some(mut tv), Some((a, _))) = (p.time, p.pod) {
            if (!tv.fixed || tv.soft) && tv.h < 12 && a >= hm(12, 0) {
                tv.h += 12;
                tv.fixed = true;
            }
            tv.weak = false;
            p.time = Some(tv);
            p.pod = None;
        }
        // drop a trailing connector consumed without a following item
        if p.a1 == p.a0 {
            p.a1 = k;
        }
        p
    }

    /// "tomorrow 2" followed by a count-like word: not a time.
    fn weak_is_count(&self, at: &[Atom], j: usize) -> bool {
        let te = at[j].te;
        self.blocker(te)
            || ((self.p(te, b'-') || matches!(self.l(te), L::To | L::Or))
                && self.is_num(te + 1)
                && self.blocker(te + 2))
    }

    fn adjacent(&self, a: &Atom, b: &Atom) -> bool {
        if b.ts < a.te {
            return true; // overlapping (ISO date + time)
        }
        // only spaces or commas between
        (a.te..b.ts).all(|i| {
            (self.t[i].k == K::P && (self.t[i].ch == b',' || self.t[i].ch == b'.'))
                || (self.t[i].l == L::T && self.t[i].glued)
        })
    }

    fn merge(&self, at: &[Atom]) -> Reading {
        let mut r = Reading::default();
        let mut k = 0;
        let mut neg = false;
        while k < at.len() {
            let a = &at[k];
            match &a.k {
                AK::C(Conn::Not) => {
                    // only what directly follows: "not the 20th", not "not sure, maybe tomorrow"
                    neg = at.get(k + 1).is_some_and(|n| n.ts == a.te);
                    k += 1;
                    continue;
                }
                AK::C(Conn::But) => {
                    neg = false;
                    k += 1;
                    continue;
                }
                AK::Prob(p) => {
                    self.problem(&mut r, a.s, a.e, p.clone());
                    k += 1;
                    continue;
                }
                AK::Dur(d, role) => {
                    let kind = match role {
                        Role::Plain => MentionKind::Duration(*d),
                        Role::FromNow => MentionKind::FromNow(*d),
                        Role::Extra => MentionKind::Extra(*d),
                        Role::By => MentionKind::By(*d),
                        Role::Shift => MentionKind::Shift(*d),
                    };
                    r.mentions.push(Mention {
                        span: a.s..a.e,
                        kind,
                        negated: neg,
                    });
                    k += 1;
                    continue;
                }
                AK::Now => {
                    r.mentions.push(Mention {
                        span: a.s..a.e,
                        kind: MentionKind::FromNow(Duration::zero()),
                        negated: neg,
                    });
                    k += 1;
                    continue;
                }
                _ => {}
            }
            let next = self.group(at, k, neg, &mut r);
            if next > k {
                neg = false;
                k = next;
            } else {
                k += 1;
            }
        }
        self.finish(&mut r);
        r
    }

    fn trim(&self, sp: Range<usize>) -> Range<usize> {
        let txt = &self.text[sp.clone()];
        let junk = |c: char| c.is_whitespace() || c == ',';
        let a = txt.len() - txt.trim_start_matches(junk).len();
        let b = txt.trim_end_matches(junk).len();
        if a >= b {
            sp
        } else {
            sp.start + a..sp.start + b
        }
    }

    /// "tomorrow 9 to 5, like 4 hours": a length that disagrees with the start and end said
    /// on one day is asked, never one of the two dropped.
    fn length_agrees(&self, s: &Said, r: &mut Reading) {
        let (Some(a), Some(b), Some(len)) = (s.start, s.end, s.duration) else {
            return;
        };
        // A length of days beside hours is a repetition's span ("9-11 for 3 weeks"), read
        // elsewhere.
        if s.end_date.is_some() || b <= a || b - a == len || len >= Duration::days(1) {
            return;
        }
        let span = r
            .mentions
            .iter()
            .find(|m| !m.negated && matches!(m.kind, MentionKind::Duration(_)))
            .map(|m| m.span.clone());
        if let Some(sp) = span {
            self.problem(r, sp.start, sp.end, PK::LengthDisagrees);
        }
    }

    fn problem(&self, r: &mut Reading, s: usize, e: usize, kind: PK) {
        r.problems.push(Problem {
            span: s..e,
            text: self.text[s..e].to_string(),
            kind,
        });
    }

    /// One group at atom k: [from|between] point [(to|till|through|-|and) point] | (till|through) point.
    fn group(&self, at: &[Atom], k: usize, neg: bool, r: &mut Reading) -> usize {
        let lead = match at[k].k {
            AK::C(
                c @ (Conn::From
                | Conn::Between
                | Conn::Till
                | Conn::Through
                | Conn::To
                | Conn::Before
                | Conn::By),
            ) => Some(c),
            AK::C(Conn::At) | AK::C(Conn::On) => None,
            AK::C(_) => return k + 1,
            _ => None,
        };
        let s = at[k].s;
        let p1k = if lead.is_some() { k + 1 } else { k };
        if p1k >= at.len() || (lead.is_some() && !self.adjacent(&at[k], &at[p1k])) {
            return k + 1;
        }
        let mut p1 = self.point(at, p1k, lead.is_some() || matches!(at[k].k, AK::C(_)));
        let mut tentative = false;
        if p1.is_empty() || p1.a1 <= p1k {
            // a bare number may still start a range ("9-5", "9 till 5")
            if matches!(at[p1k].k, AK::Time(tv) if tv.weak) {
                p1 = self.point(at, p1k, true);
                tentative = true;
            } else {
                return k + 1;
            }
        }
        let mut end = p1.a1;
        let mut lead = lead;
        if lead == Some(Conn::By) {
            if tentative || (p1.time.is_some_and(|t| t.weak) && p1.date.is_none()) {
                // "by 2": 2 pm? 2 hours? 2 GPUs? → ask
                if !tentative || self.nothing_after(at[p1k].te) {
                    self.problem(r, s, at[p1.a1.max(p1k + 1) - 1].e, PK::Vague);
                    return p1.a1.max(p1k + 1);
                }
                return k + 1;
            }
            lead = Some(Conn::Till);
        }
        if lead == Some(Conn::Before) {
            if tentative {
                return k + 1;
            }
            // "before friday", "before 5pm": a deadline, not a slot → ask
            self.problem(r, s, at[end - 1].e, PK::Vague);
            return end;
        }
        // an end-only group: "until noon", "through Friday"; "to Thursday" alone is a plain
        // point ("move it to Thursday")
        if !tentative && matches!(lead, Some(Conn::Till | Conn::Through | Conn::To)) {
            if lead == Some(Conn::To) {
                if p1.date.is_none() && p1.drange.is_none() && p1.time.is_none_or(|t| t.weak) {
                    return k + 1;
                }
                self.emit_point(r, s, at[end - 1].e, &p1, neg);
                return end;
            }
            self.emit_until(r, s, at[end - 1].e, &p1, neg);
            return end;
        }
        // a range?
        if end < at.len() {
            let c = &at[end];
            let conn_ok = match c.k {
                AK::C(Conn::To | Conn::Till | Conn::Through) => lead != Some(Conn::Between),
                // "Saturday and Sunday": two consecutive days are a range
                AK::C(Conn::And) => {
                    lead == Some(Conn::Between)
                        || (p1.time.is_none()
                            && matches!(p1.date, Some(Ok(_)))
                            && end + 1 < at.len()
                            && matches!((&p1.date, &at[end + 1].k), (Some(Ok(a)), AK::Date(Ok(b))) if *b == *a + Duration::days(1))
                            && !(end + 2 < at.len()
                                && matches!(at[end + 2].k, AK::Time(_))
                                && self.adjacent(&at[end + 1], &at[end + 2])))
                }
                _ => false,
            };
            if conn_ok
                && self.adjacent(&at[end - 1], c)
                && end + 1 < at.len()
                && self.adjacent(c, &at[end + 1])
            {
                let p2 = self.point_x(at, end + 1, true, p1.time.is_none());
                let compatible = !p2.is_empty()
                    && p2.a1 > end + 1
                    && ((p1.time.is_some() && p2.time.is_some())
                        || (p1.date.is_some() || p1.drange.is_some())
                            && (p2.date.is_some() || p2.drange.is_some())
                        || (p1.time.is_some() && p2.date.is_none() && p2.time.is_some()));
                // weak-weak numeric ranges must not be counts ("2 to 3 GPUs")
                let count_like = p1.time.is_some_and(|t| t.weak)
                    && p2.time.is_some_and(|t| t.weak)
                    && self.blocker(at[p2.a1 - 1].te);
                if compatible && !count_like {
                    let e = at[p2.a1 - 1].e;
                    self.emit_range(r, s, e, &p1, &p2, at[end - 1].e, at[end].s, neg, at, lead);
                    return p2.a1;
                }
            }
        }
        if tentative {
            return k + 1;
        }
        // weak times alone never stand (a bare number without a cue)
        if p1.time.is_some_and(|t| t.weak)
            && lead.is_none()
            && p1.date.is_none()
            && p1.drange.is_none()
            && !matches!(at[p1k].k, AK::C(_))
        {
            return k + 1;
        }
        let s = if matches!(at[k].k, AK::C(Conn::At | Conn::On)) && p1.a1 > k + 1 {
            at[k].s
        } else {
            s
        };
        end = p1.a1;
        self.emit_point(r, s, at[end - 1].e, &p1, neg);
        end
    }

    fn emit_point(&self, r: &mut Reading, s: usize, e: usize, p: &Pt, neg: bool) {
        let mut kinds: Vec<(MentionKind, (usize, usize))> = Vec::new();
        if let Some(d) = &p.date {
            match d {
                Ok(d) => match p.time {
                    // "saturday at midnight": the night before Saturday or after it? People
                    // mean both; an end at midnight ("until midnight") is read elsewhere.
                    Some(tv) if tv.midnight && !neg => {
                        self.problem(r, s, e, PK::Vague);
                        return;
                    }
                    Some(tv) => {
                        let t = tv.resolve();
                        if *d == self.today && t < self.now_t && !neg {
                            self.problem(r, s, e, PK::Past);
                            return;
                        }
                        kinds.push((MentionKind::DateTime(*d, t), (s, e)));
                    }
                    None => kinds.push((MentionKind::Date(*d), p.dspan)),
                },
                Err(pk @ PK::Ambiguous(_)) => {
                    // keep what else was said ("next friday at 9": the time stands)
                    let (ds, de) = p.dspan;
                    match p.time {
                        // the date after the time: "at 9 next friday"
                        Some(tv) if de == e && ds > s => {
                            self.problem(r, ds, de, pk.clone());
                            r.mentions.push(Mention {
                                span: s..ds,
                                kind: MentionKind::Time(tv.resolve()),
                                negated: neg,
                            });
                        }
                        // the date first: "next friday at 9" (the problem takes the group's lead word)
                        Some(tv) => {
                            self.problem(r, s, de, pk.clone());
                            r.mentions.push(Mention {
                                span: de..e,
                                kind: MentionKind::Time(tv.resolve()),
                                negated: neg,
                            });
                        }
                        None => self.problem(r, s, e, pk.clone()),
                    }
                    return;
                }
                Err(pk) => {
                    self.problem(r, s, e, pk.clone());
                    return;
                }
            }
        } else if let Some(tv) = p.time {
            if tv.midnight {
                kinds.push((MentionKind::Time(hm(0, 0)), p.tspan));
            } else {
                kinds.push((MentionKind::Time(tv.resolve()), p.tspan));
            }
        }
        if let Some((a, b)) = p.drange {
            kinds.push((MentionKind::DateRange(a, b), p.dspan));
        }
        if let Some((a, b)) = p.pod {
            if p.date == Some(Ok(self.today)) && b <= self.now_t && !neg && p.time.is_none() {
                self.problem(r, s, e, PK::Past);
                return;
            }
            kinds.push((MentionKind::PartOfDay(a, b), p.pspan));
        }
        if p.whole {
            kinds.push((MentionKind::WholeDay, p.wspan));
        }
        // one piece: the whole group ("at 9", "on Friday"); several: each its own span, the
        // first one taking the group's lead word
        let single = kinds.len() == 1;
        let first = kinds.iter().map(|k| k.1 .0).min().unwrap_or(s);
        for (kind, (a, b)) in kinds {
            let span = if single || b <= a {
                s..e
            } else if a == first {
                s..b
            } else {
                a..b
            };
            r.mentions.push(Mention {
                span,
                kind,
                negated: neg,
            });
        }
    }

    fn emit_until(&self, r: &mut Reading, s: usize, e: usize, p: &Pt, neg: bool) {
        let date = match &p.date {
            Some(Ok(d)) => Some(*d),
            Some(Err(pk)) => {
                self.problem(r, s, e, pk.clone());
                return;
            }
            None => p.drange.map(|x| x.1),
        };
        let time = p
            .time
            .map(|tv| if tv.midnight { hm(0, 0) } else { tv.resolve() });
        let time = time.or(p.pod.map(|x| x.1));
        r.mentions.push(Mention {
            span: s..e,
            kind: MentionKind::Until(date, time),
            negated: neg,
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn emit_range(
        &self,
        r: &mut Reading,
        s: usize,
        e: usize,
        p1: &Pt,
        p2: &Pt,
        mid0: usize,
        mid: usize,
        neg: bool,
        _at: &[Atom],
        _lead: Option<Conn>,
    ) {
        // An ambiguous day with a range of times ("next friday 9-5", "9-5 next friday"): the
        // day is asked, the times stand (as for one time: "next friday at 9").
        let ambiguous = |p: &Pt| matches!(&p.date, Some(Err(PK::Ambiguous(_))));
        let day_of = match (ambiguous(p1), ambiguous(p2)) {
            (true, false) if p2.date.is_none() => Some(p1),
            (false, true) if p1.date.is_none() => Some(p2),
            _ => None,
        };
        if let (Some(q), Some(_), Some(_)) = (day_of, p1.time, p2.time) {
            let (ds, de) = q.dspan;
            let (a, b) = (
                Pt {
                    date: None,
                    ..p1.clone()
                },
                Pt {
                    date: None,
                    ..p2.clone()
                },
            );
            let (problem, times) = if de <= p1.tspan.0 {
                (s..de, p1.tspan.0..e)
            } else {
                (ds..de, s..p2.tspan.1.min(ds).max(s + 1))
            };
            if let Some(Err(pk)) = &q.date {
                self.problem(r, problem.start, problem.end, pk.clone());
            }
            self.emit_range(
                r,
                times.start,
                times.end,
                &a,
                &b,
                mid0,
                mid,
                neg,
                _at,
                _lead,
            );
            return;
        }
        // problems in either point
        for p in [p1, p2] {
            if let Some(Err(pk)) = &p.date {
                self.problem(r, s, e, pk.clone());
                return;
            }
        }
        let d1 = p1
            .date
            .clone()
            .map(|x| x.unwrap())
            .or(p1.drange.map(|x| x.0));
        let d2 = p2
            .date
            .clone()
            .map(|x| x.unwrap())
            .or(p2.drange.map(|x| x.1));
        // times: resolve with the range rule
        let (t1, t2) = match (p1.time, p2.time) {
            (Some(a), Some(b)) => {
                let mut ta = a.resolve();
                // "7-9pm": a bare start takes the end's pm when that keeps it before the end
                if !a.fixed && b.fixed && b.h >= 12 && a.h < 12 && a.h + 12 < b.h && ta.hour() < 12
                {
                    ta = hm(a.h + 12, a.m);
                }
                let mut tb = if b.midnight { hm(0, 0) } else { b.resolve() };
                let same_day = d2.is_none() || d2 == d1;
                // "from 17 until 9": a start on the 24-hour clock says the end is as
                // written too (so before the start, and asked), not 21:00.
                let written = self.text.get(p1.tspan.0..p1.tspan.1).unwrap_or("");
                let clock24 = a.h >= 13 && !written.contains(['a', 'p', 'A', 'P']);
                if same_day && !b.midnight && tb <= ta && !b.fixed && b.h < 12 && !clock24 {
                    tb = hm(b.h + 12, b.m);
                }
                if same_day && !b.midnight && tb <= ta {
                    self.problem(r, s, e, PK::EndBeforeStart);
                    return;
                }
                (Some(ta), Some(tb))
            }
            (a, b) => (
                a.map(|x| x.resolve()),
                b.map(|x| if x.midnight { hm(0, 0) } else { x.resolve() }),
            ),
        };
        let t1 = t1.or(p1.pod.map(|x| x.0));
        let mut d2 = d2;
        if let (Some(a), Some(b)) = (d1, d2) {
            // "from Wednesday to Monday": a weekday end rolls into the following week
            if b < a && (a - b).num_days() < 7 && matches!(self.l(_at[p2.a0].ts), L::Wd(_)) {
                d2 = Some(b + Duration::days(7));
            }
        }
        if let (Some(a), Some(b)) = (d1, d2) {
            if b < a {
                self.problem(r, s, e, PK::EndBeforeStart);
                return;
            }
            if a == self.today && t1.is_some_and(|t| t < self.now_t) && !neg {
                self.problem(r, s, e, PK::Past);
                return;
            }
            if b == a && t1.is_none() && t2.is_none() {
                r.mentions.push(Mention {
                    span: s..e,
                    kind: MentionKind::Date(a),
                    negated: neg,
                });
                return;
            }
            if t1.is_none() && t2.is_none() {
                r.mentions.push(Mention {
                    span: s..e,
                    kind: MentionKind::DateRange(a, b),
                    negated: neg,
                });
                return;
            }
            let first = match t1 {
                Some(t) => MentionKind::DateTime(a, t),
                None => MentionKind::Date(a),
            };
            r.mentions.push(Mention {
                span: s..mid0,
                kind: first,
                negated: neg,
            });
            r.mentions.push(Mention {
                span: mid..e,
                kind: MentionKind::Until(Some(b), t2),
                negated: neg,
            });
            return;
        }
        if d1.is_some() || d2.is_some() {
            // "Dec 3 at 9 to 5" → date with a time range
            let d = d1.or(d2).unwrap();
            if let (Some(a), Some(b)) = (t1, t2) {
                if d == self.today && a < self.now_t && !neg {
                    self.problem(r, s, e, PK::Past);
                    return;
                }
                let dp = if d1.is_some() { p1.dspan } else { p2.dspan };
                let (dspan, tspan) = if d1.is_some() && dp.0 <= p1.tspan.0 {
                    (s..dp.1, p1.tspan.0..e) // "tomorrow 9-5"
                } else {
                    (dp.0..dp.1, s..p2.tspan.1) // "9-5 tomorrow", "9 tomorrow - 5"
                };
                let ok = |x: &Range<usize>| x.start < x.end;
                let (dspan, tspan) = if ok(&dspan) && ok(&tspan) {
                    (dspan, tspan)
                } else {
                    (s..e, s..e)
                };
                r.mentions.push(Mention {
                    span: dspan,
                    kind: MentionKind::Date(d),
                    negated: neg,
                });
                r.mentions.push(Mention {
                    span: tspan,
                    kind: MentionKind::TimeRange(a, b),
                    negated: neg,
                });
                return;
            }
        }
        if let (Some(a), Some(b)) = (t1, t2) {
            r.mentions.push(Mention {
                span: s..e,
                kind: MentionKind::TimeRange(a, b),
                negated: neg,
            });
        }
    }

    /// Merge the mentions into `said`; apply the "earlier today" rule across pieces.
    fn finish(&self, r: &mut Reading) {
        let mut s = Said::default();
        // The message as the word checks below read it (once).
        let lower = self.text.to_ascii_lowercase();
        // parts of day first: explicit times override them
        let mut pod_end = None;
        for m in r.mentions.iter().filter(|m| !m.negated) {
            if let MentionKind::PartOfDay(a, b) = m.kind {
                s.start = Some(a);
                s.end = Some(b);
                pod_end = Some(b);
            }
        }
        let pod_start = s.start;
        for m in r.mentions.iter().filter(|m| !m.negated) {
            match &m.kind {
                MentionKind::Date(d) => s.date = Some(*d),
                MentionKind::DateRange(a, b) => {
                    s.date = Some(*a);
                    s.end_date = Some(*b);
                }
                MentionKind::Time(t) => s.start = Some(*t),
                MentionKind::TimeRange(a, b) => {
                    s.start = Some(*a);
                    if *b == hm(0, 0) {
                        s.end = None;
                        s.end_midnight = true;
                    } else {
                        s.end = Some(*b);
                        s.end_midnight = false;
                    }
                }
                MentionKind::PartOfDay(..) => {}
                MentionKind::DateTime(d, t) => {
                    s.date = Some(*d);
                    s.start = Some(*t);
                }
                MentionKind::Duration(d) => s.duration = Some(*d),
                MentionKind::FromNow(d) => s.from_now = Some(*d),
                MentionKind::Extra(d) => s.extra = Some(*d),
                MentionKind::By(d) => s.by = Some(*d),
                MentionKind::Shift(d) => s.shift = Some(*d),
                MentionKind::WholeDay => {
                    s.whole_days = true;
                    s.end_midnight = true;
                    s.end = None;
                }
                MentionKind::Until(d, t) => {
                    if let Some(d) = d {
                        s.end_date = Some(*d);
                    }
                    match t {
                        Some(t) if *t == hm(0, 0) => {
                            s.end = None;
                            s.end_midnight = true;
                        }
                        Some(t) => {
                            s.end = Some(*t);
                            s.end_midnight = false;
                        }
                        None => {}
                    }
                }
            }
        }
        // "tonight from 8", "tomorrow evening at 7": an hour without am/pm inside an evening
        // or afternoon said beside it is that part's hour (20:00), never the morning's.
        if let (Some(t), Some(a), Some(b)) = (s.start, pod_start, pod_end) {
            let am_said = lower.split(|c: char| !c.is_ascii_alphanumeric()).any(|x| {
                x == "am" || x.ends_with("am") && x.starts_with(|c: char| c.is_ascii_digit())
            }) || lower.contains("a.m");
            let pm = t + Duration::hours(12);
            let near = |x: NaiveTime| {
                x >= a - Duration::hours(1) && (b <= a || x <= b + Duration::hours(1))
            };
            if a >= hm(12, 0)
                && t < hm(12, 0)
                && t != a
                && !am_said
                && near(pm)
                && Some(t) != pod_start
            {
                s.start = Some(pm);
                if let Some(e) = s
                    .end
                    .filter(|e| *e < hm(12, 0) && *e > t && Some(*e) != pod_end)
                {
                    s.end = Some(e + Duration::hours(12));
                }
            }
        }
        // "for 1 week 2 days", "a day and 6 hours": lengths said one after the other are one
        // length, their sum (never only the last).
        let lengths: Vec<(Duration, usize, usize)> = r
            .mentions
            .iter()
            .filter(|m| !m.negated)
            .filter_map(|m| match m.kind {
                MentionKind::Duration(d) => Some((d, m.span.start, m.span.end)),
                _ => None,
            })
            .collect();
        if lengths.len() >= 2 {
            let joined = lengths.windows(2).all(|w| {
                let gap = self.text[w[0].2..w[1].1].trim().to_ascii_lowercase();
                matches!(gap.as_str(), "" | "and" | "," | "+")
            });
            if joined {
                s.duration = Some(lengths.iter().map(|(d, _, _)| *d).sum());
            }
        }
        // "start at 11 instead? end stays 5pm": two times said apart are a start and an end
        // only when words say which is the end; otherwise the later would silently replace
        // the earlier, so it is asked.
        let times: Vec<(NaiveTime, usize, usize)> = r
            .mentions
            .iter()
            .filter(|m| !m.negated)
            .filter_map(|m| match m.kind {
                MentionKind::Time(t) => Some((t, m.span.start, m.span.end)),
                _ => None,
            })
            .collect();
        let ranged = r.mentions.iter().any(|m| {
            !m.negated && matches!(m.kind, MentionKind::TimeRange(..) | MentionKind::Until(..))
        });
        if let ([first, second, ..], false) = (times.as_slice(), ranged) {
            if first.0 != second.0 {
                // "end stays 5pm", "until 6", and "the 5pm finish": words of an end before
                // or right after the time.
                // (byte windows moved to character boundaries: the text may be any UTF-8)
                let cut = |mut i: usize| {
                    while !lower.is_char_boundary(i) {
                        i -= 1;
                    }
                    i
                };
                let is_end = |(_, s, e): &(NaiveTime, usize, usize)| {
                    let before = &lower[cut(s.saturating_sub(16))..*s];
                    let after = &lower[*e..cut((*e + 10).min(lower.len()))];
                    ["end", "finish", "stop", "until", "till", "stays"]
                        .iter()
                        .any(|w| before.contains(w))
                        || ["finish", "end"]
                            .iter()
                            .any(|w| after.trim_start().starts_with(w))
                };
                let roles = (is_end(first), is_end(second));
                let (start, end) = match roles {
                    (false, true) => (first.0, second.0),
                    (true, false) => (second.0, first.0),
                    _ => (NaiveTime::MIN, NaiveTime::MIN),
                };
                if start < end {
                    s.start = Some(start);
                    s.end = Some(end);
                    s.end_midnight = false;
                } else {
                    self.problem(r, first.1, self.text.len(), PK::Vague);
                    r.problems.sort_by_key(|p| p.span.start);
                }
            }
        }
        // "tonight from 8", "tomorrow afternoon from 2": a start said inside a part of the
        // day, with no end nor length, does not say how long; the part's end would be a
        // guess, so it is asked.
        let ends_said = r.mentions.iter().any(|m| {
            !m.negated
                && matches!(
                    m.kind,
                    MentionKind::TimeRange(..) | MentionKind::Until(..) | MentionKind::Duration(_)
                )
        });
        if s.start.is_some() && s.start != pod_start && s.end == pod_end && !ends_said {
            s.end = None;
        }
        // "tomorrow morning for 2 hours": a length said gives the end, not the part of the
        // day (whose end is only the part's).
        if s.duration.is_some() && pod_end.is_some() && s.end == pod_end {
            s.end = None;
        }
        // "tomorrow afternoon for 2 hours": a length shorter than the part of the day, and no
        // time said, does not say when in the part it starts; the part's first hour would be
        // a guess, so it is asked.
        if let (Some(len), Some(a), Some(b)) = (s.duration, pod_start, pod_end) {
            let timed = r.mentions.iter().any(|m| {
                !m.negated
                    && matches!(
                        m.kind,
                        MentionKind::Time(_)
                            | MentionKind::TimeRange(..)
                            | MentionKind::DateTime(..)
                            | MentionKind::FromNow(_)
                            | MentionKind::Until(..)
                    )
            });
            let part = if b > a {
                b - a
            } else {
                b - a + Duration::days(1)
            };
            if !timed && s.start == Some(a) && len < part {
                let pieces = r.mentions.iter().filter(|m| {
                    !m.negated
                        && matches!(
                            m.kind,
                            MentionKind::PartOfDay(..) | MentionKind::Duration(_)
                        )
                });
                let (lo, hi) = pieces.fold((usize::MAX, 0), |(lo, hi), m| {
                    (lo.min(m.span.start), hi.max(m.span.end))
                });
                if lo < hi {
                    self.problem(r, lo, hi, PK::StartUnsaid);
                    r.problems.sort_by_key(|p| p.span.start);
                    s.start = None;
                }
            }
        }
        // "done by noon on dec 4, start at 8am": a start with no day of its own, before the
        // end on the day the end names, starts that day (not today, days before).
        if let (None, Some(d), Some(st), Some(en)) = (s.date, s.end_date, s.start, s.end) {
            if st < en
                && !r
                    .mentions
                    .iter()
                    .any(|m| matches!(m.kind, MentionKind::DateRange(..)))
            {
                s.date = Some(d);
                s.end_date = None;
            }
        }
        // "next week's tuesday", "next week, on Tuesday": a day inside a range of days said
        // beside it is the day meant; the range is only where to look.
        let day_inside = r.mentions.iter().filter(|m| !m.negated).any(|m| {
            matches!(m.kind, MentionKind::Date(d) | MentionKind::DateTime(d, _)
                if r.mentions.iter().any(|x| !x.negated
                    && matches!(x.kind, MentionKind::DateRange(a, b) if a <= d && d <= b)))
        });
        // "this weekend 10 to 4", "monday to wednesday 9-5": hours of the day beside a range
        // of days mean those hours each day as often as one stretch from the first day's
        // start to the last day's end → asked.
        let days = r
            .mentions
            .iter()
            .find(|m| !m.negated && matches!(m.kind, MentionKind::DateRange(a, b) if a < b));
        let hours = r
            .mentions
            .iter()
            .find(|m| !m.negated && matches!(m.kind, MentionKind::TimeRange(..)));
        // ("each weekday 9-5", "every day": a recurrence, named back as one elsewhere.)
        let recurs = ["each ", "every ", "daily", "per day"]
            .iter()
            .any(|w| lower.contains(w));
        if let (false, false, Some(d), Some(h)) = (day_inside, recurs, days, hours) {
            let (lo, hi) = (d.span.start.min(h.span.start), d.span.end.max(h.span.end));
            self.problem(r, lo, hi, PK::EachDayOrStretch);
            r.problems.sort_by_key(|p| p.span.start);
        }
        if day_inside {
            if let Some(d) = r
                .mentions
                .iter()
                .filter(|m| !m.negated)
                .find_map(|m| match m.kind {
                    MentionKind::Date(d) | MentionKind::DateTime(d, _) => Some(d),
                    _ => None,
                })
            {
                s.date = Some(d);
                s.end_date = None;
                s.whole_days = false;
                s.end_midnight = s.end_midnight && s.end.is_none() && s.start.is_none();
            }
        }
        if s.end_date.is_some()
            && s.start.is_none()
            && s.end.is_none()
            && !s.end_midnight
            && s.duration.is_none()
        {
            s.whole_days = true;
        }
        if s.whole_days
            && s.start.is_none()
            && s.end.is_none()
            && s.end_date.is_none()
            && !s.end_midnight
        {
            s.end_midnight = true;
        }
        // "today ... at 8am" said in separate pieces
        let past_today = match (s.start, pod_start) {
            (Some(t), Some(p)) if t == p => pod_end.is_some_and(|e| e <= self.now_t),
            (Some(t), _) => t < self.now_t,
            _ => false,
        };
        if s.date == Some(self.today) && past_today && s.from_now.is_none() {
            let idx: Vec<usize> = r
                .mentions
                .iter()
                .enumerate()
                .filter(|(_, m)| {
                    !m.negated
                        && matches!(
                            m.kind,
                            MentionKind::Date(_)
                                | MentionKind::Time(_)
                                | MentionKind::TimeRange(..)
                                | MentionKind::PartOfDay(..)
                                | MentionKind::DateTime(..)
                        )
                })
                .map(|(i, _)| i)
                .collect();
            if let (Some(&f), Some(&l)) = (idx.first(), idx.last()) {
                let (a, b) = (
                    r.mentions[f].span.start,
                    r.mentions[l].span.end.max(r.mentions[f].span.end),
                );
                for i in idx.iter().rev() {
                    r.mentions.remove(*i);
                }
                self.problem(r, a, b, PK::Past);
                r.problems.sort_by_key(|p| p.span.start);
                s.date = None;
                s.start = None;
                s.end = None;
                s.end_date = None;
                s.end_midnight = false;
                s.whole_days = false;
            }
        }
        // two different days said, neither negated nor a range: ask which
        {
            let mut dates: Vec<NaiveDate> = Vec::new();
            let mut sp: Option<Range<usize>> = None;
            for m in r.mentions.iter().filter(|m| !m.negated) {
                if let MentionKind::Date(d) | MentionKind::DateTime(d, _) = m.kind {
                    if !dates.contains(&d) {
                        dates.push(d);
                    }
                    sp = Some(match sp {
                        None => m.span.clone(),
                        Some(x) => x.start.min(m.span.start)..x.end.max(m.span.end),
                    });
                }
            }
            if dates.len() >= 2 {
                let sp = sp.unwrap();
                self.problem(r, sp.start, sp.end, PK::Ambiguous(dates));
            }
        }
        self.length_agrees(&s, r);
        // an end day before the start day across pieces ("next monday ... through friday")
        if let (Some(a), Some(b)) = (s.date, s.end_date) {
            if b < a && !r.problems.iter().any(|p| p.kind == PK::EndBeforeStart) {
                let mut spans = r
                    .mentions
                    .iter()
                    .filter(|m| !m.negated)
                    .map(|m| m.span.clone());
                if let Some(first) = spans.next() {
                    let sp = spans.fold(first, |x, y| x.start.min(y.start)..x.end.max(y.end));
                    self.problem(r, sp.start, sp.end, PK::EndBeforeStart);
                }
            }
        }
        // the end at or before the start across pieces ("from 5pm ... until 3pm")
        let inverted = matches!((s.start, s.end), (Some(a), Some(b)) if b <= a);
        if inverted
            && (s.end_date.is_none() || s.end_date == s.date)
            && !r.problems.iter().any(|p| p.kind == PK::EndBeforeStart)
        {
            let mut spans = r
                .mentions
                .iter()
                .filter(|m| !m.negated)
                .map(|m| m.span.clone());
            if let Some(first) = spans.next() {
                let sp = spans.fold(first, |x, y| x.start.min(y.start)..x.end.max(y.end));
                self.problem(r, sp.start, sp.end, PK::EndBeforeStart);
            }
        }
        for m in r.mentions.iter_mut() {
            m.span = self.trim(m.span.clone());
        }
        for p in r.problems.iter_mut() {
            p.span = self.trim(p.span.clone());
            p.text = self.text[p.span.clone()].to_string();
        }
        r.mentions.sort_by_key(|m| (m.span.start, m.span.end));
        r.problems.sort_by_key(|p| (p.span.start, p.span.end));
        r.said = s;
    }
}
