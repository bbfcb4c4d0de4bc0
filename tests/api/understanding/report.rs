//! Counts exact / asked / wrong over many conversations, by category, and writes the
//! transcripts of the ones that were not exact.

use super::case::Case;
use super::harness::{Outcome, Score};
use std::collections::BTreeMap;
use std::fmt::Write;

/// Exact / asked / wrong counts.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    /// Scored exact.
    pub exact: usize,
    /// Scored asked.
    pub asked: usize,
    /// Scored wrong.
    pub wrong: usize,
}

impl Counts {
    fn add(&mut self, s: Score) {
        match s {
            Score::Exact => self.exact += 1,
            Score::Asked => self.asked += 1,
            Score::Wrong => self.wrong += 1,
        }
    }

    /// All conversations counted.
    pub fn total(&self) -> usize {
        self.exact + self.asked + self.wrong
    }

    /// Share exact, in percent (100 when empty).
    pub fn exact_pct(&self) -> f64 {
        if self.total() == 0 {
            100.0
        } else {
            100.0 * self.exact as f64 / self.total() as f64
        }
    }
}

/// Everything measured in one run.
#[derive(Default)]
pub struct Report {
    /// Over all conversations.
    pub counts: Counts,
    by_tag: BTreeMap<String, Counts>,
    failures: Vec<(Case, Outcome)>,
}

impl Report {
    /// Adds one conversation's outcome.
    pub fn add(&mut self, case: &Case, outcome: Outcome) {
        self.counts.add(outcome.score);
        for t in &case.tags {
            self.by_tag.entry(t.clone()).or_default().add(outcome.score);
        }
        if outcome.score != Score::Exact {
            self.failures.push((case.clone(), outcome));
        }
    }

    /// The headline: counts and the exact share.
    pub fn summary(&self, title: &str) -> String {
        let c = self.counts;
        format!(
            "== {title}: {} conversations: exact {} ({:.2}%), asked {}, wrong {}\n",
            c.total(),
            c.exact,
            c.exact_pct(),
            c.asked,
            c.wrong
        )
    }

    /// Per category, grouped by family (the part before `:`: date, range, dur, neg, ...),
    /// families with the most wrong first, and within a family the worst form first.
    pub fn by_category(&self) -> String {
        let mut families: BTreeMap<&str, Vec<(&String, &Counts)>> = BTreeMap::new();
        for (tag, c) in &self.by_tag {
            let family = tag.split(':').next().unwrap_or(tag);
            families.entry(family).or_default().push((tag, c));
        }
        let worst = |a: &(&String, &Counts), b: &(&String, &Counts)| {
            b.1.wrong
                .cmp(&a.1.wrong)
                .then(a.1.exact_pct().total_cmp(&b.1.exact_pct()))
                .then(a.0.cmp(b.0))
        };
        let mut order: Vec<(&str, Vec<(&String, &Counts)>)> = families.into_iter().collect();
        for (_, rows) in order.iter_mut() {
            rows.sort_by(worst);
        }
        let wrong_of = |rows: &[(&String, &Counts)]| rows.iter().map(|r| r.1.wrong).sum::<usize>();
        order.sort_by(|a, b| wrong_of(&b.1).cmp(&wrong_of(&a.1)).then(a.0.cmp(b.0)));
        let mut s = String::from(
            "-- by category, per family (worst first): category  n  exact%  asked  wrong\n",
        );
        for (family, rows) in order {
            let _ = writeln!(s, "   [{family}]");
            for (tag, c) in rows {
                let _ = writeln!(
                    s,
                    "   {tag:<40} {:>6} {:>7.2}% {:>6} {:>6}",
                    c.total(),
                    c.exact_pct(),
                    c.asked,
                    c.wrong
                );
            }
        }
        s
    }

    /// Transcripts of the conversations that were not exact: every wrong one, then at most
    /// `max_asked` asked ones (all of them when `None`).
    pub fn failures(&self, max_asked: Option<usize>) -> String {
        let mut s = String::new();
        let wrong = self
            .failures
            .iter()
            .filter(|(_, o)| o.score == Score::Wrong);
        let asked: Vec<_> = self
            .failures
            .iter()
            .filter(|(_, o)| o.score == Score::Asked)
            .collect();
        for (case, o) in wrong {
            transcript(&mut s, case, o);
        }
        let shown = max_asked.unwrap_or(asked.len()).min(asked.len());
        for (case, o) in &asked[..shown] {
            transcript(&mut s, case, o);
        }
        if shown < asked.len() {
            let _ = writeln!(
                s,
                "   ({} more asked conversations not shown; HPCBOT_EVAL_SHOW raises the limit)",
                asked.len() - shown
            );
        }
        s
    }
}

fn transcript(s: &mut String, case: &Case, o: &Outcome) {
    let _ = writeln!(
        s,
        "\n-- {:?}: {} — {}\n   now {} ({}), expect {}, tags {}",
        o.score,
        case.label(),
        o.reason,
        case.now.format("%a %Y-%m-%d %H:%M:%S UTC"),
        case.tz.name(),
        case.expect.kind(),
        case.tags.join(" ")
    );
    for b in &case.existing {
        let _ = writeln!(s, "   existing: {b}");
    }
    for b in &case.others {
        let _ = writeln!(s, "   others:   {b}");
    }
    for t in &o.transcript {
        let _ = writeln!(s, "   > {}", t.said);
        for line in t.reply.lines().filter(|l| !l.trim().is_empty()) {
            let _ = writeln!(s, "   < {line}");
        }
        for a in &t.actions {
            let _ = writeln!(s, "   * {a}");
        }
    }
    let list = |v: &[super::case::Spec]| {
        if v.is_empty() {
            "(none)".to_string()
        } else {
            v.iter()
                .map(|b| b.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        }
    };
    let _ = writeln!(s, "   expected bookings: {}", list(&o.expected));
    let _ = writeln!(s, "   actual bookings:   {}", list(&o.actual));
    if !case.reply_has.is_empty() {
        let _ = writeln!(s, "   reply_has: {:?}", case.reply_has);
    }
}
