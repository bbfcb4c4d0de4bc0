//! Users for `auth = token`. A token is 128 random bits shown once; only its SHA-256 is
//! stored (tokens are random, so a fast hash is enough).

use super::bookings::StoreError;
use async_trait::async_trait;
use sha2::{Digest, Sha256};

/// A user's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// May use the API as themself.
    User,
    /// May also use the admin routes.
    Admin,
}

impl Role {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }
}

/// A user as listed.
#[derive(Debug, Clone)]
pub struct User {
    /// Unique name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// The project they book for.
    pub project: crate::domain::ProjectName,
}

/// The hash stored for a token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.trim().as_bytes()))
}

/// A new random token.
pub fn new_token() -> String {
    format!("hpc_{}", crate::domain::SessionId::new())
}

/// Checks a user name: 1-64 of letters, digits, `-`, `_`, `.`, `@`.
pub fn valid_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c));
    ok.then_some(()).ok_or_else(|| {
        format!("user name `{name}` must be 1-64 letters, digits, `-`, `_`, `.` or `@`")
    })
}

/// Where users live.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Adds a user to `project` (which must exist) and returns their token (shown once).
    async fn add_user(
        &self,
        name: &str,
        role: Role,
        project: &crate::domain::ProjectName,
        now_ms: i64,
    ) -> Result<String, StoreError>;
    /// The user a token names.
    async fn user_by_token(&self, token: &str) -> Result<Option<User>, StoreError>;
    /// Every user.
    async fn users(&self) -> Result<Vec<User>, StoreError>;
    /// Removes a user; `false` if there was none.
    async fn remove_user(&self, name: &str) -> Result<bool, StoreError>;
}
