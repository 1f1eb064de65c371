-- Subscribers by status, kept current by triggers, so that counting the
-- audience of an edition (the desk, the API, a dry run) reads one row
-- instead of walking a million.
CREATE TABLE subscriber_counts (
	status TEXT PRIMARY KEY,
	n      INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO subscriber_counts (status, n) SELECT status, COUNT(*) FROM subscribers GROUP BY status;

CREATE TRIGGER subscriber_counts_insert AFTER INSERT ON subscribers
BEGIN
	INSERT INTO subscriber_counts (status, n) VALUES (NEW.status, 1) ON CONFLICT DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER subscriber_counts_update AFTER UPDATE OF status ON subscribers WHEN OLD.status != NEW.status
BEGIN
	UPDATE subscriber_counts SET n = n - 1 WHERE status = OLD.status;
	INSERT INTO subscriber_counts (status, n) VALUES (NEW.status, 1) ON CONFLICT DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER subscriber_counts_delete AFTER DELETE ON subscribers
BEGIN
	UPDATE subscriber_counts SET n = n - 1 WHERE status = OLD.status;
END;
