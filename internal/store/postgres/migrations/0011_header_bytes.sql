-- Whether a message's headers have 8-bit bytes (RFC 6532 UTF-8 headers),
-- from the parse at delivery: 0 unknown, 1 7-bit, 2 8-bit
-- (mimeparse.HeaderBytes). Sessions without UTF-8 (IMAP without
-- UTF8=ACCEPT, POP3 without UTF8) downgrade such messages and must know
-- their sizes; with this column they need not read the structure of every
-- 7-bit message. Existing rows stay unknown: their cached structure decides.
ALTER TABLE messages ADD COLUMN header_bytes smallint NOT NULL DEFAULT 0;
