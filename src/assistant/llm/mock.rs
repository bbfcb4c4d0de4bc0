//! A scriptable OpenAI-compatible upstream on 127.0.0.1:0, speaking the real wire format
//! (SSE chunks, tool-call deltas): for the tests and the benchmarks, never for serving.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the mock does with one request.
#[derive(Debug, Clone)]
pub enum Behavior {
    /// Streams this text in word-sized chunks.
    Text(String),
    /// Streams the text slowly: one word per interval (for disconnect tests).
    SlowText(String, Duration),
    /// Streams one tool call (arguments split over two chunks).
    ToolCall { name: String, arguments: String },
    /// Streams several tool calls in one completion: (name, arguments).
    ToolCalls(Vec<(String, String)>),
    /// Never answers.
    Hang,
    /// Answers with this status and an error body.
    Status(u16),
    /// Streams a chunk that is not JSON.
    Malformed,
    /// Streams part of an answer, then ends without a finish reason or `[DONE]`.
    Cut,
    /// Streams chunks with an empty `choices` list only.
    EmptyChoices,
}

#[derive(Default)]
struct Inner {
    script: Mutex<VecDeque<Behavior>>,
    fallback: Mutex<Option<Behavior>>,
    delay: Mutex<Duration>,
    requests: AtomicUsize,
    disconnects: AtomicUsize,
    bodies: Mutex<Vec<Value>>,
}

/// The running mock.
#[derive(Clone)]
pub struct MockLlm {
    /// Its base URL (`http://127.0.0.1:PORT/v1`).
    pub base_url: String,
    inner: Arc<Inner>,
}

/// Counts a disconnect if dropped before the response finished.
struct Watch(Arc<Inner>, std::cell::Cell<bool>);

impl Drop for Watch {
    fn drop(&mut self) {
        if !self.1.get() {
            self.0.disconnects.fetch_add(1, Ordering::SeqCst);
        }
    }
}

fn chunk(delta: Value, finish: Option<&str>) -> String {
    let v = json!({"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 0, "model": "mock",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
    format!("data: {v}\n\n")
}

fn sse(parts: Vec<(String, Duration)>, inner: Arc<Inner>) -> Response {
    let stream = futures::stream::unfold(
        (parts.into_iter(), Watch(inner, std::cell::Cell::new(false))),
        |(mut it, watch)| async move {
            match it.next() {
                Some((text, wait)) => {
                    if !wait.is_zero() {
                        tokio::time::sleep(wait).await;
                    }
                    Some((Ok::<_, std::convert::Infallible>(text), (it, watch)))
                }
                None => {
                    watch.1.set(true);
                    None
                }
            }
        },
    );
    (
        [(header::CONTENT_TYPE, "text/event-stream")],
        Body::from_stream(stream),
    )
        .into_response()
}

async fn completions(State(inner): State<Arc<Inner>>, body: axum::body::Bytes) -> Response {
    inner.requests.fetch_add(1, Ordering::SeqCst);
    {
        // The first requests only (parsed only then): enough for tests, cheap for benchmarks.
        let mut bodies = inner.bodies.lock().expect("bodies");
        if bodies.len() < 64 {
            bodies.push(serde_json::from_slice(&body).unwrap_or(Value::Null));
        }
    }
    // Counts a disconnect if the client leaves before the answer starts.
    let watch = Watch(inner.clone(), std::cell::Cell::new(false));
    let delay = *inner.delay.lock().expect("delay");
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let next = inner.script.lock().expect("script").pop_front();
    let behavior = next
        .or_else(|| inner.fallback.lock().expect("fallback").clone())
        .unwrap_or(Behavior::Text("Hello from the mock model.".into()));
    let words = |t: &str, wait: Duration| -> Vec<(String, Duration)> {
        let mut v = vec![(chunk(json!({"role": "assistant"}), None), Duration::ZERO)];
        v.extend(
            t.split_inclusive(' ')
                .map(|w| (chunk(json!({"content": w}), None), wait)),
        );
        v
    };
    let res = match behavior {
        Behavior::Text(t) => {
            // All chunks at once, in one write, as a fast upstream sends them.
            let mut parts = words(&t, Duration::ZERO);
            parts.push((chunk(json!({}), Some("stop")), Duration::ZERO));
            parts.push(("data: [DONE]\n\n".into(), Duration::ZERO));
            let all: String = parts.into_iter().map(|(p, _)| p).collect();
            sse(vec![(all, Duration::ZERO)], inner.clone())
        }
        Behavior::SlowText(t, wait) => {
            let mut parts = words(&t, wait);
            parts.push((chunk(json!({}), Some("stop")), Duration::ZERO));
            parts.push(("data: [DONE]\n\n".into(), Duration::ZERO));
            sse(parts, inner.clone())
        }
        Behavior::ToolCall { name, arguments } => {
            let (a, b) = arguments.split_at(arguments.len() / 2);
            let id = format!("call_{}", inner.requests.load(Ordering::SeqCst));
            let parts = vec![
                (
                    chunk(
                        json!({"role": "assistant", "content": null, "tool_calls": [{"index": 0, "id": id, "type": "function", "function": {"name": name, "arguments": ""}}]}),
                        None,
                    ),
                    Duration::ZERO,
                ),
                (
                    chunk(
                        json!({"tool_calls": [{"index": 0, "function": {"arguments": a}}]}),
                        None,
                    ),
                    Duration::ZERO,
                ),
                (
                    chunk(
                        json!({"tool_calls": [{"index": 0, "function": {"arguments": b}}]}),
                        None,
                    ),
                    Duration::ZERO,
                ),
                (chunk(json!({}), Some("tool_calls")), Duration::ZERO),
                ("data: [DONE]\n\n".into(), Duration::ZERO),
            ];
            sse(parts, inner.clone())
        }
        Behavior::ToolCalls(calls) => {
            let mut parts = Vec::new();
            for (i, (name, arguments)) in calls.into_iter().enumerate() {
                let id = format!("call_{}_{i}", inner.requests.load(Ordering::SeqCst));
                parts.push((
                    chunk(
                        json!({"role": "assistant", "tool_calls": [{"index": i, "id": id, "type": "function", "function": {"name": name, "arguments": arguments}}]}),
                        None,
                    ),
                    Duration::ZERO,
                ));
            }
            parts.push((chunk(json!({}), Some("tool_calls")), Duration::ZERO));
            parts.push(("data: [DONE]\n\n".into(), Duration::ZERO));
            sse(parts, inner.clone())
        }
        Behavior::Hang => std::future::pending::<Response>().await,
        Behavior::Status(s) => {
            let status = StatusCode::from_u16(s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (
                status,
                Json(json!({"error": {"message": "mock failure", "type": "server_error"}})),
            )
                .into_response()
        }
        Behavior::Malformed => sse(
            vec![("data: {not json\n\n".into(), Duration::ZERO)],
            inner.clone(),
        ),
        Behavior::Cut => sse(words("This answer is cut", Duration::ZERO), inner.clone()),
        Behavior::EmptyChoices => sse(
            vec![
                (
                    "data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"choices\":[]}\n\n"
                        .into(),
                    Duration::ZERO,
                ),
                ("data: [DONE]\n\n".into(), Duration::ZERO),
            ],
            inner.clone(),
        ),
    };
    watch.1.set(true);
    res
}

impl MockLlm {
    /// Starts the mock on 127.0.0.1:0.
    pub async fn start() -> Self {
        let inner = Arc::new(Inner::default());
        let app = Router::new()
            .route("/v1/chat/completions", post(completions))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind mock");
        let base_url = format!("http://{}/v1", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { base_url, inner }
    }

    /// Queues behaviours for the next requests, in order.
    pub fn push(&self, b: Behavior) {
        self.inner.script.lock().expect("script").push_back(b);
    }

    /// What to do once the queue is empty (default: a short text answer).
    pub fn otherwise(&self, b: Behavior) {
        *self.inner.fallback.lock().expect("fallback") = Some(b);
    }

    /// A delay before every answer.
    pub fn delay(&self, d: Duration) {
        *self.inner.delay.lock().expect("delay") = d;
    }

    /// Requests received.
    pub fn requests(&self) -> usize {
        self.inner.requests.load(Ordering::SeqCst)
    }

    /// Requests whose client went away before the answer was complete.
    pub fn disconnects(&self) -> usize {
        self.inner.disconnects.load(Ordering::SeqCst)
    }

    /// The body of request `i` (0-based).
    pub fn body(&self, i: usize) -> Option<Value> {
        self.inner.bodies.lock().expect("bodies").get(i).cloned()
    }
}
