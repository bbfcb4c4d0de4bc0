//! Calendar feeds (API.md "Calendar feed"): `GET /api/calendar.ics`, `POST
//! /api/calendar/feed` (a secret URL for calendar apps, which send no cookie or token),
//! the feed behind that URL, and `GET /api/bookings/{id}/ics`.
//!
//! The iCalendar text is written by the `icalendar` crate (folding, escaping, CRLF). One
//! `VEVENT` per booking: `UID` from the booking id, so an app updates the event instead of
//! adding one; `SEQUENCE` counts the booking's events after its creation (each change, and
//! the cancellation, which RFC 5545 also treats as a revision an app must accept);
//! `DTSTAMP` is the last event's time, so a feed read twice is the same text.

use super::bookings::{history_reader, SessionQuery};
use super::caller::{self, reading_owner};
use super::error::ApiError;
use super::extract::ApiQuery;
use super::AppState;
use crate::assistant::tools::ToolError;
use crate::domain::ids::FeedToken;
use crate::domain::{Booking, BookingStatus, Owner};
use crate::store::bookings::BookingEvent;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use icalendar::{Calendar, Component, Event, EventLike, EventStatus, Property};
use serde::Serialize;

/// How far back a feed reaches: bookings that ended longer ago are left out.
pub const FEED_PAST_DAYS: i64 = 30;

/// The path under which secret feeds are served (`{token}.ics` follows). Open without a
/// token under `auth = token`: the URL's secret is the credential.
pub const FEED_PATH: &str = "/api/calendar/feed/";

/// A booking as its calendar event shows it: the booking now, and its history's length.
struct Entry {
    booking: Booking,
    /// Events after `created`.
    sequence: u32,
    /// When it last changed.
    stamp: DateTime<Utc>,
}

impl Entry {
    fn from_history(events: &[BookingEvent]) -> Option<Self> {
        let last = events.last()?;
        Some(Self {
            booking: last.booking.clone(),
            sequence: events.len().saturating_sub(1) as u32,
            stamp: last.at,
        })
    }
}

fn event(e: &Entry, currency: &str) -> Event {
    let b = &e.booking;
    let gpus: Vec<String> = b.gpus.iter().map(ToString::to_string).collect();
    let mut ev = Event::new();
    ev.uid(&format!("{}@hpcbot", b.id.as_str()))
        .timestamp(e.stamp)
        .created(b.created_at)
        .last_modified(e.stamp)
        .starts(b.interval.start())
        .ends(b.interval.end())
        .summary(&format!("{} × {}", b.count(), b.model))
        .description(&format!(
            "GPUs: {}\nPrice: {} {currency}\nBooking id: {}",
            gpus.join(", "),
            b.price_total,
            b.id.as_str()
        ))
        .sequence(e.sequence)
        .status(match b.status {
            BookingStatus::Confirmed => EventStatus::Confirmed,
            BookingStatus::Cancelled | BookingStatus::Ended => EventStatus::Cancelled,
        });
    ev.done()
}

/// The iCalendar text of `entries`, named after the centre.
fn render(s: &AppState, entries: &[Entry]) -> String {
    let mut cal = Calendar::new();
    cal.append_property(Property::new("PRODID", "-//hpcbot//bookings//EN"))
        .name(&format!("{} bookings", s.config.centre_name));
    for e in entries {
        cal.push(event(e, &s.config.currency));
    }
    cal.done().to_string()
}

fn ics_response(body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
            (header::CACHE_CONTROL, "private, no-cache"),
        ],
        body,
    )
        .into_response()
}

/// `owner`'s bookings that ended at most [`FEED_PAST_DAYS`] ago, with their histories.
async fn feed_of(s: &AppState, owner: &Owner) -> Result<Response, ApiError> {
    let since = s.tools.clock().now() - chrono::Duration::days(FEED_PAST_DAYS);
    let mut entries = Vec::new();
    for b in s.tools.bookings(owner).await? {
        if b.interval.end() < since {
            continue;
        }
        let events = s.tools.events(Some(owner), b.id.as_str()).await?;
        entries.extend(Entry::from_history(&events));
    }
    // Oldest start first: the order a person reads a calendar in.
    entries.sort_by_key(|e| e.booking.interval.start());
    Ok(ics_response(render(s, &entries)))
}

/// The caller's bookings from 30 days back on, as an iCalendar feed.
#[utoipa::path(get, path = "/api/calendar.ics", params(SessionQuery),
    responses((status = 200, content_type = "text/calendar", description = "RFC 5545: one VEVENT per booking"), (status = 404)))]
pub async fn mine(
    State(s): State<AppState>,
    caller: caller::Caller,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<SessionQuery>,
) -> Result<Response, ApiError> {
    match reading_owner(&s, &caller, q.session_id.as_deref(), &headers).await? {
        Some(owner) => feed_of(&s, &owner).await,
        // A caller who owns nothing has an empty calendar.
        None => Ok(ics_response(render(&s, &[]))),
    }
}

/// The secret feed URL.
#[derive(Serialize, utoipa::ToSchema)]
pub struct FeedUrl {
    /// Absolute URL; whoever holds it reads the caller's feed. Asking again revokes it.
    pub url: String,
}

/// `public_url` when set, else the scheme and host the request came to.
fn base_url(s: &AppState, headers: &HeaderMap) -> String {
    if let Some(u) = &s.config.public_url {
        return u.0.trim_end_matches('/').to_string();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// Gives the caller a secret feed URL for calendar apps, revoking any earlier one.
#[utoipa::path(post, path = "/api/calendar/feed", params(SessionQuery),
    responses((status = 201, body = FeedUrl), (status = 404, description = "no caller: name a session or carry the client cookie")))]
pub async fn create_feed(
    State(s): State<AppState>,
    caller: caller::Caller,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<SessionQuery>,
) -> Result<Response, ApiError> {
    let owner = reading_owner(&s, &caller, q.session_id.as_deref(), &headers)
        .await?
        .ok_or_else(caller::session_not_found)?;
    let now = s.tools.clock().now().timestamp_millis();
    let token = s
        .feeds
        .replace_feed(&owner, now)
        .await
        .map_err(ToolError::from)?;
    let url = format!(
        "{}{FEED_PATH}{}.ics",
        base_url(&s, &headers),
        token.as_str()
    );
    Ok((StatusCode::CREATED, Json(FeedUrl { url })).into_response())
}

/// The feed a secret URL opens (`{token}.ics`); an unknown or revoked one is `404`.
#[utoipa::path(get, path = "/api/calendar/feed/{file}", params(("file" = String, Path, description = "`<token>.ics`")),
    responses((status = 200, content_type = "text/calendar"), (status = 404)))]
pub async fn feed(
    State(s): State<AppState>,
    Path(file): Path<String>,
) -> Result<Response, ApiError> {
    let unknown = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "feed_not_found",
            "this calendar feed URL is not valid (it may have been replaced); ask for a new one",
        )
    };
    let token =
        FeedToken::parse(file.strip_suffix(".ics").unwrap_or(&file)).map_err(|_| unknown())?;
    let owner = s
        .feeds
        .feed_owner(&token)
        .await
        .map_err(ToolError::from)?
        .ok_or_else(unknown)?;
    feed_of(&s, &owner).await
}

/// One booking as an iCalendar file.
#[utoipa::path(get, path = "/api/bookings/{id}/ics", params(("id" = String, Path), SessionQuery),
    responses((status = 200, content_type = "text/calendar"), (status = 404)))]
pub async fn one(
    State(s): State<AppState>,
    caller: caller::Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<SessionQuery>,
) -> Result<Response, ApiError> {
    let owner = history_reader(&s, &caller, q.session_id.as_deref(), &headers, &id).await?;
    let events = s.tools.events(owner.as_ref(), &id).await?;
    let entries: Vec<Entry> = Entry::from_history(&events).into_iter().collect();
    Ok(ics_response(render(&s, &entries)))
}
