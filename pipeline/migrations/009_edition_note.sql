-- The editor's note: a few lines shown at the top of an edition. The next
-- edition's is kept in next_edition (key 'note') until the edition is made,
-- then here with it, so a resumed send and the public page show it too.
ALTER TABLE editions ADD COLUMN note TEXT NOT NULL DEFAULT '';
