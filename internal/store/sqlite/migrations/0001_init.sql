-- Version 1: the whole first schema.
CREATE TABLE domains (
	name       TEXT PRIMARY KEY,
	catch_all  TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL
);

CREATE TABLE accounts (
	id             INTEGER PRIMARY KEY AUTOINCREMENT,
	address        TEXT NOT NULL UNIQUE,
	domain         TEXT NOT NULL REFERENCES domains(name),
	password_hash  TEXT NOT NULL,
	quota_bytes    INTEGER NOT NULL DEFAULT 0,
	quota_messages INTEGER NOT NULL DEFAULT 0,
	used_bytes     INTEGER NOT NULL DEFAULT 0,
	used_messages  INTEGER NOT NULL DEFAULT 0,
	disabled       INTEGER NOT NULL DEFAULT 0,
	admin          INTEGER NOT NULL DEFAULT 0,
	settings       TEXT NOT NULL DEFAULT '{}',
	created_at     INTEGER NOT NULL
);
CREATE INDEX accounts_domain ON accounts(domain);

CREATE TABLE aliases (
	address    TEXT NOT NULL,
	domain     TEXT NOT NULL REFERENCES domains(name),
	account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	PRIMARY KEY (address, account_id)
);
CREATE INDEX aliases_account ON aliases(account_id);

CREATE TABLE app_passwords (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	name       TEXT NOT NULL,
	hash       TEXT NOT NULL,
	protocols  TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	last_used  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX app_passwords_account ON app_passwords(account_id);

CREATE TABLE folders (
	id             INTEGER PRIMARY KEY AUTOINCREMENT,
	account_id     INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	name           TEXT NOT NULL,
	role           TEXT NOT NULL DEFAULT '',
	uid_validity   INTEGER NOT NULL,
	uid_next       INTEGER NOT NULL DEFAULT 1,
	highest_modseq INTEGER NOT NULL DEFAULT 1,
	subscribed     INTEGER NOT NULL DEFAULT 1,
	UNIQUE (account_id, name)
);

-- A body is the stored bytes of a message with the structure parsed at
-- delivery: small bodies inline in data, large ones in a file under blobs/
-- named by blob. Copies of a message share one body.
CREATE TABLE bodies (
	id        INTEGER PRIMARY KEY AUTOINCREMENT,
	blob      TEXT NOT NULL DEFAULT '',
	data      BLOB,
	size      INTEGER NOT NULL,
	structure BLOB NOT NULL
);

CREATE TABLE messages (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	account_id    INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	folder_id     INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
	uid           INTEGER NOT NULL,
	modseq        INTEGER NOT NULL,
	flags         TEXT NOT NULL DEFAULT '',
	seen          INTEGER NOT NULL DEFAULT 0,
	deleted       INTEGER NOT NULL DEFAULT 0,
	internal_date INTEGER NOT NULL,
	size          INTEGER NOT NULL,
	body_id       INTEGER NOT NULL REFERENCES bodies(id),
	pop3_hidden   INTEGER NOT NULL DEFAULT 0,
	UNIQUE (folder_id, uid)
);
CREATE INDEX messages_folder_modseq ON messages(folder_id, modseq);
CREATE INDEX messages_body ON messages(body_id);
CREATE INDEX messages_account ON messages(account_id);

-- Expunged UIDs with the mod-sequence of their removal (QRESYNC, and
-- telling other sessions what vanished).
CREATE TABLE expunged (
	folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
	uid       INTEGER NOT NULL,
	modseq    INTEGER NOT NULL,
	PRIMARY KEY (folder_id, uid)
) WITHOUT ROWID;
CREATE INDEX expunged_modseq ON expunged(folder_id, modseq);

-- Substring index: lowercased header and body text of each body (rowid =
-- bodies.id). Trigram tokenizer, so LIKE '%x%' uses the index for x of 3
-- or more characters.
CREATE VIRTUAL TABLE search USING fts5(headers, body, tokenize = 'trigram', detail = 'none');
