-- The claim window of a send in progress: the deliveries of an edition
-- with a subscriber ID in (claimed_from, claimed_upto] that are still
-- 'pending' have been claimed by the running send (their messages may be on
-- the wire). A claim moves the window's upper end, one write a few hundred
-- rows, instead of marking each row 'sending'; the send empties the window
-- (claimed_from = claimed_upto) once every outcome is recorded, and a
-- restart after a crash settles what is left in it.
ALTER TABLE editions ADD COLUMN claimed_from INTEGER NOT NULL DEFAULT 0;
ALTER TABLE editions ADD COLUMN claimed_upto INTEGER NOT NULL DEFAULT 0;
