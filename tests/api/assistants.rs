//! Test assistants injected through the same trait as the real ones.

use async_trait::async_trait;
use hpcbot::assistant::{Assistant, AssistantError, Backend, Conversation, Reply, TurnInput};
use hpcbot::domain::SessionId;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// Answers at once with `echo:<message>|seen:<history length>`; counts `open` per session;
/// `open` of a session in `block_open` waits until `release` is notified; a message that
/// contains "hang" never gets an answer.
#[derive(Default, Clone)]
pub struct Echo {
    pub opens: Arc<Mutex<HashMap<String, usize>>>,
    pub block_open: Arc<Mutex<HashSet<String>>>,
    pub release: Arc<Notify>,
}

impl Echo {
    pub fn opens_of(&self, id: &str) -> usize {
        self.opens.lock().unwrap().get(id).copied().unwrap_or(0)
    }
}

#[async_trait]
impl Assistant for Echo {
    async fn open(
        &self,
        session: Option<&SessionId>,
    ) -> Result<Arc<dyn Conversation>, AssistantError> {
        if let Some(id) = session {
            *self
                .opens
                .lock()
                .unwrap()
                .entry(id.to_string())
                .or_default() += 1;
            let blocked = self.block_open.lock().unwrap().contains(id.as_str());
            if blocked {
                self.release.notified().await;
            }
        }
        Ok(Arc::new(EchoConversation))
    }
}

struct EchoConversation;

#[async_trait]
impl Conversation for EchoConversation {
    async fn reply(&self, input: TurnInput<'_>) -> Result<Reply, AssistantError> {
        if input.message.contains("hang") {
            std::future::pending::<()>().await;
        }
        let text = format!("echo:{}|seen:{}", input.message, input.history.len());
        if let Some(d) = input.deltas {
            for piece in text.split_inclusive('|') {
                let _ = d.send(piece.to_string());
            }
        }
        Ok(Reply {
            text,
            actions: vec![],
            backend: Backend::Builtin,
            state: input.state,
            proposal: None,
        })
    }
}
