-- Exactly once (issue 11): idempotency records, proposal keys on bookings, booking events.

-- One record per (caller, Idempotency-Key). `status` is NULL while the first request runs
-- (`token` names that run; `locked_until`, ms, is when a run that never finished counts as
-- cut off); then the stored reply. Written in the same transaction as a booking change.
CREATE TABLE idempotency_keys (
    caller       TEXT NOT NULL,
    idem_key     TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    token        TEXT NOT NULL,
    status       BIGINT,
    body         TEXT,
    locked_until BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    PRIMARY KEY (caller, idem_key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);

-- The chat proposal a booking was confirmed from: at most one booking per proposal.
ALTER TABLE bookings ADD COLUMN proposal_session TEXT;
ALTER TABLE bookings ADD COLUMN proposal_id TEXT;
CREATE UNIQUE INDEX bookings_proposal ON bookings (proposal_session, proposal_id);

-- Append-only history: one row per create / change / cancel / import, with the booking as
-- it was after the event (times: start/end in s, at/created_at in ms; gpus comma-separated).
CREATE TABLE booking_events (
    seq         BIGSERIAL PRIMARY KEY,
    booking_id  TEXT NOT NULL,
    at          BIGINT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('created', 'changed', 'cancelled')),
    via         TEXT NOT NULL CHECK (via IN ('api', 'chat', 'llm', 'admin', 'import')),
    request_id  TEXT NOT NULL,
    owner       TEXT NOT NULL,
    model       TEXT NOT NULL,
    start_at    BIGINT NOT NULL,
    end_at      BIGINT NOT NULL,
    price_cents BIGINT NOT NULL,
    status      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    gpus        TEXT NOT NULL,
    -- The chat proposal the event carried out, if any: each is carried out at most once.
    proposal_session TEXT,
    proposal_id      TEXT
);
CREATE INDEX booking_events_booking ON booking_events (booking_id, seq);
CREATE UNIQUE INDEX booking_events_proposal ON booking_events (proposal_session, proposal_id);
