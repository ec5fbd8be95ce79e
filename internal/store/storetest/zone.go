package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/testzone"
)

// imapDateTime is how IMAP prints an internal date: the wall clock and
// offset of the zone it was given in.
const imapDateTime = "02-Jan-2006 15:04:05 -0700"

// wantZone checks that m's internal date is the instant of want, printed
// as want prints in a zone of want's offset.
func wantZone(t *testing.T, m store.Message, want time.Time, what string) {
	t.Helper()
	want = want.Truncate(time.Second)
	if !m.InternalDate.Equal(want) {
		t.Errorf("%s: uid %d InternalDate %v, want the instant %v", what, m.UID, m.InternalDate, want)
	}
	if got, w := m.InternalDate.Format(imapDateTime), want.Format(imapDateTime); got != w {
		t.Errorf("%s: uid %d InternalDate prints %q, want %q (the zone it was given in)", what, m.UID, got, w)
	}
}

// zoneDates are internal dates in zones of whole hours, half and quarter
// hours, west and east of UTC, and UTC, each near midnight so that the
// calendar day differs from the UTC one.
func zoneDates() []time.Time {
	return []time.Time{
		time.Date(2007, 3, 25, 0, 30, 0, 0, time.FixedZone("EET", 2*3600)),
		time.Date(2024, 2, 29, 23, 59, 58, 0, time.FixedZone("", 3*3600)),
		time.Date(2024, 1, 1, 0, 10, 0, 0, time.FixedZone("NPT", 5*3600+45*60)),
		time.Date(2023, 12, 31, 22, 0, 0, 0, time.FixedZone("NST", -(3*3600+30*60))),
		time.Date(2025, 7, 1, 23, 0, 0, 0, time.FixedZone("", -10*3600)),
		time.Date(1999, 12, 31, 12, 0, 0, 0, time.UTC),
	}
}

func testInternalDateZone(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	dates := zoneDates()
	var ms []store.Message
	for i, d := range dates {
		m := deliverD(t, s, store.Delivery{AccountID: a.ID, InternalDate: d, Body: strings.NewReader(textMsg("zone", "x"))})
		wantZone(t, m, d, "Deliver's message")
		ms = append(ms, m)
		got, err := s.MessageByID(ctx(t), m.ID)
		if err != nil {
			t.Fatalf("MessageByID: %v", err)
		}
		wantZone(t, got, dates[i], "MessageByID")
		wantZone(t, message(t, s, in.ID, m.UID), dates[i], "MessagesByUID")
	}
	all := allMessages(t, s, in.ID)
	if len(all) != len(dates) {
		t.Fatalf("Messages: %d messages, want %d", len(all), len(dates))
	}
	for i, m := range all {
		wantZone(t, m, dates[i], "Messages")
	}
	ch, err := s.Changes(ctx(t), in.ID, 0)
	if err != nil {
		t.Fatalf("Changes: %v", err)
	}
	if len(ch.Updated) != len(dates) {
		t.Fatalf("Changes: %d messages, want %d", len(ch.Updated), len(dates))
	}
	for i, m := range ch.Updated {
		wantZone(t, m, dates[i], "Changes")
	}
	// Flag changes rewrite the row: the zone stays.
	if _, err := s.SetFlags(ctx(t), in.ID, uidsOf(ms), store.FlagChange{Op: store.FlagsAdd, Flags: []string{store.FlagSeen}}); err != nil {
		t.Fatalf("SetFlags: %v", err)
	}
	for i, m := range allMessages(t, s, in.ID) {
		wantZone(t, m, dates[i], "after SetFlags")
	}
}

func testInternalDateZoneOddOffset(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	// Local mean time of Helsinki: +01:39:49. The offset is kept to the
	// minute (+0139) and the instant exactly.
	lmt := time.Date(1900, 6, 1, 12, 0, 0, 0, time.FixedZone("LMT", 3600+39*60+49))
	m := deliverD(t, s, store.Delivery{AccountID: a.ID, InternalDate: lmt, Body: strings.NewReader(textMsg("lmt", "x"))})
	got := message(t, s, m.FolderID, m.UID)
	if !got.InternalDate.Equal(lmt) {
		t.Errorf("InternalDate %v, want the instant %v", got.InternalDate, lmt)
	}
	if _, off := got.InternalDate.Zone(); off != (3600 + 39*60) {
		t.Errorf("InternalDate zone offset %ds, want %ds (+0139)", off, 3600+39*60)
	}
	if _, off := m.InternalDate.Zone(); off != (3600 + 39*60) {
		t.Errorf("Deliver's InternalDate zone offset %ds, want %ds (+0139, as read back)", off, 3600+39*60)
	}
}

func testInternalDateZoneBatch(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	sent := folder(t, s, a.ID, "Sent")
	dates := zoneDates()
	var ds []store.Delivery
	for _, d := range dates {
		ds = append(ds, store.Delivery{AccountID: a.ID, FolderID: sent.ID, InternalDate: d, Body: strings.NewReader(textMsg("batch", "x"))})
	}
	ms, err := s.DeliverBatch(ctx(t), batch(ds...))
	if err != nil {
		t.Fatalf("DeliverBatch: %v", err)
	}
	if len(ms) != len(dates) {
		t.Fatalf("DeliverBatch returned %d messages, want %d", len(ms), len(dates))
	}
	for i, m := range ms {
		wantZone(t, m, dates[i], "DeliverBatch's message")
		wantZone(t, message(t, s, sent.ID, m.UID), dates[i], "batch message read back")
	}
}

func testInternalDateZoneCopyMove(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	arch := folder(t, s, a.ID, "Archive")
	trash := folder(t, s, a.ID, "Trash")
	dates := zoneDates()
	byUID := map[uint32]time.Time{}
	var uids []uint32
	for _, d := range dates {
		m := deliverD(t, s, store.Delivery{AccountID: a.ID, FolderID: in.ID, InternalDate: d, Body: strings.NewReader(textMsg("copy", "x"))})
		byUID[m.UID] = d
		uids = append(uids, m.UID)
	}
	pairs, err := s.Copy(ctx(t), in.ID, uids, arch.ID)
	if err != nil {
		t.Fatalf("Copy: %v", err)
	}
	if len(pairs) != len(uids) {
		t.Fatalf("Copy pairs %v, want %d", pairs, len(uids))
	}
	var archUIDs []uint32
	for _, p := range pairs {
		wantZone(t, message(t, s, arch.ID, p.Dst), byUID[p.Src], "copy")
		archUIDs = append(archUIDs, p.Dst)
	}
	moved, err := s.Move(ctx(t), arch.ID, archUIDs, trash.ID)
	if err != nil {
		t.Fatalf("Move: %v", err)
	}
	if len(moved) != len(archUIDs) {
		t.Fatalf("Move pairs %v, want %d", moved, len(archUIDs))
	}
	src := pairMap(pairs)
	orig := map[uint32]time.Time{}
	for u, d := range byUID {
		orig[src[u]] = d
	}
	for _, p := range moved {
		wantZone(t, message(t, s, trash.ID, p.Dst), orig[p.Src], "moved copy")
	}
	// The originals are untouched.
	for _, u := range uids {
		wantZone(t, message(t, s, in.ID, u), byUID[u], "original after copy")
	}
}

func testInternalDateZoneDefault(t *testing.T, s store.Store) {
	// In UTC, where CI runs, a zone dropped on the way would look right:
	// run where local time is 3:30 or 2:30 behind UTC.
	if !testzone.InZone(t, "America/St_Johns") {
		return
	}
	a := mustAccount(t, s, "ivan@example.org")
	m := deliverTo(t, s, inbox(t, s, a.ID), textMsg("now", "x"))
	got := message(t, s, m.FolderID, m.UID)
	// Delivery without a date is stamped in the server's local zone.
	want := store.ZoneMinutes(time.Now())
	if want == 0 {
		t.Fatal("the local zone is UTC here; the test proves nothing")
	}
	if z := store.ZoneMinutes(got.InternalDate); z != want {
		t.Errorf("default InternalDate %v is %+d minutes east of UTC, want the local zone's %+d", got.InternalDate, z, want)
	}
}
