package delivery

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
)

func setForward(t *testing.T, st store.Store, id int64, to []string, keep bool) {
	t.Helper()
	a, err := st.Account(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	a.Settings.Forward, a.Settings.ForwardKeep = to, keep
	if err := st.UpdateAccount(context.Background(), a); err != nil {
		t.Fatal(err)
	}
}

func queuedBodies(t *testing.T, q Queue) ([]QueueEnvelope, []string) {
	t.Helper()
	envs, err := q.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for _, e := range envs {
		r, err := q.Open(context.Background(), e.ID)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r)
		r.Close()
		bodies = append(bodies, string(b))
	}
	return envs, bodies
}

func TestForwardLocalAndRemote(t *testing.T) {
	for _, keep := range []bool{false, true} {
		st, ids := testStore(t)
		q, err := OpenDirQueue(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		d := &Deliverer{Store: st, Queue: q, SpoolDir: t.TempDir()}
		anna := ids["anna@example.org"]
		setForward(t, st, anna, []string{"boris@example.org", "far@elsewhere.example"}, keep)
		m := &Message{ID: "f1", From: "x@sender.example", Trace: []byte("Received: test\r\n")}
		m.AddLocal("anna@example.org", []int64{anna})
		// A single destination streams: forwarding must still read it twice.
		if err := d.Deliver(context.Background(), m, Stream{R: strings.NewReader("Subject: hi\r\n\r\nbody\r\n")}); err != nil {
			t.Fatal(err)
		}
		if got := messages(t, st, anna); (len(got) == 1) != keep {
			t.Errorf("keep=%v: anna has %d messages", keep, len(got))
		}
		envs, bodies := queuedBodies(t, q)
		if len(envs) != 2 {
			t.Fatalf("keep=%v: %d queued, want a local and a remote forward", keep, len(envs))
		}
		slices.SortFunc(envs, func(a, b QueueEnvelope) int {
			if a.Local == b.Local {
				return 0
			} else if a.Local {
				return -1
			}
			return 1
		})
		if !envs[0].Local || envs[0].From != "x@sender.example" || !slices.Equal(envs[0].To, []string{"boris@example.org"}) {
			t.Errorf("local forward: %+v", envs[0])
		}
		if envs[1].Local || envs[1].From != "anna@example.org" || !slices.Equal(envs[1].To, []string{"far@elsewhere.example"}) {
			t.Errorf("remote forward: %+v (want anna's address as the sender)", envs[1])
		}
		for _, b := range bodies {
			if !strings.HasPrefix(b, "Delivered-To: anna@example.org\r\nReceived: test\r\nSubject: hi\r\n") {
				t.Errorf("forwarded body %q", b)
			}
		}
	}
}

func TestForwardLoopKeepsMessage(t *testing.T) {
	st, ids := testStore(t)
	q, err := OpenDirQueue(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	d := &Deliverer{Store: st, Queue: q}
	anna := ids["anna@example.org"]
	setForward(t, st, anna, []string{"far@elsewhere.example"}, false)
	hops := strings.Repeat("Received: from somewhere\r\n", MaxHops)
	for name, msg := range map[string]string{
		"delivered-to": "Delivered-To: Anna@Example.org\r\nReceived: x\r\nSubject: back again\r\n\r\nbody\r\n",
		"hops":         hops + "Subject: far travelled\r\n\r\nbody\r\n",
	} {
		m := &Message{ID: name, From: "far@elsewhere.example"}
		m.AddLocal("anna@example.org", []int64{anna})
		if err := d.Deliver(context.Background(), m, Stream{R: strings.NewReader(msg)}); err != nil {
			t.Fatal(err)
		}
	}
	if envs, _ := queuedBodies(t, q); len(envs) != 0 {
		t.Errorf("a looping message was forwarded: %+v", envs)
	}
	if got := messages(t, st, anna); len(got) != 2 {
		t.Errorf("anna has %d messages, want both looping ones kept", len(got))
	}
}

func TestParseForwardTargets(t *testing.T) {
	got, err := ParseForwardTargets(" Boris@Example.ORG, far@elsewhere.example;boris@example.org ", "anna@example.org")
	if err != nil || !slices.Equal(got, []string{"boris@example.org", "far@elsewhere.example"}) {
		t.Errorf("got %v, %v", got, err)
	}
	for _, bad := range []string{"anna@example.org", "not an address", "x@[192.0.2.1]", "a@b.example,c@", manyTargets(MaxForwardTargets + 1)} {
		if _, err := ParseForwardTargets(bad, "anna@example.org"); !errors.Is(err, ErrBadAddress) {
			t.Errorf("%q: %v, want ErrBadAddress", bad, err)
		}
	}
	if got, err := ParseForwardTargets("  ", "anna@example.org"); err != nil || got != nil {
		t.Errorf("empty list: %v, %v", got, err)
	}
}

func manyTargets(n int) string {
	var l []string
	for i := range n {
		l = append(l, string(rune('a'+i))+"@b.example")
	}
	return strings.Join(l, ",")
}

func FuzzParseForwardTargets(f *testing.F) {
	f.Add("a@b.example, c@d.example")
	f.Add("\"quoted local\"@b.example;x@[1.2.3.4]")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseForwardTargets(s, "own@example.org")
		if err != nil {
			return
		}
		if len(got) > MaxForwardTargets {
			t.Fatalf("%d targets", len(got))
		}
		for _, a := range got {
			if _, err := ParseAddress(a); err != nil {
				t.Fatalf("returned unparseable %q: %v", a, err)
			}
		}
	})
}
