-- One row per owner, written by every create or change that checks the owner's quotas
-- (API.md "Projects, quotas and budgets"): the lock that serialises one owner's bookings
-- across models and instances, so two requests can never both fit under a quota that only
-- one of them fits. Taken before the model's lock, always in that order.
CREATE TABLE owner_locks (
    owner        TEXT PRIMARY KEY,
    lock_version BIGINT NOT NULL DEFAULT 0
);

-- The owner's confirmed bookings in a window, read by every quota check.
CREATE INDEX bookings_owner_time ON bookings (owner, status, start_at, end_at);
