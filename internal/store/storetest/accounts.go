package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

func accountAddresses(t *testing.T, s store.Store, domain string) []string {
	t.Helper()
	as, err := s.Accounts(ctx(t), domain)
	if err != nil {
		t.Fatalf("Accounts(%q): %v", domain, err)
	}
	addrs := []string{}
	for _, a := range as {
		addrs = append(addrs, a.Address)
	}
	return addrs
}

// wantSettings compares settings field by field (POP3Since to the second,
// nil and empty folder lists alike).
func wantSettings(t *testing.T, got, want store.Settings, what string) {
	t.Helper()
	if got.POP3Enabled != want.POP3Enabled ||
		!(len(got.POP3Folders) == 0 && len(want.POP3Folders) == 0 || slices.Equal(got.POP3Folders, want.POP3Folders)) ||
		got.POP3MarkSeen != want.POP3MarkSeen ||
		!sameSecond(got.POP3Since, want.POP3Since) ||
		got.POP3Delete != want.POP3Delete ||
		got.IMAPEnabled != want.IMAPEnabled ||
		got.LoginPolicy != want.LoginPolicy {
		t.Errorf("%s: Settings = %+v, want %+v", what, got, want)
	}
}

func testAccountCreateInMissingDomain(t *testing.T, s store.Store) {
	mustDomain(t, s, "example.org")
	_, err := s.CreateAccount(ctx(t), store.NewAccount{Address: "ivan@nowhere.example", PasswordHash: "x", Settings: store.DefaultSettings()})
	wantSomeErr(t, err, "CreateAccount in a missing domain", store.ErrNotFound, store.ErrInvalid)
	_, err = s.AccountByAddress(ctx(t), "ivan@nowhere.example")
	wantErr(t, err, store.ErrNotFound, "AccountByAddress after refused create")
	if addrs := accountAddresses(t, s, ""); len(addrs) != 0 {
		t.Errorf("Accounts = %q, want none", addrs)
	}
	if _, err := s.Domain(ctx(t), "nowhere.example"); err == nil {
		t.Error("CreateAccount made the missing domain")
	}
}

func testAccountCreateInvalidAddress(t *testing.T, s store.Store) {
	mustDomain(t, s, "example.org")
	for _, addr := range []string{"", "no-at-sign", "@example.org", "ivan@", "two words@example.org", ".dot@example.org"} {
		_, err := s.CreateAccount(ctx(t), store.NewAccount{Address: addr, PasswordHash: "x", Settings: store.DefaultSettings()})
		wantErr(t, err, store.ErrInvalid, "CreateAccount("+addr+")")
	}
	if addrs := accountAddresses(t, s, ""); len(addrs) != 0 {
		t.Errorf("Accounts = %q, want none", addrs)
	}
}

func testAccountCreate(t *testing.T, s store.Store) {
	mustDomain(t, s, "example.org")
	set := store.DefaultSettings()
	a, err := s.CreateAccount(ctx(t), store.NewAccount{
		Address:       "Ivan.Petrov@Example.ORG",
		PasswordHash:  "$argon2id$v=19$m=65536,t=1,p=4$c2FsdA$aGFzaA",
		QuotaBytes:    1 << 30,
		QuotaMessages: 5000,
		Admin:         true,
		Settings:      set,
	})
	if err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	check := func(a store.Account, what string) {
		t.Helper()
		if a.ID <= 0 {
			t.Errorf("%s: ID = %d", what, a.ID)
		}
		if a.Address != "ivan.petrov@example.org" {
			t.Errorf("%s: Address = %q, want ivan.petrov@example.org", what, a.Address)
		}
		if a.Domain != "example.org" {
			t.Errorf("%s: Domain = %q, want example.org", what, a.Domain)
		}
		if a.PasswordHash != "$argon2id$v=19$m=65536,t=1,p=4$c2FsdA$aGFzaA" {
			t.Errorf("%s: PasswordHash = %q", what, a.PasswordHash)
		}
		if a.QuotaBytes != 1<<30 || a.QuotaMessages != 5000 {
			t.Errorf("%s: quotas = %d, %d; want %d, 5000", what, a.QuotaBytes, a.QuotaMessages, 1<<30)
		}
		if !a.Admin || a.Disabled {
			t.Errorf("%s: Admin = %v, Disabled = %v; want true, false", what, a.Admin, a.Disabled)
		}
		if a.CreatedAt.IsZero() {
			t.Errorf("%s: CreatedAt is zero", what)
		}
		wantSettings(t, a.Settings, set, what)
	}
	check(a, "CreateAccount")
	got, err := s.Account(ctx(t), a.ID)
	if err != nil {
		t.Fatalf("Account(%d): %v", a.ID, err)
	}
	check(got, "Account")
	if got.ID != a.ID {
		t.Errorf("Account(%d).ID = %d", a.ID, got.ID)
	}
	if u := usage(t, s, a.ID); u.Bytes != 0 || u.Messages != 0 {
		t.Errorf("new account Usage = %+v, want zero", u)
	}
}

func testAccountStandardFolders(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	fs, err := s.Folders(ctx(t), a.ID)
	if err != nil {
		t.Fatalf("Folders: %v", err)
	}
	// Sorted by name: byte order and case-insensitive order agree here.
	wantNames := []string{"Archive", "Drafts", "INBOX", "Sent", "Spam", "Trash"}
	wantRoles := map[string]store.Role{
		"INBOX": store.RoleInbox, "Sent": store.RoleSent, "Drafts": store.RoleDrafts,
		"Trash": store.RoleTrash, "Spam": store.RoleJunk, "Archive": store.RoleArchive,
	}
	var names []string
	ids := map[int64]bool{}
	for _, f := range fs {
		names = append(names, f.Name)
		ids[f.ID] = true
		if f.AccountID != a.ID {
			t.Errorf("%s: AccountID = %d, want %d", f.Name, f.AccountID, a.ID)
		}
		if f.Role != wantRoles[f.Name] {
			t.Errorf("%s: Role = %q, want %q", f.Name, f.Role, wantRoles[f.Name])
		}
		if f.UIDValidity == 0 {
			t.Errorf("%s: UIDValidity = 0", f.Name)
		}
		if f.UIDNext != 1 {
			t.Errorf("%s: UIDNext = %d, want 1", f.Name, f.UIDNext)
		}
		st, err := s.FolderStatus(ctx(t), f.ID)
		if err != nil {
			t.Errorf("FolderStatus(%s): %v", f.Name, err)
		} else if st.Messages != 0 || st.Size != 0 {
			t.Errorf("%s: new folder has %d messages, %d bytes", f.Name, st.Messages, st.Size)
		}
	}
	if !slices.Equal(names, wantNames) {
		t.Errorf("Folders = %q, want %q", names, wantNames)
	}
	if len(ids) != len(fs) {
		t.Errorf("folder ids not distinct: %v", ids)
	}
	for name, role := range wantRoles {
		f, err := s.FolderByRole(ctx(t), a.ID, role)
		if err != nil {
			t.Errorf("FolderByRole(%q): %v", role, err)
			continue
		}
		if f.Name != name {
			t.Errorf("FolderByRole(%q).Name = %q, want %q", role, f.Name, name)
		}
	}
}

func testAccountDuplicate(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	for _, addr := range []string{"ivan@example.org", "IVAN@Example.Org"} {
		_, err := s.CreateAccount(ctx(t), store.NewAccount{Address: addr, PasswordHash: "x", Settings: store.DefaultSettings()})
		wantErr(t, err, store.ErrExists, "CreateAccount("+addr+") again")
	}
	if addrs := accountAddresses(t, s, ""); !slices.Equal(addrs, []string{"ivan@example.org"}) {
		t.Errorf("Accounts = %q, want [ivan@example.org]", addrs)
	}
	// The refused create must not have added folders to anyone.
	fs, err := s.Folders(ctx(t), a.ID)
	if err != nil || len(fs) != len(store.StandardFolders) {
		t.Errorf("Folders of the first account: %d, %v; want %d", len(fs), err, len(store.StandardFolders))
	}
}

func testAccountByAddressAnyCase(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	mustAccount(t, s, "maria@example.org")
	for _, addr := range []string{"ivan@example.org", "IVAN@example.org", "ivan@EXAMPLE.ORG", "Ivan@Example.Org"} {
		got, err := s.AccountByAddress(ctx(t), addr)
		if err != nil {
			t.Errorf("AccountByAddress(%q): %v", addr, err)
			continue
		}
		if got.ID != a.ID || got.Address != "ivan@example.org" {
			t.Errorf("AccountByAddress(%q) = %d %q, want %d ivan@example.org", addr, got.ID, got.Address, a.ID)
		}
	}
}

func testAccountNotFound(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	_, err := s.Account(ctx(t), a.ID+1000)
	wantErr(t, err, store.ErrNotFound, "Account(unknown id)")
	_, err = s.AccountByAddress(ctx(t), "nobody@example.org")
	wantErr(t, err, store.ErrNotFound, "AccountByAddress(unknown)")
	_, err = s.AccountByAddress(ctx(t), "ivan@nowhere.example")
	wantErr(t, err, store.ErrNotFound, "AccountByAddress(unknown domain)")
	err = s.UpdateAccount(ctx(t), store.Account{ID: a.ID + 1000, Address: "ghost@example.org", Domain: "example.org"})
	wantErr(t, err, store.ErrNotFound, "UpdateAccount(unknown id)")
	err = s.DeleteAccount(ctx(t), a.ID+1000)
	wantErr(t, err, store.ErrNotFound, "DeleteAccount(unknown id)")
}

func testAccountSettingsRoundTrip(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	wantSettings(t, a.Settings, store.DefaultSettings(), "new account")
	set := store.Settings{
		POP3Enabled:  true,
		POP3Folders:  []string{"INBOX", "Spam", "Работа/2026"},
		POP3MarkSeen: true,
		POP3Since:    time.Date(2026, 3, 2, 10, 30, 15, 0, time.UTC),
		POP3Delete:   store.POP3DeleteKeep,
		IMAPEnabled:  false,
		LoginPolicy:  store.PolicyPlaintext,
	}
	a.Settings = set
	if err := s.UpdateAccount(ctx(t), a); err != nil {
		t.Fatalf("UpdateAccount: %v", err)
	}
	got, err := s.Account(ctx(t), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantSettings(t, got.Settings, set, "after update")
	got2, err := s.AccountByAddress(ctx(t), "ivan@example.org")
	if err != nil {
		t.Fatal(err)
	}
	wantSettings(t, got2.Settings, set, "AccountByAddress after update")

	// And back: everything off or default.
	set = store.Settings{POP3Enabled: false, POP3Delete: store.POP3DeleteExpunge, IMAPEnabled: true, LoginPolicy: store.PolicySecure}
	got.Settings = set
	if err := s.UpdateAccount(ctx(t), got); err != nil {
		t.Fatalf("UpdateAccount: %v", err)
	}
	got, err = s.Account(ctx(t), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantSettings(t, got.Settings, set, "after second update")
}

func testAccountUpdateFields(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	other := mustAccount(t, s, "maria@example.org")
	a.PasswordHash = "new-hash"
	a.QuotaBytes = 12345
	a.QuotaMessages = 67
	a.Disabled = true
	a.Admin = true
	if err := s.UpdateAccount(ctx(t), a); err != nil {
		t.Fatalf("UpdateAccount: %v", err)
	}
	got, err := s.Account(ctx(t), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.PasswordHash != "new-hash" || got.QuotaBytes != 12345 || got.QuotaMessages != 67 || !got.Disabled || !got.Admin {
		t.Errorf("after update: %+v", got)
	}
	if got.Address != "ivan@example.org" || !sameSecond(got.CreatedAt, a.CreatedAt) {
		t.Errorf("update changed address or creation time: %q %v", got.Address, got.CreatedAt)
	}
	o, err := s.Account(ctx(t), other.ID)
	if err != nil {
		t.Fatal(err)
	}
	if o.PasswordHash != other.PasswordHash || o.Disabled || o.Admin || o.QuotaBytes != 0 {
		t.Errorf("update of one account changed another: %+v", o)
	}
	// Back to enabled.
	got.Disabled = false
	if err := s.UpdateAccount(ctx(t), got); err != nil {
		t.Fatal(err)
	}
	if got, _ = s.Account(ctx(t), a.ID); got.Disabled {
		t.Error("Disabled did not go back to false")
	}
	// The primary address is not a changeable field: it stays, whether the
	// backend ignores the new one or refuses the call.
	got.Address = "renamed@example.org"
	_ = s.UpdateAccount(ctx(t), got)
	if _, err := s.AccountByAddress(ctx(t), "ivan@example.org"); err != nil {
		t.Errorf("UpdateAccount with another Address changed the primary address: %v", err)
	}
}

func testAccountListSorted(t *testing.T, s store.Store) {
	for _, addr := range []string{"zoe@example.org", "adam@example.org", "boris@example.net", "mila@example.org"} {
		mustAccount(t, s, addr)
	}
	mustDomain(t, s, "empty.example")
	want := []string{"adam@example.org", "mila@example.org", "zoe@example.org"}
	if got := accountAddresses(t, s, "example.org"); !slices.Equal(got, want) {
		t.Errorf("Accounts(example.org) = %q, want %q", got, want)
	}
	if got := accountAddresses(t, s, "example.net"); !slices.Equal(got, []string{"boris@example.net"}) {
		t.Errorf("Accounts(example.net) = %q, want [boris@example.net]", got)
	}
	want = []string{"adam@example.org", "boris@example.net", "mila@example.org", "zoe@example.org"}
	if got := accountAddresses(t, s, ""); !slices.Equal(got, want) {
		t.Errorf("Accounts(\"\") = %q, want %q", got, want)
	}
	if got := accountAddresses(t, s, "empty.example"); len(got) != 0 {
		t.Errorf("Accounts(empty.example) = %q, want none", got)
	}
}

func testAccountDelete(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	b := mustAccount(t, s, "maria@example.org")
	aIn, bIn := inbox(t, s, a.ID), inbox(t, s, b.ID)
	aWork := mustCreateFolder(t, s, a.ID, "Work")
	am1 := deliverTo(t, s, aIn, textMsg("for ivan", "hello"))
	am2 := deliverTo(t, s, aWork, textMsg("for ivan at work", "hello"))
	bBody := textMsg("for maria", "hello maria")
	bm := deliverTo(t, s, bIn, bBody)
	if _, err := s.CreateAppPassword(ctx(t), store.AppPassword{AccountID: a.ID, Name: "phone", Hash: "ha"}); err != nil {
		t.Fatal(err)
	}
	bp, err := s.CreateAppPassword(ctx(t), store.AppPassword{AccountID: b.ID, Name: "phone", Hash: "hb"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAlias(ctx(t), "sales@example.org", []int64{b.ID}); err != nil {
		t.Fatal(err)
	}
	bUsage := usage(t, s, b.ID)
	bFolders, err := s.Folders(ctx(t), b.ID)
	if err != nil {
		t.Fatal(err)
	}

	if err := s.DeleteAccount(ctx(t), a.ID); err != nil {
		t.Fatalf("DeleteAccount: %v", err)
	}

	_, err = s.Account(ctx(t), a.ID)
	wantErr(t, err, store.ErrNotFound, "Account after delete")
	_, err = s.AccountByAddress(ctx(t), "ivan@example.org")
	wantErr(t, err, store.ErrNotFound, "AccountByAddress after delete")
	_, err = s.ResolveAddress(ctx(t), "ivan@example.org")
	wantErr(t, err, store.ErrNotFound, "ResolveAddress after delete")
	for _, f := range []store.Folder{aIn, aWork} {
		_, err = s.FolderByID(ctx(t), f.ID)
		wantErr(t, err, store.ErrNotFound, "FolderByID("+f.Name+") after delete")
	}
	if fs, err := s.Folders(ctx(t), a.ID); err == nil && len(fs) != 0 {
		t.Errorf("Folders of deleted account = %d folders", len(fs))
	}
	for _, m := range []store.Message{am1, am2} {
		_, err = s.MessageByID(ctx(t), m.ID)
		wantErr(t, err, store.ErrNotFound, "MessageByID after account delete")
	}
	if ps, err := s.AppPasswords(ctx(t), a.ID); err == nil && len(ps) != 0 {
		t.Errorf("AppPasswords of deleted account = %+v", ps)
	}

	// The other account is untouched.
	if addrs := accountAddresses(t, s, ""); !slices.Equal(addrs, []string{"maria@example.org"}) {
		t.Errorf("Accounts = %q, want [maria@example.org]", addrs)
	}
	if u := usage(t, s, b.ID); u != bUsage {
		t.Errorf("other account's Usage = %+v, want %+v", u, bUsage)
	}
	if fs, err := s.Folders(ctx(t), b.ID); err != nil || len(fs) != len(bFolders) {
		t.Errorf("other account's Folders = %d, %v; want %d", len(fs), err, len(bFolders))
	}
	got := message(t, s, bIn.ID, bm.UID)
	if got.ID != bm.ID || readBody(t, s, got) != crlf(bBody) {
		t.Errorf("other account's message changed: %+v", got)
	}
	ps, err := s.AppPasswords(ctx(t), b.ID)
	if err != nil || len(ps) != 1 || ps[0].ID != bp.ID {
		t.Errorf("other account's AppPasswords = %+v, %v", ps, err)
	}
	if ids, err := s.ResolveAddress(ctx(t), "sales@example.org"); err != nil || !slices.Equal(ids, []int64{b.ID}) {
		t.Errorf("other account's alias resolves to %v, %v", ids, err)
	}
	// The address is free again.
	c := mustAccount(t, s, "ivan@example.org")
	if c.ID == a.ID {
		t.Errorf("account id %d reused", a.ID)
	}
	if st, err := s.FolderStatus(ctx(t), inbox(t, s, c.ID).ID); err != nil || st.Messages != 0 {
		t.Errorf("recreated account's inbox: %+v, %v; want empty", st, err)
	}
	wantUsage(t, s, c.ID, 0, 0, "recreated account")
}

func testAccountDeleteKeepsSharedAlias(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	b := mustAccount(t, s, "maria@example.org")
	if _, err := s.CreateAlias(ctx(t), "team@example.org", []int64{a.ID, b.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAlias(ctx(t), "solo@example.org", []int64{a.ID}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAccount(ctx(t), a.ID); err != nil {
		t.Fatal(err)
	}
	ids, err := s.ResolveAddress(ctx(t), "team@example.org")
	if err != nil || !slices.Equal(ids, []int64{b.ID}) {
		t.Errorf("ResolveAddress(team) = %v, %v; want [%d]", ids, err, b.ID)
	}
	_, err = s.ResolveAddress(ctx(t), "solo@example.org")
	wantErr(t, err, store.ErrNotFound, "ResolveAddress(alias only to the deleted account)")
	as, err := s.Aliases(ctx(t), "example.org")
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 1 || as[0].Address != "team@example.org" || !slices.Equal(as[0].Targets, []int64{b.ID}) ||
		!slices.Equal(as[0].TargetAddresses, []string{"maria@example.org"}) {
		t.Errorf("Aliases = %+v, want team@example.org → maria only", as)
	}
}
