-- Webhooks (API.md "Notifications and calendars"). The booking history (booking_events) is
-- the outbox of booking.created/changed/cancelled; `notices` holds the other events
-- (reminders, waitlist, maintenance), each written in the transaction of what it reports.
-- Every event is fanned out, in that same transaction, to one `webhook_deliveries` row per
-- endpoint that wants it; the delivery worker of any instance takes a row by writing a
-- lease (`lease_until`) and sends it until a 2xx or `webhook_retry_for` has passed.
CREATE TABLE webhooks (
    id         TEXT PRIMARY KEY,
    url        TEXT NOT NULL,
    -- ',type,type,' or '' for every type (matched with LIKE '%,type,%').
    events     TEXT NOT NULL,
    secret     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
-- Events that are not a row of the booking history. `once_key` makes a reminder happen
-- once per booking and start (or end) across every instance; `history_seq` is the booking
-- as it was when the notice was made (a booking_events row), if it concerns one.
CREATE TABLE notices (
    seq         BIGSERIAL PRIMARY KEY,
    type        TEXT NOT NULL,
    subject     TEXT NOT NULL,
    owner       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    history_seq BIGINT,
    data        TEXT NOT NULL,
    once_key    TEXT UNIQUE
);
CREATE INDEX notices_owner ON notices (owner, seq);
-- source 'b': `seq` is a booking_events row; 'n': a notices row. `subject` (the booking or
-- waitlist entry) orders one subject's deliveries to one endpoint by `id`.
CREATE TABLE webhook_deliveries (
    id          BIGSERIAL PRIMARY KEY,
    webhook_id  TEXT NOT NULL,
    source      TEXT NOT NULL CHECK (source IN ('b', 'n')),
    seq         BIGINT NOT NULL,
    type        TEXT NOT NULL,
    subject     TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts    BIGINT NOT NULL DEFAULT 0,
    next_at     BIGINT NOT NULL,
    lease_until BIGINT NOT NULL DEFAULT 0,
    -- Who holds the lease: a random token per claim, to read back what one claim took.
    lease_token TEXT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_at);
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (webhook_id, subject, state, id);
CREATE TABLE webhook_attempts (
    id          BIGSERIAL PRIMARY KEY,
    webhook_id  TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    type        TEXT NOT NULL,
    at          BIGINT NOT NULL,
    attempt     BIGINT NOT NULL,
    status_code BIGINT,
    error       TEXT
);
CREATE INDEX webhook_attempts_webhook ON webhook_attempts (webhook_id, id);
-- The reminder passes read bookings by start and by end across every model.
CREATE INDEX bookings_status_start ON bookings (status, start_at);
CREATE INDEX bookings_status_end ON bookings (status, end_at);
