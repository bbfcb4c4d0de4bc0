-- Holds (API.md "Holds"): devices kept for one owner until `expires_at` (Unix milliseconds,
-- as is `created_at`; `start_at`/`end_at` are seconds like bookings'). A hold is live while
-- state = 'held' and expires_at is after now: every query compares, so expiry needs no
-- timer that a crash could lose. Confirming books it (`booking_id`) on the same devices.
CREATE TABLE holds (
    id          TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    model       TEXT NOT NULL,
    count       BIGINT NOT NULL CHECK (count >= 1),
    start_at    BIGINT NOT NULL,
    end_at      BIGINT NOT NULL,
    price_cents BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('held', 'confirmed', 'released')),
    booking_id  TEXT,
    CHECK (end_at > start_at)
);
CREATE INDEX holds_model_live ON holds (model, state, expires_at);
CREATE INDEX holds_owner_live ON holds (owner, state, expires_at);

CREATE TABLE hold_devices (
    hold_id  TEXT NOT NULL REFERENCES holds (id),
    device   TEXT NOT NULL,
    position BIGINT NOT NULL,
    PRIMARY KEY (hold_id, device)
);
