-- What came back about each message, and what it did: bounces (hard,
-- soft), complaints and unsubscribes, with the edition they were about (0
-- when unknown) and how they came (smtp, imap, file, api, a provider's
-- webhook, link, mailto). `key` identifies a returned message or a
-- provider's event, so that one read twice counts once. Erasing a
-- subscriber deletes their rows; the per-edition counts stay.
CREATE TABLE feedback (
	id            INTEGER PRIMARY KEY,
	at            INTEGER NOT NULL,
	edition_id    INTEGER NOT NULL DEFAULT 0,
	subscriber_id INTEGER NOT NULL,
	kind          TEXT NOT NULL CHECK (kind IN ('hard', 'soft', 'complaint', 'unsubscribe')),
	source        TEXT NOT NULL,
	detail        TEXT NOT NULL DEFAULT '',
	key           TEXT
);
CREATE UNIQUE INDEX feedback_key ON feedback(key, subscriber_id) WHERE key IS NOT NULL;
CREATE INDEX feedback_subscriber ON feedback(subscriber_id);

-- Per edition and kind, kept by a trigger: the desk, `editions show` and
-- /metrics read a few rows whatever the list's size.
CREATE TABLE feedback_counts (
	edition_id INTEGER NOT NULL,
	kind       TEXT NOT NULL,
	n          INTEGER NOT NULL,
	PRIMARY KEY (edition_id, kind)
) WITHOUT ROWID;

CREATE TRIGGER feedback_count AFTER INSERT ON feedback
BEGIN
	INSERT INTO feedback_counts (edition_id, kind, n) VALUES (NEW.edition_id, NEW.kind, 1)
		ON CONFLICT DO UPDATE SET n = n + 1;
END;
