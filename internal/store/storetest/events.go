package storetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// wantEventModSeq checks that an event carries the folder's highest
// mod-sequence as it is after the change.
func wantEventModSeq(t *testing.T, s store.Store, ev store.Event, what string) {
	t.Helper()
	if f := folderByID(t, s, ev.FolderID); ev.ModSeq != f.HighestModSeq {
		t.Errorf("%s event ModSeq = %d, folder HighestModSeq = %d", what, ev.ModSeq, f.HighestModSeq)
	}
}

func testEventsDeliver(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	sub := subscribe(t, s, a.ID)
	m := deliverTo(t, s, in, textMsg("event", "x"))
	ev, _ := waitEvent(t, sub, "new-message", isEvent(a.ID, in.ID, store.EventNewMessages))
	if ev.ModSeq != m.ModSeq {
		t.Errorf("event ModSeq = %d, want the message's %d", ev.ModSeq, m.ModSeq)
	}
	wantEventModSeq(t, s, ev, "new-message")
	// A delivery into another folder names that folder.
	sent := folder(t, s, a.ID, "Sent")
	deliverTo(t, s, sent, textMsg("sent", "x"))
	ev, _ = waitEvent(t, sub, "new-message in Sent", isEvent(a.ID, sent.ID, store.EventNewMessages))
	wantEventModSeq(t, s, ev, "new-message in Sent")
}

func testEventsFlags(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	deliverN(t, s, in, 2)
	sub := subscribe(t, s, a.ID)
	setFlags(t, s, in.ID, []uint32{2}, add(store.FlagSeen))
	ev, skipped := waitEvent(t, sub, "flags", isEvent(a.ID, in.ID, store.EventFlags))
	wantEventModSeq(t, s, ev, "flags")
	for _, e := range skipped {
		if e.Kind&(store.EventNewMessages|store.EventExpunged) != 0 {
			t.Errorf("SetFlags published %+v", e)
		}
	}
}

func testEventsExpunge(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	deliverN(t, s, in, 2)
	sub := subscribe(t, s, a.ID)
	if _, err := s.Expunge(ctx(t), in.ID, []uint32{1}); err != nil {
		t.Fatal(err)
	}
	ev, _ := waitEvent(t, sub, "expunge", isEvent(a.ID, in.ID, store.EventExpunged))
	wantEventModSeq(t, s, ev, "expunge")
}

func testEventsMove(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	arch := folder(t, s, a.ID, "Archive")
	deliverN(t, s, in, 2)
	sub := subscribe(t, s, a.ID)
	if _, err := s.Move(ctx(t), in.ID, []uint32{1}, arch.ID); err != nil {
		t.Fatal(err)
	}
	var gotSrc, gotDst bool
	waitEvent(t, sub, "move (both folders)", func(ev store.Event) bool {
		if isEvent(a.ID, in.ID, store.EventExpunged)(ev) {
			gotSrc = true
			wantEventModSeq(t, s, ev, "move source")
		}
		if isEvent(a.ID, arch.ID, store.EventNewMessages)(ev) {
			gotDst = true
			wantEventModSeq(t, s, ev, "move destination")
		}
		return gotSrc && gotDst
	})
}

func testEventsCopy(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	arch := folder(t, s, a.ID, "Archive")
	deliverN(t, s, in, 2)
	sub := subscribe(t, s, a.ID)
	if _, err := s.Copy(ctx(t), in.ID, []uint32{1, 2}, arch.ID); err != nil {
		t.Fatal(err)
	}
	ev, skipped := waitEvent(t, sub, "copy", isEvent(a.ID, arch.ID, store.EventNewMessages))
	wantEventModSeq(t, s, ev, "copy")
	for _, e := range skipped {
		if e.FolderID == in.ID && e.Kind&store.EventExpunged != 0 {
			t.Errorf("Copy published an expunge of the source: %+v", e)
		}
	}
}

func testEventsFolders(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	sub := subscribe(t, s, a.ID)
	isFolders := func(ev store.Event) bool { return ev.AccountID == a.ID && ev.Kind&store.EventFolders != 0 }
	w := mustCreateFolder(t, s, a.ID, "Work")
	waitEvent(t, sub, "folder create", isFolders)
	if err := s.RenameFolder(ctx(t), w.ID, "Jobs"); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, sub, "folder rename", isFolders)
	if err := s.SetSubscribed(ctx(t), w.ID, false); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, sub, "folder subscription", isFolders)
	if err := s.DeleteFolder(ctx(t), w.ID); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, sub, "folder delete", isFolders)
}

func testEventsOtherAccount(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	b := mustAccount(t, s, "maria@example.org")
	aIn, bIn := inbox(t, s, a.ID), inbox(t, s, b.ID)
	subB := subscribe(t, s, b.ID)
	// Everything happens to a first, then one delivery to b. Events are
	// published after each commit, so any event for a that leaked to b's
	// subscription arrives before b's own.
	deliverN(t, s, aIn, 2)
	setFlags(t, s, aIn.ID, []uint32{1}, add(store.FlagSeen))
	if _, err := s.Expunge(ctx(t), aIn.ID, []uint32{2}); err != nil {
		t.Fatal(err)
	}
	w := mustCreateFolder(t, s, a.ID, "Work")
	if _, err := s.Move(ctx(t), aIn.ID, []uint32{1}, w.ID); err != nil {
		t.Fatal(err)
	}
	deliverTo(t, s, bIn, textMsg("for maria", "x"))
	_, skipped := waitEvent(t, subB, "b's new message", isEvent(b.ID, bIn.ID, store.EventNewMessages))
	for _, ev := range skipped {
		if ev.AccountID != b.ID {
			t.Errorf("b's subscription got %+v", ev)
		}
	}
}

func testEventsClose(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	sub := s.Subscribe(a.ID)
	other := subscribe(t, s, a.ID)
	deliverTo(t, s, in, textMsg("before close", "x"))
	sub.Close()
	waitClosed(t, sub, "closed subscription")
	sub.Close() // a second Close is harmless
	// The store goes on publishing to the others without panicking.
	deliverTo(t, s, in, textMsg("after close", "x"))
	waitEvent(t, other, "event for the remaining subscription", isEvent(a.ID, in.ID, store.EventNewMessages))
}

// waitClosed waits until a subscription's channel is closed, reading the
// events still waiting in it.
func waitClosed(t *testing.T, sub *store.Subscription, what string) {
	t.Helper()
	timer := time.NewTimer(eventTimeout)
	defer timer.Stop()
	for {
		select {
		case _, ok := <-sub.C:
			if !ok {
				return
			}
		case <-timer.C:
			t.Errorf("%s: C not closed within %v", what, eventTimeout)
			return
		}
	}
}

// ---------------------------------------------------------------------------
// Closed store.

// noPanic runs f and turns a panic into a test error.
func noPanic(t *testing.T, what string, f func() error) (err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s on a closed store panicked: %v", what, r)
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return f()
}

func testClosed(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	m := deliverTo(t, s, in, textMsg("before close", "x"))
	sub := s.Subscribe(a.ID)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	waitClosed(t, sub, "subscription of a closed store")
	c := ctx(t)
	calls := map[string]func() error{
		"CreateDomain": func() error { _, err := s.CreateDomain(c, "example.net"); return err },
		"Domains":      func() error { _, err := s.Domains(c); return err },
		"Account":      func() error { _, err := s.Account(c, a.ID); return err },
		"Folders":      func() error { _, err := s.Folders(c, a.ID); return err },
		"CreateFolder": func() error { _, err := s.CreateFolder(c, a.ID, "Work", store.RoleNone); return err },
		"Deliver": func() error {
			_, err := s.Deliver(c, store.Delivery{AccountID: a.ID, Body: strings.NewReader(textMsg("after close", "x"))})
			return err
		},
		"MessagesByUID": func() error { _, err := s.MessagesByUID(c, in.ID, []uint32{1}); return err },
		"Messages": func() error {
			for _, err := range s.Messages(c, in.ID) {
				if err != nil {
					return err
				}
			}
			return nil
		},
		"OpenBody": func() error {
			b, err := s.OpenBody(c, m)
			if err == nil {
				b.Close()
			}
			return err
		},
		"SetFlags": func() error { _, err := s.SetFlags(c, in.ID, []uint32{1}, add(store.FlagSeen)); return err },
		"Expunge":  func() error { _, err := s.Expunge(c, in.ID, []uint32{1}); return err },
		"Search":   func() error { _, err := s.Search(c, in.ID, store.SearchText, "x"); return err },
		"Usage":    func() error { _, err := s.Usage(c, a.ID); return err },
	}
	for name, f := range calls {
		err := noPanic(t, name, f)
		if err == nil {
			t.Errorf("%s on a closed store succeeded", name)
		} else if !strings.HasPrefix(err.Error(), "panic:") {
			wantErr(t, err, store.ErrClosed, name+" on a closed store")
		}
	}
	noPanic(t, "second Close", func() error { s.Close(); return nil })
}
