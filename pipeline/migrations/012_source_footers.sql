-- Footers a source ends its articles with, learned from its feed: a
-- closing block (or a near-identical one) that ends many of its items.
-- key is the block's text folded (lower case, digits as #, white space
-- collapsed); every later item ending with it loses it too.
CREATE TABLE source_footers (
	source_id  INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
	key        TEXT NOT NULL,
	text       TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (source_id, key)
) WITHOUT ROWID;
