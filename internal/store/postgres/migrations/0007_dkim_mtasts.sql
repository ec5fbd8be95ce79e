-- Version 7: DKIM keys move from files under each node's data_dir/dkim
-- into the store (private keys sealed with the server key), so that every
-- node signs with the same keys, and fetched MTA-STS policies are shared
-- by the nodes and survive restarts.
CREATE TABLE dkim_keys (
	domain      text COLLATE "C" NOT NULL,
	selector    text COLLATE "C" NOT NULL,
	algorithm   text NOT NULL,
	private_key text NOT NULL,
	created_at  timestamptz NOT NULL,
	active      boolean NOT NULL DEFAULT true,
	PRIMARY KEY (domain, selector)
);

CREATE TABLE mta_sts_policies (
	domain     text COLLATE "C" PRIMARY KEY,
	policy_id  text NOT NULL,
	policy     text NOT NULL,
	fetched_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL
);
