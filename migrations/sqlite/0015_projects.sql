-- Projects (API.md "Projects, quotas and budgets"). Every user is in one project; a booking
-- and a hold keep the project they were made for (so its money stays there if the user
-- moves), and `project_money` keeps one running total per project. A NULL value is "not set
-- by the project": a quota is then its setting's value, and the budget of `default` the
-- setting `budget` (another project without one has none).
CREATE TABLE projects (
    name                   TEXT PRIMARY KEY,
    budget_cents           BIGINT,
    max_gpus_at_once       BIGINT,
    max_gpu_hours_per_week BIGINT,
    max_booking_secs       BIGINT,
    min_notice_secs        BIGINT,
    created_at             BIGINT NOT NULL
);
INSERT INTO projects (name, created_at) VALUES ('default', 0);
ALTER TABLE users ADD COLUMN project TEXT NOT NULL DEFAULT 'default';
ALTER TABLE bookings ADD COLUMN project TEXT NOT NULL DEFAULT 'default';
ALTER TABLE booking_events ADD COLUMN project TEXT NOT NULL DEFAULT 'default';
ALTER TABLE holds ADD COLUMN project TEXT NOT NULL DEFAULT 'default';
-- The live holds of one project, summed by its budget checks.
CREATE INDEX holds_project_live ON holds (project, state, expires_at);
CREATE INDEX bookings_project ON bookings (project, status);
