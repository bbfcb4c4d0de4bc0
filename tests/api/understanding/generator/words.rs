//! The vocabulary of the paraphrase generator: model spellings and properties, counts,
//! filler, yes / no words, and the typo maker. Nothing here may carry a second meaning
//! (filler holds no number, date, time, count, yes or no word).

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::Rng;

/// Picks one of `xs`.
pub fn pick<'a, T>(rng: &mut StdRng, xs: &'a [T]) -> &'a T {
    xs.choose(rng).expect("non-empty choice")
}

/// A model of the sample inventory and how people write it.
pub struct ModelWords {
    /// The inventory's exact name.
    pub name: &'static str,
    /// Devices of the model.
    pub total: u32,
    /// Singular spellings.
    pub singular: &'static [&'static str],
    /// Plural spellings.
    pub plural: &'static [&'static str],
    /// Phrases naming it by property, `{n}` = the count (always ≥ 2 there).
    pub by_property: &'static [(&'static str, &'static str)],
    /// Property answers to "which model?" in a later turn (tag, phrase).
    pub property_fragment: &'static [(&'static str, &'static str)],
}

/// The sample inventory as people write it (understanding-rules.md).
pub const MODELS: &[ModelWords] = &[
    ModelWords {
        name: "H100-80GB",
        total: 8,
        singular: &[
            "H100",
            "h100",
            "H100 80GB",
            "H100-80GB",
            "h-100",
            "h100 80gb",
        ],
        plural: &[
            "H100s",
            "h100s",
            "H100 GPUs",
            "H100-80GB cards",
            "h100 gpus",
        ],
        by_property: &[
            ("fastest", "{n} of your fastest GPUs"),
            ("most-powerful", "{n} of the most powerful GPUs"),
            ("hopper", "{n} Hopper GPUs"),
            ("best", "the best GPUs you have, {n} of them"),
        ],
        property_fragment: &[
            ("fastest", "the fastest you have"),
            ("hopper", "Hopper please"),
        ],
    },
    ModelWords {
        name: "A100-80GB",
        total: 12,
        singular: &[
            "A100",
            "a100",
            "a-100",
            "A100 80GB",
            "A100-80GB",
            "a100-80gb",
        ],
        plural: &["A100s", "a100s", "A100 GPUs", "a-100s", "A100-80GB cards"],
        by_property: &[
            ("80gb", "{n} GPUs with 80 GB"),
            ("anything-80gb", "{n} cards, anything with 80 GB"),
            ("most-memory", "{n} GPUs with the most memory"),
            ("biggest", "{n} of the biggest cards"),
            ("largest-memory", "{n} GPUs with the largest memory"),
            ("ampere", "{n} Ampere GPUs"),
            ("cheapest-80gb", "{n} of the cheapest GPUs with 80 GB"),
        ],
        property_fragment: &[
            ("most-memory", "the one with the most memory"),
            ("ampere", "Ampere is fine"),
        ],
    },
    ModelWords {
        name: "L40S-48GB",
        total: 8,
        singular: &["L40S", "l40s", "L40S-48GB", "l40s 48gb"],
        plural: &["L40S GPUs", "l40s cards", "L40S-48GB GPUs", "L40Ss"],
        by_property: &[
            ("atleast-48gb", "{n} GPUs with at least 48 GB"),
            ("48gb-or-more", "{n} GPUs with 48GB or more"),
            (
                "cheapest-48gb",
                "{n} of the cheapest cards with at least 48 GB of memory",
            ),
        ],
        property_fragment: &[("atleast-48gb", "anything with at least 48 GB")],
    },
    ModelWords {
        name: "V100-32GB",
        total: 8,
        singular: &["V100", "v100", "V100-32GB", "v-100"],
        plural: &["V100s", "v100s", "V100 GPUs", "v100 cards"],
        by_property: &[("volta", "{n} Volta GPUs"), ("volta", "{n} Volta cards")],
        property_fragment: &[("volta", "Volta please")],
    },
    ModelWords {
        name: "RTX-4090-24GB",
        total: 6,
        singular: &[
            "RTX 4090", "rtx4090", "4090", "RTX-4090", "rtx 4090", "rxt 4090",
        ],
        plural: &["RTX 4090s", "4090s", "rtx4090s", "RTX-4090 GPUs"],
        by_property: &[
            ("cheapest", "{n} of the cheapest GPUs"),
            ("whatever-costs-least", "{n} GPUs, whatever costs least"),
            ("least-expensive", "{n} of your least expensive GPUs"),
            ("lowest-cost", "{n} of the lowest cost GPUs"),
            ("ada", "{n} Ada GPUs"),
            ("lovelace", "{n} Ada Lovelace cards"),
        ],
        property_fragment: &[
            ("cheapest", "the cheapest ones"),
            ("whatever-costs-least", "whatever costs least"),
        ],
    },
];

/// Models the inventory does not have (the assistant must say so and never book).
pub const UNKNOWN_MODELS: &[&str] = &[
    "TPU", "MI300", "A6000", "MI250X", "RTX 3090", "GH200", "B200",
];

/// "a" or "an" before `word` as it is spoken ("an H100", "a V100", "a 4090").
pub fn article(word: &str) -> &'static str {
    match word.chars().next().map(|c| c.to_ascii_lowercase()) {
        Some('a' | 'e' | 'f' | 'h' | 'i' | 'l' | 'm' | 'n' | 'o' | 'r' | 's' | 'x') => "an",
        Some('8') => "an",
        _ => "a",
    }
}

/// Number words, 0..=20.
pub const NUMBER_WORDS: &[&str] = &[
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
];

/// `n` in words when it has one, else in digits.
pub fn word(n: u32) -> String {
    NUMBER_WORDS
        .get(n as usize)
        .map(|w| w.to_string())
        .unwrap_or_else(|| n.to_string())
}

/// The model with its count, in one of the count forms; returns (text, count tag, model tag).
pub fn model_with_count(rng: &mut StdRng, m: &ModelWords, n: u32) -> (String, String, String) {
    let use_property = rng.random_bool(0.3) && n >= 2 && n < m.total;
    if use_property {
        let (tag, tpl) = pick(rng, m.by_property);
        let (num, ctag) = if rng.random_bool(0.5) {
            (n.to_string(), "digits")
        } else {
            (word(n), "word")
        };
        return (
            tpl.replace("{n}", &num),
            format!("count:{ctag}"),
            format!("model:property-{tag}"),
        );
    }
    let sing = *pick(rng, m.singular);
    let plur = *pick(rng, m.plural);
    let mtag = if sing.contains("rxt") {
        "model:name-typo".to_string()
    } else {
        "model:name".to_string()
    };
    let mut forms: Vec<(String, &str)> = Vec::new();
    if n == 1 {
        forms.push((format!("{} {sing}", article(sing)), "a-an"));
        forms.push((format!("one {sing}"), "one"));
        forms.push((format!("a single {sing}"), "single"));
        forms.push((format!("1 {sing}"), "digits"));
    } else {
        forms.push((format!("{n} {plur}"), "digits"));
        forms.push((format!("{} {plur}", word(n)), "word"));
        forms.push((format!("{n}x {sing}"), "nx"));
        forms.push((format!("{sing} x{n}"), "xn"));
        forms.push((format!("{plur}, {n} of them"), "n-of-them"));
        if n == 2 {
            forms.push((format!("a couple of {plur}"), "couple"));
            forms.push((format!("a pair of {plur}"), "pair"));
        }
        if n == m.total {
            forms.push((format!("all the {plur}"), "all"));
        }
    }
    let (text, ctag) = pick(rng, &forms);
    (text.clone(), format!("count:{ctag}"), mtag)
}

/// Openers before the request.
pub const OPENERS: &[&str] = &[
    "",
    "",
    "",
    "",
    "hi,",
    "hello!",
    "hey there.",
    "hi team,",
    "Hello, hope you're well.",
    "quick one:",
    "So,",
    "hey bot,",
    "Hi there!",
];

/// Ways to ask, `{m}` = model with count, `{w}` = when.
pub const ASKS: &[&str] = &[
    "book {m} {w}",
    "I need {m} {w}",
    "can I get {m} {w}?",
    "could you reserve {m} for me {w}",
    "please book {m} {w}",
    "I'd like {m} {w}",
    "{w}, {m} please",
    "reserve {m}, {w}",
    "I would like to book {m} {w} to train a model",
    "can you book me {m} {w}",
    "we need {m} {w}",
    "{w} I need {m}",
];

/// Stories some people tell first (no number, date, time, count, yes or no word in them).
pub const STORIES: &[&str] = &[
    "I'm finishing the experiments for my thesis and the cluster at my lab is down.",
    "Our group has a paper deadline coming up and we must rerun the baselines.",
    "My supervisor asked me to retrain the model with the corrected labels.",
    "We're fine-tuning a language model and the current runs keep getting preempted by other jobs.",
    "I'm new here, a colleague told me this is where I reserve compute.",
];

/// Politeness after the request.
pub const CLOSERS: &[&str] = &[
    "",
    "",
    "",
    "",
    "please",
    "if possible",
    "thanks!",
    "thank you",
    "cheers",
    "thx",
    "thanks a lot",
    "much appreciated",
];

/// Yes-words (understanding-rules.md).
pub const YES: &[&str] = &[
    "yes",
    "Yes please",
    "yep",
    "yeah",
    "sure",
    "ok",
    "okay",
    "confirm",
    "go ahead",
    "do it",
    "book it",
    "sounds good",
    "sounds perfect",
    "go for it",
    "perfect",
    "that's right",
    "yep that's it",
    "please do",
    "absolutely",
    "correct",
    "yes, thanks!",
    "Yes.",
    "ok, go ahead",
];

/// No-words (understanding-rules.md).
pub const NO: &[&str] = &[
    "no",
    "nope",
    "nah",
    "not now",
    "no thanks",
    "not at the moment",
    "forget it",
    "never mind",
    "cancel that",
    "don't",
    "stop",
    "leave it",
];

/// Words a typo must not touch: numbers, yes / no words, words whose typo is another word.
fn protected(w: &str) -> bool {
    let l = w.to_ascii_lowercase();
    NUMBER_WORDS.contains(&l.as_str())
        || [
            "couple",
            "single",
            "thanks",
            "please",
            "absolutely",
            "perfect",
            "correct",
            "sounds",
            "ahead",
            "confirm",
            "never",
            "cancel",
            "leave",
            "forget",
            "there",
            "where",
            "rtx",
        ]
        .contains(&l.as_str())
}

/// One letter dropped or two neighbours swapped, in one word of `text` made of letters only
/// (at least 5 of them, not a number word): `None` when no word qualifies.
pub fn typo(rng: &mut StdRng, text: &str) -> Option<String> {
    let words: Vec<&str> = text.split(' ').collect();
    let candidates: Vec<usize> = words
        .iter()
        .enumerate()
        .filter(|(_, w)| {
            w.len() >= 5 && w.chars().all(|c| c.is_ascii_alphabetic()) && !protected(w)
        })
        .map(|(i, _)| i)
        .collect();
    let &i = candidates.choose(rng)?;
    let mut chars: Vec<char> = words[i].chars().collect();
    let p = rng.random_range(1..chars.len() - 1);
    if rng.random_bool(0.5) {
        chars.remove(p);
    } else {
        if chars[p] == chars[p + 1] {
            return None;
        }
        chars.swap(p, p + 1);
    }
    let changed: String = chars.into_iter().collect();
    let mut out: Vec<String> = words.iter().map(|w| w.to_string()).collect();
    out[i] = changed;
    Some(out.join(" "))
}
