//! Layered settings: defaults < `hpcbot.toml` < `HPCBOT_*` environment < command-line flags.
//! Every setting is listed once in [`SETTINGS`]; it is validated at start, and a bad one
//! stops start-up with one line that names it.

use chrono_tz::Tz;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One setting: its key in `hpcbot.toml`, default and meaning. The environment variable is
/// `HPCBOT_` + the key in upper case with `.` → `_`.
pub struct Setting {
    /// Key in the file (`llm.base_url` is `base_url` under `[llm]`).
    pub key: &'static str,
    /// Default value ("" = unset).
    pub default: &'static str,
    /// What it means.
    pub help: &'static str,
}

/// Every setting.
pub const SETTINGS: &[Setting] = &[
    Setting {
        key: "listen",
        default: "127.0.0.1:8080",
        help: "address to serve on",
    },
    Setting {
        key: "data_dir",
        default: "./data",
        help: "where the SQLite file and other local state live",
    },
    Setting {
        key: "database_url",
        default: "",
        help: "sqlite://... or postgres://... (default: SQLite file in data_dir)",
    },
    Setting {
        key: "database_max_connections",
        default: "8",
        help: "database connection pool size",
    },
    Setting {
        key: "store_timeout",
        default: "5s",
        help: "bound on each database / session-store operation",
    },
    Setting {
        key: "sessions",
        default: "memory",
        help: "session store: memory or redis://...",
    },
    Setting {
        key: "redis_prefix",
        default: "hpcbot",
        help: "prefix of every Redis key (sessions = redis://...)",
    },
    Setting {
        key: "max_sessions",
        default: "100000",
        help: "in-memory sessions kept at most (the longest idle is evicted)",
    },
    Setting {
        key: "session_ttl",
        default: "24h",
        help: "idle time after which a session expires (each turn renews it)",
    },
    Setting {
        key: "timezone",
        default: "UTC",
        help: "IANA time zone in which dates and times people type are read",
    },
    Setting {
        key: "auth",
        default: "none",
        help: "none (the chat session is the caller) or token (Bearer tokens name users)",
    },
    Setting {
        key: "centre_name",
        default: "SK HPC Services",
        help: "the centre's name, as the assistant says it",
    },
    Setting {
        key: "currency",
        default: "USD",
        help: "currency of prices",
    },
    Setting {
        key: "request_timeout",
        default: "30s",
        help: "the request deadline",
    },
    Setting {
        key: "idempotency_ttl",
        default: "24h",
        help: "how long a reply stored under an Idempotency-Key is replayed",
    },
    Setting {
        key: "body_limit",
        default: "65536",
        help: "largest request body in bytes",
    },
    Setting {
        key: "max_in_flight",
        default: "512",
        help: "requests handled at once; more are shed with 503 overloaded",
    },
    Setting {
        key: "slow_request",
        default: "5s",
        help: "requests slower than this are logged as warnings",
    },
    Setting {
        key: "shutdown_grace",
        default: "20s",
        help: "how long in-flight requests may finish after SIGTERM/Ctrl-C",
    },
    Setting {
        key: "header_read_timeout",
        default: "15s",
        help: "bound on receiving a request's headers, counted from when the connection is ready for one (new, or kept alive after a reply): also the idle keep-alive timeout",
    },
    Setting {
        key: "body_read_timeout",
        default: "10s",
        help: "bound on receiving a request's whole body; slower is 408 body_timeout",
    },
    Setting {
        key: "max_connections",
        default: "10000",
        help: "open client connections at most (kept below the open-file limit); more are answered 503 and closed",
    },
    Setting {
        key: "max_connections_per_client",
        default: "256",
        help: "open connections from one address (not a trusted proxy; loopback only with rate_limit_loopback); more are answered 429 and closed",
    },
    Setting {
        key: "max_in_flight_per_client",
        default: "64",
        help: "requests of one client in flight at once; more get 429 too_many_requests",
    },
    Setting {
        key: "rate_limit_sessions",
        default: "60",
        help: "sessions one client may create per minute (0: no limit); more get 429 with Retry-After",
    },
    Setting {
        key: "rate_limit_turns",
        default: "120",
        help: "chat turns (and direct or /v1 questions) of one client per minute (0: no limit)",
    },
    Setting {
        key: "rate_limit_bookings",
        default: "60",
        help: "booking changes (create, change, cancel) of one client per minute (0: no limit)",
    },
    Setting {
        key: "rate_limit_loopback",
        default: "false",
        help: "whether clients on this machine's loopback (load tests, probes) are limited per client too",
    },
    Setting {
        key: "trusted_proxies",
        default: "",
        help: "comma-separated IP addresses of reverse proxies whose X-Forwarded-For names the client",
    },
    Setting {
        key: "max_advance",
        default: "365d",
        help: "how far ahead a booking may start",
    },
    Setting {
        key: "max_session_turns",
        default: "1000",
        help: "turns one chat session may hold; more get 409 session_full (start a new session)",
    },
    Setting {
        key: "log_format",
        default: "human",
        help: "human or json",
    },
    Setting {
        key: "llm.base_url",
        default: "",
        help:
            "OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1 (unset: built-in assistant)",
    },
    Setting {
        key: "llm.api_key",
        default: "",
        help: "the LLM's key (default: OPENAI_API_KEY)",
    },
    Setting {
        key: "llm.model",
        default: "gpt-4o-mini",
        help: "the LLM's model name",
    },
    Setting {
        key: "llm.max_history",
        default: "40",
        help: "earlier messages of a session sent to the LLM at most (the most recent)",
    },
    Setting {
        key: "llm.connect_timeout",
        default: "3s",
        help: "bound on connecting to the LLM",
    },
    Setting {
        key: "llm.first_byte_timeout",
        default: "20s",
        help: "bound on the LLM's first byte",
    },
    Setting {
        key: "llm.timeout",
        default: "25s",
        help: "bound on one whole LLM call (inside the request deadline)",
    },
    Setting {
        key: "llm.max_retries",
        default: "2",
        help: "retries of a failed LLM call (connect errors, 429, 502/503/504), before any output",
    },
    Setting {
        key: "llm.breaker_failures",
        default: "5",
        help: "LLM failures within llm.breaker_window that open the circuit breaker",
    },
    Setting {
        key: "llm.breaker_window",
        default: "30s",
        help: "window in which LLM failures are counted",
    },
    Setting {
        key: "llm.breaker_open_for",
        default: "30s",
        help: "how long the open breaker sends turns to the built-in assistant before a probe",
    },
];

/// How callers are identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// The chat session is the caller.
    None,
    /// `Authorization: Bearer <token>` names a user.
    Token,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

/// LLM settings.
#[derive(Debug, Clone)]
pub struct LlmConfig {
    /// Base URL; `None` means the built-in assistant.
    pub base_url: Option<String>,
    /// API key.
    pub api_key: Option<String>,
    /// Model name.
    pub model: String,
    /// Bound on connecting.
    pub connect_timeout: Duration,
    /// Bound on the first byte.
    pub first_byte_timeout: Duration,
    /// Bound on a whole call.
    pub timeout: Duration,
    /// Retries of a failed call.
    pub max_retries: u32,
    /// Earlier messages sent at most.
    pub max_history: usize,
    /// Failures that open the breaker.
    pub breaker_failures: u32,
    /// Window of those failures.
    pub breaker_window: Duration,
    /// Open period.
    pub breaker_open_for: Duration,
}

/// The validated settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub database_max_connections: u32,
    pub store_timeout: Duration,
    pub sessions: String,
    pub redis_prefix: String,
    pub max_sessions: usize,
    pub session_ttl: Duration,
    pub timezone: Tz,
    pub auth: AuthMode,
    pub centre_name: String,
    pub currency: String,
    pub request_timeout: Duration,
    pub idempotency_ttl: Duration,
    pub body_limit: usize,
    pub max_in_flight: usize,
    pub slow_request: Duration,
    pub shutdown_grace: Duration,
    pub log_format: LogFormat,
    pub llm: LlmConfig,
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    pub max_connections: usize,
    pub max_connections_per_client: usize,
    pub max_in_flight_per_client: usize,
    /// Per client and minute; 0 = no limit.
    pub rate_limit_sessions: u32,
    pub rate_limit_turns: u32,
    pub rate_limit_bookings: u32,
    pub rate_limit_loopback: bool,
    pub trusted_proxies: Vec<std::net::IpAddr>,
    pub max_advance: Duration,
    pub max_session_turns: u64,
}

/// A setting that could not be read; the message names it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// The environment variable of a key.
pub fn env_name(key: &str) -> String {
    format!("HPCBOT_{}", key.replace('.', "_").to_ascii_uppercase())
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
            "  {:<26} {:<34} {}\n  {:<26} {:<34} default: {}\n",
            st.key,
            env_name(st.key),
            st.help,
            "",
            "",
            default
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

impl Config {
    /// Reads the layers. `file` is an explicit config path (it must exist); without one,
    /// `hpcbot.toml` in the current directory is read if present. `env` looks a variable up.
    pub fn load(
        file: Option<&Path>,
        overrides: &[(String, String)],
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut values: BTreeMap<String, String> = SETTINGS
            .iter()
            .map(|s| (s.key.to_string(), s.default.to_string()))
            .collect();
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

    fn from_values(v: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let get = |k: &str| v.get(k).map(|s| s.trim().to_string()).unwrap_or_default();
        let bad = |k: &str, why: String| {
            ConfigError(format!("invalid setting `{k}` ({}): {why}", env_name(k)))
        };
        let duration = |k: &str| -> Result<Duration, ConfigError> {
            let d = humantime::parse_duration(&get(k)).map_err(|e| {
                bad(
                    k,
                    format!("`{}` is not a duration like 30s or 5m ({e})", get(k)),
                )
            })?;
            if d.is_zero() {
                return Err(bad(k, "must be more than zero".into()));
            }
            Ok(d)
        };
        let number = |k: &str| -> Result<u64, ConfigError> {
            let n: u64 = get(k)
                .replace('_', "")
                .parse()
                .map_err(|_| bad(k, format!("`{}` is not a whole number", get(k))))?;
            if n == 0 {
                return Err(bad(k, "must be at least 1".into()));
            }
            Ok(n)
        };
        let optional = |k: &str| Some(get(k)).filter(|s| !s.is_empty());

        let data_dir = PathBuf::from(get("data_dir"));
        let database_url = match optional("database_url") {
            Some(url)
                if url.starts_with("sqlite:")
                    || url.starts_with("postgres:")
                    || url.starts_with("postgresql:") =>
            {
                url
            }
            Some(url) => {
                return Err(bad(
                    "database_url",
                    format!(
                        "`{}` must start with sqlite:// or postgres://",
                        url.split(':').next().unwrap_or("")
                    ),
                ))
            }
            None => format!("sqlite://{}?mode=rwc", data_dir.join("hpcbot.db").display()),
        };
        let sessions = get("sessions");
        if sessions != "memory"
            && !sessions.starts_with("redis://")
            && !sessions.starts_with("rediss://")
        {
            return Err(bad(
                "sessions",
                format!("`{sessions}` must be `memory` or a redis:// URL"),
            ));
        }
        let llm_base = optional("llm.base_url");
        if let Some(u) = &llm_base {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                return Err(bad(
                    "llm.base_url",
                    format!("`{u}` must be an http:// or https:// URL"),
                ));
            }
        }
        let body_limit = number("body_limit")?;
        if body_limit < 1024 {
            return Err(bad("body_limit", "must be at least 1024 bytes".into()));
        }
        let per_minute = |k: &str| -> Result<u32, ConfigError> {
            get(k).parse().map_err(|_| {
                bad(
                    k,
                    format!("`{}` is not a whole number (0: no limit)", get(k)),
                )
            })
        };
        let mut trusted_proxies = Vec::new();
        for p in get("trusted_proxies")
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            trusted_proxies.push(
                p.parse()
                    .map_err(|_| bad("trusted_proxies", format!("`{p}` is not an IP address")))?,
            );
        }
        Ok(Self {
            header_read_timeout: duration("header_read_timeout")?,
            body_read_timeout: duration("body_read_timeout")?,
            max_connections: number("max_connections")? as usize,
            max_connections_per_client: number("max_connections_per_client")? as usize,
            max_in_flight_per_client: number("max_in_flight_per_client")? as usize,
            rate_limit_sessions: per_minute("rate_limit_sessions")?,
            rate_limit_turns: per_minute("rate_limit_turns")?,
            rate_limit_bookings: per_minute("rate_limit_bookings")?,
            rate_limit_loopback: match get("rate_limit_loopback").as_str() {
                "true" => true,
                "false" => false,
                other => {
                    return Err(bad(
                        "rate_limit_loopback",
                        format!("`{other}` must be true or false"),
                    ))
                }
            },
            trusted_proxies,
            max_advance: duration("max_advance")?,
            max_session_turns: number("max_session_turns")?,
            listen: get("listen").parse().map_err(|_| {
                bad(
                    "listen",
                    format!("`{}` is not an address like 127.0.0.1:8080", get("listen")),
                )
            })?,
            data_dir,
            database_url,
            database_max_connections: number("database_max_connections")?.min(1000) as u32,
            store_timeout: duration("store_timeout")?,
            sessions,
            max_sessions: number("max_sessions")? as usize,
            redis_prefix: optional("redis_prefix")
                .ok_or_else(|| bad("redis_prefix", "must not be empty".into()))?,
            session_ttl: duration("session_ttl")?,
            timezone: get("timezone").parse().map_err(|_| {
                bad(
                    "timezone",
                    format!(
                        "`{}` is not an IANA time zone like UTC or Europe/Bratislava",
                        get("timezone")
                    ),
                )
            })?,
            auth: match get("auth").as_str() {
                "none" => AuthMode::None,
                "token" => AuthMode::Token,
                other => return Err(bad("auth", format!("`{other}` must be none or token"))),
            },
            centre_name: optional("centre_name")
                .ok_or_else(|| bad("centre_name", "must not be empty".into()))?,
            currency: optional("currency")
                .ok_or_else(|| bad("currency", "must not be empty".into()))?,
            request_timeout: duration("request_timeout")?,
            idempotency_ttl: duration("idempotency_ttl")?,
            body_limit: body_limit as usize,
            max_in_flight: number("max_in_flight")? as usize,
            slow_request: duration("slow_request")?,
            shutdown_grace: duration("shutdown_grace")?,
            log_format: match get("log_format").as_str() {
                "human" => LogFormat::Human,
                "json" => LogFormat::Json,
                other => {
                    return Err(bad(
                        "log_format",
                        format!("`{other}` must be human or json"),
                    ))
                }
            },
            llm: LlmConfig {
                base_url: llm_base,
                api_key: optional("llm.api_key"),
                model: get("llm.model"),
                connect_timeout: duration("llm.connect_timeout")?,
                first_byte_timeout: duration("llm.first_byte_timeout")?,
                timeout: duration("llm.timeout")?,
                max_retries: get("llm.max_retries").parse().map_err(|_| {
                    bad(
                        "llm.max_retries",
                        format!("`{}` is not a whole number", get("llm.max_retries")),
                    )
                })?,
                breaker_failures: number("llm.breaker_failures")? as u32,
                max_history: get("llm.max_history").parse().map_err(|_| {
                    bad(
                        "llm.max_history",
                        format!("`{}` is not a whole number", get("llm.max_history")),
                    )
                })?,
                breaker_window: duration("llm.breaker_window")?,
                breaker_open_for: duration("llm.breaker_open_for")?,
            },
        })
    }

    /// Defaults only (plus `overrides`), ignoring the environment and any file: for tests.
    pub fn defaults_with(overrides: &[(&str, &str)]) -> Result<Self, ConfigError> {
        let mut values: BTreeMap<String, String> = SETTINGS
            .iter()
            .map(|s| (s.key.to_string(), s.default.to_string()))
            .collect();
        for (k, v) in overrides {
            values.insert(k.to_string(), v.to_string());
        }
        Self::from_values(&values)
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
        assert!(c.database_url.starts_with("sqlite://"));
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
}
