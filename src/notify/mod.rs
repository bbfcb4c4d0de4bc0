//! Webhook delivery and reminders (API.md "Notifications and calendars").
//!
//! Events are not queued in memory: each is written, with one delivery row per endpoint,
//! in the transaction of the change it reports (`store::sql::webhooks`), so a crash loses
//! none. [`Deliverer::run`] is a loop every instance runs: each pass makes the reminders now
//! due (once across instances: a unique key in the database), takes due deliveries by
//! writing a lease (so no two instances send the same attempt at once), and sends each in
//! its own task — at most `webhook_max_in_flight` at once, `webhook_per_endpoint` per
//! endpoint — so a slow or dead endpoint holds a few of this instance's slots and nothing
//! else: bookings and chat turns never wait for a delivery.

pub mod payload;
pub mod ssrf;

use crate::config::Config;
use crate::domain::webhook::{signature, WebhookId};
use crate::domain::Clock;
use crate::store::webhooks::{AttemptResult, Due, Finished, Next, Want, WebhookStore};
use chrono::{DateTime, Utc};
use rand::Rng;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// How often a pass runs: what a booking made inside a reminder's window, or a new event,
/// waits at most before it is looked at.
pub const PASS: Duration = Duration::from_secs(1);

/// The shortest time between two rounds (recording attempts, taking due deliveries) of
/// one worker: at most 10 write transactions a second beside the bookings'.
const ROUND_GAP: Duration = Duration::from_millis(100);

/// The first retry's delay; each later one doubles, up to [`MAX_RETRY_DELAY`].
const FIRST_RETRY_DELAY: Duration = Duration::from_secs(1);

/// The longest delay between two attempts.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(3600);

/// Finished deliveries and attempts are kept this long (for `/deliveries`).
const KEEP_LOG: chrono::Duration = chrono::Duration::days(7);

/// The delivery loop's settings and handles.
pub struct Deliverer {
    store: Arc<dyn WebhookStore>,
    client: reqwest::Client,
    clock: Clock,
    retry_for: chrono::Duration,
    lease: Duration,
    max_in_flight: u32,
    per_endpoint: u32,
    before_start: chrono::Duration,
    before_end: chrono::Duration,
}

/// The HTTP client of deliveries: bounded by `webhook_timeout`, no redirects, no proxy from
/// the environment, and a resolver that refuses internal addresses.
pub fn client(config: &Config) -> anyhow::Result<reqwest::Client> {
    let policy = Arc::new(ssrf::HostPolicy::new(&config.webhook_allowed_hosts));
    Ok(reqwest::Client::builder()
        .timeout(config.webhook_timeout)
        .connect_timeout(config.webhook_timeout.min(Duration::from_secs(5)))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(ssrf::CheckedResolver::new(policy)))
        .user_agent(concat!("hpcbot-webhooks/", env!("CARGO_PKG_VERSION")))
        .pool_max_idle_per_host(config.webhook_per_endpoint.get() as usize)
        .build()?)
}

impl Deliverer {
    /// A loop over `store` with the settings of `config`.
    pub fn new(
        config: &Config,
        store: Arc<dyn WebhookStore>,
        clock: Clock,
    ) -> anyhow::Result<Self> {
        let chrono = |name: &str, d: Duration| {
            chrono::Duration::from_std(d).map_err(|_| anyhow::anyhow!("{name} is too large"))
        };
        Ok(Self {
            store,
            client: client(config)?,
            clock,
            retry_for: chrono("webhook_retry_for", config.webhook_retry_for)?,
            // Longer than an attempt and its record can take (each is bounded), so a live
            // lease means a live attempt; a crashed one is sent again once it lapses.
            lease: config.webhook_timeout + config.store_timeout + Duration::from_secs(5),
            max_in_flight: config.webhook_max_in_flight.get(),
            per_endpoint: config.webhook_per_endpoint.get(),
            before_start: chrono("reminder_before_start", config.reminder_before_start)?,
            before_end: chrono("reminder_before_end", config.reminder_before_end)?,
        })
    }

    /// Runs until the task is dropped (which cancels the attempts in flight: their leases
    /// lapse and another pass sends them again — at least once). Every [`PASS`] it makes
    /// the reminders now due and looks for due deliveries; while it finds some, it looks
    /// again as soon as attempts finish, so the rate is the endpoints', not the pass's.
    pub async fn run(self: Arc<Self>) {
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Finished>();
        let mut attempts: JoinSet<()> = JoinSet::new();
        let mut in_flight: HashMap<WebhookId, u32> = HashMap::new();
        let mut tick = tokio::time::interval(PASS);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut passes: u64 = 0;
        let mut more = false;
        let mut last_round = tokio::time::Instant::now();
        loop {
            // A pass, or attempts finished (every one finished by now is recorded at once).
            let mut done = Vec::new();
            let ticked = tokio::select! {
                _ = tick.tick() => true,
                Some(first) = done_rx.recv() => {
                    done.push(first);
                    false
                }
            };
            if !ticked {
                // Rounds at most every ROUND_GAP: what finishes meanwhile is recorded in the
                // same transaction, so the worker's writes stay few beside the bookings'.
                tokio::time::sleep_until(last_round + ROUND_GAP).await;
            }
            while let Ok(f) = done_rx.try_recv() {
                done.push(f);
            }
            for f in &done {
                if let Some(n) = in_flight.get_mut(&f.due.webhook) {
                    *n = n.saturating_sub(1);
                }
            }
            in_flight.retain(|_, n| *n > 0);
            while attempts.try_join_next().is_some() {}
            if ticked {
                passes += 1;
                if let Err(e) = self.chores(passes, attempts.len()).await {
                    tracing::warn!(error = %e, "webhook pass failed");
                }
            }
            let look = ticked || more;
            let room = self.max_in_flight.saturating_sub(attempts.len() as u32);
            let want = Want {
                now: Utc::now(),
                lease: self.lease,
                limit: if look { room } else { 0 },
                per_endpoint: self.per_endpoint,
                in_flight: &in_flight,
            };
            if done.is_empty() && want.limit == 0 {
                continue;
            }
            last_round = tokio::time::Instant::now();
            let due = match self.store.settle(&done, &want).await {
                Ok(due) => due,
                Err(e) => {
                    // What was done is sent again once its lease lapses (at least once).
                    tracing::warn!(error = %e, "recording or taking webhook deliveries failed");
                    Vec::new()
                }
            };
            if look {
                more = !due.is_empty();
            }
            for d in due {
                *in_flight.entry(d.webhook.clone()).or_default() += 1;
                let (me, done) = (self.clone(), done_tx.clone());
                attempts.spawn(async move {
                    let result = me.send(&d).await;
                    let next = me.next_after(&d, &result, Utc::now());
                    let outcome = match next {
                        Next::Delivered => "delivered",
                        Next::RetryAt(_) => "retry",
                        Next::GiveUp => "given_up",
                    };
                    metrics::counter!("hpcbot_webhook_attempts_total", "outcome" => outcome)
                        .increment(1);
                    let _ = done.send(Finished {
                        due: d,
                        result,
                        next,
                    });
                });
            }
        }
    }

    /// What each pass does besides sending: the reminders now due, the queue's size for
    /// `/metrics`, and (hourly) forgetting old deliveries.
    async fn chores(&self, passes: u64, in_flight: usize) -> anyhow::Result<()> {
        self.store
            .make_reminders(self.clock.now(), self.before_start, self.before_end)
            .await?;
        let pending = self.store.pending_deliveries().await?;
        metrics::gauge!("hpcbot_webhook_deliveries_pending").set(pending as f64);
        metrics::gauge!("hpcbot_webhook_attempts_in_flight").set(in_flight as f64);
        if passes.is_multiple_of(3600) {
            self.store.sweep_deliveries(Utc::now() - KEEP_LOG).await?;
        }
        Ok(())
    }

    /// One attempt: the signed POST; the reply's body is never read.
    async fn send(&self, d: &Due) -> AttemptResult {
        let body = payload::body(&d.event);
        let t = Utc::now().timestamp();
        let res = self
            .client
            .post(&d.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("Hpcbot-Event-Id", &d.event.id)
            .header("Hpcbot-Signature", signature(&d.secret, t, &body))
            .body(body)
            .send()
            .await;
        match res {
            Ok(r) if r.status().is_success() => AttemptResult {
                status: Some(r.status().as_u16()),
                error: None,
            },
            Ok(r) => AttemptResult {
                status: Some(r.status().as_u16()),
                error: Some(format!("the endpoint answered {}", r.status())),
            },
            Err(e) => AttemptResult {
                status: None,
                error: Some(describe(&e)),
            },
        }
    }

    /// What follows an attempt: done, a retry after a growing, jittered delay, or giving up
    /// once `webhook_retry_for` has passed since the event.
    fn next_after(&self, d: &Due, result: &AttemptResult, now: DateTime<Utc>) -> Next {
        if result.error.is_none() {
            return Next::Delivered;
        }
        let grown = FIRST_RETRY_DELAY
            .saturating_mul(1u32 << d.attempt.saturating_sub(1).min(20))
            .min(MAX_RETRY_DELAY);
        // Half fixed, half random: endpoints coming back are not hit by every retry at once.
        let half = grown.as_millis() as u64 / 2;
        let delay = Duration::from_millis(half + rand::rng().random_range(0..=half));
        let at = now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::hours(1));
        if at > d.created_at + self.retry_for {
            Next::GiveUp
        } else {
            Next::RetryAt(at)
        }
    }
}

/// An attempt's error for the log, without the URL (which may carry a token in its path).
fn describe(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out (webhook_timeout)"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_redirect() {
        "redirects are not followed"
    } else {
        "the request failed"
    };
    let mut source = std::error::Error::source(e);
    let mut why = String::new();
    while let Some(s) = source {
        why = s.to_string();
        source = s.source();
    }
    if why.is_empty() {
        what.to_string()
    } else {
        format!("{what}: {why}")
    }
}
