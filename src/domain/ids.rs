//! Typed identifiers. Each one parses (and so validates) on construction, so the rest of
//! the code never handles a raw, unchecked string.

use rand::RngCore;
use std::fmt;

/// Hex of `n` random bytes from the OS-seeded thread RNG.
fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A new shared secret (a webhook's signing key): 256 random bits, 64 hex digits.
pub fn new_secret() -> String {
    random_hex(32)
}

/// `s` lower-cased if it is exactly `len` hex digits: the form of every id the server issues.
fn hex_of_len(s: &str, len: usize) -> Result<String, InvalidId> {
    if s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(s.to_ascii_lowercase())
    } else {
        Err(InvalidId(s.chars().take(80).collect()))
    }
}

/// The secret in a calendar feed's URL: 256 random bits as 64 lowercase hex digits. Calendar
/// apps send no cookie or token, so whoever holds the URL reads the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedToken(String);

impl FeedToken {
    /// Length of the textual form.
    pub const LEN: usize = 64;

    /// A fresh random token.
    pub fn new() -> Self {
        Self(random_hex(Self::LEN / 2))
    }

    /// Parses a token from a URL; anything the server could not have issued is refused.
    pub fn parse(s: &str) -> Result<Self, InvalidId> {
        hex_of_len(s, Self::LEN).map(Self)
    }

    /// The textual form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for FeedToken {
    fn default() -> Self {
        Self::new()
    }
}

/// Error for a string that is not a valid id of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a valid id")]
pub struct InvalidId(pub String);

/// A chat session id: 128 random bits as 32 lowercase hex digits, issued by the server only.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct SessionId(String);

impl TryFrom<String> for SessionId {
    type Error = InvalidId;
    fn try_from(s: String) -> Result<Self, InvalidId> {
        Self::parse(&s)
    }
}

impl From<SessionId> for String {
    fn from(id: SessionId) -> String {
        id.0
    }
}

impl SessionId {
    /// Length of the textual form.
    pub const LEN: usize = 32;

    /// A fresh random id.
    pub fn new() -> Self {
        Self(random_hex(Self::LEN / 2))
    }

    /// Parses a client-supplied id; anything that the server could not have issued is refused.
    pub fn parse(s: &str) -> Result<Self, InvalidId> {
        hex_of_len(s.trim(), Self::LEN).map(Self)
    }

    /// The textual form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for SessionId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A browser's (or terminal client's) id under `auth = none`: the `hpcbot_client` cookie,
/// 128 random bits as 32 lowercase hex digits, issued by the server only. Every chat of one
/// client shares one owner, [`Owner::client`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientId(String);

impl ClientId {
    /// A fresh random id.
    pub fn new() -> Self {
        Self(random_hex(16))
    }

    /// Parses a client-supplied id; anything the server could not have issued is refused.
    pub fn parse(s: &str) -> Result<Self, InvalidId> {
        hex_of_len(s.trim(), 32).map(Self)
    }

    /// The textual form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for ClientId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A booking id: 128 random bits as 32 hex digits. People may type a unique prefix.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct BookingId(String);

impl BookingId {
    /// A fresh random id.
    pub fn new() -> Self {
        Self(random_hex(16))
    }

    /// Parses a full id (32 hex digits).
    pub fn parse(s: &str) -> Result<Self, InvalidId> {
        hex_of_len(s.trim(), 32).map(Self)
    }

    /// The textual form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 8 digits, what people see and type.
    pub fn short(&self) -> &str {
        &self.0[..8]
    }
}

impl Default for BookingId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for BookingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An id of the same form as a booking id (128 random bits as 32 hex digits, issued by the
/// server only) for another kind of record, so that one kind is never taken for another.
macro_rules! booking_form_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name($crate::domain::BookingId);

        impl $name {
            /// A fresh random id.
            pub fn new() -> Self {
                Self($crate::domain::BookingId::new())
            }

            /// Parses a full id (32 hex digits); anything the server could not have issued
            /// is refused.
            pub fn parse(s: &str) -> Result<Self, $crate::domain::ids::InvalidId> {
                $crate::domain::BookingId::parse(s).map(Self)
            }

            /// The textual form.
            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}
pub(crate) use booking_form_id;

/// Who owns sessions and bookings: a client (auth = none, the `hpcbot_client` cookie), a
/// session (auth = none, a client without cookies) or a named user (auth = token).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Owner(String);

impl Owner {
    /// The owner for `auth = none`: the chat session itself.
    pub fn session(id: &SessionId) -> Self {
        Self(format!("session:{id}"))
    }

    /// A client (`auth = none` with the `hpcbot_client` cookie): every chat of one browser.
    pub fn client(id: &ClientId) -> Self {
        Self(format!("client:{id}"))
    }

    /// A named user (`auth = token`).
    pub fn user(name: &str) -> Self {
        Self(format!("user:{name}"))
    }

    /// Rebuilds an owner read back from a store.
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }

    /// The stored form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_are_128_bit_hex_and_parse_back() {
        let id = SessionId::new();
        assert_eq!(id.as_str().len(), 32);
        assert_eq!(SessionId::parse(id.as_str()).unwrap(), id);
        assert_ne!(SessionId::new(), id);
    }

    #[test]
    fn foreign_session_ids_are_refused() {
        for bad in ["", "abc", "../etc/passwd", &"g".repeat(32), &"a".repeat(33)] {
            assert!(SessionId::parse(bad).is_err(), "{bad}");
        }
    }
}
