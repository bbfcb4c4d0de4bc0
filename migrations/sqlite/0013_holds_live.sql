-- The live holds of every model, summed by every budget check (`commit_price`): an index
-- that leads with the state, so expired and confirmed holds piling up are not scanned.
CREATE INDEX holds_live ON holds (state, expires_at);
