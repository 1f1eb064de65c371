-- One edition per scheduled slot: the scheduled time (Unix ms) an edition
-- was made for; NULL for editions sent by hand from the command line.
ALTER TABLE editions ADD COLUMN slot INTEGER;
CREATE UNIQUE INDEX editions_slot ON editions(slot) WHERE slot IS NOT NULL;

-- The daemon's last sign of life, to tell a slot missed while it was down.
CREATE TABLE daemon_state (
	key   TEXT PRIMARY KEY,
	value INTEGER NOT NULL
);
