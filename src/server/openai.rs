//! OpenAI-compatible routes: `GET /v1/models` and `POST /v1/chat/completions` (stream and
//! non-stream), model `hpc-assistant`, answered by whichever backend is configured. The
//! conversation is the `messages` the client sends; these routes answer and quote but do
//! not book (booking needs a chat session's confirmation turn).

use super::error::ApiError;
use super::middleware::Deadline;
use super::{sse, AppState};
use crate::store::sessions::{Message, Role};
use axum::body::Bytes;
use axum::extract::State;
use axum::response::sse::Event;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Value};
use tokio::sync::mpsc;

/// The one model name this server offers.
pub const MODEL: &str = "hpc-assistant";

/// `GET /v1/models` (OpenAI wire format): the one model, `hpc-assistant`.
#[utoipa::path(get, path = "/v1/models", responses((status = 200, description = "OpenAI model list")))]
pub async fn models() -> Json<Value> {
    Json(
        json!({"object": "list", "data": [{"id": MODEL, "object": "model", "created": 1_764_115_200, "owned_by": "hpcbot"}]}),
    )
}

/// A message's text: a string, or an array of `{type: "text", text}` parts.
fn text_of(content: &Value) -> Option<String> {
    match content {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => Some(
            parts
                .iter()
                .filter_map(|p| p["text"].as_str())
                .collect::<Vec<_>>()
                .join(""),
        ),
        _ => None,
    }
}

/// Splits the client's messages into earlier turns and the last user message.
fn conversation(body: &Value) -> Result<(Vec<Message>, String, bool), ApiError> {
    let msgs = body["messages"]
        .as_array()
        .filter(|m| !m.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request("invalid_request", "`messages` must be a non-empty array")
        })?;
    let stream = match &body["stream"] {
        Value::Null => false,
        Value::Bool(b) => *b,
        _ => {
            return Err(ApiError::bad_request(
                "invalid_request",
                "`stream` must be true or false",
            ))
        }
    };
    let now = chrono::Utc::now();
    let mut history = Vec::new();
    for (i, m) in msgs.iter().enumerate() {
        let role = m["role"].as_str().ok_or_else(|| {
            ApiError::bad_request("invalid_request", format!("messages[{i}].role is missing"))
        })?;
        let content = text_of(&m["content"]).unwrap_or_default();
        match role {
            "user" => history.push(Message {
                role: Role::User,
                content,
                at: now,
            }),
            "assistant" => history.push(Message {
                role: Role::Assistant,
                content,
                at: now,
            }),
            "system" | "developer" | "tool" => {}
            other => {
                return Err(ApiError::bad_request(
                    "invalid_request",
                    format!("messages[{i}].role `{other}` is not user, assistant or system"),
                ))
            }
        }
    }
    match history.pop() {
        Some(Message {
            role: Role::User,
            content,
            ..
        }) => Ok((history, content, stream)),
        _ => Err(ApiError::bad_request(
            "invalid_request",
            "the last message must be the user's",
        )),
    }
}

fn completion_id() -> String {
    format!("chatcmpl-{}", crate::domain::SessionId::new())
}

/// `POST /v1/chat/completions` (OpenAI wire format, `stream` true or false). The
/// conversation is the `messages` sent; this route answers and quotes but never books.
#[utoipa::path(post, path = "/v1/chat/completions", request_body(content = Object, description = "OpenAI chat completion request"),
    responses((status = 200, description = "chat.completion, or text/event-stream of chat.completion.chunk then [DONE]"), (status = 400)))]
pub async fn completions(
    State(s): State<AppState>,
    Extension(Deadline(deadline)): Extension<Deadline>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "invalid_json",
            format!("the request body is not valid JSON: {e}"),
        )
    })?;
    let (history, message, stream) = conversation(&body)?;
    let id = completion_id();
    let created = chrono::Utc::now().timestamp();
    if !stream {
        let (text, _) = s.engine.oneshot(&history, &message, deadline, None).await?;
        return Ok(Json(json!({
            "id": id, "object": "chat.completion", "created": created, "model": MODEL,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        }))
        .into_response());
    }
    crate::chat::Engine::check_message(&message)?;
    let engine = s.engine.clone();
    let chunk = move |delta: Value, finish: Option<&str>| {
        Event::default().data(
            json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": MODEL,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
            .to_string(),
        )
    };
    Ok(sse::reply(move |tx| async move {
        let _ = tx
            .send(chunk(json!({"role": "assistant", "content": ""}), None))
            .await;
        let (dtx, drx) = mpsc::unbounded_channel::<String>();
        let turn = engine.oneshot(&history, &message, deadline, Some(&dtx));
        let Some(result) =
            sse::relay(turn, drx, &tx, |text| chunk(json!({"content": text}), None)).await
        else {
            return;
        };
        match result {
            Ok(_) => {
                let _ = tx.send(chunk(json!({}), Some("stop"))).await;
            }
            Err(e) => {
                let e = ApiError::from(e);
                let error = json!({"error": {"code": e.code, "message": e.message}}).to_string();
                let _ = tx.send(Event::default().data(error)).await;
            }
        }
        let _ = tx.send(Event::default().data("[DONE]")).await;
    }))
}
