-- Version 2: per-domain case sensitivity of local parts (off by default:
-- local parts are compared case-insensitively and stored lowercase).
ALTER TABLE domains ADD COLUMN local_part_case_sensitive boolean NOT NULL DEFAULT false;
