-- Subscribers. email keeps the address as given (domain lower-cased);
-- email_key is its lower-cased form, unique, so case never makes a duplicate.
-- Times are Unix milliseconds, UTC.
CREATE TABLE subscribers (
	id              INTEGER PRIMARY KEY,
	email           TEXT NOT NULL,
	email_key       TEXT NOT NULL UNIQUE,
	name            TEXT NOT NULL DEFAULT '',
	status          TEXT NOT NULL CHECK (status IN ('pending', 'active', 'unsubscribed', 'bounced', 'complained')),
	consent         TEXT NOT NULL DEFAULT '',   -- what they agreed to, or where the consent came from
	via             TEXT NOT NULL DEFAULT '',   -- cli | import | form | api
	created_at      INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL,
	unsubscribed_at INTEGER NOT NULL DEFAULT 0,
	attributes      TEXT NOT NULL DEFAULT '{}',   -- JSON object: extra columns of an import
	consent_at      INTEGER NOT NULL DEFAULT 0,   -- when they agreed (the confirmation, for double opt-in)
	consent_ip      TEXT NOT NULL DEFAULT '',
	consent_ua      TEXT NOT NULL DEFAULT '',
	confirm_sent_at INTEGER NOT NULL DEFAULT 0,   -- last confirmation mail, for the rate limit
	bounces         INTEGER NOT NULL DEFAULT 0,   -- soft bounces since the last delivery problem was cleared
	bounced_at      INTEGER NOT NULL DEFAULT 0,
	last_bounce     TEXT NOT NULL DEFAULT ''      -- code and text of the last bounce
);
CREATE INDEX subscribers_status ON subscribers(status, id);

-- Settings owned by this package (the generated token secret).
CREATE TABLE subscriber_settings (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);

-- Suppressions: addresses erased at the subscriber's request, kept only as
-- an HMAC so they can never be added or imported again.
CREATE TABLE suppressions (
	hash       TEXT PRIMARY KEY,
	reason     TEXT NOT NULL,
	created_at INTEGER NOT NULL
);
