-- Users for `auth = token`: a bearer token names a user; only its SHA-256 is kept.
CREATE TABLE users (
    name       TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    role       TEXT NOT NULL CHECK (role IN ('user', 'admin')),
    created_at BIGINT NOT NULL
);
