-- Subscriber IDs are never reused: the signed links in every message name
-- a subscriber by ID, so an ID given again after a removal or an erasure
-- would let a forgotten person's old confirm or unsubscribe link act on
-- someone else. AUTOINCREMENT keeps the highest ID ever used. (SQLite
-- needs the table rebuilt for it; its index comes back, and the triggers
-- that keep subscriber_counts (002) current are made here.)
CREATE TABLE subscribers_new (
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
	email           TEXT NOT NULL,
	email_key       TEXT NOT NULL UNIQUE,
	name            TEXT NOT NULL DEFAULT '',
	status          TEXT NOT NULL CHECK (status IN ('pending', 'active', 'unsubscribed', 'bounced', 'complained')),
	consent         TEXT NOT NULL DEFAULT '',
	via             TEXT NOT NULL DEFAULT '',
	created_at      INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL,
	unsubscribed_at INTEGER NOT NULL DEFAULT 0,
	attributes      TEXT NOT NULL DEFAULT '{}',
	consent_at      INTEGER NOT NULL DEFAULT 0,
	consent_ip      TEXT NOT NULL DEFAULT '',
	consent_ua      TEXT NOT NULL DEFAULT '',
	confirm_sent_at INTEGER NOT NULL DEFAULT 0,
	bounces         INTEGER NOT NULL DEFAULT 0,
	bounced_at      INTEGER NOT NULL DEFAULT 0,
	last_bounce     TEXT NOT NULL DEFAULT ''
);
INSERT INTO subscribers_new (id, email, email_key, name, status, consent, via, created_at, updated_at, unsubscribed_at,
	attributes, consent_at, consent_ip, consent_ua, confirm_sent_at, bounces, bounced_at, last_bounce)
SELECT id, email, email_key, name, status, consent, via, created_at, updated_at, unsubscribed_at,
	attributes, consent_at, consent_ip, consent_ua, confirm_sent_at, bounces, bounced_at, last_bounce FROM subscribers;
DROP TABLE subscribers;
ALTER TABLE subscribers_new RENAME TO subscribers;
CREATE INDEX subscribers_status ON subscribers(status, id);

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
