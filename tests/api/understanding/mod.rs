//! Measuring how well the built-in assistant understands people (issue 10): the hand-written
//! conversation tables (tests/conversations/*.toml) and the paraphrase generator, both run
//! against the real built-in assistant without HTTP and scored exact / asked / wrong.
//!
//! `cargo test --test api understanding -- --nocapture` runs the measurements and
//! prints the reports. Settings: `HPCBOT_EVAL_N` (generated conversations, default 3000),
//! `HPCBOT_EVAL_SEED` (default 2026), `HPCBOT_EVAL_SHOW` (asked transcripts shown, default 40),
//! `HPCBOT_EVAL_ONLY` (run only the generated conversation with this index).

mod case;
mod generator;
mod harness;
mod report;
mod selfcheck;
mod tables;

use harness::Harness;
use report::Report;
use std::time::Instant;

/// Generated conversations per run unless `HPCBOT_EVAL_N` says otherwise (keeps `cargo test`
/// fast; the figure is measured with `HPCBOT_EVAL_N=20000`).
const DEFAULT_N: u64 = 3000;
/// The generator's seed unless `HPCBOT_EVAL_SEED` says otherwise.
const DEFAULT_SEED: u64 = 2026;
/// Asked transcripts printed unless `HPCBOT_EVAL_SHOW` says otherwise.
const DEFAULT_SHOW: usize = 40;
/// Required share of exactly understood generated conversations (issue 10).
const GENERATOR_EXACT_PCT: f64 = 97.0;
/// How many hand-written conversations issue 10 asks for (reported, not asserted: the
/// tables are written on another branch).
const TABLES_MIN_CONVERSATIONS: usize = 300;
/// Required share of exactly understood hand-written conversations. Issue 10's goal is 95%
/// for conversations never seen; the tables measure 95.17% today (0 wrong, 952 of them,
/// 425 written this stop by writers who had not read the parser), so this bar
/// guards against regressions while the rest is worked on (see the closing note).
const TABLES_EXACT_PCT: f64 = 94.0;

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}=`{v}` is not a whole number")),
        Err(_) => default,
    }
}

#[tokio::test]
async fn conversation_tables() {
    let mut bench = Harness::builtin().await;
    let cases =
        tables::load_dir(&tables::folder(), bench.inventory()).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !cases.is_empty(),
        "no conversations in {}",
        tables::folder().display()
    );
    let mut report = Report::default();
    let started = Instant::now();
    for case in &cases {
        let outcome = bench
            .run(case)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", case.label()));
        report.add(case, outcome);
    }
    let c = report.counts;
    println!("{}", report.summary("conversation tables"));
    println!("{}", report.failures(None));
    println!("{}", report.by_category());
    println!(
        "{}   ({} files, {:.1}s)",
        report.summary("conversation tables"),
        tables::files(&tables::folder())
            .map(|f| f.len())
            .unwrap_or(0),
        started.elapsed().as_secs_f64()
    );
    if c.total() < TABLES_MIN_CONVERSATIONS {
        println!(
            "   note: issue 10 asks for at least {TABLES_MIN_CONVERSATIONS} hand-written \
             conversations; {} found",
            c.total()
        );
    }
    assert_eq!(
        c.wrong, 0,
        "conversations acted on a misunderstanding (see above)"
    );
    assert!(
        c.exact_pct() >= TABLES_EXACT_PCT,
        "{:.2}% exact, {TABLES_EXACT_PCT}% required",
        c.exact_pct()
    );
}

#[tokio::test]
async fn paraphrase_generator() {
    let n = env_number("HPCBOT_EVAL_N", DEFAULT_N);
    let seed = env_number("HPCBOT_EVAL_SEED", DEFAULT_SEED);
    let show = env_number("HPCBOT_EVAL_SHOW", DEFAULT_SHOW as u64) as usize;
    let only = std::env::var("HPCBOT_EVAL_ONLY")
        .ok()
        .map(|_| env_number("HPCBOT_EVAL_ONLY", 0));
    let mut bench = Harness::builtin().await;
    let mut report = Report::default();
    let started = Instant::now();
    let mut turns = 0usize;
    let range = match only {
        Some(i) => i..i + 1,
        None => 0..n,
    };
    for i in range {
        let case = generator::case(seed, i);
        turns += case.turns.len();
        let outcome = bench
            .run(&case)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", case.label()));
        report.add(&case, outcome);
    }
    let secs = started.elapsed().as_secs_f64();
    let c = report.counts;
    println!("{}", report.summary("paraphrase generator"));
    println!("{}", report.failures(Some(show)));
    println!("{}", report.by_category());
    println!(
        "{}   seed {seed}; {turns} turns in {secs:.1}s: {:.0} conversations/s, {:.0} turns/s \
         (replay gen-<i> alone: HPCBOT_EVAL_SEED={seed} HPCBOT_EVAL_ONLY=<i>)",
        report.summary("paraphrase generator"),
        c.total() as f64 / secs,
        turns as f64 / secs
    );
    assert_eq!(
        c.wrong, 0,
        "conversations acted on a misunderstanding (see above)"
    );
    assert!(
        c.exact_pct() >= GENERATOR_EXACT_PCT,
        "{:.2}% exact, {GENERATOR_EXACT_PCT}% required",
        c.exact_pct()
    );
}
