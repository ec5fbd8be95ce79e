package delivery

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/pochta-mail/pochta/internal/store"
)

// maxParallel bounds the concurrent store deliveries of one message.
const maxParallel = 32

// Deliverer stores accepted messages: local copies through the store,
// everything else into the queue.
type Deliverer struct {
	// Store receives local copies.
	Store store.Store
	// Queue receives mail for other domains, and local copies that
	// failed temporarily while others of the same message succeeded.
	Queue Queue
	// Log gets one line per stored copy; nil means slog.Default().
	Log *slog.Logger
	// SpoolDir holds the temporary copy of a streamed message that must
	// be read more than once because its recipient forwards it;
	// "" means os.TempDir().
	SpoolDir string
	// Delivered, when set, is called with the local recipients that
	// were stored and asked for a success notice (DSN NOTIFY=SUCCESS),
	// and the message's header when it can still be read.
	Delivered func(ctx context.Context, m *Message, rcpts []string, header []byte)
}

// LocalTarget is one local account that gets a copy.
type LocalTarget struct {
	AccountID int64
	// Rcpt is the recipient address that led to the account; it goes
	// into Delivered-To.
	Rcpt string
}

// Message is one accepted message and where it goes.
type Message struct {
	// ID names the transaction in logs and the Received field.
	ID string
	// From is the reverse path ("" for the null sender).
	From string
	// Trace is prepended to every copy (the Received field, and on
	// submitted mail the Date and Message-ID fields the server adds),
	// CRLF terminated.
	Trace []byte
	// Local are the local accounts, each once.
	Local []LocalTarget
	// Remote are recipients in other domains, for the queue.
	Remote []string
	// UTF8 is set when the envelope used SMTPUTF8.
	UTF8 bool
	// AccountID is the authenticated submitter, 0 for none.
	AccountID int64
	// Junk delivers local copies to the Spam folder (a DMARC
	// quarantine policy).
	Junk bool
	// DSN are the sender's delivery status notification requests for
	// the remote recipients.
	DSN DSN
}

// AddLocal adds the accounts of a recipient, skipping accounts that get a
// copy already (two aliases of one account, an account and its plus
// address). It reports whether any account was new.
func (m *Message) AddLocal(rcpt string, accounts []int64) bool {
	added := false
next:
	for _, id := range accounts {
		for _, t := range m.Local {
			if t.AccountID == id {
				continue next
			}
		}
		m.Local = append(m.Local, LocalTarget{AccountID: id, Rcpt: rcpt})
		added = true
	}
	return added
}

// Destinations counts the copies a delivery makes: one per local account,
// one for the queue if there are remote recipients.
func (m *Message) Destinations() int {
	n := len(m.Local)
	if len(m.Remote) > 0 {
		n++
	}
	return n
}

// Content is the body of a message as received.
type Content interface {
	// NewReader returns a reader from the first byte.
	NewReader() io.Reader
}

// Stream is Content that can be read once: use it when a message has a
// single destination, to stream it straight to the store.
type Stream struct{ R io.Reader }

// NewReader returns the stream's reader.
func (s Stream) NewReader() io.Reader { return s.R }

// DeliveryError reports that no copy of a message was stored.
type DeliveryError struct {
	// Quota is set when every failure was a full mailbox.
	Quota bool
	// Errs are the individual failures.
	Errs []error
}

// Error implements error.
func (e *DeliveryError) Error() string {
	var parts []string
	for _, err := range e.Errs {
		parts = append(parts, err.Error())
	}
	return "delivery failed: " + strings.Join(parts, "; ")
}

// Unwrap returns the individual failures.
func (e *DeliveryError) Unwrap() []error { return e.Errs }

// Deliver stores every copy of a message, the local ones concurrently.
// It returns nil when every copy is durable: stored in a mailbox, or in
// the queue (remote recipients, forwards of local accounts that forward,
// and local copies that failed temporarily while others succeeded, to be
// retried). It returns a *DeliveryError when nothing was stored, so the
// client may try again, and an error from reading the content when that
// failed (nothing is stored then either: a Stream has one destination).
func (d *Deliverer) Deliver(ctx context.Context, m *Message, c Content) error {
	n := m.Destinations()
	if n == 0 {
		return errors.New("deliver: no recipients")
	}
	if _, ok := c.(Stream); ok && n > 1 {
		return errors.New("deliver: a stream has one destination")
	}
	log := d.Log
	if log == nil {
		log = slog.Default()
	}
	local, jobs, err := d.planForwards(ctx, m)
	if err != nil {
		return &DeliveryError{Errs: []error{fmt.Errorf("deliver %s: %w", m.ID, err)}}
	}
	forwarded := false
	if len(jobs) > 0 {
		if st, ok := c.(Stream); ok {
			// Forwarding reads the message more than once.
			sp := NewSpool(d.SpoolDir, 0)
			defer sp.Close()
			if _, err := io.Copy(sp, st.R); err != nil {
				return fmt.Errorf("deliver %s: %w", m.ID, err)
			}
			c = sp
		}
		fallback, queued, err := d.forward(ctx, log, m, c, jobs)
		if err != nil {
			return &DeliveryError{Errs: []error{fmt.Errorf("deliver %s: %w", m.ID, err)}}
		}
		forwarded = queued
		local = append(local, fallback...)
	}
	if len(local) != len(m.Local) {
		mm := *m
		mm.Local = local
		m = &mm
	}
	if len(m.Local) == 0 && len(m.Remote) == 0 {
		return nil // everything was forwarded
	}
	errs := make([]error, len(m.Local))
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxParallel)
	for i, t := range m.Local {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			body := io.MultiReader(bytes.NewReader(localPrefix(m.From, t.Rcpt, m.Trace)), c.NewReader())
			dl := store.Delivery{AccountID: t.AccountID, Body: body}
			if m.Junk {
				if f, err := d.Store.FolderByRole(ctx, t.AccountID, store.RoleJunk); err == nil {
					dl.FolderID = f.ID
				}
			}
			msg, err := d.Store.Deliver(ctx, dl)
			if err != nil {
				errs[i] = fmt.Errorf("deliver to %s: %w", t.Rcpt, err)
				return
			}
			log.Info("delivered", "id", m.ID, "from", m.From, "to", t.Rcpt, "account", t.AccountID, "size", msg.Size, "uid", msg.UID)
		}()
	}
	var remoteErr error
	if len(m.Remote) > 0 {
		body := io.MultiReader(bytes.NewReader(m.Trace), c.NewReader())
		id, err := d.Queue.Enqueue(ctx, QueueEnvelope{From: m.From, To: m.Remote, UTF8: m.UTF8, AccountID: m.AccountID, DSN: m.DSN}, body)
		if err != nil {
			remoteErr = fmt.Errorf("queue for %s: %w", strings.Join(m.Remote, ", "), err)
		} else {
			log.Info("queued", "id", m.ID, "queue_id", id, "from", m.From, "to", m.Remote)
		}
	}
	wg.Wait()

	stored := forwarded || (remoteErr == nil && len(m.Remote) > 0)
	var failed []LocalTarget
	var failErrs []error
	var notify []string
	for i, err := range errs {
		if err == nil {
			stored = true
			if m.From != "" && m.DSN.Wants(m.Local[i].Rcpt, "SUCCESS") && !slices.Contains(notify, m.Local[i].Rcpt) {
				notify = append(notify, m.Local[i].Rcpt)
			}
			continue
		}
		failed = append(failed, m.Local[i])
		failErrs = append(failErrs, err)
	}
	if remoteErr != nil {
		failErrs = append(failErrs, remoteErr)
	}
	if len(notify) > 0 && d.Delivered != nil {
		var header []byte
		if _, stream := c.(Stream); !stream {
			header = readHeader(c.NewReader())
		}
		d.Delivered(ctx, m, notify, header)
	}
	if len(failErrs) == 0 {
		return nil
	}
	if !stored {
		quota := true
		for _, err := range failErrs {
			if !errors.Is(err, store.ErrQuotaExceeded) {
				quota = false
			}
		}
		return &DeliveryError{Quota: quota, Errs: failErrs}
	}
	// Some copies are stored: the client must not send the message
	// again, so what failed goes to the queue to be retried.
	if remoteErr != nil {
		// The remote part could not be queued but local copies exist;
		// try once more.
		body := io.MultiReader(bytes.NewReader(m.Trace), c.NewReader())
		if _, err := d.Queue.Enqueue(ctx, QueueEnvelope{From: m.From, To: m.Remote, UTF8: m.UTF8, AccountID: m.AccountID, LastError: remoteErr.Error(), DSN: m.DSN}, body); err != nil {
			return fmt.Errorf("deliver %s: some copies stored, the rest could not be queued: %w", m.ID, err)
		}
	}
	for i, t := range failed {
		body := io.MultiReader(bytes.NewReader(m.Trace), c.NewReader())
		env := QueueEnvelope{From: m.From, To: []string{t.Rcpt}, Local: true, UTF8: m.UTF8, AccountID: m.AccountID, LastError: failErrs[i].Error(),
			DSN: DSN{Ret: m.DSN.Ret, EnvID: m.DSN.EnvID}}
		id, err := d.Queue.Enqueue(ctx, env, body)
		if err != nil {
			return fmt.Errorf("deliver %s: some copies stored, %s could not be queued: %w", m.ID, t.Rcpt, err)
		}
		log.Warn("local delivery failed; queued for retry", "id", m.ID, "queue_id", id, "to", t.Rcpt, "err", failErrs[i])
	}
	return nil
}

// localPrefix is what goes before a local copy: Return-Path,
// Delivered-To and the trace fields.
func localPrefix(from, rcpt string, trace []byte) []byte {
	var b bytes.Buffer
	b.WriteString("Return-Path: <")
	b.WriteString(from)
	b.WriteString(">\r\nDelivered-To: ")
	b.WriteString(rcpt)
	b.WriteString("\r\n")
	b.Write(trace)
	return b.Bytes()
}

// readHeader reads a message's header (at most 64 KiB), for reports.
func readHeader(r io.Reader) []byte {
	br := bufio.NewReader(io.LimitReader(r, 64<<10))
	var out []byte
	for {
		line, err := br.ReadBytes('\n')
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			return out
		}
		out = append(out, line...)
		if err != nil {
			return out
		}
	}
}
