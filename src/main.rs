//! The `hpcbot` command line: a thin shell over the library.

use anyhow::Context;

/// mimalloc: a turn makes many small short-lived allocations; with glibc's malloc they were
/// ~20% of the server's CPU in the LLM-bound benchmark.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use hpcbot::config::{settings_help, Config, LogFormat};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "hpcbot",
    version,
    about = "Chat assistant and GPU booking service of an HPC centre"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ConfigArgs),
    /// Import gpu_inventory.json and/or bookings.json into the database (all or nothing).
    Import {
        #[command(flatten)]
        config: ConfigArgs,
        /// A gpu_inventory.json file.
        #[arg(long)]
        inventory: Option<PathBuf>,
        /// A bookings.json file (replaces every booking).
        #[arg(long)]
        bookings: Option<PathBuf>,
        /// A projects.json file: each project added, or its values replaced (imported
        /// before the bookings, which may name them).
        #[arg(long)]
        projects: Option<PathBuf>,
    },
    /// Chat with a running server in the terminal.
    Chat {
        /// The server's base URL.
        #[arg(long, default_value = "http://127.0.0.1:8080", env = "HPCBOT_URL")]
        url: String,
        /// Resume this session (default: the last one used here).
        #[arg(long)]
        session: Option<String>,
        /// Start a new session instead of resuming.
        #[arg(long)]
        new: bool,
    },
    /// Load-test a running server (this machine only, unless --allow-remote).
    Loadtest {
        /// The server's base URL.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// Concurrent users.
        #[arg(long, default_value_t = 32)]
        users: usize,
        /// How long, e.g. 30s or 2m.
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        duration: std::time::Duration,
        /// Turns per session before a user starts a new session.
        #[arg(long)]
        turns: Option<usize>,
        /// session, direct or echo.
        #[arg(long, value_enum, default_value = "session")]
        mode: hpcbot::loadtest::Mode,
        /// Check each session's history for lost turns at the end.
        #[arg(long)]
        verify: bool,
        /// Allow a target that is not this machine.
        #[arg(long)]
        allow_remote: bool,
        /// A message to send (repeatable; default: questions that change nothing).
        #[arg(long = "message")]
        messages: Vec<String>,
        /// After 503 with Retry-After, wait (at most 1 s) before the next request.
        #[arg(long)]
        honour_retry_after: bool,
        /// Start the users spread over this time, e.g. 1s (default: all at once).
        #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
        ramp_up: std::time::Duration,
    },
    /// Manage the users of `auth = token`.
    User {
        #[command(flatten)]
        config: ConfigArgs,
        #[command(subcommand)]
        action: UserAction,
    },
    /// Projects (admin): add, list and change them, with their budgets and quotas.
    Project {
        #[command(flatten)]
        config: StoreArgs,
        #[command(subcommand)]
        action: hpcbot::centre::ProjectAction,
    },
    /// What the bookings used inside a window, per project, owner or model (admin).
    Report {
        #[command(flatten)]
        config: ConfigArgs,
        /// RFC 3339, inclusive (e.g. 2026-12-01T00:00:00Z).
        #[arg(long)]
        from: String,
        /// RFC 3339, exclusive.
        #[arg(long)]
        to: String,
        /// How to group the rows.
        #[arg(long, value_enum, default_value = "project")]
        by: hpcbot::assistant::tools::UsageGroup,
        /// CSV with a header line instead of a table.
        #[arg(long)]
        csv: bool,
    },
    /// Take GPUs out of service for a window (admin): list, add and remove windows.
    Maintenance {
        #[command(flatten)]
        config: ConfigArgs,
        #[command(subcommand)]
        action: MaintenanceAction,
    },
    /// Register, list and remove webhooks (admin): endpoints POSTed every booking event.
    Webhook {
        #[command(flatten)]
        config: ConfigArgs,
        #[command(subcommand)]
        action: WebhookAction,
    },
    /// Export the inventory and bookings to gpu_inventory.json and bookings.json.
    Export {
        #[command(flatten)]
        config: ConfigArgs,
        /// Directory to write the two files into.
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
}

/// What to do with users.
#[derive(Subcommand)]
enum UserAction {
    /// Add a user and print their token (shown once).
    Add {
        /// The user's name.
        name: String,
        /// Give the admin role.
        #[arg(long)]
        admin: bool,
        /// The project they book for (it must exist; default: `default`).
        #[arg(long, default_value = "default")]
        project: String,
    },
    /// Move a user to another project: their bookings stay where they were made.
    Set {
        /// The user's name.
        name: String,
        /// The project they book for from now on.
        #[arg(long)]
        project: String,
    },
    /// List the users.
    List,
    /// Remove a user (their token stops working within 30 s).
    Remove {
        /// The user's name.
        name: String,
    },
}

/// What to do with maintenance windows (API.md "Maintenance").
#[derive(Subcommand)]
enum MaintenanceAction {
    /// Take a node or GPUs out of service from START to END: every booking on them in the
    /// window is moved to other free GPUs of its model, or cancelled with its price released.
    Add {
        /// Every GPU of this node.
        #[arg(long)]
        node: Option<String>,
        /// One GPU, `node:index` (repeat for more).
        #[arg(long = "gpu")]
        gpus: Vec<String>,
        /// RFC 3339, e.g. 2026-12-09T08:00:00Z.
        #[arg(long)]
        start: String,
        /// RFC 3339, after the start.
        #[arg(long)]
        end: String,
        /// Why (shown to admins).
        #[arg(long, default_value = "maintenance")]
        reason: String,
    },
    /// The windows not yet ended.
    List,
    /// End a window: its GPUs are free again.
    Remove {
        /// The window's id.
        id: String,
    },
}

/// What to do with webhooks (API.md "Notifications and calendars").
#[derive(Subcommand)]
enum WebhookAction {
    /// Register URL and print its id and signing secret (shown once).
    Add {
        /// An http(s) URL; loopback and private hosts need webhook_allowed_hosts.
        url: String,
        /// An event type it gets, e.g. booking.created (repeat for more; none: every type).
        #[arg(long = "event")]
        events: Vec<String>,
    },
    /// The registered webhooks.
    List,
    /// Remove a webhook; what it had still to receive is dropped.
    Remove {
        /// The webhook's id.
        id: String,
    },
}

/// `hpcbot webhook ...`, on the booking database directly (as `hpcbot user` does).
async fn webhook(
    store: &hpcbot::store::sql::SqlStore,
    config: &hpcbot::config::Config,
    action: WebhookAction,
) -> anyhow::Result<()> {
    use hpcbot::domain::webhook::{EventType, WebhookId};
    use hpcbot::store::webhooks::WebhookStore;
    match action {
        WebhookAction::Add { url, events } => {
            let types = events
                .iter()
                .map(|e| {
                    EventType::parse(e).ok_or_else(|| anyhow::anyhow!("`{e}` is not an event type"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let policy = hpcbot::notify::ssrf::HostPolicy::new(&config.webhook_allowed_hosts);
            let url = policy.check(&url).await?;
            let (hook, secret) = store
                .add_webhook(url.as_str(), &types, chrono::Utc::now())
                .await?;
            println!("added {}", hook.id);
            println!("secret {secret}");
        }
        WebhookAction::List => {
            for w in store.webhooks().await? {
                let events: Vec<&str> = if w.events.is_empty() {
                    vec!["*"]
                } else {
                    w.events.iter().map(|e| e.as_str()).collect()
                };
                println!("{}\t{}\t{}", w.id, w.url, events.join(","));
            }
        }
        WebhookAction::Remove { id } => {
            let id = WebhookId::parse(&id).map_err(|e| anyhow::anyhow!(e))?;
            if !store.remove_webhook(&id).await? {
                anyhow::bail!("no webhook `{id}`");
            }
            println!("removed {id}");
        }
    }
    Ok(())
}

/// Flags shared by the commands that read settings.
#[derive(Args)]
struct ConfigArgs {
    /// A config file (default: ./hpcbot.toml if present).
    #[arg(long, env = "HPCBOT_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Address to serve on (setting `listen`).
    #[arg(long, global = true)]
    listen: Option<String>,
    /// Data directory (setting `data_dir`).
    #[arg(long, global = true)]
    data_dir: Option<String>,
    /// Database URL (setting `database_url`).
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// Session store (setting `sessions`).
    #[arg(long, global = true)]
    sessions: Option<String>,
    /// Any setting, as KEY=VALUE (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE", global = true)]
    set: Vec<String>,
}

/// The settings flags of `hpcbot project`, whose own `--set` is a quota's (API.md): where
/// the database is, and a config file for the rest.
#[derive(Args)]
struct StoreArgs {
    /// A config file (default: ./hpcbot.toml if present).
    #[arg(long, env = "HPCBOT_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Data directory (setting `data_dir`).
    #[arg(long, global = true)]
    data_dir: Option<String>,
    /// Database URL (setting `database_url`).
    #[arg(long, global = true)]
    database_url: Option<String>,
}

impl StoreArgs {
    fn load(&self) -> anyhow::Result<Config> {
        ConfigArgs {
            config: self.config.clone(),
            listen: None,
            data_dir: self.data_dir.clone(),
            database_url: self.database_url.clone(),
            sessions: None,
            set: Vec::new(),
        }
        .load()
    }
}

impl ConfigArgs {
    fn load(&self) -> anyhow::Result<Config> {
        let mut overrides = Vec::new();
        for (k, v) in [
            ("listen", &self.listen),
            ("data_dir", &self.data_dir),
            ("database_url", &self.database_url),
            ("sessions", &self.sessions),
        ] {
            if let Some(v) = v {
                overrides.push((k.to_string(), v.clone()));
            }
        }
        for kv in &self.set {
            let (k, v) = kv
                .split_once('=')
                .with_context(|| format!("--set `{kv}` must be KEY=VALUE"))?;
            overrides.push((k.trim().to_string(), v.to_string()));
        }
        Ok(Config::load(self.config.as_deref(), &overrides, |k| {
            std::env::var(k).ok()
        })?)
    }
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HPCBOT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,rmcp=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Human => builder.init(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

async fn open_store(config: &Config) -> anyhow::Result<hpcbot::store::sql::SqlStore> {
    let database = config.database();
    if database.is_sqlite() {
        std::fs::create_dir_all(&config.data_dir)?;
    }
    hpcbot::store::sql::SqlStore::connect(&hpcbot::store::sql::SqlOptions {
        url: database.as_str().to_string(),
        max_connections: 2,
        timeout: config.store_timeout,
    })
    .await
    .map_err(|e| anyhow::anyhow!("database: {e}"))
}

/// `hpcbot maintenance ...`, on the booking database directly (as `hpcbot user` does).
async fn maintenance(
    store: &hpcbot::store::sql::SqlStore,
    action: MaintenanceAction,
) -> anyhow::Result<()> {
    use hpcbot::domain::{BookingId, Device, Interval};
    use hpcbot::store::bookings::{BookingStore, Origin, Via};
    let now = chrono::Utc::now();
    match action {
        MaintenanceAction::Add {
            node,
            gpus,
            start,
            end,
            reason,
        } => {
            let time = |name: &str, t: &str| {
                chrono::DateTime::parse_from_rfc3339(t)
                    .map(|t| t.with_timezone(&chrono::Utc))
                    .map_err(|e| anyhow::anyhow!("--{name} `{t}` is not an RFC 3339 time: {e}"))
            };
            let interval = Interval::new(time("start", &start)?, time("end", &end)?)
                .map_err(|e| anyhow::anyhow!(e))?;
            let devices: Vec<Device> = match (node, gpus.is_empty()) {
                (Some(n), true) => {
                    let inv = store.inventory().await?;
                    let on: Vec<Device> = inv
                        .models()
                        .iter()
                        .flat_map(|m| m.devices.iter())
                        .filter(|d| d.node == n)
                        .cloned()
                        .collect();
                    if on.is_empty() {
                        anyhow::bail!("no node `{n}` in the inventory");
                    }
                    on
                }
                (None, false) => gpus
                    .iter()
                    .map(|g| Device::parse(g).map_err(|e| anyhow::anyhow!(e)))
                    .collect::<anyhow::Result<_>>()?,
                _ => anyhow::bail!("give either --node or one or more --gpu"),
            };
            let (w, affected) = store
                .add_maintenance(devices, interval, reason, &Origin::current(Via::Admin), now)
                .await?;
            let ids = |v: &[BookingId]| {
                v.iter()
                    .map(BookingId::to_string)
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            println!("added {}", w.id);
            println!("moved: {}", ids(&affected.moved));
            println!("cancelled: {}", ids(&affected.cancelled));
        }
        MaintenanceAction::List => {
            for w in store.maintenance(now).await? {
                let gpus: Vec<String> = w.gpus.iter().map(Device::to_string).collect();
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    w.id,
                    w.interval.start().to_rfc3339(),
                    w.interval.end().to_rfc3339(),
                    gpus.join(","),
                    w.reason
                );
            }
        }
        MaintenanceAction::Remove { id } => {
            let id = hpcbot::domain::maintenance::MaintenanceId::parse(&id)
                .map_err(|e| anyhow::anyhow!(e))?;
            if !store.remove_maintenance(&id, now).await? {
                anyhow::bail!("no maintenance window `{id}`");
            }
            println!("removed {id}");
        }
    }
    Ok(())
}

async fn main_inner() -> anyhow::Result<()> {
    let help = settings_help();
    let cmd = Cli::command().mut_subcommand("serve", |c| c.after_help(help));
    let cli = Cli::from_arg_matches(&cmd.get_matches())?;
    match cli.command {
        Command::Serve(args) => {
            let config = args.load()?;
            init_logs(config.log_format);
            let listener = tokio::net::TcpListener::bind(config.listen)
                .await
                .with_context(|| {
                    format!("cannot listen on {} (setting `listen`)", config.listen)
                })?;
            tracing::info!(address = %listener.local_addr()?, database = %hpcbot::server::redact(config.database().as_str()),
                sessions = %hpcbot::server::redact(&config.sessions.to_string()), assistant = if config.llm.base_url.is_some() { "llm" } else { "builtin" },
                "hpcbot serving");
            hpcbot::run(config, listener, shutdown_signal()).await
        }
        Command::Import {
            config,
            inventory,
            bookings,
            projects,
        } => {
            let config = config.load()?;
            if inventory.is_none() && bookings.is_none() && projects.is_none() {
                anyhow::bail!(
                    "nothing to import: give --inventory FILE, --bookings FILE and/or --projects FILE"
                );
            }
            let read = |p: &PathBuf| {
                std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))
            };
            if let Some(p) = &projects {
                let list = hpcbot::transfer::parse_projects(&read(p)?)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
                let store = open_store(&config).await?;
                hpcbot::centre::import_projects(&store, &list).await?;
                println!("imported: {} projects", list.len());
                if inventory.is_none() && bookings.is_none() {
                    return Ok(());
                }
            }
            let inv = match &inventory {
                Some(p) => Some(
                    hpcbot::transfer::parse_inventory(&read(p)?)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?,
                ),
                None => None,
            };
            let list = match &bookings {
                Some(p) => Some(
                    hpcbot::transfer::parse_bookings(&read(p)?)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?,
                ),
                None => None,
            };
            let (models, n) = (
                inv.as_ref().map(|i| i.models().len()),
                list.as_ref().map(Vec::len),
            );
            let store = open_store(&config).await?;
            hpcbot::store::BookingStore::import(&store, inv, list)
                .await
                .map_err(|e| anyhow::anyhow!("import refused, nothing changed: {e}"))?;
            println!(
                "imported: {} models, {} bookings",
                models.map_or("no".into(), |m| m.to_string()),
                n.map_or("no".into(), |m| m.to_string())
            );
            Ok(())
        }
        Command::User { config, action } => {
            use hpcbot::store::users::{Role, UserStore};
            let config = config.load()?;
            let store = open_store(&config).await?;
            match action {
                UserAction::Add {
                    name,
                    admin,
                    project,
                } => {
                    let role = if admin { Role::Admin } else { Role::User };
                    let project =
                        hpcbot::domain::ProjectName::parse(&project).map_err(anyhow::Error::msg)?;
                    let now = chrono::Utc::now().timestamp_millis();
                    let token = store.add_user(&name, role, &project, now).await?;
                    println!(
                        "added {name} ({}, project {project}); their token, shown only now:\n{token}",
                        role.as_str()
                    );
                }
                UserAction::Set { name, project } => {
                    use hpcbot::store::projects::ProjectStore;
                    let project =
                        hpcbot::domain::ProjectName::parse(&project).map_err(anyhow::Error::msg)?;
                    if !store.set_user_project(&name, &project).await? {
                        anyhow::bail!("no user called `{name}`");
                    }
                    println!("{name} books for project {project} from now on");
                }
                UserAction::List => {
                    for u in store.users().await? {
                        println!("{}\t{}\t{}", u.name, u.role.as_str(), u.project);
                    }
                }
                UserAction::Remove { name } => {
                    if !store.remove_user(&name).await? {
                        anyhow::bail!("no user called `{name}`");
                    }
                    println!("removed {name}");
                }
            }
            Ok(())
        }
        Command::Project { config, action } => {
            let config = config.load()?;
            let store = open_store(&config).await?;
            hpcbot::centre::project(&store, action, &config.currency).await
        }
        Command::Report {
            config,
            from,
            to,
            by,
            csv,
        } => {
            let config = config.load()?;
            let store = open_store(&config).await?;
            let time = |name: &str, s: &str| {
                chrono::DateTime::parse_from_rfc3339(s)
                    .map(|t| t.with_timezone(&chrono::Utc))
                    .map_err(|e| anyhow::anyhow!("--{name} `{s}` is not an RFC 3339 time: {e}"))
            };
            let out =
                hpcbot::centre::report(&store, time("from", &from)?, time("to", &to)?, by, csv)
                    .await?;
            print!("{out}");
            Ok(())
        }
        Command::Webhook { config, action } => {
            let config = config.load()?;
            let store = open_store(&config).await?;
            webhook(&store, &config, action).await
        }
        Command::Maintenance { config, action } => {
            let config = config.load()?;
            let store = open_store(&config).await?;
            maintenance(&store, action).await
        }
        Command::Chat { url, session, new } => hpcbot::terminal::run(url, session, new).await,
        Command::Loadtest {
            url,
            users,
            duration,
            turns,
            mode,
            verify,
            allow_remote,
            messages,
            honour_retry_after,
            ramp_up,
        } => {
            let messages = if messages.is_empty() {
                [
                    "what gpus do you have",
                    "is an a100 free tomorrow 9-12?",
                    "how much is an h100 for 3 hours",
                    "my bookings",
                ]
                .map(String::from)
                .to_vec()
            } else {
                messages
            };
            let report = hpcbot::loadtest::run(hpcbot::loadtest::LoadOptions {
                url,
                users,
                duration,
                turns,
                mode,
                verify,
                allow_remote,
                progress: true,
                messages,
                honour_retry_after,
                ramp_up,
            })
            .await?;
            print!("{}", report.text());
            println!("{}", serde_json::to_string(&report)?);
            if report.sessions_with_lost_turns.unwrap_or(0) > 0 {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Export { config, out } => {
            let config = config.load()?;
            let store = open_store(&config).await?;
            use hpcbot::store::BookingStore;
            let inv = store.inventory().await?;
            let all = store.all().await?;
            std::fs::create_dir_all(&out)?;
            let inv_path = out.join("gpu_inventory.json");
            let b_path = out.join("bookings.json");
            std::fs::write(
                &inv_path,
                serde_json::to_string_pretty(&inv.to_file())? + "\n",
            )?;
            std::fs::write(
                &b_path,
                serde_json::to_string_pretty(&hpcbot::transfer::bookings_file(&all))? + "\n",
            )?;
            println!(
                "wrote {} and {} ({} bookings)",
                inv_path.display(),
                b_path.display(),
                all.len()
            );
            use hpcbot::store::projects::ProjectStore;
            let projects: Vec<_> = store
                .projects()
                .await?
                .into_iter()
                .map(|l| l.project)
                .collect();
            let p_path = out.join("projects.json");
            std::fs::write(
                &p_path,
                serde_json::to_string_pretty(&hpcbot::transfer::projects_file(&projects))? + "\n",
            )?;
            println!("wrote {} ({} projects)", p_path.display(), projects.len());
            // The booking history, append-only, beside the files that import reads.
            let events = store.all_events().await?;
            let e_path = out.join("booking_events.json");
            let views: Vec<hpcbot::assistant::tools::EventView> = events
                .iter()
                .map(hpcbot::assistant::tools::EventView::from)
                .collect();
            std::fs::write(
                &e_path,
                serde_json::to_string_pretty(&serde_json::json!({ "events": views }))? + "\n",
            )?;
            println!("wrote {} ({} events)", e_path.display(), events.len());
            Ok(())
        }
    }
}

#[tokio::main]
async fn main() {
    if let Err(e) = main_inner().await {
        eprintln!("hpcbot: {e:#}");
        std::process::exit(2);
    }
}
