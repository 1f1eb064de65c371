-- Scheduled slots an editor skipped: no edition is made for them (the
-- articles wait for the next slot); undone by deleting the row.
CREATE TABLE skipped_slots (
	slot       INTEGER PRIMARY KEY, -- Unix ms of the scheduled time
	created_at INTEGER NOT NULL
);
