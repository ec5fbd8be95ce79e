-- Version 5: whether a message is empty or ends with a line feed, recorded
-- at delivery so that POP3 can count the CRLF its RETR adds to a message
-- without one without opening every body at login. Existing rows: computed
-- from the last byte of inline bodies; bodies kept in files are assumed
-- to end with one (true, the common case: POP3 then under-counts by two
-- octets for such a message that does not).
ALTER TABLE messages ADD COLUMN ends_newline INTEGER NOT NULL DEFAULT 1;
UPDATE messages SET ends_newline = (
	SELECT CASE
		WHEN b.blob != '' THEN 1
		WHEN b.data IS NULL OR length(b.data) = 0 THEN 1
		WHEN substr(b.data, length(b.data), 1) = x'0a' THEN 1
		ELSE 0
	END
	FROM bodies b WHERE b.id = messages.body_id);
