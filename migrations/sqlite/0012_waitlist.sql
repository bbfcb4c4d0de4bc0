-- The waitlist (API.md "Waitlist"): requests that did not fit, offered in the order they
-- were made when devices free up. An offer is a hold (`hold_id`) that expires like any
-- other; the entry goes back to waiting when it does. Statuses: waiting, offered, booked
-- (its hold was confirmed), expired (its start passed).
CREATE TABLE waitlist (
    id         TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    model      TEXT NOT NULL,
    count      BIGINT NOT NULL CHECK (count >= 1),
    start_at   BIGINT NOT NULL,
    end_at     BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('waiting', 'offered', 'booked', 'expired')),
    hold_id    TEXT,
    CHECK (end_at > start_at)
);
CREATE INDEX waitlist_model_status ON waitlist (model, status, created_at);
CREATE INDEX waitlist_owner ON waitlist (owner, created_at);
