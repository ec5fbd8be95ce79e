package store

import (
	"sync"
)

// EventKind says what changed in a folder.
type EventKind uint8

// Event kinds.
const (
	// EventNewMessages: messages were added to the folder.
	EventNewMessages EventKind = 1 << iota
	// EventExpunged: messages were removed from the folder.
	EventExpunged
	// EventFlags: flags of messages changed.
	EventFlags
	// EventFolders: a folder was created, renamed, deleted or its
	// subscription changed.
	EventFolders
)

// Event tells a subscriber that a folder changed. Events are hints: a
// subscriber learns exactly what changed by calling Store.Changes with the
// last mod-sequence it knew. This keeps events small, lets them coalesce,
// and lets a shared backend carry them between machines (PostgreSQL
// NOTIFY) without losing meaning.
type Event struct {
	AccountID int64
	FolderID  int64
	// ModSeq is the folder's highest mod-sequence after the change.
	ModSeq uint64
	Kind   EventKind
}

// subscriptionBuffer is how many events wait for a slow subscriber before
// further ones are dropped. Dropping is safe: the events already waiting
// wake the subscriber, which then asks the store what changed.
const subscriptionBuffer = 64

// Subscription receives the change events of one account.
type Subscription struct {
	// C delivers events. It is closed by Close.
	C <-chan Event

	c         chan Event
	hub       *Hub
	accountID int64
	once      sync.Once
}

// Close stops the subscription and closes C.
func (s *Subscription) Close() {
	s.once.Do(func() { s.hub.remove(s) })
}

// Hub fans events out to the subscriptions of this process. Backends embed
// one and call Publish after each committed change (and, for shared
// backends, for changes other nodes report).
type Hub struct {
	mu   sync.Mutex
	subs map[int64]map[*Subscription]struct{}
}

// NewHub makes an empty hub.
func NewHub() *Hub {
	return &Hub{subs: make(map[int64]map[*Subscription]struct{})}
}

// Subscribe adds a subscription for an account.
func (h *Hub) Subscribe(accountID int64) *Subscription {
	c := make(chan Event, subscriptionBuffer)
	s := &Subscription{C: c, c: c, hub: h, accountID: accountID}
	h.mu.Lock()
	m := h.subs[accountID]
	if m == nil {
		m = make(map[*Subscription]struct{})
		h.subs[accountID] = m
	}
	m[s] = struct{}{}
	h.mu.Unlock()
	return s
}

func (h *Hub) remove(s *Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if m := h.subs[s.accountID]; m != nil {
		delete(m, s)
		if len(m) == 0 {
			delete(h.subs, s.accountID)
		}
	}
	close(s.c)
}

// Publish sends ev to every subscription of its account without blocking.
func (h *Hub) Publish(ev Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs[ev.AccountID] {
		select {
		case s.c <- ev:
		default: // the subscriber has events waiting already
		}
	}
}

// CloseAll ends every subscription (used when the store closes).
func (h *Hub) CloseAll() {
	h.mu.Lock()
	var all []*Subscription
	for _, m := range h.subs {
		for s := range m {
			all = append(all, s)
		}
	}
	h.mu.Unlock()
	for _, s := range all {
		s.Close()
	}
}

// NewMessageEvents gives the events that announce ms, new messages: one
// per folder, with the highest mod-sequence among them, in the order the
// folders first appear.
func NewMessageEvents(ms []Message) []Event {
	var out []Event
	for _, m := range ms {
		found := false
		for i := range out {
			if out[i].FolderID == m.FolderID {
				out[i].ModSeq = max(out[i].ModSeq, m.ModSeq)
				found = true
				break
			}
		}
		if !found {
			out = append(out, Event{AccountID: m.AccountID, FolderID: m.FolderID, ModSeq: m.ModSeq, Kind: EventNewMessages})
		}
	}
	return out
}
