//! A time zone the person names ("3pm CET", "Pacific time", "UTC+2", "13:00 Japan time"),
//! read into a `chrono_tz::Tz` so that the message's times can be read in that zone and
//! converted to the server's. A name that could mean several zones ("local time", "my
//! time", "European time") is not read here: `unread` names it back.

use super::when::Said;
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

/// A zone named in a message.
#[derive(Debug, Clone, PartialEq)]
pub struct Named {
    pub tz: Tz,
    /// The tokens that named it (lowercased), as said back.
    pub words: Vec<String>,
    /// Where the message names it (byte ranges), to be taken out before the times are read.
    pub spans: Vec<std::ops::Range<usize>>,
}

/// Abbreviations and region words, and the zone each names (in use in Nov/Dec 2026: the
/// summer-time abbreviations map to the same place, so "CEST" in December is read as
/// Central European time).
const ABBREVIATIONS: &[(&str, &str)] = &[
    ("utc", "UTC"),
    ("gmt", "UTC"),
    ("zulu", "UTC"),
    ("cet", "Europe/Paris"),
    ("cest", "Europe/Paris"),
    ("eet", "Europe/Athens"),
    ("eest", "Europe/Athens"),
    ("wet", "Europe/Lisbon"),
    ("west", "Europe/Lisbon"),
    ("bst", "Europe/London"),
    ("ist", "Asia/Kolkata"),
    ("jst", "Asia/Tokyo"),
    ("kst", "Asia/Seoul"),
    ("hkt", "Asia/Hong_Kong"),
    ("sgt", "Asia/Singapore"),
    ("pst", "America/Los_Angeles"),
    ("pdt", "America/Los_Angeles"),
    ("pt", "America/Los_Angeles"),
    ("pacific", "America/Los_Angeles"),
    ("est", "America/New_York"),
    ("edt", "America/New_York"),
    ("et", "America/New_York"),
    ("eastern", "America/New_York"),
    ("cst", "America/Chicago"),
    ("cdt", "America/Chicago"),
    ("ct", "America/Chicago"),
    ("central", "America/Chicago"),
    ("mst", "America/Denver"),
    ("mdt", "America/Denver"),
    ("mt", "America/Denver"),
    ("mountain", "America/Denver"),
    ("akst", "America/Anchorage"),
    ("hst", "Pacific/Honolulu"),
    ("aest", "Australia/Sydney"),
    ("aedt", "Australia/Sydney"),
    ("acst", "Australia/Adelaide"),
    ("awst", "Australia/Perth"),
    ("nzst", "Pacific/Auckland"),
    ("nzdt", "Pacific/Auckland"),
    ("msk", "Europe/Moscow"),
];

/// Whether `word` (lowercased) is a place whose zone is known ("denver").
pub fn is_place(word: &str) -> bool {
    PLACES.iter().any(|(p, _)| *p == word)
}

/// Places (the word before "time"), and their zone.
const PLACES: &[(&str, &str)] = &[
    ("tokyo", "Asia/Tokyo"),
    ("japan", "Asia/Tokyo"),
    ("japanese", "Asia/Tokyo"),
    ("seoul", "Asia/Seoul"),
    ("korea", "Asia/Seoul"),
    ("korean", "Asia/Seoul"),
    ("beijing", "Asia/Shanghai"),
    ("shanghai", "Asia/Shanghai"),
    ("china", "Asia/Shanghai"),
    ("chinese", "Asia/Shanghai"),
    ("kong", "Asia/Hong_Kong"),
    ("singapore", "Asia/Singapore"),
    ("mumbai", "Asia/Kolkata"),
    ("delhi", "Asia/Kolkata"),
    ("bangalore", "Asia/Kolkata"),
    ("india", "Asia/Kolkata"),
    ("indian", "Asia/Kolkata"),
    ("dubai", "Asia/Dubai"),
    ("sydney", "Australia/Sydney"),
    ("melbourne", "Australia/Melbourne"),
    ("perth", "Australia/Perth"),
    ("auckland", "Pacific/Auckland"),
    ("london", "Europe/London"),
    ("uk", "Europe/London"),
    ("british", "Europe/London"),
    ("dublin", "Europe/Dublin"),
    ("lisbon", "Europe/Lisbon"),
    ("paris", "Europe/Paris"),
    ("france", "Europe/Paris"),
    ("french", "Europe/Paris"),
    ("berlin", "Europe/Berlin"),
    ("germany", "Europe/Berlin"),
    ("german", "Europe/Berlin"),
    ("madrid", "Europe/Madrid"),
    ("rome", "Europe/Rome"),
    ("amsterdam", "Europe/Amsterdam"),
    ("zurich", "Europe/Zurich"),
    ("vienna", "Europe/Vienna"),
    ("prague", "Europe/Prague"),
    ("bratislava", "Europe/Bratislava"),
    ("warsaw", "Europe/Warsaw"),
    ("stockholm", "Europe/Stockholm"),
    ("oslo", "Europe/Oslo"),
    ("helsinki", "Europe/Helsinki"),
    ("athens", "Europe/Athens"),
    ("istanbul", "Europe/Istanbul"),
    ("moscow", "Europe/Moscow"),
    ("cairo", "Africa/Cairo"),
    ("johannesburg", "Africa/Johannesburg"),
    ("nairobi", "Africa/Nairobi"),
    ("york", "America/New_York"),
    ("boston", "America/New_York"),
    ("toronto", "America/Toronto"),
    ("chicago", "America/Chicago"),
    ("denver", "America/Denver"),
    ("seattle", "America/Los_Angeles"),
    ("angeles", "America/Los_Angeles"),
    ("francisco", "America/Los_Angeles"),
    ("california", "America/Los_Angeles"),
    ("vancouver", "America/Vancouver"),
    ("mexico", "America/Mexico_City"),
    ("paulo", "America/Sao_Paulo"),
    ("brazil", "America/Sao_Paulo"),
    ("hawaii", "Pacific/Honolulu"),
    ("honolulu", "Pacific/Honolulu"),
    ("alaska", "America/Anchorage"),
    ("utc", "UTC"),
    ("gmt", "UTC"),
    ("universal", "UTC"),
];

/// Short abbreviations that are also words ("et", "est", "ist", "west"): a zone only right
/// after a time or before "time".
const AMBIGUOUS: &[&str] = &[
    "et", "ct", "mt", "pt", "wet", "west", "est", "ist", "central",
];

/// The one zone a message names, if it names exactly one that can be read. `text` is the
/// message (for offsets: "UTC+2" keeps its sign only there), `toks` its tokens.
pub fn named(text: &str, toks: &[String]) -> Option<Named> {
    let mut found: Vec<Named> = offsets(text);
    for (i, t) in toks.iter().enumerate() {
        let next = toks.get(i + 1).map(String::as_str).unwrap_or("");
        let prev = if i > 0 { toks[i - 1].as_str() } else { "" };
        let time_next = matches!(next, "time" | "tz" | "timezone" | "zone" | "standard");
        // "utc+2": read from the text above.
        let offset_follows = matches!(t.as_str(), "utc" | "gmt")
            && (next.bytes().all(|b| b.is_ascii_digit()) && !next.is_empty() || next == "more");
        if offset_follows
            || t.starts_with("utc") && t.len() > 3
            || t.starts_with("gmt") && t.len() > 3
        {
            continue;
        }
        let mut words = vec![t.clone()];
        if time_next {
            words.push(next.to_string());
        }
        let tz: Option<Tz> = if let Some((_, name)) = ABBREVIATIONS.iter().find(|(a, _)| a == t) {
            let ok = !AMBIGUOUS.contains(&t.as_str()) || time_next || clockish(prev);
            ok.then(|| name.parse().ok()).flatten()
        } else if time_next {
            PLACES
                .iter()
                .find(|(p, _)| p == t)
                .and_then(|(_, name)| name.parse().ok())
        } else {
            None
        };
        if let Some(tz) = tz {
            if !found.iter().any(|f| f.tz == tz) {
                let spans = phrase_spans(text, &words.join(" "));
                found.push(Named { tz, words, spans });
            }
        }
    }
    match found.len() {
        1 => found.pop(),
        _ => None,
    }
}

/// "UTC+2", "GMT -5", "utc+02:00": whole-hour offsets, as the Etc zone of that offset
/// (whose sign the tz database reverses). The words are the tokens they leave ("utc", "2").
fn offsets(text: &str) -> Vec<Named> {
    let lower = text.to_lowercase();
    let mut out: Vec<Named> = Vec::new();
    if lower.len() != text.len() {
        return out;
    }
    for prefix in ["utc", "gmt"] {
        for (at, _) in lower.match_indices(prefix) {
            let rest = lower[at + 3..].trim_start();
            let sign = match rest.chars().next() {
                Some('+') => 1,
                Some('-') | Some('\u{2212}') | Some('\u{2013}') => -1,
                _ => continue,
            };
            let body = &rest[rest.chars().next().map_or(0, char::len_utf8)..];
            let digits: String = body.chars().take_while(char::is_ascii_digit).collect();
            let Ok(hours) = digits.parse::<i32>() else {
                continue;
            };
            let after = &body[digits.len()..];
            // "+05:30": only whole hours are read.
            if after.starts_with(':') && !after.starts_with(":00") || hours > 14 {
                continue;
            }
            let name = match sign * hours {
                0 => "Etc/GMT".to_string(),
                h if h > 0 => format!("Etc/GMT-{h}"),
                h => format!("Etc/GMT+{}", -h),
            };
            if let Ok(tz) = name.parse::<Tz>() {
                if !out.iter().any(|n| n.tz == tz) {
                    let end = text.len() - after.len();
                    out.push(Named {
                        tz,
                        words: vec![lower[at..end].to_string()],
                        spans: std::iter::once(at..end).collect(),
                    });
                }
            }
        }
    }
    out
}

/// Where `phrase` (lowercase words, one space between) occurs in `text` as whole words.
fn phrase_spans(text: &str, phrase: &str) -> Vec<std::ops::Range<usize>> {
    let lower = text.to_lowercase();
    if lower.len() != text.len() {
        return Vec::new();
    }
    let boundary = |i: usize| {
        lower[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric())
    };
    lower
        .match_indices(phrase)
        .map(|(at, p)| at..at + p.len())
        .filter(|r| {
            boundary(r.start)
                && lower[r.end..]
                    .chars()
                    .next()
                    .is_none_or(|c| !c.is_alphanumeric())
        })
        .collect()
}

/// A clock-looking token ("3pm", "15:00", "9"), or the mark left where the time grammar
/// took a time out.
fn clockish(t: &str) -> bool {
    t == "|"
        || t.bytes().next().is_some_and(|b| b.is_ascii_digit())
            && t.bytes()
                .all(|b| b.is_ascii_digit() || b == b':' || b"apm".contains(&b))
}

/// Rewrites what was said about time, read in the person's zone `from`, as the server's
/// zone `to` reads it. Returns false when that cannot be done without guessing: a time of
/// day with no day ("at 3pm CET" — which day it falls on in the server's zone depends on the
/// day), or a day with no time (its 09:00 default is the server's).
pub fn to_server(said: &mut Said, from: Tz, to: Tz, at: DateTime<Utc>) -> bool {
    if from.offset_from_utc_datetime(&at.naive_utc()).fix()
        == to.offset_from_utc_datetime(&at.naive_utc()).fix()
    {
        return true;
    }
    if said.from_now.is_some() && said.date.is_none() && said.start.is_none() {
        return true;
    }
    let Some(date) = said.date else {
        return said.start.is_none() && said.end.is_none() && !said.whole_days;
    };
    let (start, end_day_time) = if said.whole_days && said.start.is_none() {
        let last = said.end_date.unwrap_or(date);
        (
            NaiveTime::MIN,
            Some((last + Duration::days(1), NaiveTime::MIN)),
        )
    } else {
        let Some(start) = said.start else {
            return false;
        };
        let end_day = said.end_date.unwrap_or(date);
        let end = if said.end_midnight {
            Some((end_day + Duration::days(1), NaiveTime::MIN))
        } else {
            said.end.map(|e| (end_day, e))
        };
        (start, end)
    };
    let convert = |d: NaiveDate, t: NaiveTime| -> Option<NaiveDateTime> {
        let local = from.from_local_datetime(&d.and_time(t)).earliest()?;
        Some(local.with_timezone(&to).naive_local())
    };
    let Some(s) = convert(date, start) else {
        return false;
    };
    let e = match end_day_time {
        Some((d, t)) => match convert(d, t) {
            Some(e) => Some(e),
            None => return false,
        },
        None => None,
    };
    said.date = Some(s.date());
    said.start = Some(s.time());
    said.whole_days = false;
    said.end_midnight = false;
    said.end = e.map(|e| e.time());
    said.end_date = e.map(|e| e.date()).filter(|d| *d != s.date());
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assistant::builtin::words::tokens;

    fn zone(text: &str) -> Option<String> {
        named(text, &tokens(text)).map(|n| n.tz.name().to_string())
    }

    #[test]
    fn zones_by_abbreviation_offset_and_place() {
        assert_eq!(zone("3pm CET").as_deref(), Some("Europe/Paris"));
        assert_eq!(
            zone("at 9 pacific time").as_deref(),
            Some("America/Los_Angeles")
        );
        assert_eq!(zone("13:00 Japan time").as_deref(), Some("Asia/Tokyo"));
        assert_eq!(zone("10am est").as_deref(), Some("America/New_York"));
        assert_eq!(zone("sat 10:00-14:00 utc").as_deref(), Some("UTC"));
        assert_eq!(
            zone("v100 tomorrow 9-5 UTC+2").as_deref(),
            Some("Etc/GMT-2")
        );
        assert_eq!(zone("9am GMT-5").as_deref(), Some("Etc/GMT+5"));
    }

    #[test]
    fn words_that_only_look_like_zones_are_not_zones() {
        assert_eq!(zone("the best west wing"), None);
        assert_eq!(zone("my local time"), None);
        assert_eq!(zone("in central london time or tokyo time"), None);
    }
}
