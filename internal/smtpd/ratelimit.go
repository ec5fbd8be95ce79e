package smtpd

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// RateLimiter counts the messages each account submitted in the last hour
// and day. One RateLimiter should serve every submission listener. It is
// safe for concurrent use. NewRateLimiter counts in memory (a restart
// forgets, other nodes do not see); NewStoreRateLimiter counts in the
// store, shared by every node.
//
// The limits are the server-wide ones given to the constructor unless the
// account's settings override them (store.Settings SendPerHour and
// SendPerDay).
type RateLimiter struct {
	perHour, perDay int

	// counters, when not nil, keeps the counts in the store.
	counters store.CounterStore
	log      *slog.Logger

	mu   sync.Mutex
	sent map[int64][]time.Time // oldest first, only the last day
}

// NewRateLimiter makes a limiter counting in memory; 0 disables a limit.
func NewRateLimiter(perHour, perDay int) *RateLimiter {
	return &RateLimiter{perHour: perHour, perDay: perDay, sent: make(map[int64][]time.Time)}
}

// NewStoreRateLimiter makes a limiter counting in the store's counters
// (one-minute buckets), so that the limits hold over every node; 0
// disables a limit. A failing store does not stop mail: the failure is
// logged and the message allowed.
func NewStoreRateLimiter(st store.CounterStore, perHour, perDay int, log *slog.Logger) *RateLimiter {
	if log == nil {
		log = slog.Default()
	}
	r := NewRateLimiter(perHour, perDay)
	r.counters, r.log = st, log
	return r
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

// rateBucket is the width of the store's counting buckets.
const rateBucket = time.Minute

// rateKey names an account's counter in the store.
func rateKey(account int64) string { return "smtp-sent:" + strconv.FormatInt(account, 10) }

// limit is which limit is reached.
type limit int

const (
	limitNone limit = iota
	limitHour
	limitDay
)

// check reports which of the limits l, if any, stops the account from
// sending one more message now.
func (r *RateLimiter) check(ctx context.Context, account int64, l limits, now time.Time) limit {
	if r == nil || l.none() {
		return limitNone
	}
	if r.counters != nil {
		l, err := r.checkStore(ctx, account, l, now)
		if err != nil {
			r.log.Warn("sending limit not checked", "account", account, "err", err)
		}
		return l
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

// checkStore is check on the store's counters.
func (r *RateLimiter) checkStore(ctx context.Context, account int64, l limits, now time.Time) (limit, error) {
	key := rateKey(account)
	if l.perDay > 0 {
		n, err := r.counters.Count(ctx, key, now, rateBucket, 24*time.Hour)
		if err != nil {
			return limitNone, fmt.Errorf("count messages sent: %w", err)
		}
		if n >= int64(l.perDay) {
			return limitDay, nil
		}
	}
	if l.perHour > 0 {
		n, err := r.counters.Count(ctx, key, now, rateBucket, time.Hour)
		if err != nil {
			return limitNone, fmt.Errorf("count messages sent: %w", err)
		}
		if n >= int64(l.perHour) {
			return limitHour, nil
		}
	}
	return limitNone, nil
}

// record counts one message sent now by an account with the limits l.
func (r *RateLimiter) record(ctx context.Context, account int64, l limits, now time.Time) {
	if r == nil || l.none() {
		return
	}
	if r.counters != nil {
		if _, err := r.counters.AddCount(ctx, rateKey(account), 1, now, rateBucket, 24*time.Hour); err != nil {
			r.log.Warn("message sent not counted", "account", account, "err", err)
		}
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
