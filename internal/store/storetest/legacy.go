package storetest

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/pochta-mail/pochta/internal/mimeparse"
	"github.com/pochta-mail/pochta/internal/store"
)

// CachedStructure gives a test access to the bytes a backend caches as a
// message's structure (the row's column), to check their form and to put
// there what an older version wrote.
type CachedStructure struct {
	// Get returns the cached bytes of body bodyID.
	Get func(t *testing.T, bodyID int64) []byte
	// Set replaces the cached bytes of body bodyID.
	Set func(t *testing.T, bodyID int64, raw []byte)
}

// RunCachedStructures checks the cached form of structures in a store
// made by open: new deliveries are cached in the compact binary encoding,
// structures cached as JSON (as every version before it wrote them, rows
// that are never rewritten) read back the same through Structure and
// Structures, also mixed with binary ones in one batch, and a corrupt
// cache entry is an error, not a crash.
func RunCachedStructures(t *testing.T, open func(t *testing.T) store.Store, c CachedStructure) {
	s := open(t)
	a := mustAccount(t, s, "ivan@example.org")
	f := inbox(t, s, a.ID)
	msgs := []store.Message{
		deliverTo(t, s, f, multipartMsg),
		deliverTo(t, s, f, textMsg("Cached structure", "one\ntwo")),
		deliverTo(t, s, f, "To: group: a@b.c, d@e.f;\nSubject: no From\n\nbody\n"),
	}
	want := make([]*mimeparse.Message, len(msgs))
	for i, m := range msgs {
		want[i] = structure(t, s, m)
		raw := c.Get(t, m.BodyID)
		js, err := json.Marshal(want[i])
		if err != nil {
			t.Fatal(err)
		}
		if len(raw) == 0 || raw[0] == '{' || len(raw) >= len(js) {
			t.Errorf("message %d: cached as %q (%d bytes), want the binary encoding, shorter than the %d bytes of JSON", i, raw, len(raw), len(js))
		}
	}
	if want[0].Root.Envelope.Subject != "With attachment" || len(want[0].Root.Parts) != 2 ||
		want[2].Root.Envelope == nil || len(want[2].Root.Envelope.To) != 4 {
		t.Fatalf("unexpected structures: %+v, %+v", want[0].Root, want[2].Root.Envelope)
	}

	// Rows written as JSON before the binary encoding: the first two.
	for i, m := range msgs[:2] {
		js, err := json.Marshal(want[i])
		if err != nil {
			t.Fatal(err)
		}
		c.Set(t, m.BodyID, js)
	}
	for i, m := range msgs {
		if got := structure(t, s, m); !reflect.DeepEqual(got, want[i]) {
			t.Errorf("Structure of message %d after the JSON rewrite:\n got %+v\nwant %+v", i, got, want[i])
		}
	}
	batch, err := s.Structures(ctx(t), msgs)
	if err != nil {
		t.Fatalf("Structures of JSON and binary rows: %v", err)
	}
	for i, m := range msgs {
		if got := batch[m.BodyID]; !reflect.DeepEqual(got, want[i]) {
			t.Errorf("Structures[%d] of a mixed batch:\n got %+v\nwant %+v", i, got, want[i])
		}
	}

	// A corrupt entry gives an error for that message.
	for _, raw := range [][]byte{{0x01, 0x05}, []byte("{\"r\":"), {0x7f, 1, 2}} {
		c.Set(t, msgs[2].BodyID, raw)
		if st, err := s.Structure(ctx(t), msgs[2]); err == nil {
			t.Errorf("Structure of corrupt entry %q = %+v, want an error", raw, st)
		}
		if _, err := s.Structures(ctx(t), msgs[2:]); err == nil {
			t.Errorf("Structures with corrupt entry %q: no error", raw)
		}
	}
	if got := structure(t, s, msgs[0]); !reflect.DeepEqual(got, want[0]) {
		t.Errorf("Structure of message 0 next to a corrupt one:\n got %+v\nwant %+v", got, want[0])
	}
}
