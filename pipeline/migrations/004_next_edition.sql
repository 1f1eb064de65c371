-- What an editor set for the next edition only (its subject), cleared when
-- that edition is made.
CREATE TABLE next_edition (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
