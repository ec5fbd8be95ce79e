// Package migrate copies an embedded (SQLite) installation into a
// PostgreSQL database, row for row: every id is kept, so UIDVALIDITY, UIDs,
// mod-sequences, flags, POP3 unique ids (message ids), app passwords,
// aliases, folders, subscriptions and the outbound queue are the same
// afterwards. Message bodies kept as files are read into the database.
//
// The copy is one PostgreSQL transaction: it commits whole or not at all.
// The SQLite store must not change meanwhile (stop the server first).
package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pochta-mail/pochta/internal/store/postgres"
	"github.com/pochta-mail/pochta/internal/store/sqlite"
)

// Progress is told how far the copy of a table got.
type Progress func(table string, rows int64, done bool)

// table is one table to copy: the SQLite query and how each row becomes
// the PostgreSQL row.
type table struct {
	name    string
	query   string
	columns []string
	// convert turns the scanned SQLite values into PostgreSQL values.
	convert func(vals []any) ([]any, error)
}

// ErrNotEmpty reports a target database that holds data already.
var ErrNotEmpty = errors.New("the target database is not empty")

// ToPostgres copies the SQLite store in the data folder dir into the
// PostgreSQL database dsn, which must hold no pochta data (its schema is
// made if missing). progress, if not nil, is called as tables are copied.
func ToPostgres(ctx context.Context, dir, dsn string, progress Progress) error {
	if progress == nil {
		progress = func(string, int64, bool) {}
	}
	quiet := slog.New(slog.DiscardHandler)
	// Bring both schemas up to date first.
	src, err := sqlite.Open(ctx, sqlite.Options{Dir: dir, Logger: quiet})
	if err != nil {
		return fmt.Errorf("open the SQLite store: %w", err)
	}
	src.Close()
	dst, err := postgres.Open(ctx, postgres.Options{DSN: dsn, Logger: quiet})
	if err != nil {
		return fmt.Errorf("open the PostgreSQL store: %w", err)
	}
	dst.Close()

	q := url.Values{}
	q.Add("_pragma", "busy_timeout(15000)")
	q.Set("mode", "ro")
	dbPath := filepath.Join(dir, "pochta.db")
	db, err := sql.Open("sqlite", (&url.URL{Scheme: "file", OmitHost: true, Path: dbPath, RawQuery: q.Encode()}).String())
	if err != nil {
		return fmt.Errorf("open %s: %w", dbPath, err)
	}
	defer db.Close()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer conn.Close(context.Background())

	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		var n int64
		if err := tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM domains) + (SELECT count(*) FROM accounts)
			+ (SELECT count(*) FROM bodies) + (SELECT count(*) FROM queue) + (SELECT count(*) FROM dkim_keys)`).Scan(&n); err != nil {
			return fmt.Errorf("check the target database: %w", err)
		}
		if n > 0 {
			return ErrNotEmpty
		}
		// One snapshot of the SQLite database for the whole copy.
		stx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			return fmt.Errorf("read %s: %w", dbPath, err)
		}
		defer stx.Rollback()
		for _, t := range tables(dir) {
			if err := copyTable(ctx, stx, tx, t, progress); err != nil {
				return fmt.Errorf("copy %s: %w", t.name, err)
			}
		}
		// New rows continue after the copied ids.
		for _, t := range []string{"accounts", "app_passwords", "folders", "bodies", "messages", "signins"} {
			if _, err := tx.Exec(ctx, fmt.Sprintf(
				"SELECT setval(pg_get_serial_sequence('%s', 'id'), coalesce((SELECT max(id) FROM %s), 0) + 1, false)", t, t)); err != nil {
				return fmt.Errorf("continue the ids of %s: %w", t, err)
			}
		}
		return nil
	})
}

// copyTable streams one table with COPY.
func copyTable(ctx context.Context, src *sql.Tx, dst pgx.Tx, t table, progress Progress) error {
	rows, err := src.QueryContext(ctx, t.query)
	if err != nil {
		return err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	var n int64
	var convErr error
	source := pgx.CopyFromFunc(func() ([]any, error) {
		if !rows.Next() {
			return nil, rows.Err()
		}
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		out, err := t.convert(vals)
		if err != nil {
			convErr = err
			return nil, err
		}
		n++
		if n%1000 == 0 {
			progress(t.name, n, false)
		}
		return out, nil
	})
	if _, err := dst.CopyFrom(ctx, pgx.Identifier{t.name}, t.columns, source); err != nil {
		if convErr != nil {
			return convErr
		}
		return err
	}
	progress(t.name, n, true)
	return nil
}

// Value conversions from what the SQLite driver scans.

func i64(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case nil:
		return 0
	}
	return 0
}

func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	}
	return ""
}

func boolean(v any) bool { return i64(v) != 0 }

func bytesOf(v any) []byte {
	switch x := v.(type) {
	case []byte:
		return x
	case string:
		return []byte(x)
	}
	return nil
}

// secs is a Unix-seconds time; 0 is NULL.
func secs(v any) any {
	n := i64(v)
	if n == 0 {
		return nil
	}
	return time.Unix(n, 0).UTC()
}

// secsNotNull is a Unix-seconds time in a NOT NULL column.
func secsNotNull(v any) time.Time { return time.Unix(i64(v), 0).UTC() }

// micros is a Unix-microseconds time; 0 is NULL.
func micros(v any) any {
	n := i64(v)
	if n == 0 {
		return nil
	}
	return time.UnixMicro(n).UTC()
}

// searchText is the PostgreSQL store's form of search text: valid UTF-8
// without NUL.
func searchText(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", " ")
}

// tables lists the tables in an order that satisfies the foreign keys.
func tables(dir string) []table {
	blobDir := filepath.Join(dir, "blobs")
	return []table{
		{"domains", "SELECT name, catch_all, created_at, local_part_case_sensitive FROM domains",
			[]string{"name", "catch_all", "created_at", "local_part_case_sensitive"},
			func(v []any) ([]any, error) {
				return []any{str(v[0]), str(v[1]), secsNotNull(v[2]), boolean(v[3])}, nil
			}},
		{"accounts", `SELECT id, address, domain, password_hash, quota_bytes, quota_messages, used_bytes, used_messages,
			disabled, admin, settings, created_at FROM accounts`,
			[]string{"id", "address", "domain", "password_hash", "quota_bytes", "quota_messages", "used_bytes", "used_messages",
				"disabled", "admin", "settings", "created_at"},
			func(v []any) ([]any, error) {
				return []any{i64(v[0]), str(v[1]), str(v[2]), str(v[3]), i64(v[4]), i64(v[5]), i64(v[6]), i64(v[7]),
					boolean(v[8]), boolean(v[9]), str(v[10]), secsNotNull(v[11])}, nil
			}},
		{"aliases", "SELECT address, domain, account_id FROM aliases",
			[]string{"address", "domain", "account_id"},
			func(v []any) ([]any, error) { return []any{str(v[0]), str(v[1]), i64(v[2])}, nil }},
		{"app_passwords", "SELECT id, account_id, name, hash, protocols, created_at, last_used FROM app_passwords",
			[]string{"id", "account_id", "name", "hash", "protocols", "created_at", "last_used"},
			func(v []any) ([]any, error) {
				return []any{i64(v[0]), i64(v[1]), str(v[2]), str(v[3]), strings.Fields(str(v[4])), secsNotNull(v[5]), secs(v[6])}, nil
			}},
		{"folders", "SELECT id, account_id, name, role, uid_validity, uid_next, highest_modseq, recent_uid FROM folders",
			[]string{"id", "account_id", "name", "role", "uid_validity", "uid_next", "highest_modseq", "recent_uid"},
			func(v []any) ([]any, error) {
				return []any{i64(v[0]), i64(v[1]), str(v[2]), str(v[3]), i64(v[4]), i64(v[5]), i64(v[6]), i64(v[7])}, nil
			}},
		{"subscriptions", "SELECT account_id, name FROM subscriptions",
			[]string{"account_id", "name"},
			func(v []any) ([]any, error) { return []any{i64(v[0]), str(v[1])}, nil }},
		{"bodies", `SELECT b.id, b.blob, b.data, b.size, coalesce(s.structure, x'') FROM bodies b
			LEFT JOIN body_structures s ON s.body_id = b.id ORDER BY b.id`,
			[]string{"id", "blob", "data", "size", "structure"},
			func(v []any) ([]any, error) {
				data, err := bodyData(blobDir, str(v[1]), bytesOf(v[2]))
				if err != nil {
					return nil, fmt.Errorf("body %d: %w", i64(v[0]), err)
				}
				if int64(len(data)) != i64(v[3]) {
					return nil, fmt.Errorf("body %d: %d bytes, the database says %d", i64(v[0]), len(data), i64(v[3]))
				}
				return []any{i64(v[0]), "", data, i64(v[3]), bytesOf(v[4])}, nil
			}},
		{"search", "SELECT rowid, headers, body FROM search",
			[]string{"body_id", "headers", "body"},
			func(v []any) ([]any, error) {
				return []any{i64(v[0]), searchText(str(v[1])), searchText(str(v[2]))}, nil
			}},
		{"messages", `SELECT id, account_id, folder_id, uid, modseq, flags, seen, deleted, internal_date, size, body_id, pop3_hidden,
			ends_newline, internal_date_zone, header_bytes FROM messages ORDER BY id`,
			[]string{"id", "account_id", "folder_id", "uid", "modseq", "flags", "seen", "deleted", "internal_date", "size", "body_id", "pop3_hidden",
				"ends_newline", "internal_date_zone", "header_bytes"},
			func(v []any) ([]any, error) {
				return []any{i64(v[0]), i64(v[1]), i64(v[2]), i64(v[3]), i64(v[4]), strings.Fields(str(v[5])), boolean(v[6]), boolean(v[7]),
					secsNotNull(v[8]), i64(v[9]), i64(v[10]), boolean(v[11]), boolean(v[12]), int16(i64(v[13])), int16(i64(v[14]))}, nil
			}},
		{"expunged", "SELECT folder_id, uid, modseq FROM expunged",
			[]string{"folder_id", "uid", "modseq"},
			func(v []any) ([]any, error) { return []any{i64(v[0]), i64(v[1]), i64(v[2])}, nil }},
		{"queue", "SELECT id, next_attempt, lease_owner, lease_until, attempts, envelope, blob, data, size FROM queue",
			[]string{"id", "next_attempt", "lease_owner", "lease_until", "attempts", "envelope", "blob", "data", "size"},
			func(v []any) ([]any, error) {
				data, err := bodyData(blobDir, str(v[6]), bytesOf(v[7]))
				if err != nil {
					return nil, fmt.Errorf("queued message %s: %w", str(v[0]), err)
				}
				next := micros(v[1])
				if next == nil {
					next = time.Unix(0, 0).UTC()
				}
				// Leases of the old single process mean nothing now.
				return []any{str(v[0]), next, "", nil, i64(v[4]), str(v[5]), "", data, int64(len(data))}, nil
			}},
		{"web_sessions", "SELECT id_hash, account_id, created_at, last_seen, remote_ip, user_agent FROM web_sessions",
			[]string{"id_hash", "account_id", "created_at", "last_seen", "remote_ip", "user_agent"},
			func(v []any) ([]any, error) {
				return []any{str(v[0]), i64(v[1]), secsNotNull(v[2]), secsNotNull(v[3]), str(v[4]), str(v[5])}, nil
			}},
		{"signins", "SELECT id, account_id, at, protocol, remote_ip, tls, reason, app_password FROM signins ORDER BY id",
			[]string{"id", "account_id", "at", "protocol", "remote_ip", "tls", "reason", "app_password"},
			func(v []any) ([]any, error) {
				return []any{i64(v[0]), i64(v[1]), secsNotNull(v[2]), str(v[3]), str(v[4]), boolean(v[5]), str(v[6]), str(v[7])}, nil
			}},
		{"server_settings", "SELECT key, value FROM server_settings",
			[]string{"key", "value"},
			func(v []any) ([]any, error) { return []any{str(v[0]), str(v[1])}, nil }},
		{"counters", "SELECT key, bucket, n FROM counters",
			[]string{"key", "bucket", "n"},
			func(v []any) ([]any, error) { return []any{str(v[0]), i64(v[1]), i64(v[2])}, nil }},
		// DKIM private keys stay sealed with the server key (secret.key),
		// which the nodes share with the data folder's other secrets.
		{"dkim_keys", "SELECT domain, selector, algorithm, private_key, created_at, active FROM dkim_keys",
			[]string{"domain", "selector", "algorithm", "private_key", "created_at", "active"},
			func(v []any) ([]any, error) {
				return []any{str(v[0]), str(v[1]), str(v[2]), str(v[3]), secsNotNull(v[4]), boolean(v[5])}, nil
			}},
		{"mta_sts_policies", "SELECT domain, policy_id, policy, fetched_at, expires_at FROM mta_sts_policies",
			[]string{"domain", "policy_id", "policy", "fetched_at", "expires_at"},
			func(v []any) ([]any, error) {
				return []any{str(v[0]), str(v[1]), str(v[2]), secsNotNull(v[3]), secsNotNull(v[4])}, nil
			}},
	}
}

// bodyData returns a body's bytes: inline, or read from its blob file.
func bodyData(blobDir, key string, inline []byte) ([]byte, error) {
	if key == "" {
		if inline == nil {
			inline = []byte{}
		}
		return inline, nil
	}
	if strings.Contains(key, "..") || strings.HasPrefix(key, "/") {
		return nil, fmt.Errorf("bad blob name %q", key)
	}
	data, err := os.ReadFile(filepath.Join(blobDir, filepath.FromSlash(key)))
	if err != nil {
		return nil, fmt.Errorf("read blob: %w", err)
	}
	return data, nil
}
