package storetest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// setFlags calls SetFlags and fails the test on error.
func setFlags(t *testing.T, s store.Store, folderID int64, uids []uint32, ch store.FlagChange) store.FlagResult {
	t.Helper()
	res, err := s.SetFlags(ctx(t), folderID, uids, ch)
	if err != nil {
		t.Fatalf("SetFlags(%v, %+v): %v", uids, ch, err)
	}
	return res
}

// changedByUID indexes FlagResult.Changed and checks it is in UID order.
func changedByUID(t *testing.T, res store.FlagResult) map[uint32]store.Message {
	t.Helper()
	m := map[uint32]store.Message{}
	for _, c := range res.Changed {
		m[c.UID] = c
	}
	if !slices.IsSorted(uidsOf(res.Changed)) {
		t.Logf("FlagResult.Changed not in UID order: %v", uidsOf(res.Changed))
	}
	return m
}

func add(flags ...string) store.FlagChange {
	return store.FlagChange{Op: store.FlagsAdd, Flags: flags}
}

func remove(flags ...string) store.FlagChange {
	return store.FlagChange{Op: store.FlagsRemove, Flags: flags}
}

func replace(flags ...string) store.FlagChange {
	return store.FlagChange{Op: store.FlagsReplace, Flags: flags}
}

func testSetFlagsAdd(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	m1 := deliverTo(t, s, in, textMsg("one", "x"), store.FlagFlagged)
	m2 := deliverTo(t, s, in, textMsg("two", "x"))
	m3 := deliverTo(t, s, in, textMsg("three", "x"))
	res := setFlags(t, s, in.ID, []uint32{m1.UID, m2.UID}, add(store.FlagSeen))
	if len(res.Failed) != 0 {
		t.Errorf("Failed = %v, want none", res.Failed)
	}
	wantUIDs(t, uidsOf(res.Changed), []uint32{1, 2}, "Changed")
	ch := changedByUID(t, res)
	wantFlags(t, ch[1], []string{store.FlagFlagged, store.FlagSeen}, "result")
	wantFlags(t, ch[2], []string{store.FlagSeen}, "result")
	var highest uint64
	for uid, before := range map[uint32]store.Message{1: m1, 2: m2} {
		got := message(t, s, in.ID, uid)
		if got.ModSeq <= before.ModSeq || got.ModSeq <= m3.ModSeq {
			t.Errorf("uid %d: ModSeq %d after change, want above %d and above every older modseq", uid, got.ModSeq, before.ModSeq)
		}
		if got.ModSeq != ch[uid].ModSeq {
			t.Errorf("uid %d: stored ModSeq %d, result says %d", uid, got.ModSeq, ch[uid].ModSeq)
		}
		wantFlags(t, got, ch[uid].Flags, "stored")
		highest = max(highest, got.ModSeq)
	}
	got3 := message(t, s, in.ID, m3.UID)
	if got3.ModSeq != m3.ModSeq || len(got3.Flags) != 0 {
		t.Errorf("untouched uid 3: ModSeq %d flags %q; want %d, none", got3.ModSeq, got3.Flags, m3.ModSeq)
	}
	if f := folderByID(t, s, in.ID); f.HighestModSeq != highest {
		t.Errorf("HighestModSeq = %d, want %d", f.HighestModSeq, highest)
	}
}

// Messages that already have the flags are reported with their modseq
// unchanged, and the folder's HIGHESTMODSEQ does not move.
func testSetFlagsAddUnchanged(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	m1 := deliverTo(t, s, in, textMsg("one", "x"), store.FlagSeen)
	m2 := deliverTo(t, s, in, textMsg("two", "x"), store.FlagSeen, store.FlagFlagged)
	before := folderByID(t, s, in.ID).HighestModSeq
	res := setFlags(t, s, in.ID, []uint32{m1.UID, m2.UID}, add(store.FlagSeen))
	wantUIDs(t, uidsOf(res.Changed), []uint32{1, 2}, "Changed (already as asked)")
	ch := changedByUID(t, res)
	if ch[1].ModSeq != m1.ModSeq || ch[2].ModSeq != m2.ModSeq {
		t.Errorf("no-op change bumped modseq: %d→%d, %d→%d", m1.ModSeq, ch[1].ModSeq, m2.ModSeq, ch[2].ModSeq)
	}
	wantFlags(t, ch[2], []string{store.FlagSeen, store.FlagFlagged}, "result")
	if got := message(t, s, in.ID, m1.UID); got.ModSeq != m1.ModSeq {
		t.Errorf("stored ModSeq %d, want %d", got.ModSeq, m1.ModSeq)
	}
	if f := folderByID(t, s, in.ID); f.HighestModSeq != before {
		t.Errorf("HighestModSeq %d → %d after a no-op", before, f.HighestModSeq)
	}
	// Mixed: one message changes, one does not.
	m3 := deliverTo(t, s, in, textMsg("three", "x"))
	res = setFlags(t, s, in.ID, []uint32{m1.UID, m3.UID}, add(store.FlagSeen))
	ch = changedByUID(t, res)
	if ch[1].ModSeq != m1.ModSeq {
		t.Errorf("uid 1 (already seen) ModSeq %d → %d", m1.ModSeq, ch[1].ModSeq)
	}
	if ch[3].ModSeq <= m3.ModSeq {
		t.Errorf("uid 3 ModSeq %d → %d, want a bump", m3.ModSeq, ch[3].ModSeq)
	}
}

func testSetFlagsRemove(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	m1 := deliverTo(t, s, in, textMsg("one", "x"), store.FlagSeen, store.FlagFlagged, "$Label1")
	m2 := deliverTo(t, s, in, textMsg("two", "x"), store.FlagAnswered)
	res := setFlags(t, s, in.ID, []uint32{m1.UID, m2.UID}, remove(store.FlagSeen, "$Label1"))
	ch := changedByUID(t, res)
	wantFlags(t, ch[1], []string{store.FlagFlagged}, "result")
	wantFlags(t, message(t, s, in.ID, m1.UID), []string{store.FlagFlagged}, "stored")
	if ch[1].ModSeq <= m2.ModSeq {
		t.Errorf("uid 1 ModSeq %d, want a bump above %d", ch[1].ModSeq, m2.ModSeq)
	}
	got2 := message(t, s, in.ID, m2.UID)
	wantFlags(t, got2, []string{store.FlagAnswered}, "uid 2 (nothing to remove)")
	if got2.ModSeq != m2.ModSeq {
		t.Errorf("uid 2 ModSeq %d → %d though nothing was removed", m2.ModSeq, got2.ModSeq)
	}
	// Removing everything leaves no flags.
	setFlags(t, s, in.ID, []uint32{m1.UID}, remove(store.FlagFlagged))
	if got := message(t, s, in.ID, m1.UID); len(got.Flags) != 0 {
		t.Errorf("flags after removing all = %q", got.Flags)
	}
}

func testSetFlagsReplace(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	m1 := deliverTo(t, s, in, textMsg("one", "x"), store.FlagSeen, store.FlagFlagged)
	res := setFlags(t, s, in.ID, []uint32{m1.UID}, replace(store.FlagAnswered, "$Work", store.FlagDraft))
	ch := changedByUID(t, res)
	want := []string{store.FlagAnswered, "$Work", store.FlagDraft}
	wantFlags(t, ch[1], want, "result")
	got := message(t, s, in.ID, m1.UID)
	wantFlags(t, got, want, "stored")
	if got.ModSeq <= m1.ModSeq {
		t.Errorf("ModSeq %d → %d, want a bump", m1.ModSeq, got.ModSeq)
	}
	// Replacing with the same set (in another order) changes nothing.
	res = setFlags(t, s, in.ID, []uint32{m1.UID}, replace(store.FlagDraft, store.FlagAnswered, "$Work"))
	if c := changedByUID(t, res)[1]; c.ModSeq != got.ModSeq {
		t.Errorf("replace with the same flags bumped ModSeq %d → %d", got.ModSeq, c.ModSeq)
	}
	// Replacing with nothing clears.
	setFlags(t, s, in.ID, []uint32{m1.UID}, replace())
	if got := message(t, s, in.ID, m1.UID); len(got.Flags) != 0 {
		t.Errorf("flags after replace() = %q, want none", got.Flags)
	}
}

func testSetFlagsKeywords(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	m := deliverTo(t, s, in, textMsg("keywords", "x"))
	kw := []string{"$Forwarded", "Junk", "NonJunk", "$MDNSent", "Project_42", store.FlagSeen}
	setFlags(t, s, in.ID, []uint32{m.UID}, add(kw...))
	got := message(t, s, in.ID, m.UID)
	wantFlags(t, got, kw, "stored keywords")
	for _, k := range kw {
		if !got.HasFlag(k) {
			t.Errorf("HasFlag(%q) false", k)
		}
	}
	setFlags(t, s, in.ID, []uint32{m.UID}, remove("Junk", "$MDNSent"))
	wantFlags(t, message(t, s, in.ID, m.UID), []string{"$Forwarded", "NonJunk", "Project_42", store.FlagSeen}, "after removing two keywords")
	// Keywords are kept through Copy and Move.
	arch := folder(t, s, a.ID, "Archive")
	pairs, err := s.Copy(ctx(t), in.ID, []uint32{m.UID}, arch.ID)
	if err != nil || len(pairs) != 1 {
		t.Fatalf("Copy = %v, %v", pairs, err)
	}
	wantFlags(t, message(t, s, arch.ID, pairs[0].Dst), []string{"$Forwarded", "NonJunk", "Project_42", store.FlagSeen}, "copy")
}

// IMAP flags compare case-insensitively: adding `\seen` to a message with
// `\Seen` changes nothing, and removing "junk" removes "Junk".
func testSetFlagsCaseInsensitive(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	m := deliverTo(t, s, in, textMsg("case", "x"), store.FlagSeen, "Junk")
	res := setFlags(t, s, in.ID, []uint32{m.UID}, add(`\seen`, "JUNK"))
	got := message(t, s, in.ID, m.UID)
	if len(got.Flags) != 2 || !got.HasFlag(store.FlagSeen) || !got.HasFlag("Junk") {
		t.Errorf("flags after adding other-case duplicates = %q, want two", got.Flags)
	}
	if c := changedByUID(t, res)[m.UID]; c.ModSeq != m.ModSeq || got.ModSeq != m.ModSeq {
		t.Errorf("adding other-case duplicates bumped ModSeq %d → %d", m.ModSeq, got.ModSeq)
	}
	setFlags(t, s, in.ID, []uint32{m.UID}, remove("junk", `\SEEN`))
	if got := message(t, s, in.ID, m.UID); len(got.Flags) != 0 {
		t.Errorf("flags after removing in another case = %q, want none", got.Flags)
	}
}

func testSetFlagsUnchangedSince(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	m1 := deliverTo(t, s, in, textMsg("one", "x"))
	m2 := deliverTo(t, s, in, textMsg("two", "x"))
	m3 := deliverTo(t, s, in, textMsg("three", "x"))
	since := m3.ModSeq // every message is at or below it
	// Another session changes message 2 after the client's view.
	bumped := changedByUID(t, setFlags(t, s, in.ID, []uint32{m2.UID}, add("$Other")))[m2.UID]
	if bumped.ModSeq <= since {
		t.Fatalf("bumped ModSeq %d not above %d", bumped.ModSeq, since)
	}
	ch := add(store.FlagFlagged)
	ch.UnchangedSince = since
	res := setFlags(t, s, in.ID, []uint32{m1.UID, m2.UID, m3.UID}, ch)
	wantUIDs(t, res.Failed, []uint32{m2.UID}, "Failed")
	wantUIDs(t, uidsOf(res.Changed), []uint32{m1.UID, m3.UID}, "Changed")
	for _, uid := range []uint32{m1.UID, m3.UID} {
		if got := message(t, s, in.ID, uid); !got.HasFlag(store.FlagFlagged) {
			t.Errorf("uid %d not flagged (its modseq was not above UNCHANGEDSINCE)", uid)
		}
	}
	got2 := message(t, s, in.ID, m2.UID)
	if got2.HasFlag(store.FlagFlagged) || got2.ModSeq != bumped.ModSeq {
		t.Errorf("failed uid 2 was changed: flags %q ModSeq %d (was %d)", got2.Flags, got2.ModSeq, bumped.ModSeq)
	}
	// UnchangedSince equal to the message's modseq passes (the test is
	// "higher than").
	ch = add(store.FlagSeen)
	ch.UnchangedSince = bumped.ModSeq
	res = setFlags(t, s, in.ID, []uint32{m2.UID}, ch)
	if len(res.Failed) != 0 || !message(t, s, in.ID, m2.UID).HasFlag(store.FlagSeen) {
		t.Errorf("UNCHANGEDSINCE equal to the modseq failed: %+v", res)
	}
}

func testSetFlagsMissingUIDs(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	deliverN(t, s, in, 2)
	res := setFlags(t, s, in.ID, []uint32{1, 99, 100}, add(store.FlagSeen))
	wantUIDs(t, uidsOf(res.Changed), []uint32{1}, "Changed")
	wantUIDs(t, res.Failed, nil, "Failed")
	if got := message(t, s, in.ID, 2); len(got.Flags) != 0 {
		t.Errorf("uid 2 got flags %q", got.Flags)
	}
	wantUIDs(t, folderUIDs(t, s, in.ID), []uint32{1, 2}, "SetFlags on missing UIDs created messages")
}

func testSetFlagsOtherFolderUntouched(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	b := mustAccount(t, s, "maria@example.org")
	in := inbox(t, s, a.ID)
	arch := folder(t, s, a.ID, "Archive")
	bIn := inbox(t, s, b.ID)
	mi := deliverTo(t, s, in, textMsg("inbox", "x"))
	ma := deliverTo(t, s, arch, textMsg("archive", "x"))
	mb := deliverTo(t, s, bIn, textMsg("other account", "x"))
	archBefore := folderByID(t, s, arch.ID).HighestModSeq
	setFlags(t, s, in.ID, []uint32{1}, add(store.FlagSeen, store.FlagDeleted))
	if got := message(t, s, in.ID, mi.UID); !got.HasFlag(store.FlagSeen) {
		t.Errorf("inbox uid 1 flags %q", got.Flags)
	}
	for _, m := range []store.Message{ma, mb} {
		got := message(t, s, m.FolderID, m.UID)
		if len(got.Flags) != 0 || got.ModSeq != m.ModSeq {
			t.Errorf("folder %d uid %d changed: flags %q ModSeq %d → %d", m.FolderID, m.UID, got.Flags, m.ModSeq, got.ModSeq)
		}
	}
	if got := folderByID(t, s, arch.ID).HighestModSeq; got != archBefore {
		t.Errorf("Archive HighestModSeq %d → %d", archBefore, got)
	}
}

// ---------------------------------------------------------------------------
// Expunge.

func sortedUIDs(u []uint32) []uint32 {
	u = slices.Clone(u)
	slices.Sort(u)
	return u
}

func testExpungeExisting(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	arch := folder(t, s, a.ID, "Archive")
	ms := deliverN(t, s, in, 4)
	as := deliverN(t, s, arch, 4)
	got, err := s.Expunge(ctx(t), in.ID, []uint32{2, 5, 7})
	if err != nil {
		t.Fatalf("Expunge: %v", err)
	}
	wantUIDs(t, sortedUIDs(got), []uint32{2}, "Expunge(2,5,7)")
	got, err = s.Expunge(ctx(t), in.ID, []uint32{2})
	if err != nil {
		t.Fatalf("Expunge again: %v", err)
	}
	wantUIDs(t, got, nil, "Expunge(2) again")
	got, err = s.Expunge(ctx(t), in.ID, []uint32{4, 1})
	if err != nil {
		t.Fatal(err)
	}
	wantUIDs(t, sortedUIDs(got), []uint32{1, 4}, "Expunge(4,1)")
	wantUIDs(t, folderUIDs(t, s, in.ID), []uint32{3}, "inbox after expunges")
	wantUIDs(t, folderUIDs(t, s, arch.ID), []uint32{1, 2, 3, 4}, "Archive (same UIDs, other folder)")
	wantUsage(t, s, a.ID, ms[2].Size+as[0].Size+as[1].Size+as[2].Size+as[3].Size, 5, "after expunges")
	got, err = s.Expunge(ctx(t), in.ID, nil)
	if err != nil || len(got) != 0 {
		t.Errorf("Expunge(nil) = %v, %v", got, err)
	}
}

// Expunge raises the folder's HIGHESTMODSEQ (RFC 7162 §3.2.10 with QRESYNC).
func testExpungeModSeq(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	ms := deliverN(t, s, in, 3)
	before := folderByID(t, s, in.ID).HighestModSeq
	if _, err := s.Expunge(ctx(t), in.ID, []uint32{ms[0].UID}); err != nil {
		t.Fatal(err)
	}
	after := folderByID(t, s, in.ID).HighestModSeq
	if after <= before {
		t.Errorf("HighestModSeq %d → %d after expunge, want higher", before, after)
	}
	// A no-op expunge changes nothing.
	if _, err := s.Expunge(ctx(t), in.ID, []uint32{ms[0].UID}); err != nil {
		t.Fatal(err)
	}
	if again := folderByID(t, s, in.ID).HighestModSeq; again != after {
		t.Errorf("HighestModSeq %d → %d after expunging nothing", after, again)
	}
}

// ---------------------------------------------------------------------------
// Copy and move.

func pairMap(pairs []store.UIDPair) map[uint32]uint32 {
	m := map[uint32]uint32{}
	for _, p := range pairs {
		m[p.Src] = p.Dst
	}
	return m
}

func testCopyBasic(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	arch := folder(t, s, a.ID, "Archive")
	d1 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	d2 := time.Date(2025, 6, 7, 8, 9, 10, 0, time.UTC)
	b1, b2 := textMsg("copy one", "first body"), textMsg("copy two", "second body")
	m1 := deliverD(t, s, store.Delivery{AccountID: a.ID, FolderID: in.ID, Flags: []string{store.FlagSeen, "$Label"}, InternalDate: d1, Body: strings.NewReader(b1)})
	m2 := deliverD(t, s, store.Delivery{AccountID: a.ID, FolderID: in.ID, InternalDate: d2, Body: strings.NewReader(b2)})
	deliverTo(t, s, arch, textMsg("already there", "x"))
	archBefore := folderByID(t, s, arch.ID)

	pairs, err := s.Copy(ctx(t), in.ID, []uint32{m2.UID, 99, m1.UID}, arch.ID)
	if err != nil {
		t.Fatalf("Copy: %v", err)
	}
	pm := pairMap(pairs)
	if len(pairs) != 2 || pm[1] != 2 || pm[2] != 3 {
		t.Fatalf("Copy pairs = %v, want 1→2, 2→3", pairs)
	}
	for src, orig := range map[uint32]store.Message{1: m1, 2: m2} {
		c := message(t, s, arch.ID, pm[src])
		if c.ID == orig.ID || c.ID <= 0 {
			t.Errorf("copy of uid %d has id %d (original %d): want a new id", src, c.ID, orig.ID)
		}
		if c.FolderID != arch.ID || c.AccountID != a.ID {
			t.Errorf("copy of uid %d in folder %d account %d", src, c.FolderID, c.AccountID)
		}
		wantFlags(t, c, orig.Flags, "copy")
		if !sameSecond(c.InternalDate, orig.InternalDate) {
			t.Errorf("copy of uid %d InternalDate %v, want %v", src, c.InternalDate, orig.InternalDate)
		}
		if c.Size != orig.Size {
			t.Errorf("copy of uid %d Size %d, want %d", src, c.Size, orig.Size)
		}
		if c.BodyID != orig.BodyID {
			t.Errorf("copy of uid %d BodyID %d, want the original's %d (copies share bodies)", src, c.BodyID, orig.BodyID)
		}
		if readBody(t, s, c) != readBody(t, s, orig) {
			t.Errorf("copy of uid %d has another body", src)
		}
		if c.ModSeq <= archBefore.HighestModSeq {
			t.Errorf("copy of uid %d ModSeq %d, not above Archive's %d", src, c.ModSeq, archBefore.HighestModSeq)
		}
	}
	// The source is untouched.
	for _, orig := range []store.Message{m1, m2} {
		sameMessage(t, message(t, s, in.ID, orig.UID), orig, "source after copy")
	}
	if f := folderByID(t, s, arch.ID); f.UIDNext != 4 {
		t.Errorf("Archive UIDNext = %d, want 4", f.UIDNext)
	}
	// Expunging the original leaves the copy readable.
	if _, err := s.Expunge(ctx(t), in.ID, []uint32{1, 2}); err != nil {
		t.Fatal(err)
	}
	if got := readBody(t, s, message(t, s, arch.ID, pm[1])); got != crlf(b1) {
		t.Errorf("copy body after expunging the original = %q", got)
	}
	// Copying within one folder works too.
	pairs, err = s.Copy(ctx(t), arch.ID, []uint32{1}, arch.ID)
	if err != nil || len(pairs) != 1 || pairs[0].Dst != 4 {
		t.Errorf("Copy into the same folder = %v, %v; want 1→4", pairs, err)
	}
}

func testCopyQuota(t *testing.T, s store.Store) {
	a := mustAccountQuota(t, s, "ivan@example.org", 0, 3)
	in := inbox(t, s, a.ID)
	arch := folder(t, s, a.ID, "Archive")
	ms := deliverN(t, s, in, 2)
	before := usage(t, s, a.ID)
	_, err := s.Copy(ctx(t), in.ID, []uint32{1, 2}, arch.ID)
	wantErr(t, err, store.ErrQuotaExceeded, "Copy of 2 with room for 1")
	wantUIDs(t, folderUIDs(t, s, arch.ID), nil, "Archive after refused copy (all or nothing)")
	if u := usage(t, s, a.ID); u != before {
		t.Errorf("Usage after refused copy = %+v, want %+v", u, before)
	}
	if _, err := s.Copy(ctx(t), in.ID, []uint32{1}, arch.ID); err != nil {
		t.Errorf("Copy of 1 with room for 1: %v", err)
	}

	// Byte quota.
	b := mustAccountQuota(t, s, "maria@example.org", 3*ms[0].Size, 0)
	bIn := inbox(t, s, b.ID)
	bArch := folder(t, s, b.ID, "Archive")
	body := textMsg("same size", "x")
	deliverTo(t, s, bIn, body)
	deliverTo(t, s, bIn, body)
	_, err = s.Copy(ctx(t), bIn.ID, []uint32{1, 2}, bArch.ID)
	wantErr(t, err, store.ErrQuotaExceeded, "Copy over the byte quota")
	wantUIDs(t, folderUIDs(t, s, bArch.ID), nil, "Archive after refused copy")
}

func testCopyOtherAccount(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	b := mustAccount(t, s, "maria@example.org")
	in := inbox(t, s, a.ID)
	bIn := inbox(t, s, b.ID)
	deliverN(t, s, in, 1)
	if _, err := s.Copy(ctx(t), in.ID, []uint32{1}, bIn.ID); err == nil {
		t.Error("Copy into another account's folder succeeded")
	}
	wantUIDs(t, folderUIDs(t, s, bIn.ID), nil, "other account's inbox")
	wantUsage(t, s, b.ID, 0, 0, "other account")
}

func testMoveBasic(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	arch := folder(t, s, a.ID, "Archive")
	date := time.Date(2025, 5, 5, 5, 5, 5, 0, time.UTC)
	m1 := deliverD(t, s, store.Delivery{AccountID: a.ID, FolderID: in.ID, Flags: []string{store.FlagSeen, "$Label"}, InternalDate: date, Body: strings.NewReader(textMsg("move one", "x"))})
	m2 := deliverTo(t, s, in, textMsg("stay", "x"))
	m3 := deliverTo(t, s, in, textMsg("move three", "x"), store.FlagFlagged)
	deliverTo(t, s, arch, textMsg("already there", "x"))
	inBefore := folderByID(t, s, in.ID).HighestModSeq
	archBefore := folderByID(t, s, arch.ID).HighestModSeq
	usageBefore := usage(t, s, a.ID)

	pairs, err := s.Move(ctx(t), in.ID, []uint32{m3.UID, m1.UID, 77}, arch.ID)
	if err != nil {
		t.Fatalf("Move: %v", err)
	}
	pm := pairMap(pairs)
	if len(pairs) != 2 || pm[1] != 2 || pm[3] != 3 {
		t.Fatalf("Move pairs = %v, want 1→2, 3→3", pairs)
	}
	for src, orig := range map[uint32]store.Message{1: m1, 3: m3} {
		got := message(t, s, arch.ID, pm[src])
		if got.ID != orig.ID {
			t.Errorf("moved uid %d has id %d, want the same id %d", src, got.ID, orig.ID)
		}
		if got.FolderID != arch.ID {
			t.Errorf("moved uid %d FolderID %d, want %d", src, got.FolderID, arch.ID)
		}
		wantFlags(t, got, orig.Flags, "moved")
		if !sameSecond(got.InternalDate, orig.InternalDate) || got.Size != orig.Size {
			t.Errorf("moved uid %d: date %v size %d, want %v %d", src, got.InternalDate, got.Size, orig.InternalDate, orig.Size)
		}
		if got.ModSeq <= archBefore {
			t.Errorf("moved uid %d ModSeq %d, not above Archive's %d", src, got.ModSeq, archBefore)
		}
		if readBody(t, s, got) == "" {
			t.Errorf("moved uid %d has an empty body", src)
		}
		byID, err := s.MessageByID(ctx(t), orig.ID)
		if err != nil || byID.FolderID != arch.ID || byID.UID != pm[src] {
			t.Errorf("MessageByID(%d) after move = folder %d uid %d, %v; want %d, %d", orig.ID, byID.FolderID, byID.UID, err, arch.ID, pm[src])
		}
	}
	wantUIDs(t, folderUIDs(t, s, in.ID), []uint32{m2.UID}, "source after move")
	wantUIDs(t, folderUIDs(t, s, arch.ID), []uint32{1, 2, 3}, "destination after move")
	ch, err := s.Changes(ctx(t), in.ID, inBefore)
	if err != nil {
		t.Fatal(err)
	}
	wantUIDs(t, ch.Expunged, []uint32{1, 3}, "source Changes.Expunged after move")
	wantUIDs(t, uidsOf(ch.Updated), nil, "source Changes.Updated after move")
	ch, err = s.Changes(ctx(t), arch.ID, archBefore)
	if err != nil {
		t.Fatal(err)
	}
	wantUIDs(t, uidsOf(ch.Updated), []uint32{2, 3}, "destination Changes.Updated after move")
	if u := usage(t, s, a.ID); u != usageBefore {
		t.Errorf("Usage after move = %+v, want %+v", u, usageBefore)
	}
	// A moved message's UID is not reused in the source.
	if m := deliverTo(t, s, in, textMsg("new", "x")); m.UID != 4 {
		t.Errorf("next UID in the source = %d, want 4", m.UID)
	}
}

// A move does not change usage, so it works at the quota.
func testMoveAtQuota(t *testing.T, s store.Store) {
	body := textMsg("full", "x")
	size := int64(len(crlf(body)))
	a := mustAccountQuota(t, s, "ivan@example.org", 2*size, 2)
	in := inbox(t, s, a.ID)
	deliverTo(t, s, in, body)
	deliverTo(t, s, in, body)
	trash := folder(t, s, a.ID, "Trash")
	pairs, err := s.Move(ctx(t), in.ID, []uint32{1, 2}, trash.ID)
	if err != nil {
		t.Fatalf("Move at quota: %v", err)
	}
	if len(pairs) != 2 {
		t.Errorf("Move pairs = %v, want 2", pairs)
	}
	wantUsage(t, s, a.ID, 2*size, 2, "after move at quota")
}

func testMoveOtherAccount(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	b := mustAccount(t, s, "maria@example.org")
	in := inbox(t, s, a.ID)
	bIn := inbox(t, s, b.ID)
	m := deliverN(t, s, in, 1)[0]
	if _, err := s.Move(ctx(t), in.ID, []uint32{1}, bIn.ID); err == nil {
		t.Error("Move into another account's folder succeeded")
	}
	sameMessage(t, message(t, s, in.ID, 1), m, "message after refused move")
	wantUIDs(t, folderUIDs(t, s, bIn.ID), nil, "other account's inbox")
}

// ---------------------------------------------------------------------------
// Changes.

func changes(t *testing.T, s store.Store, folderID int64, since uint64) store.Changes {
	t.Helper()
	ch, err := s.Changes(ctx(t), folderID, since)
	if err != nil {
		t.Fatalf("Changes(%d): %v", since, err)
	}
	return ch
}

func testChangesBasic(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	deliverN(t, s, in, 3)
	x := folderByID(t, s, in.ID).HighestModSeq
	setFlags(t, s, in.ID, []uint32{2}, add(store.FlagSeen))
	if _, err := s.Expunge(ctx(t), in.ID, []uint32{3}); err != nil {
		t.Fatal(err)
	}
	deliverN(t, s, in, 2) // uids 4, 5
	if _, err := s.Expunge(ctx(t), in.ID, []uint32{5}); err != nil {
		t.Fatal(err)
	}
	ch := changes(t, s, in.ID, x)
	wantUIDs(t, uidsOf(ch.Updated), []uint32{2, 4}, "Updated")
	wantUIDs(t, ch.Expunged, []uint32{3, 5}, "Expunged")
	for _, m := range ch.Updated {
		if m.ModSeq <= x {
			t.Errorf("updated uid %d ModSeq %d, not above %d", m.UID, m.ModSeq, x)
		}
		sameMessage(t, m, message(t, s, in.ID, m.UID), "Changes.Updated")
	}
	if !ch.Updated[0].HasFlag(store.FlagSeen) {
		t.Errorf("updated uid 2 flags %q, want \\Seen", ch.Updated[0].Flags)
	}
	// Since the flag change only.
	y := ch.Updated[0].ModSeq
	ch = changes(t, s, in.ID, y)
	wantUIDs(t, uidsOf(ch.Updated), []uint32{4}, "Updated since the flag change")
	wantUIDs(t, ch.Expunged, []uint32{3, 5}, "Expunged since the flag change")
}

func testChangesEmpty(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	ch := changes(t, s, in.ID, in.HighestModSeq)
	if len(ch.Updated) != 0 || len(ch.Expunged) != 0 {
		t.Errorf("Changes of a new folder = %+v", ch)
	}
	deliverN(t, s, in, 2)
	setFlags(t, s, in.ID, []uint32{1}, add(store.FlagSeen))
	if _, err := s.Expunge(ctx(t), in.ID, []uint32{2}); err != nil {
		t.Fatal(err)
	}
	// Activity elsewhere does not show.
	arch := folder(t, s, a.ID, "Archive")
	top := folderByID(t, s, in.ID).HighestModSeq
	deliverN(t, s, arch, 1)
	setFlags(t, s, arch.ID, []uint32{1}, add(store.FlagSeen))
	ch = changes(t, s, in.ID, top)
	if len(ch.Updated) != 0 || len(ch.Expunged) != 0 {
		t.Errorf("Changes since HighestModSeq = %+v, want nothing", ch)
	}
	// A no-op flag change does not show either.
	setFlags(t, s, in.ID, []uint32{1}, add(store.FlagSeen))
	ch = changes(t, s, in.ID, top)
	if len(ch.Updated) != 0 || len(ch.Expunged) != 0 {
		t.Errorf("Changes after a no-op = %+v, want nothing", ch)
	}
}

func testChangesFromZero(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	deliverN(t, s, in, 3)
	if _, err := s.Expunge(ctx(t), in.ID, []uint32{2}); err != nil {
		t.Fatal(err)
	}
	ch := changes(t, s, in.ID, 0)
	wantUIDs(t, uidsOf(ch.Updated), []uint32{1, 3}, "Updated since 0")
	wantUIDs(t, ch.Expunged, []uint32{2}, "Expunged since 0")
}
