//! Secret calendar feed URLs (API.md "Calendar feed"): one per owner. Asking again replaces
//! the token, which revokes the old URL. Only the token's SHA-256 is stored, as for user tokens.

use super::bookings::StoreError;
use crate::domain::ids::FeedToken;
use crate::domain::Owner;
use async_trait::async_trait;

/// Where feed tokens live (the booking database).
#[async_trait]
pub trait FeedStore: Send + Sync {
    /// Gives `owner` a new feed token, replacing (revoking) any earlier one.
    async fn replace_feed(&self, owner: &Owner, now_ms: i64) -> Result<FeedToken, StoreError>;
    /// The owner whose feed `token` opens, if it is current.
    async fn feed_owner(&self, token: &FeedToken) -> Result<Option<Owner>, StoreError>;
}
