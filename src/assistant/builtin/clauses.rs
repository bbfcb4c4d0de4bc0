//! Which words of a cancel or change message say which booking is meant.
//!
//! A message can name bookings more than once: "cancel the a100 — no, the h100 one" takes
//! the first name back; "get rid of both sunday ones, keep monday" and "cancel the 48GB one,
//! we'll manage with the a100" name a booking that must stay. Read as one bag of words, every
//! name counts and the wrong booking is proposed. This module finds the two kinds of clause
//! by their markers, as byte ranges of the message, so that the NLU can read each on its own:
//! - a **correction** ("no,", "sorry", "I mean", "actually", "rather", "make that"): the
//!   words after the last one are the reference, when both sides name a booking;
//! - a **kept** clause ("keep", "except", "but not", "not the", "not cancelling",
//!   "leave", "manage with", "still need"): the bookings it names are taken out of the ones
//!   proposed.
//!
//! Whether a clause names a booking at all is the NLU's call (`nlu::parse`), so "keep it
//! under $50" or "no need for the h100 anymore" split nothing.

use std::ops::Range;

/// One word of the message: its text (ASCII-lowercased) and where it is.
#[derive(Debug, Clone)]
struct Word<'a> {
    text: &'a str,
    span: Range<usize>,
}

/// The words of `lower` (letters, digits, apostrophes), in order.
fn words(lower: &str) -> Vec<Word<'_>> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in lower
        .char_indices()
        .chain(std::iter::once((lower.len(), ' ')))
    {
        let inside = c.is_alphanumeric() || c == '\'';
        match (inside, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push(Word {
                    text: &lower[s..i],
                    span: s..i,
                });
                start = None;
            }
            _ => {}
        }
    }
    out
}

/// Whether only punctuation (a comma, a dash) lies between two byte offsets.
fn punctuated(lower: &str, from: usize, to: usize) -> bool {
    lower
        .get(from..to)
        .is_some_and(|gap| gap.chars().any(|c| !c.is_whitespace()))
}

/// Where each correction marker ends: the words after it may replace what came before.
///
/// "no" is a marker only when punctuation follows it or a new reference starts ("no, the
/// h100", "— no the monday one"), so "no longer need it" and "no need for" are not.
pub fn corrections(text: &str) -> Vec<usize> {
    let lower = text.to_ascii_lowercase();
    let w = words(&lower);
    let mut ends = Vec::new();
    for (i, word) in w.iter().enumerate() {
        let next = w.get(i + 1).map(|n| n.text);
        let end = match (word.text, next) {
            ("actually" | "sorry" | "rather" | "oops" | "correction" | "wait", _) => {
                Some(word.span.end)
            }
            ("i", Some("mean" | "meant")) | ("make" | "scratch", Some("that")) => {
                Some(w[i + 1].span.end)
            }
            ("no", Some(n)) => {
                let gap = punctuated(&lower, word.span.end, w[i + 1].span.start);
                let new_ref = matches!(n, "the" | "my" | "it's" | "its" | "wait" | "sorry");
                (gap || new_ref).then_some(word.span.end)
            }
            _ => None,
        };
        ends.extend(end);
    }
    ends
}

/// A kept clause: "keep monday" (`whole`), of which "monday" (`named`) names the booking.
#[derive(Debug, Clone, PartialEq)]
pub struct Kept {
    /// The marker and what follows it, up to the end of the clause.
    pub whole: Range<usize>,
    /// The words after the marker.
    pub named: Range<usize>,
}

/// The kept clauses, each up to the end of its clause (a sentence mark, a comma, a "but").
pub fn kept(text: &str) -> Vec<Kept> {
    let lower = text.to_ascii_lowercase();
    let w = words(&lower);
    let mut out = Vec::new();
    let mut i = 0;
    while i < w.len() {
        let next = w.get(i + 1).map(|n| n.text);
        let skip = match (w[i].text, next) {
            ("keep" | "keeping" | "except" | "excepting" | "leave" | "spare", _) => Some(1),
            ("but" | "apart" | "other", Some("not" | "from" | "than")) => Some(2),
            ("not", Some("the" | "my")) => Some(1),
            // "I'm not cancelling the a100", "don't touch the monday one"
            (
                "not" | "don't" | "dont" | "never",
                Some(
                    "cancel" | "cancelling" | "canceling" | "drop" | "dropping" | "delete"
                    | "deleting" | "remove" | "removing" | "touch" | "touching",
                ),
            ) => Some(2),
            ("manage" | "hold" | "hang", Some("with" | "on" | "onto")) => Some(2),
            ("still", Some("need" | "want" | "use")) => Some(2),
            _ => None,
        };
        let Some(skip) = skip else {
            i += 1;
            continue;
        };
        let from = w.get(i + skip).map_or(lower.len(), |x| x.span.start);
        let rest = &lower[from..];
        // A dash between words ends a clause too ("not the a100 — the l40s"); one inside
        // a range ("9-5") does not.
        let stop = rest
            .char_indices()
            .find(|(_, c)| matches!(c, '.' | ';' | '!' | '?' | ',' | '\n' | '—' | '–'))
            .map(|(k, _)| k)
            .into_iter()
            .chain(rest.find(" but "))
            .chain(rest.find(" - "))
            .min()
            .unwrap_or(rest.len());
        if stop > 0 {
            out.push(Kept {
                whole: w[i].span.start..from + stop,
                named: from..from + stop,
            });
        }
        i += skip;
    }
    out
}

/// Noun phrases that name a booking by what it has: "the 2pm one", "the 4-gpu one",
/// "the evening booking", "my tuesday booking", "tomorrow's reservation", "the one at 9 in
/// the morning". Each range runs from its first word to its head noun, or for "the one at
/// ..." to the end of the clause. Whether the words name anything is the NLU's call.
pub fn references(text: &str) -> Vec<Range<usize>> {
    const HEADS: &[&str] = &[
        "one",
        "ones",
        "booking",
        "bookings",
        "reservation",
        "reservations",
        "slot",
        "session",
    ];
    const DETS: &[&str] = &["the", "my", "that", "this", "our"];
    let lower = text.to_ascii_lowercase();
    let w = words(&lower);
    let mut out = Vec::new();
    let mut i = 0;
    while i < w.len() {
        let det = DETS.contains(&w[i].text) || w[i].text.ends_with("'s");
        if !det {
            i += 1;
            continue;
        }
        // "the one at 9 in the morning", "the one starting at 2pm": the words after it.
        if w[i].text == "the" && w.get(i + 1).is_some_and(|x| x.text == "one") {
            let lead = w.get(i + 2).map(|x| x.text);
            if matches!(lead, Some("at" | "starting" | "that" | "which" | "from")) {
                let from = w[i + 2].span.start;
                let rest = &lower[from..];
                let stop = rest
                    .find([',', '.', ';', '!', '?', '\n'])
                    .into_iter()
                    .chain(
                        [" to ", " until ", " till ", " and ", " please"]
                            .iter()
                            .filter_map(|m| rest.find(m)),
                    )
                    .min()
                    .unwrap_or(rest.len());
                out.push(w[i].span.start..from + stop);
                i += 3;
                continue;
            }
        }
        // A determiner, up to four describing words, a head noun; no punctuation nor a word
        // that starts another part of the sentence ("the a100 — no, the h100 one", "the l40s
        // to one card", "the start of my booking") in between.
        let start = if w[i].text.ends_with("'s") { i } else { i + 1 };
        let mut head = None;
        for k in start..(start + 5).min(w.len()) {
            if HEADS.contains(&w[k].text) {
                head = Some(k);
                break;
            }
            let breaks = matches!(
                w[k].text,
                "no" | "not"
                    | "to"
                    | "and"
                    | "or"
                    | "but"
                    | "from"
                    | "until"
                    | "till"
                    | "for"
                    | "with"
                    | "of"
                    | "instead"
                    | "i"
                    | "we"
                    | "you"
                    | "it"
                    | "on"
                    | "at"
            );
            // ("4-gpu": a hyphen joining two words is one word)
            let gap = w
                .get(k + 1)
                .map_or("", |n| &lower[w[k].span.end..n.span.start]);
            if breaks || gap != "-" && punctuated(&lower, w[k].span.end, w[k].span.end + gap.len())
            {
                break;
            }
        }
        match head {
            Some(h) if h > start || w[i].text.ends_with("'s") => {
                // "the v100 booking on the 3rd", "the friday booking that starts at 9", "the
                // h100 booking with 4 gpus": what follows the noun describes it too.
                let post = w.get(h + 1).is_some_and(|x| {
                    // (not "at": "end my booking at noon" gives the new end)
                    matches!(x.text, "on" | "that" | "which" | "with" | "starting")
                });
                let end = if post {
                    let from = w[h].span.end;
                    let rest = &lower[from..];
                    let stop = rest
                        .find([',', '.', ';', '!', '?', '\n', '—', '–'])
                        .into_iter()
                        .chain(
                            [
                                " to ", " until ", " till ", " and ", " please", " so ", " - ",
                            ]
                            .iter()
                            .filter_map(|m| rest.find(m)),
                        )
                        .min()
                        .unwrap_or(rest.len());
                    from + stop
                } else {
                    w[h].span.end
                };
                out.push(w[i].span.start..end);
                i = h + 1;
            }
            _ => i += 1,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn after_last(text: &str) -> &str {
        corrections(text).last().map_or("", |&e| text[e..].trim())
    }

    #[test]
    fn a_correction_marks_where_the_new_reference_starts() {
        assert_eq!(
            after_last("cancel the a100 — no, the h100 one"),
            ", the h100 one"
        );
        assert_eq!(
            after_last("cancel my v100 booking, sorry I mean the l40s"),
            "the l40s"
        );
        assert_eq!(
            after_last("cancel friday's booking, actually no, monday's"),
            ", monday's"
        );
        // "no" that is not taking anything back
        assert!(corrections("I no longer need the a100, cancel it").is_empty());
        assert!(corrections("no need for the h100 booking anymore").is_empty());
    }

    #[test]
    fn a_reference_runs_to_its_head_noun() {
        let said = |t: &str| -> Vec<String> {
            references(t)
                .iter()
                .map(|r| t[r.clone()].to_string())
                .collect()
        };
        assert_eq!(said("move the 2pm one to 4pm"), ["the 2pm one"]);
        assert_eq!(said("cancel the 4-gpu one please"), ["the 4-gpu one"]);
        assert_eq!(
            said("tomorrow's reservation, kindly cancel it"),
            ["tomorrow's reservation"]
        );
        assert_eq!(
            said("for my tuesday booking, start at 11 please"),
            ["my tuesday booking"]
        );
        assert_eq!(
            said("the one at 9 in the morning"),
            ["the one at 9 in the morning"]
        );
        assert_eq!(
            said("the one starting at 9 to 10"),
            ["the one starting at 9"]
        );
        // No describing word: nothing named.
        assert!(said("cancel my booking").is_empty());
        // A phrase never runs over another part of the sentence.
        assert!(said("cancel the a100 — no, the h100 one") == ["the h100 one"]);
        assert!(said("drop the l40s to just one card").is_empty());
        assert_eq!(
            said("add 2 hours at the start of my v100 booking"),
            ["my v100 booking"]
        );
        assert_eq!(
            said("move the friday booking that starts at 9 to monday"),
            ["the friday booking that starts at 9"]
        );
    }

    #[test]
    fn a_kept_clause_runs_to_the_end_of_its_clause() {
        let t = "get rid of both sunday ones, keep monday";
        let k: Vec<&str> = kept(t).iter().map(|k| &t[k.named.clone()]).collect();
        assert_eq!(k, ["monday"]);
        let t = "cancel the 48GB one, we'll manage with the a100";
        let k: Vec<&str> = kept(t).iter().map(|k| &t[k.named.clone()]).collect();
        assert_eq!(k, ["the a100"]);
        let t = "friday: cancel the h100 but keep the v100. thanks";
        let k: Vec<&str> = kept(t).iter().map(|k| &t[k.named.clone()]).collect();
        assert_eq!(k, ["the v100"]);
        let t = "I'm not cancelling the a100 — it's the l40s I want gone";
        let k: Vec<&str> = kept(t).iter().map(|k| &t[k.named.clone()]).collect();
        assert_eq!(k, ["the a100 "]);
        let t = "drop everything apart from the l40s but not before noon";
        let k: Vec<&str> = kept(t).iter().map(|k| &t[k.named.clone()]).collect();
        assert_eq!(k, ["the l40s", "before noon"]);
    }
}
