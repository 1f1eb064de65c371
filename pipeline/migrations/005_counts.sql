-- Kept aggregates, so that no page, API call or scrape counts ledger rows:
-- delivery rows per (edition, state, class of the relay's answer). class is
-- '4xx', '5xx' or 'network' for deferred and failed rows, '' otherwise.
--
-- The two transitions of nearly every row of a send (a pending row added
-- with the audience, pending -> sending when claimed, sending -> sent with
-- no answer text) are counted by the ledger's own batch statements, in the
-- same transaction (pipeline/ledger.go); every other change of a row is
-- counted by the triggers below, whose WHEN clauses leave the hot
-- transitions out.
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

CREATE TRIGGER delivery_counts_insert AFTER INSERT ON deliveries WHEN NEW.state != 'pending'
BEGIN
	INSERT INTO delivery_counts (edition_id, state, class, n) VALUES (NEW.edition_id, NEW.state,
		CASE WHEN NEW.state NOT IN ('deferred', 'failed') THEN '' WHEN NEW.code BETWEEN 400 AND 499 THEN '4xx' WHEN NEW.code >= 500 THEN '5xx' ELSE 'network' END, 1)
	ON CONFLICT DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER delivery_counts_update AFTER UPDATE OF state, code ON deliveries
WHEN NOT (OLD.state = 'pending' AND NEW.state = 'sending')
 AND NOT (OLD.state = 'sending' AND NEW.state = 'sent')
 AND (OLD.state != NEW.state OR (NEW.state IN ('deferred', 'failed') AND OLD.code != NEW.code))
BEGIN
	UPDATE delivery_counts SET n = n - 1 WHERE edition_id = OLD.edition_id AND state = OLD.state
		AND class = CASE WHEN OLD.state NOT IN ('deferred', 'failed') THEN '' WHEN OLD.code BETWEEN 400 AND 499 THEN '4xx' WHEN OLD.code >= 500 THEN '5xx' ELSE 'network' END;
	INSERT INTO delivery_counts (edition_id, state, class, n) VALUES (NEW.edition_id, NEW.state,
		CASE WHEN NEW.state NOT IN ('deferred', 'failed') THEN '' WHEN NEW.code BETWEEN 400 AND 499 THEN '4xx' WHEN NEW.code >= 500 THEN '5xx' ELSE 'network' END, 1)
	ON CONFLICT DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER delivery_counts_delete AFTER DELETE ON deliveries
BEGIN
	UPDATE delivery_counts SET n = n - 1 WHERE edition_id = OLD.edition_id AND state = OLD.state
		AND class = CASE WHEN OLD.state NOT IN ('deferred', 'failed') THEN '' WHEN OLD.code BETWEEN 400 AND 499 THEN '4xx' WHEN OLD.code >= 500 THEN '5xx' ELSE 'network' END;
END;

-- The archive lists sent editions newest first.
CREATE INDEX editions_status ON editions(status, id);
