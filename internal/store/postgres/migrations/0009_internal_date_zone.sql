-- The zone of an internal date, as minutes east of UTC, beside
-- the instant: IMAP prints INTERNALDATE in the zone APPEND gave (or the
-- server's at delivery) and SEARCH BEFORE/ON/SINCE compare the calendar
-- date there (RFC 9051 §6.4.4). Messages stored before keep UTC.
ALTER TABLE messages ADD COLUMN internal_date_zone smallint NOT NULL DEFAULT 0;
