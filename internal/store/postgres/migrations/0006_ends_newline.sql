-- Version 5: whether a message is empty or ends with a line feed, recorded
-- at delivery so that POP3 can count the CRLF its RETR adds to a message
-- without one without opening every body at login. Existing rows: computed
-- from the last byte of bodies kept in the database; bodies in the
-- external blob store are assumed to end with one (true, the common case:
-- POP3 then under-counts by two octets for such a message that does not).
ALTER TABLE messages ADD COLUMN ends_newline boolean NOT NULL DEFAULT true;
UPDATE messages m SET ends_newline = CASE
		WHEN b.blob <> '' THEN true
		WHEN b.data IS NULL OR length(b.data) = 0 THEN true
		ELSE get_byte(b.data, length(b.data) - 1) = 10
	END
	FROM bodies b WHERE b.id = m.body_id;
