-- Selection without scanning the backlog: an article is waiting while no
-- edition (cancelled ones aside) carries it, and carries its source's
-- priority, so the next edition's candidates come from one partial index
-- in the edition's own order (pinned, priority, newest), walked only as far
-- as a selection needs; the columns selection reads are in the index, so
-- no article body is read to choose among them.
ALTER TABLE articles ADD COLUMN waiting INTEGER NOT NULL DEFAULT 1;
ALTER TABLE articles ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;

UPDATE articles SET waiting = 0 WHERE id IN (SELECT ea.article_id FROM edition_articles ea
	JOIN editions e ON e.id = ea.edition_id WHERE e.status != 'cancelled');
UPDATE articles SET priority = COALESCE((SELECT priority FROM sources s WHERE s.id = articles.source_id), 0)
	WHERE source_id IS NOT NULL;

CREATE TRIGGER articles_priority_insert AFTER INSERT ON articles WHEN NEW.source_id IS NOT NULL
BEGIN
	UPDATE articles SET priority = COALESCE((SELECT priority FROM sources s WHERE s.id = NEW.source_id), 0) WHERE id = NEW.id;
END;

CREATE TRIGGER articles_priority_source AFTER UPDATE OF source_id ON articles
BEGIN
	UPDATE articles SET priority = COALESCE((SELECT priority FROM sources s WHERE s.id = NEW.source_id), 0) WHERE id = NEW.id;
END;

CREATE TRIGGER sources_priority AFTER UPDATE OF priority ON sources WHEN OLD.priority != NEW.priority
BEGIN
	UPDATE articles SET priority = NEW.priority WHERE source_id = NEW.id;
END;

CREATE INDEX articles_next ON articles (pinned DESC, priority DESC, published_at DESC, id DESC,
	collected_at, source_id, origin, source_name, title) WHERE waiting = 1 AND excluded = 0 AND rank IS NULL;
CREATE INDEX articles_placed ON articles (rank) WHERE rank IS NOT NULL;
CREATE INDEX articles_waiting_recent ON articles (collected_at) WHERE waiting = 1;
