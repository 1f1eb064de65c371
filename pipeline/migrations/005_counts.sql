-- Kept aggregates, so that no page, API call or scrape counts ledger rows:
-- delivery rows per (edition, state, class of the relay's answer). class is
-- '4xx', '5xx' or 'network' for deferred and failed rows, '' otherwise.
--
-- Every statement that changes the ledger's rows counts what it changed in
-- the same transaction (pipeline/ledger.go and control.go: the audience
-- added, a claim, a batch of results, in-flight rows made unknown, expired
-- retries, a cancel, a resend): a trigger would run for each row of a send
-- and cost the send a tenth of its CPU. Only deletions (an edition's rows
-- removed with it) are counted by a trigger.
CREATE TABLE delivery_counts (
	edition_id INTEGER NOT NULL REFERENCES editions(id) ON DELETE CASCADE,
	state      TEXT NOT NULL,
	class      TEXT NOT NULL,
	n          INTEGER NOT NULL,
	PRIMARY KEY (edition_id, state, class)
) WITHOUT ROWID;

INSERT INTO delivery_counts (edition_id, state, class, n)
SELECT edition_id, state,
	CASE WHEN state NOT IN ('deferred', 'failed') THEN '' WHEN code BETWEEN 400 AND 499 THEN '4xx' WHEN code >= 500 THEN '5xx' ELSE 'network' END,
	COUNT(*)
FROM deliveries GROUP BY 1, 2, 3;

CREATE TRIGGER delivery_counts_delete AFTER DELETE ON deliveries
BEGIN
	UPDATE delivery_counts SET n = n - 1 WHERE edition_id = OLD.edition_id AND state = OLD.state
		AND class = CASE WHEN OLD.state NOT IN ('deferred', 'failed') THEN '' WHEN OLD.code BETWEEN 400 AND 499 THEN '4xx' WHEN OLD.code >= 500 THEN '5xx' ELSE 'network' END;
END;

-- The archive lists sent editions newest first.
CREATE INDEX editions_status ON editions(status, id);
