//! A circuit breaker per upstream: closed → (failures in a window) → open → (after the
//! open period) half-open, where one probe decides between closed and open again.
//! Time comes from the [`Clock`], so tests move it instead of waiting.

use crate::domain::Clock;
use chrono::{DateTime, Duration, Utc};
use std::collections::VecDeque;
use std::sync::Mutex;

/// Breaker settings.
#[derive(Debug, Clone, Copy)]
pub struct BreakerOptions {
    /// Failures within `window` that open the breaker.
    pub failures: u32,
    /// The window failures are counted in.
    pub window: Duration,
    /// How long it stays open before a probe is let through.
    pub open_for: Duration,
}

/// The breaker's state, as shown in health output and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Calls go through.
    Closed,
    /// Calls are refused at once.
    Open,
    /// One probe call is in flight.
    HalfOpen,
}

impl State {
    /// 0 closed, 1 half-open, 2 open (for the metrics gauge).
    pub fn gauge(self) -> f64 {
        match self {
            State::Closed => 0.0,
            State::HalfOpen => 1.0,
            State::Open => 2.0,
        }
    }
}

/// Whether a call may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Go (breaker closed).
    Go,
    /// Go as the probe (breaker half-open).
    Probe,
    /// Don't (breaker open).
    Refused,
}

#[derive(Debug)]
struct Inner {
    state: State,
    failures: VecDeque<DateTime<Utc>>,
    opened_at: DateTime<Utc>,
}

/// The breaker. Its lock guards a few fields for a moment and is never held across I/O.
#[derive(Debug)]
pub struct Breaker {
    opts: BreakerOptions,
    clock: Clock,
    inner: Mutex<Inner>,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(opts: BreakerOptions, clock: Clock) -> Self {
        let now = clock.now();
        Self {
            opts,
            clock,
            inner: Mutex::new(Inner {
                state: State::Closed,
                failures: VecDeque::new(),
                opened_at: now,
            }),
        }
    }

    /// Asks to make a call.
    pub fn admit(&self) -> Admission {
        let now = self.clock.now();
        let mut i = self.inner.lock().expect("breaker");
        match i.state {
            State::Closed => Admission::Go,
            State::Open if now - i.opened_at >= self.opts.open_for => {
                i.state = State::HalfOpen;
                Admission::Probe
            }
            State::Open | State::HalfOpen => Admission::Refused,
        }
    }

    /// A call succeeded.
    pub fn success(&self) {
        let mut i = self.inner.lock().expect("breaker");
        i.state = State::Closed;
        i.failures.clear();
    }

    /// A call failed.
    pub fn failure(&self) {
        let now = self.clock.now();
        let mut i = self.inner.lock().expect("breaker");
        if i.state == State::HalfOpen {
            i.state = State::Open;
            i.opened_at = now;
            return;
        }
        i.failures.push_back(now);
        while i
            .failures
            .front()
            .is_some_and(|t| now - *t > self.opts.window)
        {
            i.failures.pop_front();
        }
        if i.failures.len() as u32 >= self.opts.failures && i.state == State::Closed {
            i.state = State::Open;
            i.opened_at = now;
            i.failures.clear();
        }
    }

    /// A probe was abandoned without an answer (the turn was cancelled): let another try.
    pub fn abandon_probe(&self) {
        let mut i = self.inner.lock().expect("breaker");
        if i.state == State::HalfOpen {
            i.state = State::Open;
            i.opened_at = self.clock.now() - self.opts.open_for;
        }
    }

    /// The current state (an open breaker whose period is over still shows open until the
    /// next call probes it).
    pub fn state(&self) -> State {
        self.inner.lock().expect("breaker").state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_failures_and_a_probe_closes_it() {
        let clock = Clock::fixed(Utc::now());
        let b = Breaker::new(
            BreakerOptions {
                failures: 3,
                window: Duration::seconds(30),
                open_for: Duration::seconds(10),
            },
            clock.clone(),
        );
        for _ in 0..2 {
            assert_eq!(b.admit(), Admission::Go);
            b.failure();
        }
        assert_eq!(b.state(), State::Closed);
        b.failure();
        assert_eq!(b.state(), State::Open);
        assert_eq!(b.admit(), Admission::Refused);
        clock.advance(Duration::seconds(11));
        assert_eq!(b.admit(), Admission::Probe);
        assert_eq!(b.admit(), Admission::Refused, "one probe at a time");
        b.failure();
        assert_eq!(b.state(), State::Open);
        clock.advance(Duration::seconds(11));
        assert_eq!(b.admit(), Admission::Probe);
        b.success();
        assert_eq!(b.state(), State::Closed);
        assert_eq!(b.admit(), Admission::Go);
    }

    #[test]
    fn old_failures_fall_out_of_the_window() {
        let clock = Clock::fixed(Utc::now());
        let b = Breaker::new(
            BreakerOptions {
                failures: 2,
                window: Duration::seconds(5),
                open_for: Duration::seconds(10),
            },
            clock.clone(),
        );
        b.failure();
        clock.advance(Duration::seconds(6));
        b.failure();
        assert_eq!(b.state(), State::Closed);
    }
}
