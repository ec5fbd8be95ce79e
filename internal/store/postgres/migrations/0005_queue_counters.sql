-- Version 2: the outbound queue and the throttling counters, shared by
-- every node.

-- One row per queued message. The envelope is JSON; the columns the
-- delivery engines select and claim by (FOR UPDATE SKIP LOCKED) are kept
-- beside it and win over the JSON's copies. The body is in data (bytea),
-- or, when blob is not empty, in the external blob store under that key.
CREATE TABLE queue (
	id           text COLLATE "C" PRIMARY KEY,
	next_attempt timestamptz NOT NULL,
	lease_owner  text NOT NULL DEFAULT '',
	lease_until  timestamptz,
	attempts     integer NOT NULL DEFAULT 0,
	envelope     text NOT NULL,
	blob         text NOT NULL DEFAULT '',
	data         bytea,
	size         bigint NOT NULL
);
CREATE INDEX queue_next_attempt ON queue(next_attempt);

-- Windowed counters (failed logins, messages sent): one row per key and
-- bucket, the bucket being its start in Unix seconds.
CREATE TABLE counters (
	key    text COLLATE "C" NOT NULL,
	bucket bigint NOT NULL,
	n      bigint NOT NULL,
	PRIMARY KEY (key, bucket)
);
CREATE INDEX counters_bucket ON counters(bucket);
