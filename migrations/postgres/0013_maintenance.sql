-- Maintenance windows (API.md "Maintenance"): devices out of service over [start_at,
-- end_at) (Unix seconds). Every busy-device query reads `maintenance_devices` beside the
-- bookings and holds, so nothing is booked on a device in a window.
CREATE TABLE maintenance (
    id         TEXT PRIMARY KEY,
    reason     TEXT NOT NULL,
    start_at   BIGINT NOT NULL,
    end_at     BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    CHECK (end_at > start_at)
);

CREATE TABLE maintenance_devices (
    maintenance_id TEXT NOT NULL REFERENCES maintenance (id),
    model          TEXT NOT NULL,
    device         TEXT NOT NULL,
    start_at       BIGINT NOT NULL,
    end_at         BIGINT NOT NULL,
    PRIMARY KEY (maintenance_id, device)
);
CREATE INDEX maintenance_devices_model ON maintenance_devices (model, start_at, end_at);
