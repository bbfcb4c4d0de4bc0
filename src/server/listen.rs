//! The accept loop (instead of `axum::serve`, which installs no timer, so hyper's
//! header-read timeout would be inert there): HTTP/1.1 connections with a header-read
//! timeout that is also the idle keep-alive timeout, a cap on open connections below the
//! open-file limit, the peer's address for the handlers, and a graceful drain on shutdown.

use super::guard::Guard;
use crate::config::Config;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// File descriptors kept back from the connection cap for the database pool, Redis, the
/// LLM client, logs and the listener itself.
pub const FD_RESERVE: u64 = 256;

/// How the accept loop treats connections.
#[derive(Debug, Clone)]
pub struct Options {
    /// Bound on a request's headers, from when the connection is ready for a request.
    pub header_read_timeout: Duration,
    /// Open connections at most.
    pub max_connections: usize,
}

impl Options {
    /// From the settings: raises the soft open-file limit to the hard one, then keeps the
    /// connection cap below what is left after [`FD_RESERVE`]; publishes the cap.
    pub fn new(c: &Config, guard: &Guard) -> Self {
        let nofile = raise_nofile_limit();
        let fit = nofile
            .map(|n| n.saturating_sub(FD_RESERVE).max(16) as usize)
            .unwrap_or(usize::MAX);
        let max_connections = c.max_connections.get().min(fit);
        if max_connections < c.max_connections.get() {
            tracing::warn!(
                setting = c.max_connections.get(),
                nofile = nofile.unwrap_or(0),
                max_connections,
                "max_connections lowered to fit the open-file limit"
            );
        }
        tracing::info!(
            nofile = nofile.unwrap_or(0),
            max_connections,
            header_read_timeout = ?c.header_read_timeout,
            "connection limits"
        );
        guard
            .max_connections
            .store(max_connections, Ordering::Relaxed);
        Self {
            header_read_timeout: c.header_read_timeout,
            max_connections,
        }
    }
}

/// Raises the soft `nofile` limit to the hard one; returns the soft limit now in force.
pub fn raise_nofile_limit() -> Option<u64> {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => Some(n),
        Err(e) => {
            tracing::warn!(error = %e, "could not raise the open-file limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE)
                .ok()
                .map(|(soft, _)| soft)
        }
    }
}

/// Why a connection is turned away at once.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    /// The server has `max_connections` open.
    Full,
    /// This address has `max_connections_per_client` open.
    PerClient,
}

/// What a refused connection is told before it is closed (the contract's JSON error).
fn refusal_reply(why: Refusal) -> Vec<u8> {
    let (status, body) = match why {
        Refusal::Full => (
            "503 Service Unavailable",
            r#"{"error":{"code":"overloaded","message":"the server has as many connections open as it allows; retry in a moment"}}"#,
        ),
        Refusal::PerClient => (
            "429 Too Many Requests",
            r#"{"error":{"code":"too_many_connections","message":"your address has as many connections open as one client may; reuse them (keep-alive) or close some"}}"#,
        ),
    };
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\nretry-after: 1\r\nx-request-id: {}\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        uuid::Uuid::new_v4(),
        body.len()
    )
    .into_bytes()
}

/// Accept errors that concern one connection only (the next accept may well succeed).
fn per_connection(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}

/// Serves `app` on `listener` until `shutdown`, then stops accepting and waits until every
/// connection has finished its requests (the caller bounds that wait).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    opts: Options,
    guard: Arc<Guard>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(());
    let (done_tx, done_rx) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) if per_connection(&e) => continue,
                Err(e) => {
                    // Out of descriptors or memory: back off briefly instead of spinning.
                    tracing::error!(error = %e, "accept error");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let open = guard.connections.fetch_add(1, Ordering::AcqRel);
        if open >= opts.max_connections {
            guard.connections.fetch_sub(1, Ordering::AcqRel);
            metrics::counter!("hpcbot_connections_refused_total").increment(1);
            tokio::spawn(refuse(stream, Refusal::Full));
            continue;
        }
        let Some(per_peer) = guard.connect(peer.ip()) else {
            guard.connections.fetch_sub(1, Ordering::AcqRel);
            metrics::counter!("hpcbot_connections_refused_total").increment(1);
            tokio::spawn(refuse(stream, Refusal::PerClient));
            continue;
        };
        let counted = (Counted(guard.clone()), per_peer);
        let _ = stream.set_nodelay(true);
        let svc = tower::ServiceExt::map_request(
            app.clone(),
            move |mut req: axum::http::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req.map(Body::new)
            },
        );
        let (stop_rx, done_rx) = (stop_rx.clone(), done_rx.clone());
        let timeout = opts.header_read_timeout;
        tokio::spawn(async move {
            let _counted = counted;
            connection(stream, svc, timeout, stop_rx).await;
            drop(done_rx);
        });
    }
    drop(listener);
    let _ = stop_tx.send(());
    drop(done_rx);
    done_tx.closed().await;
    Ok(())
}

/// Serves one connection until it closes, or drains it when `stop` fires.
async fn connection<S>(
    stream: TcpStream,
    svc: S,
    header_read_timeout: Duration,
    mut stop: watch::Receiver<()>,
) where
    S: tower::Service<
            axum::http::Request<Incoming>,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc));
    let mut conn = pin!(conn);
    let mut stopping = false;
    loop {
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            _ = stop.changed(), if !stopping => {
                // Sent (shutdown) or dropped (the server is gone): finish and close.
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Tells a refused connection to come back later, then closes it.
async fn refuse(mut stream: TcpStream, why: Refusal) {
    let reply = refusal_reply(why);
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(&reply)).await;
    let _ = stream.shutdown().await;
    // Read what the client sent (briefly, a little) so that closing does not reset the
    // connection before it has read the reply.
    let mut sink = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let mut total = 0;
        while let Ok(n) = stream.read(&mut sink).await {
            total += n;
            if n == 0 || total > 65_536 {
                break;
            }
        }
    })
    .await;
}

/// Counts a connection as open until dropped.
struct Counted(Arc<Guard>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::AcqRel);
    }
}
