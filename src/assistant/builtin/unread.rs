//! The words of a message that could change what is booked but that no part of the parse
//! read: a time zone, a repetition, money, a part of a GPU, a time word the grammar left.
//! One check over the message's tokens, after every reader has marked what it consumed;
//! `dialogue::step` proposes, changes or cancels nothing while any is left, and names them
//! back instead. Words that carry no booking meaning (a story, a project name, a model size
//! in parameters) are not listed here: they cannot change what is booked.

use super::when::Said;
use super::words::{day_names, MONTHS, WEEKDAYS};
use chrono::{Datelike, Timelike};

/// What kind of meaning was left unread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnreadKind {
    /// "CET", "Pacific", "UTC+2", "Tokyo time": a zone the times may be in.
    Zone,
    /// "every Monday", "daily", "each weekday": a repeating booking.
    Repeat,
    /// "$40", "20 bucks": an amount of money whose role was not read.
    Money,
    /// "1.5", "half", "a fraction": a part of a GPU, or a number that is not whole.
    Part,
    /// A date or time word outside everything the time grammar read ("tomorrow week").
    TimeWord,
    /// "the one after my A100 booking": a booking named by its place beside another.
    Relative,
}

/// One unread piece, as typed (lowercased tokens joined by spaces).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unread {
    pub kind: UnreadKind,
    pub words: String,
}

/// Zone abbreviations people write after a time.
const ZONE_ABBREVIATIONS: &[&str] = &[
    "utc", "gmt", "cet", "cest", "eet", "eest", "wet", "west", "bst", "ist", "jst", "kst", "hkt",
    "sgt", "pst", "pdt", "pt", "est", "edt", "et", "cst", "cdt", "mst", "mdt", "akst", "hst",
    "aest", "aedt", "acst", "awst", "nzst", "nzdt", "msk", "ct", "mt",
];

/// Region words that name a zone before "time" ("Pacific time") or on their own.
const ZONE_REGIONS: &[&str] = &["pacific", "eastern", "central", "mountain", "atlantic"];

/// Places people name a zone by ("Tokyo time", "London time").
const ZONE_PLACES: &[&str] = &[
    "tokyo",
    "london",
    "paris",
    "berlin",
    "york",
    "sydney",
    "melbourne",
    "singapore",
    "seoul",
    "beijing",
    "shanghai",
    "kong",
    "mumbai",
    "delhi",
    "india",
    "indian",
    "bangalore",
    "dubai",
    "moscow",
    "madrid",
    "rome",
    "amsterdam",
    "zurich",
    "vienna",
    "prague",
    "bratislava",
    "warsaw",
    "stockholm",
    "oslo",
    "helsinki",
    "dublin",
    "lisbon",
    "chicago",
    "denver",
    "seattle",
    "francisco",
    "angeles",
    "la",
    "toronto",
    "vancouver",
    "boston",
    "paulo",
    "mexico",
    "cairo",
    "istanbul",
    "aviv",
    "johannesburg",
    "nairobi",
    "auckland",
    "honolulu",
    "hawaii",
    "alaska",
    "california",
    "japan",
    "japanese",
    "korea",
    "korean",
    "china",
    "chinese",
    "germany",
    "german",
    "france",
    "french",
    "uk",
    "british",
    "european",
    "europe",
    "american",
    "coast",
    "australia",
    "australian",
    "brazil",
    "local",
    "my",
    "our",
    "your",
    "their",
    "his",
    "her",
    "zulu",
    "universal",
    "summer",
    "winter",
    "standard",
    "daylight",
];

/// Words that make a booking repeat on their own.
const REPEAT_WORDS: &[&str] = &[
    "daily",
    "weekly",
    "nightly",
    "monthly",
    "fortnightly",
    "biweekly",
    "recurring",
    "recurrence",
    "recur",
    "recurs",
    "repeat",
    "repeating",
    "repeated",
    "repeatedly",
    "weekdays",
    "weeknights",
    "weekends",
    "mondays",
    "tuesdays",
    "wednesdays",
    "thursdays",
    "fridays",
    "saturdays",
    "sundays",
    "mornings",
    "afternoons",
    "evenings",
];

/// Time units and days that "every" / "each" / "per" make into a repetition.
const REPEAT_UNITS: &[&str] = &[
    "day",
    "days",
    "week",
    "weeks",
    "weekday",
    "weekend",
    "month",
    "morning",
    "afternoon",
    "evening",
    "night",
    "other",
    "business",
    "working",
    "mon",
    "tue",
    "tues",
    "wed",
    "thu",
    "thurs",
    "fri",
    "sat",
    "sun",
];

/// Parts of the day and spans of days; with `words::day_names`, the date and time words
/// that, left over, the grammar did not read.
const PARTS_OF_DAYS: &[&str] = &[
    "morning",
    "afternoon",
    "evening",
    "noon",
    "midday",
    "midnight",
    "fortnight",
    "weekend",
];

/// Words of money.
const MONEY_WORDS: &[&str] = &[
    "dollar", "dollars", "usd", "bucks", "euro", "euros", "eur", "pound", "pounds", "quid", "gbp",
    "chf", "francs",
];

/// The unread pieces of a message. `all` are the tokens of the whole message (repetition is
/// never read by any part of the parse, so it is looked for everywhere); `left` are the
/// tokens once the time grammar's pieces are taken out, and `read[i]` says whether a later
/// reader (models, counts, cues, references) consumed `left[i]`.
/// `gpu_at[i]` marks a model or GPU noun in `left`: a part ("1.5", "half") counts only
/// before one ("1.5 A100", "half an H100"), not in "llama 3.1".
/// A date or time word left over is read when it agrees with what the time grammar read
/// (`said`): "from 2 to 4 this afternoon" leaves "afternoon", which 14:00 agrees with.
pub fn find(
    all: &[String],
    left: &[String],
    read: &[bool],
    gpu_at: &[bool],
    said: &Said,
) -> Vec<Unread> {
    let mut out: Vec<Unread> = Vec::new();
    let mut push = |kind: UnreadKind, words: String| {
        if !out.iter().any(|u| u.kind == kind && u.words == words) {
            out.push(Unread { kind, words });
        }
    };
    for (i, t) in all.iter().enumerate() {
        let next = all.get(i + 1).map(String::as_str).unwrap_or("");
        // "the daily rate", "weekly price": a period of a price, not a repetition.
        let price_period = matches!(
            next,
            "rate" | "rates" | "price" | "prices" | "pricing" | "cost" | "costs" | "charge" | "fee"
        );
        let repeat = REPEAT_WORDS.contains(&t.as_str()) && !price_period
            || matches!(t.as_str(), "every" | "each")
                && (REPEAT_UNITS.contains(&next) || WEEKDAYS.contains(&next))
            // "8 hours a day", "2h per day"
            || matches!(t.as_str(), "a" | "per" | "each")
                && matches!(next, "day" | "week")
                && i > 0
                && matches!(all[i - 1].as_str(), "hours" | "hour" | "hrs" | "hr" | "h")
            || matches!(t.as_str(), "times" | "twice" | "once" | "thrice")
                && matches!(next, "a" | "per" | "every" | "each")
                && all
                    .get(i + 2)
                    .is_some_and(|w| matches!(w.as_str(), "week" | "day" | "month"));
        if repeat {
            let len = if REPEAT_WORDS.contains(&t.as_str()) {
                1
            } else {
                2
            };
            push(UnreadKind::Repeat, join(&all[i..(i + len).min(all.len())]));
        }
    }
    let free = |i: usize| !read.get(i).copied().unwrap_or(false) && left[i] != "|";
    for (i, t) in left.iter().enumerate() {
        if !free(i) {
            continue;
        }
        let next = left.get(i + 1).map(String::as_str).unwrap_or("");
        let prev = if i > 0 { left[i - 1].as_str() } else { "" };
        let zone_word = |w: &str| {
            ZONE_ABBREVIATIONS.contains(&w)
                || (w.starts_with("utc") || w.starts_with("gmt"))
                    && w[3..].bytes().all(|b| b.is_ascii_digit() || b == b':')
        };
        // Short ones are also words ("et", "est", "ist", "west"): a zone only after a time.
        let ambiguous = matches!(
            t.as_str(),
            "et" | "ct" | "mt" | "pt" | "wet" | "west" | "est" | "ist"
        );
        if zone_word(t) && (!ambiguous || prev == "|" || clockish(prev)) {
            push(UnreadKind::Zone, t.clone());
        } else if ZONE_REGIONS.contains(&t.as_str())
            && (matches!(next, "time" | "standard" | "daylight" | "tz") || t == "pacific")
        {
            push(UnreadKind::Zone, format!("{t} {next}").trim().to_string());
        } else if ZONE_PLACES.contains(&t.as_str())
            && matches!(next, "time" | "tz" | "timezone" | "zone")
        {
            push(UnreadKind::Zone, format!("{t} {next}"));
        } else if prev == "in" && (ZONE_PLACES.contains(&t.as_str()) || super::zone::is_place(t)) {
            // "I'm in Denver", "based in Tokyo": the times may be that place's.
            push(UnreadKind::Zone, format!("in {t}"));
        } else if matches!(t.as_str(), "timezone" | "tz") {
            push(UnreadKind::Zone, t.clone());
        } else if t.starts_with('$') || t.ends_with('$') || MONEY_WORDS.contains(&t.as_str()) {
            push(UnreadKind::Money, t.clone());
        } else if is_part(t) && gpu_at.iter().skip(i + 1).take(3).any(|g| *g) {
            push(UnreadKind::Part, t.clone());
        } else if (PARTS_OF_DAYS.contains(&t.as_str()) || day_names().any(|n| n == t))
            && !agrees(t, said)
        {
            push(UnreadKind::TimeWord, t.clone());
        }
    }
    out
}

/// Whether a date or time word agrees with what was read: a part of the day holding the
/// start, the weekday or month of the day read.
fn agrees(word: &str, said: &Said) -> bool {
    let hour = said.start.map(|t| t.hour());
    let in_part = |from: u32, to: u32| hour.is_some_and(|h| from <= h && h < to);
    let days = [said.date, said.end_date];
    let weekday = |n: u32| {
        days.iter()
            .flatten()
            .any(|d| d.weekday().num_days_from_monday() == n)
    };
    let month = |n: u32| days.iter().flatten().any(|d| d.month() == n);
    match word {
        "morning" => in_part(5, 12),
        "afternoon" => in_part(12, 18),
        "evening" => in_part(16, 23),
        "noon" | "midday" => hour == Some(12),
        "midnight" => hour == Some(0) || said.end_midnight,
        w => {
            WEEKDAYS
                .iter()
                .position(|x| *x == w)
                .is_some_and(|i| weekday(i as u32))
                || MONTHS
                    .iter()
                    .position(|x| *x == w)
                    .is_some_and(|i| month(i as u32 + 1))
        }
    }
}

/// "1.5", "0.5", "half", "quarter", "fraction": less than a whole GPU or not a whole number.
fn is_part(t: &str) -> bool {
    matches!(
        t,
        "half" | "halves" | "quarter" | "fraction" | "fractional" | "partial" | "slice"
    ) || t.contains('.')
        && t.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && t.bytes().any(|b| b.is_ascii_digit())
        && t.parse::<f64>().is_ok_and(|x| x.fract() != 0.0)
}

/// A clock-looking token ("3pm", "15:00", "9").
fn clockish(t: &str) -> bool {
    t.bytes().next().is_some_and(|b| b.is_ascii_digit())
        && t.bytes()
            .all(|b| b.is_ascii_digit() || b == b':' || b"apm".contains(&b))
}

fn join(toks: &[String]) -> String {
    toks.join(" ")
}
