-- Version 2: the outbound queue and the throttling counters in the store.

-- One row per queued message. The envelope is JSON; the columns the
-- delivery engines select and claim by are kept beside it and win over
-- the JSON's copies. Times are Unix microseconds. The body is kept like a
-- message body: inline in data, or a file under blobs/ named by blob.
CREATE TABLE queue (
	id           TEXT PRIMARY KEY,
	next_attempt INTEGER NOT NULL,
	lease_owner  TEXT NOT NULL DEFAULT '',
	lease_until  INTEGER NOT NULL DEFAULT 0,
	attempts     INTEGER NOT NULL DEFAULT 0,
	envelope     TEXT NOT NULL,
	blob         TEXT NOT NULL DEFAULT '',
	data         BLOB,
	size         INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX queue_next_attempt ON queue(next_attempt);

-- Windowed counters (failed logins, messages sent): one row per key and
-- bucket, the bucket being its start in Unix seconds.
CREATE TABLE counters (
	key    TEXT NOT NULL,
	bucket INTEGER NOT NULL,
	n      INTEGER NOT NULL,
	PRIMARY KEY (key, bucket)
) WITHOUT ROWID;
CREATE INDEX counters_bucket ON counters(bucket);
