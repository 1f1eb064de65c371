-- A paused source is kept (with its rules, priority and articles) but not
-- fetched until it is resumed.
ALTER TABLE sources ADD COLUMN paused INTEGER NOT NULL DEFAULT 0;
