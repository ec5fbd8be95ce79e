package delivery

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/pochta-mail/pochta/internal/mimeparse"
)

// QueueEnvelope is the envelope of a queued message.
type QueueEnvelope struct {
	// ID names the queued message; set by Enqueue.
	ID string `json:"id"`
	// From is the reverse path ("" for the null sender).
	From string `json:"from"`
	// To are the recipients still to deliver to.
	To []string `json:"to"`
	// Local is set for recipients that are local accounts whose delivery
	// failed temporarily (for example over quota) after other recipients
	// of the same message were delivered: the delivery engine retries
	// them with store.Deliver instead of sending them out.
	Local bool `json:"local,omitempty"`
	// LastError is the reason of the last failure, for the operator and
	// for the bounce.
	LastError string `json:"last_error,omitempty"`
	// UTF8 is set when the message needs SMTPUTF8.
	UTF8 bool `json:"utf8,omitempty"`
	// AccountID is the submitting account (0 for mail from outside).
	AccountID int64 `json:"account_id,omitempty"`
	// Created is when the message was queued.
	Created time.Time `json:"created"`
	// Attempts counts delivery attempts so far.
	Attempts int `json:"attempts,omitempty"`
	// NextAttempt is when the engine should try again.
	NextAttempt time.Time `json:"next_attempt"`
	// LeaseOwner names the delivery engine working on the message and
	// LeaseUntil is when its claim runs out; another engine leaves the
	// message alone until then. An attempt that was interrupted (a
	// crash) leaves the lease behind; it is taken over after it expires,
	// at once by an engine on the same host.
	LeaseOwner string    `json:"lease_owner,omitempty"`
	LeaseUntil time.Time `json:"lease_until,omitzero"`
	// DelayNotified is set once the sender was told of the delay.
	DelayNotified bool `json:"delay_notified,omitempty"`
	// RcptErrors holds the last failure per remaining recipient.
	RcptErrors map[string]string `json:"rcpt_errors,omitempty"`
	// DSN holds the delivery status notification requests of the
	// submission (RFC 3461).
	DSN DSN `json:"dsn,omitzero"`
}

// DSN are the delivery status notification requests of a message (RFC
// 3461): what a report returns, the sender's envelope id, and per
// recipient when to report and its original address.
type DSN struct {
	// Ret is "FULL" (return the whole message) or "HDRS" (only its
	// header); "" leaves it to the server (the header).
	Ret string `json:"ret,omitempty"`
	// EnvID is the sender's ENVID, echoed in reports.
	EnvID string `json:"envid,omitempty"`
	// Rcpt holds the NOTIFY and ORCPT parameters by recipient address.
	Rcpt map[string]RcptDSN `json:"rcpt,omitempty"`
}

// RcptDSN are the DSN parameters of one recipient.
type RcptDSN struct {
	// Notify is NEVER, or some of SUCCESS, FAILURE and DELAY; empty
	// means the default (FAILURE and DELAY).
	Notify []string `json:"notify,omitempty"`
	// ORcpt is the original recipient as "type;address" (for example
	// "rfc822;a@example.com"), decoded.
	ORcpt string `json:"orcpt,omitempty"`
}

// Wants reports whether rcpt asked for a report of kind "SUCCESS",
// "FAILURE" or "DELAY".
func (d DSN) Wants(rcpt, kind string) bool {
	n := d.Rcpt[rcpt].Notify
	if len(n) == 0 {
		return kind != "SUCCESS"
	}
	for _, k := range n {
		if strings.EqualFold(k, kind) {
			return true
		}
	}
	return false
}

// SetRcpt records the DSN parameters of rcpt, if it has any.
func (d *DSN) SetRcpt(rcpt string, p RcptDSN) {
	if len(p.Notify) == 0 && p.ORcpt == "" {
		return
	}
	if d.Rcpt == nil {
		d.Rcpt = map[string]RcptDSN{}
	}
	d.Rcpt[rcpt] = p
}

// Queue is the durable outbound queue. Enqueue is all the SMTP server
// needs; the rest is for the delivery engine and the admin commands.
//
// The queue belongs in the store (store.Store) eventually, so that a
// shared backend gives every node the same queue; DirQueue is the
// single-node implementation until then.
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
}

// DirQueue is a Queue in a directory: each message is a body file
// <id>.eml and an envelope file <id>.json in Dir/msg; files are written in
// Dir/tmp, synced, and renamed in, body first, so an envelope file exists
// only for a complete message. It is safe for concurrent use by one
// process.
type DirQueue struct {
	dir string
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
func newQueueID(now time.Time) string {
	var b [6]byte
	rand.Read(b[:])
	return fmt.Sprintf("%013x%s", now.UnixMicro(), hex.EncodeToString(b[:]))
}

// validID refuses ids that could escape the queue folder.
func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

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
