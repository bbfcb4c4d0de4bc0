-- A booking cancelled after it started is ended early (API.md "Budget"): its status is
-- 'cancelled', its end the cancel time and its price that of the time used, which stays
-- charged (spent) — unlike a booking cancelled before its start, whose price is released.
ALTER TABLE bookings ADD COLUMN ended_early BIGINT NOT NULL DEFAULT 0;
