-- Secret calendar feed URLs (API.md "Calendar feed"): one per owner, replaced (so revoked)
-- by asking again. Only the SHA-256 of the URL's token is kept, as for user tokens.
CREATE TABLE calendar_feeds (
    owner      TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);
