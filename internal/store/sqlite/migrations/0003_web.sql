-- Version 2: web sessions, the sign-in log and runtime server settings.
CREATE TABLE web_sessions (
	id_hash    TEXT PRIMARY KEY,
	account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	created_at INTEGER NOT NULL,
	last_seen  INTEGER NOT NULL,
	remote_ip  TEXT NOT NULL DEFAULT '',
	user_agent TEXT NOT NULL DEFAULT ''
);
CREATE INDEX web_sessions_account ON web_sessions(account_id);

CREATE TABLE signins (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	account_id   INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	at           INTEGER NOT NULL,
	protocol     TEXT NOT NULL,
	remote_ip    TEXT NOT NULL DEFAULT '',
	tls          INTEGER NOT NULL DEFAULT 0,
	reason       TEXT NOT NULL DEFAULT '',
	app_password TEXT NOT NULL DEFAULT ''
);
CREATE INDEX signins_account ON signins(account_id, id);

CREATE TABLE server_settings (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
