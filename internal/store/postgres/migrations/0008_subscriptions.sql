-- Version 7: subscriptions (IMAP SUBSCRIBE, LSUB, LIST (SUBSCRIBED)) are
-- names of their own instead of a flag of folders: a name can be
-- subscribed without a folder, and a subscription outlives the deletion of
-- its folder and stays with the old name on a rename (RFC 3501 §6.3.6,
-- RFC 9051 §6.3.7). The folders subscribed so far keep their subscription.
CREATE TABLE subscriptions (
	account_id bigint NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	name       text NOT NULL,
	PRIMARY KEY (account_id, name)
);
INSERT INTO subscriptions (account_id, name) SELECT account_id, name FROM folders WHERE subscribed;
ALTER TABLE folders DROP COLUMN subscribed;
