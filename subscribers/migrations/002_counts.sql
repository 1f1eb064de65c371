-- Subscribers by status, kept current by triggers, so that counting the
-- audience of an edition (the desk, the API, a dry run) reads one row
-- instead of walking a million.
CREATE TABLE subscriber_counts (
	status TEXT PRIMARY KEY,
	n      INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO subscriber_counts (status, n) SELECT status, COUNT(*) FROM subscribers GROUP BY status;

-- The triggers that keep it current are made with the table they watch
-- (003, which rebuilds the table).
