-- Version 2: IMAP's \Recent (RFC 3501). recent_uid is the lowest UID no
-- session has claimed as recent yet; messages from before this version are
-- not recent.
ALTER TABLE folders ADD COLUMN recent_uid bigint NOT NULL DEFAULT 1;
UPDATE folders SET recent_uid = uid_next;
