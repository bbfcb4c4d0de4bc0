//! Understanding one message: what it says about time (the `when` grammar, with spans),
//! the models (by name or by property, from the inventory), the count, references to
//! bookings, and the intent — chosen by scores over the lexicon's cues, not by the order of
//! a list of rules. Nothing here looks at the dialogue: `dialogue::step` decides what the
//! message means in context.

use super::clauses;
use super::lexicon::{cues, is_filler, Cue, Cues};
use super::unread::{self, Unread};
use super::when::{self, MentionKind, Reading};
use super::words::{self, edit_distance, is_gpu_noun, number, tokens};
use super::zone;
use crate::domain::gpu::normalize;
use crate::domain::{GpuModel, Inventory};
use chrono::{DateTime, NaiveDate};
use chrono_tz::Tz;

/// What the person wants, before context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    Greeting,
    Help,
    Thanks,
    Inventory,
    Price,
    Availability,
    Book,
    MyBookings,
    Total,
    /// "what are my limits?", "how much budget do I have left?", "how many GPU-hours did we
    /// use this month?": the account.
    Account,
    Cancel,
    Change,
    FindSlot,
    Yes,
    No,
    /// Only details (a model, a time, a number): an answer to a question or a correction.
    Details,
    Unknown,
}

/// How many GPUs were asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// A number ("2", "a couple of", "an").
    Exact(u32),
    /// "all" of a model.
    All,
    /// Plural without a number ("some A100s").
    Some,
}

/// A property that picks a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Wanted {
    /// The cheapest.
    pub cheapest: bool,
    /// The most memory.
    pub most_memory: bool,
    /// The fastest.
    pub fastest: bool,
    /// At least this much memory (GB).
    pub min_memory: Option<u32>,
    /// An architecture ("Hopper", "Ada").
    pub family: Option<&'static str>,
}

impl Wanted {
    /// Whether any property was asked for.
    pub fn any(&self) -> bool {
        *self != Wanted::default()
    }
}

/// A way of pointing at one of the person's bookings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BookingRef {
    /// An id or a prefix of one (4+ hex digits).
    Id(String),
    /// "it", "that", "this one", "them".
    It,
    /// "the second one".
    Ordinal(usize),
    /// "the one on the 9th", "the Friday booking" (several: "the Friday and the Monday one").
    Dates(Vec<NaiveDate>),
    /// "all of them", "everything".
    All,
}

/// A message, understood.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub intent: Intent,
    /// Exact inventory names, in the order mentioned.
    pub models: Vec<String>,
    /// A model word the inventory does not have ("TPU", "A6000").
    pub unknown_model: Option<String>,
    /// The model picked by a property, and why.
    pub by_property: Option<(String, String)>,
    /// The property asked for (even when no model has it).
    pub wanted: Wanted,
    /// The property matched no model.
    pub no_model_fits: bool,
    pub count: Option<Count>,
    /// "one more GPU" (+1), "one fewer" (−1).
    pub count_delta: Option<i32>,
    /// A model named in the singular without a number ("book A100 tomorrow"): one, unless
    /// a number was given before.
    pub one_implied: bool,
    /// A number alone ("2"): an answer to "how many?".
    pub bare_number: Option<u32>,
    /// What was said about time.
    pub time: Reading,
    pub booking_ref: Option<BookingRef>,
    /// A booking was named by model ("the L40S one") — `models` holds it.
    pub ref_by_model: bool,
    /// A model said with a definite word ("the A100s", "my H100"), not as where a change
    /// goes ("switch it to the H100"): a booking already made.
    pub definite_model: bool,
    /// "actually", "instead", "make that", "not X but Y".
    pub correction: bool,
    /// A question rather than a request.
    pub question: bool,
    /// A price asked per period ("per day" → 1440 minutes).
    pub per_minutes: Option<i64>,
    /// The change asked for: later/earlier/extend/shorten/move words.
    pub change: ChangeWords,
    /// "the same", "same again": like the last request.
    pub same: bool,
    /// "the one with 6 GPUs": the count describes a booking already made.
    pub with_count: bool,
    /// "book one L40S then", "reserve 2 of them": the request builds on what was just asked.
    pub refers_back: bool,
    /// "the thursday one": a booking named by a weekday alone may be on any such day ahead.
    pub weekday_ref: bool,
    /// "the big one", "the later of my two": which of several bookings by size or time.
    pub pick: Option<Pick>,
    /// "everything except the H100": the models excepted (`Some(empty)`: an exception was
    /// said but names no model, so "everything" cannot be taken as said).
    pub except: Option<Vec<String>>,
    /// Models ruled out ("anything but the V100", "no 4090s"): never proposed.
    pub excluded: Vec<String>,
    /// "under $40", "a $500 budget": the most the booking may cost, in cents.
    pub budget: Option<i64>,
    /// Words that could change what is booked and that nothing above read (`unread`).
    pub unread: Vec<Unread>,
    /// The message's cues (for the dialogue's own checks).
    pub cues: Cues,
    /// A model size said ("a 70B model"): what it needs, for "which GPU for ...?".
    pub workload: Option<super::workload::Workload>,
    /// The message's tokens (for checks over every word, like the qualifiers of a
    /// cancellation).
    pub words: Vec<String>,
    /// "cancel the a100 — no, the h100 one": the words after a correction, read alone; they
    /// say which booking is meant (`reference`).
    pub target: Option<Box<Parsed>>,
    /// "..., keep monday", "we'll manage with the a100": the bookings that must stay, read
    /// alone (those words are left out of everything else above).
    pub kept: Option<Box<Parsed>>,
}

/// Words that say how a booking should change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChangeWords {
    pub later: bool,
    pub earlier: bool,
    pub extend: bool,
    pub shorten: bool,
    pub moved: bool,
    pub more: bool,
    pub fewer: bool,
    /// "the end", "finish": the end is what is talked about.
    pub end_named: bool,
    /// "the start", "begin": the start is what is talked about.
    pub start_named: bool,
    /// "same end time", "keep the end", "still ending at": a new start leaves the end.
    pub keep_end: bool,
}

impl Parsed {
    /// The words that say which existing booking is meant: those after a correction, if the
    /// message corrected itself, else the whole message.
    pub fn reference(&self) -> &Parsed {
        self.target.as_deref().unwrap_or(self)
    }

    /// Whether the message names a booking by something a booking has: a model, a memory
    /// size, a day, a start, an id, a place in a list, or the biggest/latest of several.
    pub fn names_booking(&self) -> bool {
        !self.models.is_empty()
            || self.wanted.min_memory.is_some()
            || matches!(
                self.booking_ref,
                Some(BookingRef::Dates(_) | BookingRef::Id(_) | BookingRef::Ordinal(_))
            )
            || self.time.said.date.is_some()
            || self.time.said.start.is_some()
            || self.pick.is_some()
            || self.with_count && matches!(self.count, Some(Count::Exact(_)))
    }

    /// Whether the message says something about time (a negated piece alone does not:
    /// "not now").
    pub fn time_said(&self) -> bool {
        self.time.said != when::Said::default() || !self.time.problems.is_empty()
    }

    /// Whether the message names any booking detail.
    pub fn has_details(&self) -> bool {
        !self.models.is_empty()
            || self.by_property.is_some()
            || self.count.is_some()
            || self.count_delta.is_some()
            || self.bare_number.is_some()
            || self.time_said()
    }

    /// The one model the message means, if it names exactly one (or one by property).
    pub fn model(&self) -> Option<&str> {
        match self.models.as_slice() {
            [one] => Some(one),
            [] => self.by_property.as_ref().map(|(m, _)| m.as_str()),
            _ => None,
        }
    }
}

/// Understands `text`, with times relative to `now` in the configured zone.
pub fn parse(text: &str, inv: &Inventory, now: DateTime<Tz>) -> Parsed {
    let whole = parse_one(text, inv, now);
    let mut p = with_clauses(text, whole, inv, now);
    // The whole message's words, once, for the checks below.
    let words = tokens(&text.to_lowercase());
    p.unread.extend(relative_refs(&words));
    // "push it by an hour — no, two": a bare number correcting an amount said before it
    // (hours? GPUs?) is not read, so it is asked, never dropped.
    if let Some(&end) = clauses::corrections(text).last() {
        let after = tokens(&text[end..].to_ascii_lowercase());
        let amount = p.time.said.shift.is_some()
            || p.time.said.extra.is_some()
            || p.time.said.by.is_some()
            || p.time.said.duration.is_some();
        if amount && after.len() == 1 && super::words::number(&after[0]).is_some() {
            p.unread.push(Unread {
                kind: unread::UnreadKind::TimeWord,
                words: text[end..].trim().to_string(),
            });
        }
    }
    if p.time.said.date.is_none() && p.time.said.from_now.is_none() && !p.time.mentions.is_empty() {
        p.unread.extend(foreign_day_words(&words));
    }
    p
}

/// Day words of other languages ("übermorgen", "mañana", "来週の月曜"): beside a time with no
/// day read, a word the grammar cannot read may be the day, so it is named back and asked
/// (never read as today). Any word with letters outside ASCII counts, and these ASCII ones.
fn foreign_day_words(words: &[String]) -> Vec<Unread> {
    const DAYS: &[&str] = &[
        "heute",
        "morgen",
        "uebermorgen",
        "montag",
        "dienstag",
        "mittwoch",
        "donnerstag",
        "freitag",
        "samstag",
        "sonntag",
        "naechsten",
        "naechste",
        "hoy",
        "manana",
        "pasado",
        "lunes",
        "martes",
        "miercoles",
        "jueves",
        "viernes",
        "sabado",
        "domingo",
        "proximo",
        "demain",
        "lundi",
        "mardi",
        "mercredi",
        "jeudi",
        "vendredi",
        "samedi",
        "dimanche",
        "prochain",
        "hoje",
        "amanha",
        "oggi",
        "domani",
        "dopodomani",
        "lunedi",
        "martedi",
        "mercoledi",
        "giovedi",
        "venerdi",
        "sabato",
        "morgens",
        "abends",
    ];
    words
        .iter()
        .filter(|t| {
            DAYS.contains(&t.as_str()) || t.chars().any(|c| c.is_alphabetic() && !c.is_ascii())
        })
        .map(|t| Unread {
            kind: unread::UnreadKind::TimeWord,
            words: t.clone(),
        })
        .collect()
}

/// "the one after my A100 booking", "the booking before the h100 one": a booking named by
/// its place beside another is not read, so it is named back and asked.
fn relative_refs(toks: &[String]) -> Vec<Unread> {
    let mut out = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        let prev = if i > 0 { toks[i - 1].as_str() } else { "" };
        let next = toks.get(i + 1).map(String::as_str).unwrap_or("");
        if matches!(t.as_str(), "after" | "before")
            && matches!(
                prev,
                "one" | "booking" | "reservation" | "ones" | "bookings"
            )
            && matches!(next, "my" | "the" | "that" | "our")
        {
            out.push(Unread {
                kind: unread::UnreadKind::Relative,
                words: format!("{prev} {t} {next}"),
            });
        }
    }
    out
}

/// A cancel or change message read again by its clauses (`clauses`): a kept clause is
/// taken out and read alone; the words after a correction are read alone as the reference.
fn with_clauses(text: &str, whole: Parsed, inv: &Inventory, now: DateTime<Tz>) -> Parsed {
    let acts_on_booking = |p: &Parsed| matches!(p.intent, Intent::Cancel | Intent::Change);
    let mut p = whole;
    let mut rest = text.to_string();
    let kept: Vec<_> = clauses::kept(text)
        .into_iter()
        .filter(|k| parse_one(&text[k.named.clone()], inv, now).names_booking())
        .collect();
    if !kept.is_empty() {
        for k in &kept {
            rest.replace_range(k.whole.clone(), &" ".repeat(k.whole.len()));
        }
        let mut main = parse_one(&rest, inv, now);
        // "I'm not cancelling the a100 — it's the l40s I want gone": the cancel verb was in
        // the kept clause; what is left names the booking to cancel.
        if !acts_on_booking(&main)
            && p.intent == Intent::Cancel
            && (!main.models.is_empty() || main.booking_ref.is_some())
        {
            main.intent = p.intent;
        }
        if acts_on_booking(&main) {
            let named: Vec<&str> = kept.iter().map(|k| &text[k.named.clone()]).collect();
            // Read as a reference to a booking, as in a cancellation ("keep monday" names
            // the bookings on monday).
            let mut k = parse_one(&named.join(", "), inv, now);
            k.intent = Intent::Cancel;
            p = main;
            // What the kept words hold that nothing read is named back, as anywhere else.
            p.unread.append(&mut k.unread);
            p.kept = Some(Box::new(k));
        } else {
            rest = text.to_string();
        }
    }
    // "move the 2pm one to 4pm", "cancel the 4-gpu one": one phrase that names a booking by
    // what it has is the reference, read alone; the rest of a cancel or change message is
    // read without it (so 2pm is not a new start).
    // Only when it is the one description: a correction, or a model or day said outside it
    // ("cancel the a100 and the l40s bookings"), leaves the message to be read whole.
    let refs = clauses::references(&rest);
    if let ([np], true) = (refs.as_slice(), clauses::corrections(&rest).is_empty()) {
        let phrase = reference_words(&rest[np.clone()]);
        let mut r = parse_one(&phrase, inv, now);
        // A number inside the phrase ("the 4-gpu one") is the booking's size.
        r.with_count |= matches!(r.count, Some(Count::Exact(_)));
        let mut outside = rest.clone();
        outside.replace_range(np.clone(), &" ".repeat(np.len()));
        let around = parse_one(&outside, inv, now);
        // ("cancel teh l40s one and the v100 one": in a cancellation any model said outside
        // the phrase names another booking too.)
        let alone = around.models.iter().all(|m| !r.models.contains(m))
            && (around.models.is_empty()
                || !around.definite_model && around.intent != Intent::Cancel)
            && !matches!(around.booking_ref, Some(BookingRef::Dates(_)))
            && around.pick.is_none();
        if r.names_booking() && alone {
            r.intent = Intent::Cancel;
            let mut without = rest.clone();
            without.replace_range(
                np.clone(),
                &format!(" it{}", " ".repeat(np.len().saturating_sub(3))),
            );
            let main = parse_one(&without, inv, now);
            if acts_on_booking(&main) {
                let kept = p.kept.take();
                p = main;
                // The model the phrase names is the message's, as it was before.
                if p.models.is_empty() && !r.models.is_empty() {
                    p.models = r.models.clone();
                    p.ref_by_model = true;
                }
                p.kept = kept;
                // What the phrase holds that nothing read is named back, as anywhere else.
                p.unread.append(&mut r.unread);
            }
            p.target = Some(Box::new(r));
            return p;
        }
    }
    if acts_on_booking(&p) {
        for end in clauses::corrections(&rest).into_iter().rev() {
            let after = parse_one(&rest[end..], inv, now);
            if after.names_booking() && parse_one(&rest[..end], inv, now).names_booking() {
                let mut after = after;
                after.intent = p.intent;
                p.target = Some(Box::new(after));
                break;
            }
        }
    }
    p
}

/// One message (or one clause of it), read as a whole.
fn parse_one(text: &str, inv: &Inventory, now: DateTime<Tz>) -> Parsed {
    // A zone the person names ("3pm CET"): taken out of the text, the times are read in
    // it, then rewritten in the server's zone (`zone::to_server`).
    let server_now = now;
    let named = zone::named(text, &tokens(text)).filter(|z| !z.spans.is_empty());
    let zone_free;
    let (text, now) = match &named {
        Some(z) => {
            let mut b = text.to_string();
            for r in &z.spans {
                b.replace_range(r.clone(), &" ".repeat(r.len()));
            }
            zone_free = b;
            (zone_free.as_str(), now.with_timezone(&z.tz))
        }
        None => (text, now),
    };
    let mut p = parse_in(text, inv, now);
    if let Some(z) = named {
        let converted = zone::to_server(
            &mut p.time.said,
            z.tz,
            server_now.timezone(),
            server_now.with_timezone(&chrono::Utc),
        );
        if !converted {
            p.unread.push(Unread {
                kind: unread::UnreadKind::Zone,
                words: z.words.join(" "),
            });
        }
    }
    p
}

/// `parse`, with times read as said at `now` (in the zone the person means).
fn parse_in(text: &str, inv: &Inventory, now: DateTime<Tz>) -> Parsed {
    let text = &plus_as_more(text);
    let text = &without_identifiers(text);
    let greeting_free = without_greetings(text);
    let mut time = when::read(&greeting_free, now);
    // "until 2027-01-01T00:00": a written 00:00 is the start of that day, not its end.
    for m in &time.mentions {
        if let MentionKind::Until(Some(d), Some(t)) = &m.kind {
            let written = greeting_free.get(m.span.clone()).unwrap_or("");
            let iso = written
                .as_bytes()
                .windows(2)
                .any(|w| (w[0] == b'T' || w[0] == b't') && w[1].is_ascii_digit());
            if *t == chrono::NaiveTime::MIN && (written.contains("00:00") || iso) {
                time.said.end_date = d.pred_opt();
                time.said.end_midnight = true;
                time.said.end = None;
            }
        }
    }
    // "nah, not now", "not right now": a no, not a start time.
    if time.said.from_now == Some(chrono::Duration::zero()) && time.mentions.len() == 1 {
        let lower = text.to_lowercase();
        if [
            "not now",
            "not right now",
            "not just now",
            "not for now",
            "no, not now",
        ]
        .iter()
        .any(|p| lower.contains(p))
        {
            time = Reading::default();
        }
    }
    // "now make it 4 GPUs": an opening "now" is a discourse word, not a start time.
    if time.said.from_now == Some(chrono::Duration::zero())
        && text.trim_start().to_lowercase().starts_with("now ")
        && time.mentions.len() == 1
    {
        time = Reading::default();
    }
    // What the time grammar read is blanked for the rest of the NLU, leaving a `|` so that
    // words on either side do not become neighbours ("quick one: at 8 pm, H100 x8").
    let blank = |time: &Reading| {
        let mut b = text.as_bytes().to_vec();
        for r in time.consumed() {
            let end = r.end.min(text.len());
            for x in b.iter_mut().take(end).skip(r.start) {
                *x = b' ';
            }
            if r.start < end {
                b[r.start] = b'|';
            }
        }
        String::from_utf8_lossy(&b).into_owned()
    };
    // "the one on the 9th", "the Friday booking": a date that points at a booking is not a
    // time for the request; read the message again without it.
    let date_ref = date_reference(text, &time);
    if let Some((_, spans, _)) = &date_ref {
        let mut b = text.as_bytes().to_vec();
        for span in spans {
            for x in b.iter_mut().take(span.end).skip(span.start) {
                *x = b' ';
            }
        }
        let again = String::from_utf8_lossy(&b).into_owned();
        let mut rest = when::read(&again, now);
        for span in spans {
            rest.mentions.push(when::Mention {
                span: span.clone(),
                kind: MentionKind::WholeDay,
                negated: false,
            });
        }
        time = rest;
    }
    // A vague phrase beside a whole time ("before the weekend ... tomorrow from 8 to 8")
    // is context, not the request.
    let whole =
        time.said.date.is_some() && (time.said.start.is_some() || time.said.duration.is_some());
    if whole {
        time.problems.retain(|p| p.kind != when::ProblemKind::Vague);
    }
    // Cross-checks of what was read against what was written: a 24-hour start in a range
    // ("0800-10am") must be the start read, and a "pm" must show in the times read.
    if let Some(p) = inconsistent_times(text, &time) {
        time.problems.push(p);
    }
    // A number left glued to a time the grammar read ("friday 10-12" read as "friday 10"):
    // the piece was not fully understood, so it is named back instead of half-used.
    if let Some(p) = leftover_piece(text, &time) {
        time.problems.push(p);
    }
    // "around 3pm", "9 to 5 or so", "9ish", "early afternoon", "until end of day": a time
    // said as an approximation is not a time to book; it is asked.
    if time.problems.is_empty() && !time.mentions.is_empty() {
        if let Some(p) = approximate_time(text) {
            time.problems.push(p);
        }
    }
    let toks = tokens(&blank(&time));
    // Time words the grammar did not take ("a week from tody"): never ignored.
    if time.problems.is_empty() {
        if let Some(p) = unread_time_words(text, &toks, &time) {
            time.problems.push(p);
        }
    }

    let mut used = vec![false; toks.len()];
    let (mut models, family, excluded) = find_models_and_excluded(&toks, inv, &mut used);
    let mut unknown_model = unknown_model(&toks, &used);
    // "any rtx a6000s?": a brand word right before a model we do not have is part of that
    // model's name, not our model of the brand.
    if let Some(u) = unknown_model.clone() {
        let at = toks.iter().position(|t| *t == u);
        let mentions = used.iter().filter(|x| **x).count();
        if let Some(i) = at.filter(|&i| i > 0 && used[i - 1] && mentions == 1) {
            if toks[i - 1].bytes().all(|b| b.is_ascii_alphabetic()) {
                unknown_model = Some(format!("{} {u}", toks[i - 1]));
                models.clear();
                used[i - 1] = false;
            }
        }
    }
    let model_at: Vec<bool> = used.clone();
    let (mut count, mut count_delta) = find_count(&toks, &used, &model_at);
    // "drop one card from the h100 booking": GPUs taken off a booking, not the booking.
    if let Some(n) = removed_gpus(&toks, &model_at) {
        count = None;
        count_delta = Some(-(n as i32));
    }
    // "drop the l40s to just one card", "cut my a100s down to 2": the size it goes down to
    // is the count, whatever the plural before it said.
    if let Some(ReducedTo::Count(n)) = reduced_to(&toks) {
        count = Some(Count::Exact(n));
    }

    let cues = cues(&toks, &used);
    let mut wanted = wanted(&toks, &used, &cues);
    wanted.family = family;
    // "2 a100 40gb": a memory size said right after a model that does not have it names a
    // variant we do not have, never ours.
    if let [m] = models.as_slice() {
        let at = model_at.iter().position(|x| *x);
        let size = at.and_then(|i| {
            let t = toks.get(i + 1)?;
            t.strip_suffix("gb")
                .and_then(|x| x.parse::<u32>().ok())
                .or_else(|| {
                    toks.get(i + 2)
                        .filter(|g| *g == "gb")
                        .and_then(|_| t.parse::<u32>().ok())
                })
        });
        if let (Some(n), Some(model)) = (size, inv.find(m)) {
            if model.memory_gb != n {
                let family = model.name.split('-').next().unwrap_or(m).to_string();
                unknown_model = Some(format!("{family} {n}GB"));
                models.clear();
            }
        }
    }
    let (by_property, no_model_fits) = if wanted.any() && models.is_empty() {
        match pick_among(inv, &wanted, &excluded) {
            Some((m, why)) => (Some((m, why)), false),
            None => (None, true),
        }
    } else {
        (None, false)
    };
    // "A100s" without a number: how many is still open.
    if count.is_none() && !models.is_empty() {
        let plural = toks
            .iter()
            .zip(&model_at)
            .any(|(t, m)| *m && t.ends_with('s') && !t.ends_with("40s"))
            || vague_amount(&toks);
        if plural {
            count = Some(Count::Some);
        }
    }
    let one_implied = count.is_none()
        && (!models.is_empty() || by_property.is_some())
        && !toks
            .iter()
            .any(|t| matches!(t.as_str(), "gpus" | "cards" | "ones" | "them"));
    // "gpus needed for friday", "some cards": a plural without a number leaves how many
    // open (asked), never one.
    if count.is_none() && toks.iter().any(|t| t == "gpus" || t == "cards") {
        count = Some(Count::Some);
    }
    // "my two postdocs each need one H100", "two A100s per student", "one apiece": a count
    // per person is not the number to book; how many in all is asked.
    if distributive(&toks) {
        count = Some(Count::Some);
    }
    let mut booking_ref = toks
        .iter()
        .zip(&used)
        .find(|(t, u)| !**u && hex_ref(t))
        .map(|(t, _)| BookingRef::Id(t.clone()));
    if booking_ref.is_none() {
        booking_ref = date_ref.clone().map(|(d, _, _)| BookingRef::Dates(d));
    }
    if booking_ref.is_none() {
        booking_ref = ordinal_ref(&toks);
    }
    if booking_ref.is_none() && cues.has(Cue::All) && !models.is_empty() {
        // "all A100s" is a count, handled above.
    } else if booking_ref.is_none()
        && (cues.has(Cue::All)
            || toks.iter().any(|t| t == "everything")
            // "keep the h100, cancel the rest": all but what is kept.
            || toks
                .windows(2)
                .any(|w| w[0] == "the" && matches!(w[1].as_str(), "rest" | "others")))
        && count.is_none()
    {
        booking_ref = Some(BookingRef::All);
    }
    if booking_ref.is_none()
        && toks
            .iter()
            .any(|t| matches!(t.as_str(), "it" | "that" | "this" | "them" | "those"))
    {
        booking_ref = Some(BookingRef::It);
    }
    let ref_by_model = !models.is_empty()
        && (cues.has(Cue::BookingNoun) || toks.iter().any(|t| t == "one"))
        && count.is_none();
    let question = text.trim_end().ends_with('?') || cues.has(Cue::Question);
    let per_minutes = per_period(&toks);
    let all_words = tokens(text);
    let change = ChangeWords {
        later: cues.has(Cue::Later),
        earlier: cues.has(Cue::Earlier),
        extend: cues.has(Cue::Extend),
        shorten: cues.has(Cue::Shorten),
        moved: cues.has(Cue::Move),
        more: cues.has(Cue::More),
        fewer: cues.has(Cue::Fewer),
        keep_end: keeps_end(&toks),
        end_named: words::any(
            &all_words,
            &[
                "end",
                "ends",
                "ending",
                "finish",
                "finishes",
                "finishing",
                "done",
            ],
        ),
        start_named: words::any(
            &all_words,
            &[
                "start",
                "starts",
                "starting",
                "begin",
                "begins",
                "beginning",
                "from",
            ],
        ),
    };
    // A budget's amount ("no more than 15 dollars") is money, never a count.
    let (budget, money_at) = budget(&toks);
    let used: Vec<bool> = used.iter().zip(&money_at).map(|(u, m)| *u || *m).collect();
    // Numbers said on their own ("3", "four is enough", "one, not six"); not "the L40S
    // one", not a number ruled out ("not six").
    // "reduce it to 2 gpus — no, 3": a number right after a correction word replaces the
    // count said before it.
    let corrected = toks
        .iter()
        .enumerate()
        .filter(|(i, t)| !used[*i] && !matches!(t.as_str(), "a" | "an" | "one"))
        .filter_map(|(i, t)| number(t).map(|n| (i, n)))
        .filter(|(i, _)| {
            toks[..*i]
                .iter()
                .rev()
                .take(2)
                .any(|w| matches!(w.as_str(), "no" | "sorry" | "actually" | "mean" | "rather"))
        })
        .map(|(_, n)| n)
        .next_back();
    if let (Some(m), Some(Count::Exact(_))) = (corrected, count) {
        count = Some(Count::Exact(m));
    }
    // "is an L40S free …? if so reserve 2", "price of an H100? and book some": an article
    // before the model is not the count when another number or "some" is said.
    let article_count = matches!(count, Some(Count::Exact(1)))
        && toks
            .iter()
            .zip(model_at.iter().skip(1))
            .any(|(t, next_is_model)| *next_is_model && matches!(t.as_str(), "a" | "an"));
    let other_count = toks.iter().enumerate().any(|(i, t)| {
        !used[i] && number(t).is_some_and(|n| n > 1) || t == "some" || t == "several"
    });
    if article_count && other_count {
        count = Some(Count::Some);
    }
    let free_numbers: Vec<u32> = toks
        .iter()
        .enumerate()
        .filter(|(i, t)| {
            let prev = if *i > 0 { toks[i - 1].as_str() } else { "" };
            !used[*i]
                && !matches!(
                    t.as_str(),
                    "a" | "an" | "couple" | "pair" | "few" | "both" | "single"
                )
                && prev != "not"
                && !(t.as_str() == "one"
                    && (matches!(
                        prev,
                        "the"
                            | "this"
                            | "that"
                            | "which"
                            | "each"
                            | "every"
                            | "any"
                            | "another"
                            | "no"
                    ) || model_at.get(i.wrapping_sub(1)).copied().unwrap_or(false)))
        })
        .filter_map(|(_, t)| number(t))
        .collect();
    // "A100 on 1 December 9-18, two please": a number left over may be the count, so a
    // singular model does not imply one (how many is asked).
    let one_implied = one_implied && free_numbers.is_empty();
    let bare_number = match (count, free_numbers.as_slice()) {
        (None, [n]) => Some(*n),
        _ => None,
    };
    let correction = cues.has(Cue::Correct)
        || time.mentions.iter().any(|m| m.negated)
        || toks
            .windows(2)
            .any(|w| w[0] == "not" && number(&w[1]).is_some());
    let mut read = cues.cued(toks.len());
    for (i, r) in read.iter_mut().enumerate() {
        *r |= used[i];
    }
    let gpu_at: Vec<bool> = toks
        .iter()
        .enumerate()
        .map(|(i, t)| model_at[i] || is_gpu_noun(t))
        .collect();
    let unread = unread::find(&tokens(&greeting_free), &toks, &read, &gpu_at, &time.said);
    let definite_model = definite_model(&toks, &used, &models);
    let mut p = Parsed {
        intent: Intent::Unknown,
        models,
        unknown_model,
        by_property,
        wanted,
        no_model_fits,
        count,
        count_delta,
        one_implied,
        bare_number,
        time,
        booking_ref,
        ref_by_model,
        definite_model,
        correction,
        question,
        per_minutes,
        change,
        same: toks.iter().any(|t| t == "same"),
        weekday_ref: date_ref.as_ref().is_some_and(|(_, _, w)| *w),
        pick: which_one(&toks),
        except: excepted(&toks, inv),
        refers_back: toks
            .iter()
            .any(|t| matches!(t.as_str(), "then" | "them" | "those" | "these")),
        // "the one with 6 GPUs", "the booking with the 3 GPUs", "that has 2"
        with_count: toks.iter().enumerate().any(|(i, w)| {
            matches!(w.as_str(), "with" | "has" | "having")
                && toks[i + 1..]
                    .iter()
                    .map(String::as_str)
                    .find(|t| !matches!(*t, "the" | "its" | "only" | "just"))
                    .is_some_and(|t| number(t).is_some())
        }),
        excluded,
        budget,
        unread,
        cues,
        workload: super::workload::read(&all_words),
        words: all_words,
        target: None,
        kept: None,
    };
    p.intent = intent(&toks, &used, &p);
    // "do not reserve anything, I'm only checking: 2 l40s sunday 10-14": the request is a
    // question about its price, never a booking.
    if p.intent == Intent::Book && (negated_booking(&toks) || only_asking(&toks)) {
        // "... I just want to know if they're free": whether they are free, else the price.
        let free = toks
            .iter()
            .any(|t| matches!(t.as_str(), "free" | "available" | "availability" | "open"));
        p.intent = if free {
            Intent::Availability
        } else {
            Intent::Price
        };
    }
    p
}

/// Whether the message says it only asks ("I just want to know if they're free", "only
/// wondering", "just asking", "curious whether"): a request in it is a question.
fn only_asking(toks: &[String]) -> bool {
    toks.windows(3).any(|w| {
        matches!(w[0].as_str(), "want" | "wanted" | "wanna" | "like" | "need")
            && (w[1] == "know" || w[1] == "to" && w[2] == "know")
    }) || toks.windows(2).any(|w| {
        matches!(w[0].as_str(), "just" | "only" | "merely")
            && matches!(w[1].as_str(), "asking" | "wondering" | "curious")
    }) || toks.iter().any(|t| t == "curious")
}

/// Whether the message says not to book ("do not reserve", "don't book anything yet",
/// "no booking yet, just checking").
fn negated_booking(toks: &[String]) -> bool {
    let verb = |t: &str| {
        matches!(
            t,
            "book" | "reserve" | "booking" | "reserving" | "reservation" | "grab"
        )
    };
    toks.iter().enumerate().any(|(i, t)| {
        verb(t)
            && toks[i.saturating_sub(2)..i]
                .iter()
                .any(|w| matches!(w.as_str(), "not" | "don't" | "dont" | "never" | "no"))
    }) || toks
        .windows(2)
        .any(|w| w[0] == "just" && w[1] == "checking")
        || toks
            .windows(2)
            .any(|w| w[0] == "only" && w[1] == "checking")
}

/// A time word left over after the grammar ran ("a week from tody" → "week"), with the
/// words around it, as a problem to name back. Not after "per"/"a"/"each" ("per day").
fn unread_time_words(text: &str, toks: &[String], time: &Reading) -> Option<when::Problem> {
    const UNITS: &[&str] = &[
        "week",
        "weeks",
        "day",
        "days",
        "month",
        "months",
        "hour",
        "hours",
        "minute",
        "minutes",
        "mins",
        "hrs",
        "fortnight",
        "weekend",
        "tonight",
        "noon",
        "midnight",
        "morning",
        "afternoon",
        "evening",
        "ago",
        "yesterday",
        "today",
        "tomorrow",
    ];
    for (i, t) in toks.iter().enumerate() {
        // A day or month name with a typo the grammar did not take ("tody", "thrusday").
        let typo = t.len() >= 4
            && t.bytes().all(|b| b.is_ascii_alphabetic())
            && (super::words::day_names().any(|n| {
                let d = super::words::edit_distance(n, t);
                d <= 1 || d == 2 && n.len() >= 7 && t.len() >= 5
            }) || ["after", "before"]
                .iter()
                .any(|n| super::words::edit_distance(n, t) <= 1));
        // Unit words left over matter only when no day was read ("the wrong day" beside
        // "Wednesday" is a story); typos of day names and after/before always do.
        let unit = UNITS.contains(&t.as_str()) && time.said.date.is_none();
        if !unit && !typo {
            continue;
        }
        let prev = if i > 0 { toks[i - 1].as_str() } else { "" };
        // "per GPU-hour", "per GPU per hour": a rate, not a time.
        let rate = i >= 2 && toks[i - 2] == "per" && matches!(prev, "gpu" | "card" | "device");
        if (rate
            || matches!(
                prev,
                "per" | "a" | "an" | "each" | "every" | "good" | "the" | "this"
            ))
            && matches!(
                t.as_str(),
                "day" | "week" | "month" | "hour" | "morning" | "afternoon" | "evening"
            )
        {
            continue;
        }
        let from = i.saturating_sub(2);
        let piece = toks[from..(i + 3).min(toks.len())]
            .iter()
            .filter(|w| *w != "|")
            .cloned()
            .collect::<Vec<_>>()
            .join(" ");
        let at = text.to_lowercase().find(t.as_str()).unwrap_or(0);
        return Some(when::Problem {
            span: at..at + t.len(),
            text: piece,
            kind: when::ProblemKind::Unreadable,
        });
    }
    None
}

/// A range starting with a 24-hour time ("0800-10am", "1200-3 pm") whose start was read as
/// something else, or a "pm" with no afternoon time read: named back, not half-used.
fn inconsistent_times(text: &str, time: &Reading) -> Option<when::Problem> {
    let said = &time.said;
    let lower = text.to_lowercase();
    let b = lower.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_alphanumeric()) {
            let s0 = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            let digits = &lower[s0..i];
            // "13h-4": an hour written with an h.
            let h_suffix = i < b.len() && b[i] == b'h' && digits.len() <= 2;
            let mut k = if h_suffix { i + 1 } else { i };
            while k < b.len() && b[k] == b' ' {
                k += 1;
            }
            let tail = lower.get(k..).unwrap_or("");
            let dash_len = ['-', '\u{2013}', '\u{2014}']
                .iter()
                .find(|d| tail.starts_with(**d))
                .map(|d| d.len_utf8());
            let dash = dash_len.is_some();
            // Not a date ("2026-12-03", "2026/12"): the part after the dash is followed by
            // another dash or slash, or holds no time.
            let after_dash = tail.get(dash_len.unwrap_or(0)..).unwrap_or("").trim_start();
            let next: String = after_dash
                .chars()
                .take_while(|c| c.is_ascii_digit())
                .collect();
            let rest = after_dash.get(next.len()..).and_then(|r| r.chars().next());
            let date_like = matches!(rest, Some('-' | '/' | '.')) || next.is_empty();
            if ((3..=4).contains(&digits.len()) || h_suffix) && dash && !date_like {
                let n: u32 = digits.parse().unwrap_or(9999);
                let hhmm = if h_suffix {
                    chrono::NaiveTime::from_hms_opt(n, 0, 0)
                } else {
                    chrono::NaiveTime::from_hms_opt(n / 100, n % 100, 0)
                };
                if hhmm.is_some() && said.start.is_some() && said.start != hhmm {
                    let piece = lower.get(s0..).unwrap_or("");
                    let len = piece
                        .char_indices()
                        .skip(1)
                        .find(|(_, c)| c.is_whitespace())
                        .map_or(piece.len(), |(e, _)| e);
                    let piece = text.get(s0..s0 + len).unwrap_or(digits).to_string();
                    return Some(when::Problem {
                        span: s0..s0 + len,
                        text: piece,
                        kind: when::ProblemKind::Unreadable,
                    });
                }
            }
            continue;
        }
        i += 1;
    }
    let pm = tokens(text).iter().any(|t| {
        t == "pm" || t.starts_with("p.m") || t.ends_with("pm") && t.as_bytes()[0].is_ascii_digit()
    });
    let noon = chrono::NaiveTime::from_hms_opt(12, 0, 0).expect("valid");
    let afternoon = said.start.is_some_and(|t| t >= noon) || said.end.is_some_and(|t| t >= noon);
    if pm && (said.start.is_some() || said.end.is_some()) && !afternoon && !said.end_midnight {
        let at = lower.find("pm").or_else(|| lower.find("p.m")).unwrap_or(0);
        return Some(when::Problem {
            span: at..at + 2,
            text: "pm".into(),
            kind: when::ProblemKind::Unreadable,
        });
    }
    None
}

/// A digit run right after a consumed time, joined by a dash or colon ("10-12" of which
/// only "10" was read).
fn leftover_piece(text: &str, time: &Reading) -> Option<when::Problem> {
    let b = text.as_bytes();
    let consumed = time.consumed();
    let inside = |at: usize| consumed.iter().any(|c| c.start <= at && at < c.end);
    // "0800-10am" read as "10am": digits glued before the piece.
    for r in &consumed {
        if r.start >= 2
            && b[r.start - 1] == b'-'
            && b[r.start - 2].is_ascii_digit()
            && !inside(r.start - 2)
        {
            let mut i = r.start - 1;
            while i > 0 && b[i - 1].is_ascii_alphanumeric() {
                i -= 1;
            }
            return Some(when::Problem {
                span: i..r.end,
                text: text[i..r.end].to_string(),
                kind: when::ProblemKind::Unreadable,
            });
        }
    }
    for r in &consumed {
        let mut i = r.end;
        if i >= b.len() || !matches!(b[i], b'-' | b':') {
            continue;
        }
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let inside = consumed.iter().any(|c| c.start <= start && start < c.end);
        if i > start && !inside && (i == b.len() || !b[i].is_ascii_alphanumeric()) {
            return Some(when::Problem {
                span: r.start..i,
                text: text[r.start..i].to_string(),
                kind: when::ProblemKind::Unreadable,
            });
        }
    }
    None
}

/// The text with greetings that name a part of the day ("Good afternoon.") blanked, so
/// the time grammar does not read them as a time; lengths and positions are kept.
fn without_greetings(text: &str) -> String {
    let lower = text.to_lowercase();
    if lower.len() != text.len() || !lower.contains("good ") {
        return text.to_string();
    }
    let mut out = text.as_bytes().to_vec();
    for g in [
        "good morning",
        "good afternoon",
        "good evening",
        "good night",
        "good day",
    ] {
        let mut from = 0;
        while let Some(pos) = lower[from..].find(g) {
            let at = from + pos;
            out[at..at + g.len()].iter_mut().for_each(|b| *b = b' ');
            from = at + g.len();
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| text.to_string())
}

/// The intent with the highest score; ties go to the earlier in `ORDER` (a request
/// outranks a question about the same thing: proposing is safe, it needs a yes).
fn intent(toks: &[String], used: &[bool], p: &Parsed) -> Intent {
    let c = &p.cues;
    let cued = c.cued(toks.len());
    // Words that are neither filler, nor cues, nor details.
    let other = toks
        .iter()
        .enumerate()
        .filter(|(i, t)| !used[*i] && !cued[*i] && !is_filler(t) && !is_gpu_noun(t))
        .count();
    let details = p.has_details() || p.unknown_model.is_some();
    let meaningful = toks.iter().filter(|t| !is_filler(t)).count();
    // Short answers: a yes or a no and nothing else of substance.
    // ("yes, all of it" answers a proposal to cancel everything.)
    if !details
        && p.booking_ref
            .as_ref()
            .is_none_or(|r| matches!(r, BookingRef::It | BookingRef::All))
    {
        let booking_verbs = c.has(Cue::Cancel) || c.has(Cue::Change);
        if c.has(Cue::No) && other <= 1 && !booking_verbs {
            return Intent::No;
        }
        if c.has(Cue::No)
            && c.has(Cue::Cancel)
            && other == 0
            && toks.len() <= 4
            && toks.iter().any(|t| t == "that" || t == "it")
        {
            // "actually cancel that", "no, cancel it": a no to what is pending (the
            // dialogue reads "cancel it" after a booking as a cancellation).
            return Intent::No;
        }
        // "hmm ok maybe", "yes, probably": a hedged yes is not a yes.
        let hedged = toks.iter().any(|t| {
            matches!(
                t.as_str(),
                "maybe"
                    | "perhaps"
                    | "possibly"
                    | "probably"
                    | "might"
                    | "hmm"
                    | "hmmm"
                    | "unsure"
                    | "checking"
                    | "dunno"
                    | "idk"
            )
        }) || toks.windows(2).any(|w| w[0] == "not" && w[1] == "sure");
        if hedged && c.has(Cue::Yes) && !booking_verbs {
            return Intent::Unknown;
        }
        if c.has(Cue::Yes) && !c.has(Cue::No) && other == 0 && !booking_verbs {
            return Intent::Yes;
        }
    }
    let has = |x: Cue| u32::from(c.has(x));
    let q = u32::from(p.question);
    let refd = u32::from(p.booking_ref.is_some() || p.ref_by_model);
    let slots = u32::from(details);
    let model_and_time =
        u32::from((!p.models.is_empty() || p.by_property.is_some()) && p.time_said());
    let mine = has(Cue::Mine);
    let noun = has(Cue::BookingNoun);
    // "2 more hours on my booking", "one fewer gpu on my l40s booking", "make the a100
    // booking 3 gpus": a change of a booking named by a noun.
    // "the A100s", "my H100": a definite model is a booking already made.
    let definite_model = u32::from(p.definite_model);
    let booking_named = noun + u32::from(p.ref_by_model) + definite_model;
    // "make the a100 booking 3 gpus", "1 gpu on that booking": a count for a booking named.
    let on_booking = toks.iter().enumerate().any(|(i, w)| {
        matches!(w.as_str(), "the" | "that" | "this" | "my")
            && toks[i + 1..]
                .iter()
                .take(2)
                .any(|x| matches!(x.as_str(), "booking" | "reservation"))
    });
    let change_details = u32::from(
        (matches!(p.count, Some(Count::Exact(_))) || p.bare_number.is_some())
            && on_booking
            && !p.time_said()
            || p.count_delta.is_some()
            || p.time.said.extra.is_some()
            || p.time.said.by.is_some()
            || p.time.said.shift.is_some()
            || (p.correction || c.has(Cue::More) || c.has(Cue::Fewer))
                && (p.count.is_some() || p.time_said()),
    );
    let named = u32::from(booking_named > 0 || p.booking_ref.is_some() || c.has(Cue::Extend));
    let change_words =
        has(Cue::Extend) + has(Cue::Shorten) + has(Cue::Move) + has(Cue::Later) + has(Cue::Earlier);
    // "if I rented 8 A100 for 12 hours, what would the bill be": a question, not a request.
    // ("what would 8 v100 for 3 days run us", with or without an "if")
    // "if I were to book 4 l40s ..., would they be on one node?": an "if" with "were" or
    // "would" is a supposition too.
    let supposing = toks.iter().any(|t| t == "if")
        && toks.iter().any(|t| matches!(t.as_str(), "were" | "would"));
    let hypothetical = u32::from(
        toks.iter().any(|t| t == "would")
            && toks
                .iter()
                .any(|t| matches!(t.as_str(), "what" | "how" | "whats"))
            || supposing,
    );
    // "what's the most affordable GPU you rent out?": which model, not a booking.
    let which_model = u32::from(
        toks.first()
            .is_some_and(|t| matches!(t.as_str(), "what" | "which" | "whats"))
            && p.by_property.is_some()
            && p.models.is_empty()
            && !p.time_said()
            && p.count.is_none(),
    );
    let asks = hypothetical.max(which_model);
    // "when does my L40S booking start?", "do I have anything on Wednesday?", "what have I
    // booked for Friday?": a question about one's own bookings, whatever else it names.
    let said = |w: &[&str]| words::any(toks, w);
    let own_question = u32::from(
        p.question
            && c.has(Cue::Mine)
            && !said(&[
                "can", "could", "may", "should", "want", "need", "like", "please",
            ])
            && (said(&["booked", "reserved", "scheduled"])
                || said(&["anything", "something"]) && said(&["have", "got"])
                // "what do I have on monday?", "what have we got tomorrow?"
                || said(&["what", "whats"]) && said(&["have", "got"]) && said(&["i", "we"])
                || c.has(Cue::BookingNoun)
                    && said(&["when", "what", "which", "does", "do", "is", "are", "how"])
                    && !c.has(Cue::Cancel)
                    && !c.has(Cue::Change)),
    );
    // "drop it to one card", "cut my booking to 2 hours": a new size, not a cancellation.
    let down_to = u32::from(reduced_to(toks).is_some() || removed_gpus(toks, used).is_some());
    // "what are my limits?", "how much budget is left?", "how many gpu-hours have we used?":
    // a question about the account, not a request.
    let account = u32::from(
        (p.question || said(&["show", "tell"]))
            && p.models.is_empty()
            && p.count.is_none()
            && (said(&["quota", "quotas", "limit", "limits", "allowance"])
                || said(&["budget"]) && said(&["left", "remaining", "have", "much"])
                || said(&["gpu-hours", "hours"]) && said(&["used", "use", "consumed", "spent"])),
    );
    let scores = [
        (
            Intent::Cancel,
            4 * has(Cue::Cancel) * (1 + (noun | refd | mine)) * (1 - down_to),
        ),
        (
            Intent::Change,
            10 * down_to
                + 3 * has(Cue::Change)
                + change_words * (1 + slots)
                + has(Cue::Change) * refd
                + 5 * change_details * named,
        ),
        (
            Intent::Total,
            // "how much will my bookings cost?"
            // "what's my bill now in total?": a time beside "my" does not make it a request.
            (4 * has(Cue::Total) + 5 * has(Cue::Price) * mine * noun) * (1 - slots * (1 - mine)),
        ),
        (
            Intent::FindSlot,
            // "a maintenance window fri 4 dec 18:00-22:00": a time given whole is a request.
            (4 * has(Cue::Soonest) + has(Cue::Soonest) * q)
                * u32::from(
                    p.time.said.start.is_none()
                        || p.time.said.end.is_none() && p.time.said.duration.is_none(),
                ),
        ),
        (
            Intent::Book,
            has(Cue::Book) * (3 + slots + model_and_time * (1 - q)) * (1 - asks),
        ),
        (
            Intent::Price,
            4 * has(Cue::Price)
                + u32::from(p.per_minutes.is_some()) * 2
                + 5 * asks * (has(Cue::Price) | has(Cue::Total) | has(Cue::Book)),
        ),
        (
            Intent::Availability,
            3 * has(Cue::Avail)
                + has(Cue::Avail) * q
                // "how many ... can I get right now?": a question about what is free.
                + 3 * has(Cue::Avail) * q * u32::from(toks.iter().any(|t| t == "many")),
        ),
        (Intent::Account, 20 * account),
        (
            Intent::MyBookings,
            ((3 * noun + mine + has(Cue::List)) * noun + 2 * has(Cue::List) * mine) * (1 - slots)
                + 12 * own_question,
        ),
        (
            Intent::Inventory,
            5 * u32::from(toks.iter().any(|t| {
                matches!(
                    t.as_str(),
                    "architecture" | "architectures" | "arch" | "generation" | "family"
                )
            })) + 2
                * has(Cue::Inventory)
                * (1 - u32::from(
                    !p.models.is_empty()
                        || p.time_said()
                        || p.by_property.is_some()
                        || matches!(p.count, Some(Count::Exact(_))),
                ))
                + 2 * u32::from(p.wanted.any() && !c.has(Cue::Book) && !p.time_said()),
        ),
        (Intent::Help, 4 * has(Cue::Help)),
        (Intent::Thanks, 2 * has(Cue::Thanks) * (1 - slots)),
        (
            Intent::Greeting,
            2 * has(Cue::Greet) * u32::from(meaningful <= 4),
        ),
    ];
    let best = scores.iter().fold((Intent::Unknown, 0), |acc, (i, s)| {
        if *s > acc.1 {
            (*i, *s)
        } else {
            acc
        }
    });
    match best {
        (Intent::Unknown, _) if details || p.booking_ref.is_some() => Intent::Details,
        // A yes-word among words nothing read ("oh sure, because money grows on trees") is
        // not a yes: every word of a yes is accounted for but a few.
        (Intent::Unknown, _) if c.has(Cue::Yes) && !c.has(Cue::No) && other <= 2 => Intent::Yes,
        (Intent::Unknown, _) if c.has(Cue::No) => Intent::No,
        (i, _) => i,
    }
}

/// A booking id or a prefix of one: 4-32 hex digits with at least one digit (so words like
/// "face" or "decade" are not ids), or a whole 32-digit id.
fn hex_ref(t: &str) -> bool {
    let hex = t.bytes().all(|b| b.is_ascii_hexdigit());
    hex && (t.len() == 32 || (4..=32).contains(&t.len()) && t.bytes().any(|b| b.is_ascii_digit()))
}

/// "the one on the 9th", "the one that starts Friday", "the Friday booking", "my Dec 3
/// reservation": a date naming a booking. Returns it and its span.
fn date_reference(
    text: &str,
    time: &Reading,
) -> Option<(Vec<NaiveDate>, Vec<std::ops::Range<usize>>, bool)> {
    let mut dates = Vec::new();
    // Whether a day was named by its weekday alone ("the thursday one").
    let mut weekday = false;
    let mut spans = Vec::new();
    let lower = text.to_lowercase();
    for m in &time.mentions {
        let date = match &m.kind {
            MentionKind::Date(d) | MentionKind::DateTime(d, _) => *d,
            _ => continue,
        };
        let mut before: Vec<&str> = lower
            .get(..m.span.start.min(lower.len()))
            .unwrap_or("")
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        // The grammar's span may hold the preposition ("on friday"): read it as before.
        let inner = lower.get(m.span.clone()).unwrap_or("");
        if let Some(p) = [
            "starts on ",
            "starting on ",
            "on ",
            "for ",
            "from ",
            "starting ",
        ]
        .iter()
        .find(|p| inner.starts_with(**p))
        {
            before.extend(p.split_whitespace());
        }
        // A part of the day or a model between the day and the noun is passed over ("the
        // friday evening one", "tomorrow's A100 slot").
        let after: Vec<&str> = lower
            .get(m.span.end.min(lower.len())..)
            .unwrap_or("")
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| {
                let passed_over =
                    matches!(*w, "morning" | "afternoon" | "evening" | "night" | "gpu")
                        || w.len() > 1 && w.bytes().any(|b| b.is_ascii_digit());
                !w.is_empty() && !passed_over
            })
            .take(2)
            .collect();
        let tail = |n: usize| before[before.len().saturating_sub(n)..].join(" ");
        let points = [
            "one on",
            "one for",
            "one from",
            "one starting",
            "one that starts",
            "one which starts",
            "one that s on",
            "one that is on",
            "booking on",
            "booking for",
            "reservation on",
            "reservation for",
            "booked for",
            "booked on",
            "one starting on",
            "one that starts on",
            "booking starting",
            "one due",
        ];
        // Only a determined noun names a booking: "the one on", "my booking for" — not
        // "quick one: on Dec 14", "a booking for Friday".
        let det = |w: &str| matches!(w, "the" | "my" | "that" | "this" | "your" | "our");
        // "the V100 booking on", "my a100 reservation for": a model word may stand between.
        let modelish = |w: &str| w == "gpu" || w.bytes().any(|b| b.is_ascii_digit());
        let determined = |n: usize| {
            before.len() > n && det(before[before.len() - n - 1])
                || before.len() > n + 1
                    && modelish(before[before.len() - n - 1])
                    && det(before[before.len() - n - 2])
        };
        let named_before = points.iter().any(|p| {
            let n = p.split(' ').count();
            tail(n) == *p && determined(n)
        });
        let noun_after = after.first().is_some_and(|w| {
            matches!(
                *w,
                "booking" | "bookings" | "reservation" | "reservations" | "one" | "s"
            )
        }) && before
            .last()
            .is_some_and(|w| matches!(*w, "the" | "my" | "that" | "this" | "and"));
        // "tomorrow's booking", "friday's reservation", "the one tomorrow".
        let noun = |w: &&str| {
            matches!(
                *w,
                "booking" | "bookings" | "reservation" | "reservations" | "slot" | "slots"
            )
        };
        let possessive = after.first() == Some(&"s") && after.get(1).is_some_and(noun)
            || after.first().is_some_and(noun) && before.last().is_some_and(|w| *w != "a");
        let the_one = before.len() >= 2
            && before[before.len() - 1] == "one"
            && matches!(before[before.len() - 2], "the" | "that");
        let noun_after = noun_after || possessive || the_one;
        let and_after = !dates.is_empty()
            && before.last().is_some_and(|w| matches!(*w, "the" | "and"))
            && (noun_after || after.first().is_some_and(|w| *w == "one"));
        if named_before || noun_after || and_after {
            dates.push(date);
            weekday |= weekday_only(inner);
            spans.push(m.span.clone());
        }
    }
    (!dates.is_empty()).then_some((dates, spans, weekday))
}

/// Whether a date piece is a weekday named alone ("thursday", "on Fri"), without a number
/// or a "next"/"this" that would fix its week.
fn weekday_only(piece: &str) -> bool {
    const DAYS: &[&str] = &[
        "mon", "tue", "tues", "wed", "thu", "thur", "thurs", "fri", "sat", "sun",
    ];
    let words: Vec<&str> = piece
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && !matches!(*w, "on" | "the" | "for" | "from" | "starting"))
        .collect();
    matches!(words.as_slice(), [w] if DAYS.iter().any(|d| w.strip_suffix("day").unwrap_or(w) == *d
        || w.starts_with(d) && w.ends_with("day")))
}

/// "the first one", "the second booking", "number 2".
fn ordinal_ref(toks: &[String]) -> Option<BookingRef> {
    const ORD: &[(&str, usize)] = &[
        ("first", 1),
        ("1st", 1),
        ("second", 2),
        ("2nd", 2),
        ("third", 3),
        ("3rd", 3),
        ("fourth", 4),
        ("4th", 4),
        ("fifth", 5),
        ("5th", 5),
        ("last", 0),
    ];
    let head = |w: &str| matches!(w, "one" | "booking" | "reservation");
    for (i, w) in toks.iter().enumerate() {
        if let Some((_, n)) = ORD.iter().find(|(o, _)| *o == w) {
            // "the second one", and "the second H100 booking" (the second of those)
            let next = toks.get(i + 1).map(String::as_str).unwrap_or("");
            let after = toks.get(i + 2).map(String::as_str).unwrap_or("");
            if head(next) || head(after) {
                return Some(BookingRef::Ordinal(*n));
            }
        }
    }
    None
}

/// "per day", "a day", "daily" → minutes in the period.
fn per_period(toks: &[String]) -> Option<i64> {
    for w in toks.windows(2) {
        if matches!(w[0].as_str(), "per" | "each" | "every") {
            match w[1].as_str() {
                "day" => return Some(24 * 60),
                "week" => return Some(7 * 24 * 60),
                "month" => return Some(30 * 24 * 60),
                "hour" | "hr" => return Some(60),
                _ => {}
            }
        }
    }
    toks.iter().find_map(|t| match t.as_str() {
        "daily" => Some(24 * 60),
        "weekly" => Some(7 * 24 * 60),
        "monthly" => Some(30 * 24 * 60),
        "hourly" => Some(60),
        _ => None,
    })
}

/// The properties a message asks for: "cheapest", "at least 48 GB", "Hopper".
fn wanted(toks: &[String], used: &[bool], cues: &Cues) -> Wanted {
    let mut w = Wanted {
        cheapest: cues.has(Cue::Cheapest),
        most_memory: cues.has(Cue::MostMemory),
        fastest: cues.has(Cue::Fastest),
        min_memory: None,
        family: None,
    };
    for (i, t) in toks.iter().enumerate() {
        if used[i] {
            continue;
        }
        let gb = t
            .strip_suffix("gb")
            .and_then(|n| n.trim_end_matches('+').parse::<u32>().ok())
            .or_else(|| {
                let next = toks.get(i + 1).map(String::as_str);
                (matches!(next, Some("gb" | "gig" | "gigs" | "gigabytes")))
                    .then(|| t.trim_end_matches('+').parse::<u32>().ok())
                    .flatten()
            });
        if let Some(n) = gb {
            w.min_memory = Some(w.min_memory.map_or(n, |m| m.max(n)));
        }
    }
    w
}

/// The model a property picks: among those meeting the memory bound (and architecture, via
/// the model list given), the cheapest — or the one with most memory / the fastest.
pub fn pick(inv: &Inventory, w: &Wanted) -> Option<(String, String)> {
    pick_among(inv, w, &[])
}

/// `pick`, never choosing a model in `excluded` ("no 4090s, the cheapest").
pub fn pick_among(inv: &Inventory, w: &Wanted, excluded: &[String]) -> Option<(String, String)> {
    let fits: Vec<&GpuModel> = inv
        .models()
        .iter()
        .filter(|m| !excluded.contains(&m.name))
        .filter(|m| w.min_memory.is_none_or(|g| m.memory_gb >= g))
        .filter(|m| {
            w.family.is_none_or(|f| {
                m.architecture()
                    .is_some_and(|a| a.to_lowercase().split(' ').any(|p| p == f))
            })
        })
        .collect();
    let chosen = if w.most_memory {
        let max = fits.iter().map(|m| m.memory_gb).max()?;
        fits.iter()
            .copied()
            .filter(|m| m.memory_gb == max)
            .min_by_key(|m| m.price_per_hour)
    } else if w.fastest && !w.cheapest {
        fits.iter().copied().max_by_key(|m| m.price_per_hour)
    } else {
        fits.iter().copied().min_by_key(|m| m.price_per_hour)
    }?;
    let mut why = Vec::new();
    if w.most_memory {
        why.push("card with the most memory".to_string());
    } else if w.fastest && !w.cheapest {
        why.push("fastest".to_string());
    } else {
        why.push("cheapest".to_string());
    }
    if let Some(f) = w.family {
        why.push(format!("{}{} card", f[..1].to_uppercase(), &f[1..]));
    }
    if let Some(g) = w.min_memory {
        why.push(format!("with at least {g} GB"));
    }
    Some((chosen.name.clone(), why.join(" ")))
}

/// Every model that meets the memory bound and family asked for, cheapest first.
pub fn fitting(inv: &Inventory, w: &Wanted) -> Vec<String> {
    let mut fits: Vec<&GpuModel> = inv
        .models()
        .iter()
        .filter(|m| w.min_memory.is_none_or(|g| m.memory_gb >= g))
        .filter(|m| {
            w.family.is_none_or(|f| {
                m.architecture()
                    .is_some_and(|a| a.to_lowercase().split(' ').any(|p| p == f))
            })
        })
        .collect();
    fits.sort_by_key(|m| m.price_per_hour);
    fits.iter().map(|m| m.name.clone()).collect()
}

/// Architecture names of the GPU families (the inventory names models; their family is
/// known from the name).
const ARCHITECTURES: &[&str] = &[
    "hopper",
    "ampere",
    "ada",
    "lovelace",
    "volta",
    "turing",
    "blackwell",
];

/// Finds the models a message names, marking the tokens used. Tolerant of case, plurals,
/// spacing ("rtx 4090", "a 100", "h100 80gb"), one typo in a model key ("a10o"), and
/// architecture names ("Hopper" → the cheapest model of that family).
pub fn find_models(
    toks: &[String],
    inv: &Inventory,
    used: &mut [bool],
) -> (Vec<String>, Option<&'static str>) {
    let (found, family, _) = find_models_and_excluded(toks, inv, used);
    (found, family)
}

/// `find_models`, and the models ruled out ("not the V100", "anything but the H100").
fn find_models_and_excluded(
    toks: &[String],
    inv: &Inventory,
    used: &mut [bool],
) -> (Vec<String>, Option<&'static str>, Vec<String>) {
    let mut family = None;
    let mut excluded = Vec::new();
    // Keys per model: its full normalised name, its first part with a digit ("a100",
    // "4090"), that part joined with earlier letter parts ("rtx4090").
    let keys: Vec<(String, Vec<String>)> = inv
        .models()
        .iter()
        .map(|m| {
            let parts: Vec<String> = m
                .name
                .split(|c: char| c == '-' || c.is_whitespace())
                .map(normalize)
                .filter(|p| !p.is_empty())
                .collect();
            let mut k = vec![normalize(&m.name)];
            if let Some(pos) = parts
                .iter()
                .position(|p| p.chars().any(|c| c.is_ascii_digit()))
            {
                k.push(parts[pos].clone());
                k.push(parts[..=pos].concat());
                if pos + 1 < parts.len() {
                    k.push(parts[..pos + 2].concat());
                    k.push(format!("{}{}", parts[pos], parts[pos + 1]));
                }
            }
            for p in &parts {
                if p.len() >= 3 && p.chars().all(|c| c.is_ascii_alphabetic()) {
                    k.push(p.clone());
                }
            }
            (m.name.clone(), k)
        })
        .collect();
    let unique_word = |w: &str| {
        keys.iter()
            .filter(|(_, k)| k.iter().any(|x| x == w))
            .count()
            == 1
    };
    let lookup = |cand: &str, typos: bool| -> Option<String> {
        let mut forms = vec![cand.to_string()];
        if let Some(s) = cand.strip_suffix('s') {
            forms.push(s.to_string());
        }
        if let Some(s) = cand.strip_suffix("es") {
            forms.push(s.to_string());
        }
        for f in &forms {
            let hits: Vec<&String> = keys
                .iter()
                .filter(|(_, k)| k.contains(f))
                .map(|(n, _)| n)
                .collect();
            if hits.len() == 1 && (f.chars().any(|c| c.is_ascii_digit()) || unique_word(f)) {
                return Some(hits[0].clone());
            }
        }
        if !typos || cand.len() < 3 || !cand.chars().any(|c| c.is_ascii_digit()) {
            return None;
        }
        // One typo, in keys with digits of 4+ characters; 'o' for '0' is forgiven.
        let fixed = cand.replace('o', "0");
        let digits = |x: &str| x.chars().filter(char::is_ascii_digit).collect::<String>();
        let dist = |k: &Vec<String>| {
            k.iter()
                .filter(|x| x.len() >= 4 && x.chars().any(|c| c.is_ascii_digit()))
                // A typo in the letters only: "rtx 3090" is not an RTX 4090.
                .filter(|x| digits(x) == digits(&fixed))
                .map(|x| edit_distance(x, &fixed).min(edit_distance(x, cand.trim_end_matches('s'))))
                .min()
                .unwrap_or(usize::MAX)
        };
        let mut scored: Vec<(usize, &String)> = keys
            .iter()
            .map(|(n, k)| (dist(k), n))
            .filter(|(d, _)| *d <= 1)
            .collect();
        scored.sort();
        match scored.as_slice() {
            [(d, n), rest @ ..] if rest.first().is_none_or(|(d2, _)| d2 > d) => Some((*n).clone()),
            _ => None,
        }
    };
    let mut found = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        if used[i] {
            i += 1;
            continue;
        }
        // An architecture name: a property ("a Hopper card"), picked with the others.
        let arch = toks[i].trim_end_matches('s');
        if let Some(a) = ARCHITECTURES.iter().find(|a| **a == arch) {
            used[i] = true;
            family = Some(*a);
            i += 1;
            continue;
        }
        let mut matched = None;
        for n in (1..=3).rev() {
            if i + n > toks.len()
                || used[i..i + n].iter().any(|u| *u)
                || toks[i..i + n].iter().any(|t| t == "|")
            {
                continue;
            }
            let joined = normalize(&toks[i..i + n].concat());
            if joined.is_empty() || (n == 1 && number(&toks[i]).is_some() && toks[i].len() < 4) {
                continue;
            }
            if n > 1 && toks[i].bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            // "rtx 3090": a family word followed by another number is another model.
            let other_number = n == 1
                && !joined.chars().any(|c| c.is_ascii_digit())
                && toks.get(i + 1).is_some_and(|t| {
                    let t = t.trim_end_matches('s');
                    t.len() >= 3 && t.bytes().all(|b| b.is_ascii_digit())
                });
            if other_number {
                continue;
            }
            if let Some(m) = lookup(&joined, n == 1) {
                matched = Some((m, n));
                break;
            }
        }
        match matched {
            Some((m, n)) => {
                used[i..i + n].iter_mut().for_each(|u| *u = true);
                // "h100 80gb": a trailing memory size belongs to the model.
                if toks.get(i + n).is_some_and(|t| t.ends_with("gb")) {
                    used[i + n] = true;
                }
                // "not v100 - a100", "instead of the V100": a model ruled out.
                let ruled_out = ruled_out(&toks[..i]);
                if ruled_out {
                    if !excluded.contains(&m) {
                        excluded.push(m);
                    }
                } else if !found.contains(&m) {
                    found.push(m);
                }
                i += n;
            }
            None => i += 1,
        }
    }
    (found, family, excluded)
}

/// Whether the words before a model rule it out: "not", "no", "except", "without",
/// "instead of", "rather than", with a determiner between ("instead of the A100s").
fn ruled_out(before: &[String]) -> bool {
    let det = |t: &str| {
        matches!(
            t,
            "the" | "my" | "those" | "these" | "that" | "this" | "a" | "an"
        )
    };
    // One determiner may stand between ("instead of the A100s").
    let w = match before {
        [rest @ .., d] if det(d) => rest,
        _ => before,
    };
    match w {
        [.., a, b] if (a == "instead" && b == "of") || (a == "rather" && b == "than") => true,
        // "anything but the V100", "all but the 4090s"
        [.., a, b]
            if b == "but" && matches!(a.as_str(), "anything" | "everything" | "all" | "any") =>
        {
            true
        }
        [.., a, b] if exception(a, Some(b)) => true,
        [.., a] => matches!(a.as_str(), "not" | "no" | "without") || exception(a, None),
        _ => false,
    }
}

/// "+1 gpu", "+2h": a plus sign before a number written as "more" after it ("1 more gpu",
/// "2h more"), which the rest reads as an addition.
fn plus_as_more(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains('+') {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    let mut rest = text;
    while let Some(at) = rest.find('+') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let n = after
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'.')
            .count();
        let piece = &after[..n];
        let before_ok = rest[..at]
            .chars()
            .last()
            .is_none_or(|c| !c.is_alphanumeric());
        if before_ok && piece.bytes().next().is_some_and(|b| b.is_ascii_digit()) {
            out.push_str(piece);
            out.push_str(" more");
            rest = &after[n..];
        } else {
            out.push('+');
            rest = after;
        }
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

/// Which of several bookings a word picks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// "the big one": the most GPUs.
    Biggest,
    /// "the small one": the fewest GPUs.
    Smallest,
    /// "the later one", "the latest": the last to start.
    Latest,
    /// "the earlier one", "the earliest": the first to start.
    Earliest,
    /// "the cheaper one": the lowest price.
    Cheapest,
    /// "the more expensive one": the highest price.
    Dearest,
    /// "the booking I just made": the last one made.
    Newest,
}

/// "the big a100 booking", "the later of my two": a size word anywhere, a time word only
/// after "the" ("push it later" is a change, not a pick).
fn which_one(toks: &[String]) -> Option<Pick> {
    toks.iter().enumerate().find_map(|(i, t)| {
        let after_the = i > 0 && toks[i - 1] == "the";
        let prev_is = i > 0 && toks[i - 1] == "is";
        match t.as_str() {
            "big" | "bigger" | "biggest" | "large" | "larger" | "largest" => Some(Pick::Biggest),
            "small" | "smaller" | "smallest" => Some(Pick::Smallest),
            "later" | "latest" if after_the => Some(Pick::Latest),
            // "the cheaper one", "whichever is cheaper", "the most expensive booking"
            "cheaper" | "cheapest" if after_the || prev_is => Some(Pick::Cheapest),
            "pricier" | "priciest" | "dearer" if after_the || prev_is => Some(Pick::Dearest),
            "expensive" if i > 1 && matches!(toks[i - 1].as_str(), "more" | "most") => {
                Some(Pick::Dearest)
            }
            "earlier" | "earliest" if after_the => Some(Pick::Earliest),
            // "the booking I just made", "the one I just booked"
            "just"
                if toks.get(i + 1).is_some_and(|n| {
                    matches!(
                        n.as_str(),
                        "made" | "booked" | "created" | "reserved" | "did"
                    )
                }) =>
            {
                Some(Pick::Newest)
            }
            _ => None,
        }
    })
}

/// The models named after an "except" word, if there is one.
fn excepted(toks: &[String], inv: &Inventory) -> Option<Vec<String>> {
    let at = toks.iter().enumerate().position(|(i, t)| {
        exception(t, None) || exception(t, toks.get(i + 1).map(String::as_str))
    })?;
    let tail = &toks[at + 1..];
    let mut used = vec![false; tail.len()];
    let mut skip = tail.to_vec();
    // The pair's second word ("for", "than", "from") is not a model.
    if let Some(first) = skip.first_mut() {
        if matches!(first.as_str(), "for" | "than" | "from") {
            first.clear();
        }
    }
    Some(find_models(&skip, inv, &mut used).0)
}

/// Whether words say "all but": "except (for)", "excluding", "besides", "other than",
/// "apart from" (`next` is the word after `w`, if it is a pair).
fn exception(w: &str, next: Option<&str>) -> bool {
    match next {
        Some(n) => matches!(
            (w, n),
            ("except", "for") | ("other", "than") | ("apart", "from")
        ),
        None => matches!(w, "except" | "excluding" | "besides"),
    }
}

/// Whether the end is said to stay: an end word ("end", "finish") within two words of
/// "same", "keep", "still", "stays" or "unchanged".
fn keeps_end(toks: &[String]) -> bool {
    let end = |t: &str| matches!(t, "end" | "ending" | "ends" | "finish" | "finishing");
    let keep = |t: &str| {
        matches!(
            t,
            "same" | "keep" | "still" | "stays" | "unchanged" | "planned" | "before"
        )
    };
    toks.iter().enumerate().any(|(i, t)| {
        end(t)
            && toks[i.saturating_sub(3)..(i + 3).min(toks.len())]
                .iter()
                .any(|w| keep(w))
    })
}

/// A word that looks like a GPU model the inventory does not have: letters and digits
/// mixed ("a6000", "mi300", "t4"), or a known accelerator family ("tpu").
fn unknown_model(toks: &[String], used: &[bool]) -> Option<String> {
    const BRANDS: &[&str] = &[
        "rtx", "gtx", "tesla", "quadro", "radeon", "instinct", "titan", "arc",
    ];
    for i in 0..toks.len().saturating_sub(1) {
        if !used[i]
            && !used[i + 1]
            && BRANDS.contains(&toks[i].as_str())
            && toks[i + 1]
                .trim_end_matches('s')
                .bytes()
                .all(|b| b.is_ascii_digit())
        {
            return Some(format!("{} {}", toks[i], toks[i + 1]));
        }
    }
    toks.iter().zip(used).find_map(|(t, u)| {
        if *u {
            return None;
        }
        let letters = t.bytes().filter(|b| b.is_ascii_alphabetic()).count();
        let digits = t.bytes().filter(|b| b.is_ascii_digit()).count();
        let mixed = letters >= 1
            && digits >= 1
            && t.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
            && t.bytes().all(|b| b.is_ascii_alphanumeric())
            && !hex_ref(t)
            && !t.ends_with("gb")
            && !matches!(t.as_str(), "x2" | "x3" | "x4" | "x8" | "x16" | "x1");
        let family = matches!(
            t.as_str(),
            "tpu" | "tpus" | "ipu" | "fpga" | "fpgas" | "mi300" | "gaudi"
        );
        (mixed || family).then(|| t.clone())
    })
}

/// Finds a count: a number word or digits before a model or a GPU noun ("2 A100s", "a
/// couple of 4090s", "four v100", "an H100", "x4"), or after one ("A100 x 2"); and a
/// change of count ("one more GPU", "two fewer").
fn find_count(toks: &[String], used: &[bool], model_at: &[bool]) -> (Option<Count>, Option<i32>) {
    // "3 or 4 A100s", "one or two of them": how many is asked, not chosen.
    let alternatives = (2..toks.len()).any(|k| {
        toks[k - 1] == "or"
            && !used[k - 2]
            && !used[k]
            && number(&toks[k - 2]).is_some()
            && number(&toks[k]).is_some()
            && !matches!(toks[k].as_str(), "a" | "an")
    });
    if alternatives {
        return (Some(Count::Some), None);
    }
    // A number right before a model wins over one before a generic noun ("6 people, one
    // card each, so 6 rtx 4090").
    for i in 0..toks.len().saturating_sub(1) {
        if used[i] {
            continue;
        }
        // The model next, or after one unknown word ("6x rxt 4090").
        let nx = toks[i]
            .strip_suffix('x')
            .is_some_and(|x| x.parse::<u32>().is_ok());
        let next_model = model_at[i + 1]
            || nx
                && toks.get(i + 2).is_some_and(|_| model_at[i + 2])
                && number(&toks[i + 1]).is_none()
                && toks[i + 1] != "|"
                && !used[i + 1];
        if !next_model {
            continue;
        }
        let n = number(&toks[i]).or_else(|| toks[i].strip_suffix('x').and_then(|x| x.parse().ok()));
        if let Some(n) = n {
            if i > 0 && matches!(toks[i - 1].as_str(), "not" | "than") {
                continue;
            }
            // "every single V100": emphasis on "every", not one.
            if toks[i] == "single" && i > 0 && matches!(toks[i - 1].as_str(), "every" | "each") {
                continue;
            }

            // "half an A100", "50% of an A100": a part of a GPU is not rented; "a few
            // H100s": not a number. How many is asked.
            let part_of = i > 1 && toks[i - 1] == "of" && matches!(toks[i].as_str(), "a" | "an");
            if i > 0 && matches!(toks[i - 1].as_str(), "half" | "quarter")
                || toks[i] == "few"
                || part_of
            {
                return (Some(Count::Some), None);
            }
            return (Some(Count::Exact(n)), None);
        }
    }
    for i in 0..toks.len() {
        if used[i] && !model_at[i] {
            continue;
        }
        let t = toks[i].as_str();
        if (t == "all" || t == "every")
            && toks[i + 1..]
                .iter()
                .zip(&model_at[i + 1..])
                .take(3)
                .any(|(w, m)| *m || is_gpu_noun(w) && w != "of" && w != "x")
        {
            return (Some(Count::All), None);
        }
        if model_at[i] {
            // "h100 pair"
            if toks.get(i + 1).is_some_and(|t| t == "pair") {
                return (Some(Count::Exact(2)), None);
            }
            // "A100 x 2", "a100 x2", "H100 80GB x8"
            let i = if toks.get(i + 1).is_some_and(|t| t.ends_with("gb")) {
                i + 1
            } else {
                i
            };
            if let Some(n) = toks
                .get(i + 1)
                .and_then(|x| x.strip_prefix('x'))
                .and_then(|x| x.parse::<u32>().ok())
            {
                return (Some(Count::Exact(n)), None);
            }
            if toks.get(i + 1).map(String::as_str) == Some("x") {
                if let Some(n) = toks.get(i + 2).and_then(|x| x.parse::<u32>().ok()) {
                    return (Some(Count::Exact(n)), None);
                }
            }
            continue;
        }
        if let Some(n) = t.strip_suffix('x').and_then(|x| x.parse::<u32>().ok()) {
            if toks
                .get(i + 1)
                .is_some_and(|w| model_at[i + 1] || is_gpu_noun(w))
            {
                return (Some(Count::Exact(n)), None);
            }
        }
        let Some(n) = number(t) else { continue };
        let mut j = i + 1;
        let mut delta = 0i32;
        while j < toks.len()
            && matches!(
                toks[j].as_str(),
                "of" | "couple"
                    | "pair"
                    | "few"
                    | "more"
                    | "fewer"
                    | "less"
                    | "nvidia"
                    | "extra"
                    | "additional"
                    | "big"
                    | "fast"
                    | "new"
                    | "the"
                    | "those"
                    | "these"
                    | "them"
                    | "your"
                    | "x"
                    | "cheapest"
                    | "cheaper"
                    | "fastest"
                    | "biggest"
                    | "largest"
                    | "best"
                    | "most"
                    | "least"
                    | "powerful"
                    | "expensive"
                    | "newest"
                    | "available"
            )
            && !model_at[j]
        {
            match toks[j].as_str() {
                "more" | "extra" | "additional" => delta = 1,
                "fewer" | "less" => delta = -1,
                _ => {}
            }
            j += 1;
        }
        let noun = |w: &str| is_gpu_noun(w) && w != "of" && w != "x";
        // "4 of the lowest cost GPUs": a GPU noun a few plain words on.
        // ... or after one unknown word ("four Hopepr GPUs"); nouns with a typo count
        // ("cadrs").
        let nounish = |w: &str| {
            noun(w)
                || w.len() >= 4
                    && ["cards", "gpus", "card"]
                        .iter()
                        .any(|n| edit_distance(n, w) == 1)
        };
        let of = toks.get(i + 1).is_some_and(|w| w == "of");
        let plain =
            |w: &String| !is_filler(w) && !cues(std::slice::from_ref(w), &[false]).cued(1)[0];
        if !(j < toks.len() && (model_at[j] || noun(&toks[j])))
            && (of || !matches!(t, "one" | "a" | "an"))
        {
            let reach = if of { 7 } else { 3 };
            let mut k = j;
            while k < toks.len()
                && k < i + reach
                && number(&toks[k]).is_none()
                && toks[k] != "|"
                && !nounish(&toks[k])
                && !model_at[k]
                && (of || plain(&toks[k]))
            {
                k += 1;
            }
            if k < toks.len() && (nounish(&toks[k]) || model_at[k]) {
                j = k;
            }
        }
        let before_model = j < toks.len()
            && (model_at[j]
                || noun(&toks[j])
                || toks[j].len() >= 4
                    && ["cards", "gpus", "card"]
                        .iter()
                        .any(|n| edit_distance(n, &toks[j]) == 1));
        let of_them = j > i + 1 && matches!(toks[j - 1].as_str(), "them" | "those" | "these");
        let n = match (t, toks.get(i + 1).map(String::as_str)) {
            // "a few A100s": how many is asked, not taken as three.
            ("a", Some("few")) if before_model => return (Some(Count::Some), None),
            ("a", Some(w @ ("couple" | "pair" | "dozen"))) => number(w).unwrap_or(1),
            _ => n,
        };
        if delta != 0 && (before_model || j >= toks.len() || of_them) {
            return (None, Some(delta * n as i32));
        }
        if before_model || of_them {
            return (Some(Count::Exact(n)), None);
        }
    }
    // "another GPU", "an extra card".
    for w in toks.windows(2) {
        if matches!(w[0].as_str(), "another" | "extra" | "additional") && is_gpu_noun(&w[1]) {
            return (None, Some(1));
        }
    }
    (None, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Tz> {
        chrono_tz::UTC
            .with_ymd_and_hms(2026, 11, 26, 10, 0, 0)
            .unwrap()
    }

    fn p(text: &str) -> Parsed {
        parse(text, &Inventory::sample(), now())
    }

    #[test]
    fn intents_by_score() {
        assert_eq!(p("hi").intent, Intent::Greeting);
        assert_eq!(p("what gpus do you have").intent, Intent::Inventory);
        assert_eq!(p("book 2 A100s tomorrow 9am-5pm").intent, Intent::Book);
        assert_eq!(
            p("is an H100 free tomorrow 9-12?").intent,
            Intent::Availability
        );
        assert_eq!(p("how much is an A100?").intent, Intent::Price);
        assert_eq!(p("cancel my booking").intent, Intent::Cancel);
        assert_eq!(p("my bookings").intent, Intent::MyBookings);
        assert_eq!(p("what's my total bill?").intent, Intent::Total);
        assert_eq!(p("sounds perfect, go for it").intent, Intent::Yes);
        assert_eq!(p("no thanks, not at the moment").intent, Intent::No);
        assert_eq!(p("forget it for now").intent, Intent::No);
        assert_eq!(p("yep that's it").intent, Intent::Yes);
    }

    #[test]
    fn models_by_property() {
        assert_eq!(p("the least expensive one").model(), Some("RTX-4090-24GB"));
        assert_eq!(p("anything with 80 GB").model(), Some("A100-80GB"));
        assert_eq!(
            p("the card with the largest memory").model(),
            Some("A100-80GB")
        );
        assert_eq!(p("a hopper please").model(), Some("H100-80GB"));
        assert_eq!(
            p("something with at least 48 GB").model(),
            Some("L40S-48GB")
        );
        assert_eq!(p("book a tpu").unknown_model.as_deref(), Some("tpu"));
    }
}

#[cfg(test)]
mod debug_tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    #[ignore]
    fn show() {
        let now = chrono_tz::UTC
            .with_ymd_and_hms(2026, 11, 26, 10, 0, 0)
            .unwrap();
        let text = std::env::var("NLU_TEXT").unwrap_or_default();
        let p = parse(&text, &Inventory::sample(), now);
        println!("{:#?}", p.time);
        println!(
            "intent {:?} models {:?} count {:?} delta {:?} bare {:?} ref {:?} prop {:?}",
            p.intent, p.models, p.count, p.count_delta, p.bare_number, p.booking_ref, p.by_property
        );
        println!("tokens {:?}", tokens(&text));
    }
}

/// A budget: an amount of money ("$40", "40 dollars", "40 bucks", "40 usd") beside a word
/// that makes it a ceiling ("under", "max", "at most", "budget", "no more than", "within").
/// Returns the ceiling in cents and the tokens it used; an amount in any other role is left
/// for `unread` to name back.
fn budget(toks: &[String]) -> (Option<i64>, Vec<bool>) {
    let mut at = vec![false; toks.len()];
    let amount = |i: usize| -> Option<(f64, usize)> {
        let t = toks[i].as_str();
        let digits = t.trim_start_matches('$').trim_end_matches('$');
        let value: f64 = digits.parse().ok().filter(|v: &f64| *v > 0.0)?;
        if t.starts_with('$') || t.ends_with('$') {
            return Some((value, 1));
        }
        let unit = toks.get(i + 1).map(String::as_str);
        matches!(unit, Some("dollars" | "dollar" | "usd" | "bucks")).then_some((value, 2))
    };
    const CEILING: &[&str] = &[
        "under", "below", "max", "maximum", "most", "budget", "within", "cap", "limit", "than",
        "upto", "to", "beneath", "budgeted",
    ];
    for i in 0..toks.len() {
        let Some((value, len)) = amount(i) else {
            continue;
        };
        let near = toks[i.saturating_sub(3)..i]
            .iter()
            .chain(toks.iter().skip(i + len).take(2))
            .any(|w| CEILING.contains(&w.as_str()));
        if near {
            at[i..i + len].iter_mut().for_each(|a| *a = true);
            for (j, w) in toks
                .iter()
                .enumerate()
                .skip(i.saturating_sub(3))
                .take(len + 5)
            {
                if CEILING.contains(&w.as_str()) || w == "total" {
                    at[j] = true;
                }
            }
            return (Some((value * 100.0).round() as i64), at);
        }
    }
    (None, at)
}

/// What a reducing verb goes down to: "drop it to one card" (a count), "cut my booking to
/// 2h" (a length).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReducedTo {
    Count(u32),
    Length,
}

/// "drop/cut/bring/take/scale/reduce/trim ... (down) to [just|only] N", "bump my h100s to
/// 6": the size a booking goes to (a change, never a cancellation).
fn reduced_to(toks: &[String]) -> Option<ReducedTo> {
    let verb = |t: &str| {
        matches!(
            t,
            "drop"
                | "dropping"
                | "cut"
                | "bring"
                | "take"
                | "scale"
                | "reduce"
                | "lower"
                | "trim"
                | "shrink"
                | "downsize"
                | "bump"
                | "raise"
                | "increase"
                | "boost"
                | "grow"
        )
    };
    let at = toks.iter().position(|t| verb(t))?;
    let to = at + 1 + toks[at + 1..].iter().take(5).position(|t| t == "to")?;
    let mut rest = toks[to + 1..]
        .iter()
        .map(String::as_str)
        .skip_while(|t| matches!(*t, "just" | "only" | "merely"));
    match rest.next()? {
        // "to a single card", "to a single one": an article counts only before "single" or a
        // GPU ("to a later time" is no count).
        "a" | "an" => match rest.next()? {
            "single" => Some(ReducedTo::Count(1)),
            w if words::is_gpu_noun(w) => Some(ReducedTo::Count(1)),
            _ => None,
        },
        w => match number(w) {
            Some(n) => Some(ReducedTo::Count(n)),
            None if w.starts_with(|c: char| c.is_ascii_digit()) => Some(ReducedTo::Length),
            None => None,
        },
    }
}

/// Whether a model is said after "the", "my", "that" or "those" ("drop the l40s to one
/// card"), and not as the new value of a change ("move it to the h100", "for my h100").
fn definite_model(toks: &[String], used: &[bool], models: &[String]) -> bool {
    toks.windows(2).enumerate().any(|(i, w)| {
        matches!(w[0].as_str(), "the" | "my" | "that" | "those")
            && used.get(i + 1) == Some(&true)
            && !(i > 0
                && matches!(
                    toks[i - 1].as_str(),
                    "to" | "into" | "onto" | "for" | "with"
                ))
            && models
                .iter()
                .any(|m| m.to_lowercase().starts_with(w[1].trim_end_matches('s')))
    })
}

/// "drop one card from the h100 booking", "remove 2 gpus from it", "cancel one of the
/// GPUs": how many GPUs a verb of cancelling takes off a booking (a change of count, never
/// a cancellation of the booking).
fn removed_gpus(toks: &[String], model_at: &[bool]) -> Option<u32> {
    let verb = |t: &str| {
        matches!(
            t,
            "drop" | "remove" | "release" | "cancel" | "free" | "return" | "take"
        )
    };
    let v = toks.iter().position(|t| verb(t))?;
    let n_at = v + 1;
    let n = number(toks.get(n_at)?)?;
    let mut k = n_at + 1;
    let of = toks.get(k).is_some_and(|t| t == "of");
    while toks
        .get(k)
        .is_some_and(|t| matches!(t.as_str(), "of" | "the" | "my" | "those" | "these"))
    {
        k += 1;
    }
    let gpu =
        |i: usize| model_at.get(i) == Some(&true) || toks.get(i).is_some_and(|t| is_gpu_noun(t));
    if !gpu(k) {
        return None;
    }
    while gpu(k + 1) {
        k += 1;
    }
    let tied = of
        || toks
            .iter()
            .skip(k + 1)
            .take(3)
            .any(|t| matches!(t.as_str(), "from" | "off" | "on" | "in"));
    tied.then_some(n)
}

/// The text with the numbers that name things blanked ("ticket 5521", "room 412's",
/// "project #7741", "case no. 18"): they are never a count, a time or a booking id.
fn without_identifiers(text: &str) -> String {
    const NAMES: &[&str] = &[
        "ticket", "room", "project", "case", "job", "order", "issue", "lab", "group", "team",
        "building", "floor", "grant", "invoice", "ref", "request", "pr", "cluster", "node",
        "account",
    ];
    let lower = text.to_ascii_lowercase();
    let mut out = text.as_bytes().to_vec();
    let bytes = lower.as_bytes();
    let word_end = |from: usize| {
        (from..bytes.len())
            .find(|&k| !bytes[k].is_ascii_alphanumeric())
            .unwrap_or(bytes.len())
    };
    let mut i = 0;
    while i < bytes.len() {
        let starts_word =
            bytes[i].is_ascii_alphabetic() && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric());
        if !starts_word {
            i += 1;
            continue;
        }
        let e = word_end(i);
        if NAMES.contains(&&lower[i..e]) {
            // "#", "no.", "number" may stand between the name and its number.
            let mut k = e;
            // ("lab: 6 L40S" is a count after a colon, not lab 6)
            while k < bytes.len() && matches!(bytes[k], b' ' | b'#') {
                k += 1;
            }
            for filler in ["no. ", "no ", "number "] {
                if lower[k..].starts_with(filler) {
                    k += filler.len();
                }
            }
            if k < bytes.len() && bytes[k].is_ascii_digit() {
                let ne = word_end(k);
                for b in out.iter_mut().take(ne).skip(k) {
                    *b = b' ';
                }
                i = ne;
                continue;
            }
        }
        i = e;
    }
    String::from_utf8(out).unwrap_or_else(|_| text.to_string())
}

/// Words that say "more than one" without saying how many ("some", "several", "I need
/// many", "multiple", "lots of", "a handful", "a bunch"): how many is asked. Not "how many"
/// (a question), nor "too many" / "so many" (a story).
/// Whether a count is said per person ("each", "apiece", "per student", "for every two
/// students"), not in all. "each day", "per hour" are not: those are times and prices.
fn distributive(toks: &[String]) -> bool {
    const TIMES: &[&str] = &[
        "day",
        "days",
        "week",
        "weeks",
        "weekday",
        "weekdays",
        "morning",
        "afternoon",
        "evening",
        "night",
        "time",
        "hour",
        "hours",
        "month",
        "gpu",
        "card",
        "booking",
    ];
    const PEOPLE: &[&str] = &[
        "student",
        "students",
        "person",
        "people",
        "postdoc",
        "postdocs",
        "member",
        "members",
        "user",
        "users",
        "head",
        "researcher",
        "researchers",
        "participant",
        "participants",
        "attendee",
        "attendees",
        "colleague",
        "colleagues",
        "intern",
        "interns",
        "engineer",
        "engineers",
        "of",
    ];
    // "one card each, so 6 rtx 4090", "8 in total": the total is said too.
    let total_said = toks.windows(2).any(|w| {
        matches!(w[0].as_str(), "so" | "total" | "altogether") && number(&w[1]).is_some()
            || w[0] == "in" && matches!(w[1].as_str(), "total" | "all")
            || number(&w[0]).is_some() && matches!(w[1].as_str(), "total" | "altogether")
    }) || toks.iter().any(|t| t == "altogether");
    !total_said
        && toks.iter().enumerate().any(|(i, t)| {
            let next = toks.get(i + 1).map(String::as_str).unwrap_or("");
            let after = toks.get(i + 2).map(String::as_str).unwrap_or("");
            match t.as_str() {
                "apiece" | "everyone" | "everybody" => true,
                "each" => !TIMES.contains(&next) && !super::words::WEEKDAYS.contains(&next),
                "per" => PEOPLE.contains(&next),
                // "for every two students", "every one of us"
                "every" => PEOPLE.contains(&next) || PEOPLE.contains(&after) || next == "one",
                _ => false,
            }
        })
}

fn vague_amount(toks: &[String]) -> bool {
    toks.iter().enumerate().any(|(i, t)| {
        let prev = if i > 0 { toks[i - 1].as_str() } else { "" };
        let next = toks.get(i + 1).map(String::as_str).unwrap_or("");
        match t.as_str() {
            "some" | "several" | "multiple" | "numerous" => true,
            // "lots of h100s", not "4 is plenty"
            "lots" | "handful" | "bunch" | "plenty" | "loads" => next == "of",
            "many" => !matches!(prev, "how" | "too" | "so" | "as"),
            _ => false,
        }
    })
}

/// A reference phrase as plain words: "the 4-gpu one" → "the 4 gpu one", "tomorrow's
/// reservation" → "tomorrow reservation" (a count and a day the grammar reads).
fn reference_words(phrase: &str) -> String {
    let mut out = String::with_capacity(phrase.len());
    let mut prev = ' ';
    for c in phrase.chars() {
        if c == '-' && prev.is_ascii_digit() {
            out.push(' ');
        } else {
            out.push(c);
        }
        prev = c;
    }
    out.replace("'s ", " ").replace("\u{2019}s ", " ")
}

/// A word or phrase that makes a time said beside it approximate ("around 3pm", "about 6",
/// "roughly 9-5", "9ish", "or so", "early afternoon", "late evening", "end of day",
/// "first thing"), as a vague problem naming it.
fn approximate_time(text: &str) -> Option<when::Problem> {
    let lower = text.to_ascii_lowercase();
    let w = tokens(&lower);
    let timeish = |t: &str| {
        t.starts_with(|c: char| c.is_ascii_digit())
            || matches!(
                t,
                "noon"
                    | "midday"
                    | "midnight"
                    | "morning"
                    | "afternoon"
                    | "evening"
                    | "night"
                    | "lunchtime"
                    | "lunch"
            )
    };
    let hit = w.iter().enumerate().find_map(|(i, t)| {
        let next = w.get(i + 1).map(String::as_str).unwrap_or("");
        let found = match t.as_str() {
            "around" | "about" | "approximately" | "approx" | "roughly" | "circa" | "ish"
                if timeish(next) =>
            {
                Some(format!("{t} {next}"))
            }
            "or" if next == "so" => Some("or so".to_string()),
            // "afternoon-ish", "noon ish"
            "ish" if i > 0 && timeish(&w[i - 1]) => Some(format!("{}-ish", w[i - 1])),
            "early" | "late" if matches!(next, "morning" | "afternoon" | "evening" | "night") => {
                Some(format!("{t} {next}"))
            }
            "end" if next == "of" && w.get(i + 2).is_some_and(|x| x == "day" || x == "the") => {
                Some("end of day".to_string())
            }
            "eod" => Some("eod".to_string()),
            // "until monday morning": which hour of the morning is not said
            "until" | "till" | "til"
                if w[i + 1..].iter().take(3).any(|x| {
                    matches!(x.as_str(), "morning" | "afternoon" | "evening" | "night")
                }) && !w[i + 1..]
                    .iter()
                    .take(3)
                    .any(|x| x.starts_with(|c: char| c.is_ascii_digit())) =>
            {
                Some(format!("{t} {next}"))
            }
            "first" if next == "thing" => Some("first thing".to_string()),
            // "till late", "until late at night"
            "until" | "till" | "til" if next == "late" => Some(format!("{t} late")),
            // "end of next week", "end of the week": which day is not said
            "end"
                if next == "of"
                    && w[i + 2..]
                        .iter()
                        .take(2)
                        .any(|x| matches!(x.as_str(), "week" | "month")) =>
            {
                Some("end of the week".to_string())
            }
            // "except over lunch", "but not during lunch": a gap inside the time, not said
            "except" | "excluding" | "without"
                if w[i + 1..]
                    .iter()
                    .take(3)
                    .any(|x| matches!(x.as_str(), "lunch" | "lunchtime" | "break" | "breaks")) =>
            {
                Some(format!("{t} {next}"))
            }
            x if x.len() > 3
                && x.ends_with("ish")
                && (x.starts_with(|c: char| c.is_ascii_digit())
                    || timeish(x.trim_end_matches("ish").trim_end_matches('-'))) =>
            {
                Some(x.to_string())
            }
            _ => None,
        }?;
        Some(found)
    })?;
    let at = lower
        .find(hit.split(' ').next().unwrap_or(&hit))
        .unwrap_or(0);
    Some(when::Problem {
        span: at..at,
        text: hit,
        kind: when::ProblemKind::Vague,
    })
}
