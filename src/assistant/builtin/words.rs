//! Tokens and the small vocabularies the built-in assistant understands.

/// Splits a message into lowercase tokens. Sentence punctuation separates tokens; `:`, `-`,
/// `.` and `/` stay inside a token (times, ranges, dates, decimals) but not at its ends.
pub fn tokens(text: &str) -> Vec<String> {
    let mut cleaned = String::with_capacity(text.len() + 8);
    let mut prev = None;
    for (k, c) in text.char_indices() {
        // "h100*2": a star between a name and a number is a times sign.
        let times_sign = c == '*'
            && prev.is_some_and(char::is_alphanumeric)
            && text[k + 1..].starts_with(|n: char| n.is_ascii_digit());
        prev = Some(c);
        if times_sign {
            cleaned.push_str(" x");
            continue;
        }
        let c = match c {
            '\u{2019}' | '\u{2018}' => '\'',
            '\u{2013}' | '\u{2014}' => '-',
            // "H100 ×2"
            '\u{00d7}' => 'x',
            c => c,
        };
        if c == '👍' {
            cleaned.push_str(" 👍 ");
        } else if c == '|' {
            // A boundary left where the time grammar took words out.
            cleaned.push_str(" | ");
        } else if c.is_alphanumeric() || ":-./'$@".contains(c) {
            cleaned.extend(c.to_lowercase());
        } else {
            cleaned.push(' ');
        }
    }
    cleaned
        .split_whitespace()
        .map(|t| t.trim_matches(|c: char| ".:/'-@".contains(c)).to_string())
        .filter(|t| !t.is_empty())
        .flat_map(split_contractions)
        .fold(Vec::new(), |mut acc: Vec<String>, t| {
            // "9 am" → "9am".
            let meridiem = matches!(t.as_str(), "am" | "pm" | "a.m" | "p.m");
            match acc.last_mut() {
                Some(last)
                    if meridiem
                        && !last.is_empty()
                        && last.bytes().all(|b| b.is_ascii_digit() || b == b':') =>
                {
                    last.push_str(&t)
                }
                _ => acc.push(t),
            }
            acc
        })
        .into_iter()
        .flat_map(|t| {
            // "4xa100" → "4x", "a100": a count glued to a model name.
            let digits = t.bytes().take_while(u8::is_ascii_digit).count();
            if (1..=2).contains(&digits)
                && t[digits..].starts_with('x')
                && t.len() > digits + 2
                && t.as_bytes()[digits + 1].is_ascii_alphabetic()
                && t[digits + 1..].bytes().any(|b| b.is_ascii_digit())
            {
                return vec![t[..=digits].to_string(), t[digits + 1..].to_string()];
            }
            // "free-now" → "free", "now"; "9-17", "a100-80gb" and "2026-12-03" stay whole.
            if t.contains('-') && !t.chars().any(|c| c.is_ascii_digit()) {
                t.split('-')
                    .filter(|p| !p.is_empty())
                    .map(str::to_string)
                    .collect()
            } else {
                vec![t]
            }
        })
        .collect()
}

/// "i'd" → "i", "d"; "what's" → "what", "s"; "4090's" → "4090".
fn split_contractions(t: String) -> Vec<String> {
    match t.split_once('\'') {
        Some((a, "s")) if a.chars().any(|c| c.is_ascii_digit()) => vec![a.to_string()],
        Some((a, b)) if !a.is_empty() && !b.is_empty() => vec![a.to_string(), b.to_string()],
        _ => vec![t.replace('\'', "")],
    }
}

/// The days of the week, Monday first.
pub const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// The months, January first.
pub const MONTHS: [&str; 12] = [
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

/// Names of days: relative ones, weekdays and months ("may" left out: it is mostly a verb).
pub fn day_names() -> impl Iterator<Item = &'static str> {
    ["today", "tomorrow", "tonight", "yesterday"]
        .into_iter()
        .chain(WEEKDAYS)
        .chain(MONTHS.into_iter().filter(|m| *m != "may"))
}

/// The value of a number word or digits ("two" → 2, "12" → 12, "a"/"an" → 1).
pub fn number(t: &str) -> Option<u32> {
    if !t.is_empty() && t.len() <= 4 && t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse().ok();
    }
    Some(match t {
        "a" | "an" | "one" | "single" | "1x" | "x1" => 1,
        "two" | "couple" | "pair" | "both" | "2x" | "x2" => 2,
        "three" | "few" | "3x" | "x3" => 3,
        "four" | "4x" | "x4" => 4,
        "five" => 5,
        "six" => 6,
        "seven" => 7,
        "eight" | "8x" | "x8" => 8,
        "nine" => 9,
        "ten" => 10,
        "eleven" => 11,
        "twelve" | "dozen" => 12,
        "thirteen" => 13,
        "fourteen" => 14,
        "fifteen" => 15,
        "sixteen" | "16x" | "x16" => 16,
        "seventeen" => 17,
        "eighteen" => 18,
        "nineteen" => 19,
        "twenty" => 20,
        "thirty" => 30,
        "forty" => 40,
        "fifty" => 50,
        "sixty" => 60,
        _ => return None,
    })
}

/// A decimal like "1.5" or a number word.
pub fn decimal(t: &str) -> Option<f64> {
    if t == "half" {
        return Some(0.5);
    }
    if let Some(n) = number(t) {
        return Some(n as f64);
    }
    if t.contains('.') && t.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return t.parse().ok();
    }
    None
}

/// Nouns for a GPU in general.
pub fn is_gpu_noun(t: &str) -> bool {
    matches!(
        t,
        "gpu"
            | "gpus"
            | "card"
            | "cards"
            | "device"
            | "devices"
            | "accelerator"
            | "accelerators"
            | "piece"
            | "pieces"
            | "pcs"
            | "unit"
            | "units"
            | "x"
            | "of"
            | "nvidia"
    )
}

/// Whether any of `words` is among `toks`.
pub fn any(toks: &[String], words: &[&str]) -> bool {
    toks.iter().any(|t| words.contains(&t.as_str()))
}

/// Whether the phrase (space-separated words) occurs in `toks`.
pub fn phrase(toks: &[String], p: &str) -> bool {
    let words: Vec<&str> = p.split(' ').collect();
    toks.windows(words.len())
        .any(|w| w.iter().zip(&words).all(|(a, b)| a == b))
}

/// Whether `toks` begins with the phrase.
pub fn starts_with(toks: &[String], p: &str) -> bool {
    let words: Vec<&str> = p.split(' ').collect();
    toks.len() >= words.len() && toks.iter().zip(&words).all(|(a, b)| a == b)
}

/// Edit distance with adjacent transpositions (optimal string alignment, `strsim`), for
/// typo tolerance: exact up to 2; above that, a number greater than 2.
pub fn edit_distance(a: &str, b: &str) -> usize {
    // Called for many word pairs of every message: equal words and words whose lengths
    // differ by more than the callers' bounds (at most 2) need no table.
    if a == b {
        return 0;
    }
    let (la, lb) = (a.chars().count(), b.chars().count());
    if la.abs_diff(lb) > 2 {
        return la.abs_diff(lb);
    }
    strsim::osa_distance(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenises_as_people_type() {
        assert_eq!(
            tokens("Book 2 A100s, tomorrow 9am-5pm!"),
            ["book", "2", "a100s", "tomorrow", "9am-5pm"]
        );
        assert_eq!(
            tokens("I'd like an H100's slot at 14:00."),
            ["i", "d", "like", "an", "h100", "slot", "at", "14:00"]
        );
        assert_eq!(tokens("what’s free—now?"), ["what", "s", "free", "now"]);
        assert_eq!(edit_distance("a100", "a10o"), 1);
        assert_eq!(edit_distance("h100", "1h00"), 1);
    }
}
