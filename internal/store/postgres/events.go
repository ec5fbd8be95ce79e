package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pochta-mail/pochta/internal/store"
)

// Event payloads on the notify channel are
//
//	v1 <node> <account>.<folder>.<modseq>.<kind> …
//
// with the sending Store's node id and one or more events, each under
// maxPayload bytes (PostgreSQL's limit is 8000).
const (
	payloadVersion = "v1"
	maxPayload     = 7000
)

// encodeEvents packs events into as few payloads as fit.
func encodeEvents(node string, evs []store.Event) []string {
	var out []string
	var b strings.Builder
	for _, ev := range evs {
		item := fmt.Sprintf("%d.%d.%d.%d", ev.AccountID, ev.FolderID, ev.ModSeq, ev.Kind)
		if b.Len() > 0 && b.Len()+1+len(item) > maxPayload {
			out = append(out, b.String())
			b.Reset()
		}
		if b.Len() == 0 {
			b.WriteString(payloadVersion + " " + node)
		}
		b.WriteByte(' ')
		b.WriteString(item)
	}
	if b.Len() > 0 {
		out = append(out, b.String())
	}
	return out
}

// decodeEvents unpacks a payload; it returns the sending node and the
// events, or an error for a payload it does not understand.
func decodeEvents(payload string) (string, []store.Event, error) {
	f := strings.Fields(payload)
	if len(f) < 2 || f[0] != payloadVersion {
		return "", nil, fmt.Errorf("event payload %.40q: unknown format", payload)
	}
	evs := make([]store.Event, 0, len(f)-2)
	for _, item := range f[2:] {
		p := strings.Split(item, ".")
		if len(p) != 4 {
			return "", nil, fmt.Errorf("event %q: want 4 fields", item)
		}
		a, err1 := strconv.ParseInt(p[0], 10, 64)
		fo, err2 := strconv.ParseInt(p[1], 10, 64)
		m, err3 := strconv.ParseUint(p[2], 10, 64)
		k, err4 := strconv.ParseUint(p[3], 10, 8)
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
			return "", nil, fmt.Errorf("event %q: bad number", item)
		}
		evs = append(evs, store.Event{AccountID: a, FolderID: fo, ModSeq: m, Kind: store.EventKind(k)})
	}
	return f[1], evs, nil
}

// notifier sends committed events to the other processes with NOTIFY. The
// events of all writes that committed while it was busy go in one
// transaction.
type notifier struct {
	pool *pgxpool.Pool
	node string
	log  *slog.Logger

	mu      sync.Mutex
	pending []store.Event
	// queue is set when the delivery engines of other processes are to
	// be told of queued work (on queueChannel).
	queue bool

	wake chan struct{}
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

func newNotifier(pool *pgxpool.Pool, node string, log *slog.Logger) *notifier {
	n := &notifier{
		pool: pool, node: node, log: log,
		wake: make(chan struct{}, 1),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	go n.run()
	return n
}

// send queues events; it never blocks.
func (n *notifier) send(evs []store.Event) {
	if len(evs) == 0 {
		return
	}
	n.mu.Lock()
	n.pending = append(n.pending, evs...)
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// sendQueue queues a wakeup of the other processes' delivery engines; it
// never blocks, and the wakeups of one flush coalesce.
func (n *notifier) sendQueue() {
	n.mu.Lock()
	n.queue = true
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// close sends what is queued and stops the notifier.
func (n *notifier) close() {
	n.once.Do(func() { close(n.stop) })
	<-n.done
}

func (n *notifier) run() {
	defer close(n.done)
	for {
		select {
		case <-n.wake:
			n.flush()
		case <-n.stop:
			n.flush()
			return
		}
	}
}

// flush sends the queued events.
func (n *notifier) flush() {
	n.mu.Lock()
	evs, queue := n.pending, n.queue
	n.pending, n.queue = nil, false
	n.mu.Unlock()
	if len(evs) == 0 && !queue {
		return
	}
	evs = dedupEvents(evs)
	payloads := encodeEvents(n.node, evs)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := pgx.BeginFunc(ctx, n.pool, func(tx pgx.Tx) error {
		// The notification is a hint: no need to wait for its WAL flush.
		if _, err := tx.Exec(ctx, "SET LOCAL synchronous_commit = off"); err != nil {
			return err
		}
		if len(payloads) > 0 {
			if _, err := tx.Exec(ctx, "SELECT pg_notify($1, p) FROM unnest($2::text[]) WITH ORDINALITY AS t(p, i) ORDER BY i", notifyChannel, payloads); err != nil {
				return err
			}
		}
		if queue {
			if _, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", queueChannel, payloadVersion+" "+n.node); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		n.log.Warn("store: cannot send change events to other nodes", "events", len(evs), "queue", queue, "err", err)
	}
}

// dedupEvents drops repeated events, keeping the first of each.
func dedupEvents(evs []store.Event) []store.Event {
	seen := make(map[store.Event]struct{}, len(evs))
	out := evs[:0]
	for _, ev := range evs {
		if _, ok := seen[ev]; ok {
			continue
		}
		seen[ev] = struct{}{}
		out = append(out, ev)
	}
	return out
}

// listener receives the events of other processes on a connection of its
// own and publishes them to this process's hub, and their queue wakeups to
// this process's delivery engines.
type listener struct {
	cfg    *pgx.ConnConfig
	node   string
	hub    *store.Hub
	queue  *wakeups
	log    *slog.Logger
	cancel context.CancelFunc
	done   chan struct{}
}

// startListener connects and LISTENs before returning, so that every event
// sent after Open returns is received.
func startListener(ctx context.Context, cfg *pgx.ConnConfig, node string, hub *store.Hub, queue *wakeups, log *slog.Logger) (*listener, error) {
	conn, err := listen(ctx, cfg)
	if err != nil {
		return nil, err
	}
	lctx, cancel := context.WithCancel(context.Background())
	l := &listener{cfg: cfg, node: node, hub: hub, queue: queue, log: log, cancel: cancel, done: make(chan struct{})}
	go l.run(lctx, conn)
	return l, nil
}

// listen opens a connection listening on the change event and queue
// channels.
func listen(ctx context.Context, cfg *pgx.ConnConfig) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("event listener: connect: %w", err)
	}
	for _, ch := range []string{notifyChannel, queueChannel} {
		if _, err := conn.Exec(ctx, "LISTEN "+ch); err != nil {
			conn.Close(context.Background())
			return nil, fmt.Errorf("event listener: listen on %s: %w", ch, err)
		}
	}
	return conn, nil
}

// close stops the listener and closes its connection.
func (l *listener) close() {
	l.cancel()
	<-l.done
}

func (l *listener) run(ctx context.Context, conn *pgx.Conn) {
	defer close(l.done)
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	backoff := 100 * time.Millisecond
	for {
		if conn == nil {
			var err error
			if conn, err = listen(ctx, l.cfg); err != nil {
				if ctx.Err() != nil {
					return
				}
				l.log.Warn("store: event listener cannot reconnect", "err", err, "retry_in", backoff)
				select {
				case <-time.After(backoff):
				case <-ctx.Done():
					return
				}
				backoff = min(2*backoff, 10*time.Second)
				continue
			}
			backoff = 100 * time.Millisecond
			l.log.Info("store: event listener reconnected")
			// Queue wakeups sent while it was away are lost: look at
			// the queue once in case.
			l.queue.signal()
		}
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			l.log.Warn("store: event listener lost its connection", "err", err)
			conn.Close(context.Background())
			conn = nil
			continue
		}
		if n.Channel == queueChannel {
			node, err := decodeQueueWakeup(n.Payload)
			if err != nil {
				l.log.Warn("store: ignoring queue wakeup", "err", err)
			} else if node != l.node { // local ones were signalled at commit
				l.queue.signal()
			}
			continue
		}
		node, evs, err := decodeEvents(n.Payload)
		if err != nil {
			l.log.Warn("store: ignoring change event", "err", err)
			continue
		}
		if node == l.node {
			continue // published locally at commit
		}
		for _, ev := range evs {
			l.hub.Publish(ev)
		}
	}
}

// decodeQueueWakeup unpacks the payload of a queue wakeup, "v1 <node>",
// and returns the sending node.
func decodeQueueWakeup(payload string) (string, error) {
	f := strings.Fields(payload)
	if len(f) != 2 || f[0] != payloadVersion {
		return "", fmt.Errorf("queue wakeup payload %.40q: unknown format", payload)
	}
	return f[1], nil
}

// wakeups fans "there may be queued work" out to the delivery engines of
// this process (Store.QueueWakeups).
type wakeups struct {
	mu   sync.Mutex
	subs map[chan struct{}]struct{}
}

func newWakeups() *wakeups { return &wakeups{subs: make(map[chan struct{}]struct{})} }

// subscribe returns a channel signalled until ctx ends; it is never
// closed (its reader stops with ctx).
func (w *wakeups) subscribe(ctx context.Context) <-chan struct{} {
	c := make(chan struct{}, 1)
	w.mu.Lock()
	w.subs[c] = struct{}{}
	w.mu.Unlock()
	context.AfterFunc(ctx, func() {
		w.mu.Lock()
		delete(w.subs, c)
		w.mu.Unlock()
	})
	return c
}

// signal wakes every subscriber without blocking; a subscriber with a
// wakeup waiting already keeps just that one.
func (w *wakeups) signal() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for c := range w.subs {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}
