//! `hpcbot loadtest`: concurrent users against a running server, with a live progress line,
//! throughput, latency percentiles (HDR histogram), errors by status and code, and with
//! `--verify` the sessions whose history lost a turn. The last line is a JSON summary.

use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What each user sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Chat turns in sessions (`/api/chat`).
    Session,
    /// Stateless questions (`/api/direct/chat`).
    Direct,
    /// The server's trivial JSON echo route (`/debug/echo`): a baseline.
    Echo,
}

/// Load test settings.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Base URL of the server.
    pub url: String,
    /// Concurrent users.
    pub users: usize,
    /// How long to send.
    pub duration: Duration,
    /// Turns per session before a user starts a new one (session mode).
    pub turns: Option<usize>,
    /// What to send.
    pub mode: Mode,
    /// Check every session's history at the end.
    pub verify: bool,
    /// Allow a target that is not on this machine.
    pub allow_remote: bool,
    /// Print the live progress line to stderr.
    pub progress: bool,
    /// Messages sent in turn.
    pub messages: Vec<String>,
    /// After a `503` with `Retry-After`, wait that long (at most 1 s) as a polite client does.
    pub honour_retry_after: bool,
    /// Users start spread evenly over this time instead of all at once.
    pub ramp_up: Duration,
}

/// The outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub mode: String,
    pub users: usize,
    pub seconds: f64,
    pub requests: u64,
    pub ok: u64,
    pub throughput_per_s: f64,
    /// Latency of successful requests.
    pub latency_ms: BTreeMap<String, f64>,
    /// Latency of failed ones (e.g. shed with 503), when there were any.
    pub error_latency_ms: Option<BTreeMap<String, f64>>,
    pub errors: BTreeMap<String, u64>,
    pub sessions: u64,
    /// Sessions whose history lost (or gained) a turn; `None` without `--verify`.
    pub sessions_with_lost_turns: Option<u64>,
}

/// Whether `url` points at this machine.
pub fn is_loopback(url: &str) -> bool {
    let rest = url.split("://").nth(1).unwrap_or(url);
    let host = rest.split('/').next().unwrap_or("");
    let host = if host.starts_with('[') {
        host.split(']').next().unwrap_or("").trim_start_matches('[')
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

struct UserResult {
    hist: Histogram<u64>,
    err_hist: Histogram<u64>,
    errors: BTreeMap<String, u64>,
    ok: u64,
    sessions: Vec<(String, u64)>,
}

async fn send(
    client: &reqwest::Client,
    url: &str,
    body: &Value,
) -> Result<Value, (String, Option<u64>)> {
    let res = client.post(url).json(body).send().await.map_err(|e| {
        let what = if e.is_timeout() { "timeout" } else { "connect" };
        (what.to_string(), None)
    })?;
    let status = res.status().as_u16();
    let retry = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let v: Value = res.json().await.unwrap_or(Value::Null);
    if status == 200 || status == 201 {
        Ok(v)
    } else {
        Err((
            format!("{status} {}", v["error"]["code"].as_str().unwrap_or("-")),
            retry,
        ))
    }
}

/// Fails at once, naming `url`, if nothing answers there (any HTTP status is an answer):
/// a wrong port would otherwise be hammered with connections for the whole duration.
async fn reachable(client: &reqwest::Client, url: &str) -> anyhow::Result<()> {
    let probe = client
        .get(format!("{}/healthz", url.trim_end_matches('/')))
        .timeout(PROBE_TIMEOUT)
        .send()
        .await;
    match probe {
        Ok(_) => Ok(()),
        Err(e) => anyhow::bail!("no answer from {url}: {e} (is the server running there?)"),
    }
}

/// How long [`reachable`] waits for the server's first answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a user waits after a failed connection before trying again (with jitter), so a
/// server that went away mid-run is not hammered in a tight loop.
const RECONNECT_PAUSE: Duration = Duration::from_millis(100);

/// Waits [`RECONNECT_PAUSE`], give or take half.
async fn reconnect_pause() {
    tokio::time::sleep(RECONNECT_PAUSE.mul_f64(rand::random_range(0.5..1.5))).await;
}

async fn user(
    client: reqwest::Client,
    o: Arc<LoadOptions>,
    until: Instant,
    done: Arc<AtomicU64>,
    idx: usize,
) -> UserResult {
    let mut r = UserResult {
        hist: Histogram::new_with_bounds(1, 120_000_000, 3).expect("bounds"),
        err_hist: Histogram::new_with_bounds(1, 120_000_000, 3).expect("bounds"),
        errors: BTreeMap::new(),
        ok: 0,
        sessions: Vec::new(),
    };
    let base = o.url.trim_end_matches('/').to_string();
    let mut n = idx;
    if !o.ramp_up.is_zero() {
        tokio::time::sleep(o.ramp_up.mul_f64(idx as f64 / o.users as f64)).await;
    }
    while Instant::now() < until {
        let msg = &o.messages[n % o.messages.len()];
        n += 1;
        let (url, body) = match o.mode {
            Mode::Direct => (format!("{base}/api/direct/chat"), json!({"message": msg})),
            Mode::Echo => (format!("{base}/debug/echo"), json!({"message": msg})),
            Mode::Session => {
                let fresh = match r.sessions.last() {
                    None => true,
                    Some((_, t)) => o.turns.is_some_and(|k| *t as usize >= k),
                };
                if fresh {
                    match send(&client, &format!("{base}/api/sessions"), &json!({})).await {
                        Ok(v) => r
                            .sessions
                            .push((v["session_id"].as_str().unwrap_or_default().to_string(), 0)),
                        Err((e, _)) => {
                            if e == "connect" {
                                reconnect_pause().await;
                            }
                            *r.errors.entry(format!("session create: {e}")).or_default() += 1;
                            continue;
                        }
                    }
                }
                let sid = r
                    .sessions
                    .last()
                    .map(|(s, _)| s.clone())
                    .unwrap_or_default();
                (
                    format!("{base}/api/chat"),
                    json!({"message": msg, "session_id": sid}),
                )
            }
        };
        let t0 = Instant::now();
        let out = send(&client, &url, &body).await;
        let us = t0.elapsed().as_micros().max(1) as u64;
        done.fetch_add(1, Ordering::Relaxed);
        match out {
            Ok(_) => {
                let _ = r.hist.record(us.min(120_000_000));
                r.ok += 1;
                if let Some(last) = r.sessions.last_mut().filter(|_| o.mode == Mode::Session) {
                    last.1 += 1;
                }
            }
            Err((e, retry)) => {
                let _ = r.err_hist.record(us.min(120_000_000));
                let refused = e == "connect";
                *r.errors.entry(e).or_default() += 1;
                if refused {
                    reconnect_pause().await;
                } else if let Some(secs) = retry.filter(|_| o.honour_retry_after) {
                    // With jitter, as polite clients do, so they do not return in one burst.
                    let wait =
                        Duration::from_secs(secs.min(1)).mul_f64(rand::random_range(0.5..1.5));
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
    r
}

/// Runs the load test.
pub async fn run(o: LoadOptions) -> anyhow::Result<Report> {
    if !o.allow_remote && !is_loopback(&o.url) {
        anyhow::bail!(
            "refusing to load-test {}: not this machine (give --allow-remote if you mean it)",
            o.url
        );
    }
    anyhow::ensure!(o.users > 0, "--users must be at least 1");
    anyhow::ensure!(!o.messages.is_empty(), "no messages to send");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(o.users)
        .timeout(Duration::from_secs(120))
        .build()?;
    reachable(&client, &o.url).await?;
    let o = Arc::new(o);
    let start = Instant::now();
    let until = start + o.duration;
    let done = Arc::new(AtomicU64::new(0));
    let progress = o.progress.then(|| {
        let (done, total) = (done.clone(), o.duration);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let el = start.elapsed().min(total);
                let frac = el.as_secs_f64() / total.as_secs_f64();
                let bar: String = (0..30)
                    .map(|i| if (i as f64) < frac * 30.0 { '=' } else { ' ' })
                    .collect();
                let n = done.load(Ordering::Relaxed);
                eprint!(
                    "\r[{bar}] {:>5.1}s/{:.0}s  {n} requests  {:.0}/s   ",
                    el.as_secs_f64(),
                    total.as_secs_f64(),
                    n as f64 / el.as_secs_f64().max(0.001)
                );
                let _ = std::io::stderr().flush();
            }
        })
    });
    let tasks: Vec<_> = (0..o.users)
        .map(|i| tokio::spawn(user(client.clone(), o.clone(), until, done.clone(), i)))
        .collect();
    let mut hist = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)?;
    let mut err_hist = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)?;
    let (mut errors, mut ok, mut sessions) = (BTreeMap::new(), 0, Vec::new());
    for t in tasks {
        let r = t.await?;
        hist.add(&r.hist)?;
        err_hist.add(&r.err_hist)?;
        ok += r.ok;
        for (k, v) in r.errors {
            *errors.entry(k).or_default() += v;
        }
        sessions.extend(r.sessions);
    }
    let seconds = start.elapsed().as_secs_f64();
    if let Some(p) = progress {
        p.abort();
        eprintln!();
    }
    let lost = if o.verify && o.mode == Mode::Session {
        let mut lost = 0;
        for (sid, turns) in &sessions {
            let v: Value = client
                .get(format!(
                    "{}/api/sessions/{sid}",
                    o.url.trim_end_matches('/')
                ))
                .send()
                .await?
                .json()
                .await?;
            let msgs = v["messages"].as_array().cloned().unwrap_or_default();
            let alternating = msgs
                .iter()
                .enumerate()
                .all(|(i, m)| m["role"] == if i % 2 == 0 { "user" } else { "assistant" });
            if msgs.len() as u64 != 2 * turns || !alternating {
                lost += 1;
            }
        }
        Some(lost)
    } else {
        None
    };
    let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    let latency_ms = BTreeMap::from([
        ("p50".to_string(), ms(0.5)),
        ("p90".to_string(), ms(0.9)),
        ("p99".to_string(), ms(0.99)),
        ("p99.9".to_string(), ms(0.999)),
        ("max".to_string(), hist.max() as f64 / 1000.0),
        ("mean".to_string(), hist.mean() / 1000.0),
    ]);
    Ok(Report {
        mode: format!("{:?}", o.mode).to_lowercase(),
        users: o.users,
        seconds,
        requests: hist.len() + err_hist.len(),
        ok,
        throughput_per_s: ok as f64 / seconds,
        latency_ms,
        error_latency_ms: (!err_hist.is_empty()).then(|| {
            BTreeMap::from([
                (
                    "p50".to_string(),
                    err_hist.value_at_quantile(0.5) as f64 / 1000.0,
                ),
                (
                    "p99".to_string(),
                    err_hist.value_at_quantile(0.99) as f64 / 1000.0,
                ),
                ("max".to_string(), err_hist.max() as f64 / 1000.0),
            ])
        }),
        errors,
        sessions: sessions.len() as u64,
        sessions_with_lost_turns: lost,
    })
}

impl Report {
    /// The human summary (without the JSON line).
    pub fn text(&self) -> String {
        let mut s = format!(
            "mode {} · {} users · {:.1} s\nrequests {} · ok {} · {:.1} ok/s\nlatency ms: p50 {:.2} · p90 {:.2} · p99 {:.2} · p99.9 {:.2} · max {:.2}\n",
            self.mode, self.users, self.seconds, self.requests, self.ok, self.throughput_per_s,
            self.latency_ms["p50"], self.latency_ms["p90"], self.latency_ms["p99"], self.latency_ms["p99.9"], self.latency_ms["max"]
        );
        if let Some(e) = &self.error_latency_ms {
            s.push_str(&format!(
                "error latency ms: p50 {:.2} · p99 {:.2} · max {:.2}\n",
                e["p50"], e["p99"], e["max"]
            ));
        }
        if self.errors.is_empty() {
            s.push_str("errors: none\n");
        } else {
            for (k, v) in &self.errors {
                s.push_str(&format!("errors {k}: {v}\n"));
            }
        }
        if let Some(l) = self.sessions_with_lost_turns {
            s.push_str(&format!(
                "sessions checked {} · with a lost turn {l}\n",
                self.sessions
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::is_loopback;

    #[test]
    fn only_this_machine_unless_allowed() {
        assert!(is_loopback("http://127.0.0.1:8080"));
        assert!(is_loopback("http://localhost:1/x"));
        assert!(is_loopback("http://[::1]:8080/"));
        assert!(is_loopback("http://127.5.0.1"));
        assert!(!is_loopback("http://10.0.0.1:8080"));
        assert!(!is_loopback("https://example.com"));
    }
}
