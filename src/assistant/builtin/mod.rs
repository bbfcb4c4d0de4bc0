//! The built-in assistant: offline understanding of how people ask for GPUs.

use super::tools::Tools;
use super::{Assistant, AssistantError, Backend, Conversation, Reply, TurnInput};
use crate::config::Config;
use crate::domain::SessionId;
use async_trait::async_trait;
use std::sync::Arc;

/// The built-in assistant.
#[derive(Clone)]
pub struct Builtin {
    tools: Tools,
    centre: String,
    tz: chrono_tz::Tz,
}

impl Builtin {
    /// A built-in assistant over `tools`.
    pub fn new(tools: Tools, config: &Config) -> Self {
        Self { tools, centre: config.centre_name.clone(), tz: config.timezone }
    }
}

#[async_trait]
impl Assistant for Builtin {
    async fn open(&self, _session: Option<&SessionId>) -> Result<Arc<dyn Conversation>, AssistantError> {
        Ok(Arc::new(self.clone()))
    }
}

#[async_trait]
impl Conversation for Builtin {
    async fn reply(&self, input: TurnInput<'_>) -> Result<Reply, AssistantError> {
        let _ = (&self.tools, self.tz);
        let text = format!("Hello from {}. You said: {}", self.centre, input.message);
        if let Some(d) = input.deltas {
            let _ = d.send(text.clone());
        }
        Ok(Reply { text, actions: vec![], backend: Backend::Builtin, state: input.state })
    }
}
