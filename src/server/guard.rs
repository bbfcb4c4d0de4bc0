//! Protection of the service from its own clients: who a client is (for fairness), the
//! per-client rate limits and share of the in-flight limit, the cross-site rules for
//! writes (CSRF), and who may see the operator routes (`/debug/*`, `/api/admin/*`).
//!
//! A client is the token's user with `auth = token`, else its IP address (the one a
//! trusted proxy names in `X-Forwarded-For`, else the peer's). The `hpcbot_client` cookie
//! is not used as a key: a client chooses it (or leaves it out), so a flood could rotate it.

use super::caller::AuthUser;
use super::error::ApiError;
use super::AppState;
use crate::config::{AuthMode, Config};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Who a request comes from, for the per-client limits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ClientKey {
    /// A user named by a bearer token.
    User(String),
    /// An anonymous client, by address ([`client_net`]).
    Ip(IpAddr),
}

type Limiter = DefaultKeyedRateLimiter<ClientKey>;

/// The key a limited request was counted under (put in the request by [`protect`]), so that
/// a route doing several things in one request (an MCP tool call) can charge what it does.
#[derive(Debug, Clone)]
pub struct LimitedAs(pub ClientKey);

/// Shared counters and limiters; one per server.
pub struct Guard {
    trusted: Vec<IpAddr>,
    limit_loopback: bool,
    sessions: Option<Arc<Limiter>>,
    turns: Option<Limiter>,
    bookings: Option<Limiter>,
    per_client: usize,
    in_flight: Mutex<HashMap<ClientKey, usize>>,
    conns_per_client: usize,
    conns_by_ip: Mutex<HashMap<IpAddr, usize>>,
    /// Client connections open now (kept by the accept loop).
    pub connections: AtomicUsize,
    /// The connection cap in force (the setting, lowered to fit the open-file limit).
    pub max_connections: AtomicUsize,
    /// The session count last read from the store, so health and metrics answer from
    /// memory even while the store hangs.
    pub sessions_seen: AtomicU64,
    /// The warning about `X-Forwarded-For` from loopback without `trusted_proxies` was logged.
    forwarding_warned: AtomicBool,
}

/// A keyed limiter of `per_minute` (burst the same), or none for 0.
fn limiter(per_minute: u32) -> Option<Limiter> {
    NonZeroU32::new(per_minute).map(|n| DefaultKeyedRateLimiter::keyed(Quota::per_minute(n)))
}

impl Guard {
    /// The guard for these settings.
    pub fn new(c: &Config) -> Self {
        Self {
            trusted: c.trusted_proxies.clone(),
            limit_loopback: c.rate_limit_loopback,
            sessions: limiter(c.rate_limit_sessions).map(Arc::new),
            turns: limiter(c.rate_limit_turns),
            bookings: limiter(c.rate_limit_bookings),
            per_client: c.max_in_flight_per_client.get(),
            in_flight: Mutex::new(HashMap::new()),
            conns_per_client: c.max_connections_per_client.get(),
            conns_by_ip: Mutex::new(HashMap::new()),
            connections: AtomicUsize::new(0),
            max_connections: AtomicUsize::new(c.max_connections.get()),
            sessions_seen: AtomicU64::new(0),
            forwarding_warned: AtomicBool::new(false),
        }
    }

    /// The client's address: the peer's, or, when the peer is a trusted proxy, the last
    /// address in `X-Forwarded-For` that is not a trusted proxy.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusted.contains(&peer) {
            if self.trusted.is_empty()
                && peer.is_loopback()
                && headers.contains_key("x-forwarded-for")
            {
                self.untrusted_forwarding();
            }
            return peer;
        }
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let mut ip = peer;
        for hop in hops.iter().rev() {
            match hop.parse::<IpAddr>() {
                Ok(h) => {
                    ip = h;
                    if !self.trusted.contains(&h) {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        ip
    }

    /// A request from loopback carrying `X-Forwarded-For` while `trusted_proxies` is unset:
    /// most likely a reverse proxy on this host, which makes every client this machine —
    /// exempt from the per-client limits. Counted, and said once in the log.
    fn untrusted_forwarding(&self) {
        metrics::counter!("hpcbot_untrusted_forwarded_total").increment(1);
        if !self.forwarding_warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "requests from loopback carry X-Forwarded-For but trusted_proxies is unset: \
                 behind a reverse proxy on this host every client counts as this machine and \
                 skips the per-client limits; set trusted_proxies = \"127.0.0.1\" (docs/deploy.md)"
            );
        }
    }

    /// Forgets rate-limit state of clients not seen lately (bounded memory).
    pub fn sweep(&self) {
        for l in [
            self.sessions.as_deref(),
            self.turns.as_ref(),
            self.bookings.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }

    /// Counts a new connection from `peer` against its share; `None` when that address
    /// has as many open as it may (trusted proxies, and loopback unless
    /// `rate_limit_loopback`, are not counted).
    pub fn connect(self: &Arc<Self>, peer: IpAddr) -> Option<PeerConnection> {
        if self.trusted.contains(&peer) || (!self.limit_loopback && peer.is_loopback()) {
            return Some(PeerConnection {
                guard: None,
                ip: peer,
            });
        }
        let peer = client_net(peer);
        let mut m = self.conns_by_ip.lock().expect("conns_by_ip");
        let n = m.entry(peer).or_insert(0);
        if *n >= self.conns_per_client {
            return None;
        }
        *n += 1;
        Some(PeerConnection {
            guard: Some(self.clone()),
            ip: peer,
        })
    }

    fn leave(&self, key: &ClientKey) {
        let mut m = self.in_flight.lock().expect("in_flight");
        if let Some(n) = m.get_mut(key) {
            *n -= 1;
            if *n == 0 {
                m.remove(key);
            }
        }
    }
}

/// A connection counted against its address's share; uncounted when dropped.
pub struct PeerConnection {
    guard: Option<Arc<Guard>>,
    ip: IpAddr,
}

impl Drop for PeerConnection {
    fn drop(&mut self) {
        if let Some(g) = &self.guard {
            let mut m = g.conns_by_ip.lock().expect("conns_by_ip");
            if let Some(n) = m.get_mut(&self.ip) {
                *n -= 1;
                if *n == 0 {
                    m.remove(&self.ip);
                }
            }
        }
    }
}

/// A client's place in its share of the in-flight limit; leaves when dropped.
pub struct Share {
    guard: Arc<Guard>,
    key: ClientKey,
}

impl Drop for Share {
    fn drop(&mut self) {
        self.guard.leave(&self.key);
    }
}

/// The network a client address stands for: an IPv6 address by its /64 (one host can
/// hold a whole /64), an IPv4-mapped one as IPv4, IPv4 as it is.
pub fn client_net(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(std::net::Ipv6Addr::from(bits))
            }
        },
        v4 => v4,
    }
}

/// A short tag of a session id for operator views: lets an operator match a session they
/// know, but gives no one a usable id.
pub fn session_tag(id: &str) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(id.as_bytes())[..8])
}

/// The peer's address (put in by the accept loop; absent when the router is driven
/// directly, which then counts as not local).
fn peer(req: &Request) -> Option<IpAddr> {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

impl Guard {
    /// Charges one booking change (create, change, cancel) made inside a request that the
    /// path alone does not show as one (an MCP tool call): `Err` is the `429` to answer.
    /// A request that was not limited (exempt) is not charged.
    pub fn charge_booking(&self, limited: Option<&LimitedAs>) -> Result<(), ApiError> {
        match (limited, &self.bookings) {
            (Some(LimitedAs(key)), Some(l)) => l.check_key(key).map_err(|not_until| {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                let secs = wait.as_secs_f64().ceil().max(1.0) as u32;
                ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_requests",
                    format!(
                        "this client has made too many booking changes lately; retry in {secs} s"
                    ),
                )
                .retry_after(secs)
            }),
            _ => Ok(()),
        }
    }
}

/// `429 too_many_requests` with `Retry-After` rounded up to whole seconds.
fn too_many(what: &str, wait: Duration) -> Response {
    let secs = wait.as_secs_f64().ceil().max(1.0) as u32;
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_requests",
        format!("this client has made too many {what} lately; retry in {secs} s"),
    )
    .retry_after(secs)
    .into_response()
}

/// `403` with `code`.
fn forbidden(code: &'static str, msg: &str) -> Response {
    ApiError::new(StatusCode::FORBIDDEN, code, msg).into_response()
}

/// Whether a write comes from another site (or another origin of this one): the browser
/// says so in `Sec-Fetch-Site`, or, for older browsers, in an `Origin` that differs from
/// the `Host` the request was sent to. Clients that send neither (curl, SDKs, the terminal
/// client) are not browsers acting for someone else.
fn cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return !matches!(site.as_bytes(), b"same-origin" | b"none");
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let origin = origin.to_str().unwrap_or("null");
    let authority = origin.split_once("://").map(|(_, a)| a);
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    match (authority, host) {
        (Some(a), Some(h)) => !a.eq_ignore_ascii_case(h),
        _ => true,
    }
}

/// Whether the request was sent to this machine by a local name or address (`localhost`,
/// a loopback IP), not to a domain name that a page may have pointed at 127.0.0.1 to reach
/// the operator routes from a local browser (DNS rebinding).
fn local_host(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return true; // HTTP/1.0 without Host: not a browser
    };
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether a `Content-Type` is JSON (`application/json`, with parameters or a `+json`
/// suffix).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .is_some_and(|m| {
            m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
        })
}

/// Operator routes, guest routes and per-client limits, in front of the handlers (after
/// authentication, which names the user).
pub async fn protect(State(s): State<AppState>, mut req: Request, next: Next) -> Response {
    let g = s.guard.clone();
    let path = req.uri().path();
    let method = req.method().clone();
    let peer = peer(&req);
    let ip = peer.map(|p| g.client_ip(p, req.headers()));

    // Operator views: admin-only with tokens (the auth layer checks that); with auth =
    // none only from this machine itself, never through a proxy.
    let operator = path.starts_with("/debug/") || path.starts_with("/api/admin/");
    if operator && s.config.auth == AuthMode::None {
        let local = peer.is_some_and(|p| p.is_loopback())
            && !req.headers().contains_key("x-forwarded-for")
            && !req.headers().contains_key("forwarded")
            && local_host(req.headers());
        if !local {
            return forbidden(
                "forbidden",
                "this operator route answers only on this machine with auth = none; use auth = token and an admin token",
            );
        }
    }

    let unsafe_method = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
    let bearer = req.headers().contains_key(header::AUTHORIZATION);
    if unsafe_method && !bearer && cross_site(req.headers()) {
        return forbidden(
            "cross_site_request",
            "writes are accepted only from this site's own pages (or from clients that are not browsers)",
        );
    }
    let has_body = axum::body::HttpBody::size_hint(req.body()).exact() != Some(0);
    // 400, not 415: API.md makes every body problem a 400 (413 for the size), and a client
    // that sent its JSON without the header gets the same status as for bad JSON.
    if unsafe_method && has_body && !is_json(req.headers()) {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_media_type",
            "send the body as JSON with `Content-Type: application/json`",
        )
        .into_response();
    }

    let user = req
        .extensions()
        .get::<AuthUser>()
        .map(|u| u.owner.as_str().to_string());
    // Health and metrics are never limited (like the in-flight limit, they must answer
    // when the rest is busy); loopback clients only with rate_limit_loopback.
    let probe = path.starts_with("/health") || path == "/metrics";
    let exempt =
        probe || (user.is_none() && !g.limit_loopback && ip.is_none_or(|i| i.is_loopback()));
    let key = match (user, ip) {
        (Some(u), _) => Some(ClientKey::User(u)),
        (None, Some(i)) => Some(ClientKey::Ip(client_net(i))),
        (None, None) => None,
    };
    let Some(key) = key.filter(|_| !exempt) else {
        return next.run(req).await;
    };

    let turn = method == Method::POST
        && matches!(
            path,
            "/api/chat" | "/api/chat/stream" | "/api/direct/chat" | "/v1/chat/completions"
        );
    // Holds take devices as bookings do, so they share the bookings' rate.
    let booking = (path.starts_with("/api/bookings") || path.starts_with("/api/holds"))
        && matches!(method, Method::POST | Method::PATCH | Method::DELETE);
    let checks = [
        (turn, &g.turns, "messages"),
        (booking, &g.bookings, "booking changes"),
    ];
    for (applies, l, what) in checks {
        if let (true, Some(l)) = (applies, l) {
            if let Err(not_until) = l.check_key(&key) {
                return too_many(
                    what,
                    not_until.wait_time_from(DefaultClock::default().now()),
                );
            }
        }
    }

    let share = {
        let mut m = g.in_flight.lock().expect("in_flight");
        let n = m.entry(key.clone()).or_insert(0);
        if *n >= g.per_client {
            None
        } else {
            *n += 1;
            Some(Share {
                guard: g.clone(),
                key: key.clone(),
            })
        }
    };
    let Some(share) = share else {
        return ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            format!(
                "this client already has {} requests in flight; wait for them",
                g.per_client
            ),
        )
        .retry_after(1)
        .into_response();
    };

    // A new session is charged when one is really created (the engine asks this gate).
    if let Some(l) = g.sessions.clone() {
        let key = key.clone();
        crate::ops::set_session_gate(Arc::new(move || {
            l.check_key(&key)
                .map_err(|n| n.wait_time_from(DefaultClock::default().now()))
        }));
    }
    req.extensions_mut().insert(LimitedAs(key));
    let res = next.run(req).await;
    super::middleware::hold_until_sent(res, share)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_keyed_by_their_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_net(a), client_net(b));
        assert_ne!(client_net(a), client_net(c));
        let mapped: IpAddr = "::ffff:203.0.113.5".parse().unwrap();
        assert_eq!(client_net(mapped), "203.0.113.5".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn the_client_is_the_last_untrusted_forwarded_address() {
        let c = Config::defaults_with(&[("trusted_proxies", "127.0.0.1, 10.0.0.1")]).unwrap();
        let g = Guard::new(&c);
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            "198.51.100.1, 203.0.113.9, 10.0.0.1".parse().unwrap(),
        );
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(
            g.client_ip(local, &h),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        // From an untrusted peer the header is ignored.
        let other: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(g.client_ip(other, &h), other);
    }

    #[test]
    fn operator_routes_need_a_local_host_name() {
        let host = |h: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::HOST, h.parse().unwrap());
            local_host(&m)
        };
        assert!(host("127.0.0.1:8080") && host("localhost:8080") && host("[::1]:8080"));
        assert!(!host("evil.example:8080") && !host("10.0.0.5:8080"));
    }

    #[test]
    fn cross_site_writes_are_recognised() {
        let mut h = HeaderMap::new();
        assert!(!cross_site(&h), "no browser headers: not a browser");
        h.insert(header::HOST, "bot.example:8080".parse().unwrap());
        h.insert(header::ORIGIN, "http://bot.example:8080".parse().unwrap());
        assert!(!cross_site(&h));
        h.insert(header::ORIGIN, "http://bot.example:9090".parse().unwrap());
        assert!(cross_site(&h), "another port is another origin");
        h.insert("sec-fetch-site", "same-origin".parse().unwrap());
        assert!(!cross_site(&h));
        h.insert("sec-fetch-site", "same-site".parse().unwrap());
        assert!(cross_site(&h));
    }
}
