//! Layered settings: defaults < `hpcbot.toml` < `HPCBOT_*` environment < command-line flags.
//!
//! Every setting is ONE declaration in the [`settings!`] block below: its key, its type, its
//! default and its help text. From that one line come the field of [`Config`] (or of a
//! section such as [`LlmConfig`]), the entry in [`SETTINGS`] (hence `serve --help` and the
//! README table, which a test keeps equal to [`settings_markdown`]), the environment
//! variable (`HPCBOT_` + the key upper-cased, `.` → `_`) and the validation: the value is
//! parsed by its type's [`SettingValue`] impl, then by the optional `check`. A bad value
//! stops start-up with one line naming the key and its environment variable.
//!
//! To add a setting: add one line to the block, e.g.
//! `    /// what it means (shown in --help and the README)`
//! `    idempotency_ttl: Duration = "24h";`
//! (optionally `, check = |v: &Duration| ...` returning `Result<(), String>`), then run
//! `HPCBOT_WRITE_README=1 cargo test --lib config` to regenerate the README table. A new type
//! needs a [`SettingValue`] impl (the parse rule, in one place for every key of that type).
//!
//! Why no crate: figment/config would add a dependency tree for what is here a table of
//! strings; figment's env provider splits names on `_`, which our keys contain, and neither
//! names the environment variable of a value that came from the file or a default. clap's
//! `env` cannot put the file layer between the defaults and the environment.

use chrono_tz::Tz;
use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::num::{NonZeroU32, NonZeroU64, NonZeroUsize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One setting: its key in `hpcbot.toml`, default and meaning. The environment variable is
/// `HPCBOT_` + the key in upper case with `.` → `_`.
#[derive(Debug)]
pub struct Setting {
    /// Key in the file (`llm.base_url` is `base_url` under `[llm]`).
    pub key: &'static str,
    /// Default value ("" = unset).
    pub default: &'static str,
    /// What it means.
    pub help: &'static str,
}

/// How a setting's text becomes a typed value: one rule per type, for every key of it.
pub trait SettingValue: Sized {
    /// Parses the (trimmed) text; the error says what was expected.
    fn parse_setting(s: &str) -> Result<Self, String>;
}

/// Whole numbers accept `_` separators (`100_000`).
fn whole(s: &str) -> Result<u64, String> {
    s.replace('_', "")
        .parse()
        .map_err(|_| format!("`{s}` is not a whole number"))
}

impl SettingValue for u32 {
    fn parse_setting(s: &str) -> Result<Self, String> {
        u32::try_from(whole(s)?).map_err(|_| format!("`{s}` is too large"))
    }
}

impl SettingValue for usize {
    fn parse_setting(s: &str) -> Result<Self, String> {
        usize::try_from(whole(s)?).map_err(|_| format!("`{s}` is too large"))
    }
}

impl SettingValue for u64 {
    fn parse_setting(s: &str) -> Result<Self, String> {
        whole(s)
    }
}

impl SettingValue for NonZeroU64 {
    fn parse_setting(s: &str) -> Result<Self, String> {
        NonZeroU64::new(whole(s)?).ok_or_else(|| "must be at least 1".into())
    }
}

impl SettingValue for NonZeroU32 {
    fn parse_setting(s: &str) -> Result<Self, String> {
        NonZeroU32::new(u32::parse_setting(s)?).ok_or_else(|| "must be at least 1".into())
    }
}

impl SettingValue for NonZeroUsize {
    fn parse_setting(s: &str) -> Result<Self, String> {
        NonZeroUsize::new(usize::parse_setting(s)?).ok_or_else(|| "must be at least 1".into())
    }
}

/// Durations are humantime (`30s`, `5m`, `24h`) and more than zero.
impl SettingValue for Duration {
    fn parse_setting(s: &str) -> Result<Self, String> {
        let d = humantime::parse_duration(s)
            .map_err(|e| format!("`{s}` is not a duration like 30s or 5m ({e})"))?;
        if d.is_zero() {
            return Err("must be more than zero".into());
        }
        Ok(d)
    }
}

/// A duration that may be zero (`0s`: none), for a wait that is allowed to be absent
/// (`min_notice`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaybeZero(pub Duration);

impl SettingValue for MaybeZero {
    fn parse_setting(s: &str) -> Result<Self, String> {
        humantime::parse_duration(s)
            .map(MaybeZero)
            .map_err(|e| format!("`{s}` is not a duration like 0s, 30m or 2h ({e})"))
    }
}

/// Text settings must not be empty (an optional one is `Option<String>`).
impl SettingValue for String {
    fn parse_setting(s: &str) -> Result<Self, String> {
        if s.is_empty() {
            return Err("must not be empty".into());
        }
        Ok(s.to_string())
    }
}

impl SettingValue for PathBuf {
    fn parse_setting(s: &str) -> Result<Self, String> {
        String::parse_setting(s).map(PathBuf::from)
    }
}

impl SettingValue for SocketAddr {
    fn parse_setting(s: &str) -> Result<Self, String> {
        s.parse()
            .map_err(|_| format!("`{s}` is not an address like 127.0.0.1:8080"))
    }
}

/// Switches are `true` or `false` (a TOML boolean reads the same).
impl SettingValue for bool {
    fn parse_setting(s: &str) -> Result<Self, String> {
        match s {
            "true" => Ok(true),
            "false" => Ok(false),
            other => Err(format!("`{other}` must be true or false")),
        }
    }
}

/// A list of IP addresses, comma-separated (empty: none).
impl SettingValue for Vec<IpAddr> {
    fn parse_setting(s: &str) -> Result<Self, String> {
        s.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| p.parse().map_err(|_| format!("`{p}` is not an IP address")))
            .collect()
    }
}

/// Host names or IP addresses that webhooks may reach although they are loopback, private
/// or link-local, comma-separated (empty: none). Names are matched case-insensitively.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostList(pub Vec<String>);

impl SettingValue for HostList {
    fn parse_setting(s: &str) -> Result<Self, String> {
        s.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                let host = p.trim_start_matches('[').trim_end_matches(']');
                if host.is_empty() || host.contains(['/', ' ', '@', '?', '#']) {
                    Err(format!("`{p}` is not a host name or IP address"))
                } else {
                    Ok(host.to_ascii_lowercase())
                }
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

impl SettingValue for Tz {
    fn parse_setting(s: &str) -> Result<Self, String> {
        s.parse()
            .map_err(|_| format!("`{s}` is not an IANA time zone like UTC or Europe/Bratislava"))
    }
}

/// Empty means unset.
impl<T: SettingValue> SettingValue for Option<T> {
    fn parse_setting(s: &str) -> Result<Self, String> {
        if s.is_empty() {
            Ok(None)
        } else {
            T::parse_setting(s).map(Some)
        }
    }
}

/// How callers are identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// The chat session (or the `hpcbot_client` cookie) is the caller.
    None,
    /// `Authorization: Bearer <token>` names a user.
    Token,
}

impl SettingValue for AuthMode {
    fn parse_setting(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(Self::None),
            "token" => Ok(Self::Token),
            other => Err(format!("`{other}` must be none or token")),
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

impl SettingValue for LogFormat {
    fn parse_setting(s: &str) -> Result<Self, String> {
        match s {
            "human" => Ok(Self::Human),
            "json" => Ok(Self::Json),
            other => Err(format!("`{other}` must be human or json")),
        }
    }
}

/// The booking database: the one place the URL prefix is looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `sqlite://...` (a file; several processes on one machine may share it).
    Sqlite(String),
    /// `postgres://...` or `postgresql://...` (shared by every instance).
    Postgres(String),
}

impl DatabaseUrl {
    /// The URL as given.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Sqlite(u) | Self::Postgres(u) => u,
        }
    }

    /// Whether it is a local SQLite file.
    pub fn is_sqlite(&self) -> bool {
        matches!(self, Self::Sqlite(_))
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl SettingValue for DatabaseUrl {
    fn parse_setting(s: &str) -> Result<Self, String> {
        if s.starts_with("sqlite:") {
            Ok(Self::Sqlite(s.into()))
        } else if s.starts_with("postgres:") || s.starts_with("postgresql:") {
            Ok(Self::Postgres(s.into()))
        } else {
            Err(format!(
                "`{}` must start with sqlite:// or postgres://",
                s.split(':').next().unwrap_or("")
            ))
        }
    }
}

/// Where chat sessions (history, dialogue state, the per-session lease) live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionsBackend {
    /// The booking database (the default): durable, shared when it is PostgreSQL.
    Database,
    /// This process's memory: lost on restart.
    Memory,
    /// Redis at this URL (`redis://` or `rediss://`), shared by every instance.
    Redis(String),
}

impl fmt::Display for SessionsBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Database => f.write_str("database"),
            Self::Memory => f.write_str("memory"),
            Self::Redis(u) => f.write_str(u),
        }
    }
}

impl SettingValue for SessionsBackend {
    fn parse_setting(s: &str) -> Result<Self, String> {
        match s {
            "database" => Ok(Self::Database),
            "memory" => Ok(Self::Memory),
            u if u.starts_with("redis://") || u.starts_with("rediss://") => {
                Ok(Self::Redis(u.into()))
            }
            other => Err(format!(
                "`{other}` must be `database`, `memory` or a redis:// URL"
            )),
        }
    }
}

/// An `http://` or `https://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl(pub String);

impl SettingValue for HttpUrl {
    fn parse_setting(s: &str) -> Result<Self, String> {
        if s.starts_with("http://") || s.starts_with("https://") {
            Ok(Self(s.into()))
        } else {
            Err(format!("`{s}` must be an http:// or https:// URL"))
        }
    }
}

/// An amount of money in the configured currency ("500", "1234.50"), to the cent, not
/// negative.
impl SettingValue for crate::domain::Cents {
    fn parse_setting(s: &str) -> Result<Self, String> {
        let v: f64 = s
            .replace('_', "")
            .parse()
            .map_err(|_| format!("`{s}` is not an amount like 500 or 1234.50"))?;
        if !v.is_finite() || v < 0.0 {
            return Err("must be an amount of at least 0".into());
        }
        Ok(crate::domain::Cents::from_decimal(v))
    }
}

impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A setting that could not be read; the message names it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// The environment variable of a key.
pub fn env_name(key: &str) -> String {
    format!("HPCBOT_{}", key.replace('.', "_").to_ascii_uppercase())
}

/// Reads one key from the merged layers with its type's rule and its check.
fn read<T: SettingValue>(
    values: &BTreeMap<String, String>,
    key: &str,
    check: impl Fn(&T) -> Result<(), String>,
) -> Result<T, ConfigError> {
    let raw = values.get(key).map(|s| s.trim()).unwrap_or_default();
    T::parse_setting(raw)
        .and_then(|v| check(&v).map(|()| v))
        .map_err(|why| {
            ConfigError(format!(
                "invalid setting `{key}` ({}): {why}",
                env_name(key)
            ))
        })
}

/// Declares the settings: see the module comment. Generates [`Config`], its sections,
/// [`SETTINGS`] and the typed reading of every key.
macro_rules! settings {
    (@check) => { |_: &_| Ok(()) };
    (@check $c:expr) => { $c };
    (
        $( #[doc = $help:literal] $field:ident : $ty:ty = $default:literal $(, check = $check:expr)? ; )*
        $( [$sec:ident : $secty:ident]
           $( #[doc = $shelp:literal] $sfield:ident : $sty:ty = $sdefault:literal $(, check = $scheck:expr)? ; )*
        )*
    ) => {
        /// The validated settings.
        #[derive(Debug, Clone)]
        pub struct Config {
            $( #[doc = $help] pub $field: $ty, )*
            $( #[doc = concat!("The `[", stringify!($sec), "]` section.")] pub $sec: $secty, )*
        }

        $(
            #[doc = concat!("The `[", stringify!($sec), "]` settings.")]
            #[derive(Debug, Clone)]
            pub struct $secty {
                $( #[doc = $shelp] pub $sfield: $sty, )*
            }
        )*

        /// Every setting, in declaration order.
        pub const SETTINGS: &[Setting] = &[
            $( Setting { key: stringify!($field), default: $default, help: $help.trim_ascii() }, )*
            $( $( Setting {
                key: concat!(stringify!($sec), ".", stringify!($sfield)),
                default: $sdefault,
                help: $shelp.trim_ascii(),
            }, )* )*
        ];

        impl Config {
    /// The quota settings, as the owner's quotas (API.md "Projects, quotas and budgets").
    pub fn quotas(&self) -> anyhow::Result<crate::domain::quota::Quotas> {
        let chrono = |name: &str, d: Duration| {
            chrono::Duration::from_std(d).map_err(|_| anyhow::anyhow!("{name} is too large"))
        };
        let longest = chrono("max_booking_duration", self.max_booking_duration)?;
        if longest > chrono::Duration::days(30) || longest <= chrono::Duration::zero() {
            anyhow::bail!("max_booking_duration must be more than 0 and at most 30 days");
        }
        Ok(crate::domain::quota::Quotas {
            max_gpus_at_once: self.max_gpus_at_once,
            max_gpu_hours_per_week: self.max_gpu_hours_per_week,
            max_booking_duration: longest,
            min_notice: chrono("min_notice", self.min_notice.0)?,
            week_zone: self.timezone,
        })
    }

            fn from_values(v: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
                Ok(Self {
                    $( $field: read::<$ty>(v, stringify!($field), settings!(@check $($check)?))?, )*
                    $( $sec: $secty {
                        $( $sfield: read::<$sty>(
                            v,
                            concat!(stringify!($sec), ".", stringify!($sfield)),
                            settings!(@check $($scheck)?),
                        )?, )*
                    }, )*
                })
            }
        }
    };
}

settings! {
    /// address to serve on
    listen: SocketAddr = "127.0.0.1:8080";
    /// where the SQLite file and other local state live
    data_dir: PathBuf = "./data";
    /// `sqlite://...` or `postgres://...` (unset: the SQLite file `hpcbot.db` in `data_dir`)
    database_url: Option<DatabaseUrl> = "";
    /// database connection pool size (PostgreSQL: plus half as many for claiming `Idempotency-Key`s)
    database_max_connections: NonZeroU32 = "8", check = |n: &NonZeroU32| at_most(n.get() as u64, 1000);
    /// bound on each database / session-store operation
    store_timeout: Duration = "5s";
    /// where sessions (history, dialogue state) live: `database` (the booking database, durable; shared by every instance on PostgreSQL), `memory` (lost on restart) or `redis://...` (shared)
    sessions: SessionsBackend = "database";
    /// prefix of every Redis key (`sessions = redis://...`)
    redis_prefix: String = "hpcbot";
    /// sessions kept in memory at most (`sessions = memory`; the longest idle is evicted) and conversations kept ready per process
    max_sessions: NonZeroUsize = "100000";
    /// `sessions = database` on SQLite: sessions whose recent turns this process also keeps in memory (the longest idle is evicted), so a turn reads no rows; every turn is still written to the file before its reply (0: none)
    session_cache: usize = "10000";
    /// idle time after which a session expires (each turn renews it)
    session_ttl: Duration = "24h";
    /// IANA time zone in which dates and times people type are read
    timezone: Tz = "UTC";
    /// `none` (the chat session, or the browser's `hpcbot_client` cookie, is the caller) or `token` (Bearer tokens name users)
    auth: AuthMode = "none";
    /// the centre's name, as the assistant says it
    centre_name: String = "SK HPC Services";
    /// the address people reach this server at (e.g. `https://gpu.example.org`), for the links it hands out such as the calendar feed URL (unset: the request's `Host`, over http)
    public_url: Option<HttpUrl> = "";
    /// currency of prices
    currency: String = "USD";
    /// the request deadline
    request_timeout: Duration = "30s";
    /// how long a reply stored under an `Idempotency-Key` is replayed
    idempotency_ttl: Duration = "24h";
    /// largest request body in bytes
    body_limit: NonZeroUsize = "65536", check = |n: &NonZeroUsize| at_least(n.get() as u64, 1024, " bytes");
    /// requests handled at once; more are shed with `503 overloaded`
    max_in_flight: NonZeroUsize = "512";
    /// requests slower than this are logged as warnings
    slow_request: Duration = "5s";
    /// how long in-flight requests may finish after SIGTERM/Ctrl-C
    shutdown_grace: Duration = "20s";
    /// bound on receiving a request's headers, from when the connection is ready for one (new, or kept alive after a reply) — so also the idle keep-alive timeout; then the connection is closed
    header_read_timeout: Duration = "15s";
    /// bound on receiving a whole request body; slower is `408 body_timeout`
    body_read_timeout: Duration = "10s";
    /// open client connections at most, lowered at start to fit the open-file limit (less 256 kept for the pool, Redis, logs); more are answered `503 overloaded` and closed
    max_connections: NonZeroUsize = "10000";
    /// open connections from one address (trusted proxies never, loopback only with `rate_limit_loopback`); more are answered `429 too_many_connections` and closed
    max_connections_per_client: NonZeroUsize = "256";
    /// one client's share of `max_in_flight`; more get `429 too_many_requests`
    max_in_flight_per_client: NonZeroUsize = "64";
    /// sessions one client may create per minute (burst the same; `0`: no limit); more get `429 too_many_requests` with `Retry-After`
    rate_limit_sessions: u32 = "60";
    /// chat turns, direct and `/v1` questions of one client per minute (`0`: no limit)
    rate_limit_turns: u32 = "120";
    /// booking creations, changes and cancellations, and hold writes, of one client per minute (`0`: no limit)
    rate_limit_bookings: u32 = "60";
    /// whether clients on this machine's loopback (load tests, probes) get the per-client limits too
    rate_limit_loopback: bool = "false";
    /// comma-separated IP addresses of reverse proxies whose `X-Forwarded-For` names the client
    trusted_proxies: Vec<IpAddr> = "";
    /// how far ahead a booking may start (`400 start_too_far_ahead`)
    max_advance: Duration = "365d";
    /// the project `default`'s budget in `currency` (everyone with `auth = none`, and users added without a project; `hpcbot project set default --budget` overrides it): confirmed bookings' prices may not exceed it (`409 budget_exceeded`; unset: no budget)
    budget: Option<crate::domain::Cents> = "";
    /// quota: GPUs one owner's confirmed bookings may hold at any instant (`409 quota_exceeded`; a project may set its own)
    max_gpus_at_once: u32 = "16";
    /// quota: GPU-hours of one owner's confirmed bookings inside one calendar week (Monday 00:00 in `timezone`; only the part inside the week counts; a project may set its own)
    max_gpu_hours_per_week: u32 = "1000";
    /// quota: the longest booking (at most 30 days, the rule of every booking; a project may set its own)
    max_booking_duration: Duration = "30d";
    /// quota: how long after now a booking may start at the earliest (`0s`: any time from now; a project may set its own)
    min_notice: MaybeZero = "0s";
    /// how long a hold (`POST /api/holds`, and every proposal of the assistant) keeps its GPUs for its owner before it expires
    hold_ttl: Duration = "5m", check = |d: &Duration| at_least(d.as_secs(), 1, "s");
    /// how long a waitlist offer (a hold made for the next entry in line when GPUs free up) is kept before it goes to the next
    waitlist_hold: Duration = "30m", check = |d: &Duration| at_least(d.as_secs(), 1, "s");
    /// live holds one owner may have at once; more are `409 too_many_holds`
    max_holds_per_owner: u32 = "3";
    /// `Host` names (or `name:port`, comma-separated) that `/mcp` answers, so that a web page of another site cannot reach a local server through a name of its own (DNS rebinding); list this server's public names when it is reached by them, or `*` for any
    mcp_allowed_hosts: HostList = "localhost,127.0.0.1,::1";
    /// hosts (names or IP addresses, comma-separated) webhooks may reach although they are loopback, private or link-local; every other such address is refused (`400` when registered, and again when each attempt connects)
    webhook_allowed_hosts: HostList = "";
    /// bound on one webhook attempt (connecting, sending, the reply's status)
    webhook_timeout: Duration = "10s";
    /// how long a webhook delivery is retried (growing, jittered delays) before it is given up
    webhook_retry_for: Duration = "24h";
    /// webhook attempts one instance sends at once (the rest wait in the database)
    webhook_max_in_flight: NonZeroU32 = "64";
    /// webhook attempts one instance sends at once to one endpoint (a slow endpoint holds no more)
    webhook_per_endpoint: NonZeroU32 = "16";
    /// when the `booking.starting` reminder is made, before the start
    reminder_before_start: Duration = "15m";
    /// when the `booking.ending` reminder is made, before the end
    reminder_before_end: Duration = "15m";
    /// turns one chat session may hold; more are `409 session_full`
    max_session_turns: NonZeroU64 = "1000";
    /// `human` or `json` (`HPCBOT_LOG` sets the filter)
    log_format: LogFormat = "human";
    [llm: LlmConfig]
    /// OpenAI-compatible base URL, e.g. `http://127.0.0.1:8000/v1` (unset: the built-in assistant)
    base_url: Option<HttpUrl> = "";
    /// the LLM's key (default: `OPENAI_API_KEY`)
    api_key: Option<String> = "";
    /// the LLM's model name
    model: String = "gpt-4o-mini";
    /// earlier messages of a session sent to the LLM at most (the most recent)
    max_history: usize = "40";
    /// bound on connecting to the LLM
    connect_timeout: Duration = "3s";
    /// bound on the LLM's first byte
    first_byte_timeout: Duration = "20s";
    /// bound on one whole LLM call (inside the request deadline)
    timeout: Duration = "25s";
    /// retries of a failed LLM call (connect errors, 429 honouring Retry-After, 502/503/504), never after output was streamed
    max_retries: u32 = "2";
    /// LLM failures within `llm.breaker_window` that open the circuit breaker
    breaker_failures: NonZeroU32 = "5";
    /// window in which LLM failures are counted
    breaker_window: Duration = "30s";
    /// how long the open breaker sends turns to the built-in assistant before one probe call
    breaker_open_for: Duration = "30s";
}

/// A check: at most `max`.
fn at_most(n: u64, max: u64) -> Result<(), String> {
    if n > max {
        return Err(format!("must be at most {max}"));
    }
    Ok(())
}

/// A check: at least `min`.
fn at_least(n: u64, min: u64, unit: &str) -> Result<(), String> {
    if n < min {
        return Err(format!("must be at least {min}{unit}"));
    }
    Ok(())
}

/// The `--help` text listing every setting.
pub fn settings_help() -> String {
    let mut s = String::from(
        "Settings (defaults < hpcbot.toml < environment < --set KEY=VALUE and flags):\n",
    );
    for st in SETTINGS {
        let default = if st.default.is_empty() {
            "unset"
        } else {
            st.default
        };
        s.push_str(&format!(
            "  {:<26} {:<34} default: {}\n      {}\n",
            st.key,
            env_name(st.key),
            default,
            st.help.replace('`', ""),
        ));
    }
    s
}

/// The README's settings table (kept equal to it by a test).
pub fn settings_markdown() -> String {
    let mut s = String::from("| key | env | default | meaning |\n|---|---|---|---|\n");
    for st in SETTINGS {
        let default = if st.default.is_empty() {
            "unset".to_string()
        } else {
            format!("`{}`", st.default)
        };
        s.push_str(&format!(
            "| `{}` | `{}` | {} | {} |\n",
            st.key,
            env_name(st.key),
            default,
            st.help.replace('|', "\\|")
        ));
    }
    s
}

fn flatten(
    prefix: &str,
    table: &toml::Table,
    out: &mut BTreeMap<String, String>,
) -> Result<(), ConfigError> {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(t) => flatten(&key, t, out)?,
            toml::Value::String(s) => {
                out.insert(key, s.clone());
            }
            toml::Value::Integer(i) => {
                out.insert(key, i.to_string());
            }
            toml::Value::Float(f) => {
                out.insert(key, f.to_string());
            }
            toml::Value::Boolean(b) => {
                out.insert(key, b.to_string());
            }
            _ => {
                return Err(ConfigError(format!(
                    "setting `{key}` in the config file must be a string or a number"
                )))
            }
        }
    }
    Ok(())
}

/// The defaults of every key.
fn defaults() -> BTreeMap<String, String> {
    SETTINGS
        .iter()
        .map(|s| (s.key.to_string(), s.default.to_string()))
        .collect()
}

impl Config {
    /// Reads the layers. `file` is an explicit config path (it must exist); without one,
    /// `hpcbot.toml` in the current directory is read if present. `env` looks a variable up.
    pub fn load(
        file: Option<&Path>,
        overrides: &[(String, String)],
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut values = defaults();
        let path = file.map(Path::to_path_buf).or_else(|| {
            let p = PathBuf::from("hpcbot.toml");
            p.exists().then_some(p)
        });
        if let Some(path) = path {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                ConfigError(format!("cannot read config file {}: {e}", path.display()))
            })?;
            let table: toml::Table = text
                .parse()
                .map_err(|e| ConfigError(format!("config file {}: {e}", path.display())))?;
            let mut from_file = BTreeMap::new();
            flatten("", &table, &mut from_file)?;
            for (k, v) in from_file {
                if !values.contains_key(&k) {
                    return Err(ConfigError(format!(
                        "unknown setting `{k}` in {} (see `hpcbot serve --help`)",
                        path.display()
                    )));
                }
                values.insert(k, v);
            }
        }
        if let Some(key) = env("OPENAI_API_KEY") {
            values.insert("llm.api_key".into(), key);
        }
        for s in SETTINGS {
            if let Some(v) = env(&env_name(s.key)) {
                values.insert(s.key.to_string(), v);
            }
        }
        for (k, v) in overrides {
            if !values.contains_key(k) {
                return Err(ConfigError(format!(
                    "unknown setting `{k}` (see `hpcbot serve --help`)"
                )));
            }
            values.insert(k.clone(), v.clone());
        }
        Self::from_values(&values)
    }

    /// Defaults only (plus `overrides`), ignoring the environment and any file: for tests.
    pub fn defaults_with(overrides: &[(&str, &str)]) -> Result<Self, ConfigError> {
        let mut values = defaults();
        for (k, v) in overrides {
            if !values.contains_key(*k) {
                return Err(ConfigError(format!("unknown setting `{k}`")));
            }
            values.insert(k.to_string(), v.to_string());
        }
        Self::from_values(&values)
    }

    /// The booking database: `database_url`, or the SQLite file in `data_dir`.
    pub fn database(&self) -> DatabaseUrl {
        self.database_url.clone().unwrap_or_else(|| {
            DatabaseUrl::Sqlite(format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("hpcbot.db").display()
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn contract_variables_work() {
        let c = Config::load(
            None,
            &[],
            env_of(&[
                ("HPCBOT_LISTEN", "127.0.0.1:9999"),
                ("HPCBOT_TIMEZONE", "Europe/Bratislava"),
                ("HPCBOT_REQUEST_TIMEOUT", "12s"),
                ("HPCBOT_LLM_MODEL", "m"),
                ("OPENAI_API_KEY", "k1"),
            ]),
        )
        .unwrap();
        assert_eq!(c.listen.port(), 9999);
        assert_eq!(c.timezone, chrono_tz::Europe::Bratislava);
        assert_eq!(c.request_timeout, Duration::from_secs(12));
        assert_eq!(c.llm.model, "m");
        assert_eq!(c.llm.api_key.as_deref(), Some("k1"));
        assert!(c.database().is_sqlite());
        assert!(c.database().as_str().starts_with("sqlite://"));
        assert_eq!(c.sessions, SessionsBackend::Database, "API.md's default");
        assert_eq!(c.auth, AuthMode::None);
    }

    #[test]
    fn backends_are_typed() {
        let c = Config::defaults_with(&[
            ("sessions", "redis://127.0.0.1:6379"),
            ("database_url", "postgres://u@h/db"),
        ])
        .unwrap();
        assert_eq!(
            c.sessions,
            SessionsBackend::Redis("redis://127.0.0.1:6379".into())
        );
        assert_eq!(
            c.database(),
            DatabaseUrl::Postgres("postgres://u@h/db".into())
        );
        let c = Config::defaults_with(&[("sessions", "memory")]).unwrap();
        assert_eq!(c.sessions, SessionsBackend::Memory);
        for (k, v, env) in [
            ("sessions", "mysql://x", "HPCBOT_SESSIONS"),
            ("database_url", "mysql://x", "HPCBOT_DATABASE_URL"),
            ("llm.base_url", "ftp://x", "HPCBOT_LLM_BASE_URL"),
            ("body_limit", "100", "HPCBOT_BODY_LIMIT"),
            ("max_in_flight", "0", "HPCBOT_MAX_IN_FLIGHT"),
            (
                "database_max_connections",
                "5000",
                "HPCBOT_DATABASE_MAX_CONNECTIONS",
            ),
            ("session_ttl", "0s", "HPCBOT_SESSION_TTL"),
            ("centre_name", " ", "HPCBOT_CENTRE_NAME"),
            ("auth", "magic", "HPCBOT_AUTH"),
            ("max_connections", "0", "HPCBOT_MAX_CONNECTIONS"),
            ("max_session_turns", "0", "HPCBOT_MAX_SESSION_TURNS"),
            ("rate_limit_turns", "-1", "HPCBOT_RATE_LIMIT_TURNS"),
            ("rate_limit_loopback", "yes", "HPCBOT_RATE_LIMIT_LOOPBACK"),
            (
                "trusted_proxies",
                "10.0.0.1, proxy",
                "HPCBOT_TRUSTED_PROXIES",
            ),
        ] {
            let e = Config::defaults_with(&[(k, v)]).unwrap_err();
            assert!(
                e.0.contains(&format!("`{k}`")) && e.0.contains(env),
                "{k}={v}: {e}"
            );
        }
        // Zero is allowed where the type says so.
        let c = Config::defaults_with(&[("llm.max_retries", "0"), ("llm.max_history", "0")]);
        assert!(c.is_ok());
        let c = Config::defaults_with(&[("max_sessions", "1_000")]).unwrap();
        assert_eq!(c.max_sessions.get(), 1000);
        // Hardening's keys: 0 turns a rate limit off; lists and switches are typed.
        let c = Config::defaults_with(&[
            ("rate_limit_sessions", "0"),
            ("rate_limit_loopback", "true"),
            ("trusted_proxies", "127.0.0.1, ::1"),
        ])
        .unwrap();
        assert_eq!(c.rate_limit_sessions, 0);
        assert!(c.rate_limit_loopback);
        assert_eq!(
            c.trusted_proxies,
            vec![
                IpAddr::from([127, 0, 0, 1]),
                IpAddr::from(std::net::Ipv6Addr::LOCALHOST)
            ]
        );
        assert!(Config::defaults_with(&[])
            .unwrap()
            .trusted_proxies
            .is_empty());
    }

    #[test]
    fn flags_beat_env_and_bad_values_name_the_setting() {
        let c = Config::load(
            None,
            &[("listen".into(), "127.0.0.1:1".into())],
            env_of(&[("HPCBOT_LISTEN", "127.0.0.1:2")]),
        )
        .unwrap();
        assert_eq!(c.listen.port(), 1);
        let e = Config::load(None, &[], env_of(&[("HPCBOT_TIMEZONE", "Mars/Base")])).unwrap_err();
        assert!(
            e.0.contains("`timezone`") && e.0.contains("HPCBOT_TIMEZONE"),
            "{e}"
        );
        let e = Config::load(None, &[("nope".into(), "1".into())], env_of(&[])).unwrap_err();
        assert!(e.0.contains("unknown setting `nope`"));
    }

    #[test]
    fn file_layer_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("hpcbot.toml");
        std::fs::write(&p, "centre_name = \"X Centre\"\n[llm]\nmodel = \"local\"\n").unwrap();
        let c = Config::load(Some(&p), &[], env_of(&[("HPCBOT_LLM_MODEL", "env")])).unwrap();
        assert_eq!(c.centre_name, "X Centre");
        assert_eq!(c.llm.model, "env");
        std::fs::write(&p, "[llm]\nmodle = \"x\"\n").unwrap();
        assert!(Config::load(Some(&p), &[], env_of(&[]))
            .unwrap_err()
            .0
            .contains("llm.modle"));
    }

    #[test]
    fn every_default_is_valid_and_help_lists_every_key() {
        Config::defaults_with(&[]).unwrap();
        let help = settings_help();
        for s in SETTINGS {
            assert!(help.contains(&env_name(s.key)), "{}", s.key);
            assert!(!s.help.is_empty() && !s.help.starts_with(' '), "{}", s.key);
        }
    }

    /// The README's table is the declaration's; `HPCBOT_WRITE_README=1` rewrites it.
    #[test]
    fn readme_settings_table_matches_the_declaration() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
        let readme = std::fs::read_to_string(&path).unwrap();
        let (begin, end) = ("<!-- settings:begin -->\n", "<!-- settings:end -->");
        let a = readme.find(begin).expect("README has the settings markers") + begin.len();
        let b = readme
            .find(end)
            .expect("README has the settings end marker");
        let want = settings_markdown();
        if readme[a..b] != want {
            if std::env::var_os("HPCBOT_WRITE_README").is_some() {
                std::fs::write(&path, format!("{}{want}{}", &readme[..a], &readme[b..])).unwrap();
            } else {
                panic!(
                    "README.md's settings table differs from src/config.rs; run \
                     `HPCBOT_WRITE_README=1 cargo test --lib config` to regenerate it:\n{want}"
                );
            }
        }
    }
}
