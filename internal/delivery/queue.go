package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pochta-mail/pochta/internal/mimeparse"
	"github.com/pochta-mail/pochta/internal/store"
)

// QueueEnvelope is the envelope of a queued message (kept in the store,
// see store.QueueEnvelope).
type QueueEnvelope = store.QueueEnvelope

// QueueClaim is one Claim request (see store.QueueClaim).
type QueueClaim = store.QueueClaim

// DSN are the delivery status notification requests of a message (see
// store.DSN).
type DSN = store.DSN

// RcptDSN are the DSN parameters of one recipient (see store.RcptDSN).
type RcptDSN = store.RcptDSN

// Queue is the durable outbound queue. Enqueue is all the SMTP server
// needs; the rest is for the delivery engine and the admin commands.
//
// The server's queue is StoreQueue, so that a shared store backend gives
// every node the same queue; DirQueue is the older queue in a folder,
// read on start to move its messages into the store (MigrateDirQueue).
type Queue interface {
	// Enqueue stores a message durably: when it returns nil, the
	// envelope and body are on stable storage. The body's line endings
	// are normalised to CRLF.
	Enqueue(ctx context.Context, env QueueEnvelope, body io.Reader) (string, error)
	// List returns the envelopes of every queued message, oldest first.
	List(ctx context.Context) ([]QueueEnvelope, error)
	// Open opens the body of a queued message.
	Open(ctx context.Context, id string) (io.ReadCloser, error)
	// Update replaces the envelope of a queued message (attempts, next
	// attempt, remaining recipients), durably.
	Update(ctx context.Context, env QueueEnvelope) error
	// Remove deletes a queued message.
	Remove(ctx context.Context, id string) error
	// Claim atomically leases due messages to one delivery engine so
	// that engines sharing the queue never attempt a message at once
	// (see store.QueueStore.ClaimQueued).
	Claim(ctx context.Context, c QueueClaim) (claimed []QueueEnvelope, next time.Time, err error)
}

// StoreQueue is the Queue kept in the store.
type StoreQueue struct {
	Store store.QueueStore
}

// Enqueue implements Queue.
func (q StoreQueue) Enqueue(ctx context.Context, env QueueEnvelope, body io.Reader) (string, error) {
	return q.Store.EnqueueMessage(ctx, env, body)
}

// List implements Queue.
func (q StoreQueue) List(ctx context.Context) ([]QueueEnvelope, error) {
	return q.Store.QueuedMessages(ctx)
}

// Open implements Queue.
func (q StoreQueue) Open(ctx context.Context, id string) (io.ReadCloser, error) {
	return q.Store.OpenQueued(ctx, id)
}

// Update implements Queue.
func (q StoreQueue) Update(ctx context.Context, env QueueEnvelope) error {
	return q.Store.UpdateQueued(ctx, env)
}

// Remove implements Queue.
func (q StoreQueue) Remove(ctx context.Context, id string) error {
	return q.Store.RemoveQueued(ctx, id)
}

// Claim implements Queue.
func (q StoreQueue) Claim(ctx context.Context, c QueueClaim) ([]QueueEnvelope, time.Time, error) {
	return q.Store.ClaimQueued(ctx, c)
}

// Wakeups implements QueueWaker with the store's QueueWakeups.
func (q StoreQueue) Wakeups(ctx context.Context) <-chan struct{} {
	return q.Store.QueueWakeups(ctx)
}

// QueueWaker is a Queue that tells its delivery engine of work queued by
// other processes (see store.QueueStore.QueueWakeups).
type QueueWaker interface {
	// Wakeups returns a channel that receives a value soon after any
	// process queues a message or makes one due now, until ctx ends; nil
	// when the queue cannot tell (the engine then polls).
	Wakeups(ctx context.Context) <-chan struct{}
}

// MigrateDirQueue moves every message of an old queue folder (data_dir/queue
// of earlier versions) into the store, keeping ids, envelopes and bodies,
// and removes each from the folder once the store has it. A message found
// in the store already (an earlier run stopped half way) is only removed
// from the folder. It returns how many messages were moved; a missing
// folder moves none.
func MigrateDirQueue(ctx context.Context, dir string, st store.QueueStore) (int, error) {
	if _, err := os.Stat(filepath.Join(dir, "msg")); errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	old, err := OpenDirQueue(dir)
	if err != nil {
		return 0, fmt.Errorf("migrate queue folder: %w", err)
	}
	envs, err := old.List(ctx)
	if err != nil {
		return 0, fmt.Errorf("migrate queue folder: %w", err)
	}
	moved := 0
	for _, env := range envs {
		body, err := old.Open(ctx, env.ID)
		if err != nil {
			return moved, fmt.Errorf("migrate queue folder: %w", err)
		}
		// The leases of the old single-node engine mean nothing now.
		env.LeaseOwner, env.LeaseUntil = "", time.Time{}
		_, err = st.EnqueueMessage(ctx, env, body)
		body.Close()
		if err != nil && !errors.Is(err, store.ErrExists) {
			return moved, fmt.Errorf("migrate queued message %s: %w", env.ID, err)
		}
		if err := old.Remove(ctx, env.ID); err != nil {
			return moved, fmt.Errorf("migrate queue folder: %w", err)
		}
		moved++
	}
	return moved, nil
}

// DirQueue is a Queue in a directory: each message is a body file
// <id>.eml and an envelope file <id>.json in Dir/msg; files are written in
// Dir/tmp, synced, and renamed in, body first, so an envelope file exists
// only for a complete message. It is safe for concurrent use by one
// process.
type DirQueue struct {
	dir string
	// claimMu makes Claim atomic within the process.
	claimMu sync.Mutex
}

// OpenDirQueue opens (and makes) a queue in dir, usually data_dir/queue.
// Leftovers of interrupted writes are removed.
func OpenDirQueue(dir string) (*DirQueue, error) {
	q := &DirQueue{dir: dir}
	for _, d := range []string{q.tmpDir(), q.msgDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("open queue: %w", err)
		}
	}
	tmps, err := os.ReadDir(q.tmpDir())
	if err != nil {
		return nil, fmt.Errorf("open queue: %w", err)
	}
	for _, e := range tmps {
		os.Remove(filepath.Join(q.tmpDir(), e.Name()))
	}
	// A body without envelope is an interrupted Enqueue or Remove.
	msgs, err := os.ReadDir(q.msgDir())
	if err != nil {
		return nil, fmt.Errorf("open queue: %w", err)
	}
	have := map[string]bool{}
	for _, e := range msgs {
		if id, ok := strings.CutSuffix(e.Name(), ".json"); ok {
			have[id] = true
		}
	}
	for _, e := range msgs {
		if id, ok := strings.CutSuffix(e.Name(), ".eml"); ok && !have[id] {
			os.Remove(filepath.Join(q.msgDir(), e.Name()))
		}
	}
	return q, nil
}

func (q *DirQueue) tmpDir() string { return filepath.Join(q.dir, "tmp") }
func (q *DirQueue) msgDir() string { return filepath.Join(q.dir, "msg") }

// newQueueID makes a sortable, unique id: time then randomness.
func newQueueID(now time.Time) string { return store.NewQueueID(now) }

// validID refuses ids that could escape the queue folder.
func validID(id string) bool { return store.ValidQueueID(id) }

// Enqueue implements Queue.
func (q *DirQueue) Enqueue(ctx context.Context, env QueueEnvelope, body io.Reader) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	now := time.Now().UTC()
	env.ID = newQueueID(now)
	if env.Created.IsZero() {
		env.Created = now
	}
	if env.NextAttempt.IsZero() {
		env.NextAttempt = now
	}
	tmpBody := filepath.Join(q.tmpDir(), env.ID+".eml")
	if err := writeSynced(tmpBody, func(w io.Writer) error {
		n := mimeparse.NormalizeCRLF(w)
		if _, err := io.Copy(n, body); err != nil {
			return err
		}
		return n.Close()
	}); err != nil {
		return "", fmt.Errorf("enqueue: %w", err)
	}
	if err := os.Rename(tmpBody, filepath.Join(q.msgDir(), env.ID+".eml")); err != nil {
		os.Remove(tmpBody)
		return "", fmt.Errorf("enqueue: %w", err)
	}
	if err := q.writeEnvelope(env); err != nil {
		os.Remove(filepath.Join(q.msgDir(), env.ID+".eml"))
		return "", fmt.Errorf("enqueue: %w", err)
	}
	return env.ID, nil
}

// writeEnvelope writes <id>.json atomically and syncs the folder.
func (q *DirQueue) writeEnvelope(env QueueEnvelope) error {
	data, err := json.Marshal(env)
	if err != nil {
		return err
	}
	tmp := filepath.Join(q.tmpDir(), env.ID+".json")
	if err := writeSynced(tmp, func(w io.Writer) error { _, err := w.Write(data); return err }); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(q.msgDir(), env.ID+".json")); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(q.msgDir())
}

// writeSynced creates path, fills it with fill and syncs it.
func writeSynced(path string, fill func(io.Writer) error) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	err = fill(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// List implements Queue.
func (q *DirQueue) List(ctx context.Context) ([]QueueEnvelope, error) {
	entries, err := os.ReadDir(q.msgDir())
	if err != nil {
		return nil, fmt.Errorf("list queue: %w", err)
	}
	var out []QueueEnvelope
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		env, err := q.envelope(id)
		if errors.Is(err, os.ErrNotExist) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, env)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (q *DirQueue) envelope(id string) (QueueEnvelope, error) {
	data, err := os.ReadFile(filepath.Join(q.msgDir(), id+".json"))
	if err != nil {
		return QueueEnvelope{}, err
	}
	var env QueueEnvelope
	if err := json.Unmarshal(data, &env); err != nil {
		return QueueEnvelope{}, fmt.Errorf("queue envelope %s: %w", id, err)
	}
	return env, nil
}

// Open implements Queue.
func (q *DirQueue) Open(ctx context.Context, id string) (io.ReadCloser, error) {
	if !validID(id) {
		return nil, fmt.Errorf("open queued message %q: bad id", id)
	}
	f, err := os.Open(filepath.Join(q.msgDir(), id+".eml"))
	if err != nil {
		return nil, fmt.Errorf("open queued message: %w", err)
	}
	return f, nil
}

// Update implements Queue.
func (q *DirQueue) Update(ctx context.Context, env QueueEnvelope) error {
	if !validID(env.ID) {
		return fmt.Errorf("update queued message %q: bad id", env.ID)
	}
	if _, err := os.Stat(filepath.Join(q.msgDir(), env.ID+".json")); err != nil {
		return fmt.Errorf("update queued message: %w", err)
	}
	// One writer per message (the delivery engine) is assumed: the
	// temporary file name is the id's.
	if err := q.writeEnvelope(env); err != nil {
		return fmt.Errorf("update queued message %s: %w", env.ID, err)
	}
	return nil
}

// Remove implements Queue.
func (q *DirQueue) Remove(ctx context.Context, id string) error {
	if !validID(id) {
		return fmt.Errorf("remove queued message %q: bad id", id)
	}
	if err := os.Remove(filepath.Join(q.msgDir(), id+".json")); err != nil {
		return fmt.Errorf("remove queued message: %w", err)
	}
	os.Remove(filepath.Join(q.msgDir(), id+".eml"))
	return syncDir(q.msgDir())
}

// Claim implements Queue within one process (the folder is not shared
// between processes).
func (q *DirQueue) Claim(ctx context.Context, c QueueClaim) ([]QueueEnvelope, time.Time, error) {
	if c.Limit <= 0 {
		return nil, time.Time{}, nil
	}
	q.claimMu.Lock()
	defer q.claimMu.Unlock()
	envs, err := q.List(ctx)
	if err != nil {
		return nil, time.Time{}, err
	}
	now := time.Now().UTC()
	sort.SliceStable(envs, func(i, j int) bool { return envs[i].NextAttempt.Before(envs[j].NextAttempt) })
	var claimed []QueueEnvelope
	var next time.Time
	for _, env := range envs {
		free := env.LeaseOwner == "" || !env.LeaseUntil.After(now) ||
			(c.StalePrefix != "" && strings.HasPrefix(env.LeaseOwner, c.StalePrefix) && env.LeaseOwner != c.Owner)
		if len(claimed) < c.Limit && free && !env.NextAttempt.After(now) {
			env.LeaseOwner, env.LeaseUntil = c.Owner, now.Add(c.Lease)
			env.Attempts++
			if err := q.Update(ctx, env); err != nil {
				return nil, time.Time{}, err
			}
			claimed = append(claimed, env)
		}
		t := env.NextAttempt
		if env.LeaseOwner != "" && env.LeaseUntil.After(t) {
			t = env.LeaseUntil
		}
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	return claimed, next, nil
}
