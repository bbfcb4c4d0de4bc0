//! The words the built-in assistant knows, as cues: each word or phrase points at what it
//! suggests (an intent, a yes, a no, a correction...). Intents are then scored from the cues
//! a message holds (`nlu::score`), so no rule depends on the order of a list of ifs.
//! Words of five letters or more are also matched with one typo ("cancle", "reseve").

use super::words::edit_distance;

/// What a word suggests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cue {
    Greet,
    Help,
    Thanks,
    Inventory,
    Price,
    Avail,
    Book,
    Cancel,
    Change,
    /// A booking noun ("booking", "reservation").
    BookingNoun,
    /// "my", "I", "mine".
    Mine,
    /// "show", "list", "see".
    List,
    /// "total", "bill", "spent".
    Total,
    /// "earliest", "soonest", "next available".
    Soonest,
    Yes,
    No,
    /// "actually", "instead", "oops", "make that": a correction of something said.
    Correct,
    /// "extend", "longer", "more time".
    Extend,
    /// "shorten", "earlier end".
    Shorten,
    /// "move", "reschedule", "shift".
    Move,
    /// "later", "back", "postpone", "delay".
    Later,
    /// "earlier", "sooner".
    Earlier,
    /// "more", "another", "extra", "additional" (count or time up).
    More,
    /// "fewer", "less" (count down).
    Fewer,
    /// "cheapest", "least expensive".
    Cheapest,
    /// "most memory", "largest".
    MostMemory,
    /// "fastest", "most powerful".
    Fastest,
    /// Everything ("all", "everything", "every").
    All,
    /// A question word at the start.
    Question,
}

use Cue::*;

/// Single words and their cues.
const WORDS: &[(&str, &[Cue])] = &[
    ("hi", &[Greet]),
    ("hello", &[Greet]),
    ("hey", &[Greet]),
    ("hiya", &[Greet]),
    ("howdy", &[Greet]),
    ("greetings", &[Greet]),
    ("yo", &[Greet]),
    ("help", &[Help]),
    ("commands", &[Help]),
    ("capabilities", &[Help]),
    ("thanks", &[Thanks]),
    ("thank", &[Thanks]),
    ("thx", &[Thanks]),
    ("ty", &[Thanks]),
    ("cheers", &[Thanks]),
    ("appreciated", &[Thanks]),
    ("gpus", &[Inventory]),
    ("hardware", &[Inventory]),
    ("cards", &[Inventory]),
    ("inventory", &[Inventory]),
    ("models", &[Inventory]),
    ("fleet", &[Inventory]),
    ("catalog", &[Inventory]),
    ("catalogue", &[Inventory]),
    ("specs", &[Inventory]),
    ("options", &[Inventory]),
    ("accelerators", &[Inventory]),
    ("lineup", &[Inventory]),
    ("offer", &[Inventory]),
    ("types", &[Inventory]),
    ("kinds", &[Inventory]),
    ("price", &[Price]),
    ("prices", &[Price]),
    ("pricing", &[Price]),
    ("priced", &[Price]),
    ("cost", &[Price]),
    ("$/h", &[Price]),
    ("ballpark", &[Price]),
    ("$/hr", &[Price]),
    ("costs", &[Price]),
    ("costing", &[Price]),
    ("rate", &[Price]),
    ("rates", &[Price]),
    ("quote", &[Price]),
    ("expensive", &[Price]),
    ("charge", &[Price]),
    ("fee", &[Price]),
    ("fees", &[Price]),
    ("tariff", &[Price]),
    ("pay", &[Price]),
    ("free", &[Avail]),
    ("available", &[Avail]),
    ("availability", &[Avail]),
    ("vacant", &[Avail]),
    ("open", &[Avail]),
    ("idle", &[Avail]),
    ("unused", &[Avail]),
    ("unbooked", &[Avail]),
    ("capacity", &[Avail]),
    ("spare", &[Avail]),
    ("left", &[Avail]),
    ("book", &[Book]),
    ("reserve", &[Book]),
    ("rent", &[Book]),
    ("grab", &[Book]),
    ("schedule", &[Book]),
    ("allocate", &[Book]),
    ("need", &[Book]),
    ("want", &[Book]),
    ("get", &[Book]),
    ("lease", &[Book]),
    ("secure", &[Book]),
    ("claim", &[Book]),
    ("snag", &[Book]),
    ("nab", &[Book]),
    ("order", &[Book]),
    ("hold", &[Book]),
    ("cancel", &[Cancel]),
    ("cancell", &[Cancel]),
    ("delete", &[Cancel]),
    ("remove", &[Cancel]),
    ("release", &[Cancel]),
    ("unbook", &[Cancel]),
    ("scrap", &[Cancel]),
    ("wipe", &[Cancel]),
    ("rm", &[Cancel]),
    ("drop", &[Cancel]),
    ("revoke", &[Cancel]),
    ("terminate", &[Cancel]),
    ("change", &[Change]),
    ("modify", &[Change]),
    ("update", &[Change]),
    ("adjust", &[Change]),
    ("edit", &[Change]),
    ("alter", &[Change]),
    ("move", &[Change, Move]),
    ("switch", &[Change]),
    ("swap", &[Change]),
    ("shift", &[Change, Move]),
    ("reschedule", &[Change, Move]),
    ("push", &[Change, Later]),
    ("postpone", &[Change, Later]),
    ("delay", &[Change, Later]),
    ("later", &[Later]),
    ("earlier", &[Earlier]),
    ("sooner", &[Earlier]),
    ("extend", &[Change, Extend]),
    ("lengthen", &[Change, Extend]),
    ("prolong", &[Change, Extend]),
    ("longer", &[Extend]),
    ("shorten", &[Change, Shorten]),
    ("shorter", &[Shorten]),
    ("cut", &[Shorten]),
    ("trim", &[Shorten]),
    ("increase", &[Change, More]),
    ("add", &[Change, More]),
    ("more", &[More]),
    ("another", &[More]),
    ("extra", &[More]),
    ("additional", &[More]),
    ("reduce", &[Change, Fewer]),
    ("decrease", &[Change, Fewer]),
    ("fewer", &[Fewer]),
    ("less", &[Fewer]),
    ("booking", &[BookingNoun]),
    ("bookings", &[BookingNoun]),
    ("reservation", &[BookingNoun]),
    ("res", &[BookingNoun]),
    ("reservations", &[BookingNoun]),
    ("booked", &[BookingNoun]),
    ("reserved", &[BookingNoun]),
    ("my", &[Mine]),
    ("mine", &[Mine]),
    ("i", &[Mine]),
    ("our", &[Mine]),
    ("we", &[Mine]),
    ("show", &[List]),
    ("list", &[List]),
    ("view", &[List]),
    ("see", &[List]),
    ("display", &[List]),
    ("upcoming", &[List]),
    ("current", &[List]),
    ("existing", &[List]),
    ("total", &[Total]),
    ("bill", &[Total]),
    ("spent", &[Total]),
    ("owe", &[Total]),
    ("altogether", &[Total]),
    ("sum", &[Total]),
    ("earliest", &[Soonest]),
    ("soonest", &[Soonest]),
    ("window", &[Soonest]),
    ("slot", &[Soonest]),
    ("slots", &[Soonest]),
    ("yes", &[Yes]),
    ("y", &[Yes]),
    ("yep", &[Yes]),
    ("yeah", &[Yes]),
    ("yea", &[Yes]),
    ("yup", &[Yes]),
    ("ya", &[Yes]),
    ("sure", &[Yes]),
    ("ok", &[Yes]),
    // ("k", "kk" and a bare 👍 are not enough to spend money on: the person is asked for a
    // clear yes.)
    ("okay", &[Yes]),
    ("confirm", &[Yes]),
    ("confirmed", &[Yes]),
    ("proceed", &[Yes]),
    ("absolutely", &[Yes]),
    ("definitely", &[Yes]),
    ("certainly", &[Yes]),
    ("affirmative", &[Yes]),
    ("correct", &[Yes]),
    ("perfect", &[Yes]),
    ("great", &[Yes]),
    ("good", &[Yes]),
    ("fine", &[Yes]),
    ("alright", &[Yes]),
    ("cool", &[Yes]),
    ("excellent", &[Yes]),
    ("lovely", &[Yes]),
    ("brilliant", &[Yes]),
    ("exactly", &[Yes]),
    ("right", &[Yes]),
    ("no", &[No]),
    ("n", &[No]),
    ("nope", &[No]),
    ("nah", &[No]),
    ("negative", &[No]),
    ("nevermind", &[No]),
    ("abort", &[No]),
    ("stop", &[No]),
    ("halt", &[No]),
    ("dont", &[No]),
    ("don", &[No]),
    ("not", &[No]),
    ("actually", &[Correct]),
    ("instead", &[Correct]),
    ("oops", &[Correct]),
    ("sorry", &[Correct]),
    ("correction", &[Correct]),
    ("rather", &[Correct]),
    ("wait", &[Correct]),
    ("cheapest", &[Cheapest]),
    ("cheaper", &[Cheapest]),
    ("cheap", &[Cheapest]),
    ("budget", &[Cheapest]),
    ("affordable", &[Cheapest]),
    ("largest", &[MostMemory]),
    ("biggest", &[MostMemory]),
    ("fastest", &[Fastest]),
    ("quickest", &[Fastest]),
    ("strongest", &[Fastest]),
    ("all", &[All]),
    ("everything", &[All]),
    ("every", &[All]),
    ("both", &[All]),
];

/// Phrases (space-separated tokens as `words::tokens` makes them) and their cues; a phrase's
/// tokens are not read again as single words.
const PHRASES: &[(&str, &[Cue])] = &[
    ("what can you do", &[Help]),
    ("how does this work", &[Help]),
    ("how does it work", &[Help]),
    ("what do you do", &[Help]),
    ("who are you", &[Help]),
    ("how do i", &[Help]),
    ("what are you", &[Help]),
    ("good morning", &[Greet]),
    ("good afternoon", &[Greet]),
    ("good evening", &[Greet]),
    ("what do you have", &[Inventory]),
    ("what have you got", &[Inventory]),
    ("what kind of", &[Inventory]),
    ("how much", &[Price]),
    ("the damage", &[Price]),
    ("come to", &[Price]),
    ("comes to", &[Price]),
    ("set me back", &[Price]),
    ("how many", &[Avail]),
    ("in use", &[Avail]),
    ("booked up", &[Avail]),
    ("i d like", &[Book]),
    ("i would like", &[Book]),
    ("would like", &[Book]),
    ("sign me up", &[Book]),
    ("set me up", &[Book]),
    ("can i have", &[Book]),
    ("can i get", &[Book]),
    ("could i get", &[Book]),
    ("could i have", &[Book]),
    ("go ahead", &[Yes]),
    ("do it", &[Yes]),
    ("book it", &[Yes, Book]),
    ("sounds good", &[Yes]),
    ("sounds great", &[Yes]),
    ("sounds perfect", &[Yes]),
    ("go for it", &[Yes]),
    ("that works", &[Yes]),
    ("works for me", &[Yes]),
    ("please do", &[Yes]),
    ("of course", &[Yes]),
    ("that s it", &[Yes]),
    ("thats it", &[Yes]),
    ("that s right", &[Yes]),
    ("that s fine", &[Yes]),
    ("let s do it", &[Yes]),
    ("lets do it", &[Yes]),
    ("make it so", &[Yes]),
    ("all good", &[Yes]),
    ("looks good", &[Yes]),
    ("yes please", &[Yes]),
    ("never mind", &[No]),
    ("forget it", &[No]),
    ("forget about it", &[No]),
    ("changed my mind", &[No]),
    ("not now", &[No]),
    ("not yet", &[No]),
    ("not at the moment", &[No]),
    ("no thanks", &[No]),
    ("no thank you", &[No]),
    ("maybe later", &[No]),
    ("hold off", &[No]),
    ("leave it", &[No]),
    ("scrap that", &[No]),
    ("skip it", &[No]),
    ("don t", &[No]),
    ("do not", &[No]),
    ("i ll pass", &[No]),
    ("make that", &[Correct]),
    ("make it", &[Correct]),
    ("change it to", &[Correct, Change]),
    ("change that to", &[Correct, Change]),
    ("what about", &[Correct]),
    ("how about", &[Correct]),
    ("least expensive", &[Cheapest]),
    ("lowest cost", &[Cheapest]),
    ("lowest price", &[Cheapest]),
    ("costs least", &[Cheapest]),
    ("costs the least", &[Cheapest]),
    ("most affordable", &[Cheapest]),
    ("most memory", &[MostMemory]),
    ("largest memory", &[MostMemory]),
    ("biggest memory", &[MostMemory]),
    ("most vram", &[MostMemory]),
    ("more memory", &[MostMemory]),
    ("most powerful", &[Fastest]),
    ("the best", &[Fastest]),
    ("top of the line", &[Fastest]),
    ("next available", &[Soonest]),
    ("first available", &[Soonest]),
    ("when can i", &[Soonest]),
    ("when could i", &[Soonest]),
    ("frees up", &[Soonest]),
    ("free up", &[Soonest]),
    ("as soon as", &[Soonest]),
    ("push back", &[Change, Later]),
    ("bring forward", &[Change, Earlier]),
    ("pull in", &[Change, Earlier]),
    ("keep it", &[Change, Extend]),
    ("keep them", &[Change, Extend]),
    ("keep my", &[Change, Extend]),
    ("keep the", &[Change, Extend]),
    ("end it", &[Change, Shorten]),
    ("end my", &[Change, Shorten]),
    ("it end", &[Change, Shorten]),
    ("end at", &[Change, Shorten]),
    // "9 to 3, scratch that, 10 to 3": a correction, not a cancellation; "train from
    // scratch", "look forward to": neither. "scratch" and "kill" cancel only with what they
    // act on.
    ("scratch that", &[Correct]),
    ("from scratch", &[]),
    // "bring my booking forward an hour" (not "forward this to my colleague")
    ("booking forward", &[Change, Earlier]),
    ("reservation forward", &[Change, Earlier]),
    ("it forward", &[Change, Earlier]),
    ("them forward", &[Change, Earlier]),
    ("forward by", &[Change, Earlier]),
    ("looking forward", &[]),
    ("look forward", &[]),
    ("scratch the", &[Cancel]),
    ("scratch my", &[Cancel]),
    ("scratch it", &[Cancel]),
    ("kill the", &[Cancel]),
    ("kill my", &[Cancel]),
    ("kill it", &[Cancel]),
    ("call off", &[Cancel]),
    ("clear out", &[Cancel]),
    ("free them up", &[Cancel]),
    ("free it up", &[Cancel]),
    ("free those up", &[Cancel]),
    ("get rid of", &[Cancel]),
    ("give back", &[Cancel]),
    ("what did i book", &[Mine, BookingNoun, List]),
    ("have i booked", &[Mine, BookingNoun, List]),
    ("what have i booked", &[Mine, BookingNoun, List]),
    ("did i reserve", &[Mine, BookingNoun, List]),
    ("how much do i owe", &[Total]),
    ("how much have i spent", &[Total]),
    ("how much am i paying", &[Total]),
    ("how much am i spending", &[Total]),
    ("how much will i spend", &[Total]),
    ("how much will i pay", &[Total]),
];

/// Question words that open a question.
const QUESTION_OPENERS: &[&str] = &[
    "is", "are", "any", "how", "what", "whats", "which", "when", "whens", "do", "does", "can",
    "could", "will", "would", "where", "who", "why", "anything",
];

/// A message's cues, each with the token index where it was found.
#[derive(Debug, Default, Clone)]
pub struct Cues {
    found: Vec<(Cue, usize)>,
    /// Every token index a cue covers (all words of a phrase).
    covered: Vec<usize>,
}

impl Cues {
    /// Whether the cue occurs.
    pub fn has(&self, c: Cue) -> bool {
        self.found.iter().any(|(x, _)| *x == c)
    }

    /// Token indexes that carry any cue.
    pub fn cued(&self, len: usize) -> Vec<bool> {
        let mut v = vec![false; len];
        for i in self.found.iter().map(|(_, i)| i).chain(&self.covered) {
            if *i < len {
                v[*i] = true;
            }
        }
        v
    }
}

/// Finds the cues of `toks`, skipping tokens already read as something else (`skip`).
pub fn cues(toks: &[String], skip: &[bool]) -> Cues {
    let mut found = Vec::new();
    let mut covered = Vec::new();
    let mut taken = skip.to_vec();
    for (phrase, cs) in PHRASES {
        // Called for every message and, in nlu, for single words: no allocation per phrase.
        let len = phrase.split(' ').count();
        if len > toks.len() {
            continue;
        }
        for start in 0..=toks.len() - len {
            let window = &toks[start..start + len];
            if window.iter().zip(phrase.split(' ')).all(|(a, b)| a == b)
                && !taken[start..start + len].iter().any(|t| *t)
            {
                for c in *cs {
                    found.push((*c, start));
                }
                covered.extend(start..start + len);
                taken[start..start + len].iter_mut().for_each(|t| *t = true);
            }
        }
    }
    for (i, t) in toks.iter().enumerate() {
        if taken[i] {
            continue;
        }
        if let Some(cs) = word_cues(t) {
            for c in cs {
                found.push((*c, i));
            }
        }
    }
    if toks
        .first()
        .is_some_and(|t| QUESTION_OPENERS.contains(&t.as_str()))
    {
        found.push((Question, 0));
    }
    Cues { found, covered }
}

/// The cues of one word: exact, a plural or "-ing"/"-ed" form, or one typo away (5+ letters).
fn word_cues(t: &str) -> Option<&'static [Cue]> {
    if let Some((_, cs)) = WORDS.iter().find(|(w, _)| *w == t) {
        return Some(cs);
    }
    for suffix in ["ing", "ed", "s", "led", "ling"] {
        if let Some(stem) = t.strip_suffix(suffix) {
            if stem.len() >= 4 {
                if let Some((_, cs)) = WORDS
                    .iter()
                    .find(|(w, _)| *w == stem || w.strip_suffix('e') == Some(stem))
                {
                    return Some(cs);
                }
            }
        }
    }
    // Everyday words one letter away from a cue word are not typos of it.
    const REAL_WORDS: &[&str] = &[
        "looking",
        "cooking",
        "hooking",
        "working",
        "making",
        "taking",
        "thinking",
        "morning",
        "evening",
        "nothing",
        "something",
        "anything",
        "checking",
        "meeting",
        "running",
        "testing",
        "training",
        "waiting",
        "getting",
        "hoping",
        "seeing",
        "shows",
        "slow",
        "slower",
        "model",
        "models",
        "hours",
        "house",
        "change",
        "charge",
        "chance",
        "later",
        "water",
        "store",
        "stock",
        "rated",
        "bored",
        "board",
        "boost",
        "books",
        "booth",
        "cancer",
        "listed",
        "lists",
        "latest",
        "fastest",
        "faster",
        "hello",
        "there",
        "please",
        "pleased",
        "weather",
        "whether",
        "rather",
        "other",
        "sounds",
    ];
    if REAL_WORDS.contains(&t) {
        return None;
    }
    if t.len() >= 5 && t.bytes().all(|b| b.is_ascii_alphabetic()) {
        let mut hits = WORDS
            .iter()
            .filter(|(w, _)| w.len() >= 5 && w.len().abs_diff(t.len()) <= 1)
            .filter(|(w, _)| edit_distance(w, t) == 1);
        if let (Some((_, cs)), None) = (hits.next(), hits.next()) {
            return Some(cs);
        }
    }
    None
}

/// Words that carry no meaning of their own in a short answer ("yes please, thanks").
pub fn is_filler(t: &str) -> bool {
    matches!(
        t,
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
            | "ah"
            | "that"
            | "thats"
            | "this"
            | "it"
            | "is"
            | "s"
            | "for"
            | "me"
            | "and"
            | "thanks"
            | "thank"
            | "you"
            | "ty"
            | "thx"
            | "very"
            | "much"
            | "of"
            | "course"
            | "sir"
            | "mate"
            | "all"
            | "go"
            | "ahead"
            | "do"
            | "book"
            | "sounds"
            | "looks"
            | "works"
            | "now"
            | "at"
            | "moment"
            | "really"
            | "lets"
            | "let"
            | "i"
            | "ll"
            | "would"
            | "be"
            | "we"
            | "are"
            | "good"
            | "to"
            | "on"
            | "with"
            | "that's"
            | "right"
            | "its"
            | "about"
            | "mind"
            | "forget"
            | "maybe"
            | "later"
            | "yet"
            | "time"
            | "today"
            | "sorry"
            | "hmm"
            | "um"
            | "uh"
            | "haha"
            | "lol"
            | "x"
            | "what"
            | "whatever"
            | "|"
    )
}

#[cfg(test)]
mod tests {
    use super::super::words::tokens;
    use super::*;

    fn has(text: &str, c: Cue) -> bool {
        let t = tokens(text);
        cues(&t, &vec![false; t.len()]).has(c)
    }

    #[test]
    fn typos_and_forms_are_cues() {
        assert!(has("cancle my booking", Cancel));
        assert!(has("reseve two", Book));
        assert!(has("cancelled", Cancel));
        assert!(has("extending it", Extend));
        assert!(has("sounds perfect, go for it", Yes));
        assert!(has("no thanks, not at the moment", No));
        assert!(!has("tomorrow", Cancel));
    }
}
