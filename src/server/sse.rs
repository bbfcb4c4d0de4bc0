//! Server-sent-event replies whose work stops when the client goes away.

use crate::ops;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use std::convert::Infallible;
use std::future::Future;
use tokio::sync::mpsc;

/// An SSE reply fed by the events `produce` sends. The work runs in its own task, as part of
/// the current request (stages show in `/debug/requests`), and is dropped as soon as the
/// client's stream is — which cancels the turn and any upstream call, storing nothing.
pub fn reply<F, Fut>(produce: F) -> Response
where
    F: FnOnce(mpsc::Sender<Event>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel::<Event>(64);
    let watch = tx.clone();
    let entry = ops::current();
    let work = produce(tx);
    tokio::spawn(async move {
        let work = async move {
            match entry {
                Some(e) => ops::scope(e, work).await,
                None => work.await,
            }
        };
        tokio::select! {
            _ = work => {}
            _ = watch.closed() => {}
        }
    });
    let body = futures::StreamExt::map(
        tokio_stream::wrappers::ReceiverStream::new(rx),
        Ok::<_, Infallible>,
    );
    Sse::new(body).into_response()
}

/// Runs `turn` while passing each text piece it sends on `pieces` to `tx` as `to_event`,
/// in order and all of them; `None` if the client went away meanwhile.
pub async fn relay<T>(
    turn: impl Future<Output = T>,
    mut pieces: mpsc::UnboundedReceiver<String>,
    tx: &mpsc::Sender<Event>,
    to_event: impl Fn(String) -> Event,
) -> Option<T> {
    tokio::pin!(turn);
    let result = loop {
        tokio::select! {
            Some(text) = pieces.recv() => {
                tx.send(to_event(text)).await.ok()?;
            }
            r = &mut turn => break r,
        }
    };
    while let Ok(text) = pieces.try_recv() {
        tx.send(to_event(text)).await.ok()?;
    }
    Some(result)
}
