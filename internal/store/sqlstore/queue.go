package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// queueColumns are read by scanQueued.
const queueColumns = "id, next_attempt, lease_owner, lease_until, attempts, envelope"

// scanQueued reads a queue row: the JSON envelope with the columns laid
// over it.
func scanQueued(r Row) (store.QueueEnvelope, error) {
	var env store.QueueEnvelope
	var id, owner, raw string
	var next, until time.Time
	var attempts int
	if err := r.Scan(&id, ScanMicros(&next), &owner, ScanMicros(&until), &attempts, &raw); err != nil {
		return env, err
	}
	if err := json.Unmarshal([]byte(raw), &env); err != nil {
		return env, fmt.Errorf("queued message %s: bad envelope: %w", id, err)
	}
	env.ID, env.NextAttempt, env.LeaseOwner, env.LeaseUntil, env.Attempts = id, next, owner, until, attempts
	return env, nil
}

// NewQueued readies the envelope of a message to enqueue: a new id when it
// has none (a given one must be valid), the creation and first attempt
// now when unset. It returns the envelope and its JSON for InsertQueued.
func NewQueued(env store.QueueEnvelope) (store.QueueEnvelope, []byte, error) {
	now := time.Now().UTC()
	if env.ID == "" {
		env.ID = store.NewQueueID(now)
	} else if !store.ValidQueueID(env.ID) {
		return env, nil, fmt.Errorf("enqueue %q: bad id: %w", env.ID, store.ErrInvalid)
	}
	if env.Created.IsZero() {
		env.Created = now
	}
	if env.NextAttempt.IsZero() {
		env.NextAttempt = now
	}
	raw, err := json.Marshal(env)
	if err != nil {
		return env, nil, fmt.Errorf("enqueue: %w", err)
	}
	return env, raw, nil
}

// InsertQueued adds a queue row in tx for env (raw is its JSON, from
// NewQueued), whose body backend b stored already: blob names it outside
// the row ("" when data holds it inline). A taken id is store.ErrExists.
// After the commit it wakes the delivery engines (Backend.QueueChanged).
// The backends' EnqueueMessage call it: storing the body is theirs.
func InsertQueued(b Backend, tx Tx, env store.QueueEnvelope, raw []byte, blob string, data []byte, size int64) error {
	_, err := tx.Exec(`INSERT INTO queue (id, next_attempt, lease_owner, lease_until, attempts, envelope, blob, data, size)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		env.ID, b.Micros(env.NextAttempt), env.LeaseOwner, b.NullMicros(env.LeaseUntil), env.Attempts, string(raw), blob, data, size)
	if err != nil {
		if b.IsUnique(err) {
			return fmt.Errorf("queued message %s: %w", env.ID, store.ErrExists)
		}
		return err
	}
	tx.AfterCommit(b.QueueChanged)
	return nil
}

// QueuedMessages implements store.QueueStore.
func (q *Queries) QueuedMessages(ctx context.Context) ([]store.QueueEnvelope, error) {
	r, err := q.b.Read()
	if err != nil {
		return nil, err
	}
	rows, err := r.Query(ctx, "SELECT "+queueColumns+" FROM queue ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("list queue: %w", err)
	}
	defer rows.Close()
	var out []store.QueueEnvelope
	for rows.Next() {
		env, err := scanQueued(rows)
		if err != nil {
			return nil, fmt.Errorf("list queue: %w", err)
		}
		out = append(out, env)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list queue: %w", err)
	}
	return out, nil
}

// UpdateQueued implements store.QueueStore.
func (q *Queries) UpdateQueued(ctx context.Context, env store.QueueEnvelope) error {
	raw, err := json.Marshal(env)
	if err != nil {
		return fmt.Errorf("update queued message %s: %w", env.ID, err)
	}
	err = q.b.Update(ctx, func(tx Tx) error {
		n, err := tx.Exec(`UPDATE queue SET next_attempt = $2, lease_owner = $3, lease_until = $4, attempts = $5, envelope = $6 WHERE id = $1`,
			env.ID, q.d.Micros(env.NextAttempt), env.LeaseOwner, q.d.NullMicros(env.LeaseUntil), env.Attempts, string(raw))
		if err != nil {
			return err
		}
		if n == 0 {
			return store.ErrNotFound
		}
		if store.QueueWakeupDue(env, time.Now()) {
			tx.AfterCommit(q.b.QueueChanged)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("update queued message %s: %w", env.ID, err)
	}
	return nil
}

// RemoveQueued implements store.QueueStore. The body outside the row, if
// any, is removed after the commit (Backend.RemoveBody).
func (q *Queries) RemoveQueued(ctx context.Context, id string) error {
	err := q.b.Update(ctx, func(tx Tx) error {
		var blob string
		if err := tx.QueryRow("DELETE FROM queue WHERE id = $1 RETURNING blob", id).Scan(&blob); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return store.ErrNotFound
			}
			return err
		}
		if blob != "" {
			tx.AfterCommit(func() { q.b.RemoveBody(context.WithoutCancel(ctx), blob) })
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("remove queued message %s: %w", id, err)
	}
	return nil
}

// claimSQL is ClaimQueued's statement, ending with the dialect's clause
// that makes concurrent claimers pass over each other's rows.
func claimSQL(d Dialect) string {
	return `UPDATE queue SET lease_owner = $3, lease_until = $5, attempts = attempts + 1
		WHERE id IN (SELECT id FROM queue
			WHERE next_attempt <= $1 AND (lease_owner = '' OR lease_until IS NULL OR lease_until <= $1
				OR ($2 <> '' AND substr(lease_owner, 1, length($2)) = $2 AND lease_owner <> $3))
			ORDER BY next_attempt, id LIMIT $4` + d.SkipLocked() + `)
		RETURNING ` + queueColumns
}

// ClaimQueued implements store.QueueStore with one UPDATE … RETURNING: on
// PostgreSQL its FOR UPDATE SKIP LOCKED lets concurrent claimers on any
// node pass over each other's rows, and the lock's re-check of the
// condition keeps a row just claimed (and committed) by another from being
// claimed again; SQLite's single writer makes it atomic.
func (q *Queries) ClaimQueued(ctx context.Context, c store.QueueClaim) ([]store.QueueEnvelope, time.Time, error) {
	if c.Limit <= 0 {
		return nil, time.Time{}, nil
	}
	var claimed []store.QueueEnvelope
	var next time.Time
	err := q.b.Update(ctx, func(tx Tx) error {
		claimed, next = nil, time.Time{}
		now := time.Now().UTC()
		rows, err := tx.Query(q.claimSQL, q.d.Micros(now), c.StalePrefix, c.Owner, c.Limit, q.d.Micros(now.Add(c.Lease)))
		if err != nil {
			return err
		}
		for rows.Next() {
			env, err := scanQueued(rows)
			if err != nil {
				rows.Close()
				return err
			}
			claimed = append(claimed, env)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		// RETURNING keeps no order.
		sort.Slice(claimed, func(i, j int) bool {
			a, b := claimed[i], claimed[j]
			if !a.NextAttempt.Equal(b.NextAttempt) {
				return a.NextAttempt.Before(b.NextAttempt)
			}
			return a.ID < b.ID
		})
		return tx.QueryRow(`SELECT min(CASE WHEN lease_owner <> '' AND lease_until > next_attempt THEN lease_until ELSE next_attempt END)
			FROM queue`).Scan(ScanMicros(&next))
	})
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("claim queued messages: %w", err)
	}
	return claimed, next, nil
}

// AddCount implements store.CounterStore.
func (q *Queries) AddCount(ctx context.Context, key string, n int64, at time.Time, bucket, window time.Duration) (int64, error) {
	first, current := store.CounterBuckets(at, bucket, window)
	var total int64
	err := q.b.Update(ctx, func(tx Tx) error {
		if _, err := tx.Exec(`INSERT INTO counters (key, bucket, n) VALUES ($1, $2, $3)
			ON CONFLICT (key, bucket) DO UPDATE SET n = counters.n + excluded.n`, key, current, n); err != nil {
			return err
		}
		if _, err := tx.Exec("DELETE FROM counters WHERE key = $1 AND bucket < $2", key, first); err != nil {
			return err
		}
		if rand.IntN(256) == 0 {
			if _, err := tx.Exec("DELETE FROM counters WHERE bucket < $1", at.Add(-store.CounterOldest).Unix()); err != nil {
				return err
			}
		}
		return tx.QueryRow(countSQL, key, first).Scan(&total)
	})
	if err != nil {
		return 0, fmt.Errorf("count %s: %w", key, err)
	}
	return total, nil
}

// countSQL sums a key's counters from a bucket on (PostgreSQL's sum of
// bigint is numeric, hence the cast).
const countSQL = "SELECT CAST(coalesce(sum(n), 0) AS bigint) FROM counters WHERE key = $1 AND bucket >= $2"

// Count implements store.CounterStore.
func (q *Queries) Count(ctx context.Context, key string, at time.Time, bucket, window time.Duration) (int64, error) {
	r, err := q.b.Read()
	if err != nil {
		return 0, err
	}
	first, _ := store.CounterBuckets(at, bucket, window)
	var total int64
	if err := r.QueryRow(ctx, countSQL, key, first).Scan(&total); err != nil {
		return 0, fmt.Errorf("count %s: %w", key, err)
	}
	return total, nil
}

// ResetCount implements store.CounterStore.
func (q *Queries) ResetCount(ctx context.Context, key string) error {
	err := q.b.Update(ctx, func(tx Tx) error {
		_, err := tx.Exec("DELETE FROM counters WHERE key = $1", key)
		return err
	})
	if err != nil {
		return fmt.Errorf("reset count %s: %w", key, err)
	}
	return nil
}
