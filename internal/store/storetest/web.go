package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// webTests are the tests of the WebStore part; Run runs them after tests.
var webTests = []test{
	{"WebSession/CreateGet", testWebSessionCreateGet},
	{"WebSession/Duplicate", testWebSessionDuplicate},
	{"WebSession/UnknownAccount", testWebSessionUnknownAccount},
	{"WebSession/Touch", testWebSessionTouch},
	{"WebSession/Delete", testWebSessionDelete},
	{"WebSession/RevokeAccount", testWebSessionRevokeAccount},
	{"WebSession/Expiry", testWebSessionExpiry},
	{"WebSession/DeletedWithAccount", testWebSessionDeletedWithAccount},
	{"SignIn/RecordNewestFirst", testSignInRecordNewestFirst},
	{"SignIn/Bounded", testSignInBounded},
	{"SignIn/PerAccount", testSignInPerAccount},
	{"ServerSettings/SetGetRemove", testServerSettings},
}

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func mustSession(t *testing.T, s store.Store, hash string, accountID int64, created, seen time.Time) {
	t.Helper()
	err := s.CreateWebSession(ctx(t), store.WebSession{IDHash: hash, AccountID: accountID, Created: created, LastSeen: seen,
		RemoteIP: "192.0.2.7", UserAgent: "Mozilla/5.0 (тест)"})
	if err != nil {
		t.Fatalf("CreateWebSession(%s): %v", hash, err)
	}
}

func sessionExists(t *testing.T, s store.Store, hash string) bool {
	t.Helper()
	_, err := s.WebSession(ctx(t), hash)
	if err != nil && !isNotFound(err) {
		t.Fatalf("WebSession(%s): %v", hash, err)
	}
	return err == nil
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

func testWebSessionCreateGet(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "anna@example.org")
	mustSession(t, s, "h1", a.ID, t0, t0.Add(time.Minute))
	got, err := s.WebSession(ctx(t), "h1")
	if err != nil {
		t.Fatal(err)
	}
	want := store.WebSession{IDHash: "h1", AccountID: a.ID, Created: t0, LastSeen: t0.Add(time.Minute), RemoteIP: "192.0.2.7", UserAgent: "Mozilla/5.0 (тест)"}
	if !got.Created.Equal(want.Created) || !got.LastSeen.Equal(want.LastSeen) {
		t.Errorf("times: got %v/%v, want %v/%v", got.Created, got.LastSeen, want.Created, want.LastSeen)
	}
	got.Created, got.LastSeen = want.Created, want.LastSeen
	if got != want {
		t.Errorf("session: got %+v, want %+v", got, want)
	}
	_, err = s.WebSession(ctx(t), "h2")
	wantErr(t, err, store.ErrNotFound, "unknown session")
}

func testWebSessionDuplicate(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "anna@example.org")
	mustSession(t, s, "h1", a.ID, t0, t0)
	err := s.CreateWebSession(ctx(t), store.WebSession{IDHash: "h1", AccountID: a.ID, Created: t0, LastSeen: t0})
	wantErr(t, err, store.ErrExists, "second session with the same id")
}

func testWebSessionUnknownAccount(t *testing.T, s store.Store) {
	err := s.CreateWebSession(ctx(t), store.WebSession{IDHash: "h1", AccountID: 4242, Created: t0, LastSeen: t0})
	wantErr(t, err, store.ErrNotFound, "session of a missing account")
}

func testWebSessionTouch(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "anna@example.org")
	mustSession(t, s, "h1", a.ID, t0, t0)
	if err := s.TouchWebSession(ctx(t), "h1", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	got, err := s.WebSession(ctx(t), "h1")
	if err != nil {
		t.Fatal(err)
	}
	if !got.LastSeen.Equal(t0.Add(time.Hour)) || !got.Created.Equal(t0) {
		t.Errorf("after touch: created %v, last seen %v", got.Created, got.LastSeen)
	}
	wantErr(t, s.TouchWebSession(ctx(t), "nope", t0), store.ErrNotFound, "touch unknown session")
}

func testWebSessionDelete(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "anna@example.org")
	mustSession(t, s, "h1", a.ID, t0, t0)
	mustSession(t, s, "h2", a.ID, t0, t0)
	if err := s.DeleteWebSession(ctx(t), "h1"); err != nil {
		t.Fatal(err)
	}
	if sessionExists(t, s, "h1") || !sessionExists(t, s, "h2") {
		t.Error("DeleteWebSession removed the wrong session")
	}
	if err := s.DeleteWebSession(ctx(t), "h1"); err != nil {
		t.Errorf("deleting a deleted session: %v", err)
	}
}

func testWebSessionRevokeAccount(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "anna@example.org")
	b := mustAccount(t, s, "boris@example.org")
	for i := range 3 {
		mustSession(t, s, fmt.Sprintf("a%d", i), a.ID, t0, t0)
	}
	mustSession(t, s, "b0", b.ID, t0, t0)
	n, err := s.DeleteWebSessions(ctx(t), a.ID, "a1")
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("revoked %d sessions, want 2", n)
	}
	if sessionExists(t, s, "a0") || !sessionExists(t, s, "a1") || sessionExists(t, s, "a2") || !sessionExists(t, s, "b0") {
		t.Error("revoking all but one session of anna: wrong sessions left")
	}
	if n, err = s.DeleteWebSessions(ctx(t), a.ID, ""); err != nil || n != 1 {
		t.Errorf("revoke every session: %d, %v", n, err)
	}
	if sessionExists(t, s, "a1") || !sessionExists(t, s, "b0") {
		t.Error("revoking every session of anna: wrong sessions left")
	}
}

func testWebSessionExpiry(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "anna@example.org")
	now := t0.Add(48 * time.Hour)
	mustSession(t, s, "fresh", a.ID, now.Add(-time.Hour), now.Add(-time.Minute))
	mustSession(t, s, "idle", a.ID, now.Add(-time.Hour), now.Add(-13*time.Hour))
	mustSession(t, s, "old", a.ID, now.Add(-8*24*time.Hour), now.Add(-time.Minute))
	n, err := s.DeleteExpiredWebSessions(ctx(t), now.Add(-12*time.Hour), now.Add(-7*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 || !sessionExists(t, s, "fresh") || sessionExists(t, s, "idle") || sessionExists(t, s, "old") {
		t.Errorf("expiry removed %d sessions; fresh %v idle %v old %v", n,
			sessionExists(t, s, "fresh"), sessionExists(t, s, "idle"), sessionExists(t, s, "old"))
	}
	// A zero time disables that test.
	if n, err := s.DeleteExpiredWebSessions(ctx(t), time.Time{}, time.Time{}); err != nil || n != 0 {
		t.Errorf("expiry with zero times: %d, %v", n, err)
	}
}

func testWebSessionDeletedWithAccount(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "anna@example.org")
	mustSession(t, s, "h1", a.ID, t0, t0)
	if err := s.RecordSignIn(ctx(t), store.SignIn{AccountID: a.ID, Time: t0, Protocol: "web"}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAccount(ctx(t), a.ID); err != nil {
		t.Fatal(err)
	}
	if sessionExists(t, s, "h1") {
		t.Error("the session outlived its account")
	}
	if l, err := s.SignIns(ctx(t), a.ID, 10); err != nil || len(l) != 0 {
		t.Errorf("sign-ins of a deleted account: %v, %v", l, err)
	}
}

func testSignInRecordNewestFirst(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "anna@example.org")
	recs := []store.SignIn{
		{AccountID: a.ID, Time: t0, Protocol: "imap", RemoteIP: "192.0.2.1", TLS: true, AppPassword: "Phone"},
		{AccountID: a.ID, Time: t0.Add(time.Second), Protocol: "pop3", RemoteIP: "2001:db8::1", Reason: "protocol"},
		// Same second: the later record still comes first.
		{AccountID: a.ID, Time: t0.Add(time.Second), Protocol: "web", RemoteIP: "192.0.2.2", TLS: true},
	}
	for _, r := range recs {
		if err := s.RecordSignIn(ctx(t), r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.SignIns(ctx(t), a.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("got %d sign-ins, want 3", len(got))
	}
	for i, r := range recs {
		g := got[len(got)-1-i]
		if !g.Time.Equal(r.Time) {
			t.Errorf("record %d: time %v, want %v", i, g.Time, r.Time)
		}
		g.Time = r.Time
		if g != r {
			t.Errorf("record %d: got %+v, want %+v", i, g, r)
		}
	}
	if got, _ := s.SignIns(ctx(t), a.ID, 2); len(got) != 2 || got[0].Protocol != "web" {
		t.Errorf("newest 2: %+v", got)
	}
	wantErr(t, s.RecordSignIn(ctx(t), store.SignIn{AccountID: 4242, Time: t0, Protocol: "imap"}), store.ErrNotFound, "sign-in of a missing account")
}

func testSignInBounded(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "anna@example.org")
	total := store.MaxSignInsPerAccount + 5
	for i := range total {
		if err := s.RecordSignIn(ctx(t), store.SignIn{AccountID: a.ID, Time: t0.Add(time.Duration(i) * time.Second), Protocol: "imap", RemoteIP: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.SignIns(ctx(t), a.ID, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != store.MaxSignInsPerAccount {
		t.Fatalf("log holds %d records, want %d", len(got), store.MaxSignInsPerAccount)
	}
	if got[0].RemoteIP != fmt.Sprint(total-1) || got[len(got)-1].RemoteIP != fmt.Sprint(total-store.MaxSignInsPerAccount) {
		t.Errorf("kept records %s … %s, want the newest", got[0].RemoteIP, got[len(got)-1].RemoteIP)
	}
}

func testSignInPerAccount(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "anna@example.org")
	b := mustAccount(t, s, "boris@example.org")
	for range 3 {
		if err := s.RecordSignIn(ctx(t), store.SignIn{AccountID: a.ID, Time: t0, Protocol: "imap"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RecordSignIn(ctx(t), store.SignIn{AccountID: b.ID, Time: t0, Protocol: "smtp"}); err != nil {
		t.Fatal(err)
	}
	la, _ := s.SignIns(ctx(t), a.ID, 10)
	lb, _ := s.SignIns(ctx(t), b.ID, 10)
	if len(la) != 3 || len(lb) != 1 || lb[0].Protocol != "smtp" {
		t.Errorf("per-account logs mixed: %d for anna, %+v for boris", len(la), lb)
	}
}

func testServerSettings(t *testing.T, s store.Store) {
	m, err := s.ServerSettings(ctx(t))
	if err != nil || len(m) != 0 {
		t.Fatalf("fresh store settings: %v, %v", m, err)
	}
	for _, kv := range [][2]string{{"auth.allow_plaintext", "true"}, {"new.pop3", "false"}, {"auth.allow_plaintext", "false"}} {
		if err := s.SetServerSetting(ctx(t), kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	m, _ = s.ServerSettings(ctx(t))
	if len(m) != 2 || m["auth.allow_plaintext"] != "false" || m["new.pop3"] != "false" {
		t.Errorf("settings: %v", m)
	}
	if err := s.SetServerSetting(ctx(t), "new.pop3", ""); err != nil {
		t.Fatal(err)
	}
	m, _ = s.ServerSettings(ctx(t))
	if _, ok := m["new.pop3"]; ok || len(m) != 1 {
		t.Errorf("after removing new.pop3: %v", m)
	}
	wantErr(t, s.SetServerSetting(ctx(t), "", "x"), store.ErrInvalid, "empty key")
}
