package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"
)

// QueueEnvelope is the envelope of a message in the outbound queue.
type QueueEnvelope struct {
	// ID names the queued message; set by EnqueueMessage when empty.
	ID string `json:"id"`
	// From is the reverse path ("" for the null sender).
	From string `json:"from"`
	// To are the recipients still to deliver to.
	To []string `json:"to"`
	// Local is set for recipients that are local accounts whose delivery
	// failed temporarily (for example over quota) after other recipients
	// of the same message were delivered: the delivery engine retries
	// them with Deliver instead of sending them out.
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
	// Attempts counts delivery attempts so far (a claim counts one).
	Attempts int `json:"attempts,omitempty"`
	// NextAttempt is when the engine should try again.
	NextAttempt time.Time `json:"next_attempt"`
	// LeaseOwner names the delivery engine working on the message and
	// LeaseUntil is when its claim runs out; no other engine claims the
	// message until then. An attempt that was interrupted (a crash)
	// leaves the lease behind; it is taken over after it expires, at
	// once by a later process of the same node (QueueClaim.StalePrefix).
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

// QueueClaim is one ClaimQueued request.
type QueueClaim struct {
	// Owner names the claiming delivery engine (unique per process).
	Owner string
	// Lease is how long the claim holds without being renewed.
	Lease time.Duration
	// Limit is the most messages to claim.
	Limit int
	// StalePrefix, when not "", marks leases whose owner starts with it
	// (and is not Owner) as left by an earlier process of this node:
	// they are taken over at once instead of after they expire.
	StalePrefix string
}

// QueueStore is the durable outbound queue, shared by every node that
// uses the store. Bodies are kept like message bodies (with CRLF line
// endings), envelopes in rows that several delivery engines claim
// atomically.
type QueueStore interface {
	// EnqueueMessage stores a message durably: when it returns nil the
	// envelope and body are committed. An empty env.ID gets a new id
	// (NewQueueID); a given one is kept, and ErrExists reports that it
	// is queued already. Zero Created and NextAttempt mean now.
	EnqueueMessage(ctx context.Context, env QueueEnvelope, body io.Reader) (string, error)
	// QueuedMessages lists every queued message, oldest id first.
	QueuedMessages(ctx context.Context) ([]QueueEnvelope, error)
	// OpenQueued opens the body of a queued message.
	OpenQueued(ctx context.Context, id string) (io.ReadCloser, error)
	// UpdateQueued replaces the envelope of a queued message (attempts,
	// next attempt, lease, remaining recipients); ErrNotFound when it is
	// not queued.
	UpdateQueued(ctx context.Context, env QueueEnvelope) error
	// RemoveQueued deletes a queued message; ErrNotFound when it is not
	// queued.
	RemoveQueued(ctx context.Context, id string) error
	// ClaimQueued atomically leases up to c.Limit due messages (next
	// attempt reached, no live lease) to c.Owner until now+c.Lease,
	// counting one attempt for each, and returns them as claimed. Two
	// claimers never get the same message while its lease holds. next
	// is the earliest time a message not returned may become claimable
	// (zero when the queue holds nothing else).
	ClaimQueued(ctx context.Context, c QueueClaim) (claimed []QueueEnvelope, next time.Time, err error)
	// QueueWakeups tells a delivery engine, until ctx ends, that there
	// may be queued work for it: the channel receives a value soon
	// (within about a second) after any process sharing the store
	// enqueues a message, or updates one so that it is due now and not
	// leased (a retry asked by the operator, an attempt given back).
	// Values coalesce: one may stand for many changes, and the engine
	// learns what to do with ClaimQueued. Retries scheduled for later
	// are not announced; ClaimQueued's next tells when they are due.
	//
	// It returns nil when the backend cannot learn of the changes of
	// every other process (the embedded store, which the admin commands
	// of another process write too): the engine then polls.
	QueueWakeups(ctx context.Context) <-chan struct{}
}

// QueueWakeupDue reports whether an updated queue envelope is due at now
// and free to claim, so that UpdateQueued announces it on QueueWakeups.
func QueueWakeupDue(env QueueEnvelope, now time.Time) bool {
	return !env.NextAttempt.After(now) && (env.LeaseOwner == "" || !env.LeaseUntil.After(now))
}

// NewQueueID makes a sortable, unique queue id: the time, then
// randomness, in lowercase hex.
func NewQueueID(now time.Time) string {
	var b [6]byte
	rand.Read(b[:])
	return fmt.Sprintf("%013x%s", now.UnixMicro(), hex.EncodeToString(b[:]))
}

// ValidQueueID reports whether id looks like one NewQueueID made (up to 64
// lowercase hex digits), so it is safe in file names and logs.
func ValidQueueID(id string) bool {
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

// MaildropLocker gives a POP3 session the exclusive lock on an account's
// maildrop that RFC 1939 requires while the session is in the TRANSACTION
// state. A shared backend makes the lock hold across every node; a lock
// held by a process that dies is freed with it.
type MaildropLocker interface {
	// LockMaildrop takes the lock on an account's maildrop without
	// waiting. It returns ok false when another session (of any node)
	// holds it. When ok is true, release must be called (further calls
	// do nothing) to give the lock back.
	LockMaildrop(ctx context.Context, accountID int64) (release func(), ok bool, err error)
}

// CounterStore keeps windowed event counters (failed logins, messages
// sent) that every node sharing the store sees. Time is cut into buckets
// of a fixed width aligned to the Unix epoch; a count over a window sums
// the buckets that overlap it, so it may include up to one bucket width
// of older events (it errs on the side of limiting).
type CounterStore interface {
	// AddCount adds n events at time at to key and returns key's count
	// over the window ending at at, the new events included. Buckets of
	// key older than the window are dropped.
	AddCount(ctx context.Context, key string, n int64, at time.Time, bucket, window time.Duration) (int64, error)
	// Count returns key's count over the window ending at at.
	Count(ctx context.Context, key string, at time.Time, bucket, window time.Duration) (int64, error)
	// ResetCount forgets every event of key.
	ResetCount(ctx context.Context, key string) error
}

// CounterOldest is how long counters are kept at most: AddCount
// occasionally drops every bucket older than this, of any key.
const CounterOldest = 8 * 24 * time.Hour

// CounterBuckets returns the first bucket start (Unix seconds) a window
// ending at at counts, and the bucket start holding at.
func CounterBuckets(at time.Time, bucket, window time.Duration) (first, current int64) {
	w := int64(bucket / time.Second)
	if w < 1 {
		w = 1
	}
	now := at.Unix()
	current = now - now%w
	start := now - int64(window/time.Second)
	first = start - start%w
	if first > current {
		first = current
	}
	return first, current
}
