-- Sources: feeds the collector fetches. Times are Unix milliseconds, UTC.
CREATE TABLE sources (
	id                INTEGER PRIMARY KEY,
	url               TEXT NOT NULL UNIQUE,
	title             TEXT NOT NULL DEFAULT '',
	origin            TEXT NOT NULL DEFAULT 'cli',   -- cli | env
	etag              TEXT NOT NULL DEFAULT '',
	last_modified     TEXT NOT NULL DEFAULT '',
	last_fetched_at   INTEGER NOT NULL DEFAULT 0,
	last_status       TEXT NOT NULL DEFAULT '',      -- ok | not-modified | error
	last_error        TEXT NOT NULL DEFAULT '',
	last_new_items    INTEGER NOT NULL DEFAULT 0,
	retry_after_at    INTEGER NOT NULL DEFAULT 0,     -- the server asked us not to come back before (429/503 Retry-After)
	created_at        INTEGER NOT NULL
);

-- Articles: everything collected, from feeds, files or editors.
CREATE TABLE articles (
	id            INTEGER PRIMARY KEY,
	source_id     INTEGER REFERENCES sources(id) ON DELETE SET NULL,
	origin        TEXT NOT NULL,                 -- feed | file | editor
	source_name   TEXT NOT NULL DEFAULT '',
	guid          TEXT,                          -- NULL when the source gives none
	url           TEXT NOT NULL DEFAULT '',
	url_key       TEXT,                          -- canonical URL, NULL when no URL
	content_hash  TEXT NOT NULL,
	file_path     TEXT,                          -- article files: path relative to the folder
	file_hash     TEXT,
	title         TEXT NOT NULL,
	author        TEXT NOT NULL DEFAULT '',
	summary       TEXT NOT NULL DEFAULT '',
	image_url     TEXT NOT NULL DEFAULT '',      -- lead image: media:content/thumbnail, enclosure or the first content image
	html          TEXT NOT NULL DEFAULT '',
	text          TEXT NOT NULL DEFAULT '',
	published_at  INTEGER NOT NULL,
	collected_at  INTEGER NOT NULL,
	pinned        INTEGER NOT NULL DEFAULT 0,
	excluded      INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX articles_guid ON articles(guid) WHERE guid IS NOT NULL;
CREATE UNIQUE INDEX articles_url_key ON articles(url_key) WHERE url_key IS NOT NULL;
CREATE UNIQUE INDEX articles_content_hash ON articles(content_hash);
CREATE UNIQUE INDEX articles_file_path ON articles(file_path) WHERE file_path IS NOT NULL;
CREATE INDEX articles_collected_at ON articles(collected_at);

-- Editions: one daily brief. status: sending | paused | sent | cancelled.
CREATE TABLE editions (
	id              INTEGER PRIMARY KEY,
	subject         TEXT NOT NULL,
	status          TEXT NOT NULL CHECK (status IN ('sending', 'paused', 'sent', 'cancelled')),
	audience_done   INTEGER NOT NULL DEFAULT 0,   -- 1 once every recipient has a delivery row
	created_at      INTEGER NOT NULL,
	finished_at     INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE edition_articles (
	edition_id  INTEGER NOT NULL REFERENCES editions(id) ON DELETE CASCADE,
	article_id  INTEGER NOT NULL REFERENCES articles(id),
	position    INTEGER NOT NULL,
	PRIMARY KEY (edition_id, article_id)
);
CREATE INDEX edition_articles_article ON edition_articles(article_id);

-- Deliveries: the ledger, one row per (edition, subscriber).
-- state: pending | sending | sent | deferred | failed | skipped | unknown
CREATE TABLE deliveries (
	edition_id       INTEGER NOT NULL REFERENCES editions(id) ON DELETE CASCADE,
	subscriber_id    INTEGER NOT NULL,
	email            TEXT NOT NULL,
	name             TEXT NOT NULL DEFAULT '',
	state            TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'deferred', 'failed', 'skipped', 'unknown')),
	attempts         INTEGER NOT NULL DEFAULT 0,
	next_attempt_at  INTEGER NOT NULL DEFAULT 0,
	code             INTEGER NOT NULL DEFAULT 0,
	detail           TEXT NOT NULL DEFAULT '',
	first_attempt_at INTEGER NOT NULL DEFAULT 0,
	updated_at       INTEGER NOT NULL,
	PRIMARY KEY (edition_id, subscriber_id)
);
CREATE INDEX deliveries_state ON deliveries(edition_id, state, next_attempt_at);

-- Leases: one sender per database.
CREATE TABLE leases (
	name        TEXT PRIMARY KEY,
	holder      TEXT NOT NULL,
	expires_at  INTEGER NOT NULL
);
