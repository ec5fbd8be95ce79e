package delivery

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/textproto"
	"slices"
	"strings"

	"github.com/pochta-mail/pochta/internal/store"
)

// MaxForwardTargets bounds the addresses one account forwards to.
const MaxForwardTargets = 10

// MaxHops is how many Received fields a message may carry before it is no
// longer forwarded: a loop through other servers that strip Delivered-To
// still ends.
const MaxHops = 30

// ParseForwardTargets reads a list of forwarding addresses separated by
// commas, semicolons or white space, as typed on the account page or given
// to "pochta user set --forward". It returns them in canonical form
// (lowercase domain), without duplicates. The account's own address own is
// refused, as are more than MaxForwardTargets addresses. An empty list
// means no forwarding.
func ParseForwardTargets(list, own string) ([]string, error) {
	fields := strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ';' || r == ' ' || r == '\t' || r == '\r' || r == '\n' })
	var out []string
	for _, f := range fields {
		a, err := ParseAddress(f)
		if err != nil {
			return nil, fmt.Errorf("forward to %q: %w", f, err)
		}
		if a.IsLiteral() {
			return nil, fmt.Errorf("forward to %q: %w: address literals are not accepted", f, ErrBadAddress)
		}
		addr := a.String()
		if c, err := a.Canonical(); err == nil {
			addr = c
		}
		if strings.EqualFold(addr, own) {
			return nil, fmt.Errorf("forward to %q: %w: that is the account itself", f, ErrBadAddress)
		}
		if !slices.Contains(out, addr) {
			out = append(out, addr)
		}
	}
	if len(out) > MaxForwardTargets {
		return nil, fmt.Errorf("%w: at most %d forwarding addresses", ErrBadAddress, MaxForwardTargets)
	}
	return out, nil
}

// forwardJob is one local recipient whose account forwards.
type forwardJob struct {
	target  LocalTarget
	account store.Account
}

// planForwards splits the local recipients of m into those that get a copy
// in their mailbox and those whose accounts forward (which also get a copy
// when they keep one).
func (d *Deliverer) planForwards(ctx context.Context, m *Message) (local []LocalTarget, jobs []forwardJob, err error) {
	for _, t := range m.Local {
		a, err := d.Store.Account(ctx, t.AccountID)
		if errors.Is(err, store.ErrNotFound) {
			local = append(local, t) // the store reports it
			continue
		} else if err != nil {
			return nil, nil, fmt.Errorf("account %d: %w", t.AccountID, err)
		}
		if len(a.Settings.Forward) == 0 {
			local = append(local, t)
			continue
		}
		jobs = append(jobs, forwardJob{target: t, account: a})
		if a.Settings.ForwardKeep {
			local = append(local, t)
		}
	}
	return local, jobs, nil
}

// headerTrace reads the header of a message and returns the addresses of
// its Delivered-To fields (lowercase) and the number of Received fields.
func headerTrace(r io.Reader) (deliveredTo []string, received int) {
	br := bufio.NewReader(io.LimitReader(r, 1<<20))
	tp := textproto.NewReader(br)
	h, _ := tp.ReadMIMEHeader() // a broken header still gives what it read
	for _, v := range h.Values("Delivered-To") {
		deliveredTo = append(deliveredTo, strings.ToLower(strings.Trim(strings.TrimSpace(v), "<>")))
	}
	return deliveredTo, len(h.Values("Received"))
}

// forward queues the copies of m for the forwarding accounts in jobs. A
// forward that would loop (the message was delivered to that address
// before, or has passed MaxHops servers) is not made; the recipient gets
// the message in its mailbox instead. It returns the targets that must get
// a local copy for that reason, and whether any forward was queued.
//
// Envelope sender: a forward to a local address keeps the original sender,
// so bounces and replies go where they would have. A forward to another
// domain is sent with the forwarding account's own address as the sender
// (no SRS): SPF checks of the original sender's domain would fail on our
// address, and bounces of the forward belong to the account that set it
// up.
func (d *Deliverer) forward(ctx context.Context, log *slog.Logger, m *Message, c Content, jobs []forwardJob) (fallback []LocalTarget, queued bool, err error) {
	seen, hops := headerTrace(io.MultiReader(bytes.NewReader(m.Trace), c.NewReader()))
	for _, j := range jobs {
		rcpt := strings.ToLower(j.target.Rcpt)
		own := strings.ToLower(j.account.Address)
		if slices.Contains(seen, rcpt) || slices.Contains(seen, own) || hops >= MaxHops {
			log.Warn("forwarding loop: message kept instead of forwarded", "id", m.ID, "account", j.account.Address, "hops", hops)
			if !j.account.Settings.ForwardKeep {
				fallback = append(fallback, j.target)
			}
			continue
		}
		var localTo, remoteTo []string
		for _, to := range j.account.Settings.Forward {
			isLocal := false
			if a, perr := ParseAddress(to); perr == nil && !a.IsLiteral() {
				if _, derr := d.Store.Domain(ctx, a.Domain); derr == nil {
					isLocal = true
				} else if !errors.Is(derr, store.ErrNotFound) && !errors.Is(derr, store.ErrInvalid) {
					return nil, queued, fmt.Errorf("forward for %s: %w", j.account.Address, derr)
				}
			}
			if isLocal {
				localTo = append(localTo, to)
			} else {
				remoteTo = append(remoteTo, to)
			}
		}
		prefix := "Delivered-To: " + j.target.Rcpt + "\r\n"
		for _, env := range []QueueEnvelope{
			{From: m.From, To: localTo, Local: true, UTF8: m.UTF8},
			{From: j.account.Address, To: remoteTo, UTF8: m.UTF8, AccountID: j.account.ID},
		} {
			if len(env.To) == 0 {
				continue
			}
			body := io.MultiReader(strings.NewReader(prefix), bytes.NewReader(m.Trace), c.NewReader())
			id, err := d.Queue.Enqueue(ctx, env, body)
			if err != nil {
				return nil, queued, fmt.Errorf("forward for %s: %w", j.account.Address, err)
			}
			queued = true
			log.Info("forwarded", "id", m.ID, "queue_id", id, "account", j.account.Address, "from", env.From, "to", env.To)
		}
	}
	return fallback, queued, nil
}
