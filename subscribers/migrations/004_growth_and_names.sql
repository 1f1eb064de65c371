-- What happened to the list each day (UTC): event is 'added' for a new
-- subscriber (pending or active), or the status a subscriber moved to
-- ('active' when a pending one confirmed, 'unsubscribed', 'bounced',
-- 'complained', 'pending' when someone unsubscribed asked again). Kept by
-- triggers, so the desk's growth table reads a month of rows whatever the
-- list's size.
CREATE TABLE subscriber_days (
	day   TEXT NOT NULL,      -- YYYY-MM-DD, UTC
	event TEXT NOT NULL,
	n     INTEGER NOT NULL,
	PRIMARY KEY (day, event)
) WITHOUT ROWID;

INSERT INTO subscriber_days (day, event, n)
	SELECT date(created_at / 1000, 'unixepoch'), 'added', COUNT(*) FROM subscribers GROUP BY 1;
INSERT INTO subscriber_days (day, event, n)
	SELECT date(consent_at / 1000, 'unixepoch'), 'active', COUNT(*) FROM subscribers
	WHERE via = 'form' AND consent_at > 0 GROUP BY 1
	ON CONFLICT DO UPDATE SET n = n + excluded.n;
INSERT INTO subscriber_days (day, event, n)
	SELECT date(unsubscribed_at / 1000, 'unixepoch'), 'unsubscribed', COUNT(*) FROM subscribers
	WHERE unsubscribed_at > 0 GROUP BY 1
	ON CONFLICT DO UPDATE SET n = n + excluded.n;
INSERT INTO subscriber_days (day, event, n)
	SELECT date(bounced_at / 1000, 'unixepoch'), 'bounced', COUNT(*) FROM subscribers
	WHERE status = 'bounced' AND bounced_at > 0 GROUP BY 1
	ON CONFLICT DO UPDATE SET n = n + excluded.n;

CREATE TRIGGER subscriber_days_insert AFTER INSERT ON subscribers
BEGIN
	INSERT INTO subscriber_days (day, event, n) VALUES (date(NEW.created_at / 1000, 'unixepoch'), 'added', 1)
		ON CONFLICT DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER subscriber_days_update AFTER UPDATE OF status ON subscribers WHEN OLD.status != NEW.status
BEGIN
	INSERT INTO subscriber_days (day, event, n) VALUES (date(NEW.updated_at / 1000, 'unixepoch'), NEW.status, 1)
		ON CONFLICT DO UPDATE SET n = n + 1;
END;

-- Search by a name's start (any ASCII letter case), through an index.
CREATE INDEX subscribers_name ON subscribers(lower(name), id) WHERE name != '';
