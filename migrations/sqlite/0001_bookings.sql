-- GPU models and their devices (a comma-separated list of node:index, in order).
CREATE TABLE gpu_models (
    name         TEXT PRIMARY KEY,
    memory_gb    BIGINT NOT NULL,
    price_cents  BIGINT NOT NULL,
    devices      TEXT NOT NULL,
    position     BIGINT NOT NULL,
    -- Written by every booking of the model: the row lock that serialises them.
    lock_version BIGINT NOT NULL DEFAULT 0
);

-- Times are Unix seconds (start/end) and milliseconds (created_at).
CREATE TABLE bookings (
    id          TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    model       TEXT NOT NULL,
    count       BIGINT NOT NULL CHECK (count >= 1),
    start_at    BIGINT NOT NULL,
    end_at      BIGINT NOT NULL,
    price_cents BIGINT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('confirmed', 'cancelled')),
    created_at  BIGINT NOT NULL,
    CHECK (end_at > start_at)
);
CREATE INDEX bookings_owner ON bookings (owner, created_at);
CREATE INDEX bookings_model_time ON bookings (model, status, start_at, end_at);

CREATE TABLE booking_devices (
    booking_id TEXT NOT NULL REFERENCES bookings (id),
    device     TEXT NOT NULL,
    position   BIGINT NOT NULL,
    PRIMARY KEY (booking_id, device)
);
CREATE INDEX booking_devices_device ON booking_devices (device);
