package smtpd

import (
	"sync"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// RateLimiter counts the messages each account submitted in the last hour
// and day. One RateLimiter should serve every submission listener. It is
// safe for concurrent use. The counts live in memory: a restart forgets
// them.
//
// The limits are the server-wide ones given to NewRateLimiter unless the
// account's settings override them (store.Settings SendPerHour and
// SendPerDay).
type RateLimiter struct {
	perHour, perDay int

	mu   sync.Mutex
	sent map[int64][]time.Time // oldest first, only the last day
}

// NewRateLimiter makes a limiter with the server-wide limits; 0 disables a
// limit.
func NewRateLimiter(perHour, perDay int) *RateLimiter {
	return &RateLimiter{perHour: perHour, perDay: perDay, sent: make(map[int64][]time.Time)}
}

// limits are the sending limits of one account; 0 means none.
type limits struct{ perHour, perDay int }

// limitsFor returns the limits that apply to an account.
func (r *RateLimiter) limitsFor(s store.Settings) limits {
	if r == nil {
		return limits{}
	}
	return limits{perHour: store.EffectiveLimit(r.perHour, s.SendPerHour), perDay: store.EffectiveLimit(r.perDay, s.SendPerDay)}
}

// none reports whether no limit applies.
func (l limits) none() bool { return l.perHour <= 0 && l.perDay <= 0 }

// limit is which limit is reached.
type limit int

const (
	limitNone limit = iota
	limitHour
	limitDay
)

// check reports which of the limits l, if any, stops the account from
// sending one more message now.
func (r *RateLimiter) check(account int64, l limits, now time.Time) limit {
	if r == nil || l.none() {
		return limitNone
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	ts := r.prune(account, now)
	if l.perDay > 0 && len(ts) >= l.perDay {
		return limitDay
	}
	if l.perHour > 0 {
		n := 0
		for _, t := range ts {
			if now.Sub(t) < time.Hour {
				n++
			}
		}
		if n >= l.perHour {
			return limitHour
		}
	}
	return limitNone
}

// record counts one message sent now by an account with the limits l.
func (r *RateLimiter) record(account int64, l limits, now time.Time) {
	if r == nil || l.none() {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	ts := append(r.prune(account, now), now)
	// Only as many entries as the largest limit are ever needed.
	keep := max(l.perHour, l.perDay)
	if len(ts) > keep {
		ts = ts[len(ts)-keep:]
	}
	r.sent[account] = ts
}

// prune drops entries older than a day (and the account when none is
// left); r.mu is held.
func (r *RateLimiter) prune(account int64, now time.Time) []time.Time {
	ts := r.sent[account]
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= 24*time.Hour {
		i++
	}
	ts = ts[i:]
	if len(ts) == 0 {
		delete(r.sent, account)
		return nil
	}
	r.sent[account] = ts
	return ts
}
