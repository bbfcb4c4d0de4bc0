//! The OpenAI-compatible client: one shared HTTP client made at start, separate bounds
//! for connecting, the first byte and the whole call, jittered retries only where safe
//! (connect errors, 429 with Retry-After, 502/503/504) and never once output has been
//! passed on, and streaming with tool-call deltas.

use futures::StreamExt;
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;
use std::borrow::Cow;
use std::time::Duration;
use tokio::time::Instant;

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// e.g. `http://127.0.0.1:8000/v1`.
    pub base_url: String,
    /// Bearer key, if the upstream wants one.
    pub api_key: Option<String>,
    /// Model name.
    pub model: String,
    /// Bound on connecting.
    pub connect_timeout: Duration,
    /// Bound on the response headers (time to first byte).
    pub first_byte_timeout: Duration,
    /// Bound on the whole call.
    pub call_timeout: Duration,
    /// Retries after the first try.
    pub max_retries: u32,
}

/// A message as sent upstream; borrows the history instead of copying it.
#[derive(Debug, Clone, Serialize)]
pub struct ChatMessage<'a> {
    /// `system`, `user`, `assistant` or `tool`.
    pub role: &'static str,
    /// The text (absent on an assistant message that only calls tools).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<Cow<'a, str>>,
    /// The tool calls of an assistant message.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<WireToolCall>,
    /// The call a tool message answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl<'a> ChatMessage<'a> {
    /// A plain message.
    pub fn text(role: &'static str, content: impl Into<Cow<'a, str>>) -> Self {
        Self {
            role,
            content: Some(content.into()),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }
}

/// A tool call in OpenAI's wire format.
#[derive(Debug, Clone, Serialize)]
pub struct WireToolCall {
    /// Call id.
    pub id: String,
    /// Always `function`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Name and arguments.
    pub function: WireFunction,
}

/// The function of a tool call.
#[derive(Debug, Clone, Serialize)]
pub struct WireFunction {
    /// Function name.
    pub name: String,
    /// JSON arguments as text.
    pub arguments: String,
}

#[derive(Serialize)]
struct Body<'a> {
    model: &'a str,
    messages: &'a [ChatMessage<'a>],
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<&'a RawValue>,
}

/// A tool call the model asked for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ToolCall {
    /// The call's id, echoed in the tool result.
    pub id: String,
    /// Function name.
    pub name: String,
    /// JSON arguments, as text.
    pub arguments: String,
}

/// One completed model call.
#[derive(Debug, Clone, Default)]
pub struct Completion {
    /// Text content.
    pub content: String,
    /// Tool calls, in order.
    pub tool_calls: Vec<ToolCall>,
}

/// One streamed chunk of a completion: only the fields read, borrowed where the text has
/// no escapes.
#[derive(Deserialize)]
struct Chunk<'a> {
    #[serde(default, borrow, deserialize_with = "null_as_default")]
    choices: Vec<ChunkChoice<'a>>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct ChunkChoice<'a> {
    #[serde(default, borrow, deserialize_with = "null_as_default")]
    delta: Delta<'a>,
    #[serde(default)]
    finish_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct Delta<'a> {
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "null_as_default")]
    tool_calls: Vec<ToolCallDelta<'a>>,
}

#[derive(Deserialize)]
struct ToolCallDelta<'a> {
    #[serde(default)]
    index: Option<u64>,
    #[serde(default, borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "null_as_default")]
    function: FunctionDelta<'a>,
}

#[derive(Deserialize, Default)]
struct FunctionDelta<'a> {
    #[serde(default, borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    arguments: Option<Cow<'a, str>>,
}

/// `null` read as the default (some upstreams send `"tool_calls": null`).
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Splits a byte stream into lines, decoding each whole line: a character split between
/// two network chunks is read whole, never as replacement characters.
#[derive(Default)]
struct SseLines {
    buf: Vec<u8>,
    /// Where the unread part of `buf` starts.
    start: usize,
}

impl SseLines {
    fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole line, without its `\n`.
    fn next_line(&mut self) -> Option<Cow<'_, str>> {
        let rest = &self.buf[self.start..];
        let nl = rest.iter().position(|&b| b == b'\n')?;
        let line = &self.buf[self.start..self.start + nl];
        self.start += nl + 1;
        Some(String::from_utf8_lossy(line))
    }
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// Could not connect / send.
    #[error("cannot reach the LLM: {0}")]
    Connect(String),
    /// An error status.
    #[error("the LLM answered {0}")]
    Status(u16, Option<Duration>),
    /// A bound passed.
    #[error("the LLM did not answer in time ({0})")]
    Timeout(&'static str),
    /// The answer was not what the wire format promises.
    #[error("the LLM's answer was malformed: {0}")]
    Protocol(String),
    /// The stream ended before `[DONE]` / a finish reason.
    #[error("the LLM's stream was cut: {0}")]
    Cut(String),
}

impl LlmError {
    /// Whether trying again is safe and may help.
    fn retryable(&self) -> Option<Option<Duration>> {
        match self {
            LlmError::Connect(_) => Some(None),
            LlmError::Status(429, after) => Some(*after),
            LlmError::Status(502..=504, _) => Some(None),
            _ => None,
        }
    }
}

/// The client. Cheap to share behind an `Arc`.
pub struct LlmClient {
    http: reqwest::Client,
    /// `{base_url}/chat/completions`, parsed once.
    url: reqwest::Url,
    opts: ClientOptions,
}

impl LlmClient {
    /// Makes the one HTTP client (connection pool) for this upstream.
    pub fn new(opts: ClientOptions) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(opts.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()?;
        let url = reqwest::Url::parse(&format!(
            "{}/chat/completions",
            opts.base_url.trim_end_matches('/')
        ))?;
        Ok(Self { http, url, opts })
    }

    /// The model name used upstream.
    pub fn model(&self) -> &str {
        &self.opts.model
    }

    /// One completion with retries. `on_delta` gets text pieces as they stream in; once it
    /// has been called no retry happens.
    pub async fn complete(
        &self,
        messages: &[ChatMessage<'_>],
        tools: Option<&RawValue>,
        on_delta: &mut (dyn FnMut(&str) + Send),
    ) -> Result<Completion, LlmError> {
        let give_up = Instant::now() + self.opts.call_timeout;
        let mut attempt = 0;
        loop {
            let mut streamed = false;
            let result = {
                let mut relay = |d: &str| {
                    streamed = true;
                    on_delta(d)
                };
                self.attempt(messages, tools, give_up, &mut relay).await
            };
            let err = match result {
                Ok(c) => return Ok(c),
                Err(e) => e,
            };
            let Some(after) = err.retryable() else {
                return Err(err);
            };
            if streamed || attempt >= self.opts.max_retries {
                return Err(err);
            }
            attempt += 1;
            let backoff = Duration::from_millis(100 * (1 << attempt))
                .mul_f64(rand::rng().random_range(0.5..1.5));
            let wait = after.unwrap_or(backoff);
            if Instant::now() + wait >= give_up {
                return Err(err);
            }
            tracing::warn!(attempt, error = %err, wait_ms = wait.as_millis() as u64, "LLM call failed; retrying");
            metrics::counter!("hpcbot_llm_retries_total").increment(1);
            tokio::time::sleep(wait).await;
        }
    }

    async fn attempt(
        &self,
        messages: &[ChatMessage<'_>],
        tools: Option<&RawValue>,
        give_up: Instant,
        on_delta: &mut (dyn FnMut(&str) + Send),
    ) -> Result<Completion, LlmError> {
        let body = Body {
            model: &self.opts.model,
            messages,
            stream: true,
            tools,
        };
        let mut req = self.http.post(self.url.clone()).json(&body);
        if let Some(k) = &self.opts.api_key {
            req = req.bearer_auth(k);
        }
        let first = (Instant::now() + self.opts.first_byte_timeout).min(give_up);
        let res = tokio::time::timeout_at(first, req.send())
            .await
            .map_err(|_| LlmError::Timeout("first byte"))?
            .map_err(|e| LlmError::Connect(e.to_string()))?;
        let status = res.status().as_u16();
        if status != 200 {
            let after = res
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|s| s.parse::<u64>().ok())
                .map(Duration::from_secs);
            return Err(LlmError::Status(status, after));
        }
        let is_sse = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.starts_with("text/event-stream"));
        if !is_sse {
            // An upstream that ignores `stream: true` answers with one JSON object.
            let v: Value = tokio::time::timeout_at(give_up, res.json())
                .await
                .map_err(|_| LlmError::Timeout("call"))?
                .map_err(|e| LlmError::Protocol(e.to_string()))?;
            let msg = v["choices"]
                .get(0)
                .map(|c| c["message"].clone())
                .ok_or_else(|| LlmError::Protocol("no choices".into()))?;
            let content = msg["content"].as_str().unwrap_or_default().to_string();
            if !content.is_empty() {
                on_delta(&content);
            }
            let tool_calls = msg["tool_calls"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| ToolCall {
                    id: t["id"].as_str().unwrap_or_default().into(),
                    name: t["function"]["name"].as_str().unwrap_or_default().into(),
                    arguments: t["function"]["arguments"].as_str().unwrap_or("{}").into(),
                })
                .collect();
            return Ok(Completion {
                content,
                tool_calls,
            });
        }
        let mut stream = res.bytes_stream();
        let mut lines = SseLines::default();
        let mut out = Completion::default();
        let (mut finished, mut any_choice) = (false, false);
        loop {
            let chunk = match tokio::time::timeout_at(give_up, stream.next()).await {
                Err(_) => return Err(LlmError::Timeout("call")),
                Ok(None) => break,
                Ok(Some(Err(e))) => return Err(LlmError::Cut(e.to_string())),
                Ok(Some(Ok(b))) => b,
            };
            lines.push(&chunk);
            while let Some(line) = lines.next_line() {
                let Some(data) = line.trim().strip_prefix("data:").map(str::trim) else {
                    continue;
                };
                if data == "[DONE]" {
                    finished = true;
                    continue;
                }
                let v: Chunk = serde_json::from_str(data)
                    .map_err(|e| LlmError::Protocol(format!("bad chunk: {e}")))?;
                if let Some(err) = v.error {
                    return Err(LlmError::Protocol(format!("upstream error: {err}")));
                }
                let Some(choice) = v.choices.into_iter().next() else {
                    continue;
                };
                any_choice = true;
                let delta = choice.delta;
                if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
                    out.content.push_str(&text);
                    on_delta(&text);
                }
                for tc in delta.tool_calls {
                    let idx = tc.index.unwrap_or(out.tool_calls.len() as u64) as usize;
                    while out.tool_calls.len() <= idx {
                        out.tool_calls.push(ToolCall::default());
                    }
                    let slot = &mut out.tool_calls[idx];
                    if let Some(id) = tc.id {
                        slot.id = id.into_owned();
                    }
                    if let Some(n) = tc.function.name {
                        slot.name.push_str(&n);
                    }
                    if let Some(a) = tc.function.arguments {
                        slot.arguments.push_str(&a);
                    }
                }
                if choice.finish_reason.is_some() {
                    finished = true;
                }
            }
        }
        if !any_choice {
            return Err(LlmError::Protocol("the answer had no choices".into()));
        }
        if !finished {
            return Err(LlmError::Cut("ended before [DONE]".into()));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_character_split_between_chunks_is_read_whole() {
        let text = "data: {\"x\": \"é\"}\n\ndata: [DONE]\n".as_bytes();
        let cut = text.iter().position(|&b| b == 0xc3).unwrap() + 1;
        let mut lines = SseLines::default();
        lines.push(&text[..cut]);
        assert!(lines.next_line().is_none(), "no whole line yet");
        lines.push(&text[cut..]);
        let mut got = Vec::new();
        while let Some(l) = lines.next_line() {
            got.push(l.into_owned());
        }
        assert_eq!(got, ["data: {\"x\": \"é\"}", "", "data: [DONE]"]);
    }

    #[test]
    fn chunks_with_escapes_nulls_and_tool_call_pieces_are_read() {
        let c: Chunk = serde_json::from_str(
            r#"{"choices":[{"delta":{"content":"a \"b\"\n","tool_calls":null},"finish_reason":null}]}"#,
        )
        .unwrap();
        let choice = c.choices.into_iter().next().unwrap();
        assert_eq!(choice.delta.content.as_deref(), Some("a \"b\"\n"));
        assert!(choice.delta.tool_calls.is_empty());
        assert!(choice.finish_reason.is_none());
        let c: Chunk = serde_json::from_str(
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"c1","function":{"name":"quote","arguments":"{\"a\""}}]},"finish_reason":"tool_calls"}]}"#,
        )
        .unwrap();
        let d = &c.choices[0].delta.tool_calls[0];
        assert_eq!((d.index, d.id.as_deref()), (Some(0), Some("c1")));
        assert_eq!(d.function.arguments.as_deref(), Some("{\"a\""));
    }
}
