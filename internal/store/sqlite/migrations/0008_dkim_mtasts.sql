-- Version 8: DKIM keys move from files under data_dir/dkim into the store
-- (private keys sealed with the server key), and fetched MTA-STS policies
-- are kept so that a restart does not fetch them again.
CREATE TABLE dkim_keys (
	domain      TEXT NOT NULL,
	selector    TEXT NOT NULL,
	algorithm   TEXT NOT NULL,
	private_key TEXT NOT NULL,
	created_at  INTEGER NOT NULL,
	active      INTEGER NOT NULL DEFAULT 1,
	PRIMARY KEY (domain, selector)
);

CREATE TABLE mta_sts_policies (
	domain     TEXT PRIMARY KEY,
	policy_id  TEXT NOT NULL,
	policy     TEXT NOT NULL,
	fetched_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
);
