-- Curation: source priority and per-source boilerplate rules, article tags
-- and an editor's order for the next edition, "also reported by" groups.
ALTER TABLE sources ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;   -- higher first in an edition
ALTER TABLE sources ADD COLUMN last_items INTEGER NOT NULL DEFAULT 0; -- items in the feed at the last fetch

CREATE TABLE source_rules (
	id         INTEGER PRIMARY KEY,
	source_id  INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
	kind       TEXT NOT NULL CHECK (kind IN ('regex', 'selector')),
	pattern    TEXT NOT NULL,
	created_at INTEGER NOT NULL
);
CREATE INDEX source_rules_source ON source_rules(source_id);

ALTER TABLE articles ADD COLUMN tags TEXT NOT NULL DEFAULT '';  -- comma-separated, lower case
ALTER TABLE articles ADD COLUMN rank INTEGER;                   -- the editor's position in the next edition (articles move), NULL when unset

-- an article reported by several sources is sent once; the others are
-- recorded in the edition under it (also_of), so they are not sent later
ALTER TABLE edition_articles ADD COLUMN also_of INTEGER;
