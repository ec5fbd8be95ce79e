package smtpd

import (
	"sync"
	"time"
)

// RateLimiter counts the messages each account submitted in the last hour
// and day. One RateLimiter should serve every submission listener. It is
// safe for concurrent use. The counts live in memory: a restart forgets
// them.
type RateLimiter struct {
	perHour, perDay int

	mu   sync.Mutex
	sent map[int64][]time.Time // oldest first, only the last day
}

// NewRateLimiter makes a limiter; 0 disables a limit.
func NewRateLimiter(perHour, perDay int) *RateLimiter {
	return &RateLimiter{perHour: perHour, perDay: perDay, sent: make(map[int64][]time.Time)}
}

// limit is which limit is reached.
type limit int

const (
	limitNone limit = iota
	limitHour
	limitDay
)

// Check reports which limit, if any, stops the account from sending one
// more message now.
func (r *RateLimiter) check(account int64, now time.Time) limit {
	if r == nil || (r.perHour <= 0 && r.perDay <= 0) {
		return limitNone
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	ts := r.prune(account, now)
	if r.perDay > 0 && len(ts) >= r.perDay {
		return limitDay
	}
	if r.perHour > 0 {
		n := 0
		for _, t := range ts {
			if now.Sub(t) < time.Hour {
				n++
			}
		}
		if n >= r.perHour {
			return limitHour
		}
	}
	return limitNone
}

// record counts one message sent now.
func (r *RateLimiter) record(account int64, now time.Time) {
	if r == nil || (r.perHour <= 0 && r.perDay <= 0) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	ts := append(r.prune(account, now), now)
	// Only as many entries as the largest limit are ever needed.
	keep := max(r.perHour, r.perDay)
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
