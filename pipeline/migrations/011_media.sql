-- What a story carries besides text: the lead image's declared width (0
-- when unknown), so small images show at their own size instead of being
-- stretched, and a podcast episode's audio (its URL, MIME type and
-- duration in seconds), shown as a "Listen" link.
ALTER TABLE articles ADD COLUMN image_width INTEGER NOT NULL DEFAULT 0;
ALTER TABLE articles ADD COLUMN audio_url TEXT NOT NULL DEFAULT '';
ALTER TABLE articles ADD COLUMN audio_type TEXT NOT NULL DEFAULT '';
ALTER TABLE articles ADD COLUMN audio_seconds INTEGER NOT NULL DEFAULT 0;
