//! Understanding one message: its intent and slots (models, count, when, booking id).
//! General rules — tokens, number words, fuzzy model names, a small date/time grammar —
//! rather than a list of sentences.

use super::when::{self, When};
use super::words::{any, edit_distance, is_gpu_noun, number, phrase, tokens};
use crate::domain::gpu::normalize;
use crate::domain::Inventory;
use chrono::NaiveDate;

/// What the person wants.
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
    Cancel,
    Yes,
    No,
    /// Only slots (a model, a time, a number): an answer to a question, or "what about X?".
    Slots,
    /// Change a booking: "move it to Tuesday", "make it 3 GPUs".
    Change,
    Unknown,
}

/// A message, understood.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub intent: Intent,
    /// Exact inventory names, in the order mentioned.
    pub models: Vec<String>,
    /// How many GPUs.
    pub count: Option<u32>,
    /// "all" of a model.
    pub all: bool,
    /// When.
    pub when: When,
    /// A booking id or a prefix of one (4+ hex digits).
    pub booking_ref: Option<String>,
    /// A bare number and nothing else of substance ("2"): an answer to "how many?".
    pub bare_number: Option<u32>,
    /// "cheapest", "most memory"...
    pub superlative: Option<Superlative>,
    /// A price asked per period ("per day" → 1440 minutes).
    pub per_minutes: Option<i64>,
}

/// A question about the extreme of the fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Superlative {
    /// The lowest hourly price.
    Cheapest,
    /// The most memory per GPU.
    MostMemory,
}

const BOOK: &[&str] = &[
    "book", "reserve", "rent", "grab", "schedule", "allocate", "hold", "need", "want", "get",
    "give", "take", "lease", "order", "buy", "secure", "claim", "borrow", "use",
];
const AVAIL: &[&str] = &[
    "free",
    "available",
    "availability",
    "availabilities",
    "vacant",
    "open",
    "idle",
    "unused",
    "unbooked",
    "capacity",
    "left",
    "spare",
    "avail",
];
const PRICE: &[&str] = &[
    "price",
    "prices",
    "pricing",
    "priced",
    "cost",
    "costs",
    "costing",
    "rate",
    "rates",
    "quote",
    "expensive",
    "cheap",
    "cheaper",
    "cheapest",
    "charge",
    "charges",
    "fee",
    "fees",
    "tariff",
    "$",
    "usd",
    "eur",
    "budget",
    "pay",
    "spend",
];
const INVENTORY: &[&str] = &[
    "gpus",
    "gpu",
    "hardware",
    "cards",
    "card",
    "inventory",
    "models",
    "model",
    "offer",
    "fleet",
    "catalog",
    "catalogue",
    "machines",
    "nodes",
    "specs",
    "types",
    "kinds",
    "options",
    "accelerators",
    "selection",
    "stock",
    "lineup",
    "range",
    "resources",
];
const BOOKING_NOUN: &[&str] = &[
    "booking",
    "bookings",
    "reservation",
    "reservations",
    "booked",
    "reserved",
    "reserve",
    "order",
    "orders",
    "slot",
    "slots",
    "rental",
    "rentals",
];
const CANCEL: &[&str] = &[
    "cancel",
    "cancellation",
    "drop",
    "delete",
    "remove",
    "release",
    "unbook",
    "unreserve",
    "revoke",
    "terminate",
    "scrap",
    "kill",
    "undo",
];
const GREET: &[&str] = &[
    "hi",
    "hello",
    "hey",
    "hiya",
    "howdy",
    "greetings",
    "yo",
    "sup",
    "hallo",
    "hola",
    "ahoj",
    "servus",
    "hei",
    "heya",
];
const HELP: &[&str] = &[
    "help",
    "capabilities",
    "commands",
    "usage",
    "instructions",
    "manual",
    "guide",
    "howto",
];
const THANKS: &[&str] = &[
    "thanks",
    "thank",
    "thx",
    "ty",
    "cheers",
    "appreciated",
    "ta",
];
/// Words that make a short message a yes (the other YES words may stand beside them).
const YES_CORE: &[&str] = &[
    "yes",
    "y",
    "yep",
    "yeah",
    "yea",
    "ya",
    "yup",
    "sure",
    "ok",
    "okay",
    "k",
    "kk",
    "confirm",
    "confirmed",
    "affirmative",
    "absolutely",
    "definitely",
    "certainly",
    "correct",
    "proceed",
    "perfect",
    "alright",
    "aye",
    "yess",
    "yas",
    "👍",
    "deal",
    "agreed",
];
const YES: &[&str] = &[
    "yes",
    "y",
    "yep",
    "yeah",
    "yea",
    "ya",
    "yup",
    "sure",
    "ok",
    "okay",
    "k",
    "kk",
    "confirm",
    "confirmed",
    "affirmative",
    "absolutely",
    "definitely",
    "certainly",
    "correct",
    "right",
    "fine",
    "great",
    "perfect",
    "good",
    "go",
    "ahead",
    "proceed",
    "please",
    "do",
    "it",
    "that",
    "works",
    "alright",
    "sounds",
    "book",
    "yess",
    "yas",
    "aye",
    "👍",
    "lets",
    "let",
    "s",
    "of",
    "course",
    "indeed",
    "agreed",
    "deal",
    "done",
    "excellent",
    "sweet",
    "cool",
    "exactly",
    "true",
    "just",
    "then",
    "thanks",
    "thank",
    "you",
];
const NO: &[&str] = &[
    "no",
    "n",
    "nope",
    "nah",
    "not",
    "don",
    "t",
    "dont",
    "cancel",
    "that",
    "it",
    "never",
    "mind",
    "nevermind",
    "forget",
    "stop",
    "abort",
    "negative",
    "actually",
    "wait",
    "hold",
    "on",
    "changed",
    "my",
    "i",
    "ve",
    "have",
    "thanks",
    "thank",
    "you",
    "please",
    "do",
    "leave",
    "skip",
    "pass",
    "now",
    "rather",
    "wrong",
    "incorrect",
];

/// A booking id or a prefix of one: 4-32 hex digits with at least one digit (so words like
/// "face" or "decade" are not ids), or a whole 32-digit id.
fn hex_ref(t: &str) -> bool {
    let hex = t.bytes().all(|b| b.is_ascii_hexdigit());
    hex && (t.len() == 32 || (4..=32).contains(&t.len()) && t.bytes().any(|b| b.is_ascii_digit()))
}

/// Finds the models a message names, marking the tokens used. Tolerant of case, plurals,
/// spacing ("rtx 4090", "a 100", "h100 80gb") and one typo in a model key ("a10o", "h1000").
pub fn models(toks: &[String], inv: &Inventory, used: &mut [bool]) -> Vec<String> {
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
            // A letters-only part unique to this model ("rtx").
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
        if let Some(s) = cand.strip_suffix("s") {
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
        if !typos {
            return None;
        }
        // One typo, in keys with digits of 4+ characters; 'o' for '0' is forgiven.
        if cand.len() < 3 || !cand.chars().any(|c| c.is_ascii_digit()) {
            return None;
        }
        let fixed = cand.replace('o', "0");
        let dist = |k: &Vec<String>| {
            k.iter()
                .filter(|x| x.len() >= 4 && x.chars().any(|c| c.is_ascii_digit()))
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
        // Longest first: three, two, then one token joined.
        let mut matched = None;
        for n in (1..=3).rev() {
            if i + n > toks.len() || used[i..i + n].iter().any(|u| *u) {
                continue;
            }
            let joined = normalize(&toks[i..i + n].concat());
            if joined.is_empty() || (n == 1 && number(&toks[i]).is_some() && toks[i].len() < 4) {
                continue;
            }
            if n > 1 && toks[i].bytes().all(|b| b.is_ascii_digit()) {
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
                if !found.contains(&m) {
                    found.push(m);
                }
                i += n;
            }
            None => i += 1,
        }
    }
    found
}

/// Finds a count: a number word or digits before a model or a GPU noun ("2 A100s", "a
/// couple of 4090s", "four v100", "an H100", "x4"), or after one ("A100 x 2").
fn count(toks: &[String], used: &[bool], model_at: &[bool]) -> (Option<u32>, bool) {
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
            return (None, true);
        }
        if model_at[i] {
            // "A100 x 2", "a100 x2"
            if let Some(n) = toks
                .get(i + 1)
                .and_then(|x| x.strip_prefix('x'))
                .and_then(|x| x.parse::<u32>().ok())
            {
                return (Some(n), false);
            }
            if toks.get(i + 1).map(String::as_str) == Some("x") {
                if let Some(n) = toks.get(i + 2).and_then(|x| x.parse::<u32>().ok()) {
                    return (Some(n), false);
                }
            }
            continue;
        }
        let Some(n) = number(t) else { continue };
        // What follows: skipping "of", "more", adjectives like "nvidia".
        let mut j = i + 1;
        while j < toks.len()
            && matches!(
                toks[j].as_str(),
                "of" | "couple"
                    | "pair"
                    | "few"
                    | "more"
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
            )
            && !model_at[j]
        {
            j += 1;
        }
        let before_model = j < toks.len()
            && (model_at[j] || (is_gpu_noun(&toks[j]) && toks[j] != "of" && toks[j] != "x"));
        let of_them = j > i + 1 && matches!(toks[j - 1].as_str(), "them" | "those" | "these");
        if before_model || of_them {
            let n = match (t, toks.get(i + 1).map(String::as_str)) {
                ("a", Some(w @ ("couple" | "pair" | "few" | "dozen"))) => number(w).unwrap_or(1),
                _ => n,
            };
            return (Some(n), false);
        }
    }
    (None, false)
}

fn detect_intent(toks: &[String], p: &Parsed, raw: &str) -> Intent {
    let has = |w: &[&str]| any(toks, w);
    let first = toks.first().map(String::as_str).unwrap_or("");
    let question = raw.trim_end().ends_with('?')
        || matches!(
            first,
            "is" | "are"
                | "any"
                | "how"
                | "what"
                | "which"
                | "when"
                | "do"
                | "does"
                | "can"
                | "could"
                | "will"
                | "would"
                | "whats"
                | "where"
        );
    let meaningful: Vec<&String> = toks
        .iter()
        .filter(|t| {
            !matches!(
                t.as_str(),
                "please"
                    | "pls"
                    | "plz"
                    | "the"
                    | "a"
                    | "an"
                    | "just"
                    | "then"
                    | "so"
                    | "well"
                    | "oh"
            )
        })
        .collect();

    // Short answers first.
    if !meaningful.is_empty()
        && meaningful.len() <= 6
        && p.models.is_empty()
        && p.when.is_empty()
        && p.booking_ref.is_none()
    {
        let yes_core = has(YES_CORE)
            || phrase(toks, "go ahead")
            || phrase(toks, "do it")
            || phrase(toks, "book it")
            || phrase(toks, "sounds good")
            || phrase(toks, "that works")
            || phrase(toks, "please do")
            || phrase(toks, "of course");
        let no_core = has(&[
            "no",
            "n",
            "nope",
            "nah",
            "nevermind",
            "abort",
            "negative",
            "dont",
        ]) || phrase(toks, "never mind")
            || phrase(toks, "forget it")
            || phrase(toks, "cancel that")
            || phrase(toks, "cancel it")
            || phrase(toks, "don t")
            || phrase(toks, "do not")
            || phrase(toks, "changed my mind")
            || phrase(toks, "not now")
            || phrase(toks, "stop");
        if no_core
            && meaningful
                .iter()
                .all(|t| NO.contains(&t.as_str()) || YES.contains(&t.as_str()))
        {
            return Intent::No;
        }
        if yes_core && meaningful.iter().all(|t| YES.contains(&t.as_str())) {
            return Intent::Yes;
        }
    }
    let book_verb = has(BOOK)
        || phrase(toks, "i d like")
        || phrase(toks, "would like")
        || phrase(toks, "sign me up")
        || phrase(toks, "set me up")
        || phrase(toks, "set up");
    let booking_noun = has(BOOKING_NOUN) && !has(&["book"])
        || has(&[
            "booked",
            "bookings",
            "reservations",
            "booking",
            "reservation",
        ]);
    let mine = has(&["my", "mine", "i", "me", "our", "we", "ive"]);

    if has(CANCEL)
        && (booking_noun
            || p.booking_ref.is_some()
            || mine
            || !p.models.is_empty()
            || has(&["it", "that", "this", "one", "all", "everything", "them"]))
    {
        return Intent::Cancel;
    }
    if booking_noun && !p.models.is_empty() && p.count.is_some() && book_verb {
        return Intent::Book;
    }
    // "what did I book?", "have I booked anything": a question about existing bookings.
    if [
        "did i book",
        "have i booked",
        "i have booked",
        "i ve booked",
        "did i reserve",
        "have i reserved",
        "i booked",
    ]
    .iter()
    .any(|q| phrase(toks, q))
        && p.models.is_empty()
        && p.when.is_empty()
    {
        return Intent::MyBookings;
    }
    let change = has(&[
        "move",
        "reschedule",
        "shift",
        "postpone",
        "extend",
        "modify",
        "change",
        "switch",
        "swap",
    ]) || phrase(toks, "make it");
    if change
        && (!p.when.is_empty()
            || !p.models.is_empty()
            || p.count.is_some()
            || p.bare_number.is_some())
    {
        return Intent::Change;
    }
    let list_words = has(&[
        "my", "mine", "show", "list", "what", "which", "view", "see", "upcoming", "current",
        "existing", "active", "all", "have", "any", "check", "display",
    ]);
    let only_nouns = !meaningful.is_empty()
        && meaningful.iter().all(|t| {
            BOOKING_NOUN.contains(&t.as_str()) || matches!(t.as_str(), "show" | "list" | "all")
        });
    if booking_noun
        && (list_words || mine || only_nouns)
        && !(book_verb && has(&["book", "reserve"]) && !p.models.is_empty())
        && (!has(AVAIL) || p.models.is_empty())
    {
        return Intent::MyBookings;
    }
    let price = has(PRICE) || phrase(toks, "how much");
    if price {
        return Intent::Price;
    }
    let avail = has(AVAIL)
        || phrase(toks, "how many") && !p.models.is_empty()
        || phrase(toks, "in use")
        || phrase(toks, "booked up");
    if avail && (!book_verb || question) {
        return Intent::Availability;
    }
    if book_verb
        && (!p.models.is_empty()
            || p.count.is_some()
            || !p.when.is_empty()
            || has(&[
                "gpu", "gpus", "some", "card", "cards", "book", "reserve", "rent", "machine",
                "node",
            ]))
    {
        return Intent::Book;
    }
    if has(&["book", "reserve", "rent"]) {
        return Intent::Book;
    }
    if avail {
        return Intent::Availability;
    }
    if has(HELP)
        || phrase(toks, "what can you do")
        || phrase(toks, "how does this work")
        || phrase(toks, "what do you do")
        || phrase(toks, "who are you")
        || phrase(toks, "how do i")
        || phrase(toks, "what are you")
        || phrase(toks, "how does it work")
    {
        return Intent::Help;
    }
    if has(INVENTORY) || phrase(toks, "what do you have") || phrase(toks, "what have you got") {
        return Intent::Inventory;
    }
    if has(THANKS) {
        return Intent::Thanks;
    }
    if has(GREET)
        || ["good morning", "good afternoon", "good evening", "good day"]
            .iter()
            .any(|g| phrase(toks, g))
    {
        return Intent::Greeting;
    }
    if !p.models.is_empty()
        || !p.when.is_empty()
        || p.count.is_some()
        || p.bare_number.is_some()
        || p.booking_ref.is_some()
    {
        return Intent::Slots;
    }
    Intent::Unknown
}

/// Understands `text`, with dates relative to `today` (in the configured zone).
pub fn parse(text: &str, inv: &Inventory, today: NaiveDate) -> Parsed {
    let toks = tokens(text);
    let mut used = vec![false; toks.len()];
    let when = when::parse(&toks, today, &mut used);
    let before = used.clone();
    let models = models(&toks, inv, &mut used);
    let model_at: Vec<bool> = used.iter().zip(&before).map(|(u, b)| *u && !b).collect();
    let (count, all) = count(&toks, &used, &model_at);
    // Not a token already read as a model or a time ("a100", "1400").
    let booking_ref = toks
        .iter()
        .zip(&used)
        .find(|(t, u)| !**u && hex_ref(t))
        .map(|(t, _)| t.clone());
    let free_numbers: Vec<u32> = toks
        .iter()
        .zip(&used)
        .filter(|(t, u)| {
            !**u && !matches!(
                t.as_str(),
                "a" | "an" | "couple" | "pair" | "few" | "both" | "single"
            )
        })
        .filter_map(|(t, _)| number(t))
        .collect();
    let content = toks
        .iter()
        .zip(&used)
        .filter(|(t, u)| {
            !**u && !matches!(
                t.as_str(),
                "please"
                    | "pls"
                    | "make"
                    | "it"
                    | "gpus"
                    | "gpu"
                    | "of"
                    | "them"
                    | "just"
                    | "instead"
                    | "actually"
                    | "ok"
                    | "okay"
                    | "then"
                    | "let"
                    | "s"
                    | "say"
                    | "how"
                    | "about"
            )
        })
        .count();
    let bare_number = match (count, free_numbers.as_slice()) {
        (None, [n]) if content <= 1 => Some(*n),
        _ => None,
    };
    let superlative = if any(&toks, &["cheapest", "cheaper"])
        || phrase(&toks, "least expensive")
        || phrase(&toks, "lowest price")
    {
        Some(Superlative::Cheapest)
    } else if any(&toks, &["biggest", "largest", "vram"])
        || phrase(&toks, "most memory")
        || phrase(&toks, "most powerful")
        || phrase(&toks, "more memory")
    {
        Some(Superlative::MostMemory)
    } else {
        None
    };
    let per_minutes = if phrase(&toks, "per day")
        || phrase(&toks, "a day") && !phrase(&toks, "for a day")
        || any(&toks, &["daily"])
    {
        Some(24 * 60)
    } else if phrase(&toks, "per week") || any(&toks, &["weekly"]) {
        Some(7 * 24 * 60)
    } else if phrase(&toks, "per month") || any(&toks, &["monthly"]) {
        Some(30 * 24 * 60)
    } else {
        None
    };
    let mut p = Parsed {
        intent: Intent::Unknown,
        models,
        count,
        all,
        when,
        booking_ref,
        bare_number,
        superlative,
        per_minutes,
    };
    p.intent = detect_intent(&toks, &p, text);
    if p.intent == Intent::Cancel && any(&toks, &["all", "everything", "every"]) {
        p.all = true;
    }
    if p.intent == Intent::Unknown && p.superlative.is_some() {
        p.intent = Intent::Inventory;
    }
    p
}
