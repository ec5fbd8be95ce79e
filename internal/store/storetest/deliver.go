package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/pochta-mail/pochta/internal/mimeparse"
	"github.com/pochta-mail/pochta/internal/store"
)

// sameMessage compares the fields of two views of one message.
func sameMessage(t *testing.T, got, want store.Message, what string) {
	t.Helper()
	if got.ID != want.ID || got.AccountID != want.AccountID || got.FolderID != want.FolderID ||
		got.UID != want.UID || got.ModSeq != want.ModSeq || got.Size != want.Size || got.BodyID != want.BodyID ||
		got.EndsWithNewline != want.EndsWithNewline || got.HeaderBytes != want.HeaderBytes ||
		!sameSecond(got.InternalDate, want.InternalDate) ||
		!(len(got.Flags) == 0 && len(want.Flags) == 0 || slices.Equal(got.Flags, want.Flags)) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func testDeliverBodyCRLF(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := "From: Ivan <ivan@example.org>\nSubject: line endings\r\nX-Mixed: yes\n\nline one\nline two\r\n\n\nlast line\n"
	want := "From: Ivan <ivan@example.org>\r\nSubject: line endings\r\nX-Mixed: yes\r\n\r\nline one\r\nline two\r\n\r\n\r\nlast line\r\n"
	m := deliverTo(t, s, inbox(t, s, a.ID), in)
	if got := readBody(t, s, m); got != want {
		t.Errorf("stored body:\n%q\nwant\n%q", got, want)
	}
	if m.Size != int64(len(want)) {
		t.Errorf("Message.Size = %d, want %d", m.Size, len(want))
	}
	if got, err := s.MessageByID(ctx(t), m.ID); err != nil || got.Size != int64(len(want)) {
		t.Errorf("MessageByID: Size %d, %v; want %d", got.Size, err, len(want))
	}
}

func testDeliverBodyCRLFKept(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	want := crlf(textMsg("already crlf", "one\ntwo\n\nthree"))
	m := deliverTo(t, s, inbox(t, s, a.ID), want)
	if got := readBody(t, s, m); got != want {
		t.Errorf("stored body:\n%q\nwant\n%q", got, want)
	}
	if m.Size != int64(len(want)) {
		t.Errorf("Size = %d, want %d", m.Size, len(want))
	}
	// CR and LF arriving in separate reads must still make one CRLF.
	m2 := deliverD(t, s, store.Delivery{AccountID: a.ID, Body: iotest.OneByteReader(strings.NewReader(want))})
	if got := readBody(t, s, m2); got != want {
		t.Errorf("body read one byte at a time:\n%q\nwant\n%q", got, want)
	}
	lf := strings.ReplaceAll(want, "\r\n", "\n")
	m3 := deliverD(t, s, store.Delivery{AccountID: a.ID, Body: iotest.HalfReader(strings.NewReader(lf))})
	if got := readBody(t, s, m3); got != want {
		t.Errorf("LF body read in small pieces:\n%q\nwant\n%q", got, want)
	}
}

func testDeliverBodyReadAt(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	want := crlf(textMsg("read at", strings.Repeat("0123456789abcdef\n", 200)))
	m := deliverTo(t, s, inbox(t, s, a.ID), want)
	b, err := s.OpenBody(ctx(t), m)
	if err != nil {
		t.Fatalf("OpenBody: %v", err)
	}
	defer b.Close()
	if b.Size() != int64(len(want)) {
		t.Errorf("Size() = %d, want %d", b.Size(), len(want))
	}
	for _, off := range []int{0, 1, 100, len(want) / 2, len(want) - 10} {
		p := make([]byte, 10)
		n, err := b.ReadAt(p, int64(off))
		if n != 10 || (err != nil && !(errors.Is(err, io.EOF) && off+10 == len(want))) {
			t.Errorf("ReadAt(10, %d) = %d, %v", off, n, err)
		}
		if string(p[:n]) != want[off:off+n] {
			t.Errorf("ReadAt(10, %d) = %q, want %q", off, p[:n], want[off:off+10])
		}
	}
	// Reading across the end gives what there is and io.EOF.
	p := make([]byte, 20)
	n, err := b.ReadAt(p, int64(len(want)-5))
	if n != 5 || !errors.Is(err, io.EOF) || string(p[:n]) != want[len(want)-5:] {
		t.Errorf("ReadAt across the end = %d, %v, %q; want 5, EOF, %q", n, err, p[:n], want[len(want)-5:])
	}
	n, err = b.ReadAt(p, int64(len(want)+10))
	if n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("ReadAt past the end = %d, %v; want 0, EOF", n, err)
	}
	// ReadAt does not move the reader: a full read still starts at 0.
	all, err := io.ReadAll(b)
	if err != nil || string(all) != want {
		t.Errorf("Read after ReadAt: %d bytes, %v; want the whole body", len(all), err)
	}
	// Two bodies open at once are independent.
	b2, err := s.OpenBody(ctx(t), m)
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	head := make([]byte, 6)
	if _, err := io.ReadFull(b2, head); err != nil || string(head) != want[:6] {
		t.Errorf("second body: %q, %v", head, err)
	}
}

func testDeliverBinaryBody(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	var raw bytes.Buffer
	raw.WriteString("Subject: binary\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n")
	for i := range 2000 {
		c := byte(i*7 + i/256)
		if c == '\r' || c == '\n' {
			c = 0
		}
		raw.WriteByte(c)
		if i%100 == 99 {
			raw.WriteString("\r\n")
		}
	}
	raw.WriteString("\r\n")
	want := raw.String()
	m := deliverTo(t, s, inbox(t, s, a.ID), want)
	if got := readBody(t, s, m); got != want {
		t.Errorf("binary body changed (%d bytes stored, %d sent)", len(got), len(want))
	}
	if m.Size != int64(len(want)) {
		t.Errorf("Size = %d, want %d", m.Size, len(want))
	}
}

func testDeliverLargeBody(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	var b strings.Builder
	b.WriteString("Subject: large\n\n")
	for i := 0; b.Len() < 3<<20; i++ {
		// Lines of every length from 0 to 999 put line ends at every
		// offset of any buffer size.
		b.WriteString(strings.Repeat("x", i%1000))
		b.WriteString("\n")
	}
	in := b.String()
	want := crlf(in)
	m := deliverTo(t, s, inbox(t, s, a.ID), in)
	got := readBody(t, s, m)
	if got != want {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Errorf("large body differs at offset %d (stored %d bytes, want %d)", i, len(got), len(want))
	}
	if m.Size != int64(len(want)) {
		t.Errorf("Size = %d, want %d", m.Size, len(want))
	}
}

func testDeliverDefaultInbox(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	m := deliverD(t, s, store.Delivery{AccountID: a.ID, Body: strings.NewReader(textMsg("to inbox", "x"))})
	in := inbox(t, s, a.ID)
	if m.FolderID != in.ID || m.AccountID != a.ID || m.UID != 1 {
		t.Errorf("Deliver without folder: FolderID %d, AccountID %d, UID %d; want %d, %d, 1", m.FolderID, m.AccountID, m.UID, in.ID, a.ID)
	}
	wantUIDs(t, folderUIDs(t, s, in.ID), []uint32{1}, "inbox")
}

func testDeliverUIDsIncrease(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	arch := folder(t, s, a.ID, "Archive")
	ms := deliverN(t, s, in, 3)
	wantUIDs(t, uidsOf(ms), []uint32{1, 2, 3}, "Deliver results")
	wantUIDs(t, folderUIDs(t, s, in.ID), []uint32{1, 2, 3}, "Messages")
	if f := folderByID(t, s, in.ID); f.UIDNext != 4 {
		t.Errorf("UIDNext = %d, want 4", f.UIDNext)
	}
	// UIDs are per folder.
	if m := deliverTo(t, s, arch, textMsg("archive", "x")); m.UID != 1 {
		t.Errorf("first UID in Archive = %d, want 1", m.UID)
	}
	if f := folderByID(t, s, in.ID); f.UIDNext != 4 {
		t.Errorf("inbox UIDNext after a delivery elsewhere = %d, want 4", f.UIDNext)
	}
}

func testDeliverUIDsNotReused(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	deliverN(t, s, in, 2)
	if got, err := s.Expunge(ctx(t), in.ID, []uint32{2}); err != nil || !slices.Equal(got, []uint32{2}) {
		t.Fatalf("Expunge(2) = %v, %v", got, err)
	}
	m := deliverTo(t, s, in, textMsg("after expunge", "x"))
	if m.UID != 3 {
		t.Errorf("UID after expunging the last = %d, want 3", m.UID)
	}
	if _, err := s.Expunge(ctx(t), in.ID, []uint32{1, 3}); err != nil {
		t.Fatal(err)
	}
	m = deliverTo(t, s, in, textMsg("into an empty folder", "x"))
	if m.UID != 4 {
		t.Errorf("UID after emptying the folder = %d, want 4", m.UID)
	}
	if f := folderByID(t, s, in.ID); f.UIDNext != 5 {
		t.Errorf("UIDNext = %d, want 5", f.UIDNext)
	}
	wantUIDs(t, folderUIDs(t, s, in.ID), []uint32{4}, "Messages")
}

func testDeliverModSeqIncreases(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	prev := in.HighestModSeq
	for i := range 3 {
		m := deliverTo(t, s, in, textMsg(fmt.Sprint("modseq ", i), "x"))
		if m.ModSeq <= prev {
			t.Errorf("delivery %d: ModSeq %d, not above %d", i, m.ModSeq, prev)
		}
		prev = m.ModSeq
		if f := folderByID(t, s, in.ID); f.HighestModSeq != m.ModSeq {
			t.Errorf("delivery %d: HighestModSeq %d, want the new message's %d", i, f.HighestModSeq, m.ModSeq)
		}
	}
}

func testDeliverInternalDate(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	date := time.Date(2024, 2, 29, 23, 59, 58, 0, time.FixedZone("MSK", 3*3600))
	m := deliverD(t, s, store.Delivery{AccountID: a.ID, InternalDate: date, Body: strings.NewReader(textMsg("dated", "x"))})
	if !sameSecond(m.InternalDate, date) {
		t.Errorf("Deliver InternalDate = %v, want %v", m.InternalDate, date)
	}
	got, err := s.MessageByID(ctx(t), m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !sameSecond(got.InternalDate, date) {
		t.Errorf("stored InternalDate = %v, want %v", got.InternalDate, date)
	}
	old := time.Date(1999, 12, 31, 12, 0, 0, 0, time.UTC)
	m = deliverD(t, s, store.Delivery{AccountID: a.ID, InternalDate: old, Body: strings.NewReader(textMsg("old", "x"))})
	if got := message(t, s, m.FolderID, m.UID); !sameSecond(got.InternalDate, old) {
		t.Errorf("InternalDate = %v, want %v", got.InternalDate, old)
	}
}

func testDeliverInternalDateDefault(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	before := time.Now().Add(-time.Second)
	m := deliverTo(t, s, inbox(t, s, a.ID), textMsg("now", "x"))
	after := time.Now().Add(time.Second)
	if m.InternalDate.Before(before) || m.InternalDate.After(after) {
		t.Errorf("default InternalDate = %v, want about now (%v)", m.InternalDate, before)
	}
}

func testDeliverFlagsSorted(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	flags := []string{store.FlagSeen, "$Label1", store.FlagFlagged, "Junk"}
	m := deliverTo(t, s, in, textMsg("flags", "x"), flags...)
	wantFlags(t, m, flags, "Deliver")
	wantFlags(t, message(t, s, in.ID, m.UID), flags, "stored")
	if !m.HasFlag(`\seen`) || !m.HasFlag("$label1") || m.HasFlag(store.FlagDeleted) {
		t.Errorf("HasFlag wrong for %q", m.Flags)
	}
	m = deliverTo(t, s, in, textMsg("no flags", "x"))
	if len(m.Flags) != 0 {
		t.Errorf("message without flags has %q", m.Flags)
	}
	m = deliverTo(t, s, in, textMsg("duplicate flags", "x"), store.FlagSeen, store.FlagSeen)
	wantFlags(t, message(t, s, in.ID, m.UID), []string{store.FlagSeen}, "duplicate flags")
}

func testDeliverIDsUnique(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	b := mustAccount(t, s, "maria@example.org")
	var ms []store.Message
	for _, f := range []store.Folder{inbox(t, s, a.ID), folder(t, s, a.ID, "Sent"), folder(t, s, a.ID, "Archive"), inbox(t, s, b.ID)} {
		ms = append(ms, deliverN(t, s, f, 2)...)
	}
	seen := map[int64]bool{}
	for _, m := range ms {
		if m.ID <= 0 || seen[m.ID] {
			t.Errorf("message id %d zero or repeated", m.ID)
		}
		seen[m.ID] = true
		if m.BodyID == 0 {
			t.Errorf("message %d has BodyID 0", m.ID)
		}
		got, err := s.MessageByID(ctx(t), m.ID)
		if err != nil {
			t.Errorf("MessageByID(%d): %v", m.ID, err)
			continue
		}
		sameMessage(t, got, m, "MessageByID")
	}
}

func testDeliverOtherAccountFolder(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	b := mustAccount(t, s, "maria@example.org")
	bIn := inbox(t, s, b.ID)
	_, err := s.Deliver(ctx(t), store.Delivery{AccountID: a.ID, FolderID: bIn.ID, Body: strings.NewReader(textMsg("sneaky", "x"))})
	if err == nil {
		t.Error("Deliver into another account's folder succeeded")
	}
	wantUIDs(t, folderUIDs(t, s, bIn.ID), nil, "other account's inbox")
	wantUsage(t, s, a.ID, 0, 0, "sender")
	wantUsage(t, s, b.ID, 0, 0, "folder owner")
}

func testDeliverUnknownAccount(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	_, err := s.Deliver(ctx(t), store.Delivery{AccountID: a.ID + 1000, Body: strings.NewReader(textMsg("nobody", "x"))})
	wantErr(t, err, store.ErrNotFound, "Deliver to an unknown account")
	in := inbox(t, s, a.ID)
	_, err = s.Deliver(ctx(t), store.Delivery{AccountID: a.ID, FolderID: in.ID + 1000, Body: strings.NewReader(textMsg("nowhere", "x"))})
	wantErr(t, err, store.ErrNotFound, "Deliver to an unknown folder")
}

func testDeliverQuotaMessages(t *testing.T, s store.Store) {
	a := mustAccountQuota(t, s, "ivan@example.org", 0, 2)
	in := inbox(t, s, a.ID)
	ms := deliverN(t, s, in, 2)
	_, err := s.Deliver(ctx(t), store.Delivery{AccountID: a.ID, Body: strings.NewReader(textMsg("third", "x"))})
	wantErr(t, err, store.ErrQuotaExceeded, "third message with a quota of 2")
	wantUsage(t, s, a.ID, ms[0].Size+ms[1].Size, 2, "after refused delivery")
	wantUIDs(t, folderUIDs(t, s, in.ID), []uint32{1, 2}, "inbox")
	// The quota counts the account, not the folder.
	_, err = s.Deliver(ctx(t), store.Delivery{AccountID: a.ID, FolderID: folder(t, s, a.ID, "Sent").ID, Body: strings.NewReader(textMsg("sent", "x"))})
	wantErr(t, err, store.ErrQuotaExceeded, "delivery into another folder over quota")
	// Freeing room lets mail in again.
	if _, err := s.Expunge(ctx(t), in.ID, []uint32{1}); err != nil {
		t.Fatal(err)
	}
	deliverTo(t, s, in, textMsg("fits again", "x"))
	// Raising the quota too.
	a.QuotaMessages = 3
	if err := s.UpdateAccount(ctx(t), a); err != nil {
		t.Fatal(err)
	}
	deliverTo(t, s, in, textMsg("fits after raise", "x"))
	wantUsage(t, s, a.ID, usage(t, s, a.ID).Bytes, 3, "after raise")
}

func testDeliverQuotaBytes(t *testing.T, s store.Store) {
	body := crlf(textMsg("sized", strings.Repeat("b", 500)))
	size := int64(len(body))
	// Room for exactly two messages of this size.
	a := mustAccountQuota(t, s, "ivan@example.org", 2*size, 0)
	in := inbox(t, s, a.ID)
	deliverTo(t, s, in, body)
	deliverTo(t, s, in, body)
	_, err := s.Deliver(ctx(t), store.Delivery{AccountID: a.ID, Body: strings.NewReader(body)})
	wantErr(t, err, store.ErrQuotaExceeded, "third message over the byte quota")
	wantUsage(t, s, a.ID, 2*size, 2, "after refused delivery")
	// Even one byte over is refused: make room for one message less a byte.
	if _, err := s.Expunge(ctx(t), in.ID, []uint32{1}); err != nil {
		t.Fatal(err)
	}
	a.QuotaBytes = 2*size - 1
	if err := s.UpdateAccount(ctx(t), a); err != nil {
		t.Fatal(err)
	}
	_, err = s.Deliver(ctx(t), store.Delivery{AccountID: a.ID, Body: strings.NewReader(body)})
	wantErr(t, err, store.ErrQuotaExceeded, "message one byte over the quota")
	// A message that alone exceeds the quota is refused in an empty account.
	b := mustAccountQuota(t, s, "small@example.org", size-1, 0)
	_, err = s.Deliver(ctx(t), store.Delivery{AccountID: b.ID, Body: strings.NewReader(body)})
	wantErr(t, err, store.ErrQuotaExceeded, "message larger than the whole quota")
	wantUsage(t, s, b.ID, 0, 0, "small account")
}

func testDeliverIgnoreQuota(t *testing.T, s store.Store) {
	a := mustAccountQuota(t, s, "ivan@example.org", 1000, 1)
	in := inbox(t, s, a.ID)
	m1 := deliverTo(t, s, in, textMsg("first", "x"))
	m2 := deliverD(t, s, store.Delivery{AccountID: a.ID, IgnoreQuota: true, Body: strings.NewReader(textMsg("big", strings.Repeat("y", 2000)))})
	wantUsage(t, s, a.ID, m1.Size+m2.Size, 2, "after IgnoreQuota delivery")
	_, err := s.Deliver(ctx(t), store.Delivery{AccountID: a.ID, Body: strings.NewReader(textMsg("third", "x"))})
	wantErr(t, err, store.ErrQuotaExceeded, "normal delivery over quota")
}

func testDeliverConcurrent(t *testing.T, s store.Store) {
	const goroutines, each = 16, 25
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	var (
		mu        sync.Mutex
		uids      []uint32
		wantBytes int64
		wg        sync.WaitGroup
	)
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				body := textMsg(fmt.Sprintf("g%d m%d", g, i), strings.Repeat("z", g*7+i))
				m, err := s.Deliver(ctx(t), store.Delivery{AccountID: a.ID, FolderID: in.ID, Body: strings.NewReader(body)})
				if err != nil {
					t.Errorf("goroutine %d delivery %d: %v", g, i, err)
					return
				}
				size := int64(len(crlf(body)))
				if m.Size != size {
					t.Errorf("goroutine %d delivery %d: Size %d, want %d", g, i, m.Size, size)
				}
				mu.Lock()
				uids = append(uids, m.UID)
				wantBytes += size
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	slices.Sort(uids)
	want := make([]uint32, goroutines*each)
	for i := range want {
		want[i] = uint32(i + 1)
	}
	wantUIDs(t, uids, want, "UIDs returned by concurrent deliveries")
	wantUIDs(t, folderUIDs(t, s, in.ID), want, "Messages after concurrent deliveries")
	wantUsage(t, s, a.ID, wantBytes, goroutines*each, "after concurrent deliveries")
	f := folderByID(t, s, in.ID)
	if f.UIDNext != goroutines*each+1 {
		t.Errorf("UIDNext = %d, want %d", f.UIDNext, goroutines*each+1)
	}
	var maxModSeq uint64
	for _, m := range allMessages(t, s, in.ID) {
		maxModSeq = max(maxModSeq, m.ModSeq)
	}
	if f.HighestModSeq != maxModSeq {
		t.Errorf("HighestModSeq = %d, highest message ModSeq %d", f.HighestModSeq, maxModSeq)
	}
	st, err := s.FolderStatus(ctx(t), in.ID)
	if err != nil || st.Messages != goroutines*each || st.Size != wantBytes {
		t.Errorf("FolderStatus = %+v, %v; want %d messages, %d bytes", st, err, goroutines*each, wantBytes)
	}
}

// testUsageMix follows Usage through deliveries, copies, moves, expunges
// and a folder deletion.
func testUsageMix(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	b := mustAccount(t, s, "maria@example.org")
	in := inbox(t, s, a.ID)
	arch := folder(t, s, a.ID, "Archive")
	m1 := deliverTo(t, s, in, textMsg("one", strings.Repeat("1", 100)))
	m2 := deliverTo(t, s, in, textMsg("two", strings.Repeat("2", 200)))
	m3 := deliverTo(t, s, in, textMsg("three", strings.Repeat("3", 300)))
	bytes, msgs := m1.Size+m2.Size+m3.Size, int64(3)
	wantUsage(t, s, a.ID, bytes, msgs, "after 3 deliveries")

	if _, err := s.Copy(ctx(t), in.ID, []uint32{m1.UID}, arch.ID); err != nil {
		t.Fatal(err)
	}
	bytes, msgs = bytes+m1.Size, msgs+1
	wantUsage(t, s, a.ID, bytes, msgs, "after copy")

	if _, err := s.Move(ctx(t), in.ID, []uint32{m2.UID}, arch.ID); err != nil {
		t.Fatal(err)
	}
	wantUsage(t, s, a.ID, bytes, msgs, "after move")

	if _, err := s.Expunge(ctx(t), in.ID, []uint32{m3.UID}); err != nil {
		t.Fatal(err)
	}
	bytes, msgs = bytes-m3.Size, msgs-1
	wantUsage(t, s, a.ID, bytes, msgs, "after expunge")

	// Expunging the original of a copy frees its size once.
	if _, err := s.Expunge(ctx(t), in.ID, []uint32{m1.UID}); err != nil {
		t.Fatal(err)
	}
	bytes, msgs = bytes-m1.Size, msgs-1
	wantUsage(t, s, a.ID, bytes, msgs, "after expunging a copied original")

	w := mustCreateFolder(t, s, a.ID, "Work")
	m4 := deliverTo(t, s, w, textMsg("four", strings.Repeat("4", 400)))
	if _, err := s.Copy(ctx(t), arch.ID, []uint32{1}, w.ID); err != nil {
		t.Fatal(err)
	}
	bytes, msgs = bytes+m4.Size+m1.Size, msgs+2
	wantUsage(t, s, a.ID, bytes, msgs, "after delivery and copy into Work")

	if err := s.DeleteFolder(ctx(t), w.ID); err != nil {
		t.Fatal(err)
	}
	bytes, msgs = bytes-m4.Size-m1.Size, msgs-2
	wantUsage(t, s, a.ID, bytes, msgs, "after deleting Work")
	if bytes != m1.Size+m2.Size || msgs != 2 {
		t.Fatalf("test bookkeeping wrong: %d, %d", bytes, msgs)
	}
	st, err := s.FolderStatus(ctx(t), arch.ID)
	if err != nil || st.Messages != 2 || st.Size != bytes {
		t.Errorf("Archive status = %+v, %v; want 2 messages, %d bytes", st, err, bytes)
	}
	wantUsage(t, s, b.ID, 0, 0, "other account")
}

func testMessagesIterate(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	ms := deliverN(t, s, in, 5)
	deliverN(t, s, folder(t, s, a.ID, "Sent"), 2)
	if _, err := s.Expunge(ctx(t), in.ID, []uint32{2}); err != nil {
		t.Fatal(err)
	}
	got := allMessages(t, s, in.ID)
	wantUIDs(t, uidsOf(got), []uint32{1, 3, 4, 5}, "Messages")
	for i, j := range []int{0, 2, 3, 4} {
		sameMessage(t, got[i], ms[j], "Messages")
	}
	// Stopping early is allowed.
	n := 0
	for _, err := range s.Messages(ctx(t), in.ID) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		if n == 2 {
			break
		}
	}
	if n != 2 {
		t.Errorf("iterated %d, want 2", n)
	}
	if got := folderUIDs(t, s, folder(t, s, a.ID, "Drafts").ID); len(got) != 0 {
		t.Errorf("empty folder lists %v", got)
	}
}

func testMessagesByUID(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	ms := deliverN(t, s, in, 5)
	deliverN(t, s, folder(t, s, a.ID, "Sent"), 5)
	if _, err := s.Expunge(ctx(t), in.ID, []uint32{4}); err != nil {
		t.Fatal(err)
	}
	got, err := s.MessagesByUID(ctx(t), in.ID, []uint32{5, 1, 3, 4, 99})
	if err != nil {
		t.Fatalf("MessagesByUID: %v", err)
	}
	wantUIDs(t, uidsOf(got), []uint32{1, 3, 5}, "MessagesByUID(5,1,3,4,99)")
	for _, m := range got {
		sameMessage(t, m, ms[m.UID-1], "MessagesByUID")
		if m.FolderID != in.ID {
			t.Errorf("uid %d: FolderID %d, want %d", m.UID, m.FolderID, in.ID)
		}
	}
	got, err = s.MessagesByUID(ctx(t), in.ID, nil)
	if err != nil || len(got) != 0 {
		t.Errorf("MessagesByUID(nil) = %v, %v; want none", got, err)
	}
	got, err = s.MessagesByUID(ctx(t), in.ID, []uint32{4, 100})
	if err != nil || len(got) != 0 {
		t.Errorf("MessagesByUID(only missing) = %v, %v; want none", got, err)
	}
}

func testMessagesByID(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	ms := deliverN(t, s, in, 3)
	for _, m := range ms {
		got, err := s.MessageByID(ctx(t), m.ID)
		if err != nil {
			t.Fatalf("MessageByID(%d): %v", m.ID, err)
		}
		sameMessage(t, got, m, "MessageByID")
	}
	if _, err := s.Expunge(ctx(t), in.ID, []uint32{ms[1].UID}); err != nil {
		t.Fatal(err)
	}
	_, err := s.MessageByID(ctx(t), ms[1].ID)
	wantErr(t, err, store.ErrNotFound, "MessageByID of an expunged message")
	_, err = s.MessageByID(ctx(t), ms[2].ID+1000)
	wantErr(t, err, store.ErrNotFound, "MessageByID(unknown)")
	// Reading the body of an expunged message may work (an IMAP session
	// may still FETCH it) or fail, but must not panic.
	if b, err := s.OpenBody(ctx(t), ms[1]); err == nil {
		b.Close()
	}
}

// testDeliverEndsWithNewline checks that the store records whether a
// message ends with a line break (what POP3 needs to size a message
// without reading it), through every way of listing messages, for inline
// and large bodies, single and batch deliveries, and that copies and
// moves keep it.
func testDeliverEndsWithNewline(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	arch := folder(t, s, a.ID, "Archive")
	large := "Subject: large\r\n\r\n" + strings.Repeat(strings.Repeat("y", 99)+"\r\n", 3000)
	cases := []struct {
		name, body string
		want       bool
	}{
		{"CRLF at the end", "Subject: a\r\n\r\nlast line\r\n", true},
		{"LF at the end (stored as CRLF)", "Subject: b\n\nlast line\n", true},
		{"no line break at the end", "Subject: c\r\n\r\nlast line", false},
		{"CR alone at the end", "Subject: d\r\n\r\nlast line\r", true}, // stored as CRLF
		{"large, with CRLF at the end", large, true},
		{"large, without", large + "no end", false},
	}
	check := func(m store.Message, want bool, what string) {
		t.Helper()
		if m.EndsWithNewline != want {
			t.Errorf("%s: EndsWithNewline = %v, want %v", what, m.EndsWithNewline, want)
		}
	}
	var delivered []store.Message
	for _, c := range cases {
		m := deliverTo(t, s, in, c.body)
		body := readBody(t, s, m)
		if got := strings.HasSuffix(body, "\n"); got != c.want {
			t.Fatalf("%s: stored body ends with LF = %v, test expects %v", c.name, got, c.want)
		}
		check(m, c.want, c.name+": Deliver")
		check(message(t, s, in.ID, m.UID), c.want, c.name+": MessagesByUID")
		got, err := s.MessageByID(ctx(t), m.ID)
		if err != nil {
			t.Fatalf("MessageByID: %v", err)
		}
		check(got, c.want, c.name+": MessageByID")
		delivered = append(delivered, m)
	}
	for i, m := range allMessages(t, s, in.ID) {
		check(m, cases[i].want, cases[i].name+": Messages")
	}
	var ds []store.Delivery
	for _, c := range cases {
		ds = append(ds, store.Delivery{AccountID: a.ID, Body: strings.NewReader(c.body)})
	}
	ms, err := s.DeliverBatch(ctx(t), batch(ds...))
	if err != nil {
		t.Fatalf("DeliverBatch: %v", err)
	}
	for i, m := range ms {
		check(m, cases[i].want, cases[i].name+": DeliverBatch")
		check(message(t, s, in.ID, m.UID), cases[i].want, cases[i].name+": DeliverBatch, then MessagesByUID")
	}

	// Copies and moves keep it.
	uids := uidsOf(delivered)
	pairs, err := s.Copy(ctx(t), in.ID, uids, arch.ID)
	if err != nil {
		t.Fatalf("Copy: %v", err)
	}
	for i, p := range pairs {
		check(message(t, s, arch.ID, p.Dst), cases[i].want, cases[i].name+": copy")
	}
	trash := folder(t, s, a.ID, "Trash")
	pairs, err = s.Move(ctx(t), arch.ID, uidsOf(allMessages(t, s, arch.ID)), trash.ID)
	if err != nil {
		t.Fatalf("Move: %v", err)
	}
	for i, p := range pairs {
		check(message(t, s, trash.ID, p.Dst), cases[i].want, cases[i].name+": moved copy")
	}
	if len(pairs) != len(cases) {
		t.Errorf("moved %d messages, want %d", len(pairs), len(cases))
	}
}

// testDeliverHeaderBytes checks that the store records whether a
// message's headers have 8-bit bytes (what sessions without UTF-8 need to
// know which messages to downgrade without reading their structures),
// through every way of listing messages, for inline and large bodies,
// single and batch deliveries, and that copies and moves keep it.
func testDeliverHeaderBytes(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	arch := folder(t, s, a.ID, "Archive")
	large := strings.Repeat(strings.Repeat("y", 99)+"\r\n", 3000)
	cases := []struct {
		name, body string
		want       mimeparse.HeaderBytes
	}{
		{"ASCII", "Subject: a\r\n\r\nbody\r\n", mimeparse.Headers7bit},
		{"UTF-8 subject", "Subject: \u043f\u0440\u0438\u0432\u0435\u0442\r\n\r\nbody\r\n", mimeparse.Headers8bit},
		{"UTF-8 address", "From: \u0438\u0432\u0430\u043d@\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444\r\n\r\nbody\r\n", mimeparse.Headers8bit},
		{"8-bit body only", "Subject: b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\u043f\u0438\u0441\u044c\u043c\u043e\r\n", mimeparse.Headers7bit},
		{"8-bit part header", "Subject: c\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n" +
			"Content-Type: text/plain\r\nContent-Description: \u0444\u0430\u0439\u043b\r\n\r\npart\r\n--x--\r\n", mimeparse.Headers8bit},
		{"large, ASCII", "Subject: large\r\n\r\n" + large, mimeparse.Headers7bit},
		{"large, UTF-8 subject", "Subject: \u00fcber\r\n\r\n" + large, mimeparse.Headers8bit},
	}
	check := func(m store.Message, want mimeparse.HeaderBytes, what string) {
		t.Helper()
		if m.HeaderBytes != want {
			t.Errorf("%s: HeaderBytes = %d, want %d", what, m.HeaderBytes, want)
		}
	}
	var delivered []store.Message
	for _, c := range cases {
		m := deliverTo(t, s, in, c.body)
		check(m, c.want, c.name+": Deliver")
		check(message(t, s, in.ID, m.UID), c.want, c.name+": MessagesByUID")
		got, err := s.MessageByID(ctx(t), m.ID)
		if err != nil {
			t.Fatalf("MessageByID: %v", err)
		}
		check(got, c.want, c.name+": MessageByID")
		delivered = append(delivered, m)
	}
	for i, m := range allMessages(t, s, in.ID) {
		check(m, cases[i].want, cases[i].name+": Messages")
	}
	var ds []store.Delivery
	for _, c := range cases {
		ds = append(ds, store.Delivery{AccountID: a.ID, Body: strings.NewReader(c.body)})
	}
	ms, err := s.DeliverBatch(ctx(t), batch(ds...))
	if err != nil {
		t.Fatalf("DeliverBatch: %v", err)
	}
	for i, m := range ms {
		check(m, cases[i].want, cases[i].name+": DeliverBatch")
		check(message(t, s, in.ID, m.UID), cases[i].want, cases[i].name+": DeliverBatch, then MessagesByUID")
	}

	// Copies and moves keep it.
	pairs, err := s.Copy(ctx(t), in.ID, uidsOf(delivered), arch.ID)
	if err != nil {
		t.Fatalf("Copy: %v", err)
	}
	for i, p := range pairs {
		check(message(t, s, arch.ID, p.Dst), cases[i].want, cases[i].name+": copy")
	}
	trash := folder(t, s, a.ID, "Trash")
	pairs, err = s.Move(ctx(t), arch.ID, uidsOf(allMessages(t, s, arch.ID)), trash.ID)
	if err != nil {
		t.Fatalf("Move: %v", err)
	}
	if len(pairs) != len(cases) {
		t.Fatalf("moved %d messages, want %d", len(pairs), len(cases))
	}
	for i, p := range pairs {
		check(message(t, s, trash.ID, p.Dst), cases[i].want, cases[i].name+": moved copy")
	}
	// The structure cached at delivery says the same.
	for i, m := range delivered {
		st, err := s.Structure(ctx(t), m)
		if err != nil {
			t.Fatalf("Structure: %v", err)
		}
		if st.HeaderBytes != cases[i].want {
			t.Errorf("%s: structure's HeaderBytes = %d, want %d", cases[i].name, st.HeaderBytes, cases[i].want)
		}
	}
}

// testMessagesByUIDMany asks for many UIDs close together, in disorder,
// with repeats, gaps, an expunged and missing ones (a FETCH of a sequence
// set), next to another folder's messages delivered in between: exactly
// the asked-for messages come back, and Structures of them gives exactly
// their structures.
func testMessagesByUIDMany(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	sent := folder(t, s, a.ID, "Sent")
	var ms []store.Message
	for i := range 40 {
		ms = append(ms, deliverTo(t, s, in, textMsg(fmt.Sprintf("inbox %d", i+1), "x")))
		deliverTo(t, s, sent, textMsg(fmt.Sprintf("sent %d", i+1), "y"))
	}
	if _, err := s.Expunge(ctx(t), in.ID, []uint32{7}); err != nil {
		t.Fatal(err)
	}
	var ask, want []uint32
	for u := 39; u >= 1; u -= 2 {
		ask = append(ask, uint32(u))
		if u != 7 {
			want = append(want, uint32(u))
		}
	}
	ask = append(ask, 3, 2, 41, 45)
	want = append(want, 2)
	slices.Sort(want)
	got, err := s.MessagesByUID(ctx(t), in.ID, ask)
	if err != nil {
		t.Fatalf("MessagesByUID: %v", err)
	}
	wantUIDs(t, uidsOf(got), want, "MessagesByUID(odd UIDs, 2, repeats, missing)")
	for _, m := range got {
		sameMessage(t, m, ms[m.UID-1], "MessagesByUID")
	}
	sts, err := s.Structures(ctx(t), got)
	if err != nil {
		t.Fatalf("Structures: %v", err)
	}
	if len(sts) != len(got) {
		t.Errorf("Structures of %d messages returned %d", len(got), len(sts))
	}
	for _, m := range got {
		st := sts[m.BodyID]
		if want := fmt.Sprintf("inbox %d", m.UID); st == nil || st.Root == nil || st.Root.Envelope == nil || st.Root.Envelope.Subject != want {
			t.Errorf("Structures[body of UID %d] = %+v, want subject %q", m.UID, st, want)
		}
	}
}
