-- Articles an editor split out of an "also reported by" group of the next
-- edition: each stands on its own and is never grouped again. Few rows
-- (what editors split), read whole by each selection; an article's row
-- goes when an edition carries it.
CREATE TABLE apart (
	article_id INTEGER PRIMARY KEY REFERENCES articles(id) ON DELETE CASCADE
);
