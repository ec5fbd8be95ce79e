package storetest

import (
	"slices"
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
)

func folderNames(t *testing.T, s store.Store, accountID int64) []string {
	t.Helper()
	fs, err := s.Folders(ctx(t), accountID)
	if err != nil {
		t.Fatalf("Folders(%d): %v", accountID, err)
	}
	names := []string{}
	for _, f := range fs {
		names = append(names, f.Name)
	}
	return names
}

func testFolderCreateHierarchy(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	for _, name := range []string{"Work", "Work/2026", "Входящие/Архив"} {
		f, err := s.CreateFolder(ctx(t), a.ID, name, store.RoleNone)
		if err != nil {
			t.Fatalf("CreateFolder(%q): %v", name, err)
		}
		if f.ID <= 0 || f.AccountID != a.ID || f.Name != name || f.Role != store.RoleNone {
			t.Errorf("CreateFolder(%q) = %+v", name, f)
		}
		if f.UIDValidity == 0 || f.UIDNext != 1 {
			t.Errorf("CreateFolder(%q): UIDValidity %d, UIDNext %d; want > 0, 1", name, f.UIDValidity, f.UIDNext)
		}
		got := folder(t, s, a.ID, name)
		if got.ID != f.ID || got.Name != name || got.UIDValidity != f.UIDValidity {
			t.Errorf("Folder(%q) = %+v, want %+v", name, got, f)
		}
		if byID := folderByID(t, s, f.ID); byID.Name != name {
			t.Errorf("FolderByID(%d).Name = %q, want %q", f.ID, byID.Name, name)
		}
	}
	want := []string{"Archive", "Drafts", "INBOX", "Sent", "Spam", "Trash", "Work", "Work/2026", "Входящие/Архив"}
	if got := folderNames(t, s, a.ID); !slices.Equal(got, want) {
		t.Errorf("Folders = %q, want %q", got, want)
	}
	// Missing parents are not made.
	_, err := s.Folder(ctx(t), a.ID, "Входящие")
	wantErr(t, err, store.ErrNotFound, "Folder(Входящие), the parent never created")
}

func testFolderCreateDuplicate(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	mustCreateFolder(t, s, a.ID, "Work")
	mustCreateFolder(t, s, a.ID, "Работа")
	for _, name := range []string{"Work", "Работа", "Sent", "Archive"} {
		_, err := s.CreateFolder(ctx(t), a.ID, name, store.RoleNone)
		wantErr(t, err, store.ErrExists, "CreateFolder("+name+") again")
	}
	if n := len(folderNames(t, s, a.ID)); n != len(store.StandardFolders)+2 {
		t.Errorf("%d folders after refused creates, want %d", n, len(store.StandardFolders)+2)
	}
}

func testFolderCreateInboxAnyCase(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	for _, name := range []string{"INBOX", "inbox", "Inbox"} {
		_, err := s.CreateFolder(ctx(t), a.ID, name, store.RoleNone)
		wantSomeErr(t, err, "CreateFolder("+name+")", store.ErrExists, store.ErrInvalid)
	}
	if n := len(folderNames(t, s, a.ID)); n != len(store.StandardFolders) {
		t.Errorf("%d folders, want %d", n, len(store.StandardFolders))
	}
}

func testFolderInboxAnyCase(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	byRole, err := s.FolderByRole(ctx(t), a.ID, store.RoleInbox)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"INBOX", "inbox", "Inbox", "iNbOx"} {
		f, err := s.Folder(ctx(t), a.ID, name)
		if err != nil {
			t.Errorf("Folder(%q): %v", name, err)
			continue
		}
		if f.ID != byRole.ID || f.Name != "INBOX" || f.Role != store.RoleInbox {
			t.Errorf("Folder(%q) = %+v, want the inbox %d", name, f, byRole.ID)
		}
	}
}

func testFolderNotFound(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	b := mustAccount(t, s, "maria@example.org")
	w := mustCreateFolder(t, s, a.ID, "Work")
	_, err := s.Folder(ctx(t), a.ID, "Nope")
	wantErr(t, err, store.ErrNotFound, "Folder(Nope)")
	_, err = s.Folder(ctx(t), a.ID, "work")
	wantErr(t, err, store.ErrNotFound, "Folder(work): names other than INBOX are case-sensitive")
	_, err = s.Folder(ctx(t), b.ID, "Work")
	wantErr(t, err, store.ErrNotFound, "Folder(Work) of another account")
	_, err = s.FolderByID(ctx(t), w.ID+1000)
	wantErr(t, err, store.ErrNotFound, "FolderByID(unknown)")
	_, err = s.FolderStatus(ctx(t), w.ID+1000)
	wantErr(t, err, store.ErrNotFound, "FolderStatus(unknown)")
	err = s.SetSubscribed(ctx(t), w.ID+1000, true)
	wantErr(t, err, store.ErrNotFound, "SetSubscribed(unknown)")
	err = s.RenameFolder(ctx(t), w.ID+1000, "X")
	wantErr(t, err, store.ErrNotFound, "RenameFolder(unknown)")
	err = s.DeleteFolder(ctx(t), w.ID+1000)
	wantErr(t, err, store.ErrNotFound, "DeleteFolder(unknown)")
}

func testFolderCreateWithRole(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	old, err := s.FolderByRole(ctx(t), a.ID, store.RoleArchive)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteFolder(ctx(t), old.ID); err != nil {
		t.Fatalf("DeleteFolder(Archive): %v", err)
	}
	_, err = s.FolderByRole(ctx(t), a.ID, store.RoleArchive)
	wantErr(t, err, store.ErrNotFound, "FolderByRole(archive) after deleting Archive")
	f, err := s.CreateFolder(ctx(t), a.ID, "Архив", store.RoleArchive)
	if err != nil {
		t.Fatalf("CreateFolder with a role: %v", err)
	}
	if f.Role != store.RoleArchive {
		t.Errorf("Role = %q, want archive", f.Role)
	}
	got, err := s.FolderByRole(ctx(t), a.ID, store.RoleArchive)
	if err != nil || got.ID != f.ID {
		t.Errorf("FolderByRole(archive) = %+v, %v; want folder %d", got, err, f.ID)
	}
}

func testFolderRename(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	w := mustCreateFolder(t, s, a.ID, "Work")
	ms := deliverN(t, s, w, 2)
	before := folderByID(t, s, w.ID)
	if err := s.RenameFolder(ctx(t), w.ID, "Jobs"); err != nil {
		t.Fatalf("RenameFolder: %v", err)
	}
	after := folderByID(t, s, w.ID)
	if after.Name != "Jobs" {
		t.Errorf("renamed folder Name = %q, want Jobs", after.Name)
	}
	if after.UIDNext != before.UIDNext || after.AccountID != a.ID || after.Role != before.Role {
		t.Errorf("rename changed the folder: %+v → %+v", before, after)
	}
	if got := folder(t, s, a.ID, "Jobs"); got.ID != w.ID {
		t.Errorf("Folder(Jobs).ID = %d, want %d", got.ID, w.ID)
	}
	_, err := s.Folder(ctx(t), a.ID, "Work")
	wantErr(t, err, store.ErrNotFound, "Folder(Work) after rename")
	got := allMessages(t, s, w.ID)
	if len(got) != len(ms) {
		t.Fatalf("renamed folder has %d messages, want %d", len(got), len(ms))
	}
	for i, m := range got {
		if m.ID != ms[i].ID || m.UID != ms[i].UID || m.FolderID != w.ID {
			t.Errorf("message %d after rename = %+v, want id %d uid %d", i, m, ms[i].ID, ms[i].UID)
		}
	}
	wantUsage(t, s, a.ID, ms[0].Size+ms[1].Size, 2, "after rename")
}

func testFolderRenameChildren(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	ids := map[string]int64{}
	for _, name := range []string{"Work", "Work/2026", "Work/2026/Q1", "Workshop", "Work2", "Other/Work"} {
		ids[name] = mustCreateFolder(t, s, a.ID, name).ID
	}
	m := deliverTo(t, s, folderByID(t, s, ids["Work/2026"]), textMsg("kept", "kept"))
	if err := s.RenameFolder(ctx(t), ids["Work"], "Archive/Work"); err != nil {
		t.Fatalf("RenameFolder: %v", err)
	}
	want := map[string]string{
		"Work":         "Archive/Work",
		"Work/2026":    "Archive/Work/2026",
		"Work/2026/Q1": "Archive/Work/2026/Q1",
		"Workshop":     "Workshop",
		"Work2":        "Work2",
		"Other/Work":   "Other/Work",
	}
	for old, name := range want {
		if f := folderByID(t, s, ids[old]); f.Name != name {
			t.Errorf("folder once %q is now %q, want %q", old, f.Name, name)
		}
		if f, err := s.Folder(ctx(t), a.ID, name); err != nil || f.ID != ids[old] {
			t.Errorf("Folder(%q) = %d, %v; want %d", name, f.ID, err, ids[old])
		}
	}
	names := folderNames(t, s, a.ID)
	if !slices.IsSorted(names) {
		t.Errorf("Folders not sorted after rename: %q", names)
	}
	if slices.Contains(names, "Work") || slices.Contains(names, "Work/2026") {
		t.Errorf("old names still listed: %q", names)
	}
	got := message(t, s, ids["Work/2026"], m.UID)
	if got.ID != m.ID {
		t.Errorf("message in renamed child: id %d, want %d", got.ID, m.ID)
	}
}

// Renaming a parent with a non-ASCII name takes its children along (a
// byte-length prefix compare would miss them).
func testFolderRenameChildrenUTF8(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "olga@example.org")
	parent := mustCreateFolder(t, s, a.ID, "Работа")
	child := mustCreateFolder(t, s, a.ID, "Работа/Отчёты")
	if err := s.RenameFolder(ctx(t), parent.ID, "Архив/Работа"); err != nil {
		t.Fatalf("RenameFolder: %v", err)
	}
	if f := folderByID(t, s, child.ID); f.Name != "Архив/Работа/Отчёты" {
		t.Fatalf("child of a renamed Cyrillic folder is %q, want %q", f.Name, "Архив/Работа/Отчёты")
	}
}

// A renamed folder keeps its UIDs, so it keeps its UIDVALIDITY (clients'
// caches stay valid, as in Dovecot). A folder later created under the old
// name must not reuse the renamed folder's UIDVALIDITY, so a client that
// cached the old name sees it is a different mailbox.
func testFolderRenameUIDValidity(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	w := mustCreateFolder(t, s, a.ID, "Work")
	deliverN(t, s, w, 2)
	if err := s.RenameFolder(ctx(t), w.ID, "Jobs"); err != nil {
		t.Fatal(err)
	}
	renamed := folderByID(t, s, w.ID)
	if renamed.UIDValidity != w.UIDValidity {
		t.Errorf("rename changed UIDValidity %d → %d", w.UIDValidity, renamed.UIDValidity)
	}
	again := mustCreateFolder(t, s, a.ID, "Work")
	if again.ID == w.ID {
		t.Fatalf("new folder reuses id %d", w.ID)
	}
	if again.UIDValidity == w.UIDValidity {
		t.Errorf("new folder with a renamed folder's old name has the same UIDValidity %d", w.UIDValidity)
	}
	if again.UIDNext != 1 || len(folderUIDs(t, s, again.ID)) != 0 {
		t.Errorf("new folder: UIDNext %d, messages %v; want 1, none", again.UIDNext, folderUIDs(t, s, again.ID))
	}
}

func testFolderRenameOntoExisting(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	w := mustCreateFolder(t, s, a.ID, "Work")
	mustCreateFolder(t, s, a.ID, "Jobs")
	for _, name := range []string{"Jobs", "Sent", "INBOX", "inbox"} {
		err := s.RenameFolder(ctx(t), w.ID, name)
		wantSomeErr(t, err, "RenameFolder(Work → "+name+")", store.ErrExists, store.ErrInvalid)
	}
	if f := folderByID(t, s, w.ID); f.Name != "Work" {
		t.Errorf("refused rename changed the name to %q", f.Name)
	}
	if in := inbox(t, s, a.ID); in.Role != store.RoleInbox {
		t.Errorf("inbox changed: %+v", in)
	}
}

func testFolderRenameInbox(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	m := deliverTo(t, s, in, textMsg("stays", "stays"))
	err := s.RenameFolder(ctx(t), in.ID, "Old mail")
	wantErr(t, err, store.ErrInvalid, "RenameFolder(INBOX)")
	if f := folderByID(t, s, in.ID); f.Name != "INBOX" {
		t.Errorf("inbox renamed to %q", f.Name)
	}
	_, err = s.Folder(ctx(t), a.ID, "Old mail")
	wantErr(t, err, store.ErrNotFound, "Folder(Old mail)")
	if got := message(t, s, in.ID, m.UID); got.ID != m.ID {
		t.Errorf("inbox message changed: %+v", got)
	}
}

func testFolderRenameIntoItself(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	w := mustCreateFolder(t, s, a.ID, "Work")
	if err := s.RenameFolder(ctx(t), w.ID, "Work/Sub"); err == nil {
		t.Error("RenameFolder(Work → Work/Sub) succeeded")
	}
	if f := folderByID(t, s, w.ID); f.Name != "Work" {
		t.Errorf("refused rename changed the name to %q", f.Name)
	}
}

func testFolderDeleteInbox(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	m := deliverTo(t, s, in, textMsg("stays", "stays"))
	err := s.DeleteFolder(ctx(t), in.ID)
	wantErr(t, err, store.ErrInvalid, "DeleteFolder(INBOX)")
	if got := inbox(t, s, a.ID); got.ID != in.ID {
		t.Errorf("inbox id %d, want %d", got.ID, in.ID)
	}
	if got := message(t, s, in.ID, m.UID); got.ID != m.ID {
		t.Errorf("inbox message changed: %+v", got)
	}
	wantUsage(t, s, a.ID, m.Size, 1, "after refused inbox delete")
}

func testFolderDelete(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	w := mustCreateFolder(t, s, a.ID, "Work")
	keep := deliverTo(t, s, in, textMsg("keep", "keep me"))
	gone := deliverN(t, s, w, 3)
	var total int64 = keep.Size
	for _, m := range gone {
		total += m.Size
	}
	wantUsage(t, s, a.ID, total, 4, "before delete")
	if err := s.DeleteFolder(ctx(t), w.ID); err != nil {
		t.Fatalf("DeleteFolder: %v", err)
	}
	_, err := s.FolderByID(ctx(t), w.ID)
	wantErr(t, err, store.ErrNotFound, "FolderByID after delete")
	_, err = s.Folder(ctx(t), a.ID, "Work")
	wantErr(t, err, store.ErrNotFound, "Folder after delete")
	for _, m := range gone {
		_, err = s.MessageByID(ctx(t), m.ID)
		wantErr(t, err, store.ErrNotFound, "MessageByID of a deleted folder's message")
	}
	wantUsage(t, s, a.ID, keep.Size, 1, "after delete")
	if got := message(t, s, in.ID, keep.UID); readBody(t, s, got) == "" {
		t.Error("other folder's message lost its body")
	}
	err = s.DeleteFolder(ctx(t), w.ID)
	wantErr(t, err, store.ErrNotFound, "DeleteFolder twice")
}

func testFolderDeleteKeepsChildren(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	w := mustCreateFolder(t, s, a.ID, "Work")
	c := mustCreateFolder(t, s, a.ID, "Work/2026")
	m := deliverTo(t, s, c, textMsg("child", "child"))
	if err := s.DeleteFolder(ctx(t), w.ID); err != nil {
		t.Fatalf("DeleteFolder: %v", err)
	}
	got := folder(t, s, a.ID, "Work/2026")
	if got.ID != c.ID {
		t.Errorf("child id %d, want %d", got.ID, c.ID)
	}
	if msg := message(t, s, c.ID, m.UID); msg.ID != m.ID {
		t.Errorf("child's message changed: %+v", msg)
	}
	wantUsage(t, s, a.ID, m.Size, 1, "after deleting the parent")
}

// A folder deleted and created again under the same name must get a new
// UIDVALIDITY (RFC 9051 §2.3.1.1), even within the same second.
func testFolderRecreateNewUIDValidity(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	seen := map[uint32]bool{}
	for i := range 3 {
		w := mustCreateFolder(t, s, a.ID, "Work")
		if seen[w.UIDValidity] {
			t.Errorf("round %d: UIDValidity %d reused for a recreated folder", i, w.UIDValidity)
		}
		seen[w.UIDValidity] = true
		if w.UIDNext != 1 {
			t.Errorf("round %d: recreated folder UIDNext = %d, want 1", i, w.UIDNext)
		}
		deliverN(t, s, w, 1)
		if err := s.DeleteFolder(ctx(t), w.ID); err != nil {
			t.Fatal(err)
		}
	}
}

func testFolderSubscribe(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	w := mustCreateFolder(t, s, a.ID, "Work")
	listed := func() bool {
		fs, err := s.Folders(ctx(t), a.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			if f.ID == w.ID {
				return f.Subscribed
			}
		}
		t.Fatal("Work not listed")
		return false
	}
	for _, sub := range []bool{false, true, false} {
		if err := s.SetSubscribed(ctx(t), w.ID, sub); err != nil {
			t.Fatalf("SetSubscribed(%v): %v", sub, err)
		}
		if got := folderByID(t, s, w.ID).Subscribed; got != sub {
			t.Errorf("FolderByID.Subscribed = %v, want %v", got, sub)
		}
		if got := folder(t, s, a.ID, "Work").Subscribed; got != sub {
			t.Errorf("Folder.Subscribed = %v, want %v", got, sub)
		}
		if got := listed(); got != sub {
			t.Errorf("Folders: Subscribed = %v, want %v", got, sub)
		}
	}
	// Other folders are untouched.
	if in := inbox(t, s, a.ID); !in.Subscribed {
		t.Error("inbox not subscribed (standard folders start subscribed)")
	}
}

func testFolderStatus(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	other := folder(t, s, a.ID, "Archive")
	m1 := deliverTo(t, s, in, textMsg("one", "1"), store.FlagSeen)
	m2 := deliverTo(t, s, in, textMsg("two", "22"), store.FlagSeen, store.FlagDeleted)
	m3 := deliverTo(t, s, in, textMsg("three", "333"))
	m4 := deliverTo(t, s, in, textMsg("four", "4444"), store.FlagDeleted, "$Label1")
	deliverTo(t, s, other, textMsg("elsewhere", "x"))
	st, err := s.FolderStatus(ctx(t), in.ID)
	if err != nil {
		t.Fatalf("FolderStatus: %v", err)
	}
	wantSt := store.FolderStatus{Messages: 4, Unseen: 2, Deleted: 2, Size: m1.Size + m2.Size + m3.Size + m4.Size}
	if st.Messages != wantSt.Messages || st.Unseen != wantSt.Unseen || st.Deleted != wantSt.Deleted || st.Size != wantSt.Size {
		t.Errorf("FolderStatus = %d messages, %d unseen, %d deleted, %d bytes; want %d, %d, %d, %d",
			st.Messages, st.Unseen, st.Deleted, st.Size, wantSt.Messages, wantSt.Unseen, wantSt.Deleted, wantSt.Size)
	}
	if st.Folder.ID != in.ID || st.Folder.UIDNext != 5 || st.Folder.HighestModSeq != m4.ModSeq {
		t.Errorf("FolderStatus.Folder = %+v, want id %d, UIDNext 5, HighestModSeq %d", st.Folder, in.ID, m4.ModSeq)
	}

	// Flag changes and expunges show.
	if _, err := s.SetFlags(ctx(t), in.ID, []uint32{m3.UID}, store.FlagChange{Op: store.FlagsAdd, Flags: []string{store.FlagSeen}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Expunge(ctx(t), in.ID, []uint32{m2.UID, m4.UID}); err != nil {
		t.Fatal(err)
	}
	st, err = s.FolderStatus(ctx(t), in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Messages != 2 || st.Unseen != 0 || st.Deleted != 0 || st.Size != m1.Size+m3.Size {
		t.Errorf("FolderStatus after changes = %d messages, %d unseen, %d deleted, %d bytes; want 2, 0, 0, %d",
			st.Messages, st.Unseen, st.Deleted, st.Size, m1.Size+m3.Size)
	}
}

func testFolderOtherAccount(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	b := mustAccount(t, s, "maria@example.org")
	wa := mustCreateFolder(t, s, a.ID, "Work")
	wb := mustCreateFolder(t, s, b.ID, "Work")
	if wa.ID == wb.ID {
		t.Fatal("two accounts share a folder id")
	}
	if got := folder(t, s, b.ID, "Work"); got.ID != wb.ID || got.AccountID != b.ID {
		t.Errorf("Folder(b, Work) = %+v", got)
	}
	if err := s.RenameFolder(ctx(t), wa.ID, "Jobs"); err != nil {
		t.Fatal(err)
	}
	if got := folderByID(t, s, wb.ID); got.Name != "Work" {
		t.Errorf("renaming a's folder renamed b's to %q", got.Name)
	}
	if err := s.DeleteFolder(ctx(t), wa.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FolderByID(ctx(t), wb.ID); err != nil {
		t.Errorf("deleting a's folder deleted b's: %v", err)
	}
}
