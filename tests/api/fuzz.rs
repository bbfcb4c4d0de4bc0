//! Arbitrary text never panics the built-in assistant and always gets a reply.

use hpcbot::assistant::builtin::Builtin;
use hpcbot::assistant::tools::Tools;
use hpcbot::assistant::{Backend, TurnInput};
use hpcbot::config::Config;
use hpcbot::domain::booking::BookingLimits;
use hpcbot::domain::{Clock, Owner};
use hpcbot::store::sql::{SqlOptions, SqlStore};
use proptest::prelude::*;
use std::sync::Arc;

const WORDS: &[&str] = &[
    "book", "a100", "h100s", "2", "two", "tomorrow", "9-17", "at", "14:00", "for", "3", "hours",
    "yes", "no", "cancel", "my", "booking", "free", "is", "an", "next", "friday", "in", "minutes",
    "price", "of", "all", "-", "to", "dec", "31st", "0", "99999", "24:00", "ab12cd", "x4", "noon",
    "half", "?", "🙂", "and", "a", "half", "week", "day", "after", "the", "on", "5th",
];

fn sentence() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,120}",
        proptest::collection::vec(proptest::sample::select(WORDS), 0..12).prop_map(|w| w.join(" ")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    #[test]
    fn any_text_gets_a_reply(turns in proptest::collection::vec(sentence(), 1..6)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}?mode=rwc", dir.path().join("f.db").display());
            let store = SqlStore::connect(&SqlOptions { url, max_connections: 1, timeout: std::time::Duration::from_secs(5) }).await.unwrap();
            let tools = Tools::new(Arc::new(store), Clock::system(), BookingLimits::default());
            let bot = Builtin::new(tools, &Config::defaults_with(&[]).unwrap());
            let owner = Owner::user("fuzz");
            let mut state = serde_json::Value::Null;
            for t in &turns {
                let reply = bot.answer(&TurnInput { caller: &owner, session: None, message: t, history: &[], state: state.clone(), can_act: true, deltas: None }, Backend::Builtin).await.unwrap();
                assert!(!reply.text.trim().is_empty());
                state = reply.state;
            }
        });
    }
}
