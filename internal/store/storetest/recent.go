package storetest

import (
	"errors"
	"fmt"
	"iter"
	"strings"
	"sync"
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
)

// claim calls ClaimRecent and fails the test on error.
func claimRecent(t *testing.T, s store.Store, folderID int64) (from, to uint32) {
	t.Helper()
	from, to, err := s.ClaimRecent(ctx(t), folderID)
	if err != nil {
		t.Fatalf("ClaimRecent(%d): %v", folderID, err)
	}
	return from, to
}

// wantClaim checks a ClaimRecent result; want nil means "nothing".
func wantClaim(t *testing.T, from, to uint32, want []uint32, what string) {
	t.Helper()
	if want == nil {
		if from <= to {
			t.Errorf("%s: claimed %d..%d, want nothing", what, from, to)
		}
		return
	}
	if from != want[0] || to != want[1] {
		t.Errorf("%s: claimed %d..%d, want %d..%d", what, from, to, want[0], want[1])
	}
}

// wantRecent checks FolderStatus.Recent.
func wantRecent(t *testing.T, s store.Store, folderID int64, want int64, what string) {
	t.Helper()
	st, err := s.FolderStatus(ctx(t), folderID)
	if err != nil {
		t.Fatalf("FolderStatus(%d): %v", folderID, err)
	}
	if st.Recent != want {
		t.Errorf("%s: FolderStatus.Recent = %d, want %d", what, st.Recent, want)
	}
}

func testRecentClaim(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	if in.RecentUID != 1 {
		t.Errorf("new inbox: RecentUID = %d, want 1", in.RecentUID)
	}
	from, to := claimRecent(t, s, in.ID)
	wantClaim(t, from, to, nil, "empty folder")
	deliverN(t, s, in, 3)
	wantRecent(t, s, in.ID, 3, "three new messages")
	from, to = claimRecent(t, s, in.ID)
	wantClaim(t, from, to, []uint32{1, 3}, "first claim")
	wantRecent(t, s, in.ID, 0, "after the claim")
	if f := folderByID(t, s, in.ID); f.RecentUID != 4 {
		t.Errorf("after the claim: RecentUID = %d, want 4", f.RecentUID)
	}
	from, to = claimRecent(t, s, in.ID)
	wantClaim(t, from, to, nil, "second claim with nothing new")
	deliverN(t, s, in, 1)
	wantRecent(t, s, in.ID, 1, "one more message")
	from, to = claimRecent(t, s, in.ID)
	wantClaim(t, from, to, []uint32{4, 4}, "claim of the new message")
	// Copies and moves arrive as new messages too; expunged ones are not
	// counted.
	other := mustCreateFolder(t, s, a.ID, "Other")
	if _, err := s.Copy(ctx(t), in.ID, []uint32{1, 2}, other.ID); err != nil {
		t.Fatal(err)
	}
	wantRecent(t, s, other.ID, 2, "copies")
	if _, err := s.Expunge(ctx(t), other.ID, []uint32{1}); err != nil {
		t.Fatal(err)
	}
	wantRecent(t, s, other.ID, 1, "after an expunge")
	from, to = claimRecent(t, s, other.ID)
	wantClaim(t, from, to, []uint32{1, 2}, "claim in the copy folder")
	// Claims are per folder: the inbox is untouched.
	wantRecent(t, s, in.ID, 0, "inbox after another folder's claim")
	_, _, err := s.ClaimRecent(ctx(t), other.ID+1000)
	wantErr(t, err, store.ErrNotFound, "ClaimRecent of an unknown folder")
}

func testRecentConcurrentClaims(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	const claimers, rounds, deliveries = 4, 20, 40
	var (
		mu      sync.Mutex
		claimed = map[uint32]int{}
		wg      sync.WaitGroup
	)
	wg.Go(func() {
		for i := range deliveries {
			if _, err := s.Deliver(ctx(t), store.Delivery{AccountID: a.ID, FolderID: in.ID,
				Body: strings.NewReader(textMsg(fmt.Sprintf("m%d", i), "x"))}); err != nil {
				t.Errorf("delivery %d: %v", i, err)
				return
			}
		}
	})
	for c := range claimers {
		wg.Go(func() {
			for range rounds {
				from, to, err := s.ClaimRecent(ctx(t), in.ID)
				if err != nil {
					t.Errorf("claimer %d: %v", c, err)
					return
				}
				mu.Lock()
				for u := from; u <= to && to > 0; u++ {
					claimed[u]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	// Whatever is left is claimed now.
	from, to := claimRecent(t, s, in.ID)
	for u := from; u <= to && to > 0; u++ {
		claimed[u]++
	}
	for u := uint32(1); u <= deliveries; u++ {
		if claimed[u] != 1 {
			t.Errorf("UID %d claimed %d times, want once", u, claimed[u])
		}
	}
	if len(claimed) != deliveries {
		t.Errorf("%d UIDs claimed, want %d", len(claimed), deliveries)
	}
}

// batch turns deliveries into the iterator DeliverBatch takes.
func batch(ds ...store.Delivery) iter.Seq2[store.Delivery, error] {
	return func(yield func(store.Delivery, error) bool) {
		for _, d := range ds {
			if !yield(d, nil) {
				return
			}
		}
	}
}

func testDeliverBatch(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	sent := folder(t, s, a.ID, "Sent")
	deliverN(t, s, sent, 1)
	sub := subscribe(t, s, a.ID)
	bodies := []string{
		textMsg("one", "first"),
		textMsg("two", strings.Repeat("large line of the second message\n", 20000)),
		textMsg("three", "third"),
	}
	var ds []store.Delivery
	for i, b := range bodies {
		ds = append(ds, store.Delivery{AccountID: a.ID, FolderID: sent.ID, Flags: []string{`\Seen`, fmt.Sprintf("k%d", i)}, Body: strings.NewReader(b)})
	}
	ms, err := s.DeliverBatch(ctx(t), batch(ds...))
	if err != nil {
		t.Fatalf("DeliverBatch: %v", err)
	}
	if len(ms) != 3 {
		t.Fatalf("DeliverBatch returned %d messages, want 3", len(ms))
	}
	wantUIDs(t, uidsOf(ms), []uint32{2, 3, 4}, "batch UIDs")
	for i, m := range ms {
		if got := readBody(t, s, m); got != crlf(bodies[i]) {
			t.Errorf("message %d: body differs (%d bytes, want %d)", i, len(got), len(crlf(bodies[i])))
		}
		wantFlags(t, message(t, s, sent.ID, m.UID), []string{`\Seen`, fmt.Sprintf("k%d", i)}, "batch message")
	}
	ev, _ := waitEvent(t, sub, "new messages in Sent", isEvent(a.ID, sent.ID, store.EventNewMessages))
	wantEventModSeq(t, s, ev, "batch delivery")
	wantUIDs(t, folderUIDs(t, s, sent.ID), []uint32{1, 2, 3, 4}, "Sent after the batch")
	// Found by search like any delivery.
	uids, err := s.Search(ctx(t), sent.ID, store.SearchBody, "large line")
	if err != nil {
		t.Fatal(err)
	}
	wantUIDs(t, uids, []uint32{3}, "search in the batch")
	// An empty batch stores nothing.
	if ms, err := s.DeliverBatch(ctx(t), batch()); err != nil || len(ms) != 0 {
		t.Errorf("empty DeliverBatch = %v, %v; want nothing", ms, err)
	}
}

func testDeliverBatchQuota(t *testing.T, s store.Store) {
	a := mustAccountQuota(t, s, "ivan@example.org", 0, 3)
	in := inbox(t, s, a.ID)
	first := deliverTo(t, s, in, textMsg("already there", "x"))
	var ds []store.Delivery
	for i := range 3 {
		ds = append(ds, store.Delivery{AccountID: a.ID, FolderID: in.ID, Body: strings.NewReader(textMsg(fmt.Sprintf("b%d", i), strings.Repeat("y\n", 50000)))})
	}
	_, err := s.DeliverBatch(ctx(t), batch(ds...))
	wantErr(t, err, store.ErrQuotaExceeded, "batch whose third message is over the quota")
	wantUIDs(t, folderUIDs(t, s, in.ID), []uint32{1}, "inbox after the refused batch")
	wantUsage(t, s, a.ID, first.Size, 1, "after the refused batch")
	// Two fit.
	ds = ds[:0]
	for i := range 2 {
		ds = append(ds, store.Delivery{AccountID: a.ID, FolderID: in.ID, Body: strings.NewReader(textMsg(fmt.Sprintf("c%d", i), "z"))})
	}
	ms, err := s.DeliverBatch(ctx(t), batch(ds...))
	if err != nil {
		t.Fatalf("batch that fits: %v", err)
	}
	if uids := uidsOf(ms); len(uids) != 2 || uids[0] >= uids[1] || uids[0] <= 1 {
		t.Errorf("batch that fits: UIDs %v, want two ascending after 1", uids)
	}
	wantUsage(t, s, a.ID, first.Size+ms[0].Size+ms[1].Size, 3, "after the batch that fits")
}

func testDeliverBatchAbort(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	boom := errors.New("client went away")
	seq := func(yield func(store.Delivery, error) bool) {
		if !yield(store.Delivery{AccountID: a.ID, FolderID: in.ID, Body: strings.NewReader(textMsg("one", "x"))}, nil) {
			return
		}
		if !yield(store.Delivery{AccountID: a.ID, FolderID: in.ID, Body: strings.NewReader(textMsg("two", strings.Repeat("big\n", 100000)))}, nil) {
			return
		}
		yield(store.Delivery{}, boom)
	}
	_, err := s.DeliverBatch(ctx(t), seq)
	wantErr(t, err, boom, "batch stopped by its iterator")
	wantUIDs(t, folderUIDs(t, s, in.ID), nil, "inbox after the stopped batch")
	wantUsage(t, s, a.ID, 0, 0, "after the stopped batch")
	// A body that cannot be read stops the batch as well.
	_, err = s.DeliverBatch(ctx(t), batch(
		store.Delivery{AccountID: a.ID, FolderID: in.ID, Body: strings.NewReader(textMsg("ok", "x"))},
		store.Delivery{AccountID: a.ID, FolderID: in.ID, Body: &failingReader{}},
	))
	if err == nil {
		t.Error("batch with an unreadable body succeeded")
	}
	// A delivery to a folder of nobody stops it too.
	_, err = s.DeliverBatch(ctx(t), batch(
		store.Delivery{AccountID: a.ID, FolderID: in.ID, Body: strings.NewReader(textMsg("ok", "x"))},
		store.Delivery{AccountID: a.ID, FolderID: in.ID + 1000, Body: strings.NewReader(textMsg("nowhere", "x"))},
	))
	wantErr(t, err, store.ErrNotFound, "batch with an unknown folder")
	wantUIDs(t, folderUIDs(t, s, in.ID), nil, "inbox after the failed batches")
	m := deliverTo(t, s, in, textMsg("after", "x"))
	wantUsage(t, s, a.ID, m.Size, 1, "after a normal delivery")
	wantUIDs(t, folderUIDs(t, s, in.ID), []uint32{m.UID}, "inbox after a normal delivery")
}

// failingReader fails after a few bytes.
type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n > 0 {
		return 0, errors.New("read failed")
	}
	r.n = copy(p, "Subject: half\r\n")
	return r.n, nil
}
