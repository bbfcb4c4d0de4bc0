-- The price of each project's confirmed bookings (committed + spent, API.md "Budget"), kept
-- by every create, change, cancellation and import in its own transaction. The row is
-- written last in the transaction, so the lock it takes is held only while committing, and
-- a budget is checked against the total it returns: concurrent bookings on any number of
-- instances never take it past the budget. Every owner is in `default` until projects exist.
CREATE TABLE project_money (
    project         TEXT PRIMARY KEY,
    confirmed_cents BIGINT NOT NULL
);
INSERT INTO project_money (project, confirmed_cents)
SELECT 'default', COALESCE(SUM(price_cents), 0) FROM bookings WHERE status = 'confirmed';
