-- Version 5: the MIME structure cached at delivery moves out of bodies
-- into a table of its own. In bodies it followed the inline message bytes,
-- so reading it walked the row's overflow pages: FETCH ENVELOPE over a
-- folder read every message kept in the database.
CREATE TABLE body_structures (
	body_id   INTEGER PRIMARY KEY REFERENCES bodies(id) ON DELETE CASCADE,
	structure BLOB NOT NULL
);
INSERT INTO body_structures (body_id, structure) SELECT id, structure FROM bodies;
ALTER TABLE bodies DROP COLUMN structure;
