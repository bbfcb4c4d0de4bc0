//! The operations the assistant may perform — list GPUs, availability, quote, book, cancel,
//! list bookings. The one place that validates and authorises them, as the caller: the
//! REST routes, the built-in assistant and the LLM backend all come through here.

use crate::domain::booking::{check_request, min_free, BookingLimits, RequestError};
use crate::domain::usage::Use;
use crate::domain::{Booking, BookingId, Cents, Clock, Interval, Inventory, Owner};
pub use crate::store::bookings::{BookingChange, ProposalKey, Via};
use crate::store::bookings::{BookingEvent, Busy, ChangeRules, EventKind, Origin};
use crate::store::{BookingStore, NewBooking, StoreError};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::collections::HashSet;
use std::sync::Arc;

/// Why an operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// Bad input; `code` is the API error code.
    #[error("{message}")]
    Invalid {
        /// snake_case code.
        code: &'static str,
        /// What to fix.
        message: String,
    },
    /// No such model.
    #[error("there is no GPU model called `{0}`")]
    UnknownModel(String),
    /// Too few free devices.
    #[error("not enough {model} GPUs free: {free} of {total} are free for that whole period")]
    InsufficientCapacity {
        /// Model name.
        model: String,
        /// Free for the whole period.
        free: u32,
        /// Model total.
        total: u32,
    },
    /// The result would break one of the caller's quotas.
    #[error(transparent)]
    Quota(crate::domain::quota::QuotaExceeded),
    /// The price would take the project's budget below zero.
    #[error(
        "that costs {price_total}, and your project has {remaining} left of its budget of {budget}"
    )]
    Budget {
        /// The budget.
        budget: Cents,
        /// Left before this booking.
        remaining: Cents,
        /// This booking's price.
        price_total: Cents,
    },
    /// A hold that is not there, expired, or one too many.
    #[error(transparent)]
    Hold(crate::domain::hold::HoldError),
    /// One occurrence of a series could not be booked, so none was.
    #[error("occurrence {} (starting {}): {source}", .index + 1, .start.to_rfc3339())]
    Occurrence {
        /// Its place in the series, from 0.
        index: usize,
        /// When it starts.
        start: DateTime<Utc>,
        /// Why it could not be booked.
        source: Box<ToolError>,
    },
    /// No such booking for this caller.
    #[error("no booking of yours matches `{0}`")]
    BookingNotFound(String),
    /// The booking is cancelled and cannot change.
    #[error("that booking is cancelled and cannot change")]
    BookingCancelled,
    /// Several of the caller's bookings match a prefix.
    #[error("`{0}` matches several of your bookings; give more of the id")]
    Ambiguous(String),
    /// The store timed out or is down.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an unexpected database failure.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Whether a database error means "the database is away" (retry later) rather than a bug:
/// no connection, a pool that timed out, or a server shutting down or killing our backend.
fn unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        // SQLSTATE class 08 (connection exception), 57P01-57P03 (admin shutdown, crash
        // shutdown, cannot connect now), 53300 (too many connections), 55000 (database not
        // accepting connections); SQLite busy (5) / locked (6).
        sqlx::Error::Database(d) => d.code().is_some_and(|c| {
            c.starts_with("08")
                || c.starts_with("57P")
                || matches!(c.as_ref(), "53300" | "55000" | "5" | "6")
        }),
        _ => false,
    }
}

impl From<StoreError> for ToolError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::UnknownModel(m) => Self::UnknownModel(m),
            StoreError::InsufficientCapacity { model, free, total } => {
                Self::InsufficientCapacity { model, free, total }
            }
            StoreError::BookingNotFound => Self::BookingNotFound(String::new()),
            StoreError::BookingCancelled => Self::BookingCancelled,
            StoreError::Rejected { code, message } => Self::Invalid { code, message },
            StoreError::Quota(q) => Self::Quota(q),
            StoreError::Hold(h) => Self::Hold(h),
            StoreError::Occurrence {
                index,
                start,
                source,
            } => Self::Occurrence {
                index,
                start,
                source: Box::new((*source).into()),
            },
            StoreError::Budget {
                budget,
                remaining,
                price_total,
            } => Self::Budget {
                budget,
                remaining,
                price_total,
            },
            StoreError::Timeout(s) => {
                Self::Unavailable(format!("the {s} store did not answer in time"))
            }
            StoreError::Database(e) if unavailable(&e) => {
                tracing::warn!(error = %e, "database unavailable");
                Self::Unavailable("the booking database is not answering; retry in a moment".into())
            }
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<RequestError> for ToolError {
    fn from(e: RequestError) -> Self {
        let code = match e {
            RequestError::Count { .. } => "invalid_count",
            RequestError::StartInPast(_) => "start_in_past",
            RequestError::TooLong { .. } => "booking_too_long",
            RequestError::TooFarAhead { .. } => "start_too_far_ahead",
        };
        Self::Invalid {
            code,
            message: e.to_string(),
        }
    }
}

/// How `GET /api/admin/usage` (and `hpcbot report --by`) groups its rows.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum UsageGroup {
    /// Per project.
    Project,
    /// Per owner.
    Owner,
    /// Per GPU model.
    Model,
}

impl UsageGroup {
    /// The group `b` counts in.
    pub fn key(self, b: &Booking) -> String {
        match self {
            UsageGroup::Project => b.project.to_string(),
            UsageGroup::Owner => b.owner.as_str().to_string(),
            UsageGroup::Model => b.model.clone(),
        }
    }
}

/// A booking as clients see it (API.md's Booking).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BookingView {
    /// Booking id (32 hex digits).
    pub id: String,
    /// GPU model.
    pub model: String,
    /// Number of GPUs.
    pub count: u32,
    /// Start (inclusive).
    pub start: DateTime<Utc>,
    /// End (exclusive).
    pub end: DateTime<Utc>,
    /// The reserved devices, `node:index`.
    pub gpus: Vec<String>,
    /// count × hours × price_per_hour.
    #[schema(value_type = f64)]
    pub price_total: Cents,
    /// `confirmed` or `cancelled`.
    #[schema(value_type = String)]
    pub status: crate::domain::BookingStatus,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// The owner's project when it was made.
    pub project: String,
    /// The recurring series it is an occurrence of (absent for a single booking).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub series_id: Option<String>,
}

impl From<&Booking> for BookingView {
    fn from(b: &Booking) -> Self {
        Self {
            id: b.id.to_string(),
            model: b.model.clone(),
            count: b.count(),
            start: b.interval.start(),
            end: b.interval.end(),
            gpus: b.gpus.iter().map(|d| d.to_string()).collect(),
            price_total: b.price_total,
            status: b.status,
            created_at: b.created_at,
            project: b.project.to_string(),
            series_id: b.series.as_ref().map(|s| s.to_string()),
        }
    }
}

/// The project of every owner that is no user in another (API.md: with `auth = none`
/// every owner is in `default`).
pub const DEFAULT_PROJECT: &str = crate::domain::project::DEFAULT;

/// The caller's project and the limits that apply to the caller: the settings, with the
/// project's own values in place of those it sets.
#[derive(Debug, Clone)]
pub struct Standing {
    /// The project, as stored.
    pub project: crate::domain::Project,
    /// The limits, the project's quotas and budget applied.
    pub limits: BookingLimits,
}

/// One model in the GPU list.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GpuSummary {
    /// Model name.
    pub model: String,
    /// Memory per GPU.
    pub memory_gb: u32,
    /// Devices of this model.
    pub total: u32,
    /// Devices free at this moment.
    pub available_now: u32,
    /// Hourly price of one GPU.
    #[schema(value_type = f64)]
    pub price_per_hour: Cents,
    /// The nodes that hold the model.
    pub nodes: Vec<String>,
}

/// The answer to an availability question.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Availability {
    /// Model name.
    pub model: String,
    /// Window start.
    pub start: DateTime<Utc>,
    /// Window end.
    pub end: DateTime<Utc>,
    /// Devices of the model.
    pub total: u32,
    /// The least number free at any instant of the window.
    pub free: u32,
    /// Devices free for the whole window (what one booking can take).
    pub bookable: u32,
}

/// A price quote.
#[derive(Debug, Clone, Serialize)]
pub struct Quote {
    /// Model name.
    pub model: String,
    /// Number of GPUs.
    pub count: u32,
    /// Hourly price of one.
    pub price_per_hour: Cents,
    /// Total for the interval.
    pub price_total: Cents,
}

/// The operations, bound to one store, clock and set of limits, and to the channel (`via`)
/// their changes are recorded under.
#[derive(Clone)]
pub struct Tools {
    store: Arc<dyn BookingStore>,
    clock: Clock,
    limits: BookingLimits,
    via: Via,
}

impl Tools {
    /// Tools over `store`, recording their changes as made through the API.
    pub fn new(store: Arc<dyn BookingStore>, clock: Clock, limits: BookingLimits) -> Self {
        Self {
            store,
            clock,
            limits,
            via: Via::Api,
        }
    }

    /// The same tools, recording their changes as made through `via` (the built-in chat
    /// uses `Via::Chat`, the LLM backend `Via::Llm`).
    pub fn with_via(&self, via: Via) -> Self {
        Self {
            via,
            ..self.clone()
        }
    }

    /// The channel changes are recorded under.
    pub fn via(&self) -> Via {
        self.via
    }

    /// The limits of a booking.
    pub fn limits(&self) -> &BookingLimits {
        &self.limits
    }

    /// The clock these tools read "now" from.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The store behind the tools.
    pub fn store(&self) -> &Arc<dyn BookingStore> {
        &self.store
    }

    /// The current inventory.
    pub async fn inventory(&self) -> Result<Arc<Inventory>, ToolError> {
        Ok(self.store.inventory().await?)
    }

    /// Resolves a loose model name to the inventory's exact one.
    pub async fn model_name(&self, name: &str) -> Result<String, ToolError> {
        let inv = self.inventory().await?;
        inv.find(name)
            .map(|m| m.name.clone())
            .ok_or_else(|| ToolError::UnknownModel(name.to_string()))
    }

    /// Every model with what is free now.
    pub async fn gpus(&self) -> Result<Vec<GpuSummary>, ToolError> {
        let inv = self.inventory().await?;
        let now = self.clock.now();
        let window = Interval::new(now, now + Duration::seconds(1)).expect("positive");
        let mut out = Vec::new();
        for m in inv.models() {
            let busy = self.store.busy(&m.name, &window, self.clock.now()).await?;
            let mut nodes: Vec<String> = m.devices.iter().map(|d| d.node.clone()).collect();
            nodes.dedup();
            out.push(GpuSummary {
                model: m.name.clone(),
                memory_gb: m.memory_gb,
                total: m.total(),
                available_now: m.total().saturating_sub(busy_devices(&busy).len() as u32),
                price_per_hour: m.price_per_hour,
                nodes,
            });
        }
        Ok(out)
    }

    /// How many of `model` are free over `interval`.
    pub async fn availability(
        &self,
        model: &str,
        interval: Interval,
    ) -> Result<Availability, ToolError> {
        let inv = self.inventory().await?;
        let m = inv
            .find(model)
            .ok_or_else(|| ToolError::UnknownModel(model.to_string()))?;
        let busy = self
            .store
            .busy(&m.name, &interval, self.clock.now())
            .await?;
        let booked: Vec<(Interval, u32)> = busy
            .iter()
            .map(|b| (b.interval, b.gpus.len() as u32))
            .collect();
        Ok(Availability {
            model: m.name.clone(),
            start: interval.start(),
            end: interval.end(),
            total: m.total(),
            free: min_free(m.total(), &booked, &interval),
            bookable: m.total().saturating_sub(busy_devices(&busy).len() as u32),
        })
    }

    /// The price of `count` of `model` over `interval` (no capacity check).
    pub async fn quote(
        &self,
        model: &str,
        count: u32,
        interval: &Interval,
    ) -> Result<Quote, ToolError> {
        let inv = self.inventory().await?;
        let m = inv
            .find(model)
            .ok_or_else(|| ToolError::UnknownModel(model.to_string()))?;
        Ok(Quote {
            model: m.name.clone(),
            count,
            price_per_hour: m.price_per_hour,
            price_total: crate::domain::booking::price(m.price_per_hour, count, interval),
        })
    }

    /// Checks a booking request without making it (count, start, length, model).
    pub async fn check(
        &self,
        model: &str,
        count: i64,
        interval: &Interval,
    ) -> Result<(String, u32), ToolError> {
        let count = check_request(count, interval, self.clock.now(), &self.limits)?;
        Ok((self.model_name(model).await?, count))
    }

    /// Whether `count` GPUs over `interval` keep the caller's quotas, beside the caller's other
    /// confirmed bookings (but `except`, the one a change replaces): asked before anything is
    /// proposed. The store checks again, under the owner's lock, when it books.
    pub async fn check_quotas(
        &self,
        caller: &Owner,
        interval: &Interval,
        count: u32,
        except: Option<&BookingId>,
    ) -> Result<(), ToolError> {
        let q = self.standing(caller).await?.limits.quotas;
        let window = q.window(interval);
        let others: Vec<(Interval, u32)> = self
            .store
            .list(caller)
            .await?
            .into_iter()
            .filter(|b| {
                b.status.charges()
                    && Some(&b.id) != except
                    && b.interval.start() < window.end()
                    && b.interval.end() > window.start()
            })
            .map(|b| (b.interval, b.count()))
            .collect();
        q.check(&others, interval, count, self.clock.now())
            .map_err(ToolError::Quota)
    }

    /// The project `caller` books for, and the limits that apply to them.
    pub async fn standing(&self, caller: &Owner) -> Result<Standing, ToolError> {
        let project = self.store.project_of(caller).await?;
        Ok(Standing {
            limits: BookingLimits {
                quotas: project.quotas.applied_to(self.limits.quotas),
                budget: project.budget(self.limits.budget),
                ..self.limits
            },
            project,
        })
    }

    /// The standing of someone who is nobody yet (a visitor with no session): `default`'s.
    pub async fn visitor_standing(&self) -> Result<Standing, ToolError> {
        self.standing(&Owner::from_stored(String::new())).await
    }

    /// The caller's quotas with what the caller uses of each now (API.md `GET /api/account`).
    pub async fn quota_use(
        &self,
        caller: &Owner,
    ) -> Result<Vec<crate::domain::quota::QuotaUse>, ToolError> {
        let quotas = self.standing(caller).await?.limits.quotas;
        let held: Vec<(Interval, u32)> = self
            .store
            .list(caller)
            .await?
            .into_iter()
            .filter(|b| b.status.charges())
            .map(|b| (b.interval, b.count()))
            .collect();
        Ok(quotas.use_at(&held, self.clock.now()))
    }

    /// Whether `price` fits what is left of the caller's project's budget (asked before
    /// anything is proposed; the store checks again, under the project's lock, when it books).
    pub async fn check_budget(&self, caller: &Owner, price: Cents) -> Result<(), ToolError> {
        let standing = self.standing(caller).await?;
        let Some(budget) = standing.limits.budget else {
            return Ok(());
        };
        let others = self.store.confirmed_total(&standing.project.name).await?;
        crate::domain::money::budget_left(budget, others, price).map_err(|remaining| {
            ToolError::Budget {
                budget,
                remaining,
                price_total: price,
            }
        })
    }

    /// `project`'s money now: committed (not yet ended) and spent (ended).
    pub async fn money(
        &self,
        project: &crate::domain::ProjectName,
    ) -> Result<(Cents, Cents), ToolError> {
        Ok(self.store.money(project, self.clock.now()).await?)
    }

    /// What the caller's bookings used inside `window`, in all and per model.
    pub async fn usage(
        &self,
        caller: &Owner,
        window: &Interval,
    ) -> Result<(Use, Vec<(String, Use)>), ToolError> {
        let mine = self.store.list(caller).await?;
        Ok(crate::domain::usage::grouped(&mine, window, |b| {
            b.model.clone()
        }))
    }

    /// What every booking used inside `window`, per project, owner or model (admins).
    pub async fn all_usage(
        &self,
        window: &Interval,
        by: UsageGroup,
    ) -> Result<Vec<(String, Use)>, ToolError> {
        let all = self.store.all().await?;
        Ok(crate::domain::usage::grouped(&all, window, |b| by.key(b)).1)
    }

    /// Books `count` of `model` over `interval` for `caller`.
    pub async fn book(
        &self,
        caller: &Owner,
        model: &str,
        count: i64,
        interval: Interval,
    ) -> Result<Booking, ToolError> {
        self.book_inner(caller, model, count, interval, None).await
    }

    /// Books what the chat proposal `proposal` holds, at most once: if a booking was made
    /// from this proposal already (a second confirm, a retried yes, a turn that failed after
    /// booking), that booking is returned as it is and nothing new is booked.
    pub async fn book_proposal(
        &self,
        caller: &Owner,
        model: &str,
        count: i64,
        interval: Interval,
        proposal: &ProposalKey,
    ) -> Result<Booking, ToolError> {
        if let Some(b) = self.store.by_proposal(proposal).await? {
            return Ok(b);
        }
        self.book_inner(caller, model, count, interval, Some(proposal))
            .await
    }

    async fn book_inner(
        &self,
        caller: &Owner,
        model: &str,
        count: i64,
        interval: Interval,
        proposal: Option<&ProposalKey>,
    ) -> Result<Booking, ToolError> {
        let new = self.new_booking(caller, model, count, interval).await?;
        let booking = self
            .store
            .create(NewBooking {
                proposal: proposal.cloned(),
                ..new
            })
            .await;
        let outcome = match &booking {
            Ok(_) => "created",
            Err(StoreError::InsufficientCapacity { .. }) => "conflict",
            Err(StoreError::Quota(_)) => "quota",
            Err(_) => "error",
        };
        metrics::counter!("hpcbot_bookings_total", "outcome" => outcome).increment(1);
        Ok(booking?)
    }

    /// A checked request of `caller` for `count` GPUs of `model` over `interval`, at the
    /// caller's quotas and budget, to book or to hold.
    pub(crate) async fn new_booking(
        &self,
        caller: &Owner,
        model: &str,
        count: i64,
        interval: Interval,
    ) -> Result<NewBooking, ToolError> {
        let (model, count) = self.check(model, count, &interval).await?;
        let standing = self.standing(caller).await?;
        // Stored at whole seconds (times) and milliseconds (creation): show what is stored.
        let whole = |t: DateTime<Utc>| DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t);
        let interval =
            Interval::new(whole(interval.start()), whole(interval.end())).map_err(|message| {
                ToolError::Invalid {
                    code: "invalid_interval",
                    message,
                }
            })?;
        Ok(NewBooking {
            owner: caller.clone(),
            model,
            count,
            interval,
            now: self.now_ms(),
            proposal: None,
            origin: Origin::current(self.via),
            quotas: Some(standing.limits.quotas),
            budget: standing.limits.budget,
            project: standing.project.name,
        })
    }

    /// The caller's bookings, newest first.
    pub async fn bookings(&self, caller: &Owner) -> Result<Vec<Booking>, ToolError> {
        Ok(self.store.list(caller).await?)
    }

    /// The full id of the caller's booking named by its id or a unique prefix (>= 4 digits).
    pub async fn resolve_id(&self, caller: &Owner, id: &str) -> Result<BookingId, ToolError> {
        let id = id.trim().to_ascii_lowercase();
        if let Ok(full) = BookingId::parse(&id) {
            return Ok(full);
        }
        if id.len() < 4 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ToolError::BookingNotFound(id));
        }
        let mine = self.store.list(caller).await?;
        let hits: Vec<&Booking> = mine
            .iter()
            .filter(|b| b.id.as_str().starts_with(&id))
            .collect();
        match hits.as_slice() {
            [one] => Ok(one.id.clone()),
            [] => Err(ToolError::BookingNotFound(id)),
            _ => Err(ToolError::Ambiguous(id)),
        }
    }

    /// Cancels the caller's booking named by its id or a unique prefix of it (>= 4 digits).
    /// One that has started is ended early (API.md "Budget").
    pub async fn cancel(&self, caller: &Owner, id: &str) -> Result<Booking, ToolError> {
        let full = self.resolve_id(caller, id).await?;
        self.store
            .cancel(caller, &full, &Origin::current(self.via), self.now_ms())
            .await
            .map_err(|e| not_found_as(e, id))
    }

    /// Changes the caller's booking (id or unique prefix) in place, all or nothing (API.md
    /// "Changing a booking"): its own devices count as free for it and it keeps those that
    /// stay free; a started booking changes only its end. With `proposal`, the change is
    /// carried out at most once: a repeat returns the booking as it is.
    pub async fn change(
        &self,
        caller: &Owner,
        id: &str,
        change: BookingChange,
        proposal: Option<&ProposalKey>,
    ) -> Result<Booking, ToolError> {
        self.change_inner(caller, id, change, proposal, false).await
    }

    /// What [`Tools::change`] would give now (devices, times, price), without making it:
    /// for stating a change before the person says yes. Errors as the change would.
    pub async fn preview_change(
        &self,
        caller: &Owner,
        id: &str,
        change: BookingChange,
    ) -> Result<ChangePreview, ToolError> {
        let full = self.resolve_id(caller, id).await?;
        let before = self
            .store
            .list(caller)
            .await?
            .into_iter()
            .find(|b| b.id == full)
            .ok_or_else(|| ToolError::BookingNotFound(id.to_string()))?;
        let after = self.change_inner(caller, id, change, None, true).await?;
        Ok(ChangePreview { before, after })
    }

    async fn change_inner(
        &self,
        caller: &Owner,
        id: &str,
        change: BookingChange,
        proposal: Option<&ProposalKey>,
        dry_run: bool,
    ) -> Result<Booking, ToolError> {
        if change == BookingChange::default() {
            return Err(ToolError::Invalid {
                code: "empty_change",
                message: "say what to change: start, end or count".into(),
            });
        }
        let full = self.resolve_id(caller, id).await?;
        // Stored at whole seconds: compare and show what is stored.
        let whole = |t: Option<DateTime<Utc>>| {
            t.map(|t| DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t))
        };
        let change = BookingChange {
            start: whole(change.start),
            end: whole(change.end),
            count: change.count,
        };
        let rules = ChangeRules {
            proposal: proposal.cloned(),
            now: self.now_ms(),
            limits: self.standing(caller).await?.limits,
            dry_run,
        };
        let r = self
            .store
            .change(caller, &full, &change, &rules, &Origin::current(self.via))
            .await;
        if !dry_run {
            let outcome = match &r {
                Ok(_) => "changed",
                Err(StoreError::InsufficientCapacity { .. }) => "conflict",
                Err(_) => "error",
            };
            metrics::counter!("hpcbot_booking_changes_total", "outcome" => outcome).increment(1);
        }
        r.map_err(|e| not_found_as(e, id))
    }

    /// A booking's history, oldest first: the caller's booking only (`None`: any, for an
    /// admin). Unknown or another's: `BookingNotFound`.
    pub async fn events(
        &self,
        caller: Option<&Owner>,
        id: &str,
    ) -> Result<Vec<BookingEvent>, ToolError> {
        let full = BookingId::parse(id).map_err(|_| ToolError::BookingNotFound(id.into()))?;
        let events = self.store.events(&full).await?;
        match (events.first(), caller) {
            (None, _) => Err(ToolError::BookingNotFound(id.into())),
            (Some(e), Some(c)) if &e.booking.owner != c => {
                Err(ToolError::BookingNotFound(id.into()))
            }
            _ => Ok(events),
        }
    }

    /// The earliest free windows (API.md "Finding a slot"): per model one store query and
    /// one sweep over the bookings' edges; without a model every model is searched and
    /// equal starts list the cheaper first.
    pub async fn slots(&self, q: SlotQuery) -> Result<Vec<Slot>, ToolError> {
        let invalid = |code: &'static str, message: String| ToolError::Invalid { code, message };
        if q.count < 1 || q.count > self.limits.max_count {
            return Err(invalid(
                "invalid_count",
                format!("count must be between 1 and {}", self.limits.max_count),
            ));
        }
        if q.duration <= Duration::zero() || q.duration > self.limits.max_duration {
            return Err(invalid(
                "invalid_duration",
                format!(
                    "duration must be positive and at most {} days",
                    self.limits.max_duration.num_days()
                ),
            ));
        }
        if !(1..=MAX_SLOTS).contains(&q.limit) {
            return Err(invalid(
                "invalid_limit",
                format!("limit must be between 1 and {MAX_SLOTS}"),
            ));
        }
        let now = self.clock.now();
        // Whole seconds (how bookings are stored), never before now.
        let ceil = |t: DateTime<Utc>| {
            let whole = DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t);
            if whole < t {
                whole + Duration::seconds(1)
            } else {
                whole
            }
        };
        let after = ceil(q.after.unwrap_or(now).max(now));
        let before = q.before.unwrap_or(after + self.limits.max_duration);
        if after >= before {
            return Err(invalid(
                "invalid_interval",
                "`after` must be before `before`".into(),
            ));
        }
        let duration = Duration::seconds(q.duration.num_seconds().max(1));
        let inv = self.inventory().await?;
        let models: Vec<&crate::domain::GpuModel> = match &q.model {
            Some(name) => vec![inv
                .find(name)
                .ok_or_else(|| ToolError::UnknownModel(name.clone()))?],
            None => inv.models().iter().collect(),
        };
        let window = Interval::new(after, before).expect("after < before");
        let search = crate::domain::slots::SlotSearch {
            count: q.count,
            duration,
            after,
            before,
            limit: q.limit,
        };
        let mut out = Vec::new();
        for m in models {
            if m.total() < q.count {
                continue;
            }
            let busy = self
                .store
                .busy_after(&m.name, after, self.clock.now())
                .await?;
            let edges: Vec<(Interval, &[crate::domain::Device])> = busy
                .iter()
                .filter(|(iv, _)| iv.overlaps(&window))
                .map(|(iv, b)| (*iv, &b.gpus[..]))
                .collect();
            for iv in crate::domain::slots::find_slots(m.total(), &edges, &search) {
                out.push(Slot {
                    model: m.name.clone(),
                    start: iv.start(),
                    end: iv.end(),
                    count: q.count,
                    price_total: crate::domain::booking::price(m.price_per_hour, q.count, &iv),
                });
            }
        }
        out.sort_by(|a, b| {
            (a.start, a.price_total.0, &a.model).cmp(&(b.start, b.price_total.0, &b.model))
        });
        out.truncate(q.limit);
        Ok(out)
    }

    /// "Now" at the millisecond (what is stored).
    pub(crate) fn now_ms(&self) -> DateTime<Utc> {
        let now = self.clock.now();
        DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
    }

    /// The earliest start at or after `after` (within `horizon`) when `count` devices of
    /// `model` are free for `duration`: the counter-offer when a booking does not fit.
    pub async fn next_free(
        &self,
        model: &str,
        count: u32,
        duration: Duration,
        after: DateTime<Utc>,
        horizon: Duration,
    ) -> Result<Option<Interval>, ToolError> {
        let inv = self.inventory().await?;
        let m = inv
            .find(model)
            .ok_or_else(|| ToolError::UnknownModel(model.to_string()))?;
        if count > m.total() {
            return Ok(None);
        }
        let window = Interval::new(after, after + horizon + duration).expect("positive");
        let busy = self.store.busy(&m.name, &window, self.clock.now()).await?;
        // A free slot can only begin at `after` or where some booking ends.
        let mut starts: Vec<DateTime<Utc>> = vec![after];
        starts.extend(
            busy.iter()
                .map(|b| b.interval.end())
                .filter(|e| *e > after && *e <= after + horizon),
        );
        starts.sort();
        starts.dedup();
        for s in starts {
            let cand = Interval::new(s, s + duration).expect("positive");
            let taken: HashSet<&crate::domain::Device> = busy
                .iter()
                .filter(|b| b.interval.overlaps(&cand))
                .flat_map(|b| b.gpus.iter())
                .collect();
            if m.total() - taken.len() as u32 >= count {
                return Ok(Some(cand));
            }
        }
        Ok(None)
    }

    /// The devices a booking would get now (`None` if too few are free): a preview for the
    /// confirmation question; the booking itself allocates again inside its transaction.
    pub async fn preview(
        &self,
        model: &str,
        count: u32,
        interval: &Interval,
    ) -> Result<Option<Vec<crate::domain::Device>>, ToolError> {
        let inv = self.inventory().await?;
        let m = inv
            .find(model)
            .ok_or_else(|| ToolError::UnknownModel(model.to_string()))?;
        let busy = self.store.busy(&m.name, interval, self.clock.now()).await?;
        let taken: HashSet<crate::domain::Device> =
            busy_devices(&busy).into_iter().cloned().collect();
        Ok(crate::domain::booking::allocate(m, &taken, count))
    }

    /// Confirmed bookings of `model` overlapping `window` (for timelines).
    pub async fn busy(&self, model: &str, window: &Interval) -> Result<Vec<Busy>, ToolError> {
        Ok(self.store.busy(model, window, self.clock.now()).await?)
    }
}

/// A `BookingNotFound` from the store, named by what the caller typed.
fn not_found_as(e: StoreError, id: &str) -> ToolError {
    match e {
        StoreError::BookingNotFound => ToolError::BookingNotFound(id.trim().to_string()),
        other => other.into(),
    }
}

/// Most slots one search returns.
pub const MAX_SLOTS: usize = 50;

/// A slot search (API.md "Finding a slot").
#[derive(Debug, Clone)]
pub struct SlotQuery {
    /// One model (loose names accepted), or every model.
    pub model: Option<String>,
    /// Devices wanted, 1..=64.
    pub count: u32,
    /// Length of the window, at most 30 days.
    pub duration: Duration,
    /// Earliest start (default and at the earliest: now).
    pub after: Option<DateTime<Utc>>,
    /// Latest end (default: 30 days after `after`).
    pub before: Option<DateTime<Utc>>,
    /// Most slots, 1..=50.
    pub limit: usize,
}

/// A free window: booked as it is, it succeeds (at the time of the answer).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Slot {
    /// Model name.
    pub model: String,
    /// Start.
    pub start: DateTime<Utc>,
    /// End (start + duration).
    pub end: DateTime<Utc>,
    /// Devices.
    pub count: u32,
    /// The price of booking it.
    #[schema(value_type = f64)]
    pub price_total: Cents,
}

/// A change as it would be made: the booking before and after.
#[derive(Debug, Clone)]
pub struct ChangePreview {
    /// As it is.
    pub before: Booking,
    /// As it would be (devices, times, price).
    pub after: Booking,
}

/// One entry of a booking's history, as clients see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EventView {
    /// When.
    pub at: DateTime<Utc>,
    /// `created`, `changed` or `cancelled`.
    #[serde(rename = "type")]
    pub kind: EventKind,
    /// `api`, `chat`, `llm`, `admin` or `import`.
    pub via: Via,
    /// The `x-request-id` of the request that made it.
    pub request_id: String,
    /// The booking after the event.
    pub booking: BookingView,
}

impl From<&BookingEvent> for EventView {
    fn from(e: &BookingEvent) -> Self {
        Self {
            at: e.at,
            kind: e.kind,
            via: e.via,
            request_id: e.request_id.clone(),
            booking: BookingView::from(&e.booking),
        }
    }
}

fn busy_devices(busy: &[Busy]) -> HashSet<&crate::domain::Device> {
    busy.iter().flat_map(|b| b.gpus.iter()).collect()
}

/// Free devices of one model per time slot.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ModelTimeline {
    /// Model name.
    pub model: String,
    /// Devices of the model.
    pub total: u32,
    /// The least number free in each slot.
    pub free: Vec<u32>,
}

impl Tools {
    /// Per model, the least number of devices free in each of `slots` slots of `step`
    /// from `start` (one store query per model).
    pub async fn timeline(
        &self,
        start: DateTime<Utc>,
        step: Duration,
        slots: usize,
    ) -> Result<Vec<ModelTimeline>, ToolError> {
        let inv = self.inventory().await?;
        let window = Interval::new(start, start + step * slots as i32).map_err(|message| {
            ToolError::Invalid {
                code: "invalid_interval",
                message,
            }
        })?;
        let mut out = Vec::new();
        for m in inv.models() {
            let busy = self.store.busy(&m.name, &window, self.clock.now()).await?;
            let booked: Vec<(Interval, u32)> = busy
                .iter()
                .map(|b| (b.interval, b.gpus.len() as u32))
                .collect();
            let free = (0..slots)
                .map(|i| {
                    let s = start + step * i as i32;
                    min_free(
                        m.total(),
                        &booked,
                        &Interval::new(s, s + step).expect("positive step"),
                    )
                })
                .collect();
            out.push(ModelTimeline {
                model: m.name.clone(),
                total: m.total(),
                free,
            });
        }
        Ok(out)
    }
}
