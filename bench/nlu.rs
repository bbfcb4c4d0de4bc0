//! Criterion: the built-in assistant's understanding cost per message, and a whole turn
//! through the session engine (SQLite store, in-memory sessions).
//!
//! `cargo bench --bench nlu`

use criterion::{criterion_group, criterion_main, Criterion};
use hpcbot::assistant::builtin::{nlu, Builtin};
use hpcbot::assistant::tools::Tools;
use hpcbot::chat::{Engine, EngineOptions};
use hpcbot::config::Config;
use hpcbot::domain::booking::BookingLimits;
use hpcbot::domain::{Clock, Inventory};
use hpcbot::store::memory::MemorySessions;
use hpcbot::store::sql::{SqlOptions, SqlStore};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

const MESSAGES: &[&str] = &[
    "hi",
    "what GPUs do you have",
    "how much is an A100?",
    "what would 4 V100s for a week cost?",
    "is an H100 free tomorrow 9-12?",
    "any A100s available next monday afternoon?",
    "book 2 A100s tomorrow from 9am to 5pm",
    "I'd like to reserve an H100 for 3 hours starting at 14:00",
    "can I get a couple of 4090s in 2 hours for 90 minutes?",
    "cancel booking 7f3a1c2e",
    "yep, go ahead",
    "tell me a joke",
];

fn understanding(c: &mut Criterion) {
    let inv = Inventory::sample();
    let now = {
        use chrono::TimeZone;
        chrono_tz::UTC
            .with_ymd_and_hms(2026, 11, 26, 10, 0, 0)
            .unwrap()
    };
    c.bench_function("nlu: one message (mean over 12 phrasings)", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % MESSAGES.len();
            black_box(nlu::parse(black_box(MESSAGES[i]), &inv, now))
        })
    });
}

fn whole_turn(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let engine = rt.block_on(async {
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("b.db").display());
        let store = SqlStore::connect(&SqlOptions {
            url,
            max_connections: 4,
            timeout: Duration::from_secs(5),
        })
        .await
        .unwrap();
        let tools = Tools::new(Arc::new(store), Clock::system(), BookingLimits::default());
        let bot = Builtin::new(tools, &Config::defaults_with(&[]).unwrap());
        Engine::new(
            Arc::new(MemorySessions::new(100_000)),
            Arc::new(bot),
            Clock::system(),
            EngineOptions {
                max_turns: None,
                session_ttl: Duration::from_secs(3600),
                max_conversations: 100_000,
                store_timeout: Duration::from_secs(5),
            },
        )
    });
    c.bench_function(
        "engine: whole turn (availability question, builtin, SQLite)",
        |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let engine = &engine;
                async move {
                    let mut total = Duration::ZERO;
                    let mut session = engine.create_session(None).await.unwrap();
                    for i in 0..iters {
                        // A fresh session every 10 turns, so history length stays realistic.
                        if i % 10 == 0 {
                            session = engine.create_session(None).await.unwrap();
                        }
                        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
                        let t0 = std::time::Instant::now();
                        black_box(
                            engine
                                .turn(
                                    &session.id,
                                    None,
                                    "is an H100 free tomorrow 9-12?",
                                    deadline,
                                    None,
                                )
                                .await
                                .unwrap(),
                        );
                        total += t0.elapsed();
                    }
                    total
                }
            })
        },
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(1));
    targets = understanding, whole_turn
}
criterion_main!(benches);
