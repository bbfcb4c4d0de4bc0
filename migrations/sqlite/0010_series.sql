-- Recurring bookings (API.md "Recurring bookings"): each occurrence is an ordinary booking
-- carrying its series' id.
ALTER TABLE bookings ADD COLUMN series_id TEXT;
CREATE INDEX bookings_series ON bookings (series_id);
